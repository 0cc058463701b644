//! A provider that answers after the shop stopped waiting: whatever it did
//! for a cancelled order is given back (the hold voided, the charge
//! refunded), and a retry charges nothing more. The test gateway does the
//! late work on its own task, as a real provider goes on after a timeout.

use super::shopping_tests::{SERUM, buy_now, engine, key, seeded, stock};
use super::*;
use crate::store::tests::stores;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_millis(200);
/// Well past the timeout: the answer comes after the order's fate is decided.
const LATE: Duration = Duration::from_millis(600);

/// Waits (capped) until the provider has done a `call` and nothing stays
/// held or charged under `authorize_key`.
pub(super) async fn nothing_kept(gateway: &TestGateway, call: Call, authorize_key: &str) {
    let settled = tokio::time::timeout(Duration::from_secs(10), async {
        while gateway.done(call) == 0 || gateway.standing(authorize_key) != Standing::Clear {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        settled.is_ok(),
        "money kept at the provider for a cancelled order: {:?}",
        gateway.standing(authorize_key)
    );
}

fn quick() -> EngineSettings {
    EngineSettings {
        payment_timeout: TIMEOUT,
        ..EngineSettings::default()
    }
}

#[tokio::test]
async fn a_capture_answered_late_for_a_cancelled_checkout_finds_the_hold_voided_and_a_retry_charges_nothing()
 {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, gateway) = engine(&store, quick()).await;
        gateway.answer_late(Call::Capture, LATE);
        let start = stock(&store, SERUM).await;
        let spec = || buy_now(SERUM, 1, cards::APPROVED);
        let answer = shop.checkout(AccountId(1), spec(), key("late", 1)).await;
        assert_eq!(answer, Err(CommerceError::PaymentTimeout));
        let order = shop.orders(AccountId(1)).await.unwrap().remove(0);
        assert_eq!(order.status, "cancelled");
        assert_eq!(stock(&store, SERUM).await, start, "the unit is back");
        let authorize_key = format!("authorize-{}", order.id);
        nothing_kept(&gateway, Call::Capture, &authorize_key).await;
        // The retry answers how the order ended and asks for nothing new.
        gateway.answer_on_time(Call::Capture);
        let again = shop.checkout(AccountId(1), spec(), key("late", 1)).await;
        assert_eq!(again, Err(CommerceError::PaymentTimeout));
        assert_eq!(gateway.standing(&authorize_key), Standing::Clear);
        assert_eq!(gateway.authorized(), 1);
        assert_eq!(shop.orders(AccountId(1)).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_hold_made_late_for_a_cancelled_checkout_is_voided() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, gateway) = engine(&store, quick()).await;
        gateway.answer_late(Call::Authorize, LATE);
        let spec = || buy_now(SERUM, 1, cards::APPROVED);
        let answer = shop.checkout(AccountId(1), spec(), key("slow", 1)).await;
        assert_eq!(answer, Err(CommerceError::PaymentTimeout));
        let order = shop.orders(AccountId(1)).await.unwrap().remove(0);
        assert_eq!(order.status, "cancelled");
        let authorize_key = format!("authorize-{}", order.id);
        nothing_kept(&gateway, Call::Authorize, &authorize_key).await;
        assert_eq!((gateway.authorized(), gateway.voided()), (1, 1));
        assert_eq!(gateway.captured(), 0);
        let again = shop.checkout(AccountId(1), spec(), key("slow", 1)).await;
        assert_eq!(again, Err(CommerceError::PaymentTimeout));
        assert_eq!((gateway.authorized(), gateway.captured()), (1, 0));
    }
}

#[tokio::test]
async fn a_capture_done_late_for_a_cancelled_checkout_whose_void_is_later_still_is_refunded() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, gateway) = engine(&store, quick()).await;
        // The capture is done after the timeout, and the void sent at the
        // timeout later still: it finds the charge, so only a refund helps.
        gateway.answer_late(Call::Capture, Duration::from_millis(300));
        gateway.answer_late(Call::Void, Duration::from_millis(900));
        let spec = buy_now(SERUM, 1, cards::APPROVED);
        let answer = shop.checkout(AccountId(1), spec, key("later", 1)).await;
        assert_eq!(answer, Err(CommerceError::PaymentTimeout));
        let order = shop.orders(AccountId(1)).await.unwrap().remove(0);
        assert_eq!(order.status, "cancelled");
        let authorize_key = format!("authorize-{}", order.id);
        nothing_kept(&gateway, Call::Refund, &authorize_key).await;
        assert_eq!(gateway.standing(&authorize_key), Standing::Clear);
        assert!(gateway.done(Call::Refund) >= 1);
        assert_eq!(gateway.captured(), 1, "the late capture was done");
    }
}
