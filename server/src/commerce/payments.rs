//! Paying an order: the gateway is asked on a task of its own, so that a
//! slow provider never holds up claims, and reports back to the engine,
//! which marks the order paid or cancels it and releases its units.

use super::checkout::Failure;
use super::engine::Engine;
use super::ledger::{self, OrderRecord};
use super::{CommerceError, CommerceEvent, PaymentError, Request};
use crate::store::StoreError;
use tokio::sync::{mpsc, oneshot};
use vitrine_shared::AccountId;
use vitrine_shared::OrderId;

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
