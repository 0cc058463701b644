//! Products in hand, over real loopback UDP: the server owns who holds which
//! display model. Others see pick-ups, put-backs and drops; a dropped
//! product goes back to its display after the room's return delay (short
//! here: `loose_return`); a holder who leaves or is removed puts everything
//! back; a newcomer's welcome shows it all; a product passes from hand to
//! hand when the hands are close; a teleport moves an avatar further than a
//! walk; and every hostile command gets a typed refusal and changes nothing.

use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vitrine_client::net::{NetClient, RoomChange};
use vitrine_server::config::{RateConfig, ServerConfig};
use vitrine_shared::pose::{
    HANDOFF_REACH_M, MAX_TELEPORT_M, TrackedPoseNet, XrPoseNet, YAW_STEPS, handoff_distance,
};
use vitrine_shared::protocol::{
    CommandKind, EngagementRefusal, RejectReason, Rejection, TELEPORT_COOLDOWN_MS,
};
use vitrine_shared::{MemberSlot, PoseNet, ProductId, Role, RoomCommand};
use vitrine_tests::{Http, TestServer, joined_all, joined_client, pump_all, step_until};

const WAIT: Duration = Duration::from_secs(10);
/// The return delay under test (`LOOSE_RETURN_SECS` in production).
const RETURN: Duration = Duration::from_millis(1500);

fn tune(c: &mut ServerConfig) {
    c.loose_return = RETURN;
    // These tests send bursts of product commands; the limit is not under test.
    c.reactions = RateConfig {
        per_second: 1000.0,
        burst: 1000,
    };
}

fn product(id: &str) -> ProductId {
    ProductId::new(id).unwrap()
}

fn inspect(c: &mut NetClient, id: &str) {
    c.send_command(RoomCommand::Inspect {
        product: product(id),
    });
}

fn put_back(c: &mut NetClient, id: &str) {
    c.send_command(RoomCommand::PutDownProduct {
        product: product(id),
        held_ms: 1200,
    });
}

fn drop_at(c: &mut NetClient, id: &str, at: [f32; 3]) {
    c.send_command(RoomCommand::DropProduct {
        product: product(id),
        held_ms: 800,
        at,
    });
}

/// Pumps everyone until `done` holds (or the cap).
fn until(clients: &mut [NetClient], done: impl Fn(&[NetClient]) -> bool) -> bool {
    step_until(WAIT, || {
        pump_all(clients);
        done(clients)
    })
}

fn slot(c: &NetClient) -> MemberSlot {
    c.mirror().you.unwrap()
}

fn held(pairs: &[(&str, MemberSlot)]) -> BTreeMap<ProductId, MemberSlot> {
    pairs.iter().map(|(p, s)| (product(p), *s)).collect()
}

/// Every client's view of the products: (held, dropped).
type View = (
    BTreeMap<ProductId, MemberSlot>,
    BTreeMap<ProductId, [f32; 3]>,
);

fn views(clients: &[NetClient]) -> Vec<View> {
    clients
        .iter()
        .map(|c| (c.mirror().held.clone(), c.mirror().dropped.clone()))
        .collect()
}

fn product_changes(c: &mut NetClient) -> Vec<RoomChange> {
    c.mirror_mut()
        .drain_changes()
        .into_iter()
        .filter(|change| {
            matches!(
                change,
                RoomChange::ProductHeld { .. }
                    | RoomChange::ProductDropped { .. }
                    | RoomChange::ProductReturned { .. }
                    | RoomChange::ProductPassed { .. }
            )
        })
        .collect()
}

/// Three shoppers in the hall who all see each other.
fn three(server: &TestServer) -> Vec<NetClient> {
    let mut clients = joined_all(server, &["Ada", "Bo", "Chen"], "hall");
    assert!(until(&mut clients, |cs| cs.iter().all(|c| c
        .mirror()
        .members
        .len()
        == 3)));
    clients
}

/// `who` sends `command`; it must be refused with `expected`, and nobody
/// may see anything change.
fn refused(clients: &mut [NetClient], who: usize, command: RoomCommand, expected: RejectReason) {
    for c in clients.iter_mut() {
        product_changes(c);
    }
    let before = views(clients);
    let rejections = clients[who].mirror().rejections.len();
    let what = format!("{command:?}");
    clients[who].send_command(command);
    assert!(
        until(clients, |cs| cs[who].mirror().rejections.len() > rejections),
        "{what} was not refused"
    );
    let rejection = clients[who].mirror().rejections[rejections].clone();
    assert_eq!(rejection.command, CommandKind::Inspect, "{what}");
    assert_eq!(rejection.reason, expected, "{what}");
    // A few more frames: an event sent by mistake would arrive by now.
    for _ in 0..10 {
        pump_all(clients);
    }
    assert_eq!(views(clients), before, "{what} changed something");
    for c in clients.iter_mut() {
        let changes = product_changes(c);
        assert!(changes.is_empty(), "{what} was announced: {changes:?}");
    }
    assert!(clients[who].is_connected(), "a refusal is not a disconnect");
}

#[test]
fn others_see_who_holds_what_and_a_product_goes_back_on_its_display() {
    let server = TestServer::start_with(tune);
    let mut cs = three(&server);
    let (a, b) = (slot(&cs[0]), slot(&cs[1]));

    // A picks up the mug: everyone sees it in A's hands.
    inspect(&mut cs[0], "stoneware-mug");
    assert!(until(&mut cs, |cs| cs
        .iter()
        .all(|c| c.mirror().held == held(&[("stoneware-mug", a)]))));
    // Picking it up again is a no-op: no refusal, no second event. (A's
    // commands apply in order: once the serum shows, the repeat is done.)
    for c in cs.iter_mut() {
        product_changes(c);
    }
    inspect(&mut cs[0], "stoneware-mug");
    inspect(&mut cs[0], "glow-serum");
    assert!(until(&mut cs, |cs| cs[2].mirror().held.len() == 2));
    assert_eq!(
        product_changes(&mut cs[2]),
        [RoomChange::ProductHeld {
            product: product("glow-serum"),
            by: a
        }]
    );
    assert!(cs[0].mirror().rejections.is_empty());

    // B wants the mug too: refused, naming A, and nothing changes.
    refused(
        &mut cs,
        1,
        RoomCommand::Inspect {
            product: product("stoneware-mug"),
        },
        RejectReason::ProductHeld { by: a },
    );

    // A puts it back: everyone sees it back on its display.
    put_back(&mut cs[0], "stoneware-mug");
    assert!(until(&mut cs, |cs| cs
        .iter()
        .all(|c| c.mirror().held == held(&[("glow-serum", a)]))));
    assert_eq!(
        product_changes(&mut cs[2]),
        [RoomChange::ProductReturned {
            product: product("stoneware-mug")
        }]
    );

    // Now B may take it.
    inspect(&mut cs[1], "stoneware-mug");
    assert!(until(&mut cs, |cs| cs.iter().all(
        |c| c.mirror().held == held(&[("glow-serum", a), ("stoneware-mug", b)])
    )));
    put_back(&mut cs[1], "stoneware-mug");
    put_back(&mut cs[0], "glow-serum");
    assert!(until(&mut cs, |cs| cs
        .iter()
        .all(|c| c.mirror().held.is_empty())));
}

#[test]
fn a_dropped_product_lies_where_it_fell_then_returns_by_itself() {
    let server = TestServer::start_with(tune);
    let mut cs = three(&server);
    let (a, b) = (slot(&cs[0]), slot(&cs[1]));
    let here = [1.25, 0.0, -2.5];
    let there = [-3.0, 0.75, 4.0];

    inspect(&mut cs[0], "arc-lamp");
    assert!(until(&mut cs, |cs| cs[1].mirror().held
        == held(&[("arc-lamp", a)])));
    drop_at(&mut cs[0], "arc-lamp", here);
    assert!(until(&mut cs, |cs| cs.iter().all(|c| c
        .mirror()
        .held
        .is_empty()
        && c.mirror().dropped.get(&product("arc-lamp")) == Some(&here))));
    // Loose, it is nobody's: A cannot put it back without picking it up.
    refused(
        &mut cs,
        0,
        RoomCommand::PutDownProduct {
            product: product("arc-lamp"),
            held_ms: 10,
        },
        RejectReason::NotHolding,
    );

    // B picks it up from the floor before it goes back, and drops it
    // elsewhere: the delay starts over from B's drop.
    inspect(&mut cs[1], "arc-lamp");
    assert!(until(&mut cs, |cs| cs.iter().all(|c| c.mirror().held
        == held(&[("arc-lamp", b)])
        && c.mirror().dropped.is_empty())));
    let dropped = Instant::now();
    drop_at(&mut cs[1], "arc-lamp", there);
    assert!(until(&mut cs, |cs| cs.iter().all(|c| c
        .mirror()
        .dropped
        .get(&product("arc-lamp"))
        == Some(&there))));
    for c in cs.iter_mut() {
        product_changes(c);
    }

    // The server puts it back on its own, no sooner than the delay after
    // the drop was sent.
    let back = step_until(RETURN + WAIT, || {
        pump_all(&mut cs);
        cs.iter().all(|c| c.mirror().dropped.is_empty())
    });
    let waited = dropped.elapsed();
    assert!(back, "the lamp never went back: {:?}", views(&cs));
    assert!(waited >= RETURN, "went back after only {waited:?}");
    for c in cs.iter_mut() {
        assert_eq!(
            product_changes(c),
            [RoomChange::ProductReturned {
                product: product("arc-lamp")
            }]
        );
    }
    // And it is on its display: anyone may pick it up.
    inspect(&mut cs[2], "arc-lamp");
    let c = slot(&cs[2]);
    assert!(until(&mut cs, |cs| cs[0].mirror().held
        == held(&[("arc-lamp", c)])));
}

#[test]
fn a_holder_who_leaves_puts_everything_back_and_newcomers_see_the_room_as_it_is() {
    let server = TestServer::start_with(tune);
    let mut cs = three(&server);
    let (a, b) = (slot(&cs[0]), slot(&cs[1]));
    let floor = [2.0, 0.0, 2.0];
    inspect(&mut cs[0], "stoneware-mug");
    inspect(&mut cs[0], "soy-candle");
    inspect(&mut cs[1], "glow-serum");
    inspect(&mut cs[1], "silk-scarf");
    assert!(until(&mut cs, |cs| cs[2].mirror().held.len() == 4));
    drop_at(&mut cs[1], "silk-scarf", floor);
    assert!(until(&mut cs, |cs| cs[2].mirror().dropped.len() == 1));

    // A late joiner's welcome lists who holds what and what lies where.
    let late = joined_client(&server, "Late", "hall");
    assert_eq!(
        late.mirror().held,
        held(&[("stoneware-mug", a), ("soy-candle", a), ("glow-serum", b)])
    );
    assert_eq!(
        late.mirror().dropped,
        [(product("silk-scarf"), floor)].into()
    );
    cs.push(late);

    // A leaves holding two: everyone else sees them back on display.
    let mut ada = cs.remove(0);
    ada.disconnect();
    drop(ada);
    assert!(until(&mut cs, |cs| cs.iter().all(|c| c
        .mirror()
        .members
        .len()
        == 3
        && c.mirror().held == held(&[("glow-serum", b)]))));
    // The server agrees: they are free to take, and a newcomer sees them
    // on display.
    inspect(&mut cs[1], "stoneware-mug");
    let chen = slot(&cs[1]);
    assert!(until(&mut cs, |cs| cs[0].mirror().held
        == held(&[("glow-serum", b), ("stoneware-mug", chen)])));
    let later = joined_client(&server, "Later", "hall");
    assert_eq!(
        later.mirror().held,
        held(&[("glow-serum", b), ("stoneware-mug", chen)])
    );
}

#[test]
fn a_removed_shopper_puts_everything_back_before_leaving() {
    let server = TestServer::start_with(tune);
    let http = Http::new(&server);
    let moderator = server.sign_in_as("mod.products", Role::Moderator);
    let api = server.api();
    let (ada, bo) = (api.sign_in("Ada").unwrap(), api.sign_in("Bo").unwrap());
    let mut cs = vec![
        vitrine_tests::joined_as(&server, &ada, "hall"),
        vitrine_tests::joined_as(&server, &bo, "hall"),
    ];
    let a = slot(&cs[0]);
    inspect(&mut cs[0], "pocket-speaker");
    assert!(until(&mut cs, |cs| cs[1].mirror().held
        == held(&[("pocket-speaker", a)])));
    product_changes(&mut cs[1]);
    let (status, body) = http.call(
        "POST",
        "/api/v1/moderation/kicks",
        Some(&moderator),
        None,
        Some(json!({ "account_id": ada.account_id, "reason": "hands off" })),
    );
    assert_eq!(status, 204, "{body}");
    assert!(until(&mut cs, |cs| cs[1].mirror().members.len() == 1));
    // The server put it back when it removed A, before A's connection
    // closed: the notice came before A left.
    let changes: Vec<RoomChange> = cs[1]
        .mirror_mut()
        .drain_changes()
        .into_iter()
        .filter(|c| matches!(c, RoomChange::ProductReturned { .. } | RoomChange::Left(_)))
        .collect();
    assert!(
        matches!(
            changes.as_slice(),
            [RoomChange::ProductReturned { product }, RoomChange::Left(info)]
                if product.as_str() == "pocket-speaker" && info.slot == a
        ),
        "{changes:?}"
    );
}

#[test]
fn hostile_product_commands_are_refused_with_typed_errors_and_change_nothing() {
    let server = TestServer::start_with(tune);
    let mut cs = three(&server);
    let a = slot(&cs[0]);
    inspect(&mut cs[0], "glow-serum");
    inspect(&mut cs[0], "canvas-tote");
    assert!(until(&mut cs, |cs| cs.iter().all(
        |c| c.mirror().held == held(&[("glow-serum", a), ("canvas-tote", a)])
    )));

    // A third product with both hands full.
    let inspect_cmd = |id: &str| RoomCommand::Inspect {
        product: product(id),
    };
    refused(&mut cs, 0, inspect_cmd("arc-lamp"), RejectReason::HandsFull);
    // A product the catalog does not know.
    refused(
        &mut cs,
        1,
        inspect_cmd("no-such-thing"),
        RejectReason::Engagement(EngagementRefusal::UnknownProduct),
    );
    // Putting back or dropping what you do not hold: someone else's, one on
    // its display, one that does not exist.
    for id in ["glow-serum", "arc-lamp", "no-such-thing"] {
        refused(
            &mut cs,
            1,
            RoomCommand::PutDownProduct {
                product: product(id),
                held_ms: 500,
            },
            RejectReason::NotHolding,
        );
        refused(
            &mut cs,
            1,
            RoomCommand::DropProduct {
                product: product(id),
                held_ms: 500,
                at: [0.0, 0.0, 0.0],
            },
            RejectReason::NotHolding,
        );
    }
    // Dropping what you hold somewhere that is not a place in the room (the
    // hall is 40 m square and 6 m high, centred on the origin).
    for at in [
        [f32::NAN, 0.0, 0.0],
        [0.0, f32::NAN, 0.0],
        [f32::INFINITY, 0.0, 0.0],
        [0.0, 0.0, f32::NEG_INFINITY],
        [20.5, 0.0, 0.0],
        [0.0, -0.5, 0.0],
        [0.0, 6.5, 0.0],
        [0.0, 0.0, -1e9],
    ] {
        refused(
            &mut cs,
            0,
            RoomCommand::DropProduct {
                product: product("glow-serum"),
                held_ms: 500,
                at,
            },
            RejectReason::InvalidPosition,
        );
    }
    assert!(server.metrics.rejected("hands_full") >= 1);
    assert!(server.metrics.rejected("not_holding") >= 6);
    assert!(server.metrics.rejected("invalid_position") >= 8);
    // After all that, A still holds both and may still drop one properly.
    drop_at(&mut cs[0], "glow-serum", [0.0, 0.0, 0.0]);
    assert!(until(&mut cs, |cs| cs.iter().all(|c| c.mirror().held
        == held(&[("canvas-tote", a)])
        && c.mirror().dropped.len() == 1)));
}

// --- Hand-offs and teleports -----------------------------------------------

fn add(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    (0..3).map(|i| (a[i] - b[i]).powi(2)).sum::<f32>().sqrt()
}

/// Within snapshot quantization (1 cm a step) of `b`.
fn near(a: [f32; 3], b: [f32; 3]) -> bool {
    distance(a, b) < 0.02
}

/// An XR pose standing at `body`, facing -Z (the stage), both hands at
/// `hands`.
fn xr(body: [f32; 3], hands: [f32; 3]) -> PoseNet {
    let tracked = |position| TrackedPoseNet {
        position,
        rotation: [0.0, 0.0, 0.0, 1.0],
    };
    PoseNet {
        position: body,
        yaw: std::f32::consts::PI,
        xr: Some(XrPoseNet {
            head: tracked(add(body, [0.0, 1.6, 0.0])),
            left_hand: Some(tracked(hands)),
            right_hand: Some(tracked(hands)),
        }),
    }
}

/// Where `who` stands as `watcher` sees it in snapshots.
fn seen(watcher: &NetClient, who: MemberSlot) -> Option<PoseNet> {
    watcher.mirror().avatars.get(&who).copied()
}

/// `who` sends `pose` each frame until every client's snapshots show it
/// (its tracked hands too): the server holds it as validated.
fn hold_pose(cs: &mut [NetClient], who: usize, pose: PoseNet) {
    let me = slot(&cs[who]);
    let hand = pose.xr.and_then(|x| x.right_hand).map(|h| h.position);
    let shown = step_until(WAIT, || {
        cs[who].send_pose(pose);
        pump_all(cs);
        cs.iter().all(|c| {
            seen(c, me).is_some_and(|p| {
                near(p.position, pose.position)
                    && hand.is_none_or(|h| {
                        p.xr.and_then(|x| x.right_hand)
                            .is_some_and(|r| near(r.position, h))
                    })
            })
        })
    });
    assert!(shown, "{me:?} was never shown at {pose:?}");
}

/// `who` walks from where it stands to `to` at a stroll (1.5 m/s, well
/// under the walking-speed rule), a pose each frame, until all see it there.
fn walk(cs: &mut [NetClient], who: usize, to: [f32; 3]) {
    let me = slot(&cs[who]);
    let from = seen(&cs[who], me)
        .expect("own avatar in snapshots")
        .position;
    let length = distance(from, to);
    let start = Instant::now();
    let arrived = step_until(WAIT + Duration::from_secs_f32(length / 1.5), || {
        let t = (start.elapsed().as_secs_f32() * 1.5 / length.max(1e-3)).min(1.0);
        let at: [f32; 3] = std::array::from_fn(|i| from[i] + (to[i] - from[i]) * t);
        cs[who].send_pose(PoseNet::at(at, std::f32::consts::PI));
        pump_all(cs);
        cs.iter()
            .all(|c| seen(c, me).is_some_and(|p| near(p.position, to)))
    });
    assert!(arrived, "{me:?} never got to {to:?}");
}

/// Two shoppers in the hall who see each other's avatars.
fn two(server: &TestServer) -> Vec<NetClient> {
    let mut cs = joined_all(server, &["Ada", "Bo"], "hall");
    assert!(until(&mut cs, |cs| cs.iter().all(|c| c
        .mirror()
        .avatars
        .len()
        == 2)));
    cs
}

#[test]
fn a_product_passes_from_hand_to_hand_when_the_hands_are_close() {
    let server = TestServer::start_with(tune);
    let mut cs = three(&server);
    let (a, b) = (slot(&cs[0]), slot(&cs[1]));
    assert!(until(&mut cs, |cs| cs.iter().all(|c| c
        .mirror()
        .avatars
        .len()
        == 3)));
    let a_body = seen(&cs[0], a).unwrap().position;
    let b_body = seen(&cs[1], b).unwrap().position;

    // A holds the mug out in front; B stands where it spawned, reaching
    // out too, but more than an arm's length away.
    let a_hands = add(a_body, [0.0, 1.2, -0.4]);
    hold_pose(&mut cs, 0, xr(a_body, a_hands));
    hold_pose(&mut cs, 1, xr(b_body, add(b_body, [0.0, 1.2, -0.4])));
    inspect(&mut cs[0], "stoneware-mug");
    assert!(until(&mut cs, |cs| cs
        .iter()
        .all(|c| c.mirror().held == held(&[("stoneware-mug", a)]))));
    let gap = handoff_distance(&seen(&cs[2], b).unwrap(), &seen(&cs[2], a).unwrap());
    assert!(
        gap > HANDOFF_REACH_M + 0.1,
        "the test needs B out of reach: {gap}"
    );
    let take = |id: &str| RoomCommand::TakeFromHand {
        product: product(id),
    };

    // Out of reach: refused, and the mug stays in A's hands.
    refused(&mut cs, 1, take("stoneware-mug"), RejectReason::OutOfReach);
    // Nobody holds these: one on its display, one the catalog lacks.
    refused(&mut cs, 1, take("arc-lamp"), RejectReason::NotHolding);
    refused(&mut cs, 1, take("no-such-thing"), RejectReason::NotHolding);
    // A taking its own mug is a no-op: no refusal, no event (A's commands
    // apply in order: once the serum shows, the take is done).
    cs[0].send_command(take("stoneware-mug"));
    inspect(&mut cs[0], "glow-serum");
    assert!(until(&mut cs, |cs| cs[2].mirror().held.len() == 2));
    assert_eq!(
        product_changes(&mut cs[2]),
        [RoomChange::ProductHeld {
            product: product("glow-serum"),
            by: a
        }]
    );
    assert!(cs[0].mirror().rejections.is_empty());

    // B walks up to A and reaches for the mug: hands 10 cm apart.
    walk(&mut cs, 1, add(a_body, [0.0, 0.0, -0.9]));
    let b_body = add(a_body, [0.0, 0.0, -0.9]);
    hold_pose(&mut cs, 1, xr(b_body, add(a_hands, [0.0, 0.0, -0.1])));
    let gap = handoff_distance(&seen(&cs[2], b).unwrap(), &seen(&cs[2], a).unwrap());
    assert!(gap <= HANDOFF_REACH_M - 0.2, "{gap}");
    for c in cs.iter_mut() {
        product_changes(c);
    }
    let refusals = cs[1].mirror().rejections.len();
    cs[1].send_command(take("stoneware-mug"));
    assert!(until(&mut cs, |cs| cs.iter().all(
        |c| c.mirror().held == held(&[("glow-serum", a), ("stoneware-mug", b)])
    )));
    // Everyone heard it, the two of them included.
    for c in cs.iter_mut() {
        assert_eq!(
            product_changes(c),
            [RoomChange::ProductPassed {
                product: product("stoneware-mug"),
                from: a,
                to: b
            }]
        );
    }
    assert_eq!(cs[1].mirror().rejections.len(), refusals);
    // A newcomer's welcome shows it in B's hands.
    let late = joined_client(&server, "Late", "hall");
    assert_eq!(
        late.mirror().held,
        held(&[("glow-serum", a), ("stoneware-mug", b)])
    );
    drop(late);

    // It is B's now: A may no longer put it down, B may.
    refused(
        &mut cs,
        0,
        RoomCommand::PutDownProduct {
            product: product("stoneware-mug"),
            held_ms: 900,
        },
        RejectReason::NotHolding,
    );
    put_back(&mut cs[1], "stoneware-mug");
    assert!(until(&mut cs, |cs| cs
        .iter()
        .all(|c| c.mirror().held == held(&[("glow-serum", a)]))));
    assert!(server.metrics.rejected("out_of_reach") >= 1);
}

#[test]
fn a_taker_with_full_hands_is_refused_and_a_holder_who_leaves_takes_nothing_passed() {
    let server = TestServer::start_with(tune);
    let mut cs = three(&server);
    let (a, b) = (slot(&cs[0]), slot(&cs[1]));
    assert!(until(&mut cs, |cs| cs.iter().all(|c| c
        .mirror()
        .avatars
        .len()
        == 3)));
    // A and B face each other at arm's length, hands together.
    let a_body = seen(&cs[0], a).unwrap().position;
    let b_body = add(a_body, [0.0, 0.0, -0.9]);
    let hands = add(a_body, [0.0, 1.2, -0.45]);
    walk(&mut cs, 1, b_body);
    hold_pose(&mut cs, 0, xr(a_body, hands));
    hold_pose(&mut cs, 1, xr(b_body, hands));
    inspect(&mut cs[0], "stoneware-mug");
    inspect(&mut cs[1], "glow-serum");
    inspect(&mut cs[1], "canvas-tote");
    assert!(until(&mut cs, |cs| cs[2].mirror().held.len() == 3));
    let take = RoomCommand::TakeFromHand {
        product: product("stoneware-mug"),
    };
    refused(&mut cs, 1, take.clone(), RejectReason::HandsFull);

    // B frees a hand and takes the mug; then A leaves: the mug is B's now,
    // so nothing goes back.
    put_back(&mut cs[1], "canvas-tote");
    cs[1].send_command(take);
    assert!(until(&mut cs, |cs| cs.iter().all(
        |c| c.mirror().held == held(&[("glow-serum", b), ("stoneware-mug", b)])
    )));
    let mut ada = cs.remove(0);
    ada.disconnect();
    drop(ada);
    assert!(until(&mut cs, |cs| cs.iter().all(|c| c
        .mirror()
        .members
        .len()
        == 2)));
    for _ in 0..10 {
        pump_all(&mut cs);
    }
    assert!(
        cs.iter()
            .all(|c| c.mirror().held == held(&[("glow-serum", b), ("stoneware-mug", b)]))
    );
    // B leaving puts both back.
    let mut bo = cs.remove(0);
    bo.disconnect();
    drop(bo);
    assert!(until(&mut cs, |cs| cs[0].mirror().held.is_empty()));
}

/// `who` teleports to `to`; it must be refused with `expected` (as a pose
/// command), and everyone must go on seeing `who` where it stood.
fn teleport_refused(
    cs: &mut [NetClient],
    who: usize,
    to: [f32; 3],
    yaw: f32,
    expected: RejectReason,
) {
    let me = slot(&cs[who]);
    let before: Vec<PoseNet> = cs.iter().map(|c| seen(c, me).unwrap()).collect();
    let rejections = cs[who].mirror().rejections.len();
    cs[who].send_command(RoomCommand::Teleport { to, yaw });
    assert!(
        until(cs, |cs| cs[who].mirror().rejections.len() > rejections),
        "a teleport to {to:?} was not refused"
    );
    assert_eq!(
        cs[who].mirror().rejections[rejections],
        Rejection {
            command: CommandKind::Pose,
            reason: expected
        },
        "{to:?}"
    );
    // A few snapshots later the avatar is where it was.
    for _ in 0..15 {
        pump_all(cs);
    }
    let after: Vec<PoseNet> = cs.iter().map(|c| seen(c, me).unwrap()).collect();
    assert_eq!(
        after, before,
        "a refused teleport to {to:?} moved the avatar"
    );
    assert!(cs[who].is_connected());
}

#[test]
fn a_teleport_moves_the_avatar_and_walking_goes_on_from_there() {
    let server = TestServer::start_with(tune);
    let mut cs = two(&server);
    let (a, b) = (slot(&cs[0]), slot(&cs[1]));
    let start = seen(&cs[1], a).unwrap().position;
    let yaw_step = std::f32::consts::TAU / YAW_STEPS as f32;

    // Too far, or off the floor plan (the hall is 40 m square): refused.
    let too_far = add(start, [0.0, 0.0, -(MAX_TELEPORT_M + 2.0)]);
    teleport_refused(&mut cs, 0, too_far, 0.0, RejectReason::OutOfReach);
    teleport_refused(
        &mut cs,
        0,
        [20.5, 0.0, start[2]],
        0.0,
        RejectReason::InvalidPosition,
    );
    teleport_refused(
        &mut cs,
        0,
        [start[0], 0.0, -21.0],
        0.0,
        RejectReason::InvalidPosition,
    );
    assert!(server.metrics.rejected("out_of_reach") >= 1);

    // 8 m towards the stage, turned to face +Z: B sees A there.
    let there = add(start, [0.0, 0.0, -8.0]);
    let refusals = cs[0].mirror().rejections.len();
    cs[0].send_command(RoomCommand::Teleport {
        to: add(there, [0.0, 1.0, 0.0]),
        yaw: 0.5,
    });
    assert!(until(&mut cs, |cs| seen(&cs[1], a)
        .is_some_and(
            |p| near(p.position, there) && (p.yaw - 0.5).abs() <= yaw_step
        )));
    assert!(
        seen(&cs[1], a).unwrap().position[1].abs() < 0.01,
        "on the floor"
    );
    assert_eq!(cs[0].mirror().rejections.len(), refusals);

    // Walking goes on from the new place: a step from there is taken as
    // sent, with no walk across the hall in between.
    let step = add(there, [0.02, 0.0, 0.0]);
    let mut strayed = 0.0f32;
    assert!(step_until(WAIT, || {
        cs[0].send_pose(PoseNet::at(step, 0.5));
        pump_all(&mut cs);
        let p = seen(&cs[1], a).unwrap().position;
        strayed = strayed.max(distance(p, there));
        distance(p, step) < 0.006
    }));
    for _ in 0..15 {
        cs[0].send_pose(PoseNet::at(step, 0.5));
        pump_all(&mut cs);
        strayed = strayed.max(distance(seen(&cs[1], a).unwrap().position, there));
    }
    assert!(
        strayed < 0.05,
        "A wandered {strayed} m from where it landed"
    );

    // Two teleports back to back: the second is too soon. B keeps sending
    // poses from the first one's target, which may overtake it on the
    // unreliable channel; once it lands B stays there.
    let b_start = seen(&cs[0], b).unwrap().position;
    let first = add(b_start, [3.0, 0.0, -3.0]);
    let second = add(b_start, [-3.0, 0.0, -3.0]);
    cs[1].send_command(RoomCommand::Teleport {
        to: first,
        yaw: 0.0,
    });
    cs[1].send_command(RoomCommand::Teleport {
        to: second,
        yaw: 0.0,
    });
    let mut saw_second = false;
    assert!(step_until(WAIT, || {
        cs[1].send_pose(PoseNet::at(first, 0.0));
        pump_all(&mut cs);
        let p = seen(&cs[0], b).unwrap().position;
        saw_second |= distance(p, second) < 1.0;
        near(p, first) && !cs[1].mirror().rejections.is_empty()
    }));
    assert!(!saw_second, "the refused teleport moved B");
    match &cs[1].mirror().rejections[..] {
        [
            Rejection {
                command: CommandKind::Pose,
                reason: RejectReason::RateLimited { retry_after_ms },
            },
        ] => assert!(
            (1..=TELEPORT_COOLDOWN_MS as u32).contains(retry_after_ms),
            "{retry_after_ms}"
        ),
        other => panic!("expected one rate limit, got {other:?}"),
    }
    for _ in 0..15 {
        cs[1].send_pose(PoseNet::at(first, 0.0));
        pump_all(&mut cs);
        assert!(near(seen(&cs[0], b).unwrap().position, first));
    }
    assert!(cs.iter().all(|c| c.is_connected()));
}
