//! Flash sales and orders over HTTP. Every decision is the commerce
//! engine's; these handlers only translate.

use super::extract::{ApiJson, Authenticated};
use super::{ApiError, AppState, ErrorBody};
use crate::commerce::{Claimed, CommerceError, FlashSale, FlashSaleSpec, OrderRecord, OrderStep};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use vitrine_shared::api::{
    ClaimRequest, ClaimView, FlashSaleView, OrderLineView, OrderList, OrderView, PayRequest,
    RefundRequest, StartFlashSale,
};
use vitrine_shared::{Currency, Money, Sku};

impl From<CommerceError> for ApiError {
    fn from(e: CommerceError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            CommerceError::UnknownSku => (StatusCode::NOT_FOUND, "unknown_sku"),
            CommerceError::UnknownSale => (StatusCode::NOT_FOUND, "sale_not_found"),
            CommerceError::NotEnoughStock { .. } => (StatusCode::CONFLICT, "not_enough_stock"),
            CommerceError::InvalidSale(_) => (StatusCode::BAD_REQUEST, "invalid_sale"),
            CommerceError::BadQuantity => (StatusCode::BAD_REQUEST, "bad_quantity"),
            CommerceError::NotStarted { .. } => (StatusCode::CONFLICT, "not_started"),
            CommerceError::Ended => (StatusCode::CONFLICT, "sale_ended"),
            CommerceError::SoldOut => (StatusCode::CONFLICT, "sold_out"),
            CommerceError::LimitReached { .. } => (StatusCode::CONFLICT, "limit_reached"),
            CommerceError::IdempotencyConflict => (StatusCode::CONFLICT, "idempotency_conflict"),
            CommerceError::UnknownOrder => (StatusCode::NOT_FOUND, "order_not_found"),
            CommerceError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            CommerceError::WrongOrderState { .. } => (StatusCode::CONFLICT, "order_state"),
            CommerceError::BadReason => (StatusCode::BAD_REQUEST, "invalid_reason"),
            CommerceError::RefundFailed => (StatusCode::BAD_GATEWAY, "refund_failed"),
            CommerceError::OrderNotPayable { .. } => (StatusCode::CONFLICT, "order_not_payable"),
            CommerceError::PaymentInProgress => (StatusCode::CONFLICT, "payment_in_progress"),
            CommerceError::PaymentDeclined { .. } => {
                (StatusCode::PAYMENT_REQUIRED, "payment_declined")
            }
            CommerceError::PaymentTimeout => (StatusCode::GATEWAY_TIMEOUT, "payment_timeout"),
            CommerceError::ProductExists => (StatusCode::CONFLICT, "product_exists"),
            CommerceError::UnknownProduct => (StatusCode::NOT_FOUND, "product_not_found"),
            CommerceError::SkuTaken(_) => (StatusCode::CONFLICT, "sku_taken"),
            CommerceError::CartFull => (StatusCode::CONFLICT, "cart_full"),
            CommerceError::EmptyCart => (StatusCode::CONFLICT, "empty_cart"),
            CommerceError::CurrencyMismatch => (StatusCode::CONFLICT, "currency_mismatch"),
            CommerceError::UnknownCoupon => (StatusCode::NOT_FOUND, "coupon_not_found"),
            CommerceError::CouponNotActive => (StatusCode::CONFLICT, "coupon_not_active"),
            CommerceError::CouponMinimum { .. } => (StatusCode::CONFLICT, "coupon_minimum"),
            CommerceError::CouponUsedUp => (StatusCode::CONFLICT, "coupon_used_up"),
            CommerceError::CouponLimitReached => (StatusCode::CONFLICT, "coupon_limit_reached"),
            CommerceError::CouponExists => (StatusCode::CONFLICT, "coupon_exists"),
            CommerceError::InvalidCoupon(_) => (StatusCode::BAD_REQUEST, "invalid_coupon"),
            CommerceError::Storage | CommerceError::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "commerce_unavailable")
            }
        };
        ApiError::new(status, code, message)
    }
}

pub fn sale_view(s: FlashSale) -> FlashSaleView {
    FlashSaleView {
        id: s.id,
        product_id: s.product.to_string(),
        sku: s.sku.to_string(),
        sale_price: s.price.into(),
        quantity: s.quantity,
        sold: s.sold,
        units_left: s.units_left(),
        per_buyer_limit: s.per_buyer_limit,
        starts_at_ms: s.starts_at_ms,
        ends_at_ms: s.ends_at_ms,
        state: s.state.as_str().to_owned(),
    }
}

fn claim_view(c: Claimed) -> ClaimView {
    ClaimView {
        order_id: c.order_id,
        sale_id: c.sale_id,
        sku: c.sku.to_string(),
        quantity: c.quantity,
        unit_price: c.unit_price.into(),
        total: c.total.into(),
        units_left: c.units_left,
    }
}

pub(super) fn order_view(o: OrderRecord) -> OrderView {
    OrderView {
        id: o.id,
        status: o.status,
        total: o.total.into(),
        flash_sale_id: o.flash_sale_id,
        source: o.source,
        discount: o.discount.into(),
        coupon: o.coupon,
        created_at_ms: o.created_at_ms,
        return_reason: o.return_reason,
        failure: o.failure,
        lines: o
            .lines
            .into_iter()
            .map(|l| OrderLineView {
                sku: l.sku.to_string(),
                quantity: l.quantity,
                unit_price: l.unit_price.into(),
            })
            .collect(),
    }
}

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
    Ok((StatusCode::CREATED, Json(sale_view(sale))))
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
    Path(id): Path<String>,
) -> Result<Json<FlashSaleView>, ApiError> {
    let not_found = || ApiError::from(CommerceError::UnknownSale);
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let sale = state.commerce.sale(id).await?.ok_or_else(not_found)?;
    Ok(Json(sale_view(sale)))
}

/// The longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The `Idempotency-Key` header, when sent: 1 to 255 visible ASCII
/// characters.
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
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: up to 255 visible characters"),
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
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ClaimRequest>,
) -> Result<(StatusCode, Json<ClaimView>), ApiError> {
    let sale_id: i64 = id
        .parse()
        .map_err(|_| ApiError::from(CommerceError::UnknownSale))?;
    let idempotency = idempotency_key(&headers)?.map(|key| {
        (
            key,
            request_hash(&format!("claim:{sale_id}:{}", body.quantity)),
        )
    });
    let claimed = state
        .commerce
        .claim(who.account.id, sale_id, body.quantity, idempotency)
        .await?;
    Ok((StatusCode::CREATED, Json(claim_view(claimed))))
}

/// Your orders, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/orders",
    tag = "commerce",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your orders", body = OrderList),
        (status = 401, description = "No valid session", body = ErrorBody),
    )
)]
pub async fn list_orders(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<OrderList>, ApiError> {
    let orders = state.commerce.orders(who.account.id).await?;
    Ok(Json(OrderList {
        orders: orders.into_iter().map(order_view).collect(),
    }))
}

/// One of your orders.
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}",
    tag = "commerce",
    params(("id" = i64, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 404, description = "Not one of your orders", body = ErrorBody),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "order_not_found",
            "no such order of yours",
        )
    };
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let order = state
        .commerce
        .order(who.account.id, id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(order_view(order)))
}

/// Pay a pending order. Paying a paid order again answers the same order;
/// a decline (402) or a provider timeout (504) cancels the order and
/// releases its units.
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/pay",
    tag = "commerce",
    params(("id" = i64, Path, description = "Order id")),
    request_body = PayRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Paid", body = OrderView),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 402, description = "Declined; the order is cancelled", body = ErrorBody),
        (status = 404, description = "Not one of your orders", body = ErrorBody),
        (status = 409, description = "Cancelled already, or a payment under way", body = ErrorBody),
        (status = 504, description = "The provider did not answer; the order is cancelled", body = ErrorBody),
    )
)]
pub async fn pay_order(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PayRequest>,
) -> Result<Json<OrderView>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::from(CommerceError::UnknownOrder))?;
    use vitrine_shared::validated::MAX_PAYMENT_METHOD_CHARS;
    if body.card.len() > MAX_PAYMENT_METHOD_CHARS {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("card: at most {MAX_PAYMENT_METHOD_CHARS} characters"),
        ));
    }
    let paid = state.commerce.pay(who.account.id, id, body.card).await?;
    Ok(Json(order_view(paid)))
}

async fn advance(
    state: AppState,
    who: Authenticated,
    id: String,
    step: OrderStep,
) -> Result<Json<OrderView>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::from(CommerceError::UnknownOrder))?;
    let order = state
        .commerce
        .advance(who.account.role.runs_shows(), id, step)
        .await?;
    Ok(Json(order_view(order)))
}

/// Staff: mark a paid order fulfilled (shipped).
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/fulfil",
    tag = "commerce",
    params(("id" = i64, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Fulfilled", body = OrderView),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 409, description = "Not paid", body = ErrorBody),
    )
)]
pub async fn fulfil_order(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    advance(state, who, id, OrderStep::Fulfil).await
}

/// Staff: mark a fulfilled order delivered.
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/deliver",
    tag = "commerce",
    params(("id" = i64, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Delivered", body = OrderView),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 409, description = "Not fulfilled", body = ErrorBody),
    )
)]
pub async fn deliver_order(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    advance(state, who, id, OrderStep::Deliver).await
}

/// Return a delivered order (its buyer) or refund a paid one (staff), with a
/// reason. The money goes back through the gateway, the units to stock.
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/refund",
    tag = "commerce",
    params(("id" = i64, Path, description = "Order id")),
    request_body = RefundRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Refunded", body = OrderView),
        (status = 400, description = "No reason, or too long", body = ErrorBody),
        (status = 404, description = "No such order of yours", body = ErrorBody),
        (status = 409, description = "Not in a state that can be refunded", body = ErrorBody),
        (status = 502, description = "The provider refused the refund; nothing changed", body = ErrorBody),
    )
)]
pub async fn refund_order(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RefundRequest>,
) -> Result<Json<OrderView>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::from(CommerceError::UnknownOrder))?;
    let order = state
        .commerce
        .refund(
            who.account.id,
            who.account.role.runs_shows(),
            id,
            body.reason,
        )
        .await?;
    Ok(Json(order_view(order)))
}
