//! Group-deal rewards cannot be farmed: a registered shopper who fills
//! their own team with a guest account earns no team points and no quest,
//! on either account; two registered friends each earn both. On every
//! backend the tests have.

use super::*;
use crate::clock::Clock;
use crate::commerce::{self, EngineSettings, GroupDealSpec, TeamTarget, TestGateway, cards};
use crate::store::Store;
use crate::store::tests::stores;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use vitrine_shared::{Currency, Money, PaymentMethod, Role, Sku};

async fn registered(store: &Store, username: &str) -> AccountId {
    store
        .create_user(
            username,
            &DisplayName::new(username).unwrap(),
            Role::Shopper,
            "not-a-real-hash",
        )
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn guest(store: &Store, name: &str) -> AccountId {
    store
        .create_guest(&DisplayName::new(name).unwrap())
        .await
        .unwrap()
        .id
}

async fn grants(store: &Store, account: AccountId, reason: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM point_grants WHERE account_id = $1 AND reason = $2",
    )
    .bind(account.0 as i64)
    .bind(reason)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

async fn badge(store: &Store, account: AccountId) -> bool {
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM badges WHERE account_id = $1 AND badge = 'shop-with-a-friend'",
    )
    .bind(account.0 as i64)
    .fetch_one(store.pool())
    .await
    .unwrap()
        == 1
}

/// A team of two on the mug, `a` starting and `b` joining; waits until the
/// team has completed.
async fn team_of_two(shop: &commerce::CommerceHandle, a: AccountId, b: AccountId, tag: &str) {
    let deal = shop
        .create_group_deal(
            AccountId(1),
            GroupDealSpec {
                sku: Sku::new("stoneware-mug-sage").unwrap(),
                team_size: 2,
                team_price: Money::new(1200, Currency::EUR),
                window: commerce::DealWindow::Secs(3600),
                stock_cap: 10,
            },
        )
        .await
        .unwrap();
    let card = || PaymentMethod::new(cards::APPROVED).unwrap();
    let first = shop
        .join_team(
            a,
            TeamTarget::Start(deal.id),
            card(),
            (format!("{tag}-a"), 1),
        )
        .await
        .unwrap();
    shop.join_team(
        b,
        TeamTarget::Join(first.team.id),
        card(),
        (format!("{tag}-b"), 1),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_team_filled_with_ones_own_guest_account_earns_nothing() {
    for (store, _dir) in stores().await {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/catalog.toml");
        store
            .import_catalog(&crate::catalog::load_catalog_file(&path).unwrap())
            .await
            .unwrap();
        let rules =
            load_rules_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/rewards.toml"))
                .unwrap();
        let shop = commerce::spawn(
            store.clone(),
            Clock::system(),
            Arc::new(TestGateway::default()),
            EngineSettings::default(),
        )
        .await
        .unwrap();
        let engagement = spawn(store.clone(), Clock::system(), rules, shop.clone())
            .await
            .unwrap();
        let (ada, ada_guest) = (
            registered(&store, "ada").await,
            guest(&store, "Ada 2").await,
        );
        let (bea, cyd) = (
            registered(&store, "bea").await,
            registered(&store, "cyd").await,
        );
        let (gus, gil) = (guest(&store, "Gus").await, guest(&store, "Gil").await);

        // The farm: Ada fills her own team from a guest account; two guests
        // team up. Then two registered friends complete a team.
        team_of_two(&shop, ada, ada_guest, "farm").await;
        team_of_two(&shop, gus, gil, "guests").await;
        team_of_two(&shop, bea, cyd, "friends").await;
        // The friends' team completed last, and Cyd's badge is the last
        // thing its reward writes: once it is in, the engine has heard
        // every team before it (polling only her points raced her badge).
        let mut earned = false;
        for _ in 0..1000 {
            if grants(&store, cyd, "group_deal").await == 1 && badge(&store, cyd).await {
                earned = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(earned, "the friends' team earned");
        assert_eq!(grants(&store, bea, "group_deal").await, 1);
        assert!(badge(&store, bea).await && badge(&store, cyd).await);
        for farmer in [ada, ada_guest, gus, gil] {
            assert_eq!(grants(&store, farmer, "group_deal").await, 0, "{farmer}");
            assert!(!badge(&store, farmer).await, "{farmer}");
        }
        // They paid, so their purchases earn as any purchase does.
        assert_eq!(grants(&store, ada, "purchase").await, 1);
        let rewards = engagement.rewards(ada).await.unwrap();
        let quest = rewards
            .quests
            .iter()
            .find(|q| q.quest.id == "shop-with-a-friend")
            .expect("the quest is listed");
        assert_eq!(quest.progress, 0);
    }
}

// Several threads, so commerce's first sweep runs while engagement starts,
// as in the server: a wiring that let it run first loses the rewards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_completed_by_the_first_sweep_after_a_restart_earns_its_rewards() {
    for (store, _dir) in stores().await {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/catalog.toml");
        store
            .import_catalog(&crate::catalog::load_catalog_file(&path).unwrap())
            .await
            .unwrap();
        let rules = || {
            load_rules_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/rewards.toml"))
                .unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("gateway.journal");
        // Before the "crash": the team fills, its captures never answer.
        let stalled = Arc::new(
            TestGateway::journaled(&journal)
                .unwrap()
                .stalling_captures(),
        );
        let (before, _engagement) = crate::spawn_engines(
            &store,
            &Clock::system(),
            stalled,
            EngineSettings::default(),
            rules(),
        )
        .await
        .unwrap();
        let (bea, cyd) = (
            registered(&store, "bea").await,
            registered(&store, "cyd").await,
        );
        team_of_two(&before, bea, cyd, "friends").await;
        assert_eq!(grants(&store, cyd, "group_deal").await, 0);
        // The restart's engines, wired as the server wires them: commerce's
        // first sweep captures the team; engagement must hear of it.
        let provider = Arc::new(TestGateway::journaled(&journal).unwrap());
        let _after = crate::spawn_engines(
            &store,
            &Clock::system(),
            provider,
            EngineSettings::default(),
            rules(),
        )
        .await
        .unwrap();
        let mut earned = false;
        for _ in 0..1000 {
            if grants(&store, cyd, "group_deal").await == 1 {
                earned = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(earned, "the team completed at start-up earned its points");
        assert_eq!(grants(&store, bea, "group_deal").await, 1);
    }
}
