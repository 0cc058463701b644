//! Hostile clients: garbage datagrams, undecodable messages, messages on the
//! wrong channel or an unknown one. The server never falls over: the
//! offender is disconnected and the room goes on.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::{Rng, RngCore};
use std::net::UdpSocket;
use std::time::Duration;
use vitrine_client::net::NetClient;
use vitrine_shared::protocol::{CommandKind, RejectReason};
use vitrine_shared::{
    ChatText, ClientChannel, ClientMessage, PoseError, PoseNet, Reaction, RoomCommand, Sku, encode,
};
use vitrine_tests::{Http, TestServer, joined_client, pump, step_until, stock_of};

/// The room still relays chat between two well-behaved members.
fn room_goes_on(a: &mut NetClient, b: &mut NetClient, text: &str) {
    a.send_command(RoomCommand::Chat(ChatText::new(text).unwrap()));
    let delivered = step_until(Duration::from_secs(10), || {
        pump(&mut [&mut *a, &mut *b]);
        b.mirror().chat.iter().any(|l| l.text.as_str() == text)
    });
    assert!(delivered, "the room stopped relaying chat");
}

#[test]
fn garbage_datagrams_are_ignored() {
    let server = TestServer::start();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = rand::rng();
    for len in [0usize, 1, 2, 17, 18, 100, 1199, 1200, 1400, 1500, 4000] {
        for _ in 0..20 {
            let mut bytes = vec![0u8; len];
            rng.fill_bytes(&mut bytes);
            // Netcode packet types are in the first byte; try each of them.
            if let Some(first) = bytes.first_mut() {
                *first = rng.random_range(0..8);
            }
            socket.send_to(&bytes, server.udp).unwrap();
        }
    }
    let mut a = joined_client(&server, "After", "hall");
    let mut b = joined_client(&server, "Storm", "hall");
    room_goes_on(&mut a, &mut b, "still here");
}

fn assert_disconnected_for(server: &TestServer, what: &str, attack: impl FnOnce(&mut NetClient)) {
    let mut a = joined_client(server, &format!("Good1{}", what.len()), "hall");
    let mut b = joined_client(server, &format!("Good2{}", what.len()), "hall");
    let mut villain = joined_client(server, "Villain", "hall");
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut a, &mut b, &mut villain]);
        b.mirror().members.len() == 3
    }));
    let before = server.metrics.rejected("protocol_violation");
    attack(&mut villain);
    let kicked = step_until(Duration::from_secs(10), || {
        pump(&mut [&mut a, &mut b, &mut villain]);
        villain.is_disconnected() && b.mirror().members.len() == 2
    });
    assert!(
        kicked,
        "{what}: villain connected={} members={}",
        villain.is_connected(),
        b.mirror().members.len()
    );
    assert!(
        server.metrics.rejected("protocol_violation") > before || what == "unknown channel",
        "{what}"
    );
    room_goes_on(&mut a, &mut b, &format!("after {what}"));
    assert!(a.is_connected() && b.is_connected());
}

#[test]
fn undecodable_command_disconnects_the_sender_only() {
    let server = TestServer::start();
    assert_disconnected_for(&server, "garbage command", |v| {
        v.send_raw(
            ClientChannel::Commands.into(),
            vec![0xFF, 0xFF, 0xFF, 0x01, 0x02],
        );
    });
}

#[test]
fn trailing_bytes_disconnect_the_sender() {
    let server = TestServer::start();
    assert_disconnected_for(&server, "trailing bytes", |v| {
        let mut bytes = encode(&ClientMessage::Room(RoomCommand::React(Reaction::Heart))).unwrap();
        bytes.push(0);
        v.send_raw(ClientChannel::Commands.into(), bytes);
    });
}

#[test]
fn a_command_on_the_input_channel_disconnects_the_sender() {
    let server = TestServer::start();
    assert_disconnected_for(&server, "wrong channel", |v| {
        let bytes = encode(&ClientMessage::Room(RoomCommand::React(Reaction::Fire))).unwrap();
        v.send_raw(ClientChannel::Input.into(), bytes);
    });
}

#[test]
fn garbage_on_the_input_channel_disconnects_the_sender() {
    let server = TestServer::start();
    assert_disconnected_for(&server, "garbage input", |v| {
        v.send_raw(ClientChannel::Input.into(), vec![0u8; 3]);
    });
}

#[test]
fn an_unknown_channel_disconnects_the_sender() {
    let server = TestServer::start();
    let mut config = vitrine_shared::connection_config();
    config.client_channels_config.push(renet::ChannelConfig {
        channel_id: 9,
        max_memory_usage_bytes: 1 << 16,
        send_type: renet::SendType::Unreliable,
    });
    let mut a = joined_client(&server, "Good1", "hall");
    let mut b = joined_client(&server, "Good2", "hall");
    let session = server.api().sign_in("Villain").unwrap();
    let ticket = server.api().join(&session, "hall").unwrap();
    let bytes = STANDARD.decode(&ticket.connect_token).unwrap();
    let token = renetcode::ConnectToken::read(&mut bytes.as_slice()).unwrap();
    let mut villain = NetClient::with_config(token, config).unwrap();
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut a, &mut b, &mut villain]);
        b.mirror().members.len() == 3
    }));
    villain.send_raw(9, vec![1, 2, 3]);
    let kicked = step_until(Duration::from_secs(10), || {
        pump(&mut [&mut a, &mut b, &mut villain]);
        villain.is_disconnected() && b.mirror().members.len() == 2
    });
    assert!(kicked);
    room_goes_on(&mut a, &mut b, "after unknown channel");
}

#[test]
fn a_nan_pose_is_refused_with_a_typed_error_not_a_disconnect() {
    let server = TestServer::start();
    let mut c = joined_client(&server, "Glitchy", "hall");
    c.send_pose(PoseNet::at([f32::NAN, 0.0, 1.0], 0.0));
    let refused = step_until(Duration::from_secs(10), || {
        pump(&mut [&mut c]);
        !c.mirror().rejections.is_empty()
    });
    assert!(refused);
    let r = &c.mirror().rejections[0];
    assert_eq!(r.command, CommandKind::Pose);
    assert_eq!(r.reason, RejectReason::InvalidPose(PoseError::NotFinite));
    assert!(c.is_connected());
    // The avatar stayed where it was.
    let me = c.mirror().you.unwrap();
    let spawn = c.mirror().spawn.unwrap();
    assert!(step_until(Duration::from_secs(5), || {
        pump(&mut [&mut c]);
        c.mirror()
            .avatars
            .get(&me)
            .is_some_and(|p| (p.position[0] - spawn.position[0]).abs() < 0.01)
    }));
}

#[test]
fn teleports_are_clamped_to_walking_speed_and_room_bounds() {
    let server = TestServer::start();
    let mut c = joined_client(&server, "Jumper", "hall");
    let me = c.mirror().you.unwrap();
    // The hall is 40 m square: 1000 m away is outside it.
    let mut seen_max = 0.0f32;
    step_until(Duration::from_secs(3), || {
        c.send_pose(PoseNet::at([1000.0, 5.0, 0.0], 0.0));
        pump(&mut [&mut c]);
        if let Some(p) = c.mirror().avatars.get(&me) {
            seen_max = seen_max.max(p.position[0]);
            assert!(p.position[1].abs() < 0.01, "bodies stay on the floor");
        }
        false
    });
    assert!(seen_max <= 20.0 + 0.01, "left the room: {seen_max}");
    assert!(seen_max > 5.0, "did not move at all: {seen_max}");
}

#[test]
fn a_nan_teleport_is_refused_with_a_typed_error_not_a_disconnect() {
    let server = TestServer::start();
    let mut c = joined_client(&server, "Blinker", "hall");
    let me = c.mirror().you.unwrap();
    let spawn = c.mirror().spawn.unwrap().position;
    let at = |dx: f32| [spawn[0] + dx, 0.0, spawn[2]];
    let hostile = [
        ([f32::NAN, 0.0, spawn[2]], 0.0),
        ([spawn[0], f32::NAN, spawn[2]], 0.0),
        ([spawn[0], 0.0, f32::NAN], 0.0),
        ([f32::INFINITY, 0.0, spawn[2]], 0.0),
        ([spawn[0], 0.0, f32::NEG_INFINITY], 0.0),
        (at(1.0), f32::NAN),
        (at(1.0), f32::INFINITY),
        ([f32::MAX, 0.0, f32::MIN], 0.0),
    ];
    for (to, yaw) in hostile {
        c.send_command(RoomCommand::Teleport { to, yaw });
    }
    let refused = step_until(Duration::from_secs(10), || {
        pump(&mut [&mut c]);
        c.mirror().rejections.len() >= hostile.len()
    });
    assert!(refused, "{:?}", c.mirror().rejections);
    for r in &c.mirror().rejections {
        assert_eq!(r.command, CommandKind::Pose);
        assert_eq!(r.reason, RejectReason::InvalidPosition);
    }
    assert!(c.is_connected());
    assert!(server.metrics.rejected("invalid_position") >= hostile.len() as u64);
    // The avatar stayed where it was, for several snapshots.
    let stays = |c: &NetClient| {
        c.mirror()
            .avatars
            .get(&me)
            .is_some_and(|p| (p.position[0] - spawn[0]).abs() < 0.01 && p.position[1] == 0.0)
    };
    assert!(step_until(Duration::from_secs(5), || {
        pump(&mut [&mut c]);
        stays(&c)
    }));
    for _ in 0..15 {
        pump(&mut [&mut c]);
        assert!(stays(&c));
    }
    // Refusals set no cooldown: a proper teleport goes through at once.
    c.send_command(RoomCommand::Teleport {
        to: at(2.0),
        yaw: 0.0,
    });
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut c]);
        c.mirror()
            .avatars
            .get(&me)
            .is_some_and(|p| (p.position[0] - at(2.0)[0]).abs() < 0.01)
    }));
    assert_eq!(c.mirror().rejections.len(), hostile.len());
}

#[test]
fn a_malformed_sku_in_a_command_disconnects_the_sender_and_takes_nothing() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let (product, sku) = ("stoneware-mug", "stoneware-mug-sage");
    let stock = stock_of(&http, product, sku);
    assert_disconnected_for(&server, "malformed sku", |v| {
        // A well-formed command whose SKU is then made upper case: the
        // bytes still frame, but the SKU fails its check as it is decoded.
        let command = RoomCommand::AddToCart {
            sku: Sku::new(sku).unwrap(),
            quantity: 1,
        };
        let mut bytes = encode(&ClientMessage::Room(command)).unwrap();
        let at = bytes
            .windows(sku.len())
            .position(|w| w == sku.as_bytes())
            .expect("the SKU's bytes");
        bytes[at..at + sku.len()].make_ascii_uppercase();
        v.send_raw(ClientChannel::Commands.into(), bytes);
    });
    assert_eq!(stock_of(&http, product, sku), stock);
}
