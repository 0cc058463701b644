//! Products in hand, over real loopback UDP: the server owns who holds which
//! display model. Others see pick-ups, put-backs and drops; a dropped
//! product goes back to its display after the room's return delay (short
//! here: `loose_return`); a holder who leaves or is removed puts everything
//! back; a newcomer's welcome shows it all; and every hostile command gets a
//! typed refusal and changes nothing.

use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vitrine_client::net::{NetClient, RoomChange};
use vitrine_server::config::{RateConfig, ServerConfig};
use vitrine_shared::protocol::{CommandKind, EngagementRefusal, RejectReason};
use vitrine_shared::{MemberSlot, ProductId, Role, RoomCommand};
use vitrine_tests::{Http, TestServer, joined_client, pump, step_until};

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

fn pump_all(clients: &mut [NetClient]) {
    let mut refs: Vec<&mut NetClient> = clients.iter_mut().collect();
    pump(&mut refs);
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
            )
        })
        .collect()
}

/// Three shoppers in the hall who all see each other.
fn three(server: &TestServer) -> Vec<NetClient> {
    let mut clients: Vec<NetClient> = ["Ada", "Bo", "Chen"]
        .iter()
        .map(|name| joined_client(server, name, "hall"))
        .collect();
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
