//! `kill -9` the real server program in the middle of a flash sale, with
//! carts holding units and orders waiting to be paid, and start it again on
//! the same data: no confirmed order is lost, no unit is lost or made up,
//! and every reservation is still held.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vitrine_shared::api::{CartView, FlashSaleView, OrderList, OrderView};
use vitrine_tests::{Http, guest, step_until, stock_of};

const PRODUCT: &str = "stoneware-mug";
const SKU: &str = "stoneware-mug-oat";

/// A server process on free loopback ports, on `data`.
struct Process {
    child: Child,
    http: SocketAddr,
}

fn free_ports() -> (SocketAddr, SocketAddr) {
    let tcp = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    (tcp, udp)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn serve(data: &Path, config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_serve"));
    command
        .current_dir(workspace())
        .env("RUST_LOG", "warn")
        .args(["--data-dir", data.to_str().unwrap()])
        .args(["--config", config.to_str().unwrap()])
        .args(args);
    command
}

impl Process {
    fn start(data: &Path, config: &Path) -> Process {
        let (http, udp) = free_ports();
        let child = serve(
            data,
            config,
            &["--http", &http.to_string(), "--udp", &udp.to_string()],
        )
        .stdout(Stdio::null())
        .spawn()
        .expect("start the server");
        let process = Process { child, http };
        let http_client = Http::at(&process.url());
        let up = step_until(Duration::from_secs(60), || {
            http_client
                .try_call("GET", "/healthz", None, None, None)
                .is_ok_and(|(status, _)| status == 200)
        });
        assert!(up, "the server answered its health check");
        process
    }

    fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// SIGKILL: no shutdown code runs, nothing is flushed on the way out.
    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn orders(http: &Http, token: &str) -> Vec<OrderView> {
    let (status, body) = http.call("GET", "/api/v1/orders", Some(token), None, None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_value::<OrderList>(body).unwrap().orders
}

fn units_held(orders: &[OrderView]) -> i64 {
    orders
        .iter()
        .filter(|o| !matches!(o.status.as_str(), "cancelled" | "refunded"))
        .flat_map(|o| &o.lines)
        .filter(|l| l.sku == SKU)
        .map(|l| l.quantity)
        .sum()
}

#[test]
fn kill_9_in_the_middle_of_a_flash_sale_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("server.toml");
    // Many shoppers share 127.0.0.1 here.
    std::fs::write(
        &config,
        "[http_rate]\nper_second = 1000000.0\nburst = 1000000\n",
    )
    .unwrap();
    let server = Process::start(&data, &config);
    let http = Http::at(&server.url());
    let start_stock = stock_of(&http, PRODUCT, SKU);

    // The host, made with the program's own admin command.
    let made = serve(
        &data,
        &config,
        &[
            "admin",
            "create-user",
            "host.crash",
            "--role",
            "host",
            "--password",
            "kill dash nine",
        ],
    )
    .output()
    .unwrap();
    assert!(made.status.success(), "{made:?}");
    let (status, body) = http.call(
        "POST",
        "/api/v1/sessions",
        None,
        None,
        Some(json!({ "username": "host.crash", "password": "kill dash nine" })),
    );
    assert_eq!(status, 201, "{body}");
    let host = body["token"].as_str().unwrap().to_owned();

    // Reservations that must outlive the crash: a cart and a paid order.
    let carter = guest(&http, "Carter");
    let (status, body) = http.call(
        "POST",
        "/api/v1/cart/items",
        Some(&carter),
        None,
        Some(json!({ "sku": SKU, "quantity": 3 })),
    );
    assert_eq!(status, 200, "{body}");
    let cart_before: CartView = serde_json::from_value(body).unwrap();
    let (status, body) = http.call(
        "POST",
        "/api/v1/checkout",
        Some(&carter),
        Some("before-crash"),
        Some(json!({ "buy_now": { "sku": SKU, "quantity": 1 }, "card": "4242424242424242" })),
    );
    assert_eq!(status, 201, "{body}");

    let body = json!({
        "sku": SKU, "sale_price_minor": 500, "currency": "EUR", "quantity": 40,
        "per_buyer_limit": 1, "countdown_secs": 10, "duration_secs": 600,
    });
    let (status, body) = http.call("POST", "/api/v1/flash-sales", Some(&host), None, Some(body));
    assert_eq!(status, 201, "{body}");
    let sale: FlashSaleView = serde_json::from_value(body).unwrap();
    let sale_path = format!("/api/v1/flash-sales/{}", sale.id);
    assert!(step_until(Duration::from_secs(30), || {
        http.call("GET", &sale_path, None, None, None).1["state"] == "live"
    }));

    // 60 buyers claim from 4 threads; the server dies while they do.
    let buyers: Vec<String> = (0..60)
        .map(|i| guest(&http, &format!("Buyer {i}")))
        .collect();
    let confirmed: Arc<Mutex<HashMap<usize, i64>>> = Arc::default();
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (buyers, confirmed, answered, stop, base) = (
                buyers.clone(),
                confirmed.clone(),
                answered.clone(),
                stop.clone(),
                server.url(),
            );
            std::thread::spawn(move || {
                let http = Http::at(&base);
                for b in (t..buyers.len()).step_by(4) {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let path = format!("/api/v1/flash-sales/{}/claims", sale.id);
                    // A claim cut off by the kill is an error here, not a panic.
                    let reply = http.try_call(
                        "POST",
                        &path,
                        Some(&buyers[b]),
                        Some("claim"),
                        Some(json!({})),
                    );
                    if let Ok((201, body)) = reply {
                        confirmed
                            .lock()
                            .unwrap()
                            .insert(b, body["order_id"].as_i64().unwrap());
                    }
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    assert!(step_until(Duration::from_secs(30), || {
        answered.load(Ordering::Relaxed) >= 15
    }));
    server.kill_9();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let confirmed = confirmed.lock().unwrap().clone();
    assert!(
        confirmed.len() >= 10,
        "claims were confirmed before the kill"
    );

    // Up again on the same data.
    let server = Process::start(&data, &config);
    let http = Http::at(&server.url());
    let sale_now: FlashSaleView =
        serde_json::from_value(http.call("GET", &sale_path, None, None, None).1).unwrap();

    // Every confirmed claim is there, as the order it was confirmed as.
    let mut from_sale = 0;
    let mut held_in_orders = 0;
    for (b, token) in buyers.iter().enumerate() {
        let mine = orders(&http, token);
        let in_sale: Vec<&OrderView> = mine
            .iter()
            .filter(|o| o.flash_sale_id == Some(sale.id))
            .collect();
        assert!(in_sale.len() <= 1, "buyer {b} holds two claims");
        if let Some(order_id) = confirmed.get(&b) {
            assert_eq!(in_sale.first().map(|o| o.id), Some(*order_id), "buyer {b}");
        }
        let claimed: Vec<OrderView> = in_sale.into_iter().cloned().collect();
        from_sale += units_held(&claimed);
        held_in_orders += units_held(&mine);
    }
    assert_eq!(
        sale_now.sold, from_sale,
        "the sale's count matches its orders"
    );
    assert!(sale_now.sold >= confirmed.len() as i64);
    eprintln!(
        "killed after {} confirmed claims; {} sold after the restart",
        confirmed.len(),
        sale_now.sold
    );

    // The cart and the paid order held their units through the crash.
    let (_, body) = http.call("GET", "/api/v1/cart", Some(&carter), None, None);
    let cart_after: CartView = serde_json::from_value(body).unwrap();
    assert_eq!(cart_after, cart_before);
    let carter_orders = orders(&http, &carter);
    assert_eq!(carter_orders.len(), 1);
    assert_eq!(carter_orders[0].status, "paid");
    held_in_orders += units_held(&carter_orders);

    // Not one unit made up or lost: stock + carts + orders + what the open
    // sale still holds is what there was.
    let stock = stock_of(&http, PRODUCT, SKU);
    let sale_unsold = sale_now.quantity - sale_now.sold;
    assert_eq!(
        stock + 3 + held_in_orders + sale_unsold,
        start_stock,
        "stock {stock}, orders {held_in_orders}, unsold {sale_unsold}"
    );

    // And the sale goes on: an unpaid claim can still be paid, a retry still
    // finds its order, and the per-buyer limit still holds.
    let (&b, &order_id) = confirmed.iter().next().unwrap();
    let (status, body) = http.call(
        "POST",
        &format!("/api/v1/orders/{order_id}/pay"),
        Some(&buyers[b]),
        None,
        Some(json!({ "card": "4242424242424242" })),
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("paid")),
        "{body}"
    );
    let path = format!("/api/v1/flash-sales/{}/claims", sale.id);
    let (status, body): (u16, Value) = http.call(
        "POST",
        &path,
        Some(&buyers[b]),
        Some("claim"),
        Some(json!({})),
    );
    assert_eq!((status, body["order_id"].as_i64()), (201, Some(order_id)));
    let (status, body) = http.call(
        "POST",
        &path,
        Some(&buyers[b]),
        Some("again"),
        Some(json!({})),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("limit_reached"))
    );
}
