//! Avatar snapshots: whole poses and deltas against a baseline the client
//! acknowledged.

use crate::ids::MemberSlot;
use crate::pose::{PoseDeltaQ, PoseQ};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Room ticks per second: the server steps rooms, and clients send poses, at
/// this rate.
pub const TICK_HZ: u32 = 30;
/// Snapshots per second (taken on two ticks of every three); a snapshot's
/// tick number over this rate is its timestamp.
pub const SNAPSHOT_HZ: u32 = 20;
/// Snapshots kept as delta baselines, by the server and by each client:
/// 1.6 s at [`SNAPSHOT_HZ`].
pub const SNAPSHOT_HISTORY: usize = 32;

/// A snapshot of the room's avatars, relative to the snapshot `baseline`
/// when set (one the client acknowledged): `moved` avatars changed by a
/// delta, `full` ones are sent whole (new, or not expressible as a delta),
/// and any avatar in neither is unchanged since the baseline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Snapshot {
    pub tick: u32,
    pub baseline: Option<u32>,
    pub full: Vec<AvatarFull>,
    pub moved: MovedAvatars,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvatarFull {
    pub slot: MemberSlot,
    pub pose: PoseQ,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvatarMoved {
    pub slot: MemberSlot,
    pub delta: PoseDeltaQ,
}

/// Moved avatars as a bitmask of slots plus their deltas in slot order: a
/// bit per member instead of a byte, which is most of a walking step's cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MovedAvatars {
    slots: Vec<u8>,
    deltas: Vec<PoseDeltaQ>,
}

#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum SnapshotError {
    #[error("moved avatars must be added in increasing slot order")]
    OutOfOrder,
    #[error("the moved-avatar mask names {mask} avatars but {deltas} deltas follow")]
    CountMismatch { mask: usize, deltas: usize },
}

impl MovedAvatars {
    /// Adds `slot`, which must be greater than every slot added before.
    pub fn push(&mut self, slot: MemberSlot, delta: PoseDeltaQ) -> Result<(), SnapshotError> {
        if self.last_slot().is_some_and(|last| slot.0 <= last) {
            return Err(SnapshotError::OutOfOrder);
        }
        let (byte, bit) = (slot.0 as usize / 8, slot.0 % 8);
        if self.slots.len() <= byte {
            self.slots.resize(byte + 1, 0);
        }
        self.slots[byte] |= 1 << bit;
        self.deltas.push(delta);
        Ok(())
    }

    fn last_slot(&self) -> Option<u16> {
        let (byte, bits) = self
            .slots
            .iter()
            .enumerate()
            .rev()
            .find(|(_, b)| **b != 0)?;
        Some(byte as u16 * 8 + (7 - bits.leading_zeros() as u16))
    }

    fn iter_slots(&self) -> impl Iterator<Item = u16> + '_ {
        self.slots.iter().enumerate().flat_map(|(byte, bits)| {
            (0..8u16)
                .filter(move |bit| bits & (1 << bit) != 0)
                .map(move |bit| byte as u16 * 8 + bit)
        })
    }

    pub fn len(&self) -> usize {
        self.deltas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty()
    }

    /// The moved avatars, or an error when the mask and deltas disagree (a
    /// corrupt or hostile snapshot).
    pub fn entries(&self) -> Result<Vec<AvatarMoved>, SnapshotError> {
        let mask = self
            .slots
            .iter()
            .map(|b| b.count_ones() as usize)
            .sum::<usize>();
        if mask != self.deltas.len() || self.slots.len() > (u16::MAX as usize + 1) / 8 {
            return Err(SnapshotError::CountMismatch {
                mask,
                deltas: self.deltas.len(),
            });
        }
        Ok(self
            .iter_slots()
            .zip(&self.deltas)
            .map(|(slot, delta)| AvatarMoved {
                slot: MemberSlot(slot),
                delta: *delta,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode;

    #[test]
    fn moved_avatars_keep_slot_order_and_check_their_count() {
        let d = |x| PoseDeltaQ { x, z: 0, yaw: 0 };
        let mut moved = MovedAvatars::default();
        moved.push(MemberSlot(0), d(1)).unwrap();
        moved.push(MemberSlot(9), d(2)).unwrap();
        moved.push(MemberSlot(300), d(3)).unwrap();
        assert_eq!(
            moved.push(MemberSlot(9), d(4)),
            Err(SnapshotError::OutOfOrder)
        );
        let slots: Vec<u16> = moved.entries().unwrap().iter().map(|m| m.slot.0).collect();
        assert_eq!(slots, [0, 9, 300]);
        // 100 moved avatars cost 13 mask bytes, not 100 slot bytes.
        let mut many = MovedAvatars::default();
        for slot in 0..100 {
            many.push(MemberSlot(slot), d(1)).unwrap();
        }
        assert_eq!(encode(&many).unwrap().len(), 1 + 13 + 1 + 100 * 3);
        // A mask that disagrees with its deltas is refused.
        let bad = MovedAvatars {
            slots: vec![0b11],
            deltas: vec![d(1)],
        };
        assert_eq!(
            bad.entries(),
            Err(SnapshotError::CountMismatch { mask: 2, deltas: 1 })
        );
    }
}
