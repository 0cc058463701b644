//! The console's live feed opens only with a ticket: short-lived, used
//! once, minted with the bearer token for a staff session. A bearer token in
//! its URL is refused, and an open feed ends when its session signs out or
//! its account loses the role.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};
use vitrine_server::clock::ManualClock;
use vitrine_shared::Role;
use vitrine_tests::{Http, TestServer};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Mints a ticket with `token`: (status, body).
fn ticket(http: &Http, token: &str) -> (u16, Value) {
    http.call("POST", "/api/v1/console/tickets", Some(token), None, None)
}

fn ticket_of(http: &Http, token: &str) -> String {
    let (status, body) = ticket(http, token);
    assert_eq!(status, 201, "{body}");
    body["ticket"].as_str().unwrap().to_owned()
}

/// Opens the feed at `query`: (status, body as JSON if it is an error, the
/// open response otherwise).
fn open(
    server: &TestServer,
    query: &str,
) -> (u16, Value, Option<ureq::http::Response<ureq::Body>>) {
    let mut response = agent()
        .get(format!("{}/api/v1/console/feed?{query}", server.url()))
        .call()
        .unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        (status, Value::Null, Some(response))
    } else {
        let body = response.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&body).unwrap(), None)
    }
}

/// Reads the stream until the server ends it; the event names seen. Panics
/// if it is still open after 30 s.
fn read_to_end(response: ureq::http::Response<ureq::Body>) -> Vec<String> {
    let started = Instant::now();
    let mut events = Vec::new();
    let lines = BufReader::new(response.into_body().into_reader()).lines();
    for line in lines {
        let line = line.expect("the feed ends cleanly, not by the read timing out");
        if let Some(name) = line.strip_prefix("event: ") {
            events.push(name.to_owned());
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{events:?}");
    }
    events
}

#[test]
fn a_ticket_opens_the_feed_once_and_only_before_it_expires() {
    let time = ManualClock::starting_now();
    let clock = time.clock();
    let server = TestServer::start_with(move |c| c.clock = clock);
    let http = Http::new(&server);
    let host = server.sign_in_as("host.ticket", Role::Host);

    let (status, body) = ticket(&http, &host);
    assert_eq!(status, 201, "{body}");
    let first = body["ticket"].as_str().unwrap().to_owned();
    assert!(body["expires_at_ms"].as_i64().unwrap() <= time.now_ms() + 30_000);
    assert_ne!(first, host, "a ticket is not the bearer token");

    let (status, _, response) = open(&server, &format!("ticket={first}"));
    assert_eq!(status, 200);
    drop(response);
    // Used once: never again.
    let (status, body, _) = open(&server, &format!("ticket={first}"));
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_ticket")),
        "{body}"
    );

    // Expired: unused, but its 30 s are up.
    let late = ticket_of(&http, &host);
    time.advance(Duration::from_secs(30));
    let (status, body, _) = open(&server, &format!("ticket={late}"));
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("expired_ticket")),
        "{body}"
    );

    // Made up, or missing.
    let (status, body, _) = open(&server, "ticket=made-up");
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_ticket"))
    );
    let (status, body, _) = open(&server, "");
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_request"))
    );

    // A shopper gets none; a bearer token is not a ticket.
    let (status, body) = ticket(&http, &vitrine_tests::guest(&http, "Shopper"));
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, body, _) = open(&server, &format!("ticket={host}"));
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_ticket"))
    );
}

/// The day-long bearer token never goes in the feed's URL, whoever's it
/// is: the feed does not even read it.
#[test]
fn a_bearer_token_in_the_feed_url_is_refused() {
    let server = TestServer::start();
    let host = server.sign_in_as("host.url", Role::Host);
    let (status, body, _) = open(&server, &format!("token={host}"));
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("ticket"),
        "{body}"
    );
    // Not with a ticket beside it either.
    let ticket = ticket_of(&Http::new(&server), &host);
    let (status, _, _) = open(&server, &format!("ticket={ticket}&token={host}"));
    assert_eq!(status, 403);
}

#[test]
fn an_open_feed_ends_when_its_session_signs_out() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.leaving", Role::Host);
    let other = server.sign_in_as("host.staying", Role::Host);
    let (_, _, leaving) = open(&server, &format!("ticket={}", ticket_of(&http, &host)));
    let (_, _, staying) = open(&server, &format!("ticket={}", ticket_of(&http, &other)));

    let (status, _) = http.call(
        "DELETE",
        "/api/v1/sessions/current",
        Some(&host),
        None,
        None,
    );
    assert_eq!(status, 204);
    let events = read_to_end(leaving.unwrap());
    assert_eq!(events.first().map(String::as_str), Some("dashboard"));
    assert_eq!(
        events.last().map(String::as_str),
        Some("closed"),
        "{events:?}"
    );

    // Another session's feed goes on: a fresh ticket still opens for it,
    // and its open feed is not ended with the other.
    let mut lines = BufReader::new(staying.unwrap().into_body().into_reader()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "event: dashboard");
    let (status, _, _) = open(&server, &format!("ticket={}", ticket_of(&http, &other)));
    assert_eq!(status, 200);
}

#[test]
fn an_open_feed_ends_when_the_account_loses_its_role() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.demoted", Role::Host);
    let (_, _, feed) = open(&server, &format!("ticket={}", ticket_of(&http, &host)));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(vitrine_server::set_role(
            &server.config,
            "host.demoted",
            Role::Shopper,
        ))
        .unwrap();
    let events = read_to_end(feed.unwrap());
    assert_eq!(
        events.last().map(String::as_str),
        Some("closed"),
        "{events:?}"
    );
    // And no new ticket for it.
    let (status, body) = ticket(&http, &host);
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
}
