//! Extractors whose failures are `ApiError`s: JSON and text bodies, query
//! strings, the caller's IP and the bearer session. axum's own rejections
//! are plain text, which no client generator can read; these answer the
//! documented `ErrorBody` instead.

use super::{ApiError, AppState};
use crate::auth;
use crate::store::{Account, Session};
use axum::extract::rejection::{JsonRejection, QueryRejection, StringRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// `Json<T>` whose rejection is a typed 400 (or 413, 415).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> ApiError {
    let (status, code) = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        }
        JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        }
        JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
        JsonRejection::JsonDataError(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
        _ => (StatusCode::BAD_REQUEST, "bad_request"),
    };
    ApiError::new(status, code, rejection.body_text())
}

/// `String` body (such as a TOML file) whose rejection is a typed 400 or 413.
pub struct ApiText(pub String);

impl<S: Send + Sync> FromRequest<S> for ApiText {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        String::from_request(req, state)
            .await
            .map(ApiText)
            .map_err(|rejection: StringRejection| {
                let (status, code) = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
                } else {
                    (StatusCode::BAD_REQUEST, "bad_request")
                };
                ApiError::new(status, code, rejection.body_text())
            })
    }
}

/// `Query<T>` whose rejection (a missing or malformed parameter) is a typed
/// 400 `invalid_request`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection: QueryRejection| {
                ApiError::bad_request("invalid_request", rejection.body_text())
            })
    }
}

/// `Path<T>` whose rejection (a segment that is not valid UTF-8 once
/// decoded) is a typed 400 `invalid_path`.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|rejection| ApiError::bad_request("invalid_path", rejection.body_text()))
    }
}

/// The peer's IP, or loopback when there is no socket (in-process tests).
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        Ok(ClientIp(ip))
    }
}

/// A caller with a live session, from `Authorization: Bearer …`.
pub struct Authenticated {
    pub account: Account,
    pub session: Session,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized("missing_token", "sign in first: no bearer token")
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("invalid_token", "expected 'Bearer <token>'"))?;
        let who = authenticate(state, token).await?;
        // Reads are free; every change pays from the account's bucket.
        if !matches!(
            parts.method,
            axum::http::Method::GET | axum::http::Method::HEAD
        ) {
            state.account_rate_limit(who.account.id)?;
        }
        Ok(who)
    }
}

/// A public read that says more to a signed-in caller: no token is `None`;
/// a token given must be good.
impl axum::extract::OptionalFromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        if parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .is_none()
        {
            return Ok(None);
        }
        <Self as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

impl Authenticated {
    /// Hosts and co-hosts only: 403 `forbidden` for anyone else.
    pub fn require_host(&self) -> Result<(), ApiError> {
        if self.account.role.runs_shows() {
            Ok(())
        } else {
            Err(forbidden("hosts and co-hosts"))
        }
    }

    /// The host only (not co-host accounts): who is on the stage.
    pub fn require_lead_host(&self) -> Result<(), ApiError> {
        if self.account.role == vitrine_shared::Role::Host {
            Ok(())
        } else {
            Err(forbidden("hosts"))
        }
    }

    /// Hosts, co-hosts and moderators only: 403 `forbidden` for shoppers.
    pub fn require_staff(&self) -> Result<(), ApiError> {
        if self.account.role.is_staff() {
            Ok(())
        } else {
            Err(forbidden("hosts, co-hosts and moderators"))
        }
    }
}

fn forbidden(who: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "forbidden",
        format!("only {who} may do this"),
    )
}

/// Checks a bearer token (from a header, or a query parameter where a
/// browser cannot send headers) against its signature, expiry and session.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Authenticated, ApiError> {
    let claims = auth::verify(&state.keys.session, token.trim(), state.clock.now_ms()).map_err(
        |e| match e {
            auth::TokenError::Expired => {
                ApiError::unauthorized("expired_token", "session expired; sign in again")
            }
            _ => ApiError::unauthorized("invalid_token", "invalid bearer token"),
        },
    )?;
    let (session, account) = state
        .store
        .live_session(&claims.session_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("expired_token", "session ended; sign in again"))?;
    Ok(Authenticated { account, session })
}
