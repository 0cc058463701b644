//! Commerce on the wire: checkout commands, flash sales, carts, orders and
//! coupons as rooms see them.

use super::{SharedCartNet, ShopRefusal};
use crate::ids::{OrderId, SaleId};
use crate::money::Money;
use crate::validated::{CouponCode, PaymentMethod, ProductId, Sku};
use serde::{Deserialize, Serialize};

/// A purchase from the room. There is no price anywhere: the server prices
/// every line. `request_id` is the client's: sending the same id again (a
/// double tap, a resend after reconnecting) answers with the same order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutCommand {
    pub request_id: u32,
    pub items: Purchase,
    pub coupon: Option<CouponCode>,
    pub payment: PaymentMethod,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Purchase {
    /// Everything in your cart.
    Cart,
    /// One variant, straight from the display.
    BuyNow { sku: Sku, quantity: u16 },
}

/// A flash sale as rooms see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashSaleNet {
    pub id: SaleId,
    pub product: ProductId,
    pub sku: Sku,
    pub price: Money,
    pub quantity: i64,
    pub units_left: i64,
    pub per_buyer_limit: i64,
    /// Unix milliseconds: clients count down to it.
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
}

/// Commerce news for every room of the show, and claim results for the
/// claimer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommerceEventNet {
    SaleAnnounced(FlashSaleNet),
    SaleOpened {
        sale_id: SaleId,
    },
    UnitsLeft {
        sale_id: SaleId,
        units_left: i64,
    },
    SoldOut {
        sale_id: SaleId,
    },
    SaleEnded {
        sale_id: SaleId,
    },
    /// To the claimer only: the order the claim made.
    Claimed {
        sale_id: SaleId,
        order_id: OrderId,
        quantity: i64,
        total: Money,
    },
    /// To the shopper: the whole cart, after any change to it.
    Cart(CartNet),
    /// To the buyer: one of their orders was made or moved on.
    Order(OrderNet),
    /// To a buyer joining a room: their most recent orders (at most 20,
    /// newest first) as they stand, so what changed while they were away
    /// is listed.
    RecentOrders(Vec<OrderNet>),
    /// To the buyer: the answer to their checkout command.
    CheckoutDone {
        request_id: u32,
        order: OrderNet,
    },
    CheckoutFailed {
        request_id: u32,
        reason: ShopRefusal,
    },
    /// To everyone: the coupon the host pinned in the show, or none.
    CouponPinned(Option<CouponNet>),
    /// To each member of a group: its whole shared cart, after any change.
    SharedCart(SharedCartNet),
    /// To the reviewer: the answer to their review command, `None` when
    /// it was posted.
    Reviewed {
        product: ProductId,
        stars: u8,
        refused: Option<super::ReviewRefusal>,
    },
}

/// Why the cart is being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CartChange {
    /// On joining a room: the cart as it is.
    Current,
    /// The shopper changed it.
    Updated,
    /// Lines whose hold ran out were removed and their units released.
    Expired,
    /// Its lines became an order.
    CheckedOut,
    /// A checkout's payment failed: its lines are back in the cart.
    Restored,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLineNet {
    pub sku: Sku,
    pub product: ProductId,
    pub name: String,
    /// The variant's price now; checkout charges the price at that moment.
    pub unit_price: Money,
    pub quantity: i64,
    /// Unix milliseconds: the units are released then unless checked out.
    pub held_until_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartNet {
    pub change: CartChange,
    pub lines: Vec<CartLineNet>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    Pending,
    Paid,
    Fulfilled,
    Delivered,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::Fulfilled,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineNet {
    pub sku: Sku,
    pub quantity: i64,
    pub unit_price: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderNet {
    pub id: OrderId,
    pub status: OrderStatus,
    /// What is charged: the lines less the discount.
    pub total: Money,
    pub discount: Money,
    pub coupon: Option<CouponCode>,
    pub lines: Vec<OrderLineNet>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiscountNet {
    /// 1 to [`MAX_PERCENT_OFF`](crate::limits::commerce::MAX_PERCENT_OFF)
    /// percent off the order's lines.
    Percent(u8),
    /// A fixed amount off.
    Amount(Money),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponNet {
    pub code: CouponCode,
    pub discount: DiscountNet,
    pub min_order: Money,
    /// Unix milliseconds.
    pub ends_at_ms: i64,
    /// Redemptions left, when the coupon is capped.
    pub remaining: Option<i64>,
}
