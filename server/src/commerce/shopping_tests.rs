//! Carts, checkout and coupons against the engine, on every backend the
//! tests have (SQLite, and PostgreSQL when `VITRINE_TEST_POSTGRES` is set).

use super::*;
use crate::clock::ManualClock;
use crate::store::Store;
use crate::store::tests::stores;
use std::sync::Arc;
use std::time::Duration;
use vitrine_shared::Currency;

pub(super) const MUG: &str = "stoneware-mug-sage";
pub(super) const SERUM: &str = "glow-serum-30ml";

pub(super) fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

pub(super) fn card(number: &str) -> PaymentMethod {
    PaymentMethod::new(number).unwrap()
}

pub(super) fn buy_now(s: &str, quantity: i64, number: &str) -> CheckoutSpec {
    CheckoutSpec {
        purchase: Purchase::BuyNow {
            sku: sku(s),
            quantity,
        },
        coupon: None,
        method: card(number),
    }
}

fn whole_cart(number: &str) -> CheckoutSpec {
    CheckoutSpec {
        purchase: Purchase::Cart,
        coupon: None,
        method: card(number),
    }
}

pub(super) fn key(k: &str, hash: u64) -> (String, u64) {
    (k.to_owned(), hash)
}

pub(super) async fn seeded(store: &Store) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/catalog.toml");
    store
        .import_catalog(&crate::catalog::load_catalog_file(&path).unwrap())
        .await
        .unwrap();
}

/// An engine on `store`, reading the same clock the store stamps rows by.
pub(super) async fn engine(
    store: &Store,
    settings: EngineSettings,
) -> (CommerceHandle, Arc<TestGateway>) {
    let gateway = Arc::new(TestGateway::default());
    let handle = spawn(
        store.clone(),
        store.clock().clone(),
        gateway.clone(),
        settings,
    )
    .await
    .unwrap();
    (handle, gateway)
}

pub(super) async fn scalar(store: &Store, sql: &str, sku: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .bind(sku)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

pub(super) async fn stock(store: &Store, s: &str) -> i64 {
    scalar(store, "SELECT stock FROM variants WHERE sku = $1", s).await
}

/// Units of `s` in carts (shoppers' and groups' shared ones, less shared
/// lines in an order), and in orders that hold them (not cancelled or
/// refunded). With the stock, they always add up to what there was.
pub(super) async fn held(store: &Store, s: &str) -> (i64, i64) {
    let carts = scalar(
        store,
        "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM cart_lines WHERE sku = $1",
        s,
    )
    .await
        + scalar(
            store,
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM shared_cart_lines \
             WHERE sku = $1 AND order_id IS NULL",
            s,
        )
        .await;
    let orders = scalar(
        store,
        "SELECT CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) FROM order_lines l \
         JOIN orders o ON o.id = l.order_id \
         WHERE l.sku = $1 AND o.status NOT IN ('cancelled', 'refunded')",
        s,
    )
    .await;
    (carts, orders)
}

pub(super) async fn total_units(store: &Store, s: &str) -> i64 {
    let (carts, orders) = held(store, s).await;
    stock(store, s).await + carts + orders
}

#[tokio::test]
async fn a_cart_reserves_units_frees_them_and_refuses_bad_quantities() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, _) = engine(&store, EngineSettings::default()).await;
        let (ada, bob) = (AccountId(1), AccountId(2));
        let start = stock(&store, MUG).await;

        let cart = shop
            .edit_cart(ada, sku(MUG), CartEdit::Add(3))
            .await
            .unwrap();
        assert_eq!(cart.len(), 1);
        assert_eq!(cart[0].quantity, 3);
        assert!(
            cart[0].held_until_ms > store.clock().now_ms() + 590_000,
            "held for 10 minutes"
        );
        assert_eq!(stock(&store, MUG).await, start - 3, "reserved at once");
        shop.edit_cart(ada, sku(MUG), CartEdit::Add(2))
            .await
            .unwrap();
        shop.edit_cart(ada, sku(MUG), CartEdit::Set(1))
            .await
            .unwrap();
        assert_eq!(stock(&store, MUG).await, start - 1);
        assert!(
            shop.cart(bob).await.unwrap().is_empty(),
            "carts are per shopper"
        );

        // Nothing below changes a thing.
        let before = shop.cart(ada).await.unwrap();
        for edit in [
            CartEdit::Add(0),
            CartEdit::Add(-1),
            CartEdit::Add(101),
            CartEdit::Add(i64::MAX),
            CartEdit::Add(100), // the line would hold 101
            CartEdit::Set(-1),
            CartEdit::Set(101),
            CartEdit::Set(i64::MIN),
        ] {
            assert_eq!(
                shop.edit_cart(ada, sku(MUG), edit).await,
                Err(CommerceError::BadQuantity),
                "{edit:?}"
            );
        }
        assert_eq!(
            shop.edit_cart(ada, sku("no-such-thing"), CartEdit::Add(1))
                .await,
            Err(CommerceError::UnknownSku)
        );
        let left = stock(&store, MUG).await;
        assert_eq!(
            shop.edit_cart(bob, sku(MUG), CartEdit::Set(left + 1)).await,
            Err(if left + 1 > MAX_CLAIM_QUANTITY {
                CommerceError::BadQuantity
            } else {
                CommerceError::NotEnoughStock { available: left }
            })
        );
        assert_eq!(shop.cart(ada).await.unwrap(), before);
        assert_eq!(stock(&store, MUG).await, start - 1);

        // Removing frees the units.
        assert!(
            shop.edit_cart(ada, sku(MUG), CartEdit::Set(0))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(stock(&store, MUG).await, start);
        assert_eq!(held(&store, MUG).await, (0, 0));
    }
}

#[tokio::test]
async fn more_than_the_stock_cannot_go_in_carts() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        sqlx::query("UPDATE variants SET stock = 5 WHERE sku = $1")
            .bind(MUG)
            .execute(store.pool())
            .await
            .unwrap();
        let (shop, _) = engine(&store, EngineSettings::default()).await;
        shop.edit_cart(AccountId(1), sku(MUG), CartEdit::Add(3))
            .await
            .unwrap();
        assert_eq!(
            shop.edit_cart(AccountId(2), sku(MUG), CartEdit::Add(3))
                .await,
            Err(CommerceError::NotEnoughStock { available: 2 })
        );
        assert_eq!(
            shop.edit_cart(AccountId(1), sku(MUG), CartEdit::Set(6))
                .await,
            Err(CommerceError::NotEnoughStock { available: 5 }),
            "the line's own 3 count as available to it"
        );
        shop.edit_cart(AccountId(1), sku(MUG), CartEdit::Set(5))
            .await
            .unwrap();
        assert_eq!(stock(&store, MUG).await, 0);
        assert_eq!(total_units(&store, MUG).await, 5);
    }
}

#[tokio::test]
async fn a_cart_hold_runs_out_and_the_units_go_back() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let settings = EngineSettings {
            cart_hold: Duration::from_millis(300),
            ..EngineSettings::default()
        };
        let (shop, _) = engine(&store, settings).await;
        let start = stock(&store, SERUM).await;
        let mut events = shop.subscribe();
        shop.edit_cart(AccountId(9), sku(SERUM), CartEdit::Add(2))
            .await
            .unwrap();
        assert_eq!(stock(&store, SERUM).await, start - 2);
        let expired = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Ok(CommerceEvent::CartChanged {
                    buyer,
                    lines,
                    change: CartChange::Expired,
                }) = events.recv().await
                {
                    return (buyer, lines);
                }
            }
        })
        .await
        .expect("the hold ran out");
        assert_eq!(expired, (AccountId(9), vec![]));
        assert_eq!(stock(&store, SERUM).await, start);
        assert_eq!(held(&store, SERUM).await, (0, 0));
        assert!(shop.cart(AccountId(9)).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn checking_out_the_cart_pays_it_and_empties_it() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, gateway) = engine(&store, EngineSettings::default()).await;
        let ada = AccountId(1);
        let (mug0, serum0) = (
            total_units(&store, MUG).await,
            total_units(&store, SERUM).await,
        );
        let mut events = shop.subscribe();
        shop.edit_cart(ada, sku(MUG), CartEdit::Add(2))
            .await
            .unwrap();
        shop.edit_cart(ada, sku(SERUM), CartEdit::Add(1))
            .await
            .unwrap();
        let lines = shop.cart(ada).await.unwrap();
        let expected: i64 = lines.iter().map(|l| l.unit_price.minor * l.quantity).sum();

        let order = shop
            .checkout(ada, whole_cart(cards::APPROVED), key("k1", 1))
            .await
            .unwrap();
        assert_eq!(order.status, "paid");
        assert_eq!(order.source, "cart");
        assert_eq!(order.total.minor, expected, "priced by the server");
        assert_eq!(order.lines.len(), 2);
        assert!(shop.cart(ada).await.unwrap().is_empty());
        assert_eq!(held(&store, MUG).await, (0, 2));
        assert_eq!(total_units(&store, MUG).await, mug0);
        assert_eq!(total_units(&store, SERUM).await, serum0);
        assert_eq!(gateway.captured(), 1);

        // The buyer's clients heard: cart checked out, order made, order paid.
        let mut heard = Vec::new();
        while let Ok(event) = events.try_recv() {
            match event {
                CommerceEvent::CartChanged { change, .. } => heard.push(format!("{change:?}")),
                CommerceEvent::OrderChanged { buyer, order } => {
                    assert_eq!(buyer, ada);
                    heard.push(order.status);
                }
                _ => {}
            }
        }
        assert_eq!(
            heard,
            ["Updated", "Updated", "CheckedOut", "pending", "paid"]
        );

        assert_eq!(
            shop.checkout(ada, whole_cart(cards::APPROVED), key("k2", 2))
                .await,
            Err(CommerceError::EmptyCart)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_checkout_ten_times_is_one_order_and_one_charge() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, gateway) = engine(&store, EngineSettings::default()).await;
        let ada = AccountId(1);
        let start = stock(&store, MUG).await;
        // All ten at once: the repeats wait for the first one's payment.
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let shop = shop.clone();
                tokio::spawn(async move {
                    shop.checkout(ada, buy_now(MUG, 2, cards::APPROVED), key("tap", 42))
                        .await
                })
            })
            .collect();
        let mut ids = Vec::new();
        for t in tasks {
            let order = t.await.unwrap().unwrap();
            assert_eq!(order.status, "paid");
            ids.push(order.id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "one order");
        assert_eq!(gateway.authorized(), 1, "one charge");
        assert_eq!(stock(&store, MUG).await, start - 2);
        // And again later, one by one.
        for _ in 0..10 {
            let again = shop
                .checkout(ada, buy_now(MUG, 2, cards::APPROVED), key("tap", 42))
                .await
                .unwrap();
            assert_eq!(again.id, ids[0]);
        }
        assert_eq!(
            shop.checkout(ada, buy_now(MUG, 3, cards::APPROVED), key("tap", 43))
                .await,
            Err(CommerceError::IdempotencyConflict),
            "the same key with another request"
        );
        // Another shopper's key of the same name is theirs.
        let bob = shop
            .checkout(
                AccountId(2),
                buy_now(MUG, 1, cards::APPROVED),
                key("tap", 42),
            )
            .await
            .unwrap();
        assert_ne!(bob.id, ids[0]);
        assert_eq!(stock(&store, MUG).await, start - 3);
        assert_eq!(gateway.authorized(), 2);
    }
}

#[tokio::test]
async fn a_declined_card_releases_the_units() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, gateway) = engine(&store, EngineSettings::default()).await;
        let ada = AccountId(1);
        let start = stock(&store, MUG).await;

        // Buy now: back to stock.
        let declined = shop
            .checkout(ada, buy_now(MUG, 2, cards::DECLINED), key("a", 1))
            .await;
        assert!(
            matches!(declined, Err(CommerceError::PaymentDeclined { .. })),
            "{declined:?}"
        );
        assert_eq!(stock(&store, MUG).await, start);
        let orders = shop.orders(ada).await.unwrap();
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].status, "cancelled");
        assert!(
            orders[0]
                .failure
                .as_deref()
                .unwrap()
                .starts_with("declined: ")
        );
        // A retry learns the same answer and buys nothing.
        assert_eq!(
            shop.checkout(ada, buy_now(MUG, 2, cards::DECLINED), key("a", 1))
                .await,
            declined
        );
        assert_eq!(shop.orders(ada).await.unwrap().len(), 1);

        // The cart: its units go back into the cart, for another card.
        shop.edit_cart(ada, sku(MUG), CartEdit::Add(3))
            .await
            .unwrap();
        let declined = shop
            .checkout(ada, whole_cart(cards::INSUFFICIENT_FUNDS), key("b", 2))
            .await;
        assert!(matches!(
            declined,
            Err(CommerceError::PaymentDeclined { .. })
        ));
        let cart = shop.cart(ada).await.unwrap();
        assert_eq!(cart.len(), 1);
        assert_eq!(cart[0].quantity, 3);
        assert_eq!(held(&store, MUG).await, (3, 0));
        assert_eq!(stock(&store, MUG).await, start - 3);
        let paid = shop
            .checkout(ada, whole_cart(cards::APPROVED), key("c", 3))
            .await
            .unwrap();
        assert_eq!(paid.status, "paid");
        assert_eq!(held(&store, MUG).await, (0, 3));
        assert_eq!(total_units(&store, MUG).await, start);
        assert_eq!(gateway.captured(), 1);
    }
}

#[tokio::test]
async fn a_provider_that_never_answers_cancels_and_releases() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let settings = EngineSettings {
            payment_timeout: Duration::from_millis(200),
            ..EngineSettings::default()
        };
        let (shop, gateway) = engine(&store, settings).await;
        let start = stock(&store, SERUM).await;
        let answer = shop
            .checkout(
                AccountId(1),
                buy_now(SERUM, 1, cards::NO_ANSWER),
                key("t", 1),
            )
            .await;
        assert_eq!(answer, Err(CommerceError::PaymentTimeout));
        assert_eq!(stock(&store, SERUM).await, start);
        assert_eq!(gateway.captured(), 0);
        let order = &shop.orders(AccountId(1)).await.unwrap()[0];
        assert_eq!(
            (order.status.as_str(), order.failure.as_deref()),
            ("cancelled", Some("payment_timeout"))
        );
    }
}

#[tokio::test]
async fn bad_purchases_are_refused_and_change_nothing() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, gateway) = engine(&store, EngineSettings::default()).await;
        let start = stock(&store, MUG).await;
        let ada = AccountId(1);
        let cases = [
            (buy_now(MUG, 0, cards::APPROVED), CommerceError::BadQuantity),
            (
                buy_now(MUG, -3, cards::APPROVED),
                CommerceError::BadQuantity,
            ),
            (
                buy_now(MUG, 101, cards::APPROVED),
                CommerceError::BadQuantity,
            ),
            (
                buy_now(MUG, i64::MAX, cards::APPROVED),
                CommerceError::BadQuantity,
            ),
            (
                buy_now("no-such-sku", 1, cards::APPROVED),
                CommerceError::UnknownSku,
            ),
            (whole_cart(cards::APPROVED), CommerceError::EmptyCart),
            (
                CheckoutSpec {
                    coupon: Some(CouponCode::new("NOPE1").unwrap()),
                    ..buy_now(MUG, 1, cards::APPROVED)
                },
                CommerceError::UnknownCoupon,
            ),
        ];
        for (i, (spec, error)) in cases.into_iter().enumerate() {
            assert_eq!(
                shop.checkout(ada, spec.clone(), key(&format!("bad-{i}"), i as u64))
                    .await,
                Err(error),
                "{spec:?}"
            );
        }
        sqlx::query("UPDATE variants SET stock = 1 WHERE sku = $1")
            .bind(MUG)
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(
            shop.checkout(ada, buy_now(MUG, 2, cards::APPROVED), key("short", 9))
                .await,
            Err(CommerceError::NotEnoughStock { available: 1 })
        );
        assert!(shop.orders(ada).await.unwrap().is_empty());
        assert_eq!(gateway.authorized(), 0);
        assert_eq!(held(&store, MUG).await, (0, 0));
        assert!(start > 1);
    }
}

/// A coupon running from a second before `now` for an hour.
fn percent_coupon(code: &str, percent: i64, min_minor: i64, now: i64) -> Coupon {
    Coupon {
        code: CouponCode::new(code).unwrap(),
        discount: Discount::Percent(percent),
        currency: Currency::EUR,
        min_order_minor: min_minor,
        max_redemptions: Some(2),
        per_buyer_limit: 1,
        starts_at_ms: now - 1000,
        ends_at_ms: now + 3_600_000,
    }
}

fn with_coupon(mut spec: CheckoutSpec, code: &str) -> CheckoutSpec {
    spec.coupon = Some(CouponCode::new(code).unwrap());
    spec
}

#[tokio::test]
async fn coupons_take_their_discount_within_their_rules() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, gateway) = engine(&store, EngineSettings::default()).await;
        let host = AccountId(100);
        let (ada, bob, cy) = (AccountId(1), AccountId(2), AccountId(3));
        let unit = shop
            .edit_cart(ada, sku(MUG), CartEdit::Add(1))
            .await
            .unwrap()[0]
            .unit_price;
        shop.edit_cart(ada, sku(MUG), CartEdit::Set(0))
            .await
            .unwrap();
        let min = unit.minor * 2;
        shop.create_coupon(
            host,
            percent_coupon("live10", 10, min, store.clock().now_ms()),
        )
        .await
        .unwrap();
        assert_eq!(
            shop.create_coupon(
                host,
                percent_coupon("LIVE10", 20, 0, store.clock().now_ms())
            )
            .await,
            Err(CommerceError::CouponExists),
            "codes are one case"
        );

        // Under the minimum.
        let spec = with_coupon(buy_now(MUG, 1, cards::APPROVED), "LIVE10");
        assert_eq!(
            shop.checkout(ada, spec, key("c1", 1)).await,
            Err(CommerceError::CouponMinimum {
                min: Money::new(min, unit.currency)
            })
        );
        // A declined card does not use the coupon up.
        let spec = with_coupon(buy_now(MUG, 2, cards::DECLINED), "LIVE10");
        assert!(shop.checkout(ada, spec, key("c2", 2)).await.is_err());
        let spec = with_coupon(buy_now(MUG, 2, cards::APPROVED), "LIVE10");
        let order = shop.checkout(ada, spec, key("c3", 3)).await.unwrap();
        let subtotal = unit.minor * 2;
        assert_eq!(order.discount.minor, subtotal / 10);
        assert_eq!(order.total.minor, subtotal - subtotal / 10);
        assert_eq!(order.coupon.as_deref(), Some("LIVE10"));
        // Once per buyer, twice in all.
        let spec = with_coupon(buy_now(MUG, 2, cards::APPROVED), "LIVE10");
        assert_eq!(
            shop.checkout(ada, spec.clone(), key("c4", 4)).await,
            Err(CommerceError::CouponLimitReached)
        );
        shop.checkout(bob, spec.clone(), key("c5", 5))
            .await
            .unwrap();
        assert_eq!(
            shop.checkout(cy, spec, key("c6", 6)).await,
            Err(CommerceError::CouponUsedUp)
        );
        let info = shop
            .coupon(CouponCode::new("live10").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.redeemed, 2);

        // More off than the order costs: free, and no card is charged.
        let charged = gateway.authorized();
        let mut big = percent_coupon("GIFT", 1, 0, store.clock().now_ms());
        big.discount = Discount::Amount(1_000_000);
        shop.create_coupon(host, big).await.unwrap();
        let spec = with_coupon(buy_now(SERUM, 1, cards::DECLINED), "GIFT");
        let free = shop.checkout(cy, spec, key("c7", 7)).await.unwrap();
        assert_eq!((free.status.as_str(), free.total.minor), ("paid", 0));
        assert_eq!(gateway.authorized(), charged);
        // And it can be refunded without the gateway.
        let refunded = shop
            .refund(host, true, free.id, "changed my mind".into())
            .await
            .unwrap();
        assert_eq!(refunded.status, "refunded");
    }
}

#[tokio::test]
async fn an_expired_coupon_is_refused_and_a_pinned_one_is_announced() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let time = ManualClock::starting_now();
        let store = store.with_clock(time.clock());
        let (shop, _) = engine(&store, EngineSettings::default()).await;
        // Made and pinned while it runs, then its hour runs out.
        let mut old = percent_coupon("OLD", 50, 0, time.now_ms());
        old.max_redemptions = None;
        shop.create_coupon(AccountId(1), old).await.unwrap();
        let old = || Some(CouponCode::new("OLD").unwrap());
        assert!(shop.pin_coupon(old()).await.unwrap().unwrap().pinned);
        let mut unpinned = shop.subscribe();
        time.advance(Duration::from_secs(3600));
        // The engine's next look at the clock unpins it, and says so.
        tokio::time::timeout(Duration::from_secs(10), async {
            while unpinned.recv().await.unwrap() != CommerceEvent::CouponPinned(None) {}
        })
        .await
        .expect("the ended coupon was unpinned");
        assert_eq!(shop.pinned_coupon().await.unwrap(), None);
        let start = stock(&store, MUG).await;
        let spec = with_coupon(buy_now(MUG, 1, cards::APPROVED), "old");
        assert_eq!(
            shop.checkout(AccountId(1), spec, key("x", 1)).await,
            Err(CommerceError::CouponNotActive)
        );
        assert_eq!(stock(&store, MUG).await, start);
        assert_eq!(
            shop.pin_coupon(Some(CouponCode::new("OLD").unwrap())).await,
            Err(CommerceError::CouponNotActive)
        );
        assert_eq!(
            shop.pin_coupon(Some(CouponCode::new("NONE").unwrap()))
                .await,
            Err(CommerceError::UnknownCoupon)
        );

        let mut events = shop.subscribe();
        shop.create_coupon(
            AccountId(100),
            percent_coupon("SHOW15", 15, 0, store.clock().now_ms()),
        )
        .await
        .unwrap();
        let pinned = shop
            .pin_coupon(Some(CouponCode::new("show15").unwrap()))
            .await
            .unwrap()
            .unwrap();
        assert!(pinned.pinned);
        let mut announced = None;
        while let Ok(event) = events.try_recv() {
            if let CommerceEvent::CouponPinned(info) = event {
                announced = info;
            }
        }
        assert_eq!(
            announced.map(|i| i.coupon.code.to_string()).as_deref(),
            Some("SHOW15")
        );
        // A restart keeps it pinned.
        let (again, _) = engine(&store, EngineSettings::default()).await;
        let still = again.pinned_coupon().await.unwrap().unwrap();
        assert_eq!(still.coupon.code.as_str(), "SHOW15");
        again.pin_coupon(None).await.unwrap();
        assert_eq!(again.pinned_coupon().await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_restart_keeps_carts_coupon_use_and_checkout_keys() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let ada = AccountId(1);
        let (first, _) = engine(&store, EngineSettings::default()).await;
        first
            .edit_cart(ada, sku(SERUM), CartEdit::Add(2))
            .await
            .unwrap();
        first
            .create_coupon(
                AccountId(100),
                percent_coupon("KEEP5", 5, 0, store.clock().now_ms()),
            )
            .await
            .unwrap();
        let spec = with_coupon(buy_now(MUG, 1, cards::APPROVED), "KEEP5");
        let order = first
            .checkout(ada, spec.clone(), key("r", 7))
            .await
            .unwrap();
        let cart = first.cart(ada).await.unwrap();

        let (second, gateway) = engine(&store, EngineSettings::default()).await;
        assert_eq!(second.cart(ada).await.unwrap(), cart);
        let replay = second.checkout(ada, spec, key("r", 7)).await.unwrap();
        assert_eq!(replay.id, order.id);
        assert_eq!(gateway.authorized(), 0, "nothing charged again");
        let info = second
            .coupon(CouponCode::new("KEEP5").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.redeemed, 1);
    }
}
