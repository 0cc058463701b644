//! Health, metrics, the OpenAPI document, and response counting.

use super::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Liveness.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The server is up", body = String, content_type = "text/plain"))
)]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Metrics in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// This API's OpenAPI 3 document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "OpenAPI 3 document", body = Object))
)]
pub async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    Json(state.openapi.get().cloned())
}

pub async fn count_responses(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    state.metrics.http_response(response.status().as_u16());
    // Refusals (4xx) are counted by code and summed up in the log at most
    // every few seconds: a flood of them writes a line, not a line each.
    let mut summary = state
        .http_refusals
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if response.status().is_client_error() {
        let code = response
            .extensions()
            .get::<super::error::Refusal>()
            .map_or("other", |r| r.0);
        state.metrics.http_refused(code);
        summary.refused(code, 1);
    }
    summary.flush(std::time::Instant::now());
    drop(summary);
    response
}
