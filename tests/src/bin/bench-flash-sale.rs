//! `cargo xtask bench flash-sale`: one hot SKU rushed by 256 concurrent
//! clients, through the commerce engine and through the correct designs a
//! team would otherwise pick, on SQLite and, when a URL is given, on
//! PostgreSQL:
//!
//! - **conditional UPDATE**: each claim one transaction, `UPDATE … SET sold =
//!   sold + 1 WHERE … AND sold + 1 <= quantity RETURNING …`, the buyer's
//!   units checked, the order inserted (on SQLite under `BEGIN IMMEDIATE`
//!   with the busy timeout); `vitrine_server::commerce::baseline`;
//! - **SELECT … FOR UPDATE** (PostgreSQL): the same with the row locked by a
//!   read and checked in the handler;
//! - **Redis**: Debian's `redis-server` (AOF, fsync every second) holds the
//!   stock and each buyer's units; a Lua script checks and decrements them
//!   atomically, and the order is written to the database after.
//!
//! Every path gets the same claims: a fifth more than the sale's units,
//! each buyer asking once past its limit, so that sold-out and over-limit
//! answers are part of it and an oversell would show. Units
//! sold are counted the same way for all, from the orders in the database
//! after the run. Prints figures; asserts nothing.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use vitrine_client::net::ApiClient;
use vitrine_server::clock::ManualClock;
use vitrine_server::commerce::baseline::{self, ClaimDesk, RowLock};
use vitrine_server::commerce::{self, Claimed, CommerceError, FlashSaleSpec, SaleState};
use vitrine_server::store::Store;
use vitrine_shared::api::StartFlashSale;
use vitrine_shared::{AccountId, Currency, Money, OrderId, Role, SaleId, Sku};

const CATALOG: &str = r#"currency = "EUR"
[[products]]
id = "hot-item"
name = "Hot Item"
category = "bench"
price = "20.00"
model = "models/hot-item.glb"
[[products.variants]]
sku = "hot-item-one"
stock = 1000000
"#;

const PER_BUYER: i64 = 10;
/// Each buyer asks once more than its limit, so the limit is tested too.
const ATTEMPTS_PER_BUYER: i64 = PER_BUYER + 1;

/// Claims for a sale of `units`: a fifth more than the units, so that both
/// sold-out and over-the-limit answers are part of every rush.
fn attempts_for(units: usize) -> usize {
    units + units / 5
}

struct Args {
    units: usize,
    clients: usize,
    postgres: Option<String>,
    redis_server: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        units: 20_000,
        clients: 256,
        postgres: std::env::var("VITRINE_TEST_POSTGRES").ok(),
        redis_server: "redis-server".to_owned(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--units" => args.units = value()?.parse().map_err(|e| format!("--units: {e}"))?,
            "--clients" => {
                args.clients = value()?.parse().map_err(|e| format!("--clients: {e}"))?
            }
            "--postgres" => args.postgres = Some(value()?),
            "--redis-server" => args.redis_server = value()?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.units == 0 || args.clients == 0 {
        return Err("--units and --clients must be at least 1".into());
    }
    Ok(args)
}

/// How one claim was answered.
enum Answer {
    Order,
    /// Sold out or over the buyer's limit: a correct answer.
    Refused,
    /// 429: the server's per-account limit (HTTP only).
    RateLimited,
    Failed,
}

fn answer(result: Result<(), CommerceError>) -> Answer {
    match result {
        Ok(()) => Answer::Order,
        Err(CommerceError::SoldOut | CommerceError::LimitReached { .. }) => Answer::Refused,
        Err(_) => Answer::Failed,
    }
}

/// The rush as the clients saw it.
struct Rush {
    elapsed: Duration,
    latencies: Vec<Duration>,
    refused: usize,
    limited: usize,
    failed: usize,
}

/// `clients` tasks take claim numbers 0.. until `attempts` are made; claim
/// `n` is buyer `n / ATTEMPTS_PER_BUYER`'s: every buyer asks one past its limit.
async fn rush<F, Fut>(clients: usize, attempts: usize, claim: F) -> Result<Rush, String>
where
    F: Fn(AccountId) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Answer> + Send,
{
    let next = Arc::new(AtomicI64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (claim, next) = (claim.clone(), next.clone());
            tokio::spawn(async move {
                let (mut latencies, mut refused, mut limited, mut failed) = (Vec::new(), 0, 0, 0);
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= attempts as i64 {
                        break;
                    }
                    let buyer = AccountId(10_000 + (n / ATTEMPTS_PER_BUYER) as u64);
                    let t = Instant::now();
                    match claim(buyer).await {
                        Answer::Order => {}
                        Answer::Refused => refused += 1,
                        Answer::RateLimited => limited += 1,
                        Answer::Failed => failed += 1,
                    }
                    latencies.push(t.elapsed());
                }
                (latencies, refused, limited, failed)
            })
        })
        .collect();
    let mut all = Rush {
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(attempts),
        refused: 0,
        limited: 0,
        failed: 0,
    };
    for t in tasks {
        let (l, r, n, f) = t.await.map_err(|e| e.to_string())?;
        all.latencies.extend(l);
        all.refused += r;
        all.limited += n;
        all.failed += f;
    }
    all.elapsed = start.elapsed();
    all.latencies.sort_unstable();
    Ok(all)
}

/// What the database holds after a rush: the same count for every path.
struct Audit {
    units_sold: i64,
    oversold: i64,
    /// Buyers holding more than the per-buyer limit.
    over_limit: i64,
}

async fn audit(store: &Store, sale: SaleId, quantity: i64) -> Result<Audit, String> {
    let (units_sold,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) FROM orders o \
         JOIN order_lines l ON l.order_id = o.id WHERE o.flash_sale_id = $1",
    )
    .bind(sale.0)
    .fetch_one(store.pool())
    .await
    .map_err(|e| e.to_string())?;
    let (over_limit,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM (SELECT o.account_id FROM orders o \
         JOIN order_lines l ON l.order_id = o.id WHERE o.flash_sale_id = $1 \
         GROUP BY o.account_id HAVING SUM(l.quantity) > $2) AS over",
    )
    .bind(sale.0)
    .bind(PER_BUYER)
    .fetch_one(store.pool())
    .await
    .map_err(|e| e.to_string())?;
    Ok(Audit {
        units_sold,
        oversold: (units_sold - quantity).max(0),
        over_limit,
    })
}

fn spec(units: usize) -> Result<FlashSaleSpec, String> {
    Ok(FlashSaleSpec {
        sku: Sku::new("hot-item-one").map_err(|e| e.to_string())?,
        price: Money::new(990, Currency::EUR),
        quantity: units as i64,
        per_buyer_limit: PER_BUYER,
        countdown_secs: 10,
        duration_secs: 1200,
    })
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// `url` for a run of its own: on PostgreSQL a new schema, so runs never
/// see each other's rows.
async fn fresh_url(url: &str) -> Result<String, String> {
    if !url.starts_with("postgres") {
        return Ok(url.to_owned());
    }
    sqlx::any::install_default_drivers();
    let schema = format!("bench_{:016x}", rand::random::<u64>());
    let admin = sqlx::AnyPool::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .map_err(|e| e.to_string())?;
    admin.close().await;
    let sep = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{sep}options[search_path]={schema}"))
}

/// A database of its own for one path (a new SQLite file, or a new
/// PostgreSQL schema), so no path runs on another's rows.
async fn fresh_store(url: &str) -> Result<(Store, Option<tempfile::TempDir>), String> {
    let (url, dir) = if url.starts_with("postgres") {
        (fresh_url(url).await?, None)
    } else {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        (vitrine_server::config::sqlite_url(dir.path()), Some(dir))
    };
    let store = Store::connect(&url).await.map_err(|e| e.to_string())?;
    index_for_baselines(&store).await?;
    let catalog = vitrine_server::catalog::parse_catalog(CATALOG).map_err(|e| e.to_string())?;
    store
        .import_catalog(&catalog)
        .await
        .map_err(|e| e.to_string())?;
    Ok((store, dir))
}

/// The index a team would add for the baselines' count of a buyer's units
/// in a sale (the schema has one on each column alone), on every path.
async fn index_for_baselines(store: &Store) -> Result<(), String> {
    sqlx::query(
        "CREATE INDEX IF NOT EXISTS bench_orders_by_sale_and_buyer ON orders (flash_sale_id, account_id)",
    )
    .execute(store.pool())
    .await
    .map(drop)
    .map_err(|e| e.to_string())
}

/// Claims through the engine, on a sale started through it.
async fn engine_path(
    store: &Store,
    units: usize,
    clients: usize,
) -> Result<(Rush, SaleId), String> {
    let gateway = Arc::new(commerce::TestGateway::default());
    // The engine's own clock, moved past the countdown instead of waiting it out.
    let time = ManualClock::starting_now();
    let engine = commerce::spawn(
        store.clone(),
        time.clock(),
        gateway,
        commerce::EngineSettings::default(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let spec = spec(units)?;
    let countdown = Duration::from_secs(spec.countdown_secs);
    let sale = engine
        .start_sale(AccountId(1), spec)
        .await
        .map_err(|e| e.to_string())?;
    time.advance(countdown);
    let view = engine
        .sale(sale.id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("sale vanished")?;
    if view.state != SaleState::Live {
        return Err(format!("the sale is {:?} after its countdown", view.state));
    }
    let rush = rush(clients, attempts_for(units), move |buyer| {
        let engine = engine.clone();
        async move { answer(engine.claim(buyer, sale.id, 1, None).await.map(drop)) }
    })
    .await?;
    Ok((rush, sale.id))
}

/// A sale written straight to the database, open now, for the baselines.
async fn open_sale(store: &Store, units: usize) -> Result<SaleId, String> {
    let sale_id: i64 = vitrine_server::ids::new_id();
    let now = store.clock().now_ms();
    sqlx::query(
        "INSERT INTO flash_sales (id, sku, product_id, price_minor, currency, quantity, sold, per_buyer_limit, \
         starts_at, ends_at, closed_at, created_by, created_at) \
         VALUES ($1, 'hot-item-one', 'hot-item', 990, 'EUR', $2, 0, $3, $4, $5, NULL, 1, $4)",
    )
    .bind(sale_id)
    .bind(units as i64)
    .bind(PER_BUYER)
    .bind(now - 1_000)
    .bind(now + 3_600_000)
    .execute(store.pool())
    .await
    .map_err(|e| e.to_string())?;
    Ok(SaleId(sale_id))
}

/// Stock and each buyer's units, checked and taken in one step.
const REDIS_CLAIM: &str = r"
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if bought + 1 > tonumber(ARGV[2]) then return -2 end
local left = redis.call('DECR', KEYS[1])
if left < 0 then
  redis.call('INCR', KEYS[1])
  return -1
end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return left
";

/// Debian's redis-server on a free loopback port, in a directory of its
/// own; stopped when dropped.
struct RedisServer {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_redis(binary: &str) -> Result<RedisServer, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = std::process::Command::new(binary)
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        // Durable the way such a counter is usually run: the append-only
        // file, synced once a second; no snapshots.
        .args(["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""])
        .arg("--dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {binary} (Debian's redis-server; `cargo xtask bench flash-sale` installs it): {e}"))?;
    let server = RedisServer {
        child,
        url: format!("redis://127.0.0.1:{port}/"),
        _dir: dir,
    };
    let client = redis::Client::open(server.url.as_str()).map_err(|e| e.to_string())?;
    // Until it answers, for at most 10 s.
    for _ in 0..200 {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await
            && redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .is_ok()
        {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "{binary} did not answer on port {port} within 10 s"
    ))
}

/// The correct designs a team would pick instead of the engine.
#[derive(Clone, Copy)]
enum Baseline {
    Rows(RowLock),
    Redis,
}

impl Baseline {
    fn label(self) -> &'static str {
        match self {
            Baseline::Rows(lock) => lock.label(),
            Baseline::Redis => "Redis Lua + insert",
        }
    }
}

/// The Redis baseline's connection and script.
#[derive(Clone)]
struct RedisBaseline {
    /// One multiplexed connection shared by every task: pipelined, as the
    /// crate recommends.
    conn: redis::aio::MultiplexedConnection,
    script: Arc<redis::Script>,
}

fn stock_key(sale: SaleId) -> String {
    format!("sale:{}:stock", sale.0)
}

fn bought_key(sale: SaleId) -> String {
    format!("sale:{}:bought", sale.0)
}

impl RedisBaseline {
    async fn connect(url: &str) -> Result<RedisBaseline, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        Ok(RedisBaseline {
            conn,
            script: Arc::new(redis::Script::new(REDIS_CLAIM)),
        })
    }

    /// Puts the sale's units in Redis, as its host would when it opens.
    async fn stock(&self, sale: SaleId, units: usize) -> Result<(), String> {
        redis::pipe()
            .set(stock_key(sale), units as i64)
            .del(bought_key(sale))
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(|e| e.to_string())
    }

    fn desk(&self, store: Store) -> ClaimDesk {
        let redis = self.clone();
        ClaimDesk::new(move |buyer, sale, quantity| {
            let (redis, store) = (redis.clone(), store.clone());
            Box::pin(async move { redis.claim(&store, buyer, sale, quantity).await })
        })
    }

    async fn claim(
        &self,
        store: &Store,
        buyer: AccountId,
        sale: SaleId,
        quantity: i64,
    ) -> Result<Claimed, CommerceError> {
        // The script takes one unit at a time, as every claim here is.
        if quantity != 1 {
            return Err(CommerceError::BadQuantity);
        }
        let mut conn = self.conn.clone();
        let (stock, bought) = (stock_key(sale), bought_key(sale));
        let mut call = self.script.key(&stock);
        call.key(&bought).arg(buyer.0).arg(PER_BUYER);
        let left: i64 = call
            .invoke_async(&mut conn)
            .await
            .map_err(|_| CommerceError::Storage)?;
        match left {
            -1 => return Err(CommerceError::SoldOut),
            -2 => {
                return Err(CommerceError::LimitReached {
                    limit: PER_BUYER,
                    remaining: 0,
                });
            }
            _ => {}
        }
        match write_order(store, sale, buyer).await {
            Ok(order_id) => Ok(Claimed {
                order_id,
                sale_id: sale,
                sku: Sku::new("hot-item-one").map_err(|_| CommerceError::Storage)?,
                quantity: 1,
                unit_price: Money::new(990, Currency::EUR),
                total: Money::new(990, Currency::EUR),
                units_left: left,
            }),
            Err(_) => {
                // Give the unit back: the order never existed.
                let _: Result<(), _> = redis::pipe()
                    .incr(&stock, 1)
                    .hincr(&bought, buyer.0, -1)
                    .query_async(&mut conn)
                    .await;
                Err(CommerceError::Storage)
            }
        }
    }
}

/// The Redis path's order: one transaction, no shared row to wait on.
async fn write_order(
    store: &Store,
    sale: SaleId,
    buyer: AccountId,
) -> Result<OrderId, sqlx::Error> {
    let mut tx = store.pool().begin().await?;
    let order = baseline::insert_order(
        &mut tx,
        &baseline::NewOrder {
            buyer,
            sale_id: sale,
            sku: "hot-item-one",
            price_minor: 990,
            currency: "EUR",
            quantity: 1,
            now_ms: store.clock().now_ms(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(order)
}

fn baseline_desk(baseline: Baseline, store: &Store, redis: &RedisBaseline) -> ClaimDesk {
    match baseline {
        Baseline::Rows(lock) => ClaimDesk::row_lock(store.clone(), lock),
        Baseline::Redis => redis.desk(store.clone()),
    }
}

/// Claims through a baseline, in process, on a sale of its own.
async fn baseline_path(
    store: &Store,
    baseline: Baseline,
    redis: &RedisBaseline,
    units: usize,
    clients: usize,
) -> Result<(Rush, SaleId), String> {
    let sale = open_sale(store, units).await?;
    if let Baseline::Redis = baseline {
        redis.stock(sale, units).await?;
    }
    let desk = baseline_desk(baseline, store, redis);
    let rush = rush(clients, attempts_for(units), move |buyer| {
        let claim = desk.claim(buyer, sale, 1);
        async move { answer(claim.await.map(drop)) }
    })
    .await?;
    Ok((rush, sale))
}

/// A row of figures: claims per second over every answer, p50 and p99 of
/// all answers, and what the database holds.
struct Row {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    refused: usize,
    limited: usize,
    failed: usize,
}

impl Row {
    fn of(rush: &Rush) -> Row {
        Row {
            // Orders and refusals: a failed or rate-limited claim answered
            // nothing, so it does not count toward the rate.
            per_sec: (rush.latencies.len() - rush.limited - rush.failed) as f64
                / rush.elapsed.as_secs_f64().max(1e-9),
            p50: percentile(&rush.latencies, 0.5),
            p99: percentile(&rush.latencies, 0.99),
            refused: rush.refused,
            limited: rush.limited,
            failed: rush.failed,
        }
    }

    /// The load process's one line.
    fn line(&self) -> String {
        format!(
            "load: {} {} {} {} {} {}",
            self.per_sec,
            self.p50.as_secs_f64(),
            self.p99.as_secs_f64(),
            self.refused,
            self.limited,
            self.failed
        )
    }

    fn parse(line: &str) -> Option<Row> {
        let mut it = line.strip_prefix("load: ")?.split(' ');
        let mut next = || it.next()?.parse::<f64>().ok();
        Some(Row {
            per_sec: next()?,
            p50: Duration::from_secs_f64(next()?),
            p99: Duration::from_secs_f64(next()?),
            refused: next()? as usize,
            limited: next()? as usize,
            failed: next()? as usize,
        })
    }

    async fn print(
        &self,
        label: &str,
        store: &Store,
        sale: SaleId,
        units: usize,
    ) -> Result<u64, String> {
        let audit = audit(store, sale, units as i64).await?;
        println!(
            "  {label:<22} {:>8.0} claims/s  p50 {:>7.2} ms  p99 {:>7.2} ms  sold {:>6}  refused {:>5}  429 {:>4}  failed {:>4}  oversold {}  over limit {}",
            self.per_sec,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            audit.units_sold,
            self.refused,
            self.limited,
            self.failed,
            audit.oversold,
            audit.over_limit,
        );
        // What no path may do: sell more than the sale holds, more to a
        // buyer than the limit, or fail a claim.
        Ok(audit.oversold.max(0) as u64 + audit.over_limit.max(0) as u64 + self.failed as u64)
    }
}

/// One claim path over HTTP: a server in this process (the engine, or
/// `desk` behind the same route), and a load process of its own.
async fn http_path(
    url: &str,
    label: &str,
    baseline: Option<(Baseline, &RedisBaseline)>,
    units: usize,
    clients: usize,
) -> Result<(f64, u64), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let catalog_file = dir.path().join("catalog.toml");
    std::fs::write(&catalog_file, CATALOG).map_err(|e| e.to_string())?;
    let database_url = if url.starts_with("postgres") {
        fresh_url(url).await?
    } else {
        vitrine_server::config::sqlite_url(dir.path())
    };
    // The server's clock, moved past the sale's countdown instead of
    // waiting it out.
    let time = ManualClock::starting_now();
    // Opened first, so it is migrated before the server seeds it.
    let store = Store::connect(&database_url)
        .await
        .map_err(|e| e.to_string())?
        .with_clock(time.clock());
    index_for_baselines(&store).await?;
    let mut config = vitrine_server::config::ServerConfig::local(dir.path().join("data"));
    config.database_url = database_url;
    config.http = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    config.udp = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    config.catalog_file = catalog_file;
    config.clock = time.clock();
    config.claims_decided_by = baseline.map(|(b, redis)| baseline_desk(b, &store, redis));
    let server = vitrine_server::Server::start(config.clone())
        .await
        .map_err(|e| e.to_string())?;
    let base = format!("http://{}", server.http_addr());
    let password = "bench host password 1";
    vitrine_server::create_user(&config, "bench-host", Role::Host, None, Some(password))
        .await
        .map_err(|e| e.to_string())?;
    let api = ApiClient::new(&base);
    let sale = tokio::task::spawn_blocking(move || {
        let host = api.sign_in_with_password("bench-host", password)?;
        api.start_flash_sale(
            &host,
            &StartFlashSale {
                sku: "hot-item-one".into(),
                sale_price_minor: 990,
                currency: "EUR".into(),
                quantity: units as i64,
                per_buyer_limit: PER_BUYER,
                countdown_secs: 10,
                duration_secs: 1200,
            },
        )
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    if let Some((Baseline::Redis, redis)) = baseline {
        redis.stock(sale.id, units).await?;
    }
    time.advance(Duration::from_secs(10));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let attempts = attempts_for(units);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(exe)
            .args(["--load", &base])
            .args(["--sale", &sale.id.0.to_string()])
            .args(["--attempts", &attempts.to_string()])
            .args(["--clients", &clients.to_string()])
            .stderr(std::process::Stdio::inherit())
            .output()
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let row = stdout
        .lines()
        .find_map(Row::parse)
        .ok_or_else(|| format!("the load process answered {:?}: {stdout}", output.status))?;
    let wrong = row.print(label, &store, sale.id, units).await?;
    server.shutdown_handle().trigger();
    server.wait().await.map_err(|e| e.to_string())?;
    store.close().await;
    Ok((row.per_sec, wrong))
}

/// The load process: signs in a guest per buyer, each from a loopback
/// address of its own (distinct shoppers to the server's per-network
/// limits), then rushes the sale from `clients` keep-alive connections.
fn load(base: &str, sale: SaleId, attempts: usize, clients: usize) -> Result<(), String> {
    let buyers = attempts.div_ceil(ATTEMPTS_PER_BUYER as usize);
    let api = ApiClient::new(base).with_loopback_guests();
    let tokens: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let api = &api;
                scope.spawn(move || {
                    (w..buyers)
                        .step_by(8)
                        .map(|b| api.sign_in(&format!("Buyer {b}")).map(|s| (b, s.token)))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut tokens = vec![String::new(); buyers];
        for w in workers {
            for (b, token) in w
                .join()
                .map_err(|_| "a sign-in thread panicked")?
                .map_err(|e| e.to_string())?
            {
                tokens[b] = token;
            }
        }
        Ok::<_, String>(tokens)
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let rush = runtime.block_on(async {
        let client: HttpClient =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_max_idle_per_host(clients)
                .build_http();
        let tokens = Arc::new(tokens);
        let uri: hyper::Uri = format!("{base}/api/v1/flash-sales/{}/claims", sale.0)
            .parse()
            .map_err(|e| format!("{e}"))?;
        rush(clients, attempts, move |buyer| {
            let (client, tokens, uri) = (client.clone(), tokens.clone(), uri.clone());
            async move {
                let token = &tokens[(buyer.0 - 10_000) as usize];
                http_claim(&client, uri, token).await
            }
        })
        .await
    })?;
    println!("{}", Row::of(&rush).line());
    Ok(())
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<hyper::body::Bytes>,
>;

async fn http_claim(client: &HttpClient, uri: hyper::Uri, token: &str) -> Answer {
    let request = hyper::Request::post(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(hyper::body::Bytes::from_static(
            br#"{"quantity":1}"#,
        )));
    let Ok(request) = request else {
        return Answer::Failed;
    };
    let Ok(response) = client.request(request).await else {
        return Answer::Failed;
    };
    let status = response.status().as_u16();
    // Read to the end, so the connection is kept for the next claim.
    if http_body_util::BodyExt::collect(response.into_body())
        .await
        .is_err()
    {
        return Answer::Failed;
    }
    match status {
        201 => Answer::Order,
        409 => Answer::Refused,
        429 => Answer::RateLimited,
        _ => Answer::Failed,
    }
}

/// `--load URL --sale ID --attempts N --clients C`: the load process.
fn load_args() -> Option<Result<(String, SaleId, usize, usize), String>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("--load") {
        return None;
    }
    let value = |name: &str| -> Result<&str, String> {
        let i = args
            .iter()
            .position(|a| a == name)
            .ok_or(format!("{name} missing"))?;
        args.get(i + 1)
            .map(String::as_str)
            .ok_or(format!("{name} needs a value"))
    };
    Some((|| {
        Ok((
            value("--load")?.to_owned(),
            SaleId(
                value("--sale")?
                    .parse()
                    .map_err(|e| format!("--sale: {e}"))?,
            ),
            value("--attempts")?
                .parse()
                .map_err(|e| format!("--attempts: {e}"))?,
            value("--clients")?
                .parse()
                .map_err(|e| format!("--clients: {e}"))?,
        ))
    })())
}

fn main() -> Result<(), String> {
    if let Some(load_args) = load_args() {
        let (base, sale, attempts, clients) = load_args?;
        return load(&base, sale, attempts, clients);
    }
    let args = parse_args()?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(bench(args))
}

async fn bench(args: Args) -> Result<(), String> {
    let redis_server = start_redis(&args.redis_server).await?;
    let redis = RedisBaseline::connect(&redis_server.url).await?;
    // SQLite: a new file in a directory of its own for every path.
    let mut backends = vec![("SQLite", "sqlite".to_owned())];
    if let Some(pg) = &args.postgres {
        backends.push(("PostgreSQL", pg.clone()));
    }
    let attempts = attempts_for(args.units);
    println!(
        "bench flash-sale: one hot SKU, {} units, {attempts} claims of one unit on every path ({ATTEMPTS_PER_BUYER} per buyer, limit {PER_BUYER}), {} concurrent clients",
        args.units, args.clients
    );
    for (name, url) in backends {
        println!("{name}, in process:");
        let (store, _dir) = fresh_store(&url).await?;
        let (rush, sale) = engine_path(&store, args.units, args.clients).await?;
        let engine = Row::of(&rush);
        // Claims any path answered wrongly: oversold or over the limit
        // (read from the database) or failed (as the clients saw it).
        let mut wrong = engine.print("engine", &store, sale, args.units).await?;
        store.close().await;
        let mut baselines = vec![Baseline::Rows(RowLock::ConditionalUpdate)];
        if name == "PostgreSQL" {
            baselines.push(Baseline::Rows(RowLock::SelectForUpdate));
        }
        baselines.push(Baseline::Redis);
        let mut best: Option<(Baseline, f64)> = None;
        for baseline in baselines {
            let (store, _dir) = fresh_store(&url).await?;
            let (rush, sale) =
                baseline_path(&store, baseline, &redis, args.units, args.clients).await?;
            let row = Row::of(&rush);
            wrong += row
                .print(baseline.label(), &store, sale, args.units)
                .await?;
            store.close().await;
            if best.is_none_or(|(_, per_sec)| row.per_sec > per_sec) {
                best = Some((baseline, row.per_sec));
            }
        }
        let (best, best_per_sec) = best.ok_or("no baseline ran")?;
        println!(
            "  engine / best correct baseline ({}): {:.1}×",
            best.label(),
            engine.per_sec / best_per_sec.max(1e-9)
        );
        println!(
            "{name}, over HTTP (a load process of {} clients; the server in this one):",
            args.clients
        );
        let (engine, engine_wrong) =
            http_path(&url, "engine", None, args.units, args.clients).await?;
        let (baseline, baseline_wrong) = http_path(
            &url,
            best.label(),
            Some((best, &redis)),
            args.units,
            args.clients,
        )
        .await?;
        let ratio = engine / baseline.max(1e-9);
        println!("  engine / {} over HTTP: {ratio:.1}×", best.label());
        // For `bench-check`: one figure a line, name and value.
        let key = name.to_lowercase();
        println!("bench-figure flash_sale.{key}.http_claims_per_s {engine:.0}");
        println!("bench-figure flash_sale.{key}.http_ratio {ratio:.2}");
        println!(
            "bench-figure flash_sale.{key}.wrong {}",
            wrong + engine_wrong + baseline_wrong
        );
    }
    Ok(())
}
