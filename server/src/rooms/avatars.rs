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
use super::membership::{Avatar, Limits, Member, Room, SNAPSHOT_HISTORY};
use super::{SNAPSHOT_HZ, ServerSystems, Shared, TICK_HZ, send_event};
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use bevy_time::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use vitrine_shared::pose::{TeleportError, teleport_target, validate_pose};
use vitrine_shared::protocol::{
    AvatarFull, CommandKind, RejectReason, Rejection, Snapshot, TELEPORT_COOLDOWN_MS,
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

/// True on the ticks that carry a snapshot: 20 of every 30.
fn snapshot_due(tick: u64) -> bool {
    let hz = SNAPSHOT_HZ as u64;
    let tick_hz = TICK_HZ as u64;
    tick == 0 || (tick * hz / tick_hz) != ((tick - 1) * hz / tick_hz)
}

/// The snapshot that takes a client from `baseline` to `current` (sorted by
/// slot, so every client's packet lists avatars in one order).
pub fn delta_snapshot(
    tick: u32,
    current: &[(MemberSlot, PoseQ)],
    baseline: Option<(u32, &HashMap<MemberSlot, PoseQ>)>,
) -> Snapshot {
    let mut snapshot = Snapshot {
        tick,
        baseline: baseline.map(|(t, _)| t),
        ..Snapshot::default()
    };
    for &(slot, pose) in current {
        match baseline.and_then(|(_, poses)| poses.get(&slot)) {
            Some(base) if *base == pose => {}
            Some(base) => match pose.delta_from(base) {
                // `current` is sorted by slot, as `push` requires.
                Some(delta) => match snapshot.moved.push(slot, delta) {
                    Ok(()) => {}
                    Err(_) => snapshot.full.push(AvatarFull { slot, pose }),
                },
                None => snapshot.full.push(AvatarFull { slot, pose }),
            },
            None => snapshot.full.push(AvatarFull { slot, pose }),
        }
    }
    snapshot
}

/// One room's quantized poses, and each member's client with the snapshot
/// it acknowledged.
type RoomPoses = (Vec<(MemberSlot, PoseQ)>, Vec<(u64, Option<u32>)>);

fn send_snapshots(
    mut tick: ResMut<TickCount>,
    mut rooms: Query<(Entity, &mut Room)>,
    avatars: Query<(&Member, &Avatar)>,
    mut server: ResMut<RenetServer>,
) {
    let due = snapshot_due(tick.0);
    tick.0 += 1;
    if !due {
        return;
    }
    let mut by_room: HashMap<Entity, RoomPoses> = HashMap::new();
    for (member, avatar) in avatars.iter() {
        let (poses, clients) = by_room.entry(member.room).or_default();
        poses.push((member.info.slot, PoseQ::from(&avatar.pose)));
        clients.push((member.client, avatar.acked_snapshot));
    }
    for (entity, mut room) in rooms.iter_mut() {
        let Some((poses, clients)) = by_room.remove(&entity) else {
            continue;
        };
        let mut poses = poses;
        poses.sort_unstable_by_key(|(slot, _)| *slot);
        room.snapshot_seq = room.snapshot_seq.wrapping_add(1);
        let seq = room.snapshot_seq;
        for (client, ack) in clients {
            let baseline = ack
                .and_then(|ack| room.history.iter().find(|(s, _)| *s == ack))
                .map(|(s, p)| (*s, p.as_ref()));
            let snapshot = delta_snapshot(seq, &poses, baseline);
            match encode(&ServerMessage::Snapshot(snapshot)) {
                Ok(bytes) => server.send_message(client, ServerChannel::Snapshots, bytes),
                Err(e) => tracing::error!(%e, "cannot encode snapshot"),
            }
        }
        room.history
            .push_back((seq, Arc::new(poses.into_iter().collect())));
        while room.history.len() > SNAPSHOT_HISTORY {
            room.history.pop_front();
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

    #[test]
    fn deltas_skip_unchanged_and_send_new_avatars_whole() {
        let a = PoseQ {
            position: [0, 0, 0],
            yaw: 0,
            xr: None,
        };
        let b = PoseQ {
            position: [10, 0, 0],
            yaw: 0,
            xr: None,
        };
        let base: HashMap<_, _> = [(MemberSlot(0), a), (MemberSlot(1), a)].into();
        let now = [(MemberSlot(0), a), (MemberSlot(1), b), (MemberSlot(2), b)];
        let snapshot = delta_snapshot(7, &now, Some((6, &base)));
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
        let whole = delta_snapshot(7, &now, None);
        assert_eq!(
            (whole.full.len(), whole.moved.len(), whole.baseline),
            (3, 0, None)
        );
    }
}

/// The plugin in the room app, ticked by hand.
#[cfg(test)]
mod app_tests {
    use super::*;
    use crate::rooms::harness::{TICK, TestRooms};
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
