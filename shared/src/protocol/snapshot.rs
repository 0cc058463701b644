//! Avatar snapshots: whole poses and deltas against a baseline the client
//! acknowledged.

use crate::ids::MemberSlot;
use crate::pose::{PoseDeltaQ, PoseQ, XrDeltaQ};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Room ticks per second: the server steps rooms, and clients send poses, at
/// this rate.
pub const TICK_HZ: u32 = 30;
/// Snapshots per second (taken on two ticks of every three); a snapshot's
/// tick number over this rate is its timestamp.
pub const SNAPSHOT_HZ: u32 = 20;
/// True on the room ticks (counted from 0) that carry a snapshot: 20 of
/// every 30, evenly spread.
pub fn snapshot_due(tick: u64) -> bool {
    let hz = SNAPSHOT_HZ as u64;
    let tick_hz = TICK_HZ as u64;
    tick == 0 || (tick * hz / tick_hz) != ((tick - 1) * hz / tick_hz)
}

/// Avatars within this distance of a viewer (on the floor) go to it in
/// every snapshot that finds them moved: the people one walks among.
pub const NEAR_M: f32 = 10.0;
/// Within this distance a headset wearer's tracked head and hands go too:
/// conversation and hand-off range. Beyond it the avatar is a body facing
/// its way; its head and hands would be a few pixels, and each wearer's
/// are most of a snapshot's bytes (about 26 a snapshot against 2 for a
/// body's step).
pub const DETAIL_M: f32 = 5.0;
/// Head and hands once sent stay until the wearer is this much past
/// [`DETAIL_M`], so one standing at the edge does not flip between a body
/// and a whole headset pose (no delta joins the two) every snapshot.
pub const DETAIL_HYSTERESIS_M: f32 = 0.5;
/// Avatars between [`NEAR_M`] and this distance go in every second
/// snapshot (10 Hz), those beyond it in every fourth (5 Hz). The fourth
/// snapshot is the bound: every avatar in the room is at most 200 ms (plus
/// loss) older on every client than on the server.
pub const FAR_M: f32 = 20.0;

/// Interest management: every how many snapshots an avatar `distance`
/// metres from the viewer is sent, and whether with its tracked head and
/// hands. The server sends by it; the showroom plays distant avatars back
/// by it.
#[inline]
pub fn interest(distance: f32) -> (u32, bool) {
    if distance <= DETAIL_M {
        (1, true)
    } else if distance <= NEAR_M {
        (1, false)
    } else if distance <= FAR_M {
        (2, false)
    } else {
        (4, false)
    }
}

/// Snapshots kept as delta baselines, by the server and by each client:
/// 1.6 s at [`SNAPSHOT_HZ`].
pub const SNAPSHOT_HISTORY: usize = 32;

/// A snapshot of the room's avatars, relative to the snapshot `baseline`
/// when set (one the client acknowledged): `moved` avatars changed by a
/// walking delta, `moved_xr` headset wearers by an XR delta, `full` ones
/// are sent whole (new, or not expressible as a delta), and any avatar in
/// none is unchanged since the baseline (or, far from this client, not due
/// yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Snapshot {
    pub tick: u32,
    pub baseline: Option<u32>,
    pub full: Vec<AvatarFull>,
    pub moved: MovedAvatars,
    pub moved_xr: Vec<AvatarMovedXr>,
}

/// A headset wearer's change since the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvatarMovedXr {
    pub slot: MemberSlot,
    pub delta: XrDeltaQ,
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

/// Moved avatars as a bitmask of slots plus their steps in slot order: a
/// bit per member instead of a byte, which is most of a walking step's
/// cost. A turn is rarer than a step, so the yaw changes go apart: a bit
/// per moved avatar says it turned, and the turned ones' changes follow in
/// order; a walker going straight costs its two axes and two bits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MovedAvatars {
    slots: Vec<u8>,
    steps: Vec<(i16, i16)>,
    turned: Vec<u8>,
    turns: Vec<i16>,
}

#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum SnapshotError {
    #[error("moved avatars must be added in increasing slot order")]
    OutOfOrder,
    #[error("the moved-avatar mask names {mask} avatars but {deltas} deltas follow")]
    CountMismatch { mask: usize, deltas: usize },
    #[error("the turn mask names {mask} turns of {moved} moved avatars but {turns} follow")]
    TurnMismatch {
        mask: usize,
        moved: usize,
        turns: usize,
    },
}

fn bits(mask: &[u8]) -> impl Iterator<Item = usize> + '_ {
    mask.iter().enumerate().flat_map(|(byte, bits)| {
        (0..8usize)
            .filter(move |bit| bits & (1 << bit) != 0)
            .map(move |bit| byte * 8 + bit)
    })
}

fn set_bit(mask: &mut Vec<u8>, index: usize) {
    let (byte, bit) = (index / 8, index % 8);
    if mask.len() <= byte {
        mask.resize(byte + 1, 0);
    }
    mask[byte] |= 1 << bit;
}

impl MovedAvatars {
    /// Adds `slot`, which must be greater than every slot added before.
    pub fn push(&mut self, slot: MemberSlot, delta: PoseDeltaQ) -> Result<(), SnapshotError> {
        if self.last_slot().is_some_and(|last| slot.0 <= last) {
            return Err(SnapshotError::OutOfOrder);
        }
        set_bit(&mut self.slots, slot.0 as usize);
        if delta.yaw != 0 {
            set_bit(&mut self.turned, self.steps.len());
            self.turns.push(delta.yaw);
        }
        self.steps.push((delta.x, delta.z));
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

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The moved avatars, or an error when the masks and what follows them
    /// disagree (a corrupt or hostile snapshot).
    pub fn entries(&self) -> Result<Vec<AvatarMoved>, SnapshotError> {
        let mask = self
            .slots
            .iter()
            .map(|b| b.count_ones() as usize)
            .sum::<usize>();
        if mask != self.steps.len() || self.slots.len() > (u16::MAX as usize + 1) / 8 {
            return Err(SnapshotError::CountMismatch {
                mask,
                deltas: self.steps.len(),
            });
        }
        // A turn mask longer than the moved avatars need is refused before
        // anything is collected from it.
        if self.turned.len() > mask.div_ceil(8) {
            return Err(SnapshotError::TurnMismatch {
                mask: self.turned.len() * 8,
                moved: mask,
                turns: self.turns.len(),
            });
        }
        let turned: Vec<usize> = bits(&self.turned).collect();
        if turned.len() != self.turns.len() || turned.last().is_some_and(|&i| i >= mask) {
            return Err(SnapshotError::TurnMismatch {
                mask: turned.len(),
                moved: mask,
                turns: self.turns.len(),
            });
        }
        let mut yaws = vec![0i16; mask];
        for (index, yaw) in turned.into_iter().zip(&self.turns) {
            yaws[index] = *yaw;
        }
        Ok(bits(&self.slots)
            .zip(&self.steps)
            .zip(yaws)
            .map(|((slot, (x, z)), yaw)| AvatarMoved {
                slot: MemberSlot(slot as u16),
                delta: PoseDeltaQ { x: *x, z: *z, yaw },
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
        // 100 moved avatars cost 13 mask bytes, not 100 slot bytes, and
        // two bytes each walking straight: no turns, so no turn mask.
        let mut many = MovedAvatars::default();
        for slot in 0..100 {
            many.push(MemberSlot(slot), d(1)).unwrap();
        }
        assert_eq!(encode(&many).unwrap().len(), 1 + 13 + 1 + 100 * 2 + 1 + 1);
        // Three of them turning (the 8th, 48th and 88th): an 11-byte turn
        // mask and their changes (-7, -47: one byte each; -87: two).
        let mut turning = MovedAvatars::default();
        for slot in 0..100 {
            let yaw = if slot % 40 == 7 { -(slot as i16) } else { 0 };
            turning
                .push(MemberSlot(slot), PoseDeltaQ { x: 1, z: -1, yaw })
                .unwrap();
        }
        assert_eq!(
            encode(&turning).unwrap().len(),
            1 + 13 + 1 + 100 * 2 + 1 + 11 + 1 + 4
        );
        let back = turning.entries().unwrap();
        assert_eq!(back.len(), 100);
        for m in &back {
            let yaw = if m.slot.0 % 40 == 7 {
                -(m.slot.0 as i16)
            } else {
                0
            };
            assert_eq!(m.delta, PoseDeltaQ { x: 1, z: -1, yaw }, "{m:?}");
        }
        // Masks that disagree with what follows are refused.
        let bad = MovedAvatars {
            slots: vec![0b11],
            steps: vec![(1, 0)],
            ..MovedAvatars::default()
        };
        assert_eq!(
            bad.entries(),
            Err(SnapshotError::CountMismatch { mask: 2, deltas: 1 })
        );
        let one = |turned: Vec<u8>, turns: Vec<i16>| MovedAvatars {
            slots: vec![0b1],
            steps: vec![(1, 0)],
            turned,
            turns,
        };
        assert!(one(vec![0b1], vec![5]).entries().is_ok());
        for (turned, turns) in [
            (vec![0b1], vec![]),
            (vec![], vec![5]),
            (vec![0b10], vec![5]),
        ] {
            assert!(
                matches!(
                    one(turned.clone(), turns.clone()).entries(),
                    Err(SnapshotError::TurnMismatch { .. })
                ),
                "{turned:?} {turns:?}"
            );
        }
    }
}
