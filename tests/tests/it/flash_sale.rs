//! Flash sales over HTTP: a thousand buyers race for a hundred units, and
//! every malformed or repeated claim gets a typed answer without changing
//! what it must not.

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vitrine_client::net::NetClient;
use vitrine_server::config::RateConfig;
use vitrine_shared::Role;
use vitrine_shared::api::{ClaimView, FlashSaleView, OrderList};
use vitrine_shared::protocol::{ClaimRefusal, CommerceEventNet, RejectReason};
use vitrine_shared::{RoomCommand, SaleId};
use vitrine_tests::{Http, TestServer, guest, joined_client, pump, pump_all, step_until, stock_of};

fn start_sale(http: &Http, host: &str, sku: &str, quantity: i64, limit: i64) -> FlashSaleView {
    let body = json!({
        "sku": sku, "sale_price_minor": 990, "currency": "EUR", "quantity": quantity,
        "per_buyer_limit": limit, "countdown_secs": 10, "duration_secs": 120,
    });
    let (status, body) = http.call("POST", "/api/v1/flash-sales", Some(host), None, Some(body));
    assert_eq!(status, 201, "{body}");
    serde_json::from_value(body).unwrap()
}

/// Polls the sale (as a shopper's app would) until it opens, keeping room
/// clients' links alive meanwhile; the countdown is at least 10 s by rule.
fn wait_until_live(http: &Http, sale: SaleId, clients: &mut [NetClient]) {
    let live = step_until(Duration::from_secs(30), || {
        pump_all(clients);
        let (_, body) = http.call(
            "GET",
            &format!("/api/v1/flash-sales/{sale}"),
            None,
            None,
            None,
        );
        body["state"] == "live"
    });
    assert!(live, "the sale never opened");
}

#[test]
fn a_thousand_buyers_over_udp_and_http_race_for_a_hundred_units() {
    let server = TestServer::start_with(|c| {
        c.http_rate = RateConfig {
            per_second: 1e6,
            burst: 1_000_000,
        }
    });
    let http = Http::new(&server);
    let host = server.sign_in_as("host.race", Role::Host);
    let (product, sku) = ("stoneware-mug", "stoneware-mug-oat");
    let stock_before = stock_of(&http, product, sku);

    // 900 over HTTP, then 100 shoppers in the room. A room client not
    // pumped for the netcode timeout (10 s) is dropped, so the web buyers
    // sign in first, and each join keeps the earlier joiners' links alive.
    let buyers: Vec<String> = (0..900)
        .map(|i| guest(&http, &format!("Web {i}")))
        .collect();
    let mut room: Vec<NetClient> = Vec::with_capacity(100);
    for i in 0..100 {
        room.push(joined_client(&server, &format!("Room {i}"), "hall"));
        pump_all(&mut room);
    }
    let sale = start_sale(&http, &host, sku, 100, 1);
    assert_eq!(sale.state, "countdown");
    assert_eq!(
        stock_of(&http, product, sku),
        stock_before - 100,
        "the sale's units left normal stock"
    );
    wait_until_live(&http, sale.id, &mut room);

    // Everyone at once: 45 HTTP threads of 20 buyers, and the room's taps.
    let results = Arc::new(Mutex::new(Vec::new()));
    let buyers = Arc::new(buyers);
    let threads: Vec<_> = (0..45)
        .map(|t| {
            let (buyers, results, base) = (buyers.clone(), results.clone(), server.url());
            std::thread::spawn(move || {
                let http = Http::at(&base);
                for b in (t * 20)..(t * 20 + 20) {
                    let key = format!("race-{b}");
                    let path = format!("/api/v1/flash-sales/{}/claims", sale.id);
                    let reply = http.call(
                        "POST",
                        &path,
                        Some(&buyers[b]),
                        Some(&key),
                        Some(json!({ "quantity": 1 })),
                    );
                    results.lock().unwrap().push((b, reply));
                }
            })
        })
        .collect();
    for client in room.iter_mut() {
        client.send_command(RoomCommand::ClaimFlashSale {
            sale_id: sale.id,
            quantity: 1,
        });
    }
    let answered = step_until(Duration::from_secs(60), || {
        pump_all(&mut room);
        room.iter()
            .all(|c| !c.mirror().claims.is_empty() || !c.mirror().rejections.is_empty())
    });
    assert!(answered, "some taps got no answer");
    for t in threads {
        t.join().unwrap();
    }
    let results = results.lock().unwrap();
    assert_eq!(results.len(), 900);
    let web_winners: Vec<&(usize, (u16, Value))> =
        results.iter().filter(|(_, (s, _))| *s == 201).collect();
    let web_losers = results
        .iter()
        .filter(|(_, (s, b))| *s == 409 && b["code"] == "sold_out")
        .count();
    let room_winners = room.iter().filter(|c| c.mirror().claims.len() == 1).count();
    let room_losers = room
        .iter()
        .filter(|c| {
            c.mirror()
                .rejections
                .iter()
                .any(|r| r.reason == RejectReason::Claim(ClaimRefusal::SoldOut))
        })
        .count();
    assert_eq!(
        web_winners.len() + room_winners,
        100,
        "exactly the units on offer were sold"
    );
    assert_eq!(
        web_losers + room_losers,
        900,
        "everyone else was told it sold out"
    );

    // The sale, the orders and the stock agree.
    let (_, body) = http.call(
        "GET",
        &format!("/api/v1/flash-sales/{}", sale.id),
        None,
        None,
        None,
    );
    let after: FlashSaleView = serde_json::from_value(body).unwrap();
    assert_eq!(
        (after.sold, after.units_left, after.state.as_str()),
        (100, 0, "sold_out")
    );
    let mut ordered = room_winners as i64;
    for (b, (_, claim)) in &web_winners {
        let claim: ClaimView = serde_json::from_value(claim.clone()).unwrap();
        assert_eq!(claim.unit_price.minor, 990, "the server set the price");
        let (_, body) = http.call("GET", "/api/v1/orders", Some(&buyers[*b]), None, None);
        let orders: OrderList = serde_json::from_value(body).unwrap();
        assert_eq!(orders.orders.len(), 1);
        assert_eq!(orders.orders[0].id, claim.order_id);
        ordered += orders.orders[0]
            .lines
            .iter()
            .map(|l| l.quantity)
            .sum::<i64>();
    }
    let stock_now = stock_of(&http, product, sku);
    assert_eq!(ordered, 100);
    assert_eq!(
        stock_now + after.units_left + ordered,
        stock_before,
        "no unit lost or made up"
    );
    // And the room saw it sell out.
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut room);
        room.iter().all(|c| {
            c.mirror()
                .flash_sales
                .get(&sale.id)
                .is_some_and(|s| s.units_left == 0)
        })
    }));
}

#[test]
fn every_room_sees_the_countdown_and_the_units_left_and_buys_in_one_tap() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.show", Role::Host);
    let mut a = joined_client(&server, "Ana", "hall");
    let mut b = joined_client(&server, "Ben", "hall");
    let mut c = joined_client(&server, "Cy", "tiny");
    let sale = start_sale(&http, &host, "canvas-tote-navy", 5, 1);
    let announced = step_until(Duration::from_secs(10), || {
        pump(&mut [&mut a, &mut b, &mut c]);
        [&a, &b, &c].iter().all(|m| {
            m.mirror()
                .flash_sales
                .get(&sale.id)
                .is_some_and(|s| s.units_left == 5 && s.starts_at_ms == sale.starts_at_ms)
        })
    });
    assert!(announced, "every room, not just one, hears of the sale");
    // Someone arriving during the countdown is told in the welcome.
    let late = joined_client(&server, "Late", "hall");
    assert!(late.mirror().flash_sales.contains_key(&sale.id));

    let mut all = vec![a, b, c, late];
    wait_until_live(&http, sale.id, &mut all);
    all[0].send_command(RoomCommand::ClaimFlashSale {
        sale_id: sale.id,
        quantity: 1,
    });
    let bought = step_until(Duration::from_secs(10), || {
        pump_all(&mut all);
        !all[0].mirror().claims.is_empty()
            && all
                .iter()
                .all(|m| m.mirror().flash_sales[&sale.id].units_left == 4)
    });
    assert!(bought);
    let CommerceEventNet::Claimed {
        total, quantity, ..
    } = &all[0].mirror().claims[0]
    else {
        unreachable!()
    };
    assert_eq!((total.minor, *quantity), (990, 1));

    // A claim over HTTP shows in every room too.
    let web = guest(&http, "Web");
    let path = format!("/api/v1/flash-sales/{}/claims", sale.id);
    assert_eq!(
        http.call(
            "POST",
            &path,
            Some(&web),
            None,
            Some(json!({ "quantity": 1 }))
        )
        .0,
        201
    );
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut all);
        all.iter()
            .all(|m| m.mirror().flash_sales[&sale.id].units_left == 3)
    }));

    // Over the limit, and a silly quantity: typed refusals, nothing sold.
    all[0].send_command(RoomCommand::ClaimFlashSale {
        sale_id: sale.id,
        quantity: 1,
    });
    all[0].send_command(RoomCommand::ClaimFlashSale {
        sale_id: sale.id,
        quantity: 0,
    });
    all[0].send_command(RoomCommand::ClaimFlashSale {
        sale_id: SaleId(7),
        quantity: 1,
    });
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut all);
        all[0].mirror().rejections.len() >= 3
    }));
    let reasons: Vec<&RejectReason> = all[0]
        .mirror()
        .rejections
        .iter()
        .map(|r| &r.reason)
        .collect();
    assert_eq!(
        reasons,
        [
            &RejectReason::Claim(ClaimRefusal::LimitReached {
                limit: 1,
                remaining: 0
            }),
            &RejectReason::Claim(ClaimRefusal::BadQuantity),
            &RejectReason::Claim(ClaimRefusal::UnknownSale),
        ]
    );
    let (_, body) = http.call(
        "GET",
        &format!("/api/v1/flash-sales/{}", sale.id),
        None,
        None,
        None,
    );
    assert_eq!(body["sold"], 2);
}

#[test]
fn bad_and_repeated_claims_get_typed_answers_and_change_nothing() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.rules", Role::Host);
    let shopper = guest(&http, "Shopper");
    let sku = "pocket-speaker-teal";

    // Starting a sale: only staff, only real SKUs, only sane parameters.
    let base = json!({
        "sku": sku, "sale_price_minor": 2900, "currency": "EUR", "quantity": 10,
        "per_buyer_limit": 2, "countdown_secs": 10, "duration_secs": 120,
    });
    let with = |key: &str, value: Value| {
        let mut b = base.clone();
        b[key] = value;
        b
    };
    let start = |token: &str, body: Value| {
        http.call("POST", "/api/v1/flash-sales", Some(token), None, Some(body))
    };
    assert_eq!(start(&shopper, base.clone()).1["code"], "forbidden");
    let refusals = [
        ("sku", json!("no-such-sku"), "unknown_sku"),
        ("countdown_secs", json!(5), "invalid_sale"),
        ("duration_secs", json!(3600), "invalid_sale"),
        ("sale_price_minor", json!(999_999), "invalid_sale"),
        ("currency", json!("USD"), "invalid_sale"),
        ("quantity", json!(1_000_000), "not_enough_stock"),
        ("per_buyer_limit", json!(0), "invalid_sale"),
    ];
    for (key, value, code) in refusals {
        assert_eq!(start(&host, with(key, value)).1["code"], code, "{key}");
    }
    let stock_before = stock_of(&http, "pocket-speaker", sku);
    let (status, body) = start(&host, base.clone());
    assert_eq!(status, 201, "{body}");
    let sale: FlashSaleView = serde_json::from_value(body).unwrap();
    assert_eq!(stock_of(&http, "pocket-speaker", sku), stock_before - 10);

    let claim = |token: &str, key: Option<&str>, body: Value| {
        http.call(
            "POST",
            &format!("/api/v1/flash-sales/{}/claims", sale.id),
            Some(token),
            key,
            Some(body),
        )
    };
    // Too early.
    let (status, body) = claim(&shopper, None, json!({ "quantity": 1 }));
    assert_eq!((status, body["code"].as_str()), (409, Some("not_started")));
    wait_until_live(&http, sale.id, &mut []);

    // Malformed quantities and a client-sent price.
    for q in [json!(0), json!(-1), json!(1_000_000)] {
        let (status, body) = claim(&shopper, None, json!({ "quantity": q }));
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("bad_quantity")),
            "{q}"
        );
    }
    let (status, body) = claim(
        &shopper,
        None,
        json!({ "quantity": 1, "unit_price_minor": 1 }),
    );
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_body")));
    for key in ["has a space".to_owned(), "k".repeat(300)] {
        let (status, body) = claim(&shopper, Some(&key), json!({ "quantity": 1 }));
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_idempotency_key"))
        );
    }
    let (status, body) = http.call(
        "POST",
        "/api/v1/flash-sales/424242/claims",
        Some(&shopper),
        None,
        Some(json!({})),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("sale_not_found"))
    );

    // The same request replayed ten times is one order.
    let first = claim(&shopper, Some("tap-1"), json!({ "quantity": 1 }));
    assert_eq!(first.0, 201, "{}", first.1);
    for _ in 0..9 {
        let again = claim(&shopper, Some("tap-1"), json!({ "quantity": 1 }));
        assert_eq!(again.0, 201);
        assert_eq!(again.1["order_id"], first.1["order_id"]);
    }
    // The same key with another body is refused.
    let (status, body) = claim(&shopper, Some("tap-1"), json!({ "quantity": 2 }));
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("idempotency_conflict"))
    );
    // The per-buyer limit is 2: one more fits, then no more.
    assert_eq!(
        claim(&shopper, Some("tap-2"), json!({ "quantity": 1 })).0,
        201
    );
    let (status, body) = claim(&shopper, Some("tap-3"), json!({ "quantity": 1 }));
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("limit_reached"))
    );

    let (_, body) = http.call("GET", "/api/v1/orders", Some(&shopper), None, None);
    let orders: OrderList = serde_json::from_value(body).unwrap();
    assert_eq!(
        orders.orders.len(),
        2,
        "ten taps and a conflict made one order, plus the second"
    );
    let (_, body) = http.call(
        "GET",
        &format!("/api/v1/flash-sales/{}", sale.id),
        None,
        None,
        None,
    );
    assert_eq!(body["sold"], 2);
    // Orders are private.
    let other = guest(&http, "Other");
    let id = orders.orders[0].id;
    let (status, body) = http.call(
        "GET",
        &format!("/api/v1/orders/{id}"),
        Some(&other),
        None,
        None,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("order_not_found"))
    );
    let (status, _) = http.call(
        "GET",
        &format!("/api/v1/orders/{id}"),
        Some(&shopper),
        None,
        None,
    );
    assert_eq!(status, 200);
}

#[test]
fn claims_survive_a_restart_and_retries_still_find_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let keep_data = move |c: &mut vitrine_server::config::ServerConfig| {
        c.data_dir = data.clone();
        c.database_url = vitrine_tests::test_database(&data);
    };
    let server = TestServer::start_with(keep_data.clone());
    let http = Http::new(&server);
    let host = server.sign_in_as("host.restart", Role::Host);
    let shopper = guest(&http, "Loyal");
    let sale = start_sale(&http, &host, "soy-candle-fig-cedar", 5, 2);
    wait_until_live(&http, sale.id, &mut []);
    let path = format!("/api/v1/flash-sales/{}/claims", sale.id);
    let (status, first) = http.call(
        "POST",
        &path,
        Some(&shopper),
        Some("once"),
        Some(json!({ "quantity": 2 })),
    );
    assert_eq!(status, 201, "{first}");
    server.stop().unwrap();

    let server = TestServer::start_with(keep_data);
    let http = Http::new(&server);
    let (_, body) = http.call(
        "GET",
        &format!("/api/v1/flash-sales/{}", sale.id),
        None,
        None,
        None,
    );
    assert_eq!(
        (body["sold"].as_i64(), body["units_left"].as_i64()),
        (Some(2), Some(3))
    );
    // Rooms started after the restart still show the open sale.
    let newcomer = joined_client(&server, "Newcomer", "hall");
    let shown = newcomer
        .mirror()
        .flash_sales
        .get(&sale.id)
        .map(|s| s.units_left);
    assert_eq!(shown, Some(3));
    // The session, the order, the key and the per-buyer count all survived.
    let (status, again) = http.call(
        "POST",
        &path,
        Some(&shopper),
        Some("once"),
        Some(json!({ "quantity": 2 })),
    );
    assert_eq!((status, &again["order_id"]), (201, &first["order_id"]));
    let (status, body) = http.call(
        "POST",
        &path,
        Some(&shopper),
        Some("twice"),
        Some(json!({ "quantity": 1 })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("limit_reached"))
    );
}

#[test]
fn payment_declines_and_timeouts_cancel_the_order_and_release_its_units() {
    let server = TestServer::start_with(|c| c.payment_timeout = Duration::from_secs(1));
    let http = Http::new(&server);
    let host = server.sign_in_as("host.pay", Role::Host);
    let (product, sku) = ("amber-perfume", "amber-perfume-50ml");
    let stock_before = stock_of(&http, product, sku);
    let sale = start_sale(&http, &host, sku, 3, 1);
    let [ana, ben, cy, dee] = ["Ana", "Ben", "Cy", "Dee"].map(|n| guest(&http, n));
    wait_until_live(&http, sale.id, &mut []);
    let claim_path = format!("/api/v1/flash-sales/{}/claims", sale.id);
    let claim = |token: &str| {
        http.call(
            "POST",
            &claim_path,
            Some(token),
            None,
            Some(json!({ "quantity": 1 })),
        )
    };
    let order_of = |reply: (u16, Value)| {
        assert_eq!(reply.0, 201, "{}", reply.1);
        reply.1["order_id"].as_i64().unwrap()
    };
    let pay = |token: &str, order: i64, card: &str| {
        http.call(
            "POST",
            &format!("/api/v1/orders/{order}/pay"),
            Some(token),
            None,
            Some(json!({ "card": card })),
        )
    };
    let units_left = || {
        http.call(
            "GET",
            &format!("/api/v1/flash-sales/{}", sale.id),
            None,
            None,
            None,
        )
        .1["units_left"]
            .as_i64()
    };
    let (a, b, c) = (
        order_of(claim(&ana)),
        order_of(claim(&ben)),
        order_of(claim(&cy)),
    );
    assert_eq!(units_left(), Some(0));

    // Approved, and paying again answers the same paid order.
    let (status, paid) = pay(&ana, a, "4242 4242 4242 4242");
    assert_eq!(
        (status, paid["status"].as_str()),
        (200, Some("paid")),
        "{paid}"
    );
    let (status, again) = pay(&ana, a, "4242424242424242");
    assert_eq!(
        (status, &again["id"], again["status"].as_str()),
        (200, &paid["id"], Some("paid"))
    );
    // Someone else's order is not found.
    assert_eq!(
        pay(&ben, a, "4242424242424242").1["code"],
        "order_not_found"
    );

    // Declined: the order is cancelled and its unit is back on sale.
    let (status, body) = pay(&ben, b, "4000000000000002");
    assert_eq!(
        (status, body["code"].as_str()),
        (402, Some("payment_declined"))
    );
    assert_eq!(units_left(), Some(1));
    let (_, order) = http.call(
        "GET",
        &format!("/api/v1/orders/{b}"),
        Some(&ben),
        None,
        None,
    );
    assert_eq!(order["status"], "cancelled");
    assert_eq!(
        pay(&ben, b, "4242424242424242").1["code"],
        "order_not_payable"
    );
    // The released unit can be bought, by someone new or by the same buyer.
    let d = order_of(claim(&dee));
    assert_eq!(units_left(), Some(0));

    // The provider never answers: after the timeout, cancelled and released.
    let (status, body) = pay(&cy, c, "4000000000000119");
    assert_eq!(
        (status, body["code"].as_str()),
        (504, Some("payment_timeout"))
    );
    assert_eq!(units_left(), Some(1));
    let b2 = order_of(claim(&ben));
    assert_eq!(pay(&ben, b2, "4242424242424242").0, 200);
    assert_eq!(pay(&dee, d, "4242424242424242").0, 200);

    // Units: variant stock + the sale's units left + units in live orders.
    let mut live = 0;
    for (token, order) in [(&ana, a), (&ben, b), (&cy, c), (&dee, d), (&ben, b2)] {
        let (_, o) = http.call(
            "GET",
            &format!("/api/v1/orders/{order}"),
            Some(token),
            None,
            None,
        );
        if o["status"] != "cancelled" {
            live += o["lines"][0]["quantity"].as_i64().unwrap();
        }
    }
    assert_eq!(live, 3);
    assert_eq!(
        stock_of(&http, product, sku) + units_left().unwrap() + live,
        stock_before
    );
}

#[test]
fn an_unpaid_claim_expires_after_its_hold_and_releases_its_unit() {
    let server = TestServer::start_with(|c| c.payment_hold = Duration::from_secs(1));
    let http = Http::new(&server);
    let host = server.sign_in_as("host.hold", Role::Host);
    let sale = start_sale(&http, &host, "silk-scarf-floral", 2, 1);
    let (slow, quick) = (guest(&http, "Slow"), guest(&http, "Quick"));
    wait_until_live(&http, sale.id, &mut []);
    let path = format!("/api/v1/flash-sales/{}/claims", sale.id);
    let (status, claim) = http.call(
        "POST",
        &path,
        Some(&slow),
        None,
        Some(json!({ "quantity": 1 })),
    );
    assert_eq!(status, 201, "{claim}");
    let order = claim["order_id"].as_i64().unwrap();
    let (status, other) = http.call(
        "POST",
        &path,
        Some(&quick),
        None,
        Some(json!({ "quantity": 1 })),
    );
    assert_eq!(status, 201, "{other}");
    let paid = http.call(
        "POST",
        &format!("/api/v1/orders/{}/pay", other["order_id"]),
        Some(&quick),
        None,
        Some(json!({ "card": "4242424242424242" })),
    );
    assert_eq!(paid.0, 200);
    // The unpaid one lapses after its one-second hold; the paid one stays.
    let lapsed = step_until(Duration::from_secs(15), || {
        let (_, o) = http.call(
            "GET",
            &format!("/api/v1/orders/{order}"),
            Some(&slow),
            None,
            None,
        );
        o["status"] == "cancelled"
    });
    assert!(lapsed, "the unpaid order never expired");
    let (_, s) = http.call(
        "GET",
        &format!("/api/v1/flash-sales/{}", sale.id),
        None,
        None,
        None,
    );
    assert_eq!(
        (s["sold"].as_i64(), s["units_left"].as_i64()),
        (Some(1), Some(1))
    );
    let (_, o) = http.call(
        "GET",
        &format!("/api/v1/orders/{}", other["order_id"]),
        Some(&quick),
        None,
        None,
    );
    assert_eq!(o["status"], "paid");
    let late = http.call(
        "POST",
        &format!("/api/v1/orders/{order}/pay"),
        Some(&slow),
        None,
        Some(json!({ "card": "4242424242424242" })),
    );
    assert_eq!(
        (late.0, late.1["code"].as_str()),
        (409, Some("order_not_payable"))
    );
}

#[test]
fn orders_go_paid_fulfilled_delivered_and_returns_refund_with_a_reason() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.orders", Role::Host);
    let (product, sku) = ("studio-headphones", "studio-headphones-sand");
    let sale = start_sale(&http, &host, sku, 2, 1);
    let stock_during_sale = stock_of(&http, product, sku);
    let (buyer, stranger) = (guest(&http, "Buyer"), guest(&http, "Stranger"));
    wait_until_live(&http, sale.id, &mut []);
    let path = format!("/api/v1/flash-sales/{}/claims", sale.id);
    let (_, claim) = http.call(
        "POST",
        &path,
        Some(&buyer),
        None,
        Some(json!({ "quantity": 1 })),
    );
    let order = claim["order_id"].as_i64().unwrap();
    let step = |token: &str, what: &str, body: Option<Value>| {
        http.call(
            "POST",
            &format!("/api/v1/orders/{order}/{what}"),
            Some(token),
            None,
            body,
        )
    };
    let reason = |text: &str| Some(json!({ "reason": text }));

    assert_eq!(
        step(&buyer, "refund", reason("changed my mind")).1["code"],
        "order_state",
        "not paid yet"
    );
    assert_eq!(
        step(&buyer, "pay", Some(json!({ "card": "4242424242424242" }))).1["status"],
        "paid"
    );
    assert_eq!(step(&buyer, "fulfil", None).1["code"], "forbidden");
    assert_eq!(
        step(&host, "deliver", None).1["code"],
        "order_state",
        "not fulfilled yet"
    );
    assert_eq!(step(&host, "fulfil", None).1["status"], "fulfilled");
    assert_eq!(step(&host, "fulfil", None).1["code"], "order_state");
    assert_eq!(
        step(&buyer, "refund", reason("too big")).1["code"],
        "order_state",
        "returns follow delivery"
    );
    assert_eq!(step(&host, "deliver", None).1["status"], "delivered");

    // A return: a reason is required; strangers cannot return it.
    assert_eq!(
        step(&buyer, "refund", reason("  ")).1["code"],
        "invalid_reason"
    );
    assert_eq!(
        step(&stranger, "refund", reason("mine now")).1["code"],
        "order_not_found"
    );
    let (status, refunded) = step(
        &buyer,
        "refund",
        reason("The sand colour is darker than on stream"),
    );
    assert_eq!(status, 200, "{refunded}");
    assert_eq!(refunded["status"], "refunded");
    assert_eq!(
        refunded["return_reason"],
        "The sand colour is darker than on stream"
    );
    assert_eq!(
        step(&buyer, "refund", reason("again")).1["code"],
        "order_state",
        "refunded once"
    );
    // The returned unit is back in stock.
    assert_eq!(stock_of(&http, product, sku), stock_during_sale + 1);
}
