//! Group deals over HTTP: a host sets one; anyone looks one up with its
//! open teams; a shopper starts a team or joins one, paying the team price
//! (authorized now, captured when the team fills). Every decision is the
//! commerce engine's; these handlers only translate.

use super::extract::{ApiJson, ApiPath, Authenticated};
use super::flash_sales::{idempotency_key, request_hash};
use super::{ApiError, AppState, ErrorBody};
use crate::commerce::{
    CommerceError, DealWindow, GroupDeal, GroupDealSpec, Joined, TeamInfo, TeamTarget,
};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use vitrine_shared::api::{
    CreateGroupDeal, GroupDealList, GroupDealView, JoinTeamRequest, JoinedView, TeamView,
};
use vitrine_shared::{Currency, DealId, Money, PaymentMethod, Sku, TeamId};

fn team_view(t: TeamInfo) -> TeamView {
    TeamView {
        id: t.id,
        deal_id: t.deal,
        status: t.status.as_str().to_owned(),
        members: t.members,
        places_left: t.places_left,
    }
}

pub fn group_deal_view(d: GroupDeal, now_ms: i64) -> GroupDealView {
    GroupDealView {
        id: d.id,
        units_left: d.units_left(),
        open: d.is_open(now_ms),
        product_id: d.product,
        sku: d.sku,
        team_size: d.team_size,
        team_price: d.team_price.into(),
        regular_price: d.regular_price.into(),
        stock_cap: d.stock_cap,
        sold: d.sold,
        starts_at_ms: d.starts_at_ms,
        ends_at_ms: d.ends_at_ms,
        until_show_ends: d.until_show_ends.is_some(),
        teams: d.teams.into_iter().map(team_view).collect(),
    }
}

fn joined_view(j: Joined) -> JoinedView {
    JoinedView {
        team: team_view(j.team),
        order_id: j.order_id,
        price: j.price.into(),
    }
}

/// Set a group deal on a variant: teams of `team_size` buy at the team
/// price if they fill within the window; each member holds one unit. The
/// window is a length from now, or "until the show ends" (24 h at most,
/// only while a show is live): when the show ends, every team still
/// forming is voided and nobody is charged.
#[utoipa::path(
    post,
    path = "/api/v1/group-deals",
    tag = "commerce",
    request_body = CreateGroupDeal,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Set", body = GroupDealView),
        (status = 400, description = "Team size, price, window or cap out of range", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No such SKU", body = ErrorBody),
        (status = 409, description = "Until the show ends, and no show is live (`no_show_live`)", body = ErrorBody),
    )
)]
pub async fn create_group_deal(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<CreateGroupDeal>,
) -> Result<(StatusCode, Json<GroupDealView>), ApiError> {
    who.require_host()?;
    let invalid = |e: String| ApiError::from(CommerceError::InvalidGroupDeal(e));
    let sku = Sku::new(body.sku).map_err(|e| invalid(e.to_string()))?;
    let currency = Currency::new(&body.currency).map_err(|e| invalid(e.to_string()))?;
    let window = match (body.window_secs, body.until_show_ends) {
        (Some(secs), false) => DealWindow::Secs(secs),
        (None, true) => DealWindow::UntilShowEnds,
        _ => {
            return Err(invalid(
                "give exactly one of window_secs and until_show_ends: true".into(),
            ));
        }
    };
    let spec = GroupDealSpec {
        sku,
        team_size: body.team_size,
        team_price: Money::new(body.team_price_minor, currency),
        window,
        stock_cap: body.stock_cap,
    };
    let deal = state
        .commerce
        .create_group_deal(who.account.id, spec)
        .await?;
    let now = state.clock.now_ms();
    Ok((StatusCode::CREATED, Json(group_deal_view(deal, now))))
}

/// A group deal with its open teams and the places left in each.
#[utoipa::path(
    get,
    path = "/api/v1/group-deals/{id}",
    tag = "commerce",
    params(("id" = i64, Path, description = "Group deal id")),
    responses(
        (status = 200, description = "The deal", body = GroupDealView),
        (status = 404, description = "No such deal", body = ErrorBody),
    )
)]
pub async fn get_group_deal(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<GroupDealView>, ApiError> {
    let not_found = || ApiError::from(CommerceError::UnknownGroupDeal);
    let id: DealId = id.parse().map_err(|_| not_found())?;
    let deal = state.commerce.group_deal(id).await?.ok_or_else(not_found)?;
    Ok(Json(group_deal_view(deal, state.clock.now_ms())))
}

/// The group deals whose window is open, each with its open teams (the
/// host console lists them).
#[utoipa::path(
    get,
    path = "/api/v1/group-deals",
    tag = "commerce",
    responses((status = 200, description = "Open deals, oldest first", body = GroupDealList))
)]
pub async fn list_group_deals(
    State(state): State<AppState>,
) -> Result<Json<GroupDealList>, ApiError> {
    let now = state.clock.now_ms();
    let deals = state.commerce.open_group_deals().await?;
    Ok(Json(GroupDealList {
        deals: deals.into_iter().map(|d| group_deal_view(d, now)).collect(),
    }))
}

/// The key and request hash of a team request; the key is required, as a
/// checkout's is.
fn keyed(headers: &HeaderMap, what: &str, card: &str) -> Result<(String, u64), ApiError> {
    let key = idempotency_key(headers)?.ok_or_else(|| {
        ApiError::bad_request(
            "idempotency_key_required",
            "send an Idempotency-Key header so that a retry cannot join twice",
        )
    })?;
    Ok((key, request_hash(&format!("team:{what}:{card}"))))
}

fn card(raw: String) -> Result<PaymentMethod, ApiError> {
    PaymentMethod::new(raw).map_err(|e| ApiError::bad_request("invalid_card", e.to_string()))
}

/// Start a team on a deal, paying the team price: authorized now, captured
/// when the team fills, voided (nothing charged) if the window closes
/// first. An `Idempotency-Key` is required: the same key and body answer
/// the same place; another body, 409.
#[utoipa::path(
    post,
    path = "/api/v1/group-deals/{id}/teams",
    tag = "commerce",
    params(
        ("id" = i64, Path, description = "Group deal id"),
        ("Idempotency-Key" = String, Header, description = "Required: visible ASCII characters, as many as the schema allows"),
    ),
    request_body = JoinTeamRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Your place in the new team", body = JoinedView),
        (status = 400, description = "No key, or a bad card", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 402, description = "Declined; you are not in the team", body = ErrorBody),
        (status = 404, description = "No such deal", body = ErrorBody),
        (status = 409, description = "The deal is closed or sold out, or a reused key", body = ErrorBody),
        (status = 504, description = "The provider did not answer; nothing held", body = ErrorBody),
    )
)]
pub async fn start_team(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<JoinTeamRequest>,
) -> Result<(StatusCode, Json<JoinedView>), ApiError> {
    let deal: DealId = id
        .parse()
        .map_err(|_| ApiError::from(CommerceError::UnknownGroupDeal))?;
    let key = keyed(&headers, &format!("start:{deal}"), &body.card)?;
    let method = card(body.card)?;
    let joined = state
        .commerce
        .join_team(who.account.id, TeamTarget::Start(deal), method, key)
        .await?;
    Ok((StatusCode::CREATED, Json(joined_view(joined))))
}

/// Join an open team, paying the team price as when starting one. When
/// your place fills the team, every member is charged and their orders
/// are placed.
#[utoipa::path(
    post,
    path = "/api/v1/teams/{id}/join",
    tag = "commerce",
    params(
        ("id" = i64, Path, description = "Team id"),
        ("Idempotency-Key" = String, Header, description = "Required: visible ASCII characters, as many as the schema allows"),
    ),
    request_body = JoinTeamRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Your place in the team", body = JoinedView),
        (status = 400, description = "No key, or a bad card", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 402, description = "Declined; you are not in the team, which stays open", body = ErrorBody),
        (status = 404, description = "No such team forming", body = ErrorBody),
        (status = 409, description = "Full, joined already, the deal closed or sold out, or a reused key", body = ErrorBody),
        (status = 504, description = "The provider did not answer; nothing held", body = ErrorBody),
    )
)]
pub async fn join_team(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<JoinTeamRequest>,
) -> Result<(StatusCode, Json<JoinedView>), ApiError> {
    let team: TeamId = id
        .parse()
        .map_err(|_| ApiError::from(CommerceError::UnknownTeam))?;
    let key = keyed(&headers, &format!("join:{team}"), &body.card)?;
    let method = card(body.card)?;
    let joined = state
        .commerce
        .join_team(who.account.id, TeamTarget::Join(team), method, key)
        .await?;
    Ok((StatusCode::CREATED, Json(joined_view(joined))))
}
