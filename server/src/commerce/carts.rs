//! Carts: one per shopper, held by the engine. Adding units takes them from
//! the variant's stock at once, so what is in a cart can always be bought;
//! each line's hold restarts when the shopper changes it, and a line whose
//! hold runs out goes back to stock.

use super::engine::Engine;
use super::{CartEdit, CartLine, CommerceError, CommerceEvent, MAX_CART_LINES, MAX_CLAIM_QUANTITY};
use crate::store::{Store, StoreError};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use vitrine_shared::protocol::CartChange;
use vitrine_shared::{AccountId, Currency, Money, ProductId, Sku};

pub(super) type Cart = BTreeMap<Sku, CartLine>;

/// A variant as a cart shows it.
pub(super) struct VariantInfo {
    pub product: ProductId,
    pub name: String,
    pub price: Money,
    pub stock: i64,
    pub archived: bool,
}

impl Engine {
    pub(super) fn cart_lines(&self, buyer: AccountId) -> Vec<CartLine> {
        self.carts
            .get(&buyer)
            .map(|cart| cart.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(super) fn announce_cart(&self, buyer: AccountId, change: CartChange) {
        let _ = self.events.send(CommerceEvent::CartChanged {
            buyer,
            lines: self.cart_lines(buyer),
            change,
        });
    }

    pub(super) async fn edit_cart(
        &mut self,
        buyer: AccountId,
        sku: Sku,
        edit: CartEdit,
    ) -> Result<Vec<CartLine>, CommerceError> {
        let cart = self.carts.get(&buyer);
        let line = cart.and_then(|c| c.get(&sku));
        let old = line.map_or(0, |l| l.quantity);
        let new = match edit {
            CartEdit::Add(q) if (1..=MAX_CLAIM_QUANTITY).contains(&q) => old + q,
            CartEdit::Set(q) if (0..=MAX_CLAIM_QUANTITY).contains(&q) => q,
            _ => return Err(CommerceError::BadQuantity),
        };
        if new > MAX_CLAIM_QUANTITY {
            return Err(CommerceError::BadQuantity);
        }
        if new == old {
            return Ok(self.cart_lines(buyer));
        }
        if old == 0 && cart.is_some_and(|c| c.len() >= MAX_CART_LINES) {
            return Err(CommerceError::CartFull);
        }
        let storage = |e: StoreError| {
            tracing::error!(%e, "cart not changed");
            CommerceError::Storage
        };
        // Growing a line needs the variant on sale; shrinking one never does.
        let (product, name, price, stock) = match line {
            Some(l) if new < old => (l.product.clone(), l.name.clone(), l.unit_price, 0),
            _ => {
                let info = variant_info(&self.store, &sku)
                    .await
                    .map_err(storage)?
                    .filter(|v| !v.archived)
                    .ok_or(CommerceError::UnknownSku)?;
                (info.product, info.name, info.price, info.stock)
            }
        };
        let other_currency = cart
            .into_iter()
            .flat_map(|c| c.values())
            .any(|l| l.unit_price.currency != price.currency);
        if other_currency {
            return Err(CommerceError::CurrencyMismatch);
        }
        let held_until = self.clock.now_ms() + self.settings.cart_hold.as_millis() as i64;
        if !set_line(&self.store, buyer, &sku, old, new, held_until)
            .await
            .map_err(storage)?
        {
            return Err(CommerceError::NotEnoughStock {
                available: old + stock,
            });
        }
        let sku_added = sku.clone();
        let cart = self.carts.entry(buyer).or_default();
        if new == 0 {
            cart.remove(&sku);
        } else {
            cart.insert(
                sku.clone(),
                CartLine {
                    sku,
                    product,
                    name,
                    unit_price: price,
                    quantity: new,
                    held_until_ms: held_until,
                },
            );
        }
        if cart.is_empty() {
            self.carts.remove(&buyer);
        }
        if new > old {
            let _ = self.events.send(CommerceEvent::AddedToCart {
                buyer,
                sku: sku_added,
                quantity: new - old,
            });
        }
        self.announce_cart(buyer, CartChange::Updated);
        Ok(self.cart_lines(buyer))
    }

    /// Returns lines whose hold has run out to stock, and tells their
    /// shoppers.
    pub(super) async fn expire_carts(&mut self, now: i64) {
        let expired: Vec<(AccountId, Sku, i64)> = self
            .carts
            .iter()
            .flat_map(|(buyer, cart)| {
                cart.values()
                    .filter(|l| l.held_until_ms <= now)
                    .map(|l| (*buyer, l.sku.clone(), l.quantity))
            })
            .collect();
        if expired.is_empty() {
            return;
        }
        if let Err(e) = release_lines(&self.store, &expired, now).await {
            // Tried again on the next clock tick.
            tracing::error!(%e, "expired cart lines not released");
            return;
        }
        let mut buyers: Vec<AccountId> = expired.iter().map(|(b, _, _)| *b).collect();
        buyers.dedup();
        for (buyer, sku, _) in &expired {
            if let Some(cart) = self.carts.get_mut(buyer) {
                cart.remove(sku);
                if cart.is_empty() {
                    self.carts.remove(buyer);
                }
            }
        }
        tracing::info!(
            lines = expired.len(),
            "cart holds ran out; units back in stock"
        );
        for buyer in buyers {
            self.announce_cart(buyer, CartChange::Expired);
        }
    }

    /// Puts a cancelled checkout's lines back into the shopper's cart (the
    /// store has done so already).
    pub(super) async fn restore_cart(
        &mut self,
        buyer: AccountId,
        lines: &[(Sku, i64)],
        held_until: i64,
    ) -> Result<(), StoreError> {
        for (sku, quantity) in lines {
            let info = variant_info(&self.store, sku).await?;
            let cart = self.carts.entry(buyer).or_default();
            match cart.get_mut(sku) {
                Some(line) => {
                    line.quantity += quantity;
                    line.held_until_ms = held_until;
                }
                None => {
                    let Some(info) = info else { continue };
                    cart.insert(
                        sku.clone(),
                        CartLine {
                            sku: sku.clone(),
                            product: info.product,
                            name: info.name,
                            unit_price: info.price,
                            quantity: *quantity,
                            held_until_ms: held_until,
                        },
                    );
                }
            }
        }
        self.announce_cart(buyer, CartChange::Restored);
        Ok(())
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A variant with its product's name, archived or not.
pub(super) async fn variant_info(
    store: &Store,
    sku: &Sku,
) -> Result<Option<VariantInfo>, StoreError> {
    let row = sqlx::query(
        "SELECT v.product_id, p.name, v.price_minor, p.currency, v.stock, p.archived_at \
         FROM variants v JOIN products p ON p.id = v.product_id WHERE v.sku = $1",
    )
    .bind(sku.as_str())
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let currency = Currency::new(&row.try_get::<String, _>(3)?).map_err(corrupt)?;
    Ok(Some(VariantInfo {
        product: ProductId::new(row.try_get::<String, _>(0)?).map_err(corrupt)?,
        name: row.try_get(1)?,
        price: Money::new(row.try_get(2)?, currency),
        stock: row.try_get(4)?,
        archived: row.try_get::<Option<i64>, _>(5)?.is_some(),
    }))
}

/// Moves a line from `old` to `new` units, taking the difference from stock
/// or giving it back, in one transaction. `false` (nothing written) when
/// the stock is short.
async fn set_line(
    store: &Store,
    buyer: AccountId,
    sku: &Sku,
    old: i64,
    new: i64,
    held_until: i64,
) -> Result<bool, StoreError> {
    let mut tx = store.pool().begin().await?;
    let delta = new - old;
    let stock =
        sqlx::query("UPDATE variants SET stock = stock - $1 WHERE sku = $2 AND stock - $1 >= 0")
            .bind(delta)
            .bind(sku.as_str())
            .execute(&mut *tx)
            .await?;
    if stock.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    let buyer_id = buyer.0 as i64;
    let line = if new == 0 {
        sqlx::query("DELETE FROM cart_lines WHERE account_id = $1 AND sku = $2")
            .bind(buyer_id)
            .bind(sku.as_str())
    } else if old == 0 {
        sqlx::query(
            "INSERT INTO cart_lines (account_id, sku, quantity, held_until) VALUES ($1, $2, $3, $4)",
        )
        .bind(buyer_id)
        .bind(sku.as_str())
        .bind(new)
        .bind(held_until)
    } else {
        sqlx::query(
            "UPDATE cart_lines SET quantity = $1, held_until = $2 WHERE account_id = $3 AND sku = $4",
        )
        .bind(new)
        .bind(held_until)
        .bind(buyer_id)
        .bind(sku.as_str())
    };
    line.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(true)
}

/// Deletes lines past their hold and returns their units to stock.
async fn release_lines(
    store: &Store,
    lines: &[(AccountId, Sku, i64)],
    now: i64,
) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    for (buyer, sku, quantity) in lines {
        let gone = sqlx::query(
            "DELETE FROM cart_lines WHERE account_id = $1 AND sku = $2 AND held_until <= $3",
        )
        .bind(buyer.0 as i64)
        .bind(sku.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if gone.rows_affected() == 1 {
            sqlx::query("UPDATE variants SET stock = stock + $1 WHERE sku = $2")
                .bind(*quantity)
                .bind(sku.as_str())
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Every cart, for the engine's start.
pub(super) async fn load(store: &Store) -> Result<HashMap<AccountId, Cart>, StoreError> {
    let rows = sqlx::query(
        "SELECT c.account_id, c.sku, c.quantity, c.held_until, v.product_id, p.name, \
         v.price_minor, p.currency FROM cart_lines c JOIN variants v ON v.sku = c.sku \
         JOIN products p ON p.id = v.product_id",
    )
    .fetch_all(store.pool())
    .await?;
    let mut carts: HashMap<AccountId, Cart> = HashMap::new();
    for row in rows {
        let buyer = AccountId(row.try_get::<i64, _>(0)? as u64);
        let sku = Sku::new(row.try_get::<String, _>(1)?).map_err(corrupt)?;
        let currency = Currency::new(&row.try_get::<String, _>(7)?).map_err(corrupt)?;
        let line = CartLine {
            sku: sku.clone(),
            product: ProductId::new(row.try_get::<String, _>(4)?).map_err(corrupt)?,
            name: row.try_get(5)?,
            unit_price: Money::new(row.try_get(6)?, currency),
            quantity: row.try_get(2)?,
            held_until_ms: row.try_get(3)?,
        };
        carts.entry(buyer).or_default().insert(sku, line);
    }
    Ok(carts)
}
