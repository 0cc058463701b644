//! Paying an order: the gateway is asked on a task of its own, so that a
//! slow provider never holds up claims, and reports back to the engine,
//! which marks the order paid or cancels it and releases its units.

use super::checkout::Failure;
use super::engine::Engine;
use super::ledger::{self, OrderRecord};
use super::{
    CommerceError, CommerceEvent, NewsOutcome, PaymentError, PaymentGateway, ProviderState, Request,
};
use crate::store::{Store, StoreError};
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use vitrine_shared::OrderId;
use vitrine_shared::{AccountId, Currency, Money};

/// How long a payment task goes on listening for the provider's late
/// answer after the shop stopped waiting.
const LATE_ANSWER_CAP: Duration = Duration::from_secs(15 * 60);
/// How often giving money back is tried before an operator must.
const GIVE_BACK_ATTEMPTS: u32 = 8;

/// The payment reference of an order that cost nothing (a coupon took it
/// all): no gateway is asked, to pay or to refund.
pub(super) const NO_CHARGE: &str = "no-charge";

impl Engine {
    /// Marks `order_id` as talking to the gateway (one call at a time per
    /// order) and returns the inbox its task reports back to.
    pub(super) fn begin_gateway_call(
        &mut self,
        order_id: OrderId,
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
        order_id: OrderId,
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
        tokio::spawn(authorize_then_capture(
            gateway, timeout, inbox, order_id, total, method, reply,
        ));
    }

    /// What the provider says after the engine stopped waiting (a late
    /// answer, or a webhook): an order still waiting takes a capture as its
    /// payment; a cancelled order's hold is voided and its charge refunded,
    /// never kept.
    pub(super) async fn provider_news(
        &mut self,
        order_id: OrderId,
        authorization: String,
        state: ProviderState,
    ) -> Result<NewsOutcome, CommerceError> {
        if state == ProviderState::Voided {
            return Ok(NewsOutcome::Noted);
        }
        if self.orders.contains_key(&order_id) {
            self.authorizations.insert(order_id, authorization.clone());
            if state == ProviderState::Captured && !self.paying.contains(&order_id) {
                let paid = self.payment_done(order_id, Ok(authorization)).await;
                return paid.map(|_| NewsOutcome::Paid);
            }
            // Held for the retry (or a retry is asking under the same keys
            // now): voided should the order be cancelled instead.
            return Ok(NewsOutcome::Noted);
        }
        let standing = order_standing(&self.store, order_id).await.map_err(|e| {
            tracing::error!(%e, order_id = order_id.get(), "provider news not read against the order");
            CommerceError::Storage
        })?;
        match standing {
            None => Ok(NewsOutcome::UnknownOrder),
            Some((status, total)) if status == "cancelled" => {
                tracing::warn!(
                    order_id = order_id.get(),
                    ?state,
                    "the provider answered late for a cancelled order; giving the money back"
                );
                self.give_back(
                    order_id,
                    authorization,
                    total,
                    state == ProviderState::Captured,
                );
                Ok(NewsOutcome::GivenBack)
            }
            Some(_) => Ok(NewsOutcome::Noted),
        }
    }

    /// Voids (or, when captured, refunds) an order's authorization on a task
    /// of its own, under keys derived from the order so that every attempt,
    /// and every late answer that asks again, gives back once.
    pub(super) fn give_back(
        &self,
        order_id: OrderId,
        authorization: String,
        amount: Money,
        captured: bool,
    ) {
        let (gateway, timeout) = (self.gateway.clone(), self.settings.payment_timeout);
        tokio::spawn(give_back(
            gateway,
            timeout,
            [
                format!("void-{order_id}"),
                format!("refund-unpaid-{order_id}"),
            ],
            authorization,
            amount,
            captured,
        ));
    }

    /// Like [`Engine::give_back`], for an order whose authorization this
    /// process never heard of: the provider is asked for the hold the
    /// order's key made first (a look-up, which makes none).
    pub(super) fn give_back_unheard(&self, order_id: OrderId, amount: Money) {
        let (gateway, timeout) = (self.gateway.clone(), self.settings.payment_timeout);
        tokio::spawn(give_back_unheard(gateway, timeout, order_id, amount));
    }

    /// Records the gateway's answer: paid, or cancelled with the units back.
    pub(super) async fn payment_done(
        &mut self,
        order_id: OrderId,
        outcome: Result<String, PaymentError>,
    ) -> Result<OrderRecord, CommerceError> {
        self.paying.remove(&order_id);
        let Some(order) = self.orders.remove(&order_id) else {
            return Err(CommerceError::UnknownOrder);
        };
        let storage = |e: StoreError| {
            tracing::error!(%e, order_id = order_id.get(), "payment outcome not recorded");
            CommerceError::Storage
        };
        match outcome {
            Ok(authorization) => {
                if let Err(e) = ledger::mark_paid(&self.store, order_id, &authorization).await {
                    self.orders.insert(order_id, order);
                    return Err(storage(e));
                }
                self.authorizations.remove(&order_id);
                self.inherited.remove(&order_id);
                tracing::info!(order_id = order_id.get(), total = %order.total, "order paid");
                if order.origin == ledger::Origin::SharedCart {
                    self.settle_shared_order(order_id).await;
                }
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
            Err(PaymentError::Timeout | PaymentError::Unavailable(_))
                if order.origin == ledger::Origin::SharedCart =>
            {
                // No answer is not a decline: the provider may have taken
                // the money. The order stays pending with its lines (out of
                // the cart, so nobody buys them again), and the retry with
                // the same key asks the provider again under the order's
                // own keys, which charge once.
                tracing::warn!(
                    order_id = order_id.get(),
                    "shared-cart payment got no answer; the order waits for its retry"
                );
                self.orders.insert(order_id, order);
                Err(CommerceError::PaymentTimeout)
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
                tracing::info!(order_id = order_id.get(), %failure, "payment failed; order cancelled and units released");
                Err(error)
            }
        }
    }
}

/// Authorizes, then captures, within one timeout, under keys derived from
/// the order (a retry charges once). The answer goes to the engine at the
/// timeout at the latest; a call still out then is listened to, and what
/// it comes to is reported as provider news, so that a cancelled order
/// gets its hold voided or its charge refunded.
async fn authorize_then_capture(
    gateway: Arc<dyn PaymentGateway>,
    timeout: Duration,
    inbox: mpsc::Sender<Request>,
    order_id: OrderId,
    total: Money,
    method: String,
    reply: oneshot::Sender<Result<OrderRecord, CommerceError>>,
) {
    let (auth_key, capture_key) = (
        format!("authorize-{order_id}"),
        format!("capture-{order_id}"),
    );
    let deadline = tokio::time::Instant::now() + timeout;
    // Weak once answered: a task listening for a late answer does not keep
    // a stopping engine alive.
    let report = |outcome, held| async move {
        let later = inbox.downgrade();
        let _ = inbox
            .send(Request::PaymentDone {
                order_id,
                outcome,
                held,
                reply,
            })
            .await;
        later
    };
    let mut authorize = gateway.authorize(&auth_key, total, &method);
    let authorization = match tokio::time::timeout_at(deadline, &mut authorize).await {
        Ok(Ok(authorization)) => authorization,
        Ok(Err(e)) => {
            report(Err(e), None).await;
            return;
        }
        Err(_) => {
            let inbox = report(Err(PaymentError::Timeout), None).await;
            if let Ok(Ok(authorization)) = tokio::time::timeout(LATE_ANSWER_CAP, authorize).await {
                late_news(inbox, order_id, authorization, ProviderState::Authorized).await;
            }
            return;
        }
    };
    let mut capture = gateway.capture(&capture_key, &authorization);
    match tokio::time::timeout_at(deadline, &mut capture).await {
        Ok(done) => {
            let outcome = done.map(|()| authorization.clone());
            report(outcome, Some(authorization.clone())).await;
        }
        Err(_) => {
            let inbox = report(Err(PaymentError::Timeout), Some(authorization.clone())).await;
            // Refused (voided first) or still silent: the void sent at the
            // timeout stands. Taken after all: the order's fate decides.
            if let Ok(Ok(())) = tokio::time::timeout(LATE_ANSWER_CAP, capture).await {
                late_news(inbox, order_id, authorization, ProviderState::Captured).await;
            }
        }
    }
}

async fn late_news(
    inbox: mpsc::WeakSender<Request>,
    order_id: OrderId,
    authorization: String,
    state: ProviderState,
) {
    let Some(inbox) = inbox.upgrade() else {
        return;
    };
    tracing::info!(
        order_id = order_id.get(),
        ?state,
        "the payment provider answered late"
    );
    let (reply, _) = oneshot::channel();
    let _ = inbox
        .send(Request::ProviderNews {
            order_id,
            authorization,
            state,
            reply,
        })
        .await;
}

/// One provider call under its own timeout: silence reads as a timeout.
async fn within<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, PaymentError>>,
) -> Result<T, PaymentError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(PaymentError::Timeout))
}

/// The key of a give-back's `tries`th attempt after `failed` failures: the
/// base first, then the attempt number appended, as [`give_back`] numbers
/// them. A key keeps its first answer (Stripe saves even a 500 for a day),
/// so a void or refund tried again after a failure needs a fresh one; a
/// capture never does (its key is what charges once).
pub(super) fn give_back_key(base: &str, failed: u32) -> String {
    if failed == 0 {
        base.to_owned()
    } else {
        format!("{base}-{}", failed + 1)
    }
}

/// Voids `authorization` (refunds it when captured, or when the void finds
/// it captured after all), trying again with a growing wait until the
/// provider confirms. A key keeps its first answer (Stripe saves even a 500
/// for a day), so after an unknown outcome the next attempt asks under a
/// new key (the attempt number appended): giving back twice is harmless, as
/// a second void or full refund is answered as done already.
pub(super) async fn give_back(
    gateway: Arc<dyn PaymentGateway>,
    timeout: Duration,
    [void_base, refund_base]: [String; 2],
    authorization: String,
    amount: Money,
    captured: bool,
) {
    let mut wait = Duration::from_millis(200);
    let (mut void_key, mut refund_key) = (void_base.clone(), refund_base.clone());
    let unknown = |e: &Result<(), PaymentError>| {
        matches!(e, Err(PaymentError::Timeout | PaymentError::Unavailable(_)))
    };
    for attempt in 1..=GIVE_BACK_ATTEMPTS {
        let voided = if captured {
            None
        } else {
            let voided = within(timeout, gateway.void(&void_key, &authorization)).await;
            if unknown(&voided) {
                void_key = give_back_key(&void_base, attempt);
            }
            match voided {
                // Captured at the provider after all: the money goes back.
                Err(PaymentError::Declined { .. }) => None,
                other => Some(other),
            }
        };
        let outcome = match voided {
            Some(outcome) => outcome,
            None => {
                let refunded =
                    within(timeout, gateway.refund(&refund_key, &authorization, amount)).await;
                if unknown(&refunded) {
                    refund_key = give_back_key(&refund_base, attempt);
                }
                refunded
            }
        };
        match outcome {
            Ok(()) => {
                tracing::info!(%authorization, captured, "money for an unpaid order given back");
                return;
            }
            Err(e) => {
                tracing::warn!(%authorization, %e, attempt, "money for an unpaid order not given back yet");
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(60));
    }
    tracing::error!(%authorization, "money for an unpaid order still not given back; settle it at the provider");
}

/// Finds the authorization `authorize-<order>` made, if the provider has
/// one, and gives it back (voided, or refunded when it was captured); the
/// look-up is tried again like a give-back while the provider is silent.
async fn give_back_unheard(
    gateway: Arc<dyn PaymentGateway>,
    timeout: Duration,
    order_id: OrderId,
    amount: Money,
) {
    let key = format!("authorize-{order_id}");
    let mut wait = Duration::from_millis(200);
    for attempt in 1..=GIVE_BACK_ATTEMPTS {
        match within(timeout, gateway.authorize(&key, amount, "")).await {
            Ok(authorization) => {
                tracing::warn!(
                    order_id = order_id.get(),
                    %authorization,
                    "an order cancelled after a restart had money at the provider; giving it back"
                );
                let keys = [
                    format!("void-{order_id}"),
                    format!("refund-unpaid-{order_id}"),
                ];
                give_back(gateway, timeout, keys, authorization, amount, false).await;
                return;
            }
            // Never authorized: nothing to give back.
            Err(PaymentError::Declined { .. }) => return,
            Err(e) => {
                tracing::warn!(order_id = order_id.get(), %e, attempt, "the provider not asked about a cancelled order yet");
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(60));
    }
    tracing::error!(
        order_id = order_id.get(),
        "the provider never said whether it holds money for a cancelled order; settle it there"
    );
}

/// An order's status and total, whoever's it is.
async fn order_standing(
    store: &Store,
    order_id: OrderId,
) -> Result<Option<(String, Money)>, StoreError> {
    let row = sqlx::query("SELECT status, total_minor, currency FROM orders WHERE id = $1")
        .bind(order_id.get())
        .fetch_optional(store.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let currency = Currency::new(&row.try_get::<String, _>(2)?)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Some((
        row.try_get(0)?,
        Money::new(row.try_get(1)?, currency),
    )))
}

/// A group member's authorization that the engine stopped waiting for:
/// listened to until it answers, and a hold it made is voided under the
/// member's void key (refunded should it somehow be captured).
pub(super) async fn void_late_hold(
    gateway: Arc<dyn PaymentGateway>,
    timeout: Duration,
    order_id: OrderId,
    amount: Money,
    call: super::BoxFuture<'_, Result<String, PaymentError>>,
) {
    if let Ok(Ok(authorization)) = tokio::time::timeout(LATE_ANSWER_CAP, call).await {
        tracing::warn!(
            order_id = order_id.get(),
            "a team member's hold came after the engine let them go; voiding it"
        );
        give_back(
            gateway.clone(),
            timeout,
            [
                format!("group-void-{order_id}"),
                format!("group-refund-{order_id}"),
            ],
            authorization,
            amount,
            false,
        )
        .await;
    }
}
