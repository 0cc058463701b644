//! The host console's live side: a task that once a second gathers the
//! show's numbers (viewers per room, chat and reaction rates, pick-ups,
//! add-to-carts, orders, sales, conversion, flash sales, the poll) from the
//! room directory, the metrics and the engines' news, and publishes them on
//! a watch channel that the console's event stream follows. It also records
//! who watched each show and every chat line, for the after-show summary
//! and the CSV exports.

pub mod orders;
pub mod reports;
pub mod tickets;

use crate::clock::Clock;
use crate::commerce::{CommerceEvent, CommerceHandle};
use crate::directory::RoomDirectory;
use crate::engagement::{EngagementEvent, EngagementHandle, Poll, Show};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::views::poll_view;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::{broadcast, mpsc, watch};
use vitrine_shared::api::{DashboardView, FlashSaleView, ProductStats, RoomViewers, SeriesPoint};
use vitrine_shared::{AccountId, Currency, Money, ProductId, RoomId, Sku};

/// How often the dashboard is rebuilt.
pub const EVERY: Duration = Duration::from_secs(1);
/// One point of the chart per this long; the last 720 are kept (2 hours).
const SERIES_EVERY_MS: i64 = 10_000;
const SERIES_POINTS: usize = 720;

/// A chat line as relayed, for the log.
#[derive(Debug, Clone)]
pub struct ChatLogLine {
    pub room: RoomId,
    pub seq: u64,
    pub account: AccountId,
    pub name: String,
    pub text: String,
    pub sent_at_ms: i64,
}

/// The console's end of things: the live dashboard, and where the room
/// loop sends chat lines to be logged (never blocking: a full queue drops
/// a line from the export, not from the room).
#[derive(Clone)]
pub struct ConsoleHandle {
    pub feed: watch::Receiver<Arc<DashboardView>>,
    pub chat_log: mpsc::Sender<ChatLogLine>,
}

#[derive(Default)]
struct Counts {
    viewers_seen: HashSet<AccountId>,
    peak: u32,
    add_to_carts: u32,
    orders: u32,
    buyers: HashSet<AccountId>,
    sales_minor: i64,
    products: BTreeMap<ProductId, ProductStats>,
    /// Put-downs and the total time held, per product.
    handled: HashMap<ProductId, (u64, u64)>,
    series: VecDeque<SeriesPoint>,
}

struct Live {
    store: Store,
    clock: Clock,
    directory: Arc<RoomDirectory>,
    metrics: Arc<Metrics>,
    commerce: CommerceHandle,
    commerce_news: broadcast::Receiver<CommerceEvent>,
    engagement: EngagementHandle,
    engagement_news: broadcast::Receiver<EngagementEvent>,
    show: Option<Show>,
    counts: Counts,
    currency: Currency,
    /// sku → product, and product → name, from the catalog.
    skus: HashMap<Sku, ProductId>,
    names: HashMap<ProductId, String>,
    catalog_read_at: i64,
    /// (when, chat lines, reactions) over the last minute.
    rates: VecDeque<(i64, u64, u64)>,
    poll: Option<Poll>,
    open_questions: u32,
    feed: watch::Sender<Arc<DashboardView>>,
}

/// Starts the console's live task and its chat logger.
pub async fn spawn(
    store: Store,
    clock: Clock,
    directory: Arc<RoomDirectory>,
    metrics: Arc<Metrics>,
    commerce: CommerceHandle,
    engagement: EngagementHandle,
) -> ConsoleHandle {
    let engagement_news = engagement.subscribe();
    let commerce_news = commerce.subscribe();
    let state = engagement.open_state().await.unwrap_or_default();
    let show = engagement.current_show().await.ok().flatten();
    let store = store.with_clock(clock.clone());
    let empty = Arc::new(empty_dashboard(Currency::EUR, clock.now_ms()));
    let (feed, rx) = watch::channel(empty);
    let (chat_tx, chat_rx) = mpsc::channel(16 * 1024);
    let live = Live {
        store: store.clone(),
        clock,
        directory,
        metrics,
        commerce,
        commerce_news,
        engagement,
        engagement_news,
        show,
        counts: Counts::default(),
        currency: Currency::EUR,
        skus: HashMap::new(),
        names: HashMap::new(),
        catalog_read_at: 0,
        rates: VecDeque::new(),
        poll: state.polls.into_iter().next(),
        open_questions: state.questions.len() as u32,
        feed,
    };
    tokio::spawn(live.run());
    tokio::spawn(log_chat(store, chat_rx));
    ConsoleHandle {
        feed: rx,
        chat_log: chat_tx,
    }
}

fn empty_dashboard(currency: Currency, now: i64) -> DashboardView {
    DashboardView {
        at_ms: now,
        show: None,
        viewers: 0,
        rooms: Vec::new(),
        unique_viewers: 0,
        peak_viewers: 0,
        chat_per_minute: 0,
        reactions_per_minute: 0,
        add_to_carts: 0,
        orders: 0,
        buyers: 0,
        sales: Money::new(0, currency).into(),
        conversion_bp: 0,
        products: Vec::new(),
        flash_sales: Vec::new(),
        poll: None,
        open_questions: 0,
        series: Vec::new(),
    }
}

/// Buyers per viewer in basis points.
pub fn conversion_bp(buyers: u32, viewers: u32) -> u32 {
    if viewers == 0 {
        0
    } else {
        (u64::from(buyers) * 10_000 / u64::from(viewers)).min(10_000) as u32
    }
}

impl Live {
    async fn run(mut self) {
        let mut clock = tokio::time::interval(EVERY);
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            clock.tick().await;
            self.refresh_catalog().await;
            self.read_news();
            let viewers = self.watch_viewers().await;
            let dashboard = self.dashboard(viewers).await;
            if self.feed.send(Arc::new(dashboard)).is_err() {
                break; // nobody can read it any more: the server is gone
            }
        }
    }

    async fn refresh_catalog(&mut self) {
        let now = self.clock.now_ms();
        if now - self.catalog_read_at < 30_000 {
            return;
        }
        self.catalog_read_at = now;
        if let Ok(products) = self.store.products().await {
            if let Some(first) = products.first() {
                self.currency = first.price.currency;
            }
            for p in products {
                for v in &p.variants {
                    self.skus.insert(v.sku.clone(), p.id.clone());
                }
                self.names.insert(p.id.clone(), p.name.clone());
            }
        }
    }

    fn product(&mut self, id: &ProductId) -> &mut ProductStats {
        let name = self
            .names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string());
        self.counts
            .products
            .entry(id.clone())
            .or_insert_with(|| ProductStats {
                product_id: id.clone(),
                name,
                views: 0,
                pickups: 0,
                handling_ms: 0,
                carts: 0,
                units_sold: 0,
                sales_minor: 0,
            })
    }

    fn read_news(&mut self) {
        // The show's own news first: a new show starts the counts over, and
        // what sold in the same second belongs to it.
        loop {
            match self.engagement_news.try_recv() {
                Ok(EngagementEvent::Inspected { product, .. }) => {
                    self.product(&product).pickups += 1;
                }
                Ok(EngagementEvent::ProductSeen { product, held_ms }) => match held_ms {
                    None => self.product(&product).views += 1,
                    Some(ms) => {
                        let (count, total) =
                            self.counts.handled.entry(product.clone()).or_insert((0, 0));
                        *count += 1;
                        *total += u64::from(ms);
                        let average = (*total / *count) as u32;
                        self.product(&product).handling_ms = average;
                    }
                },
                Ok(EngagementEvent::ShowLive { .. }) => {
                    // A new show (or none): counting starts over.
                    self.counts = Counts::default();
                    self.show = None;
                    self.catalog_read_at = 0;
                }
                Ok(EngagementEvent::Featured { products }) => {
                    if let Some(show) = self.show.as_mut() {
                        show.featured = products;
                    }
                }
                Ok(EngagementEvent::PollOpened(poll)) => self.poll = Some(poll),
                Ok(EngagementEvent::PollResults {
                    poll_id,
                    counts,
                    closed,
                }) => {
                    if let Some(poll) = self.poll.as_mut().filter(|p| p.id == poll_id) {
                        poll.counts = counts;
                        poll.closed = closed;
                    }
                }
                Ok(EngagementEvent::QuestionAsked(_)) => self.open_questions += 1,
                Ok(EngagementEvent::QuestionAnswered { .. }) => {
                    self.open_questions = self.open_questions.saturating_sub(1);
                }
                Ok(_) => {}
                Err(TryRecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "console missed engagement news");
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        loop {
            match self.commerce_news.try_recv() {
                Ok(CommerceEvent::AddedToCart { sku, .. }) => {
                    self.counts.add_to_carts += 1;
                    if let Some(product) = self.skus.get(&sku).cloned() {
                        self.product(&product).carts += 1;
                    }
                }
                Ok(CommerceEvent::OrderChanged { buyer, order }) if order.status == "paid" => {
                    self.counts.orders += 1;
                    self.counts.buyers.insert(buyer);
                    self.counts.sales_minor += order.total.minor;
                    for line in &order.lines {
                        if let Some(product) = self.skus.get(&line.sku).cloned() {
                            let stats = self.product(&product);
                            stats.units_sold += line.quantity;
                            stats.sales_minor += line.quantity * line.unit_price.minor;
                        }
                    }
                }
                Ok(_) => {}
                Err(TryRecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "console missed commerce news");
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
    }

    /// Remembers who watched the live show, and its peak audience; returns
    /// how many are watching now.
    async fn watch_viewers(&mut self) -> u32 {
        if self.show.is_none() {
            self.show = self.engagement.current_show().await.ok().flatten();
        }
        let now = self.clock.now_ms();
        let unique: HashSet<AccountId> = self.directory.members().into_iter().collect();
        let viewers = unique.len() as u32;
        let new: Vec<AccountId> = unique
            .into_iter()
            .filter(|a| self.counts.viewers_seen.insert(*a))
            .collect();
        let Some(show) = self.show.as_ref().map(|s| s.id) else {
            self.counts.peak = self.counts.peak.max(viewers);
            return viewers;
        };
        for account in new {
            let _ = sqlx::query(
                "INSERT INTO show_viewers (show_id, account_id, first_seen_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (show_id, account_id) DO NOTHING",
            )
            .bind(show.get())
            .bind(account.0 as i64)
            .bind(now)
            .execute(self.store.pool())
            .await;
        }
        if viewers > self.counts.peak {
            self.counts.peak = viewers;
            let _ = sqlx::query(
                "UPDATE shows SET peak_viewers = $1 WHERE id = $2 AND peak_viewers < $1",
            )
            .bind(i64::from(viewers))
            .bind(show.get())
            .execute(self.store.pool())
            .await;
        }
        viewers
    }

    async fn dashboard(&mut self, viewers: u32) -> DashboardView {
        let now = self.clock.now_ms();
        let chat = self.metrics.chat_lines.load(Ordering::Relaxed);
        let reactions = self.metrics.reactions.load(Ordering::Relaxed);
        self.rates.push_back((now, chat, reactions));
        while self
            .rates
            .front()
            .is_some_and(|(at, _, _)| *at < now - 60_000)
        {
            self.rates.pop_front();
        }
        let (chat_per_minute, reactions_per_minute) = match self.rates.front() {
            Some((_, c, r)) => ((chat - c) as u32, (reactions - r) as u32),
            None => (0, 0),
        };
        let rooms: Vec<RoomViewers> = self
            .directory
            .list()
            .into_iter()
            .map(|r| RoomViewers {
                id: r.id.to_string(),
                name: r.name,
                viewers: r.occupancy as u32,
                capacity: r.capacity as u32,
            })
            .collect();
        let due = self
            .counts
            .series
            .back()
            .is_none_or(|p| now - p.at_ms >= SERIES_EVERY_MS);
        if due {
            self.counts.series.push_back(SeriesPoint {
                at_ms: now,
                viewers,
                orders: self.counts.orders,
                sales_minor: self.counts.sales_minor,
            });
            while self.counts.series.len() > SERIES_POINTS {
                self.counts.series.pop_front();
            }
        }
        let flash_sales: Vec<FlashSaleView> = self
            .commerce
            .open_sales()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(crate::views::flash_sale_view)
            .collect();
        let mut products: Vec<ProductStats> = self.counts.products.values().cloned().collect();
        products.sort_by(|a, b| {
            b.sales_minor
                .cmp(&a.sales_minor)
                .then(b.pickups.cmp(&a.pickups))
                .then(a.product_id.cmp(&b.product_id))
        });
        let unique_viewers = self.counts.viewers_seen.len() as u32;
        let buyers = self.counts.buyers.len() as u32;
        DashboardView {
            at_ms: now,
            show: self.show.clone().map(crate::views::show_view),
            viewers,
            rooms,
            unique_viewers,
            peak_viewers: self.counts.peak,
            chat_per_minute,
            reactions_per_minute,
            add_to_carts: self.counts.add_to_carts,
            orders: self.counts.orders,
            buyers,
            sales: Money::new(self.counts.sales_minor, self.currency).into(),
            conversion_bp: conversion_bp(buyers, unique_viewers.max(buyers)),
            products,
            flash_sales,
            poll: self.poll.clone().map(poll_view),
            open_questions: self.open_questions,
            series: self.counts.series.iter().cloned().collect(),
        }
    }
}

/// Writes chat lines in batches; a show's chat is what was sent while it
/// was live.
async fn log_chat(store: Store, mut lines: mpsc::Receiver<ChatLogLine>) {
    let mut batch = Vec::new();
    while let Some(first) = lines.recv().await {
        batch.push(first);
        while batch.len() < 256 {
            match lines.try_recv() {
                Ok(line) => batch.push(line),
                Err(_) => break,
            }
        }
        let written = async {
            let mut tx = store.pool().begin().await?;
            for line in &batch {
                sqlx::query(
                    "INSERT INTO chat_log (id, room, seq, account_id, name, text, sent_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(crate::ids::new_id::<i64>())
                .bind(line.room.as_str())
                .bind(line.seq as i64)
                .bind(line.account.0 as i64)
                .bind(&line.name)
                .bind(&line.text)
                .bind(line.sent_at_ms)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        };
        if let Err(e) = written.await {
            tracing::error!(%e, lines = batch.len(), "chat lines not logged");
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_is_buyers_per_viewer_in_basis_points() {
        assert_eq!(conversion_bp(0, 0), 0);
        assert_eq!(conversion_bp(1, 4), 2_500);
        assert_eq!(conversion_bp(3, 1_000), 30);
        assert_eq!(conversion_bp(5, 2), 10_000, "never above 100 %");
    }
}
