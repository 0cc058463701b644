//! Avatars: apply each member's validated pose, then publish the room's
//! poses as snapshots at 20 Hz, quantized and delta-encoded per client
//! against the newest snapshot that client acknowledged.

use super::inbox::PoseReceived;
use super::membership::{Avatar, Limits, Member, Room, SNAPSHOT_HISTORY};
use super::{SNAPSHOT_HZ, ServerSystems, Shared, TICK_HZ, send_event};
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use bevy_time::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use vitrine_shared::pose::validate_pose;
use vitrine_shared::protocol::{AvatarFull, CommandKind, RejectReason, Rejection, Snapshot};
use vitrine_shared::{MemberSlot, PoseQ, ServerChannel, ServerMessage, encode};

/// Counts ticks to place snapshots on two ticks of every three.
#[derive(Resource, Default)]
pub struct TickCount(pub u64);

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<TickCount>()
        .add_systems(Update, apply_poses.in_set(ServerSystems::Simulate))
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
