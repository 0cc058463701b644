//! Orders over HTTP: yours, paying one, staff moving one along, returns and
//! refunds. Every decision is the commerce engine's; these handlers only
//! translate.

use super::extract::{ApiJson, ApiPath, Authenticated};
use super::{ApiError, AppState, ErrorBody};
use crate::commerce::{CommerceError, OrderStep};
use crate::views::order_view;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use vitrine_shared::OrderId;
use vitrine_shared::api::{OrderList, OrderView, PayRequest, RefundRequest};

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
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OrderView>, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "order_not_found",
            "no such order of yours",
        )
    };
    let id: OrderId = id.parse().map_err(|_| not_found())?;
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
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PayRequest>,
) -> Result<Json<OrderView>, ApiError> {
    let id: OrderId = id
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
    let id: OrderId = id
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
    ApiPath(id): ApiPath<String>,
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
    ApiPath(id): ApiPath<String>,
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
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RefundRequest>,
) -> Result<Json<OrderView>, ApiError> {
    let id: OrderId = id
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
