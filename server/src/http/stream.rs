//! The host's video over HTTP: its URLs and state, the host's ingest
//! settings, and the HLS files the relay writes.

use super::extract::{ApiJson, ApiPath, ApiText, Authenticated};
use super::{ApiError, AppState, ErrorBody};
use crate::co_hosts::CoHostError;
use crate::media::PreviewStartError;
use crate::restream::RestreamError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use vitrine_media::preview::PreviewError;
use vitrine_shared::api::{
    CoHostInvited, CoHostList, IngestView, NewCoHost, NewOutlet, OutletList, OutletView, SetStage,
    StageView, StreamView,
};

impl From<CoHostError> for ApiError {
    fn from(e: CoHostError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            CoHostError::NoStage => (StatusCode::NOT_FOUND, "no_stage"),
            CoHostError::Full => (StatusCode::CONFLICT, "co_host_limit"),
            CoHostError::BadName(_) => (StatusCode::BAD_REQUEST, "invalid_name"),
            CoHostError::Unknown => (StatusCode::NOT_FOUND, "co_host_not_found"),
            CoHostError::AlreadyRevoked => (StatusCode::CONFLICT, "already_revoked"),
            CoHostError::NoSuchSeat(_) => (StatusCode::BAD_REQUEST, "invalid_seat"),
            CoHostError::NotLive(_) => (StatusCode::CONFLICT, "not_live"),
            CoHostError::Store(e) => return ApiError::internal("co-hosts", e),
        };
        ApiError::new(status, code, message)
    }
}

impl From<RestreamError> for ApiError {
    fn from(e: RestreamError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            RestreamError::Unavailable => (StatusCode::NOT_FOUND, "no_restream"),
            RestreamError::BadName(_) => (StatusCode::BAD_REQUEST, "invalid_name"),
            RestreamError::BadTarget(_) => (StatusCode::BAD_REQUEST, "invalid_outlet"),
            RestreamError::Full => (StatusCode::CONFLICT, "outlet_limit"),
            RestreamError::Unknown => (StatusCode::NOT_FOUND, "outlet_not_found"),
            RestreamError::Store(e) => return ApiError::internal("restream", e),
        };
        ApiError::new(status, code, message)
    }
}

/// The restream outlets, each with its state (hosts and co-hosts).
#[utoipa::path(
    get,
    path = "/api/v1/stream/outlets",
    tag = "media",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The outlets", body = OutletList),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No restreaming on this server", body = ErrorBody),
    )
)]
pub async fn list_outlets(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<OutletList>, ApiError> {
    who.require_host()?;
    Ok(Json(OutletList {
        outlets: state.outlets.list().await?,
        max: state.outlets.max(),
    }))
}

/// Add a restream outlet (the host only): an RTMP or RTMPS server and its
/// stream key, which is kept sealed and never shown again. The show goes
/// out to it whenever it is live.
#[utoipa::path(
    post,
    path = "/api/v1/stream/outlets",
    tag = "media",
    request_body = NewOutlet,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = OutletView),
        (status = 400, description = "A URL other than rtmp:// or rtmps://, an empty key, a bad name", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not the host", body = ErrorBody),
        (status = 404, description = "No restreaming on this server", body = ErrorBody),
        (status = 409, description = "Five outlets already", body = ErrorBody),
    )
)]
pub async fn add_outlet(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<NewOutlet>,
) -> Result<(StatusCode, Json<OutletView>), ApiError> {
    who.require_lead_host()?;
    let added = state.outlets.add(&who.account, &body).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// Remove a restream outlet (the host only): sending to it stops at once.
#[utoipa::path(
    delete,
    path = "/api/v1/stream/outlets/{id}",
    tag = "media",
    params(("id" = i64, Path, description = "Outlet id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "An id that is no number", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not the host", body = ErrorBody),
        (status = 404, description = "No such outlet, or no restreaming", body = ErrorBody),
    )
)]
pub async fn remove_outlet(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    who.require_lead_host()?;
    state.outlets.remove(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

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

/// The co-hosts on the stage, with where each publishes and the end of
/// their key (hosts and co-hosts).
#[utoipa::path(
    get,
    path = "/api/v1/stream/co-hosts",
    tag = "media",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The co-hosts", body = CoHostList),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No co-host stage on this server", body = ErrorBody),
    )
)]
pub async fn list_co_hosts(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<CoHostList>, ApiError> {
    who.require_host()?;
    Ok(Json(CoHostList {
        co_hosts: state.co_hosts.list().await?,
        max: state.co_hosts.max(),
    }))
}

/// Invite a co-host (the host only): a seat and a new ingest key, which is
/// shown in this answer and never again.
#[utoipa::path(
    post,
    path = "/api/v1/stream/co-hosts",
    tag = "media",
    request_body = NewCoHost,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Invited; the key is in this answer only", body = CoHostInvited),
        (status = 400, description = "A name that is no display name", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not the host", body = ErrorBody),
        (status = 404, description = "No co-host stage on this server", body = ErrorBody),
        (status = 409, description = "Every co-host seat is taken", body = ErrorBody),
    )
)]
pub async fn invite_co_host(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<NewCoHost>,
) -> Result<(StatusCode, Json<CoHostInvited>), ApiError> {
    who.require_lead_host()?;
    let invited = state.co_hosts.invite(&who.account, &body.name).await?;
    Ok((StatusCode::CREATED, Json(invited)))
}

/// Revoke a co-host's key (the host only): their seat is freed and, if
/// they are live, they leave the stage at once.
#[utoipa::path(
    delete,
    path = "/api/v1/stream/co-hosts/{id}",
    tag = "media",
    params(("id" = i64, Path, description = "Co-host id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "An id that is no number", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not the host", body = ErrorBody),
        (status = 404, description = "No such co-host, or no stage", body = ErrorBody),
        (status = 409, description = "Already revoked", body = ErrorBody),
    )
)]
pub async fn revoke_co_host(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    who.require_lead_host()?;
    state.co_hosts.revoke(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The stage: the layout chosen and shown, and who is in which seat.
#[utoipa::path(
    get,
    path = "/api/v1/stream/stage",
    tag = "media",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stage", body = StageView),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No co-host stage on this server", body = ErrorBody),
    )
)]
pub async fn get_stage(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<StageView>, ApiError> {
    who.require_host()?;
    Ok(Json(state.co_hosts.stage()?))
}

/// Switch the stage's layout live, and who is in the big slot (a live
/// seat).
#[utoipa::path(
    put,
    path = "/api/v1/stream/stage",
    tag = "media",
    request_body = SetStage,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stage as it is now", body = StageView),
        (status = 400, description = "No such seat, or no such layout", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No co-host stage on this server", body = ErrorBody),
        (status = 409, description = "Nobody is live in that seat", body = ErrorBody),
    )
)]
pub async fn set_stage(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<SetStage>,
) -> Result<Json<StageView>, ApiError> {
    who.require_host()?;
    Ok(Json(state.co_hosts.set_stage(
        &who.account,
        body.layout,
        body.big,
    )?))
}

/// Preview the stage as viewers get it, in the console's browser (WHEP:
/// the browser's WebRTC offer in, the answer out; no plugin). The video is
/// the relay's own H.264, re-packetized; the sound is re-encoded as Opus.
#[utoipa::path(
    post,
    path = "/api/v1/stream/preview",
    tag = "media",
    request_body(content = String, content_type = "application/sdp", description = "The browser's SDP offer, every ICE candidate in it"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The SDP answer; `Location` names the preview, to close it with DELETE", content_type = "application/sdp", body = String),
        (status = 400, description = "Not an SDP offer, or no video this server sends (H.264 constrained baseline)", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No relay on this server", body = ErrorBody),
        (status = 409, description = "Nobody is live, or four previews are open", body = ErrorBody),
        (status = 413, description = "An offer over the API's 16 KiB body limit", body = ErrorBody),
    )
)]
pub async fn start_preview(
    State(state): State<AppState>,
    who: Authenticated,
    ApiText(offer): ApiText,
) -> Result<Response, ApiError> {
    who.require_staff()?;
    let media = state.media.as_ref().ok_or_else(no_media)?;
    if !media.stage.get().live {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_live",
            "nothing to preview: nobody is live",
        ));
    }
    let previews = media.previews.clone();
    let started = tokio::task::spawn_blocking(move || previews.start(&offer))
        .await
        .map_err(|e| ApiError::internal("preview", e))?;
    let (id, answer) = started.map_err(|e| {
        let message = e.to_string();
        match e {
            PreviewStartError::Full => {
                ApiError::new(StatusCode::CONFLICT, "too_many_previews", message)
            }
            PreviewStartError::Preview(PreviewError::BadOffer(_)) => {
                ApiError::bad_request("invalid_offer", message)
            }
            PreviewStartError::Preview(PreviewError::NoCommonCodec) => {
                ApiError::bad_request("no_common_codec", message)
            }
            PreviewStartError::Preview(other) => ApiError::internal("preview", other),
        }
    })?;
    tracing::info!(by = %who.account.id, preview = id, "preview opened");
    Ok((
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/sdp".to_owned()),
            (header::LOCATION, format!("/api/v1/stream/preview/{id}")),
        ],
        answer,
    )
        .into_response())
}

/// Close a preview (the console does when its page closes or stops it).
#[utoipa::path(
    delete,
    path = "/api/v1/stream/preview/{id}",
    tag = "media",
    params(("id" = u64, Path, description = "Preview id, from `Location`")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Closed"),
        (status = 400, description = "An id that is no number", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such preview, or no relay", body = ErrorBody),
    )
)]
pub async fn stop_preview(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<u64>,
) -> Result<StatusCode, ApiError> {
    who.require_staff()?;
    let media = state.media.as_ref().ok_or_else(no_media)?;
    // Stopping a pipeline blocks: not on the async workers.
    let previews = media.previews.clone();
    let stopped = tokio::task::spawn_blocking(move || previews.stop(id))
        .await
        .map_err(|e| ApiError::internal("preview", e))?;
    if stopped {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "preview_not_found",
            "no such preview",
        ))
    }
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
