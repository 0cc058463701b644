//! The commerce engine: the only writer of stock, carts, orders and coupons.
//! Rooms and the HTTP API send it requests; it decides them in arrival
//! order against its in-memory state, commits each batch of decisions in
//! one database transaction, and only then answers and announces them.
//!
//! Batching is what makes a hot sale fast on SQLite: one commit (one fsync)
//! carries every claim that arrived while the previous commit was running.

pub mod baseline;
mod carts;
mod checkout;
mod coupons;
mod engine;
mod errors;
#[cfg(test)]
mod fair_tests;
mod flash_sales;
mod gateway;
#[cfg(test)]
mod group_deal_tests;
mod group_deals;
mod group_ledger;
#[cfg(test)]
mod late_payment_tests;
mod ledger;
mod orders;
mod payments;
mod refunds;
mod shared_carts;
#[cfg(test)]
mod shared_carts_tests;
mod shoppers;
#[cfg(test)]
mod shopping_tests;
pub mod stripe;

pub use coupons::{Coupon, CouponInfo, Discount};
pub use engine::{EngineSettings, Release, spawn, spawn_held};
pub use errors::{CommerceError, Refusal};
pub use gateway::{BoxFuture, Call, PaymentError, PaymentGateway, Standing, TestGateway, cards};
pub use group_deals::{
    DealWindow, GroupDeal, GroupDealSpec, Joined, TeamInfo, TeamStatus, TeamTarget,
};
pub use ledger::{OrderLineRecord, OrderRecord};
pub use shared_carts::{GroupMember, SharedCartLine, SharedEdit};
pub use stripe::{StripeConfig, StripeGateway};

use tokio::sync::{broadcast, mpsc, oneshot};
use vitrine_shared::protocol::CartChange;
use vitrine_shared::{AccountId, CouponCode, Money, PaymentMethod, ProductId, Sku};
use vitrine_shared::{DealId, OrderId, SaleId, TeamId};

// The limits live in `shared`, where the room refusals and the API read them.
pub use vitrine_shared::limits::commerce::{
    COUNTDOWN_SECS, DURATION_SECS, MAX_CART_LINES, MAX_CLAIM_QUANTITY, MAX_RETURN_REASON_CHARS,
};

/// A line of a shopper's cart: units reserved from stock until
/// `held_until_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    pub sku: Sku,
    pub product: ProductId,
    pub name: String,
    pub unit_price: Money,
    pub quantity: i64,
    pub held_until_ms: i64,
}

/// A change a shopper makes to a cart line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartEdit {
    /// Adds units, 1 to [`MAX_CLAIM_QUANTITY`].
    Add(i64),
    /// Sets the line to 0 to 100 units; 0 removes it.
    Set(i64),
}

/// What a checkout buys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Purchase {
    Cart,
    BuyNow { sku: Sku, quantity: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSpec {
    pub purchase: Purchase,
    pub coupon: Option<CouponCode>,
    pub method: PaymentMethod,
}

/// What a host asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashSaleSpec {
    pub sku: Sku,
    pub price: Money,
    pub quantity: i64,
    pub per_buyer_limit: i64,
    pub countdown_secs: u64,
    pub duration_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleState {
    /// Announced, counting down to `starts_at_ms`.
    Countdown,
    Live,
    SoldOut,
    /// Past `ends_at_ms`; unsold units are back in stock once closed.
    Ended,
}

impl SaleState {
    pub fn as_str(self) -> &'static str {
        match self {
            SaleState::Countdown => "countdown",
            SaleState::Live => "live",
            SaleState::SoldOut => "sold_out",
            SaleState::Ended => "ended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashSale {
    pub id: SaleId,
    pub product: ProductId,
    pub sku: Sku,
    pub price: Money,
    pub quantity: i64,
    pub sold: i64,
    pub per_buyer_limit: i64,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub state: SaleState,
}

impl FlashSale {
    pub fn units_left(&self) -> i64 {
        self.quantity - self.sold
    }
}

/// A successful claim: the order it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub order_id: OrderId,
    pub sale_id: SaleId,
    pub sku: Sku,
    pub quantity: i64,
    pub unit_price: Money,
    pub total: Money,
    pub units_left: i64,
}

/// Staff moves a paid order along: paid → fulfilled → delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStep {
    Fulfil,
    Deliver,
}

impl OrderStep {
    /// (from, to)
    pub fn statuses(self) -> (&'static str, &'static str) {
        match self {
            OrderStep::Fulfil => ("paid", "fulfilled"),
            OrderStep::Deliver => ("fulfilled", "delivered"),
        }
    }
}

/// What every room of the show hears about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommerceEvent {
    SaleAnnounced(FlashSale),
    SaleOpened {
        sale_id: SaleId,
    },
    UnitsLeft {
        sale_id: SaleId,
        units_left: i64,
    },
    SoldOut {
        sale_id: SaleId,
    },
    SaleEnded {
        sale_id: SaleId,
        unsold_returned: i64,
    },
    /// For the shopper's own clients: their cart after a change.
    CartChanged {
        buyer: AccountId,
        lines: Vec<CartLine>,
        change: CartChange,
    },
    /// Units went into a cart (for the console's counts).
    AddedToCart {
        buyer: AccountId,
        sku: Sku,
        quantity: i64,
    },
    /// For the buyer's own clients: an order was made or moved on.
    OrderChanged {
        buyer: AccountId,
        order: OrderRecord,
    },
    /// The coupon pinned in the show, or none.
    CouponPinned(Option<CouponInfo>),
    /// A group deal was set, or its teams or units changed.
    GroupDealChanged(GroupDeal),
    /// A group deal's window closed.
    GroupDealEnded {
        deal: DealId,
    },
    /// A team filled and was captured: each member's order is placed.
    TeamCompleted {
        deal: DealId,
        team: TeamId,
        members: Vec<(AccountId, OrderId)>,
    },
    /// A team's window closed before it filled: every authorization voided.
    TeamVoided {
        deal: DealId,
        team: TeamId,
        members: Vec<AccountId>,
    },
    /// For the group's members' clients: their shared cart after a change.
    SharedCartChanged {
        group: vitrine_shared::protocol::CartGroupId,
        /// The members as the group's last request listed them.
        members: Vec<AccountId>,
        lines: Vec<SharedCartLine>,
        change: vitrine_shared::protocol::SharedCartChange,
    },
    /// A member's capture was declined (or the provider never answered):
    /// the members charged were refunded, the others voided, units back.
    TeamFailed {
        deal: DealId,
        team: TeamId,
        members: Vec<AccountId>,
    },
}

pub(crate) enum Request {
    StartSale {
        by: AccountId,
        spec: FlashSaleSpec,
        reply: oneshot::Sender<Result<FlashSale, CommerceError>>,
    },
    Claim {
        buyer: AccountId,
        sale_id: SaleId,
        quantity: i64,
        /// The caller's idempotency key and a hash of the request body.
        idempotency: Option<(String, u64)>,
        reply: oneshot::Sender<Result<Claimed, CommerceError>>,
    },
    Sale {
        sale_id: SaleId,
        reply: oneshot::Sender<Option<FlashSale>>,
    },
    Advance {
        staff: bool,
        order_id: OrderId,
        step: OrderStep,
        reply: oneshot::Sender<Result<OrderRecord, CommerceError>>,
    },
    Refund {
        by: AccountId,
        staff: bool,
        order_id: OrderId,
        reason: String,
        reply: oneshot::Sender<Result<OrderRecord, CommerceError>>,
    },
    /// From the engine's own refund task.
    RefundDone {
        order: OrderRecord,
        reason: String,
        outcome: Result<(), PaymentError>,
        reply: oneshot::Sender<Result<OrderRecord, CommerceError>>,
    },
    /// Sales announced and not yet ended.
    OpenSales {
        reply: oneshot::Sender<Vec<FlashSale>>,
    },
    Pay {
        buyer: AccountId,
        order_id: OrderId,
        method: String,
        reply: oneshot::Sender<Result<OrderRecord, CommerceError>>,
    },
    /// Catalog changes go through the engine too: it is the one writer of
    /// stock.
    ImportCatalog {
        products: Vec<crate::catalog::Product>,
        reply: oneshot::Sender<Result<crate::store::ImportSummary, CommerceError>>,
    },
    Archive {
        product: ProductId,
        reply: oneshot::Sender<Result<bool, CommerceError>>,
    },
    UpsertProduct {
        product: crate::catalog::Product,
        mode: crate::store::UpsertMode,
        reply: oneshot::Sender<Result<(), CommerceError>>,
    },
    Cart {
        buyer: AccountId,
        reply: oneshot::Sender<Vec<CartLine>>,
    },
    EditCart {
        buyer: AccountId,
        sku: Sku,
        edit: CartEdit,
        reply: oneshot::Sender<Result<Vec<CartLine>, CommerceError>>,
    },
    Checkout {
        buyer: AccountId,
        spec: CheckoutSpec,
        /// The caller's idempotency key and a hash of the request.
        idempotency: (String, u64),
        reply: oneshot::Sender<Result<OrderRecord, CommerceError>>,
    },
    CreateCoupon {
        by: AccountId,
        coupon: Coupon,
        /// The one account that may use it; `None`: anyone.
        bound_to: Option<AccountId>,
        reply: oneshot::Sender<Result<CouponInfo, CommerceError>>,
    },
    Coupon {
        code: CouponCode,
        reply: oneshot::Sender<Option<CouponInfo>>,
    },
    /// Pins a coupon in the show (`Some`) or unpins it (`None`).
    PinCoupon {
        code: Option<CouponCode>,
        reply: oneshot::Sender<Result<Option<CouponInfo>, CommerceError>>,
    },
    Pinned {
        reply: oneshot::Sender<Option<CouponInfo>>,
    },
    CreateGroupDeal {
        by: AccountId,
        spec: GroupDealSpec,
        reply: oneshot::Sender<Result<GroupDeal, CommerceError>>,
    },
    GroupDeal {
        deal: DealId,
        reply: oneshot::Sender<Option<GroupDeal>>,
    },
    /// Deals whose window is open.
    OpenGroupDeals {
        reply: oneshot::Sender<Vec<GroupDeal>>,
    },
    JoinTeam {
        buyer: AccountId,
        target: TeamTarget,
        method: PaymentMethod,
        /// The caller's idempotency key and a hash of the request.
        idempotency: (String, u64),
        reply: oneshot::Sender<Result<Joined, CommerceError>>,
    },
    /// From the engine's own task: the gateway answered a member's
    /// authorization.
    GroupAuthorized {
        order_id: OrderId,
        outcome: Result<String, PaymentError>,
    },
    /// From the engine's own task: a team's captures (or voids) are done.
    GroupSettled {
        team: TeamId,
        mode: group_deals::Settle,
        outcome: Result<(), PaymentError>,
    },
    /// From the engine's own task: a pending void was tried.
    GroupVoidTried {
        order_id: OrderId,
        outcome: Result<(), PaymentError>,
    },
    /// From the engine's own task: one member's capture went through.
    GroupMemberCaptured { team: TeamId, order_id: OrderId },
    /// From the engine's own payment task, when the gateway has answered.
    PaymentDone {
        order_id: OrderId,
        outcome: Result<String, PaymentError>,
        /// The authorization, once the provider made one (so that an order
        /// cancelled after it has its hold voided).
        held: Option<String>,
        reply: oneshot::Sender<Result<OrderRecord, CommerceError>>,
    },
    /// A group's shared cart (`shared_carts.rs`).
    SharedCart(shared_carts::SharedRequest),
    /// What the provider says of an order's payment after the engine
    /// stopped waiting for it: a late answer, or a provider's webhook.
    ProviderNews {
        order_id: OrderId,
        authorization: String,
        state: ProviderState,
        reply: oneshot::Sender<Result<NewsOutcome, CommerceError>>,
    },
    /// From the engagement engine: the show live now, if any. Deals "until
    /// the show ends" of any other show close.
    ShowLive {
        show: Option<vitrine_shared::ShowId>,
    },
    /// Stops the engine after what it has decided so far; answered once
    /// it no longer reads requests.
    Stop { reply: oneshot::Sender<()> },
}

/// Where an authorization stands at the provider, as it told us late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderState {
    /// Money reserved, not taken.
    Authorized,
    /// Money taken.
    Captured,
    /// Released at the provider.
    Voided,
}

/// What the engine did with provider news.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewsOutcome {
    /// The order was still waiting for this payment: it is paid now.
    Paid,
    /// The order was cancelled: the hold is being voided or the charge
    /// refunded.
    GivenBack,
    /// Nothing to do (the order is paid already, the hold is kept for a
    /// retry, or the news was of a release).
    Noted,
    /// No such order here.
    UnknownOrder,
}

/// A cheap handle to the engine, for rooms and HTTP handlers.
#[derive(Clone)]
pub struct CommerceHandle {
    requests: mpsc::Sender<Request>,
    events: broadcast::Sender<CommerceEvent>,
    store: crate::store::Store,
}

impl CommerceHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, CommerceError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(make(tx))
            .await
            .map_err(|_| CommerceError::Unavailable)?;
        rx.await.map_err(|_| CommerceError::Unavailable)
    }

    pub async fn start_sale(
        &self,
        by: AccountId,
        spec: FlashSaleSpec,
    ) -> Result<FlashSale, CommerceError> {
        self.ask(|reply| Request::StartSale { by, spec, reply })
            .await?
    }

    pub async fn claim(
        &self,
        buyer: AccountId,
        sale_id: SaleId,
        quantity: i64,
        idempotency: Option<(String, u64)>,
    ) -> Result<Claimed, CommerceError> {
        self.ask(|reply| Request::Claim {
            buyer,
            sale_id,
            quantity,
            idempotency,
            reply,
        })
        .await?
    }

    /// For the room loop, which must not wait: queues a request and returns
    /// the receiver its answer will arrive on.
    fn try_ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<oneshot::Receiver<T>, CommerceError> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .try_send(make(reply))
            .map_err(|_| CommerceError::Unavailable)?;
        Ok(rx)
    }

    /// The shopper's cart, lines in SKU order.
    pub async fn cart(&self, buyer: AccountId) -> Result<Vec<CartLine>, CommerceError> {
        self.ask(|reply| Request::Cart { buyer, reply }).await
    }

    pub fn try_cart(
        &self,
        buyer: AccountId,
    ) -> Result<oneshot::Receiver<Vec<CartLine>>, CommerceError> {
        self.try_ask(|reply| Request::Cart { buyer, reply })
    }

    /// Adds to, changes or removes a cart line; units are reserved or freed
    /// at once. Answers the whole cart.
    pub async fn edit_cart(
        &self,
        buyer: AccountId,
        sku: Sku,
        edit: CartEdit,
    ) -> Result<Vec<CartLine>, CommerceError> {
        self.ask(|reply| Request::EditCart {
            buyer,
            sku,
            edit,
            reply,
        })
        .await?
    }

    #[allow(clippy::type_complexity)]
    pub fn try_edit_cart(
        &self,
        buyer: AccountId,
        sku: Sku,
        edit: CartEdit,
    ) -> Result<oneshot::Receiver<Result<Vec<CartLine>, CommerceError>>, CommerceError> {
        self.try_ask(|reply| Request::EditCart {
            buyer,
            sku,
            edit,
            reply,
        })
    }

    /// Makes an order of the cart or of one variant, and pays it. The same
    /// key with the same request answers the same order; with another
    /// request, `IdempotencyConflict`.
    pub async fn checkout(
        &self,
        buyer: AccountId,
        spec: CheckoutSpec,
        idempotency: (String, u64),
    ) -> Result<OrderRecord, CommerceError> {
        self.ask(|reply| Request::Checkout {
            buyer,
            spec,
            idempotency,
            reply,
        })
        .await?
    }

    #[allow(clippy::type_complexity)]
    pub fn try_checkout(
        &self,
        buyer: AccountId,
        spec: CheckoutSpec,
        idempotency: (String, u64),
    ) -> Result<oneshot::Receiver<Result<OrderRecord, CommerceError>>, CommerceError> {
        self.try_ask(|reply| Request::Checkout {
            buyer,
            spec,
            idempotency,
            reply,
        })
    }

    pub async fn create_coupon(
        &self,
        by: AccountId,
        coupon: Coupon,
    ) -> Result<CouponInfo, CommerceError> {
        self.ask(|reply| Request::CreateCoupon {
            by,
            coupon,
            bound_to: None,
            reply,
        })
        .await?
    }

    /// A coupon that `owner` alone may use (one bought with points): any
    /// other account's use is refused as `coupon_not_yours`.
    pub async fn create_bound_coupon(
        &self,
        owner: AccountId,
        coupon: Coupon,
    ) -> Result<CouponInfo, CommerceError> {
        self.ask(|reply| Request::CreateCoupon {
            by: owner,
            coupon,
            bound_to: Some(owner),
            reply,
        })
        .await?
    }

    pub async fn coupon(&self, code: CouponCode) -> Result<Option<CouponInfo>, CommerceError> {
        self.ask(|reply| Request::Coupon { code, reply }).await
    }

    /// Pins `code` in the show, or unpins with `None`; every room hears it.
    pub async fn pin_coupon(
        &self,
        code: Option<CouponCode>,
    ) -> Result<Option<CouponInfo>, CommerceError> {
        self.ask(|reply| Request::PinCoupon { code, reply }).await?
    }

    /// The pinned coupon, for rooms starting up.
    pub async fn pinned_coupon(&self) -> Result<Option<CouponInfo>, CommerceError> {
        self.ask(|reply| Request::Pinned { reply }).await
    }

    /// For the room loop, which must not wait: queues a claim and returns
    /// the receiver its answer will arrive on.
    pub fn try_claim(
        &self,
        buyer: AccountId,
        sale_id: SaleId,
        quantity: i64,
    ) -> Result<oneshot::Receiver<Result<Claimed, CommerceError>>, CommerceError> {
        self.try_ask(|reply| Request::Claim {
            buyer,
            sale_id,
            quantity,
            idempotency: None,
            reply,
        })
    }

    /// Tells the engine what the provider says of an order's payment after
    /// the engine stopped waiting (a late answer or a webhook): a charge or
    /// hold for a cancelled order is given back, never kept.
    pub async fn provider_news(
        &self,
        order_id: OrderId,
        authorization: String,
        state: ProviderState,
    ) -> Result<NewsOutcome, CommerceError> {
        self.ask(|reply| Request::ProviderNews {
            order_id,
            authorization,
            state,
            reply,
        })
        .await?
    }

    /// Pays a pending order through the gateway. A decline or a timeout
    /// cancels the order and releases its units.
    pub async fn pay(
        &self,
        buyer: AccountId,
        order_id: OrderId,
        method: String,
    ) -> Result<OrderRecord, CommerceError> {
        self.ask(|reply| Request::Pay {
            buyer,
            order_id,
            method,
            reply,
        })
        .await?
    }

    /// Inserts or updates the products (stock included) in one transaction.
    pub async fn import_catalog(
        &self,
        products: Vec<crate::catalog::Product>,
    ) -> Result<crate::store::ImportSummary, CommerceError> {
        self.ask(|reply| Request::ImportCatalog { products, reply })
            .await?
    }

    /// Takes a product off sale; `false` when there was no such product on sale.
    pub async fn archive(&self, product: ProductId) -> Result<bool, CommerceError> {
        self.ask(|reply| Request::Archive { product, reply })
            .await?
    }

    /// Creates (`mode` Create) or updates (Update) one product and the
    /// variants it lists, stock included.
    pub async fn upsert_product(
        &self,
        product: crate::catalog::Product,
        mode: crate::store::UpsertMode,
    ) -> Result<(), CommerceError> {
        self.ask(|reply| Request::UpsertProduct {
            product,
            mode,
            reply,
        })
        .await?
    }

    /// Staff: fulfil or deliver a paid order.
    pub async fn advance(
        &self,
        staff: bool,
        order_id: OrderId,
        step: OrderStep,
    ) -> Result<OrderRecord, CommerceError> {
        self.ask(|reply| Request::Advance {
            staff,
            order_id,
            step,
            reply,
        })
        .await?
    }

    /// A buyer returns a delivered order, or staff refunds a paid one; the
    /// money goes back through the gateway and the units back to stock.
    pub async fn refund(
        &self,
        by: AccountId,
        staff: bool,
        order_id: OrderId,
        reason: String,
    ) -> Result<OrderRecord, CommerceError> {
        self.ask(|reply| Request::Refund {
            by,
            staff,
            order_id,
            reason,
            reply,
        })
        .await?
    }

    /// Sales announced and not yet ended, for rooms starting up.
    pub async fn open_sales(&self) -> Result<Vec<FlashSale>, CommerceError> {
        self.ask(|reply| Request::OpenSales { reply }).await
    }

    pub async fn sale(&self, sale_id: SaleId) -> Result<Option<FlashSale>, CommerceError> {
        self.ask(|reply| Request::Sale { sale_id, reply }).await
    }

    /// Sets a group deal (hosts): team size, team price, window, stock cap.
    pub async fn create_group_deal(
        &self,
        by: AccountId,
        spec: GroupDealSpec,
    ) -> Result<GroupDeal, CommerceError> {
        self.ask(|reply| Request::CreateGroupDeal { by, spec, reply })
            .await?
    }

    /// A deal with its open teams, ended or not.
    pub async fn group_deal(&self, deal: DealId) -> Result<Option<GroupDeal>, CommerceError> {
        self.ask(|reply| Request::GroupDeal { deal, reply }).await
    }

    /// Deals whose window is open, for rooms starting up.
    pub async fn open_group_deals(&self) -> Result<Vec<GroupDeal>, CommerceError> {
        self.ask(|reply| Request::OpenGroupDeals { reply }).await
    }

    /// Starts or joins a team, paying the team price by an authorization
    /// that is captured when the team fills. Answers once the authorization
    /// is held (or refused: the member is then not added).
    pub async fn join_team(
        &self,
        buyer: AccountId,
        target: TeamTarget,
        method: PaymentMethod,
        idempotency: (String, u64),
    ) -> Result<Joined, CommerceError> {
        self.ask(|reply| Request::JoinTeam {
            buyer,
            target,
            method,
            idempotency,
            reply,
        })
        .await?
    }

    #[allow(clippy::type_complexity)]
    pub fn try_join_team(
        &self,
        buyer: AccountId,
        target: TeamTarget,
        method: PaymentMethod,
        idempotency: (String, u64),
    ) -> Result<oneshot::Receiver<Result<Joined, CommerceError>>, CommerceError> {
        self.try_ask(|reply| Request::JoinTeam {
            buyer,
            target,
            method,
            idempotency,
            reply,
        })
    }

    /// For the room loop, which must not wait: the open deals.
    pub fn try_open_group_deals(&self) -> Result<oneshot::Receiver<Vec<GroupDeal>>, CommerceError> {
        self.try_ask(|reply| Request::OpenGroupDeals { reply })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CommerceEvent> {
        self.events.subscribe()
    }

    /// The engagement engine tells which show is live now (at its start and
    /// on each change): a deal "until the show ends" may only be set while
    /// one is, and those of a show that ended close.
    pub async fn show_live(&self, show: Option<vitrine_shared::ShowId>) {
        if self
            .requests
            .send(Request::ShowLive { show })
            .await
            .is_err()
        {
            tracing::warn!("the commerce engine is gone; the show's news is lost");
        }
    }

    /// Stops the engine: it decides nothing more, and a later engine on the
    /// same store takes over (a restart, in tests). Work it had sent out
    /// (a payment under way) reports to nobody; the store's state machine
    /// is what the next engine resumes.
    pub async fn stop(&self) {
        let _ = self.ask(|reply| Request::Stop { reply }).await;
    }

    pub async fn orders(&self, buyer: AccountId) -> Result<Vec<OrderRecord>, CommerceError> {
        ledger::orders(&self.store, buyer, None)
            .await
            .map_err(|_| CommerceError::Storage)
    }

    /// The buyer's `n` newest orders, newest first.
    pub async fn recent_orders(
        &self,
        buyer: AccountId,
        n: u16,
    ) -> Result<Vec<OrderRecord>, CommerceError> {
        ledger::recent_orders(&self.store, buyer, n)
            .await
            .map_err(|_| CommerceError::Storage)
    }

    pub async fn order(
        &self,
        buyer: AccountId,
        order_id: OrderId,
    ) -> Result<Option<OrderRecord>, CommerceError> {
        let found = ledger::orders(&self.store, buyer, Some(order_id))
            .await
            .map_err(|_| CommerceError::Storage)?;
        Ok(found.into_iter().next())
    }
}
