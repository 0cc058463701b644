//! The host console: its page (`/console`, static files built into the
//! binary), its live feed (server-sent events, a dashboard at most once a
//! second), and the after-show summary and CSV exports. Hosts, co-hosts
//! and moderators only.

use super::extract::{ApiPath, ApiQuery, Authenticated, authenticate};
use super::{ApiError, AppState, ErrorBody};
use crate::engagement::EngagementError;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use utoipa::IntoParams;
use vitrine_shared::ShowId;
use vitrine_shared::api::{DashboardView, ShowSummary, ShowView};

const INDEX: &str = include_str!("../../../assets/console/index.html");
const SCRIPT: &str = include_str!("../../../assets/console/app.js");
const STYLE: &str = include_str!("../../../assets/console/app.css");

fn file(body: &'static str, kind: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

pub async fn index() -> Response {
    file(INDEX, "text/html; charset=utf-8")
}

pub async fn script() -> Response {
    file(SCRIPT, "text/javascript; charset=utf-8")
}

pub async fn style() -> Response {
    file(STYLE, "text/css; charset=utf-8")
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The bearer token: browsers' `EventSource` cannot send headers.
    token: String,
}

/// The live dashboard as server-sent events: one `dashboard` event at once,
/// then one whenever it changes (at most once a second).
#[utoipa::path(
    get,
    path = "/api/v1/console/feed",
    tag = "console",
    params(FeedQuery),
    responses(
        (status = 200, description = "`dashboard` events, each a DashboardView", content_type = "text/event-stream", body = DashboardView),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
pub async fn feed(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<FeedQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let who = authenticate(&state, &query.token).await?;
    who.require_staff()?;
    let rx = state.console.feed.clone();
    let stream = futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let dashboard = rx.borrow_and_update().clone();
        let event = Event::default()
            .event("dashboard")
            .json_data(&*dashboard)
            .unwrap_or_else(|_| Event::default().event("error"));
        Some((Ok(event), (rx, false)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The live dashboard now, as the feed sends it.
#[utoipa::path(
    get,
    path = "/api/v1/console/dashboard",
    tag = "console",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The dashboard", body = DashboardView),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
pub async fn dashboard(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<DashboardView>, ApiError> {
    who.require_staff()?;
    let dashboard = state.console.feed.borrow().clone();
    Ok(Json((*dashboard).clone()))
}

async fn show(state: &AppState, raw: &str) -> Result<ShowView, ApiError> {
    let not_found = || ApiError::from(EngagementError::UnknownShow);
    let id: ShowId = raw.parse().map_err(|_| not_found())?;
    let show = crate::engagement::show_by_id(&state.store, id)
        .await?
        .ok_or_else(not_found)?;
    Ok(crate::views::show_view(show))
}

/// After (or during) a show: peak and unique viewers, orders, sales,
/// conversion and the top products.
#[utoipa::path(
    get,
    path = "/api/v1/shows/{id}/summary",
    tag = "console",
    params(("id" = i64, Path, description = "Show id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The summary", body = ShowSummary),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such show", body = ErrorBody),
    )
)]
pub async fn summary(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<ShowSummary>, ApiError> {
    who.require_staff()?;
    let show = show(&state, &raw).await?;
    Ok(Json(
        crate::console::reports::summary(&state.store, show, state.clock.now_ms()).await?,
    ))
}

fn csv(body: String, name: String) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The show's orders as CSV, one row per order line.
#[utoipa::path(
    get,
    path = "/api/v1/shows/{id}/orders.csv",
    tag = "console",
    params(("id" = i64, Path, description = "Show id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such show", body = ErrorBody),
    )
)]
pub async fn orders_csv(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(raw): ApiPath<String>,
) -> Result<Response, ApiError> {
    who.require_staff()?;
    let show = show(&state, &raw).await?;
    let body =
        crate::console::reports::orders_csv(&state.store, &show, state.clock.now_ms()).await?;
    Ok(csv(body, format!("show-{}-orders.csv", show.id)))
}

/// The show's chat as CSV.
#[utoipa::path(
    get,
    path = "/api/v1/shows/{id}/chat.csv",
    tag = "console",
    params(("id" = i64, Path, description = "Show id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such show", body = ErrorBody),
    )
)]
pub async fn chat_csv(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(raw): ApiPath<String>,
) -> Result<Response, ApiError> {
    who.require_staff()?;
    let show = show(&state, &raw).await?;
    let body = crate::console::reports::chat_csv(&state.store, &show, state.clock.now_ms()).await?;
    Ok(csv(body, format!("show-{}-chat.csv", show.id)))
}
