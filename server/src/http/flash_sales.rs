//! Flash sales over HTTP: announce, look up and claim. Every decision is
//! the commerce engine's; these handlers only translate.

use super::extract::{ApiJson, ApiPath, Authenticated};
use super::{ApiError, AppState, ErrorBody};
use crate::commerce::{CommerceError, FlashSaleSpec};
use crate::views::{claim_view, flash_sale_view};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use vitrine_shared::api::{ClaimRequest, ClaimView, FlashSaleView, StartFlashSale};
use vitrine_shared::limits::commerce::MAX_IDEMPOTENCY_KEY;
use vitrine_shared::{Currency, Money};
use vitrine_shared::{SaleId, Sku};

/// Announce a flash sale: its units leave normal stock now, it opens after
/// the countdown, and unsold units return when it ends.
#[utoipa::path(
    post,
    path = "/api/v1/flash-sales",
    tag = "commerce",
    request_body = StartFlashSale,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Announced", body = FlashSaleView),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No such SKU", body = ErrorBody),
        (status = 409, description = "Not enough stock", body = ErrorBody),
    )
)]
pub async fn start_flash_sale(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<StartFlashSale>,
) -> Result<(StatusCode, Json<FlashSaleView>), ApiError> {
    who.require_host()?;
    let sku =
        Sku::new(body.sku).map_err(|e| ApiError::bad_request("invalid_sale", e.to_string()))?;
    let currency = Currency::new(&body.currency)
        .map_err(|e| ApiError::bad_request("invalid_sale", e.to_string()))?;
    let spec = FlashSaleSpec {
        sku,
        price: Money::new(body.sale_price_minor, currency),
        quantity: body.quantity,
        per_buyer_limit: body.per_buyer_limit,
        countdown_secs: body.countdown_secs,
        duration_secs: body.duration_secs,
    };
    let sale = state.commerce.start_sale(who.account.id, spec).await?;
    Ok((StatusCode::CREATED, Json(flash_sale_view(sale))))
}

/// A flash sale with its units left and state.
#[utoipa::path(
    get,
    path = "/api/v1/flash-sales/{id}",
    tag = "commerce",
    params(("id" = i64, Path, description = "Flash sale id")),
    responses(
        (status = 200, description = "The sale", body = FlashSaleView),
        (status = 404, description = "No such open sale", body = ErrorBody),
    )
)]
pub async fn get_flash_sale(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<FlashSaleView>, ApiError> {
    let not_found = || ApiError::from(CommerceError::UnknownSale);
    let id: SaleId = id.parse().map_err(|_| not_found())?;
    let sale = state.commerce.sale(id).await?.ok_or_else(not_found)?;
    Ok(Json(flash_sale_view(sale)))
}

/// The `Idempotency-Key` header, when sent: 1 to [`MAX_IDEMPOTENCY_KEY`]
/// visible ASCII characters.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty()
                && k.len() <= MAX_IDEMPOTENCY_KEY
                && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                format!("up to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
            )
        })?;
    Ok(Some(key.to_owned()))
}

/// What a key's request is remembered by: a retry with the same key must
/// hash the same.
pub(super) fn request_hash(canonical: &str) -> u64 {
    let digest = Sha256::digest(canonical);
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Claim units of a live flash sale. Claims are decided in arrival order;
/// a success is an order. The same `Idempotency-Key` with the same body
/// returns the same order; with another body, 409.
#[utoipa::path(
    post,
    path = "/api/v1/flash-sales/{id}/claims",
    tag = "commerce",
    params(
        ("id" = i64, Path, description = "Flash sale id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: visible ASCII characters, as many as the schema allows"),
    ),
    request_body = ClaimRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Claimed: the order", body = ClaimView),
        (status = 400, description = "Bad quantity or key", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 404, description = "No such sale", body = ErrorBody),
        (status = 409, description = "Sold out, not started, ended, over the limit, or a reused key", body = ErrorBody),
    )
)]
pub async fn claim_flash_sale(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ClaimRequest>,
) -> Result<(StatusCode, Json<ClaimView>), ApiError> {
    let sale_id: SaleId = id
        .parse()
        .map_err(|_| ApiError::from(CommerceError::UnknownSale))?;
    let idempotency = idempotency_key(&headers)?.map(|key| {
        (
            key,
            request_hash(&format!("claim:{sale_id}:{}", body.quantity)),
        )
    });
    let claimed = match &state.claims_decided_by {
        // A benchmark's baseline: it keeps no idempotency keys.
        Some(desk) => desk.claim(who.account.id, sale_id, body.quantity).await?,
        None => {
            state
                .commerce
                .claim(who.account.id, sale_id, body.quantity, idempotency)
                .await?
        }
    };
    Ok((StatusCode::CREATED, Json(claim_view(claimed))))
}
