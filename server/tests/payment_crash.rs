//! `kill -9` during a checkout's payment, then restarts on the same data:
//! every order ends either paid with one capture, or cancelled with no
//! money kept at the provider (nothing held, anything captured refunded);
//! its units are sold or back in stock, never both and never neither; and
//! a retry with the checkout's idempotency key answers the same order and
//! charges nothing twice. The test gateway's journal in the data dir is the
//! provider's ledger that outlives the shop's process.
//!
//! Each test has two shoppers: Ana checks out her cart and retries after
//! the restart (she ends paid); Ben buys one now and never comes back (his
//! order expires unpaid once the last start is given a short payment hold).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

mod common;

use common::{call, kill_9, mug_stock as stock, try_call};

const SKU: &str = "stoneware-mug-sage";
/// The mug's price alone, in cents.
const PRICE: i64 = 1600;
const CARD: &str = "4242424242424242";

/// What the provider's journal says about one order's money (the engine
/// pays under the keys `authorize-<order>`, `capture-<order>`,
/// `void-<order>` and `refund-unpaid-<order>`).
#[derive(Debug, Default, PartialEq, Eq)]
struct AtProvider {
    authorized: usize,
    /// The authorized amount, in cents.
    amount: i64,
    captures: usize,
    voids: usize,
    refunded: i64,
}

impl AtProvider {
    /// Money the provider keeps for the order: captured less refunded,
    /// or held (authorized, neither captured nor voided).
    fn kept(&self) -> i64 {
        if self.captures > 0 {
            self.amount - self.refunded
        } else if self.authorized > 0 && self.voids == 0 {
            self.amount
        } else {
            0
        }
    }
}

fn at_provider(data: &Path, order_id: i64) -> AtProvider {
    let journal = std::fs::read_to_string(data.join("test-gateway.journal")).unwrap_or_default();
    let lines: Vec<Vec<&str>> = journal.lines().map(|l| l.split('\t').collect()).collect();
    let key = format!("authorize-{order_id}");
    let mut seen = AtProvider::default();
    let Some(id) = lines
        .iter()
        .find(|l| l[0] == "authorize" && l[1] == key)
        .map(|l| {
            seen.amount = l[3].parse().unwrap();
            l[2]
        })
    else {
        return seen;
    };
    for line in &lines {
        match line.as_slice() {
            ["authorize", k, ..] if *k == key => seen.authorized += 1,
            ["capture", _, a] if *a == id => seen.captures += 1,
            ["void", _, a, ..] if *a == id => seen.voids += 1,
            ["refund", _, a, minor, _] if *a == id => {
                seen.refunded += minor.parse::<i64>().unwrap()
            }
            _ => {}
        }
    }
    seen
}

/// Every journal line of one kind.
fn journaled(data: &Path, kind: &str) -> usize {
    let journal = std::fs::read_to_string(data.join("test-gateway.journal")).unwrap_or_default();
    journal
        .lines()
        .filter(|l| l.split('\t').next() == Some(kind))
        .count()
}

/// Polls `what` until it holds, for at most 30 s.
fn until(what: &str, mut holds: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !holds() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The shopper's only order.
fn only_order(base: &str, token: &str) -> Value {
    let (status, body) = call(base, "GET", "/api/v1/orders", Some(token), None, None);
    assert_eq!(status, 200, "{body}");
    let orders = body["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1, "{body}");
    orders[0].clone()
}

fn cart_lines(base: &str, token: &str) -> Vec<Value> {
    let (status, cart) = call(base, "GET", "/api/v1/cart", Some(token), None, None);
    assert_eq!(status, 200, "{cart}");
    cart["lines"].as_array().unwrap().clone()
}

struct Shop {
    _dir: tempfile::TempDir,
    data: PathBuf,
    config: PathBuf,
}

impl Shop {
    /// A fresh data dir; the provider gets two minutes to answer, so that
    /// no payment times out on its own before the kill.
    fn new() -> Shop {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let config = dir.path().join("vitrine.toml");
        std::fs::write(
            &config,
            "payment_timeout_secs = 120\n[http_rate]\nper_second = 100000.0\nburst = 100000\n",
        )
        .unwrap();
        Shop {
            _dir: dir,
            data,
            config,
        }
    }

    fn start(&self, keys: &str) -> (Child, String) {
        let config = common::config_with(&self.config, "run", keys);
        common::start(&self.data, &config)
    }
}

fn guest(base: &str, name: &str) -> String {
    let body = json!({ "display_name": name });
    let (status, s) = call(base, "POST", "/api/v1/sessions", None, None, Some(body));
    assert_eq!(status, 201, "{s}");
    s["token"].as_str().unwrap().to_owned()
}

fn ana_checkout() -> Value {
    json!({ "card": CARD })
}

fn ben_checkout() -> Value {
    json!({ "buy_now": { "sku": SKU, "quantity": 1 }, "card": CARD })
}

/// Runs a crash test: the first process runs with `stall` (a test-gateway
/// config key); `killed_when` says, from the journal and the shop, when
/// both checkouts are far enough along to kill; `before_retry` checks what
/// the first restart finds for (Ana's, Ben's) order.
fn crash_during_checkouts(
    stall: &str,
    killed_when: impl Fn(&Path, &str, &str, &str) -> bool,
    before_retry: impl Fn(&Path, &Value, &Value),
) {
    let shop = Shop::new();
    let (server, base) = shop.start(stall);
    let before = stock(&base);
    let (ana, ben) = (guest(&base, "Ana"), guest(&base, "Ben"));
    let item = json!({ "sku": SKU, "quantity": 2 });
    let (status, cart) = call(
        &base,
        "POST",
        "/api/v1/cart/items",
        Some(&ana),
        None,
        Some(item),
    );
    assert_eq!(status, 200, "{cart}");

    // Both checkouts start; neither answer gets out before the kill.
    let checkouts: Vec<_> = [
        (ana.clone(), "ana-checkout", ana_checkout()),
        (ben.clone(), "ben-checkout", ben_checkout()),
    ]
    .into_iter()
    .map(|(token, key, body)| {
        let base = base.clone();
        std::thread::spawn(move || {
            try_call(
                &base,
                "POST",
                "/api/v1/checkout",
                Some(&token),
                Some(key),
                Some(body),
            )
        })
    })
    .collect();
    until("both checkouts far enough along to kill", || {
        killed_when(&shop.data, &base, &ana, &ben)
    });
    kill_9(server);
    for checkout in checkouts {
        assert_eq!(checkout.join().unwrap(), None, "an answer got out");
    }

    // Restarted: both orders wait, their units out of stock and out of the cart.
    let (server, base) = shop.start("");
    let (ana_order, ben_order) = (only_order(&base, &ana), only_order(&base, &ben));
    assert_eq!(
        (ana_order["status"].as_str(), ben_order["status"].as_str()),
        (Some("pending"), Some("pending"))
    );
    assert_eq!(ana_order["total"]["minor"], 2 * PRICE);
    assert_eq!(stock(&base), before - 3);
    assert!(cart_lines(&base, &ana).is_empty());
    before_retry(&shop.data, &ana_order, &ben_order);
    let (ana_id, ben_id) = (
        ana_order["id"].as_i64().unwrap(),
        ben_order["id"].as_i64().unwrap(),
    );

    // Ana retries with the same key: the same order, paid, charged once.
    for _ in 0..2 {
        let (status, paid) = call(
            &base,
            "POST",
            "/api/v1/checkout",
            Some(&ana),
            Some("ana-checkout"),
            Some(ana_checkout()),
        );
        assert_eq!(
            (status, paid["id"].as_i64(), paid["status"].as_str()),
            (201, Some(ana_id), Some("paid")),
            "{paid}"
        );
    }
    let charged = AtProvider {
        authorized: 1,
        amount: 2 * PRICE,
        captures: 1,
        voids: 0,
        refunded: 0,
    };
    assert_eq!(at_provider(&shop.data, ana_id), charged);
    kill_9(server);

    // Ben never comes back: his order expires unpaid after the next start,
    // its unit goes back to stock and no money stays with the provider.
    let (server, base) = shop.start("payment_hold_secs = 1");
    until("Ben's order cancelled", || {
        only_order(&base, &ben)["status"] == "cancelled"
    });
    until("Ben's money given back", || {
        at_provider(&shop.data, ben_id).kept() == 0
    });
    assert_eq!(only_order(&base, &ben)["failure"], "expired");
    let ana_order = only_order(&base, &ana);
    assert_eq!(
        (ana_order["id"].as_i64(), ana_order["status"].as_str()),
        (Some(ana_id), Some("paid"))
    );
    assert_eq!(stock(&base), before - 2, "units lost or made up");
    assert!(cart_lines(&base, &ana).is_empty());
    assert!(cart_lines(&base, &ben).is_empty());
    // Ben's retry finds his cancelled order and charges nothing; Ana's
    // still answers her paid one.
    let ben_money = at_provider(&shop.data, ben_id);
    let (status, again) = call(
        &base,
        "POST",
        "/api/v1/checkout",
        Some(&ben),
        Some("ben-checkout"),
        Some(ben_checkout()),
    );
    assert_eq!(status, 409, "{again}");
    assert_eq!(only_order(&base, &ben)["id"].as_i64(), Some(ben_id));
    assert_eq!(at_provider(&shop.data, ben_id), ben_money);
    let (status, paid) = call(
        &base,
        "POST",
        "/api/v1/checkout",
        Some(&ana),
        Some("ana-checkout"),
        Some(ana_checkout()),
    );
    assert_eq!((status, paid["id"].as_i64()), (201, Some(ana_id)));
    assert_eq!(at_provider(&shop.data, ana_id), charged);
    assert_eq!(journaled(&shop.data, "authorize"), ben_money.authorized + 1);
    kill_9(server);
}

#[test]
fn kill_9_while_captures_are_unanswered_ends_each_order_paid_once_or_refunded() {
    // The provider captures both and its answers never come back: killed
    // with the money taken and neither order known to be paid.
    crash_during_checkouts(
        "test_gateway_loses_capture_answers = true",
        |data, _, _, _| journaled(data, "capture") == 2,
        |data, ana, ben| {
            for order in [ana, ben] {
                let money = at_provider(data, order["id"].as_i64().unwrap());
                assert_eq!((money.authorized, money.captures), (1, 1), "{money:?}");
            }
        },
    );
}

#[test]
fn kill_9_before_the_provider_answers_an_authorization_charges_nothing_twice() {
    // Authorizations never reach the provider: killed between the orders
    // being made and anyone being asked for money.
    crash_during_checkouts(
        "test_gateway_stalls_authorizations = true",
        |_, base, ana, ben| {
            [ana, ben].iter().all(|token| {
                let (_, body) = call(base, "GET", "/api/v1/orders", Some(token), None, None);
                body["orders"][0]["status"] == "pending"
            })
        },
        |data, ana, ben| {
            assert_eq!(journaled(data, "authorize"), 0);
            for order in [ana, ben] {
                assert_eq!(
                    at_provider(data, order["id"].as_i64().unwrap()),
                    AtProvider::default()
                );
            }
        },
    );
}

#[test]
fn kill_9_while_a_claims_capture_is_unanswered_pays_it_once_after_the_restart() {
    let shop = Shop::new();
    common::create_user(&shop.data, "host.pay", "host");
    let (server, base) = shop.start("test_gateway_loses_capture_answers = true");
    let login = json!({ "username": "host.pay", "password": "correct horse battery" });
    let (_, host) = call(&base, "POST", "/api/v1/sessions", None, None, Some(login));
    let host = host["token"].as_str().unwrap().to_owned();
    let before = stock(&base);
    let sale = json!({
        "sku": SKU, "sale_price_minor": 800, "currency": "EUR", "quantity": 10,
        "per_buyer_limit": 1, "countdown_secs": 10, "duration_secs": 600,
    });
    let (status, sale) = call(
        &base,
        "POST",
        "/api/v1/flash-sales",
        Some(&host),
        None,
        Some(sale),
    );
    assert_eq!(status, 201, "{sale}");
    let sale_path = format!("/api/v1/flash-sales/{}", sale["id"]);
    until("the sale opens", || {
        call(&base, "GET", &sale_path, None, None, None).1["state"] == "live"
    });
    let cleo = guest(&base, "Cleo");
    let claim_path = format!("{sale_path}/claims");
    let claim = || Some(json!({ "quantity": 1 }));
    let (status, claimed) = call(
        &base,
        "POST",
        &claim_path,
        Some(&cleo),
        Some("cleo-claim"),
        claim(),
    );
    assert_eq!(status, 201, "{claimed}");
    let order_id = claimed["order_id"].as_i64().unwrap();
    let pay_path = format!("/api/v1/orders/{order_id}/pay");
    let card = || Some(json!({ "card": CARD }));
    let paying = {
        let (base, cleo, pay_path) = (base.clone(), cleo.clone(), pay_path.clone());
        std::thread::spawn(move || try_call(&base, "POST", &pay_path, Some(&cleo), None, card()))
    };
    until("the capture is made", || {
        journaled(&shop.data, "capture") == 1
    });
    kill_9(server);
    assert_eq!(paying.join().unwrap(), None, "an answer got out");

    // Restarted: the claim waits for its payment with the money taken.
    let (server, base) = shop.start("");
    let order = only_order(&base, &cleo);
    assert_eq!(
        (order["id"].as_i64(), order["status"].as_str()),
        (Some(order_id), Some("pending"))
    );
    let charged = AtProvider {
        authorized: 1,
        amount: 800,
        captures: 1,
        voids: 0,
        refunded: 0,
    };
    assert_eq!(at_provider(&shop.data, order_id), charged);
    // Paying again, and again, pays it with that one capture; the claim's
    // retry finds it.
    for _ in 0..2 {
        let (status, paid) = call(&base, "POST", &pay_path, Some(&cleo), None, card());
        assert_eq!(
            (status, paid["id"].as_i64(), paid["status"].as_str()),
            (200, Some(order_id), Some("paid")),
            "{paid}"
        );
    }
    let (status, again) = call(
        &base,
        "POST",
        &claim_path,
        Some(&cleo),
        Some("cleo-claim"),
        claim(),
    );
    assert_eq!(
        (status, again["order_id"].as_i64()),
        (201, Some(order_id)),
        "{again}"
    );
    assert_eq!(at_provider(&shop.data, order_id), charged);
    let (_, sale) = call(&base, "GET", &sale_path, None, None, None);
    assert_eq!(sale["sold"], 1, "{sale}");
    assert_eq!(
        stock(&base) + sale["units_left"].as_i64().unwrap() + 1,
        before,
        "units lost or made up"
    );
    kill_9(server);
}
