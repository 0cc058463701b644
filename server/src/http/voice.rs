//! Voice-mutes over HTTP, for hosts, co-hosts and moderators: the same
//! terms as chat mutes (`moderation.rs`), on the shopper's voice.
//! `crate::moderation` decides and records; these handlers translate.

use super::extract::{ApiJson, ApiPath, Authenticated};
use super::{ApiError, AppState, ErrorBody};
use crate::moderation::ModerationError;
use crate::views::mute_view;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use std::time::Duration;
use vitrine_shared::AccountId;
use vitrine_shared::api::{MuteList, MuteRequest, MuteView};

fn account_id(raw: &str, or: ModerationError) -> Result<AccountId, ApiError> {
    raw.parse().map(AccountId).map_err(|_| or.into())
}

/// Running voice-mutes.
#[utoipa::path(
    get,
    path = "/api/v1/moderation/voice-mutes",
    tag = "moderation",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Running voice-mutes, soonest to end first", body = MuteList),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
pub async fn list_voice_mutes(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<MuteList>, ApiError> {
    who.require_staff()?;
    let mutes = state
        .moderation
        .voice_mutes()
        .into_iter()
        .map(mute_view)
        .collect();
    Ok(Json(MuteList { mutes }))
}

/// Voice-mute a shopper for 1 s to a day: its voice is forwarded to no one
/// until then (it is told, and its frames are counted as `voice_muted`).
#[utoipa::path(
    put,
    path = "/api/v1/moderation/voice-mutes/{id}",
    tag = "moderation",
    params(("id" = u64, Path, description = "Account id")),
    request_body = MuteRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Voice-muted", body = MuteView),
        (status = 400, description = "Duration or reason out of range", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff, or the account is staff", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    )
)]
pub async fn voice_mute(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MuteRequest>,
) -> Result<Json<MuteView>, ApiError> {
    who.require_staff()?;
    let account = account_id(&id, ModerationError::UnknownAccount)?;
    let target = state.moderation.target(account).await?;
    let mute = state
        .moderation
        .voice_mute(
            &who.account,
            &target,
            Duration::from_secs(body.seconds),
            &body.reason.unwrap_or_default(),
        )
        .await?;
    Ok(Json(mute_view(mute)))
}

/// Lift a voice-mute early.
#[utoipa::path(
    delete,
    path = "/api/v1/moderation/voice-mutes/{id}",
    tag = "moderation",
    params(("id" = u64, Path, description = "Account id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Voice-unmuted"),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "Not voice-muted", body = ErrorBody),
    )
)]
pub async fn voice_unmute(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    who.require_staff()?;
    let account = account_id(&id, ModerationError::NotMuted)?;
    state.moderation.voice_unmute(&who.account, account).await?;
    Ok(StatusCode::NO_CONTENT)
}
