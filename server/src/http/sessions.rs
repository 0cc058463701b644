//! `POST /api/v1/sessions`: sign in as a guest.

use super::extract::{ApiJson, Authenticated, ClientIp};
use super::{ApiError, AppState, ErrorBody};
use crate::auth;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use vitrine_shared::DisplayName;
use vitrine_shared::api::{CreateSession, SessionCreated};

/// Sign in: as a guest with a display name, or with a username and password.
#[utoipa::path(
    post,
    path = "/api/v1/sessions",
    tag = "sessions",
    request_body = CreateSession,
    responses(
        (status = 201, description = "Signed in", body = SessionCreated),
        (status = 400, description = "Bad body, display name, username or password", body = ErrorBody),
        (status = 401, description = "Unknown username or wrong password", body = ErrorBody),
        (status = 404, description = "No such invite", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`), too many guests made from this network today (`guest_limit`), or the username is locked after repeated failures (`sign_in_locked`; Retry-After says for how long)", body = ErrorBody),
        (status = 503, description = "Too many password checks waiting (`busy`); Retry-After says when to try again", body = ErrorBody),
    )
)]
pub async fn create_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<CreateSession>,
) -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
    state.rate_limit(ip)?;
    let account = match body {
        CreateSession {
            display_name: Some(name),
            username: None,
            password: None,
            invite,
        } => {
            let name = DisplayName::new(name)
                .map_err(|e| ApiError::bad_request("invalid_display_name", e.to_string()))?;
            // A friend's invite: unknown codes are an error, not ignored, so
            // a typo is noticed while the friend can still earn.
            let invited_by = match invite {
                None => None,
                Some(code) => Some(state.store.invite_owner(&code).await?.ok_or_else(|| {
                    ApiError::new(StatusCode::NOT_FOUND, "invite_not_found", "no such invite")
                })?),
            };
            // Guests count by the network they come from (`crate::fair`):
            // the peer address, never a header a client could write.
            let network = crate::fair::network_of(ip);
            state
                .store
                .create_guest_from(
                    &name,
                    invited_by,
                    &network,
                    state.guests_per_network_per_day,
                )
                .await?
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "guest_limit",
                        format!(
                            "this network has made {} guest accounts today; sign in to an \
                             account or try again tomorrow",
                            state.guests_per_network_per_day
                        ),
                    )
                })?
        }
        CreateSession {
            display_name: None,
            username: Some(username),
            password: Some(password),
            invite: None,
        } => {
            // Outside the documented limits is a malformed request (400):
            // the username rule `admin create-user` checks, and a password
            // any account may have (older ones were counted in bytes); only
            // well-formed credentials that match no account are 401.
            auth::check_username(&username)
                .map_err(|e| ApiError::bad_request("invalid_username", e))?;
            auth::check_sign_in_password(&password)
                .map_err(|e| ApiError::bad_request("invalid_password", e))?;
            let refused =
                || ApiError::unauthorized("bad_credentials", "unknown username or wrong password");
            let guard = &state.sign_in;
            // Held until answered: it counts against the name's failures
            // left, so guesses sent at once cannot outrun the lock.
            let attempt = guard.check_lock(&username).map_err(sign_in_refused)?;
            let (account, hash) = match state.store.user(&username).await? {
                Some((account, hash)) => (Some(account), Some(hash)),
                // No account: checked against a stand-in all the same, so
                // the answer takes as long as for a wrong password.
                None => (None, None),
            };
            let ok = guard
                .verify(password, hash)
                .await
                .map_err(sign_in_refused)?;
            let Some(account) = account.filter(|_| ok) else {
                attempt.failed();
                return Err(refused());
            };
            attempt.succeeded().map_err(sign_in_refused)?;
            account
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "send either display_name (guest) or username and password",
            ));
        }
    };
    let session = state
        .store
        .create_session(account.id, state.session_ttl)
        .await?;
    let token = auth::sign(
        &state.keys.session,
        &auth::Claims {
            session_id: session.id.clone(),
            expires_at_ms: session.expires_at_ms,
        },
    );
    tracing::info!(account = %account.id, name = %account.name, role = %account.role, "signed in");
    Ok((
        StatusCode::CREATED,
        Json(SessionCreated {
            token,
            account_id: account.id.0,
            display_name: account.name.to_string(),
            role: account.role.as_str().to_owned(),
            expires_at_ms: session.expires_at_ms,
        }),
    ))
}

fn sign_in_refused(refused: crate::sign_in::Refused) -> ApiError {
    use crate::sign_in::Refused;
    match refused {
        Refused::Busy => {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many sign-ins are being checked; try again shortly",
            );
            e.retry_after = Some(vitrine_shared::limits::sign_in::BUSY_RETRY_AFTER);
            e
        }
        Refused::Locked(wait) => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "sign_in_locked",
                format!(
                    "too many failed sign-ins for this username; try again in {} s",
                    wait.as_secs().max(1)
                ),
            );
            e.retry_after = Some(wait);
            e
        }
    }
}

/// Sign out: end the caller's session. Its bearer token stops working.
#[utoipa::path(
    delete,
    path = "/api/v1/sessions/current",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "No valid session", body = ErrorBody),
    )
)]
pub async fn end_session(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<StatusCode, ApiError> {
    state.store.revoke_session(&who.session.id).await?;
    tracing::info!(account = %who.account.id, "signed out");
    Ok(StatusCode::NO_CONTENT)
}
