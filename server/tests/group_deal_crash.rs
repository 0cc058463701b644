//! `kill -9` between a group deal's last join and its capture, then a
//! restart on the same data: the full team is captured once (the provider's
//! journal shows one capture per member), every member has one paid order
//! at the team price, and the stock is down by exactly the team's units.
//! The first process runs with the test gateway's captures stalled
//! (the config key `test_gateway_stalls_captures`), so the kill lands after the
//! team was committed as full and before any capture.

use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

mod common;

use common::{call, kill_9, mug_stock as stock};

const SKU: &str = "stoneware-mug-sage";
/// The mug costs 16.00 EUR alone, 12.00 in a team.
const TEAM_PRICE: i64 = 1200;

/// Starts the server on `config`; with `stall_captures`, on a copy of it
/// that makes the test gateway's captures hang.
fn start(data: &Path, config: &Path, stall_captures: bool) -> (Child, String) {
    if stall_captures {
        let stalled = common::config_with(config, "stalled", "test_gateway_stalls_captures = true");
        common::start(data, &stalled)
    } else {
        common::start(data, config)
    }
}

/// The provider's journal: (authorizations, captures, distinct authorizations captured).
fn charged(data: &Path) -> (usize, usize, usize) {
    let journal = std::fs::read_to_string(data.join("test-gateway.journal")).unwrap_or_default();
    let lines: Vec<Vec<&str>> = journal.lines().map(|l| l.split('\t').collect()).collect();
    let authorized = lines.iter().filter(|l| l[0] == "authorize").count();
    let captures: Vec<&str> = lines
        .iter()
        .filter(|l| l[0] == "capture")
        .map(|l| l[2])
        .collect();
    let distinct: HashSet<&str> = captures.iter().copied().collect();
    (authorized, captures.len(), distinct.len())
}

/// The shopper's group-deal orders: (status, total).
fn deal_orders(base: &str, token: &str) -> Vec<(String, i64)> {
    let (status, body) = call(base, "GET", "/api/v1/orders", Some(token), None, None);
    assert_eq!(status, 200, "{body}");
    body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["source"] == "group_deal")
        .map(|o| {
            (
                o["status"].as_str().unwrap().to_owned(),
                o["total"]["minor"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn kill_9_between_the_last_join_and_the_capture_charges_each_member_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("vitrine.toml");
    std::fs::write(
        &config,
        "[http_rate]\nper_second = 100000.0\nburst = 100000\n",
    )
    .unwrap();
    common::create_user(&data, "host.deals", "host");

    let (server, base) = start(&data, &config, true);
    let login = json!({ "username": "host.deals", "password": "correct horse battery" });
    let (_, host) = call(&base, "POST", "/api/v1/sessions", None, None, Some(login));
    let host = host["token"].as_str().unwrap().to_owned();
    let before = stock(&base);
    let deal = json!({
        "sku": SKU, "team_size": 3, "team_price_minor": TEAM_PRICE, "currency": "EUR",
        "window_secs": 3600, "stock_cap": 30,
    });
    let (status, deal) = call(
        &base,
        "POST",
        "/api/v1/group-deals",
        Some(&host),
        None,
        Some(deal),
    );
    assert_eq!(status, 201, "{deal}");
    let deal_id = deal["id"].as_i64().unwrap();
    let shoppers: Vec<String> = ["Ana", "Ben", "Cleo"]
        .iter()
        .map(|name| {
            let body = json!({ "display_name": name });
            let (_, s) = call(&base, "POST", "/api/v1/sessions", None, None, Some(body));
            s["token"].as_str().unwrap().to_owned()
        })
        .collect();
    let card = json!({ "card": "4242424242424242" });
    let (status, first) = call(
        &base,
        "POST",
        &format!("/api/v1/group-deals/{deal_id}/teams"),
        Some(&shoppers[0]),
        Some("team-0"),
        Some(card.clone()),
    );
    assert_eq!(status, 201, "{first}");
    let team = first["team"]["id"].as_i64().unwrap();
    let mut last = Value::Null;
    for (i, shopper) in shoppers.iter().enumerate().skip(1) {
        let (status, joined) = call(
            &base,
            "POST",
            &format!("/api/v1/teams/{team}/join"),
            Some(shopper),
            Some(&format!("team-{i}")),
            Some(card.clone()),
        );
        assert_eq!(status, 201, "{joined}");
        last = joined;
    }
    // The last join filled the team: committed as capturing, nothing captured.
    assert_eq!(last["team"]["status"], "capturing", "{last}");
    assert_eq!(charged(&data), (3, 0, 0));
    kill_9(server);

    let (server, base) = start(&data, &config, false);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, d) = call(
            &base,
            "GET",
            &format!("/api/v1/group-deals/{deal_id}"),
            None,
            None,
            None,
        );
        if d["sold"] == 3 && d["teams"].as_array().is_some_and(|t| t.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the team was never captured: {d}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(charged(&data), (3, 3, 3), "one capture per member");
    for shopper in &shoppers {
        assert_eq!(
            deal_orders(&base, shopper),
            vec![("paid".to_owned(), TEAM_PRICE)]
        );
    }
    assert_eq!(stock(&base), before - 3);
    // A retry of the last join after the restart answers the same place.
    let (status, again) = call(
        &base,
        "POST",
        &format!("/api/v1/teams/{team}/join"),
        Some(&shoppers[2]),
        Some("team-2"),
        Some(card.clone()),
    );
    assert_eq!(
        (status, &again["order_id"]),
        (201, &last["order_id"]),
        "{again}"
    );
    assert_eq!(again["team"]["status"], "complete");

    // Killed once more and started again: nothing is charged twice.
    kill_9(server);
    let (server, base) = start(&data, &config, false);
    let (_, d) = call(
        &base,
        "GET",
        &format!("/api/v1/group-deals/{deal_id}"),
        None,
        None,
        None,
    );
    assert_eq!(
        (d["sold"].as_i64(), d["units_left"].as_i64()),
        (Some(3), Some(27))
    );
    assert_eq!(charged(&data), (3, 3, 3));
    for shopper in &shoppers {
        assert_eq!(deal_orders(&base, shopper).len(), 1);
    }
    assert_eq!(stock(&base), before - 3);
    kill_9(server);
}
