//! Checkout: the cart, or one variant ("buy now"), becomes an order priced
//! by the server, less a coupon, and is paid at once. Every checkout
//! carries an idempotency key: the same key and request answer the same
//! order however often they come (a double tap, a retry after a timeout or
//! a restart); the same key with another request is a conflict.

use super::carts::variant_info;
use super::engine::Engine;
use super::ledger::{Origin, PendingOrder};
use super::{CheckoutSpec, CommerceError, MAX_CLAIM_QUANTITY, OrderRecord, Purchase};
use crate::ids::new_id;
use crate::store::{Store, StoreError};
use sqlx::Row;
use std::collections::HashMap;
use tokio::sync::oneshot;
use vitrine_shared::OrderId;
use vitrine_shared::protocol::CartChange;
use vitrine_shared::{AccountId, CouponCode, Money, Sku};

type Reply = oneshot::Sender<Result<OrderRecord, CommerceError>>;

/// Why an order was cancelled, as stored in `orders.failure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failure {
    Declined(String),
    Timeout,
    /// Unpaid past the payment hold.
    Expired,
}

impl Failure {
    pub fn as_stored(&self) -> String {
        match self {
            Failure::Declined(reason) => format!("declined: {reason}"),
            Failure::Timeout => "payment_timeout".into(),
            Failure::Expired => "expired".into(),
        }
    }

    /// The error a retry of the cancelled checkout answers.
    fn replayed(stored: Option<&str>) -> CommerceError {
        match stored {
            Some(s) if s.starts_with("declined: ") => CommerceError::PaymentDeclined {
                reason: s["declined: ".len()..].to_owned(),
            },
            Some("payment_timeout") => CommerceError::PaymentTimeout,
            _ => CommerceError::OrderNotPayable {
                status: "cancelled".into(),
            },
        }
    }
}

/// An order decided by checkout, to be written.
struct NewOrder {
    id: OrderId,
    buyer: AccountId,
    origin: Origin,
    lines: Vec<(Sku, i64, Money)>,
    total: Money,
    discount: i64,
    coupon: Option<CouponCode>,
    key: String,
    hash: u64,
}

impl Engine {
    pub(super) async fn checkout(
        &mut self,
        buyer: AccountId,
        spec: CheckoutSpec,
        (key, hash): (String, u64),
        reply: Reply,
    ) {
        let id = (buyer, key);
        if self.keys.contains_key(&id) {
            let _ = reply.send(Err(CommerceError::IdempotencyConflict));
            return;
        }
        if let Some(&(seen, order_id)) = self.checkouts.get(&id) {
            if seen != hash {
                let _ = reply.send(Err(CommerceError::IdempotencyConflict));
                return;
            }
            self.replay(buyer, order_id, spec, reply).await;
            return;
        }
        let (buyer, key) = id;
        match self.decide_checkout(buyer, &spec, key, hash).await {
            Ok(order_id) => {
                self.pay(buyer, order_id, spec.method.as_str().to_owned(), reply)
                    .await
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Prices the purchase, applies the coupon and writes the pending order,
    /// taking its units from the cart or from stock.
    async fn decide_checkout(
        &mut self,
        buyer: AccountId,
        spec: &CheckoutSpec,
        key: String,
        hash: u64,
    ) -> Result<OrderId, CommerceError> {
        let now = self.clock.now_ms();
        // A line whose hold ran out a moment ago is not bought by surprise;
        // the clock sweeps every cart anyway, so only a stale cart waits.
        let stale = self
            .carts
            .get(&buyer)
            .is_some_and(|cart| cart.values().any(|l| l.held_until_ms <= now));
        if stale {
            self.expire_carts(now).await;
        }
        let storage = |e: StoreError| {
            tracing::error!(%e, "checkout failed");
            CommerceError::Storage
        };
        let (origin, wanted): (Origin, Vec<(Sku, i64)>) = match &spec.purchase {
            Purchase::Cart => {
                let lines = self.cart_lines(buyer);
                if lines.is_empty() {
                    return Err(CommerceError::EmptyCart);
                }
                (
                    Origin::Cart,
                    lines.into_iter().map(|l| (l.sku, l.quantity)).collect(),
                )
            }
            Purchase::BuyNow { sku, quantity } => {
                if !(1..=MAX_CLAIM_QUANTITY).contains(quantity) {
                    return Err(CommerceError::BadQuantity);
                }
                (Origin::BuyNow, vec![(sku.clone(), *quantity)])
            }
        };
        // Today's prices, from the catalog; a product taken off sale since
        // it went into the cart cannot be bought.
        let mut lines = Vec::with_capacity(wanted.len());
        for (sku, quantity) in wanted {
            let info = variant_info(&self.store, &sku)
                .await
                .map_err(storage)?
                .filter(|v| !v.archived)
                .ok_or(CommerceError::UnknownSku)?;
            if origin == Origin::BuyNow && info.stock < quantity {
                return Err(CommerceError::NotEnoughStock {
                    available: info.stock,
                });
            }
            lines.push((sku, quantity, info.price));
        }
        let currency = lines[0].2.currency;
        if lines.iter().any(|(_, _, p)| p.currency != currency) {
            return Err(CommerceError::CurrencyMismatch);
        }
        let subtotal: i64 = lines.iter().map(|(_, q, p)| q * p.minor).sum();
        let subtotal = Money::new(subtotal, currency);
        // Uses count by shopper: guests from one network together.
        let shopper = match &spec.coupon {
            None => None,
            Some(_) => Some(self.shopper(buyer).await?),
        };
        let discount = match (&spec.coupon, &shopper) {
            (Some(code), Some(shopper)) => self
                .coupons
                .get(code)
                .ok_or(CommerceError::UnknownCoupon)?
                .redeemable(buyer, shopper, subtotal, now)?,
            _ => 0,
        };
        let order = NewOrder {
            id: new_id(),
            buyer,
            origin,
            lines,
            total: Money::new(subtotal.minor - discount, currency),
            discount,
            coupon: spec.coupon.clone(),
            key,
            hash,
        };
        if !insert_order(&self.store, &order).await.map_err(storage)? {
            // Only a buy-now can be short: a cart's units are held already.
            let stock = variant_info(&self.store, &order.lines[0].0)
                .await
                .map_err(storage)?
                .map_or(0, |v| v.stock);
            return Err(CommerceError::NotEnoughStock { available: stock });
        }
        tracing::info!(order_id = order.id.get(), total = %order.total, source = origin.as_str(), "order made at checkout");
        if let Some(code) = &order.coupon
            && let Some(coupon) = self.coupons.get_mut(code)
            && let Some(shopper) = shopper
        {
            coupon.redeem(shopper, 1);
        }
        if origin == Origin::Cart {
            self.carts.remove(&buyer);
            self.announce_cart(buyer, CartChange::CheckedOut);
        }
        self.checkouts
            .insert((buyer, order.key.clone()), (order.hash, order.id));
        self.orders.insert(
            order.id,
            PendingOrder {
                buyer,
                origin,
                lines: order
                    .lines
                    .iter()
                    .map(|(s, q, _)| (s.clone(), *q))
                    .collect(),
                total: order.total,
                coupon: order.coupon.clone(),
                created_at_ms: now,
            },
        );
        self.announce_order(buyer, order.id).await;
        Ok(order.id)
    }

    /// The same checkout again: wait for its payment if it is under way,
    /// finish it if it was interrupted, or answer how it ended.
    pub(super) async fn replay(
        &mut self,
        buyer: AccountId,
        order_id: OrderId,
        spec: CheckoutSpec,
        reply: Reply,
    ) {
        if self.orders.contains_key(&order_id) {
            if self.paying.contains(&order_id) {
                self.waiters.entry(order_id).or_default().push(reply);
            } else {
                // Pending but not being paid: a restart cut the payment off.
                // The gateway's own keys make the second attempt charge once.
                self.pay(buyer, order_id, spec.method.as_str().to_owned(), reply)
                    .await;
            }
            return;
        }
        let answer = match super::ledger::orders(&self.store, buyer, Some(order_id)).await {
            Err(_) => Err(CommerceError::Storage),
            Ok(found) => match found.into_iter().next() {
                None => Err(CommerceError::UnknownOrder),
                Some(o) if o.status == "cancelled" => Err(Failure::replayed(o.failure.as_deref())),
                Some(o) => Ok(o),
            },
        };
        let _ = reply.send(answer);
    }

    /// Tells the buyer's clients about the order as it now stands.
    pub(super) async fn announce_order(&self, buyer: AccountId, order_id: OrderId) {
        match super::ledger::orders(&self.store, buyer, Some(order_id)).await {
            Ok(found) => {
                if let Some(order) = found.into_iter().next() {
                    let _ = self
                        .events
                        .send(super::CommerceEvent::OrderChanged { buyer, order });
                }
            }
            Err(e) => tracing::warn!(%e, order_id = order_id.get(), "order news not sent"),
        }
    }
}

/// Writes the order and its lines and takes the units, all in one
/// transaction: a buy-now's from stock (`false`, nothing written, when it
/// is short), a cart's by emptying the cart, whose units were held already.
async fn insert_order(store: &Store, order: &NewOrder) -> Result<bool, StoreError> {
    let mut tx = store.pool().begin().await?;
    match order.origin {
        Origin::Cart => {
            sqlx::query("DELETE FROM cart_lines WHERE account_id = $1")
                .bind(order.buyer.0 as i64)
                .execute(&mut *tx)
                .await?;
        }
        _ => {
            for (sku, quantity, _) in &order.lines {
                let taken = sqlx::query(
                    "UPDATE variants SET stock = stock - $1 WHERE sku = $2 AND stock >= $1",
                )
                .bind(*quantity)
                .bind(sku.as_str())
                .execute(&mut *tx)
                .await?;
                if taken.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
            }
        }
    }
    let now = store.clock().now_ms();
    sqlx::query(
        "INSERT INTO orders (id, account_id, status, total_minor, currency, flash_sale_id, \
         idempotency_key, request_hash, created_at, updated_at, source, coupon_code, discount_minor) \
         VALUES ($1, $2, 'pending', $3, $4, NULL, $5, $6, $7, $7, $8, $9, $10)",
    )
    .bind(order.id.get())
    .bind(order.buyer.0 as i64)
    .bind(order.total.minor)
    .bind(order.total.currency.as_str())
    .bind(&order.key)
    .bind(format!("{:016x}", order.hash))
    .bind(now)
    .bind(order.origin.as_str())
    .bind(order.coupon.as_ref().map(|c| c.as_str().to_owned()))
    .bind(order.discount)
    .execute(&mut *tx)
    .await?;
    for (sku, quantity, price) in &order.lines {
        sqlx::query(
            "INSERT INTO order_lines (order_id, sku, quantity, unit_price_minor) VALUES ($1, $2, $3, $4)",
        )
        .bind(order.id.get())
        .bind(sku.as_str())
        .bind(*quantity)
        .bind(price.minor)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Checkout keys, so that a retry after a restart still finds its order.
pub(super) async fn load_keys(
    store: &Store,
) -> Result<HashMap<(AccountId, String), (u64, OrderId)>, StoreError> {
    let rows = sqlx::query(
        "SELECT account_id, idempotency_key, request_hash, id FROM orders \
         WHERE idempotency_key IS NOT NULL AND source <> 'flash_sale'",
    )
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(|row| {
            let buyer = AccountId(row.try_get::<i64, _>(0)? as u64);
            let hash = u64::from_str_radix(&row.try_get::<String, _>(2)?, 16)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(((buyer, row.try_get(1)?), (hash, OrderId(row.try_get(3)?))))
        })
        .collect()
}
