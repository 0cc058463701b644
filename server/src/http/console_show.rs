//! What the console needs to run the show beyond the dashboard: the
//! show's orders with filters and paging, labelled for a host (buyers',
//! products' and variants' names), and giveaways with their entrants by
//! name and a "draw now". Moving orders along and opening giveaways use the
//! routes everyone uses (`orders`, `engagement`).

use super::extract::{ApiPath, ApiQuery, Authenticated};
use super::{ApiError, AppState, ErrorBody};
use crate::console::orders::{
    self, DEFAULT_PAGE, DeskOrder, MAX_PAGE, MAX_SEARCH_CHARS, OrderFilter, STATUSES,
};
use crate::engagement::EngagementError;
use crate::views::giveaway_view;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vitrine_shared::api::{GiveawayView, MoneyView, ShowView};
use vitrine_shared::{GiveawayId, ProductId, ShowId};

/// The most entrants listed by name (the count is always whole).
pub const MAX_ENTRANTS_LISTED: u32 = 200;
/// The giveaways the console lists, newest first.
pub const GIVEAWAYS_LISTED: u32 = 5;

fn bad_filter(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("bad_filter", message)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrdersQuery {
    /// A show's id: its orders (from going live to its end). Without it,
    /// the live show's, else the latest show's; `all` for every order.
    #[param(example = "all")]
    show: Option<String>,
    /// `pending`, `paid`, `fulfilled`, `delivered`, `refunded` or `cancelled`.
    #[param(example = "paid")]
    status: Option<String>,
    /// A product's id: orders with a line of it.
    #[param(example = "glow-serum")]
    product: Option<String>,
    /// A buyer's account id.
    #[param(example = "1")]
    buyer: Option<String>,
    /// 1 to 80 characters, any case: the buyer's name, the order's
    /// number, a product's name or a SKU.
    #[param(example = "mug")]
    q: Option<String>,
    /// 1 to 100 orders; 25 by default.
    #[param(example = "25")]
    limit: Option<String>,
    /// The `next` of the previous page.
    #[param(example = "1767225600000.1")]
    before: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeskLineView {
    pub sku: String,
    /// `None` when the variant has left the catalog.
    pub product_id: Option<String>,
    /// The product's name, such as `Glow serum`.
    pub product_name: Option<String>,
    /// The variant in words, such as `Sage`; empty for a single variant.
    pub variant: String,
    pub quantity: i64,
    pub unit_price: MoneyView,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeskOrderView {
    pub id: i64,
    pub created_at_ms: i64,
    /// When its status last changed.
    pub updated_at_ms: i64,
    pub buyer_id: i64,
    pub buyer_name: String,
    /// `pending`, `paid`, `fulfilled`, `delivered`, `refunded` or `cancelled`.
    pub status: String,
    /// `flash_sale`, `cart`, `buy_now`, `shared_cart` or `group_deal`.
    pub source: String,
    pub total: MoneyView,
    pub discount: MoneyView,
    pub coupon: Option<String>,
    pub return_reason: Option<String>,
    pub failure: Option<String>,
    pub lines: Vec<DeskLineView>,
}

/// `GET /api/v1/console/orders`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeskOrderList {
    /// The show whose orders these are; `None` for every order.
    pub show: Option<ShowView>,
    pub orders: Vec<DeskOrderView>,
    /// How many orders match the filters, over every page.
    pub matching: u64,
    /// Pass as `before` for the next page; `None` on the last.
    pub next: Option<String>,
}

fn order_view(o: DeskOrder) -> DeskOrderView {
    DeskOrderView {
        id: o.id,
        created_at_ms: o.created_at_ms,
        updated_at_ms: o.updated_at_ms,
        buyer_id: o.buyer_id,
        buyer_name: o.buyer_name,
        status: o.status,
        source: o.source,
        total: o.total.into(),
        discount: o.discount.into(),
        coupon: o.coupon,
        return_reason: o.return_reason,
        failure: o.failure,
        lines: o
            .lines
            .into_iter()
            .map(|l| DeskLineView {
                sku: l.sku,
                product_id: l.product_id,
                product_name: l.product_name,
                variant: l.variant,
                quantity: l.quantity,
                unit_price: l.unit_price.into(),
            })
            .collect(),
    }
}

/// The show the orders are of: named, the live one, the latest one, or
/// none (`all`, or no show yet).
async fn desk_show(state: &AppState, raw: Option<&str>) -> Result<Option<ShowView>, ApiError> {
    match raw {
        Some("all") => Ok(None),
        Some(raw) => {
            let id: ShowId = raw
                .parse()
                .map_err(|_| bad_filter("show: a show's id, or all"))?;
            let show = crate::engagement::show_by_id(&state.store, id)
                .await?
                .ok_or_else(|| ApiError::from(EngagementError::UnknownShow))?;
            Ok(Some(crate::views::show_view(show)))
        }
        None => {
            let shows = state.engagement.shows().await?;
            let live = shows
                .iter()
                .find(|s| s.live_at_ms.is_some() && s.ended_at_ms.is_none());
            let latest = shows
                .iter()
                .filter(|s| s.live_at_ms.is_some())
                .max_by_key(|s| s.live_at_ms);
            Ok(live.or(latest).cloned().map(crate::views::show_view))
        }
    }
}

/// Checks each filter; the first bad one is refused by name.
async fn checked_filter(
    state: &AppState,
    q: &OrdersQuery,
    show: Option<&ShowView>,
) -> Result<OrderFilter, ApiError> {
    let now = state.clock.now_ms();
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(
            *STATUSES
                .iter()
                .find(|known| **known == s)
                .ok_or_else(|| bad_filter(format!("status: one of {}", STATUSES.join(", "))))?,
        ),
    };
    let product = match q.product.as_deref() {
        None => None,
        Some(p) => {
            let id = ProductId::new(p).map_err(|_| bad_filter("product: no such product"))?;
            if !orders::product_exists(&state.store, id.as_str()).await? {
                return Err(bad_filter("product: no such product"));
            }
            Some(id.to_string())
        }
    };
    let buyer = match q.buyer.as_deref() {
        None => None,
        Some(b) => Some(
            b.parse::<u64>()
                .ok()
                .and_then(|b| i64::try_from(b).ok())
                .ok_or_else(|| bad_filter("buyer: an account id"))?,
        ),
    };
    let search = match q.q.as_deref().map(str::trim) {
        None => None,
        Some(s) if s.is_empty() || s.chars().count() > MAX_SEARCH_CHARS => {
            return Err(bad_filter(format!("q: 1 to {MAX_SEARCH_CHARS} characters")));
        }
        Some(s) if s.chars().any(char::is_control) => {
            return Err(bad_filter("q: no control characters"));
        }
        Some(s) => Some(s.to_lowercase()),
    };
    let limit = match q.limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| bad_filter(format!("limit: 1 to {MAX_PAGE}")))?,
    };
    let before = match q.before.as_deref() {
        None => None,
        Some(b) => Some(
            b.split_once('.')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.parse::<i64>().ok()?)))
                .ok_or_else(|| bad_filter("before: the next of a previous page"))?,
        ),
    };
    let window = show.map(|s| {
        (
            s.live_at_ms.unwrap_or(s.scheduled_at_ms),
            s.ended_at_ms.unwrap_or(now),
        )
    });
    Ok(OrderFilter {
        window,
        status,
        product,
        buyer,
        search,
        before,
        limit,
    })
}

/// A show's orders for the console, newest first: filtered by status,
/// product, buyer or a search, and paged. Hosts and co-hosts only (the
/// ones who move orders along).
#[utoipa::path(
    get,
    path = "/api/v1/console/orders",
    tag = "console",
    params(OrdersQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The orders", body = DeskOrderList),
        (status = 400, description = "A bad filter (`bad_filter`, naming it) or an unknown parameter", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No such show", body = ErrorBody),
    )
)]
pub async fn list_orders(
    State(state): State<AppState>,
    who: Authenticated,
    ApiQuery(query): ApiQuery<OrdersQuery>,
) -> Result<Json<DeskOrderList>, ApiError> {
    who.require_host()?;
    let show = desk_show(&state, query.show.as_deref()).await?;
    let filter = checked_filter(&state, &query, show.as_ref()).await?;
    let page = orders::orders(&state.store, &filter).await?;
    Ok(Json(DeskOrderList {
        show,
        orders: page.orders.into_iter().map(order_view).collect(),
        matching: page.matching,
        next: page.next.map(|(at, id)| format!("{at}.{id}")),
    }))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct EntrantView {
    pub account_id: i64,
    pub name: String,
}

/// A giveaway as the console shows it: the public giveaway (commitment,
/// entries, seed once closed, draws) and its entrants by name.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeskGiveaway {
    pub giveaway: GiveawayView,
    pub entrant_count: u32,
    /// The newest 200 entrants, newest first.
    pub entrants: Vec<EntrantView>,
}

/// `GET /api/v1/console/giveaways`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeskGiveawayList {
    pub giveaways: Vec<DeskGiveaway>,
}

/// The latest giveaways (5), newest first, each with its entrants by name.
#[utoipa::path(
    get,
    path = "/api/v1/console/giveaways",
    tag = "console",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The giveaways", body = DeskGiveawayList),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
pub async fn list_giveaways(
    State(state): State<AppState>,
    who: Authenticated,
) -> Result<Json<DeskGiveawayList>, ApiError> {
    who.require_staff()?;
    let mut giveaways = Vec::new();
    for id in orders::latest_giveaways(&state.store, GIVEAWAYS_LISTED).await? {
        // The engine's view: it alone knows whether the seed may be shown.
        let giveaway = giveaway_view(state.engagement.giveaway(GiveawayId(id)).await?);
        let entrants = orders::entrants(&state.store, id, MAX_ENTRANTS_LISTED)
            .await?
            .into_iter()
            .map(|(account_id, name)| EntrantView { account_id, name })
            .collect();
        giveaways.push(DeskGiveaway {
            entrant_count: giveaway.entries.len() as u32,
            giveaway,
            entrants,
        });
    }
    Ok(Json(DeskGiveawayList { giveaways }))
}

/// Close a giveaway's entries now and draw its winner at once, by the same
/// rule as a draw at the time it was opened with. Hosts and co-hosts.
#[utoipa::path(
    post,
    path = "/api/v1/giveaways/{id}/draw",
    tag = "engagement",
    params(("id" = i64, Path, description = "Giveaway id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Drawn: the seed and the first draw", body = GiveawayView),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No such giveaway", body = ErrorBody),
        (status = 409, description = "Drawn already (`already_drawn`), or nobody has entered (`no_entrants`)", body = ErrorBody),
    )
)]
pub async fn draw_now(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<GiveawayView>, ApiError> {
    who.require_host()?;
    let id: GiveawayId = raw
        .parse()
        .map_err(|_| ApiError::from(EngagementError::UnknownGiveaway))?;
    let drawn = state.engagement.draw_now(id).await?;
    Ok(Json(giveaway_view(drawn)))
}
