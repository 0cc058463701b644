//! Stripe's webhook: a signed event about one of our PaymentIntents,
//! checked (signature, timestamp) before anything is read, then handed to
//! the engine, which keeps a late payment for an order still waiting and
//! gives it back for a cancelled one.

use super::AppState;
use super::error::ApiError;
use crate::commerce::stripe::{self, WebhookNews, WebhookRefusal};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

#[derive(Debug, serde::Serialize)]
pub struct WebhookAnswer {
    pub received: bool,
    /// What the engine did: `paid`, `given_back`, `noted`, `unknown_order`
    /// or `ignored`.
    pub outcome: &'static str,
}

pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAnswer>, ApiError> {
    let Some(secret) = &state.stripe_webhook_secret else {
        // Stripe is not the provider here: there is no such endpoint.
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "payments do not go through Stripe on this server",
        ));
    };
    let refuse = |r: WebhookRefusal| {
        ApiError::bad_request(r.code(), format!("webhook refused: {}", r.code()))
    };
    let header = headers
        .get("stripe-signature")
        .map(|v| {
            v.to_str()
                .map_err(|_| refuse(WebhookRefusal::MalformedSignature))
        })
        .transpose()?;
    let now_secs = state.clock.now_ms().div_euclid(1000);
    stripe::verify_signature(header, &body, secret, now_secs).map_err(|r| {
        tracing::warn!(code = r.code(), "stripe webhook refused");
        refuse(r)
    })?;
    let news = stripe::read_event(&body).map_err(refuse)?;
    let outcome = match news {
        WebhookNews::Ignored => None,
        WebhookNews::Order {
            order_id,
            intent,
            state: provider,
        } => Some(
            state
                .commerce
                .provider_news(order_id, intent, provider)
                .await?,
        ),
    };
    Ok(Json(WebhookAnswer {
        received: true,
        outcome: stripe::outcome_name(outcome),
    }))
}
