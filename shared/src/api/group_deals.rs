//! Group deals (team purchase) over HTTP.

use super::MoneyView;
use crate::ids::{DealId, OrderId, TeamId};
use crate::validated::{ProductId, Sku};
use serde::{Deserialize, Serialize};

/// `POST /api/v1/group-deals` (hosts and co-hosts). Give exactly one of
/// `window_secs` and `until_show_ends: true`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateGroupDeal {
    // Text, not `Sku`: a malformed SKU is answered as `invalid_group_deal`
    // after the role check, like the other fields.
    pub sku: String,
    /// Members a team needs: 2 to 5.
    pub team_size: i64,
    /// What each member pays, in minor units: above 0, below the regular price.
    pub team_price_minor: i64,
    /// ISO 4217; must be the product's currency.
    pub currency: String,
    /// How long teams may form, from now: 60 s to 24 h (86,400 s).
    #[serde(default)]
    pub window_secs: Option<u64>,
    /// Teams may form until the show live now ends, and 24 h at most; only
    /// while a show is live (`no_show_live` otherwise). When the show ends,
    /// every team still forming is voided: nobody is charged.
    #[serde(default)]
    pub until_show_ends: bool,
    /// Units the deal may sell in all: 1 to 100,000.
    pub stock_cap: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamView {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: TeamId,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub deal_id: DealId,
    /// `open`, `capturing`, `complete` or `voided`.
    pub status: String,
    pub members: i64,
    pub places_left: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupDealView {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: DealId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub product_id: ProductId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub sku: Sku,
    pub team_size: i64,
    pub team_price: MoneyView,
    pub regular_price: MoneyView,
    pub stock_cap: i64,
    /// Units the deal may still sell.
    pub units_left: i64,
    pub sold: i64,
    pub starts_at_ms: i64,
    /// The window's end; for a deal until the show ends, 24 h after it was
    /// set, brought forward to when the show ends.
    pub ends_at_ms: i64,
    /// The deal closes when the show ends.
    #[serde(default)]
    pub until_show_ends: bool,
    /// Whether teams may start or be joined now.
    pub open: bool,
    /// Teams forming (or being captured), oldest first.
    pub teams: Vec<TeamView>,
}

/// `GET /api/v1/group-deals`: the deals open now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupDealList {
    pub deals: Vec<GroupDealView>,
}

/// `POST /api/v1/group-deals/{id}/teams` and `POST /api/v1/teams/{id}/join`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JoinTeamRequest {
    /// A payment method: with the test gateway, a test card number.
    pub card: String,
}

/// A place in a team: the team price is authorized, and `order_id` is the
/// order placed (and charged) when the team fills.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinedView {
    pub team: TeamView,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub order_id: OrderId,
    pub price: MoneyView,
}
