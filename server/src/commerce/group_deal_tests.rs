//! Group deals against the engine, on every backend the tests have (SQLite,
//! and PostgreSQL when `VITRINE_TEST_POSTGRES` is set): a team completes, a
//! team lapses and is voided, every bad input is refused and changes
//! nothing, and a restart at any step resumes without charging twice.

use super::*;
use crate::clock::ManualClock;
use crate::store::Store;
use crate::store::tests::stores;
use std::sync::Arc;
use std::time::Duration;
use vitrine_shared::Currency;

const MUG: &str = "stoneware-mug-sage";
/// The mug's regular price is 16.00 EUR; the team's 12.00 (25 % off).
const TEAM_PRICE: i64 = 1200;

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn card(number: &str) -> PaymentMethod {
    PaymentMethod::new(number).unwrap()
}

fn spec(team_size: i64, stock_cap: i64) -> GroupDealSpec {
    GroupDealSpec {
        sku: Sku::new(MUG).unwrap(),
        team_size,
        team_price: eur(TEAM_PRICE),
        window: DealWindow::Secs(3600),
        stock_cap,
    }
}

async fn seeded(store: &Store) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/catalog.toml");
    store
        .import_catalog(&crate::catalog::load_catalog_file(&path).unwrap())
        .await
        .unwrap();
}

async fn engine_with(store: &Store, gateway: Arc<TestGateway>) -> CommerceHandle {
    spawn(
        store.clone(),
        store.clock().clone(),
        gateway,
        EngineSettings::default(),
    )
    .await
    .unwrap()
}

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn stock(store: &Store) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT stock FROM variants WHERE sku = $1")
        .bind(MUG)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Group-deal orders: (how many, how many paid at the team price).
async fn deal_orders(store: &Store) -> (i64, i64) {
    let all = count(
        store,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM orders WHERE source = 'group_deal'",
    )
    .await;
    let paid = count(
        store,
        &format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM orders o JOIN order_lines l ON l.order_id = o.id \
             WHERE o.source = 'group_deal' AND o.status = 'paid' AND o.total_minor = {TEAM_PRICE} \
             AND l.unit_price_minor = {TEAM_PRICE} AND l.quantity = 1 AND l.sku = '{MUG}'"
        ),
    )
    .await;
    (all, paid)
}

fn key(k: &str) -> (String, u64) {
    (k.to_owned(), 7)
}

/// Waits (polling the engine, capped) until `deal` has no team left forming.
async fn settled(shop: &CommerceHandle, deal: DealId) -> GroupDeal {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let d = shop.group_deal(deal).await.unwrap().unwrap();
            if d.teams.is_empty() {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the deal's teams settled")
}

#[tokio::test]
async fn a_team_of_three_completes_with_three_captures_and_three_orders() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let gateway = Arc::new(TestGateway::default());
        let shop = engine_with(&store, gateway.clone()).await;
        let before = stock(&store).await;
        let mut news = shop.subscribe();
        let deal = shop
            .create_group_deal(AccountId(100), spec(3, 30))
            .await
            .unwrap();
        assert_eq!(deal.regular_price, eur(1600));

        let ada = shop
            .join_team(
                AccountId(1),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key("a"),
            )
            .await
            .unwrap();
        assert_eq!(
            (ada.team.members, ada.team.places_left, ada.price),
            (1, 2, eur(TEAM_PRICE))
        );
        let team = ada.team.id;
        let bob = shop
            .join_team(
                AccountId(2),
                TeamTarget::Join(team),
                card(cards::APPROVED),
                key("b"),
            )
            .await
            .unwrap();
        assert_eq!(bob.team.places_left, 1);
        // Authorized, not captured, and the units are held already.
        assert_eq!((gateway.authorized(), gateway.captured()), (2, 0));
        assert_eq!(stock(&store).await, before - 2);
        assert_eq!(deal_orders(&store).await, (0, 0));

        let cy = shop
            .join_team(
                AccountId(3),
                TeamTarget::Join(team),
                card(cards::APPROVED),
                key("c"),
            )
            .await
            .unwrap();
        assert_eq!(cy.team.places_left, 0);
        let after = settled(&shop, deal.id).await;
        assert_eq!((after.sold, after.taken, after.units_left()), (3, 3, 27));
        assert_eq!((gateway.authorized(), gateway.captured()), (3, 3));
        assert_eq!(gateway.voided(), 0);
        assert_eq!(deal_orders(&store).await, (3, 3));
        assert_eq!(stock(&store).await, before - 3);
        for (buyer, joined) in [(1, &ada), (2, &bob), (3, &cy)] {
            let order = shop
                .order(AccountId(buyer), joined.order_id)
                .await
                .unwrap()
                .expect("the member's order");
            assert_eq!(
                (order.status.as_str(), order.total),
                ("paid", eur(TEAM_PRICE))
            );
            assert_eq!(order.source, "group_deal");
        }
        // Everyone heard the team complete, each with their own order.
        let completed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let CommerceEvent::TeamCompleted { members, .. } = news.recv().await.unwrap() {
                    return members;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(
            completed,
            vec![
                (AccountId(1), ada.order_id),
                (AccountId(2), bob.order_id),
                (AccountId(3), cy.order_id)
            ]
        );
        // A join too many reads "full"; a retry of a member's join answers
        // their place again and charges nothing more.
        assert_eq!(
            shop.join_team(
                AccountId(4),
                TeamTarget::Join(team),
                card(cards::APPROVED),
                key("d")
            )
            .await,
            Err(CommerceError::TeamFull)
        );
        let again = shop
            .join_team(
                AccountId(3),
                TeamTarget::Join(team),
                card(cards::APPROVED),
                key("c"),
            )
            .await
            .unwrap();
        assert_eq!(
            (again.order_id, again.team.status),
            (cy.order_id, TeamStatus::Complete)
        );
        assert_eq!((gateway.authorized(), gateway.captured()), (3, 3));
    }
}

#[tokio::test]
async fn a_team_that_does_not_fill_in_time_is_voided_and_nobody_is_charged() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let time = ManualClock::starting_now();
        let store = store.with_clock(time.clock());
        let gateway = Arc::new(TestGateway::default());
        let shop = engine_with(&store, gateway.clone()).await;
        let before = stock(&store).await;
        let mut news = shop.subscribe();
        let deal = shop
            .create_group_deal(AccountId(100), spec(3, 30))
            .await
            .unwrap();
        let ada = shop
            .join_team(
                AccountId(1),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key("a"),
            )
            .await
            .unwrap();
        shop.join_team(
            AccountId(2),
            TeamTarget::Join(ada.team.id),
            card(cards::APPROVED),
            key("b"),
        )
        .await
        .unwrap();
        assert_eq!(stock(&store).await, before - 2);

        // The window closes with one place still empty.
        time.advance(Duration::from_secs(3600));
        let after = settled(&shop, deal.id).await;
        assert_eq!((after.taken, after.sold), (0, 0));
        assert_eq!(
            (gateway.authorized(), gateway.voided(), gateway.captured()),
            (2, 2, 0)
        );
        assert_eq!(stock(&store).await, before);
        assert_eq!(deal_orders(&store).await, (0, 0));
        let voided = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let CommerceEvent::TeamVoided { members, .. } = news.recv().await.unwrap() {
                    return members;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(voided, vec![AccountId(1), AccountId(2)]);
        // The deal is closed now: no new team, no late join.
        assert_eq!(
            shop.join_team(
                AccountId(3),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key("c")
            )
            .await,
            Err(CommerceError::GroupDealClosed)
        );
        assert_eq!(
            shop.join_team(
                AccountId(3),
                TeamTarget::Join(ada.team.id),
                card(cards::APPROVED),
                key("d")
            )
            .await,
            Err(CommerceError::GroupDealClosed)
        );
        assert!(shop.open_group_deals().await.unwrap().is_empty());
        assert_eq!(stock(&store).await, before);
    }
}

#[tokio::test]
async fn every_bad_input_is_refused_typed_and_changes_nothing() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let gateway = Arc::new(TestGateway::default());
        let shop = engine_with(&store, gateway.clone()).await;
        let host = AccountId(100);
        let before = stock(&store).await;
        let invalid = |e: Result<GroupDeal, CommerceError>| match e {
            Err(CommerceError::InvalidGroupDeal(why)) => why,
            other => panic!("not refused as invalid: {other:?}"),
        };
        for size in [0, 1, 6, -3] {
            let why = invalid(shop.create_group_deal(host, spec(size, 10)).await);
            assert!(why.contains("2 to 5"), "{why}");
        }
        for price in [1600, 2000, 0, -5] {
            let bad = GroupDealSpec {
                team_price: eur(price),
                ..spec(2, 10)
            };
            let why = invalid(shop.create_group_deal(host, bad).await);
            assert!(why.contains("below the regular price, 16.00 EUR"), "{why}");
        }
        let usd = GroupDealSpec {
            team_price: Money::new(1200, Currency::new("USD").unwrap()),
            ..spec(2, 10)
        };
        assert!(invalid(shop.create_group_deal(host, usd).await).contains("EUR"));
        for window in [24 * 3600 + 1, 30 * 24 * 3600, 59, 0] {
            let bad = GroupDealSpec {
                window: DealWindow::Secs(window),
                ..spec(2, 10)
            };
            let why = invalid(shop.create_group_deal(host, bad).await);
            assert!(why.contains("60 to 86400 seconds"), "{why}");
        }
        for cap in [0, -1, 100_001] {
            invalid(shop.create_group_deal(host, spec(2, cap)).await);
        }
        let unknown = GroupDealSpec {
            sku: Sku::new("no-such-mug").unwrap(),
            ..spec(2, 10)
        };
        assert_eq!(
            shop.create_group_deal(host, unknown).await,
            Err(CommerceError::UnknownSku)
        );
        assert_eq!(
            count(&store, "SELECT CAST(COUNT(*) AS BIGINT) FROM group_deals").await,
            0
        );

        // Teams of three, and a cap of two units.
        let deal = shop.create_group_deal(host, spec(3, 2)).await.unwrap();
        let join = |who: u64, target, number: &'static str, k: &'static str| {
            let shop = shop.clone();
            async move {
                shop.join_team(AccountId(who), target, card(number), key(k))
                    .await
            }
        };
        assert_eq!(
            join(
                1,
                TeamTarget::Start(DealId(deal.id.get() + 1)),
                cards::APPROVED,
                "x"
            )
            .await,
            Err(CommerceError::UnknownGroupDeal)
        );
        assert_eq!(
            join(1, TeamTarget::Join(TeamId(424242)), cards::APPROVED, "y").await,
            Err(CommerceError::UnknownTeam)
        );
        // A declined card starting a team: no team, no unit held.
        assert_eq!(
            join(1, TeamTarget::Start(deal.id), cards::DECLINED, "s0").await,
            Err(CommerceError::PaymentDeclined {
                reason: "card_declined".into()
            })
        );
        assert!(
            shop.group_deal(deal.id)
                .await
                .unwrap()
                .unwrap()
                .teams
                .is_empty()
        );
        assert_eq!(stock(&store).await, before);

        let ada = join(1, TeamTarget::Start(deal.id), cards::APPROVED, "s1")
            .await
            .unwrap();
        let team = TeamTarget::Join(ada.team.id);
        assert_eq!(
            join(1, team, cards::APPROVED, "s2").await,
            Err(CommerceError::AlreadyInTeam)
        );
        // A declined card joining: not added, the team stays open.
        assert_eq!(
            join(2, team, cards::INSUFFICIENT_FUNDS, "j1").await,
            Err(CommerceError::PaymentDeclined {
                reason: "insufficient_funds".into()
            })
        );
        let open = shop.group_deal(deal.id).await.unwrap().unwrap();
        assert_eq!(
            (open.teams.len(), open.teams[0].members, open.taken),
            (1, 1, 1)
        );
        assert_eq!(stock(&store).await, before - 1);
        // The same key with another card tries again (the decline is not
        // remembered as a place); a reused key for another request is a conflict.
        let bob = join(2, team, cards::APPROVED, "j1").await.unwrap();
        assert_eq!(bob.team.places_left, 1);
        assert_eq!(
            shop.join_team(AccountId(2), team, card(cards::APPROVED), ("j1".into(), 8))
                .await,
            Err(CommerceError::IdempotencyConflict)
        );
        // The cap of two units is reached: a third member cannot join.
        assert_eq!(
            join(3, team, cards::APPROVED, "j3").await,
            Err(CommerceError::GroupDealSoldOut)
        );
        assert_eq!(
            join(3, TeamTarget::Start(deal.id), cards::APPROVED, "j4").await,
            Err(CommerceError::GroupDealSoldOut)
        );
        let still = shop.group_deal(deal.id).await.unwrap().unwrap();
        assert_eq!((still.taken, still.teams[0].members), (2, 2));
        assert_eq!(stock(&store).await, before - 2);
        assert_eq!((gateway.authorized(), gateway.captured()), (2, 0));
    }
}

#[tokio::test]
async fn a_restart_captures_a_full_team_once_and_drops_interrupted_authorizations() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("gateway.journal");
        let before = stock(&store).await;
        // The first engine's provider takes authorizations but never answers
        // a capture: the team is full and committed as capturing, and
        // nothing is captured when the "crash" comes.
        let stalled = Arc::new(
            TestGateway::journaled(&journal)
                .unwrap()
                .stalling_captures(),
        );
        let first = engine_with(&store, stalled.clone()).await;
        let deal = first
            .create_group_deal(AccountId(100), spec(2, 10))
            .await
            .unwrap();
        let ada = first
            .join_team(
                AccountId(1),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key("a"),
            )
            .await
            .unwrap();
        let bob = first
            .join_team(
                AccountId(2),
                TeamTarget::Join(ada.team.id),
                card(cards::APPROVED),
                key("b"),
            )
            .await
            .unwrap();
        assert_eq!(bob.team.status, TeamStatus::Capturing);
        // A second team whose authorization is cut off mid-flight.
        let second = deal.id;
        let cut = first.clone();
        tokio::spawn(async move {
            cut.join_team(
                AccountId(3),
                TeamTarget::Start(second),
                card(cards::NO_ANSWER),
                key("c"),
            )
            .await
        });
        tokio::time::timeout(Duration::from_secs(10), async {
            while count(
                &store,
                "SELECT CAST(COUNT(*) AS BIGINT) FROM group_members WHERE status = 'authorizing'",
            )
            .await
                == 0
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(stalled.captured(), 0);
        assert_eq!(stock(&store).await, before - 3);
        // The "crash": the first engine stops before the second starts, so
        // only one engine ever writes the store, as after a real restart.
        first.stop().await;
        assert_eq!(
            first.group_deal(deal.id).await,
            Err(CommerceError::Unavailable),
            "the first engine no longer answers"
        );

        // A new engine on the same store and the same provider: the full
        // team is captured under the same keys, the cut-off member dropped.
        let provider = Arc::new(TestGateway::journaled(&journal).unwrap());
        // Say the provider had captured Ada's before the crash, and the
        // engine died before recording it: the same key must not charge again.
        let ada_auth: String =
            sqlx::query_scalar("SELECT payment_ref FROM group_members WHERE order_id = $1")
                .bind(ada.order_id.get())
                .fetch_one(store.pool())
                .await
                .unwrap();
        provider
            .capture(&format!("group-capture-{}", ada.order_id), &ada_auth)
            .await
            .unwrap();
        // And say the provider had held Carol's money before the crash cut
        // off its answer: the restart must find that hold by its key and
        // void it, not forget it.
        let carol: i64 =
            sqlx::query_scalar("SELECT order_id FROM group_members WHERE status = 'authorizing'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        provider
            .authorize(
                &format!("group-authorize-{carol}"),
                eur(TEAM_PRICE),
                cards::APPROVED,
            )
            .await
            .unwrap();
        let second = engine_with(&store, provider.clone()).await;
        let after = settled(&second, deal.id).await;
        tokio::time::timeout(Duration::from_secs(20), async {
            while provider.voided() == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the hold cut off by the crash is voided");
        assert_eq!((after.sold, after.taken), (2, 2));
        assert_eq!(provider.captured(), 2);
        assert_eq!(deal_orders(&store).await, (2, 2));
        assert_eq!(stock(&store).await, before - 2);
        // Yet another restart changes nothing: nobody is charged twice.
        second.stop().await;
        let third = engine_with(&store, provider.clone()).await;
        let again = third.group_deal(deal.id).await.unwrap().unwrap();
        assert_eq!((again.sold, again.taken), (2, 2));
        assert_eq!(provider.captured(), 2);
        assert_eq!(deal_orders(&store).await, (2, 2));
        // The members' retries answer their completed places.
        let retry = third
            .join_team(
                AccountId(2),
                TeamTarget::Join(ada.team.id),
                card(cards::APPROVED),
                key("b"),
            )
            .await
            .unwrap();
        assert_eq!(
            (retry.order_id, retry.team.status),
            (bob.order_id, TeamStatus::Complete)
        );
    }
}

/// A provider that declines the capture of one authorization (a card
/// cancelled between the hold and the charge), or with `transient` is
/// unavailable for its first capture only; it counts every capture asked.
struct DecliningCapture {
    inner: TestGateway,
    decline: String,
    transient: bool,
    captures_asked: std::sync::atomic::AtomicUsize,
}

impl DecliningCapture {
    fn new(decline: &str, transient: bool) -> DecliningCapture {
        DecliningCapture {
            inner: TestGateway::default(),
            decline: decline.into(),
            transient,
            captures_asked: Default::default(),
        }
    }

    fn asked(&self) -> usize {
        self.captures_asked
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl PaymentGateway for DecliningCapture {
    fn authorize<'a>(
        &'a self,
        key: &'a str,
        amount: Money,
        method: &'a str,
    ) -> gateway::BoxFuture<'a, Result<String, PaymentError>> {
        self.inner.authorize(key, amount, method)
    }

    fn capture<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
    ) -> gateway::BoxFuture<'a, Result<(), PaymentError>> {
        let before = self
            .captures_asked
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.transient && authorization == self.decline && before == 1 {
            return Box::pin(async { Err(PaymentError::Unavailable("provider busy".into())) });
        }
        if !self.transient && authorization == self.decline {
            return Box::pin(async {
                Err(PaymentError::Declined {
                    reason: "card_cancelled".into(),
                })
            });
        }
        self.inner.capture(key, authorization)
    }

    fn void<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
    ) -> gateway::BoxFuture<'a, Result<(), PaymentError>> {
        self.inner.void(key, authorization)
    }

    fn refund<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
        amount: Money,
    ) -> gateway::BoxFuture<'a, Result<(), PaymentError>> {
        self.inner.refund(key, authorization, amount)
    }
}

#[tokio::test]
async fn a_declined_capture_refunds_the_charged_voids_the_rest_and_tells_the_members() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let before = stock(&store).await;
        // Ada authorizes first (auth_test_1), Bob second: Bob's capture is
        // declined after Ada's went through.
        let gateway = Arc::new(DecliningCapture::new("auth_test_2", false));
        let shop = spawn(
            store.clone(),
            store.clock().clone(),
            gateway.clone(),
            EngineSettings::default(),
        )
        .await
        .unwrap();
        let mut news = shop.subscribe();
        let deal = shop
            .create_group_deal(AccountId(100), spec(2, 10))
            .await
            .unwrap();
        let ada = shop
            .join_team(
                AccountId(1),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key("a"),
            )
            .await
            .unwrap();
        shop.join_team(
            AccountId(2),
            TeamTarget::Join(ada.team.id),
            card(cards::APPROVED),
            key("b"),
        )
        .await
        .unwrap();
        let told = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let CommerceEvent::TeamFailed { team, members, .. } = news.recv().await.unwrap()
                {
                    return (team, members);
                }
            }
        })
        .await
        .expect("the members are told their team failed");
        assert_eq!(told, (ada.team.id, vec![AccountId(1), AccountId(2)]));
        // Ada's charge came back, Bob's hold was released, the units too,
        // and no order was placed.
        assert_eq!(gateway.inner.captured(), 1);
        assert_eq!(gateway.inner.refunded(), 1);
        assert_eq!(gateway.inner.voided(), 1);
        assert_eq!(stock(&store).await, before);
        assert_eq!(deal_orders(&store).await, (0, 0));
        let after = shop.group_deal(deal.id).await.unwrap().unwrap();
        assert_eq!((after.taken, after.sold, after.teams.len()), (0, 0, 0));
        assert_eq!(
            count(
                &store,
                "SELECT CAST(COUNT(*) AS BIGINT) FROM group_teams WHERE status = 'failed'"
            )
            .await,
            1
        );
        assert_eq!(
            count(&store, "SELECT taken FROM group_deals").await,
            0,
            "the store's count agrees"
        );
        // The decline was final: nothing asks the provider again.
        assert_eq!(gateway.asked(), 2);
        // A join on the failed team is refused typed.
        let late = shop
            .join_team(
                AccountId(3),
                TeamTarget::Join(ada.team.id),
                card(cards::APPROVED),
                key("c"),
            )
            .await;
        assert_eq!(late.unwrap_err(), CommerceError::GroupDealClosed);
    }
}

#[tokio::test]
async fn each_capture_is_recorded_as_it_succeeds_so_a_retry_skips_it() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        // Bob's first capture meets a busy provider; the retry must ask only
        // for Bob's, Ada's being recorded as captured already.
        let gateway = Arc::new(DecliningCapture::new("auth_test_2", true));
        let shop = spawn(
            store.clone(),
            store.clock().clone(),
            gateway.clone(),
            EngineSettings::default(),
        )
        .await
        .unwrap();
        let deal = shop
            .create_group_deal(AccountId(100), spec(2, 10))
            .await
            .unwrap();
        let ada = shop
            .join_team(
                AccountId(1),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key("a"),
            )
            .await
            .unwrap();
        shop.join_team(
            AccountId(2),
            TeamTarget::Join(ada.team.id),
            card(cards::APPROVED),
            key("b"),
        )
        .await
        .unwrap();
        let after = settled(&shop, deal.id).await;
        assert_eq!((after.sold, after.taken), (2, 2));
        assert_eq!(deal_orders(&store).await, (2, 2));
        assert_eq!(gateway.inner.captured(), 2);
        assert_eq!(gateway.asked(), 3, "Ada once, Bob twice");
    }
}

/// A provider that holds the money for the first authorization but whose
/// answer is lost (the caller times out), and that is unavailable for the
/// first void asked of it.
struct LostAnswer {
    inner: TestGateway,
    authorizations_asked: std::sync::atomic::AtomicUsize,
    voids_asked: std::sync::atomic::AtomicUsize,
}

impl PaymentGateway for LostAnswer {
    fn authorize<'a>(
        &'a self,
        key: &'a str,
        amount: Money,
        method: &'a str,
    ) -> gateway::BoxFuture<'a, Result<String, PaymentError>> {
        let n = self
            .authorizations_asked
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            let held = self.inner.authorize(key, amount, method).await;
            if n == 0 {
                std::future::pending::<()>().await;
            }
            held
        })
    }

    fn capture<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
    ) -> gateway::BoxFuture<'a, Result<(), PaymentError>> {
        self.inner.capture(key, authorization)
    }

    fn void<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
    ) -> gateway::BoxFuture<'a, Result<(), PaymentError>> {
        let n = self
            .voids_asked
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == 0 {
            return Box::pin(async { Err(PaymentError::Unavailable("provider busy".into())) });
        }
        self.inner.void(key, authorization)
    }

    fn refund<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
        amount: Money,
    ) -> gateway::BoxFuture<'a, Result<(), PaymentError>> {
        self.inner.refund(key, authorization, amount)
    }
}

#[tokio::test]
async fn a_hold_whose_answer_was_lost_is_found_by_its_key_and_voided_until_confirmed() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let before = stock(&store).await;
        let gateway = Arc::new(LostAnswer {
            inner: TestGateway::default(),
            authorizations_asked: Default::default(),
            voids_asked: Default::default(),
        });
        let shop = spawn(
            store.clone(),
            store.clock().clone(),
            gateway.clone(),
            EngineSettings {
                payment_timeout: Duration::from_millis(300),
                ..EngineSettings::default()
            },
        )
        .await
        .unwrap();
        let deal = shop
            .create_group_deal(AccountId(100), spec(2, 10))
            .await
            .unwrap();
        let timed_out = shop
            .join_team(
                AccountId(1),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key("a"),
            )
            .await;
        assert_eq!(timed_out.unwrap_err(), CommerceError::PaymentTimeout);
        assert_eq!(gateway.inner.authorized(), 1, "the provider holds money");
        // The engine asks again under the same key, finds the hold, and
        // voids it, the provider's first refusal notwithstanding.
        tokio::time::timeout(Duration::from_secs(20), async {
            while gateway.inner.voided() == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the lost hold is voided");
        assert_eq!(
            gateway
                .voids_asked
                .load(std::sync::atomic::Ordering::SeqCst),
            2
        );
        tokio::time::timeout(Duration::from_secs(20), async {
            while count(
                &store,
                "SELECT CAST(COUNT(*) AS BIGINT) FROM group_void_pending WHERE status = 'voided'",
            )
            .await
                == 0
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the void is recorded");
        assert_eq!(stock(&store).await, before);
        let after = shop.group_deal(deal.id).await.unwrap().unwrap();
        assert_eq!((after.taken, after.teams.len()), (0, 0));
        // The shopper's retry under the same key asks for no second hold.
        let retry = shop
            .join_team(
                AccountId(1),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key("a"),
            )
            .await;
        assert_eq!(retry.unwrap_err(), CommerceError::PaymentTimeout);
        assert_eq!(gateway.inner.authorized(), 1);
    }
}

#[tokio::test]
async fn a_shopper_holds_one_open_team_per_deal_and_a_deal_bounds_its_open_teams() {
    use vitrine_shared::limits::group_deals::MAX_OPEN_TEAMS;
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let gateway = Arc::new(TestGateway::default());
        let shop = engine_with(&store, gateway.clone()).await;
        let deal = shop
            .create_group_deal(AccountId(100), spec(5, 1000))
            .await
            .unwrap();
        let start = |who: u64, k: &str| {
            shop.join_team(
                AccountId(who),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key(k),
            )
        };
        let ada = start(1, "a").await.unwrap();
        let bob = start(2, "b").await.unwrap();
        let before = (stock(&store).await, gateway.authorized());
        // Ada may not start a second team, nor join Bob's, while hers forms.
        assert_eq!(
            start(1, "a2").await.unwrap_err(),
            CommerceError::AlreadyInOpenTeam
        );
        let join_bob = shop
            .join_team(
                AccountId(1),
                TeamTarget::Join(bob.team.id),
                card(cards::APPROVED),
                key("a3"),
            )
            .await;
        assert_eq!(join_bob.unwrap_err(), CommerceError::AlreadyInOpenTeam);
        assert_eq!((stock(&store).await, gateway.authorized()), before);
        // Others start teams up to the deal's bound; then they must join one.
        for who in 3..=MAX_OPEN_TEAMS as u64 {
            start(who, &format!("k{who}")).await.unwrap();
        }
        let before = (stock(&store).await, gateway.authorized());
        let over = MAX_OPEN_TEAMS as u64 + 1;
        assert_eq!(
            start(over, "over").await.unwrap_err(),
            CommerceError::TooManyOpenTeams
        );
        assert_eq!((stock(&store).await, gateway.authorized()), before);
        shop.join_team(
            AccountId(over),
            TeamTarget::Join(ada.team.id),
            card(cards::APPROVED),
            key("over"),
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn a_team_settles_only_the_members_the_store_holds_as_authorized() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let gateway = Arc::new(TestGateway::default());
        let shop = engine_with(&store, gateway.clone()).await;
        let deal = shop
            .create_group_deal(AccountId(100), spec(2, 10))
            .await
            .unwrap();
        let ada = shop
            .join_team(
                AccountId(1),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key("a"),
            )
            .await
            .unwrap();
        // A row memory no longer counts (a store error left it behind when
        // its member was dropped): still authorizing, never charged.
        sqlx::query(
            "INSERT INTO group_members (team_id, account_id, order_id, status, payment_ref, \
             idempotency_key, request_hash, joined_at) \
             VALUES ($1, 9, 424242, 'authorizing', NULL, 'stray', '0000000000000007', 0)",
        )
        .bind(ada.team.id.get())
        .execute(store.pool())
        .await
        .unwrap();
        shop.join_team(
            AccountId(2),
            TeamTarget::Join(ada.team.id),
            card(cards::APPROVED),
            key("b"),
        )
        .await
        .unwrap();
        let after = settled(&shop, deal.id).await;
        assert_eq!(after.sold, 2);
        assert_eq!(deal_orders(&store).await, (2, 2));
        assert_eq!(count(&store, "SELECT sold FROM group_deals").await, 2);
        let stray: String =
            sqlx::query_scalar("SELECT status FROM group_members WHERE order_id = 424242")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(stray, "authorizing", "left for the next start to recover");
    }
}

#[tokio::test]
async fn a_hold_made_after_the_look_up_by_key_found_none_is_voided_all_the_same() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let gateway = Arc::new(TestGateway::default());
        let shop = spawn(
            store.clone(),
            store.clock().clone(),
            gateway.clone(),
            EngineSettings {
                payment_timeout: Duration::from_millis(200),
                ..EngineSettings::default()
            },
        )
        .await
        .unwrap();
        // The provider makes the hold well after the engine gave up and
        // looked it up by key (and found none).
        gateway.answer_late(Call::Authorize, Duration::from_millis(800));
        let deal = shop
            .create_group_deal(AccountId(100), spec(2, 10))
            .await
            .unwrap();
        let join = || {
            shop.join_team(
                AccountId(1),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key("late"),
            )
        };
        assert_eq!(join().await.unwrap_err(), CommerceError::PaymentTimeout);
        tokio::time::timeout(Duration::from_secs(10), async {
            while gateway.done(Call::Authorize) == 0 || gateway.voided() == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the late hold is voided");
        assert!(gateway.done(Call::Lookup) >= 1, "the look-up came first");
        assert_eq!((gateway.authorized(), gateway.captured()), (1, 0));
        // The retry under the same key asks for no second hold.
        assert_eq!(join().await.unwrap_err(), CommerceError::PaymentTimeout);
        assert_eq!(gateway.authorized(), 1);
        let after = shop.group_deal(deal.id).await.unwrap().unwrap();
        assert_eq!((after.taken, after.teams.len()), (0, 0));
    }
}

/// The server's two engines, wired as `spawn_engines` wires them: the
/// engagement engine tells commerce which show is live.
async fn engines_with(
    store: &Store,
    gateway: Arc<TestGateway>,
) -> (CommerceHandle, crate::engagement::EngagementHandle) {
    let rules = crate::engagement::load_rules_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/rewards.toml"),
    )
    .unwrap();
    crate::spawn_engines(
        store,
        store.clock(),
        gateway,
        EngineSettings::default(),
        rules,
    )
    .await
    .unwrap()
}

fn until_show_ends(team_size: i64, stock_cap: i64) -> GroupDealSpec {
    GroupDealSpec {
        window: DealWindow::UntilShowEnds,
        ..spec(team_size, stock_cap)
    }
}

#[tokio::test]
async fn a_deal_until_the_show_ends_voids_its_open_teams_when_the_show_ends() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let gateway = Arc::new(TestGateway::default());
        let (shop, engagement) = engines_with(&store, gateway.clone()).await;
        let before = stock(&store).await;

        // No show live: refused, and nothing is written.
        assert_eq!(
            shop.create_group_deal(AccountId(100), until_show_ends(2, 10))
                .await,
            Err(CommerceError::NoShowLive)
        );
        assert_eq!(
            count(&store, "SELECT CAST(COUNT(*) AS BIGINT) FROM group_deals").await,
            0
        );

        let show = engagement
            .create_show(AccountId(100), "Spring drop".into(), None, Vec::new())
            .await
            .unwrap();
        let deal = shop
            .create_group_deal(AccountId(100), until_show_ends(2, 10))
            .await
            .unwrap();
        assert_eq!(deal.until_show_ends, Some(show.id));
        // Bounded by 24 h all the same.
        assert_eq!(
            deal.ends_at_ms - deal.starts_at_ms,
            vitrine_shared::limits::group_deals::MAX_WINDOW_MS
        );
        // A deal with a window of its own, on the same variant, which the
        // show's end does not touch.
        let fixed = shop
            .create_group_deal(AccountId(100), spec(2, 10))
            .await
            .unwrap();
        assert_eq!(fixed.until_show_ends, None);

        // One team completes while the show runs; one is still forming
        // when it ends; one forms on the fixed deal.
        let ada = shop
            .join_team(
                AccountId(1),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key("a"),
            )
            .await
            .unwrap();
        let bob = shop
            .join_team(
                AccountId(2),
                TeamTarget::Join(ada.team.id),
                card(cards::APPROVED),
                key("b"),
            )
            .await
            .unwrap();
        assert_eq!(bob.team.status, TeamStatus::Capturing);
        let cyd = shop
            .join_team(
                AccountId(3),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key("c"),
            )
            .await
            .unwrap();
        let dan = shop
            .join_team(
                AccountId(4),
                TeamTarget::Start(fixed.id),
                card(cards::APPROVED),
                key("d"),
            )
            .await
            .unwrap();
        // The full team is captured before the show ends.
        tokio::time::timeout(Duration::from_secs(10), async {
            while deal_orders(&store).await != (2, 2) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the full team completes");
        assert_eq!(stock(&store).await, before - 4);

        let mut news = shop.subscribe();
        engagement.end_show().await.unwrap();
        let after = settled(&shop, deal.id).await;
        // Cyd's authorization voided and her unit back; the completed team
        // kept, charged once each.
        assert_eq!((after.sold, after.taken), (2, 2));
        assert_eq!(
            (gateway.authorized(), gateway.captured(), gateway.voided()),
            (4, 2, 1)
        );
        assert_eq!(deal_orders(&store).await, (2, 2));
        assert_eq!(stock(&store).await, before - 3);
        let voided = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let CommerceEvent::TeamVoided { team, members, .. } = news.recv().await.unwrap()
                {
                    return (team, members);
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(voided, (cyd.team.id, vec![AccountId(3)]));
        // The deal is closed: no new team, no late join; the fixed one runs on.
        assert_eq!(
            shop.join_team(
                AccountId(5),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key("e")
            )
            .await,
            Err(CommerceError::GroupDealClosed)
        );
        assert_eq!(
            shop.join_team(
                AccountId(5),
                TeamTarget::Join(cyd.team.id),
                card(cards::APPROVED),
                key("f")
            )
            .await,
            Err(CommerceError::GroupDealClosed)
        );
        let open = shop.open_group_deals().await.unwrap();
        assert_eq!(
            open.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![fixed.id]
        );
        assert_eq!(open[0].teams.len(), 1);
        assert_eq!(open[0].teams[0].id, dan.team.id);
        // With no show live, no new deal may run until it ends.
        assert_eq!(
            shop.create_group_deal(AccountId(100), until_show_ends(2, 10))
                .await,
            Err(CommerceError::NoShowLive)
        );
    }
}

#[tokio::test]
async fn a_new_show_going_live_closes_the_deals_of_the_show_it_replaced() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let gateway = Arc::new(TestGateway::default());
        let (shop, engagement) = engines_with(&store, gateway.clone()).await;
        let before = stock(&store).await;
        engagement
            .create_show(AccountId(100), "First".into(), None, Vec::new())
            .await
            .unwrap();
        let first = shop
            .create_group_deal(AccountId(100), until_show_ends(3, 10))
            .await
            .unwrap();
        shop.join_team(
            AccountId(1),
            TeamTarget::Start(first.id),
            card(cards::APPROVED),
            key("a"),
        )
        .await
        .unwrap();
        // Taking another show live ends the first.
        let second_show = engagement
            .create_show(AccountId(100), "Second".into(), None, Vec::new())
            .await
            .unwrap();
        let after = settled(&shop, first.id).await;
        assert_eq!((after.sold, after.taken), (0, 0));
        assert_eq!((gateway.voided(), gateway.captured()), (1, 0));
        assert_eq!(stock(&store).await, before);
        // A deal of the new show runs.
        let second = shop
            .create_group_deal(AccountId(100), until_show_ends(3, 10))
            .await
            .unwrap();
        assert_eq!(second.until_show_ends, Some(second_show.id));
        let open = shop.open_group_deals().await.unwrap();
        assert_eq!(
            open.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![second.id]
        );
    }
}

#[tokio::test]
async fn a_deal_whose_show_ended_while_the_server_was_down_closes_at_start_up() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        // The provider outlives the shop's process.
        let gateway = Arc::new(TestGateway::default());
        let before = stock(&store).await;
        let (shop, engagement) = engines_with(&store, gateway.clone()).await;
        let show = engagement
            .create_show(AccountId(100), "Late night".into(), None, Vec::new())
            .await
            .unwrap();
        let deal = shop
            .create_group_deal(AccountId(100), until_show_ends(2, 10))
            .await
            .unwrap();
        let ada = shop
            .join_team(
                AccountId(1),
                TeamTarget::Start(deal.id),
                card(cards::APPROVED),
                key("a"),
            )
            .await
            .unwrap();
        assert_eq!(stock(&store).await, before - 1);
        // The server goes down; the show's end is recorded without it (as
        // another writer, or an operator, would).
        shop.stop().await;
        drop((shop, engagement));
        sqlx::query("UPDATE shows SET ended_at = $1 WHERE id = $2")
            .bind(store.clock().now_ms())
            .bind(show.id.get())
            .execute(store.pool())
            .await
            .unwrap();

        let (shop, _engagement) = engines_with(&store, gateway.clone()).await;
        let after = settled(&shop, deal.id).await;
        assert_eq!((after.sold, after.taken), (0, 0));
        assert!(!after.is_open(store.clock().now_ms()));
        assert_eq!((gateway.voided(), gateway.captured()), (1, 0));
        assert_eq!(stock(&store).await, before);
        assert_eq!(deal_orders(&store).await, (0, 0));
        assert!(shop.open_group_deals().await.unwrap().is_empty());
        assert_eq!(
            shop.join_team(
                AccountId(2),
                TeamTarget::Join(ada.team.id),
                card(cards::APPROVED),
                key("b")
            )
            .await,
            Err(CommerceError::GroupDealClosed)
        );
        // Closed in the store too: a further restart finds it closed.
        let ends: i64 = sqlx::query_scalar("SELECT ends_at FROM group_deals WHERE id = $1")
            .bind(deal.id.get())
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(ends < deal.ends_at_ms);
    }
}
