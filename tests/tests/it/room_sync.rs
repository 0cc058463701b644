//! Three bots in one room over real loopback UDP with secure tokens: they
//! see each other join, their poses converge, and chat arrives everywhere
//! exactly once and in one order.

use std::collections::HashSet;
use std::time::Duration;
use vitrine_client::net::NetClient;
use vitrine_server::config::RateConfig;
use vitrine_shared::{ChatText, PoseNet, RoomCommand};
use vitrine_tests::{TestServer, joined_all, joined_client, pump, pump_all, step_until};

fn three(server: &TestServer) -> Vec<NetClient> {
    joined_all(server, &["Ada", "Bo", "Chen"], "hall")
}

#[test]
fn bots_see_each_other_and_their_poses_converge() {
    let server = TestServer::start();
    let mut clients = three(&server);

    let all_see_three = step_until(Duration::from_secs(10), || {
        pump_all(&mut clients);
        clients.iter().all(|c| c.mirror().members.len() == 3)
    });
    assert!(
        all_see_three,
        "members: {:?}",
        clients
            .iter()
            .map(|c| c.mirror().members.len())
            .collect::<Vec<_>>()
    );
    for client in &clients {
        let names: HashSet<&str> = client
            .mirror()
            .members
            .values()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(names, HashSet::from(["Ada", "Bo", "Chen"]));
    }
    assert_eq!(
        server
            .directory
            .get(&"hall".try_into().unwrap())
            .unwrap()
            .occupancy,
        3
    );

    // Each walks from its spawn point to its own target at 1.5 m/s.
    let targets = [[3.0f32, 0.0, 2.0], [-4.0, 0.0, 1.5], [0.5, 0.0, -5.0]];
    let mut poses: Vec<PoseNet> = clients.iter().map(|c| c.mirror().spawn.unwrap()).collect();
    let converged = step_until(Duration::from_secs(20), || {
        for (i, client) in clients.iter_mut().enumerate() {
            let p = &mut poses[i];
            let step = 1.5 * vitrine_tests::FRAME.as_secs_f32();
            let (dx, dz) = (targets[i][0] - p.position[0], targets[i][2] - p.position[2]);
            let dist = (dx * dx + dz * dz).sqrt();
            if dist <= step {
                p.position = targets[i];
            } else {
                p.position[0] += dx / dist * step;
                p.position[2] += dz / dist * step;
            }
            p.yaw = 1.0 + i as f32;
            client.send_pose(*p);
        }
        pump_all(&mut clients);
        // Every client sees every avatar at its owner's target, within 1 cm.
        clients.iter().all(|viewer| {
            viewer.mirror().members.values().all(|m| {
                let owner = ["Ada", "Bo", "Chen"]
                    .iter()
                    .position(|n| *n == m.name.as_str())
                    .unwrap();
                viewer.mirror().avatars.get(&m.slot).is_some_and(|pose| {
                    (0..3).all(|k| (pose.position[k] - targets[owner][k]).abs() <= 0.011)
                        && (pose.yaw - (1.0 + owner as f32)).abs() < 0.01
                })
            })
        })
    });
    assert!(
        converged,
        "poses did not converge: {:?}",
        clients[0].mirror().avatars
    );
    // Deltas were in use: most snapshots had a baseline.
    assert!(clients.iter().all(|c| c.mirror().snapshots_applied > 10));
}

#[test]
fn fifty_chat_lines_reach_everyone_once_in_one_order() {
    let server = TestServer::start_with(|c| {
        c.chat = RateConfig {
            per_second: 1000.0,
            burst: 100,
        }
    });
    let mut clients = three(&server);
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut clients);
        clients.iter().all(|c| c.mirror().members.len() == 3)
    }));

    // The three send interleaved, a few per frame.
    let mut sent = 0;
    let complete = step_until(Duration::from_secs(30), || {
        for _ in 0..3 {
            if sent < 50 {
                let text = ChatText::new(format!("line {sent:02}")).unwrap();
                clients[sent % 3].send_command(RoomCommand::Chat(text));
                sent += 1;
            }
        }
        pump_all(&mut clients);
        clients.iter().all(|c| c.mirror().chat.len() >= 50)
    });
    assert!(
        complete,
        "chat counts: {:?}",
        clients
            .iter()
            .map(|c| c.mirror().chat.len())
            .collect::<Vec<_>>()
    );
    // A few more frames: any duplicate would show up now.
    for _ in 0..20 {
        pump_all(&mut clients);
    }

    let reference: Vec<(u64, String)> = clients[0]
        .mirror()
        .chat
        .iter()
        .map(|l| (l.seq, l.text.to_string()))
        .collect();
    assert_eq!(reference.len(), 50, "exactly once");
    let texts: HashSet<&str> = reference.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts.len(), 50, "no duplicates");
    assert!(
        reference.windows(2).all(|w| w[0].0 < w[1].0),
        "room order is increasing"
    );
    for client in &clients[1..] {
        let seen: Vec<(u64, String)> = client
            .mirror()
            .chat
            .iter()
            .map(|l| (l.seq, l.text.to_string()))
            .collect();
        assert_eq!(seen, reference, "every member sees the same order");
    }
    // Each sender's own lines keep the order it sent them in.
    for sender in ["Ada", "Bo", "Chen"] {
        let own: Vec<&str> = clients[0]
            .mirror()
            .chat
            .iter()
            .filter(|l| l.name.as_str() == sender)
            .map(|l| l.text.as_str())
            .collect();
        let mut sorted = own.clone();
        sorted.sort();
        assert_eq!(own, sorted, "{sender}'s lines in order");
    }
}

#[test]
fn chat_over_the_rate_limit_gets_a_typed_error() {
    use vitrine_shared::protocol::{CommandKind, RejectReason};
    let server = TestServer::start(); // default: 1 per second, bursts of 5
    let mut client = joined_client(&server, "Chatty", "hall");
    for i in 0..8 {
        client.send_command(RoomCommand::Chat(
            ChatText::new(format!("spam {i}")).unwrap(),
        ));
    }
    let answered = step_until(Duration::from_secs(10), || {
        pump(&mut [&mut client]);
        client.mirror().chat.len() + client.mirror().rejections.len() >= 8
    });
    assert!(
        answered,
        "chat {:?} rejections {:?}",
        client.mirror().chat,
        client.mirror().rejections
    );
    let rejections = &client.mirror().rejections;
    assert!(rejections.len() >= 2, "{rejections:?}");
    assert!(
        client.mirror().chat.len() <= 6,
        "the burst is 5 (a sixth may refill)"
    );
    for r in rejections {
        assert_eq!(r.command, CommandKind::Chat);
        assert!(
            matches!(r.reason, RejectReason::RateLimited { retry_after_ms } if retry_after_ms > 0 && retry_after_ms <= 1000)
        );
    }
    assert!(client.is_connected(), "rate limiting is not a disconnect");
    assert!(server.metrics.rejected("rate_limited") >= 2);
}

#[test]
fn leaving_is_announced_and_frees_the_seat() {
    let server = TestServer::start();
    let mut a = joined_client(&server, "Stayer", "hall");
    let mut b = joined_client(&server, "Leaver", "hall");
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut a, &mut b]);
        a.mirror().members.len() == 2
    }));
    b.disconnect();
    drop(b);
    let gone = step_until(Duration::from_secs(10), || {
        pump(&mut [&mut a]);
        a.mirror().members.len() == 1
    });
    assert!(gone);
    let hall = server.directory.get(&"hall".try_into().unwrap()).unwrap();
    assert_eq!(hall.occupancy, 1);
}

#[test]
fn shutdown_tells_clients_and_stops_cleanly() {
    let server = TestServer::start();
    let mut client = joined_client(&server, "Witness", "hall");
    let stopper = std::thread::spawn(move || server.stop());
    let told = step_until(Duration::from_secs(10), || {
        pump(&mut [&mut client]);
        client.mirror().shutting_down.is_some() && client.is_disconnected()
    });
    assert!(
        told,
        "shutting_down={:?} disconnected={}",
        client.mirror().shutting_down,
        client.is_disconnected()
    );
    stopper
        .join()
        .unwrap()
        .expect("server stopped without error");
}

#[test]
fn xr_head_and_hands_reach_the_others() {
    use vitrine_shared::{TrackedPoseNet, XrPoseNet};
    let server = TestServer::start();
    let mut headset = joined_client(&server, "Headset", "hall");
    let mut desktop = joined_client(&server, "Desktop", "hall");
    let spawn = headset.mirror().spawn.unwrap();
    let [x, _, z] = spawn.position;
    let turn = [0.0, 0.383, 0.0, 0.924]; // 45° about y
    let mut pose = spawn;
    pose.xr = Some(XrPoseNet {
        head: TrackedPoseNet {
            position: [x, 1.65, z],
            rotation: turn,
        },
        left_hand: Some(TrackedPoseNet {
            position: [x - 0.3, 1.2, z + 0.2],
            rotation: turn,
        }),
        right_hand: None,
    });
    let slot = headset.mirror().you.unwrap();
    let seen = step_until(Duration::from_secs(10), || {
        headset.send_pose(pose);
        pump(&mut [&mut headset, &mut desktop]);
        desktop
            .mirror()
            .avatars
            .get(&slot)
            .and_then(|p| p.xr)
            .is_some_and(|xr| {
                let hand = xr.left_hand.map(|h| h.position).unwrap_or_default();
                (xr.head.position[1] - 1.65).abs() < 0.011
                    && (hand[0] - (x - 0.3)).abs() < 0.011
                    && xr.right_hand.is_none()
                    && (xr.head.rotation[3] - 0.924).abs() < 0.001
            })
    });
    assert!(seen, "{:?}", desktop.mirror().avatars.get(&slot));
}

#[test]
fn wandering_bots_track_each_other_closely() {
    use vitrine_client::bots::{Behaviour, Bot};
    let server = TestServer::start();
    let api = server.api();
    let mut bots: Vec<Bot> = ["Wander0", "Wander1", "Wander2"]
        .iter()
        .enumerate()
        .map(|(i, name)| Bot::join(&api, name, "hall", Behaviour::walker(), i as u64).unwrap())
        .collect();
    let frame = vitrine_tests::FRAME;
    // Walk for a while; then every bot must see every other within the
    // distance a walker covers in a few snapshots (1.4 m/s × 0.25 s).
    let mut frames = 0;
    let tracked = step_until(Duration::from_secs(20), || {
        for bot in bots.iter_mut() {
            bot.step(frame).unwrap();
        }
        frames += 1;
        frames > 150
            && bots.iter().all(|viewer| {
                bots.iter().all(|other| {
                    let Some(slot) = viewer
                        .net
                        .mirror()
                        .member_by_name(&other.name)
                        .map(|m| m.slot)
                    else {
                        return false;
                    };
                    let (Some(seen), Some(actual)) =
                        (viewer.net.mirror().avatars.get(&slot), other.pose())
                    else {
                        return false;
                    };
                    let (dx, dz) = (
                        seen.position[0] - actual.position[0],
                        seen.position[2] - actual.position[2],
                    );
                    (dx * dx + dz * dz).sqrt() < 0.35
                })
            })
    });
    assert!(tracked, "bots lost track of each other");
    // They really walked: nobody is still at the spawn point.
    for bot in &bots {
        let spawn = bot.net.mirror().spawn.unwrap().position;
        let now = bot.pose().unwrap().position;
        assert!(
            (now[0] - spawn[0]).abs() + (now[2] - spawn[2]).abs() > 0.5,
            "{} did not move",
            bot.name
        );
    }
}
