//! `kill -9` in the middle of a flash sale, then a restart on the same data:
//! no confirmed order is lost, no unit is lost or made up, a retry with the
//! same idempotency key finds the order it made before the crash, and the
//! reservations (a cart's held units, unpaid claims) still hold.

use serde_json::{Value, json};
use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::{mug_stock as stock, start, try_call as call};

/// Signs a guest in from `local` (any 127.x.y.z reaches a server on
/// loopback, and the server counts guests by the network they come from);
/// its bearer token. One plain HTTP/1.1 exchange on a socket bound first.
fn guest_from(base: &str, local: IpAddr, name: &str) -> String {
    let server: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(local, 0).into()).unwrap();
    socket.connect(&server.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    let body = json!({ "display_name": name }).to_string();
    write!(
        stream,
        "POST /api/v1/sessions HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 201"), "{head}\n{body}");
    let created: Value = serde_json::from_str(body).unwrap();
    created["token"].as_str().unwrap().to_owned()
}

#[test]
fn kill_9_mid_sale_loses_no_confirmed_order_and_no_unit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("vitrine.toml");
    std::fs::write(
        &config,
        "[http_rate]\nper_second = 100000.0\nburst = 100000\n",
    )
    .unwrap();
    common::create_user(&data, "host.crash", "host");

    let (mut server, base) = start(&data, &config);
    let login = json!({ "username": "host.crash", "password": "correct horse battery" });
    let (_, host) = call(&base, "POST", "/api/v1/sessions", None, None, Some(login)).unwrap();
    let host = host["token"].as_str().unwrap().to_owned();
    let stock_before = stock(&base);
    // Reservations that must outlive the crash: a cart, and a paid order.
    let (_, carter) = call(
        &base,
        "POST",
        "/api/v1/sessions",
        None,
        None,
        Some(json!({ "display_name": "Carter" })),
    )
    .unwrap();
    let carter = carter["token"].as_str().unwrap().to_owned();
    let item = json!({ "sku": "stoneware-mug-sage", "quantity": 3 });
    let (status, cart_before) = call(
        &base,
        "POST",
        "/api/v1/cart/items",
        Some(&carter),
        None,
        Some(item),
    )
    .unwrap();
    assert_eq!(status, 200, "{cart_before}");
    let buy = json!({ "buy_now": { "sku": "stoneware-mug-sage", "quantity": 1 }, "card": "4242424242424242" });
    let (status, paid) = call(
        &base,
        "POST",
        "/api/v1/checkout",
        Some(&carter),
        Some("pre-crash"),
        Some(buy),
    )
    .unwrap();
    assert_eq!(
        (status, paid["status"].as_str()),
        (201, Some("paid")),
        "{paid}"
    );
    let sale = json!({
        "sku": "stoneware-mug-sage", "sale_price_minor": 800, "currency": "EUR", "quantity": 300,
        "per_buyer_limit": 1, "countdown_secs": 10, "duration_secs": 600,
    });
    let (status, sale) = call(
        &base,
        "POST",
        "/api/v1/flash-sales",
        Some(&host),
        None,
        Some(sale),
    )
    .unwrap();
    assert_eq!(status, 201, "{sale}");
    let sale_id = sale["id"].as_i64().unwrap();
    // Each buyer from a loopback address of its own: guests from one
    // network share one per-buyer count, and these are 400 shoppers.
    let buyers: Vec<String> = (0..400u32)
        .map(|i| {
            let local = IpAddr::V4(Ipv4Addr::new(127, 1, (i / 254) as u8, (i % 254 + 1) as u8));
            guest_from(&base, local, &format!("Buyer {i}"))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, s) = call(
            &base,
            "GET",
            &format!("/api/v1/flash-sales/{sale_id}"),
            None,
            None,
            None,
        )
        .unwrap();
        if s["state"] == "live" {
            break;
        }
        assert!(Instant::now() < deadline, "the sale never opened");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Eight threads claim; the test kills the server once 100 are confirmed.
    let confirmed = Arc::new(Mutex::new(Vec::<(usize, i64)>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let buyers = Arc::new(buyers);
    let claim_path = format!("/api/v1/flash-sales/{sale_id}/claims");
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (confirmed, count, buyers, base, path) = (
                confirmed.clone(),
                count.clone(),
                buyers.clone(),
                base.clone(),
                claim_path.clone(),
            );
            std::thread::spawn(move || {
                for b in (t..400).step_by(8) {
                    let key = format!("crash-{b}");
                    let body = Some(json!({ "quantity": 1 }));
                    match call(&base, "POST", &path, Some(&buyers[b]), Some(&key), body) {
                        Some((201, order)) => {
                            confirmed
                                .lock()
                                .unwrap()
                                .push((b, order["order_id"].as_i64().unwrap()));
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Some(_) => {}
                        None => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::SeqCst) < 100 {
        assert!(Instant::now() < deadline, "claims stalled");
        std::thread::sleep(Duration::from_millis(1));
    }
    Command::new("kill")
        .args(["-KILL", &server.id().to_string()])
        .status()
        .unwrap();
    server.wait().unwrap();
    for t in threads {
        t.join().unwrap();
    }
    let confirmed = confirmed.lock().unwrap().clone();
    assert!(confirmed.len() >= 100);

    let (mut server, base) = start(&data, &config);
    // Every confirmed order is there, as it was.
    for (b, order_id) in &confirmed {
        let (status, order) = call(
            &base,
            "GET",
            &format!("/api/v1/orders/{order_id}"),
            Some(&buyers[*b]),
            None,
            None,
        )
        .unwrap();
        assert_eq!(status, 200, "confirmed order {order_id} lost");
        assert_eq!(order["flash_sale_id"], sale_id);
    }
    // The sale's count is exactly the orders that exist (some may have been
    // committed just before the kill without their answer getting out).
    let mut orders = 0;
    for buyer in buyers.iter() {
        let (_, list) = call(&base, "GET", "/api/v1/orders", Some(buyer), None, None).unwrap();
        orders += list["orders"].as_array().unwrap().len() as i64;
    }
    let (_, after) = call(
        &base,
        "GET",
        &format!("/api/v1/flash-sales/{sale_id}"),
        None,
        None,
        None,
    )
    .unwrap();
    assert_eq!(after["sold"].as_i64().unwrap(), orders);
    assert!(orders >= confirmed.len() as i64);
    // The cart and the paid order held their units through the crash.
    let (_, cart_after) = call(&base, "GET", "/api/v1/cart", Some(&carter), None, None).unwrap();
    assert_eq!(cart_after, cart_before);
    let (_, carters) = call(&base, "GET", "/api/v1/orders", Some(&carter), None, None).unwrap();
    assert_eq!(carters["orders"][0]["status"], "paid");
    let (in_cart, bought_now) = (3, 1);
    assert_eq!(
        stock(&base) + after["units_left"].as_i64().unwrap() + orders + in_cart + bought_now,
        stock_before,
        "units lost or made up"
    );
    // A retry with a pre-crash key finds its order, not a second one.
    let (b, order_id) = confirmed[0];
    let retry = call(
        &base,
        "POST",
        &claim_path,
        Some(&buyers[b]),
        Some(&format!("crash-{b}")),
        Some(json!({ "quantity": 1 })),
    );
    let (status, order) = retry.unwrap();
    assert_eq!((status, order["order_id"].as_i64()), (201, Some(order_id)));
    // The claim is still held for its buyer: it can be paid now, and the
    // per-buyer limit still counts it.
    let (status, order) = call(
        &base,
        "POST",
        &format!("/api/v1/orders/{order_id}/pay"),
        Some(&buyers[b]),
        None,
        Some(json!({ "card": "4242424242424242" })),
    )
    .unwrap();
    assert_eq!(
        (status, order["status"].as_str()),
        (200, Some("paid")),
        "{order}"
    );
    let again = call(
        &base,
        "POST",
        &claim_path,
        Some(&buyers[b]),
        Some("another-key"),
        Some(json!({ "quantity": 1 })),
    );
    let (status, body) = again.unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("limit_reached"))
    );

    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let _ = server.wait();
}
