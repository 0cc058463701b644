//! `GET /api/v1/rooms` and `POST /api/v1/rooms/{id}/join`.

use super::extract::{ApiPath, Authenticated, ClientIp};
use super::{ApiError, AppState, ErrorBody};
use crate::directory::SeatRefusal;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use renetcode::ConnectToken;
use std::time::{SystemTime, UNIX_EPOCH};
use vitrine_shared::api::{JoinTicket, RoomInfo, RoomList};
use vitrine_shared::{PROTOCOL_ID, RoomId, TokenUserData};

/// List the rooms with their occupancy.
#[utoipa::path(
    get,
    path = "/api/v1/rooms",
    tag = "rooms",
    responses((status = 200, description = "All rooms", body = RoomList))
)]
pub async fn list_rooms(State(state): State<AppState>) -> Json<RoomList> {
    let rooms = state
        .directory
        .list()
        .into_iter()
        .map(|r| RoomInfo {
            id: r.id.to_string(),
            name: r.name,
            occupancy: r.occupancy,
            capacity: r.capacity,
        })
        .collect();
    Json(RoomList { rooms })
}

/// Hold a seat in a room and get a connect token for its game server.
#[utoipa::path(
    post,
    path = "/api/v1/rooms/{id}/join",
    tag = "rooms",
    params(("id" = String, Path, description = "Room id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Seat held; connect within the token's lifetime", body = JoinTicket),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Banned by a moderator", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
        (status = 409, description = "Room full", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    )
)]
pub async fn join_room(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<String>,
    who: Authenticated,
) -> Result<Json<JoinTicket>, ApiError> {
    state.rate_limit(ip)?;
    // A ban answers before a malformed room id, as it always has.
    refuse_banned(&state, &who)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "room_not_found", "no such room");
    let room = RoomId::new(id).map_err(|_| not_found())?;
    ticket(&state, &who, room).map(Json)
}

fn refuse_banned(state: &AppState, who: &Authenticated) -> Result<(), ApiError> {
    if state.moderation.is_banned(who.account.id) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "banned",
            "a moderator banned this account from the rooms",
        ));
    }
    Ok(())
}

/// Every check a join makes (a ban, a room that exists and has a seat),
/// then the seat held and the connect token: shared by joining a room and
/// following a friend into theirs.
pub(super) fn ticket(
    state: &AppState,
    who: &Authenticated,
    room: RoomId,
) -> Result<JoinTicket, ApiError> {
    refuse_banned(state, who)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "room_not_found", "no such room");
    state
        .directory
        .hold_seat(&room, who.account.id, state.connect_token_ttl)
        .map_err(|refusal| match refusal {
            SeatRefusal::UnknownRoom => not_found(),
            SeatRefusal::Full { capacity } => ApiError::new(
                StatusCode::CONFLICT,
                "room_full",
                format!("the room is full ({capacity} of {capacity}); try another room"),
            ),
        })?;

    let user_data = TokenUserData {
        account: who.account.id,
        role: who.account.role,
        room: room.clone(),
        name: who.account.name.clone(),
    }
    .to_bytes()
    .map_err(|e| ApiError::internal("user data", e))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // A fresh netcode client id per join: the account is in the user data.
    let client_id: u64 = rand::rng().random();
    let token = ConnectToken::generate(
        now,
        PROTOCOL_ID,
        state.connect_token_ttl.as_secs(),
        client_id,
        state.client_timeout_secs,
        vec![state.game_addr],
        Some(&user_data),
        &state.keys.netcode,
    )
    .map_err(|e| ApiError::internal("connect token", e))?;
    let mut bytes = Vec::with_capacity(2048);
    token
        .write(&mut bytes)
        .map_err(|e| ApiError::internal("connect token", e))?;
    Ok(JoinTicket {
        room: room.to_string(),
        connect_token: STANDARD.encode(bytes),
        server_addr: state.game_addr.to_string(),
        expires_in_secs: state.connect_token_ttl.as_secs(),
        protocol_id: PROTOCOL_ID,
    })
}
