//! What can go wrong in commerce, and the one table of how each refusal
//! reads outside the engine: the HTTP API's status and code, and the
//! refusal a room sends. `http::error` and `rooms::shop` both derive theirs
//! from it.

use super::{MAX_CLAIM_QUANTITY, MAX_RETURN_REASON_CHARS};
use axum::http::StatusCode;
use thiserror::Error;
use vitrine_shared::Money;
use vitrine_shared::protocol::{ClaimRefusal, GroupDealRefusal, ShopRefusal};

/// A refusal a room also sends takes its words from the room's refusal, so
/// the two cannot drift apart.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum CommerceError {
    #[error("no such product variant")]
    UnknownSku,
    #[error("no such flash sale")]
    UnknownSale,
    #[error("only {available} units in stock")]
    NotEnoughStock { available: i64 },
    #[error("{0}")]
    InvalidSale(String),
    #[error("quantity must be 1 to {MAX_CLAIM_QUANTITY}")]
    BadQuantity,
    #[error("the sale has not started: it opens in {opens_in_ms} ms")]
    NotStarted { opens_in_ms: i64 },
    #[error("the sale has ended")]
    Ended,
    #[error("sold out")]
    SoldOut,
    #[error("only {remaining} more for you in this sale (limit {limit} per buyer)")]
    LimitReached { limit: i64, remaining: i64 },
    #[error("this idempotency key was used with a different request")]
    IdempotencyConflict,
    #[error("no such order of yours")]
    UnknownOrder,
    #[error("the order is {status} and cannot be paid")]
    OrderNotPayable { status: String },
    #[error("a payment for this order is already under way")]
    PaymentInProgress,
    #[error("the payment was declined ({reason}); the units are released")]
    PaymentDeclined { reason: String },
    #[error("the payment provider did not answer in time; the units are released")]
    PaymentTimeout,
    #[error("only staff may do this")]
    Forbidden,
    #[error("the order is {status}; that step does not apply")]
    WrongOrderState { status: String },
    #[error("a return needs a reason of 1 to {MAX_RETURN_REASON_CHARS} characters")]
    BadReason,
    #[error("the refund failed at the payment provider; nothing changed")]
    RefundFailed,
    #[error("a product with this id exists already")]
    ProductExists,
    #[error("no such product")]
    UnknownProduct,
    #[error("sku {0} belongs to another product")]
    SkuTaken(String),
    #[error("{}", ShopRefusal::CartFull)]
    CartFull,
    #[error("{}", ShopRefusal::EmptyCart)]
    EmptyCart,
    #[error("all items of an order must be in one currency")]
    CurrencyMismatch,
    #[error("{}", ShopRefusal::UnknownCoupon)]
    UnknownCoupon,
    #[error("{}", ShopRefusal::CouponNotActive)]
    CouponNotActive,
    #[error("{}", ShopRefusal::CouponMinimum { min: *.min })]
    CouponMinimum { min: Money },
    #[error("{}", ShopRefusal::CouponUsedUp)]
    CouponUsedUp,
    #[error("{}", ShopRefusal::CouponLimitReached)]
    CouponLimitReached,
    #[error("a coupon with this code exists already")]
    CouponExists,
    #[error("{0}")]
    InvalidCoupon(String),
    #[error("{0}")]
    InvalidGroupDeal(String),
    #[error("{}", GroupDealRefusal::UnknownDeal)]
    UnknownGroupDeal,
    #[error("{}", GroupDealRefusal::DealClosed)]
    GroupDealClosed,
    #[error("{}", GroupDealRefusal::UnknownTeam)]
    UnknownTeam,
    #[error("{}", GroupDealRefusal::TeamFull)]
    TeamFull,
    #[error("{}", GroupDealRefusal::AlreadyInTeam)]
    AlreadyInTeam,
    #[error("{}", GroupDealRefusal::SoldOut)]
    GroupDealSoldOut,
    #[error("{}", GroupDealRefusal::AlreadyInOpenTeam)]
    AlreadyInOpenTeam,
    #[error("{}", GroupDealRefusal::TooManyOpenTeams)]
    TooManyOpenTeams,
    #[error("the store failed; nothing was changed")]
    Storage,
    #[error("the commerce engine is not running")]
    Unavailable,
    /// A shared-cart request from someone outside the cart's group.
    #[error("{}", ShopRefusal::NotGroupMember)]
    NotGroupMember,
    #[error("{}", ShopRefusal::UnknownLine)]
    UnknownLine,
    #[error("{}", ShopRefusal::PayerNotInGroup)]
    PayerNotInGroup,
    #[error("{}", ShopRefusal::NothingMarkedYours)]
    NothingMarkedYours,
    /// A shared checkout whose lines cost other than its payer was shown.
    #[error("{}", ShopRefusal::CartChanged)]
    CartChanged,
    #[error("{}", ShopRefusal::NotYourMark)]
    NotYourMark,
    /// A coupon bought with points, used by another account.
    #[error("{}", ShopRefusal::CouponNotYours)]
    CouponNotYours,
    /// A deal "until the show ends" asked for while no show is live.
    #[error("no show is live: a deal can only run until the show ends while one is")]
    NoShowLive,
}

/// How one refusal reads to each audience: the HTTP API's status and code,
/// and what a room tells a client whose claim or shop command it refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    /// The stable `code` of the API's error body.
    pub code: &'static str,
    /// To a flash-sale claim made in a room.
    pub claim: ClaimRefusal,
    /// To a cart or checkout command made in a room.
    pub shop: ShopRefusal,
}

impl CommerceError {
    /// The one table of what each error is outside the engine; the HTTP
    /// mapping and the rooms' refusals both read it. It has no wildcard, so
    /// a new variant does not compile until it says how it reads everywhere.
    /// A refusal a room's command cannot meet reads as `Unavailable` there.
    pub fn refusal(&self) -> Refusal {
        use ClaimRefusal as Claim;
        use CommerceError as E;
        use ShopRefusal as Shop;
        let (status, code, claim, shop) = match self.clone() {
            E::UnknownSku => (
                StatusCode::NOT_FOUND,
                "unknown_sku",
                Claim::UnknownSale,
                Shop::UnknownProduct,
            ),
            E::UnknownSale => (
                StatusCode::NOT_FOUND,
                "sale_not_found",
                Claim::UnknownSale,
                Shop::Unavailable,
            ),
            E::NotEnoughStock { available } => (
                StatusCode::CONFLICT,
                "not_enough_stock",
                Claim::NotEnoughLeft { available },
                Shop::NotEnoughStock { available },
            ),
            E::InvalidSale(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_sale",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::BadQuantity => (
                StatusCode::BAD_REQUEST,
                "bad_quantity",
                Claim::BadQuantity,
                Shop::BadQuantity,
            ),
            E::NotStarted { opens_in_ms } => (
                StatusCode::CONFLICT,
                "not_started",
                Claim::NotStarted { opens_in_ms },
                Shop::Unavailable,
            ),
            E::Ended => (
                StatusCode::CONFLICT,
                "sale_ended",
                Claim::Ended,
                Shop::Unavailable,
            ),
            E::SoldOut => (
                StatusCode::CONFLICT,
                "sold_out",
                Claim::SoldOut,
                Shop::Unavailable,
            ),
            E::LimitReached { limit, remaining } => (
                StatusCode::CONFLICT,
                "limit_reached",
                Claim::LimitReached { limit, remaining },
                Shop::Unavailable,
            ),
            E::IdempotencyConflict => (
                StatusCode::CONFLICT,
                "idempotency_conflict",
                Claim::Unavailable,
                Shop::RequestReused,
            ),
            E::UnknownOrder => (
                StatusCode::NOT_FOUND,
                "order_not_found",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::OrderNotPayable { .. } => (
                StatusCode::CONFLICT,
                "order_not_payable",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::PaymentInProgress => (
                StatusCode::CONFLICT,
                "payment_in_progress",
                Claim::Unavailable,
                Shop::PaymentInProgress,
            ),
            E::PaymentDeclined { reason } => (
                StatusCode::PAYMENT_REQUIRED,
                "payment_declined",
                Claim::Unavailable,
                Shop::PaymentDeclined { reason },
            ),
            E::PaymentTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "payment_timeout",
                Claim::Unavailable,
                Shop::PaymentTimeout,
            ),
            E::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::WrongOrderState { .. } => (
                StatusCode::CONFLICT,
                "order_state",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::BadReason => (
                StatusCode::BAD_REQUEST,
                "invalid_reason",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::RefundFailed => (
                StatusCode::BAD_GATEWAY,
                "refund_failed",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::ProductExists => (
                StatusCode::CONFLICT,
                "product_exists",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::UnknownProduct => (
                StatusCode::NOT_FOUND,
                "product_not_found",
                Claim::Unavailable,
                Shop::UnknownProduct,
            ),
            E::SkuTaken(_) => (
                StatusCode::CONFLICT,
                "sku_taken",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::CartFull => (
                StatusCode::CONFLICT,
                "cart_full",
                Claim::Unavailable,
                Shop::CartFull,
            ),
            E::EmptyCart => (
                StatusCode::CONFLICT,
                "empty_cart",
                Claim::Unavailable,
                Shop::EmptyCart,
            ),
            E::CurrencyMismatch => (
                StatusCode::CONFLICT,
                "currency_mismatch",
                Claim::Unavailable,
                Shop::CurrencyMismatch,
            ),
            E::UnknownCoupon => (
                StatusCode::NOT_FOUND,
                "coupon_not_found",
                Claim::Unavailable,
                Shop::UnknownCoupon,
            ),
            E::CouponNotActive => (
                StatusCode::CONFLICT,
                "coupon_not_active",
                Claim::Unavailable,
                Shop::CouponNotActive,
            ),
            E::CouponMinimum { min } => (
                StatusCode::CONFLICT,
                "coupon_minimum",
                Claim::Unavailable,
                Shop::CouponMinimum { min },
            ),
            E::CouponUsedUp => (
                StatusCode::CONFLICT,
                "coupon_used_up",
                Claim::Unavailable,
                Shop::CouponUsedUp,
            ),
            E::CouponLimitReached => (
                StatusCode::CONFLICT,
                "coupon_limit_reached",
                Claim::Unavailable,
                Shop::CouponLimitReached,
            ),
            E::CouponExists => (
                StatusCode::CONFLICT,
                "coupon_exists",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::InvalidCoupon(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_coupon",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            // A room's team commands read these through `group_refusal`.
            E::InvalidGroupDeal(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_group_deal",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::UnknownGroupDeal => (
                StatusCode::NOT_FOUND,
                "group_deal_not_found",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::GroupDealClosed => (
                StatusCode::CONFLICT,
                "group_deal_closed",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::UnknownTeam => (
                StatusCode::NOT_FOUND,
                "team_not_found",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::TeamFull => (
                StatusCode::CONFLICT,
                "team_full",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::AlreadyInTeam => (
                StatusCode::CONFLICT,
                "already_in_team",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::GroupDealSoldOut => (
                StatusCode::CONFLICT,
                "group_deal_sold_out",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::AlreadyInOpenTeam => (
                StatusCode::CONFLICT,
                "already_in_open_team",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::NoShowLive => (
                StatusCode::CONFLICT,
                "no_show_live",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::TooManyOpenTeams => (
                StatusCode::CONFLICT,
                "too_many_open_teams",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::Storage | E::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "commerce_unavailable",
                Claim::Unavailable,
                Shop::Unavailable,
            ),
            E::NotGroupMember => (
                StatusCode::FORBIDDEN,
                "not_group_member",
                Claim::Unavailable,
                Shop::NotGroupMember,
            ),
            E::UnknownLine => (
                StatusCode::NOT_FOUND,
                "line_not_found",
                Claim::Unavailable,
                Shop::UnknownLine,
            ),
            E::PayerNotInGroup => (
                StatusCode::BAD_REQUEST,
                "payer_not_in_group",
                Claim::Unavailable,
                Shop::PayerNotInGroup,
            ),
            E::NothingMarkedYours => (
                StatusCode::CONFLICT,
                "nothing_marked_yours",
                Claim::Unavailable,
                Shop::NothingMarkedYours,
            ),
            E::CouponNotYours => (
                StatusCode::FORBIDDEN,
                "coupon_not_yours",
                Claim::Unavailable,
                Shop::CouponNotYours,
            ),
            E::CartChanged => (
                StatusCode::CONFLICT,
                "cart_changed",
                Claim::Unavailable,
                Shop::CartChanged,
            ),
            E::NotYourMark => (
                StatusCode::FORBIDDEN,
                "not_your_mark",
                Claim::Unavailable,
                Shop::NotYourMark,
            ),
        };
        Refusal {
            status,
            code,
            claim,
            shop,
        }
    }

    /// What a room tells a member whose team command it refused: the group
    /// deal's own refusals, else the shop's (a declined card, short stock).
    pub fn group_refusal(&self) -> GroupDealRefusal {
        use CommerceError as E;
        match self {
            E::UnknownGroupDeal => GroupDealRefusal::UnknownDeal,
            E::GroupDealClosed => GroupDealRefusal::DealClosed,
            E::UnknownTeam => GroupDealRefusal::UnknownTeam,
            E::TeamFull => GroupDealRefusal::TeamFull,
            E::AlreadyInTeam => GroupDealRefusal::AlreadyInTeam,
            E::GroupDealSoldOut => GroupDealRefusal::SoldOut,
            E::AlreadyInOpenTeam => GroupDealRefusal::AlreadyInOpenTeam,
            E::TooManyOpenTeams => GroupDealRefusal::TooManyOpenTeams,
            other => GroupDealRefusal::Shop(other.refusal().shop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ApiError;
    use vitrine_shared::Currency;

    /// One of each variant, with numbers that cannot be mistaken for each
    /// other.
    fn one_of_each() -> Vec<CommerceError> {
        use CommerceError as E;
        let eur = Currency::new("EUR").unwrap();
        let all = vec![
            E::UnknownSku,
            E::UnknownSale,
            E::NotEnoughStock { available: 7 },
            E::InvalidSale("quantity must be 1 to 1000000".into()),
            E::BadQuantity,
            E::NotStarted { opens_in_ms: 4321 },
            E::Ended,
            E::SoldOut,
            E::LimitReached {
                limit: 3,
                remaining: 2,
            },
            E::IdempotencyConflict,
            E::UnknownOrder,
            E::OrderNotPayable {
                status: "cancelled".into(),
            },
            E::PaymentInProgress,
            E::PaymentDeclined {
                reason: "do not honour 05".into(),
            },
            E::PaymentTimeout,
            E::Forbidden,
            E::WrongOrderState {
                status: "paid".into(),
            },
            E::BadReason,
            E::RefundFailed,
            E::ProductExists,
            E::UnknownProduct,
            E::SkuTaken("mug-9".into()),
            E::CartFull,
            E::EmptyCart,
            E::CurrencyMismatch,
            E::UnknownCoupon,
            E::CouponNotActive,
            E::CouponMinimum {
                min: Money::new(1250, eur),
            },
            E::CouponUsedUp,
            E::CouponLimitReached,
            E::CouponExists,
            E::InvalidCoupon("percent must be 1 to 100".into()),
            E::InvalidGroupDeal("a team needs 2 to 5 members".into()),
            E::UnknownGroupDeal,
            E::GroupDealClosed,
            E::UnknownTeam,
            E::TeamFull,
            E::AlreadyInTeam,
            E::GroupDealSoldOut,
            E::AlreadyInOpenTeam,
            E::TooManyOpenTeams,
            E::Storage,
            E::Unavailable,
            E::NotGroupMember,
            E::UnknownLine,
            E::PayerNotInGroup,
            E::NothingMarkedYours,
            E::CartChanged,
            E::NotYourMark,
            E::CouponNotYours,
            E::NoShowLive,
        ];
        // No wildcard: a new variant does not compile until it is named here,
        // which is the reminder to add it to the list above too.
        for e in &all {
            match e {
                E::UnknownSku
                | E::UnknownSale
                | E::NotEnoughStock { .. }
                | E::InvalidSale(_)
                | E::BadQuantity
                | E::NotStarted { .. }
                | E::Ended
                | E::SoldOut
                | E::LimitReached { .. }
                | E::IdempotencyConflict
                | E::UnknownOrder
                | E::OrderNotPayable { .. }
                | E::PaymentInProgress
                | E::PaymentDeclined { .. }
                | E::PaymentTimeout
                | E::Forbidden
                | E::WrongOrderState { .. }
                | E::BadReason
                | E::RefundFailed
                | E::ProductExists
                | E::UnknownProduct
                | E::SkuTaken(_)
                | E::CartFull
                | E::EmptyCart
                | E::CurrencyMismatch
                | E::UnknownCoupon
                | E::CouponNotActive
                | E::CouponMinimum { .. }
                | E::CouponUsedUp
                | E::CouponLimitReached
                | E::CouponExists
                | E::InvalidCoupon(_)
                | E::InvalidGroupDeal(_)
                | E::UnknownGroupDeal
                | E::GroupDealClosed
                | E::UnknownTeam
                | E::TeamFull
                | E::AlreadyInTeam
                | E::GroupDealSoldOut
                | E::AlreadyInOpenTeam
                | E::TooManyOpenTeams
                | E::Storage
                | E::Unavailable
                | E::NotGroupMember
                | E::UnknownLine
                | E::PayerNotInGroup
                | E::NothingMarkedYours
                | E::CartChanged
                | E::NotYourMark
                | E::CouponNotYours => {}
                E::NoShowLive => {}
            }
        }
        all
    }

    /// The numbers a text states, in order.
    fn numbers(text: &str) -> Vec<String> {
        text.split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_error_reads_the_same_over_http_and_in_rooms() {
        let all = one_of_each();
        let kinds: std::collections::HashSet<_> = all.iter().map(std::mem::discriminant).collect();
        assert_eq!(kinds.len(), all.len(), "each variant once");
        for e in &all {
            let r = e.refusal();
            // The HTTP view is the table's, with the error's own message.
            let api = ApiError::from(e.clone());
            assert_eq!((api.status, api.code), (r.status, r.code), "{e:?}");
            assert_eq!(api.message, e.to_string(), "{e:?}");
            assert!(
                r.status.is_client_error() || r.status.is_server_error(),
                "{e:?} is a refusal"
            );
            // A room states no fact the API does not: every number in its
            // refusal is in the error's message.
            let said = numbers(&e.to_string());
            for room in [r.claim.to_string(), r.shop.to_string()] {
                for n in numbers(&room) {
                    assert!(said.contains(&n), "{e:?}: the room says {room:?}");
                }
            }
            if let CommerceError::PaymentDeclined { reason } = e {
                assert!(r.shop.to_string().contains(reason.as_str()));
                assert!(e.to_string().contains(reason.as_str()));
            }
            // Not found over HTTP is "unknown" in a room, and the other way
            // round; a room that cannot meet this error says unavailable.
            let unknown_in_room = matches!(r.claim, ClaimRefusal::UnknownSale)
                || matches!(
                    r.shop,
                    ShopRefusal::UnknownProduct
                        | ShopRefusal::UnknownCoupon
                        | ShopRefusal::UnknownLine
                );
            if unknown_in_room {
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{e:?}");
            }
            if r.status == StatusCode::NOT_FOUND {
                assert!(
                    matches!(
                        r.claim,
                        ClaimRefusal::UnknownSale | ClaimRefusal::Unavailable
                    ),
                    "{e:?}"
                );
                assert!(
                    matches!(
                        r.shop,
                        ShopRefusal::UnknownProduct
                            | ShopRefusal::UnknownCoupon
                            | ShopRefusal::UnknownLine
                            | ShopRefusal::Unavailable
                    ),
                    "{e:?}"
                );
            }
            // The engine being down reads as unavailable everywhere.
            if r.code == "commerce_unavailable" {
                assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
                assert_eq!(
                    (&r.claim, &r.shop),
                    (&ClaimRefusal::Unavailable, &ShopRefusal::Unavailable),
                    "{e:?}"
                );
            } else {
                assert_ne!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{e:?}");
            }
        }
        // A code names one meaning: errors sharing one read the same.
        for a in &all {
            for b in &all {
                let (ra, rb) = (a.refusal(), b.refusal());
                if ra.code == rb.code {
                    assert_eq!(ra, rb, "{a:?} and {b:?} share a code");
                }
            }
        }
    }
}
