//! The HTTP API over a real socket: the errors a user sees (400 with a
//! code, 401, 404, 409 when full, 429 when rate-limited) and an OpenAPI
//! document that covers every route.

use serde_json::Value;
use std::time::Duration;
use vitrine_server::config::RateConfig;
use vitrine_tests::raw::{JSON, Reply, request};
use vitrine_tests::{Http, TestServer, guest};

/// A guest's bearer token.
fn sign_in(server: &TestServer, name: &str) -> String {
    guest(&Http::new(server), name)
}

#[test]
fn bad_bodies_get_400_with_a_code() {
    let server = TestServer::start();
    let too_big = format!(r#"{{"display_name":"{}"}}"#, "x".repeat(20_000));
    let cases: [(&str, &str, u16, &str); 8] = [
        (JSON, "{bad", 400, "malformed_json"),
        (JSON, "", 400, "malformed_json"),
        (JSON, "{}", 400, "invalid_body"),
        (JSON, r#"{"display_name": 5}"#, 400, "invalid_body"),
        (
            JSON,
            r#"{"display_name":"Ada","role":"host"}"#,
            400,
            "invalid_body",
        ),
        (
            JSON,
            r#"{"display_name":"   "}"#,
            400,
            "invalid_display_name",
        ),
        (
            "text/plain",
            r#"{"display_name":"Ada"}"#,
            415,
            "unsupported_media_type",
        ),
        (JSON, &too_big, 413, "payload_too_large"),
    ];
    for (content_type, body, status, code) in cases {
        let reply = request(
            &server,
            "POST",
            "/api/v1/sessions",
            Some((content_type, body)),
            None,
        );
        assert_eq!(reply.status, status, "{body:.40}: {}", reply.body);
        assert_eq!(reply.explained_code(), code, "{body:.40}");
    }
    // A good body still works after all that.
    let token = sign_in(&server, "Ada");
    assert!(token.starts_with("vt1."));
}

#[test]
fn room_list_and_a_full_room_answers_409() {
    let server = TestServer::start();
    let rooms = request(&server, "GET", "/api/v1/rooms", None, None).json();
    let tiny = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "tiny")
        .unwrap()
        .clone();
    assert_eq!(tiny["capacity"], 2);
    assert_eq!(tiny["occupancy"], 0);

    let first = sign_in(&server, "First");
    let second = sign_in(&server, "Second");
    let third = sign_in(&server, "Third");
    assert_eq!(join(&server, "tiny", &first).status, 200);
    assert_eq!(join(&server, "tiny", &second).status, 200);
    let full = join(&server, "tiny", &third);
    assert_eq!(full.status, 409);
    assert_eq!(full.explained_code(), "room_full");
    // Joining again with a held seat is not a second seat.
    assert_eq!(join(&server, "tiny", &first).status, 200);
    // Another room still has space.
    assert_eq!(join(&server, "hall", &third).status, 200);
}

fn join(server: &TestServer, room: &str, token: &str) -> Reply {
    request(
        server,
        "POST",
        &format!("/api/v1/rooms/{room}/join"),
        None,
        Some(token),
    )
}

#[test]
fn a_ticket_is_a_working_connect_token() {
    let server = TestServer::start();
    let token = sign_in(&server, "Ticketed");
    let reply = request(
        &server,
        "POST",
        "/api/v1/rooms/hall/join",
        None,
        Some(&token),
    );
    let ticket: vitrine_shared::api::JoinTicket = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(ticket.expires_in_secs, 30);
    assert_eq!(ticket.server_addr, server.udp.to_string());
    assert_eq!(ticket.protocol_id, vitrine_shared::PROTOCOL_ID);
    let mut client = vitrine_client::net::NetClient::connect(&ticket).unwrap();
    assert!(vitrine_tests::step_until(Duration::from_secs(10), || {
        vitrine_tests::pump(&mut [&mut client]);
        client.mirror().is_welcomed()
    }));
    let me = client.mirror().members.values().next().unwrap();
    assert_eq!(
        me.name.as_str(),
        "Ticketed",
        "identity comes from the token"
    );
}

/// An account made when passwords were counted in bytes (12 to 256) may
/// have one shorter in characters than new accounts may: it still signs in,
/// a wrong password is still 401, and only an empty one is malformed.
#[test]
fn an_account_from_the_byte_rule_still_signs_in() {
    let server = TestServer::start();
    let password = "密码密码密码"; // 18 bytes, 6 characters
    assert!(
        vitrine_server::auth::check_password(password).is_err(),
        "a new account could not have this password"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = vitrine_server::store::Store::connect(&server.config.database_url)
            .await
            .expect("store");
        let hash = vitrine_server::auth::hash_password(password).expect("hash");
        let name = vitrine_shared::DisplayName::new("Old Host").unwrap();
        store
            .create_user("old.host", &name, vitrine_shared::Role::Host, &hash)
            .await
            .expect("create")
            .expect("username free");
        store.close().await;
    });
    let api = server.api();
    assert!(api.sign_in_with_password("old.host", password).is_ok());
    let wrong = api
        .sign_in_with_password("old.host", "密码密码密")
        .unwrap_err();
    assert_eq!(
        (wrong.status(), wrong.code()),
        (Some(401), Some("bad_credentials"))
    );
    let empty = api.sign_in_with_password("old.host", "").unwrap_err();
    assert_eq!(
        (empty.status(), empty.code()),
        (Some(400), Some("invalid_password"))
    );
}

#[test]
fn registered_accounts_sign_in_with_a_password() {
    let server = TestServer::start();
    let token = server.sign_in_as("host.ana", vitrine_shared::Role::Host);
    assert!(token.starts_with("vt1."));
    let api = server.api();
    let wrong = api
        .sign_in_with_password("host.ana", "not the password at all")
        .unwrap_err();
    assert_eq!(
        (wrong.status(), wrong.code()),
        (Some(401), Some("bad_credentials"))
    );
    let nobody = api
        .sign_in_with_password("nobody.here", "correct horse battery staple")
        .unwrap_err();
    assert_eq!(
        nobody.code(),
        Some("bad_credentials"),
        "no hint that the username does not exist"
    );
    let both = r#"{"display_name":"Ana","username":"host.ana","password":"x"}"#;
    let reply = request(
        &server,
        "POST",
        "/api/v1/sessions",
        Some((JSON, both)),
        None,
    );
    assert_eq!(
        (reply.status, reply.explained_code().as_str()),
        (400, "invalid_body")
    );
    // The role travels in the join ticket's user data: a host joins as a host.
    let ticket = join(&server, "hall", &token);
    assert_eq!(ticket.status, 200);
    let ticket: vitrine_shared::api::JoinTicket = serde_json::from_str(&ticket.body).unwrap();
    let mut client = vitrine_client::net::NetClient::connect(&ticket).unwrap();
    assert!(vitrine_tests::step_until(Duration::from_secs(10), || {
        vitrine_tests::pump(&mut [&mut client]);
        client.mirror().is_welcomed()
    }));
    let me = client.mirror().members.values().next().unwrap();
    assert_eq!(
        (me.name.as_str(), me.role),
        ("host.ana", vitrine_shared::Role::Host)
    );
}

#[test]
fn unauthorized_and_not_found() {
    let server = TestServer::start();
    let join = "/api/v1/rooms/hall/join";
    let none = request(&server, "POST", join, None, None);
    assert_eq!(
        (none.status, none.explained_code().as_str()),
        (401, "missing_token")
    );
    let junk = request(&server, "POST", join, None, Some("not-a-token"));
    assert_eq!(
        (junk.status, junk.explained_code().as_str()),
        (401, "invalid_token")
    );
    let token = sign_in(&server, "Forger");
    let forged = format!("{}x", &token[..token.len() - 1]);
    let forged = request(&server, "POST", join, None, Some(&forged));
    assert_eq!(
        (forged.status, forged.explained_code().as_str()),
        (401, "invalid_token")
    );

    let missing = request(
        &server,
        "POST",
        "/api/v1/rooms/no-such-room/join",
        None,
        Some(&token),
    );
    assert_eq!(
        (missing.status, missing.explained_code().as_str()),
        (404, "room_not_found")
    );
    let bad_id = request(
        &server,
        "POST",
        "/api/v1/rooms/Bad%20Id/join",
        None,
        Some(&token),
    );
    assert_eq!(
        (bad_id.status, bad_id.explained_code().as_str()),
        (404, "room_not_found")
    );
    let wrong_method = request(&server, "GET", "/api/v1/sessions", None, None);
    assert_eq!(
        (wrong_method.status, wrong_method.explained_code().as_str()),
        (405, "method_not_allowed")
    );
    let nowhere = request(&server, "GET", "/api/v1/nowhere", None, None);
    assert_eq!(
        (nowhere.status, nowhere.explained_code().as_str()),
        (404, "not_found")
    );

    // Signing out ends the session.
    assert_eq!(
        request(
            &server,
            "DELETE",
            "/api/v1/sessions/current",
            None,
            Some(&token)
        )
        .status,
        204
    );
    let after = request(&server, "POST", join, None, Some(&token));
    assert_eq!(
        (after.status, after.explained_code().as_str()),
        (401, "expired_token")
    );
}

#[test]
fn too_many_requests_answer_429_with_retry_after() {
    let server = TestServer::start_with(|c| {
        c.http_rate = RateConfig {
            per_second: 0.2,
            burst: 3,
        }
    });
    // All from 127.0.0.1, the one address whose bucket runs dry (the
    // `sign_in` helper signs each guest in from an address of its own).
    for i in 0..3 {
        let body = format!(r#"{{"display_name":"Quick{i}"}}"#);
        let reply = request(
            &server,
            "POST",
            "/api/v1/sessions",
            Some((JSON, &body)),
            None,
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let body = r#"{"display_name":"TooQuick"}"#;
    let reply = request(
        &server,
        "POST",
        "/api/v1/sessions",
        Some((JSON, body)),
        None,
    );
    assert_eq!(reply.status, 429);
    assert_eq!(reply.explained_code(), "rate_limited");
    let wait: u64 = reply.retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=5).contains(&wait), "{wait}");
}

#[test]
fn health_and_metrics() {
    let server = TestServer::start();
    let health = request(&server, "GET", "/healthz", None, None);
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    request(
        &server,
        "POST",
        "/api/v1/sessions",
        Some((JSON, "{bad")),
        None,
    );
    // The tick quantiles appear once the room thread has ticked; on a busy
    // machine the first request can beat the first tick, so poll, capped.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let metrics = loop {
        let body = request(&server, "GET", "/metrics", None, None).body;
        let ticked = !body.contains("vitrine_ticks_total 0\n");
        if ticked || std::time::Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    for name in [
        "vitrine_rooms 2",
        "vitrine_clients 0",
        "vitrine_tick_seconds{quantile=\"0.99\"}",
        "vitrine_tick_duration_seconds_bucket{le=\"+Inf\"}",
        "vitrine_bytes_in_total",
        "vitrine_bytes_out_total",
        "# TYPE vitrine_rejected_total counter",
        "vitrine_http_responses_total{status=\"400\"} 1",
    ] {
        assert!(metrics.contains(name), "missing {name} in\n{metrics}");
    }
}

#[test]
fn openapi_describes_every_route_and_every_described_route_exists() {
    let server = TestServer::start();
    let doc = request(&server, "GET", "/api/v1/openapi.json", None, None).json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut described: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    described.sort();
    let expected = [
        ("DELETE", "/api/v1/cart/items/{sku}"),
        ("DELETE", "/api/v1/friends/blocks/{account}"),
        ("DELETE", "/api/v1/friends/{account}"),
        ("DELETE", "/api/v1/moderation/bans/{id}"),
        ("DELETE", "/api/v1/moderation/mutes/{id}"),
        ("DELETE", "/api/v1/moderation/rooms/{id}/chat/{seq}"),
        ("DELETE", "/api/v1/moderation/voice-mutes/{id}"),
        ("DELETE", "/api/v1/sessions/current"),
        ("DELETE", "/api/v1/show/pinned-coupon"),
        ("DELETE", "/api/v1/stream/co-hosts/{id}"),
        ("DELETE", "/api/v1/stream/outlets/{id}"),
        ("DELETE", "/api/v1/stream/preview/{id}"),
        ("GET", "/api/v1/cart"),
        ("GET", "/api/v1/console/dashboard"),
        ("GET", "/api/v1/console/feed"),
        ("GET", "/api/v1/console/giveaways"),
        ("GET", "/api/v1/console/orders"),
        ("GET", "/api/v1/console/reviews"),
        ("GET", "/api/v1/coupons/{code}"),
        ("GET", "/api/v1/flash-sales/{id}"),
        ("GET", "/api/v1/friends"),
        ("GET", "/api/v1/friends/blocks"),
        ("GET", "/api/v1/friends/code"),
        ("GET", "/api/v1/friends/requests"),
        ("GET", "/api/v1/giveaways/{id}"),
        ("GET", "/api/v1/group-deals"),
        ("GET", "/api/v1/group-deals/{id}"),
        ("GET", "/api/v1/leaderboard"),
        ("GET", "/api/v1/moderation/bans"),
        ("GET", "/api/v1/moderation/filter"),
        ("GET", "/api/v1/moderation/log"),
        ("GET", "/api/v1/moderation/mutes"),
        ("GET", "/api/v1/moderation/rooms/{id}/chat"),
        ("GET", "/api/v1/moderation/voice-mutes"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/api/v1/orders"),
        ("GET", "/api/v1/orders/{id}"),
        ("GET", "/api/v1/polls/{id}"),
        ("GET", "/api/v1/products"),
        ("GET", "/api/v1/products/{id}"),
        ("GET", "/api/v1/products/{id}/reviews"),
        ("GET", "/api/v1/questions"),
        ("GET", "/api/v1/rewards"),
        ("GET", "/api/v1/rooms"),
        ("GET", "/api/v1/show/pinned-coupon"),
        ("GET", "/api/v1/shows"),
        ("GET", "/api/v1/shows/current"),
        ("GET", "/api/v1/shows/{id}/calendar.ics"),
        ("GET", "/api/v1/shows/{id}/chat.csv"),
        ("GET", "/api/v1/shows/{id}/orders.csv"),
        ("GET", "/api/v1/shows/{id}/summary"),
        ("GET", "/api/v1/stream"),
        ("GET", "/api/v1/stream/co-hosts"),
        ("GET", "/api/v1/stream/ingest"),
        ("GET", "/api/v1/stream/outlets"),
        ("GET", "/api/v1/stream/stage"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("POST", "/api/v1/admin/catalog"),
        ("POST", "/api/v1/admin/products"),
        ("POST", "/api/v1/admin/products/{id}/archive"),
        ("POST", "/api/v1/cart/items"),
        ("POST", "/api/v1/checkout"),
        ("POST", "/api/v1/console/tickets"),
        ("POST", "/api/v1/coupons"),
        ("POST", "/api/v1/flash-sales"),
        ("POST", "/api/v1/flash-sales/{id}/claims"),
        ("POST", "/api/v1/friends/blocks/{account}"),
        ("POST", "/api/v1/friends/code/rotate"),
        ("POST", "/api/v1/friends/requests"),
        ("POST", "/api/v1/friends/requests/{account}/accept"),
        ("POST", "/api/v1/friends/requests/{account}/decline"),
        ("POST", "/api/v1/friends/{account}/join"),
        ("POST", "/api/v1/giveaways"),
        ("POST", "/api/v1/giveaways/{id}/claim"),
        ("POST", "/api/v1/giveaways/{id}/draw"),
        ("POST", "/api/v1/giveaways/{id}/entries"),
        ("POST", "/api/v1/group-deals"),
        ("POST", "/api/v1/group-deals/{id}/teams"),
        ("POST", "/api/v1/invites"),
        ("POST", "/api/v1/moderation/kicks"),
        ("POST", "/api/v1/moderation/reviews/{id}/hide"),
        ("POST", "/api/v1/orders/{id}/deliver"),
        ("POST", "/api/v1/orders/{id}/fulfil"),
        ("POST", "/api/v1/orders/{id}/pay"),
        ("POST", "/api/v1/orders/{id}/refund"),
        ("POST", "/api/v1/polls"),
        ("POST", "/api/v1/polls/{id}/votes"),
        ("POST", "/api/v1/products/{id}/reviews"),
        ("POST", "/api/v1/questions"),
        ("POST", "/api/v1/questions/{id}/answered"),
        ("POST", "/api/v1/questions/{id}/upvotes"),
        ("POST", "/api/v1/rewards/redeem"),
        ("POST", "/api/v1/rooms/{id}/join"),
        ("POST", "/api/v1/sessions"),
        ("POST", "/api/v1/shows"),
        ("POST", "/api/v1/shows/current/end"),
        ("POST", "/api/v1/shows/{id}/live"),
        ("POST", "/api/v1/stream/co-hosts"),
        ("POST", "/api/v1/stream/outlets"),
        ("POST", "/api/v1/stream/preview"),
        ("POST", "/api/v1/teams/{id}/join"),
        ("PUT", "/api/v1/admin/products/{id}"),
        ("PUT", "/api/v1/cart/items/{sku}"),
        ("PUT", "/api/v1/moderation/bans/{id}"),
        ("PUT", "/api/v1/moderation/filter"),
        ("PUT", "/api/v1/moderation/mutes/{id}"),
        ("PUT", "/api/v1/moderation/voice-mutes/{id}"),
        ("PUT", "/api/v1/show/pinned-coupon"),
        ("PUT", "/api/v1/shows/current/featured"),
        ("PUT", "/api/v1/stream/stage"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(described, expected);
    // Every described route answers as itself, not as the 404 fallback or a 405.
    for (method, path) in described {
        let id = if path.contains("products") {
            "glow-serum"
        } else {
            "hall"
        };
        let concrete = path
            .replace("{id}", id)
            .replace("{sku}", "glow-serum-30ml")
            .replace("{code}", "LIVE10");
        let reply = request(&server, &method, &concrete, Some((JSON, "{}")), None);
        let fallback = reply.status == 404 && reply.body.contains("\"not_found\"");
        assert!(
            !fallback && reply.status != 405,
            "{method} {path}: {} {}",
            reply.status,
            reply.body
        );
    }
    // And every error response refers to the shared error schema.
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

#[test]
fn the_catalog_is_seeded_and_served_with_stock() {
    let server = TestServer::start();
    let list = request(&server, "GET", "/api/v1/products", None, None);
    assert_eq!(list.status, 200);
    let list: vitrine_shared::api::ProductList = serde_json::from_str(&list.body).unwrap();
    assert!(list.products.len() >= 12);
    let categories: std::collections::HashSet<&str> =
        list.products.iter().map(|p| p.category.as_str()).collect();
    assert!(categories.len() >= 4, "{categories:?}");

    let one = request(&server, "GET", "/api/v1/products/glow-serum", None, None);
    let serum: vitrine_shared::api::ProductView = serde_json::from_str(&one.body).unwrap();
    assert_eq!(serum.price.minor, 2490);
    assert_eq!(serum.price.currency, "EUR");
    assert_eq!(serum.price.display, "24.90 EUR");
    let big = serum
        .variants
        .iter()
        .find(|v| v.sku == "glow-serum-50ml")
        .unwrap();
    assert_eq!(
        (big.price.minor, big.options["size"].as_str()),
        (3490, "50 ml")
    );
    assert!(big.stock > 0);

    for id in ["no-such-product", "Bad%20Id"] {
        let missing = request(
            &server,
            "GET",
            &format!("/api/v1/products/{id}"),
            None,
            None,
        );
        assert_eq!(
            (missing.status, missing.explained_code().as_str()),
            (404, "product_not_found")
        );
    }
}

#[test]
fn a_broken_catalog_file_stops_the_server_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(
        &catalog,
        "currency = \"EUR\"\n[[products]]\nid = \"x\"\nname = \"X\"\ncategory = \"home\"\nprice = \"free\"\nmodel = \"models/x.glb\"\n[[products.variants]]\nsku = \"x-1\"\nstock = 1\n",
    )
    .unwrap();
    let mut config = vitrine_server::config::ServerConfig::local(dir.path().join("data"));
    config.http = "127.0.0.1:0".parse().unwrap();
    config.udp = "127.0.0.1:0".parse().unwrap();
    config.catalog_file = catalog;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let error = match runtime.block_on(vitrine_server::Server::start(config)) {
        Ok(_) => panic!("started with a broken catalog"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains("line 6") && error.contains("products[0].price"),
        "{error}"
    );
}

fn toml_request(server: &TestServer, token: &str, body: &str) -> Reply {
    request(
        server,
        "POST",
        "/api/v1/admin/catalog",
        Some(("application/toml", body)),
        Some(token),
    )
}

#[test]
fn hosts_import_and_archive_the_catalog() {
    let server = TestServer::start();
    let host = server.sign_in_as("host.catalog", vitrine_shared::Role::Host);
    let shopper = sign_in(&server, "Shopper");
    let product = |id: &str, price: &str, stock: i64| {
        format!(
            "[[products]]\nid = \"{id}\"\nname = \"Item {id}\"\ncategory = \"home\"\nprice = \"{price}\"\nmodel = \"models/{id}.glb\"\n\
             [[products.variants]]\nsku = \"{id}-one\"\nstock = {stock}\n"
        )
    };
    let count = |server: &TestServer| {
        let list = request(server, "GET", "/api/v1/products", None, None).json();
        list["products"].as_array().unwrap().len()
    };
    let before = count(&server);

    let good = format!(
        "currency = \"EUR\"\n{}",
        product("linen-napkins", "12.50", 40)
    );
    assert_eq!(
        toml_request(&server, &shopper, &good).explained_code(),
        "forbidden"
    );

    // A bad file names its line and field, and changes nothing.
    let bad = format!(
        "currency = \"EUR\"\n{}{}",
        product("linen-napkins", "12.50", 40),
        product("oak-tray", "free", 3)
    );
    let refused = toml_request(&server, &host, &bad);
    assert_eq!(
        (refused.status, refused.explained_code().as_str()),
        (400, "invalid_catalog")
    );
    let message = refused.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("line 15") && message.contains("products[1].price"),
        "{message}"
    );
    assert_eq!(count(&server), before);

    let imported = toml_request(&server, &host, &good);
    assert_eq!(imported.status, 200, "{}", imported.body);
    assert_eq!(imported.json()["products"], 1);
    assert_eq!(count(&server), before + 1);
    let napkins = request(&server, "GET", "/api/v1/products/linen-napkins", None, None).json();
    assert_eq!(
        (
            napkins["price"]["minor"].as_i64(),
            napkins["variants"][0]["stock"].as_i64()
        ),
        (Some(1250), Some(40))
    );

    // Updating is importing again.
    let repriced = format!(
        "currency = \"EUR\"\n{}",
        product("linen-napkins", "9.90", 55)
    );
    assert_eq!(toml_request(&server, &host, &repriced).status, 200);
    let napkins = request(&server, "GET", "/api/v1/products/linen-napkins", None, None).json();
    assert_eq!(
        (
            napkins["price"]["minor"].as_i64(),
            napkins["variants"][0]["stock"].as_i64()
        ),
        (Some(990), Some(55))
    );

    // Bigger than an ordinary request body, still fine for a catalog.
    let many: String = (0..150)
        .map(|i| product(&format!("bulk-{i}"), "1.00", 1))
        .collect();
    let big = format!("currency = \"EUR\"\n{many}");
    assert!(big.len() > 16 * 1024);
    assert_eq!(toml_request(&server, &host, &big).status, 200);
    assert_eq!(count(&server), before + 151);

    // Archiving takes it off sale: gone from the catalog, no flash sale.
    let archive = |token: &str| {
        request(
            &server,
            "POST",
            "/api/v1/admin/products/linen-napkins/archive",
            None,
            Some(token),
        )
    };
    assert_eq!(archive(&shopper).status, 403);
    assert_eq!(archive(&host).status, 204);
    assert_eq!(archive(&host).explained_code(), "product_not_found");
    assert_eq!(
        request(&server, "GET", "/api/v1/products/linen-napkins", None, None).status,
        404
    );
    let sale = serde_json::json!({
        "sku": "linen-napkins-one", "sale_price_minor": 500, "currency": "EUR", "quantity": 5,
        "per_buyer_limit": 1, "countdown_secs": 10, "duration_secs": 60,
    })
    .to_string();
    let refused = request(
        &server,
        "POST",
        "/api/v1/flash-sales",
        Some((JSON, &sale)),
        Some(&host),
    );
    assert_eq!(
        (refused.status, refused.explained_code().as_str()),
        (404, "unknown_sku")
    );
}

/// Every route documented as staff-only (a 403 for "not staff" in the
/// OpenAPI document) refuses a shopper's token with 403, given a body that
/// would otherwise be accepted. The list is checked against the document,
/// so a new staff route cannot be left out.
#[test]
fn a_shopper_token_cannot_call_any_staff_route() {
    let server = TestServer::start();
    let shopper = sign_in(&server, "Shopper");
    let doc = request(&server, "GET", "/api/v1/openapi.json", None, None).json();
    // 403s that are not about the role.
    let other_reasons = [
        ("POST", "/api/v1/giveaways/{id}/entries"),
        ("POST", "/api/v1/giveaways/{id}/claim"),
        ("POST", "/api/v1/questions"),
        ("POST", "/api/v1/rooms/{id}/join"),
        ("POST", "/api/v1/friends/{account}/join"),
        // A coupon bought with another shopper's points.
        ("POST", "/api/v1/checkout"),
        // Not a buyer of the product (`it::reviews`).
        ("POST", "/api/v1/products/{id}/reviews"),
    ];
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let forbids = op["responses"].get("403").is_some();
            if forbids && !other_reasons.contains(&(method.as_str(), path.as_str())) {
                documented.push((method, path.clone()));
            }
        }
    }
    documented.sort();
    let far = "4102444800000"; // 2100-01-01
    let feed = format!("/api/v1/console/feed?token={shopper}");
    let staff: Vec<(&str, &str, String)> = vec![
        ("DELETE", "/api/v1/moderation/bans/1", String::new()),
        ("DELETE", "/api/v1/moderation/mutes/1", String::new()),
        ("DELETE", "/api/v1/moderation/rooms/hall/chat/1", String::new()),
        ("DELETE", "/api/v1/moderation/voice-mutes/1", String::new()),
        ("DELETE", "/api/v1/show/pinned-coupon", String::new()),
        ("DELETE", "/api/v1/stream/co-hosts/1", String::new()),
        ("DELETE", "/api/v1/stream/outlets/1", String::new()),
        ("DELETE", "/api/v1/stream/preview/1", String::new()),
        ("GET", "/api/v1/console/dashboard", String::new()),
        ("GET", &feed, String::new()),
        ("GET", "/api/v1/console/giveaways", String::new()),
        ("GET", "/api/v1/console/orders", String::new()),
        ("GET", "/api/v1/console/reviews", String::new()),
        ("GET", "/api/v1/moderation/bans", String::new()),
        ("GET", "/api/v1/moderation/filter", String::new()),
        ("GET", "/api/v1/moderation/log", String::new()),
        ("GET", "/api/v1/moderation/mutes", String::new()),
        ("GET", "/api/v1/moderation/rooms/hall/chat", String::new()),
        ("GET", "/api/v1/moderation/voice-mutes", String::new()),
        ("GET", "/api/v1/shows/1/chat.csv", String::new()),
        ("GET", "/api/v1/shows/1/orders.csv", String::new()),
        ("GET", "/api/v1/shows/1/summary", String::new()),
        ("GET", "/api/v1/stream/co-hosts", String::new()),
        ("GET", "/api/v1/stream/ingest", String::new()),
        ("GET", "/api/v1/stream/outlets", String::new()),
        ("GET", "/api/v1/stream/stage", String::new()),
        ("POST", "/api/v1/admin/catalog", "currency = \"EUR\"".into()),
        ("POST", "/api/v1/admin/products", r#"{"id":"x","name":"X","category":"home","price":"1.00","currency":"EUR","model":"models/x.glb","variants":[{"sku":"x-1","stock":1}]}"#.into()),
        ("POST", "/api/v1/admin/products/glow-serum/archive", String::new()),
        ("POST", "/api/v1/console/tickets", String::new()),
        ("POST", "/api/v1/coupons", format!(r#"{{"code":"NOPE10","percent_off":10,"currency":"EUR","ends_at_ms":{far}}}"#)),
        ("POST", "/api/v1/flash-sales", r#"{"sku":"glow-serum-30ml","sale_price_minor":100,"currency":"EUR","quantity":1,"per_buyer_limit":1,"countdown_secs":10,"duration_secs":60}"#.into()),
        ("POST", "/api/v1/giveaways", r#"{"prize":"x","entry":"everyone","closes_in_secs":60}"#.into()),
        ("POST", "/api/v1/giveaways/1/draw", String::new()),
        ("POST", "/api/v1/group-deals", r#"{"sku":"glow-serum-30ml","team_size":2,"team_price_minor":100,"currency":"EUR","window_secs":60,"stock_cap":1}"#.into()),
        ("POST", "/api/v1/moderation/kicks", r#"{"account_id":1}"#.into()),
        ("POST", "/api/v1/moderation/reviews/1/hide", "{}".into()),
        ("POST", "/api/v1/orders/1/deliver", String::new()),
        ("POST", "/api/v1/orders/1/fulfil", String::new()),
        ("POST", "/api/v1/polls", r#"{"question":"q","options":["a","b"],"duration_secs":60}"#.into()),
        ("POST", "/api/v1/questions/1/answered", String::new()),
        ("POST", "/api/v1/shows", r#"{"title":"Mine"}"#.into()),
        ("POST", "/api/v1/shows/1/live", String::new()),
        ("POST", "/api/v1/shows/current/end", String::new()),
        ("POST", "/api/v1/stream/co-hosts", r#"{"name":"Sneaky"}"#.into()),
        ("POST", "/api/v1/stream/outlets", r#"{"name":"Sneaky","url":"rtmp://x/live","stream_key":"k"}"#.into()),
        ("POST", "/api/v1/stream/preview", "v=0".into()),
        ("PUT", "/api/v1/admin/products/glow-serum", r#"{"name":"X","category":"home","price":"1.00","currency":"EUR","model":"models/x.glb","variants":[{"sku":"glow-serum-30ml","stock":1}]}"#.into()),
        ("PUT", "/api/v1/moderation/bans/1", "{}".into()),
        ("PUT", "/api/v1/moderation/filter", r#"{"terms":["x"]}"#.into()),
        ("PUT", "/api/v1/moderation/mutes/1", r#"{"seconds":60}"#.into()),
        ("PUT", "/api/v1/moderation/voice-mutes/1", r#"{"seconds":60}"#.into()),
        ("PUT", "/api/v1/show/pinned-coupon", r#"{"code":"NOPE10"}"#.into()),
        ("PUT", "/api/v1/shows/current/featured", r#"{"products":[]}"#.into()),
        ("PUT", "/api/v1/stream/stage", r#"{"layout":"grid"}"#.into()),
    ];
    // Each documented staff route has its call in the list, and no more.
    let fits = |template: &str, path: &str| {
        let path = path.split('?').next().unwrap_or_default();
        let (t, p): (Vec<&str>, Vec<&str>) =
            (template.split('/').collect(), path.split('/').collect());
        t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t == p)
    };
    for (method, template) in &documented {
        assert!(
            staff
                .iter()
                .any(|(m, p, _)| m == method && fits(template, p)),
            "{method} {template} is staff-only but not tested here"
        );
    }
    assert_eq!(staff.len(), documented.len(), "{documented:?}");
    for (method, path, body) in &staff {
        let kind = if path.ends_with("/catalog") {
            "application/toml"
        } else {
            JSON
        };
        let body = (!body.is_empty()).then_some((kind, body.as_str()));
        let reply = request(&server, method, path, body, Some(&shopper));
        assert_eq!(reply.status, 403, "{method} {path}: {}", reply.body);
        assert_eq!(reply.explained_code(), "forbidden", "{method} {path}");
    }
    // Nothing changed: the product is still on sale.
    assert_eq!(
        request(&server, "GET", "/api/v1/products/glow-serum", None, None).status,
        200
    );
}

#[test]
fn writes_are_rate_limited_per_account_and_reads_are_not() {
    let server = TestServer::start_with(|c| {
        c.account_rate = vitrine_server::config::RateConfig {
            per_second: 0.5,
            burst: 3,
        }
    });
    let (ada, bob) = (sign_in(&server, "Ada"), sign_in(&server, "Bob"));
    let add = |token: &str| {
        request(
            &server,
            "POST",
            "/api/v1/cart/items",
            Some((JSON, r#"{"sku":"glow-serum-30ml","quantity":1}"#)),
            Some(token),
        )
    };
    for _ in 0..3 {
        assert_eq!(add(&ada).status, 200);
    }
    let refused = add(&ada);
    assert_eq!(
        (refused.status, refused.explained_code().as_str()),
        (429, "rate_limited")
    );
    assert!(refused.retry_after.is_some(), "with Retry-After");
    // Nothing changed by the refused one; reads still answer; others may write.
    let cart = request(&server, "GET", "/api/v1/cart", None, Some(&ada));
    assert_eq!(cart.status, 200);
    assert_eq!(cart.json()["lines"][0]["quantity"], 3);
    assert_eq!(add(&bob).status, 200);
}

/// Products' real sizes: every product of the shipped catalog has one in
/// `GET /api/v1/products`; an import sets them (or none), a JSON update
/// keeps them, an invalid one refuses the whole file, naming the product,
/// and the OpenAPI document describes the field.
#[test]
fn products_carry_their_real_size_and_an_invalid_size_refuses_the_import() {
    use vitrine_shared::api::{ProductList, ProductSize};
    let server = TestServer::start();
    let host = server.sign_in_as("host.sizes", vitrine_shared::Role::Host);
    let list = || request(&server, "GET", "/api/v1/products", None, None);
    let catalog: ProductList = serde_json::from_str(&list().body).unwrap();
    assert!(catalog.products.len() >= 12);
    for p in &catalog.products {
        let size = p.size.unwrap_or_else(|| panic!("{} has no size", p.id));
        assert!(size.is_valid(), "{}: {size:?}", p.id);
    }
    let serum = list().json()["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "glow-serum")
        .cloned()
        .unwrap();
    assert_eq!(
        serum["size"],
        serde_json::json!({ "width_mm": 32, "height_mm": 110, "depth_mm": 32 })
    );

    let product = |id: &str, size: Option<&str>| {
        let size = size.map(|s| format!("size_mm = {s}\n")).unwrap_or_default();
        format!(
            "[[products]]\nid = \"{id}\"\nname = \"Item {id}\"\ncategory = \"home\"\nprice = \"5.00\"\nmodel = \"models/{id}.glb\"\n{size}\
             [[products.variants]]\nsku = \"{id}-one\"\nstock = 3\n"
        )
    };
    let shown = |id: &str| {
        request(
            &server,
            "GET",
            &format!("/api/v1/products/{id}"),
            None,
            None,
        )
        .json()["size"]
            .clone()
    };

    // Each invalid size refuses the whole file, naming the product, and
    // nothing is imported: not even the good product before it.
    let before = list().body;
    for bad in [
        "[0, 25, 260]",
        "[380, 0, 260]",
        "[380, 25, 0]",
        "[380, 25, 5001]",
        "[380, -25, 260]",
        "[380, 25]",
    ] {
        let file = format!(
            "currency = \"EUR\"\n{}{}",
            product("linen-napkins", Some("[450, 20, 450]")),
            product("oak-tray", Some(bad))
        );
        let refused = toml_request(&server, &host, &file);
        assert_eq!(
            (refused.status, refused.explained_code().as_str()),
            (400, "invalid_catalog"),
            "{bad}"
        );
        let message = refused.json()["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains("line 18")
                && message.contains("products[1].size_mm")
                && message.contains("oak-tray"),
            "{bad}: {message}"
        );
        assert_eq!(list().body, before, "{bad} changed the catalog");
    }
    assert_eq!(
        shown("linen-napkins"),
        Value::Null,
        "the good product was not imported"
    );

    // Valid sizes land; a product without one has none.
    let file = format!(
        "currency = \"EUR\"\n{}{}",
        product("linen-napkins", None),
        product(
            "oak-tray",
            Some(&format!("[380, 25, {}]", ProductSize::MAX_MM))
        )
    );
    let imported = toml_request(&server, &host, &file);
    assert_eq!(imported.status, 200, "{}", imported.body);
    let tray = serde_json::json!({ "width_mm": 380, "height_mm": 25, "depth_mm": 5000 });
    assert_eq!(shown("oak-tray"), tray);
    let napkins = request(&server, "GET", "/api/v1/products/linen-napkins", None, None).json();
    assert_eq!(napkins["size"], Value::Null);
    assert_eq!(napkins["name"], "Item linen-napkins");

    // The JSON admin API carries no size: an update keeps the tray's.
    let update = r#"{"name":"Oak Tray","category":"home","price":"6.00","currency":"EUR","model":"models/oak-tray.glb","variants":[{"sku":"oak-tray-one","stock":4}]}"#;
    let updated = request(
        &server,
        "PUT",
        "/api/v1/admin/products/oak-tray",
        Some(("application/json", update)),
        Some(&host),
    );
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.json()["size"], tray);
    assert_eq!(shown("oak-tray"), tray);

    // The OpenAPI document describes it: optional on a product, and each
    // side a required integer.
    let doc = request(&server, "GET", "/api/v1/openapi.json", None, None).json();
    let schemas = &doc["components"]["schemas"];
    let view = &schemas["ProductView"];
    assert!(
        view["properties"]["size"]
            .to_string()
            .contains("ProductSize"),
        "{view}"
    );
    let required = view["required"].as_array().unwrap();
    assert!(!required.iter().any(|r| r == "size"), "{view}");
    let size = &schemas["ProductSize"];
    for side in ["width_mm", "height_mm", "depth_mm"] {
        assert_eq!(size["properties"][side]["type"], "integer", "{size}");
        assert!(
            size["required"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == side)
        );
    }
}
