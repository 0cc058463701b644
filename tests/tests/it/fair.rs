//! Fair limits over the wire (`vitrine_server::fair`): a network creates at
//! most `guests_per_network_per_day` guests a day, and every guest from one
//! network shares one per-buyer count for flash-sale claims and coupon uses,
//! over HTTP and from the room alike, through a restart; a registered
//! account counts alone. Each "network" is a loopback address of its own:
//! 127.0.0.0/8 all reaches the server on 127.0.0.1.

use serde_json::{Value, json};
use std::net::IpAddr;
use std::time::Duration;
use vitrine_client::net::local_address::next_loopback;
use vitrine_client::net::{ApiClient, NetClient, SignedIn};
use vitrine_server::config::ServerConfig;
use vitrine_shared::api::FlashSaleView;
use vitrine_shared::protocol::{
    CheckoutCommand, ClaimRefusal, Purchase, RejectReason, ShopRefusal,
};
use vitrine_shared::{CouponCode, PaymentMethod, Role, RoomCommand, SaleId, Sku};
use vitrine_tests::{Http, TestServer, joined_as, now_ms, pump_all, step_until};

const TOTE: &str = "canvas-tote-navy";
const CARD: &str = "4242424242424242";
/// The password `TestServer::sign_in_as` gives the accounts it makes.
const PASSWORD: &str = "correct horse battery staple";

fn guest_from(http: &Http, ip: IpAddr, name: &str) -> (u16, Value) {
    http.from_address(ip).call(
        "POST",
        "/api/v1/sessions",
        None,
        None,
        Some(json!({ "display_name": name })),
    )
}

fn token_from(http: &Http, ip: IpAddr, name: &str) -> String {
    let (status, body) = guest_from(http, ip, name);
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// A guest from `ip`, joined to the hall.
fn room_guest(server: &TestServer, ip: IpAddr, name: &str) -> NetClient {
    let session: SignedIn = ApiClient::new(&server.url())
        .from_address(ip)
        .sign_in(name)
        .unwrap();
    joined_as(server, &session, "hall")
}

async fn guests_from(database_url: &str, ip: IpAddr) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(database_url).await.unwrap();
    let made = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM accounts WHERE kind = 'guest' AND network = $1",
    )
    .bind(ip.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    made
}

fn count_guests(server: &TestServer, ip: IpAddr) -> i64 {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(guests_from(&server.config.database_url, ip))
}

#[test]
fn forty_guests_from_one_address_meet_the_guest_limit_at_the_31st_and_nothing_is_made() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let home = next_loopback();
    for i in 1..=40 {
        let (status, body) = guest_from(&http, home, &format!("Guest {i}"));
        if i <= 30 {
            assert_eq!(status, 201, "guest {i}: {body}");
        } else {
            assert_eq!(
                (status, body["code"].as_str()),
                (429, Some("guest_limit")),
                "guest {i}: {body}"
            );
            assert!(!body["message"].as_str().unwrap_or_default().is_empty());
        }
    }
    assert_eq!(
        count_guests(&server, home),
        30,
        "the ten refused made nothing"
    );
    // The next network is not held back, nor is a registered account
    // signing in from the full one.
    assert_eq!(guest_from(&http, next_loopback(), "Neighbour").0, 201);
    server.sign_in_as("reg.fair", Role::Shopper);
    let (status, body) = http.from_address(home).call(
        "POST",
        "/api/v1/sessions",
        None,
        None,
        Some(json!({ "username": "reg.fair", "password": PASSWORD })),
    );
    assert_eq!(status, 201, "{body}");
}

fn start_sale(http: &Http, host: &str, limit: i64) -> FlashSaleView {
    let body = json!({
        "sku": TOTE, "sale_price_minor": 990, "currency": "EUR", "quantity": 20,
        "per_buyer_limit": limit, "countdown_secs": 10, "duration_secs": 600,
    });
    let (status, body) = http.call("POST", "/api/v1/flash-sales", Some(host), None, Some(body));
    assert_eq!(status, 201, "{body}");
    serde_json::from_value(body).unwrap()
}

fn claim(http: &Http, sale: SaleId, token: &str) -> (u16, Option<String>) {
    let path = format!("/api/v1/flash-sales/{sale}/claims");
    let (status, body) = http.call(
        "POST",
        &path,
        Some(token),
        None,
        Some(json!({ "quantity": 1 })),
    );
    (status, body["code"].as_str().map(str::to_owned))
}

fn limit_reached() -> (u16, Option<String>) {
    (409, Some("limit_reached".to_owned()))
}

fn sold(http: &Http, sale: SaleId) -> i64 {
    let (_, body) = http.call(
        "GET",
        &format!("/api/v1/flash-sales/{sale}"),
        None,
        None,
        None,
    );
    body["sold"].as_i64().unwrap()
}

#[test]
fn guests_of_one_network_share_a_flash_sales_per_buyer_limit_over_http_in_the_room_and_after_a_restart()
 {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let keep_data = move |c: &mut ServerConfig| {
        c.data_dir = data.clone();
        c.database_url = vitrine_tests::test_database(&data);
    };
    let server = TestServer::start_with(keep_data.clone());
    let http = Http::new(&server);
    let host = server.sign_in_as("host.fair", Role::Host);
    let registered = server.sign_in_as("reg.fair", Role::Shopper);
    let (home, office, lab) = (next_loopback(), next_loopback(), next_loopback());
    let (ana, ben) = (
        token_from(&http, home, "Ana"),
        token_from(&http, home, "Ben"),
    );
    let cy = token_from(&http, office, "Cy");
    // A guest from the address the registered account signs in from.
    let local = token_from(&http, "127.0.0.1".parse().unwrap(), "Local");
    let mut room = vec![
        room_guest(&server, lab, "Dee"),
        room_guest(&server, lab, "Eve"),
    ];
    let fay = token_from(&http, lab, "Fay");
    let sale = start_sale(&http, &host, 1).id;
    let live = step_until(Duration::from_secs(30), || {
        pump_all(&mut room);
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

    // Over HTTP: Ben is another guest from Ana's network.
    assert_eq!(claim(&http, sale, &ana).0, 201);
    assert_eq!(claim(&http, sale, &ben), limit_reached());
    // Another network has its own; so does each registered account, even
    // from an address whose guests have bought.
    assert_eq!(claim(&http, sale, &cy).0, 201);
    assert_eq!(claim(&http, sale, &local).0, 201);
    assert_eq!(claim(&http, sale, &registered).0, 201);
    assert_eq!(claim(&http, sale, &registered), limit_reached());

    // In the room: Dee's tap buys, Eve's (same network) is refused, and so
    // is her network's guest over HTTP: one count on every path.
    let tap = RoomCommand::ClaimFlashSale {
        sale_id: sale,
        quantity: 1,
    };
    room[0].send_command(tap.clone());
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut room);
        !room[0].mirror().claims.is_empty()
    }));
    room[1].send_command(tap);
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut room);
        !room[1].mirror().rejections.is_empty()
    }));
    assert_eq!(
        room[1].mirror().rejections[0].reason,
        RejectReason::Claim(ClaimRefusal::LimitReached {
            limit: 1,
            remaining: 0
        })
    );
    assert!(room[1].mirror().claims.is_empty());
    assert_eq!(claim(&http, sale, &fay), limit_reached());
    assert_eq!(sold(&http, sale), 5, "the refusals sold nothing");
    drop(room);

    // The counts are rebuilt from the database after a restart.
    server.stop().unwrap();
    let server = TestServer::start_with(keep_data);
    let http = Http::new(&server);
    assert_eq!(claim(&http, sale, &ben), limit_reached());
    let gus = token_from(&http, home, "Gus");
    assert_eq!(claim(&http, sale, &gus), limit_reached());
    assert_eq!(claim(&http, sale, &fay), limit_reached());
    let newcomer = token_from(&http, next_loopback(), "Newcomer");
    assert_eq!(claim(&http, sale, &newcomer).0, 201);
    assert_eq!(sold(&http, sale), 6);
}

fn checkout(http: &Http, token: &str, key: &str) -> (u16, Option<String>) {
    let body = json!({ "buy_now": { "sku": TOTE, "quantity": 1 }, "coupon": "ONCE", "card": CARD });
    let (status, body) = http.call(
        "POST",
        "/api/v1/checkout",
        Some(token),
        Some(key),
        Some(body),
    );
    (status, body["code"].as_str().map(str::to_owned))
}

#[test]
fn guests_of_one_network_share_a_coupons_per_buyer_limit_over_http_and_in_the_room() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.coupon", Role::Host);
    let registered = server.sign_in_as("reg.coupon", Role::Shopper);
    let coupon = json!({
        "code": "ONCE", "percent_off": 10, "currency": "EUR", "per_buyer_limit": 1,
        "ends_at_ms": now_ms() + 3_600_000,
    });
    let (status, body) = http.call("POST", "/api/v1/coupons", Some(&host), None, Some(coupon));
    assert_eq!(status, 201, "{body}");
    let (home, office, lab) = (next_loopback(), next_loopback(), next_loopback());
    let (ana, ben) = (
        token_from(&http, home, "Ana"),
        token_from(&http, home, "Ben"),
    );
    let cy = token_from(&http, office, "Cy");

    assert_eq!(checkout(&http, &ana, "a").0, 201);
    assert_eq!(
        checkout(&http, &ben, "b"),
        (409, Some("coupon_limit_reached".to_owned()))
    );
    assert_eq!(checkout(&http, &cy, "c").0, 201);
    assert_eq!(checkout(&http, &registered, "r").0, 201);

    // From the room: Dee's checkout takes it, Eve's (same network) cannot.
    let mut room = vec![
        room_guest(&server, lab, "Dee"),
        room_guest(&server, lab, "Eve"),
    ];
    let buy = |request_id| {
        RoomCommand::Checkout(CheckoutCommand {
            request_id,
            items: Purchase::BuyNow {
                sku: Sku::new(TOTE).unwrap(),
                quantity: 1,
            },
            coupon: Some(CouponCode::new("ONCE").unwrap()),
            payment: PaymentMethod::new(CARD).unwrap(),
        })
    };
    room[0].send_command(buy(1));
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut room);
        room[0].mirror().checkouts.contains_key(&1)
    }));
    assert!(room[0].mirror().checkouts[&1].is_ok());
    room[1].send_command(buy(2));
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut room);
        room[1].mirror().checkouts.contains_key(&2)
    }));
    assert_eq!(
        room[1].mirror().checkouts[&2],
        Err(ShopRefusal::CouponLimitReached)
    );
    let (_, info) = http.call("GET", "/api/v1/coupons/ONCE", Some(&host), None, None);
    assert_eq!(info["redeemed"], 4, "{info}");
}
