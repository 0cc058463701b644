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
}

/// Channels the server sends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerChannel {
    /// Unreliable: snapshots, delta-encoded against an acknowledged one.
    Snapshots,
    /// Reliable ordered: room events and rejections.
    Events,
}

impl From<ClientChannel> for u8 {
    fn from(channel: ClientChannel) -> u8 {
        match channel {
            ClientChannel::Input => 0,
            ClientChannel::Commands => 1,
        }
    }
}

impl From<ServerChannel> for u8 {
    fn from(channel: ServerChannel) -> u8 {
        match channel {
            ServerChannel::Snapshots => 0,
            ServerChannel::Events => 1,
        }
    }
}

impl ClientChannel {
    pub fn from_id(id: u8) -> Option<Self> {
        [Self::Input, Self::Commands]
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
        assert_eq!(client.len(), 2);
        assert_eq!(server.len(), 2);
        assert_ne!(client[0].channel_id, client[1].channel_id);
        assert_ne!(server[0].channel_id, server[1].channel_id);
        assert_eq!(ClientChannel::from_id(1), Some(ClientChannel::Commands));
        assert_eq!(ClientChannel::from_id(7), None);
    }
}
