//! Friends over HTTP: your code, requests by code, accept and decline,
//! remove, block and unblock, the list with presence, and "join friend"
//! (a connect token for the friend's room, through every check a join
//! makes). `crate::friends` decides and records; these handlers translate.

use super::extract::{ApiJson, ApiPath, Authenticated, ClientIp};
use super::{ApiError, AppState, ErrorBody};
use crate::friends::{Friend, FriendError, Request, Sent};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use vitrine_shared::api::JoinTicket;
use vitrine_shared::friends::{
    BlockList, BlockedView, FriendCode, FriendCodeView, FriendList, FriendRequestSent,
    FriendRequestView, FriendRequests, FriendView, PresenceView, SendFriendRequest,
};
use vitrine_shared::{AccountId, RoomId};

impl From<FriendError> for ApiError {
    fn from(e: FriendError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            FriendError::BadCode(_) => (StatusCode::BAD_REQUEST, "invalid_friend_code"),
            FriendError::ToSelf => (StatusCode::BAD_REQUEST, "friend_self"),
            FriendError::UnknownCode => (StatusCode::NOT_FOUND, "friend_code_unknown"),
            FriendError::UnknownAccount => (StatusCode::NOT_FOUND, "account_not_found"),
            FriendError::AlreadyFriends => (StatusCode::CONFLICT, "already_friends"),
            FriendError::AlreadyPending => (StatusCode::CONFLICT, "request_pending"),
            FriendError::YouBlocked => (StatusCode::CONFLICT, "you_blocked"),
            FriendError::TooManyFriends => (StatusCode::CONFLICT, "too_many_friends"),
            FriendError::TheyHaveTooMany => (StatusCode::CONFLICT, "they_have_too_many_friends"),
            FriendError::RateLimited(wait) => {
                let mut e = ApiError::rate_limited(wait);
                e.message = message;
                return e;
            }
            FriendError::NoSuchRequest => (StatusCode::NOT_FOUND, "request_not_found"),
            FriendError::TheirRequestsFull => (StatusCode::CONFLICT, "they_have_too_many_requests"),
            FriendError::NotFriends => (StatusCode::NOT_FOUND, "not_friends"),
            FriendError::AlreadyBlocked => (StatusCode::CONFLICT, "already_blocked"),
            FriendError::NotBlocked => (StatusCode::NOT_FOUND, "not_blocked"),
            FriendError::FriendOffline => (StatusCode::CONFLICT, "friend_offline"),
            FriendError::Store(e) => return ApiError::internal("friends", e),
        };
        ApiError::new(status, code, message)
    }
}

fn code_view(code: FriendCode) -> FriendCodeView {
    FriendCodeView {
        code: code.to_string(),
        link: code.link(),
    }
}

/// The title of the show live now (shows play in every room).
async fn live_show(state: &AppState) -> Option<String> {
    let show = state.engagement.current_show().await.ok().flatten()?;
    (show.live_at_ms.is_some() && show.ended_at_ms.is_none()).then_some(show.title)
}

fn presence_view(
    state: &AppState,
    room: Option<RoomId>,
    show: &Option<String>,
) -> Option<PresenceView> {
    let room = room?;
    let room_name = state
        .directory
        .get(&room)
        .map(|r| r.name)
        .unwrap_or_default();
    Some(PresenceView {
        room: room.to_string(),
        room_name,
        show: show.clone(),
    })
}

fn friend_view(state: &AppState, friend: Friend, show: &Option<String>) -> FriendView {
    let presence = presence_view(state, friend.room, show);
    FriendView {
        account: friend.account.0,
        name: friend.name.to_string(),
        online: presence.is_some(),
        presence,
    }
}

fn request_view(request: Request) -> FriendRequestView {
    FriendRequestView {
        account: request.account.0,
        name: request.name.to_string(),
        sent_at_ms: request.sent_at_ms,
    }
}

/// Your friends, by name, each with where they are: online means in a room
/// on this server.
#[utoipa::path(
    get,
    path = "/api/v1/friends",
    tag = "friends",
    security(("bearer" = [])),
    responses((status = 200, description = "Your friends with their presence", body = FriendList))
)]
pub async fn list_friends(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<FriendList>, ApiError> {
    let show = live_show(&state).await;
    let friends = state
        .friends
        .list(who.account.id)
        .into_iter()
        .map(|f| friend_view(&state, f, &show))
        .collect();
    Ok(Json(FriendList { friends }))
}

/// Your friend code and link (made on first ask; guests have one too).
#[utoipa::path(
    get,
    path = "/api/v1/friends/code",
    tag = "friends",
    security(("bearer" = [])),
    responses((status = 200, description = "Your code and link", body = FriendCodeView))
)]
pub async fn my_code(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<FriendCodeView>, ApiError> {
    Ok(Json(code_view(state.friends.code(who.account.id).await?)))
}

/// Replace your friend code: the old code and link stop working at once
/// (requests already sent stay).
#[utoipa::path(
    post,
    path = "/api/v1/friends/code/rotate",
    tag = "friends",
    security(("bearer" = [])),
    responses((status = 200, description = "Your new code and link", body = FriendCodeView))
)]
pub async fn rotate_code(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<FriendCodeView>, ApiError> {
    Ok(Json(code_view(state.friends.rotate(who.account.id).await?)))
}

/// Ask the owner of a friend code (or link) to be your friend. If they had
/// already asked you, you are friends at once (`status: friends`). An
/// account that blocked you answers as an unknown code would. Each account
/// may send 20 requests at once, then 20 an hour (malformed codes aside).
#[utoipa::path(
    post,
    path = "/api/v1/friends/requests",
    tag = "friends",
    request_body = SendFriendRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Asked (`pending`), or friends now (`friends`)", body = FriendRequestSent),
        (status = 400, description = "Not a friend code or link (`invalid_friend_code`), or your own code (`friend_self`)", body = ErrorBody),
        (status = 404, description = "No account has this code, or it was replaced (`friend_code_unknown`)", body = ErrorBody),
        (status = 409, description = "Already friends (`already_friends`), already asked (`request_pending`), you blocked them (`you_blocked`), either side has 500 friends (`too_many_friends`, `they_have_too_many_friends`), or they have 100 requests waiting (`they_have_too_many_requests`)", body = ErrorBody),
        (status = 429, description = "Too many requests from this account (`rate_limited`); `Retry-After` says when", body = ErrorBody),
    )
)]
pub async fn send_request(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<SendFriendRequest>,
) -> Result<Json<FriendRequestSent>, ApiError> {
    let sent = state.friends.send_request(&who.account, &body.code).await?;
    let (account, name, status) = match sent {
        Sent::Pending { to, name } => (to, name, "pending"),
        Sent::Friends { with, name } => (with, name, "friends"),
    };
    Ok(Json(FriendRequestSent {
        account: account.0,
        name: name.to_string(),
        status: status.to_owned(),
    }))
}

/// Pending requests: to you (`incoming`) and from you (`outgoing`).
#[utoipa::path(
    get,
    path = "/api/v1/friends/requests",
    tag = "friends",
    security(("bearer" = [])),
    responses((status = 200, description = "Pending requests, newest first", body = FriendRequests))
)]
pub async fn list_requests(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<FriendRequests>, ApiError> {
    let (incoming, outgoing) = state.friends.requests(who.account.id).await?;
    Ok(Json(FriendRequests {
        incoming: incoming.into_iter().map(request_view).collect(),
        outgoing: outgoing.into_iter().map(request_view).collect(),
    }))
}

/// Accept a request to you: you are friends, and both of you hear of it in
/// the room.
#[utoipa::path(
    post,
    path = "/api/v1/friends/requests/{account}/accept",
    tag = "friends",
    params(("account" = u64, Path, description = "The account that asked")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Friends now", body = FriendView),
        (status = 404, description = "No pending request from that account (`request_not_found`)", body = ErrorBody),
        (status = 409, description = "Either side has 500 friends (`too_many_friends`, `they_have_too_many_friends`)", body = ErrorBody),
    )
)]
pub async fn accept_request(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(account): ApiPath<u64>,
) -> Result<Json<FriendView>, ApiError> {
    let friend = state
        .friends
        .accept(&who.account, AccountId(account))
        .await?;
    let show = live_show(&state).await;
    Ok(Json(friend_view(&state, friend, &show)))
}

/// Decline a request to you. The other is not told; it leaves their list.
#[utoipa::path(
    post,
    path = "/api/v1/friends/requests/{account}/decline",
    tag = "friends",
    params(("account" = u64, Path, description = "The account that asked")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Declined"),
        (status = 404, description = "No pending request from that account (`request_not_found`)", body = ErrorBody),
    )
)]
pub async fn decline_request(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(account): ApiPath<u64>,
) -> Result<StatusCode, ApiError> {
    state
        .friends
        .decline(who.account.id, AccountId(account))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a friend (either side may); both hear of it in the room.
#[utoipa::path(
    delete,
    path = "/api/v1/friends/{account}",
    tag = "friends",
    params(("account" = u64, Path, description = "The friend's account")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "Not friends (`not_friends`)", body = ErrorBody),
    )
)]
pub async fn remove_friend(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(account): ApiPath<u64>,
) -> Result<StatusCode, ApiError> {
    state
        .friends
        .remove(who.account.id, AccountId(account))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// "Join friend": a connect token for the room your friend is in, after
/// every check `POST /api/v1/rooms/{id}/join` makes (a ban, a full room).
/// Not friends (a block ends a friendship, and is not revealed) or a friend
/// in no room: refused.
#[utoipa::path(
    post,
    path = "/api/v1/friends/{account}/join",
    tag = "friends",
    params(("account" = u64, Path, description = "The friend's account")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Seat held in the friend's room; connect within the token's lifetime", body = JoinTicket),
        (status = 403, description = "Banned by a moderator (`banned`)", body = ErrorBody),
        (status = 404, description = "Not friends (`not_friends`), or the room is gone (`room_not_found`)", body = ErrorBody),
        (status = 409, description = "The friend is in no room (`friend_offline`), or their room is full (`room_full`)", body = ErrorBody),
    )
)]
pub async fn join_friend(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    who: Authenticated,
    ApiPath(account): ApiPath<u64>,
) -> Result<Json<JoinTicket>, ApiError> {
    state.rate_limit(ip)?;
    let room = state
        .friends
        .room_to_follow(who.account.id, AccountId(account))?;
    super::rooms::ticket(&state, &who, room).map(Json)
}

/// The accounts you blocked.
#[utoipa::path(
    get,
    path = "/api/v1/friends/blocks",
    tag = "friends",
    security(("bearer" = [])),
    responses((status = 200, description = "Blocked accounts, by name", body = BlockList))
)]
pub async fn list_blocks(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<BlockList>, ApiError> {
    let blocked = state
        .friends
        .blocked(who.account.id)
        .await?
        .into_iter()
        .map(|(account, name)| BlockedView {
            account: account.0,
            name: name.to_string(),
        })
        .collect();
    Ok(Json(BlockList { blocked }))
}

/// Block an account: any friendship or request between you ends, and it
/// can no longer ask, invite, follow or message you. It is not told.
#[utoipa::path(
    post,
    path = "/api/v1/friends/blocks/{account}",
    tag = "friends",
    params(("account" = u64, Path, description = "The account to block")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Blocked"),
        (status = 400, description = "Yourself (`friend_self`)", body = ErrorBody),
        (status = 404, description = "No such account (`account_not_found`)", body = ErrorBody),
        (status = 409, description = "Already blocked (`already_blocked`)", body = ErrorBody),
    )
)]
pub async fn block(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(account): ApiPath<u64>,
) -> Result<StatusCode, ApiError> {
    state
        .friends
        .block(who.account.id, AccountId(account))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unblock an account (you are not friends again; it may ask anew).
#[utoipa::path(
    delete,
    path = "/api/v1/friends/blocks/{account}",
    tag = "friends",
    params(("account" = u64, Path, description = "The blocked account")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Unblocked"),
        (status = 404, description = "Not blocked (`not_blocked`)", body = ErrorBody),
    )
)]
pub async fn unblock(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(account): ApiPath<u64>,
) -> Result<StatusCode, ApiError> {
    state
        .friends
        .unblock(who.account.id, AccountId(account))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
