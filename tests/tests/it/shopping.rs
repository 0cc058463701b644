//! Carts, checkout and coupons end to end: over HTTP, and from the room
//! over the game link, with bad input, double submits and a buyer who
//! vanishes mid-checkout.

use serde_json::{Value, json};
use std::time::Duration;
use vitrine_client::net::RoomChange;
use vitrine_shared::api::{CartView, CouponView, OrderList, OrderView};
use vitrine_shared::protocol::{
    CartChange, CheckoutCommand, CommandKind, CommerceEventNet, OrderStatus, Purchase,
    RejectReason, ShopRefusal,
};
use vitrine_shared::{CouponCode, PaymentMethod, Role, RoomCommand, Sku};
use vitrine_tests::{Http, TestServer, guest, joined_as, now_ms, pump, step_until, stock_of};

const MUG: (&str, &str) = ("stoneware-mug", "stoneware-mug-sage");
const SERUM: (&str, &str) = ("glow-serum", "glow-serum-30ml");
const APPROVED: &str = "4242 4242 4242 4242";
const DECLINED: &str = "4000000000000002";
const NO_ANSWER: &str = "4000000000000119";

fn orders(http: &Http, token: &str) -> Vec<OrderView> {
    let (status, body) = http.call("GET", "/api/v1/orders", Some(token), None, None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_value::<OrderList>(body).unwrap().orders
}

fn cart(http: &Http, token: &str) -> CartView {
    let (status, body) = http.call("GET", "/api/v1/cart", Some(token), None, None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

fn add(http: &Http, token: &str, sku: &str, quantity: i64) -> (u16, Value) {
    let body = json!({ "sku": sku, "quantity": quantity });
    http.call("POST", "/api/v1/cart/items", Some(token), None, Some(body))
}

fn checkout(http: &Http, token: &str, key: &str, body: Value) -> (u16, Value) {
    http.call(
        "POST",
        "/api/v1/checkout",
        Some(token),
        Some(key),
        Some(body),
    )
}

#[test]
fn a_cart_and_its_checkout_over_http() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let ada = guest(&http, "Ada");
    let mug0 = stock_of(&http, MUG.0, MUG.1);

    let (status, body) = add(&http, &ada, MUG.1, 2);
    assert_eq!(status, 200, "{body}");
    let view: CartView = serde_json::from_value(body).unwrap();
    assert_eq!(view.lines[0].quantity, 2);
    assert!(view.lines[0].held_until_ms > now_ms() + 590_000);
    assert_eq!(stock_of(&http, MUG.0, MUG.1), mug0 - 2, "held for Ada");
    assert_eq!(add(&http, &ada, SERUM.1, 1).0, 200);
    let path = format!("/api/v1/cart/items/{}", SERUM.1);
    let (status, _) = http.call(
        "PUT",
        &path,
        Some(&ada),
        None,
        Some(json!({ "quantity": 3 })),
    );
    assert_eq!(status, 200);
    let (status, _) = http.call("DELETE", &path, Some(&ada), None, None);
    assert_eq!(status, 200);
    let view = cart(&http, &ada);
    assert_eq!(view.lines.len(), 1);
    let subtotal = view.subtotal.clone().unwrap();
    assert_eq!(subtotal.minor, view.lines[0].unit_price.minor * 2);

    // No key, no purchase: a retry could otherwise buy twice.
    let (status, body) = http.call(
        "POST",
        "/api/v1/checkout",
        Some(&ada),
        None,
        Some(json!({ "card": APPROVED })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("idempotency_key_required"))
    );

    // The same key and body, ten times: one order.
    let mut ids = Vec::new();
    for _ in 0..10 {
        let (status, body) = checkout(&http, &ada, "cart-1", json!({ "card": APPROVED }));
        assert_eq!(status, 201, "{body}");
        let order: OrderView = serde_json::from_value(body).unwrap();
        assert_eq!(
            (order.status.as_str(), order.source.as_str()),
            ("paid", "cart")
        );
        assert_eq!(order.total, subtotal);
        ids.push(order.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    // Same key, another body: 409, as Stripe answers.
    let (status, body) = checkout(&http, &ada, "cart-1", json!({ "card": DECLINED }));
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("idempotency_conflict"))
    );
    assert!(cart(&http, &ada).lines.is_empty());
    assert_eq!(orders(&http, &ada).len(), 1);
    assert_eq!(stock_of(&http, MUG.0, MUG.1), mug0 - 2);

    // Buy now, declined: the units go back and the order says why.
    let serum0 = stock_of(&http, SERUM.0, SERUM.1);
    let body = json!({ "buy_now": { "sku": SERUM.1, "quantity": 2 }, "card": DECLINED });
    let (status, reply) = checkout(&http, &ada, "now-1", body.clone());
    assert_eq!(
        (status, reply["code"].as_str()),
        (402, Some("payment_declined"))
    );
    assert_eq!(stock_of(&http, SERUM.0, SERUM.1), serum0);
    let latest = &orders(&http, &ada)[0];
    assert_eq!(latest.status, "cancelled");
    assert!(latest.failure.as_deref().unwrap().starts_with("declined"));
    // Retrying the declined request answers the decline again.
    let (status, _) = checkout(&http, &ada, "now-1", body);
    assert_eq!(status, 402);
    assert_eq!(orders(&http, &ada).len(), 2);
}

#[test]
fn bad_cart_and_checkout_requests_change_nothing() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let ada = guest(&http, "Ada");
    assert_eq!(add(&http, &ada, MUG.1, 1).0, 200);
    let before = cart(&http, &ada);
    let stock = stock_of(&http, MUG.0, MUG.1);

    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        (
            "POST",
            "/api/v1/cart/items",
            json!({ "sku": MUG.1, "quantity": 0 }),
            400,
            "bad_quantity",
        ),
        (
            "POST",
            "/api/v1/cart/items",
            json!({ "sku": MUG.1, "quantity": -2 }),
            400,
            "bad_quantity",
        ),
        (
            "POST",
            "/api/v1/cart/items",
            json!({ "sku": MUG.1, "quantity": 101 }),
            400,
            "bad_quantity",
        ),
        (
            "POST",
            "/api/v1/cart/items",
            json!({ "sku": MUG.1, "quantity": 99_999_999_999_999_i64 }),
            400,
            "bad_quantity",
        ),
        (
            "POST",
            "/api/v1/cart/items",
            json!({ "sku": MUG.1, "quantity": 1e30 }),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/cart/items",
            json!({ "sku": MUG.1, "quantity": "3" }),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/cart/items",
            json!({ "sku": MUG.1, "price_minor": 1 }),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/cart/items",
            json!({ "sku": "no-such-sku" }),
            404,
            "unknown_sku",
        ),
        (
            "POST",
            "/api/v1/cart/items",
            json!({ "sku": "../../etc" }),
            404,
            "unknown_sku",
        ),
        (
            "PUT",
            "/api/v1/cart/items/stoneware-mug-sage",
            json!({ "quantity": -1 }),
            400,
            "bad_quantity",
        ),
        (
            "PUT",
            "/api/v1/cart/items/stoneware-mug-sage",
            json!({ "quantity": 101 }),
            400,
            "bad_quantity",
        ),
        // The client never sends a price; one that tries is refused whole.
        (
            "POST",
            "/api/v1/checkout",
            json!({ "card": APPROVED, "total_minor": 1 }),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/checkout",
            json!({ "buy_now": { "sku": MUG.1, "quantity": 1, "unit_price_minor": 1 }, "card": APPROVED }),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/checkout",
            json!({ "buy_now": { "sku": MUG.1, "quantity": 0 }, "card": APPROVED }),
            400,
            "bad_quantity",
        ),
        (
            "POST",
            "/api/v1/checkout",
            json!({ "buy_now": { "sku": MUG.1, "quantity": -1 }, "card": APPROVED }),
            400,
            "bad_quantity",
        ),
        (
            "POST",
            "/api/v1/checkout",
            json!({ "buy_now": { "sku": MUG.1, "quantity": 1_000_000 }, "card": APPROVED }),
            400,
            "bad_quantity",
        ),
        (
            "POST",
            "/api/v1/checkout",
            json!({ "buy_now": { "sku": "ghost" }, "card": APPROVED }),
            404,
            "unknown_sku",
        ),
        (
            "POST",
            "/api/v1/checkout",
            json!({ "coupon": "NO-SUCH", "card": APPROVED }),
            404,
            "coupon_not_found",
        ),
        (
            "POST",
            "/api/v1/checkout",
            json!({ "coupon": "bad code!", "card": APPROVED }),
            404,
            "coupon_not_found",
        ),
        (
            "POST",
            "/api/v1/checkout",
            json!({ "card": "" }),
            400,
            "invalid_card",
        ),
        (
            "POST",
            "/api/v1/checkout",
            json!({ "card": "4".repeat(65) }),
            400,
            "invalid_card",
        ),
        ("POST", "/api/v1/checkout", json!({}), 400, "invalid_body"),
    ];
    for (i, (method, path, body, status, code)) in cases.into_iter().enumerate() {
        let key = format!("bad-{i}");
        let (got, reply) = http.call(method, path, Some(&ada), Some(&key), Some(body.clone()));
        assert_eq!(
            (got, reply["code"].as_str()),
            (status, Some(code)),
            "{method} {path} {body}"
        );
    }
    for key in ["has space".to_owned(), "k".repeat(256)] {
        let (status, reply) = http.call(
            "POST",
            "/api/v1/checkout",
            Some(&ada),
            Some(&key),
            Some(json!({ "card": APPROVED })),
        );
        assert_eq!(
            (status, reply["code"].as_str()),
            (400, Some("invalid_idempotency_key"))
        );
    }
    let (status, _) = http.call("GET", "/api/v1/cart", None, None, None);
    assert_eq!(status, 401);

    assert_eq!(cart(&http, &ada), before, "the cart is as it was");
    assert_eq!(stock_of(&http, MUG.0, MUG.1), stock);
    assert!(orders(&http, &ada).is_empty(), "nothing was bought");
}

fn create_coupon(http: &Http, host: &str, body: Value) -> (u16, Value) {
    http.call("POST", "/api/v1/coupons", Some(host), None, Some(body))
}

#[test]
fn coupons_apply_within_their_rules_and_the_pinned_one_reaches_every_room() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.coupons", Role::Host);
    let (ada, bob) = (guest(&http, "Ada"), guest(&http, "Bob"));
    let unit = {
        let (_, body) = add(&http, &ada, MUG.1, 1);
        let view: CartView = serde_json::from_value(body).unwrap();
        view.lines[0].unit_price.minor
    };
    let path = format!("/api/v1/cart/items/{}", MUG.1);
    http.call("DELETE", &path, Some(&ada), None, None);

    // Hosts only, and only sensible coupons.
    let good = json!({
        "code": "live15", "percent_off": 15, "currency": "EUR",
        "min_order_minor": unit * 2, "max_redemptions": 10, "per_buyer_limit": 1,
        "ends_at_ms": now_ms() + 3_600_000,
    });
    let (status, _) = create_coupon(&http, &ada, good.clone());
    assert_eq!(status, 403);
    for bad in [
        json!({ "code": "X1", "percent_off": 10, "currency": "EUR", "ends_at_ms": now_ms() + 60_000 }),
        json!({ "code": "BOTH", "percent_off": 10, "amount_off_minor": 100, "currency": "EUR", "ends_at_ms": now_ms() + 60_000 }),
        json!({ "code": "NONE", "currency": "EUR", "ends_at_ms": now_ms() + 60_000 }),
        json!({ "code": "PCT", "percent_off": 150, "currency": "EUR", "ends_at_ms": now_ms() + 60_000 }),
        json!({ "code": "PAST", "percent_off": 10, "currency": "EUR", "ends_at_ms": now_ms() - 1 }),
        json!({ "code": "CUR", "percent_off": 10, "currency": "euro", "ends_at_ms": now_ms() + 60_000 }),
    ] {
        let (status, reply) = create_coupon(&http, &host, bad.clone());
        assert_eq!(
            (status, reply["code"].as_str()),
            (400, Some("invalid_coupon")),
            "{bad}"
        );
    }
    let (status, reply) = create_coupon(&http, &host, good.clone());
    assert_eq!(status, 201, "{reply}");
    let coupon: CouponView = serde_json::from_value(reply).unwrap();
    assert_eq!(
        (coupon.code.as_str(), coupon.percent_off),
        ("LIVE15", Some(15))
    );
    assert_eq!(create_coupon(&http, &host, good).0, 409);

    // A shopper in the room sees it pinned, as does one who joins after.
    let session = server.api().sign_in("Cy").unwrap();
    let mut cy = joined_as(&server, &session, "hall");
    assert_eq!(cy.mirror().pinned_coupon, None);
    let pin = json!({ "code": "live15" });
    let (status, _) = http.call(
        "PUT",
        "/api/v1/show/pinned-coupon",
        Some(&ada),
        None,
        Some(pin.clone()),
    );
    assert_eq!(status, 403);
    let (status, reply) = http.call(
        "PUT",
        "/api/v1/show/pinned-coupon",
        Some(&host),
        None,
        Some(pin),
    );
    assert_eq!(status, 200, "{reply}");
    let seen = step_until(Duration::from_secs(10), || {
        pump(&mut [&mut cy]);
        cy.mirror().pinned_coupon.is_some()
    });
    assert!(seen, "the pin reached the room");
    let pinned = cy.mirror().pinned_coupon.clone().unwrap();
    assert_eq!(pinned.code, CouponCode::new("LIVE15").unwrap());
    assert_eq!(pinned.remaining, Some(10));
    let late = joined_as(&server, &server.api().sign_in("Dee").unwrap(), "hall");
    assert_eq!(late.mirror().pinned_coupon, Some(pinned), "in the welcome");

    // Under the minimum, then over it; once per buyer.
    let one = |n: i64| json!({ "buy_now": { "sku": MUG.1, "quantity": n }, "coupon": "Live15", "card": APPROVED });
    let (status, reply) = checkout(&http, &ada, "c1", one(1));
    assert_eq!(
        (status, reply["code"].as_str()),
        (409, Some("coupon_minimum"))
    );
    let (status, reply) = checkout(&http, &ada, "c2", one(2));
    assert_eq!(status, 201, "{reply}");
    let order: OrderView = serde_json::from_value(reply).unwrap();
    assert_eq!(order.discount.minor, unit * 2 * 15 / 100);
    assert_eq!(order.total.minor, unit * 2 - unit * 2 * 15 / 100);
    let (status, reply) = checkout(&http, &ada, "c3", one(2));
    assert_eq!(
        (status, reply["code"].as_str()),
        (409, Some("coupon_limit_reached"))
    );

    // An expired coupon: valid for a moment, then not.
    let ends = now_ms() + 1_000;
    let short =
        json!({ "code": "BLINK", "amount_off_minor": 100, "currency": "EUR", "ends_at_ms": ends });
    assert_eq!(create_coupon(&http, &host, short).0, 201);
    assert!(step_until(Duration::from_secs(10), || now_ms() > ends));
    let body =
        json!({ "buy_now": { "sku": MUG.1, "quantity": 1 }, "coupon": "BLINK", "card": APPROVED });
    let stock = stock_of(&http, MUG.0, MUG.1);
    let (status, reply) = checkout(&http, &bob, "e1", body);
    assert_eq!(
        (status, reply["code"].as_str()),
        (409, Some("coupon_not_active"))
    );
    assert_eq!(stock_of(&http, MUG.0, MUG.1), stock);
    assert!(orders(&http, &bob).is_empty());

    // Unpinned: the room hears that too.
    let (status, _) = http.call(
        "DELETE",
        "/api/v1/show/pinned-coupon",
        Some(&host),
        None,
        None,
    );
    assert_eq!(status, 204);
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut cy]);
        cy.mirror().pinned_coupon.is_none()
    }));
}

fn buy_now(request_id: u32, sku: &str, quantity: u16, card: &str) -> RoomCommand {
    RoomCommand::Checkout(CheckoutCommand {
        request_id,
        items: Purchase::BuyNow {
            sku: Sku::new(sku).unwrap(),
            quantity,
        },
        coupon: None,
        payment: PaymentMethod::new(card).unwrap(),
    })
}

#[test]
fn shopping_from_the_room() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.room", Role::Host);
    let session = server.api().sign_in("Ada").unwrap();
    let token = session.token.clone();
    let mut ada = joined_as(&server, &session, "hall");
    let mug0 = stock_of(&http, MUG.0, MUG.1);

    // The cart, sent on joining, then after each change.
    let got_cart = |ada: &mut vitrine_client::net::NetClient, change: CartChange| {
        step_until(Duration::from_secs(10), || {
            pump(&mut [&mut *ada]);
            ada.mirror_mut().drain_changes().iter().any(|c| {
                matches!(c, RoomChange::Commerce(CommerceEventNet::Cart(cart)) if cart.change == change)
            })
        })
    };
    assert!(got_cart(&mut ada, CartChange::Current));
    ada.send_command(RoomCommand::AddToCart {
        sku: Sku::new(MUG.1).unwrap(),
        quantity: 3,
    });
    assert!(got_cart(&mut ada, CartChange::Updated));
    assert_eq!(ada.mirror().cart[0].quantity, 3);
    assert_eq!(
        cart(&http, &token).lines[0].quantity,
        3,
        "the same cart over HTTP"
    );
    // A web change reaches the room.
    let path = format!("/api/v1/cart/items/{}", MUG.1);
    http.call(
        "PUT",
        &path,
        Some(&token),
        None,
        Some(json!({ "quantity": 2 })),
    );
    assert!(got_cart(&mut ada, CartChange::Updated));
    assert_eq!(ada.mirror().cart[0].quantity, 2);

    // Bad commands are refused with a reason and change nothing.
    ada.send_command(RoomCommand::AddToCart {
        sku: Sku::new(MUG.1).unwrap(),
        quantity: 0,
    });
    ada.send_command(RoomCommand::AddToCart {
        sku: Sku::new("ghost").unwrap(),
        quantity: 1,
    });
    ada.send_command(RoomCommand::SetCartQuantity {
        sku: Sku::new(MUG.1).unwrap(),
        quantity: u16::MAX,
    });
    let refused = step_until(Duration::from_secs(10), || {
        pump(&mut [&mut ada]);
        ada.mirror().rejections.len() >= 3
    });
    assert!(refused);
    let reasons: Vec<_> = ada
        .mirror()
        .rejections
        .iter()
        .map(|r| (r.command, r.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                CommandKind::Cart,
                RejectReason::Shop(ShopRefusal::BadQuantity)
            ),
            (
                CommandKind::Cart,
                RejectReason::Shop(ShopRefusal::UnknownProduct)
            ),
            (
                CommandKind::Cart,
                RejectReason::Shop(ShopRefusal::BadQuantity)
            ),
        ]
    );
    assert_eq!(stock_of(&http, MUG.0, MUG.1), mug0 - 2);

    // A double tap on "buy now": two commands with one request id, one order.
    ada.send_command(buy_now(7, SERUM.1, 1, APPROVED));
    ada.send_command(buy_now(7, SERUM.1, 1, APPROVED));
    let mut done = Vec::new();
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut ada]);
        for change in ada.mirror_mut().drain_changes() {
            if let RoomChange::Commerce(CommerceEventNet::CheckoutDone { request_id, order }) =
                change
            {
                done.push((request_id, order));
            }
        }
        done.len() == 2
    }));
    assert_eq!(done[0], done[1]);
    assert_eq!(done[0].1.status, OrderStatus::Paid);
    let bought = orders(&http, &token);
    assert_eq!(bought.len(), 1);
    assert_eq!(bought[0].id, done[0].1.id);

    // A declined card answers that request, and the cart checks out.
    ada.send_command(buy_now(8, SERUM.1, 1, DECLINED));
    ada.send_command(RoomCommand::Checkout(CheckoutCommand {
        request_id: 9,
        items: Purchase::Cart,
        coupon: None,
        payment: PaymentMethod::new(APPROVED).unwrap(),
    }));
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut ada]);
        ada.mirror().checkouts.contains_key(&8) && ada.mirror().checkouts.contains_key(&9)
    }));
    assert!(matches!(
        ada.mirror().checkouts[&8],
        Err(ShopRefusal::PaymentDeclined { .. })
    ));
    let order = ada.mirror().checkouts[&9].clone().unwrap();
    assert_eq!(order.status, OrderStatus::Paid);
    assert!(ada.mirror().cart.is_empty());
    assert_eq!(stock_of(&http, MUG.0, MUG.1), mug0 - 2);

    // Order events reach the buyer in the room as the order moves on.
    let fulfil = format!("/api/v1/orders/{}/fulfil", order.id);
    assert_eq!(http.call("POST", &fulfil, Some(&host), None, None).0, 200);
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut ada]);
        ada.mirror().orders.get(&order.id).map(|o| o.status) == Some(OrderStatus::Fulfilled)
    }));
}

fn checkout_cart(request_id: u32, card: &str) -> RoomCommand {
    RoomCommand::Checkout(CheckoutCommand {
        request_id,
        items: Purchase::Cart,
        coupon: None,
        payment: PaymentMethod::new(card).unwrap(),
    })
}

#[test]
fn a_buyer_who_disconnects_mid_checkout_loses_nothing() {
    // A provider that never answers keeps the payment under way while the
    // buyer leaves; it gives up after 2 s.
    let server = TestServer::start_with(|c| c.payment_timeout = Duration::from_secs(2));
    let http = Http::new(&server);
    let session = server.api().sign_in("Ada").unwrap();
    let token = session.token.clone();
    let mut ada = joined_as(&server, &session, "hall");
    let mug0 = stock_of(&http, MUG.0, MUG.1);
    ada.send_command(RoomCommand::AddToCart {
        sku: Sku::new(MUG.1).unwrap(),
        quantity: 2,
    });
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut ada]);
        !ada.mirror().cart.is_empty()
    }));

    ada.send_command(checkout_cart(1, NO_ANSWER));
    let paying = step_until(Duration::from_secs(10), || {
        pump(&mut [&mut ada]);
        orders(&http, &token)
            .first()
            .is_some_and(|o| o.status == "pending")
    });
    assert!(paying, "the order was made and is being paid");
    ada.disconnect();
    assert!(
        cart(&http, &token).lines.is_empty(),
        "its lines are in the order"
    );

    // The provider gives up without its buyer there: the order is cancelled
    // and the units go back into the cart, none lost or doubled.
    let settled = step_until(Duration::from_secs(20), || {
        orders(&http, &token)[0].status == "cancelled"
    });
    assert!(settled, "{:?}", orders(&http, &token));
    assert_eq!(
        orders(&http, &token)[0].failure.as_deref(),
        Some("payment_timeout")
    );
    let back = cart(&http, &token);
    assert_eq!(back.lines.len(), 1);
    assert_eq!(back.lines[0].quantity, 2);
    assert_eq!(stock_of(&http, MUG.0, MUG.1), mug0 - 2);

    // Back in the room: the cart is there, and pays with another card.
    let mut again = joined_as(&server, &session, "hall");
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut again]);
        again.mirror().cart.first().map(|l| l.quantity) == Some(2)
    }));
    again.send_command(checkout_cart(2, APPROVED));
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut again]);
        again.mirror().checkouts.contains_key(&2)
    }));
    let paid = again.mirror().checkouts[&2].clone().unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    // The same request sent again (a resend after a reconnect) answers the
    // same order instead of buying again.
    again.send_command(checkout_cart(2, APPROVED));
    let mut answers = 0;
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut again]);
        for change in again.mirror_mut().drain_changes() {
            if let RoomChange::Commerce(CommerceEventNet::CheckoutDone { order, .. }) = change {
                assert_eq!(order.id, paid.id);
                answers += 1;
            }
        }
        answers >= 2
    }));
    assert_eq!(orders(&http, &token).len(), 2);
    assert!(cart(&http, &token).lines.is_empty());
    assert_eq!(stock_of(&http, MUG.0, MUG.1), mug0 - 2);
}

/// A SKU that is not even well formed is refused before any engine sees
/// it, with the answers an unknown SKU gets there (a buyer's 404
/// `unknown_sku`; the host's 400 `invalid_sale`): no order, no sale, no
/// units taken.
#[test]
fn a_malformed_sku_in_a_body_is_refused_at_the_boundary_and_changes_nothing() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.malformed", Role::Host);
    let ada = guest(&http, "Ada");
    let mug = stock_of(&http, MUG.0, MUG.1);

    for (i, bad) in ["Stoneware-Mug-Sage", "../../etc", "", "mug sage"]
        .into_iter()
        .enumerate()
    {
        let (status, body) = checkout(
            &http,
            &ada,
            &format!("malformed-{i}"),
            json!({ "buy_now": { "sku": bad, "quantity": 1 }, "card": APPROVED }),
        );
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("unknown_sku")),
            "{bad}: {body}"
        );
        let sale = json!({
            "sku": bad, "sale_price_minor": 990, "currency": "EUR", "quantity": 5,
            "per_buyer_limit": 1, "countdown_secs": 10, "duration_secs": 120,
        });
        let (status, body) =
            http.call("POST", "/api/v1/flash-sales", Some(&host), None, Some(sale));
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_sale")),
            "{bad}: {body}"
        );
    }
    assert!(orders(&http, &ada).is_empty());
    assert!(cart(&http, &ada).lines.is_empty());
    assert_eq!(stock_of(&http, MUG.0, MUG.1), mug);
}
