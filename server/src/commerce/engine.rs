//! The engine task: decides requests in arrival order, commits each batch
//! in one transaction, then answers and announces. This file holds the
//! engine's state, its loop and the dispatch of each request; the decisions
//! live in a file per concept (flash_sales, checkout, payments, orders,
//! refunds, carts, coupons).

use super::carts::{self, Cart};
use super::checkout;
use super::coupons::{self, CouponState};
use super::flash_sales::{Decision, Deferred, Pending, Sale};
use super::ledger::{self, NewClaim, OrderRecord, PendingOrder};
use super::shared_carts::{self, SharedCarts};
use super::{CommerceError, CommerceEvent, CommerceHandle, PaymentGateway, Request, SaleState};
use crate::clock::Clock;
use crate::fair::Shopper;
use crate::store::{Store, StoreError};
use crate::telemetry::COMMERCE_BATCH;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::Instrument;
use vitrine_shared::{AccountId, CouponCode};
use vitrine_shared::{OrderId, SaleId};

/// Most requests decided and committed together.
const MAX_BATCH: usize = 1024;
/// How often the engine looks at the clock to open and close sales.
const CLOCK: Duration = Duration::from_millis(100);

pub(super) struct Engine {
    pub(super) store: Store,
    /// What sales open and close by, and every row is stamped with; the
    /// store above reads the same clock.
    pub(super) clock: Clock,
    pub(super) sales: HashMap<SaleId, Sale>,
    /// Flash-sale claims: (buyer, idempotency key) → (request hash, the
    /// claim it made).
    pub(super) keys: HashMap<(AccountId, String), (u64, NewClaim)>,
    /// Checkouts: (buyer, idempotency key) → (request hash, order id).
    pub(super) checkouts: HashMap<(AccountId, String), (u64, OrderId)>,
    pub(super) events: broadcast::Sender<CommerceEvent>,
    /// Orders not yet paid, and those being paid right now.
    pub(super) orders: HashMap<OrderId, PendingOrder>,
    pub(super) paying: HashSet<OrderId>,
    /// Authorizations the provider made for pending orders: voided if the
    /// order is cancelled instead of paid.
    pub(super) authorizations: HashMap<OrderId, String>,
    /// Pending orders found at start: a process before this one may have
    /// left a hold or a charge at the provider for them that this one never
    /// heard of, so cancelling one asks the provider under its keys.
    pub(super) inherited: HashSet<OrderId>,
    /// Repeats of a checkout whose payment is under way: they get its answer.
    pub(super) waiters: HashMap<OrderId, Vec<oneshot::Sender<Result<OrderRecord, CommerceError>>>>,
    pub(super) carts: HashMap<AccountId, Cart>,
    /// Groups' shared carts.
    pub(super) shared: SharedCarts,
    pub(super) coupons: HashMap<CouponCode, CouponState>,
    pub(super) pinned: Option<CouponCode>,
    pub(super) gateway: Arc<dyn PaymentGateway>,
    pub(super) settings: EngineSettings,
    /// The engine's own inbox, for its payment tasks to report back; weak so
    /// that the engine stops when every handle is gone.
    pub(super) inbox: mpsc::WeakSender<Request>,
    /// Group deals, their unsettled teams and join keys.
    pub(super) groups: super::group_deals::GroupDeals,
    /// Whom each account's per-buyer limits count (`crate::fair`), as
    /// learnt from the store: an account's network never changes.
    pub(super) shoppers: HashMap<AccountId, Shopper>,
    /// Asked to stop: the loop ends after this batch and answers here.
    pub(super) stopped: Option<oneshot::Sender<()>>,
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
/// on this runtime, with payments through `gateway`, reading time from
/// `clock` (the store is made to stamp its rows by the same clock).
pub async fn spawn(
    store: Store,
    clock: Clock,
    gateway: Arc<dyn PaymentGateway>,
    settings: EngineSettings,
) -> Result<CommerceHandle, StoreError> {
    let (handle, release) = spawn_held(store, clock, gateway, settings).await?;
    release.release();
    Ok(handle)
}

/// Lets a held engine's clock run: see [`spawn_held`].
pub struct Release(oneshot::Sender<()>);

impl Release {
    pub fn release(self) {
        let _ = self.0.send(());
    }
}

/// Starts the engine with its clock held: it answers requests, but its
/// sweeps (which finish what a restart left: full teams captured, lapsed
/// ones voided) wait for [`Release::release`], so whoever must hear of
/// those outcomes (engagement's rewards) can subscribe first.
pub async fn spawn_held(
    store: Store,
    clock: Clock,
    gateway: Arc<dyn PaymentGateway>,
    settings: EngineSettings,
) -> Result<(CommerceHandle, Release), StoreError> {
    let store = store.with_clock(clock.clone());
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
    for (sale_id, shopper, quantity) in ledger::open_sale_buyers(&store).await? {
        if let Some(sale) = sales.get_mut(&sale_id) {
            *sale.bought.entry(shopper).or_default() += quantity;
        }
    }
    let mut keys = HashMap::new();
    for (buyer, key, hash, claim) in ledger::keyed_claims(&store).await? {
        keys.insert((buyer, key), (hash, claim));
    }
    // Groups end with the process: their carts go back to stock first.
    let last_line = shared_carts::release_all(&store).await?;
    let orders: HashMap<OrderId, PendingOrder> =
        ledger::pending_orders(&store).await?.into_iter().collect();
    let inherited = orders.keys().copied().collect();
    let (coupons, pinned) = coupons::load(&store).await?;
    let mut groups = super::group_deals::load(&store).await?;
    // Deals that ended before this start are not announced as ending again.
    let now = clock.now_ms();
    groups.ended = groups
        .deals
        .values()
        .filter(|d| d.ends_at_ms <= now)
        .map(|d| d.id)
        .collect();
    let (requests, rx) = mpsc::channel(16 * 1024);
    let (events, _) = broadcast::channel(4096);
    let engine = Engine {
        store: store.clone(),
        clock,
        sales,
        keys,
        checkouts: checkout::load_keys(&store).await?,
        events: events.clone(),
        orders,
        paying: HashSet::new(),
        authorizations: HashMap::new(),
        inherited,
        waiters: HashMap::new(),
        carts: carts::load(&store).await?,
        shared: SharedCarts::starting_after(last_line),
        coupons,
        pinned,
        gateway,
        settings,
        inbox: requests.downgrade(),
        groups,
        shoppers: HashMap::new(),
        stopped: None,
    };
    let (release, held) = oneshot::channel();
    tokio::spawn(engine.run(rx, held));
    Ok((
        CommerceHandle {
            requests,
            events,
            store,
        },
        Release(release),
    ))
}
/// What a batch is, for its span: its requests' kind when they are all
/// alike (a flash sale's claims), else `mixed`.
fn batch_kind(batch: &[Request]) -> &'static str {
    let mut kinds = batch.iter().map(request_kind);
    let first = kinds.next().unwrap_or("empty");
    if kinds.all(|kind| kind == first) {
        first
    } else {
        "mixed"
    }
}

fn request_kind(request: &Request) -> &'static str {
    match request {
        Request::StartSale { .. } => "start_sale",
        Request::Claim { .. } => "claim",
        Request::Sale { .. } => "sale",
        Request::Advance { .. } => "advance",
        Request::Refund { .. } => "refund",
        Request::RefundDone { .. } => "refund_done",
        Request::OpenSales { .. } => "open_sales",
        Request::Pay { .. } => "pay",
        Request::ImportCatalog { .. } => "import_catalog",
        Request::Archive { .. } => "archive",
        Request::UpsertProduct { .. } => "upsert_product",
        Request::Cart { .. } => "cart",
        Request::EditCart { .. } => "edit_cart",
        Request::Checkout { .. } => "checkout",
        Request::CreateCoupon { .. } => "create_coupon",
        Request::Coupon { .. } => "coupon",
        Request::PinCoupon { .. } => "pin_coupon",
        Request::Pinned { .. } => "pinned",
        Request::PaymentDone { .. } => "payment_done",
        Request::CreateGroupDeal { .. } => "create_group_deal",
        Request::GroupDeal { .. } => "group_deal",
        Request::OpenGroupDeals { .. } => "open_group_deals",
        Request::JoinTeam { .. } => "join_team",
        Request::GroupAuthorized { .. } => "group_authorized",
        Request::GroupSettled { .. } => "group_settled",
        Request::SharedCart(_) => "shared_cart",
        Request::GroupMemberCaptured { .. } => "group_member_captured",
        Request::GroupVoidTried { .. } => "group_void_tried",
        Request::ProviderNews { .. } => "provider_news",
        Request::ShowLive { .. } => "show_live",
        Request::Stop { .. } => "stop",
    }
}

impl Engine {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>, mut held: oneshot::Receiver<()>) {
        let mut clock = tokio::time::interval(CLOCK);
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut released = false;
        loop {
            tokio::select! {
                // A dropped `Release` lets the clock run too.
                _ = &mut held, if !released => released = true,
                first = rx.recv() => {
                    let Some(first) = first else { break };
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(request) => batch.push(request),
                            Err(_) => break,
                        }
                    }
                    let span = tracing::info_span!(
                        COMMERCE_BATCH,
                        kind = batch_kind(&batch),
                        size = batch.len(),
                        commit_ms = tracing::field::Empty,
                    );
                    self.handle(batch).instrument(span.clone()).await;
                    span.in_scope(|| tracing::debug!("batch committed"));
                    if let Some(stopped) = self.stopped.take() {
                        // Requests still queued are dropped with the
                        // receiver: their callers hear `Unavailable`.
                        drop(rx);
                        tracing::info!("commerce engine stopped");
                        let _ = stopped.send(());
                        break;
                    }
                }
                _ = clock.tick(), if released => self.on_clock().await,
            }
        }
    }

    async fn handle(&mut self, batch: Vec<Request>) {
        let mut new_claims: Vec<NewClaim> = Vec::new();
        let mut pending: Vec<Pending> = Vec::new();
        let mut deferred: Vec<Deferred> = Vec::new();
        // Time spent making the batch's claims durable, for its span.
        let mut committing = Duration::ZERO;
        // Claims are decided without waiting: whom each buyer counts as is
        // learnt for the whole batch first, in one query.
        let buyers: Vec<AccountId> = batch
            .iter()
            .filter_map(|r| match r {
                Request::Claim { buyer, .. } => Some(*buyer),
                _ => None,
            })
            .collect();
        self.learn_shoppers(&buyers).await;
        for request in batch {
            if !matches!(request, Request::Claim { .. } | Request::Sale { .. }) {
                // Rare requests run on their own, after what is decided so far.
                let started = Instant::now();
                self.commit(&mut new_claims, &mut pending, &mut deferred)
                    .await;
                committing += started.elapsed();
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
                    let now = self.clock.now_ms();
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
                    held,
                    reply,
                } => {
                    if let Some(authorization) = held {
                        self.authorizations.insert(order_id, authorization);
                    }
                    let answer = self.payment_done(order_id, outcome).await;
                    for waiter in self.waiters.remove(&order_id).unwrap_or_default() {
                        let _ = waiter.send(answer.clone());
                    }
                    let _ = reply.send(answer);
                }
                Request::CreateGroupDeal { by, spec, reply } => {
                    let _ = reply.send(self.create_group_deal(by, spec).await);
                }
                Request::GroupDeal { deal, reply } => {
                    let _ = reply.send(self.groups.view(deal));
                }
                Request::OpenGroupDeals { reply } => {
                    let _ = reply.send(self.open_group_deals());
                }
                Request::JoinTeam {
                    buyer,
                    target,
                    method,
                    idempotency,
                    reply,
                } => {
                    self.join_team(buyer, target, method, idempotency, reply)
                        .await
                }
                Request::GroupAuthorized { order_id, outcome } => {
                    self.group_authorized(order_id, outcome).await
                }
                Request::GroupSettled {
                    team,
                    mode,
                    outcome,
                } => self.group_settled(team, mode, outcome).await,
                Request::SharedCart(request) => self.shared_request(request).await,
                Request::GroupVoidTried { order_id, outcome } => {
                    self.group_void_tried(order_id, outcome).await
                }
                Request::GroupMemberCaptured { team, order_id } => {
                    self.group_member_captured(team, order_id).await
                }
                Request::ProviderNews {
                    order_id,
                    authorization,
                    state,
                    reply,
                } => {
                    let _ = reply.send(self.provider_news(order_id, authorization, state).await);
                }
                Request::ShowLive { show } => self.show_live(show).await,
                Request::Stop { reply } => self.stopped = Some(reply),
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
                Request::CreateCoupon {
                    by,
                    coupon,
                    bound_to,
                    reply,
                } => {
                    let _ = reply.send(self.create_coupon(by, coupon, bound_to).await);
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
        let started = Instant::now();
        self.commit(&mut new_claims, &mut pending, &mut deferred)
            .await;
        committing += started.elapsed();
        tracing::Span::current().record("commit_ms", committing.as_secs_f64() * 1000.0);
    }

    /// Lets time act: unpaid orders expire, cart holds run out, ended
    /// coupons are unpinned, and sales open and close.
    async fn on_clock(&mut self) {
        let now = self.clock.now_ms();
        self.expire_unpaid(now).await;
        self.expire_carts(now).await;
        self.expire_shared_carts(now).await;
        self.unpin_ended(now).await;
        self.open_and_close_sales(now).await;
        self.sweep_group_deals(now);
    }
}
