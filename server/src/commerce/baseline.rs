//! For benchmarks only: flash-sale claims decided by the database alone, as
//! a competent team without our engine would write them. `bench-flash-sale`
//! measures the engine against these, in process and behind the same HTTP
//! route (`ServerConfig::claims_decided_by`), so its figures compare like with like.
//!
//! Each claim is one transaction: take the sale row's lock (a conditional
//! `UPDATE … SET sold = sold + n WHERE … AND sold + n <= quantity`, or
//! `SELECT … FOR UPDATE` then the update), check the buyer's units so far,
//! insert the order and its line, commit. Every claim of a sale waits on
//! that one row, which is what makes the check of the buyer's units safe
//! under PostgreSQL's read committed. SQLite has no row locks: the
//! transaction takes the database's write lock at `BEGIN IMMEDIATE` and
//! waits for it with the store's busy timeout.

use super::{BoxFuture, Claimed, CommerceError, MAX_CLAIM_QUANTITY};
use crate::ids::new_id;
use crate::store::Store;
use sqlx::Row;
use std::sync::Arc;
use vitrine_shared::{AccountId, Currency, Money, OrderId, SaleId, Sku};

/// How a baseline claim takes the sale row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLock {
    /// `UPDATE … WHERE sold + n <= quantity RETURNING …`: the check and the
    /// write in one statement.
    ConditionalUpdate,
    /// `SELECT … FOR UPDATE`, checked in the handler, then `UPDATE`. On
    /// SQLite the write lock taken at `BEGIN IMMEDIATE` stands in for it.
    SelectForUpdate,
}

impl RowLock {
    pub fn label(self) -> &'static str {
        match self {
            RowLock::ConditionalUpdate => "conditional UPDATE",
            RowLock::SelectForUpdate => "SELECT … FOR UPDATE",
        }
    }
}

/// What the sale row says once locked.
struct SaleRow {
    sku: String,
    price_minor: i64,
    currency: String,
    quantity: i64,
    sold: i64,
    per_buyer_limit: i64,
}

impl SaleRow {
    fn read(row: &sqlx::any::AnyRow) -> Result<SaleRow, sqlx::Error> {
        Ok(SaleRow {
            sku: row.try_get("sku")?,
            price_minor: row.try_get("price_minor")?,
            currency: row.try_get("currency")?,
            quantity: row.try_get("quantity")?,
            sold: row.try_get("sold")?,
            per_buyer_limit: row.try_get("per_buyer_limit")?,
        })
    }
}

fn storage(e: sqlx::Error) -> CommerceError {
    tracing::warn!("baseline claim: {e}");
    CommerceError::Storage
}

fn is_sqlite(store: &Store) -> bool {
    store.pool().connect_options().database_url.scheme() == "sqlite"
}

/// Claims `quantity` units of `sale_id` for `buyer` at `now_ms`, in one
/// transaction of its own. The order is left pending, as the engine's are.
pub async fn claim(
    store: &Store,
    lock: RowLock,
    buyer: AccountId,
    sale_id: SaleId,
    quantity: i64,
    now_ms: i64,
) -> Result<Claimed, CommerceError> {
    if !(1..=MAX_CLAIM_QUANTITY).contains(&quantity) {
        return Err(CommerceError::BadQuantity);
    }
    let sqlite = is_sqlite(store);
    let mut tx = if sqlite {
        store.pool().begin_with("BEGIN IMMEDIATE").await
    } else {
        store.pool().begin().await
    }
    .map_err(storage)?;
    let columns = "sku, price_minor, currency, quantity, sold, per_buyer_limit";
    let sale = match lock {
        RowLock::ConditionalUpdate => sqlx::query(&format!(
            "UPDATE flash_sales SET sold = sold + $1 WHERE id = $2 AND closed_at IS NULL \
             AND starts_at <= $3 AND ends_at > $3 AND sold + $1 <= quantity RETURNING {columns}"
        ))
        .bind(quantity)
        .bind(sale_id.0)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await
        .and_then(|row| row.as_ref().map(SaleRow::read).transpose())
        .map_err(storage)?,
        RowLock::SelectForUpdate => {
            let for_update = if sqlite { "" } else { " FOR UPDATE" };
            let row = sqlx::query(&format!(
                "SELECT {columns}, starts_at, ends_at, closed_at FROM flash_sales WHERE id = $1{for_update}"
            ))
            .bind(sale_id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(storage)?;
            let mut open = None;
            if let Some(row) = row {
                let sale = SaleRow::read(&row).map_err(storage)?;
                let starts: i64 = row.try_get("starts_at").map_err(storage)?;
                let ends: i64 = row.try_get("ends_at").map_err(storage)?;
                let closed: Option<i64> = row.try_get("closed_at").map_err(storage)?;
                if closed.is_none()
                    && (starts..ends).contains(&now_ms)
                    && sale.sold + quantity <= sale.quantity
                {
                    open = Some(sale);
                }
            }
            if let Some(sale) = &mut open {
                sqlx::query("UPDATE flash_sales SET sold = sold + $1 WHERE id = $2")
                    .bind(quantity)
                    .bind(sale_id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(storage)?;
                // As RETURNING would read it: after the update.
                sale.sold += quantity;
            }
            open
        }
    };
    let Some(sale) = sale else {
        tx.rollback().await.map_err(storage)?;
        return Err(refusal(store, sale_id, quantity, now_ms).await);
    };
    let (bought,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) FROM orders o \
         JOIN order_lines l ON l.order_id = o.id \
         WHERE o.flash_sale_id = $1 AND o.account_id = $2 AND o.status <> 'cancelled'",
    )
    .bind(sale_id.0)
    .bind(buyer.0 as i64)
    .fetch_one(&mut *tx)
    .await
    .map_err(storage)?;
    if bought + quantity > sale.per_buyer_limit {
        tx.rollback().await.map_err(storage)?;
        return Err(CommerceError::LimitReached {
            limit: sale.per_buyer_limit,
            remaining: (sale.per_buyer_limit - bought).max(0),
        });
    }
    let currency = Currency::new(&sale.currency).map_err(|_| CommerceError::Storage)?;
    let order_id = insert_order(
        &mut tx,
        &NewOrder {
            buyer,
            sale_id,
            sku: &sale.sku,
            price_minor: sale.price_minor,
            currency: &sale.currency,
            quantity,
            now_ms,
        },
    )
    .await
    .map_err(storage)?;
    tx.commit().await.map_err(storage)?;
    Ok(Claimed {
        order_id,
        sale_id,
        sku: Sku::new(sale.sku.clone()).map_err(|_| CommerceError::Storage)?,
        quantity,
        unit_price: Money::new(sale.price_minor, currency),
        total: Money::new(sale.price_minor * quantity, currency),
        units_left: sale.quantity - sale.sold,
    })
}

/// A pending order of a flash sale, as the engine's ledger writes one.
pub struct NewOrder<'a> {
    pub buyer: AccountId,
    pub sale_id: SaleId,
    pub sku: &'a str,
    pub price_minor: i64,
    pub currency: &'a str,
    pub quantity: i64,
    pub now_ms: i64,
}

/// Writes `order` and its one line on `conn` (inside the caller's
/// transaction); the baselines' orders, counted as the engine's are.
pub async fn insert_order(
    conn: &mut sqlx::AnyConnection,
    order: &NewOrder<'_>,
) -> Result<OrderId, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO orders (id, account_id, status, total_minor, currency, flash_sale_id, \
         idempotency_key, request_hash, created_at, updated_at) \
         VALUES ($1, $2, 'pending', $3, $4, $5, NULL, NULL, $6, $6)",
    )
    .bind(id)
    .bind(order.buyer.0 as i64)
    .bind(order.price_minor * order.quantity)
    .bind(order.currency)
    .bind(order.sale_id.0)
    .bind(order.now_ms)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO order_lines (order_id, sku, quantity, unit_price_minor) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(order.sku)
    .bind(order.quantity)
    .bind(order.price_minor)
    .execute(&mut *conn)
    .await?;
    Ok(OrderId(id))
}

/// Why a claim found no open sale with units for it, read after the
/// transaction ended (a refusal's reason may be a moment old).
async fn refusal(store: &Store, sale_id: SaleId, quantity: i64, now_ms: i64) -> CommerceError {
    type Times = (i64, i64, i64, i64, Option<i64>);
    let row: Result<Option<Times>, _> = sqlx::query_as(
        "SELECT quantity, sold, starts_at, ends_at, closed_at FROM flash_sales WHERE id = $1",
    )
    .bind(sale_id.0)
    .fetch_optional(store.pool())
    .await;
    // In the engine's order (`flash_sales::Sale::state`, then the stock).
    match row {
        Err(e) => storage(e),
        Ok(None) => CommerceError::UnknownSale,
        Ok(Some((_, _, _, ends, closed))) if closed.is_some() || now_ms >= ends => {
            CommerceError::Ended
        }
        Ok(Some((total, sold, ..))) if sold >= total => CommerceError::SoldOut,
        Ok(Some((_, _, starts, _, _))) if now_ms < starts => CommerceError::NotStarted {
            opens_in_ms: starts - now_ms,
        },
        Ok(Some((total, sold, ..))) if sold + quantity > total => CommerceError::NotEnoughStock {
            available: total - sold,
        },
        // Units came back between the two reads.
        Ok(Some(_)) => CommerceError::SoldOut,
    }
}

/// Decides a flash-sale claim: buyer, sale, quantity.
type DecideClaim = dyn Fn(AccountId, SaleId, i64) -> BoxFuture<'static, Result<Claimed, CommerceError>>
    + Send
    + Sync;

/// For benchmarks only: what decides flash-sale claims made over HTTP in
/// place of the engine (`ServerConfig::claims_decided_by`), so that a
/// baseline is measured behind the same route, authentication and limits.
/// Only code sets it; no file or flag does.
#[derive(Clone)]
pub struct ClaimDesk(Arc<DecideClaim>);

impl ClaimDesk {
    pub fn new(
        decide: impl Fn(AccountId, SaleId, i64) -> BoxFuture<'static, Result<Claimed, CommerceError>>
        + Send
        + Sync
        + 'static,
    ) -> ClaimDesk {
        ClaimDesk(Arc::new(decide))
    }

    /// A row-lock baseline on `store`, at the store's clock.
    pub fn row_lock(store: Store, lock: RowLock) -> ClaimDesk {
        ClaimDesk::new(move |buyer, sale, quantity| {
            let store = store.clone();
            Box::pin(async move {
                let now = store.clock().now_ms();
                claim(&store, lock, buyer, sale, quantity, now).await
            })
        })
    }

    pub fn claim(
        &self,
        buyer: AccountId,
        sale: SaleId,
        quantity: i64,
    ) -> BoxFuture<'static, Result<Claimed, CommerceError>> {
        (self.0)(buyer, sale, quantity)
    }
}

impl std::fmt::Debug for ClaimDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClaimDesk(..)")
    }
}

#[cfg(test)]
mod tests {
    //! The baselines are what the engine is measured against, so they must
    //! be correct: on every backend, a rush of concurrent claims sells
    //! exactly the sale's units, nobody past the limit, and each refusal
    //! has its reason.
    use super::*;
    use crate::clock::ManualClock;
    use crate::commerce::shopping_tests::{engine, seeded, sku};
    use crate::commerce::{COUNTDOWN_SECS, DURATION_SECS, EngineSettings, FlashSaleSpec};
    use crate::store::tests::stores;
    use std::time::Duration;

    #[tokio::test]
    async fn a_rush_through_either_lock_sells_each_unit_once_within_the_limit() {
        for (store, _dir) in stores().await {
            let time = ManualClock::starting_now();
            let store = store.with_clock(time.clock());
            seeded(&store).await;
            let (shop, _) = engine(&store, EngineSettings::default()).await;
            for lock in [RowLock::ConditionalUpdate, RowLock::SelectForUpdate] {
                let countdown_secs = *COUNTDOWN_SECS.start();
                let sale = shop
                    .start_sale(
                        AccountId(1),
                        FlashSaleSpec {
                            sku: sku("stoneware-mug-sage"),
                            price: Money::new(500, Currency::EUR),
                            quantity: 20,
                            per_buyer_limit: 3,
                            countdown_secs,
                            duration_secs: *DURATION_SECS.start(),
                        },
                    )
                    .await
                    .unwrap()
                    .id;
                let now = || store.clock().now_ms();
                assert!(matches!(
                    claim(&store, lock, AccountId(7), sale, 1, now()).await,
                    Err(CommerceError::NotStarted { .. })
                ));
                time.advance(Duration::from_secs(countdown_secs));
                assert!(matches!(
                    claim(&store, lock, AccountId(7), sale, 0, now()).await,
                    Err(CommerceError::BadQuantity)
                ));
                assert!(matches!(
                    claim(&store, lock, AccountId(7), SaleId(sale.0 + 1), 1, now()).await,
                    Err(CommerceError::UnknownSale)
                ));
                // Ten buyers, four claims each: 40 asks for 20 units, 3 a buyer.
                let tasks: Vec<_> = (0..40u64)
                    .map(|n| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            let buyer = AccountId(100 + n % 10);
                            let now = store.clock().now_ms();
                            (buyer, claim(&store, lock, buyer, sale, 1, now).await)
                        })
                    })
                    .collect();
                let mut sold = std::collections::HashMap::<AccountId, i64>::new();
                for task in tasks {
                    match task.await.unwrap() {
                        (buyer, Ok(claimed)) => {
                            assert_eq!(claimed.total, Money::new(500, Currency::EUR));
                            *sold.entry(buyer).or_default() += 1;
                        }
                        (_, Err(CommerceError::SoldOut | CommerceError::LimitReached { .. })) => {}
                        (_, Err(e)) => panic!("{lock:?}: unexpected refusal {e:?}"),
                    }
                }
                assert_eq!(sold.values().sum::<i64>(), 20, "{lock:?}");
                assert!(sold.values().all(|&n| n <= 3), "{lock:?}: {sold:?}");
                let (orders, counted): (i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM orders WHERE flash_sale_id = $1), \
                     (SELECT sold FROM flash_sales WHERE id = $1)",
                )
                .bind(sale.0)
                .fetch_one(store.pool())
                .await
                .unwrap();
                assert_eq!((orders, counted), (20, 20), "{lock:?}");
                assert!(matches!(
                    claim(&store, lock, AccountId(999), sale, 1, now()).await,
                    Err(CommerceError::SoldOut)
                ));
            }
        }
    }
}
