//! The host console: its page (`/console`, static files built into the
//! binary), its live feed (server-sent events, a dashboard at most once a
//! second), and the after-show summary and CSV exports. Hosts, co-hosts
//! and moderators only.

use super::extract::{ApiPath, ApiQuery, Authenticated};
use super::{ApiError, AppState, ErrorBody};
use crate::console::tickets::TicketError;
use crate::engagement::EngagementError;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use utoipa::IntoParams;
use vitrine_shared::ShowId;
use vitrine_shared::api::{DashboardView, FeedTicket, ShowSummary, ShowView};
use vitrine_shared::limits::console::FEED_RECHECK;

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
    /// A ticket from `POST /api/v1/console/tickets`: good for 30 s and one
    /// stream. Browsers' `EventSource` cannot send headers, and a URL is
    /// kept in histories and logs, so the bearer token never goes here.
    ticket: Option<String>,
    /// Not a parameter: named only to refuse it.
    #[param(ignore)]
    token: Option<String>,
}

/// Mint a ticket for the live feed: short-lived, single-use, good for the
/// feed only.
#[utoipa::path(
    post,
    path = "/api/v1/console/tickets",
    tag = "console",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "A ticket for one stream, within 30 s", body = FeedTicket),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    )
)]
pub async fn create_ticket(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<(StatusCode, Json<FeedTicket>), ApiError> {
    who.require_staff()?;
    let (ticket, expires_at_ms) = state.feed_tickets.issue(&who.session.id);
    Ok((
        StatusCode::CREATED,
        Json(FeedTicket {
            ticket,
            expires_at_ms,
        }),
    ))
}

/// Whether the feed's session is still signed in and still staff.
async fn still_staff(state: &AppState, session_id: &str) -> Result<(), &'static str> {
    match state.store.live_session_fresh(session_id).await {
        Ok(Some((_, account))) if account.role.is_staff() => Ok(()),
        Ok(Some(_)) => Err("forbidden"),
        Ok(None) => Err("signed_out"),
        // A store hiccup is not a reason to cut a host off; the next
        // check decides.
        Err(e) => {
            tracing::warn!(%e, "console feed: could not re-check the session");
            Ok(())
        }
    }
}

/// The live dashboard as server-sent events: one `dashboard` event at once,
/// then one whenever it changes (at most once a second). Opened with a
/// ticket; the session and its role are checked again every few seconds,
/// and the stream ends, with a `closed` event, once the session is signed
/// out or the account is no longer staff.
#[utoipa::path(
    get,
    path = "/api/v1/console/feed",
    tag = "console",
    params(FeedQuery),
    responses(
        (status = 200, description = "`dashboard` events, each a DashboardView; a last `closed` event (`{\"reason\": \"signed_out\" | \"forbidden\"}`) when the stream ends", content_type = "text/event-stream", body = DashboardView),
        (status = 400, description = "No ticket", body = ErrorBody),
        (status = 401, description = "Unknown, used or expired ticket, or the session ended", body = ErrorBody),
        (status = 403, description = "Not staff, or a bearer token in the URL", body = ErrorBody),
    )
)]
pub async fn feed(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<FeedQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Refused unread: the feed never looks at a bearer token.
    if query.token.is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the live feed takes a ticket (POST /api/v1/console/tickets), never a bearer token in its URL",
        ));
    }
    let ticket = query.ticket.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_request",
            "a ticket from POST /api/v1/console/tickets is required",
        )
    })?;
    let session_id = state.feed_tickets.redeem(&ticket).map_err(|e| match e {
        TicketError::Unknown => {
            ApiError::unauthorized("invalid_ticket", "unknown or already used ticket")
        }
        TicketError::Expired => {
            ApiError::unauthorized("expired_ticket", "the ticket expired; ask for another")
        }
    })?;
    match still_staff(&state, &session_id).await {
        Ok(()) => {}
        Err("forbidden") => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only hosts, co-hosts and moderators may do this",
            ));
        }
        Err(_) => {
            return Err(ApiError::unauthorized(
                "expired_token",
                "session ended; sign in again",
            ));
        }
    }
    let feed = Feed {
        rx: state.console.feed.clone(),
        first: true,
        recheck: tokio::time::interval_at(tokio::time::Instant::now() + FEED_RECHECK, FEED_RECHECK),
        state,
        session_id,
        done: false,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok(event), feed))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// One open feed.
struct Feed {
    rx: tokio::sync::watch::Receiver<std::sync::Arc<DashboardView>>,
    first: bool,
    recheck: tokio::time::Interval,
    state: AppState,
    session_id: String,
    done: bool,
}

impl Feed {
    async fn next(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        if !self.first {
            loop {
                tokio::select! {
                    changed = self.rx.changed() => {
                        changed.ok()?;
                        break;
                    }
                    _ = self.recheck.tick() => {
                        if let Err(reason) = still_staff(&self.state, &self.session_id).await {
                            self.done = true;
                            return Some(
                                Event::default()
                                    .event("closed")
                                    .data(format!("{{\"reason\":\"{reason}\"}}")),
                            );
                        }
                    }
                }
            }
        }
        self.first = false;
        let dashboard = self.rx.borrow_and_update().clone();
        Some(
            Event::default()
                .event("dashboard")
                .json_data(&*dashboard)
                .unwrap_or_else(|_| Event::default().event("error")),
        )
    }
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
