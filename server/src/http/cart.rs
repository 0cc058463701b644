//! The shopper's cart and checkout over HTTP. The engine decides; these
//! handlers translate.

use super::extract::{ApiJson, ApiPath, Authenticated};
use super::flash_sales::{idempotency_key, request_hash};
use super::{ApiError, AppState, ErrorBody};
use crate::commerce::{CartEdit, CheckoutSpec, CommerceError, Purchase};
use crate::views::{cart_view, order_view};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use vitrine_shared::api::{AddToCart, CartView, CheckoutRequest, OrderView, SetCartQuantity};
use vitrine_shared::{CouponCode, PaymentMethod, Sku};

/// An SKU in a path or body; one that cannot exist is simply unknown.
fn sku(raw: String) -> Result<Sku, ApiError> {
    Sku::new(raw).map_err(|_| ApiError::from(CommerceError::UnknownSku))
}

/// Your cart: lines, their holds, and the subtotal at today's prices.
#[utoipa::path(
    get,
    path = "/api/v1/cart",
    tag = "commerce",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your cart", body = CartView),
        (status = 401, description = "No valid session", body = ErrorBody),
    )
)]
pub async fn get_cart(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<CartView>, ApiError> {
    Ok(Json(cart_view(state.commerce.cart(who.account.id).await?)))
}

/// Add units of a variant to your cart. They are reserved for you at once,
/// for the cart hold (10 minutes by default), restarted by each change.
#[utoipa::path(
    post,
    path = "/api/v1/cart/items",
    tag = "commerce",
    request_body = AddToCart,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cart after the change", body = CartView),
        (status = 400, description = "Quantity not 1 to 100, or a line over 100", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 404, description = "No such variant on sale", body = ErrorBody),
        (status = 409, description = "Not enough stock, or the cart is full", body = ErrorBody),
    )
)]
pub async fn add_to_cart(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<AddToCart>,
) -> Result<Json<CartView>, ApiError> {
    let lines = state
        .commerce
        .edit_cart(who.account.id, sku(body.sku)?, CartEdit::Add(body.quantity))
        .await?;
    Ok(Json(cart_view(lines)))
}

/// Set a cart line's quantity (0 removes it and frees its units).
#[utoipa::path(
    put,
    path = "/api/v1/cart/items/{sku}",
    tag = "commerce",
    params(("sku" = String, Path, description = "The variant's SKU")),
    request_body = SetCartQuantity,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cart after the change", body = CartView),
        (status = 400, description = "Quantity not 0 to 100", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 404, description = "No such variant on sale", body = ErrorBody),
        (status = 409, description = "Not enough stock, or the cart is full", body = ErrorBody),
    )
)]
pub async fn set_cart_quantity(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(raw): ApiPath<String>,
    ApiJson(body): ApiJson<SetCartQuantity>,
) -> Result<Json<CartView>, ApiError> {
    let lines = state
        .commerce
        .edit_cart(who.account.id, sku(raw)?, CartEdit::Set(body.quantity))
        .await?;
    Ok(Json(cart_view(lines)))
}

/// Remove a line from your cart; its units go back on sale.
#[utoipa::path(
    delete,
    path = "/api/v1/cart/items/{sku}",
    tag = "commerce",
    params(("sku" = String, Path, description = "The variant's SKU")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cart after the change", body = CartView),
        (status = 401, description = "No valid session", body = ErrorBody),
    )
)]
pub async fn remove_from_cart(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<CartView>, ApiError> {
    let lines = state
        .commerce
        .edit_cart(who.account.id, sku(raw)?, CartEdit::Set(0))
        .await?;
    Ok(Json(cart_view(lines)))
}

/// Buy your cart, or `buy_now` one variant, and pay at once. Prices come
/// from the catalog, less the coupon. An `Idempotency-Key` header is
/// required: the same key and body return the same order, however often
/// sent; the same key with another body is 409. A decline (402) or a
/// provider timeout (504) cancels the order: a buy-now's units go back to
/// stock, a cart's back into the cart.
#[utoipa::path(
    post,
    path = "/api/v1/checkout",
    tag = "commerce",
    params(("Idempotency-Key" = String, Header, description = "Required: visible ASCII characters, as many as the schema allows")),
    request_body = CheckoutRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Paid: the order", body = OrderView),
        (status = 400, description = "No key, a bad quantity, coupon code or card", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 402, description = "Declined; nothing charged", body = ErrorBody),
        (status = 403, description = "A coupon bought with another shopper's points (`coupon_not_yours`)", body = ErrorBody),
        (status = 404, description = "No such variant or coupon", body = ErrorBody),
        (status = 409, description = "Empty cart, short stock, a coupon that does not apply, or a reused key", body = ErrorBody),
        (status = 504, description = "The provider did not answer; nothing charged", body = ErrorBody),
    )
)]
pub async fn checkout(
    State(state): State<AppState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CheckoutRequest>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let key = idempotency_key(&headers)?.ok_or_else(|| {
        ApiError::bad_request(
            "idempotency_key_required",
            "send an Idempotency-Key header so that a retry cannot buy twice",
        )
    })?;
    // The body as parsed, so that spacing or field order do not matter.
    let canonical = serde_json::to_string(&body).map_err(|e| ApiError::internal("hash", e))?;
    let hash = request_hash(&format!("checkout:{canonical}"));
    let purchase = match body.buy_now {
        None => Purchase::Cart,
        Some(item) => Purchase::BuyNow {
            sku: sku(item.sku)?,
            quantity: item.quantity,
        },
    };
    let coupon = match body.coupon {
        None => None,
        Some(code) => {
            Some(CouponCode::new(code).map_err(|_| ApiError::from(CommerceError::UnknownCoupon))?)
        }
    };
    let method = PaymentMethod::new(body.card)
        .map_err(|e| ApiError::bad_request("invalid_card", e.to_string()))?;
    let spec = CheckoutSpec {
        purchase,
        coupon,
        method,
    };
    let order = state
        .commerce
        .checkout(who.account.id, spec, (key, hash))
        .await?;
    Ok((StatusCode::CREATED, Json(order_view(order))))
}
