//! Shopping together over real loopback UDP with real clients, as issue 16
//! lists it: two friends in different rooms; one invites the other into a
//! party across rooms; the invitee joins the friend's room ("join friend");
//! the leader moves and the member follows with an ordinary join; each sees
//! the other as a party member in the same room (what the showroom's rings
//! and markers are drawn from); the shared cart syncs both ways; and a
//! split checkout places one order for each.

use serde_json::json;
use std::time::Duration;
use vitrine_client::net::{NetClient, SignedIn};
use vitrine_shared::api::{JoinTicket, OrderList};
use vitrine_shared::protocol::{PartyCommand, SharedCartCommand, SharedPayment};
use vitrine_shared::{AccountId, PartyId, PaymentMethod, RoomCommand, Sku};
use vitrine_tests::{Http, TestServer, joined_as, pump, step_until};

const WAIT: Duration = Duration::from_secs(10);

fn until(clients: &mut [&mut NetClient], mut done: impl FnMut(&[&mut NetClient]) -> bool) -> bool {
    step_until(WAIT, || {
        pump(clients);
        done(clients)
    })
}

/// Where each party member is, as `client`'s mirror has it.
fn party_rooms(client: &NetClient) -> Vec<(String, Option<String>)> {
    client
        .mirror()
        .party
        .party
        .as_ref()
        .map(|p| {
            p.members
                .iter()
                .map(|m| (m.name.to_string(), m.room.as_ref().map(|r| r.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn in_room(client: &NetClient, room: &str) -> bool {
    client
        .mirror()
        .room
        .as_ref()
        .is_some_and(|r| r.as_str() == room)
}

/// The shared cart's lines as `client` sees them: (SKU, quantity, added by).
fn shared_lines(client: &NetClient) -> Vec<(String, i64, AccountId)> {
    let mut lines: Vec<_> = client
        .mirror()
        .shared_cart
        .as_ref()
        .map(|c| {
            c.lines
                .iter()
                .map(|l| (l.sku.to_string(), l.quantity, l.added_by))
                .collect()
        })
        .unwrap_or_default();
    lines.sort();
    lines
}

fn paid_orders(http: &Http, who: &SignedIn) -> Vec<i64> {
    let (status, body) = http.call("GET", "/api/v1/orders", Some(&who.token), None, None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_value::<OrderList>(body)
        .unwrap()
        .orders
        .into_iter()
        .filter(|o| o.source == "shared_cart")
        .map(|o| o.total.minor)
        .collect()
}

#[test]
fn friends_in_two_rooms_party_follow_share_one_cart_and_each_pay_their_part() {
    let server = TestServer::start();
    let api = server.api();
    let http = Http::new(&server);
    let ada = api.sign_in("Ada").unwrap();
    let bob = api.sign_in("Bob").unwrap();
    let (ada_id, bob_id) = (AccountId(ada.account_id), AccountId(bob.account_id));

    // Friends by Bob's code.
    let (status, code) = http.call("GET", "/api/v1/friends/code", Some(&bob.token), None, None);
    assert_eq!(status, 200, "{code}");
    let (status, body) = http.call(
        "POST",
        "/api/v1/friends/requests",
        Some(&ada.token),
        None,
        Some(json!({ "code": code["code"] })),
    );
    assert_eq!(status, 200, "{body}");
    let accept = format!("/api/v1/friends/requests/{}/accept", ada.account_id);
    let (status, body) = http.call("POST", &accept, Some(&bob.token), None, None);
    assert_eq!(status, 200, "{body}");

    // In different rooms, Ada invites her friend Bob.
    let mut a = joined_as(&server, &ada, "hall");
    let mut b = joined_as(&server, &bob, "tiny");
    a.send_party(PartyCommand::Invite { account: bob_id });
    assert!(until(&mut [&mut a, &mut b], |c| !c[1]
        .mirror()
        .party
        .invites
        .is_empty()));
    let party: PartyId = *b.mirror().party.invites.keys().next().unwrap();
    b.send_party(PartyCommand::Accept { party });
    assert!(until(&mut [&mut a, &mut b], |c| c
        .iter()
        .all(|c| party_rooms(c).len() == 2)));
    assert_eq!(
        party_rooms(&a),
        [
            ("Ada".into(), Some("hall".into())),
            ("Bob".into(), Some("tiny".into()))
        ]
    );

    // Bob joins his friend's room.
    let (status, body) = http.call(
        "POST",
        &format!("/api/v1/friends/{}/join", ada.account_id),
        Some(&bob.token),
        None,
        None,
    );
    assert_eq!(status, 200, "{body}");
    let ticket: JoinTicket = serde_json::from_value(body).unwrap();
    b.disconnect();
    let mut b = NetClient::connect(&ticket).expect("connect");
    assert!(until(&mut [&mut a, &mut b], |c| in_room(c[1], "hall")
        && party_rooms(c[0])
            .iter()
            .all(|(_, r)| r.as_deref() == Some("hall"))));

    // Ada, the leader, moves to the tiny room: Bob is offered to follow and
    // follows with the ordinary join.
    a.disconnect();
    let mut a = joined_as(&server, &ada, "tiny");
    assert!(until(&mut [&mut a, &mut b], |c| c[1]
        .mirror()
        .party
        .follow
        .as_ref()
        .is_some_and(
            |f| f.room.as_str() == "tiny" && f.leader == ada_id
        )));
    b.disconnect();
    let mut b = joined_as(&server, &bob, "tiny");
    assert!(until(&mut [&mut a, &mut b], |c| c.iter().all(|c| {
        party_rooms(c)
            == [
                ("Ada".to_string(), Some("tiny".to_string())),
                ("Bob".to_string(), Some("tiny".to_string())),
            ]
    })));
    // Each is in the other's room and party: both know the other's avatar.
    for (me, other) in [(&a, bob_id), (&b, ada_id)] {
        assert!(me.mirror().members.values().any(|m| m.account == other));
    }

    // One shared cart, both ways.
    let serum = Sku::new("glow-serum-30ml").unwrap();
    let lipstick = Sku::new("velvet-lipstick-ruby").unwrap();
    a.send_command(RoomCommand::SharedCart(SharedCartCommand::Add {
        sku: serum.clone(),
        quantity: 1,
    }));
    assert!(until(&mut [&mut a, &mut b], |c| shared_lines(c[1]).len() == 1));
    b.send_command(RoomCommand::SharedCart(SharedCartCommand::Add {
        sku: lipstick.clone(),
        quantity: 2,
    }));
    let both = vec![
        (serum.to_string(), 1, ada_id),
        (lipstick.to_string(), 2, bob_id),
    ];
    assert!(until(&mut [&mut a, &mut b], |c| c
        .iter()
        .all(|c| shared_lines(c) == both)));

    // Each pays for their own lines: two orders, each of what its payer
    // was shown.
    let shown = |c: &NetClient| {
        let me = c.mirror().my_account().unwrap();
        let cart = c.mirror().shared_cart.clone().unwrap();
        cart.to_pay(me, SharedPayment::Mine).unwrap().minor
    };
    let (ada_owes, bob_owes) = (shown(&a), shown(&b));
    let card = PaymentMethod::new("4242424242424242").unwrap();
    for (client, request) in [(&mut a, 1), (&mut b, 2)] {
        let checkout = client
            .mirror()
            .shared_checkout(request, SharedPayment::Mine, card.clone())
            .expect("something to pay for");
        client.send_command(RoomCommand::SharedCart(SharedCartCommand::Checkout(
            checkout,
        )));
    }
    assert!(until(&mut [&mut a, &mut b], |c| {
        c[0].mirror().checkouts.get(&1).is_some_and(|r| r.is_ok())
            && c[1].mirror().checkouts.get(&2).is_some_and(|r| r.is_ok())
    }));
    let (ada_orders, bob_orders) = (paid_orders(&http, &ada), paid_orders(&http, &bob));
    assert_eq!((ada_orders, bob_orders), (vec![ada_owes], vec![bob_owes]));
    assert_ne!(ada_owes, bob_owes, "each paid for their own lines");
    assert!(until(&mut [&mut a, &mut b], |c| c
        .iter()
        .all(|c| shared_lines(c).is_empty())));
}
