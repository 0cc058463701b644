//! Refusals: why the server turned a command down, answered to its sender.

use super::CommandKind;
use crate::ids::MemberSlot;
use crate::limits::commerce::{MAX_CART_LINES, MAX_CLAIM_QUANTITY};
use crate::money::Money;
use crate::pose::PoseError;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    pub command: CommandKind,
    pub reason: RejectReason,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Error)]
pub enum RejectReason {
    #[error("too fast: try again in {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u32 },
    #[error("invalid pose: {0}")]
    InvalidPose(PoseError),
    #[error("your role may not do this")]
    NotAllowed,
    #[error("{0}")]
    Claim(ClaimRefusal),
    #[error("{0}")]
    Shop(ShopRefusal),
    #[error("{0}")]
    Engagement(EngagementRefusal),
    #[error("you are muted for {remaining_ms} ms more")]
    Muted { remaining_ms: u64 },
    #[error("that message contains a blocked word")]
    Filtered,
    /// Someone else holds this product.
    #[error("someone else is holding this product")]
    ProductHeld { by: MemberSlot },
    /// Putting back or dropping a product you do not hold.
    #[error("you are not holding this product")]
    NotHolding,
    /// You already hold [`MAX_HELD_PRODUCTS`](super::MAX_HELD_PRODUCTS)
    /// products.
    #[error("your hands are full: put something down first")]
    HandsFull,
    /// A position that is not finite or lies outside the room.
    #[error("that position is outside the room")]
    InvalidPosition,
    /// A hand-off with hands too far apart, or a teleport beyond its range.
    #[error("out of reach: move closer")]
    OutOfReach,
}

impl RejectReason {
    /// A stable label, used in metrics.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::RateLimited { .. } => "rate_limited",
            RejectReason::InvalidPose(_) => "invalid_pose",
            RejectReason::NotAllowed => "not_allowed",
            RejectReason::Claim(_) => "claim_refused",
            RejectReason::Shop(_) => "shop_refused",
            RejectReason::Engagement(_) => "engagement_refused",
            RejectReason::Muted { .. } => "muted",
            RejectReason::Filtered => "filtered",
            RejectReason::ProductHeld { .. } => "product_held",
            RejectReason::NotHolding => "not_holding",
            RejectReason::HandsFull => "hands_full",
            RejectReason::InvalidPosition => "invalid_position",
            RejectReason::OutOfReach => "out_of_reach",
        }
    }
}

/// Why a flash-sale claim was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum ClaimRefusal {
    #[error("no such flash sale")]
    UnknownSale,
    #[error("quantity must be 1 to {MAX_CLAIM_QUANTITY}")]
    BadQuantity,
    #[error("the sale opens in {opens_in_ms} ms")]
    NotStarted { opens_in_ms: i64 },
    #[error("the sale has ended")]
    Ended,
    #[error("sold out")]
    SoldOut,
    #[error("only {available} left")]
    NotEnoughLeft { available: i64 },
    #[error("only {remaining} more for you (limit {limit} per buyer)")]
    LimitReached { limit: i64, remaining: i64 },
    #[error("the shop is unavailable; nothing was bought")]
    Unavailable,
}

/// Why a vote, question, upvote or giveaway entry was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum EngagementRefusal {
    #[error("no such poll")]
    UnknownPoll,
    #[error("the poll has closed")]
    PollClosed,
    #[error("no such option")]
    BadOption,
    #[error("you have voted in this poll")]
    AlreadyVoted,
    #[error("no such question")]
    UnknownQuestion,
    #[error("you cannot upvote your own question")]
    OwnQuestion,
    #[error("you have upvoted this question")]
    AlreadyUpvoted,
    #[error("no such product")]
    UnknownProduct,
    #[error("no such giveaway")]
    UnknownGiveaway,
    #[error("the giveaway is closed")]
    GiveawayClosed,
    #[error("you have entered this giveaway")]
    AlreadyEntered,
    #[error("not eligible: {0}")]
    NotEligible(String),
    #[error("engagement is unavailable")]
    Unavailable,
}

/// Why a review was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum ReviewRefusal {
    #[error("stars are 1 to 5")]
    Stars,
    #[error("a review's text is at most 1000 characters")]
    TooLong,
    #[error("the review contains a blocked word")]
    Filtered,
    #[error("a review's text holds no control characters or direction overrides")]
    BadCharacter,
    #[error("no such product")]
    UnknownProduct,
    #[error("only a buyer of this product may review it")]
    NotBought,
    #[error("you can review this once your order has been delivered")]
    NotDelivered,
    #[error("you have already reviewed this product")]
    AlreadyReviewed,
    #[error("reviews are unavailable; try again")]
    Unavailable,
}

/// Why a cart change or a checkout was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum ShopRefusal {
    #[error("no such product on sale")]
    UnknownProduct,
    #[error("quantity must be 1 to {MAX_CLAIM_QUANTITY}")]
    BadQuantity,
    #[error("only {available} available")]
    NotEnoughStock { available: i64 },
    #[error("your cart is full: at most {MAX_CART_LINES} lines")]
    CartFull,
    #[error("your cart is empty")]
    EmptyCart,
    #[error("no such coupon")]
    UnknownCoupon,
    #[error("this coupon is not valid now")]
    CouponNotActive,
    #[error("this coupon needs an order of at least {min}")]
    CouponMinimum { min: Money },
    #[error("this coupon has been used up")]
    CouponUsedUp,
    #[error("you have used this coupon as often as allowed")]
    CouponLimitReached,
    #[error("the payment was declined ({reason}); nothing was charged")]
    PaymentDeclined { reason: String },
    #[error("the payment provider did not answer; nothing was charged")]
    PaymentTimeout,
    #[error("this purchase is being paid already")]
    PaymentInProgress,
    #[error("this request id was used for a different purchase")]
    RequestReused,
    #[error("all items of an order must be in one currency")]
    CurrencyMismatch,
    #[error("the shop is unavailable; nothing was bought")]
    Unavailable,
    /// A shared-cart command from someone outside the cart's group.
    #[error("you are not in this shared cart's group")]
    NotGroupMember,
    #[error("no such line in the shared cart")]
    UnknownLine,
    /// A shared-cart line marked for someone outside the group.
    #[error("only a member of the group can pay for a line")]
    PayerNotInGroup,
    #[error("no line of the shared cart is marked as yours")]
    NothingMarkedYours,
    /// The lines being paid for cost other than the payer was shown.
    #[error("the shared cart changed since you looked; look again, nothing was charged")]
    CartChanged,
    /// A member marks lines as theirs, never as someone else's.
    #[error("you can mark a line as yours only")]
    NotYourMark,
    /// A coupon bought with points is its buyer's alone.
    #[error("this coupon belongs to another shopper")]
    CouponNotYours,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_real_limits() {
        let quantity = format!("quantity must be 1 to {MAX_CLAIM_QUANTITY}");
        assert_eq!(ClaimRefusal::BadQuantity.to_string(), quantity);
        assert_eq!(ShopRefusal::BadQuantity.to_string(), quantity);
        assert!(
            ShopRefusal::CartFull
                .to_string()
                .ends_with(&format!("at most {MAX_CART_LINES} lines"))
        );
    }
}
