//! The function the `snapshot` fuzz target (`fuzz/`) calls, shared with the
//! stable test that replays its corpus (`tests/tests/it/fuzz_corpus.rs`).

use crate::net::RoomMirror;
use vitrine_shared::protocol::{MemberInfo, RoomEvent, Snapshot};
use vitrine_shared::{
    AccountId, DisplayName, MemberSlot, PoseNet, Role, RoomBounds, RoomId, ServerMessage, decode,
};

/// The `snapshot` target: a welcomed mirror, then a run of messages cut
/// from `data`, each `[kind: u8][length: u16 LE][bytes]`. An even kind
/// decodes the bytes as a [`Snapshot`], an odd kind as any
/// [`ServerMessage`] (members joining and leaving between snapshots).
/// Bad snapshots and deltas must be errors or drops, never panics.
pub fn snapshot(data: &[u8]) {
    let mut mirror = welcomed();
    let mut rest = data;
    while let [kind, lo, hi, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (bytes, after) = tail.split_at(len);
        rest = after;
        let message = if kind % 2 == 0 {
            decode::<Snapshot>(bytes).map(ServerMessage::Snapshot)
        } else {
            decode::<ServerMessage>(bytes)
        };
        if let Ok(message) = message {
            let _ = mirror.apply(message);
        }
    }
    let _ = mirror.drain_changes();
}

/// A mirror that has had its `Welcome`, with members in slots 0 to 3.
pub fn welcomed() -> RoomMirror {
    let member = |slot: u16| MemberInfo {
        slot: MemberSlot(slot),
        account: AccountId(u64::from(slot) + 100),
        name: DisplayName::new(format!("m{slot}")).expect("a valid name"),
        role: Role::Shopper,
    };
    let mut mirror = RoomMirror::default();
    mirror
        .apply(ServerMessage::Room(RoomEvent::Welcome {
            room: RoomId::new("fuzz").expect("a valid room id"),
            room_name: "Fuzz".into(),
            you: MemberSlot(0),
            spawn: Box::new(PoseNet::at([0.0; 3], 0.0)),
            bounds: RoomBounds::centered(10.0, 10.0, 3.0),
            members: (0..4).map(member).collect(),
            recent_chat: vec![],
            flash_sales: vec![],
            pinned_coupon: None,
            products: vec![],
        }))
        .expect("a welcome applies");
    mirror
}
