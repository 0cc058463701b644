//! Password sign-in under attack: a burst of sign-ins runs a bounded number
//! of Argon2 checks at once (the rest queue, or are told the server is
//! busy); a username is locked after repeated failures; an unknown username
//! costs a password check like a known one.

use serde_json::{Value, json};
use std::sync::{Arc, Barrier};
use std::time::Duration;
use vitrine_server::clock::ManualClock;
use vitrine_shared::Role;
use vitrine_tests::TestServer;

const PASSWORD: &str = "correct horse battery staple";

/// A `/metrics` value by its series name (no labels), if it is there.
fn metric(server: &TestServer, name: &str) -> Option<f64> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let text = agent
        .get(format!("{}/metrics", server.url()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

/// (status, Retry-After, body) of one password sign-in.
fn sign_in(server: &TestServer, username: &str, password: &str) -> (u16, Option<u64>, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let mut response = agent
        .post(format!("{}/api/v1/sessions", server.url()))
        .send_json(json!({ "username": username, "password": password }))
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = response.body_mut().read_to_string().unwrap();
    (
        response.status().as_u16(),
        retry_after,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

/// One address, many attempts: the per-address limit is not what this tests.
fn roomy(c: &mut vitrine_server::config::ServerConfig) {
    c.http_rate = vitrine_server::config::RateConfig {
        per_second: 10_000.0,
        burst: 100_000,
    };
}

#[test]
fn a_hundred_concurrent_sign_ins_never_run_more_hashes_at_once_than_the_bound() {
    let server = TestServer::start_with(roomy);
    let limit = metric(&server, "vitrine_sign_in_hashes_limit").expect("the bound is published");
    assert!(limit >= 1.0);
    server.sign_in_as("burst.ana", Role::Host);
    let checks_before = metric(&server, "vitrine_sign_in_hash_checks_total").unwrap();

    let barrier = Arc::new(Barrier::new(100));
    let server = Arc::new(server);
    let answers: Vec<(u16, Option<u64>, Value)> = (0..100)
        .map(|_| {
            let (barrier, server) = (barrier.clone(), server.clone());
            std::thread::spawn(move || {
                barrier.wait();
                sign_in(&server, "burst.ana", PASSWORD)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();

    let signed_in = answers.iter().filter(|(s, ..)| *s == 201).count();
    assert!(signed_in >= 1, "some got through: {answers:?}");
    for (status, retry_after, body) in &answers {
        match status {
            201 => {}
            // Past the queue: told to come back, not left hanging.
            503 => {
                assert_eq!(body["code"], "busy", "{body}");
                assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let peak = metric(&server, "vitrine_sign_in_hashes_peak").unwrap();
    assert!(
        peak >= 1.0 && peak <= limit,
        "peak {peak} over the bound {limit}"
    );
    assert_eq!(metric(&server, "vitrine_sign_in_hashes_running"), Some(0.0));
    let checks = metric(&server, "vitrine_sign_in_hash_checks_total").unwrap() - checks_before;
    assert_eq!(
        checks as usize, signed_in,
        "one check per sign-in let through"
    );
}

#[test]
fn a_username_is_locked_after_five_failures_and_opens_again_after_fifteen_minutes() {
    let time = ManualClock::starting_now();
    let clock = time.clock();
    let server = TestServer::start_with(move |c| {
        roomy(c);
        c.clock = clock;
    });
    server.sign_in_as("locked.ana", Role::Host);
    server.sign_in_as("other.bo", Role::Host);

    // Failures spread wider than the window do not add up.
    for _ in 0..4 {
        assert_eq!(sign_in(&server, "locked.ana", "wrong password!").0, 401);
    }
    time.advance(Duration::from_secs(16 * 60));
    for _ in 0..4 {
        assert_eq!(sign_in(&server, "locked.ana", "wrong password!").0, 401);
    }
    // A success clears them.
    assert_eq!(sign_in(&server, "locked.ana", PASSWORD).0, 201);

    for _ in 0..5 {
        let (status, _, body) = sign_in(&server, "locked.ana", "wrong password!");
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("bad_credentials"))
        );
    }
    let checks = metric(&server, "vitrine_sign_in_hash_checks_total").unwrap();
    // Locked: even the right password is refused, and costs no hash.
    let (status, retry_after, body) = sign_in(&server, "locked.ana", PASSWORD);
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("sign_in_locked")),
        "{body}"
    );
    assert_eq!(retry_after, Some(15 * 60));
    assert_eq!(
        metric(&server, "vitrine_sign_in_hash_checks_total"),
        Some(checks)
    );
    // Someone else's name is not locked.
    assert_eq!(sign_in(&server, "other.bo", PASSWORD).0, 201);

    time.advance(Duration::from_secs(14 * 60));
    let (status, retry_after, _) = sign_in(&server, "locked.ana", PASSWORD);
    assert_eq!((status, retry_after), (429, Some(60)));
    time.advance(Duration::from_secs(60));
    let (status, _, body) = sign_in(&server, "locked.ana", PASSWORD);
    assert_eq!(status, 201, "{body}");

    // A name no account has locks the same way: the lock says nothing
    // about whether the account exists.
    for _ in 0..5 {
        assert_eq!(sign_in(&server, "nobody.here", "wrong password!").0, 401);
    }
    let (status, _, body) = sign_in(&server, "nobody.here", "wrong password!");
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("sign_in_locked"))
    );
}

/// No timing oracle: a name with no account is checked against a stand-in
/// hash with the same parameters, so it costs one Argon2 check like a
/// known name with a wrong password.
#[test]
fn an_unknown_username_costs_a_password_check() {
    let server = TestServer::start_with(roomy);
    server.sign_in_as("known.ana", Role::Host);
    let before = metric(&server, "vitrine_sign_in_hash_checks_total").expect("counted");
    let (status, _, body) = sign_in(&server, "no.such.user", "wrong password!");
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_credentials"))
    );
    let unknown = metric(&server, "vitrine_sign_in_hash_checks_total").unwrap();
    assert_eq!(unknown, before + 1.0, "the unknown name ran a check");
    let (status, _, body) = sign_in(&server, "known.ana", "wrong password!");
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_credentials"))
    );
    let known = metric(&server, "vitrine_sign_in_hash_checks_total").unwrap();
    assert_eq!(known, unknown + 1.0);
}

/// Guesses sent at once do not slip past the lock: only as many checks
/// run for a name as it has failures left before it locks, and the rest
/// are refused without one. Locked, even the right password is refused.
#[test]
fn twenty_concurrent_wrong_passwords_run_at_most_five_checks() {
    let server = TestServer::start_with(roomy);
    server.sign_in_as("guessed.ana", Role::Host);
    let before = metric(&server, "vitrine_sign_in_hash_checks_total").unwrap();

    let barrier = Arc::new(Barrier::new(20));
    let server = Arc::new(server);
    let answers: Vec<(u16, Option<u64>, Value)> = (0..20)
        .map(|_| {
            let (barrier, server) = (barrier.clone(), server.clone());
            std::thread::spawn(move || {
                barrier.wait();
                sign_in(&server, "guessed.ana", "wrong password!")
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();

    let checks = metric(&server, "vitrine_sign_in_hash_checks_total").unwrap() - before;
    assert!(checks <= 5.0, "{checks} checks: {answers:?}");
    let wrong = answers.iter().filter(|(s, ..)| *s == 401).count();
    assert_eq!(wrong, 5, "five told wrong, then locked: {answers:?}");
    for (status, retry_after, body) in &answers {
        match (status, body["code"].as_str()) {
            (401, Some("bad_credentials")) | (429, Some("sign_in_locked")) => {}
            // More checks in flight for the name than it has failures left.
            (503, Some("busy")) => assert!(retry_after.is_some(), "{body}"),
            other => panic!("unexpected {other:?}: {body}"),
        }
    }
    let (status, _, body) = sign_in(&server, "guessed.ana", PASSWORD);
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("sign_in_locked")),
        "{body}"
    );
    assert_eq!(
        metric(&server, "vitrine_sign_in_hash_checks_total").unwrap() - before,
        checks,
        "a locked name runs no check"
    );
}
