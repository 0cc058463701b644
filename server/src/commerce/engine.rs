//! The engine task: decides requests in arrival order, commits each batch
//! in one transaction, then answers and announces.

use super::carts::{self, Cart};
use super::checkout::{self, Failure};
use super::coupons::{self, CouponState};
use super::ledger::{self, NewClaim, OrderRecord, Origin, PendingOrder, Release};
use super::payments::{PaymentError, PaymentGateway};
use super::{
    COUNTDOWN_SECS, Claimed, CommerceError, CommerceEvent, CommerceHandle, DURATION_SECS,
    FlashSale, FlashSaleSpec, MAX_CLAIM_QUANTITY, OrderStep, Request, SaleState,
};
use crate::store::{Store, StoreError, now_ms};
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use vitrine_shared::{AccountId, CouponCode, Money};

/// Most requests decided and committed together.
const MAX_BATCH: usize = 1024;
/// How often the engine looks at the clock to open and close sales.
const CLOCK: Duration = Duration::from_millis(100);

struct Sale {
    sale: FlashSale,
    bought: HashMap<AccountId, i64>,
    opened: bool,
    closed: bool,
}

impl Sale {
    fn state(&self, now: i64) -> SaleState {
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

    fn view(&self, now: i64) -> FlashSale {
        FlashSale {
            state: self.state(now),
            ..self.sale.clone()
        }
    }
}

pub(super) struct Engine {
    pub(super) store: Store,
    sales: HashMap<i64, Sale>,
    /// Flash-sale claims: (buyer, idempotency key) → (request hash, the
    /// claim it made).
    pub(super) keys: HashMap<(AccountId, String), (u64, NewClaim)>,
    /// Checkouts: (buyer, idempotency key) → (request hash, order id).
    pub(super) checkouts: HashMap<(AccountId, String), (u64, i64)>,
    pub(super) events: broadcast::Sender<CommerceEvent>,
    /// Orders not yet paid, and those being paid right now.
    pub(super) orders: HashMap<i64, PendingOrder>,
    pub(super) paying: HashSet<i64>,
    /// Repeats of a checkout whose payment is under way: they get its answer.
    pub(super) waiters: HashMap<i64, Vec<oneshot::Sender<Result<OrderRecord, CommerceError>>>>,
    pub(super) carts: HashMap<AccountId, Cart>,
    pub(super) coupons: HashMap<CouponCode, CouponState>,
    pub(super) pinned: Option<CouponCode>,
    gateway: Arc<dyn PaymentGateway>,
    pub(super) settings: EngineSettings,
    /// The engine's own inbox, for its payment tasks to report back; weak so
    /// that the engine stops when every handle is gone.
    inbox: mpsc::WeakSender<Request>,
}

/// The payment reference of an order that cost nothing (a coupon took it
/// all): no gateway is asked, to pay or to refund.
const NO_CHARGE: &str = "no-charge";

/// Random positive ids below 2^53: they fit BIGINT everywhere and survive a
/// trip through JavaScript's numbers (the host console).
pub fn new_id() -> i64 {
    rand::rng().random_range(1..(1i64 << 53))
}

/// How long payments may take.
#[derive(Debug, Clone, Copy)]
pub struct EngineSettings {
    /// The provider's time to answer before the order is cancelled.
    pub payment_timeout: Duration,
    /// How long a claimed order holds its units unpaid before it is
    /// cancelled and they are released.
    pub payment_hold: Duration,
    /// How long a cart line holds its units after the shopper last changed it.
    pub cart_hold: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            payment_timeout: Duration::from_secs(10),
            payment_hold: Duration::from_secs(600),
            cart_hold: Duration::from_secs(600),
        }
    }
}

/// Loads open sales and unpaid orders from the store and starts the engine
/// on this runtime, with payments through `gateway`.
pub async fn spawn(
    store: Store,
    gateway: Arc<dyn PaymentGateway>,
    settings: EngineSettings,
) -> Result<CommerceHandle, StoreError> {
    let mut sales = HashMap::new();
    for sale in ledger::open_sales(&store).await? {
        sales.insert(
            sale.id,
            Sale {
                sale,
                bought: HashMap::new(),
                opened: false,
                closed: false,
            },
        );
    }
    for (sale_id, buyer, quantity) in ledger::open_sale_buyers(&store).await? {
        if let Some(sale) = sales.get_mut(&sale_id) {
            sale.bought.insert(buyer, quantity);
        }
    }
    let mut keys = HashMap::new();
    for (buyer, key, hash, claim) in ledger::keyed_claims(&store).await? {
        keys.insert((buyer, key), (hash, claim));
    }
    let orders = ledger::pending_orders(&store).await?.into_iter().collect();
    let (coupons, pinned) = coupons::load(&store).await?;
    let (requests, rx) = mpsc::channel(16 * 1024);
    let (events, _) = broadcast::channel(4096);
    let engine = Engine {
        store: store.clone(),
        sales,
        keys,
        checkouts: checkout::load_keys(&store).await?,
        events: events.clone(),
        orders,
        paying: HashSet::new(),
        waiters: HashMap::new(),
        carts: carts::load(&store).await?,
        coupons,
        pinned,
        gateway,
        settings,
        inbox: requests.downgrade(),
    };
    tokio::spawn(engine.run(rx));
    Ok(CommerceHandle {
        requests,
        events,
        store,
    })
}

/// A decided claim waiting for its batch to commit.
struct Pending {
    claim: Claimed,
    reply: oneshot::Sender<Result<Claimed, CommerceError>>,
}

/// Replies held until the batch is durable.
enum Deferred {
    Claim(
        oneshot::Sender<Result<Claimed, CommerceError>>,
        Result<Claimed, CommerceError>,
    ),
    Sale(oneshot::Sender<Option<FlashSale>>, i64),
}

impl Engine {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        let mut clock = tokio::time::interval(CLOCK);
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                first = rx.recv() => {
                    let Some(first) = first else { break };
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(request) => batch.push(request),
                            Err(_) => break,
                        }
                    }
                    self.handle(batch).await;
                }
                _ = clock.tick() => self.on_clock().await,
            }
        }
    }

    async fn handle(&mut self, batch: Vec<Request>) {
        let mut new_claims: Vec<NewClaim> = Vec::new();
        let mut pending: Vec<Pending> = Vec::new();
        let mut deferred: Vec<Deferred> = Vec::new();
        for request in batch {
            if !matches!(request, Request::Claim { .. } | Request::Sale { .. }) {
                // Rare requests run on their own, after what is decided so far.
                self.commit(&mut new_claims, &mut pending, &mut deferred)
                    .await;
            }
            match request {
                Request::Sale { sale_id, reply } => deferred.push(Deferred::Sale(reply, sale_id)),
                Request::Advance {
                    staff,
                    order_id,
                    step,
                    reply,
                } => {
                    let _ = reply.send(self.advance(staff, order_id, step).await);
                }
                Request::Refund {
                    by,
                    staff,
                    order_id,
                    reason,
                    reply,
                } => {
                    self.refund(by, staff, order_id, reason, reply).await;
                }
                Request::RefundDone {
                    order,
                    reason,
                    outcome,
                    reply,
                } => {
                    let _ = reply.send(self.refund_done(order, reason, outcome).await);
                }
                Request::OpenSales { reply } => {
                    let now = now_ms();
                    let open = self
                        .sales
                        .values()
                        .filter(|s| s.state(now) != SaleState::Ended);
                    let _ = reply.send(open.map(|s| s.view(now)).collect());
                }
                Request::StartSale { by, spec, reply } => {
                    let _ = reply.send(self.start_sale(by, spec).await);
                }
                Request::Pay {
                    buyer,
                    order_id,
                    method,
                    reply,
                } => {
                    self.pay(buyer, order_id, method, reply).await;
                }
                Request::ImportCatalog { products, reply } => {
                    let done = self.store.import_catalog(&products).await.map_err(|e| {
                        tracing::error!(%e, "catalog import failed; nothing changed");
                        CommerceError::Storage
                    });
                    let _ = reply.send(done);
                }
                Request::Archive { product, reply } => {
                    let done = self.store.archive_product(&product).await.map_err(|e| {
                        tracing::error!(%e, "archive failed");
                        CommerceError::Storage
                    });
                    let _ = reply.send(done);
                }
                Request::UpsertProduct {
                    product,
                    mode,
                    reply,
                } => {
                    use crate::store::UpsertRefusal;
                    let done = match self.store.upsert_product(&product, mode).await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(UpsertRefusal::ProductExists)) => Err(CommerceError::ProductExists),
                        Ok(Err(UpsertRefusal::UnknownProduct)) => {
                            Err(CommerceError::UnknownProduct)
                        }
                        Ok(Err(UpsertRefusal::SkuTaken(sku))) => {
                            Err(CommerceError::SkuTaken(sku.to_string()))
                        }
                        Err(e) => {
                            tracing::error!(%e, "product not written");
                            Err(CommerceError::Storage)
                        }
                    };
                    let _ = reply.send(done);
                }
                Request::PaymentDone {
                    order_id,
                    outcome,
                    reply,
                } => {
                    let answer = self.payment_done(order_id, outcome).await;
                    for waiter in self.waiters.remove(&order_id).unwrap_or_default() {
                        let _ = waiter.send(answer.clone());
                    }
                    let _ = reply.send(answer);
                }
                Request::Cart { buyer, reply } => {
                    let _ = reply.send(self.cart_lines(buyer));
                }
                Request::EditCart {
                    buyer,
                    sku,
                    edit,
                    reply,
                } => {
                    let _ = reply.send(self.edit_cart(buyer, sku, edit).await);
                }
                Request::Checkout {
                    buyer,
                    spec,
                    idempotency,
                    reply,
                } => self.checkout(buyer, spec, idempotency, reply).await,
                Request::CreateCoupon { by, coupon, reply } => {
                    let _ = reply.send(self.create_coupon(by, coupon).await);
                }
                Request::Coupon { code, reply } => {
                    let _ = reply.send(self.coupon_info(&code));
                }
                Request::PinCoupon { code, reply } => {
                    let _ = reply.send(self.pin_coupon(code).await);
                }
                Request::Pinned { reply } => {
                    let info = self.pinned.as_ref().and_then(|c| self.coupon_info(c));
                    let _ = reply.send(info);
                }
                Request::Claim {
                    buyer,
                    sale_id,
                    quantity,
                    idempotency,
                    reply,
                } => match self.decide(buyer, sale_id, quantity, idempotency) {
                    Decision::New(claim, new) => {
                        new_claims.push(new);
                        pending.push(Pending { claim, reply });
                    }
                    Decision::Replay(result) => deferred.push(Deferred::Claim(reply, result)),
                },
            }
        }
        self.commit(&mut new_claims, &mut pending, &mut deferred)
            .await;
    }

    fn decide(
        &mut self,
        buyer: AccountId,
        sale_id: i64,
        quantity: i64,
        idempotency: Option<(String, u64)>,
    ) -> Decision {
        let now = now_ms();
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
        let bought = sale.bought.get(&buyer).copied().unwrap_or(0);
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
        *sale.bought.entry(buyer).or_default() += quantity;
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
    async fn commit(
        &mut self,
        claims: &mut Vec<NewClaim>,
        pending: &mut Vec<Pending>,
        deferred: &mut Vec<Deferred>,
    ) {
        // Orders of this batch that did not become durable.
        let mut lost: HashSet<i64> = HashSet::new();
        if !claims.is_empty() {
            let mut sold: Vec<(i64, i64)> = Vec::new();
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
                            created_at_ms: now_ms(),
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
                            if let Some(b) = sale.bought.get_mut(&claim.buyer) {
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
        let now = now_ms();
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

    async fn start_sale(
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
        let starts_at_ms = now_ms() + spec.countdown_secs as i64 * 1000;
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
        tracing::info!(sale = sale.id, sku = %sale.sku, quantity = sale.quantity, price = %sale.price, "flash sale announced");
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

    /// Marks `order_id` as talking to the gateway (one call at a time per
    /// order) and returns the inbox its task reports back to.
    fn begin_gateway_call(
        &mut self,
        order_id: i64,
    ) -> Result<mpsc::Sender<Request>, CommerceError> {
        if !self.paying.insert(order_id) {
            return Err(CommerceError::PaymentInProgress);
        }
        self.inbox.upgrade().ok_or_else(|| {
            self.paying.remove(&order_id);
            CommerceError::Unavailable
        })
    }

    /// Starts paying an order: the gateway is called on a task of its own so
    /// that a slow provider never holds up claims; it reports back through
    /// the inbox as `PaymentDone`.
    pub(super) async fn pay(
        &mut self,
        buyer: AccountId,
        order_id: i64,
        method: String,
        reply: oneshot::Sender<Result<OrderRecord, CommerceError>>,
    ) {
        let pending = self.orders.get(&order_id).filter(|o| o.buyer == buyer);
        let Some(total) = pending.map(|o| o.total) else {
            // Not pending: paid already (answer it again), cancelled, or not theirs.
            let found = ledger::orders(&self.store, buyer, Some(order_id)).await;
            let answer = match found {
                Err(_) => Err(CommerceError::Storage),
                Ok(found) => match found.into_iter().next() {
                    None => Err(CommerceError::UnknownOrder),
                    Some(o) if o.status == "paid" => Ok(o),
                    Some(o) => Err(CommerceError::OrderNotPayable { status: o.status }),
                },
            };
            let _ = reply.send(answer);
            return;
        };
        if total.minor == 0 {
            let _ = reply.send(self.payment_done(order_id, Ok(NO_CHARGE.into())).await);
            return;
        }
        let inbox = match self.begin_gateway_call(order_id) {
            Ok(inbox) => inbox,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let (gateway, timeout) = (self.gateway.clone(), self.settings.payment_timeout);
        tokio::spawn(async move {
            // The order id makes both calls idempotent at the provider.
            let (auth_key, capture_key) = (
                format!("authorize-{order_id}"),
                format!("capture-{order_id}"),
            );
            let attempt = async {
                let authorization = gateway.authorize(&auth_key, total, &method).await?;
                gateway.capture(&capture_key, &authorization).await?;
                Ok::<_, PaymentError>(authorization)
            };
            let outcome = tokio::time::timeout(timeout, attempt)
                .await
                .unwrap_or(Err(PaymentError::Timeout));
            let _ = inbox
                .send(Request::PaymentDone {
                    order_id,
                    outcome,
                    reply,
                })
                .await;
        });
    }

    /// Cancels a pending order, says why, and gives its units back: a flash
    /// sale's to the sale while it is open, a cart's to the cart when its
    /// payment failed (so the shopper can try another card), the rest to
    /// stock. The coupon it used is given back too. On a storage failure
    /// the order stays pending.
    async fn release(
        &mut self,
        order_id: i64,
        order: PendingOrder,
        why: Failure,
    ) -> Result<(), CommerceError> {
        let now = now_ms();
        let release = match (order.origin, &why) {
            (Origin::FlashSale(sale_id), _)
                if self.sales.get(&sale_id).is_some_and(|s| !s.closed) =>
            {
                Release::Sale(sale_id)
            }
            (Origin::Cart, Failure::Declined(_) | Failure::Timeout) => Release::Cart {
                held_until: now + self.settings.cart_hold.as_millis() as i64,
            },
            _ => Release::Stock,
        };
        if let Err(e) =
            ledger::cancel_order(&self.store, order_id, &order, release, &why.as_stored()).await
        {
            tracing::error!(%e, order_id, "order not cancelled");
            self.orders.insert(order_id, order);
            return Err(CommerceError::Storage);
        }
        match release {
            Release::Sale(sale_id) => {
                if let Some(sale) = self.sales.get_mut(&sale_id) {
                    let quantity: i64 = order.lines.iter().map(|(_, q)| q).sum();
                    sale.sale.sold -= quantity;
                    if let Some(bought) = sale.bought.get_mut(&order.buyer) {
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
                    tracing::warn!(%e, order_id, "cart restored in the store but not in memory");
                }
            }
            Release::Stock => {}
        }
        if let Some(code) = &order.coupon
            && let Some(coupon) = self.coupons.get_mut(code)
        {
            coupon.redeem(order.buyer, -1);
        }
        // A retry with the claim's idempotency key must not find a cancelled order.
        self.keys.retain(|_, (_, claim)| claim.order_id != order_id);
        self.announce_order(order.buyer, order_id).await;
        Ok(())
    }

    async fn advance(
        &mut self,
        staff: bool,
        order_id: i64,
        step: OrderStep,
    ) -> Result<OrderRecord, CommerceError> {
        if !staff {
            return Err(CommerceError::Forbidden);
        }
        let storage = |e: StoreError| {
            tracing::error!(%e, order_id, "order step not recorded");
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
        tracing::info!(order_id, to, "order moved on");
        self.announce_order(buyer, order_id).await;
        let moved = ledger::orders(&self.store, buyer, Some(order_id))
            .await
            .map_err(storage)?;
        moved.into_iter().next().ok_or(CommerceError::UnknownOrder)
    }

    async fn refund(
        &mut self,
        by: AccountId,
        staff: bool,
        order_id: i64,
        reason: String,
        reply: oneshot::Sender<Result<OrderRecord, CommerceError>>,
    ) {
        let checked = async {
            let reason_ok = !reason.trim().is_empty()
                && reason.chars().count() <= super::MAX_RETURN_REASON_CHARS
                && !reason.chars().any(|c| c.is_control() && c != '\n');
            if !reason_ok {
                return Err(CommerceError::BadReason);
            }
            let found = ledger::order_by_id(&self.store, order_id)
                .await
                .map_err(|_| CommerceError::Storage)?;
            let (buyer, order, payment_ref) = found.ok_or(CommerceError::UnknownOrder)?;
            if !staff && buyer != by {
                return Err(CommerceError::UnknownOrder);
            }
            // Buyers return what was delivered; staff may refund anything paid.
            let allowed: &[&str] = if staff {
                &["paid", "fulfilled", "delivered"]
            } else {
                &["delivered"]
            };
            let payment_ref = payment_ref.filter(|_| allowed.contains(&order.status.as_str()));
            let Some(payment_ref) = payment_ref else {
                return Err(CommerceError::WrongOrderState {
                    status: order.status,
                });
            };
            Ok((order, payment_ref))
        };
        let (order, payment_ref) = match checked.await {
            Ok(found) => found,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        if payment_ref == NO_CHARGE {
            let _ = reply.send(self.refund_done(order, reason, Ok(())).await);
            return;
        }
        let inbox = match self.begin_gateway_call(order_id) {
            Ok(inbox) => inbox,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let (gateway, timeout) = (self.gateway.clone(), self.settings.payment_timeout);
        tokio::spawn(async move {
            let key = format!("refund-{order_id}");
            let attempt = gateway.refund(&key, &payment_ref, order.total);
            let outcome = tokio::time::timeout(timeout, attempt)
                .await
                .unwrap_or(Err(PaymentError::Timeout));
            let _ = inbox
                .send(Request::RefundDone {
                    order,
                    reason,
                    outcome,
                    reply,
                })
                .await;
        });
    }

    async fn refund_done(
        &mut self,
        order: OrderRecord,
        reason: String,
        outcome: Result<(), PaymentError>,
    ) -> Result<OrderRecord, CommerceError> {
        self.paying.remove(&order.id);
        if let Err(e) = outcome {
            tracing::warn!(order_id = order.id, %e, "refund failed");
            return Err(CommerceError::RefundFailed);
        }
        let storage = |e: StoreError| {
            tracing::error!(%e, order_id = order.id, "refund not recorded");
            CommerceError::Storage
        };
        if !ledger::refund(&self.store, &order, reason.trim())
            .await
            .map_err(storage)?
        {
            return Err(CommerceError::WrongOrderState {
                status: order.status,
            });
        }
        tracing::info!(order_id = order.id, total = %order.total, "order refunded; units back in stock");
        let (buyer, refunded, _) = ledger::order_by_id(&self.store, order.id)
            .await
            .map_err(storage)?
            .ok_or(CommerceError::UnknownOrder)?;
        let _ = self.events.send(CommerceEvent::OrderChanged {
            buyer,
            order: refunded.clone(),
        });
        Ok(refunded)
    }

    /// Records the gateway's answer: paid, or cancelled with the units back.
    async fn payment_done(
        &mut self,
        order_id: i64,
        outcome: Result<String, PaymentError>,
    ) -> Result<OrderRecord, CommerceError> {
        self.paying.remove(&order_id);
        let Some(order) = self.orders.remove(&order_id) else {
            return Err(CommerceError::UnknownOrder);
        };
        let storage = |e: StoreError| {
            tracing::error!(%e, order_id, "payment outcome not recorded");
            CommerceError::Storage
        };
        match outcome {
            Ok(authorization) => {
                if let Err(e) = ledger::mark_paid(&self.store, order_id, &authorization).await {
                    self.orders.insert(order_id, order);
                    return Err(storage(e));
                }
                tracing::info!(order_id, total = %order.total, "order paid");
                let paid = ledger::orders(&self.store, order.buyer, Some(order_id))
                    .await
                    .map_err(storage)?
                    .into_iter()
                    .next()
                    .ok_or(CommerceError::UnknownOrder)?;
                let _ = self.events.send(CommerceEvent::OrderChanged {
                    buyer: order.buyer,
                    order: paid.clone(),
                });
                Ok(paid)
            }
            Err(failure) => {
                let (why, error) = match failure.clone() {
                    PaymentError::Declined { reason } => (
                        Failure::Declined(reason.clone()),
                        CommerceError::PaymentDeclined { reason },
                    ),
                    PaymentError::Timeout | PaymentError::Unavailable(_) => {
                        (Failure::Timeout, CommerceError::PaymentTimeout)
                    }
                };
                self.release(order_id, order, why).await?;
                tracing::info!(order_id, %failure, "payment failed; order cancelled and units released");
                Err(error)
            }
        }
    }

    /// Opens sales whose countdown is over; closes those past their end and
    /// returns their unsold units to stock.
    async fn on_clock(&mut self) {
        let now = now_ms();
        // Claimed but unpaid for too long: the units go back.
        let hold = self.settings.payment_hold.as_millis() as i64;
        let expired: Vec<i64> = self
            .orders
            .iter()
            .filter(|(id, o)| o.created_at_ms + hold <= now && !self.paying.contains(id))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(order) = self.orders.remove(&id)
                && self.release(id, order, Failure::Expired).await.is_ok()
            {
                tracing::info!(order_id = id, "unpaid order expired; units released");
            }
        }
        self.expire_carts(now).await;
        self.unpin_ended(now).await;
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
                    tracing::info!(sale = id, unsold, "flash sale ended");
                    let _ = self.events.send(CommerceEvent::SaleEnded {
                        sale_id: id,
                        unsold_returned: unsold,
                    });
                }
                // Tried again on the next clock tick.
                Err(e) => tracing::error!(%e, sale = id, "could not close a flash sale"),
            }
        }
    }
}

enum Decision {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::stores;
    use vitrine_shared::Sku;

    /// A sale already live, written as the engine would, so the test need
    /// not wait out a countdown.
    async fn live_sale(store: &Store, quantity: i64, limit: i64) -> FlashSale {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/catalog.toml");
        if store.catalog_is_empty().await.unwrap() {
            store
                .import_catalog(&crate::catalog::load_catalog_file(&path).unwrap())
                .await
                .unwrap();
        }
        let sku = Sku::new("stoneware-mug-sage").unwrap();
        let (product, regular, _) = ledger::variant(store, &sku).await.unwrap().unwrap();
        let now = now_ms();
        let sale = FlashSale {
            id: new_id(),
            product,
            sku,
            price: Money::new(regular.minor / 2, regular.currency),
            quantity,
            sold: 0,
            per_buyer_limit: limit,
            starts_at_ms: now - 1000,
            ends_at_ms: now + 60_000,
            state: SaleState::Live,
        };
        assert!(
            ledger::insert_sale(store, &sale, AccountId(1))
                .await
                .unwrap()
        );
        sale
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_claims_never_oversell_on_any_backend() {
        for (store, _dir) in stores().await {
            let sale = live_sale(&store, 50, 3).await;
            let engine = spawn(
                store.clone(),
                Arc::new(super::super::TestGateway::default()),
                EngineSettings::default(),
            )
            .await
            .unwrap();
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
            let reloaded = spawn(
                store.clone(),
                Arc::new(super::super::TestGateway::default()),
                EngineSettings::default(),
            )
            .await
            .unwrap();
            assert_eq!(reloaded.sale(sale.id).await.unwrap().unwrap().sold, 50);
            let rows: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE flash_sale_id = $1")
                    .bind(sale.id)
                    .fetch_one(store.pool())
                    .await
                    .unwrap();
            assert_eq!(rows, 50);
        }
    }

    #[tokio::test]
    async fn a_failed_commit_sells_nothing_and_says_so() {
        for (store, _dir) in stores().await {
            let sale = live_sale(&store, 5, 5).await;
            let engine = spawn(
                store.clone(),
                Arc::new(super::super::TestGateway::default()),
                EngineSettings::default(),
            )
            .await
            .unwrap();
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
            let sale = live_sale(&store, 5, 1).await;
            let gateway = Arc::new(super::super::TestGateway::default());
            let engine = spawn(store.clone(), gateway, EngineSettings::default())
                .await
                .unwrap();
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
            let reloaded = spawn(
                store.clone(),
                Arc::new(super::super::TestGateway::default()),
                EngineSettings::default(),
            )
            .await
            .unwrap();
            let replay = reloaded.claim(AccountId(1), sale.id, 1, key).await.unwrap();
            assert_eq!(replay.order_id, again.order_id);
        }
    }

    #[tokio::test]
    async fn an_ended_sale_returns_its_unsold_units() {
        for (store, _dir) in stores().await {
            let mut sale = live_sale(&store, 10, 10).await;
            let stock_with_sale_out = ledger::variant(&store, &sale.sku).await.unwrap().unwrap().2;
            // End it now, as the clock would find it.
            sqlx::query("UPDATE flash_sales SET ends_at = $1 WHERE id = $2")
                .bind(now_ms() + 300)
                .bind(sale.id)
                .execute(store.pool())
                .await
                .unwrap();
            sale.ends_at_ms = now_ms() + 300;
            let engine = spawn(
                store.clone(),
                Arc::new(super::super::TestGateway::default()),
                EngineSettings::default(),
            )
            .await
            .unwrap();
            let mut events = engine.subscribe();
            engine.claim(AccountId(7), sale.id, 4, None).await.unwrap();
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
}
