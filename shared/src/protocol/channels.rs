//! The two channels of each direction and the connection's configuration.

use renet::{ChannelConfig, ConnectionConfig, SendType};
use std::time::Duration;

/// Channels the client sends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientChannel {
    /// Unreliable: the latest avatar pose; a lost one is replaced by the next.
    Input,
    /// Reliable ordered: chat, reactions and every other command.
    Commands,
    /// Unreliable: voice frames ([`super::VoiceUp`]); a late frame is no
    /// use, so nothing is resent.
    Voice,
}

/// Channels the server sends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerChannel {
    /// Unreliable: snapshots, delta-encoded against an acknowledged one.
    Snapshots,
    /// Reliable ordered: room events and rejections.
    Events,
    /// Unreliable: forwarded voice frames ([`super::VoiceDown`]).
    Voice,
}

impl From<ClientChannel> for u8 {
    fn from(channel: ClientChannel) -> u8 {
        match channel {
            ClientChannel::Input => 0,
            ClientChannel::Commands => 1,
            ClientChannel::Voice => 2,
        }
    }
}

impl From<ServerChannel> for u8 {
    fn from(channel: ServerChannel) -> u8 {
        match channel {
            ServerChannel::Snapshots => 0,
            ServerChannel::Events => 1,
            ServerChannel::Voice => 2,
        }
    }
}

impl ClientChannel {
    pub fn from_id(id: u8) -> Option<Self> {
        [Self::Input, Self::Commands, Self::Voice]
            .into_iter()
            .find(|c| u8::from(*c) == id)
    }
}

/// Both directions' channel lists, `(client, server)`.
pub fn channels_config() -> (Vec<ChannelConfig>, Vec<ChannelConfig>) {
    let resend = Duration::from_millis(200);
    let client = vec![
        ChannelConfig {
            channel_id: ClientChannel::Input.into(),
            max_memory_usage_bytes: 64 * 1024,
            send_type: SendType::Unreliable,
        },
        ChannelConfig {
            channel_id: ClientChannel::Commands.into(),
            max_memory_usage_bytes: 1024 * 1024,
            send_type: SendType::ReliableOrdered {
                resend_time: resend,
            },
        },
        // Small: 8 voices of 40 ms packets is under 1 kB in flight; a
        // sender past it loses its own frames, nobody else's.
        ChannelConfig {
            channel_id: ClientChannel::Voice.into(),
            max_memory_usage_bytes: 16 * 1024,
            send_type: SendType::Unreliable,
        },
    ];
    // Events first: a chat line or a sold-out notice outranks a snapshot.
    let server = vec![
        ChannelConfig {
            channel_id: ServerChannel::Events.into(),
            max_memory_usage_bytes: 8 * 1024 * 1024,
            send_type: SendType::ReliableOrdered {
                resend_time: resend,
            },
        },
        ChannelConfig {
            channel_id: ServerChannel::Snapshots.into(),
            max_memory_usage_bytes: 1024 * 1024,
            send_type: SendType::Unreliable,
        },
        // Last, and bounded: voice for one listener can never take the
        // bytes a tick owes its events and snapshots.
        ChannelConfig {
            channel_id: ServerChannel::Voice.into(),
            max_memory_usage_bytes: 64 * 1024,
            send_type: SendType::Unreliable,
        },
    ];
    (client, server)
}

pub fn connection_config() -> ConnectionConfig {
    let (client_channels_config, server_channels_config) = channels_config();
    ConnectionConfig {
        // 30 Hz ticks: 120 kB per tick is ~29 Mbit/s per connection, far above need.
        available_bytes_per_tick: 120_000,
        client_channels_config,
        server_channels_config,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_distinct_per_direction() {
        let (client, server) = channels_config();
        assert_eq!(client.len(), 3);
        assert_eq!(server.len(), 3);
        for list in [&client, &server] {
            let mut ids: Vec<u8> = list.iter().map(|c| c.channel_id).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), list.len());
        }
        assert_eq!(ClientChannel::from_id(1), Some(ClientChannel::Commands));
        assert_eq!(ClientChannel::from_id(2), Some(ClientChannel::Voice));
        assert_eq!(ClientChannel::from_id(7), None);
    }
}
