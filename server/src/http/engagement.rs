//! Shows, polls, Q&A, giveaways, rewards, the leaderboard and invites over
//! HTTP. The engagement engine decides; these handlers translate.

use super::extract::{ApiJson, ApiPath, ApiQuery, Authenticated};
use super::{ApiError, AppState, ErrorBody};
use crate::engagement::{EngagementError, Scope};
use crate::views::{
    draw_view, giveaway_view, leader_view, poll_view, question_view, rewards_view, show_view,
};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use vitrine_shared::api::{
    AskQuestion, CreateGiveaway, CreatePoll, DrawView, FeatureProducts, GiveawayView, InviteView,
    LeaderboardView, PollView, QuestionList, QuestionView, RedeemRequest, Redeemed, RewardsView,
    ShowList, ShowView, StartShow, VoteRequest,
};
use vitrine_shared::protocol::{EntryRule, RejectReason};
use vitrine_shared::{ChatText, ProductId};

/// The status and code from engagement's one table, the message from the
/// error.
impl From<EngagementError> for ApiError {
    fn from(e: EngagementError) -> Self {
        let refusal = e.refusal();
        ApiError::new(refusal.status, refusal.code, e.to_string())
    }
}

/// A path's id: one that does not parse names nothing, so it is the
/// resource's 404.
fn id<Id: std::str::FromStr>(raw: &str, missing: EngagementError) -> Result<Id, ApiError> {
    raw.parse().map_err(|_| ApiError::from(missing))
}

/// Product ids from a body: a malformed one names no product, so it is the
/// same 404 as an unknown one.
fn product_ids(raw: Vec<String>) -> Result<Vec<ProductId>, ApiError> {
    raw.into_iter()
        .map(|p| ProductId::new(p).map_err(|_| ApiError::from(EngagementError::UnknownProduct)))
        .collect()
}

/// Create a show: scheduled for `scheduled_at_ms` with a line-up, or live
/// now (ending any other). Points, polls and giveaways count within the
/// live show.
#[utoipa::path(
    post,
    path = "/api/v1/shows",
    tag = "engagement",
    request_body = StartShow,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Scheduled, or live", body = ShowView),
        (status = 400, description = "Bad title, time or line-up", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "A line-up product does not exist", body = ErrorBody),
    )
)]
pub async fn start_show(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<StartShow>,
) -> Result<(StatusCode, Json<ShowView>), ApiError> {
    who.require_host()?;
    let lineup = product_ids(body.lineup)?;
    let show = state
        .engagement
        .create_show(who.account.id, body.title, body.scheduled_at_ms, lineup)
        .await?;
    Ok((StatusCode::CREATED, Json(show_view(show))))
}

/// Scheduled and live shows first, then the latest ended ones.
#[utoipa::path(
    get,
    path = "/api/v1/shows",
    tag = "engagement",
    responses((status = 200, description = "Shows", body = ShowList))
)]
pub async fn list_shows(State(state): State<AppState>) -> Result<Json<ShowList>, ApiError> {
    let shows = state.engagement.shows().await?;
    Ok(Json(ShowList {
        shows: shows.into_iter().map(show_view).collect(),
    }))
}

/// A show as an iCalendar file: its title, start, line-up and an alarm ten
/// minutes before, for calendar apps ("remind me").
#[utoipa::path(
    get,
    path = "/api/v1/shows/{id}/calendar.ics",
    tag = "engagement",
    params(("id" = i64, Path, description = "Show id")),
    responses(
        (status = 200, description = "iCalendar", content_type = "text/calendar", body = String),
        (status = 404, description = "No such show", body = ErrorBody),
    )
)]
pub async fn show_calendar(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiPath(raw): ApiPath<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let not_found = || ApiError::from(EngagementError::UnknownShow);
    let show_id: vitrine_shared::ShowId = raw.parse().map_err(|_| not_found())?;
    let show = crate::engagement::show_by_id(&state.store, show_id)
        .await?
        .ok_or_else(not_found)?;
    let products = state.store.products().await?;
    let lineup: Vec<String> = show
        .lineup
        .iter()
        .map(|id| {
            products
                .iter()
                .find(|p| &p.id == id)
                .map_or_else(|| id.to_string(), |p| p.name.clone())
        })
        .collect();
    // The event's UID names the shop as the caller reached it, so that two
    // shops' show 1 stay two events in one calendar.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 253
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("vitrine");
    let body = crate::calendar::show_ics(&show, &lineup, host, state.clock.now_ms());
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"show-{}.ics\"", show.id))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Go live with a scheduled show (ending the one live).
#[utoipa::path(
    post,
    path = "/api/v1/shows/{id}/live",
    tag = "engagement",
    params(("id" = i64, Path, description = "Show id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Live", body = ShowView),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No such show", body = ErrorBody),
        (status = 409, description = "It has ended", body = ErrorBody),
    )
)]
pub async fn go_live(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<ShowView>, ApiError> {
    who.require_host()?;
    let show = state
        .engagement
        .go_live(id(&raw, EngagementError::UnknownShow)?)
        .await?;
    Ok(Json(show_view(show)))
}

/// Feature up to three products: every room highlights them.
#[utoipa::path(
    put,
    path = "/api/v1/shows/current/featured",
    tag = "engagement",
    request_body = FeatureProducts,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Featured", body = ShowView),
        (status = 400, description = "More than three, or twice the same", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No show is live, or no such product", body = ErrorBody),
    )
)]
pub async fn feature(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<FeatureProducts>,
) -> Result<Json<ShowView>, ApiError> {
    who.require_host()?;
    // The document's limit holds whether or not a show is live.
    if body.products.len() > crate::engagement::MAX_FEATURED {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!(
                "at most {} featured products",
                crate::engagement::MAX_FEATURED
            ),
        ));
    }
    let show = state
        .engagement
        .feature(product_ids(body.products)?)
        .await?;
    Ok(Json(show_view(show)))
}

/// The show running now.
#[utoipa::path(
    get,
    path = "/api/v1/shows/current",
    tag = "engagement",
    responses(
        (status = 200, description = "The show", body = ShowView),
        (status = 404, description = "No show is running", body = ErrorBody),
    )
)]
pub async fn current_show(State(state): State<AppState>) -> Result<Json<ShowView>, ApiError> {
    let show = state.engagement.current_show().await?;
    Ok(Json(show_view(show.ok_or(EngagementError::NoShow)?)))
}

/// End the show running now.
#[utoipa::path(
    post,
    path = "/api/v1/shows/current/end",
    tag = "engagement",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Ended", body = ShowView),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No show is running", body = ErrorBody),
    )
)]
pub async fn end_show(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<ShowView>, ApiError> {
    who.require_host()?;
    let show = state.engagement.end_show().await?;
    Ok(Json(show_view(show.ok_or(EngagementError::NoShow)?)))
}

/// Open a poll (closing the one open): 2 to 6 options, 10 to 600 s.
#[utoipa::path(
    post,
    path = "/api/v1/polls",
    tag = "engagement",
    request_body = CreatePoll,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Opened", body = PollView),
        (status = 400, description = "Bad question, options or duration", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
pub async fn create_poll(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<CreatePoll>,
) -> Result<(StatusCode, Json<PollView>), ApiError> {
    who.require_staff()?;
    let poll = state
        .engagement
        .create_poll(
            who.account.id,
            body.question,
            body.options,
            body.duration_secs,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(poll_view(poll))))
}

/// A poll with its results so far.
#[utoipa::path(
    get,
    path = "/api/v1/polls/{id}",
    tag = "engagement",
    params(("id" = i64, Path, description = "Poll id")),
    responses(
        (status = 200, description = "The poll", body = PollView),
        (status = 404, description = "No such poll", body = ErrorBody),
    )
)]
pub async fn get_poll(
    State(state): State<AppState>,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<PollView>, ApiError> {
    let poll = state
        .engagement
        .poll(id(&raw, EngagementError::UnknownPoll)?)
        .await?;
    Ok(Json(poll_view(poll)))
}

/// Vote in a poll: once.
#[utoipa::path(
    post,
    path = "/api/v1/polls/{id}/votes",
    tag = "engagement",
    params(("id" = i64, Path, description = "Poll id")),
    request_body = VoteRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Counted: the results now", body = PollView),
        (status = 400, description = "No such option", body = ErrorBody),
        (status = 404, description = "No such poll", body = ErrorBody),
        (status = 409, description = "Closed, or voted already", body = ErrorBody),
    )
)]
pub async fn vote(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(raw): ApiPath<String>,
    ApiJson(body): ApiJson<VoteRequest>,
) -> Result<Json<PollView>, ApiError> {
    let poll = state
        .engagement
        .vote(
            who.account.id,
            id(&raw, EngagementError::UnknownPoll)?,
            body.option,
        )
        .await?;
    Ok(Json(poll_view(poll)))
}

/// The Q&A queue: open questions by votes, then answered ones.
#[utoipa::path(
    get,
    path = "/api/v1/questions",
    tag = "engagement",
    responses((status = 200, description = "The queue", body = QuestionList))
)]
pub async fn list_questions(State(state): State<AppState>) -> Result<Json<QuestionList>, ApiError> {
    let questions = state.engagement.questions().await?;
    Ok(Json(QuestionList {
        questions: questions.into_iter().map(question_view).collect(),
    }))
}

/// Ask the host a question.
#[utoipa::path(
    post,
    path = "/api/v1/questions",
    tag = "engagement",
    request_body = AskQuestion,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Asked", body = QuestionView),
        (status = 400, description = "Bad text, or a blocked word", body = ErrorBody),
        (status = 403, description = "You are muted", body = ErrorBody),
        (status = 409, description = "Too many open questions", body = ErrorBody),
    )
)]
pub async fn ask_question(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<AskQuestion>,
) -> Result<(StatusCode, Json<QuestionView>), ApiError> {
    let text = ChatText::new(body.text)
        .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
    // The same mutes and blocked words as in the room.
    match state
        .moderation
        .screen(who.account.id, text.as_str(), state.clock.now_ms())
    {
        Some(RejectReason::Muted { remaining_ms }) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "muted",
                format!("you are muted for {remaining_ms} ms more"),
            ));
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "filtered",
                "that question contains a blocked word",
            ));
        }
        None => {}
    }
    let question = state
        .engagement
        .ask(who.account.id, who.account.name.clone(), text)
        .await?;
    Ok((StatusCode::CREATED, Json(question_view(question))))
}

/// Upvote someone else's question: once.
#[utoipa::path(
    post,
    path = "/api/v1/questions/{id}/upvotes",
    tag = "engagement",
    params(("id" = i64, Path, description = "Question id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Counted", body = QuestionView),
        (status = 404, description = "No such question", body = ErrorBody),
        (status = 409, description = "Your own, or upvoted already", body = ErrorBody),
    )
)]
pub async fn upvote_question(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<QuestionView>, ApiError> {
    let question = state
        .engagement
        .upvote(who.account.id, id(&raw, EngagementError::UnknownQuestion)?)
        .await?;
    Ok(Json(question_view(question)))
}

/// Mark a question answered.
#[utoipa::path(
    post,
    path = "/api/v1/questions/{id}/answered",
    tag = "engagement",
    params(("id" = i64, Path, description = "Question id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Answered", body = QuestionView),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
    )
)]
pub async fn answer_question(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<QuestionView>, ApiError> {
    who.require_staff()?;
    let question = state
        .engagement
        .answered(id(&raw, EngagementError::UnknownQuestion)?)
        .await?;
    Ok(Json(question_view(question)))
}

/// Open a giveaway (one at a time). Its commitment is published now; the
/// seed is revealed when entries close and the draw is made.
#[utoipa::path(
    post,
    path = "/api/v1/giveaways",
    tag = "engagement",
    request_body = CreateGiveaway,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Opened", body = GiveawayView),
        (status = 400, description = "Bad prize, rule or time", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 409, description = "Another giveaway is open", body = ErrorBody),
    )
)]
pub async fn create_giveaway(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<CreateGiveaway>,
) -> Result<(StatusCode, Json<GiveawayView>), ApiError> {
    who.require_host()?;
    let rule = match (body.entry.as_str(), body.present_minutes) {
        ("everyone", None) => EntryRule::Everyone,
        ("bought_in_show", None) => EntryRule::BoughtInShow,
        ("present", Some(m)) => EntryRule::PresentMinutes(m),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "entry: everyone, bought_in_show, or present with present_minutes",
            ));
        }
    };
    let giveaway = state
        .engagement
        .create_giveaway(who.account.id, body.prize, rule, body.closes_in_secs)
        .await?;
    Ok((StatusCode::CREATED, Json(giveaway_view(giveaway))))
}

/// A giveaway with its commitment, entries and, once drawn, seed and
/// draws: everything needed to recompute the winner.
#[utoipa::path(
    get,
    path = "/api/v1/giveaways/{id}",
    tag = "engagement",
    params(("id" = i64, Path, description = "Giveaway id")),
    responses(
        (status = 200, description = "The giveaway", body = GiveawayView),
        (status = 404, description = "No such giveaway", body = ErrorBody),
    )
)]
pub async fn get_giveaway(
    State(state): State<AppState>,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<GiveawayView>, ApiError> {
    let giveaway = state
        .engagement
        .giveaway(id(&raw, EngagementError::UnknownGiveaway)?)
        .await?;
    Ok(Json(giveaway_view(giveaway)))
}

/// Enter a giveaway: once, if its rule allows.
#[utoipa::path(
    post,
    path = "/api/v1/giveaways/{id}/entries",
    tag = "engagement",
    params(("id" = i64, Path, description = "Giveaway id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Entered", body = GiveawayView),
        (status = 403, description = "Not eligible", body = ErrorBody),
        (status = 404, description = "No such giveaway", body = ErrorBody),
        (status = 409, description = "Closed, or entered already", body = ErrorBody),
    )
)]
pub async fn enter_giveaway(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<GiveawayView>, ApiError> {
    let giveaway = state
        .engagement
        .enter(who.account.id, id(&raw, EngagementError::UnknownGiveaway)?)
        .await?;
    Ok(Json(giveaway_view(giveaway)))
}

/// The winner claims the prize, within the claim window. Claiming again
/// answers the same.
#[utoipa::path(
    post,
    path = "/api/v1/giveaways/{id}/claim",
    tag = "engagement",
    params(("id" = i64, Path, description = "Giveaway id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Claimed", body = DrawView),
        (status = 403, description = "Not the winner", body = ErrorBody),
        (status = 404, description = "No such giveaway", body = ErrorBody),
        (status = 410, description = "Too late: drawn again", body = ErrorBody),
    )
)]
pub async fn claim_prize(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<DrawView>, ApiError> {
    let draw = state
        .engagement
        .claim_prize(who.account.id, id(&raw, EngagementError::UnknownGiveaway)?)
        .await?;
    Ok(Json(draw_view(draw)))
}

/// Your points, quests with their progress and badges, and what points buy.
#[utoipa::path(
    get,
    path = "/api/v1/rewards",
    tag = "engagement",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your rewards", body = RewardsView),
        (status = 401, description = "No valid session", body = ErrorBody),
    )
)]
pub async fn my_rewards(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<RewardsView>, ApiError> {
    let rewards = state.engagement.rewards(who.account.id).await?;
    Ok(Json(rewards_view(rewards, &state.reward_offers)))
}

/// Spend points on a reward: a coupon for you alone, for one order.
#[utoipa::path(
    post,
    path = "/api/v1/rewards/redeem",
    tag = "engagement",
    request_body = RedeemRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Your coupon", body = Redeemed),
        (status = 404, description = "No such reward", body = ErrorBody),
        (status = 409, description = "Not enough points", body = ErrorBody),
    )
)]
pub async fn redeem(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<RedeemRequest>,
) -> Result<(StatusCode, Json<Redeemed>), ApiError> {
    let (coupon, balance) = state.engagement.redeem(who.account.id, body.reward).await?;
    Ok((StatusCode::CREATED, Json(Redeemed { coupon, balance })))
}

/// Which points a leaderboard ranks.
#[derive(Deserialize, Clone, Copy, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeaderboardScope {
    /// Earned in the current show.
    #[default]
    Show,
    /// Earned ever.
    AllTime,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeaderboardQuery {
    /// `show` (the default) or `all_time`.
    #[serde(default)]
    #[param(inline)]
    scope: Option<LeaderboardScope>,
}

/// The top ten by points earned, in the current show or ever.
#[utoipa::path(
    get,
    path = "/api/v1/leaderboard",
    tag = "engagement",
    params(LeaderboardQuery),
    responses(
        (status = 200, description = "The leaders", body = LeaderboardView),
        (status = 400, description = "Unknown scope", body = ErrorBody),
    )
)]
pub async fn leaderboard(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LeaderboardQuery>,
) -> Result<Json<LeaderboardView>, ApiError> {
    // An unknown scope (or an empty one) is refused by the query extractor,
    // as the document's enum says.
    let scope = match query.scope.unwrap_or_default() {
        LeaderboardScope::Show => Scope::Show,
        LeaderboardScope::AllTime => Scope::AllTime,
    };
    let leaders = state.engagement.leaderboard(scope).await?;
    Ok(Json(LeaderboardView {
        scope: match scope {
            Scope::Show => "show",
            Scope::AllTime => "all_time",
        }
        .to_owned(),
        leaders: leaders.into_iter().map(leader_view).collect(),
    }))
}

/// Your invite code: a friend who signs in with it earns you points once
/// they watch a show actively for a minute or pay for a first order.
#[utoipa::path(
    post,
    path = "/api/v1/invites",
    tag = "engagement",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your code", body = InviteView),
        (status = 401, description = "No valid session", body = ErrorBody),
    )
)]
pub async fn invite(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<InviteView>, ApiError> {
    let code = state.engagement.invite(who.account.id).await?;
    Ok(Json(InviteView { code }))
}
