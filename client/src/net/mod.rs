//! Headless networking: sign in and join over HTTP, then keep a mirror of
//! the room (and the shopper's party) over the renet game link. No
//! rendering, no Bevy: bots, tests and load runs use it as it is, and the
//! showroom wraps it.

mod http;
pub mod local_address;
mod mirror;
mod party;
mod transport;

pub use http::{ApiClient, ApiError, SignedIn};
pub use mirror::{MirrorError, RoomChange, RoomMirror};
pub use party::{FollowOffer, PARTY_CHAT_KEPT, PartyInvite, PartyMirror, SharedProduct};
pub use transport::UdpClientTransport;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use renet::RenetClient;
use renetcode::ConnectToken;
use std::collections::VecDeque;
use std::time::Duration;
use thiserror::Error;
use vitrine_shared::api::JoinTicket;
use vitrine_shared::protocol::{InputMessage, PartyCommand, VoiceDown, VoiceUp};
use vitrine_shared::{
    ClientMessage, PoseNet, RoomCommand, ServerChannel, ServerMessage, decode, encode,
};

#[derive(Debug, Error)]
pub enum NetError {
    #[error("the join ticket's connect token is invalid: {0}")]
    BadTicket(String),
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server sent a message this client cannot read: {0}")]
    Protocol(String),
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// One connection to a room.
pub struct NetClient {
    renet: RenetClient,
    transport: UdpClientTransport,
    mirror: RoomMirror,
    input_seq: u32,
    protocol_error: Option<String>,
    /// Voice frames received and not yet taken by [`NetClient::drain_voice`].
    voice_in: VecDeque<VoiceDown>,
    /// Voice frames dropped here: unreadable, or the queue was full.
    voice_dropped: u64,
}

/// Voice frames kept for a reader that falls behind: eight voices for
/// about a second and a half (25 packets a second each). Older frames are
/// dropped first; a jitter buffer would discard them as late anyway.
const VOICE_QUEUE: usize = 8 * 25 * 3 / 2;

impl NetClient {
    /// Connects with the token from `POST /api/v1/rooms/{id}/join`.
    pub fn connect(ticket: &JoinTicket) -> Result<Self, NetError> {
        let bytes = STANDARD
            .decode(&ticket.connect_token)
            .map_err(|e| NetError::BadTicket(e.to_string()))?;
        let token = ConnectToken::read(&mut bytes.as_slice())
            .map_err(|e| NetError::BadTicket(e.to_string()))?;
        Self::with_token(token)
    }

    /// Connects with a token made elsewhere (tests make hostile ones).
    pub fn with_token(token: ConnectToken) -> Result<Self, NetError> {
        Self::with_config(token, vitrine_shared::connection_config())
    }

    /// Connects with another channel layout: only tests of hostile clients
    /// want this.
    pub fn with_config(
        token: ConnectToken,
        config: renet::ConnectionConfig,
    ) -> Result<Self, NetError> {
        let transport =
            UdpClientTransport::new(token).map_err(|e| NetError::BadTicket(e.to_string()))?;
        Ok(NetClient {
            renet: RenetClient::new(config),
            transport,
            mirror: RoomMirror::default(),
            input_seq: 0,
            protocol_error: None,
            voice_in: VecDeque::new(),
            voice_dropped: 0,
        })
    }

    /// Signs in as a guest, joins `room` and starts connecting.
    pub fn sign_in_and_join(api: &ApiClient, name: &str, room: &str) -> Result<Self, NetError> {
        let session = api.sign_in(name)?;
        let ticket = api.join(&session, room)?;
        Self::connect(&ticket)
    }

    /// Receives and applies everything that has arrived, advancing the
    /// connection by `dt`. Call every frame, then [`NetClient::flush`].
    pub fn update(&mut self, dt: Duration) -> Result<(), NetError> {
        self.renet.update(dt);
        self.transport.update(dt, &mut self.renet)?;
        for channel in [ServerChannel::Events, ServerChannel::Snapshots] {
            while let Some(bytes) = self.renet.receive_message(channel) {
                let applied = decode::<ServerMessage>(&bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|message| self.mirror.apply(message).map_err(|e| e.to_string()));
                if let Err(error) = applied {
                    // A server we cannot understand: stop rather than guess.
                    self.protocol_error = Some(error.clone());
                    self.disconnect();
                    return Err(NetError::Protocol(error));
                }
            }
        }
        while let Some(bytes) = self.renet.receive_message(ServerChannel::Voice) {
            // A voice frame is disposable: one that cannot be read is
            // counted and skipped, never a reason to leave the room.
            match decode::<VoiceDown>(&bytes) {
                Ok(frame) => {
                    if self.voice_in.len() == VOICE_QUEUE {
                        self.voice_in.pop_front();
                        self.voice_dropped += 1;
                    }
                    self.voice_in.push_back(frame);
                }
                Err(_) => self.voice_dropped += 1,
            }
        }
        Ok(())
    }

    /// Sends one voice frame on the voice channel (unreliable: never resent).
    pub fn send_voice(&mut self, frame: &VoiceUp) {
        if let Ok(bytes) = encode(frame) {
            self.renet
                .send_message(vitrine_shared::ClientChannel::Voice, bytes);
        }
    }

    /// The voice frames received since the last call, in arrival order.
    pub fn drain_voice(&mut self) -> impl Iterator<Item = VoiceDown> + '_ {
        self.voice_in.drain(..)
    }

    /// Voice frames this client dropped: unreadable, or not taken in time.
    pub fn voice_dropped(&self) -> u64 {
        self.voice_dropped
    }

    /// Sends what was queued this frame.
    pub fn flush(&mut self) -> Result<(), NetError> {
        self.transport.send_packets(&mut self.renet)?;
        Ok(())
    }

    pub fn send_pose(&mut self, pose: PoseNet) {
        self.input_seq = self.input_seq.wrapping_add(1);
        let input = InputMessage {
            seq: self.input_seq,
            ack_snapshot: self.mirror.latest_snapshot,
            pose,
        };
        self.send(&ClientMessage::Input(input));
    }

    pub fn send_command(&mut self, command: RoomCommand) {
        self.send(&ClientMessage::Room(command));
    }

    /// A party command (invite, accept, leave, party chat, share…):
    /// answered in [`RoomMirror::party`].
    pub fn send_party(&mut self, command: PartyCommand) {
        self.send_command(RoomCommand::Party(command));
    }

    /// Queues a message; renet holds it until the link is up.
    fn send(&mut self, message: &ClientMessage) {
        if let Ok(bytes) = encode(message) {
            self.renet.send_message(message.channel(), bytes);
        }
    }

    /// Sends raw bytes on a channel id: for tests of hostile clients.
    pub fn send_raw(&mut self, channel: u8, bytes: Vec<u8>) {
        self.renet.send_message(channel, bytes);
    }

    pub fn is_connected(&self) -> bool {
        self.renet.is_connected()
    }

    pub fn is_disconnected(&self) -> bool {
        self.renet.is_disconnected()
    }

    /// Why the link ended, in words.
    pub fn disconnect_reason(&self) -> Option<String> {
        if let Some(error) = &self.protocol_error {
            return Some(format!("protocol error: {error}"));
        }
        if let Some(reason) = self.transport.disconnect_reason() {
            return Some(reason.to_string());
        }
        self.renet.disconnect_reason().map(|r| r.to_string())
    }

    pub fn disconnect(&mut self) {
        self.renet.disconnect();
        self.transport.disconnect();
    }

    pub fn mirror(&self) -> &RoomMirror {
        &self.mirror
    }

    pub fn mirror_mut(&mut self) -> &mut RoomMirror {
        &mut self.mirror
    }

    /// The room as last seen, once the link is given up.
    pub fn into_mirror(mut self) -> RoomMirror {
        std::mem::take(&mut self.mirror)
    }

    /// UDP bytes received and sent, netcode framing included.
    pub fn bytes(&self) -> (u64, u64) {
        (self.transport.bytes_in, self.transport.bytes_out)
    }

    /// UDP datagrams received and sent: with [`NetClient::bytes`], the
    /// wire size counts 28 bytes of IPv4 and UDP header for each.
    pub fn datagrams(&self) -> (u64, u64) {
        (self.transport.datagrams_in, self.transport.datagrams_out)
    }

    pub fn rtt(&self) -> f64 {
        self.renet.rtt()
    }
}

impl Drop for NetClient {
    fn drop(&mut self) {
        // Tell the server now rather than letting it time the client out.
        self.transport.disconnect();
    }
}
