//! Fair limits in the engine (`crate::fair`): guests created from one
//! network share one per-buyer count for flash-sale claims and coupon uses,
//! a registered account counts alone, the counts are rebuilt the same way
//! after a restart, and a coupon bought with points is its buyer's alone.
//! On every backend the tests have.

use super::shopping_tests::{card, key, seeded, sku};
use super::*;
use crate::clock::ManualClock;
use crate::store::Store;
use crate::store::tests::stores;
use std::sync::Arc;
use std::time::Duration;
use vitrine_shared::{DisplayName, Role};

const MUG: &str = "stoneware-mug-sage";
const HOME: &str = "198.51.100.7";
const OFFICE: &str = "203.0.113.9";
const CAFE: &str = "2001:db8:1:2::/64";

async fn guest(store: &Store, name: &str, network: &str) -> AccountId {
    store
        .create_guest_from(&DisplayName::new(name).unwrap(), None, network, 30)
        .await
        .unwrap()
        .expect("under the day's limit")
        .id
}

async fn registered(store: &Store, username: &str) -> AccountId {
    let name = DisplayName::new(username).unwrap();
    store
        .create_user(username, &name, Role::Shopper, "not-a-real-hash")
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn spawn_on(store: &Store) -> CommerceHandle {
    spawn(
        store.clone(),
        store.clock().clone(),
        Arc::new(TestGateway::default()),
        EngineSettings::default(),
    )
    .await
    .unwrap()
}

/// A sale of `quantity` mugs, `limit` per buyer, with its countdown run out.
async fn live_sale(shop: &CommerceHandle, time: &ManualClock, limit: i64) -> SaleId {
    let countdown_secs = *COUNTDOWN_SECS.start();
    let sale = shop
        .start_sale(
            AccountId(1),
            FlashSaleSpec {
                sku: sku(MUG),
                price: Money::new(500, vitrine_shared::Currency::EUR),
                quantity: 20,
                per_buyer_limit: limit,
                countdown_secs,
                duration_secs: *DURATION_SECS.start(),
            },
        )
        .await
        .unwrap();
    time.advance(Duration::from_secs(countdown_secs));
    assert_eq!(
        shop.sale(sale.id).await.unwrap().unwrap().state,
        SaleState::Live
    );
    sale.id
}

fn refused_at_limit(result: Result<Claimed, CommerceError>) -> bool {
    matches!(
        result,
        Err(CommerceError::LimitReached {
            limit: 1,
            remaining: 0
        })
    )
}

#[tokio::test]
async fn guests_of_one_network_share_a_flash_sale_limit_also_after_a_restart() {
    for (store, _dir) in stores().await {
        let time = ManualClock::starting_now();
        let store = store.with_clock(time.clock());
        seeded(&store).await;
        let (ana, ben) = (
            guest(&store, "Ana", HOME).await,
            guest(&store, "Ben", HOME).await,
        );
        let cy = guest(&store, "Cy", OFFICE).await;
        let (reg, reg2) = (
            registered(&store, "reg.one").await,
            registered(&store, "reg.two").await,
        );
        let shop = spawn_on(&store).await;
        let sale = live_sale(&shop, &time, 1).await;

        shop.claim(ana, sale, 1, None).await.unwrap();
        // Ben is another guest from Ana's network: one count between them.
        assert!(refused_at_limit(shop.claim(ben, sale, 1, None).await));
        // Another network has its own; registered accounts count alone.
        shop.claim(cy, sale, 1, None).await.unwrap();
        shop.claim(reg, sale, 1, None).await.unwrap();
        shop.claim(reg2, sale, 1, None).await.unwrap();
        assert!(refused_at_limit(shop.claim(reg, sale, 1, None).await));
        let sold = shop.sale(sale).await.unwrap().unwrap().sold;
        assert_eq!(sold, 4, "the refusals sold nothing");

        // A restart rebuilds the counts from the database the same way.
        let again = spawn_on(&store).await;
        assert!(refused_at_limit(again.claim(ben, sale, 1, None).await));
        let dee = guest(&store, "Dee", HOME).await;
        assert!(refused_at_limit(again.claim(dee, sale, 1, None).await));
        assert!(refused_at_limit(again.claim(cy, sale, 1, None).await));
        again
            .claim(guest(&store, "Eve", CAFE).await, sale, 1, None)
            .await
            .unwrap();
        assert_eq!(again.sale(sale).await.unwrap().unwrap().sold, 5);
    }
}

fn coupon(code: &str, now: i64) -> Coupon {
    Coupon {
        code: CouponCode::new(code).unwrap(),
        discount: Discount::Percent(10),
        currency: vitrine_shared::Currency::EUR,
        min_order_minor: 0,
        max_redemptions: None,
        per_buyer_limit: 1,
        starts_at_ms: now - 1_000,
        ends_at_ms: now + 3_600_000,
    }
}

fn with_coupon(code: &str) -> CheckoutSpec {
    CheckoutSpec {
        purchase: Purchase::BuyNow {
            sku: sku(MUG),
            quantity: 1,
        },
        coupon: Some(CouponCode::new(code).unwrap()),
        method: card(cards::APPROVED),
    }
}

#[tokio::test]
async fn guests_of_one_network_share_a_coupons_per_buyer_limit_also_after_a_restart() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (ana, ben) = (
            guest(&store, "Ana", HOME).await,
            guest(&store, "Ben", HOME).await,
        );
        let cy = guest(&store, "Cy", OFFICE).await;
        let reg = registered(&store, "reg.one").await;
        let shop = spawn_on(&store).await;
        shop.create_coupon(AccountId(1), coupon("ONCE", store.clock().now_ms()))
            .await
            .unwrap();

        shop.checkout(ana, with_coupon("ONCE"), key("a", 1))
            .await
            .unwrap();
        assert_eq!(
            shop.checkout(ben, with_coupon("ONCE"), key("b", 2)).await,
            Err(CommerceError::CouponLimitReached)
        );
        shop.checkout(cy, with_coupon("ONCE"), key("c", 3))
            .await
            .unwrap();
        shop.checkout(reg, with_coupon("ONCE"), key("r", 4))
            .await
            .unwrap();
        let redeemed = |shop: CommerceHandle| async move {
            let code = CouponCode::new("ONCE").unwrap();
            shop.coupon(code).await.unwrap().unwrap().redeemed
        };
        assert_eq!(redeemed(shop.clone()).await, 3);

        let again = spawn_on(&store).await;
        assert_eq!(
            again.checkout(ben, with_coupon("ONCE"), key("b2", 5)).await,
            Err(CommerceError::CouponLimitReached)
        );
        let eve = guest(&store, "Eve", CAFE).await;
        again
            .checkout(eve, with_coupon("ONCE"), key("e", 6))
            .await
            .unwrap();
        assert_eq!(redeemed(again).await, 4);
    }
}

#[tokio::test]
async fn a_coupon_bought_with_points_is_its_buyers_alone() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (ada, bob) = (AccountId(1), AccountId(2));
        let shop = spawn_on(&store).await;
        shop.create_bound_coupon(ada, coupon("R-MINE", store.clock().now_ms()))
            .await
            .unwrap();
        let stock = super::shopping_tests::stock(&store, MUG).await;
        assert_eq!(
            shop.checkout(bob, with_coupon("R-MINE"), key("b", 1)).await,
            Err(CommerceError::CouponNotYours)
        );
        let code = CouponCode::new("R-MINE").unwrap();
        assert_eq!(
            shop.coupon(code.clone()).await.unwrap().unwrap().redeemed,
            0
        );
        assert_eq!(super::shopping_tests::stock(&store, MUG).await, stock);
        // Still after a restart, and its owner may use it.
        let again = spawn_on(&store).await;
        assert_eq!(
            again
                .checkout(bob, with_coupon("R-MINE"), key("b2", 2))
                .await,
            Err(CommerceError::CouponNotYours)
        );
        let order = again
            .checkout(ada, with_coupon("R-MINE"), key("a", 3))
            .await
            .unwrap();
        assert!(order.discount.minor > 0);
    }
}
