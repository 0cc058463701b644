//! Reviews over HTTP: a verified buyer reviews a product, anyone reads a
//! product's reviews, staff list the newest and hide one. `crate::reviews`
//! decides and records; these handlers translate.

use super::extract::{ApiJson, ApiPath, ApiQuery, Authenticated};
use super::{ApiError, AppState, ErrorBody};
use crate::reviews::{MAX_LIST, ReviewError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use vitrine_shared::ProductId;
use vitrine_shared::api::{HideReview, NewReview, ReviewList, ReviewSummary, ReviewView};
use vitrine_shared::protocol::ReviewRefusal;

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            ReviewError::Refused(refused) => match refused {
                ReviewRefusal::Stars => (StatusCode::BAD_REQUEST, "invalid_stars"),
                ReviewRefusal::TooLong => (StatusCode::BAD_REQUEST, "review_too_long"),
                ReviewRefusal::Filtered => (StatusCode::BAD_REQUEST, "filtered"),
                ReviewRefusal::BadCharacter => (StatusCode::BAD_REQUEST, "invalid_text"),
                ReviewRefusal::UnknownProduct => (StatusCode::NOT_FOUND, "product_not_found"),
                ReviewRefusal::NotBought => (StatusCode::FORBIDDEN, "not_a_buyer"),
                ReviewRefusal::NotDelivered => (StatusCode::CONFLICT, "not_delivered"),
                ReviewRefusal::AlreadyReviewed => (StatusCode::CONFLICT, "already_reviewed"),
                ReviewRefusal::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            },
            ReviewError::Reason(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ReviewError::UnknownReview => (StatusCode::NOT_FOUND, "review_not_found"),
            ReviewError::AlreadyHidden => (StatusCode::CONFLICT, "already_hidden"),
            ReviewError::Store(e) => return ApiError::internal("reviews", e),
        };
        ApiError::new(status, code, message)
    }
}

fn product_id(raw: String) -> Result<ProductId, ApiError> {
    ProductId::new(raw).map_err(|_| ReviewError::from(ReviewRefusal::UnknownProduct).into())
}

/// Review a product bought and delivered: 1 to 5 stars and an optional
/// text, once per product.
#[utoipa::path(
    post,
    path = "/api/v1/products/{id}/reviews",
    tag = "catalog",
    params(("id" = String, Path, description = "Product id")),
    request_body = NewReview,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Posted", body = ReviewView),
        (status = 400, description = "Stars out of range; text too long, filtered or holding control characters", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a buyer of this product", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 409, description = "Not delivered yet, or already reviewed", body = ErrorBody),
    )
)]
pub async fn post_review(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NewReview>,
) -> Result<(StatusCode, Json<ReviewView>), ApiError> {
    let product = product_id(id)?;
    let review = state
        .reviews
        .submit(&who.account, &product, body.stars, &body.text)
        .await?;
    Ok((StatusCode::CREATED, Json(review.view())))
}

/// A product's reviews: the average and count of the visible ones, and
/// the latest five; with a bearer token, the caller's own stars too.
#[utoipa::path(
    get,
    path = "/api/v1/products/{id}/reviews",
    tag = "catalog",
    params(("id" = String, Path, description = "Product id")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The product's reviews", body = ReviewSummary),
        (status = 401, description = "A token given that is no live session", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
    )
)]
pub async fn product_reviews(
    State(state): State<AppState>,
    who: Option<Authenticated>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ReviewSummary>, ApiError> {
    let product = product_id(id)?;
    let viewer = who.as_ref().map(|w| &w.account);
    Ok(Json(state.reviews.summary(&product, viewer).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 100 reviews; 50 when absent.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

/// For staff: the newest reviews across products, hidden ones included.
#[utoipa::path(
    get,
    path = "/api/v1/console/reviews",
    tag = "console",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Newest first", body = ReviewList),
        (status = 400, description = "Bad limit", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
pub async fn newest_reviews(
    State(state): State<AppState>,
    who: Authenticated,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ReviewList>, ApiError> {
    who.require_staff()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_LIST).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("limit: 1 to {MAX_LIST}"),
        ));
    }
    let reviews = state.reviews.newest(limit).await?;
    Ok(Json(ReviewList {
        reviews: reviews.into_iter().map(|r| r.view()).collect(),
    }))
}

/// For staff: hide a review from shoppers; the moderation log records it.
#[utoipa::path(
    post,
    path = "/api/v1/moderation/reviews/{id}/hide",
    tag = "moderation",
    params(("id" = i64, Path, description = "Review id")),
    request_body = HideReview,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Hidden", body = ReviewView),
        (status = 400, description = "Bad reason", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such review", body = ErrorBody),
        (status = 409, description = "Already hidden", body = ErrorBody),
    )
)]
pub async fn hide_review(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<HideReview>,
) -> Result<Json<ReviewView>, ApiError> {
    who.require_staff()?;
    let reason = body.reason.unwrap_or_default();
    // A bad reason is refused whatever review the path names.
    crate::moderation::check_reason(&reason).map_err(|e| ReviewError::Reason(e.to_string()))?;
    let id: i64 = id.parse().map_err(|_| ReviewError::UnknownReview)?;
    let review = state.reviews.hide(&who.account, id, &reason).await?;
    Ok(Json(review.view()))
}
