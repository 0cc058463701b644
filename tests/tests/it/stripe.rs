//! The Stripe adapter against a local stand-in that answers as Stripe's API
//! reference documents (see `vitrine_tests::stripe`): authorize, capture,
//! void and refund round trips, a decline, an idempotent retry after a 500,
//! a checkout end to end through the server, and the webhook with good,
//! bad, stale and malformed signatures. Nothing here talks to Stripe.

use serde_json::{Value, json};
use std::time::Duration;
use vitrine_server::commerce::stripe::{API_VERSION, Secret, signature_header};
use vitrine_server::commerce::{PaymentError, PaymentGateway, StripeConfig, StripeGateway, cards};
use vitrine_server::config::PaymentProvider;
use vitrine_shared::api::{OrderList, OrderView};
use vitrine_shared::{Currency, Money};
use vitrine_tests::stripe::{SECRET_KEY, StripeStandIn, WEBHOOK_SECRET};
use vitrine_tests::{Http, TestServer, guest, now_ms, step_until};

fn config(stand_in: &StripeStandIn) -> StripeConfig {
    StripeConfig {
        api_base: stand_in.base.clone(),
        secret_key: Secret::new(SECRET_KEY),
        webhook_secret: Secret::new(WEBHOOK_SECRET),
        ca_file: Some(stand_in.ca_file.clone()),
    }
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_adapter_authorizes_captures_voids_and_refunds_with_idempotency_keys() {
    let stand_in = StripeStandIn::start();
    let gateway = StripeGateway::new(config(&stand_in), Duration::from_secs(5)).unwrap();
    runtime().block_on(async {
        let a = gateway
            .authorize("authorize-1", eur(1990), cards::APPROVED)
            .await
            .unwrap();
        let intent = stand_in.intent_for("authorize-1").unwrap();
        assert_eq!(
            (intent.id.as_str(), intent.status.as_str()),
            (a.as_str(), "requires_capture")
        );
        assert_eq!((intent.amount, intent.currency.as_str()), (1990, "eur"));
        {
            let ledger = stand_in.ledger();
            let create = &ledger.requests[0];
            assert_eq!(
                (create.method.as_str(), create.path.as_str()),
                ("POST", "/v1/payment_intents")
            );
            assert_eq!(create.idempotency_key.as_deref(), Some("authorize-1"));
            assert_eq!(
                create.content_type.as_deref(),
                Some("application/x-www-form-urlencoded")
            );
            for field in [
                "capture_method=manual",
                "confirm=true",
                "payment_method=pm_card_visa",
            ] {
                assert!(create.body.contains(field), "{field} in {}", create.body);
            }
        }
        // The same key again is the same intent, not a second hold.
        let again = gateway
            .authorize("authorize-1", eur(1990), cards::APPROVED)
            .await
            .unwrap();
        assert_eq!(again, a);
        assert_eq!(stand_in.ledger().intents.len(), 1);

        gateway.capture("capture-1", &a).await.unwrap();
        gateway.capture("capture-1", &a).await.unwrap();
        assert_eq!(
            stand_in.intent_for("authorize-1").unwrap().status,
            "succeeded"
        );
        // A captured intent cannot be voided: the refusal says so, so that
        // the engine refunds instead.
        assert_eq!(
            gateway.void("void-1", &a).await,
            Err(PaymentError::Declined {
                reason: "authorization_captured".into()
            })
        );
        gateway.refund("refund-1", &a, eur(1990)).await.unwrap();
        gateway.refund("refund-1", &a, eur(1990)).await.unwrap();
        assert_eq!(stand_in.ledger().refunds.len(), 1, "one refund per key");

        // A hold voided, then a capture of it refused; a second void under
        // another key is already done.
        let b = gateway
            .authorize("authorize-2", eur(500), cards::APPROVED)
            .await
            .unwrap();
        gateway.void("void-2", &b).await.unwrap();
        assert_eq!(
            stand_in.intent_for("authorize-2").unwrap().status,
            "canceled"
        );
        assert_eq!(
            gateway.capture("capture-2", &b).await,
            Err(PaymentError::Declined {
                reason: "authorization_voided".into()
            })
        );
        gateway.void("void-2b", &b).await.unwrap();
        // A look-up by key alone finds the hold; finding none is unknown
        // while the key is young (Stripe's search lags behind its writes).
        assert_eq!(
            gateway.authorize("authorize-1", eur(1990), "").await,
            Ok(a.clone())
        );
        assert!(matches!(
            gateway.authorize("authorize-9", eur(1990), "").await,
            Err(PaymentError::Unavailable(_))
        ));
        // Every request carried the secret key as a bearer token, and the
        // pinned API version.
        assert!(
            stand_in
                .ledger()
                .requests
                .iter()
                .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {SECRET_KEY}")))
        );
        assert!(
            stand_in
                .ledger()
                .requests
                .iter()
                .all(|r| r.stripe_version.as_deref() == Some(API_VERSION))
        );
        // Ids that are not intents never reach a URL.
        assert!(
            gateway
                .capture("capture-x", "pi_1/../refunds")
                .await
                .is_err()
        );
    });
}

#[test]
fn an_adapter_that_does_not_trust_the_certificate_sends_nothing() {
    // The stand-in's certificate is made for this run, so Mozilla's roots
    // (the default) do not vouch for it: every attempt ends in the
    // handshake, before a request (and the secret key in it) is sent.
    let stand_in = StripeStandIn::start();
    let untrusting = StripeConfig {
        ca_file: None,
        ..config(&stand_in)
    };
    let gateway = StripeGateway::new(untrusting, Duration::from_secs(5)).unwrap();
    let answer = runtime().block_on(gateway.authorize("authorize-u", eur(990), cards::APPROVED));
    // No answer: an unknown outcome, asked again under the same key.
    assert_eq!(answer, Err(PaymentError::Timeout));
    assert!(step_until(Duration::from_secs(10), || {
        stand_in.handshakes_failed() >= 3
    }));
    assert!(stand_in.ledger().requests.is_empty());
    assert!(stand_in.ledger().intents.is_empty());
    // The same stand-in, trusted, takes the payment.
    let trusting = StripeGateway::new(config(&stand_in), Duration::from_secs(5)).unwrap();
    runtime()
        .block_on(trusting.authorize("authorize-t", eur(990), cards::APPROVED))
        .unwrap();
    assert_eq!(stand_in.ledger().requests.len(), 1);
}

#[test]
fn a_declined_card_is_a_decline_and_a_500_is_asked_again_under_the_same_key() {
    let stand_in = StripeStandIn::start();
    let gateway = StripeGateway::new(config(&stand_in), Duration::from_secs(5)).unwrap();
    runtime().block_on(async {
        assert_eq!(
            gateway
                .authorize("authorize-d", eur(990), cards::DECLINED)
                .await,
            Err(PaymentError::Declined {
                reason: "card_declined".into()
            })
        );
        assert_eq!(
            gateway
                .authorize("authorize-f", eur(990), cards::INSUFFICIENT_FUNDS)
                .await,
            Err(PaymentError::Declined {
                reason: "insufficient_funds".into()
            })
        );
        // A raw card number that is not a test card never goes to Stripe.
        let before = stand_in.ledger().requests.len();
        assert!(matches!(
            gateway
                .authorize("authorize-r", eur(990), "5555555555554444")
                .await,
            Err(PaymentError::Declined { .. })
        ));
        assert_eq!(stand_in.ledger().requests.len(), before);

        // Two 500s, then an answer: three requests, one key, one intent.
        stand_in.ledger().fail_next = 2;
        let before = stand_in.ledger().requests.len();
        let a = gateway
            .authorize("authorize-r2", eur(990), cards::APPROVED)
            .await
            .unwrap();
        {
            let ledger = stand_in.ledger();
            let tries: Vec<_> = ledger.requests[before..].iter().collect();
            assert_eq!(tries.len(), 3);
            assert!(
                tries
                    .iter()
                    .all(|r| r.idempotency_key.as_deref() == Some("authorize-r2"))
            );
            let made: Vec<_> = ledger
                .intents
                .values()
                .filter(|i| i.key.as_deref() == Some("authorize-r2"))
                .collect();
            assert_eq!((made.len(), made[0].id.as_str()), (1, a.as_str()));
        }
        // Failing every try: an unknown outcome, not a decline.
        stand_in.ledger().fail_next = 10;
        assert!(matches!(
            gateway.capture("capture-r2", &a).await,
            Err(PaymentError::Unavailable(_))
        ));
        assert_eq!(
            stand_in.intent_for("authorize-r2").unwrap().status,
            "requires_capture"
        );
    });
}

fn stripe_server(stand_in: &StripeStandIn) -> TestServer {
    let stripe = config(stand_in);
    TestServer::start_with(move |c| c.payment_provider = PaymentProvider::Stripe(stripe))
}

fn orders(http: &Http, token: &str) -> Vec<OrderView> {
    let (status, body) = http.call("GET", "/api/v1/orders", Some(token), None, None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_value::<OrderList>(body).unwrap().orders
}

/// Posts `payload` to the webhook with `signature` as its header (none when `None`).
fn post_webhook(server: &TestServer, payload: &str, signature: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent
        .post(format!("{}/api/v1/payments/stripe/webhook", server.url()))
        .content_type("application/json");
    if let Some(signature) = signature {
        request = request.header("Stripe-Signature", signature);
    }
    let mut response = request.send(payload.as_bytes()).unwrap();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn a_checkout_is_paid_through_stripe_and_its_webhook_refunds_a_late_capture_for_a_cancelled_order()
{
    let stand_in = StripeStandIn::start();
    let server = stripe_server(&stand_in);
    let http = Http::new(&server);
    let ada = guest(&http, "Ada");
    let body =
        json!({ "buy_now": { "sku": "glow-serum-30ml", "quantity": 1 }, "card": cards::APPROVED });
    let (status, paid) = http.call(
        "POST",
        "/api/v1/checkout",
        Some(&ada),
        Some("s-1"),
        Some(body),
    );
    assert_eq!(status, 201, "{paid}");
    assert_eq!(paid["status"], "paid");
    let order_id = paid["id"].as_i64().unwrap();
    let intent = stand_in
        .intent_for(&format!("authorize-{order_id}"))
        .unwrap();
    assert_eq!(intent.status, "succeeded");
    assert_eq!(
        intent.amount_received,
        paid["total"]["minor"].as_i64().unwrap()
    );

    // A declined checkout: the order is cancelled.
    let body =
        json!({ "buy_now": { "sku": "glow-serum-30ml", "quantity": 1 }, "card": cards::DECLINED });
    let (status, _) = http.call(
        "POST",
        "/api/v1/checkout",
        Some(&ada),
        Some("s-2"),
        Some(body),
    );
    assert_eq!(status, 402);
    let cancelled = orders(&http, &ada)
        .into_iter()
        .find(|o| o.status == "cancelled")
        .unwrap();
    // Say the provider captured it after all, and tells us by webhook.
    let late = stand_in.captured_intent(
        &format!("authorize-{}", cancelled.id),
        cancelled.total.minor,
        "eur",
    );
    let event = stand_in.event("payment_intent.succeeded", &late);
    let secret = Secret::new(WEBHOOK_SECRET);
    let now = now_ms() / 1000;

    // Refused, each changing nothing: no signature, a wrong one, a stale
    // one, and a signed body that is not an event.
    let wrong = signature_header(now, event.as_bytes(), &Secret::new("whsec_wrong"));
    let stale = signature_header(now - 301, event.as_bytes(), &secret);
    let garbage = "{\"type\":";
    let signed_garbage = signature_header(now, garbage.as_bytes(), &secret);
    for (payload, signature, code) in [
        (event.as_str(), None, "webhook_signature_missing"),
        (
            event.as_str(),
            Some(wrong.as_str()),
            "webhook_signature_invalid",
        ),
        (
            event.as_str(),
            Some("t=1,v1=zz"),
            "webhook_signature_malformed",
        ),
        (
            event.as_str(),
            Some(stale.as_str()),
            "webhook_timestamp_stale",
        ),
        (
            garbage,
            Some(signed_garbage.as_str()),
            "webhook_body_invalid",
        ),
    ] {
        let (status, body) = post_webhook(&server, payload, signature);
        assert_eq!((status, body["code"].as_str()), (400, Some(code)), "{body}");
    }
    assert!(
        stand_in.ledger().refunds.is_empty(),
        "nothing given back on a refused webhook"
    );

    // Signed and fresh: the money for the cancelled order goes back.
    let good = signature_header(now, event.as_bytes(), &secret);
    let (status, body) = post_webhook(&server, &event, Some(&good));
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("given_back")),
        "{body}"
    );
    assert!(step_until(Duration::from_secs(10), || {
        stand_in
            .ledger()
            .refunds
            .iter()
            .any(|(_, intent, amount)| *intent == late && *amount == cancelled.total.minor)
    }));
    // The same event again (Stripe retries) gives back nothing more.
    let (status, _) = post_webhook(&server, &event, Some(&good));
    assert_eq!(status, 200);
    assert!(!step_until(Duration::from_millis(500), || stand_in
        .ledger()
        .refunds
        .len()
        > 1));
    // The paid order's own success is only noted.
    let paid_event = stand_in.event("payment_intent.succeeded", &intent.id);
    let signed = signature_header(now, paid_event.as_bytes(), &secret);
    let (status, body) = post_webhook(&server, &paid_event, Some(&signed));
    assert_eq!((status, body["outcome"].as_str()), (200, Some("noted")));
    assert_eq!(
        orders(&http, &ada)
            .iter()
            .filter(|o| o.status == "paid")
            .count(),
        1
    );
}

#[test]
fn the_webhook_is_not_there_when_stripe_is_not_the_provider() {
    let server = TestServer::start();
    let (status, body) = post_webhook(&server, "{}", Some("t=1,v1=00"));
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
}

#[test]
fn a_void_that_meets_a_saved_500_asks_again_under_a_new_key_and_completes() {
    let stand_in = StripeStandIn::start();
    let server = stripe_server(&stand_in);
    let http = Http::new(&server);
    let ada = guest(&http, "Ada");
    let body =
        json!({ "buy_now": { "sku": "glow-serum-30ml", "quantity": 1 }, "card": cards::DECLINED });
    let (status, _) = http.call(
        "POST",
        "/api/v1/checkout",
        Some(&ada),
        Some("v-1"),
        Some(body),
    );
    assert_eq!(status, 402);
    let cancelled = orders(&http, &ada).remove(0);
    assert_eq!(cancelled.status, "cancelled");
    // Say the provider made the hold after all, and tells us by webhook;
    // the first cancel then fails with a 500 that Stripe saves under its key.
    let authorize_key = format!("authorize-{}", cancelled.id);
    let held = stand_in.held_intent(&authorize_key, cancelled.total.minor, "eur");
    let event = stand_in.event("payment_intent.amount_capturable_updated", &held);
    let signed = signature_header(
        now_ms() / 1000,
        event.as_bytes(),
        &Secret::new(WEBHOOK_SECRET),
    );
    stand_in.ledger().fail_saved = 1;
    let (status, body) = post_webhook(&server, &event, Some(&signed));
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("given_back")),
        "{body}"
    );
    assert!(
        // By its id: the declined checkout left an intent under the same key.
        step_until(Duration::from_secs(10), || {
            stand_in.ledger().intents[&held].status == "canceled"
        }),
        "the hold is still there after a saved 500"
    );
    let keys: Vec<String> = stand_in
        .ledger()
        .requests
        .iter()
        .filter(|r| r.path.ends_with("/cancel"))
        .filter_map(|r| r.idempotency_key.clone())
        .collect();
    let first = format!("void-{}", cancelled.id);
    assert_eq!(keys.first(), Some(&first), "{keys:?}");
    assert_eq!(keys.last(), Some(&format!("{first}-2")), "{keys:?}");
}

#[test]
fn a_lapsed_teams_void_that_meets_a_saved_500_asks_again_under_a_new_key_and_completes() {
    let stand_in = StripeStandIn::start();
    let server = stripe_server(&stand_in);
    let http = Http::new(&server);
    let host = server.sign_in_as("host.stripe", vitrine_shared::Role::Host);
    let (status, show) = http.call(
        "POST",
        "/api/v1/shows",
        Some(&host),
        None,
        Some(json!({ "title": "Mug night" })),
    );
    assert_eq!(status, 201, "{show}");
    let (status, deal) = http.call(
        "POST",
        "/api/v1/group-deals",
        Some(&host),
        None,
        Some(json!({
            "sku": "stoneware-mug-sage", "team_size": 2, "team_price_minor": 1200,
            "currency": "EUR", "until_show_ends": true, "stock_cap": 10,
        })),
    );
    assert_eq!(status, 201, "{deal}");
    let ada = guest(&http, "Ada");
    let (status, joined) = http.call(
        "POST",
        &format!("/api/v1/group-deals/{}/teams", deal["id"]),
        Some(&ada),
        Some("ada-team"),
        Some(json!({ "card": cards::APPROVED })),
    );
    assert_eq!(status, 201, "{joined}");
    let order = joined["order_id"].as_i64().unwrap();
    let held = stand_in
        .intent_for(&format!("group-authorize-{order}"))
        .expect("Ada's hold")
        .id;

    // The show ends: the team lapses and its hold is voided; the first
    // cancel fails with a 500 that Stripe saves under its key.
    stand_in.ledger().fail_saved = 1;
    let (status, body) = http.call("POST", "/api/v1/shows/current/end", Some(&host), None, None);
    assert!(status < 300, "{status} {body}");
    assert!(
        step_until(Duration::from_secs(20), || {
            stand_in.ledger().intents[&held].status == "canceled"
        }),
        "the hold is still there after a saved 500: {:?}",
        stand_in
            .ledger()
            .requests
            .iter()
            .map(|r| (r.path.clone(), r.idempotency_key.clone()))
            .collect::<Vec<_>>()
    );
    let keys: Vec<String> = stand_in
        .ledger()
        .requests
        .iter()
        .filter(|r| r.path.ends_with("/cancel"))
        .filter_map(|r| r.idempotency_key.clone())
        .collect();
    let first = format!("group-void-{order}");
    assert_eq!(keys.first(), Some(&first), "{keys:?}");
    assert_eq!(keys.last(), Some(&format!("{first}-2")), "{keys:?}");
}
