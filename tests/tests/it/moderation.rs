//! Moderation end to end: deleting a chat line, timed mutes, kicks, bans,
//! the keyword filter and the log, over HTTP for staff and as the rooms'
//! members see them.

use serde_json::{Value, json};
use std::time::Duration;
use vitrine_client::net::{NetClient, RoomChange, SignedIn};
use vitrine_shared::api::{BanList, FilterView, ModChatView, ModLogView, MuteList, MuteView};
use vitrine_shared::protocol::{CommandKind, RejectReason};
use vitrine_shared::{ChatText, Role, RoomCommand};
use vitrine_tests::{Http, TestServer, joined_as, now_ms, pump, step_until};

const WAIT: Duration = Duration::from_secs(10);

fn say(client: &mut NetClient, text: &str) {
    client.send_command(RoomCommand::Chat(ChatText::new(text).unwrap()));
}

fn said(client: &NetClient, text: &str) -> bool {
    client
        .mirror()
        .chat
        .iter()
        .any(|line| line.text.as_str() == text)
}

fn rejections(client: &NetClient) -> Vec<(CommandKind, RejectReason)> {
    client
        .mirror()
        .rejections
        .iter()
        .map(|r| (r.command, r.reason.clone()))
        .collect()
}

/// Pumps until `observer` has seen `marker` from `from`: everything `from`
/// sent before it has been decided by then.
fn flush_through(from: &mut NetClient, observer: &mut NetClient, marker: &str) {
    say(from, marker);
    assert!(
        step_until(WAIT, || {
            pump(&mut [from, observer]);
            said(observer, marker)
        }),
        "{marker:?} arrived"
    );
}

fn log(http: &Http, token: &str) -> ModLogView {
    let (status, body) = http.call("GET", "/api/v1/moderation/log", Some(token), None, None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

struct Setup {
    server: TestServer,
    http: Http,
    moderator: String,
    alice: SignedIn,
    bob: SignedIn,
}

fn setup() -> Setup {
    let server = TestServer::start();
    let http = Http::new(&server);
    let moderator = server.sign_in_as("mia", Role::Moderator);
    let api = server.api();
    let alice = api.sign_in("Alice").unwrap();
    let bob = api.sign_in("Bob").unwrap();
    Setup {
        server,
        http,
        moderator,
        alice,
        bob,
    }
}

#[test]
fn a_deleted_line_leaves_every_screen_and_the_history() {
    let Setup {
        server,
        http,
        moderator,
        alice,
        bob,
    } = setup();
    let mut a = joined_as(&server, &alice, "hall");
    let mut b = joined_as(&server, &bob, "hall");
    say(&mut a, "buy my junk elsewhere");
    say(&mut a, "lovely colours");
    assert!(step_until(WAIT, || {
        pump(&mut [&mut a, &mut b]);
        said(&b, "buy my junk elsewhere") && said(&b, "lovely colours")
    }));

    // The console reads the room's chat with numbers and authors.
    let (status, body) = http.call(
        "GET",
        "/api/v1/moderation/rooms/hall/chat",
        Some(&moderator),
        None,
        None,
    );
    assert_eq!(status, 200, "{body}");
    let chat: ModChatView = serde_json::from_value(body).unwrap();
    assert_eq!(chat.room, "hall");
    let texts: Vec<&str> = chat.lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["buy my junk elsewhere", "lovely colours"]);
    assert!(chat.lines.iter().all(|l| l.account_id == alice.account_id));
    assert!(chat.lines.iter().all(|l| l.name == "Alice"));
    let seq = chat.lines[0].seq;

    let path = format!("/api/v1/moderation/rooms/hall/chat/{seq}");
    let (status, body) = http.call("DELETE", &path, Some(&moderator), None, None);
    assert_eq!(status, 204, "{body}");
    assert!(
        step_until(WAIT, || {
            pump(&mut [&mut a, &mut b]);
            !said(&a, "buy my junk elsewhere") && !said(&b, "buy my junk elsewhere")
        }),
        "every member dropped the line"
    );
    assert!(
        b.mirror_mut()
            .drain_changes()
            .contains(&RoomChange::ChatRemoved(seq))
    );
    assert!(said(&b, "lovely colours"), "only that line");

    // A newcomer's history lacks it.
    let carol = server.api().sign_in("Carol").unwrap();
    let c = joined_as(&server, &carol, "hall");
    assert!(said(&c, "lovely colours"));
    assert!(!said(&c, "buy my junk elsewhere"));

    // The console no longer lists it; it cannot be deleted twice.
    let (_, body) = http.call(
        "GET",
        "/api/v1/moderation/rooms/hall/chat",
        Some(&moderator),
        None,
        None,
    );
    let chat: ModChatView = serde_json::from_value(body).unwrap();
    assert_eq!(chat.lines.len(), 1);
    let (status, body) = http.call("DELETE", &path, Some(&moderator), None, None);
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("chat_line_not_found"))
    );
    let (status, body) = http.call(
        "GET",
        "/api/v1/moderation/rooms/nowhere/chat",
        Some(&moderator),
        None,
        None,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("room_not_found"))
    );

    let entry = &log(&http, &moderator).entries[0];
    assert_eq!(entry.action, "delete_chat");
    assert_eq!(entry.actor_name, "mia");
    assert_eq!(entry.room.as_deref(), Some("hall"));
    assert_eq!(entry.target_account_id, Some(alice.account_id));
    assert!(entry.details.contains("buy my junk elsewhere"), "{entry:?}");
}

#[test]
fn a_muted_shopper_is_refused_until_unmuted_or_the_mute_ends() {
    let Setup {
        server,
        http,
        moderator,
        alice,
        bob,
    } = setup();
    let mut a = joined_as(&server, &alice, "hall");
    let mut b = joined_as(&server, &bob, "hall");
    let mute_path = format!("/api/v1/moderation/mutes/{}", alice.account_id);

    let (status, body) = http.call(
        "PUT",
        &mute_path,
        Some(&moderator),
        None,
        Some(json!({ "seconds": 600, "reason": "shouting" })),
    );
    assert_eq!(status, 200, "{body}");
    let mute: MuteView = serde_json::from_value(body).unwrap();
    assert_eq!(
        (mute.name.as_str(), mute.reason.as_str()),
        ("Alice", "shouting")
    );

    say(&mut a, "CAN ANYONE HEAR ME");
    a.send_command(RoomCommand::Ask(ChatText::new("WHY AM I MUTED").unwrap()));
    assert!(step_until(WAIT, || {
        pump(&mut [&mut a, &mut b]);
        a.mirror().rejections.len() == 2
    }));
    let refused = rejections(&a);
    assert_eq!(refused[0].0, CommandKind::Chat);
    assert_eq!(refused[1].0, CommandKind::Question);
    for (_, reason) in &refused {
        assert!(
            matches!(reason, RejectReason::Muted { remaining_ms } if *remaining_ms > 590_000),
            "{reason:?}"
        );
    }
    // Bob hears nothing from Alice, though he hears himself.
    flush_through(&mut b, &mut a, "anyone?");
    assert!(!said(&b, "CAN ANYONE HEAR ME"));
    assert!(b.mirror().questions.is_empty());
    assert_eq!(server.metrics.rejected("muted"), 2);

    let (_, body) = http.call(
        "GET",
        "/api/v1/moderation/mutes",
        Some(&moderator),
        None,
        None,
    );
    let mutes: MuteList = serde_json::from_value(body).unwrap();
    assert_eq!(mutes.mutes.len(), 1);
    assert_eq!(mutes.mutes[0].account_id, alice.account_id);

    // Unmuted early: she is heard again.
    let (status, body) = http.call("DELETE", &mute_path, Some(&moderator), None, None);
    assert_eq!(status, 204, "{body}");
    flush_through(&mut a, &mut b, "sorry, all calm now");
    let (status, body) = http.call("DELETE", &mute_path, Some(&moderator), None, None);
    assert_eq!((status, body["code"].as_str()), (404, Some("not_muted")));

    // A one-second mute ends by itself.
    let (status, body) = http.call(
        "PUT",
        &mute_path,
        Some(&moderator),
        None,
        Some(json!({ "seconds": 1 })),
    );
    assert_eq!(status, 200, "{body}");
    let mute: MuteView = serde_json::from_value(body).unwrap();
    say(&mut a, "still muted?");
    assert!(step_until(WAIT, || {
        pump(&mut [&mut a, &mut b]);
        a.mirror().rejections.len() == 3
    }));
    assert!(matches!(
        rejections(&a)[2].1,
        RejectReason::Muted { remaining_ms } if remaining_ms <= 1_000
    ));
    assert!(step_until(WAIT, || {
        pump(&mut [&mut a, &mut b]);
        now_ms() > mute.until_ms
    }));
    flush_through(&mut a, &mut b, "free again");
    assert!(!said(&b, "still muted?"));
    let (_, body) = http.call(
        "GET",
        "/api/v1/moderation/mutes",
        Some(&moderator),
        None,
        None,
    );
    assert_eq!(body["mutes"], json!([]), "an ended mute is not listed");

    // Out of range, unknown accounts and staff are refused.
    for seconds in [0, 86_401] {
        let (status, body) = http.call(
            "PUT",
            &mute_path,
            Some(&moderator),
            None,
            Some(json!({ "seconds": seconds })),
        );
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_request"))
        );
    }
    let (status, body) = http.call(
        "PUT",
        "/api/v1/moderation/mutes/12345",
        Some(&moderator),
        None,
        Some(json!({ "seconds": 60 })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("account_not_found"))
    );
    let mia = server
        .api()
        .sign_in_with_password("mia", "correct horse battery staple")
        .unwrap()
        .account_id;
    let (status, body) = http.call(
        "PUT",
        &format!("/api/v1/moderation/mutes/{mia}"),
        Some(&moderator),
        None,
        Some(json!({ "seconds": 60 })),
    );
    assert_eq!((status, body["code"].as_str()), (403, Some("staff_target")));

    let actions: Vec<String> = log(&http, &moderator)
        .entries
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["mute", "unmute", "mute"]);
}

#[test]
fn a_kicked_shopper_is_told_disconnected_and_may_come_back() {
    let Setup {
        server,
        http,
        moderator,
        alice,
        bob,
    } = setup();
    let mut a = joined_as(&server, &alice, "hall");
    let mut b = joined_as(&server, &bob, "hall");
    let (status, body) = http.call(
        "POST",
        "/api/v1/moderation/kicks",
        Some(&moderator),
        None,
        Some(json!({ "account_id": alice.account_id, "reason": "take a break" })),
    );
    assert_eq!(status, 204, "{body}");
    assert!(
        step_until(WAIT, || {
            pump(&mut [&mut a, &mut b]);
            a.is_disconnected() && b.mirror().member_by_name("Alice").is_none()
        }),
        "Alice was disconnected and left the room"
    );
    assert_eq!(a.mirror().removed, Some((false, "take a break".to_owned())));

    // A kick is not a ban.
    let mut again = joined_as(&server, &alice, "hall");
    flush_through(&mut again, &mut b, "I'm back");

    let (status, body) = http.call(
        "POST",
        "/api/v1/moderation/kicks",
        Some(&moderator),
        None,
        Some(json!({ "account_id": alice.account_id, "reason": "x".repeat(201) })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = http.call(
        "POST",
        "/api/v1/moderation/kicks",
        Some(&moderator),
        None,
        Some(json!({ "account_id": alice.account_id, "why": "unknown field" })),
    );
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_body")));

    let entry = &log(&http, &moderator).entries[0];
    assert_eq!(
        (entry.action.as_str(), entry.actor_name.as_str()),
        ("kick", "mia")
    );
    assert_eq!(entry.target_name.as_deref(), Some("Alice"));
    assert_eq!(entry.details, "take a break");
}

#[test]
fn a_banned_shopper_cannot_join_until_unbanned() {
    let Setup {
        server,
        http,
        moderator,
        alice,
        bob,
    } = setup();
    let api = server.api();
    let mut a = joined_as(&server, &alice, "hall");
    let mut b = joined_as(&server, &bob, "hall");
    // A connect token from before the ban.
    let early = api.join(&alice, "tiny").unwrap();

    let ban_path = format!("/api/v1/moderation/bans/{}", alice.account_id);
    let (status, body) = http.call(
        "PUT",
        &ban_path,
        Some(&moderator),
        None,
        Some(json!({ "reason": "spam links" })),
    );
    assert_eq!(status, 200, "{body}");
    assert!(step_until(WAIT, || {
        pump(&mut [&mut a, &mut b]);
        a.is_disconnected() && b.mirror().member_by_name("Alice").is_none()
    }));
    assert_eq!(a.mirror().removed, Some((true, "spam links".to_owned())));

    let join = |token: &str| http.call("POST", "/api/v1/rooms/hall/join", Some(token), None, None);
    let (status, body) = join(&alice.token);
    assert_eq!((status, body["code"].as_str()), (403, Some("banned")));
    // The token issued before the ban is refused at the door.
    let mut slipped = NetClient::connect(&early).unwrap();
    assert!(step_until(WAIT, || {
        pump(&mut [&mut slipped]);
        slipped.is_disconnected()
    }));
    assert!(!slipped.mirror().is_welcomed());
    assert_eq!(server.metrics.rejected("banned"), 1);

    let (_, body) = http.call(
        "GET",
        "/api/v1/moderation/bans",
        Some(&moderator),
        None,
        None,
    );
    let bans: BanList = serde_json::from_value(body).unwrap();
    assert_eq!(bans.bans.len(), 1);
    assert_eq!(
        (bans.bans[0].account_id, bans.bans[0].reason.as_str()),
        (alice.account_id, "spam links")
    );

    let (status, body) = http.call("DELETE", &ban_path, Some(&moderator), None, None);
    assert_eq!(status, 204, "{body}");
    let mut back = joined_as(&server, &alice, "hall");
    flush_through(&mut back, &mut b, "thanks for letting me back");
    let (status, body) = http.call("DELETE", &ban_path, Some(&moderator), None, None);
    assert_eq!((status, body["code"].as_str()), (404, Some("not_banned")));

    let entries = log(&http, &moderator).entries;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["unban", "ban"]);
    assert!(entries.iter().all(|e| e.actor_name == "mia"));
    assert_eq!(entries[1].details, "spam links");
}

#[test]
fn the_keyword_filter_refuses_blocked_terms_and_is_edited_whole() {
    let Setup {
        server,
        http,
        moderator,
        alice,
        bob,
    } = setup();
    let mut a = joined_as(&server, &alice, "hall");
    let mut b = joined_as(&server, &bob, "hall");
    let set = |terms: Value| {
        http.call(
            "PUT",
            "/api/v1/moderation/filter",
            Some(&moderator),
            None,
            Some(json!({ "terms": terms })),
        )
    };

    let (status, body) = set(json!(["Scam", " fake deal ", "scam"]));
    assert_eq!(status, 200, "{body}");
    let filter: FilterView = serde_json::from_value(body).unwrap();
    assert_eq!(filter.terms, ["scam", "fake deal"]);
    assert_eq!(filter.matching, "whole_words");

    say(&mut a, "this is a SCAM!");
    a.send_command(RoomCommand::Ask(
        ChatText::new("Is it a fake deal?").unwrap(),
    ));
    assert!(step_until(WAIT, || {
        pump(&mut [&mut a, &mut b]);
        a.mirror().rejections.len() == 2
    }));
    assert_eq!(
        rejections(&a),
        [
            (CommandKind::Chat, RejectReason::Filtered),
            (CommandKind::Question, RejectReason::Filtered)
        ]
    );
    // Whole words only: "scampi" is fine.
    flush_through(&mut a, &mut b, "scampi for dinner");
    assert!(!said(&b, "this is a SCAM!"));

    // The list is replaced whole.
    let (status, body) = set(json!(["scampi"]));
    assert_eq!(status, 200, "{body}");
    let (_, body) = http.call(
        "GET",
        "/api/v1/moderation/filter",
        Some(&moderator),
        None,
        None,
    );
    assert_eq!(body["terms"], json!(["scampi"]));
    flush_through(&mut a, &mut b, "not a scam after all");
    say(&mut a, "more scampi");
    assert!(step_until(WAIT, || {
        pump(&mut [&mut a, &mut b]);
        a.mirror().rejections.len() == 3
    }));

    // Bad lists are refused and change nothing.
    let too_many: Vec<String> = (0..501).map(|i| format!("term{i}")).collect();
    let long = "x".repeat(41);
    for (bad, code) in [
        (json!(too_many), "invalid_filter"),
        (json!(["ok", ""]), "invalid_filter"),
        (json!(["   "]), "invalid_filter"),
        (json!([long]), "invalid_filter"),
        (json!("scam"), "invalid_body"),
    ] {
        let (status, body) = set(bad);
        assert_eq!((status, body["code"].as_str()), (400, Some(code)), "{body}");
    }
    let (status, body) = http.call(
        "PUT",
        "/api/v1/moderation/filter",
        Some(&moderator),
        None,
        Some(json!({ "terms": [], "mode": "substring" })),
    );
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_body")));
    let full: Vec<String> = (0..500).map(|i| format!("term{i}")).collect();
    let (status, body) = set(json!(full));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["terms"].as_array().unwrap().len(), 500);
    let (status, body) = set(json!([]));
    assert_eq!((status, body["terms"].clone()), (200, json!([])));

    let entries = log(&http, &moderator).entries;
    let filters: Vec<&str> = entries
        .iter()
        .filter(|e| e.action == "filter")
        .map(|e| e.details.as_str())
        .collect();
    assert_eq!(filters.len(), 4, "{filters:?}");
    assert!(
        filters[3].contains("added \"scam\", \"fake deal\""),
        "{filters:?}"
    );
    assert!(entries.iter().all(|e| e.actor_name == "mia"));
}

#[test]
fn the_log_pages_newest_first() {
    let Setup {
        server: _server,
        http,
        moderator,
        alice,
        bob,
    } = setup();
    for who in [&alice, &bob] {
        let (status, body) = http.call(
            "PUT",
            &format!("/api/v1/moderation/mutes/{}", who.account_id),
            Some(&moderator),
            None,
            Some(json!({ "seconds": 30 })),
        );
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = http.call(
        "PUT",
        &format!("/api/v1/moderation/bans/{}", bob.account_id),
        Some(&moderator),
        None,
        Some(json!({})),
    );
    assert_eq!(status, 200, "{body}");

    let all = log(&http, &moderator).entries;
    let summary: Vec<(&str, Option<&str>)> = all
        .iter()
        .map(|e| (e.action.as_str(), e.target_name.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            ("ban", Some("Bob")),
            ("mute", Some("Bob")),
            ("mute", Some("Alice"))
        ]
    );
    assert!(
        all.windows(2)
            .all(|w| w[0].seq > w[1].seq && w[0].at_ms >= w[1].at_ms)
    );

    let page = |query: &str| {
        http.call(
            "GET",
            &format!("/api/v1/moderation/log{query}"),
            Some(&moderator),
            None,
            None,
        )
    };
    let (_, body) = page("?limit=2");
    let first: ModLogView = serde_json::from_value(body).unwrap();
    assert_eq!(first.entries, all[..2]);
    let (_, body) = page(&format!("?limit=2&before={}", first.entries[1].seq));
    let second: ModLogView = serde_json::from_value(body).unwrap();
    assert_eq!(second.entries, all[2..]);
    for bad in ["?limit=0", "?limit=501", "?limit=many"] {
        let (status, body) = page(bad);
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_request")),
            "{bad}"
        );
    }
}

#[test]
fn every_moderation_route_is_for_staff_only() {
    let Setup {
        server,
        http,
        moderator: _,
        alice,
        bob,
    } = setup();
    let target = bob.account_id;
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/api/v1/moderation/rooms/hall/chat".into(), None),
        (
            "DELETE",
            "/api/v1/moderation/rooms/hall/chat/1".into(),
            None,
        ),
        ("GET", "/api/v1/moderation/mutes".into(), None),
        (
            "PUT",
            format!("/api/v1/moderation/mutes/{target}"),
            Some(json!({ "seconds": 60 })),
        ),
        ("DELETE", format!("/api/v1/moderation/mutes/{target}"), None),
        (
            "POST",
            "/api/v1/moderation/kicks".into(),
            Some(json!({ "account_id": target })),
        ),
        ("GET", "/api/v1/moderation/bans".into(), None),
        (
            "PUT",
            format!("/api/v1/moderation/bans/{target}"),
            Some(json!({})),
        ),
        ("DELETE", format!("/api/v1/moderation/bans/{target}"), None),
        ("GET", "/api/v1/moderation/filter".into(), None),
        (
            "PUT",
            "/api/v1/moderation/filter".into(),
            Some(json!({ "terms": ["x"] })),
        ),
        ("GET", "/api/v1/moderation/log".into(), None),
    ];
    for (method, path, body) in &routes {
        let (status, reply) = http.call(method, path, None, None, body.clone());
        assert_eq!(
            (status, reply["code"].as_str()),
            (401, Some("missing_token")),
            "{method} {path}"
        );
        let (status, reply) = http.call(method, path, Some(&alice.token), None, body.clone());
        assert_eq!(
            (status, reply["code"].as_str()),
            (403, Some("forbidden")),
            "{method} {path}"
        );
    }
    // Hosts and co-hosts moderate too; nothing a shopper tried was logged.
    for (name, role) in [("hana", Role::Host), ("cole", Role::CoHost)] {
        let token = server.sign_in_as(name, role);
        assert!(log(&http, &token).entries.is_empty());
        let (status, body) =
            http.call("GET", "/api/v1/moderation/filter", Some(&token), None, None);
        assert_eq!(status, 200, "{body}");
    }
}
