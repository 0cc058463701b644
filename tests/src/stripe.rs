//! A local stand-in for Stripe's API, answering as Stripe's API reference
//! documents it (the same sources as `vitrine_server::commerce::stripe`):
//! PaymentIntents created and confirmed with `capture_method=manual`
//! (`requires_capture`), captured (`succeeded`), cancelled (`canceled`),
//! refunds, the search by metadata, card errors as 402 with Stripe's error
//! JSON, an intent in the wrong state as 400
//! `payment_intent_unexpected_state`, and idempotency keys whose first
//! answer is saved and replayed. It can fail the next requests with a 500
//! before doing anything (as an overloaded front end does: nothing saved),
//! and it records every request so that tests can read the headers sent.
//! It answers over TLS only, with a certificate made when it starts.
//! It is not Stripe: the adapter has never talked to the real service.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::PrivatePkcs8KeyDer;

pub const SECRET_KEY: &str = "sk_test_standin_secret";
pub const WEBHOOK_SECRET: &str = "whsec_standin_secret";

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// The `Stripe-Version` header: the API version asked for.
    pub stripe_version: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct Intent {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub key: Option<String>,
    pub amount_received: i64,
    pub refunded: i64,
}

#[derive(Default)]
pub struct Ledger {
    pub intents: HashMap<String, Intent>,
    /// (refund id, intent, amount)
    pub refunds: Vec<(String, String, i64)>,
    pub requests: Vec<Recorded>,
    /// Requests still to be failed with a 500 before anything is done.
    pub fail_next: u32,
    /// Keyed requests still to be failed with a 500 once execution began:
    /// as Stripe does, the 500 is saved under their key and replayed.
    pub fail_saved: u32,
    /// Idempotency key → (the request's path and body, the saved answer).
    saved: HashMap<String, (String, u16, Value)>,
    next: u64,
}

pub struct StripeStandIn {
    /// `https://127.0.0.1:PORT`: the stand-in answers over TLS only, as
    /// Stripe does.
    pub base: String,
    /// Its certificate as PEM (self-signed, made for this stand-in): the one
    /// root an adapter must trust (`stripe_ca_file`) to reach it.
    pub ca_file: PathBuf,
    /// TLS handshakes that failed (a client that does not trust the
    /// certificate gives up here, before any request is read).
    handshakes_failed: Arc<AtomicU64>,
    ledger: Arc<Mutex<Ledger>>,
    _ca_dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

/// A TCP listener whose connections are served once their TLS handshake
/// succeeded.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    handshakes_failed: Arc<AtomicU64>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // Bounded, so that a client that stalls mid-handshake cannot
            // hold the next one up for long.
            let handshake = self.acceptor.accept(tcp);
            match tokio::time::timeout(Duration::from_secs(5), handshake).await {
                Ok(Ok(tls)) => return (tls, addr),
                _ => {
                    self.handshakes_failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

impl StripeStandIn {
    pub fn start() -> StripeStandIn {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(ledger.clone());
        let tcp = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr: SocketAddr = tcp.local_addr().expect("addr");
        let certified =
            rcgen::generate_simple_self_signed(vec![addr.ip().to_string(), "localhost".into()])
                .expect("a certificate");
        let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
        // The process's provider: ring, the one this build enables (as
        // ureq's rustls does).
        let tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key.into())
            .expect("the certificate and its key");
        let ca_dir = tempfile::tempdir().expect("a temporary directory");
        let ca_file = ca_dir.path().join("stand-in.pem");
        std::fs::write(&ca_file, certified.cert.pem()).expect("the certificate written");
        let handshakes_failed = Arc::new(AtomicU64::new(0));
        let listener = TlsListener {
            tcp,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
            handshakes_failed: handshakes_failed.clone(),
        };
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StripeStandIn {
            base: format!("https://{addr}"),
            ca_file,
            handshakes_failed,
            ledger,
            _ca_dir: ca_dir,
            _runtime: runtime,
        }
    }

    /// TLS handshakes refused so far.
    pub fn handshakes_failed(&self) -> u64 {
        self.handshakes_failed.load(Ordering::Relaxed)
    }

    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The intent made under our key `key` (its `metadata[vitrine_key]`).
    pub fn intent_for(&self, key: &str) -> Option<Intent> {
        self.ledger()
            .intents
            .values()
            .find(|i| i.key.as_deref() == Some(key))
            .cloned()
    }

    /// An intent the provider captured on its own (as a late capture would
    /// leave it), for webhook tests.
    pub fn captured_intent(&self, key: &str, amount: i64, currency: &str) -> String {
        self.made_intent(key, amount, currency, "succeeded")
    }

    /// An intent holding money (as a late authorization would leave it),
    /// for webhook tests.
    pub fn held_intent(&self, key: &str, amount: i64, currency: &str) -> String {
        self.made_intent(key, amount, currency, "requires_capture")
    }

    fn made_intent(&self, key: &str, amount: i64, currency: &str, status: &str) -> String {
        let mut ledger = self.ledger();
        ledger.next += 1;
        let id = format!("pi_standin{}", ledger.next);
        ledger.intents.insert(
            id.clone(),
            Intent {
                id: id.clone(),
                amount,
                currency: currency.to_owned(),
                status: status.into(),
                key: Some(key.to_owned()),
                amount_received: if status == "succeeded" { amount } else { 0 },
                refunded: 0,
            },
        );
        id
    }

    /// The event Stripe would post for `intent` (`payment_intent.succeeded`
    /// and the like), as JSON text.
    pub fn event(&self, kind: &str, intent: &str) -> String {
        let ledger = self.ledger();
        let object = intent_json(&ledger.intents[intent]);
        json!({
            "id": format!("evt_{intent}"),
            "object": "event",
            "type": kind,
            "data": { "object": object },
        })
        .to_string()
    }
}

fn intent_json(i: &Intent) -> Value {
    json!({
        "id": i.id,
        "object": "payment_intent",
        "amount": i.amount,
        "amount_capturable": if i.status == "requires_capture" { i.amount } else { 0 },
        "amount_received": i.amount_received,
        "capture_method": "manual",
        "currency": i.currency,
        "status": i.status,
        "metadata": i.key.as_ref().map(|k| json!({ "vitrine_key": k })).unwrap_or(json!({})),
    })
}

fn error(status: u16, kind: &str, code: &str, message: &str, extra: Value) -> (u16, Value) {
    let mut error = json!({ "type": kind, "code": code, "message": message });
    if let (Some(e), Some(x)) = (error.as_object_mut(), extra.as_object()) {
        e.extend(x.clone());
    }
    (status, json!({ "error": error }))
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

async fn answer(
    axum::extract::State(ledger): axum::extract::State<Arc<Mutex<Ledger>>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: String,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut ledger = ledger.lock().unwrap_or_else(|p| p.into_inner());
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        idempotency_key: header("idempotency-key"),
        content_type: header("content-type"),
        authorization: header("authorization"),
        stripe_version: header("stripe-version"),
        body: body.clone(),
    };
    ledger.requests.push(recorded.clone());
    let (status, value) = decide(&mut ledger, &recorded, uri.query().unwrap_or(""));
    (
        axum::http::StatusCode::from_u16(status).expect("status"),
        axum::Json(value),
    )
}

fn decide(ledger: &mut Ledger, request: &Recorded, query: &str) -> (u16, Value) {
    if request.authorization.as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
        return error(
            401,
            "invalid_request_error",
            "",
            "Invalid API Key provided",
            json!({}),
        );
    }
    if ledger.fail_next > 0 {
        ledger.fail_next -= 1;
        return error(500, "api_error", "", "An unknown error occurred", json!({}));
    }
    let what = format!("{} {}", request.path, request.body);
    if let Some(key) = &request.idempotency_key
        && let Some((seen, status, value)) = ledger.saved.get(key)
    {
        if *seen != what {
            return error(
                400,
                "idempotency_error",
                "",
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                json!({}),
            );
        }
        return (*status, value.clone());
    }
    let (status, value) = if ledger.fail_saved > 0 && request.idempotency_key.is_some() {
        ledger.fail_saved -= 1;
        error(500, "api_error", "", "An unknown error occurred", json!({}))
    } else {
        execute(ledger, request, query)
    };
    if let Some(key) = &request.idempotency_key {
        ledger
            .saved
            .insert(key.clone(), (what, status, value.clone()));
    }
    (status, value)
}

fn execute(ledger: &mut Ledger, request: &Recorded, query: &str) -> (u16, Value) {
    let params = form(&request.body);
    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("POST", ["v1", "payment_intents"]) => {
            let amount: i64 = params
                .get("amount")
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            let currency = params.get("currency").cloned().unwrap_or_default();
            if amount <= 0 || currency.is_empty() {
                return error(
                    400,
                    "invalid_request_error",
                    "parameter_missing",
                    "Missing required param: amount.",
                    json!({}),
                );
            }
            ledger.next += 1;
            let mut intent = Intent {
                id: format!("pi_standin{}", ledger.next),
                amount,
                currency,
                status: "requires_payment_method".into(),
                key: params.get("metadata[vitrine_key]").cloned(),
                amount_received: 0,
                refunded: 0,
            };
            let manual = params.get("capture_method").map(String::as_str) == Some("manual");
            let confirm = params.get("confirm").map(String::as_str) == Some("true");
            let decline = match params.get("payment_method").map(String::as_str) {
                Some("pm_card_visa") => None,
                Some("pm_card_chargeDeclined") => Some("generic_decline"),
                Some("pm_card_chargeDeclinedInsufficientFunds") => Some("insufficient_funds"),
                _ => {
                    return error(
                        400,
                        "invalid_request_error",
                        "resource_missing",
                        "No such PaymentMethod",
                        json!({}),
                    );
                }
            };
            if confirm && decline.is_none() {
                intent.status = if manual {
                    "requires_capture"
                } else {
                    "succeeded"
                }
                .into();
            }
            let object = intent_json(&intent);
            ledger.intents.insert(intent.id.clone(), intent);
            match decline {
                Some(decline_code) if confirm => error(
                    402,
                    "card_error",
                    "card_declined",
                    "Your card was declined.",
                    json!({ "decline_code": decline_code, "payment_intent": object }),
                ),
                _ => (200, object),
            }
        }
        ("POST", ["v1", "payment_intents", id, action @ ("capture" | "cancel")]) => {
            let Some(intent) = ledger.intents.get_mut(*id) else {
                return error(
                    404,
                    "invalid_request_error",
                    "resource_missing",
                    "No such payment_intent",
                    json!({}),
                );
            };
            let allowed = match *action {
                "capture" => intent.status == "requires_capture",
                _ => matches!(
                    intent.status.as_str(),
                    "requires_capture"
                        | "requires_payment_method"
                        | "requires_confirmation"
                        | "requires_action"
                ),
            };
            if !allowed {
                let object = intent_json(intent);
                return error(
                    400,
                    "invalid_request_error",
                    "payment_intent_unexpected_state",
                    "This PaymentIntent's status does not allow this action.",
                    json!({ "payment_intent": object }),
                );
            }
            if *action == "capture" {
                intent.status = "succeeded".into();
                intent.amount_received = intent.amount;
            } else {
                intent.status = "canceled".into();
            }
            (200, intent_json(intent))
        }
        ("POST", ["v1", "refunds"]) => {
            let Some(id) = params.get("payment_intent") else {
                return error(
                    400,
                    "invalid_request_error",
                    "parameter_missing",
                    "Missing payment_intent",
                    json!({}),
                );
            };
            let Some(intent) = ledger.intents.get_mut(id) else {
                return error(
                    404,
                    "invalid_request_error",
                    "resource_missing",
                    "No such payment_intent",
                    json!({}),
                );
            };
            let left = intent.amount_received - intent.refunded;
            let amount = params
                .get("amount")
                .and_then(|a| a.parse().ok())
                .unwrap_or(left);
            if intent.status != "succeeded" {
                return error(
                    400,
                    "invalid_request_error",
                    "charge_not_captured",
                    "This charge has not been captured.",
                    json!({}),
                );
            }
            if left <= 0 {
                return error(
                    400,
                    "invalid_request_error",
                    "charge_already_refunded",
                    "Charge has already been refunded.",
                    json!({}),
                );
            }
            if amount <= 0 || amount > left {
                return error(
                    400,
                    "invalid_request_error",
                    "amount_too_large",
                    "Refund amount is greater than unrefunded amount",
                    json!({}),
                );
            }
            intent.refunded += amount;
            let intent_id = intent.id.clone();
            ledger.next += 1;
            let refund_id = format!("re_standin{}", ledger.next);
            ledger
                .refunds
                .push((refund_id.clone(), intent_id.clone(), amount));
            (
                200,
                json!({ "id": refund_id, "object": "refund", "amount": amount, "payment_intent": intent_id, "status": "succeeded" }),
            )
        }
        ("GET", ["v1", "payment_intents", "search"]) => {
            let query = form(query).remove("query").unwrap_or_default();
            let key = query
                .strip_prefix("metadata['vitrine_key']:'")
                .and_then(|k| k.strip_suffix('\''))
                .unwrap_or("");
            let data: Vec<Value> = ledger
                .intents
                .values()
                .filter(|i| i.key.as_deref() == Some(key))
                .map(intent_json)
                .collect();
            (
                200,
                json!({ "object": "search_result", "data": data, "has_more": false }),
            )
        }
        _ => error(
            404,
            "invalid_request_error",
            "",
            "Unrecognized request URL",
            json!({}),
        ),
    }
}
