//! Voice: Opus frames on their own unreliable channel each way. The server
//! forwards each frame as it arrives to the listeners who should hear it; it
//! never decodes or mixes (Overte's mixing server tops out near 80 streams
//! on 16 cores). Both frames are postcard-encoded like every other message,
//! but on [`ClientChannel::Voice`](super::ClientChannel::Voice) and
//! [`ServerChannel::Voice`](super::ServerChannel::Voice), so a flood of
//! voice shares no queue with commands, events or snapshots.

use crate::ids::{AccountId, MemberSlot};
use serde::{Deserialize, Serialize};

/// Who a speaker talks to: the "nearby / party" switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VoiceTarget {
    /// Everyone in the room within earshot
    /// ([`crate::limits::voice::EARSHOT_M`]).
    #[default]
    Nearby,
    /// The speaker's party, wherever its members stand in the room.
    Party,
}

/// One Opus packet (40 ms, [`crate::limits::voice::FRAME_MS`]) from the
/// speaker (client to server).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceUp {
    /// Wraps at 65,536 (about 44 minutes of 40 ms packets); the receiver's
    /// jitter buffer orders and de-duplicates by it.
    pub seq: u16,
    /// The frame's first sample, in 48 kHz samples since the speaker began
    /// (Opus's RTP clock): gaps in it are DTX silence, not loss.
    pub timestamp: u32,
    pub target: VoiceTarget,
    /// The speaker's level over the frame, 0 (silence) to 255 (full scale),
    /// as the sender measured it before encoding: the server picks each
    /// listener's loudest and nearest speakers by it without decoding.
    pub level: u8,
    /// One Opus packet (RFC 6716), at most
    /// [`crate::limits::voice::MAX_OPUS_BYTES`].
    pub opus: Vec<u8>,
}

/// One frame as a listener receives it (server to client).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceDown {
    /// Who speaks: the listener places the voice at this member's head.
    pub speaker: MemberSlot,
    pub seq: u16,
    pub timestamp: u32,
    /// `Party` frames are heard at a set level wherever the speaker stands.
    pub target: VoiceTarget,
    pub opus: Vec<u8>,
}

/// A listener's voice settings, on the reliable command channel
/// ([`RoomCommand::Voice`](super::RoomCommand::Voice)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VoiceCommand {
    /// Stop (or resume) hearing `account`: the server stops forwarding its
    /// frames to this listener, for as long as this connection lasts.
    MuteSpeaker { account: AccountId, muted: bool },
}

/// Voice news for one member (reliable, on the events channel).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VoiceEventNet {
    /// A moderator voice-muted you: your frames go nowhere until then.
    ModeratorMuted { remaining_ms: u64, reason: String },
    /// The moderator's voice-mute was lifted early.
    ModeratorUnmuted,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{decode, encode};

    #[test]
    fn a_frame_round_trips_and_its_header_is_small() {
        let up = VoiceUp {
            seq: 65_535,
            timestamp: 960 * 50,
            target: VoiceTarget::Party,
            level: 200,
            opus: vec![0xAB; 60],
        };
        let bytes = encode(&up).unwrap();
        assert_eq!(decode::<VoiceUp>(&bytes), Ok(up));
        // 60 bytes of Opus plus at most 10 of header.
        assert!(bytes.len() <= 70, "{} bytes", bytes.len());
        let down = VoiceDown {
            speaker: MemberSlot(3),
            seq: 1,
            timestamp: 960,
            target: VoiceTarget::Nearby,
            opus: vec![1, 2, 3],
        };
        assert_eq!(decode::<VoiceDown>(&encode(&down).unwrap()), Ok(down));
    }

    #[test]
    fn commands_and_news_round_trip() {
        use crate::protocol::{ClientMessage, RoomCommand, ServerMessage};
        let mute = ClientMessage::Room(RoomCommand::Voice(VoiceCommand::MuteSpeaker {
            account: AccountId(42),
            muted: true,
        }));
        assert_eq!(decode::<ClientMessage>(&encode(&mute).unwrap()), Ok(mute));
        for event in [
            VoiceEventNet::ModeratorMuted {
                remaining_ms: 60_000,
                reason: "shouting".into(),
            },
            VoiceEventNet::ModeratorUnmuted,
        ] {
            let message = ServerMessage::Voice(event);
            assert_eq!(
                decode::<ServerMessage>(&encode(&message).unwrap()),
                Ok(message)
            );
        }
    }
}
