//! The commerce engine's SQL. Everything here runs inside the engine task,
//! so there is one writer; reads for the HTTP API go straight to the store.

use super::{FlashSale, SaleState};
use crate::fair::Shopper;
use crate::store::{Store, StoreError};
use sqlx::{Any, Row, Transaction};
use vitrine_shared::{AccountId, CouponCode, Currency, Money, ProductId, Sku};
use vitrine_shared::{OrderId, SaleId};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A variant as a sale needs it: its product, price and stock.
pub(super) async fn variant(
    store: &Store,
    sku: &Sku,
) -> Result<Option<(ProductId, Money, i64)>, StoreError> {
    let row = sqlx::query(
        "SELECT v.product_id, v.price_minor, p.currency, v.stock FROM variants v \
         JOIN products p ON p.id = v.product_id WHERE v.sku = $1 AND p.archived_at IS NULL",
    )
    .bind(sku.as_str())
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let product = ProductId::new(row.try_get::<String, _>(0)?).map_err(corrupt)?;
    let currency = Currency::new(&row.try_get::<String, _>(2)?).map_err(corrupt)?;
    Ok(Some((
        product,
        Money::new(row.try_get(1)?, currency),
        row.try_get(3)?,
    )))
}

/// Moves `sale.quantity` units from the variant into a new sale. `false`
/// (and nothing written) when the stock is short.
pub(super) async fn insert_sale(
    store: &Store,
    sale: &FlashSale,
    by: AccountId,
) -> Result<bool, StoreError> {
    let mut tx = store.pool().begin().await?;
    let taken =
        sqlx::query("UPDATE variants SET stock = stock - $1 WHERE sku = $2 AND stock >= $1")
            .bind(sale.quantity)
            .bind(sale.sku.as_str())
            .execute(&mut *tx)
            .await?;
    if taken.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO flash_sales (id, sku, product_id, price_minor, currency, quantity, sold, \
         per_buyer_limit, starts_at, ends_at, closed_at, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, NULL, $10, $11)",
    )
    .bind(sale.id.get())
    .bind(sale.sku.as_str())
    .bind(sale.product.as_str())
    .bind(sale.price.minor)
    .bind(sale.price.currency.as_str())
    .bind(sale.quantity)
    .bind(sale.per_buyer_limit)
    .bind(sale.starts_at_ms)
    .bind(sale.ends_at_ms)
    .bind(by.0 as i64)
    .bind(store.clock().now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// A claim decided by the engine, to be written.
#[derive(Clone)]
pub(super) struct NewClaim {
    pub order_id: OrderId,
    pub buyer: AccountId,
    pub sale_id: SaleId,
    pub sku: Sku,
    pub quantity: i64,
    pub unit_price: Money,
    pub idempotency: Option<(String, u64)>,
}

/// Writes a batch of claims and the sales' new sold counts in one
/// transaction. The `CHECK (sold <= quantity)` is a last line of defence.
pub(super) async fn commit_claims(
    store: &Store,
    claims: &[NewClaim],
    sold: &[(SaleId, i64)],
) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    for (sale_id, sold) in sold {
        sqlx::query("UPDATE flash_sales SET sold = $1 WHERE id = $2")
            .bind(*sold)
            .bind(sale_id.get())
            .execute(&mut *tx)
            .await?;
    }
    let now = store.clock().now_ms();
    // Multi-row inserts: one statement per 50 orders, not one per order.
    for chunk in claims.chunks(50) {
        insert_orders(&mut tx, chunk, now).await?;
        insert_lines(&mut tx, chunk).await?;
    }
    tx.commit().await?;
    Ok(())
}

fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let cols: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn insert_orders(
    tx: &mut Transaction<'_, Any>,
    claims: &[NewClaim],
    now: i64,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO orders (id, account_id, status, total_minor, currency, flash_sale_id, \
         idempotency_key, request_hash, created_at, updated_at) VALUES {}",
        placeholders(claims.len(), 10)
    );
    let mut query = sqlx::query(&sql);
    for c in claims {
        let total = c.unit_price.minor * c.quantity;
        let (key, hash) = match &c.idempotency {
            Some((key, hash)) => (Some(key.clone()), Some(format!("{hash:016x}"))),
            None => (None, None),
        };
        query = query
            .bind(c.order_id.get())
            .bind(c.buyer.0 as i64)
            .bind("pending")
            .bind(total)
            .bind(c.unit_price.currency.as_str().to_owned())
            .bind(c.sale_id.get())
            .bind(key)
            .bind(hash)
            .bind(now)
            .bind(now);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

async fn insert_lines(
    tx: &mut Transaction<'_, Any>,
    claims: &[NewClaim],
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO order_lines (order_id, sku, quantity, unit_price_minor) VALUES {}",
        placeholders(claims.len(), 4)
    );
    let mut query = sqlx::query(&sql);
    for c in claims {
        query = query
            .bind(c.order_id.get())
            .bind(c.sku.as_str().to_owned())
            .bind(c.quantity)
            .bind(c.unit_price.minor);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Returns a closed sale's unsold units to the variant's stock.
pub(super) async fn close_sale(store: &Store, sale: &FlashSale) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    let closed =
        sqlx::query("UPDATE flash_sales SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL")
            .bind(store.clock().now_ms())
            .bind(sale.id.get())
            .execute(&mut *tx)
            .await?;
    if closed.rows_affected() == 1 {
        sqlx::query("UPDATE variants SET stock = stock + $1 WHERE sku = $2")
            .bind(sale.units_left())
            .bind(sale.sku.as_str())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Sales whose unsold units have not gone back yet, for a restart.
pub(super) async fn open_sales(store: &Store) -> Result<Vec<FlashSale>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, product_id, sku, price_minor, currency, quantity, sold, per_buyer_limit, \
         starts_at, ends_at FROM flash_sales WHERE closed_at IS NULL ORDER BY id",
    )
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(|row| {
            let currency = Currency::new(&row.try_get::<String, _>(4)?).map_err(corrupt)?;
            Ok(FlashSale {
                id: SaleId(row.try_get(0)?),
                product: ProductId::new(row.try_get::<String, _>(1)?).map_err(corrupt)?,
                sku: Sku::new(row.try_get::<String, _>(2)?).map_err(corrupt)?,
                price: Money::new(row.try_get(3)?, currency),
                quantity: row.try_get(5)?,
                sold: row.try_get(6)?,
                per_buyer_limit: row.try_get(7)?,
                starts_at_ms: row.try_get(8)?,
                ends_at_ms: row.try_get(9)?,
                state: SaleState::Countdown,
            })
        })
        .collect()
}

/// Units each buyer holds in the open sales, for the per-buyer limits.
pub(super) async fn open_sale_buyers(
    store: &Store,
) -> Result<Vec<(SaleId, Shopper, i64)>, StoreError> {
    // Counted by shopper (`crate::fair`): guests from one network together.
    let rows = sqlx::query(
        "SELECT o.flash_sale_id, o.account_id, a.kind, a.network, CAST(SUM(l.quantity) AS BIGINT) \
         FROM orders o JOIN order_lines l ON l.order_id = o.id \
         JOIN flash_sales f ON f.id = o.flash_sale_id LEFT JOIN accounts a ON a.id = o.account_id \
         WHERE f.closed_at IS NULL GROUP BY o.flash_sale_id, o.account_id, a.kind, a.network",
    )
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(|row| {
            let account = AccountId(row.try_get::<i64, _>(1)? as u64);
            let kind: Option<String> = row.try_get(2)?;
            Ok((
                SaleId(row.try_get(0)?),
                Shopper::of(account, kind.as_deref(), row.try_get(3)?),
                row.try_get(4)?,
            ))
        })
        .collect()
}

/// Keyed claims, so that a retry after a restart still finds its order.
pub(super) async fn keyed_claims(
    store: &Store,
) -> Result<Vec<(AccountId, String, u64, NewClaim)>, StoreError> {
    let rows = sqlx::query(
        "SELECT o.id, o.account_id, o.idempotency_key, o.request_hash, o.flash_sale_id, o.currency, \
         l.sku, l.quantity, l.unit_price_minor FROM orders o JOIN order_lines l ON l.order_id = o.id \
         WHERE o.idempotency_key IS NOT NULL AND o.flash_sale_id IS NOT NULL",
    )
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(|row| {
            let buyer = AccountId(row.try_get::<i64, _>(1)? as u64);
            let key: String = row.try_get(2)?;
            let hash = u64::from_str_radix(&row.try_get::<String, _>(3)?, 16).map_err(corrupt)?;
            let currency = Currency::new(&row.try_get::<String, _>(5)?).map_err(corrupt)?;
            let claim = NewClaim {
                order_id: OrderId(row.try_get(0)?),
                buyer,
                sale_id: SaleId(row.try_get(4)?),
                sku: Sku::new(row.try_get::<String, _>(6)?).map_err(corrupt)?,
                quantity: row.try_get(7)?,
                unit_price: Money::new(row.try_get(8)?, currency),
                idempotency: None,
            };
            Ok((buyer, key, hash, claim))
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLineRecord {
    pub sku: Sku,
    pub quantity: i64,
    pub unit_price: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub id: OrderId,
    pub status: String,
    /// What is charged: the lines less the discount.
    pub total: Money,
    pub flash_sale_id: Option<SaleId>,
    /// `flash_sale`, `cart`, `buy_now` or `shared_cart`.
    pub source: String,
    pub discount: Money,
    pub coupon: Option<String>,
    pub created_at_ms: i64,
    /// Why it came back, for a refunded order.
    pub return_reason: Option<String>,
    /// Why it was cancelled.
    pub failure: Option<String>,
    pub lines: Vec<OrderLineRecord>,
}

/// A buyer's orders, newest first (or one of them).
pub(super) async fn orders(
    store: &Store,
    buyer: AccountId,
    only: Option<OrderId>,
) -> Result<Vec<OrderRecord>, StoreError> {
    orders_where(store, buyer, only, 0).await
}

/// The buyer's `n` newest orders.
pub(super) async fn recent_orders(
    store: &Store,
    buyer: AccountId,
    n: u16,
) -> Result<Vec<OrderRecord>, StoreError> {
    orders_where(store, buyer, None, i64::from(n.max(1))).await
}

/// One order (`only`), the `newest` few (when not 0), or all of them.
async fn orders_where(
    store: &Store,
    buyer: AccountId,
    only: Option<OrderId>,
    newest: i64,
) -> Result<Vec<OrderRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT o.id, o.status, o.total_minor, o.currency, o.flash_sale_id, o.created_at, \
         l.sku, l.quantity, l.unit_price_minor, o.return_reason, o.source, o.discount_minor, \
         o.coupon_code, o.failure \
         FROM orders o JOIN order_lines l ON l.order_id = o.id \
         WHERE o.account_id = $1 AND ($2 = 0 OR o.id = $2) \
         AND ($3 = 0 OR o.id IN (SELECT id FROM orders WHERE account_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $3)) \
         ORDER BY o.created_at DESC, o.id, l.sku",
    )
    .bind(buyer.0 as i64)
    .bind(only.map_or(0, OrderId::get))
    .bind(newest)
    .fetch_all(store.pool())
    .await?;
    let mut out: Vec<OrderRecord> = Vec::new();
    for row in rows {
        let id = OrderId(row.try_get(0)?);
        let currency = Currency::new(&row.try_get::<String, _>(3)?).map_err(corrupt)?;
        if out.last().is_none_or(|o| o.id != id) {
            out.push(OrderRecord {
                id,
                status: row.try_get(1)?,
                total: Money::new(row.try_get(2)?, currency),
                flash_sale_id: row.try_get::<Option<i64>, _>(4)?.map(SaleId),
                source: row.try_get(10)?,
                discount: Money::new(row.try_get(11)?, currency),
                coupon: row.try_get(12)?,
                created_at_ms: row.try_get(5)?,
                return_reason: row.try_get(9)?,
                failure: row.try_get(13)?,
                lines: Vec::new(),
            });
        }
        if let Some(order) = out.last_mut() {
            order.lines.push(OrderLineRecord {
                sku: Sku::new(row.try_get::<String, _>(6)?).map_err(corrupt)?,
                quantity: row.try_get(7)?,
                unit_price: Money::new(row.try_get(8)?, currency),
            });
        }
    }
    Ok(out)
}

/// Where an order came from, which decides where its units go if it is
/// cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    FlashSale(SaleId),
    Cart,
    BuyNow,
    /// A group's shared cart (its lines keep their rows, marked with the order).
    SharedCart,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::FlashSale(_) => "flash_sale",
            Origin::Cart => "cart",
            Origin::BuyNow => "buy_now",
            Origin::SharedCart => "shared_cart",
        }
    }
}

/// An order not yet paid, as the engine tracks it.
pub(super) struct PendingOrder {
    pub buyer: AccountId,
    pub origin: Origin,
    pub lines: Vec<(Sku, i64)>,
    pub total: Money,
    pub coupon: Option<CouponCode>,
    pub created_at_ms: i64,
}

pub(super) async fn pending_orders(
    store: &Store,
) -> Result<Vec<(OrderId, PendingOrder)>, StoreError> {
    let rows = sqlx::query(
        "SELECT o.id, o.account_id, o.flash_sale_id, l.sku, l.quantity, o.total_minor, o.currency, \
         o.created_at, o.source, o.coupon_code \
         FROM orders o JOIN order_lines l ON l.order_id = o.id \
         WHERE o.status = 'pending' ORDER BY o.id, l.sku",
    )
    .fetch_all(store.pool())
    .await?;
    let mut out: Vec<(OrderId, PendingOrder)> = Vec::new();
    for row in rows {
        let id = OrderId(row.try_get(0)?);
        let line = (
            Sku::new(row.try_get::<String, _>(3)?).map_err(corrupt)?,
            row.try_get::<i64, _>(4)?,
        );
        if let Some((last, order)) = out.last_mut()
            && *last == id
        {
            order.lines.push(line);
            continue;
        }
        let currency = Currency::new(&row.try_get::<String, _>(6)?).map_err(corrupt)?;
        let origin = match (row.try_get::<String, _>(8)?.as_str(), row.try_get(2)?) {
            ("flash_sale", Some(sale_id)) => Origin::FlashSale(SaleId(sale_id)),
            ("cart", None) => Origin::Cart,
            ("buy_now", None) => Origin::BuyNow,
            ("shared_cart", None) => Origin::SharedCart,
            (other, _) => return Err(corrupt(format!("order {id} has source {other}"))),
        };
        let coupon = match row.try_get::<Option<String>, _>(9)? {
            Some(code) => Some(CouponCode::new(code).map_err(corrupt)?),
            None => None,
        };
        out.push((
            id,
            PendingOrder {
                buyer: AccountId(row.try_get::<i64, _>(1)? as u64),
                origin,
                lines: vec![line],
                total: Money::new(row.try_get(5)?, currency),
                coupon,
                created_at_ms: row.try_get(7)?,
            },
        ));
    }
    Ok(out)
}

pub(super) async fn mark_paid(
    store: &Store,
    order_id: OrderId,
    payment_ref: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE orders SET status = 'paid', payment_ref = $1, updated_at = $2 WHERE id = $3 AND status = 'pending'",
    )
    .bind(payment_ref)
    .bind(store.clock().now_ms())
    .bind(order_id.get())
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Where a cancelled order's units go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Release {
    /// Back to its flash sale, which is still open.
    Sale(SaleId),
    Stock,
    /// Back into the buyer's cart, held again until then.
    Cart {
        held_until: i64,
    },
    /// Back into the group's shared cart (the lines the order was made of),
    /// held again until then.
    SharedCart {
        held_until: i64,
        group: vitrine_shared::protocol::CartGroupId,
        /// How many lines come back (one row each).
        lines: usize,
    },
}

/// Cancels a pending order, says why, and gives its units back. A flash
/// sale claim's idempotency key is let go, so that a retry claims afresh;
/// a checkout's stays, so that a retry learns how it ended.
pub(super) async fn cancel_order(
    store: &Store,
    order_id: OrderId,
    order: &PendingOrder,
    release: Release,
    failure: &str,
    shared_rows: Option<usize>,
) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    let cancelled = sqlx::query(
        "UPDATE orders SET status = 'cancelled', failure = $1, updated_at = $2, \
         idempotency_key = CASE WHEN source = 'flash_sale' THEN NULL ELSE idempotency_key END \
         WHERE id = $3 AND status = 'pending'",
    )
    .bind(failure)
    .bind(store.clock().now_ms())
    .bind(order_id.get())
    .execute(&mut *tx)
    .await?;
    if cancelled.rows_affected() == 1 {
        if order.origin == Origin::SharedCart {
            super::shared_carts::release_order_lines(&mut tx, order_id, release, shared_rows)
                .await?;
        }
        for (sku, quantity) in &order.lines {
            let query = match release {
                // The shared cart's rows were the units' home all along.
                Release::SharedCart { .. } => continue,
                Release::Sale(sale_id) => {
                    sqlx::query("UPDATE flash_sales SET sold = sold - $1 WHERE id = $2")
                        .bind(*quantity)
                        .bind(sale_id.get())
                }
                Release::Stock => {
                    sqlx::query("UPDATE variants SET stock = stock + $1 WHERE sku = $2")
                        .bind(*quantity)
                        .bind(sku.as_str())
                }
                Release::Cart { held_until } => sqlx::query(
                    "INSERT INTO cart_lines (account_id, sku, quantity, held_until) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, sku) DO UPDATE SET \
                     quantity = cart_lines.quantity + excluded.quantity, held_until = excluded.held_until",
                )
                .bind(order.buyer.0 as i64)
                .bind(sku.as_str())
                .bind(*quantity)
                .bind(held_until),
            };
            query.execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// An order looked up by id alone (for staff), with who bought it and the
/// gateway's reference.
pub(super) async fn order_by_id(
    store: &Store,
    order_id: OrderId,
) -> Result<Option<(AccountId, OrderRecord, Option<String>)>, StoreError> {
    let row = sqlx::query("SELECT account_id, payment_ref FROM orders WHERE id = $1")
        .bind(order_id.get())
        .fetch_optional(store.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let buyer = AccountId(row.try_get::<i64, _>(0)? as u64);
    let payment_ref: Option<String> = row.try_get(1)?;
    let order = orders(store, buyer, Some(order_id))
        .await?
        .into_iter()
        .next();
    Ok(order.map(|o| (buyer, o, payment_ref)))
}

/// Moves an order from `from` to `to`; `false` when it was not in `from`.
pub(super) async fn advance(
    store: &Store,
    order_id: OrderId,
    from: &str,
    to: &str,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
            .bind(to)
            .bind(store.clock().now_ms())
            .bind(order_id.get())
            .bind(from)
            .execute(store.pool())
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a refund: the order is `refunded` with its reason, and its units
/// go back to stock.
pub(super) async fn refund(
    store: &Store,
    order: &OrderRecord,
    reason: &str,
) -> Result<bool, StoreError> {
    let mut tx = store.pool().begin().await?;
    let done = sqlx::query(
        "UPDATE orders SET status = 'refunded', return_reason = $1, updated_at = $2 \
         WHERE id = $3 AND status = $4",
    )
    .bind(reason)
    .bind(store.clock().now_ms())
    .bind(order.id.get())
    .bind(&order.status)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    for line in &order.lines {
        sqlx::query("UPDATE variants SET stock = stock + $1 WHERE sku = $2")
            .bind(line.quantity)
            .bind(line.sku.as_str())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(true)
}
