//! Moderation over HTTP, for hosts, co-hosts and moderators: a room's recent
//! chat and deleting a line, mutes, kicks, bans, the keyword filter and the
//! log. `crate::moderation` decides and records; these handlers translate.

use super::extract::{ApiJson, ApiPath, ApiQuery, Authenticated};
use super::{ApiError, AppState, ErrorBody};
use crate::moderation::{MAX_LOG_PAGE, ModerationError};
use crate::views::{ban_view, log_view, mod_chat_line, mute_view};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use std::time::Duration;
use utoipa::IntoParams;
use vitrine_shared::api::{
    BanList, BanRequest, BanView, FilterRequest, FilterView, KickRequest, ModChatView, ModLogView,
    MuteList, MuteRequest, MuteView,
};
use vitrine_shared::{AccountId, RoomId};

/// How the filter matches, as `GET /api/v1/moderation/filter` says.
const MATCHING: &str = "whole_words";
/// Log entries in a page when `limit` is absent.
const DEFAULT_LOG_PAGE: usize = 100;

impl From<ModerationError> for ApiError {
    fn from(e: ModerationError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            ModerationError::UnknownRoom => (StatusCode::NOT_FOUND, "room_not_found"),
            ModerationError::UnknownLine(_) => (StatusCode::NOT_FOUND, "chat_line_not_found"),
            ModerationError::UnknownAccount => (StatusCode::NOT_FOUND, "account_not_found"),
            ModerationError::StaffTarget => (StatusCode::FORBIDDEN, "staff_target"),
            ModerationError::NotMuted => (StatusCode::NOT_FOUND, "not_muted"),
            ModerationError::NotBanned => (StatusCode::NOT_FOUND, "not_banned"),
            ModerationError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ModerationError::Filter(_) => (StatusCode::BAD_REQUEST, "invalid_filter"),
            ModerationError::Store(e) => return ApiError::internal("moderation", e),
        };
        ApiError::new(status, code, message)
    }
}

fn room_id(state: &AppState, raw: String) -> Result<RoomId, ApiError> {
    RoomId::new(raw)
        .ok()
        .filter(|room| state.directory.get(room).is_some())
        .ok_or_else(|| ModerationError::UnknownRoom.into())
}

fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    raw.parse()
        .map(AccountId)
        .map_err(|_| ModerationError::UnknownAccount.into())
}

fn reason(given: Option<String>) -> String {
    given.unwrap_or_default()
}

/// A room's recent chat (up to 200 lines, oldest first) with each line's
/// number and author, to pick lines to delete.
#[utoipa::path(
    get,
    path = "/api/v1/moderation/rooms/{id}/chat",
    tag = "moderation",
    params(("id" = String, Path, description = "Room id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The recent lines", body = ModChatView),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
    )
)]
pub async fn room_chat(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ModChatView>, ApiError> {
    who.require_staff()?;
    let room = room_id(&state, id)?;
    let lines = state
        .moderation
        .recent_chat(&room)
        .into_iter()
        .map(mod_chat_line)
        .collect();
    Ok(Json(ModChatView {
        room: room.to_string(),
        lines,
    }))
}

/// Delete a chat line: it leaves the room's history and every member's
/// screen.
#[utoipa::path(
    delete,
    path = "/api/v1/moderation/rooms/{id}/chat/{seq}",
    tag = "moderation",
    params(
        ("id" = String, Path, description = "Room id"),
        ("seq" = u64, Path, description = "The line's number in the room"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such room, or no such recent line", body = ErrorBody),
    )
)]
pub async fn delete_chat_line(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath((id, seq)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    who.require_staff()?;
    let room = room_id(&state, id)?;
    let seq: u64 = seq
        .parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "chat_line_not_found", "no such line"))?;
    state
        .moderation
        .delete_line(&who.account, &room, seq)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Running mutes.
#[utoipa::path(
    get,
    path = "/api/v1/moderation/mutes",
    tag = "moderation",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Running mutes, soonest to end first", body = MuteList),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
pub async fn list_mutes(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<MuteList>, ApiError> {
    who.require_staff()?;
    let mutes = state
        .moderation
        .mutes()
        .into_iter()
        .map(mute_view)
        .collect();
    Ok(Json(MuteList { mutes }))
}

/// Mute a shopper for 1 s to a day: its chat lines and questions are
/// refused (`muted`, with the time left) until then.
#[utoipa::path(
    put,
    path = "/api/v1/moderation/mutes/{id}",
    tag = "moderation",
    params(("id" = u64, Path, description = "Account id")),
    request_body = MuteRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Muted", body = MuteView),
        (status = 400, description = "Duration or reason out of range", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff, or the account is staff", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    )
)]
pub async fn mute(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MuteRequest>,
) -> Result<Json<MuteView>, ApiError> {
    who.require_staff()?;
    let target = state.moderation.target(account_id(&id)?).await?;
    let mute = state
        .moderation
        .mute(
            &who.account,
            &target,
            Duration::from_secs(body.seconds),
            &reason(body.reason),
        )
        .await?;
    Ok(Json(mute_view(mute)))
}

/// Lift a mute early.
#[utoipa::path(
    delete,
    path = "/api/v1/moderation/mutes/{id}",
    tag = "moderation",
    params(("id" = u64, Path, description = "Account id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Unmuted"),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "Not muted", body = ErrorBody),
    )
)]
pub async fn unmute(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    who.require_staff()?;
    let account = account_id(&id).map_err(|_| ApiError::from(ModerationError::NotMuted))?;
    state.moderation.unmute(&who.account, account).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Kick a shopper: each of its connections is told (`Removed`, not banned)
/// and closed. It may join again.
#[utoipa::path(
    post,
    path = "/api/v1/moderation/kicks",
    tag = "moderation",
    request_body = KickRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Kicked (from every room it is in)"),
        (status = 400, description = "Reason too long", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff, or the account is staff", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    )
)]
pub async fn kick(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<KickRequest>,
) -> Result<StatusCode, ApiError> {
    who.require_staff()?;
    let target = state.moderation.target(AccountId(body.account_id)).await?;
    state
        .moderation
        .kick(&who.account, &target, &reason(body.reason))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Bans in force.
#[utoipa::path(
    get,
    path = "/api/v1/moderation/bans",
    tag = "moderation",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Bans, newest first", body = BanList),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
pub async fn list_bans(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<BanList>, ApiError> {
    who.require_staff()?;
    let bans = state.moderation.bans().into_iter().map(ban_view).collect();
    Ok(Json(BanList { bans }))
}

/// Ban a shopper: removed from the rooms now (`Removed`, banned), and
/// joining answers 403 `banned` until it is unbanned.
#[utoipa::path(
    put,
    path = "/api/v1/moderation/bans/{id}",
    tag = "moderation",
    params(("id" = u64, Path, description = "Account id")),
    request_body = BanRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Banned", body = BanView),
        (status = 400, description = "Reason too long", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff, or the account is staff", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    )
)]
pub async fn ban(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<BanRequest>,
) -> Result<Json<BanView>, ApiError> {
    who.require_staff()?;
    let target = state.moderation.target(account_id(&id)?).await?;
    let ban = state
        .moderation
        .ban(&who.account, &target, &reason(body.reason))
        .await?;
    Ok(Json(ban_view(ban)))
}

/// Lift a ban.
#[utoipa::path(
    delete,
    path = "/api/v1/moderation/bans/{id}",
    tag = "moderation",
    params(("id" = u64, Path, description = "Account id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Unbanned"),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "Not banned", body = ErrorBody),
    )
)]
pub async fn unban(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    who.require_staff()?;
    let account = account_id(&id).map_err(|_| ApiError::from(ModerationError::NotBanned))?;
    state.moderation.unban(&who.account, account).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The blocked terms.
#[utoipa::path(
    get,
    path = "/api/v1/moderation/filter",
    tag = "moderation",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The list", body = FilterView),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
pub async fn get_filter(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<FilterView>, ApiError> {
    who.require_staff()?;
    Ok(Json(FilterView {
        terms: state.moderation.filter_terms(),
        matching: MATCHING.to_owned(),
    }))
}

/// Replace the blocked terms: up to 500, each 1 to 40 characters. A chat
/// line or question holding one (any case, as a whole word) is refused
/// (`filtered`).
#[utoipa::path(
    put,
    path = "/api/v1/moderation/filter",
    tag = "moderation",
    request_body = FilterRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The list as stored: trimmed, lower case, without repeats", body = FilterView),
        (status = 400, description = "Too many terms, or an empty or too long one", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
pub async fn set_filter(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<FilterRequest>,
) -> Result<Json<FilterView>, ApiError> {
    who.require_staff()?;
    let terms = state
        .moderation
        .set_filter(&who.account, &body.terms)
        .await?;
    Ok(Json(FilterView {
        terms,
        matching: MATCHING.to_owned(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// 1 to 500 entries; 100 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// Only entries older than this `seq` (the last one of the page before);
    /// entries are numbered from 1.
    #[param(minimum = 1)]
    before: Option<i64>,
}

/// Every moderation action, newest first: who did what, to whom, when.
#[utoipa::path(
    get,
    path = "/api/v1/moderation/log",
    tag = "moderation",
    params(LogQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the log", body = ModLogView),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
pub async fn log(
    State(state): State<AppState>,
    who: Authenticated,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> Result<Json<ModLogView>, ApiError> {
    who.require_staff()?;
    // The document says a cursor is a `seq`, which starts at 1.
    if query.before.is_some_and(|before| before < 1) {
        return Err(ApiError::bad_request(
            "invalid_request",
            "before: a seq, 1 or more",
        ));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LOG_PAGE);
    if !(1..=MAX_LOG_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("limit: 1 to {MAX_LOG_PAGE}"),
        ));
    }
    let entries = state.moderation.log(limit, query.before).await?;
    Ok(Json(ModLogView {
        entries: entries.into_iter().map(log_view).collect(),
    }))
}
