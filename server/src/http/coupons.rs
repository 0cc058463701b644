//! Coupons over HTTP: hosts create them and pin one in the show; anyone may
//! look one up by its code.

use super::extract::{ApiJson, ApiPath, Authenticated};
use super::{ApiError, AppState, ErrorBody};
use crate::commerce::{CommerceError, Coupon, Discount};
use crate::views::coupon_view;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use vitrine_shared::api::{CouponView, CreateCoupon, PinCoupon};
use vitrine_shared::{CouponCode, Currency};

fn code(raw: String) -> Result<CouponCode, ApiError> {
    CouponCode::new(raw).map_err(|_| ApiError::from(CommerceError::UnknownCoupon))
}

/// Create a coupon: a percentage or an amount off, a minimum order, caps in
/// all and per shopper, and a validity window.
#[utoipa::path(
    post,
    path = "/api/v1/coupons",
    tag = "commerce",
    request_body = CreateCoupon,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = CouponView),
        (status = 400, description = "Invalid: the field is named", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 409, description = "The code exists already", body = ErrorBody),
    )
)]
pub async fn create_coupon(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<CreateCoupon>,
) -> Result<(StatusCode, Json<CouponView>), ApiError> {
    who.require_host()?;
    let invalid = |m: String| ApiError::from(CommerceError::InvalidCoupon(m));
    let code = CouponCode::new(body.code).map_err(|e| invalid(format!("code: {e}")))?;
    let currency = Currency::new(&body.currency).map_err(|e| invalid(format!("currency: {e}")))?;
    let discount = match (body.percent_off, body.amount_off_minor) {
        (Some(p), None) => Discount::Percent(p),
        (None, Some(a)) => Discount::Amount(a),
        _ => {
            return Err(invalid(
                "give exactly one of percent_off and amount_off_minor".into(),
            ));
        }
    };
    let coupon = Coupon {
        code,
        discount,
        currency,
        min_order_minor: body.min_order_minor,
        max_redemptions: body.max_redemptions,
        per_buyer_limit: body.per_buyer_limit,
        starts_at_ms: body.starts_at_ms.unwrap_or_else(|| state.clock.now_ms()),
        ends_at_ms: body.ends_at_ms,
    };
    let info = state.commerce.create_coupon(who.account.id, coupon).await?;
    Ok((StatusCode::CREATED, Json(coupon_view(info))))
}

/// A coupon by its code (any case), with its use so far.
#[utoipa::path(
    get,
    path = "/api/v1/coupons/{code}",
    tag = "commerce",
    params(("code" = String, Path, description = "The coupon code")),
    responses(
        (status = 200, description = "The coupon", body = CouponView),
        (status = 404, description = "No such coupon", body = ErrorBody),
    )
)]
pub async fn get_coupon(
    State(state): State<AppState>,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<CouponView>, ApiError> {
    let info = state
        .commerce
        .coupon(code(raw)?)
        .await?
        .ok_or_else(|| ApiError::from(CommerceError::UnknownCoupon))?;
    Ok(Json(coupon_view(info)))
}

/// The coupon pinned in the show.
#[utoipa::path(
    get,
    path = "/api/v1/show/pinned-coupon",
    tag = "commerce",
    responses(
        (status = 200, description = "The pinned coupon", body = CouponView),
        (status = 404, description = "None is pinned", body = ErrorBody),
    )
)]
pub async fn get_pinned_coupon(
    State(state): State<AppState>,
) -> Result<Json<CouponView>, ApiError> {
    let info = state.commerce.pinned_coupon().await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "nothing_pinned",
            "no coupon is pinned",
        )
    })?;
    Ok(Json(coupon_view(info)))
}

/// Pin a coupon in the show: every room shows it until it is unpinned,
/// another is pinned, or it ends.
#[utoipa::path(
    put,
    path = "/api/v1/show/pinned-coupon",
    tag = "commerce",
    request_body = PinCoupon,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Pinned", body = CouponView),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No such coupon", body = ErrorBody),
        (status = 409, description = "The coupon has ended", body = ErrorBody),
    )
)]
pub async fn pin_coupon(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<PinCoupon>,
) -> Result<Json<CouponView>, ApiError> {
    who.require_host()?;
    let info = state
        .commerce
        .pin_coupon(Some(code(body.code)?))
        .await?
        .ok_or_else(|| ApiError::from(CommerceError::UnknownCoupon))?;
    Ok(Json(coupon_view(info)))
}

/// Unpin the show's coupon.
#[utoipa::path(
    delete,
    path = "/api/v1/show/pinned-coupon",
    tag = "commerce",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Unpinned"),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
    )
)]
pub async fn unpin_coupon(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<StatusCode, ApiError> {
    who.require_host()?;
    state.commerce.pin_coupon(None).await?;
    Ok(StatusCode::NO_CONTENT)
}
