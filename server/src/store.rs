//! The durable store: accounts, sessions and rooms, through sqlx's `Any`
//! driver so the same queries run on SQLite (embedded default, WAL) and
//! PostgreSQL.

use crate::catalog::{Product, Variant};
use crate::clock::Clock;
use rand::Rng;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use vitrine_shared::api::ProductSize;
use vitrine_shared::{
    AccountId, Category, Currency, DisplayName, Money, ProductId, Role, RoomId, Sku,
};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: DisplayName,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub account: AccountId,
    pub expires_at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomRow {
    pub id: RoomId,
    pub name: String,
    pub capacity: usize,
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// Stamps the rows it writes (created, expires, revoked); the server's
    /// one clock, handed in at start so tests can move it.
    clock: Clock,
    /// Guests are created one at a time, so two sign-ins from one network
    /// cannot both take its last place of the day.
    guests: Arc<tokio::sync::Mutex<()>>,
    /// Live sessions as last read (`live_session`).
    sessions: Arc<SessionCache>,
}

/// How long a session read from the database answers for it without a
/// new read. Every signed-in request looks its session up; in a flash sale
/// that read was most of what a claim cost the database (docs/BENCHMARKS.md).
/// A sign-out through this store takes effect at once (a read under way
/// when it lands does not put the session back); a change made by another
/// process within this long: `admin set-role`, which is its own process,
/// or another server. The console's feed re-reads every time.
pub const SESSION_CACHE_TTL: Duration = Duration::from_secs(2);

/// Sessions kept at most; past it the stale ones go, then all of them
/// (which costs only reads).
const SESSION_CACHE_MAX: usize = 100_000;

#[derive(Debug, Default)]
struct SessionCache(std::sync::Mutex<CachedSessions>);

#[derive(Debug, Default)]
struct CachedSessions {
    entries: HashMap<String, (Instant, Session, Account)>,
    /// Moved on by every sign-out and role change through this store: a
    /// read begun before one must not put back what it ended.
    generation: u64,
}

impl SessionCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CachedSessions> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn generation(&self) -> u64 {
        self.lock().generation
    }

    fn get(&self, session_id: &str, now_ms: i64) -> Option<(Session, Account)> {
        let cached = self.lock();
        let (read_at, session, account) = cached.entries.get(session_id)?;
        (read_at.elapsed() < SESSION_CACHE_TTL && session.expires_at_ms > now_ms)
            .then(|| (session.clone(), account.clone()))
    }

    /// Keeps what a read begun at `generation` found, unless a sign-out or
    /// role change came in between.
    fn put(&self, session_id: &str, found: &Option<(Session, Account)>, generation: u64) {
        let mut cached = self.lock();
        match found {
            Some((session, account)) if cached.generation == generation => {
                if cached.entries.len() >= SESSION_CACHE_MAX {
                    cached
                        .entries
                        .retain(|_, (read_at, ..)| read_at.elapsed() < SESSION_CACHE_TTL);
                    if cached.entries.len() >= SESSION_CACHE_MAX {
                        cached.entries.clear();
                    }
                }
                cached.entries.insert(
                    session_id.to_owned(),
                    (Instant::now(), session.clone(), account.clone()),
                );
            }
            _ => {
                cached.entries.remove(session_id);
            }
        }
    }

    /// After a sign-out (one session) or a role change (all of them).
    fn forget(&self, session_id: Option<&str>) {
        let mut cached = self.lock();
        cached.generation += 1;
        match session_id {
            Some(id) => {
                cached.entries.remove(id);
            }
            None => cached.entries.clear(),
        }
    }
}

fn role_from_str(s: &str) -> Result<Role, StoreError> {
    Role::ALL
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown role {s:?}")))
}

impl Store {
    /// Connects, applies pending migrations, and on SQLite turns on WAL with
    /// full sync so a confirmed write survives a crash.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(url)?;
        let is_sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            // SQLite has one writer; a small pool avoids lock convoys.
            .max_connections(if is_sqlite { 4 } else { 16 })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if is_sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store {
            pool,
            clock: Clock::system(),
            guests: Arc::default(),
            sessions: Arc::default(),
        })
    }

    /// The same store, stamping its rows by `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        self
    }

    /// The clock this store stamps its rows by; the code writing rows
    /// through it (the commerce ledger) reads the same time.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn create_account(
        &self,
        name: &DisplayName,
        role: Role,
        kind: &str,
    ) -> Result<Account, StoreError> {
        let id: i64 = crate::ids::new_id();
        sqlx::query(
            "INSERT INTO accounts (id, display_name, role, kind, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(name.as_str())
        .bind(role.as_str())
        .bind(kind)
        .bind(self.clock.now_ms())
        .execute(&self.pool)
        .await?;
        Ok(Account {
            id: AccountId(id as u64),
            name: name.clone(),
            role,
        })
    }

    /// Creates a registered account. `None` when the username is taken.
    pub async fn create_user(
        &self,
        username: &str,
        name: &DisplayName,
        role: Role,
        password_hash: &str,
    ) -> Result<Option<Account>, StoreError> {
        if self.user(username).await?.is_some() {
            return Ok(None);
        }
        let id: i64 = crate::ids::new_id();
        sqlx::query(
            "INSERT INTO accounts (id, display_name, role, kind, created_at, username, password_hash) \
             VALUES ($1, $2, $3, 'registered', $4, $5, $6)",
        )
        .bind(id)
        .bind(name.as_str())
        .bind(role.as_str())
        .bind(self.clock.now_ms())
        .bind(username)
        .bind(password_hash)
        .execute(&self.pool)
        .await?;
        Ok(Some(Account {
            id: AccountId(id as u64),
            name: name.clone(),
            role,
        }))
    }

    /// Gives a registered account another role (`admin set-role`); false
    /// if no account has that username. Open sessions and console feeds
    /// read the role afresh, so a demotion takes effect on them too.
    pub async fn set_role(&self, username: &str, role: Role) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE accounts SET role = $1 WHERE username = $2")
            .bind(role.as_str())
            .bind(username)
            .execute(&self.pool)
            .await?;
        // Which sessions are this user's is not kept here: read them all again.
        self.sessions.forget(None);
        Ok(done.rows_affected() > 0)
    }

    /// A registered account and its password hash.
    pub async fn user(&self, username: &str) -> Result<Option<(Account, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, display_name, role, password_hash FROM accounts WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let name = DisplayName::new(row.try_get::<String, _>(1)?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let account = Account {
            id: AccountId(row.try_get::<i64, _>(0)? as u64),
            name,
            role: role_from_str(&row.try_get::<String, _>(2)?)?,
        };
        Ok(Some((
            account,
            row.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
        )))
    }

    pub async fn create_guest(&self, name: &DisplayName) -> Result<Account, StoreError> {
        self.create_account(name, Role::Shopper, "guest").await
    }

    /// A guest created from `network` (see `crate::fair`), with the friend
    /// who invited it if any; `None`, and nothing created, when that
    /// network has created `per_day` guests in the last 24 hours.
    pub async fn create_guest_from(
        &self,
        name: &DisplayName,
        invited_by: Option<AccountId>,
        network: &str,
        per_day: u32,
    ) -> Result<Option<Account>, StoreError> {
        let _one_at_a_time = self.guests.lock().await;
        let now = self.clock.now_ms();
        let since = now - vitrine_shared::limits::fair::GUEST_WINDOW_MS;
        let made: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM accounts WHERE kind = 'guest' AND network = $1 AND created_at > $2",
        )
        .bind(network)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        if made >= i64::from(per_day) {
            return Ok(None);
        }
        let id: i64 = crate::ids::new_id();
        sqlx::query(
            "INSERT INTO accounts (id, display_name, role, kind, created_at, invited_by, network) \
             VALUES ($1, $2, $3, 'guest', $4, $5, $6)",
        )
        .bind(id)
        .bind(name.as_str())
        .bind(Role::Shopper.as_str())
        .bind(now)
        .bind(invited_by.map(|a| a.0 as i64))
        .bind(network)
        .execute(&self.pool)
        .await?;
        Ok(Some(Account {
            id: AccountId(id as u64),
            name: name.clone(),
            role: Role::Shopper,
        }))
    }

    /// Whose invite code this is.
    pub async fn invite_owner(&self, code: &str) -> Result<Option<AccountId>, StoreError> {
        let owner: Option<i64> =
            sqlx::query_scalar("SELECT account_id FROM invites WHERE code = $1")
                .bind(code.trim().to_ascii_uppercase())
                .fetch_optional(&self.pool)
                .await?;
        Ok(owner.map(|id| AccountId(id as u64)))
    }

    pub async fn create_session(
        &self,
        account: AccountId,
        ttl: Duration,
    ) -> Result<Session, StoreError> {
        let id: String = {
            let bytes: [u8; 16] = rand::rng().random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        };
        let now = self.clock.now_ms();
        let expires_at_ms = now.saturating_add(ttl.as_millis() as i64);
        sqlx::query(
            "INSERT INTO sessions (id, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(account.0 as i64)
        .bind(now)
        .bind(expires_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(Session {
            id,
            account,
            expires_at_ms,
        })
    }

    /// The live (unexpired, unrevoked) session and its account: from the
    /// cache when read within `SESSION_CACHE_TTL`.
    pub async fn live_session(
        &self,
        session_id: &str,
    ) -> Result<Option<(Session, Account)>, StoreError> {
        if let Some(found) = self.sessions.get(session_id, self.clock.now_ms()) {
            return Ok(Some(found));
        }
        self.live_session_fresh(session_id).await
    }

    /// `live_session` read from the database, refreshing the cache: for
    /// checks that must see a sign-out or a lost role made elsewhere.
    pub async fn live_session_fresh(
        &self,
        session_id: &str,
    ) -> Result<Option<(Session, Account)>, StoreError> {
        let generation = self.sessions.generation();
        let found = self.read_live_session(session_id).await?;
        self.sessions.put(session_id, &found, generation);
        Ok(found)
    }

    async fn read_live_session(
        &self,
        session_id: &str,
    ) -> Result<Option<(Session, Account)>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id, s.account_id, s.expires_at, a.display_name, a.role \
             FROM sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2",
        )
        .bind(session_id)
        .bind(self.clock.now_ms())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let account = AccountId(row.try_get::<i64, _>(1)? as u64);
        let name = DisplayName::new(row.try_get::<String, _>(3)?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let role = role_from_str(&row.try_get::<String, _>(4)?)?;
        Ok(Some((
            Session {
                id: row.try_get(0)?,
                account,
                expires_at_ms: row.try_get(2)?,
            },
            Account {
                id: account,
                name,
                role,
            },
        )))
    }

    pub async fn revoke_session(&self, session_id: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(self.clock.now_ms())
                .bind(session_id)
                .execute(&self.pool)
                .await?;
        self.sessions.forget(Some(session_id));
        Ok(done.rows_affected() == 1)
    }

    /// Makes the rooms table match the seed list (insert or update).
    pub async fn sync_rooms(&self, rooms: &[RoomRow]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for room in rooms {
            sqlx::query(
                "INSERT INTO rooms (id, name, capacity, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, capacity = excluded.capacity",
            )
            .bind(room.id.as_str())
            .bind(&room.name)
            .bind(room.capacity as i64)
            .bind(self.clock.now_ms())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn rooms(&self) -> Result<Vec<RoomRow>, StoreError> {
        let rows = sqlx::query("SELECT id, name, capacity FROM rooms ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                let id = RoomId::new(row.try_get::<String, _>(0)?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let capacity = usize::try_from(row.try_get::<i64, _>(2)?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(RoomRow {
                    id,
                    name: row.try_get(1)?,
                    capacity,
                })
            })
            .collect()
    }
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    pub products: usize,
    pub variants: usize,
}

impl Store {
    pub async fn catalog_is_empty(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM products")
            .fetch_one(&self.pool)
            .await?;
        Ok(n == 0)
    }

    /// Writes a whole checked catalog in one transaction: products and
    /// variants are inserted or updated (stock included) and un-archived.
    /// Either all of it lands or none of it does.
    pub async fn import_catalog(&self, products: &[Product]) -> Result<ImportSummary, StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = self.clock.now_ms();
        let mut variants = 0;
        for (position, p) in products.iter().enumerate() {
            variants += write_product(&mut tx, p, position as i64, now, SizeWrite::Set).await?;
        }
        tx.commit().await?;
        Ok(ImportSummary {
            products: products.len(),
            variants,
        })
    }

    /// Creates or updates one product and its listed variants in one
    /// transaction, after checking that the product does (update) or does
    /// not (create) exist and that no listed SKU belongs to another product.
    /// Variants not listed are left as they are, and so is the product's
    /// size when `product` has none (the JSON admin API carries no size).
    /// Nothing is written on a refusal.
    pub async fn upsert_product(
        &self,
        product: &Product,
        mode: UpsertMode,
    ) -> Result<Result<(), UpsertRefusal>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let position: Option<i64> =
            sqlx::query_scalar("SELECT position FROM products WHERE id = $1")
                .bind(product.id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        match (mode, position) {
            (UpsertMode::Create, Some(_)) => return Ok(Err(UpsertRefusal::ProductExists)),
            (UpsertMode::Update, None) => return Ok(Err(UpsertRefusal::UnknownProduct)),
            _ => {}
        }
        for v in &product.variants {
            let owner: Option<String> =
                sqlx::query_scalar("SELECT product_id FROM variants WHERE sku = $1")
                    .bind(v.sku.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if owner.is_some_and(|o| o != product.id.as_str()) {
                return Ok(Err(UpsertRefusal::SkuTaken(v.sku.clone())));
            }
        }
        let position = match position {
            Some(p) => p,
            None => {
                let last: Option<i64> = sqlx::query_scalar("SELECT MAX(position) FROM products")
                    .fetch_one(&mut *tx)
                    .await?;
                last.map_or(0, |p| p + 1)
            }
        };
        write_product(
            &mut tx,
            product,
            position,
            self.clock.now_ms(),
            SizeWrite::KeepIfNone,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Takes a product off sale. `false` when no such product was on sale.
    pub async fn archive_product(&self, id: &ProductId) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE products SET archived_at = $1 WHERE id = $2 AND archived_at IS NULL",
        )
        .bind(self.clock.now_ms())
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every product that is not archived, in catalog order.
    pub async fn products(&self) -> Result<Vec<Product>, StoreError> {
        self.load_products(None).await
    }

    pub async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        Ok(self.load_products(Some(id)).await?.into_iter().next())
    }

    async fn load_products(&self, only: Option<&ProductId>) -> Result<Vec<Product>, StoreError> {
        let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
        let rows = sqlx::query(
            "SELECT p.id, p.name, p.category, p.description, p.price_minor, p.currency, p.model, \
             v.sku, v.options, v.price_minor, v.stock, p.width_mm, p.height_mm, p.depth_mm \
             FROM products p JOIN variants v ON v.product_id = p.id \
             WHERE p.archived_at IS NULL AND ($1 = '' OR p.id = $1) \
             ORDER BY p.position, p.id, v.position, v.sku",
        )
        .bind(only.map(|id| id.as_str()).unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        let mut products: Vec<Product> = Vec::new();
        for row in rows {
            let id = ProductId::new(row.try_get::<String, _>(0)?).map_err(|e| corrupt(&e))?;
            let currency = Currency::new(&row.try_get::<String, _>(5)?).map_err(|e| corrupt(&e))?;
            if products.last().is_none_or(|p| p.id != id) {
                products.push(Product {
                    id,
                    name: row.try_get(1)?,
                    category: Category::new(row.try_get::<String, _>(2)?)
                        .map_err(|e| corrupt(&e))?,
                    description: row.try_get(3)?,
                    price: Money::new(row.try_get(4)?, currency),
                    model: row.try_get(6)?,
                    size: size_of(row.try_get(11)?, row.try_get(12)?, row.try_get(13)?)?,
                    variants: Vec::new(),
                });
            }
            let options: BTreeMap<String, String> =
                serde_json::from_str(&row.try_get::<String, _>(8)?).map_err(|e| corrupt(&e))?;
            let product = products.last_mut().expect("pushed above");
            product.variants.push(Variant {
                sku: Sku::new(row.try_get::<String, _>(7)?).map_err(|e| corrupt(&e))?,
                options,
                price: Money::new(row.try_get(9)?, currency),
                stock: row.try_get(10)?,
            });
        }
        Ok(products)
    }
}

/// A stored size: all three sides or none.
fn size_of(
    width: Option<i64>,
    height: Option<i64>,
    depth: Option<i64>,
) -> Result<Option<ProductSize>, StoreError> {
    let (width, height, depth) = match (width, height, depth) {
        (None, None, None) => return Ok(None),
        (Some(w), Some(h), Some(d)) => (w, h, d),
        _ => return Err(StoreError::Corrupt("a product size lacks a side".into())),
    };
    let side = |mm: i64| u32::try_from(mm).unwrap_or(0);
    let size = ProductSize {
        width_mm: side(width),
        height_mm: side(height),
        depth_mm: side(depth),
    };
    match size.is_valid() {
        true => Ok(Some(size)),
        false => Err(StoreError::Corrupt(format!(
            "invalid product size {size:?}"
        ))),
    }
}

/// What writing a product does to its stored size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SizeWrite {
    /// The product's size, or none (a catalog import says it all).
    Set,
    /// The product's size; without one, the stored size stays.
    KeepIfNone,
}

/// Inserts or updates a product and its variants (stock included), and
/// un-archives it. Returns how many variants were written.
async fn write_product(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    p: &Product,
    position: i64,
    now: i64,
    size_write: SizeWrite,
) -> Result<usize, StoreError> {
    let sizes = match size_write {
        SizeWrite::Set => {
            "width_mm = excluded.width_mm, height_mm = excluded.height_mm, \
             depth_mm = excluded.depth_mm"
        }
        // All three or none are NULL, so one test keeps the three together.
        SizeWrite::KeepIfNone => {
            "width_mm = CASE WHEN excluded.width_mm IS NULL THEN products.width_mm \
             ELSE excluded.width_mm END, \
             height_mm = CASE WHEN excluded.width_mm IS NULL THEN products.height_mm \
             ELSE excluded.height_mm END, \
             depth_mm = CASE WHEN excluded.width_mm IS NULL THEN products.depth_mm \
             ELSE excluded.depth_mm END"
        }
    };
    let side = |f: fn(&ProductSize) -> u32| p.size.as_ref().map(|s| i64::from(f(s)));
    sqlx::query(&format!(
        "INSERT INTO products (id, name, category, description, price_minor, currency, model, \
         position, archived_at, updated_at, width_mm, height_mm, depth_mm) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10, $11, $12) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, category = excluded.category, \
         description = excluded.description, price_minor = excluded.price_minor, \
         currency = excluded.currency, model = excluded.model, position = excluded.position, \
         archived_at = NULL, updated_at = excluded.updated_at, {sizes}"
    ))
    .bind(p.id.as_str())
    .bind(&p.name)
    .bind(p.category.as_str())
    .bind(&p.description)
    .bind(p.price.minor)
    .bind(p.price.currency.as_str())
    .bind(&p.model)
    .bind(position)
    .bind(now)
    .bind(side(|s| s.width_mm))
    .bind(side(|s| s.height_mm))
    .bind(side(|s| s.depth_mm))
    .execute(&mut **tx)
    .await?;
    for (position, v) in p.variants.iter().enumerate() {
        let options =
            serde_json::to_string(&v.options).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO variants (sku, product_id, options, price_minor, position, stock) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sku) DO UPDATE SET \
             product_id = excluded.product_id, options = excluded.options, \
             price_minor = excluded.price_minor, position = excluded.position, stock = excluded.stock",
        )
        .bind(v.sku.as_str())
        .bind(p.id.as_str())
        .bind(options)
        .bind(v.price.minor)
        .bind(position as i64)
        .bind(v.stock)
        .execute(&mut **tx)
        .await?;
    }
    Ok(p.variants.len())
}

/// Create a product that must not exist yet, or update one that must.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertMode {
    Create,
    Update,
}

/// Why a product was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpsertRefusal {
    ProductExists,
    UnknownProduct,
    /// The SKU belongs to another product.
    SkuTaken(Sku),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// SQLite in a temp dir, plus PostgreSQL when `VITRINE_TEST_POSTGRES`
    /// names a database URL.
    pub(crate) async fn stores() -> Vec<(Store, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::config::sqlite_url(dir.path());
        let mut out = vec![(Store::connect(&url).await.unwrap(), Some(dir))];
        if let Ok(pg) = std::env::var("VITRINE_TEST_POSTGRES") {
            // A schema of its own per test, so tests running at once on one
            // database never see each other's rows.
            let schema = format!("test_{:016x}", rand::random::<u64>());
            let url = crate::config::postgres_schema_url(&pg, &schema)
                .await
                .unwrap();
            out.push((Store::connect(&url).await.unwrap(), None));
        }
        out
    }

    #[test]
    fn a_read_under_way_when_a_sign_out_lands_does_not_put_the_session_back() {
        let cache = SessionCache::default();
        let session = Session {
            id: "s1".into(),
            account: AccountId(1),
            expires_at_ms: i64::MAX,
        };
        let account = Account {
            id: AccountId(1),
            name: DisplayName::new("Ada").unwrap(),
            role: Role::Host,
        };
        let found = Some((session, account));
        // The read starts, the sign-out lands, then the read finishes.
        let generation = cache.generation();
        cache.forget(Some("s1"));
        cache.put("s1", &found, generation);
        assert_eq!(cache.get("s1", 0), None);
        // A read begun after it is kept.
        cache.put("s1", &found, cache.generation());
        assert_eq!(cache.get("s1", 0), found);
        // A role change forgets every session.
        cache.forget(None);
        assert_eq!(cache.get("s1", 0), None);
    }

    #[tokio::test]
    async fn a_session_read_is_kept_briefly_and_changes_made_here_show_at_once() {
        for (store, _dir) in stores().await {
            let name = DisplayName::new("Cache Host").unwrap();
            let host = store
                .create_user("cache.host", &name, Role::Host, "not-a-real-hash")
                .await
                .unwrap()
                .unwrap();
            let session = store
                .create_session(host.id, Duration::from_secs(60))
                .await
                .unwrap();
            let role = |found: Option<(Session, Account)>| found.map(|(_, a)| a.role);
            assert_eq!(
                role(store.live_session(&session.id).await.unwrap()),
                Some(Role::Host)
            );
            // Another process demotes it, past this store's cache.
            let demote = |role: Role| {
                sqlx::query("UPDATE accounts SET role = $1 WHERE id = $2")
                    .bind(role.as_str())
                    .bind(host.id.0 as i64)
                    .execute(store.pool())
            };
            demote(Role::Shopper).await.unwrap();
            // A fresh read sees it at once, and refreshes what others read.
            assert_eq!(
                role(store.live_session_fresh(&session.id).await.unwrap()),
                Some(Role::Shopper)
            );
            assert_eq!(
                role(store.live_session(&session.id).await.unwrap()),
                Some(Role::Shopper)
            );
            // A change made elsewhere shows within the cache's time.
            demote(Role::Host).await.unwrap();
            let deadline = Instant::now() + SESSION_CACHE_TTL + Duration::from_secs(3);
            while role(store.live_session(&session.id).await.unwrap()) != Some(Role::Host) {
                assert!(
                    Instant::now() < deadline,
                    "the cached role outlived its time"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Through this store, a role change and a sign-out apply at once.
            assert!(store.set_role("cache.host", Role::Moderator).await.unwrap());
            assert_eq!(
                role(store.live_session(&session.id).await.unwrap()),
                Some(Role::Moderator)
            );
            assert!(store.revoke_session(&session.id).await.unwrap());
            assert_eq!(store.live_session(&session.id).await.unwrap(), None);
        }
    }

    #[tokio::test]
    async fn guests_sessions_and_rooms() {
        for (store, _dir) in stores().await {
            let name = DisplayName::new("Ada").unwrap();
            let account = store.create_guest(&name).await.unwrap();
            let session = store
                .create_session(account.id, Duration::from_secs(60))
                .await
                .unwrap();
            let (found, who) = store.live_session(&session.id).await.unwrap().unwrap();
            assert_eq!(found, session);
            assert_eq!(who, account);
            assert!(store.revoke_session(&session.id).await.unwrap());
            assert_eq!(store.live_session(&session.id).await.unwrap(), None);

            let expired = store
                .create_session(account.id, Duration::ZERO)
                .await
                .unwrap();
            assert_eq!(store.live_session(&expired.id).await.unwrap(), None);

            let room = RoomRow {
                id: RoomId::new("test-room-a").unwrap(),
                name: "A".into(),
                capacity: 3,
            };
            store.sync_rooms(std::slice::from_ref(&room)).await.unwrap();
            let renamed = RoomRow {
                name: "A2".into(),
                ..room
            };
            store
                .sync_rooms(std::slice::from_ref(&renamed))
                .await
                .unwrap();
            let rooms = store.rooms().await.unwrap();
            assert!(rooms.contains(&renamed));
        }
    }

    #[tokio::test]
    async fn registered_users_are_unique_by_username() {
        for (store, _dir) in stores().await {
            let username = format!("host-{}", rand::random::<u32>());
            let name = DisplayName::new("Ana").unwrap();
            let made = store
                .create_user(&username, &name, Role::Host, "$hash")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(made.role, Role::Host);
            assert_eq!(
                store
                    .create_user(&username, &name, Role::Shopper, "$x")
                    .await
                    .unwrap(),
                None
            );
            let (found, hash) = store.user(&username).await.unwrap().unwrap();
            assert_eq!((found, hash.as_str()), (made, "$hash"));
            assert_eq!(store.user("nobody-here").await.unwrap(), None);
        }
    }

    #[tokio::test]
    async fn a_network_creates_at_most_its_days_guests_in_a_rolling_day() {
        for (store, _dir) in stores().await {
            let time = crate::clock::ManualClock::starting_now();
            let store = store.with_clock(time.clock());
            let name = DisplayName::new("Guest").unwrap();
            let count = |network: &'static str| {
                let store = store.clone();
                async move {
                    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM accounts WHERE network = $1")
                        .bind(network)
                        .fetch_one(store.pool())
                        .await
                        .unwrap()
                }
            };
            let inviter = store.create_guest(&name).await.unwrap().id;
            for _ in 0..3 {
                let made = store
                    .create_guest_from(&name, Some(inviter), "192.0.2.1", 3)
                    .await
                    .unwrap();
                assert!(made.is_some());
            }
            time.advance(Duration::from_secs(3600));
            assert_eq!(
                store
                    .create_guest_from(&name, None, "192.0.2.1", 3)
                    .await
                    .unwrap(),
                None,
                "the fourth in a day is refused"
            );
            assert_eq!(count("192.0.2.1").await, 3, "and nothing is created");
            let invited: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM accounts WHERE network = $1 AND invited_by = $2",
            )
            .bind("192.0.2.1")
            .bind(inviter.0 as i64)
            .fetch_one(store.pool())
            .await
            .unwrap();
            assert_eq!(invited, 3, "the inviter is recorded with the network");
            // Another network is not held back by this one.
            assert!(
                store
                    .create_guest_from(&name, None, "192.0.2.2", 3)
                    .await
                    .unwrap()
                    .is_some()
            );
            // A day after the first three, the window has rolled past them.
            time.advance(Duration::from_secs(23 * 3600 - 1));
            assert!(
                store
                    .create_guest_from(&name, None, "192.0.2.1", 3)
                    .await
                    .unwrap()
                    .is_none()
            );
            time.advance(Duration::from_secs(1));
            assert!(
                store
                    .create_guest_from(&name, None, "192.0.2.1", 3)
                    .await
                    .unwrap()
                    .is_some()
            );
            assert_eq!(count("192.0.2.1").await, 4);
        }
    }

    #[tokio::test]
    async fn sqlite_runs_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&crate::config::sqlite_url(dir.path()))
            .await
            .unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
    }

    #[tokio::test]
    async fn catalog_round_trips_and_imports_are_all_or_nothing() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/catalog.toml");
        let catalog = crate::catalog::load_catalog_file(&path).unwrap();
        for (store, _dir) in stores().await {
            let summary = store.import_catalog(&catalog).await.unwrap();
            assert_eq!(summary.products, catalog.len());
            assert!(!store.catalog_is_empty().await.unwrap());
            assert_eq!(store.products().await.unwrap(), catalog);
            let one = store.product(&catalog[3].id).await.unwrap().unwrap();
            assert_eq!(one, catalog[3]);
            let nope = ProductId::new("no-such-product").unwrap();
            assert_eq!(store.product(&nope).await.unwrap(), None);

            // A second import whose last variant breaks a constraint (negative
            // stock slipped past the parser) leaves the first import intact.
            let mut bad = catalog.clone();
            bad[0].name = "Renamed".into();
            bad.last_mut().unwrap().variants[0].stock = -1;
            assert!(store.import_catalog(&bad).await.is_err());
            assert_eq!(store.products().await.unwrap(), catalog);
        }
    }

    #[tokio::test]
    async fn sizes_are_stored_set_by_imports_and_kept_by_json_updates() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/catalog.toml");
        let catalog = crate::catalog::load_catalog_file(&path).unwrap();
        let size = |w, h, d| ProductSize {
            width_mm: w,
            height_mm: h,
            depth_mm: d,
        };
        for (store, _dir) in stores().await {
            store.import_catalog(&catalog).await.unwrap();
            let id = catalog[0].id.clone();
            let (at, id) = (&store, &id);
            let stored = move || async move { at.product(id).await.unwrap().unwrap().size };
            assert_eq!(stored().await, catalog[0].size);
            assert!(stored().await.is_some());

            // A product written as JSON carries no size: it keeps its own.
            let mut edit = catalog[0].clone();
            edit.name = "Renamed".into();
            edit.size = None;
            store
                .upsert_product(&edit, UpsertMode::Update)
                .await
                .unwrap()
                .unwrap();
            let now = store.product(id).await.unwrap().unwrap();
            assert_eq!((now.name.as_str(), now.size), ("Renamed", catalog[0].size));
            // With one, it is replaced; the limits themselves are sizes.
            edit.size = Some(size(1, ProductSize::MAX_MM, 1));
            store
                .upsert_product(&edit, UpsertMode::Update)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(stored().await, edit.size);

            // A catalog import says it all: a product without a size has none.
            let mut bare = catalog.clone();
            bare[0].size = None;
            store.import_catalog(&bare).await.unwrap();
            assert_eq!(stored().await, None);
            assert_eq!(store.products().await.unwrap(), bare);

            // The database refuses what the catalog would (a bug upstream
            // cannot store a size no reader accepts), and the import is whole.
            let mut bad = catalog.clone();
            bad[0].size = Some(size(0, 10, 10));
            assert!(store.import_catalog(&bad).await.is_err());
            let mut bad = catalog.clone();
            bad[1].size = Some(size(10, ProductSize::MAX_MM + 1, 10));
            assert!(store.import_catalog(&bad).await.is_err());
            assert_eq!(store.products().await.unwrap(), bare);
        }
    }
}
