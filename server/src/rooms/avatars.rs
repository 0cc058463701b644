//! Avatars: apply each member's validated pose and teleports, then publish
//! the room's poses as snapshots at 20 Hz, quantized and delta-encoded per
//! client against the newest snapshot that client acknowledged.
//!
//! A teleport (`RoomCommand::Teleport`) is the one way to move faster than
//! the walking-speed rule allows: checked by
//! [`vitrine_shared::pose::teleport_target`] and a cooldown, it replaces
//! the stored pose, which is the baseline the next pose is checked against.
//! Poses arrive unreliably and the teleport reliably: poses sent from the
//! new place that overtake it are speed-clamped toward it until it lands;
//! teleports apply after the tick's poses, so the tick ends at the target.

use super::inbox::{CommandReceived, PoseReceived};
use super::membership::{Avatar, Limits, Member, Room};
use super::{ServerSystems, Shared, send_event};
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use bevy_time::prelude::*;
use std::collections::HashMap;
use std::time::Duration;
use vitrine_shared::pose::{POSITION_STEP_M, TeleportError, teleport_target, validate_pose};
use vitrine_shared::protocol::{
    AvatarFull, AvatarMovedXr, CommandKind, DETAIL_HYSTERESIS_M, DETAIL_M, RejectReason, Rejection,
    Snapshot, TELEPORT_COOLDOWN_MS, interest, snapshot_due,
};
use vitrine_shared::{
    MemberSlot, PoseNet, PoseQ, RoomBounds, RoomCommand, ServerChannel, ServerMessage, encode,
};

/// Counts ticks to place snapshots on two ticks of every three.
#[derive(Resource, Default)]
pub struct TickCount(pub u64);

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<TickCount>()
        .add_systems(
            Update,
            (apply_poses, apply_teleports)
                .chain()
                .in_set(ServerSystems::Simulate),
        )
        .add_systems(Update, send_snapshots.in_set(ServerSystems::Publish));
}

/// Tells a client at most once a second that its poses are refused.
const POSE_REJECTION_INTERVAL: Duration = Duration::from_secs(1);

fn newer(seq: u32, than: u32) -> bool {
    // Wrapping comparison: a client running for years still orders inputs.
    seq != than && seq.wrapping_sub(than) < u32::MAX / 2
}

fn apply_poses(
    mut inputs: MessageReader<PoseReceived>,
    mut avatars: Query<(&Member, &mut Avatar, &mut Limits)>,
    rooms: Query<&Room>,
    mut server: ResMut<RenetServer>,
    shared: Res<Shared>,
    time: Res<Time<Real>>,
) {
    let now = time.elapsed();
    for PoseReceived { member, input } in inputs.read() {
        let Ok((member, mut avatar, mut limits)) = avatars.get_mut(*member) else {
            continue;
        };
        // Unreliable inputs may arrive out of order; an older one is stale.
        if avatar
            .last_input_seq
            .is_some_and(|last| !newer(input.seq, last))
        {
            continue;
        }
        avatar.last_input_seq = Some(input.seq);
        if input.ack_snapshot.is_some() {
            avatar.acked_snapshot = input.ack_snapshot;
        }
        let Ok(room) = rooms.get(member.room) else {
            continue;
        };
        let dt = now.saturating_sub(avatar.updated_at).as_secs_f32();
        match validate_pose(Some(&avatar.pose), &input.pose, dt, &room.bounds) {
            Ok((pose, adjustments)) => {
                if pose != avatar.pose {
                    avatar.pose = pose;
                }
                avatar.updated_at = now;
                if adjustments.any() {
                    shared.metrics.reject("pose_clamped");
                }
            }
            Err(error) => {
                shared.metrics.reject("invalid_pose");
                let due = limits
                    .last_pose_rejection
                    .is_none_or(|at| now.saturating_sub(at) >= POSE_REJECTION_INTERVAL);
                if due {
                    limits.last_pose_rejection = Some(now);
                    let rejection = Rejection {
                        command: CommandKind::Pose,
                        reason: RejectReason::InvalidPose(error),
                    };
                    send_event(
                        &mut server,
                        member.client,
                        &ServerMessage::Rejected(rejection),
                    );
                }
            }
        }
    }
}

/// The shortest time between two accepted teleports of one member.
const TELEPORT_COOLDOWN: Duration = Duration::from_millis(TELEPORT_COOLDOWN_MS);

/// The teleport rule: from `current` (the stored, validated pose) to `to`
/// facing `yaw`, at `now`, the last accepted teleport having been at
/// `last`. Returns the new stored pose: body on the floor at the target,
/// yaw in `[0, 2π)` as [`validate_pose`] leaves it, and tracked head and
/// hands (an XR pose) moved along with the body (kept inside the room), so
/// they stay within reach of it until the client's next pose replaces them.
pub fn teleport(
    current: &PoseNet,
    last: Option<Duration>,
    now: Duration,
    to: [f32; 3],
    yaw: f32,
    bounds: &RoomBounds,
) -> Result<PoseNet, RejectReason> {
    if let Some(wait) = last
        .map(|at| (at + TELEPORT_COOLDOWN).saturating_sub(now))
        .filter(|wait| !wait.is_zero())
    {
        let retry_after_ms = wait.as_millis().clamp(1, u32::MAX as u128) as u32;
        return Err(RejectReason::RateLimited { retry_after_ms });
    }
    if !yaw.is_finite() {
        return Err(RejectReason::InvalidPosition);
    }
    let target = teleport_target(current.position, to, bounds).map_err(|e| match e {
        TeleportError::NotFinite | TeleportError::OutsideRoom => RejectReason::InvalidPosition,
        TeleportError::TooFar => RejectReason::OutOfReach,
    })?;
    let offset: [f32; 3] = std::array::from_fn(|i| target[i] - current.position[i]);
    let shift = |p: &mut [f32; 3]| *p = bounds.clamp(std::array::from_fn(|i| p[i] + offset[i]));
    let mut xr = current.xr;
    if let Some(xr) = xr.as_mut() {
        shift(&mut xr.head.position);
        for hand in [xr.left_hand.as_mut(), xr.right_hand.as_mut()]
            .into_iter()
            .flatten()
        {
            shift(&mut hand.position);
        }
    }
    Ok(PoseNet {
        position: target,
        yaw: yaw.rem_euclid(std::f32::consts::TAU),
        xr,
    })
}

/// Applies teleports, after the tick's poses: the stored pose becomes the
/// target, and the walking-speed rule measures the next pose from there.
fn apply_teleports(
    mut received: MessageReader<CommandReceived>,
    mut avatars: Query<(&Member, &mut Avatar, &mut Limits)>,
    rooms: Query<&Room>,
    mut server: ResMut<RenetServer>,
    shared: Res<Shared>,
    time: Res<Time<Real>>,
) {
    let now = time.elapsed();
    for CommandReceived { member, command } in received.read() {
        let RoomCommand::Teleport { to, yaw } = command else {
            continue;
        };
        let Ok((member, mut avatar, mut limits)) = avatars.get_mut(*member) else {
            continue;
        };
        let Ok(room) = rooms.get(member.room) else {
            continue;
        };
        match teleport(
            &avatar.pose,
            limits.last_teleport,
            now,
            *to,
            *yaw,
            &room.bounds,
        ) {
            Ok(pose) => {
                avatar.pose = pose;
                avatar.updated_at = now;
                limits.last_teleport = Some(now);
            }
            Err(reason) => {
                shared.metrics.reject(reason.code());
                let rejection = Rejection {
                    command: CommandKind::Pose,
                    reason,
                };
                send_event(
                    &mut server,
                    member.client,
                    &ServerMessage::Rejected(rejection),
                );
            }
        }
    }
}

/// Views kept per client: the acknowledged one and those sent since, up to
/// 0.8 s of them (a round trip that long still gets deltas; a client that
/// acknowledges nothing newer gets whole snapshots). Each view is a pose
/// per slot, so this bounds a member's memory at 16 x the room's size x
/// about 58 bytes (93 KB in a room of 100), however its client behaves.
const VIEWS_KEPT: usize = 16;

/// One avatar as the snapshots of a tick see it.
#[derive(Clone, Copy, Debug)]
pub struct Seen {
    pub slot: MemberSlot,
    pub pose: PoseQ,
    /// The first snapshot that carried this member: a baseline older than
    /// it holds the slot's previous member (or nobody), so the avatar goes
    /// whole.
    pub from: u32,
}

/// What one client holds of every slot's pose after a snapshot (indexed by
/// slot): the same the client's `RoomMirror` rebuilds, so deltas against it
/// decode there.
pub type View = Vec<Option<PoseQ>>;

/// True when `seq` is `than` or later (wrapping).
fn at_or_after(seq: u32, than: u32) -> bool {
    seq == than || newer(seq, than)
}

fn floor_distance(a: &PoseQ, b: &PoseQ) -> f32 {
    let dx = (a.position[0] as f32 - b.position[0] as f32) * POSITION_STEP_M;
    let dz = (a.position[2] as f32 - b.position[2] as f32) * POSITION_STEP_M;
    (dx * dx + dz * dz).sqrt()
}

/// The snapshot `seq` for the member `viewer` (one of `room`, which is
/// sorted by slot), against `baseline` (a snapshot the viewer acknowledged,
/// and the view it left); `latest` is the view of the newest snapshot sent
/// to the viewer, acknowledged or not. Returns the snapshot with the view
/// it leaves.
///
/// Interest management ([`interest`]): near avatars (and the viewer's own)
/// go whenever they changed, the nearest with head and hands; others take
/// a new pose only on their turn (staggered by slot, so a snapshot carries
/// a share of them, not all at once), as bodies. Between turns an avatar
/// still goes with the pose its last turn sent, until the viewer holds it:
/// a delta is against the acknowledged baseline, and a snapshot that left
/// the avatar out would take the viewer back to that baseline's older pose.
/// An avatar new to the viewer goes whole at once, wherever it stands.
pub fn snapshot_for(
    seq: u32,
    viewer: MemberSlot,
    room: &[Seen],
    baseline: Option<(u32, &View)>,
    latest: Option<(u32, &View)>,
) -> (Snapshot, View) {
    let mut snapshot = Snapshot {
        tick: seq,
        baseline: baseline.map(|(t, _)| t),
        ..Snapshot::default()
    };
    let mut view = baseline.map(|(_, v)| v.clone()).unwrap_or_default();
    let here = room.iter().find(|s| s.slot == viewer).map(|s| s.pose);
    for seen in room {
        let index = seen.slot.0 as usize;
        if view.len() <= index {
            view.resize(index + 1, None);
        }
        // A view from before this member's first snapshot holds the slot's
        // previous member, or nobody.
        let of_this_member = |(at, v): (u32, &View)| {
            at_or_after(at, seen.from)
                .then(|| v.get(index).copied().flatten())
                .flatten()
        };
        // What the newest snapshot sent it, acknowledged or not.
        let last_sent = latest.and_then(of_this_member);
        let (every, detail) = match (&here, seen.slot == viewer) {
            (_, true) | (None, _) => (1, true),
            (Some(here), false) => {
                let distance = floor_distance(here, &seen.pose);
                let (every, detail) = interest(distance);
                let shown = last_sent.is_some_and(|p| p.xr.is_some());
                let keep = shown && distance <= DETAIL_M + DETAIL_HYSTERESIS_M;
                (every, detail || keep)
            }
        };
        let now = if detail {
            seen.pose
        } else {
            PoseQ {
                xr: None,
                ..seen.pose
            }
        };
        let Some(base) = baseline.and_then(of_this_member) else {
            snapshot.full.push(AvatarFull {
                slot: seen.slot,
                pose: now,
            });
            view[index] = Some(now);
            continue;
        };
        let due = every == 1 || seq.wrapping_add(seen.slot.0 as u32).is_multiple_of(every);
        let target = if due { now } else { last_sent.unwrap_or(base) };
        if base == target {
            continue;
        }
        // `room` is sorted by slot, as `push` requires.
        let pushed = if let Some(delta) = target.delta_from(&base) {
            snapshot.moved.push(seen.slot, delta).is_ok()
        } else if let Some(delta) = target.xr_delta_from(&base) {
            snapshot.moved_xr.push(AvatarMovedXr {
                slot: seen.slot,
                delta,
            });
            true
        } else {
            false
        };
        if !pushed {
            snapshot.full.push(AvatarFull {
                slot: seen.slot,
                pose: target,
            });
        }
        view[index] = Some(target);
    }
    (snapshot, view)
}

fn send_snapshots(
    mut tick: ResMut<TickCount>,
    mut rooms: Query<(Entity, &mut Room)>,
    mut avatars: Query<(&Member, &mut Avatar)>,
    mut server: ResMut<RenetServer>,
) {
    let due = snapshot_due(tick.0);
    tick.0 += 1;
    if !due {
        return;
    }
    let mut by_room: HashMap<Entity, Vec<Seen>> = HashMap::new();
    for (entity, mut room) in rooms.iter_mut() {
        room.snapshot_seq = room.snapshot_seq.wrapping_add(1);
        by_room.insert(entity, Vec::with_capacity(room.members.len()));
    }
    let seq_of = |room: Entity| rooms.get(room).map(|(_, r)| r.snapshot_seq).ok();
    for (member, mut avatar) in avatars.iter_mut() {
        let Some(seq) = seq_of(member.room) else {
            continue;
        };
        let from = *avatar.seen_from.get_or_insert(seq);
        if let Some(seen) = by_room.get_mut(&member.room) {
            seen.push(Seen {
                slot: member.info.slot,
                pose: PoseQ::from(&avatar.pose),
                from,
            });
        }
    }
    for seen in by_room.values_mut() {
        seen.sort_unstable_by_key(|s| s.slot);
    }
    // (Building the snapshots on two threads was tried at 250 in a room:
    // tick p99 8.2 and 9.2 ms against 8.8 and 10.4 on one, within the
    // runs' spread; the tick is mostly the kernel's sends and receives.)
    for (member, mut avatar) in avatars.iter_mut() {
        let (Some(seq), Some(seen)) = (seq_of(member.room), by_room.get(&member.room)) else {
            continue;
        };
        let avatar = &mut *avatar;
        // Views older than the acknowledged one are never baselines again:
        // acknowledgements only move forward.
        if let Some(ack) = avatar.acked_snapshot {
            while avatar
                .sight
                .front()
                .is_some_and(|(at, _)| !at_or_after(*at, ack))
            {
                avatar.sight.pop_front();
            }
        }
        // After the pruning, the acknowledged view is the oldest, if kept.
        let baseline = avatar
            .sight
            .front()
            .filter(|(at, _)| Some(*at) == avatar.acked_snapshot)
            .map(|(at, view)| (*at, view));
        let latest = avatar.sight.back().map(|(at, view)| (*at, view));
        let (snapshot, view) = snapshot_for(seq, member.info.slot, seen, baseline, latest);
        match encode(&ServerMessage::Snapshot(snapshot)) {
            Ok(bytes) => server.send_message(member.client, ServerChannel::Snapshots, bytes),
            Err(e) => tracing::error!(%e, "cannot encode snapshot"),
        }
        avatar.sight.push_back((seq, view));
        while avatar.sight.len() > VIEWS_KEPT {
            avatar.sight.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::pose::PoseDeltaQ;
    use vitrine_shared::protocol::AvatarMoved;

    fn hall() -> RoomBounds {
        RoomBounds::centered(40.0, 40.0, 6.0)
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn a_teleport_lands_on_the_floor_and_is_the_new_baseline() {
        use std::f32::consts::{PI, TAU};
        use vitrine_shared::pose::{TrackedPoseNet, XrPoseNet};
        let tracked = |position| TrackedPoseNet {
            position,
            rotation: [0.0, 0.0, 0.0, 1.0],
        };
        let here = PoseNet {
            position: [0.0, 0.0, 0.0],
            yaw: 0.5,
            xr: Some(XrPoseNet {
                head: tracked([0.0, 1.6, 0.1]),
                left_hand: Some(tracked([-0.3, 1.2, 0.4])),
                right_hand: None,
            }),
        };
        let now = ms(10_000);
        let there = teleport(&here, None, now, [6.0, 0.8, -5.0], -PI / 2.0, &hall()).unwrap();
        assert_eq!(there.position, [6.0, 0.0, -5.0], "on the floor");
        assert!((there.yaw - 1.5 * PI).abs() < 1e-5 && there.yaw < TAU);
        // Head and hands come along with the body.
        let close = |a: [f32; 3], b: [f32; 3]| (0..3).all(|i| (a[i] - b[i]).abs() < 1e-5);
        let xr = there.xr.unwrap();
        assert!(close(xr.head.position, [6.0, 1.6, -4.9]), "{xr:?}");
        assert!(close(xr.left_hand.unwrap().position, [5.7, 1.2, -4.6]));
        assert_eq!(xr.right_hand, None);

        // The walking-speed rule measures from the target: a pose a step
        // away, a frame later, is taken as sent.
        let step = PoseNet {
            position: [6.1, 0.0, -5.0],
            ..there
        };
        let (pose, adjustments) = validate_pose(Some(&there), &step, 1.0 / 30.0, &hall()).unwrap();
        assert_eq!(pose.position, step.position);
        assert!(!adjustments.any(), "{adjustments:?}");
        // From where it stood before, the same pose would be clamped.
        let (_, before) = validate_pose(Some(&here), &step, 1.0 / 30.0, &hall()).unwrap();
        assert!(before.clamped_speed);

        // A desktop pose stays one; the range is measured on the floor.
        let desk = PoseNet::at([0.0, 0.0, 0.0], 0.0);
        let far = teleport(&desk, None, now, [7.0, 5.9, 7.0], 7.0, &hall()).unwrap();
        assert_eq!(far, PoseNet::at([7.0, 0.0, 7.0], 7.0 - TAU));
    }

    #[test]
    fn teleports_out_of_range_outside_or_not_finite_are_refused() {
        let here = PoseNet::at([15.0, 0.0, 0.0], 1.0);
        let now = ms(10_000);
        let go = |to, yaw| teleport(&here, None, now, to, yaw, &hall());
        for (to, yaw) in [
            ([f32::NAN, 0.0, 0.0], 0.0),
            ([15.0, f32::INFINITY, 0.0], 0.0),
            ([15.0, 0.0, f32::NEG_INFINITY], 0.0),
            ([16.0, 0.0, 0.0], f32::NAN),
            ([16.0, 0.0, 0.0], f32::INFINITY),
            // Beyond the east wall (x = 20), or the north one.
            ([20.5, 0.0, 0.0], 0.0),
            ([16.0, 0.0, -20.01], 0.0),
        ] {
            assert_eq!(
                go(to, yaw),
                Err(RejectReason::InvalidPosition),
                "{to:?} {yaw}"
            );
        }
        // Inside the room but more than 10 m away.
        assert_eq!(go([5.0, 0.0, -0.5], 0.0), Err(RejectReason::OutOfReach));
        assert_eq!(go([15.0, 0.0, 10.01], 0.0), Err(RejectReason::OutOfReach));
        // Exactly 10 m is within range; only the floor plan counts, a
        // target above or below the room lands on its floor.
        assert!(go([5.0, 0.0, 0.0], 0.0).is_ok());
        for y in [6.5, -0.5, 1e9] {
            assert_eq!(go([16.0, y, 0.0], 0.0).unwrap().position, [16.0, 0.0, 0.0]);
        }
    }

    #[test]
    fn a_second_teleport_waits_for_the_cooldown() {
        let here = PoseNet::at([0.0, 0.0, 0.0], 0.0);
        let last = ms(10_000);
        let go = |now| teleport(&here, Some(last), now, [1.0, 0.0, 1.0], 0.0, &hall());
        assert_eq!(
            go(last),
            Err(RejectReason::RateLimited {
                retry_after_ms: TELEPORT_COOLDOWN_MS as u32
            })
        );
        assert_eq!(
            go(last + ms(100)),
            Err(RejectReason::RateLimited {
                retry_after_ms: TELEPORT_COOLDOWN_MS as u32 - 100
            })
        );
        // Even an invalid one: the cooldown is checked first.
        assert!(matches!(
            teleport(&here, Some(last), last, [f32::NAN; 3], 0.0, &hall()),
            Err(RejectReason::RateLimited { .. })
        ));
        assert!(go(last + TELEPORT_COOLDOWN).is_ok());
        assert!(go(last + ms(60_000)).is_ok());
    }

    #[test]
    fn twenty_snapshots_in_thirty_ticks() {
        assert_eq!((0..30).filter(|t| snapshot_due(*t)).count(), 20);
        assert_eq!((30..300).filter(|t| snapshot_due(*t)).count(), 180);
    }

    #[test]
    fn wrapping_sequence_order() {
        assert!(newer(1, 0));
        assert!(!newer(0, 1));
        assert!(newer(0, u32::MAX));
        assert!(!newer(5, 5));
    }

    fn at(x: f32, z: f32, yaw: u16) -> PoseQ {
        PoseQ {
            position: [(x * 100.0) as i16, 0, (z * 100.0) as i16],
            yaw,
            xr: None,
        }
    }

    fn seen(slot: u16, pose: PoseQ) -> Seen {
        Seen {
            slot: MemberSlot(slot),
            pose,
            from: 0,
        }
    }

    #[test]
    fn deltas_skip_unchanged_and_send_new_avatars_whole() {
        let a = at(0.0, 0.0, 0);
        let b = at(0.1, 0.0, 0);
        let base: View = vec![Some(a), Some(a)];
        let now = [seen(0, a), seen(1, b), seen(2, b)];
        let (snapshot, view) = snapshot_for(7, MemberSlot(0), &now, Some((6, &base)), None);
        assert_eq!(snapshot.baseline, Some(6));
        assert_eq!(
            snapshot.moved.entries().unwrap(),
            vec![AvatarMoved {
                slot: MemberSlot(1),
                delta: PoseDeltaQ {
                    x: 10,
                    z: 0,
                    yaw: 0
                }
            }]
        );
        assert_eq!(
            snapshot.full,
            vec![AvatarFull {
                slot: MemberSlot(2),
                pose: b
            }]
        );
        assert_eq!(view, vec![Some(a), Some(b), Some(b)]);
        let (whole, _) = snapshot_for(7, MemberSlot(0), &now, None, None);
        assert_eq!(
            (whole.full.len(), whole.moved.len(), whole.baseline),
            (3, 0, None)
        );
    }

    /// What a client does with a snapshot (as `RoomMirror` does): rebuilds
    /// the poses from the baseline it names, or drops the snapshot when it
    /// no longer holds that baseline.
    fn decode(history: &[(u32, HashMap<u16, PoseQ>)], s: &Snapshot) -> Option<HashMap<u16, PoseQ>> {
        let mut poses = match s.baseline {
            None => HashMap::new(),
            Some(b) => history.iter().find(|(t, _)| *t == b)?.1.clone(),
        };
        for m in s.moved.entries().unwrap() {
            let next = poses[&m.slot.0]
                .apply(&m.delta)
                .expect("a delta that applies");
            poses.insert(m.slot.0, next);
        }
        for m in &s.moved_xr {
            let next = poses[&m.slot.0]
                .apply_xr(&m.delta)
                .expect("an XR delta that applies");
            poses.insert(m.slot.0, next);
        }
        for f in &s.full {
            poses.insert(f.slot.0, f.pose);
        }
        Some(poses)
    }

    fn xr(pose: PoseQ, t: i16) -> PoseQ {
        use vitrine_shared::pose::{TrackedPoseQ, XrPoseQ};
        let point = |y: i16| TrackedPoseQ {
            position: [pose.position[0] + t, y, pose.position[2]],
            rotation: [0, t, 0, 32767],
        };
        PoseQ {
            xr: Some(XrPoseQ {
                head: point(160),
                left_hand: Some(point(120)),
                right_hand: Some(point(110)),
            }),
            ..pose
        }
    }

    /// Five avatars walk along x, 7 cm a snapshot: the viewer itself, one
    /// 4 m away in XR, one 8 m away in XR, one 15 m away and one 30 m away
    /// (both in XR too). Over a lossless link with prompt acknowledgements
    /// the nearest arrives in every snapshot with its hands, the one at 8 m
    /// in every snapshot as a body, the middle one in every second and the
    /// far one in every fourth, both as bodies. With acknowledgements two
    /// snapshots late, or a third of the snapshots lost, the client decodes
    /// every snapshot it keeps into exactly the server's view, the near
    /// avatars are current in each, no avatar ever goes back to an older
    /// pose, and none is older than its turn allows once the link is clean.
    #[test]
    fn near_avatars_go_every_snapshot_and_distant_ones_on_their_turn() {
        // The pose at snapshot `t`: its x (in cm) tells `t` back.
        let room = |t: i16| {
            let step = |x: f32, z: f32| at(x + t as f32 * 0.07, z, 0);
            vec![
                seen(0, step(0.0, 0.0)),
                seen(1, xr(step(4.0, 0.0), t)),
                seen(2, xr(step(0.0, 15.0), t)),
                seen(3, xr(step(-30.0, 0.0), t)),
                seen(4, xr(step(0.0, -8.0), t)),
            ]
        };
        let start_cm = [0, 400, 0, -3000, 0];
        let t_of = |slot: usize, pose: &PoseQ| (pose.position[0] - start_cm[slot]) / 7;
        for (lossy, lag) in [(false, 0u32), (false, 2), (true, 0), (true, 1)] {
            let mut sight: Vec<(u32, View)> = Vec::new();
            let mut history: Vec<(u32, HashMap<u16, PoseQ>)> = Vec::new();
            let mut sent = [0usize; 5];
            let mut shown_t = [i16::MIN; 5];
            for seq in 1..=240u32 {
                let now = room(seq as i16);
                // The newest snapshot kept whose acknowledgement is in.
                let ack = history
                    .iter()
                    .rev()
                    .find(|(t, _)| t + lag < seq)
                    .map(|(t, _)| *t);
                let baseline = ack
                    .and_then(|a| sight.iter().find(|(t, _)| *t == a))
                    .map(|(t, v)| (*t, v));
                let latest = sight.last().map(|(t, v)| (*t, v));
                let (snapshot, view) = snapshot_for(seq, MemberSlot(0), &now, baseline, latest);
                sight.push((seq, view.clone()));
                // Lose a third, deterministically, but none in the last 12.
                if lossy && seq % 3 == 1 && seq < 228 {
                    continue;
                }
                let poses = decode(&history, &snapshot).expect("the acked baseline is held");
                for (slot, pose) in poses.iter() {
                    assert_eq!(Some(*pose), view[*slot as usize], "seq {seq} slot {slot}");
                }
                let context = format!("lossy {lossy} lag {lag} seq {seq}");
                assert_eq!(
                    poses[&1], now[1].pose,
                    "{context}: the nearest, hands and all"
                );
                let body = PoseQ {
                    xr: None,
                    ..now[4].pose
                };
                assert_eq!(poses[&4], body, "{context}: the one at 8 m, as a body");
                for f in &snapshot.full {
                    assert_eq!(f.pose.xr.is_some(), f.slot.0 == 1, "hands only up close");
                }
                // After its first, whole, the nearest comes as XR deltas.
                if snapshot.baseline.is_some() {
                    assert!(snapshot.full.is_empty(), "{context}: {:?}", snapshot.full);
                    assert_eq!(snapshot.moved_xr.len(), 1);
                    assert_eq!(snapshot.moved_xr[0].slot, MemberSlot(1));
                }
                for (slot, shown) in shown_t.iter_mut().enumerate() {
                    let t = t_of(slot, &poses[&(slot as u16)]);
                    assert!(
                        t >= *shown,
                        "{context}: slot {slot} went back from {shown} to {t}"
                    );
                    *shown = t;
                    let carried = snapshot.full.iter().any(|f| f.slot.0 as usize == slot)
                        || snapshot.moved_xr.iter().any(|m| m.slot.0 as usize == slot)
                        || snapshot
                            .moved
                            .entries()
                            .unwrap()
                            .iter()
                            .any(|m| m.slot.0 as usize == slot);
                    sent[slot] += carried as usize;
                }
                history.push((seq, poses));
            }
            if !lossy && lag == 0 {
                assert_eq!(sent, [240, 240, 121, 60, 240], "{sent:?}");
            }
            // Clean at the end: each distant avatar within its turn (and
            // the acknowledgement's lag) of now.
            for (slot, every) in [(2, 2), (3, 4)] {
                let behind = 240 - shown_t[slot];
                assert!(
                    behind < every + lag as i16,
                    "lossy {lossy} lag {lag} slot {slot}: {behind} behind"
                );
            }
        }
    }

    /// A headset wearer at the edge of hand range: its head and hands come
    /// once it is within 5 m and stay until it is 0.5 m past, so standing
    /// at the edge does not flip between a body and a whole pose.
    #[test]
    fn head_and_hands_stay_a_little_past_their_range() {
        let viewer = seen(0, at(0.0, 0.0, 0));
        let mut views: Vec<(u32, View)> = Vec::new();
        let mut shown = Vec::new();
        for (seq, x) in [5.3f32, 4.9, 5.3, 5.45, 5.6, 5.3].into_iter().enumerate() {
            let seq = seq as u32 + 1;
            let room = [viewer, seen(1, xr(at(x, 0.0, 0), 0))];
            let last = views.last().map(|(t, v)| (*t, v));
            let (_, view) = snapshot_for(seq, MemberSlot(0), &room, last, last);
            shown.push(view[1].is_some_and(|p| p.xr.is_some()));
            views.push((seq, view));
        }
        assert_eq!(shown, [false, true, true, true, false, false]);
    }

    /// A member who takes the slot of one who left is sent whole, even
    /// against a baseline that still holds the other's pose.
    #[test]
    fn a_newcomer_on_a_freed_slot_is_sent_whole() {
        let old = at(1.0, 0.0, 0);
        let base: View = vec![Some(at(0.0, 0.0, 0)), Some(old)];
        let newcomer = Seen {
            slot: MemberSlot(1),
            pose: at(1.05, 0.0, 0),
            from: 9,
        };
        let now = [seen(0, at(0.0, 0.0, 0)), newcomer];
        let (snapshot, view) = snapshot_for(9, MemberSlot(0), &now, Some((8, &base)), None);
        assert!(snapshot.moved.is_empty());
        assert_eq!(
            snapshot.full,
            vec![AvatarFull {
                slot: MemberSlot(1),
                pose: newcomer.pose
            }]
        );
        assert_eq!(view[1], Some(newcomer.pose));
        // From its first snapshot on, it is a delta like anyone else.
        let later = [
            now[0],
            Seen {
                pose: at(1.1, 0.0, 0),
                ..newcomer
            },
        ];
        let (snapshot, _) = snapshot_for(10, MemberSlot(0), &later, Some((9, &view)), None);
        assert_eq!(snapshot.moved.len(), 1);
        assert!(snapshot.full.is_empty());
    }
}

/// The plugin in the room app, ticked by hand.
#[cfg(test)]
mod app_tests {
    use super::*;
    use crate::rooms::harness::{TICK, TestRooms};
    use crate::rooms::{SNAPSHOT_HZ, TICK_HZ};
    use vitrine_shared::Role;
    use vitrine_shared::protocol::RoomEvent;

    fn spawn_of(rooms: &TestRooms, client: u64) -> PoseNet {
        rooms
            .received(client)
            .iter()
            .find_map(|m| match m {
                ServerMessage::Room(RoomEvent::Welcome { spawn, .. }) => Some(**spawn),
                _ => None,
            })
            .expect("welcomed")
    }

    fn refusals(rooms: &TestRooms, client: u64) -> usize {
        rooms
            .received(client)
            .iter()
            .filter(|m| matches!(m, ServerMessage::Rejected(_)))
            .count()
    }

    fn stored_pose(rooms: &mut TestRooms, client: u64) -> PoseNet {
        let world = rooms.app.world_mut();
        let mut avatars = world.query::<(&Member, &Avatar)>();
        avatars
            .iter(world)
            .find(|(m, _)| m.client == client)
            .map(|(_, a)| a.pose)
            .expect("a member")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshots_go_out_twenty_times_a_second_of_ticks() {
        let mut rooms = TestRooms::start().await;
        let (_, ada) = rooms.join("Ada", Role::Shopper, "hall").await;
        rooms.clear(ada);
        rooms.ticks(TICK_HZ);
        let snapshots = rooms
            .received(ada)
            .iter()
            .filter(|m| matches!(m, ServerMessage::Snapshot(_)))
            .count();
        assert_eq!(snapshots, SNAPSHOT_HZ as usize);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn teleports_wait_out_their_cooldown() {
        let mut rooms = TestRooms::start().await;
        let (_, ada) = rooms.join("Ada", Role::Shopper, "hall").await;
        let spawn = spawn_of(&rooms, ada);
        let step = |dx: f32| [spawn.position[0] + dx, 0.0, spawn.position[2]];
        let teleport = |dx: f32| RoomCommand::Teleport {
            to: step(dx),
            yaw: 0.0,
        };
        rooms.send(ada, teleport(1.0));
        rooms.step(TICK);
        assert_eq!(refusals(&rooms, ada), 0);
        assert_eq!(stored_pose(&mut rooms, ada).position, step(1.0));
        rooms.send(ada, teleport(2.0));
        rooms.step(TICK);
        assert_eq!(refusals(&rooms, ada), 1, "too soon");
        // A millisecond short of the cooldown, then on it.
        rooms.send(ada, teleport(2.0));
        rooms.step(TELEPORT_COOLDOWN - TICK - Duration::from_millis(1));
        assert_eq!(refusals(&rooms, ada), 2);
        rooms.send(ada, teleport(2.0));
        rooms.step(Duration::from_millis(1));
        assert_eq!(refusals(&rooms, ada), 2);
        assert_eq!(stored_pose(&mut rooms, ada).position, step(2.0));
    }
}
