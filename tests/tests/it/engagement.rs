//! Engagement end to end: presence points that idle bots, reconnect loops
//! and a second room cannot farm; reactions summed into bursts; polls and
//! Q&A from the room; a giveaway a third party can recompute; invites,
//! rewards and the leaderboard over HTTP.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use vitrine_client::net::{NetClient, RoomChange, SignedIn};
use vitrine_shared::api::{GiveawayView, PollView, RewardsView};
use vitrine_shared::protocol::{EngagementRefusal, RejectReason};
use vitrine_shared::{ChatText, PollId, PoseNet, Reaction, Role, RoomCommand};
use vitrine_tests::{Http, TestServer, joined_as, now_ms, pump, step_until};

fn rewards(http: &Http, token: &str) -> RewardsView {
    let (status, body) = http.call("GET", "/api/v1/rewards", Some(token), None, None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

fn watch_grants(http: &Http, token: &str) -> usize {
    rewards(http, token)
        .recent
        .iter()
        .filter(|g| g.reason == "watch")
        .count()
}

/// Walks the client's avatar back and forth (about 1 m/s) from its spawn.
fn walk(client: &mut NetClient, t: f32) {
    if let Some(spawn) = client.mirror().spawn {
        let x = spawn.position[0] + t.sin();
        client.send_pose(PoseNet::at(
            [x, spawn.position[1], spawn.position[2]],
            spawn.yaw,
        ));
    }
}

#[test]
fn presence_earns_watch_points_only_when_active_and_once_across_rooms() {
    // A watch "minute" of one second, so that minutes pass in a test.
    let server = TestServer::start_with(|c| c.watch_minute = Duration::from_secs(1));
    let http = Http::new(&server);
    let api = server.api();
    let (active, idle, twice, looping): (SignedIn, SignedIn, SignedIn, SignedIn) = (
        api.sign_in("Active").unwrap(),
        api.sign_in("Idle").unwrap(),
        api.sign_in("Twice").unwrap(),
        api.sign_in("Looping").unwrap(),
    );
    let mut walker = joined_as(&server, &active, "hall");
    let mut sitter = joined_as(&server, &idle, "hall");
    // The same account joins a second room, walking in both. One server
    // keeps one connection per account (the second replaces the first), and
    // across servers the minute's number as the grant's reference makes the
    // same minute count once (the engine's tests show that part).
    let mut twice_hall = joined_as(&server, &twice, "hall");
    let mut twice_tiny = joined_as(&server, &twice, "tiny");
    let mut looper = Some(joined_as(&server, &looping, "hall"));
    let started = Instant::now();
    let mut reconnected_at = Instant::now();
    let enough = step_until(Duration::from_secs(30), || {
        let t = started.elapsed().as_secs_f32();
        for client in [&mut walker, &mut twice_hall, &mut twice_tiny] {
            walk(client, t);
        }
        pump(&mut [&mut walker, &mut sitter, &mut twice_hall, &mut twice_tiny]);
        // Reconnects every half second, walking meanwhile: never a full minute.
        if let Some(client) = looper.as_mut() {
            walk(client, t);
            pump(&mut [client]);
        }
        if reconnected_at.elapsed() >= Duration::from_millis(500) {
            reconnected_at = Instant::now();
            if let Some(mut old) = looper.take() {
                old.disconnect();
            }
            // Not waited for: the loop goes on pumping everyone else.
            let ticket = api.join(&looping, "hall").unwrap();
            looper = Some(NetClient::connect(&ticket).unwrap());
        }
        walker.mirror().points.unwrap_or(0) >= 2 * 5
    });
    assert!(enough, "the active shopper earned five minutes' points");
    let walked = watch_grants(&http, &active.token);
    assert!(walked >= 5, "{walked}");
    assert_eq!(watch_grants(&http, &idle.token), 0, "idle earns nothing");
    assert_eq!(
        watch_grants(&http, &looping.token),
        0,
        "reconnect loops earn nothing"
    );
    assert!(
        twice_hall.is_disconnected(),
        "the second room replaced the first"
    );
    let doubled = watch_grants(&http, &twice.token);
    eprintln!("watch grants: active {walked}, in two rooms {doubled}");
    assert!(
        doubled <= walked + 1,
        "two rooms count once: {doubled} against {walked}"
    );
    assert!(doubled >= 1);
    // The points reached the shopper in the room, and the balance matches.
    assert_eq!(
        walker.mirror().points,
        Some(rewards(&http, &active.token).balance)
    );
}

#[test]
fn a_burst_of_reactions_arrives_summed() {
    let server = TestServer::start();
    let api = server.api();
    let observer_session = api.sign_in("Observer").unwrap();
    let mut observer = joined_as(&server, &observer_session, "hall");
    let mut crowd: Vec<NetClient> = (0..20)
        .map(|i| joined_as(&server, &api.sign_in(&format!("Fan {i}")).unwrap(), "hall"))
        .collect();
    observer.mirror_mut().drain_changes();
    for (i, fan) in crowd.iter_mut().enumerate() {
        let reaction = if i % 2 == 0 {
            Reaction::Heart
        } else {
            Reaction::Fire
        };
        fan.send_command(RoomCommand::React(reaction));
        fan.send_command(RoomCommand::React(Reaction::Heart));
    }
    let mut bursts = Vec::new();
    let all = step_until(Duration::from_secs(10), || {
        let mut refs: Vec<&mut NetClient> = crowd.iter_mut().collect();
        refs.push(&mut observer);
        pump(&mut refs);
        for change in observer.mirror_mut().drain_changes() {
            if let RoomChange::Reactions(burst) = change {
                bursts.push(burst);
            }
        }
        observer.mirror().reactions_seen >= 40
    });
    assert!(all, "saw {} of 40", observer.mirror().reactions_seen);
    assert_eq!(observer.mirror().reactions_seen, 40);
    assert!(
        bursts.len() <= 4,
        "40 reactions came in {} messages, not one each",
        bursts.len()
    );
    let hearts: u32 = bursts
        .iter()
        .flat_map(|b| &b.counts)
        .filter(|(r, _)| *r == Reaction::Heart)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(hearts, 30);
    assert!(
        bursts
            .iter()
            .all(|b| !b.from.is_empty() && b.from.len() <= 16)
    );
}

fn rejected(client: &NetClient) -> Vec<EngagementRefusal> {
    client
        .mirror()
        .rejections
        .iter()
        .filter_map(|r| match &r.reason {
            RejectReason::Engagement(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn polls_and_questions_from_the_room() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.polls", Role::Host);
    let api = server.api();
    let sessions: Vec<SignedIn> = ["Ada", "Bo", "Cy"]
        .iter()
        .map(|n| api.sign_in(n).unwrap())
        .collect();
    let mut clients: Vec<NetClient> = sessions
        .iter()
        .map(|s| joined_as(&server, s, "hall"))
        .collect();
    let pump_all = |clients: &mut Vec<NetClient>| {
        let mut refs: Vec<&mut NetClient> = clients.iter_mut().collect();
        pump(&mut refs);
    };

    // A shopper cannot open a poll; the host can.
    let poll =
        json!({ "question": "Sage or oat?", "options": ["Sage", "Oat"], "duration_secs": 120 });
    let (status, _) = http.call(
        "POST",
        "/api/v1/polls",
        Some(&sessions[0].token),
        None,
        Some(poll.clone()),
    );
    assert_eq!(status, 403);
    let (status, body) = http.call("POST", "/api/v1/polls", Some(&host), None, Some(poll));
    assert_eq!(status, 201, "{body}");
    let poll: PollView = serde_json::from_value(body).unwrap();
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut clients);
        clients
            .iter()
            .all(|c| c.mirror().polls.contains_key(&poll.id))
    }));

    // Everyone votes from the room; one tries twice, one picks no option.
    for (i, client) in clients.iter_mut().enumerate() {
        let option = if i == 0 { 0 } else { 1 };
        client.send_command(RoomCommand::Vote {
            poll_id: poll.id,
            option,
        });
    }
    clients[0].send_command(RoomCommand::Vote {
        poll_id: poll.id,
        option: 1,
    });
    clients[1].send_command(RoomCommand::Vote {
        poll_id: PollId(poll.id.get() + 1),
        option: 0,
    });
    assert!(
        step_until(Duration::from_secs(10), || {
            pump_all(&mut clients);
            clients
                .iter()
                .all(|c| c.mirror().polls[&poll.id].counts == [1, 2])
        }),
        "live results reach every room client"
    );
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut clients);
        rejected(&clients[0]) == [EngagementRefusal::AlreadyVoted]
            && rejected(&clients[1]) == [EngagementRefusal::UnknownPoll]
    }));
    let (_, body) = http.call(
        "GET",
        &format!("/api/v1/polls/{}", poll.id),
        None,
        None,
        None,
    );
    assert_eq!(body["counts"], json!([1, 2]), "the console sees the same");
    assert!(
        step_until(Duration::from_secs(10), || {
            pump_all(&mut clients);
            clients.iter().all(|c| c.mirror().points == Some(5))
        }),
        "a vote earns poll points"
    );

    // A chat line earns a point.
    clients[1].send_command(RoomCommand::Chat(ChatText::new("Love it").unwrap()));
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut clients);
        clients[1].mirror().points == Some(5 + 1)
    }));

    // Picking up a product earns inspect points (once); a made-up one is refused.
    let product = |p: &str| vitrine_shared::ProductId::new(p).unwrap();
    clients[2].send_command(RoomCommand::Inspect {
        product: product("glow-serum"),
    });
    clients[2].send_command(RoomCommand::Inspect {
        product: product("glow-serum"),
    });
    clients[2].send_command(RoomCommand::Inspect {
        product: product("no-such-thing"),
    });
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut clients);
        clients[2].mirror().points == Some(5 + 3)
            && rejected(&clients[2]) == [EngagementRefusal::UnknownProduct]
    }));

    // Q&A: ask, upvote someone else's, not your own; the host answers.
    clients[0].send_command(RoomCommand::Ask(ChatText::new("Is it oven safe?").unwrap()));
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut clients);
        clients.iter().all(|c| c.mirror().questions.len() == 1)
    }));
    let question = *clients[1].mirror().questions.keys().next().unwrap();
    clients[1].send_command(RoomCommand::Upvote {
        question_id: question,
    });
    clients[0].send_command(RoomCommand::Upvote {
        question_id: question,
    });
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut clients);
        clients
            .iter()
            .all(|c| c.mirror().questions[&question].votes == 1)
            && rejected(&clients[0]).contains(&EngagementRefusal::OwnQuestion)
    }));
    // A newcomer sees the open poll and question.
    let late = joined_as(&server, &api.sign_in("Late").unwrap(), "hall");
    let mut late = late;
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut late]);
        late.mirror().polls.contains_key(&poll.id)
            && late.mirror().questions.contains_key(&question)
    }));
    let path = format!("/api/v1/questions/{question}/answered");
    assert_eq!(
        http.call("POST", &path, Some(&sessions[1].token), None, None)
            .0,
        403
    );
    assert_eq!(http.call("POST", &path, Some(&host), None, None).0, 200);
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut clients);
        clients
            .iter()
            .all(|c| c.mirror().questions[&question].answered)
    }));
    let (_, queue) = http.call("GET", "/api/v1/questions", None, None, None);
    assert_eq!(queue["questions"][0]["answered"], true);
}

/// An independent recomputation of a draw from the published data, as a
/// third party would write it from the documentation alone.
fn third_party_draw(seed_hex: &str, entries: &[u64], draw: u32, excluded: &[u64]) -> u64 {
    let mut sorted = entries.to_vec();
    sorted.sort();
    let joined = sorted
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let digest = Sha256::digest(format!("{seed_hex}:{joined}:{draw}").as_bytes());
    let mut first8 = [0u8; 8];
    first8.copy_from_slice(&digest[..8]);
    let candidates: Vec<u64> = sorted
        .into_iter()
        .filter(|e| !excluded.contains(e))
        .collect();
    candidates[(u64::from_be_bytes(first8) % candidates.len() as u64) as usize]
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_giveaway_drawn_on_the_server_is_recomputed_by_a_third_party() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.giveaway", Role::Host);
    let api = server.api();
    let fans: Vec<SignedIn> = (0..6)
        .map(|i| api.sign_in(&format!("Fan {i}")).unwrap())
        .collect();
    let mut watcher = joined_as(&server, &fans[0], "hall");

    let body = json!({ "prize": "A linen lamp", "entry": "everyone", "closes_in_secs": 10 });
    let (status, _) = http.call(
        "POST",
        "/api/v1/giveaways",
        Some(&fans[1].token),
        None,
        Some(body.clone()),
    );
    assert_eq!(status, 403);
    let (status, opened) = http.call("POST", "/api/v1/giveaways", Some(&host), None, Some(body));
    assert_eq!(status, 201, "{opened}");
    let opened: GiveawayView = serde_json::from_value(opened).unwrap();
    assert_eq!(opened.seed, None);
    let path = format!("/api/v1/giveaways/{}", opened.id);

    // Fan 0 enters from the room; the others over HTTP; nobody twice.
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut watcher]);
        watcher.mirror().giveaways.contains_key(&opened.id)
    }));
    assert_eq!(
        watcher.mirror().giveaways[&opened.id].commitment,
        opened.commitment
    );
    watcher.send_command(RoomCommand::EnterGiveaway {
        giveaway_id: opened.id,
    });
    for fan in &fans[1..] {
        let (status, body) = http.call(
            "POST",
            &format!("{path}/entries"),
            Some(&fan.token),
            None,
            None,
        );
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = http.call(
        "POST",
        &format!("{path}/entries"),
        Some(&fans[1].token),
        None,
        None,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("already_entered"))
    );
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut watcher]);
        watcher
            .mirror()
            .giveaways
            .get(&opened.id)
            .map(|g| g.entries)
            == Some(6)
    }));

    // Entries close after 10 s and the draw is announced in the room.
    assert!(
        step_until(Duration::from_secs(30), || {
            pump(&mut [&mut watcher]);
            !watcher.mirror().draws.is_empty()
        }),
        "the draw was announced"
    );
    let (_, body) = http.call("GET", &path, None, None, None);
    let drawn: GiveawayView = serde_json::from_value(body).unwrap();
    let seed = drawn.seed.clone().expect("revealed");
    // The third party's checks: the seed is what was committed to before
    // entries closed, and the winner follows from it and the entries.
    let commitment: String = Sha256::digest(hex_decode(&seed))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(commitment, opened.commitment);
    assert_eq!(drawn.entries.len(), 6);
    let winner = third_party_draw(&seed, &drawn.entries, 0, &[]);
    assert_eq!(drawn.draws[0].account_id, winner);
    let (id, draw, name, room_seed) = watcher.mirror().draws[0].clone();
    assert_eq!(
        (id, draw, room_seed.as_str()),
        (opened.id, 0, seed.as_str())
    );
    assert_eq!(name, drawn.draws[0].name);

    // The winner claims (twice: the same answer); nobody else can.
    let winner = fans.iter().find(|f| f.account_id == winner).unwrap();
    for _ in 0..2 {
        let (status, body) = http.call(
            "POST",
            &format!("{path}/claim"),
            Some(&winner.token),
            None,
            None,
        );
        assert_eq!(
            (status, body["claimed"].as_bool()),
            (200, Some(true)),
            "{body}"
        );
    }
    let other = fans
        .iter()
        .find(|f| f.account_id != winner.account_id)
        .unwrap();
    let (status, body) = http.call(
        "POST",
        &format!("{path}/claim"),
        Some(&other.token),
        None,
        None,
    );
    assert_eq!((status, body["code"].as_str()), (403, Some("not_winner")));
    let (status, _) = http.call("POST", &format!("{path}/entries"), Some(&host), None, None);
    assert_eq!(status, 409, "entries are closed");
}

#[test]
fn invites_rewards_and_the_leaderboard_over_http() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.rewards", Role::Host);
    let api = server.api();
    let ada = api.sign_in("Ada").unwrap();
    let (status, body) = http.call("POST", "/api/v1/invites", Some(&ada.token), None, None);
    assert_eq!(status, 200);
    let code = body["code"].as_str().unwrap().to_owned();

    // A made-up code is refused; two friends come in with Ada's, join and
    // buy: an invite earns once the friend does what a person does.
    let (status, body): (u16, Value) = http.call(
        "POST",
        "/api/v1/sessions",
        None,
        None,
        Some(json!({ "display_name": "Nobody", "invite": "I-NOTACODE00" })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("invite_not_found"))
    );
    let mut friends = Vec::new();
    for name in ["Bo", "Cy"] {
        let (status, body) = http.call(
            "POST",
            "/api/v1/sessions",
            None,
            None,
            Some(json!({ "display_name": name, "invite": code.to_lowercase() })),
        );
        assert_eq!(status, 201, "{body}");
        let friend = SignedIn {
            token: body["token"].as_str().unwrap().to_owned(),
            account_id: body["account_id"].as_u64().unwrap(),
            display_name: name.to_owned(),
        };
        let client = joined_as(&server, &friend, "hall");
        let buy = json!({ "buy_now": { "sku": "stoneware-mug-oat", "quantity": 1 }, "card": "4242424242424242" });
        let key = format!("first-order-{name}");
        let (status, order) = http.call(
            "POST",
            "/api/v1/checkout",
            Some(&friend.token),
            Some(&key),
            Some(buy),
        );
        assert_eq!(status, 201, "{order}");
        friends.push((friend, client));
    }
    assert!(
        step_until(Duration::from_secs(10), || {
            rewards(&http, &ada.token).balance == 200
        }),
        "100 points per friend who joined and bought"
    );

    // The all-time leaderboard shows Ada by name.
    let (_, board) = http.call(
        "GET",
        "/api/v1/leaderboard?scope=all_time",
        None,
        None,
        None,
    );
    assert_eq!(board["leaders"][0]["name"], "Ada");
    assert_eq!(board["leaders"][0]["points"], 200);
    let (status, _) = http.call("GET", "/api/v1/leaderboard?scope=forever", None, None, None);
    assert_eq!(status, 400);

    // 200 points buy 10% off one order.
    let (status, body) = http.call(
        "POST",
        "/api/v1/rewards/redeem",
        Some(&ada.token),
        None,
        Some(json!({ "reward": "ten-off" })),
    );
    assert_eq!(status, 201, "{body}");
    let coupon = body["coupon"].as_str().unwrap().to_owned();
    assert_eq!(body["balance"], 0);
    let (status, body) = http.call(
        "POST",
        "/api/v1/rewards/redeem",
        Some(&ada.token),
        None,
        Some(json!({ "reward": "ten-off" })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("not_enough_points"))
    );
    let buy = |key: &str| {
        http.call(
            "POST",
            "/api/v1/checkout",
            Some(&ada.token),
            Some(key),
            Some(json!({ "buy_now": { "sku": "stoneware-mug-sage", "quantity": 2 }, "coupon": coupon, "card": "4242424242424242" })),
        )
    };
    // Bound to Ada, who paid for it in points: her friend cannot use it.
    let (bo, _) = &friends[0];
    let (status, body) = http.call(
        "POST",
        "/api/v1/checkout",
        Some(&bo.token),
        Some("borrowed"),
        Some(json!({ "buy_now": { "sku": "stoneware-mug-sage", "quantity": 2 }, "coupon": coupon, "card": "4242424242424242" })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("coupon_not_yours")),
        "{body}"
    );
    let (status, order) = buy("with-reward");
    assert_eq!(status, 201, "{order}");
    assert!(order["discount"]["minor"].as_i64().unwrap() > 0);
    let (status, body) = buy("again");
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("coupon_used_up"))
    );

    // Shoppers cannot run the show.
    for (path, body) in [
        ("/api/v1/shows", json!({ "title": "Mine" })),
        (
            "/api/v1/giveaways",
            json!({ "prize": "x", "entry": "everyone", "closes_in_secs": 60 }),
        ),
        (
            "/api/v1/polls",
            json!({ "question": "q", "options": ["a", "b"], "duration_secs": 60 }),
        ),
    ] {
        let (status, _) = http.call("POST", path, Some(&ada.token), None, Some(body));
        assert_eq!(status, 403, "{path}");
    }
    let (status, show) = http.call(
        "POST",
        "/api/v1/shows",
        Some(&host),
        None,
        Some(json!({ "title": "Spring drop" })),
    );
    assert_eq!(status, 201, "{show}");
    let (_, current) = http.call("GET", "/api/v1/shows/current", None, None, None);
    assert_eq!(current["title"], "Spring drop");
}

#[test]
fn bad_engagement_requests_get_typed_answers() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.bad", Role::Host);
    let shopper = vitrine_tests::guest(&http, "Ada");
    let cases: Vec<(&str, &str, &str, Value, u16, &str)> = vec![
        (
            "POST",
            "/api/v1/polls",
            &host,
            json!({ "question": "q", "options": ["only"], "duration_secs": 60 }),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/polls",
            &host,
            json!({ "question": "q", "options": ["a", "b"], "duration_secs": 1 }),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/polls",
            &host,
            json!({ "question": "q", "options": ["a", "b"] }),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/polls/123/votes",
            &shopper,
            json!({ "option": 0 }),
            404,
            "poll_not_found",
        ),
        (
            "POST",
            "/api/v1/polls/abc/votes",
            &shopper,
            json!({ "option": 0 }),
            404,
            "poll_not_found",
        ),
        (
            "POST",
            "/api/v1/polls/1/votes",
            &shopper,
            json!({ "option": -1 }),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/questions",
            &shopper,
            json!({ "text": "" }),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/questions",
            &shopper,
            json!({ "text": "x".repeat(281) }),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/questions/9/upvotes",
            &shopper,
            Value::Null,
            404,
            "question_not_found",
        ),
        (
            "POST",
            "/api/v1/giveaways",
            &host,
            json!({ "prize": "x", "entry": "sometimes", "closes_in_secs": 60 }),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/giveaways",
            &host,
            json!({ "prize": "x", "entry": "everyone", "closes_in_secs": 5 }),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/giveaways",
            &host,
            json!({ "prize": "x", "entry": "present", "present_minutes": 5, "closes_in_secs": 60 }),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/giveaways/77/entries",
            &shopper,
            Value::Null,
            404,
            "giveaway_not_found",
        ),
        (
            "POST",
            "/api/v1/giveaways/77/claim",
            &shopper,
            Value::Null,
            404,
            "giveaway_not_found",
        ),
        (
            "POST",
            "/api/v1/rewards/redeem",
            &shopper,
            json!({ "reward": "yacht" }),
            404,
            "reward_not_found",
        ),
        (
            "POST",
            "/api/v1/shows",
            &host,
            json!({ "title": "" }),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/shows/current/end",
            &host,
            Value::Null,
            404,
            "no_show",
        ),
    ];
    for (method, path, token, body, status, code) in cases {
        let body = (!body.is_null()).then_some(body);
        let (got, reply) = http.call(method, path, Some(token), None, body);
        assert_eq!(
            (got, reply["code"].as_str()),
            (status, Some(code)),
            "{method} {path}"
        );
    }
    assert!(
        rewards(&http, &shopper).recent.is_empty(),
        "nothing was granted"
    );
}

#[test]
fn a_scheduled_show_is_a_calendar_file_that_calendar_apps_read() {
    use icalendar::{Component, DatePerhapsTime};
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.calendar", Role::Host);
    // Tomorrow at a whole second; a title with characters iCalendar escapes.
    let at_ms = (now_ms() / 1000 + 86_400) * 1000;
    let title = "Spring drop; totes, mugs \\ more";
    let (status, show) = http.call(
        "POST",
        "/api/v1/shows",
        Some(&host),
        None,
        Some(json!({"title": title, "scheduled_at_ms": at_ms,
                    "lineup": ["canvas-tote", "stoneware-mug"]})),
    );
    assert_eq!(status, 201, "{show}");
    let id = show["id"].as_i64().unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = |path: &str| {
        let mut response = agent.get(format!("{}{path}", server.url())).call().unwrap();
        let kind = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.body_mut().read_to_string().unwrap();
        (response.status().as_u16(), kind, body)
    };
    let (status, kind, ics) = get(&format!("/api/v1/shows/{id}/calendar.ics"));
    assert_eq!(status, 200, "{ics}");
    assert_eq!(kind.as_deref(), Some("text/calendar; charset=utf-8"));
    let calendar: icalendar::Calendar = ics.parse().expect("a calendar app reads it");
    let events: Vec<&icalendar::Event> = calendar
        .components
        .iter()
        .filter_map(|c| c.as_event())
        .collect();
    assert_eq!(events.len(), 1, "{ics}");
    let event = events[0];
    assert_eq!(event.get_summary(), Some(title));
    let start = match event.get_start() {
        Some(DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(t))) => t,
        other => panic!("start {other:?}"),
    };
    assert_eq!(start.timestamp_millis(), at_ms);
    // The line-up by the products' names, as the catalog has them.
    let (_, products) = http.call("GET", "/api/v1/products", None, None, None);
    let name = |id: &str| {
        let all = products["products"].as_array().unwrap();
        let p = all.iter().find(|p| p["id"] == id).unwrap();
        p["name"].as_str().unwrap().to_owned()
    };
    let description = event.get_description().unwrap();
    assert!(
        description.ends_with(&format!(
            "On the line-up: {}, {}",
            name("canvas-tote"),
            name("stoneware-mug")
        )),
        "{description}"
    );
    // An alarm before it starts; a UID naming this shop as it was reached.
    assert!(ics.contains("BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\n"));
    let host = server.url().trim_start_matches("http://").to_owned();
    assert!(
        ics.contains(&format!("\r\nUID:show-{id}@{host}\r\n")),
        "{ics}"
    );
    // No such show, or not an id: a typed 404, nothing else.
    for path in [
        "/api/v1/shows/4242/calendar.ics",
        "/api/v1/shows/x1/calendar.ics",
    ] {
        let (status, _, body) = get(path);
        assert_eq!(status, 404, "{path}: {body}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["code"], "show_not_found", "{body}");
    }
}
