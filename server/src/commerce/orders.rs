//! Orders after they are made: staff moves a paid one along (fulfilled,
//! delivered), and an unpaid one is cancelled (declined, timed out or
//! expired) with its units and coupon given back.

use super::checkout::Failure;
use super::engine::Engine;
use super::ledger::{self, OrderRecord, Origin, PendingOrder, Release};
use super::{CommerceError, CommerceEvent, OrderStep};
use crate::store::StoreError;
use vitrine_shared::OrderId;

impl Engine {
    /// Cancels a pending order, says why, and gives its units back: a flash
    /// sale's to the sale while it is open, a cart's to the cart when its
    /// payment failed (so the shopper can try another card), the rest to
    /// stock. The coupon it used is given back too. On a storage failure
    /// the order stays pending.
    pub(super) async fn release(
        &mut self,
        order_id: OrderId,
        order: PendingOrder,
        why: Failure,
    ) -> Result<(), CommerceError> {
        let now = self.clock.now_ms();
        let release = match (order.origin, &why) {
            (Origin::FlashSale(sale_id), _)
                if self.sales.get(&sale_id).is_some_and(|s| !s.closed) =>
            {
                Release::Sale(sale_id)
            }
            (Origin::Cart, Failure::Declined(_) | Failure::Timeout) => Release::Cart {
                held_until: now + self.settings.cart_hold.as_millis() as i64,
            },
            // Back into the group's cart after a decline, while the group
            // lasts and its payer is in it. (A payment with no answer never
            // gets here: its order waits for the retry.)
            (Origin::SharedCart, Failure::Declined(_)) => {
                match self.shared.restorable(order_id, order.buyer) {
                    Some((group, lines)) => Release::SharedCart {
                        held_until: now + self.settings.cart_hold.as_millis() as i64,
                        group,
                        lines,
                    },
                    None => Release::Stock,
                }
            }
            _ => Release::Stock,
        };
        let shared_rows = self.shared.order_lines(order_id);
        if let Err(e) = ledger::cancel_order(
            &self.store,
            order_id,
            &order,
            release,
            &why.as_stored(),
            shared_rows,
        )
        .await
        {
            tracing::error!(%e, order_id = order_id.get(), "order not cancelled");
            self.orders.insert(order_id, order);
            return Err(CommerceError::Storage);
        }
        // A hold the provider made for it is released: nobody pays for a
        // cancelled order.
        if let Some(authorization) = self.authorizations.remove(&order_id) {
            self.give_back(order_id, authorization, order.total, false);
        } else if self.inherited.remove(&order_id) && order.total.minor > 0 {
            // Pending across a restart: whatever the provider holds or took
            // under the order's keys (a payment the crash cut off) goes back.
            self.give_back_unheard(order_id, order.total);
        }
        // Per-buyer counts are by shopper (guests from one network together);
        // the same shopper gets its units and its coupon use back.
        let shopper = self.shopper(order.buyer).await.ok();
        match release {
            Release::Sale(sale_id) => {
                if let Some(sale) = self.sales.get_mut(&sale_id) {
                    let quantity: i64 = order.lines.iter().map(|(_, q)| q).sum();
                    sale.sale.sold -= quantity;
                    if let Some(bought) = shopper.as_ref().and_then(|s| sale.bought.get_mut(s)) {
                        *bought -= quantity;
                    }
                    let units_left = sale.sale.units_left();
                    let _ = self.events.send(CommerceEvent::UnitsLeft {
                        sale_id,
                        units_left,
                    });
                }
            }
            Release::Cart { held_until } => {
                if let Err(e) = self
                    .restore_cart(order.buyer, &order.lines, held_until)
                    .await
                {
                    tracing::warn!(%e, order_id = order_id.get(), "cart restored in the store but not in memory");
                }
            }
            Release::SharedCart { held_until, .. } => {
                self.restore_shared_cart(order_id, held_until)
            }
            Release::Stock => {}
        }
        self.shared.forget(order_id);
        if let Some(code) = &order.coupon
            && let Some(coupon) = self.coupons.get_mut(code)
        {
            match shopper {
                Some(shopper) => coupon.redeem(shopper, -1),
                // Unknown only when the store failed: the use in all
                // comes back, the shopper's stays spent.
                None => coupon.redeemed -= 1,
            }
        }
        // A retry with the claim's idempotency key must not find a cancelled order.
        self.keys.retain(|_, (_, claim)| claim.order_id != order_id);
        self.announce_order(order.buyer, order_id).await;
        Ok(())
    }

    pub(super) async fn advance(
        &mut self,
        staff: bool,
        order_id: OrderId,
        step: OrderStep,
    ) -> Result<OrderRecord, CommerceError> {
        if !staff {
            return Err(CommerceError::Forbidden);
        }
        let storage = |e: StoreError| {
            tracing::error!(%e, order_id = order_id.get(), "order step not recorded");
            CommerceError::Storage
        };
        let (buyer, order, _) = ledger::order_by_id(&self.store, order_id)
            .await
            .map_err(storage)?
            .ok_or(CommerceError::UnknownOrder)?;
        let (from, to) = step.statuses();
        if !ledger::advance(&self.store, order_id, from, to)
            .await
            .map_err(storage)?
        {
            return Err(CommerceError::WrongOrderState {
                status: order.status,
            });
        }
        tracing::info!(order_id = order_id.get(), to, "order moved on");
        self.announce_order(buyer, order_id).await;
        let moved = ledger::orders(&self.store, buyer, Some(order_id))
            .await
            .map_err(storage)?;
        moved.into_iter().next().ok_or(CommerceError::UnknownOrder)
    }

    /// Cancels orders claimed but unpaid for longer than the payment hold.
    pub(super) async fn expire_unpaid(&mut self, now: i64) {
        // Claimed but unpaid for too long: the units go back.
        let hold = self.settings.payment_hold.as_millis() as i64;
        let expired: Vec<OrderId> = self
            .orders
            .iter()
            .filter(|(id, o)| o.created_at_ms + hold <= now && !self.paying.contains(id))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(order) = self.orders.remove(&id)
                && self.release(id, order, Failure::Expired).await.is_ok()
            {
                tracing::info!(order_id = id.get(), "unpaid order expired; units released");
            }
        }
    }
}
