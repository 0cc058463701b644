//! Refunds: a buyer returns a delivered order, or staff refunds a paid one,
//! with a reason. The money goes back through the gateway on a task of its
//! own; when it has, the order is marked refunded and its units go back to
//! stock.

use super::engine::Engine;
use super::ledger::{self, OrderRecord};
use super::payments::NO_CHARGE;
use super::{CommerceError, CommerceEvent, PaymentError, Request};
use crate::store::StoreError;
use tokio::sync::oneshot;
use vitrine_shared::AccountId;
use vitrine_shared::OrderId;

impl Engine {
    pub(super) async fn refund(
        &mut self,
        by: AccountId,
        staff: bool,
        order_id: OrderId,
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

    pub(super) async fn refund_done(
        &mut self,
        order: OrderRecord,
        reason: String,
        outcome: Result<(), PaymentError>,
    ) -> Result<OrderRecord, CommerceError> {
        self.paying.remove(&order.id);
        if let Err(e) = outcome {
            tracing::warn!(order_id = order.id.get(), %e, "refund failed");
            return Err(CommerceError::RefundFailed);
        }
        let storage = |e: StoreError| {
            tracing::error!(%e, order_id = order.id.get(), "refund not recorded");
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
        tracing::info!(order_id = order.id.get(), total = %order.total, "order refunded; units back in stock");
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
}
