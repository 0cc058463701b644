//! HTTP API bodies, shared so that the server, the client and the tests
//! agree on them. The `openapi` feature derives their OpenAPI schemas.

use crate::ids::{GiveawayId, OrderId, PollId, QuestionId, SaleId, ShowId};
use crate::validated::{ProductId, Sku};
use serde::{Deserialize, Serialize};

mod console_feed;
mod group_deals;
pub use console_feed::FeedTicket;
pub use group_deals::{
    CreateGroupDeal, GroupDealList, GroupDealView, JoinTeamRequest, JoinedView, TeamView,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable, machine-readable: `bad_request`, `unauthorized`, `room_full`, …
    pub code: String,
    /// For people; may change.
    pub message: String,
}

/// Either `display_name` alone (a guest) or `username` and `password` (a
/// registered account, such as a host). Its schema says so with `oneOf`
/// (see `sign_in_schema`): one struct on the wire, two shapes allowed.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// A guest's name: 1 to 32 characters, shown to others in the room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A guest invited by a friend: the friend's invite code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

/// The sign-in body's two shapes, for the OpenAPI document only: the server
/// refuses any other combination of [`CreateSession`]'s fields.
#[cfg(feature = "openapi")]
pub mod sign_in_schema {
    #![allow(dead_code)]
    use crate::limits::accounts::{SIGN_IN_PASSWORD_CHARS, USERNAME_CHARS, USERNAME_PATTERN};
    use crate::validated::MAX_DISPLAY_NAME_CHARS;
    use serde::Deserialize;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{OneOfBuilder, Schema};
    use utoipa::{PartialSchema, ToSchema};

    /// A guest, shown to others by its display name; with a friend's invite
    /// code if it has one.
    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct GuestSignIn {
        /// 1 to 32 characters after trimming; no control characters.
        pub display_name: String,
        /// A friend's invite code.
        #[serde(default)]
        pub invite: Option<String>,
    }

    /// A registered account, such as a host.
    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AccountSignIn {
        /// `a-z`, `0-9`, `.`, `_` and `-`.
        pub username: String,
        #[schema(format = Password)]
        pub password: String,
    }

    /// The account shape, with the username's and password's limits from
    /// the server's checks (which answer 400 outside them, before looking
    /// the account up).
    fn account() -> RefOr<Schema> {
        let mut schema = AccountSignIn::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            if let Some(RefOr::T(Schema::Object(name))) = object.properties.get_mut("username") {
                name.min_length = Some(*USERNAME_CHARS.start());
                name.max_length = Some(*USERNAME_CHARS.end());
                name.pattern = Some(USERNAME_PATTERN.to_owned());
            }
            if let Some(RefOr::T(Schema::Object(password))) = object.properties.get_mut("password")
            {
                password.min_length = Some(*SIGN_IN_PASSWORD_CHARS.start());
                password.max_length = Some(*SIGN_IN_PASSWORD_CHARS.end());
            }
        }
        schema
    }

    /// The guest shape, with the display name's limits from its validator
    /// (utoipa's attributes take literals only, not constants).
    fn guest() -> RefOr<Schema> {
        let mut schema = GuestSignIn::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema
            && let Some(RefOr::T(Schema::Object(name))) = object.properties.get_mut("display_name")
        {
            name.min_length = Some(1);
            name.max_length = Some(MAX_DISPLAY_NAME_CHARS);
        }
        schema
    }

    impl PartialSchema for super::CreateSession {
        fn schema() -> RefOr<Schema> {
            OneOfBuilder::new()
                .description(Some(
                    "A guest (`display_name`, with `invite` if any) or an account \
                     (`username` and `password`); nothing else.",
                ))
                .item(guest())
                .item(account())
                .into()
        }
    }

    impl ToSchema for super::CreateSession {}

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_sign_in_schema_is_one_of_a_guest_or_an_account() {
            let RefOr::T(Schema::OneOf(one_of)) = super::super::CreateSession::schema() else {
                panic!("the sign-in body is not a oneOf");
            };
            let shapes: Vec<&Schema> = one_of
                .items
                .iter()
                .map(|item| match item {
                    RefOr::T(schema) => schema,
                    RefOr::Ref(_) => panic!("inline shapes expected, got a $ref"),
                })
                .collect();
            let [Schema::Object(guest), Schema::Object(account)] = shapes[..] else {
                panic!("two object shapes expected, got {}", shapes.len());
            };
            assert_eq!(guest.required, ["display_name"]);
            let Some(RefOr::T(Schema::Object(name))) = guest.properties.get("display_name") else {
                panic!("the guest shape has no display_name");
            };
            assert_eq!(
                (name.min_length, name.max_length),
                (Some(1), Some(MAX_DISPLAY_NAME_CHARS))
            );
            assert_eq!(account.required, ["username", "password"]);
            let limits = |field: &str| match account.properties.get(field) {
                Some(RefOr::T(Schema::Object(o))) => (o.min_length, o.max_length),
                _ => panic!("the account shape has no {field}"),
            };
            assert_eq!(
                limits("username"),
                (Some(*USERNAME_CHARS.start()), Some(*USERNAME_CHARS.end()))
            );
            assert_eq!(
                limits("password"),
                (
                    Some(*SIGN_IN_PASSWORD_CHARS.start()),
                    Some(*SIGN_IN_PASSWORD_CHARS.end())
                )
            );
            // Neither shape takes the other's fields.
            for shape in [guest, account] {
                assert!(
                    matches!(
                        shape.additional_properties.as_deref(),
                        Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(
                            false
                        ))
                    ),
                    "a shape allows other fields"
                );
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionCreated {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub account_id: u64,
    pub display_name: String,
    pub role: String,
    /// Unix time in milliseconds.
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomInfo {
    pub id: String,
    pub name: String,
    pub occupancy: usize,
    pub capacity: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomList {
    pub rooms: Vec<RoomInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinTicket {
    pub room: String,
    /// A netcode connect token (standard base64), valid for `expires_in_secs`.
    pub connect_token: String,
    /// The game server's UDP address, also inside the token.
    pub server_addr: String,
    pub expires_in_secs: u64,
    pub protocol_id: u64,
}

/// An amount as JSON: integer minor units and the ISO 4217 code, plus the
/// amount written out for people.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MoneyView {
    /// Minor units (cents for EUR).
    pub minor: i64,
    /// ISO 4217 code, such as `EUR`.
    pub currency: String,
    /// For display only, such as `24.90 EUR`.
    pub display: String,
}

impl From<crate::Money> for MoneyView {
    fn from(m: crate::Money) -> Self {
        MoneyView {
            minor: m.minor,
            currency: m.currency.to_string(),
            display: m.to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariantView {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub sku: Sku,
    /// What distinguishes this variant, such as `{"size": "M", "colour": "red"}`.
    pub options: std::collections::BTreeMap<String, String>,
    pub price: MoneyView,
    /// Units available to buy now.
    pub stock: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductView {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: ProductId,
    pub name: String,
    pub category: String,
    pub description: String,
    /// The product's base price; a variant may differ.
    pub price: MoneyView,
    /// The 3D model, relative to the assets folder.
    pub model: String,
    /// The product's real size, so XR and AR show it at true scale; absent
    /// for a product imported without one.
    #[serde(default)]
    pub size: Option<ProductSize>,
    pub variants: Vec<VariantView>,
    /// Its visible reviews, counted (the latest are at
    /// `GET /api/v1/products/{id}/reviews`).
    #[serde(default)]
    pub reviews: ReviewTally,
}

/// How many visible reviews a product has and their stars added up: the
/// average is exact from these.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewTally {
    pub count: u64,
    pub stars_total: u64,
}

impl ReviewTally {
    /// Mean stars, 1.0 to 5.0; `None` with no reviews.
    pub fn average(&self) -> Option<f32> {
        (self.count > 0).then(|| self.stars_total as f32 / self.count as f32)
    }
}

/// A product's real outer size in millimetres: width (x), height (y) and
/// depth (z) as it stands on its display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductSize {
    pub width_mm: u32,
    pub height_mm: u32,
    pub depth_mm: u32,
}

impl ProductSize {
    /// The largest size a catalog accepts on any side: 5 m.
    pub const MAX_MM: u32 = 5_000;

    /// Width, height and depth in metres.
    pub fn metres(&self) -> [f32; 3] {
        [self.width_mm, self.height_mm, self.depth_mm].map(|mm| mm as f32 / 1000.0)
    }

    /// Every side from 1 mm to [`Self::MAX_MM`].
    pub fn is_valid(&self) -> bool {
        [self.width_mm, self.height_mm, self.depth_mm]
            .iter()
            .all(|mm| (1..=Self::MAX_MM).contains(mm))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductList {
    pub products: Vec<ProductView>,
}

/// `POST /api/v1/flash-sales` (hosts and co-hosts).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StartFlashSale {
    // Text, not `Sku`: a malformed SKU is the host's mistake in this sale,
    // answered as `invalid_sale` after the role check, like its other fields.
    pub sku: String,
    /// The sale price in minor units (cents), at most the regular price.
    pub sale_price_minor: i64,
    /// ISO 4217; must be the product's currency.
    pub currency: String,
    /// Units offered, taken from the variant's stock until the sale closes.
    pub quantity: i64,
    pub per_buyer_limit: i64,
    /// Countdown before the sale opens: 10 to 300 s.
    pub countdown_secs: u64,
    /// How long it stays open: 60 to 1200 s.
    pub duration_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlashSaleView {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: SaleId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub product_id: ProductId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub sku: Sku,
    pub sale_price: MoneyView,
    pub quantity: i64,
    pub sold: i64,
    pub units_left: i64,
    pub per_buyer_limit: i64,
    /// Unix milliseconds.
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    /// `countdown`, `live`, `sold_out` or `ended`.
    pub state: String,
}

/// `POST /api/v1/flash-sales/{id}/claims`. Send an `Idempotency-Key` header
/// to make retries safe.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// Units to buy (default 1). There is no price field: the server sets it.
    #[serde(default = "one")]
    pub quantity: i64,
}

fn one() -> i64 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimView {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub order_id: OrderId,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub sale_id: SaleId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub sku: Sku,
    pub quantity: i64,
    pub unit_price: MoneyView,
    pub total: MoneyView,
    pub units_left: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderLineView {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub sku: Sku,
    pub quantity: i64,
    pub unit_price: MoneyView,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderView {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: OrderId,
    /// `pending`, then `paid`, `fulfilled`, `delivered`; or `cancelled`
    /// (unpaid) or `refunded`.
    pub status: String,
    pub total: MoneyView,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub flash_sale_id: Option<SaleId>,
    /// `flash_sale`, `cart` or `buy_now`.
    pub source: String,
    /// Taken off the lines by `coupon`; `total` is what is charged.
    pub discount: MoneyView,
    pub coupon: Option<String>,
    pub created_at_ms: i64,
    /// Why it came back, for a refunded order.
    pub return_reason: Option<String>,
    /// Why it was cancelled: `declined: …`, `payment_timeout` or `expired`.
    pub failure: Option<String>,
    pub lines: Vec<OrderLineView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderList {
    pub orders: Vec<OrderView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CartLineView {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub sku: Sku,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub product_id: ProductId,
    pub name: String,
    /// The variant's price now; checkout charges the price at that moment.
    pub unit_price: MoneyView,
    pub quantity: i64,
    /// Unix milliseconds: the units are released then unless checked out.
    pub held_until_ms: i64,
}

/// Your cart. Its units are reserved for you until each line's hold ends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CartView {
    pub lines: Vec<CartLineView>,
    /// The lines at today's prices; absent when the cart is empty.
    pub subtotal: Option<MoneyView>,
}

/// `POST /api/v1/cart/items`: adds units (to a line already there, too).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddToCart {
    // Text, not `Sku`: a malformed SKU names no variant, so it is a 404
    // `unknown_sku` like an unknown one (the handler checks it), not a 400.
    pub sku: String,
    /// 1 to 100; the line may hold at most 100.
    #[serde(default = "one")]
    pub quantity: i64,
}

/// `PUT /api/v1/cart/items/{sku}`: sets the line's quantity; 0 removes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetCartQuantity {
    pub quantity: i64,
}

/// One variant bought straight away, without the cart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BuyNowItem {
    // Text, not `Sku`, as in `AddToCart`: a malformed SKU is a 404
    // `unknown_sku`, checked by the handler.
    pub sku: String,
    #[serde(default = "one")]
    pub quantity: i64,
}

/// `POST /api/v1/checkout` with an `Idempotency-Key` header: the cart, or
/// `buy_now` one variant, paid at once. No prices: the server sets them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// Absent: check out the whole cart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buy_now: Option<BuyNowItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon: Option<String>,
    /// A payment method: with the test gateway, a test card number.
    pub card: String,
}

/// `POST /api/v1/coupons` (hosts and co-hosts). Give exactly one of
/// `percent_off` and `amount_off_minor`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateCoupon {
    /// 3 to 32 of `A-Z`, `0-9`, `-` (lower case is raised).
    pub code: String,
    #[serde(default)]
    pub percent_off: Option<i64>,
    #[serde(default)]
    pub amount_off_minor: Option<i64>,
    /// ISO 4217: the currency of the amounts and of the orders it applies to.
    pub currency: String,
    /// The order's lines must come to at least this (minor units).
    #[serde(default)]
    pub min_order_minor: i64,
    /// Redemptions in all; absent for no cap.
    #[serde(default)]
    pub max_redemptions: Option<i64>,
    /// Redemptions per shopper (default 1).
    #[serde(default = "one")]
    pub per_buyer_limit: i64,
    /// Unix milliseconds; absent for now.
    #[serde(default)]
    pub starts_at_ms: Option<i64>,
    pub ends_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CouponView {
    pub code: String,
    pub percent_off: Option<i64>,
    pub amount_off: Option<MoneyView>,
    pub min_order: MoneyView,
    pub max_redemptions: Option<i64>,
    pub per_buyer_limit: i64,
    pub redeemed: i64,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub pinned: bool,
}

/// `PUT /api/v1/show/pinned-coupon`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PinCoupon {
    pub code: String,
}

/// `POST /api/v1/orders/{id}/pay`. With the built-in test gateway, `card`
/// is a test card number: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is
/// declined, 4000 0000 0000 0119 never answers (the payment times out).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    pub card: String,
}

/// `POST /api/v1/orders/{id}/refund`: a return (by the buyer, once
/// delivered) or a refund (by staff, once paid).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// 1 to 500 characters.
    pub reason: String,
}

/// `POST /api/v1/admin/products` (hosts and co-hosts): a new product. The
/// same fields as [`ProductInput`], plus the id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    /// Lower-case letters, digits and `-`, such as `glow-serum`.
    pub id: String,
    /// 1 to 80 characters.
    pub name: String,
    /// Such as `beauty` or `home`.
    pub category: String,
    /// Up to 2000 characters; empty for none.
    #[serde(default)]
    pub description: String,
    /// A decimal amount above zero, such as `"24.90"`.
    pub price: String,
    /// ISO 4217, such as `EUR`.
    pub currency: String,
    /// The 3D model, a `.glb` or `.gltf` path relative to the assets folder.
    pub model: String,
    /// At least one.
    pub variants: Vec<VariantInput>,
}

/// `PUT /api/v1/admin/products/{id}` (hosts and co-hosts): a product's new
/// fields. Variants listed are inserted or updated; others stay as they are.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    /// 1 to 80 characters.
    pub name: String,
    /// Such as `beauty` or `home`.
    pub category: String,
    /// Up to 2000 characters; empty for none.
    #[serde(default)]
    pub description: String,
    /// A decimal amount above zero, such as `"24.90"`.
    pub price: String,
    /// ISO 4217, such as `EUR`.
    pub currency: String,
    /// The 3D model, a `.glb` or `.gltf` path relative to the assets folder.
    pub model: String,
    /// At least one.
    pub variants: Vec<VariantInput>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    /// Unique across the catalog, such as `glow-serum-30ml`.
    pub sku: String,
    /// Up to 4, such as `{"size": "30 ml"}`.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
    /// A decimal amount above zero; the product's price when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Units available now (set, not added): 0 to 1000000.
    pub stock: i64,
}

/// `POST /api/v1/shows` (hosts and co-hosts): starts a show now, ending any
/// other.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StartShow {
    /// 1 to 80 characters.
    pub title: String,
    /// Unix milliseconds: schedule it for then; absent: live now.
    #[serde(default)]
    pub scheduled_at_ms: Option<i64>,
    /// Product ids to sell, in order (at most 50).
    #[serde(default)]
    // Text, not `ProductId`: a malformed id names no product, so it is a
    // 404 `product_not_found` like an unknown one (the handler checks it).
    pub lineup: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShowView {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: ShowId,
    pub title: String,
    /// `scheduled`, `live` or `ended`.
    pub status: String,
    pub scheduled_at_ms: i64,
    pub live_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub lineup: Vec<ProductId>,
    /// At most 3, featured in every room now.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub featured: Vec<ProductId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShowList {
    pub shows: Vec<ShowView>,
}

/// `PUT /api/v1/shows/current/featured`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FeatureProducts {
    /// Product ids, at most 3; empty clears.
    // Text, for the same reason as `StartShow::lineup`.
    pub products: Vec<String>,
}

/// `POST /api/v1/polls` (hosts, co-hosts and moderators).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePoll {
    /// 1 to 200 characters.
    pub question: String,
    /// 2 to 6 options of 1 to 80 characters.
    pub options: Vec<String>,
    /// 10 to 600 seconds.
    pub duration_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PollView {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: PollId,
    pub question: String,
    pub options: Vec<String>,
    /// Votes per option, live.
    pub counts: Vec<u32>,
    pub closes_at_ms: i64,
    pub closed: bool,
}

/// `POST /api/v1/polls/{id}/votes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VoteRequest {
    /// The option's index, from 0.
    pub option: u32,
}

/// `POST /api/v1/questions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AskQuestion {
    /// 1 to 280 characters.
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuestionView {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: QuestionId,
    pub name: String,
    pub text: String,
    pub votes: u32,
    pub answered: bool,
    pub asked_at_ms: i64,
}

/// The Q&A queue: open questions by votes, then answered ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuestionList {
    pub questions: Vec<QuestionView>,
}

/// `POST /api/v1/giveaways` (hosts and co-hosts).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateGiveaway {
    /// 1 to 200 characters.
    pub prize: String,
    /// `everyone`, `present` (with `present_minutes`) or `bought_in_show`.
    pub entry: String,
    #[serde(default)]
    pub present_minutes: Option<u32>,
    /// Entries close after 10 s to 24 h; the draw follows at once.
    pub closes_in_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DrawView {
    /// 0 for the first draw; the next one when a winner does not claim.
    pub draw: u32,
    pub account_id: u64,
    pub name: String,
    /// Unix milliseconds: the winner claims before this, or the prize is drawn again.
    pub claim_by_ms: i64,
    pub claimed: bool,
}

/// A giveaway with everything needed to check its draw: the commitment
/// (published when it opened), the entries, and once drawn the seed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GiveawayView {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: GiveawayId,
    pub prize: String,
    pub entry: String,
    pub present_minutes: Option<u32>,
    pub closes_at_ms: i64,
    /// Hex SHA-256 of the seed.
    pub commitment: String,
    /// Hex of the 32-byte seed, once entries have closed.
    pub seed: Option<String>,
    /// Entrants' account ids, ascending: the list the draw hashes.
    pub entries: Vec<u64>,
    pub draws: Vec<DrawView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantView {
    pub points: i64,
    /// `watch`, `chat`, `inspect`, `poll_answer`, `purchase`, `invite` or `redeem`.
    pub reason: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuestView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub progress: i64,
    pub target: i64,
    /// Counted in the current show only.
    pub per_show: bool,
    pub earned: bool,
}

/// `GET /api/v1/rewards`: your points, badges and quests.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RewardsView {
    pub balance: i64,
    /// Points earned ever, and in the current show (spending does not lower them).
    pub earned: i64,
    pub earned_this_show: i64,
    pub quests: Vec<QuestView>,
    /// The latest grants, newest first.
    pub recent: Vec<GrantView>,
    /// What points buy.
    pub rewards: Vec<RewardOffer>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RewardOffer {
    pub id: String,
    pub points: i64,
    pub percent_off: i64,
    pub valid_days: i64,
}

/// `POST /api/v1/rewards/redeem`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    pub reward: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Redeemed {
    /// A coupon code for you alone: one use.
    pub coupon: String,
    pub balance: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaderView {
    pub account_id: u64,
    pub name: String,
    pub points: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaderboardView {
    /// `show` or `all_time`.
    pub scope: String,
    pub leaders: Vec<LeaderView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InviteView {
    /// Give it to a friend: they sign in with `{"display_name": …, "invite": code}`.
    pub code: String,
}

// ---------------------------------------------------------------------------
// Moderation (hosts, co-hosts and moderators)

/// A chat line as moderators see it, with its author's account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModChatLine {
    /// The line's number in its room: what `DELETE …/chat/{seq}` takes.
    pub seq: u64,
    pub slot: u16,
    pub account_id: u64,
    pub name: String,
    pub text: String,
    pub at_ms: i64,
}

/// `GET /api/v1/moderation/rooms/{id}/chat`: the room's recent lines
/// (up to 200), oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModChatView {
    pub room: String,
    pub lines: Vec<ModChatLine>,
}

/// `PUT /api/v1/moderation/mutes/{account}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MuteRequest {
    /// 1 to 86400 (a day); muting again replaces the end.
    pub seconds: u64,
    /// Up to 200 characters, for the log.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MuteView {
    pub account_id: u64,
    pub name: String,
    pub until_ms: i64,
    pub reason: String,
    pub muted_by: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MuteList {
    /// Running mutes, soonest to end first.
    pub mutes: Vec<MuteView>,
}

/// `POST /api/v1/moderation/kicks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KickRequest {
    pub account_id: u64,
    /// Up to 200 characters; shown to the member removed.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `PUT /api/v1/moderation/bans/{account}`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    /// Up to 200 characters; shown to the member removed.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BanView {
    pub account_id: u64,
    pub name: String,
    pub reason: String,
    pub banned_by: u64,
    pub banned_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BanList {
    /// Newest first.
    pub bans: Vec<BanView>,
}

/// `PUT /api/v1/moderation/filter`: the whole list of blocked terms.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FilterRequest {
    /// At most 500 terms of 1 to 40 characters (trimmed); matched in any
    /// case, as whole words.
    pub terms: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FilterView {
    /// Lower case, without repeats, in the order given.
    pub terms: Vec<String>,
    /// How terms match: `whole_words` (case-insensitive).
    pub matching: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModLogEntry {
    /// Numbered in the order taken: pass the last one seen as `before`
    /// for the next page.
    pub seq: i64,
    pub at_ms: i64,
    pub actor_id: u64,
    pub actor_name: String,
    /// `delete_chat`, `mute`, `unmute`, `kick`, `ban`, `unban` or `filter`.
    pub action: String,
    pub room: Option<String>,
    pub target_account_id: Option<u64>,
    pub target_name: Option<String>,
    pub details: String,
}

/// `GET /api/v1/moderation/log`: newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModLogView {
    pub entries: Vec<ModLogEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomViewers {
    pub id: String,
    pub name: String,
    pub viewers: u32,
    pub capacity: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductStats {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub product_id: ProductId,
    pub name: String,
    /// Times shoppers looked at its card.
    pub views: u32,
    /// Times shoppers picked it up or examined it.
    pub pickups: u32,
    /// How long shoppers held it, on average, in milliseconds.
    pub handling_ms: u32,
    /// Add-to-cart actions.
    pub carts: u32,
    pub units_sold: i64,
    pub sales_minor: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeriesPoint {
    pub at_ms: i64,
    pub viewers: u32,
    pub orders: u32,
    pub sales_minor: i64,
}

/// The console's live dashboard, sent at most once a second.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DashboardView {
    pub at_ms: i64,
    /// The live show; counts below are since it went live (or since the
    /// server started, when none is).
    pub show: Option<ShowView>,
    pub viewers: u32,
    pub rooms: Vec<RoomViewers>,
    pub unique_viewers: u32,
    pub peak_viewers: u32,
    /// Over the last minute.
    pub chat_per_minute: u32,
    pub reactions_per_minute: u32,
    pub add_to_carts: u32,
    pub orders: u32,
    pub buyers: u32,
    pub sales: MoneyView,
    /// Buyers per unique viewer, in basis points (100 = 1 %).
    pub conversion_bp: u32,
    pub products: Vec<ProductStats>,
    pub flash_sales: Vec<FlashSaleView>,
    pub poll: Option<PollView>,
    pub open_questions: u32,
    /// Every 10 s: viewers, orders and sales so far.
    pub series: Vec<SeriesPoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopProduct {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub product_id: ProductId,
    pub name: String,
    pub units: i64,
    pub sales: MoneyView,
}

/// After the show.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShowSummary {
    pub show: ShowView,
    pub peak_viewers: u32,
    pub unique_viewers: u32,
    pub orders: u32,
    pub buyers: u32,
    pub sales: MoneyView,
    pub conversion_bp: u32,
    pub top_products: Vec<TopProduct>,
    pub chat_lines: u32,
}

/// The host's video: where to watch it and whether the host is live.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamView {
    /// Low-latency SRT, for the app.
    pub srt: Option<String>,
    /// HLS playlist, for the web and CDNs.
    pub hls: Option<String>,
    pub live: bool,
}

/// Where and how the host publishes (hosts and co-hosts only).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestView {
    /// SRT ingest: publish with `streamid` set to the key
    /// (`vitrine-host --ingest URL --key KEY`, or OBS/ffmpeg
    /// `srt://host:port?streamid=KEY`).
    pub srt_url: String,
    /// RTMP ingest (OBS "server"), if on; the stream name is the key.
    pub rtmp_url: Option<String>,
    pub stream_key: String,
    pub live: bool,
}

/// The most co-hosts on the stage beside the host.
pub const MAX_CO_HOSTS: usize = 4;

/// Invite a co-host: the name shown on their tag.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewCoHost {
    pub name: String,
}

/// A co-host invited to the stage. The key itself is shown only once, in
/// [`CoHostInvited`]; afterwards only its last characters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoHostView {
    pub id: i64,
    pub name: String,
    /// The stage seat (1 to 4; the host's is 0).
    pub seat: u8,
    /// Where this co-host publishes: `srt://host:port` (streamid = the key).
    pub srt_url: String,
    /// Or over RTMP (OBS's "Server"; the stream key is the key), when the
    /// server takes RTMP.
    pub rtmp_url: Option<String>,
    /// The key's last four characters, to tell keys apart.
    pub key_hint: String,
    pub live: bool,
    pub invited_at_ms: i64,
}

/// A new co-host and their key, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoHostInvited {
    pub co_host: CoHostView,
    pub stream_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoHostList {
    pub co_hosts: Vec<CoHostView>,
    /// How many co-hosts this server's stage seats (up to four).
    pub max: u8,
}

/// How the stage arranges its live publishers.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StageLayout {
    /// The big slot alone.
    Solo,
    /// The big slot on the left, the next live publisher on the right.
    SideBySide,
    /// The big slot full, the others in small tiles bottom right.
    PictureInPicture,
    /// Everyone live in equal cells.
    Grid,
}

/// Switch the stage's layout; `big` names the seat in the big slot, who
/// must be live.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetStage {
    pub layout: StageLayout,
    #[serde(default)]
    pub big: Option<u8>,
}

/// One seat on the stage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageSeat {
    pub seat: u8,
    pub name: String,
    pub live: bool,
    /// Shown now, at `[x, y, width, height]` in the stage's pixels.
    pub shown_at: Option<[i32; 4]>,
}

/// The stage: the layout chosen and the one shown (solo while only one
/// publisher is live), and every seat taken.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageView {
    pub layout: StageLayout,
    pub shown: StageLayout,
    pub big: Option<u8>,
    pub width: u32,
    pub height: u32,
    pub seats: Vec<StageSeat>,
    /// Publishers refused since the server started (a wrong or revoked
    /// key, or a seat already live).
    pub refused: u64,
}

/// The most restream outlets a show sends to.
pub const MAX_OUTLETS: usize = 5;

/// `POST /api/v1/stream/outlets`: another platform the show is sent on to
/// while it is live.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewOutlet {
    /// What the host calls it ("YouTube").
    pub name: String,
    /// The platform's server: `rtmp://` or `rtmps://`.
    pub url: String,
    /// The platform's stream key; never shown again.
    pub stream_key: String,
}

// The key never goes into a log by way of `{:?}`.
impl std::fmt::Debug for NewOutlet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewOutlet")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What a restream outlet is doing.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OutletState {
    /// The show is not live: nothing to send.
    Idle,
    Connecting,
    /// The show is going out to it.
    Live,
    /// It failed (`reason`) and is tried again in `retry_in_s`.
    Retrying,
}

/// A restream outlet; its key only by its last four characters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutletView {
    pub id: i64,
    pub name: String,
    pub url: String,
    /// The key's last four characters (empty for a key under 12).
    pub key_hint: String,
    pub state: OutletState,
    /// Why the last try failed (ffmpeg's words, the key cut out).
    pub reason: Option<String>,
    pub retry_in_s: Option<u32>,
    pub added_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutletList {
    pub outlets: Vec<OutletView>,
    pub max: u8,
}

/// The most characters a review's text may have.
pub const MAX_REVIEW_CHARS: usize = 1000;

/// `POST /api/v1/products/{id}/reviews`: a verified buyer's review.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewReview {
    /// 1 to 5.
    pub stars: u8,
    /// Optional, at most [`MAX_REVIEW_CHARS`] characters; it passes the
    /// chat filter.
    #[serde(default)]
    pub text: String,
}

/// One review as shoppers (and, with `hidden`, staff) see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewView {
    pub id: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub product_id: ProductId,
    /// The product's name, for lists across products.
    pub product_name: String,
    pub author: String,
    pub stars: u8,
    pub text: String,
    pub created_at_ms: i64,
    /// Every review is from a buyer whose order was delivered.
    pub verified_buyer: bool,
    /// Hidden by staff: only staff lists show it.
    #[serde(default)]
    pub hidden: bool,
}

/// A product's reviews: the average of the visible ones, how many, and
/// the latest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewSummary {
    /// Mean stars, 1.0 to 5.0; absent with no reviews.
    pub average: Option<f32>,
    pub count: u64,
    /// Newest first, at most 5.
    pub latest: Vec<ReviewView>,
    /// The caller's own stars for it, when signed in and they reviewed it
    /// (hidden or not): a card asks nobody twice.
    #[serde(default)]
    pub mine: Option<u8>,
}

/// `GET /api/v1/console/reviews`: the newest reviews across products.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewList {
    pub reviews: Vec<ReviewView>,
}

/// `POST /api/v1/moderation/reviews/{id}/hide`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HideReview {
    /// Logged with the action; at most 200 characters.
    #[serde(default)]
    pub reason: Option<String>,
}
