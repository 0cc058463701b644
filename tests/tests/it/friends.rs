//! Friends over HTTP and in the rooms: codes and links, requests, accept,
//! remove, block (and everything a blocked account is then refused), each
//! bad input refused by name without changing anything, the OpenAPI
//! document; then over loopback UDP with real clients, a friend's presence
//! reaching the other's room, and "join friend".

use serde_json::{Value, json};
use std::time::Duration;
use vitrine_client::net::{NetClient, RoomChange};
use vitrine_shared::AccountId;
use vitrine_shared::api::JoinTicket;
use vitrine_shared::protocol::FriendEventNet;
use vitrine_tests::{Http, TestServer, pump, step_until};

/// A signed-in guest.
struct Who {
    token: String,
    id: u64,
    name: String,
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
        name: name.to_owned(),
    }
}

fn call(http: &Http, who: &Who, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    http.call(method, path, Some(&who.token), None, body)
}

fn code_of(http: &Http, who: &Who) -> Value {
    let (status, body) = call(http, who, "GET", "/api/v1/friends/code", None);
    assert_eq!(status, 200, "{body}");
    body
}

fn ask(http: &Http, from: &Who, code: &str) -> (u16, Value) {
    call(
        http,
        from,
        "POST",
        "/api/v1/friends/requests",
        Some(json!({ "code": code })),
    )
}

fn befriend(http: &Http, a: &Who, b: &Who) {
    let code = code_of(http, b)["code"].as_str().unwrap().to_owned();
    let (status, body) = ask(http, a, &code);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("pending")),
        "{body}"
    );
    let path = format!("/api/v1/friends/requests/{}/accept", a.id);
    let (status, body) = call(http, b, "POST", &path, None);
    assert_eq!(status, 200, "{body}");
}

fn friend_names(http: &Http, who: &Who) -> Vec<String> {
    let (status, body) = call(http, who, "GET", "/api/v1/friends", None);
    assert_eq!(status, 200, "{body}");
    body["friends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Everything an account's friends state reads as over HTTP.
fn state_of(http: &Http, who: &Who) -> Value {
    let get = |path: &str| {
        let (status, body) = call(http, who, "GET", path, None);
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    json!({
        "friends": get("/api/v1/friends"),
        "requests": get("/api/v1/friends/requests"),
        "blocks": get("/api/v1/friends/blocks"),
        "code": get("/api/v1/friends/code"),
    })
}

#[test]
fn friends_by_code_accept_list_remove_and_block_over_http() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let (ada, bob) = (guest(&http, "Ada"), guest(&http, "Bob"));

    // A code in two groups of four, and the link that carries it.
    let code = code_of(&http, &ada);
    let text = code["code"].as_str().unwrap().to_owned();
    assert_eq!(text.len(), 9, "{code}");
    assert_eq!(&text[4..5], "-");
    assert_eq!(code["link"], json!(format!("vitrine://friend/{text}")));

    // Bob asks by link; both see the request.
    let (status, body) = ask(&http, &bob, code["link"].as_str().unwrap());
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "account": ada.id, "name": "Ada", "status": "pending" })
    );
    let (_, theirs) = call(&http, &ada, "GET", "/api/v1/friends/requests", None);
    assert_eq!(theirs["incoming"][0]["account"], json!(bob.id));
    assert_eq!(theirs["outgoing"], json!([]));
    let (_, mine) = call(&http, &bob, "GET", "/api/v1/friends/requests", None);
    assert_eq!(mine["outgoing"][0]["name"], json!("Ada"));

    // Ada accepts: friends, both ways, offline (in no room).
    let accept = format!("/api/v1/friends/requests/{}/accept", bob.id);
    let (status, body) = call(&http, &ada, "POST", &accept, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "account": bob.id, "name": "Bob", "online": false, "presence": null })
    );
    assert_eq!(friend_names(&http, &ada), ["Bob"]);
    assert_eq!(friend_names(&http, &bob), ["Ada"]);
    let (_, requests) = call(&http, &ada, "GET", "/api/v1/friends/requests", None);
    assert_eq!(requests["incoming"], json!([]));

    // Either may remove the other.
    let (status, _) = call(
        &http,
        &bob,
        "DELETE",
        &format!("/api/v1/friends/{}", ada.id),
        None,
    );
    assert_eq!(status, 204);
    assert!(friend_names(&http, &ada).is_empty() && friend_names(&http, &bob).is_empty());

    // Friends again, then Ada blocks Bob: the friendship ends and every
    // thing Bob might do to reach her is refused, without naming the block.
    befriend(&http, &bob, &ada);
    let block = format!("/api/v1/friends/blocks/{}", bob.id);
    let (status, body) = call(&http, &ada, "POST", &block, None);
    assert_eq!(status, 204, "{body}");
    assert!(friend_names(&http, &ada).is_empty() && friend_names(&http, &bob).is_empty());
    let (_, blocks) = call(&http, &ada, "GET", "/api/v1/friends/blocks", None);
    assert_eq!(
        blocks,
        json!({ "blocked": [{ "account": bob.id, "name": "Bob" }] })
    );
    let before = (state_of(&http, &ada), state_of(&http, &bob));
    let ada_code = code_of(&http, &ada)["code"].as_str().unwrap().to_owned();
    let answers = [
        ("ask by code", ask(&http, &bob, &ada_code)),
        (
            "follow",
            call(
                &http,
                &bob,
                "POST",
                &format!("/api/v1/friends/{}/join", ada.id),
                None,
            ),
        ),
        (
            "remove",
            call(
                &http,
                &bob,
                "DELETE",
                &format!("/api/v1/friends/{}", ada.id),
                None,
            ),
        ),
    ];
    let expected = [
        (404, "friend_code_unknown"),
        (404, "not_friends"),
        (404, "not_friends"),
    ];
    for ((what, (status, body)), want) in answers.into_iter().zip(expected) {
        assert_eq!(
            (status, body["code"].as_str()),
            (want.0, Some(want.1)),
            "{what}: {body}"
        );
    }
    // Ada, who blocked, is told why she cannot ask him.
    let bob_code = code_of(&http, &bob)["code"].as_str().unwrap().to_owned();
    let (status, body) = ask(&http, &ada, &bob_code);
    assert_eq!((status, &body["code"]), (409, &json!("you_blocked")));
    assert_eq!((state_of(&http, &ada), state_of(&http, &bob)), before);

    // Unblocked, he may ask anew.
    let (status, _) = call(&http, &ada, "DELETE", &block, None);
    assert_eq!(status, 204);
    let (status, body) = ask(&http, &bob, &ada_code);
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("pending")),
        "{body}"
    );
}

/// What, who, method, path, body; then the status and code expected.
type Case<'a> = (
    &'a str,
    &'a Who,
    &'a str,
    String,
    Option<Value>,
    u16,
    &'a str,
);

#[test]
fn each_bad_friends_request_is_refused_by_name_and_changes_nothing() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let (ada, bob, cy) = (guest(&http, "Ada"), guest(&http, "Bob"), guest(&http, "Cy"));
    befriend(&http, &ada, &bob);
    let ada_code = code_of(&http, &ada)["code"].as_str().unwrap().to_owned();
    let (status, _) = ask(&http, &cy, &ada_code);
    assert_eq!(status, 200);
    // Rotating makes the old code unknown.
    let (status, rotated) = call(&http, &ada, "POST", "/api/v1/friends/code/rotate", None);
    assert_eq!(status, 200);
    assert_ne!(rotated["code"].as_str(), Some(ada_code.as_str()));
    let new_code = rotated["code"].as_str().unwrap().to_owned();
    let bob_code = code_of(&http, &bob)["code"].as_str().unwrap().to_owned();

    let states = |http: &Http| [&ada, &bob, &cy].map(|w| state_of(http, w));
    let before = states(&http);
    let ada_id = ada.id;
    let cases: Vec<Case> = vec![
        (
            "not a code",
            &bob,
            "POST",
            "/api/v1/friends/requests".into(),
            Some(json!({"code": "K7QM-3XP0"})),
            400,
            "invalid_friend_code",
        ),
        (
            "empty code",
            &bob,
            "POST",
            "/api/v1/friends/requests".into(),
            Some(json!({"code": ""})),
            400,
            "invalid_friend_code",
        ),
        (
            "no code",
            &bob,
            "POST",
            "/api/v1/friends/requests".into(),
            Some(json!({})),
            400,
            "invalid_body",
        ),
        (
            "extra field",
            &bob,
            "POST",
            "/api/v1/friends/requests".into(),
            Some(json!({"code": new_code, "x": 1})),
            400,
            "invalid_body",
        ),
        (
            "own code",
            &ada,
            "POST",
            "/api/v1/friends/requests".into(),
            Some(json!({"code": new_code})),
            400,
            "friend_self",
        ),
        (
            "rotated code",
            &bob,
            "POST",
            "/api/v1/friends/requests".into(),
            Some(json!({"code": ada_code})),
            404,
            "friend_code_unknown",
        ),
        (
            "unknown code",
            &bob,
            "POST",
            "/api/v1/friends/requests".into(),
            Some(json!({"code": "2222-2222"})),
            404,
            "friend_code_unknown",
        ),
        (
            "already friends",
            &ada,
            "POST",
            "/api/v1/friends/requests".into(),
            Some(json!({"code": bob_code})),
            409,
            "already_friends",
        ),
        (
            "asked twice",
            &cy,
            "POST",
            "/api/v1/friends/requests".into(),
            Some(json!({"code": new_code})),
            409,
            "request_pending",
        ),
        (
            "accept no request",
            &bob,
            "POST",
            format!("/api/v1/friends/requests/{}/accept", cy.id),
            None,
            404,
            "request_not_found",
        ),
        (
            "accept own request",
            &cy,
            "POST",
            format!("/api/v1/friends/requests/{ada_id}/accept"),
            None,
            404,
            "request_not_found",
        ),
        (
            "decline no request",
            &bob,
            "POST",
            format!("/api/v1/friends/requests/{}/decline", cy.id),
            None,
            404,
            "request_not_found",
        ),
        (
            "remove a stranger",
            &bob,
            "DELETE",
            format!("/api/v1/friends/{}", cy.id),
            None,
            404,
            "not_friends",
        ),
        (
            "account not a number",
            &bob,
            "DELETE",
            "/api/v1/friends/abc".into(),
            None,
            400,
            "invalid_path",
        ),
        (
            "block oneself",
            &bob,
            "POST",
            format!("/api/v1/friends/blocks/{}", bob.id),
            None,
            400,
            "friend_self",
        ),
        (
            "block nobody",
            &bob,
            "POST",
            "/api/v1/friends/blocks/1".into(),
            None,
            404,
            "account_not_found",
        ),
        (
            "unblock the unblocked",
            &bob,
            "DELETE",
            format!("/api/v1/friends/blocks/{}", cy.id),
            None,
            404,
            "not_blocked",
        ),
        (
            "follow a friend in no room",
            &bob,
            "POST",
            format!("/api/v1/friends/{ada_id}/join"),
            None,
            409,
            "friend_offline",
        ),
        (
            "follow a stranger",
            &cy,
            "POST",
            format!("/api/v1/friends/{}/join", bob.id),
            None,
            404,
            "not_friends",
        ),
    ];
    for (what, who, method, path, body, status, code) in cases {
        let (got, answer) = call(&http, who, method, &path, body);
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{what}: {answer}"
        );
    }
    // Without a session: 401, for reads and changes alike.
    for (method, path) in [
        ("GET", "/api/v1/friends"),
        ("POST", "/api/v1/friends/code/rotate"),
    ] {
        let (status, _) = http.call(method, path, None, None, None);
        assert_eq!(status, 401, "{method} {path}");
    }
    assert_eq!(states(&http), before, "no refusal changed anything");
}

#[test]
fn the_openapi_document_lists_the_friends_routes() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let (status, doc) = http.call("GET", "/api/v1/openapi.json", None, None, None);
    assert_eq!(status, 200);
    let mut friends: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .filter(|(_, op)| op["tags"] == json!(["friends"]))
                .map(move |(method, _)| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    friends.sort();
    assert_eq!(
        friends,
        [
            "DELETE /api/v1/friends/blocks/{account}",
            "DELETE /api/v1/friends/{account}",
            "GET /api/v1/friends",
            "GET /api/v1/friends/blocks",
            "GET /api/v1/friends/code",
            "GET /api/v1/friends/requests",
            "POST /api/v1/friends/blocks/{account}",
            "POST /api/v1/friends/code/rotate",
            "POST /api/v1/friends/requests",
            "POST /api/v1/friends/requests/{account}/accept",
            "POST /api/v1/friends/requests/{account}/decline",
            "POST /api/v1/friends/{account}/join",
        ]
    );
    // Join friend states the refusals a room join has, and its own.
    let join = &doc["paths"]["/api/v1/friends/{account}/join"]["post"]["responses"];
    for status in ["200", "401", "403", "404", "409", "429"] {
        assert!(join.get(status).is_some(), "join friend documents {status}");
    }
    let send = &doc["paths"]["/api/v1/friends/requests"]["post"]["responses"];
    for status in ["400", "404", "409", "429"] {
        assert!(send.get(status).is_some(), "a request documents {status}");
    }
}

// ---- In the rooms, over loopback UDP. ----

fn ticket(http: &Http, who: &Who, path: &str) -> Result<JoinTicket, (u16, Value)> {
    let (status, body) = call(http, who, "POST", path, None);
    if status == 200 {
        Ok(serde_json::from_value(body).expect("a join ticket"))
    } else {
        Err((status, body))
    }
}

fn connect(http: &Http, who: &Who, room: &str) -> NetClient {
    let ticket = ticket(http, who, &format!("/api/v1/rooms/{room}/join")).expect("join");
    welcomed(NetClient::connect(&ticket).expect("connect"), &who.name)
}

fn welcomed(mut client: NetClient, name: &str) -> NetClient {
    let ok = step_until(Duration::from_secs(10), || {
        pump(&mut [&mut client]);
        client.mirror().is_welcomed()
    });
    assert!(ok, "{name} not welcomed: {:?}", client.disconnect_reason());
    client
}

/// Where `viewer`'s mirror says the friend `of` is.
fn room_of(viewer: &NetClient, of: &Who) -> Option<String> {
    viewer
        .mirror()
        .friends
        .get(&AccountId(of.id))
        .and_then(|f| f.presence.as_ref())
        .map(|p| p.room.to_string())
}

#[test]
fn a_friends_move_reaches_the_other_room_and_join_friend_follows_it() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let (ada, bob) = (guest(&http, "Ada"), guest(&http, "Bob"));
    befriend(&http, &ada, &bob);

    // Bob sits in the tiny room; his list (after Welcome) has Ada, offline.
    let mut bob_client = connect(&http, &bob, "tiny");
    let listed = step_until(Duration::from_secs(5), || {
        pump(&mut [&mut bob_client]);
        bob_client.mirror().friends.contains_key(&AccountId(ada.id))
    });
    assert!(listed, "{:?}", bob_client.mirror().friends);
    assert_eq!(room_of(&bob_client, &ada), None);

    // Ada joins the hall: Bob, in the tiny room, sees her there.
    let mut ada_client = connect(&http, &ada, "hall");
    let seen = step_until(Duration::from_secs(5), || {
        pump(&mut [&mut bob_client, &mut ada_client]);
        room_of(&bob_client, &ada).as_deref() == Some("hall")
    });
    assert!(seen, "Bob's mirror: {:?}", bob_client.mirror().friends);
    let presence = &bob_client.mirror().friends[&AccountId(ada.id)].presence;
    assert_eq!(
        presence.as_ref().map(|p| p.room_name.as_str()),
        Some("Test Hall")
    );
    let changes = bob_client.mirror_mut().drain_changes();
    assert!(changes.iter().any(|c| matches!(
        c,
        RoomChange::Friends(FriendEventNet::Presence { account, presence: Some(_) })
            if account.0 == ada.id
    )));
    // So does HTTP.
    let (_, list) = call(&http, &bob, "GET", "/api/v1/friends", None);
    assert_eq!(list["friends"][0]["presence"]["room"], json!("hall"));

    // Join friend: Bob's new connection stands in Ada's room.
    let ticket = ticket(&http, &bob, &format!("/api/v1/friends/{}/join", ada.id))
        .expect("a ticket to Ada's room");
    assert_eq!(ticket.room, "hall");
    let mut followed = welcomed(NetClient::connect(&ticket).expect("connect"), "Bob");
    assert_eq!(
        followed.mirror().room.as_ref().map(|r| r.as_str()),
        Some("hall")
    );
    let together = step_until(Duration::from_secs(5), || {
        pump(&mut [&mut followed, &mut ada_client, &mut bob_client]);
        followed.mirror().member_by_name("Ada").is_some()
            && room_of(&ada_client, &bob).as_deref() == Some("hall")
    });
    assert!(
        together,
        "Bob sees {:?}; Ada's mirror: {:?}",
        followed.mirror().members,
        ada_client.mirror().friends
    );

    // Ada leaves: Bob hears she is offline.
    ada_client.disconnect();
    let gone = step_until(Duration::from_secs(5), || {
        pump(&mut [&mut followed, &mut ada_client]);
        followed
            .mirror()
            .friends
            .get(&AccountId(ada.id))
            .is_some_and(|f| f.presence.is_none())
    });
    assert!(gone, "{:?}", followed.mirror().friends);
}

#[test]
fn following_into_a_full_room_or_while_banned_is_refused_by_name() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let (ada, bob, cy) = (guest(&http, "Ada"), guest(&http, "Bob"), guest(&http, "Cy"));
    befriend(&http, &ada, &bob);
    let follow = format!("/api/v1/friends/{}/join", ada.id);

    // The tiny room holds two: Ada and Cy fill it.
    let mut ada_client = connect(&http, &ada, "tiny");
    let mut cy_client = connect(&http, &cy, "tiny");
    let online = step_until(Duration::from_secs(5), || {
        pump(&mut [&mut ada_client, &mut cy_client]);
        http.call("GET", "/api/v1/friends", Some(&bob.token), None, None)
            .1["friends"][0]["online"]
            == json!(true)
    });
    assert!(online);
    let (status, body) = ticket(&http, &bob, &follow).expect_err("a full room");
    assert_eq!(
        (status, &body["code"]),
        (409, &json!("room_full")),
        "{body}"
    );

    // Banned by a moderator: refused as a room join is.
    let moderator = server.sign_in_as("mod", vitrine_shared::Role::Moderator);
    let (status, body) = http.call(
        "PUT",
        &format!("/api/v1/moderation/bans/{}", bob.id),
        Some(&moderator),
        None,
        Some(json!({})),
    );
    assert_eq!(status, 200, "{body}");
    cy_client.disconnect();
    let freed = step_until(Duration::from_secs(5), || {
        pump(&mut [&mut ada_client, &mut cy_client]);
        server
            .directory
            .get(&"tiny".try_into().unwrap())
            .is_some_and(|r| r.occupancy == 1)
    });
    assert!(freed);
    let (status, body) = ticket(&http, &bob, &follow).expect_err("a banned account");
    assert_eq!((status, &body["code"]), (403, &json!("banned")), "{body}");
    assert_eq!(
        server
            .directory
            .get(&"tiny".try_into().unwrap())
            .unwrap()
            .occupancy,
        1,
        "no seat taken"
    );
}

#[test]
fn requests_and_friendships_reach_the_room_and_a_block_takes_the_friend_away() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let (ada, bob) = (guest(&http, "Ada"), guest(&http, "Bob"));
    let mut ada_client = connect(&http, &ada, "hall");
    let mut bob_client = connect(&http, &bob, "tiny");

    let code = code_of(&http, &ada)["code"].as_str().unwrap().to_owned();
    assert_eq!(ask(&http, &bob, &code).0, 200);
    let asked = step_until(Duration::from_secs(5), || {
        pump(&mut [&mut ada_client, &mut bob_client]);
        ada_client
            .mirror()
            .friend_requests
            .iter()
            .any(|(a, n)| a.0 == bob.id && n.as_str() == "Bob")
    });
    assert!(asked, "{:?}", ada_client.mirror().friend_requests);

    let accept = format!("/api/v1/friends/requests/{}/accept", bob.id);
    assert_eq!(call(&http, &ada, "POST", &accept, None).0, 200);
    let added = step_until(Duration::from_secs(5), || {
        pump(&mut [&mut ada_client, &mut bob_client]);
        room_of(&ada_client, &bob).as_deref() == Some("tiny")
            && room_of(&bob_client, &ada).as_deref() == Some("hall")
    });
    assert!(
        added,
        "{:?} / {:?}",
        ada_client.mirror().friends,
        bob_client.mirror().friends
    );

    let block = format!("/api/v1/friends/blocks/{}", bob.id);
    assert_eq!(call(&http, &ada, "POST", &block, None).0, 204);
    let removed = step_until(Duration::from_secs(5), || {
        pump(&mut [&mut ada_client, &mut bob_client]);
        ada_client.mirror().friends.is_empty() && bob_client.mirror().friends.is_empty()
    });
    assert!(removed);
}

#[test]
fn friend_requests_are_rate_limited_per_account() {
    use vitrine_shared::limits::friends::REQUESTS_BURST;
    let server = TestServer::start();
    let http = Http::new(&server);
    let (ada, bob, cy) = (guest(&http, "Ada"), guest(&http, "Bob"), guest(&http, "Cy"));
    let code = code_of(&http, &ada)["code"].as_str().unwrap().to_owned();
    // Every well-formed try pays, answered or not: guessing codes is as
    // slow as spamming requests.
    assert_eq!(ask(&http, &bob, &code).0, 200);
    for _ in 1..REQUESTS_BURST {
        assert_eq!(ask(&http, &bob, &code).0, 409);
    }
    let (status, body) = ask(&http, &bob, "2222-2222");
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    // Another account has its own allowance.
    assert_eq!(ask(&http, &cy, &code).0, 200);
}

/// The showroom's own calls (`ApiClient`): your code, a typed code or link
/// sent, the requests waiting; each refusal comes back typed, with the
/// words the showroom shows ("Not added: ...").
#[test]
fn the_showrooms_client_shows_a_code_adds_by_typed_code_and_hears_each_refusal() {
    use vitrine_client::net::ApiError;
    let server = TestServer::start();
    let api = server.api();
    let ada = api.sign_in("Ada").unwrap();
    let bob = api.sign_in("Bob").unwrap();
    let code = api.friend_code(&ada).unwrap();
    assert_eq!(code.link, format!("vitrine://friend/{}", code.code));

    // Typed in lower case without the dash: still Ada's code.
    let typed = code.code.replace('-', "").to_lowercase();
    let sent = api.send_friend_request(&bob, &typed).unwrap();
    assert_eq!(
        (sent.account, sent.name.as_str(), sent.status.as_str()),
        (ada.account_id, "Ada", "pending")
    );
    // Waiting for Ada from before she enters a room: the panel lists it.
    let waiting = api.friend_requests(&ada).unwrap();
    let incoming: Vec<(u64, &str)> = waiting
        .incoming
        .iter()
        .map(|r| (r.account, r.name.as_str()))
        .collect();
    assert_eq!(incoming, [(bob.account_id, "Bob")]);

    let refusal = |result: Result<_, ApiError>| match result {
        Err(ApiError::Refused { code, message, .. }) => (code, message),
        other => panic!("not refused: {other:?}"),
    };
    let own = api.friend_code(&bob).unwrap();
    assert_eq!(
        refusal(api.send_friend_request(&bob, &own.link)).0,
        "friend_self"
    );
    assert_eq!(
        refusal(api.send_friend_request(&bob, &code.link)).0,
        "request_pending"
    );
    // A well-formed code nobody has: Ada's is replaced.
    let old = code.link.clone();
    let path = "/api/v1/friends/code/rotate";
    let (status, _) = Http::new(&server).call("POST", path, Some(&ada.token), None, None);
    assert_eq!(status, 200);
    let (unknown, words) = refusal(api.send_friend_request(&bob, &old));
    assert_eq!(unknown, "friend_code_unknown");
    assert!(words.contains("no account has this friend code"), "{words}");

    api.accept_friend_request(&ada, AccountId(bob.account_id))
        .unwrap();
    let again = api.friend_code(&ada).unwrap();
    assert_ne!(again.code, code.code, "the rotated code");
    let (already, words) = refusal(api.send_friend_request(&bob, &again.code));
    assert_eq!(already, "already_friends");
    assert_eq!(words, "you are already friends");
    assert!(api.friend_requests(&ada).unwrap().incoming.is_empty());
}
