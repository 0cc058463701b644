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

impl CouponNet {
    /// What the coupon takes off an order of `subtotal` at `now_ms`, priced
    /// as the server prices it, or the refusal the server would give on
    /// what this says, checked in the server's order. What it does not say
    /// (a start still to come, uses since it was sent, a shopper's own
    /// uses, a coupon bound to one account) only the server knows, so it
    /// may still refuse the checkout, which then fails with its reason.
    pub fn preview(&self, subtotal: Money, now_ms: i64) -> Result<Money, ShopRefusal> {
        if now_ms >= self.ends_at_ms {
            return Err(ShopRefusal::CouponNotActive);
        }
        if subtotal.currency != self.min_order.currency {
            return Err(ShopRefusal::CurrencyMismatch);
        }
        if subtotal.minor < self.min_order.minor {
            return Err(ShopRefusal::CouponMinimum {
                min: self.min_order,
            });
        }
        if self.remaining == Some(0) {
            return Err(ShopRefusal::CouponUsedUp);
        }
        let off = match self.discount {
            DiscountNet::Percent(p) => crate::money::percent_of(subtotal.minor, i64::from(p)),
            DiscountNet::Amount(a) => a.minor,
        };
        Ok(Money::new(
            off.clamp(0, subtotal.minor.max(0)),
            subtotal.currency,
        ))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn a_coupon_preview_prices_as_the_server_and_refuses_as_it_would() {
        let eur = |minor| Money::new(minor, Currency::EUR);
        let coupon = CouponNet {
            code: CouponCode::new("TEN").unwrap(),
            discount: DiscountNet::Percent(10),
            min_order: eur(1000),
            ends_at_ms: 5_000,
            remaining: Some(3),
        };
        assert_eq!(coupon.preview(eur(2499), 0), Ok(eur(249)));
        assert_eq!(
            coupon.preview(eur(999), 0),
            Err(ShopRefusal::CouponMinimum { min: eur(1000) })
        );
        assert_eq!(
            coupon.preview(eur(2499), 5_000),
            Err(ShopRefusal::CouponNotActive)
        );
        assert_eq!(
            coupon.preview(Money::new(2499, Currency::new("USD").unwrap()), 0),
            Err(ShopRefusal::CurrencyMismatch)
        );
        let used_up = CouponNet {
            remaining: Some(0),
            ..coupon.clone()
        };
        assert_eq!(
            used_up.preview(eur(2499), 0),
            Err(ShopRefusal::CouponUsedUp)
        );
        // A fixed amount never takes more than the order.
        let amount = CouponNet {
            discount: DiscountNet::Amount(eur(5000)),
            ..coupon
        };
        assert_eq!(amount.preview(eur(2499), 0), Ok(eur(2499)));
    }
}
