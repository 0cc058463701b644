//! Avatar poses: the float pose a client sends, the rules the server applies
//! to it, and the quantized form snapshots carry.

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[cfg(feature = "bevy")]
mod bevy;
#[cfg(feature = "bevy")]
pub use self::bevy::{protocol_yaw, yaw_rotation};

/// Walking speed the server accepts, in metres per second, with headroom for
/// jitter in packet arrival.
pub const MAX_SPEED_M_PER_S: f32 = 6.0;
/// How far a tracked hand may be from the head, in metres.
pub const MAX_HAND_REACH_M: f32 = 1.2;
/// How far the head may be above the body's floor position, in metres.
pub const MAX_HEAD_HEIGHT_M: f32 = 2.6;
/// How far one teleport may jump, in metres: a long arc across the floor.
pub const MAX_TELEPORT_M: f32 = 10.0;
/// How close two hands must be for a hand-off, in metres.
pub const HANDOFF_REACH_M: f32 = 0.5;
/// Where a shopper without tracked hands holds a product: this far in front
/// of the body, at this height (in front of the eyes on the desktop).
pub const DESKTOP_HOLD_FORWARD_M: f32 = 0.6;
pub const DESKTOP_HOLD_HEIGHT_M: f32 = 1.35;
/// Quantization step for positions: 1 cm.
pub const POSITION_STEP_M: f32 = 0.01;
/// Yaw is quantized into this many steps per turn.
pub const YAW_STEPS: u16 = 4096;

/// A tracked point (head or hand) in room space.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackedPoseNet {
    pub position: [f32; 3],
    /// Unit quaternion `[x, y, z, w]`.
    pub rotation: [f32; 4],
}

/// Head and hands, sent by XR clients.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct XrPoseNet {
    pub head: TrackedPoseNet,
    pub left_hand: Option<TrackedPoseNet>,
    pub right_hand: Option<TrackedPoseNet>,
}

/// An avatar's pose as a client sends it: body position on the floor, facing
/// yaw in radians, and optionally head and hands.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoseNet {
    pub position: [f32; 3],
    pub yaw: f32,
    pub xr: Option<XrPoseNet>,
}

impl PoseNet {
    pub fn at(position: [f32; 3], yaw: f32) -> Self {
        PoseNet {
            position,
            yaw,
            xr: None,
        }
    }

    fn floats(&self) -> impl Iterator<Item = f32> + '_ {
        let xr = self.xr.iter().flat_map(|xr| {
            let tracked = [Some(xr.head), xr.left_hand, xr.right_hand];
            tracked
                .into_iter()
                .flatten()
                .flat_map(|t| t.position.into_iter().chain(t.rotation))
        });
        self.position.into_iter().chain([self.yaw]).chain(xr)
    }

    /// Where this shopper's hands are, in room space: the tracked hands of
    /// an XR pose, or the point in front of a desktop shopper's eyes where a
    /// held product rides (protocol yaw 0 faces +Z).
    pub fn reach_points(&self) -> Vec<[f32; 3]> {
        let tracked: Vec<[f32; 3]> = self
            .xr
            .iter()
            .flat_map(|xr| [xr.left_hand, xr.right_hand])
            .flatten()
            .map(|hand| hand.position)
            .collect();
        if !tracked.is_empty() {
            return tracked;
        }
        let [x, y, z] = self.position;
        vec![[
            x + self.yaw.sin() * DESKTOP_HOLD_FORWARD_M,
            y + DESKTOP_HOLD_HEIGHT_M,
            z + self.yaw.cos() * DESKTOP_HOLD_FORWARD_M,
        ]]
    }
}

/// The gap between the nearest of the taker's and the holder's hands, in
/// metres: a hand-off needs at most [`HANDOFF_REACH_M`].
pub fn handoff_distance(taker: &PoseNet, holder: &PoseNet) -> f32 {
    let holder_hands = holder.reach_points();
    taker
        .reach_points()
        .iter()
        .flat_map(|a| holder_hands.iter().map(move |b| len(sub(*a, *b))))
        .fold(f32::INFINITY, f32::min)
}

/// Why a teleport was refused.
#[derive(Debug, Error, PartialEq, Clone, Copy)]
pub enum TeleportError {
    #[error("teleport target is not finite")]
    NotFinite,
    #[error("teleport target is outside the room")]
    OutsideRoom,
    #[error("teleport target is more than {MAX_TELEPORT_M} m away")]
    TooFar,
}

/// The server's rule for a teleport from `from` (the body's floor position)
/// to `to`: a finite point inside the room, within [`MAX_TELEPORT_M`].
/// Returns the target on the floor.
pub fn teleport_target(
    from: [f32; 3],
    to: [f32; 3],
    bounds: &RoomBounds,
) -> Result<[f32; 3], TeleportError> {
    if to.iter().any(|c| !c.is_finite()) {
        return Err(TeleportError::NotFinite);
    }
    let floor = [to[0], bounds.min[1], to[2]];
    if !bounds.contains(floor) {
        return Err(TeleportError::OutsideRoom);
    }
    let flat = len([floor[0] - from[0], 0.0, floor[2] - from[2]]);
    if flat > MAX_TELEPORT_M {
        return Err(TeleportError::TooFar);
    }
    Ok(floor)
}

/// The walkable volume of a room, axis-aligned, in metres.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomBounds {
    pub min: [f32; 3],
    pub max: [f32; 3],
}

impl RoomBounds {
    /// A floor of `width` × `depth` metres centred on the origin.
    pub fn centered(width: f32, depth: f32, height: f32) -> Self {
        RoomBounds {
            min: [-width / 2.0, 0.0, -depth / 2.0],
            max: [width / 2.0, height, depth / 2.0],
        }
    }

    pub fn clamp(&self, p: [f32; 3]) -> [f32; 3] {
        [0, 1, 2].map(|i| p[i].clamp(self.min[i], self.max[i]))
    }

    pub fn contains(&self, p: [f32; 3]) -> bool {
        (0..3).all(|i| p[i] >= self.min[i] && p[i] <= self.max[i])
    }

    pub fn center_floor(&self) -> [f32; 3] {
        [
            (self.min[0] + self.max[0]) / 2.0,
            self.min[1],
            (self.min[2] + self.max[2]) / 2.0,
        ]
    }
}

#[derive(Debug, Error, PartialEq, Clone, Copy, Serialize, Deserialize)]
pub enum PoseError {
    #[error("pose contains NaN or infinity")]
    NotFinite,
}

/// What the server did to a pose it accepted.
#[derive(Debug, Default, PartialEq, Clone, Copy)]
pub struct PoseAdjustments {
    pub clamped_to_bounds: bool,
    pub clamped_speed: bool,
    pub clamped_reach: bool,
}

impl PoseAdjustments {
    pub fn any(&self) -> bool {
        self.clamped_to_bounds || self.clamped_speed || self.clamped_reach
    }
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn len(v: [f32; 3]) -> f32 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

fn toward(from: [f32; 3], to: [f32; 3], max: f32) -> ([f32; 3], bool) {
    let d = sub(to, from);
    let l = len(d);
    if l <= max {
        (to, false)
    } else {
        let k = max / l;
        (
            [from[0] + d[0] * k, from[1] + d[1] * k, from[2] + d[2] * k],
            true,
        )
    }
}

fn normalize_quat(q: [f32; 4]) -> [f32; 4] {
    let n = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]).sqrt();
    if n < 1e-6 {
        [0.0, 0.0, 0.0, 1.0]
    } else {
        q.map(|c| c / n)
    }
}

/// The server's rule for a new pose. A non-finite value is refused outright;
/// otherwise the body is kept inside the room and within walking speed of
/// `previous` over `dt_secs`, the head above the body, and hands within reach.
pub fn validate_pose(
    previous: Option<&PoseNet>,
    next: &PoseNet,
    dt_secs: f32,
    bounds: &RoomBounds,
) -> Result<(PoseNet, PoseAdjustments), PoseError> {
    if next.floats().any(|f| !f.is_finite()) {
        return Err(PoseError::NotFinite);
    }
    let mut adj = PoseAdjustments::default();
    let mut pose = *next;

    // Bodies stand on the floor.
    let mut body = [pose.position[0], bounds.min[1], pose.position[2]];
    if !bounds.contains(body) {
        body = bounds.clamp(body);
        adj.clamped_to_bounds = true;
    }
    if let Some(prev) = previous {
        let max_step = MAX_SPEED_M_PER_S * dt_secs.max(0.0);
        let (limited, clamped) = toward(prev.position, body, max_step);
        body = limited;
        adj.clamped_speed = clamped;
    }
    pose.position = body;
    pose.yaw = pose.yaw.rem_euclid(std::f32::consts::TAU);

    if let Some(xr) = pose.xr.as_mut() {
        let head_anchor = [body[0], body[1] + MAX_HEAD_HEIGHT_M / 2.0, body[2]];
        let (head, moved) = toward(head_anchor, xr.head.position, MAX_HEAD_HEIGHT_M / 2.0);
        xr.head.position = bounds.clamp(head);
        xr.head.rotation = normalize_quat(xr.head.rotation);
        adj.clamped_reach |= moved;
        let head = xr.head.position;
        for hand in [xr.left_hand.as_mut(), xr.right_hand.as_mut()]
            .into_iter()
            .flatten()
        {
            let (p, moved) = toward(head, hand.position, MAX_HAND_REACH_M);
            hand.position = p;
            hand.rotation = normalize_quat(hand.rotation);
            adj.clamped_reach |= moved;
        }
    }
    Ok((pose, adj))
}

// ---------------------------------------------------------------------------
// Quantized form, for snapshots.

fn q_pos(p: [f32; 3]) -> [i16; 3] {
    p.map(|c| {
        (c / POSITION_STEP_M)
            .round()
            .clamp(i16::MIN as f32, i16::MAX as f32) as i16
    })
}

fn dq_pos(p: [i16; 3]) -> [f32; 3] {
    p.map(|c| c as f32 * POSITION_STEP_M)
}

/// Steps of a quaternion component: 1/4096 is a few hundredths of a
/// degree, finer than a headset's own tracking noise, and keeps the change
/// between two snapshots of a head or hand moving at human speed within a
/// one- or two-byte varint.
pub const ROTATION_STEPS: f32 = 4096.0;

fn q_rot(q: [f32; 4]) -> [i16; 4] {
    q.map(|c| (c.clamp(-1.0, 1.0) * ROTATION_STEPS).round() as i16)
}

fn dq_rot(q: [i16; 4]) -> [f32; 4] {
    normalize_quat(q.map(|c| c as f32 / ROTATION_STEPS))
}

/// A tracked point at 1 cm and 1/4096 quaternion resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrackedPoseQ {
    pub position: [i16; 3],
    pub rotation: [i16; 4],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct XrPoseQ {
    pub head: TrackedPoseQ,
    pub left_hand: Option<TrackedPoseQ>,
    pub right_hand: Option<TrackedPoseQ>,
}

/// A pose as snapshots carry it: positions in centimetres (±327 m), yaw in
/// 1/4096 turns. Postcard's varints make typical values 2 bytes each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoseQ {
    pub position: [i16; 3],
    pub yaw: u16,
    pub xr: Option<XrPoseQ>,
}

impl From<&TrackedPoseNet> for TrackedPoseQ {
    fn from(t: &TrackedPoseNet) -> Self {
        TrackedPoseQ {
            position: q_pos(t.position),
            rotation: q_rot(t.rotation),
        }
    }
}

impl From<&TrackedPoseQ> for TrackedPoseNet {
    fn from(t: &TrackedPoseQ) -> Self {
        TrackedPoseNet {
            position: dq_pos(t.position),
            rotation: dq_rot(t.rotation),
        }
    }
}

impl From<&PoseNet> for PoseQ {
    fn from(p: &PoseNet) -> Self {
        let turn = p.yaw.rem_euclid(std::f32::consts::TAU) / std::f32::consts::TAU;
        let yaw = ((turn * YAW_STEPS as f32).round() as u32 % YAW_STEPS as u32) as u16;
        PoseQ {
            position: q_pos(p.position),
            yaw,
            xr: p.xr.as_ref().map(|xr| XrPoseQ {
                head: (&xr.head).into(),
                left_hand: xr.left_hand.as_ref().map(Into::into),
                right_hand: xr.right_hand.as_ref().map(Into::into),
            }),
        }
    }
}

impl From<&PoseQ> for PoseNet {
    fn from(p: &PoseQ) -> Self {
        PoseNet {
            position: dq_pos(p.position),
            yaw: (p.yaw % YAW_STEPS) as f32 / YAW_STEPS as f32 * std::f32::consts::TAU,
            xr: p.xr.as_ref().map(|xr| XrPoseNet {
                head: (&xr.head).into(),
                left_hand: xr.left_hand.as_ref().map(Into::into),
                right_hand: xr.right_hand.as_ref().map(Into::into),
            }),
        }
    }
}

/// A walking step against a baseline pose: bodies stay on the floor, so
/// only x, z and yaw change, and small values encode in one varint byte
/// each. Poses with XR data, or a changed height, are always sent whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoseDeltaQ {
    pub x: i16,
    pub z: i16,
    pub yaw: i16,
}

/// A tracked point's change against a baseline, in its quantized steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrackedDeltaQ {
    pub position: [i16; 3],
    pub rotation: [i16; 4],
}

impl TrackedDeltaQ {
    fn between(now: &TrackedPoseQ, base: &TrackedPoseQ) -> Option<Self> {
        Some(TrackedDeltaQ {
            position: each(now.position, base.position, i16::checked_sub)?,
            rotation: each(now.rotation, base.rotation, i16::checked_sub)?,
        })
    }

    fn apply(&self, base: &TrackedPoseQ) -> Option<TrackedPoseQ> {
        Some(TrackedPoseQ {
            position: each(base.position, self.position, i16::checked_add)?,
            rotation: each(base.rotation, self.rotation, i16::checked_add)?,
        })
    }
}

/// `op` on each pair of components; `None` when any overflows.
fn each<const N: usize>(
    a: [i16; N],
    b: [i16; N],
    op: fn(i16, i16) -> Option<i16>,
) -> Option<[i16; N]> {
    let mut out = [0; N];
    for (o, (x, y)) in out.iter_mut().zip(a.into_iter().zip(b)) {
        *o = op(x, y)?;
    }
    Some(out)
}

/// A headset wearer's change against a baseline that also wore one, with
/// the same hands tracked: the body's step and each tracked point's
/// change. Mostly one varint byte a value: about 26 bytes against 42 for
/// the whole pose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct XrDeltaQ {
    pub body: PoseDeltaQ,
    pub head: TrackedDeltaQ,
    pub left_hand: Option<TrackedDeltaQ>,
    pub right_hand: Option<TrackedDeltaQ>,
}

impl PoseQ {
    /// The body's step from `base` (x, z and yaw), whatever either carries
    /// besides; `None` when the height changed or a value overflows.
    fn body_delta(&self, base: &PoseQ) -> Option<PoseDeltaQ> {
        if self.position[1] != base.position[1] {
            return None;
        }
        let x = self.position[0].checked_sub(base.position[0])?;
        let z = self.position[2].checked_sub(base.position[2])?;
        let steps = YAW_STEPS as i32;
        let mut yaw = (self.yaw as i32 - base.yaw as i32).rem_euclid(steps);
        if yaw > steps / 2 {
            yaw -= steps;
        }
        Some(PoseDeltaQ {
            x,
            z,
            yaw: yaw as i16,
        })
    }

    fn body_apply(&self, delta: &PoseDeltaQ) -> Option<PoseQ> {
        let [x, y, z] = self.position;
        let position = [x.checked_add(delta.x)?, y, z.checked_add(delta.z)?];
        let yaw = (self.yaw as i32 + delta.yaw as i32).rem_euclid(YAW_STEPS as i32) as u16;
        Some(PoseQ {
            position,
            yaw,
            xr: None,
        })
    }

    /// The delta from `base` to `self`, when one can express it.
    pub fn delta_from(&self, base: &PoseQ) -> Option<PoseDeltaQ> {
        if self.xr.is_some() || base.xr.is_some() {
            return None;
        }
        self.body_delta(base)
    }

    /// Applies a delta; `None` when it would overflow (a corrupt or hostile
    /// delta), so the caller can drop the snapshot.
    pub fn apply(&self, delta: &PoseDeltaQ) -> Option<PoseQ> {
        self.body_apply(delta)
    }

    /// The change from `base` to `self` when both wear a headset with the
    /// same hands tracked (otherwise the pose goes whole).
    pub fn xr_delta_from(&self, base: &PoseQ) -> Option<XrDeltaQ> {
        let (now, then) = (self.xr.as_ref()?, base.xr.as_ref()?);
        let hand = |n: &Option<TrackedPoseQ>, b: &Option<TrackedPoseQ>| match (n, b) {
            (Some(n), Some(b)) => TrackedDeltaQ::between(n, b).map(Some),
            (None, None) => Some(None),
            _ => None,
        };
        Some(XrDeltaQ {
            body: self.body_delta(base)?,
            head: TrackedDeltaQ::between(&now.head, &then.head)?,
            left_hand: hand(&now.left_hand, &then.left_hand)?,
            right_hand: hand(&now.right_hand, &then.right_hand)?,
        })
    }

    /// Applies an XR change; `None` when this pose has no headset, the
    /// hands differ from the change's, or a value overflows (a corrupt or
    /// hostile delta), so the caller can drop the snapshot.
    pub fn apply_xr(&self, delta: &XrDeltaQ) -> Option<PoseQ> {
        let xr = self.xr.as_ref()?;
        let hand = |b: &Option<TrackedPoseQ>, d: &Option<TrackedDeltaQ>| match (b, d) {
            (Some(b), Some(d)) => d.apply(b).map(Some),
            (None, None) => Some(None),
            _ => None,
        };
        let xr = XrPoseQ {
            head: delta.head.apply(&xr.head)?,
            left_hand: hand(&xr.left_hand, &delta.left_hand)?,
            right_hand: hand(&xr.right_hand, &delta.right_hand)?,
        };
        Some(PoseQ {
            xr: Some(xr),
            ..self.body_apply(&delta.body)?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> RoomBounds {
        RoomBounds::centered(20.0, 20.0, 4.0)
    }

    #[test]
    fn an_xr_change_is_a_delta_when_the_hands_match_and_comes_back_exactly() {
        let tracked = |position: [f32; 3], turn: f32| TrackedPoseNet {
            position,
            rotation: [0.0, (turn / 2.0).sin(), 0.0, (turn / 2.0).cos()],
        };
        let wearer = |x: f32, turn: f32, right: bool| {
            PoseQ::from(&PoseNet {
                position: [x, 0.0, 1.0],
                yaw: turn,
                xr: Some(XrPoseNet {
                    head: tracked([x, 1.6, 1.0], turn),
                    left_hand: Some(tracked([x - 0.3, 1.1, 1.2], turn + 0.2)),
                    right_hand: right.then(|| tracked([x + 0.3, 1.0, 1.2], turn - 0.2)),
                }),
            })
        };
        let (then, now) = (wearer(0.0, 0.5, true), wearer(0.05, 0.52, true));
        let delta = now.xr_delta_from(&then).expect("same hands");
        assert_eq!(then.apply_xr(&delta), Some(now));
        // Small: a varint byte a value, well under the whole pose.
        let whole = postcard::to_allocvec(&now).unwrap().len();
        let small = postcard::to_allocvec(&delta).unwrap().len();
        assert!(small * 3 <= whole * 2, "{small} vs {whole}");
        // A hand appearing, no headset on either side, or a height change:
        // no delta, the pose goes whole.
        assert_eq!(wearer(0.05, 0.5, false).xr_delta_from(&then), None);
        let desk = PoseQ::from(&PoseNet::at([0.0, 0.0, 1.0], 0.5));
        assert_eq!(now.xr_delta_from(&desk), None);
        assert_eq!(desk.xr_delta_from(&then), None);
        assert_eq!(now.delta_from(&then), None, "a body delta drops no hands");
        let mut higher = now;
        higher.position[1] += 1;
        assert_eq!(higher.xr_delta_from(&then), None);
        // A change that does not fit its baseline is refused, not applied.
        assert_eq!(desk.apply_xr(&delta), None);
        assert_eq!(wearer(0.0, 0.5, false).apply_xr(&delta), None);
        let mut hostile = delta;
        hostile.head.position[0] = i16::MAX;
        let mut far = then;
        if let Some(xr) = far.xr.as_mut() {
            xr.head.position[0] = 100;
        }
        assert_eq!(far.apply_xr(&hostile), None);
    }

    #[test]
    fn refuses_nan_and_infinity() {
        let bad = PoseNet::at([f32::NAN, 0.0, 0.0], 0.0);
        assert_eq!(
            validate_pose(None, &bad, 0.05, &bounds()),
            Err(PoseError::NotFinite)
        );
        let mut xr = PoseNet::at([0.0; 3], 0.0);
        xr.xr = Some(XrPoseNet {
            head: TrackedPoseNet {
                position: [0.0, f32::INFINITY, 0.0],
                rotation: [0.0, 0.0, 0.0, 1.0],
            },
            left_hand: None,
            right_hand: None,
        });
        assert_eq!(
            validate_pose(None, &xr, 0.05, &bounds()),
            Err(PoseError::NotFinite)
        );
    }

    #[test]
    fn clamps_to_bounds_and_floor() {
        let (pose, adj) =
            validate_pose(None, &PoseNet::at([50.0, 3.0, -50.0], 0.0), 0.05, &bounds()).unwrap();
        assert_eq!(pose.position, [10.0, 0.0, -10.0]);
        assert!(adj.clamped_to_bounds);
    }

    #[test]
    fn limits_speed() {
        let prev = PoseNet::at([0.0; 3], 0.0);
        let (pose, adj) = validate_pose(
            Some(&prev),
            &PoseNet::at([5.0, 0.0, 0.0], 0.0),
            0.1,
            &bounds(),
        )
        .unwrap();
        assert!((pose.position[0] - MAX_SPEED_M_PER_S * 0.1).abs() < 1e-4);
        assert!(adj.clamped_speed);
        let (pose, adj) = validate_pose(
            Some(&prev),
            &PoseNet::at([0.1, 0.0, 0.0], 0.0),
            0.1,
            &bounds(),
        )
        .unwrap();
        assert_eq!(pose.position[0], 0.1);
        assert!(!adj.any());
    }

    #[test]
    fn keeps_hands_within_reach() {
        let mut p = PoseNet::at([0.0; 3], 0.0);
        let ident = [0.0, 0.0, 0.0, 1.0];
        p.xr = Some(XrPoseNet {
            head: TrackedPoseNet {
                position: [0.0, 1.7, 0.0],
                rotation: ident,
            },
            left_hand: Some(TrackedPoseNet {
                position: [5.0, 1.7, 0.0],
                rotation: ident,
            }),
            right_hand: Some(TrackedPoseNet {
                position: [0.3, 1.2, 0.2],
                rotation: [0.0, 0.0, 0.0, 2.0],
            }),
        });
        let (pose, adj) = validate_pose(None, &p, 0.05, &bounds()).unwrap();
        let xr = pose.xr.unwrap();
        assert!((xr.left_hand.unwrap().position[0] - MAX_HAND_REACH_M).abs() < 1e-4);
        assert_eq!(xr.right_hand.unwrap().rotation, ident);
        assert!(adj.clamped_reach);
    }

    #[test]
    fn quantization_is_within_a_step() {
        let p = PoseNet::at([1.234, 0.0, -7.891], 1.0);
        let back = PoseNet::from(&PoseQ::from(&p));
        for i in 0..3 {
            assert!((back.position[i] - p.position[i]).abs() <= POSITION_STEP_M / 2.0 + 1e-5);
        }
        assert!((back.yaw - 1.0).abs() < std::f32::consts::TAU / YAW_STEPS as f32);
    }

    #[test]
    fn deltas_round_trip_and_wrap_yaw() {
        let a = PoseQ {
            position: [100, 0, -5],
            yaw: 4090,
            xr: None,
        };
        let b = PoseQ {
            position: [103, 0, -9],
            yaw: 3,
            xr: None,
        };
        let d = b.delta_from(&a).unwrap();
        assert_eq!(
            d,
            PoseDeltaQ {
                x: 3,
                z: -4,
                yaw: 9
            }
        );
        assert_eq!(a.apply(&d), Some(b));
        let raised = PoseQ {
            position: [103, 10, -9],
            ..b
        };
        assert_eq!(raised.delta_from(&a), None, "a height change is sent whole");
        let extreme = PoseQ {
            position: [i16::MAX, 0, 0],
            yaw: 0,
            xr: None,
        };
        assert_eq!(extreme.apply(&PoseDeltaQ { x: 1, z: 0, yaw: 0 }), None);
    }
    fn hand(p: [f32; 3]) -> TrackedPoseNet {
        TrackedPoseNet {
            position: p,
            rotation: [0.0, 0.0, 0.0, 1.0],
        }
    }

    #[test]
    fn handoff_measures_the_nearest_pair_of_hands() {
        let xr = |body: [f32; 3], l: [f32; 3], r: [f32; 3]| PoseNet {
            position: body,
            yaw: 0.0,
            xr: Some(XrPoseNet {
                head: hand([body[0], 1.6, body[2]]),
                left_hand: Some(hand(l)),
                right_hand: Some(hand(r)),
            }),
        };
        let alice = xr([0.0, 0.0, 0.0], [-0.3, 1.2, 0.3], [0.3, 1.2, 0.4]);
        let bob = xr([0.0, 0.0, 1.2], [0.4, 1.2, 0.7], [-0.3, 1.2, 0.9]);
        // Alice's right hand to Bob's left: (0.1, 0, 0.3).
        let d = handoff_distance(&alice, &bob);
        assert!((d - 0.1f32.hypot(0.3)).abs() < 1e-5, "{d}");
        assert_eq!(d, handoff_distance(&bob, &alice));
        assert!(d <= HANDOFF_REACH_M);
        let far = xr([0.0, 0.0, 3.0], [0.0, 1.2, 2.8], [0.2, 1.2, 2.8]);
        assert!(handoff_distance(&alice, &far) > HANDOFF_REACH_M);
    }

    #[test]
    fn a_desktop_shopper_holds_in_front_of_the_eyes() {
        // Yaw 0 faces +Z; a quarter turn faces +X.
        let p = PoseNet::at([1.0, 0.0, 2.0], 0.0).reach_points();
        assert_eq!(p.len(), 1);
        assert!((p[0][2] - (2.0 + DESKTOP_HOLD_FORWARD_M)).abs() < 1e-5);
        assert!((p[0][1] - DESKTOP_HOLD_HEIGHT_M).abs() < 1e-5);
        let q = PoseNet::at([1.0, 0.0, 2.0], std::f32::consts::FRAC_PI_2).reach_points();
        assert!((q[0][0] - (1.0 + DESKTOP_HOLD_FORWARD_M)).abs() < 1e-5);
        // Two desktop shoppers face to face, a metre apart, can pass.
        let a = PoseNet::at([0.0, 0.0, 0.0], 0.0);
        let b = PoseNet::at([0.0, 0.0, 1.4], std::f32::consts::PI);
        assert!(handoff_distance(&a, &b) < HANDOFF_REACH_M);
        let back_to_back = PoseNet::at([0.0, 0.0, 1.4], 0.0);
        assert!(handoff_distance(&a, &back_to_back) > HANDOFF_REACH_M);
    }

    #[test]
    fn teleports_land_on_the_floor_inside_the_room_and_within_range() {
        let room = RoomBounds::centered(30.0, 30.0, 4.0);
        assert_eq!(
            teleport_target([0.0, 0.0, 0.0], [3.0, 0.7, -4.0], &room),
            Ok([3.0, 0.0, -4.0])
        );
        assert_eq!(
            teleport_target([0.0, 0.0, 0.0], [f32::NAN, 0.0, 0.0], &room),
            Err(TeleportError::NotFinite)
        );
        assert_eq!(
            teleport_target([0.0, 0.0, 0.0], [0.0, 0.0, 16.0], &room),
            Err(TeleportError::OutsideRoom)
        );
        assert_eq!(
            teleport_target([0.0, 0.0, 0.0], [8.0, 0.0, 8.0], &room),
            Err(TeleportError::TooFar)
        );
    }
}
