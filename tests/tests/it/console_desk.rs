//! The console's desk over HTTP: a show's orders with names, filters and
//! pages (every bad filter refused by name, nothing changed), and
//! giveaways with their entrants by name and a draw made now.

use std::time::Duration;

use serde_json::{Value, json};
use vitrine_server::clock::ManualClock;
use vitrine_shared::Role;
use vitrine_tests::{Http, TestServer, guest};

/// A shopper buys `quantity` of `sku` through the cart; answers the order.
fn buy(http: &Http, token: &str, sku: &str, quantity: i64, key: &str) -> Value {
    let (status, body) = http.call(
        "POST",
        "/api/v1/cart/items",
        Some(token),
        None,
        Some(json!({ "sku": sku, "quantity": quantity })),
    );
    assert_eq!(status, 200, "{body}");
    let (status, order) = http.call(
        "POST",
        "/api/v1/checkout",
        Some(token),
        Some(key),
        Some(json!({ "card": "4242424242424242" })),
    );
    assert_eq!(status, 201, "{order}");
    order
}

fn desk(http: &Http, host: &str, query: &str) -> (u16, Value) {
    http.call(
        "GET",
        &format!("/api/v1/console/orders{query}"),
        Some(host),
        None,
        None,
    )
}

fn ids(list: &Value) -> Vec<i64> {
    list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn the_console_lists_a_shows_orders_by_name_with_filters_and_pages() {
    // Time moves only when the test says, so orders made together share a
    // millisecond and the (created_at, id) tie-break decides their order.
    let time = ManualClock::starting_now();
    let clock = time.clock();
    let server = TestServer::start_with(move |c| c.clock = clock);
    let http = Http::new(&server);
    let host = server.sign_in_as("host.desk", Role::Host);
    // An order before the show is not the show's.
    let early = guest(&http, "Early Bird");
    let before = buy(&http, &early, "glow-serum-30ml", 1, "early");
    time.advance(Duration::from_secs(1));
    let (status, show) = http.call(
        "POST",
        "/api/v1/shows",
        Some(&host),
        None,
        Some(json!({ "title": "Desk night" })),
    );
    assert_eq!(status, 201, "{show}");
    let (ada, bo, cy) = (
        guest(&http, "Ada Lovelace"),
        guest(&http, "Bo"),
        guest(&http, "Cy"),
    );
    // The mug and the serum in the same millisecond, the lipstick later.
    let mug = buy(&http, &ada, "stoneware-mug-sage", 2, "a1");
    let serum = buy(&http, &bo, "glow-serum-50ml", 1, "b1");
    time.advance(Duration::from_secs(1));
    let lipstick = buy(&http, &cy, "velvet-lipstick-ruby", 1, "c1");
    let id = |o: &Value| o["id"].as_i64().unwrap();
    // Of two orders made together, the larger id comes first.
    let (tie_first, tie_second) = if id(&mug) > id(&serum) {
        (id(&mug), id(&serum))
    } else {
        (id(&serum), id(&mug))
    };

    // The live show's, newest first, labelled.
    let (status, list) = desk(&http, &host, "");
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["show"]["title"], "Desk night");
    assert_eq!(list["matching"], 3);
    assert_eq!(ids(&list), vec![id(&lipstick), tie_first, tie_second]);
    assert!(!ids(&list).contains(&id(&before)));
    let row = list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == mug["id"])
        .unwrap();
    assert_eq!(row["buyer_name"], "Ada Lovelace");
    assert_eq!(row["status"], "paid");
    assert_eq!(row["total"]["minor"], mug["total"]["minor"]);
    let line = &row["lines"][0];
    assert_eq!(
        (
            line["product_name"].as_str(),
            line["variant"].as_str(),
            line["quantity"].as_i64()
        ),
        (Some("Speckled Stoneware Mug"), Some("Sage"), Some(2))
    );
    // Every order, on asking.
    let (_, all) = desk(&http, &host, "?show=all");
    assert_eq!(all["matching"], 4);
    assert!(all["show"].is_null());

    // Filters: status, product, buyer, a search in any case.
    let (status, moved) = http.call(
        "POST",
        &format!("/api/v1/orders/{}/fulfil", id(&serum)),
        Some(&host),
        None,
        None,
    );
    assert_eq!(status, 200, "{moved}");
    let (_, fulfilled) = desk(&http, &host, "?status=fulfilled");
    assert_eq!(ids(&fulfilled), vec![id(&serum)]);
    let (_, paid) = desk(&http, &host, "?status=paid");
    assert_eq!(ids(&paid), vec![id(&lipstick), id(&mug)]);
    let (_, mugs) = desk(&http, &host, "?product=stoneware-mug");
    assert_eq!(ids(&mugs), vec![id(&mug)]);
    let ada_id = row["buyer_id"].as_i64().unwrap();
    let (_, by_ada) = desk(&http, &host, &format!("?buyer={ada_id}"));
    assert_eq!(ids(&by_ada), vec![id(&mug)]);
    let (_, searched) = desk(&http, &host, "?q=LOVELACE");
    assert_eq!(ids(&searched), vec![id(&mug)]);
    let (_, searched) = desk(&http, &host, "?q=matte%20lip");
    assert_eq!(ids(&searched), vec![id(&lipstick)]);
    let (_, searched) = desk(&http, &host, &format!("?q={}", id(&serum)));
    assert_eq!(ids(&searched), vec![id(&serum)]);
    // The number the console shows (`#` and the last six digits) finds it,
    // with or without the `#` (and any other of the show's orders ending so).
    let shown = id(&serum).to_string();
    let tail = &shown[shown.len().saturating_sub(6)..];
    let ending: Vec<i64> = ids(&list)
        .into_iter()
        .filter(|o| o.to_string().ends_with(tail))
        .collect();
    for q in [format!("%23{tail}"), tail.to_owned()] {
        let (status, searched) = desk(&http, &host, &format!("?q={q}"));
        assert_eq!(status, 200, "{searched}");
        assert_eq!(ids(&searched), ending, "{q}");
    }
    // `%` is a character to find, not a wildcard.
    let (_, searched) = desk(&http, &host, "?q=%25");
    assert_eq!(searched["matching"], 0, "{searched}");
    let (_, both) = desk(&http, &host, "?status=paid&product=velvet-lipstick");
    assert_eq!(ids(&both), vec![id(&lipstick)]);

    // Pages of two: the second holds the rest, and nothing twice.
    // The page ends between the two orders of one millisecond.
    let (_, first) = desk(&http, &host, "?limit=2");
    assert_eq!(ids(&first), vec![id(&lipstick), tie_first]);
    assert_eq!(first["matching"], 3);
    let next = first["next"].as_str().unwrap().to_owned();
    let (_, second) = desk(&http, &host, &format!("?limit=2&before={next}"));
    assert_eq!(ids(&second), vec![tie_second]);
    assert!(second["next"].is_null());

    // Each bad filter is refused by name, and nothing changes.
    let (_, listed_before) = desk(&http, &host, "");
    let long = "x".repeat(81);
    let bad = [
        ("?status=sold_out", "bad_filter"),
        ("?status=", "bad_filter"),
        ("?product=no-such-thing", "bad_filter"),
        ("?product=Not%20An%20Id!", "bad_filter"),
        ("?buyer=ada", "bad_filter"),
        ("?buyer=-3", "bad_filter"),
        ("?q=", "bad_filter"),
        ("?q=%20%20", "bad_filter"),
        (&format!("?q={long}"), "bad_filter"),
        ("?q=a%07b", "bad_filter"),
        ("?limit=0", "bad_filter"),
        ("?limit=101", "bad_filter"),
        ("?limit=ten", "bad_filter"),
        ("?before=yesterday", "bad_filter"),
        ("?before=1.x", "bad_filter"),
        ("?show=latest", "bad_filter"),
        ("?stauts=paid", "invalid_request"),
    ];
    for (query, code) in bad {
        let (status, body) = desk(&http, &host, query);
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some(code)),
            "{query}: {body}"
        );
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let (status, body) = desk(&http, &host, "?show=12345");
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("show_not_found")),
        "{body}"
    );
    let (_, after) = desk(&http, &host, "");
    assert_eq!(after, listed_before);
    assert_eq!(after["matching"], 3);
    let statuses: Vec<(i64, &str)> = after["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].as_i64().unwrap(), o["status"].as_str().unwrap()))
        .collect();
    assert!(statuses.contains(&(id(&serum), "fulfilled")), "{after}");
    assert!(statuses.contains(&(id(&mug), "paid")), "{after}");
    assert!(statuses.contains(&(id(&lipstick), "paid")), "{after}");

    // A co-host runs the desk with the host.
    let cohost = server.sign_in_as("cohost.desk", Role::CoHost);
    let (status, body) = desk(&http, &cohost, "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), ids(&after));

    // Moderators watch the show but do not see buyers' orders.
    let moderator = server.sign_in_as("mod.desk", Role::Moderator);
    let (status, body) = desk(&http, &moderator, "");
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
}

#[test]
fn a_host_draws_a_giveaway_now_and_the_console_lists_its_entrants_by_name() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.draw", Role::Host);
    let (status, opened) = http.call(
        "POST",
        "/api/v1/giveaways",
        Some(&host),
        None,
        Some(json!({ "prize": "A signed mug", "entry": "everyone", "closes_in_secs": 3600 })),
    );
    assert_eq!(status, 201, "{opened}");
    let id = opened["id"].as_i64().unwrap();
    let path = format!("/api/v1/giveaways/{id}");
    let listed = |http: &Http| {
        let (status, list) = http.call("GET", "/api/v1/console/giveaways", Some(&host), None, None);
        assert_eq!(status, 200, "{list}");
        list["giveaways"][0].clone()
    };

    // Nobody has entered: a draw is refused and entries stay open.
    let (status, body) = http.call("POST", &format!("{path}/draw"), Some(&host), None, None);
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("no_entrants")),
        "{body}"
    );
    let (_, still) = http.call("GET", &path, None, None, None);
    assert!(still["seed"].is_null(), "{still}");
    assert_eq!(still["closes_at_ms"], opened["closes_at_ms"]);

    let names = ["Dee", "Eli", "Fay"];
    let tokens: Vec<String> = names.iter().map(|n| guest(&http, n)).collect();
    for token in &tokens {
        let (status, body) = http.call("POST", &format!("{path}/entries"), Some(token), None, None);
        assert_eq!(status, 200, "{body}");
    }
    let desk = listed(&http);
    assert_eq!(desk["giveaway"]["id"], id);
    assert_eq!(desk["entrant_count"], 3);
    let mut listed_names: Vec<&str> = desk["entrants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    listed_names.sort();
    assert_eq!(listed_names, names);
    assert!(desk["giveaway"]["seed"].is_null(), "not before the draw");

    // A shopper cannot draw; bad ids are refused; the host draws now.
    let (status, _) = http.call(
        "POST",
        &format!("{path}/draw"),
        Some(&tokens[0]),
        None,
        None,
    );
    assert_eq!(status, 403);
    // Nor can a moderator: they keep the chat, not the prizes.
    let moderator = server.sign_in_as("mod.draw", Role::Moderator);
    let (status, body) = http.call(
        "POST",
        &format!("{path}/draw"),
        Some(&moderator),
        None,
        None,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    for bad in ["/api/v1/giveaways/77/draw", "/api/v1/giveaways/x/draw"] {
        let (status, body) = http.call("POST", bad, Some(&host), None, None);
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("giveaway_not_found")),
            "{bad}: {body}"
        );
    }
    let (status, drawn) = http.call("POST", &format!("{path}/draw"), Some(&host), None, None);
    assert_eq!(status, 200, "{drawn}");
    assert!(
        drawn["seed"].as_str().is_some_and(|s| s.len() == 64),
        "{drawn}"
    );
    assert!(
        drawn["closes_at_ms"].as_i64().unwrap() < opened["closes_at_ms"].as_i64().unwrap(),
        "{drawn}"
    );
    let winner = drawn["draws"][0]["name"].as_str().unwrap().to_owned();
    assert!(names.contains(&winner.as_str()), "{drawn}");
    // Entries are closed now; a second draw is refused and changes nothing.
    let late = guest(&http, "Late");
    let (status, body) = http.call("POST", &format!("{path}/entries"), Some(&late), None, None);
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("giveaway_closed")),
        "{body}"
    );
    let (status, body) = http.call("POST", &format!("{path}/draw"), Some(&host), None, None);
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("already_drawn")),
        "{body}"
    );
    let desk = listed(&http);
    assert_eq!(desk["giveaway"]["draws"].as_array().unwrap().len(), 1);
    assert_eq!(desk["giveaway"]["draws"][0]["name"], winner.as_str());
    assert_eq!(desk["giveaway"]["seed"], drawn["seed"]);
}
