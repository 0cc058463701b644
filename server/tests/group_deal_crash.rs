//! `kill -9` between a group deal's last join and its capture, then a
//! restart on the same data: the full team is captured once (the provider's
//! journal shows one capture per member), every member has one paid order
//! at the team price, and the stock is down by exactly the team's units.
//! The first process runs with the test gateway's captures stalled
//! (the config key `test_gateway_stalls_captures`), so the kill lands after the
//! team was committed as full and before any capture.

use serde_json::{Value, json};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_vitrine-server");
const SKU: &str = "stoneware-mug-sage";
/// The mug costs 16.00 EUR alone, 12.00 in a team.
const TEAM_PRICE: i64 = 1200;

/// Starts the server on `config`; with `stall_captures`, on a copy of it
/// that makes the test gateway's captures hang.
fn start(data: &Path, config: &Path, stall_captures: bool) -> (Child, String) {
    let stalled = config.with_extension("stalled.toml");
    let config = if stall_captures {
        let text = std::fs::read_to_string(config).unwrap();
        std::fs::write(
            &stalled,
            format!("test_gateway_stalls_captures = true\n{text}"),
        )
        .unwrap();
        stalled.as_path()
    } else {
        config
    };
    let mut command = Command::new(BIN);
    command
        .args([
            "--http",
            "127.0.0.1:0",
            "--udp",
            "127.0.0.1:0",
            "--no-media",
        ])
        .arg("--data-dir")
        .arg(data)
        .args(common::database_args(data))
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("server started").unwrap();
        if let Some(rest) = line.split("http_addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{addr}"))
}

fn kill_9(mut server: Child) {
    Command::new("kill")
        .args(["-KILL", &server.id().to_string()])
        .status()
        .unwrap();
    server.wait().unwrap();
}

fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    if !text.is_empty() {
        req = req.header("Content-Type", "application/json");
    }
    let mut response = agent.run(req.body(text).unwrap()).unwrap();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn stock(base: &str) -> i64 {
    let (_, p) = call(
        base,
        "GET",
        "/api/v1/products/stoneware-mug",
        None,
        None,
        None,
    );
    p["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["sku"] == SKU)
        .unwrap()["stock"]
        .as_i64()
        .unwrap()
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
    let made = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args(common::database_args(&data))
        .args(["admin", "create-user", "host.deals", "--role", "host"])
        .args(["--password", "correct horse battery"])
        .output()
        .unwrap();
    assert!(made.status.success());

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
