//! Stripe's PaymentIntents behind the gateway trait, and its webhooks.
//!
//! Authorize is a PaymentIntent created and confirmed at once with
//! `capture_method=manual` (its status then `requires_capture`); capture is
//! `POST /v1/payment_intents/{id}/capture`, void is `/cancel`, refund is
//! `POST /v1/refunds` with the intent. Every POST carries our key as its
//! `Idempotency-Key`, bodies are form-encoded, the secret key goes as a
//! bearer token, and every request pins the API version ([`API_VERSION`]). An answer Stripe's error JSON gives as a `card_error` is a
//! decline; a 5xx, a 429, a key still in use, or no answer at all is an
//! unknown outcome, asked again under the same key a few times.
//!
//! Sources for the request and response shapes, read for this adapter:
//! - PaymentIntents create / confirm / capture / cancel:
//!   <https://docs.stripe.com/api/payment_intents> (create with `confirm=true`
//!   is create-and-confirm; with `capture_method=manual` success leaves the
//!   intent in `requires_capture`; cancel works from `requires_capture`).
//! - Idempotent requests: <https://docs.stripe.com/api/idempotent_requests>
//!   (keys up to 255 characters; the first response is saved, 500s too,
//!   once execution has begun; a concurrent request with the same key gets
//!   a 409). So a retry after a 500 with the same key can never charge
//!   twice; it may be answered with the saved 500, which stays "unknown",
//!   and the webhook settles it.
//! - Errors: <https://docs.stripe.com/api/errors> (`{"error": {"type",
//!   "code", "decline_code", "message", "payment_intent"}}`; 402 for card
//!   errors).
//! - Webhook signatures: <https://docs.stripe.com/webhooks#verify-manually>
//!   (`Stripe-Signature: t=<unix>,v1=<hex>`; HMAC-SHA256 with the endpoint
//!   secret over `"{t}.{payload}"`; 5 minutes' tolerance by default).
//!
//! TLS: the adapter speaks HTTPS through rustls (ring), trusting Mozilla's
//! roots as bundled by `webpki-roots` (nothing is fetched at run time), or
//! only the roots in `stripe_ca_file` when it is set (a private egress
//! proxy's CA; the tests' stand-in). Plain `http://` is allowed only to a
//! loopback address, an egress proxy on this host, so a secret key never
//! crosses a network in clear. The tests run it against a local stand-in,
//! over TLS, that answers as the documents above say; it has never talked
//! to Stripe itself.

use super::gateway::{BoxFuture, PaymentError, PaymentGateway};
use super::{NewsOutcome, ProviderState};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use ureq::tls::{PemItem, RootCerts, TlsConfig, TlsProvider};
use vitrine_shared::{Money, OrderId};

/// A secret that never shows in logs or debug output (read from the config
/// file as a plain string).
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// `payment_provider = "stripe"` and its settings.
#[derive(Clone, PartialEq, Eq)]
pub struct StripeConfig {
    /// `https://api.stripe.com` in production; `http://` only to a
    /// loopback address (see the module note on TLS).
    pub api_base: String,
    pub secret_key: Secret,
    pub webhook_secret: Secret,
    /// A PEM file of the roots to trust instead of the bundled ones.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("api_base", &shown_base(&self.api_base))
            .field("secret_key", &self.secret_key)
            .field("webhook_secret", &self.webhook_secret)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// `api_base` fit for a log: without the userinfo a proxy URL may carry
/// (`http://user:password@host`).
pub fn shown_base(api_base: &str) -> String {
    let (scheme, rest) = api_base.split_once("://").unwrap_or(("", api_base));
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(host_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if scheme.is_empty() && !api_base.contains("://") {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

impl StripeConfig {
    /// Checks what can be checked before the first payment: the error
    /// names the setting at fault.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let shown = shown_base(&self.api_base);
        match self.api_base.split_once("://") {
            Some(("https", rest)) if !host_of(rest).is_empty() => {}
            Some(("http", rest)) if is_loopback(host_of(rest)) => {}
            Some(("http", _)) => {
                return Err((
                    "stripe_api_base",
                    format!(
                        "plain http:// is allowed only to a loopback address (an egress proxy \
                         on this host, so the secret key never crosses a network in clear); \
                         use https:// for {shown:?}"
                    ),
                ));
            }
            _ => {
                return Err((
                    "stripe_api_base",
                    format!("must be an https:// URL with a host, not {shown:?}"),
                ));
            }
        }
        if self.secret_key.expose().trim().is_empty() {
            return Err(("stripe_secret_key", "is empty".into()));
        }
        if self.webhook_secret.expose().trim().is_empty() {
            return Err(("stripe_webhook_secret", "is empty".into()));
        }
        self.roots().map(|_| ())
    }

    /// The roots the adapter trusts: Mozilla's, or those of `ca_file`.
    pub fn roots(&self) -> Result<RootCerts, (&'static str, String)> {
        let Some(path) = &self.ca_file else {
            return Ok(RootCerts::WebPki);
        };
        let refused = |why: String| ("stripe_ca_file", format!("{}: {why}", path.display()));
        let pem = std::fs::read(path).map_err(|e| refused(e.to_string()))?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(cert)) => certs.push(cert),
                // A key or anything else beside the certificates is not a root.
                Ok(_) => {}
                Err(e) => return Err(refused(format!("not PEM: {e}"))),
            }
        }
        if certs.is_empty() {
            return Err(refused("holds no PEM certificate".into()));
        }
        Ok(RootCerts::from(certs))
    }
}

/// The host of a URL's part after `scheme://`: without userinfo, port or
/// an IPv6 literal's brackets.
fn host_of(rest: &str) -> &str {
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(bracketed) = host_port.strip_prefix('[') {
        // Only a port may follow the brackets.
        return match bracketed.split_once(']') {
            Some((host, "")) => host,
            Some((host, port)) if port.starts_with(':') => host,
            _ => "",
        };
    }
    host_port
        .split_once(':')
        .map_or(host_port, |(host, _)| host)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The API version every request names (`Stripe-Version`), so that the
/// shapes read here do not change when the account's default version is
/// upgraded: 2024-06-20, whose PaymentIntent statuses, error object
/// (`type`, `code`, `decline_code`, `payment_intent`), refund statuses and
/// search results are the ones this adapter follows.
pub const API_VERSION: &str = "2024-06-20";

/// How often an unknown outcome is asked again under the same key.
const ATTEMPTS: u32 = 3;
/// The first wait between attempts; doubled each time.
const FIRST_WAIT: Duration = Duration::from_millis(100);
/// The metadata field an intent carries our key in: what a webhook and a
/// look-up by key find the order by.
pub const KEY_FIELD: &str = "vitrine_key";

/// How long a look-up by key that finds nothing stays an unknown outcome:
/// Stripe's search is eventually consistent (its docs: not for
/// read-after-write; data is searchable after about a minute, longer during
/// an outage), so an intent made under a young key may not show yet.
const SEARCH_SETTLED: Duration = Duration::from_secs(3600);

/// The gateway on Stripe's PaymentIntents.
pub struct StripeGateway {
    config: StripeConfig,
    agent: ureq::Agent,
    /// When each key was first looked up and not found: the key is at least
    /// that old (it was used before it was looked up), so "not found" is
    /// believed only an hour after that.
    not_found_since: std::sync::Mutex<std::collections::HashMap<String, Instant>>,
}

/// What one HTTP exchange came to.
enum Exchange {
    Answered(u16, String),
    /// No answer in time, or the connection failed: unknown outcome.
    Silent(String),
}

impl StripeGateway {
    /// `request_timeout` bounds each HTTP exchange. Fails, naming the
    /// setting, when the configuration does not validate (the CA file is
    /// read here).
    pub fn new(
        config: StripeConfig,
        request_timeout: Duration,
    ) -> Result<StripeGateway, (&'static str, String)> {
        config.validate()?;
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(config.roots()?)
            .build();
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(request_timeout))
                .http_status_as_error(false)
                .tls_config(tls)
                .build(),
        );
        Ok(StripeGateway {
            config,
            agent,
            not_found_since: std::sync::Mutex::default(),
        })
    }

    /// One request on a blocking thread (ureq blocks).
    async fn exchange(
        &self,
        method: &'static str,
        path: String,
        key: Option<String>,
        form: String,
    ) -> Exchange {
        let agent = self.agent.clone();
        let url = format!("{}{}", self.config.api_base.trim_end_matches('/'), path);
        let bearer = format!("Bearer {}", self.config.secret_key.expose());
        let done = tokio::task::spawn_blocking(move || {
            let answer = if method == "GET" {
                agent
                    .get(&url)
                    .header("Authorization", &bearer)
                    .header("Stripe-Version", API_VERSION)
                    .call()
            } else {
                let mut request = agent
                    .post(&url)
                    .header("Authorization", &bearer)
                    .header("Stripe-Version", API_VERSION)
                    .content_type("application/x-www-form-urlencoded");
                if let Some(key) = &key {
                    request = request.header("Idempotency-Key", key);
                }
                request.send(form.as_bytes())
            };
            match answer {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    match response.body_mut().read_to_string() {
                        Ok(body) => Exchange::Answered(status, body),
                        Err(e) => Exchange::Silent(format!("body not read: {e}")),
                    }
                }
                Err(e) => Exchange::Silent(e.to_string()),
            }
        })
        .await;
        done.unwrap_or_else(|e| Exchange::Silent(format!("request task failed: {e}")))
    }

    /// A POST (or GET) whose outcome, when unknown, is asked again under
    /// the same idempotency key: Stripe answers a repeat as it answered the
    /// first, so nothing happens twice.
    async fn call(
        &self,
        method: &'static str,
        path: &str,
        key: Option<&str>,
        form: &[(&str, String)],
    ) -> Result<Value, PaymentError> {
        let body = encode_form(form);
        let mut wait = FIRST_WAIT;
        let mut last = PaymentError::Unavailable("no attempt".into());
        for attempt in 1..=ATTEMPTS {
            let exchange = self
                .exchange(
                    method,
                    path.to_owned(),
                    key.map(str::to_owned),
                    body.clone(),
                )
                .await;
            match classify(exchange) {
                Outcome::Done(value) => return Ok(value),
                Outcome::Refused(e) => return Err(e),
                Outcome::Unknown(e) => {
                    // The path and status only: never the key or a secret.
                    tracing::warn!(path, attempt, error = %e, "stripe: unknown outcome; asking again under the same key");
                    last = e;
                }
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        Err(last)
    }

    async fn authorize_intent(
        &self,
        key: &str,
        amount: Money,
        method: &str,
    ) -> Result<String, PaymentError> {
        let method: String = method.chars().filter(|c| !c.is_whitespace()).collect();
        if method.is_empty() {
            return self.look_up(key).await;
        }
        let payment_method = payment_method(&method).ok_or_else(|| PaymentError::Declined {
            reason: "unsupported_payment_method".into(),
        })?;
        let form = [
            ("amount", amount.minor.to_string()),
            ("currency", amount.currency.as_str().to_ascii_lowercase()),
            ("capture_method", "manual".to_owned()),
            ("confirm", "true".to_owned()),
            ("payment_method", payment_method),
            ("payment_method_types[]", "card".to_owned()),
            (METADATA_KEY, key.to_owned()),
        ];
        let intent = self
            .call("POST", "/v1/payment_intents", Some(key), &form)
            .await?;
        match intent_status(&intent) {
            "requires_capture" | "succeeded" => intent_id(&intent),
            "requires_action" => Err(PaymentError::Declined {
                reason: "authentication_required".into(),
            }),
            _ => Err(PaymentError::Declined {
                reason: last_decline(&intent).unwrap_or_else(|| "card_declined".into()),
            }),
        }
    }

    /// An intent found by our key alone (no card): the hold that key made.
    async fn look_up(&self, key: &str) -> Result<String, PaymentError> {
        let query = format!("metadata['{KEY_FIELD}']:'{}'", key.replace('\'', ""));
        let path = format!(
            "/v1/payment_intents/search?query={}",
            percent_encode(&query)
        );
        let found = self.call("GET", &path, None, &[]).await?;
        let held = found["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| matches!(intent_status(i), "requires_capture" | "succeeded"));
        match held {
            Some(intent) => {
                self.not_found_lock().remove(key);
                intent_id(intent)
            }
            None => Err(self.not_found(key, Instant::now())),
        }
    }

    fn not_found_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Instant>> {
        self.not_found_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// What a search that found no hold for `key` means at `now`: unknown
    /// while the search may not show the intent yet (asked again later),
    /// then that there is none.
    fn not_found(&self, key: &str, now: Instant) -> PaymentError {
        let mut since = self.not_found_lock();
        // Keys long settled are dropped, so the map holds young ones only.
        since.retain(|_, at| now.saturating_duration_since(*at) <= SEARCH_SETTLED * 2);
        let first = *since.entry(key.to_owned()).or_insert(now);
        if now.saturating_duration_since(first) < SEARCH_SETTLED {
            PaymentError::Unavailable("no intent found by search yet".into())
        } else {
            since.remove(key);
            PaymentError::Declined {
                reason: "no_such_authorization".into(),
            }
        }
    }
}

const METADATA_KEY: &str = "metadata[vitrine_key]";

impl PaymentGateway for StripeGateway {
    fn authorize<'a>(
        &'a self,
        key: &'a str,
        amount: Money,
        method: &'a str,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        Box::pin(self.authorize_intent(key, amount, method))
    }

    fn capture<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), PaymentError>> {
        Box::pin(async move {
            let path = format!(
                "/v1/payment_intents/{}/capture",
                intent_path(authorization)?
            );
            let intent = self.call("POST", &path, Some(key), &[]).await?;
            match intent_status(&intent) {
                "succeeded" => Ok(()),
                other => Err(PaymentError::Unavailable(format!(
                    "capture left the intent {other}"
                ))),
            }
        })
    }

    fn void<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), PaymentError>> {
        Box::pin(async move {
            let path = format!("/v1/payment_intents/{}/cancel", intent_path(authorization)?);
            match self.call("POST", &path, Some(key), &[]).await {
                Ok(_) => Ok(()),
                // Cancelled already (by us under another key, or by Stripe):
                // what a void wants.
                Err(PaymentError::Declined { reason }) if reason == "authorization_voided" => {
                    Ok(())
                }
                Err(e) => Err(e),
            }
        })
    }

    fn refund<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
        amount: Money,
    ) -> BoxFuture<'a, Result<(), PaymentError>> {
        Box::pin(async move {
            let form = [
                ("payment_intent", intent_path(authorization)?.to_owned()),
                ("amount", amount.minor.to_string()),
            ];
            let refund = match self.call("POST", "/v1/refunds", Some(key), &form).await {
                Ok(refund) => refund,
                // Refunded in full already (under another key, after an
                // unknown outcome): what a refund wants.
                Err(PaymentError::Declined { reason }) if reason == "charge_already_refunded" => {
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            match refund["status"].as_str() {
                Some("succeeded" | "pending" | "requires_action") => Ok(()),
                other => Err(PaymentError::Unavailable(format!("refund {other:?}"))),
            }
        })
    }
}

/// Our test card numbers become Stripe's test PaymentMethods; a `pm_` id
/// (from Stripe.js on a real client) goes as it is. Raw card numbers never
/// go to Stripe from a server.
fn payment_method(method: &str) -> Option<String> {
    use super::cards;
    let mapped = match method {
        cards::APPROVED => "pm_card_visa",
        cards::DECLINED => "pm_card_chargeDeclined",
        cards::INSUFFICIENT_FUNDS => "pm_card_chargeDeclinedInsufficientFunds",
        pm if pm.starts_with("pm_")
            && pm.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            pm
        }
        _ => return None,
    };
    Some(mapped.to_owned())
}

/// An intent id fit for a URL path: Stripe's `pi_` and letters, digits and
/// underscores, nothing that could change the path.
fn intent_path(authorization: &str) -> Result<&str, PaymentError> {
    let fine = authorization.starts_with("pi_")
        && authorization.len() <= 255
        && authorization
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if fine {
        Ok(authorization)
    } else {
        Err(PaymentError::Unavailable(format!(
            "not a PaymentIntent id: {authorization:?}"
        )))
    }
}

fn intent_status(intent: &Value) -> &str {
    intent["status"].as_str().unwrap_or("")
}

fn intent_id(intent: &Value) -> Result<String, PaymentError> {
    intent["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| PaymentError::Unavailable("an intent without an id".into()))
}

fn last_decline(intent: &Value) -> Option<String> {
    let error = &intent["last_payment_error"];
    error["decline_code"]
        .as_str()
        .or(error["code"].as_str())
        .map(str::to_owned)
}

enum Outcome {
    Done(Value),
    /// Stripe decided: a decline, or a request it will never accept.
    Refused(PaymentError),
    /// Stripe may or may not have done it: ask again under the same key.
    Unknown(PaymentError),
}

/// Stripe's answer as one of our outcomes.
fn classify(exchange: Exchange) -> Outcome {
    let (status, body) = match exchange {
        Exchange::Silent(e) => return Outcome::Unknown(PaymentError::Timeout).log_cause(&e),
        Exchange::Answered(status, body) => (status, body),
    };
    let json: Option<Value> = serde_json::from_str(&body).ok();
    if (200..300).contains(&status) {
        return match json {
            Some(value) => Outcome::Done(value),
            None => Outcome::Unknown(PaymentError::Unavailable(format!(
                "stripe answered {status} with a body that is not JSON"
            ))),
        };
    }
    let error = json.as_ref().map(|j| &j["error"]);
    let field = |name: &str| {
        error
            .and_then(|e| e[name].as_str())
            .unwrap_or("")
            .to_owned()
    };
    let (kind, code, decline) = (field("type"), field("code"), field("decline_code"));
    if status >= 500 || status == 429 || code == "idempotency_key_in_use" || code == "lock_timeout"
    {
        return Outcome::Unknown(PaymentError::Unavailable(format!(
            "stripe answered {status} {code}"
        )));
    }
    if kind == "card_error" || status == 402 {
        // Stripe's generic decline says no more than its code does.
        let reason = if !decline.is_empty() && decline != "generic_decline" {
            decline
        } else if !code.is_empty() {
            code
        } else {
            "card_declined".into()
        };
        return Outcome::Refused(PaymentError::Declined { reason });
    }
    if code == "charge_already_refunded" {
        return Outcome::Refused(PaymentError::Declined { reason: code });
    }
    if code == "payment_intent_unexpected_state" {
        let state = error
            .and_then(|e| e["payment_intent"]["status"].as_str())
            .unwrap_or("");
        let reason = match state {
            "succeeded" => "authorization_captured",
            "canceled" => "authorization_voided",
            _ => "unexpected_state",
        };
        return Outcome::Refused(PaymentError::Declined {
            reason: reason.into(),
        });
    }
    // 400 invalid request, 401 a bad key, 404: a mistake of ours that a
    // retry will not mend.
    Outcome::Refused(PaymentError::Unavailable(format!(
        "stripe refused the request: {status} {kind} {code}"
    )))
}

impl Outcome {
    fn log_cause(self, cause: &str) -> Outcome {
        tracing::debug!(cause, "stripe: no answer");
        self
    }
}

/// `application/x-www-form-urlencoded`, as Stripe's API takes its bodies.
pub fn encode_form(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Stripe's default tolerance for a webhook's timestamp.
pub const WEBHOOK_TOLERANCE_SECS: i64 = 300;

/// Why a webhook was refused; nothing changes for any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookRefusal {
    MissingSignature,
    /// The header is not `t=…,v1=…`.
    MalformedSignature,
    /// Signed too long ago (or in the future): a replay, or a wrong clock.
    StaleTimestamp,
    /// No `v1` signature matches the payload.
    BadSignature,
    /// Signed, but not an event we can read.
    MalformedBody,
}

impl WebhookRefusal {
    pub fn code(self) -> &'static str {
        match self {
            WebhookRefusal::MissingSignature => "webhook_signature_missing",
            WebhookRefusal::MalformedSignature => "webhook_signature_malformed",
            WebhookRefusal::StaleTimestamp => "webhook_timestamp_stale",
            WebhookRefusal::BadSignature => "webhook_signature_invalid",
            WebhookRefusal::MalformedBody => "webhook_body_invalid",
        }
    }
}

/// Checks a `Stripe-Signature` header against the raw payload: the
/// timestamp within the tolerance of `now_secs`, and one `v1` signature
/// equal, compared in constant time, to HMAC-SHA256(secret, "{t}.{payload}").
pub fn verify_signature(
    header: Option<&str>,
    payload: &[u8],
    secret: &Secret,
    now_secs: i64,
) -> Result<(), WebhookRefusal> {
    let header = header.ok_or(WebhookRefusal::MissingSignature)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or(WebhookRefusal::MalformedSignature)?;
        match name {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| WebhookRefusal::MalformedSignature)?,
                )
            }
            "v1" => signatures.push(decode_hex(value).ok_or(WebhookRefusal::MalformedSignature)?),
            // Other schemes (v0, test ones) are not ours to trust.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookRefusal::MalformedSignature)?;
    if signatures.is_empty() {
        return Err(WebhookRefusal::MalformedSignature);
    }
    if (now_secs - timestamp).abs() > WEBHOOK_TOLERANCE_SECS {
        return Err(WebhookRefusal::StaleTimestamp);
    }
    let mac = signed(timestamp, payload, secret);
    if signatures
        .iter()
        .any(|s| mac.clone().verify_slice(s).is_ok())
    {
        Ok(())
    } else {
        Err(WebhookRefusal::BadSignature)
    }
}

fn signed(timestamp: i64, payload: &[u8], secret: &Secret) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// The header Stripe would send for `payload` at `timestamp`: for tests and
/// the local stand-in.
pub fn signature_header(timestamp: i64, payload: &[u8], secret: &Secret) -> String {
    let digest = signed(timestamp, payload, secret).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What a verified event says, for the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookNews {
    /// An intent of one of our orders moved.
    Order {
        order_id: OrderId,
        intent: String,
        state: ProviderState,
    },
    /// An event we do not act on (another type, or an intent that is not an
    /// order's, such as a group deal's hold, which its own task voids).
    Ignored,
}

/// Reads a verified event's body.
pub fn read_event(payload: &[u8]) -> Result<WebhookNews, WebhookRefusal> {
    let event: Value =
        serde_json::from_slice(payload).map_err(|_| WebhookRefusal::MalformedBody)?;
    let kind = event["type"]
        .as_str()
        .ok_or(WebhookRefusal::MalformedBody)?;
    let state = match kind {
        "payment_intent.succeeded" => ProviderState::Captured,
        "payment_intent.amount_capturable_updated" => ProviderState::Authorized,
        "payment_intent.canceled" => ProviderState::Voided,
        _ => return Ok(WebhookNews::Ignored),
    };
    let intent = &event["data"]["object"];
    if intent["object"].as_str() != Some("payment_intent") {
        return Err(WebhookRefusal::MalformedBody);
    }
    let id = intent["id"].as_str().ok_or(WebhookRefusal::MalformedBody)?;
    if intent_path(id).is_err() {
        return Err(WebhookRefusal::MalformedBody);
    }
    let order = intent["metadata"][KEY_FIELD]
        .as_str()
        .and_then(|key| key.strip_prefix("authorize-"))
        .and_then(|id| id.parse::<i64>().ok());
    Ok(match order {
        Some(order) => WebhookNews::Order {
            order_id: OrderId(order),
            intent: id.to_owned(),
            state,
        },
        None => WebhookNews::Ignored,
    })
}

/// What the webhook answers Stripe with (any 2xx stops its retries).
pub fn outcome_name(outcome: Option<NewsOutcome>) -> &'static str {
    match outcome {
        None => "ignored",
        Some(NewsOutcome::Paid) => "paid",
        Some(NewsOutcome::GivenBack) => "given_back",
        Some(NewsOutcome::Noted) => "noted",
        Some(NewsOutcome::UnknownOrder) => "unknown_order",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("whsec_test_secret")
    }

    #[test]
    fn a_signature_is_good_bad_stale_or_malformed() {
        let body = br#"{"type":"payment_intent.succeeded"}"#;
        let now = 1_800_000_000;
        let good = signature_header(now, body, &secret());
        assert_eq!(verify_signature(Some(&good), body, &secret(), now), Ok(()));
        assert_eq!(
            verify_signature(Some(&good), body, &secret(), now + WEBHOOK_TOLERANCE_SECS),
            Ok(()),
            "within the tolerance"
        );
        // Another payload, another secret, a tampered digest: refused.
        assert_eq!(
            verify_signature(Some(&good), b"{}", &secret(), now),
            Err(WebhookRefusal::BadSignature)
        );
        assert_eq!(
            verify_signature(Some(&good), body, &Secret::new("whsec_other"), now),
            Err(WebhookRefusal::BadSignature)
        );
        let flipped = good
            .replace("v1=", "v1=00")
            .split_at(good.len())
            .0
            .to_owned();
        assert_eq!(
            verify_signature(Some(&flipped), body, &secret(), now),
            Err(WebhookRefusal::BadSignature)
        );
        // Stale both ways.
        assert_eq!(
            verify_signature(
                Some(&good),
                body,
                &secret(),
                now + WEBHOOK_TOLERANCE_SECS + 1
            ),
            Err(WebhookRefusal::StaleTimestamp)
        );
        assert_eq!(
            verify_signature(
                Some(&good),
                body,
                &secret(),
                now - WEBHOOK_TOLERANCE_SECS - 1
            ),
            Err(WebhookRefusal::StaleTimestamp)
        );
        // Missing and malformed headers.
        assert_eq!(
            verify_signature(None, body, &secret(), now),
            Err(WebhookRefusal::MissingSignature)
        );
        for bad in [
            "",
            "t=abc,v1=00",
            "v1=00",
            &format!("t={now}"),
            &format!("t={now},v1=zz"),
            "garbage",
        ] {
            assert_eq!(
                verify_signature(Some(bad), body, &secret(), now),
                Err(WebhookRefusal::MalformedSignature),
                "{bad:?}"
            );
        }
        // A v0 signature alongside is ignored; the good v1 still counts.
        let with_v0 = format!("{good},v0=deadbeef");
        assert_eq!(
            verify_signature(Some(&with_v0), body, &secret(), now),
            Ok(())
        );
    }

    #[test]
    fn events_are_read_for_orders_and_anything_else_is_ignored_or_refused() {
        let event = |kind: &str, key: &str| {
            format!(
                r#"{{"id":"evt_1","object":"event","type":"{kind}","data":{{"object":{{"id":"pi_123","object":"payment_intent","status":"succeeded","metadata":{{"vitrine_key":"{key}"}}}}}}}}"#
            )
        };
        assert_eq!(
            read_event(event("payment_intent.succeeded", "authorize-42").as_bytes()),
            Ok(WebhookNews::Order {
                order_id: OrderId(42),
                intent: "pi_123".into(),
                state: ProviderState::Captured
            })
        );
        assert!(matches!(
            read_event(
                event("payment_intent.amount_capturable_updated", "authorize-42").as_bytes()
            ),
            Ok(WebhookNews::Order {
                state: ProviderState::Authorized,
                ..
            })
        ));
        assert!(matches!(
            read_event(event("payment_intent.canceled", "authorize-42").as_bytes()),
            Ok(WebhookNews::Order {
                state: ProviderState::Voided,
                ..
            })
        ));
        assert_eq!(
            read_event(event("charge.refunded", "authorize-42").as_bytes()),
            Ok(WebhookNews::Ignored)
        );
        assert_eq!(
            read_event(event("payment_intent.succeeded", "group-authorize-42").as_bytes()),
            Ok(WebhookNews::Ignored)
        );
        for bad in [
            "",
            "{",
            "[]",
            r#"{"type":1}"#,
            r#"{"type":"payment_intent.succeeded","data":{}}"#,
        ] {
            assert_eq!(
                read_event(bad.as_bytes()),
                Err(WebhookRefusal::MalformedBody),
                "{bad:?}"
            );
        }
        let odd_id =
            event("payment_intent.succeeded", "authorize-42").replace("pi_123", "pi_1/../x");
        assert_eq!(
            read_event(odd_id.as_bytes()),
            Err(WebhookRefusal::MalformedBody)
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let config = StripeConfig {
            api_base: "https://api.stripe.com".into(),
            secret_key: Secret::new("sk_test_do_not_print"),
            webhook_secret: Secret::new("whsec_do_not_print"),
            ca_file: None,
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("do_not_print"), "{shown}");
        // A proxy's credentials in the URL never show either, in the
        // settings or in a refusal.
        let proxied = StripeConfig {
            api_base: "http://proxy_user:proxy_pass@egress:8080/stripe".into(),
            ..config
        };
        let (key, refused) = proxied.validate().unwrap_err();
        assert_eq!(key, "stripe_api_base");
        for shown in [format!("{proxied:?}"), refused] {
            assert!(!shown.contains("proxy_pass"), "{shown}");
            assert!(!shown.contains("proxy_user"), "{shown}");
            assert!(shown.contains("http://egress:8080/stripe"), "{shown}");
        }
        assert_eq!(shown_base("http://127.0.0.1:1"), "http://127.0.0.1:1");
        assert_eq!(shown_base("http://a@b/c@d"), "http://b/c@d");
    }

    #[test]
    fn https_anywhere_and_plain_http_only_to_this_host() {
        let with = |api_base: &str| StripeConfig {
            api_base: api_base.into(),
            secret_key: Secret::new("sk_test"),
            webhook_secret: Secret::new("whsec_test"),
            ca_file: None,
        };
        for good in [
            "https://api.stripe.com",
            "https://egress.internal:8443/stripe",
            "http://127.0.0.1:12111",
            "http://127.9.0.1",
            "http://localhost:8080/stripe",
            "http://[::1]:8080",
            "http://user:pass@127.0.0.1:1",
        ] {
            assert_eq!(with(good).validate(), Ok(()), "{good}");
        }
        for bad in [
            "http://api.stripe.com",
            "http://10.0.0.5:8080",
            "http://[::2]:8080",
            "http://[::1]evil.example",
            "http://[::1",
            "http://127.0.0.1.evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1@evil.example",
            "ftp://127.0.0.1",
            "https://",
            "api.stripe.com",
            "",
        ] {
            let (key, _) = with(bad).validate().unwrap_err();
            assert_eq!(key, "stripe_api_base", "{bad}");
        }
        let (key, _) = StripeConfig {
            secret_key: Secret::new(" "),
            ..with("https://api.stripe.com")
        }
        .validate()
        .unwrap_err();
        assert_eq!(key, "stripe_secret_key");
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let with = |file: &std::path::Path| StripeConfig {
            api_base: "https://api.stripe.com".into(),
            secret_key: Secret::new("sk_test"),
            webhook_secret: Secret::new("whsec_test"),
            ca_file: Some(file.to_owned()),
        };
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\n@@@@\n").unwrap();
        for file in [&missing, &empty, &garbage] {
            let (key, message) = with(file).validate().unwrap_err();
            assert_eq!(key, "stripe_ca_file", "{message}");
            assert!(message.contains(&*file.display().to_string()), "{message}");
            assert!(StripeGateway::new(with(file), Duration::from_secs(1)).is_err());
        }
    }

    #[test]
    fn a_key_not_found_by_search_is_unknown_for_an_hour_then_none() {
        let gateway = StripeGateway::new(
            StripeConfig {
                api_base: "http://127.0.0.1:1".into(),
                secret_key: Secret::new("sk_test"),
                webhook_secret: Secret::new("whsec_test"),
                ca_file: None,
            },
            Duration::from_secs(1),
        )
        .unwrap();
        let start = Instant::now();
        for later in [0, 60, 3599] {
            assert!(
                matches!(
                    gateway.not_found("group-authorize-1", start + Duration::from_secs(later)),
                    PaymentError::Unavailable(_)
                ),
                "{later}s after the first look-up"
            );
        }
        assert_eq!(
            gateway.not_found("group-authorize-1", start + SEARCH_SETTLED),
            PaymentError::Declined {
                reason: "no_such_authorization".into()
            }
        );
        // Another key counts from its own first look-up.
        assert!(matches!(
            gateway.not_found("group-authorize-2", start + SEARCH_SETTLED),
            PaymentError::Unavailable(_)
        ));
    }

    #[test]
    fn forms_are_percent_encoded() {
        assert_eq!(
            encode_form(&[
                ("metadata[vitrine_key]", "authorize-1".into()),
                ("a b", "c&d=é".into())
            ]),
            "metadata%5Bvitrine_key%5D=authorize-1&a%20b=c%26d%3D%C3%A9"
        );
    }
}
