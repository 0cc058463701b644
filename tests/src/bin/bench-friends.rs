//! `cargo run --features vitrine-tests/render --bin bench-friends`: how long
//! a friend's presence change takes to reach the other's room. Bob sits in
//! one room; his friend Ada joins another, then leaves, N times each, over
//! loopback UDP with real clients against a server in this process. A join
//! is timed twice: from Ada's client opening its connection (so with the
//! netcode handshake) and from it seeing the connection up; a leave from
//! her client calling disconnect; each to Bob's mirror showing the change.
//! Then Ada leads a party with Bob and moves between two rooms N times:
//! how long her move takes to reach Bob as a follow offer, and how long
//! Bob takes from "follow" to being welcomed in her room (the HTTP join,
//! the netcode handshake and the welcome, as the showroom follows).
//! Prints p50, p95 and max; asserts nothing.

use serde_json::json;
use std::time::{Duration, Instant};
use vitrine_client::net::NetClient;
use vitrine_server::config::RateConfig;
use vitrine_shared::AccountId;
use vitrine_shared::api::JoinTicket;
use vitrine_shared::protocol::PartyCommand;
use vitrine_tests::{Http, TestServer};

/// How often the clients are polled: fine enough not to blur the figure.
const POLL: Duration = Duration::from_millis(1);
/// A sample that takes longer than this is reported as lost.
const CAP: Duration = Duration::from_secs(5);

fn parse_args() -> Result<usize, String> {
    let mut samples = 300;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--samples" => {
                samples = it
                    .next()
                    .ok_or("--samples needs a value")?
                    .parse()
                    .map_err(|e| format!("--samples: {e}"))?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if samples == 0 {
        return Err("--samples must be at least 1".into());
    }
    Ok(samples)
}

struct Who {
    token: String,
    id: u64,
}

fn guest(http: &Http, name: &str) -> Who {
    let (status, body) = http.call(
        "POST",
        "/api/v1/sessions",
        None,
        None,
        Some(json!({ "display_name": name })),
    );
    assert_eq!(status, 201, "{body}");
    Who {
        token: body["token"].as_str().unwrap().to_owned(),
        id: body["account_id"].as_u64().unwrap(),
    }
}

fn ticket(http: &Http, who: &Who, room: &str) -> JoinTicket {
    let (status, body) = http.call(
        "POST",
        &format!("/api/v1/rooms/{room}/join"),
        Some(&who.token),
        None,
        None,
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

fn pump(clients: &mut [&mut NetClient], last: &mut Instant) {
    let now = Instant::now();
    let dt = now - *last;
    *last = now;
    for client in clients.iter_mut() {
        let _ = client.update(dt);
        let _ = client.flush();
    }
}

/// Polls until `done`, for at most [`CAP`]; the time it took.
fn until(
    clients: &mut [&mut NetClient],
    last: &mut Instant,
    mut done: impl FnMut(&[&mut NetClient]) -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    loop {
        pump(clients, last);
        if done(clients) {
            return Some(start.elapsed());
        }
        if start.elapsed() > CAP {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

fn room_of(bob: &NetClient, ada: AccountId) -> Option<String> {
    bob.mirror()
        .friends
        .get(&ada)
        .and_then(|f| f.presence.as_ref())
        .map(|p| p.room.to_string())
}

fn report(what: &str, mut times: Vec<Duration>, lost: usize) {
    times.sort();
    let pick = |q: f64| {
        let i = ((times.len() as f64 - 1.0) * q).round() as usize;
        times[i].as_secs_f64() * 1000.0
    };
    if times.is_empty() {
        println!("{what}: no samples ({lost} lost)");
        return;
    }
    println!(
        "{what}: {} samples, p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({lost} lost)",
        times.len(),
        pick(0.5),
        pick(0.95),
        pick(1.0)
    );
}

fn main() {
    let samples = match parse_args() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("bench-friends: {e}\nusage: bench-friends [--samples N]");
            std::process::exit(2);
        }
    };
    let server = TestServer::start_with(|c| {
        // Hundreds of joins from one address in a minute.
        c.http_rate = RateConfig {
            per_second: 10_000.0,
            burst: 100_000,
        };
    });
    let http = Http::new(&server);
    let (ada, bob) = (guest(&http, "Ada"), guest(&http, "Bob"));
    let (_, code) = http.call("GET", "/api/v1/friends/code", Some(&ada.token), None, None);
    let (status, body) = http.call(
        "POST",
        "/api/v1/friends/requests",
        Some(&bob.token),
        None,
        Some(json!({ "code": code["code"] })),
    );
    assert_eq!(status, 200, "{body}");
    let accept = format!("/api/v1/friends/requests/{}/accept", bob.id);
    let (status, body) = http.call("POST", &accept, Some(&ada.token), None, None);
    assert_eq!(status, 200, "{body}");
    let ada_id = AccountId(ada.id);

    let mut last = Instant::now();
    let mut bob_client = NetClient::connect(&ticket(&http, &bob, "tiny")).expect("connect");
    let listed = until(&mut [&mut bob_client], &mut last, |c| {
        c[0].mirror().friends.contains_key(&ada_id)
    });
    assert!(listed.is_some(), "Bob never got his friends list");

    let (mut joins, mut leaves, mut handshakes) = (Vec::new(), Vec::new(), Vec::new());
    let (mut joins_lost, mut leaves_lost) = (0, 0);
    for _ in 0..samples {
        let hall = ticket(&http, &ada, "hall");
        let opened = Instant::now();
        let mut ada_client = NetClient::connect(&hall).expect("connect");
        let up = until(&mut [&mut ada_client, &mut bob_client], &mut last, |c| {
            c[0].is_connected()
        });
        if up.is_none() {
            joins_lost += 1;
            continue;
        }
        match until(&mut [&mut ada_client, &mut bob_client], &mut last, |c| {
            room_of(c[1], ada_id).as_deref() == Some("hall")
        }) {
            Some(t) => {
                joins.push(t);
                handshakes.push(opened.elapsed());
            }
            None => joins_lost += 1,
        }
        // Welcomed, so the next leave is a leave of a member.
        let _ = until(&mut [&mut ada_client], &mut last, |c| {
            c[0].mirror().is_welcomed()
        });
        ada_client.disconnect();
        match until(&mut [&mut ada_client, &mut bob_client], &mut last, |c| {
            c[1].mirror()
                .friends
                .get(&ada_id)
                .is_some_and(|f| f.presence.is_none())
        }) {
            Some(t) => leaves.push(t),
            None => leaves_lost += 1,
        }
    }
    println!(
        "presence over loopback UDP, {} Hz ticks, clients polled every {} ms",
        vitrine_shared::protocol::TICK_HZ,
        POLL.as_millis()
    );
    report(
        "a friend joins a room (from opening the connection)",
        handshakes,
        joins_lost,
    );
    report(
        "a friend joins a room (from the connection up)",
        joins,
        joins_lost,
    );
    report("a friend leaves", leaves, leaves_lost);

    // Following: Ada leads a party with Bob in it and moves room after
    // room; Bob follows each move as the showroom does (an ordinary join).
    bob_client.disconnect();
    let mut bob_client = NetClient::connect(&ticket(&http, &bob, "hall")).expect("connect");
    let mut ada_client = NetClient::connect(&ticket(&http, &ada, "hall")).expect("connect");
    let here = until(&mut [&mut ada_client, &mut bob_client], &mut last, |c| {
        c.iter().all(|c| c.mirror().is_welcomed())
    });
    assert!(here.is_some(), "Ada and Bob never got into the hall");
    ada_client.send_party(PartyCommand::Invite {
        account: AccountId(bob.id),
    });
    let invited = until(&mut [&mut ada_client, &mut bob_client], &mut last, |c| {
        !c[1].mirror().party.invites.is_empty()
    });
    assert!(invited.is_some(), "Bob was never invited");
    let party = *bob_client.mirror().party.invites.keys().next().unwrap();
    bob_client.send_party(PartyCommand::Accept { party });
    let formed = until(&mut [&mut ada_client, &mut bob_client], &mut last, |c| {
        c[0].mirror()
            .party
            .party
            .as_ref()
            .is_some_and(|p| p.members.len() == 2)
    });
    assert!(formed.is_some(), "the party never formed");

    let (mut offers, mut follows) = (Vec::new(), Vec::new());
    let (mut offers_lost, mut follows_lost) = (0, 0);
    for i in 0..samples {
        let to = if i % 2 == 0 { "tiny" } else { "hall" };
        ada_client.disconnect();
        // Timed from her connection opening, as a friend's join is above.
        let leader_ticket = ticket(&http, &ada, to);
        let moved = Instant::now();
        ada_client = NetClient::connect(&leader_ticket).expect("connect");
        let offered = until(&mut [&mut ada_client, &mut bob_client], &mut last, |c| {
            c[1].mirror()
                .party
                .follow
                .as_ref()
                .is_some_and(|f| f.room.as_str() == to)
        });
        if offered.is_none() {
            offers_lost += 1;
            continue;
        }
        offers.push(moved.elapsed());
        // Bob presses follow: leave, ask for a seat, connect, be welcomed.
        let pressed = Instant::now();
        bob_client.disconnect();
        bob_client = NetClient::connect(&ticket(&http, &bob, to)).expect("connect");
        match until(&mut [&mut ada_client, &mut bob_client], &mut last, |c| {
            c[1].mirror()
                .room
                .as_ref()
                .is_some_and(|r| r.as_str() == to)
        }) {
            Some(_) => follows.push(pressed.elapsed()),
            None => follows_lost += 1,
        }
    }
    report(
        "the leader moves: the follow offer reaches a member (from the leader's connection opening)",
        offers,
        offers_lost,
    );
    report(
        "a member follows: from pressing follow to welcomed in the new room (HTTP join, handshake, welcome)",
        follows,
        follows_lost,
    );
}
