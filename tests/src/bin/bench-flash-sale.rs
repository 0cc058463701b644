//! `cargo xtask bench flash-sale`: claims per second on one hot SKU, with
//! claim latency p50 and p99, through the commerce engine and through a
//! naive baseline (one transaction per request, read then write), on SQLite
//! and, when a URL is given, on PostgreSQL. Prints figures; asserts nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use vitrine_server::clock::ManualClock;
use vitrine_server::commerce::{self, CommerceError, FlashSaleSpec, SaleState};
use vitrine_server::store::Store;
use vitrine_shared::{AccountId, Currency, Money, Sku};

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

struct Args {
    claims: usize,
    naive_claims: usize,
    clients: usize,
    postgres: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        claims: 50_000,
        naive_claims: 5_000,
        clients: 256,
        postgres: std::env::var("VITRINE_TEST_POSTGRES").ok(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--claims" => args.claims = value()?.parse().map_err(|e| format!("--claims: {e}"))?,
            "--naive-claims" => {
                args.naive_claims = value()?
                    .parse()
                    .map_err(|e| format!("--naive-claims: {e}"))?
            }
            "--clients" => {
                args.clients = value()?.parse().map_err(|e| format!("--clients: {e}"))?
            }
            "--postgres" => args.postgres = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

struct Figures {
    claims_per_sec: f64,
    p50: Duration,
    p99: Duration,
    sold: i64,
    errors: usize,
    oversold: i64,
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

async fn fresh_store(url: &str) -> Result<Store, String> {
    let url = if url.starts_with("postgres") {
        // Its own schema, so runs never see each other's rows.
        sqlx::any::install_default_drivers();
        let schema = format!("bench_{:016x}", rand::random::<u64>());
        let admin = sqlx::AnyPool::connect(url)
            .await
            .map_err(|e| e.to_string())?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .map_err(|e| e.to_string())?;
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options[search_path]={schema}")
    } else {
        url.to_owned()
    };
    let store = Store::connect(&url).await.map_err(|e| e.to_string())?;
    let catalog = vitrine_server::catalog::parse_catalog(CATALOG).map_err(|e| e.to_string())?;
    store
        .import_catalog(&catalog)
        .await
        .map_err(|e| e.to_string())?;
    Ok(store)
}

/// Claims through the engine: `clients` tasks, each claiming one unit at a
/// time for its own buyers until `claims` are done.
async fn engine_run(store: &Store, claims: usize, clients: usize) -> Result<Figures, String> {
    let gateway = std::sync::Arc::new(commerce::TestGateway::default());
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
    let spec = FlashSaleSpec {
        sku: Sku::new("hot-item-one").map_err(|e| e.to_string())?,
        price: Money::new(990, Currency::EUR),
        quantity: claims as i64,
        per_buyer_limit: 10,
        countdown_secs: 10,
        duration_secs: 1200,
    };
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
    let next = Arc::new(AtomicI64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (engine, next) = (engine.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= claims as i64 {
                        break;
                    }
                    let buyer = AccountId(10_000 + (n / 10) as u64);
                    let t = Instant::now();
                    match engine.claim(buyer, sale.id, 1, None).await {
                        Ok(_) => latencies.push(t.elapsed()),
                        Err(CommerceError::SoldOut) => break,
                        Err(_) => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let view = engine
        .sale(sale.id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("sale vanished")?;
    Ok(Figures {
        claims_per_sec: latencies.len() as f64 / elapsed,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        sold: view.sold,
        errors,
        oversold: (view.sold - view.quantity).max(0),
    })
}

/// The baseline: each request its own transaction that reads the sale,
/// checks it, then writes — as a straightforward handler would.
async fn naive_claim(store: &Store, sale_id: i64, buyer: i64) -> Result<bool, sqlx::Error> {
    let mut tx = store.pool().begin().await?;
    let (quantity, sold): (i64, i64) =
        sqlx::query_as("SELECT quantity, sold FROM flash_sales WHERE id = $1")
            .bind(sale_id)
            .fetch_one(&mut *tx)
            .await?;
    if sold >= quantity {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query("UPDATE flash_sales SET sold = $1 WHERE id = $2")
        .bind(sold + 1)
        .bind(sale_id)
        .execute(&mut *tx)
        .await?;
    let order: i64 = vitrine_server::ids::new_id();
    sqlx::query(
        "INSERT INTO orders (id, account_id, status, total_minor, currency, flash_sale_id, idempotency_key, \
         request_hash, created_at, updated_at) VALUES ($1, $2, 'pending', 990, 'EUR', $3, NULL, NULL, $4, $4)",
    )
    .bind(order)
    .bind(buyer)
    .bind(sale_id)
    .bind(store.clock().now_ms())
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO order_lines (order_id, sku, quantity, unit_price_minor) VALUES ($1, 'hot-item-one', 1, 990)")
        .bind(order)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

async fn naive_run(store: &Store, claims: usize, clients: usize) -> Result<Figures, String> {
    let sale_id: i64 = vitrine_server::ids::new_id();
    let now = store.clock().now_ms();
    sqlx::query(
        "INSERT INTO flash_sales (id, sku, product_id, price_minor, currency, quantity, sold, per_buyer_limit, \
         starts_at, ends_at, closed_at, created_by, created_at) \
         VALUES ($1, 'hot-item-one', 'hot-item', 990, 'EUR', $2, 0, 10, $3, $4, NULL, 1, $3)",
    )
    .bind(sale_id)
    .bind(claims as i64)
    .bind(now)
    .bind(now + 3_600_000)
    .execute(store.pool())
    .await
    .map_err(|e| e.to_string())?;
    let next = Arc::new(AtomicI64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (store, next) = (store.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= claims as i64 {
                        break;
                    }
                    let t = Instant::now();
                    match naive_claim(&store, sale_id, 10_000 + n / 10).await {
                        Ok(true) => latencies.push(t.elapsed()),
                        Ok(false) => break,
                        Err(_) => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let (sold,): (i64,) = sqlx::query_as("SELECT sold FROM flash_sales WHERE id = $1")
        .bind(sale_id)
        .fetch_one(store.pool())
        .await
        .map_err(|e| e.to_string())?;
    let (orders,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders WHERE flash_sale_id = $1")
        .bind(sale_id)
        .fetch_one(store.pool())
        .await
        .map_err(|e| e.to_string())?;
    Ok(Figures {
        claims_per_sec: latencies.len() as f64 / elapsed,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        sold,
        errors,
        // Orders beyond the sale's count are units sold twice (lost updates).
        oversold: (orders - sold).max(0),
    })
}

fn print(label: &str, f: &Figures) {
    println!(
        "  {label:<8} {:>9.0} claims/s   p50 {:>8.2} ms   p99 {:>8.2} ms   sold {:>6}   errors {:>5}   oversold {}",
        f.claims_per_sec,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3,
        f.sold,
        f.errors,
        f.oversold
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let args = parse_args()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut backends = vec![("SQLite", vitrine_server::config::sqlite_url(dir.path()))];
    if let Some(pg) = &args.postgres {
        backends.push(("PostgreSQL", pg.clone()));
    }
    println!(
        "bench flash-sale: one hot SKU, {} claims through the engine and {} naive, {} concurrent clients",
        args.claims, args.naive_claims, args.clients
    );
    for (name, url) in backends {
        println!("{name}:");
        let store = fresh_store(&url).await?;
        let engine = engine_run(&store, args.claims, args.clients).await?;
        print("engine", &engine);
        let naive = naive_run(&store, args.naive_claims, args.clients).await?;
        print("naive", &naive);
        println!(
            "  engine / naive: {:.1}×",
            engine.claims_per_sec / naive.claims_per_sec.max(1e-9)
        );
        store.close().await;
    }
    Ok(())
}
