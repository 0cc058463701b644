//! Reviews over HTTP against the real server: only a buyer whose order was
//! delivered may review, once per product; bad input is refused with a
//! typed error and changes nothing; the product shows the count and the
//! average; staff list the newest and hide one, and the log records it.
//! From the room, a review command is answered to the reviewer alone.

use serde_json::{Value, json};
use std::time::Duration;
use vitrine_client::net::NetClient;
use vitrine_shared::api::{OrderView, ProductView, ReviewList, ReviewSummary};
use vitrine_shared::protocol::{OrderStatus, ReviewRefusal};
use vitrine_shared::{OrderId, ProductId, Role, RoomCommand};
use vitrine_tests::{Http, TestServer, guest, joined_as, pump, step_until};

const MUG: (&str, &str) = ("stoneware-mug", "stoneware-mug-sage");
const APPROVED: &str = "4242 4242 4242 4242";

fn buy_mug(http: &Http, token: &str, key: &str) -> OrderId {
    let body = json!({ "buy_now": { "sku": MUG.1, "quantity": 1 }, "card": APPROVED });
    let (status, reply) = http.call(
        "POST",
        "/api/v1/checkout",
        Some(token),
        Some(key),
        Some(body),
    );
    assert_eq!(status, 201, "{reply}");
    serde_json::from_value::<OrderView>(reply).unwrap().id
}

fn summary(http: &Http) -> ReviewSummary {
    let path = format!("/api/v1/products/{}/reviews", MUG.0);
    let (status, body) = http.call("GET", &path, None, None, None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

fn review(http: &Http, token: Option<&str>, product: &str, body: Value) -> (u16, Value) {
    let path = format!("/api/v1/products/{product}/reviews");
    http.call("POST", &path, token, None, Some(body))
}

#[test]
fn a_delivered_buyer_reviews_once_bad_reviews_change_nothing_and_staff_hide_one() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.reviews", Role::Host);
    let (ada, bob, cy) = (guest(&http, "Ada"), guest(&http, "Bob"), guest(&http, "Cy"));
    let adas = buy_mug(&http, &ada, "ada-1");
    buy_mug(&http, &bob, "bob-1");
    let code = |(_, body): (u16, Value)| body["code"].as_str().unwrap_or_default().to_owned();
    let good = json!({ "stars": 5, "text": "Lovely glaze, holds a big coffee." });

    // Paid but not delivered, and never bought: refused.
    assert_eq!(
        code(review(&http, Some(&ada), MUG.0, good.clone())),
        "not_delivered"
    );
    assert_eq!(
        code(review(&http, Some(&cy), MUG.0, good.clone())),
        "not_a_buyer"
    );
    for step in ["fulfil", "deliver"] {
        let path = format!("/api/v1/orders/{adas}/{step}");
        assert_eq!(http.call("POST", &path, Some(&host), None, None).0, 200);
    }

    // Hostile and malformed reviews: each a typed refusal.
    let long = "x".repeat(vitrine_shared::api::MAX_REVIEW_CHARS + 1);
    for (token, product, body, want) in [
        (
            Some(&ada),
            MUG.0,
            json!({ "stars": 0 }),
            (400, "invalid_stars"),
        ),
        (
            Some(&ada),
            MUG.0,
            json!({ "stars": 6 }),
            (400, "invalid_stars"),
        ),
        (
            Some(&ada),
            MUG.0,
            json!({ "stars": 255 }),
            (400, "invalid_stars"),
        ),
        (
            Some(&ada),
            MUG.0,
            json!({ "stars": 4, "text": long }),
            (400, "review_too_long"),
        ),
        (
            Some(&ada),
            MUG.0,
            json!({ "stars": 4, "text": "nul\u{0}here" }),
            (400, "invalid_text"),
        ),
        (
            Some(&ada),
            MUG.0,
            json!({ "stars": 4, "text": "\u{202E}reversed" }),
            (400, "invalid_text"),
        ),
        (
            Some(&ada),
            MUG.0,
            json!({ "stars": -1 }),
            (400, "invalid_body"),
        ),
        (
            Some(&ada),
            MUG.0,
            json!({ "stars": "five" }),
            (400, "invalid_body"),
        ),
        (
            Some(&ada),
            MUG.0,
            json!({ "text": "no stars" }),
            (400, "invalid_body"),
        ),
        (
            Some(&ada),
            "no-such-thing",
            json!({ "stars": 5 }),
            (404, "product_not_found"),
        ),
        (
            Some(&ada),
            "BAD%20ID%21",
            json!({ "stars": 5 }),
            (404, "product_not_found"),
        ),
        (None, MUG.0, json!({ "stars": 5 }), (401, "")),
    ] {
        let (status, body) = review(&http, token.map(|t| t.as_str()), product, body.clone());
        assert_eq!(status, want.0, "{body}");
        if !want.1.is_empty() {
            assert_eq!(body["code"], want.1, "{body}");
        }
    }
    assert_eq!(summary(&http).count, 0, "nothing was stored");

    // The delivered buyer reviews, once.
    let (status, posted) = review(&http, Some(&ada), MUG.0, good.clone());
    assert_eq!(status, 201, "{posted}");
    assert_eq!(posted["author"], "Ada");
    assert_eq!(posted["verified_buyer"], true);
    assert_eq!(
        code(review(&http, Some(&ada), MUG.0, good)),
        "already_reviewed"
    );
    // Asked with her token, the reviews say she gave five (the card asks
    // nobody twice); asked without one, or by someone else, they do not.
    let path = format!("/api/v1/products/{}/reviews", MUG.0);
    let (_, mine) = http.call("GET", &path, Some(&ada), None, None);
    assert_eq!(mine["mine"], 5, "{mine}");
    assert_eq!(summary(&http).mine, None);
    let stranger = guest(&http, "Stranger");
    let (_, theirs) = http.call("GET", &path, Some(&stranger), None, None);
    assert!(theirs["mine"].is_null(), "{theirs}");
    let (status, _) = http.call("GET", &path, Some("not-a-token"), None, None);
    assert_eq!(status, 401, "a token given must be good");

    // The product and its card show the count and the average.
    let (_, product) = http.call(
        "GET",
        &format!("/api/v1/products/{}", MUG.0),
        None,
        None,
        None,
    );
    let product: ProductView = serde_json::from_value(product).unwrap();
    assert_eq!(product.reviews.count, 1);
    assert_eq!(product.reviews.average(), Some(5.0));
    let (_, list) = http.call("GET", "/api/v1/products", None, None, None);
    let listed = list["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == MUG.0)
        .unwrap();
    assert_eq!(listed["reviews"]["count"], 1);
    let seen = summary(&http);
    assert_eq!((seen.count, seen.average), (1, Some(5.0)));
    assert_eq!(seen.latest[0].text, "Lovely glaze, holds a big coffee.");
    let id = seen.latest[0].id;

    // Staff only: the newest reviews, and hiding one.
    let newest = "/api/v1/console/reviews";
    assert_eq!(http.call("GET", newest, Some(&ada), None, None).0, 403);
    let (status, body) = http.call("GET", newest, Some(&host), None, None);
    assert_eq!(status, 200, "{body}");
    let list: ReviewList = serde_json::from_value(body).unwrap();
    assert_eq!(list.reviews[0].id, id);
    let hide = format!("/api/v1/moderation/reviews/{id}/hide");
    let why = Some(json!({ "reason": "mentions a competitor" }));
    assert_eq!(
        http.call("POST", &hide, Some(&ada), None, why.clone()).0,
        403
    );
    let bad_id = "/api/v1/moderation/reviews/not-a-number/hide";
    assert_eq!(
        code(http.call("POST", bad_id, Some(&host), None, why.clone())),
        "review_not_found"
    );
    let (status, body) = http.call("POST", &hide, Some(&host), None, why.clone());
    assert_eq!((status, &body["hidden"]), (200, &json!(true)), "{body}");
    assert_eq!(
        code(http.call("POST", &hide, Some(&host), None, why)),
        "already_hidden"
    );
    let seen = summary(&http);
    assert_eq!(
        (seen.count, seen.latest.len()),
        (0, 0),
        "hidden from shoppers"
    );
    let (_, log) = http.call("GET", "/api/v1/moderation/log", Some(&host), None, None);
    let entry = &log["entries"][0];
    assert_eq!(entry["action"], "hide_review", "{log}");
    assert!(
        entry["details"]
            .as_str()
            .unwrap()
            .ends_with("mentions a competitor")
    );
}

#[test]
fn a_review_from_the_room_is_answered_to_the_reviewer_and_orders_are_listed_on_return() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.room-reviews", Role::Host);
    let api = server.api();
    let ada = api.sign_in("Ada").unwrap();
    let order = buy_mug(&http, &ada.token, "ada-room-1");
    let mut client = joined_as(&server, &ada, "hall");
    let mug = ProductId::new(MUG.0).unwrap();
    let send = |client: &mut NetClient, stars: u8, text: &str| {
        client.mirror_mut().reviews.clear();
        client.send_command(RoomCommand::Review {
            product: mug.clone(),
            stars,
            text: text.to_owned(),
        });
        assert!(step_until(Duration::from_secs(10), || {
            pump(&mut [&mut *client]);
            client.mirror().reviews.contains_key(&mug)
        }));
        client.mirror().reviews[&mug]
    };

    // Not delivered yet, then out of range: refused, nothing stored.
    assert_eq!(
        send(&mut client, 5, "Great"),
        Err(ReviewRefusal::NotDelivered)
    );
    for step in ["fulfil", "deliver"] {
        let path = format!("/api/v1/orders/{order}/{step}");
        assert_eq!(http.call("POST", &path, Some(&host), None, None).0, 200);
    }
    // The buyer in the room hears of the delivery.
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut client]);
        client.mirror().orders.get(&order).map(|o| o.status) == Some(OrderStatus::Delivered)
    }));
    assert_eq!(send(&mut client, 9, ""), Err(ReviewRefusal::Stars));
    let long = "x".repeat(vitrine_shared::api::MAX_REVIEW_CHARS + 1);
    assert_eq!(send(&mut client, 4, &long), Err(ReviewRefusal::TooLong));
    assert_eq!(summary(&http).count, 0);

    // Posted once; the second is refused; HTTP shows it.
    assert_eq!(send(&mut client, 4, "Sturdy and a lovely green."), Ok(4));
    assert_eq!(
        send(&mut client, 5, ""),
        Err(ReviewRefusal::AlreadyReviewed)
    );
    let seen = summary(&http);
    assert_eq!((seen.count, seen.average), (1, Some(4.0)));
    assert_eq!(seen.latest[0].author, "Ada");
    assert_eq!(seen.latest[0].text, "Sturdy and a lovely green.");

    // Coming back later, the buyer finds the order as it stands now.
    drop(client);
    let mut again = joined_as(&server, &ada, "hall");
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut again]);
        again.mirror().orders.get(&order).map(|o| o.status) == Some(OrderStatus::Delivered)
    }));
}
