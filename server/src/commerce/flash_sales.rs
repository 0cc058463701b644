//! Flash sales: a host announces one, it counts down, opens, and sells its
//! units to claims decided in arrival order; each batch of claims is made
//! durable in one transaction before anyone is answered. When it ends, the
//! unsold units go back to stock.

use super::engine::Engine;
use super::ledger::{self, NewClaim, Origin, PendingOrder};
use super::{
    COUNTDOWN_SECS, Claimed, CommerceError, CommerceEvent, DURATION_SECS, FlashSale, FlashSaleSpec,
    MAX_CLAIM_QUANTITY, SaleState,
};
use crate::fair::Shopper;
use crate::ids::new_id;
use crate::store::StoreError;
use std::collections::{HashMap, HashSet};
use tokio::sync::oneshot;
use vitrine_shared::OrderId;
use vitrine_shared::SaleId;
use vitrine_shared::{AccountId, Money};

/// A sale as the engine holds it: with each buyer's units so far, counted
/// by [`Shopper`] (guests from one network together: `crate::fair`).
pub(super) struct Sale {
    pub(super) sale: FlashSale,
    pub(super) bought: HashMap<Shopper, i64>,
    pub(super) opened: bool,
    pub(super) closed: bool,
}

impl Sale {
    pub(super) fn state(&self, now: i64) -> SaleState {
        if self.closed || now >= self.sale.ends_at_ms {
            SaleState::Ended
        } else if self.sale.sold >= self.sale.quantity {
            SaleState::SoldOut
        } else if now < self.sale.starts_at_ms {
            SaleState::Countdown
        } else {
            SaleState::Live
        }
    }

    pub(super) fn view(&self, now: i64) -> FlashSale {
        FlashSale {
            state: self.state(now),
            ..self.sale.clone()
        }
    }
}

/// A decided claim waiting for its batch to commit.
pub(super) struct Pending {
    pub(super) claim: Claimed,
    pub(super) reply: oneshot::Sender<Result<Claimed, CommerceError>>,
}

/// Replies held until the batch is durable.
pub(super) enum Deferred {
    Claim(
        oneshot::Sender<Result<Claimed, CommerceError>>,
        Result<Claimed, CommerceError>,
    ),
    Sale(oneshot::Sender<Option<FlashSale>>, SaleId),
}

/// What a claim came to: a new one for the batch to commit, or an answer
/// ready now (a refusal, or the claim its idempotency key made before).
pub(super) enum Decision {
    New(Claimed, NewClaim),
    Replay(Result<Claimed, CommerceError>),
}

fn claimed(claim: &NewClaim, units_left: i64) -> Claimed {
    Claimed {
        order_id: claim.order_id,
        sale_id: claim.sale_id,
        sku: claim.sku.clone(),
        quantity: claim.quantity,
        unit_price: claim.unit_price,
        total: Money::new(
            claim.unit_price.minor * claim.quantity,
            claim.unit_price.currency,
        ),
        units_left,
    }
}

impl Engine {
    pub(super) fn decide(
        &mut self,
        buyer: AccountId,
        sale_id: SaleId,
        quantity: i64,
        idempotency: Option<(String, u64)>,
    ) -> Decision {
        let now = self.clock.now_ms();
        if let Some((key, _)) = &idempotency
            && self.checkouts.contains_key(&(buyer, key.clone()))
        {
            return Decision::Replay(Err(CommerceError::IdempotencyConflict));
        }
        if let Some((key, hash)) = &idempotency
            && let Some((seen_hash, claim)) = self.keys.get(&(buyer, key.clone()))
        {
            if seen_hash != hash {
                return Decision::Replay(Err(CommerceError::IdempotencyConflict));
            }
            let units_left = self
                .sales
                .get(&claim.sale_id)
                .map(|s| s.sale.units_left())
                .unwrap_or(0);
            return Decision::Replay(Ok(claimed(claim, units_left)));
        }
        if !(1..=MAX_CLAIM_QUANTITY).contains(&quantity) {
            return Decision::Replay(Err(CommerceError::BadQuantity));
        }
        // Learnt for the whole batch before deciding; missing only when the
        // store could not be read.
        let Some(shopper) = self.shoppers.get(&buyer).cloned() else {
            return Decision::Replay(Err(CommerceError::Storage));
        };
        let Some(sale) = self.sales.get_mut(&sale_id) else {
            return Decision::Replay(Err(CommerceError::UnknownSale));
        };
        let refusal = match sale.state(now) {
            SaleState::Countdown => Some(CommerceError::NotStarted {
                opens_in_ms: sale.sale.starts_at_ms - now,
            }),
            SaleState::Ended => Some(CommerceError::Ended),
            SaleState::SoldOut => Some(CommerceError::SoldOut),
            SaleState::Live => None,
        };
        if let Some(refusal) = refusal {
            return Decision::Replay(Err(refusal));
        }
        let bought = sale.bought.get(&shopper).copied().unwrap_or(0);
        let limit = sale.sale.per_buyer_limit;
        if bought + quantity > limit {
            return Decision::Replay(Err(CommerceError::LimitReached {
                limit,
                remaining: limit - bought,
            }));
        }
        if quantity > sale.sale.units_left() {
            return Decision::Replay(Err(CommerceError::NotEnoughStock {
                available: sale.sale.units_left(),
            }));
        }
        sale.sale.sold += quantity;
        *sale.bought.entry(shopper).or_default() += quantity;
        let new = NewClaim {
            order_id: new_id(),
            buyer,
            sale_id,
            sku: sale.sale.sku.clone(),
            quantity,
            unit_price: sale.sale.price,
            idempotency: idempotency.clone(),
        };
        let claim = claimed(&new, sale.sale.units_left());
        if let Some((key, hash)) = idempotency {
            let mut remembered = new.clone();
            remembered.idempotency = None;
            self.keys.insert((buyer, key), (hash, remembered));
        }
        Decision::New(claim, new)
    }

    /// Makes the decided claims durable, then answers everyone.
    pub(super) async fn commit(
        &mut self,
        claims: &mut Vec<NewClaim>,
        pending: &mut Vec<Pending>,
        deferred: &mut Vec<Deferred>,
    ) {
        // Orders of this batch that did not become durable.
        let mut lost: HashSet<OrderId> = HashSet::new();
        if !claims.is_empty() {
            let mut sold: Vec<(SaleId, i64)> = Vec::new();
            for claim in claims.iter() {
                if !sold.iter().any(|(id, _)| *id == claim.sale_id)
                    && let Some(sale) = self.sales.get(&claim.sale_id)
                {
                    sold.push((claim.sale_id, sale.sale.sold));
                }
            }
            match ledger::commit_claims(&self.store, claims, &sold).await {
                Ok(()) => {
                    for c in claims.iter() {
                        let total =
                            Money::new(c.unit_price.minor * c.quantity, c.unit_price.currency);
                        let order = PendingOrder {
                            buyer: c.buyer,
                            origin: Origin::FlashSale(c.sale_id),
                            lines: vec![(c.sku.clone(), c.quantity)],
                            total,
                            coupon: None,
                            created_at_ms: self.clock.now_ms(),
                        };
                        self.orders.insert(c.order_id, order);
                    }
                    for (sale_id, _) in &sold {
                        if let Some(sale) = self.sales.get(sale_id) {
                            let units_left = sale.sale.units_left();
                            let _ = self.events.send(CommerceEvent::UnitsLeft {
                                sale_id: *sale_id,
                                units_left,
                            });
                            if units_left == 0 {
                                let _ = self
                                    .events
                                    .send(CommerceEvent::SoldOut { sale_id: *sale_id });
                            }
                        }
                    }
                    for p in pending.drain(..) {
                        let _ = p.reply.send(Ok(p.claim));
                    }
                }
                Err(error) => {
                    tracing::error!(%error, claims = claims.len(), "claims not committed; undoing them");
                    for claim in claims.iter() {
                        lost.insert(claim.order_id);
                        if let Some(sale) = self.sales.get_mut(&claim.sale_id) {
                            sale.sale.sold -= claim.quantity;
                            if let Some(b) = self
                                .shoppers
                                .get(&claim.buyer)
                                .and_then(|shopper| sale.bought.get_mut(shopper))
                            {
                                *b -= claim.quantity;
                            }
                        }
                        self.keys
                            .retain(|_, (_, kept)| kept.order_id != claim.order_id);
                    }
                    for p in pending.drain(..) {
                        let _ = p.reply.send(Err(CommerceError::Storage));
                    }
                }
            }
            claims.clear();
        }
        let now = self.clock.now_ms();
        for d in deferred.drain(..) {
            match d {
                Deferred::Claim(reply, result) => {
                    // A retry replayed within this batch shares its fate.
                    let result = match result {
                        Ok(c) if lost.contains(&c.order_id) => Err(CommerceError::Storage),
                        other => other,
                    };
                    let _ = reply.send(result);
                }
                Deferred::Sale(reply, id) => {
                    let _ = reply.send(self.sales.get(&id).map(|s| s.view(now)));
                }
            }
        }
    }

    pub(super) async fn start_sale(
        &mut self,
        by: AccountId,
        spec: FlashSaleSpec,
    ) -> Result<FlashSale, CommerceError> {
        let invalid = |m: &str| Err(CommerceError::InvalidSale(m.to_owned()));
        if !COUNTDOWN_SECS.contains(&spec.countdown_secs) {
            return invalid(&format!(
                "countdown_secs must be {} to {}",
                COUNTDOWN_SECS.start(),
                COUNTDOWN_SECS.end()
            ));
        }
        if !DURATION_SECS.contains(&spec.duration_secs) {
            return invalid(&format!(
                "duration_secs must be {} to {} ({} to {} minutes)",
                DURATION_SECS.start(),
                DURATION_SECS.end(),
                DURATION_SECS.start() / 60,
                DURATION_SECS.end() / 60
            ));
        }
        if !(1..=crate::catalog::MAX_STOCK).contains(&spec.quantity) {
            return invalid(&format!(
                "quantity must be 1 to {}",
                crate::catalog::MAX_STOCK
            ));
        }
        if !(1..=spec.quantity).contains(&spec.per_buyer_limit) {
            return invalid("per_buyer_limit must be 1 to the sale's quantity");
        }
        let storage = |e: StoreError| {
            tracing::error!(%e, "flash sale not started");
            CommerceError::Storage
        };
        let (product, regular, stock) = ledger::variant(&self.store, &spec.sku)
            .await
            .map_err(storage)?
            .ok_or(CommerceError::UnknownSku)?;
        if spec.price.currency != regular.currency {
            return invalid(&format!("the sale price must be in {}", regular.currency));
        }
        if spec.price.minor <= 0 || spec.price.minor > regular.minor {
            return invalid(&format!(
                "the sale price must be above zero and at most the regular {regular}"
            ));
        }
        if stock < spec.quantity {
            return Err(CommerceError::NotEnoughStock { available: stock });
        }
        let starts_at_ms = self.clock.now_ms() + spec.countdown_secs as i64 * 1000;
        let sale = FlashSale {
            id: new_id(),
            product,
            sku: spec.sku,
            price: spec.price,
            quantity: spec.quantity,
            sold: 0,
            per_buyer_limit: spec.per_buyer_limit,
            starts_at_ms,
            ends_at_ms: starts_at_ms + spec.duration_secs as i64 * 1000,
            state: SaleState::Countdown,
        };
        if !ledger::insert_sale(&self.store, &sale, by)
            .await
            .map_err(storage)?
        {
            return Err(CommerceError::NotEnoughStock { available: stock });
        }
        tracing::info!(sale = sale.id.get(), sku = %sale.sku, quantity = sale.quantity, price = %sale.price, "flash sale announced");
        let _ = self.events.send(CommerceEvent::SaleAnnounced(sale.clone()));
        self.sales.insert(
            sale.id,
            Sale {
                sale: sale.clone(),
                bought: HashMap::new(),
                opened: false,
                closed: false,
            },
        );
        Ok(sale)
    }

    /// Opens sales whose countdown is over; closes those past their end and
    /// returns their unsold units to stock.
    pub(super) async fn open_and_close_sales(&mut self, now: i64) {
        let mut to_close = Vec::new();
        for (id, sale) in self.sales.iter_mut() {
            if !sale.opened && now >= sale.sale.starts_at_ms && !sale.closed {
                sale.opened = true;
                let _ = self.events.send(CommerceEvent::SaleOpened { sale_id: *id });
            }
            if !sale.closed && now >= sale.sale.ends_at_ms {
                to_close.push(*id);
            }
        }
        for id in to_close {
            let Some(sale) = self.sales.get(&id) else {
                continue;
            };
            match ledger::close_sale(&self.store, &sale.sale).await {
                Ok(()) => {
                    let unsold = sale.sale.units_left();
                    if let Some(sale) = self.sales.get_mut(&id) {
                        sale.closed = true;
                    }
                    tracing::info!(sale = id.get(), unsold, "flash sale ended");
                    let _ = self.events.send(CommerceEvent::SaleEnded {
                        sale_id: id,
                        unsold_returned: unsold,
                    });
                }
                // Tried again on the next clock tick.
                Err(e) => tracing::error!(%e, sale = id.get(), "could not close a flash sale"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::commerce::{CommerceHandle, EngineSettings, spawn};
    use crate::store::Store;
    use crate::store::tests::stores;
    use std::sync::Arc;
    use std::time::Duration;
    use vitrine_shared::Sku;

    /// A sale started through the engine like a host would, its countdown
    /// then run out on the test's clock: live, as a shopper finds it.
    async fn live_sale(
        engine: &CommerceHandle,
        time: &ManualClock,
        store: &Store,
        quantity: i64,
        limit: i64,
    ) -> FlashSale {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/catalog.toml");
        if store.catalog_is_empty().await.unwrap() {
            store
                .import_catalog(&crate::catalog::load_catalog_file(&path).unwrap())
                .await
                .unwrap();
        }
        let sku = Sku::new("stoneware-mug-sage").unwrap();
        let (_, regular, _) = ledger::variant(store, &sku).await.unwrap().unwrap();
        let countdown_secs = *COUNTDOWN_SECS.start();
        let sale = engine
            .start_sale(
                AccountId(1),
                FlashSaleSpec {
                    sku,
                    price: Money::new(regular.minor / 2, regular.currency),
                    quantity,
                    per_buyer_limit: limit,
                    countdown_secs,
                    duration_secs: *DURATION_SECS.start(),
                },
            )
            .await
            .unwrap();
        assert_eq!(sale.state, SaleState::Countdown);
        // Not open a millisecond early...
        time.advance(Duration::from_secs(countdown_secs) - Duration::from_millis(1));
        assert_eq!(
            engine.claim(AccountId(999_999), sale.id, 1, None).await,
            Err(CommerceError::NotStarted { opens_in_ms: 1 })
        );
        // ...and open once the countdown is over, with nothing sold yet.
        time.advance(Duration::from_millis(1));
        let live = engine.sale(sale.id).await.unwrap().unwrap();
        assert_eq!((live.state, live.sold), (SaleState::Live, 0));
        live
    }

    async fn spawn_on(store: &Store, time: &ManualClock) -> CommerceHandle {
        spawn(
            store.clone(),
            time.clock(),
            Arc::new(super::super::TestGateway::default()),
            EngineSettings::default(),
        )
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_claims_never_oversell_on_any_backend() {
        for (store, _dir) in stores().await {
            let time = ManualClock::starting_now();
            let engine = spawn_on(&store, &time).await;
            let sale = live_sale(&engine, &time, &store, 50, 3).await;
            let mut events = engine.subscribe();
            // 200 buyers × 1 unit for 50 units, all at once.
            let tasks: Vec<_> = (0..200u64)
                .map(|b| {
                    let engine = engine.clone();
                    tokio::spawn(async move {
                        engine.claim(AccountId(1000 + b), sale.id, 1, None).await
                    })
                })
                .collect();
            let mut won = 0;
            for t in tasks {
                match t.await.unwrap() {
                    Ok(c) => {
                        won += 1;
                        assert_eq!(c.unit_price, sale.price);
                    }
                    Err(CommerceError::SoldOut) => {}
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(won, 50);
            let view = engine.sale(sale.id).await.unwrap().unwrap();
            assert_eq!((view.sold, view.state), (50, SaleState::SoldOut));
            // What was announced matches, and the sold-out notice came.
            let mut sold_out = false;
            while let Ok(event) = events.try_recv() {
                sold_out |= event == CommerceEvent::SoldOut { sale_id: sale.id };
            }
            assert!(sold_out);
            // A fresh engine (a restart) reads back the same numbers.
            let reloaded = spawn_on(&store, &time).await;
            assert_eq!(reloaded.sale(sale.id).await.unwrap().unwrap().sold, 50);
            let rows: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE flash_sale_id = $1")
                    .bind(sale.id.get())
                    .fetch_one(store.pool())
                    .await
                    .unwrap();
            assert_eq!(rows, 50);
        }
    }

    #[tokio::test]
    async fn a_failed_commit_sells_nothing_and_says_so() {
        for (store, _dir) in stores().await {
            let time = ManualClock::starting_now();
            let engine = spawn_on(&store, &time).await;
            let sale = live_sale(&engine, &time, &store, 5, 5).await;
            // Break the store under the engine: order lines can no longer be written.
            sqlx::query("DROP TABLE order_lines")
                .execute(store.pool())
                .await
                .unwrap();
            let key = Some(("same".to_owned(), 1));
            let (a, b) = tokio::join!(
                engine.claim(AccountId(1), sale.id, 1, key.clone()),
                engine.claim(AccountId(1), sale.id, 1, key),
            );
            assert_eq!(a, Err(CommerceError::Storage));
            assert_eq!(
                b,
                Err(CommerceError::Storage),
                "a replay of a lost claim is not a success"
            );
            let view = engine.sale(sale.id).await.unwrap().unwrap();
            assert_eq!(view.sold, 0, "nothing was sold in memory either");
        }
    }

    #[tokio::test]
    async fn a_retry_after_a_declined_claim_claims_afresh() {
        for (store, _dir) in stores().await {
            let time = ManualClock::starting_now();
            let engine = spawn_on(&store, &time).await;
            let sale = live_sale(&engine, &time, &store, 5, 1).await;
            let key = Some(("tap".to_owned(), 7));
            let first = engine
                .claim(AccountId(1), sale.id, 1, key.clone())
                .await
                .unwrap();
            let declined = engine
                .pay(
                    AccountId(1),
                    first.order_id,
                    super::super::cards::DECLINED.into(),
                )
                .await;
            assert!(matches!(
                declined,
                Err(CommerceError::PaymentDeclined { .. })
            ));
            // The cancelled claim let its key go: the same tap claims again,
            // within the per-buyer limit of 1, as a new order.
            let again = engine
                .claim(AccountId(1), sale.id, 1, key.clone())
                .await
                .unwrap();
            assert_ne!(again.order_id, first.order_id);
            assert_eq!(engine.sale(sale.id).await.unwrap().unwrap().sold, 1);
            // And a restart still knows the key of the live claim.
            let reloaded = spawn_on(&store, &time).await;
            let replay = reloaded.claim(AccountId(1), sale.id, 1, key).await.unwrap();
            assert_eq!(replay.order_id, again.order_id);
        }
    }

    #[tokio::test]
    async fn an_ended_sale_returns_its_unsold_units() {
        for (store, _dir) in stores().await {
            let time = ManualClock::starting_now();
            let engine = spawn_on(&store, &time).await;
            let sale = live_sale(&engine, &time, &store, 10, 10).await;
            let stock_with_sale_out = ledger::variant(&store, &sale.sku).await.unwrap().unwrap().2;
            let mut events = engine.subscribe();
            engine.claim(AccountId(7), sale.id, 4, None).await.unwrap();
            // Run the clock to the sale's end; the engine's next look at it
            // closes the sale.
            time.advance(Duration::from_millis(
                (sale.ends_at_ms - time.now_ms()) as u64,
            ));
            let ended = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    if let Ok(CommerceEvent::SaleEnded {
                        sale_id,
                        unsold_returned,
                    }) = events.recv().await
                        && sale_id == sale.id
                    {
                        return unsold_returned;
                    }
                }
            })
            .await
            .expect("the sale ended");
            assert_eq!(ended, 6);
            let stock = ledger::variant(&store, &sale.sku).await.unwrap().unwrap().2;
            assert_eq!(stock, stock_with_sale_out + 6);
            assert_eq!(
                engine.claim(AccountId(8), sale.id, 1, None).await,
                Err(CommerceError::Ended)
            );
        }
    }

    #[tokio::test]
    async fn a_claim_whose_capture_comes_late_keeps_no_money_and_its_retry_is_charged_once() {
        use super::super::late_payment_tests::nothing_kept;
        use super::super::{Call, Standing, TestGateway, cards};
        for (store, _dir) in stores().await {
            let time = ManualClock::starting_now();
            let gateway = Arc::new(TestGateway::default());
            let engine = spawn(
                store.clone(),
                time.clock(),
                gateway.clone(),
                EngineSettings {
                    payment_timeout: Duration::from_millis(200),
                    ..EngineSettings::default()
                },
            )
            .await
            .unwrap();
            let sale = live_sale(&engine, &time, &store, 5, 1).await;
            let tap = Some(("tap".to_owned(), 9));
            let first = engine
                .claim(AccountId(1), sale.id, 1, tap.clone())
                .await
                .unwrap();
            gateway.answer_late(Call::Capture, Duration::from_millis(600));
            let paid = engine
                .pay(AccountId(1), first.order_id, cards::APPROVED.into())
                .await;
            assert_eq!(paid, Err(CommerceError::PaymentTimeout));
            assert_eq!(engine.sale(sale.id).await.unwrap().unwrap().sold, 0);
            let first_key = format!("authorize-{}", first.order_id);
            nothing_kept(&gateway, Call::Capture, &first_key).await;
            // The same tap claims afresh (the cancelled claim let its key
            // go) and is charged once, for the new order only.
            gateway.answer_on_time(Call::Capture);
            let again = engine.claim(AccountId(1), sale.id, 1, tap).await.unwrap();
            assert_ne!(again.order_id, first.order_id);
            let order = engine
                .pay(AccountId(1), again.order_id, cards::APPROVED.into())
                .await
                .unwrap();
            assert_eq!(order.status, "paid");
            assert_eq!(gateway.standing(&first_key), Standing::Clear);
            assert_eq!(
                gateway.standing(&format!("authorize-{}", again.order_id)),
                Standing::Charged(sale.price)
            );
        }
    }
}
