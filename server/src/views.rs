//! Domain records as the API shows them: the JSON views of sales, claims,
//! orders, carts, coupons and shows. The HTTP API and the host console both
//! speak these, so the conversions live here, beside neither.

use crate::commerce::{CartLine, Claimed, CouponInfo, Discount, FlashSale, OrderRecord};
use crate::engagement::Show;
use vitrine_shared::Money;
use vitrine_shared::api::{
    CartLineView, CartView, ClaimView, CouponView, FlashSaleView, OrderLineView, OrderView,
    ShowView,
};

pub fn flash_sale_view(s: FlashSale) -> FlashSaleView {
    let units_left = s.units_left();
    FlashSaleView {
        id: s.id,
        product_id: s.product,
        sku: s.sku,
        sale_price: s.price.into(),
        quantity: s.quantity,
        sold: s.sold,
        units_left,
        per_buyer_limit: s.per_buyer_limit,
        starts_at_ms: s.starts_at_ms,
        ends_at_ms: s.ends_at_ms,
        state: s.state.as_str().to_owned(),
    }
}

pub fn claim_view(c: Claimed) -> ClaimView {
    ClaimView {
        order_id: c.order_id,
        sale_id: c.sale_id,
        sku: c.sku,
        quantity: c.quantity,
        unit_price: c.unit_price.into(),
        total: c.total.into(),
        units_left: c.units_left,
    }
}

pub fn order_view(o: OrderRecord) -> OrderView {
    OrderView {
        id: o.id,
        status: o.status,
        total: o.total.into(),
        flash_sale_id: o.flash_sale_id,
        source: o.source,
        discount: o.discount.into(),
        coupon: o.coupon,
        created_at_ms: o.created_at_ms,
        return_reason: o.return_reason,
        failure: o.failure,
        lines: o
            .lines
            .into_iter()
            .map(|l| OrderLineView {
                sku: l.sku,
                quantity: l.quantity,
                unit_price: l.unit_price.into(),
            })
            .collect(),
    }
}

pub fn cart_view(lines: Vec<CartLine>) -> CartView {
    let subtotal = lines.first().map(|first| {
        let minor = lines.iter().map(|l| l.unit_price.minor * l.quantity).sum();
        Money::new(minor, first.unit_price.currency).into()
    });
    CartView {
        lines: lines
            .into_iter()
            .map(|l| CartLineView {
                sku: l.sku,
                product_id: l.product,
                name: l.name,
                unit_price: l.unit_price.into(),
                quantity: l.quantity,
                held_until_ms: l.held_until_ms,
            })
            .collect(),
        subtotal,
    }
}

pub fn coupon_view(info: CouponInfo) -> CouponView {
    let c = info.coupon;
    let (percent_off, amount_off) = match c.discount {
        Discount::Percent(p) => (Some(p), None),
        Discount::Amount(a) => (None, Some(Money::new(a, c.currency).into())),
    };
    CouponView {
        code: c.code.to_string(),
        percent_off,
        amount_off,
        min_order: Money::new(c.min_order_minor, c.currency).into(),
        max_redemptions: c.max_redemptions,
        per_buyer_limit: c.per_buyer_limit,
        redeemed: info.redeemed,
        starts_at_ms: c.starts_at_ms,
        ends_at_ms: c.ends_at_ms,
        pinned: info.pinned,
    }
}

pub fn show_view(s: Show) -> ShowView {
    let status = match (s.live_at_ms, s.ended_at_ms) {
        (_, Some(_)) => "ended",
        (Some(_), None) => "live",
        (None, None) => "scheduled",
    };
    ShowView {
        id: s.id,
        title: s.title,
        status: status.to_owned(),
        scheduled_at_ms: s.scheduled_at_ms,
        live_at_ms: s.live_at_ms,
        ended_at_ms: s.ended_at_ms,
        lineup: s.lineup,
        featured: s.featured,
    }
}
