//! The host's video over HTTP: its URLs and state, the host's ingest
//! settings, and the HLS files the relay writes.

use super::extract::Authenticated;
use super::{ApiError, AppState, ErrorBody};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use vitrine_shared::api::{IngestView, StreamView};

fn no_media() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_media",
        "this server relays no video",
    )
}

/// The stage's stream: SRT and HLS URLs and whether the host is live.
#[utoipa::path(
    get,
    path = "/api/v1/stream",
    tag = "media",
    responses(
        (status = 200, description = "The stream", body = StreamView),
        (status = 404, description = "No relay on this server", body = ErrorBody),
    )
)]
pub async fn get_stream(State(state): State<AppState>) -> Result<Json<StreamView>, ApiError> {
    let media = state.media.as_ref().ok_or_else(no_media)?;
    let net = media.stage.get();
    Ok(Json(StreamView {
        srt: net.srt,
        hls: net.hls,
        live: net.live,
    }))
}

/// Where the host publishes, with the stream key (hosts and co-hosts).
#[utoipa::path(
    get,
    path = "/api/v1/stream/ingest",
    tag = "media",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Ingest URLs and the key", body = IngestView),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No relay on this server", body = ErrorBody),
    )
)]
pub async fn get_ingest(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<IngestView>, ApiError> {
    who.require_host()?;
    let media = state.media.as_ref().ok_or_else(no_media)?;
    Ok(Json(IngestView {
        srt_url: media.ingest_url.clone(),
        rtmp_url: media.rtmp_url.clone(),
        stream_key: media.key.as_str().to_owned(),
        live: media.stage.get().live,
    }))
}

/// The content type for an HLS file name, or `None` for any other name.
/// Only `[A-Za-z0-9_-]+.(m3u8|ts)`: no dots, slashes or `..` can reach the
/// file system.
pub(super) fn hls_content_type(name: &str) -> Option<&'static str> {
    let (stem, ext) = name.rsplit_once('.')?;
    let plain = !stem.is_empty()
        && stem.len() <= 64
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plain {
        return None;
    }
    match ext {
        "m3u8" => Some("application/vnd.apple.mpegurl"),
        "ts" => Some("video/mp2t"),
        _ => None,
    }
}

/// `GET /hls/{file}`: the playlist and segments.
pub async fn hls_file(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let Some(dir) = state.media.as_ref().and_then(|m| m.hls_dir.as_ref()) else {
        return no_media().into_response();
    };
    let Some(content_type) = hls_content_type(&name) else {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file").into_response();
    };
    match tokio::fs::read(dir.join(&name)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type),
                // The playlist changes every second; segments never do.
                (
                    header::CACHE_CONTROL,
                    if content_type.ends_with("mpegurl") {
                        "no-cache"
                    } else {
                        "max-age=60"
                    },
                ),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::hls_content_type;

    #[test]
    fn only_plain_hls_names_pass() {
        assert_eq!(
            hls_content_type("live.m3u8"),
            Some("application/vnd.apple.mpegurl")
        );
        assert_eq!(hls_content_type("segment00001.ts"), Some("video/mp2t"));
        for bad in [
            "../stream.key",
            "..%2Fstream.key",
            "stream.key",
            ".ts",
            "a.b.ts",
            "/etc/passwd",
            "x/../../y.ts",
            "live.m3u8\0",
            "",
        ] {
            assert_eq!(hls_content_type(bad), None, "{bad:?}");
        }
    }
}
