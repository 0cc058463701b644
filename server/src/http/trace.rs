//! A span around each request: method and matched route when it arrives,
//! status and latency when it is answered, then an `answered` event so the
//! log has one line a request.

use crate::telemetry::HTTP_REQUEST;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;

/// The route of a request no route matched: its path is the client's to
/// choose, so it never goes into the log.
pub const UNMATCHED: &str = "(unmatched)";

pub async fn trace_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    // The route's template (`/api/v1/rooms/{id}/join`), never the raw path:
    // one series per route for a collector, and no ids or tokens in the log.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let span = tracing::info_span!(
        HTTP_REQUEST,
        method = %request.method(),
        route = route.as_deref().unwrap_or(UNMATCHED),
        status = Empty,
        latency_ms = Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("status", status.as_u16());
    span.record("latency_ms", started.elapsed().as_secs_f64() * 1000.0);
    let _entered = span.enter();
    if status.is_server_error() {
        tracing::warn!("answered");
    } else if status.is_client_error() {
        // Refused requests (a flood past the rate limit, of 404s, 401s)
        // are counted in `/metrics` and summed up every few seconds
        // (`ops::count_responses`), not a line each.
        tracing::debug!("answered");
    } else {
        tracing::info!("answered");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::capture::Capture;
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;
    use tracing::instrument::WithSubscriber;

    fn app() -> Router {
        Router::new()
            .route("/rooms/{id}", get(|| async { "a room" }))
            .route(
                "/broken",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "no") }),
            )
            .layer(axum::middleware::from_fn(trace_request))
    }

    /// Sends one GET through the app with `capture` as the subscriber.
    async fn get_with(capture: &Capture, uri: &str) -> StatusCode {
        let request = axum::http::Request::builder()
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let response = app()
            .oneshot(request)
            .with_subscriber(capture.dispatch())
            .await
            .unwrap();
        response.status()
    }

    #[tokio::test]
    async fn each_request_has_a_span_with_method_route_status_and_latency() {
        let capture = Capture::default();
        assert_eq!(get_with(&capture, "/rooms/lobby").await, StatusCode::OK);
        assert_eq!(
            get_with(&capture, "/broken").await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            get_with(&capture, "/no/such/thing?token=secret").await,
            StatusCode::NOT_FOUND
        );

        let spans = capture.spans(HTTP_REQUEST);
        assert_eq!(spans.len(), 3, "{spans:?}");
        let fields = |i: usize, name: &str| spans[i].field(name).map(str::to_owned);
        assert_eq!(fields(0, "method").as_deref(), Some("GET"));
        // The template, not the path: no room id in the route.
        assert_eq!(fields(0, "route").as_deref(), Some("/rooms/{id}"));
        assert_eq!(fields(0, "status").as_deref(), Some("200"));
        let latency: f64 = fields(0, "latency_ms").unwrap().parse().unwrap();
        assert!(latency >= 0.0);
        assert_eq!(fields(1, "route").as_deref(), Some("/broken"));
        assert_eq!(fields(1, "status").as_deref(), Some("500"));
        assert_eq!(fields(2, "route").as_deref(), Some(UNMATCHED));
        assert_eq!(fields(2, "status").as_deref(), Some("404"));
        assert!(spans.iter().all(|s| s.level == tracing::Level::INFO));

        // One `answered` event a request; a server error is a warning, a
        // refused request only for debugging.
        let answered: Vec<_> = capture
            .events()
            .into_iter()
            .filter(|e| e.field("message") == Some("answered"))
            .map(|e| e.level)
            .collect();
        assert_eq!(
            answered,
            [
                tracing::Level::INFO,
                tracing::Level::WARN,
                tracing::Level::DEBUG
            ]
        );
        // Nothing the client chose beyond the method reaches the log.
        let everything = format!("{spans:?}{:?}", capture.events());
        assert!(!everything.contains("secret") && !everything.contains("lobby"));
    }
}
