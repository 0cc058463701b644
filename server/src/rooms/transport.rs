//! Netcode over UDP for the room server, as renet_netcode's transport does
//! it, plus exact byte counts for `/metrics` and the benchmarks.

use super::Shared;
use super::membership::Tokens;
use super::voice::Voices;
use crate::refused::{self, Summary};
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::{RenetReceive, RenetSend, RenetServer, RenetServerPlugin};
use bevy_time::prelude::*;
use renet::Bytes;
use renetcode::{
    NETCODE_MAX_PACKET_BYTES, NetcodeServer, ServerAuthentication, ServerConfig, ServerResult,
};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use vitrine_shared::ClientChannel;
use vitrine_shared::protocol::{acks_only, bundle, snapshot_due, unbundle};

#[derive(Resource)]
pub struct UdpTransport {
    socket: UdpSocket,
    netcode: NetcodeServer,
    buffer: Box<[u8; NETCODE_MAX_PACKET_BYTES]>,
    bytes_in: u64,
    bytes_out: u64,
    /// The transport's own clock, advanced by each update's `dt`.
    now: Duration,
    /// Clients netcode has connected that have not yet shown they know it,
    /// with the keep-alive that tells them. See [`UdpTransport::still_waiting`].
    unconfirmed: HashMap<u64, Unconfirmed>,
    /// Datagrams netcode refused since the last tick, by reason.
    refused: BTreeMap<&'static str, u64>,
    /// The log's summary of them: a line at most every few seconds, never
    /// one a datagram.
    summary: Summary,
    /// Where the transport logs: the subscriber of the thread that built
    /// it (the process's, or a test's), whichever pool thread runs it.
    log: tracing::Dispatch,
    /// Voice frames taken out of renet as each payload is read, for the
    /// forwarder ([`UdpTransport::take_voice`]): renet's receive queue for
    /// voice is small and warns in the log for each message past it, so
    /// a flood must never pile up there.
    voice_in: Vec<(u64, Bytes)>,
    /// Frames taken per client since the last take; past
    /// [`VOICE_PER_CLIENT`], dropped and counted in `voice_over`.
    voice_taken: HashMap<u64, u32>,
    voice_over: u64,
    /// Ticks sent so far: bare acknowledgements go out on the snapshot
    /// ticks only (see [`acks_only`]).
    ticks: u64,
}

/// Voice frames one client may have waiting for the forwarder: twice the
/// burst its token bucket allows (the rest would be refused anyway).
const VOICE_PER_CLIENT: u32 = 2 * vitrine_shared::limits::voice::FRAME_BURST;

struct Unconfirmed {
    addr: SocketAddr,
    keep_alive: Vec<u8>,
    sent_at: Duration,
}

/// Netcode's packet type sits in the low nibble of a packet's first byte,
/// outside the encryption.
const NETCODE_RESPONSE: u8 = 3;
/// At most one repeated keep-alive per client this often: netcode's own
/// send rate.
const KEEP_ALIVE_REPEAT: Duration = Duration::from_millis(100);

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        PreUpdate,
        receive
            .in_set(RenetReceive)
            .after(RenetServerPlugin::update_system)
            .before(RenetServerPlugin::emit_server_events_system),
    )
    .add_systems(PostUpdate, send.in_set(RenetSend))
    .add_systems(Last, disconnect_all_on_exit);
}

/// Netcode checks connect tokens against the wall clock on both ends (the
/// HTTP tier mints them the same way), so this stays off the server's
/// `Clock`, which tests may move.
fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl UdpTransport {
    pub fn new(
        socket: UdpSocket,
        public_addr: SocketAddr,
        private_key: [u8; 32],
        max_clients: usize,
    ) -> io::Result<Self> {
        let id = vitrine_shared::PROTOCOL_ID;
        Self::with_protocol(socket, public_addr, private_key, max_clients, id)
    }

    /// As [`UdpTransport::new`], accepting clients of `protocol_id` (the
    /// fuzz target keeps the one its corpus was grown with).
    fn with_protocol(
        socket: UdpSocket,
        public_addr: SocketAddr,
        private_key: [u8; 32],
        max_clients: usize,
        protocol_id: u64,
    ) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let netcode = NetcodeServer::new(ServerConfig {
            // Netcode checks token expiry against this clock: it must be Unix time.
            current_time: unix_now(),
            max_clients,
            protocol_id,
            public_addresses: vec![public_addr],
            authentication: ServerAuthentication::Secure { private_key },
        });
        Ok(UdpTransport {
            socket,
            netcode,
            buffer: Box::new([0; NETCODE_MAX_PACKET_BYTES]),
            bytes_in: 0,
            bytes_out: 0,
            now: Duration::ZERO,
            unconfirmed: HashMap::new(),
            refused: BTreeMap::new(),
            summary: Summary::new("datagrams at the game port"),
            log: tracing::dispatcher::get_default(|d| d.clone()),
            voice_in: Vec::new(),
            voice_taken: HashMap::new(),
            voice_over: 0,
            ticks: 0,
        })
    }

    /// renetcode tells a client it is connected with one keep-alive, sent
    /// once. If that datagram is lost, the client keeps sending its
    /// connection response and drops every payload we send, and the
    /// payloads stop netcode's own keep-alives, so the client times out: on
    /// a link losing 5% of datagrams, about one join in twenty. The
    /// netcode standard keeps telling an unconfirmed client; we send the
    /// same keep-alive again when a client's response shows it is still
    /// waiting (the client's replay protection takes a copy it has not
    /// seen, and only that one).
    fn still_waiting(&mut self, addr: SocketAddr, packet_type: u8) {
        if packet_type & 0x0F != NETCODE_RESPONSE {
            return;
        }
        let now = self.now;
        let Some(waiting) = self
            .unconfirmed
            .values_mut()
            .find(|u| u.addr == addr && now >= u.sent_at + KEEP_ALIVE_REPEAT)
        else {
            return;
        };
        waiting.sent_at = now;
        let packet = waiting.keep_alive.clone();
        self.send_to(packet.len(), addr, &packet);
    }

    fn send_to(&mut self, packet_len: usize, addr: SocketAddr, packet: &[u8]) {
        match self.socket.send_to(packet, addr) {
            Ok(_) => self.bytes_out += packet_len as u64,
            Err(e) => tracing::debug!(%addr, %e, "send failed"),
        }
    }

    fn handle(&mut self, result: ServerResultOwned, server: &mut RenetServer, tokens: &mut Tokens) {
        match result {
            ServerResultOwned::None => {}
            ServerResultOwned::Send { addr, packet } => self.send_to(packet.len(), addr, &packet),
            ServerResultOwned::Payload { client, payload } => {
                // A payload comes only from a client that knows it is in.
                self.unconfirmed.remove(&client);
                // Several renet packets ride in one payload (a bundle); a
                // malformed one is dropped whole, as if lost.
                match unbundle(&payload) {
                    Ok(packets) => {
                        for packet in packets {
                            if let Err(e) = server.process_packet_from(packet, client) {
                                tracing::debug!(client, %e, "payload for unknown client");
                                break;
                            }
                        }
                    }
                    Err(_) => *self.refused.entry("malformed_bundle").or_default() += 1,
                }
                while let Some(frame) = server.receive_message(client, ClientChannel::Voice) {
                    let taken = self.voice_taken.entry(client).or_default();
                    if *taken < VOICE_PER_CLIENT {
                        *taken += 1;
                        self.voice_in.push((client, frame));
                    } else {
                        self.voice_over += 1;
                    }
                }
            }
            ServerResultOwned::Connected {
                client,
                addr,
                packet,
            } => {
                // Who the token says this is, for membership to admit.
                if let Some(data) = self.netcode.user_data(client) {
                    tokens.0.insert(client, data);
                }
                server.add_connection(client);
                self.send_to(packet.len(), addr, &packet);
                self.unconfirmed.insert(
                    client,
                    Unconfirmed {
                        addr,
                        keep_alive: packet,
                        sent_at: self.now,
                    },
                );
            }
            ServerResultOwned::Disconnected { client, reply } => {
                self.unconfirmed.remove(&client);
                server.remove_connection(client);
                if let Some((addr, packet)) = reply {
                    self.send_to(packet.len(), addr, &packet);
                }
            }
        }
    }

    fn update(&mut self, dt: Duration, server: &mut RenetServer, tokens: &mut Tokens) {
        self.netcode.update(dt);
        self.now += dt;
        loop {
            match self.socket.recv_from(&mut self.buffer[..]) {
                Ok((len, addr)) => self.datagram(addr, len, server, tokens),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => break,
                // An ICMP "port unreachable" from a client that went away.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => continue,
                Err(e) => {
                    tracing::warn!(%e, "UDP receive failed");
                    break;
                }
            }
        }
        self.update_clients(server, tokens);
    }

    /// One datagram of `len` bytes from `addr`, already in the buffer.
    fn datagram(
        &mut self,
        addr: SocketAddr,
        len: usize,
        server: &mut RenetServer,
        tokens: &mut Tokens,
    ) {
        self.bytes_in += len as u64;
        if len > 0 && !self.unconfirmed.is_empty() {
            self.still_waiting(addr, self.buffer[0]);
        }
        let netcode = &mut self.netcode;
        let buffer = &mut self.buffer[..len];
        let (result, refused) = refused::watching(|| own(netcode.process_packet(addr, buffer)));
        if let Some(reason) = refused {
            *self.refused.entry(reason).or_default() += 1;
        }
        self.handle(result, server, tokens);
    }

    fn update_clients(&mut self, server: &mut RenetServer, tokens: &mut Tokens) {
        for client in self.netcode.clients_id() {
            let result = own(self.netcode.update_client(client));
            self.handle(result, server, tokens);
        }
        for client in server.disconnections_id() {
            let result = own(self.netcode.disconnect(client));
            self.handle(result, server, tokens);
        }
    }

    /// Waits up to `timeout` for a datagram at the socket, without reading
    /// it: the room loop's sleep between ticks, woken by traffic so voice
    /// goes out on arrival. `false` when the time ran out.
    ///
    /// `ppoll`, not a blocking read with `SO_RCVTIMEO`: the kernel rounds a
    /// socket timeout up to its own tick (4 to 10 ms), which would make the
    /// 30 Hz room tick late by that much; `ppoll` waits on a precise timer,
    /// in one call, and the socket stays non-blocking throughout.
    #[cfg(unix)]
    pub(super) fn wait_readable(&self, timeout: Duration) -> bool {
        use std::os::fd::AsRawFd;
        let mut fd = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: one valid `pollfd` for the length 1 given, a valid
        // timespec, and no signal mask; the socket outlives the call.
        let ready = unsafe { libc::ppoll(&mut fd, 1, &timeout, std::ptr::null()) };
        // An error (EINTR) wakes the loop early, which only costs a pass.
        ready > 0
    }

    #[cfg(not(unix))]
    pub(super) fn wait_readable(&self, timeout: Duration) -> bool {
        std::thread::sleep(timeout);
        false
    }

    /// Reads every datagram waiting, as `update` does, without advancing
    /// netcode's clock or visiting every client: between ticks.
    /// At most [`PASS_DATAGRAMS`] a pass, so a flood cannot hold the loop
    /// past the tick's time: what is left wakes the next pass at once.
    fn receive_only(&mut self, server: &mut RenetServer, tokens: &mut Tokens) {
        for _ in 0..PASS_DATAGRAMS {
            match self.socket.recv_from(&mut self.buffer[..]) {
                Ok((len, addr)) => self.datagram(addr, len, server, tokens),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => continue,
                Err(_) => break,
            }
        }
    }

    /// The voice frames read since the last call, in arrival order, and how
    /// many were dropped for a client's share.
    pub(super) fn take_voice(&mut self) -> (Vec<(u64, Bytes)>, u64) {
        self.voice_taken.clear();
        (
            std::mem::take(&mut self.voice_in),
            std::mem::take(&mut self.voice_over),
        )
    }

    pub(super) fn bytes_out(&self) -> u64 {
        self.bytes_out
    }

    /// The tick's send: bundles for every client, bare acknowledgements
    /// only on snapshot ticks (20 a second, riding with the snapshot).
    fn send_packets(&mut self, server: &mut RenetServer) {
        let clients = server.clients_id();
        let acks_due = snapshot_due(self.ticks);
        self.ticks += 1;
        self.send_packets_to(server, &clients, acks_due);
    }

    /// Sends what renet has queued for `clients`, bundled into as few
    /// datagrams as fit; a client with nothing but acknowledgements queued
    /// gets nothing unless `acks_due` (renet makes them again next time).
    pub(super) fn send_packets_to(
        &mut self,
        server: &mut RenetServer,
        clients: &[u64],
        acks_due: bool,
    ) {
        for &client in clients {
            let Ok(packets) = server.get_packets_to_send(client) else {
                continue;
            };
            if !acks_due && acks_only(&packets) {
                continue;
            }
            for packet in bundle(packets) {
                match self.netcode.generate_payload_packet(client, &packet) {
                    Ok((addr, bytes)) => {
                        let len = bytes.len();
                        match self.socket.send_to(bytes, addr) {
                            Ok(_) => self.bytes_out += len as u64,
                            Err(e) => {
                                tracing::debug!(client, %e, "send failed");
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::debug!(client, %e, "cannot encrypt payload");
                        break;
                    }
                }
            }
        }
    }

    fn disconnect_all(&mut self, server: &mut RenetServer, tokens: &mut Tokens) {
        for client in self.netcode.clients_id() {
            let result = own(self.netcode.disconnect(client));
            self.handle(result, server, tokens);
        }
    }
}

/// `ServerResult` borrows the transport's buffers; copy out what we need so
/// the transport can be used again while handling it.
enum ServerResultOwned {
    None,
    Send {
        addr: SocketAddr,
        packet: Vec<u8>,
    },
    Payload {
        client: u64,
        payload: Vec<u8>,
    },
    Connected {
        client: u64,
        addr: SocketAddr,
        packet: Vec<u8>,
    },
    Disconnected {
        client: u64,
        reply: Option<(SocketAddr, Vec<u8>)>,
    },
}

fn own(result: ServerResult<'_, '_>) -> ServerResultOwned {
    match result {
        ServerResult::None => ServerResultOwned::None,
        ServerResult::PacketToSend { payload, addr } => ServerResultOwned::Send {
            addr,
            packet: payload.to_vec(),
        },
        ServerResult::Payload { client_id, payload } => ServerResultOwned::Payload {
            client: client_id,
            payload: payload.to_vec(),
        },
        ServerResult::ClientConnected {
            client_id,
            addr,
            payload,
            ..
        } => ServerResultOwned::Connected {
            client: client_id,
            addr,
            packet: payload.to_vec(),
        },
        ServerResult::ClientDisconnected {
            client_id,
            addr,
            payload,
        } => ServerResultOwned::Disconnected {
            client: client_id,
            reply: payload.map(|p| (addr, p.to_vec())),
        },
    }
}

fn receive(
    mut transport: ResMut<UdpTransport>,
    mut server: ResMut<RenetServer>,
    time: Res<Time<Real>>,
    shared: Res<Shared>,
    mut tokens: ResMut<Tokens>,
    mut voices: ResMut<Voices>,
) {
    voices.reading(Instant::now());
    let log = transport.log.clone();
    tracing::dispatcher::with_default(&log, || {
        transport.update(time.delta(), &mut server, &mut tokens);
        shared
            .metrics
            .bytes_in
            .store(transport.bytes_in, Ordering::Relaxed);
        let transport = &mut *transport;
        for (reason, count) in std::mem::take(&mut transport.refused) {
            shared.metrics.refuse_packets(reason, count);
            transport.summary.refused(reason, count);
        }
        transport.summary.flush(Instant::now());
    });
}

/// Datagrams one pass between ticks reads at most (about a millisecond's
/// work); the loop looks at the clock between passes.
const PASS_DATAGRAMS: usize = 256;

/// Between ticks ([`super::voice::VoicePass`]): read what arrived, for the
/// voice frames in it.
pub(super) fn receive_between_ticks(
    mut transport: ResMut<UdpTransport>,
    mut server: ResMut<RenetServer>,
    shared: Res<Shared>,
    mut tokens: ResMut<Tokens>,
    mut voices: ResMut<Voices>,
) {
    voices.reading(Instant::now());
    let log = transport.log.clone();
    tracing::dispatcher::with_default(&log, || {
        transport.receive_only(&mut server, &mut tokens);
        shared
            .metrics
            .bytes_in
            .store(transport.bytes_in, Ordering::Relaxed);
        // Refusals are counted and summarised by the tick's receive.
    });
}

fn send(mut transport: ResMut<UdpTransport>, mut server: ResMut<RenetServer>, shared: Res<Shared>) {
    transport.send_packets(&mut server);
    shared
        .metrics
        .bytes_out
        .store(transport.bytes_out, Ordering::Relaxed);
}

fn disconnect_all_on_exit(
    exit: MessageReader<AppExit>,
    mut transport: ResMut<UdpTransport>,
    mut server: ResMut<RenetServer>,
    mut tokens: ResMut<Tokens>,
) {
    if !exit.is_empty() {
        transport.disconnect_all(&mut server, &mut tokens);
    }
}

/// The `netcode_packet` fuzz target (`fuzz/`, through
/// `crate::fuzz_entry::netcode_packet`): datagrams from up to four sources
/// through this transport's receive path (netcode's `process_packet`, then
/// renet for payloads) as [`UdpTransport::update`] runs it, without
/// reading a socket. Each source is a loopback socket bound here, so any
/// reply netcode sends lands in a socket of ours and nowhere else.
pub(crate) fn fuzz_datagrams(
    private_key: [u8; 32],
    protocol_id: u64,
    public_addr: SocketAddr,
    datagrams: &[(usize, Duration, &[u8])],
) -> io::Result<()> {
    let bind = || UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0));
    let sources = [bind()?, bind()?, bind()?, bind()?];
    let sources: Vec<SocketAddr> = sources
        .iter()
        .map(UdpSocket::local_addr)
        .collect::<io::Result<_>>()?;
    let mut transport =
        UdpTransport::with_protocol(bind()?, public_addr, private_key, 8, protocol_id)?;
    let mut server = RenetServer::new(vitrine_shared::connection_config());
    let mut tokens = Tokens::default();
    for &(source, dt, bytes) in datagrams {
        transport.netcode.update(dt);
        transport.now += dt;
        server.update(dt);
        let len = bytes.len().min(NETCODE_MAX_PACKET_BYTES);
        transport.buffer[..len].copy_from_slice(&bytes[..len]);
        transport.datagram(
            sources[source % sources.len()],
            len,
            &mut server,
            &mut tokens,
        );
        transport.update_clients(&mut server, &mut tokens);
        // What the inbox would read: decoded as it decodes it.
        for client in server.clients_id() {
            for channel in [ClientChannel::Input, ClientChannel::Commands] {
                while let Some(bytes) = server.receive_message(client, channel) {
                    let _ = vitrine_shared::decode::<vitrine_shared::ClientMessage>(&bytes);
                }
            }
        }
        // What the forwarder reads: the frames taken as payloads came.
        for (_, bytes) in transport.take_voice().0 {
            if let Ok(up) = vitrine_shared::decode::<vitrine_shared::protocol::VoiceUp>(&bytes) {
                let _ = vitrine_shared::opus::check_packet(&up.opus);
            }
        }
        transport.send_packets(&mut server);
    }
    transport.disconnect_all(&mut server, &mut tokens);
    Ok(())
}
