//! Bundles: several renet packets in one netcode payload, so one datagram
//! (one encryption, one system call, one IPv4 and UDP header) carries a
//! tick's snapshot, events and acknowledgements together. Renet makes a
//! packet per channel and a separate one for its acks; sent one a datagram,
//! the acks alone were a third of a shopper's downstream bytes.
//!
//! A bundle is a run of `[length: u16 little-endian][packet]`, at most
//! [`MAX_BUNDLE_BYTES`] in all. Both ends of the link are ours, so every
//! payload is a bundle, even of one packet.

use thiserror::Error;

/// The most a bundle holds: netcode's payload limit.
pub const MAX_BUNDLE_BYTES: usize = 1300;

const LENGTH_BYTES: usize = 2;

/// The type byte renet 2 starts its acknowledgement packets with
/// (`renet_acknowledgements_are_recognised` pins it to the version we use).
const RENET_ACK: u8 = 4;

/// True when `packets` are bare acknowledgements and nothing else. Renet
/// acknowledges every packet it receives, its own acknowledgements
/// included, so each side has one to send on every update forever; a batch
/// of nothing but these may wait and ride with the next datagram that
/// carries something (the sender holds it to the snapshot rate).
pub fn acks_only<P: AsRef<[u8]>>(packets: &[P]) -> bool {
    !packets.is_empty()
        && packets
            .iter()
            .all(|p| p.as_ref().first() == Some(&RENET_ACK))
}

/// Why a received payload is not a bundle. The datagram is dropped, as a
/// lost one would be; renet recovers what it carried that was reliable.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
pub enum BundleError {
    #[error("the payload is empty")]
    Empty,
    #[error("a packet's length is cut short")]
    TruncatedLength,
    #[error("a packet of length zero")]
    ZeroLength,
    #[error("a packet claims {claimed} bytes but {left} are left")]
    TruncatedPacket { claimed: usize, left: usize },
}

/// Packs `packets` into as few bundles as fit, in order. A packet too big
/// for any bundle goes alone (netcode refuses it, as it did before).
pub fn bundle<I, P>(packets: I) -> Vec<Vec<u8>>
where
    I: IntoIterator<Item = P>,
    P: AsRef<[u8]>,
{
    let mut out: Vec<Vec<u8>> = Vec::new();
    for packet in packets {
        let packet = packet.as_ref();
        let need = LENGTH_BYTES + packet.len();
        let fits = out
            .last()
            .is_some_and(|last| last.len() + need <= MAX_BUNDLE_BYTES);
        if !fits {
            out.push(Vec::with_capacity(need.min(MAX_BUNDLE_BYTES)));
        }
        let last = out.last_mut().expect("pushed above");
        let len = u16::try_from(packet.len()).unwrap_or(u16::MAX);
        last.extend_from_slice(&len.to_le_bytes());
        last.extend_from_slice(&packet[..len as usize]);
    }
    out
}

/// The packets of one bundle, all or nothing: a malformed bundle yields
/// none of them.
pub fn unbundle(payload: &[u8]) -> Result<Vec<&[u8]>, BundleError> {
    if payload.is_empty() {
        return Err(BundleError::Empty);
    }
    let mut packets = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let Some((len, after)) = rest.split_first_chunk::<LENGTH_BYTES>() else {
            return Err(BundleError::TruncatedLength);
        };
        let len = u16::from_le_bytes(*len) as usize;
        if len == 0 {
            return Err(BundleError::ZeroLength);
        }
        if len > after.len() {
            return Err(BundleError::TruncatedPacket {
                claimed: len,
                left: after.len(),
            });
        }
        let (packet, next) = after.split_at(len);
        packets.push(packet);
        rest = next;
    }
    Ok(packets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_share_a_bundle_while_they_fit_and_come_back_in_order() {
        let small: Vec<Vec<u8>> = (1..=3u8).map(|i| vec![i; 10 * i as usize]).collect();
        let bundles = bundle(&small);
        assert_eq!(bundles.len(), 1);
        assert_eq!(bundles[0].len(), 60 + 3 * 2);
        assert_eq!(
            unbundle(&bundles[0]).unwrap(),
            small.iter().map(|p| &p[..]).collect::<Vec<_>>()
        );

        // Two of 700 do not fit in 1,300: two bundles, each within it.
        let big = vec![vec![7u8; 700], vec![8u8; 700], vec![9u8; 5]];
        let bundles = bundle(&big);
        assert_eq!(bundles.len(), 2);
        assert!(bundles.iter().all(|b| b.len() <= MAX_BUNDLE_BYTES));
        let back: Vec<&[u8]> = bundles.iter().flat_map(|b| unbundle(b).unwrap()).collect();
        assert_eq!(back, big.iter().map(|p| &p[..]).collect::<Vec<_>>());
        assert!(bundle(Vec::<Vec<u8>>::new()).is_empty());
    }

    #[test]
    fn renet_acknowledgements_are_recognised() {
        use renet::{ConnectionConfig, DefaultChannel, RenetClient, RenetServer};
        let mut server = RenetServer::new(ConnectionConfig::default());
        server.add_connection(1);
        let mut client = RenetClient::new(ConnectionConfig::default());
        client.set_connected();
        client.send_message(DefaultChannel::ReliableOrdered, vec![1, 2, 3]);
        let up = client.get_packets_to_send();
        assert!(!up.is_empty() && !acks_only(&up), "a message is not an ack");
        for packet in &up {
            server.process_packet_from(packet, 1).unwrap();
        }
        let down = server.get_packets_to_send(1).unwrap();
        assert_eq!(down.len(), 1);
        assert!(acks_only(&down), "the server only acknowledges: {down:?}");
        server.send_message(1, DefaultChannel::Unreliable, vec![9]);
        let down = server.get_packets_to_send(1).unwrap();
        assert!(down.len() == 2 && !acks_only(&down));
        assert!(!acks_only::<Vec<u8>>(&[]));
    }

    #[test]
    fn a_malformed_bundle_is_refused_whole() {
        assert_eq!(unbundle(&[]), Err(BundleError::Empty));
        assert_eq!(unbundle(&[5]), Err(BundleError::TruncatedLength));
        assert_eq!(unbundle(&[0, 0, 1]), Err(BundleError::ZeroLength));
        assert_eq!(
            unbundle(&[4, 0, 1, 2]),
            Err(BundleError::TruncatedPacket {
                claimed: 4,
                left: 2
            })
        );
        // A good packet then a bad one: nothing comes out.
        assert_eq!(
            unbundle(&[1, 0, 9, 3, 0, 1]),
            Err(BundleError::TruncatedPacket {
                claimed: 3,
                left: 1
            })
        );
        assert_eq!(unbundle(&[1, 0, 9, 1]), Err(BundleError::TruncatedLength));
    }
}
