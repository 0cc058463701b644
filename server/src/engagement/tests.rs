//! The engagement engine's rules, on every backend the tests have.

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::commerce::{self, CheckoutSpec, EngineSettings, Purchase, TestGateway, cards};
use crate::store::Store;
use crate::store::tests::stores;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use vitrine_shared::{CouponCode, PaymentMethod, Role, Sku};

async fn rules() -> RewardRules {
    load_rules_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/rewards.toml")).unwrap()
}

async fn setup(store: &Store, rules: RewardRules) -> (EngagementHandle, commerce::CommerceHandle) {
    setup_on(store, rules, Clock::system()).await
}

/// The engines on `clock`: a test holding its [`ManualClock`] moves time.
async fn setup_on(
    store: &Store,
    rules: RewardRules,
    clock: Clock,
) -> (EngagementHandle, commerce::CommerceHandle) {
    if store.catalog_is_empty().await.unwrap() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/catalog.toml");
        store
            .import_catalog(&crate::catalog::load_catalog_file(&path).unwrap())
            .await
            .unwrap();
    }
    let shop = commerce::spawn(
        store.clone(),
        clock.clone(),
        Arc::new(TestGateway::default()),
        EngineSettings::default(),
    )
    .await
    .unwrap();
    let engagement = spawn(store.clone(), clock, rules, shop.clone())
        .await
        .unwrap();
    (engagement, shop)
}

async fn shopper(store: &Store, name: &str) -> AccountId {
    store
        .create_account(&DisplayName::new(name).unwrap(), Role::Shopper, "guest")
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

/// Steps until `check` holds, for at most 10 s (the engine runs on its own).
async fn until<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) -> bool {
    for _ in 0..1000 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn each_thing_earns_once_within_the_hourly_cap_with_its_reason_recorded() {
    for (store, _dir) in stores().await {
        let (engagement, _) = setup(&store, rules().await).await;
        let (ada, bob) = (shopper(&store, "Ada").await, shopper(&store, "Bob").await);
        let mut events = engagement.subscribe();

        // The same minute from two rooms: once.
        let minute = "29000000".to_owned();
        assert_eq!(
            engagement
                .grant(ada, GrantKind::Watch, minute.clone())
                .await,
            Ok(Some(2))
        );
        assert_eq!(
            engagement
                .grant(ada, GrantKind::Watch, minute.clone())
                .await,
            Ok(None)
        );
        assert_eq!(
            engagement.grant(bob, GrantKind::Watch, minute).await,
            Ok(Some(2))
        );

        // Chat: 1 point a line, 10 an hour.
        let mut earned = 0;
        for line in 0..15 {
            if let Ok(Some(p)) = engagement
                .grant(ada, GrantKind::Chat, format!("line-{line}"))
                .await
            {
                earned += p;
            }
        }
        assert_eq!(earned, 10, "the hour's cap");
        assert_eq!(grants(&store, ada, "chat").await, 10);

        // Every kind of grant is recorded with its reason and sent to its shopper.
        for (kind, reference) in [
            (GrantKind::PollAnswer, "poll-1"),
            (GrantKind::Purchase, "order-1"),
            (GrantKind::Invite, "friend-1"),
        ] {
            assert!(
                engagement
                    .grant(ada, kind, reference.into())
                    .await
                    .unwrap()
                    .is_some()
            );
            assert_eq!(grants(&store, ada, kind.as_str()).await, 1);
        }
        let rewards = engagement.rewards(ada).await.unwrap();
        assert_eq!(rewards.balance, 2 + 10 + 5 + 50 + 100);
        assert!(rewards.recent.iter().any(|g| g.reason == "invite"));
        let mut told = 0;
        while let Ok(event) = events.try_recv() {
            if let EngagementEvent::Points {
                account, balance, ..
            } = event
                && account == ada
            {
                told += 1;
                assert!(balance > 0);
            }
        }
        assert_eq!(told, 1 + 10 + 3);

        // A restart remembers the balance and the cap.
        let (again, _) = setup(&store, rules().await).await;
        assert_eq!(again.rewards(ada).await.unwrap().balance, rewards.balance);
        assert_eq!(
            again
                .grant(ada, GrantKind::Chat, "after-restart".into())
                .await,
            Ok(None),
            "still capped"
        );
    }
}

#[tokio::test]
async fn inspecting_a_product_earns_once_per_show_and_quests_award_badges() {
    for (store, _dir) in stores().await {
        let (engagement, _) = setup(&store, rules().await).await;
        let ada = shopper(&store, "Ada").await;
        let host = shopper(&store, "Host").await;
        let mut events = engagement.subscribe();
        assert_eq!(
            engagement.inspect_now(ada, "no-such-product").await,
            Err(EngagementError::UnknownProduct)
        );
        let products = store.products().await.unwrap();
        for p in products.iter().take(5) {
            assert_eq!(
                engagement.inspect_now(ada, p.id.as_str()).await,
                Ok(Some(3))
            );
            assert_eq!(engagement.inspect_now(ada, p.id.as_str()).await, Ok(None));
        }
        let badge = loop {
            match events.try_recv() {
                Ok(EngagementEvent::Badge { account, id, .. }) => break Some((account, id)),
                Ok(_) => continue,
                Err(_) => break None,
            }
        };
        assert_eq!(badge, Some((ada, "inspector".to_owned())));
        // A new show: the same product earns again.
        engagement.start_show(host, "Evening".into()).await.unwrap();
        assert_eq!(
            engagement.inspect_now(ada, products[0].id.as_str()).await,
            Ok(Some(3))
        );
        let rewards = engagement.rewards(ada).await.unwrap();
        let inspector = rewards
            .quests
            .iter()
            .find(|q| q.quest.id == "inspector")
            .unwrap();
        assert!(inspector.earned);
        assert_eq!(inspector.progress, 5);
    }
}

impl EngagementHandle {
    /// The room's path, awaited.
    async fn inspect_now(
        &self,
        account: AccountId,
        product: &str,
    ) -> Result<Option<i64>, EngagementError> {
        let product = match vitrine_shared::ProductId::new(product) {
            Ok(p) => p,
            Err(_) => return Err(EngagementError::UnknownProduct),
        };
        self.try_inspect(account, product)?
            .await
            .map_err(|_| EngagementError::Unavailable)?
    }
}

#[tokio::test]
async fn watching_three_shows_earns_the_regular_badge() {
    for (store, _dir) in stores().await {
        let (engagement, _) = setup(&store, rules().await).await;
        let (ada, host) = (shopper(&store, "Ada").await, shopper(&store, "Host").await);
        let mut events = engagement.subscribe();
        for (show, minute) in [("One", "1"), ("Two", "2"), ("Two again", "3")] {
            engagement.start_show(host, show.into()).await.unwrap();
            engagement
                .grant(ada, GrantKind::Watch, minute.into())
                .await
                .unwrap();
        }
        let regular = |r: &Rewards| {
            r.quests
                .iter()
                .find(|q| q.quest.id == "regular")
                .map(|q| (q.progress, q.earned))
                .unwrap()
        };
        assert_eq!(regular(&engagement.rewards(ada).await.unwrap()), (3, true));
        let mut badges = Vec::new();
        while let Ok(event) = events.try_recv() {
            if let EngagementEvent::Badge { id, .. } = event {
                badges.push(id);
            }
        }
        assert_eq!(badges, ["regular"]);
        // Without a show, watching counts toward no show.
        engagement.end_show().await.unwrap();
        let bob = shopper(&store, "Bob").await;
        engagement
            .grant(bob, GrantKind::Watch, "9".into())
            .await
            .unwrap();
        assert_eq!(regular(&engagement.rewards(bob).await.unwrap()), (0, false));
    }
}

#[tokio::test]
async fn a_paid_order_earns_purchase_points_and_the_show_badge() {
    for (store, _dir) in stores().await {
        let (engagement, shop) = setup(&store, rules().await).await;
        let (ada, host) = (shopper(&store, "Ada").await, shopper(&store, "Host").await);
        engagement.start_show(host, "Launch".into()).await.unwrap();
        let spec = CheckoutSpec {
            purchase: Purchase::BuyNow {
                sku: Sku::new("stoneware-mug-sage").unwrap(),
                quantity: 1,
            },
            coupon: None,
            method: PaymentMethod::new(cards::APPROVED).unwrap(),
        };
        let order = shop.checkout(ada, spec, ("k".into(), 1)).await.unwrap();
        assert_eq!(order.status, "paid");
        assert!(
            until(|| async { engagement.rewards(ada).await.unwrap().balance == 50 }).await,
            "purchase points arrive"
        );
        let rewards = engagement.rewards(ada).await.unwrap();
        let first = rewards
            .quests
            .iter()
            .find(|q| q.quest.id == "first-purchase")
            .unwrap();
        assert!(first.earned);
        assert_eq!(rewards.earned_this_show, 50);
        // Leaderboards: this show and all time.
        let show = engagement.leaderboard(Scope::Show).await.unwrap();
        assert_eq!((show[0].account, show[0].points), (ada, 50));
        assert_eq!(show[0].name.as_str(), "Ada");
        engagement.end_show().await.unwrap();
        assert!(
            engagement
                .leaderboard(Scope::Show)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            engagement.leaderboard(Scope::AllTime).await.unwrap()[0].points,
            50
        );
    }
}

#[tokio::test]
async fn points_buy_a_coupon_for_one_order() {
    for (store, _dir) in stores().await {
        let (engagement, shop) = setup(&store, rules().await).await;
        let ada = shopper(&store, "Ada").await;
        assert_eq!(
            engagement.redeem(ada, "ten-off".into()).await,
            Err(EngagementError::NotEnoughPoints {
                balance: 0,
                needed: 200
            })
        );
        for i in 0..2 {
            engagement
                .grant(ada, GrantKind::Invite, format!("friend-{i}"))
                .await
                .unwrap();
        }
        assert_eq!(
            engagement.redeem(ada, "free-car".into()).await,
            Err(EngagementError::UnknownReward)
        );
        let (code, balance) = engagement.redeem(ada, "ten-off".into()).await.unwrap();
        assert_eq!(balance, 0);
        let coupon = shop
            .coupon(CouponCode::new(code.clone()).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(coupon.coupon.max_redemptions, Some(1));
        assert_eq!(coupon.coupon.discount, commerce::Discount::Percent(10));
        // Spending does not lower what was earned.
        let rewards = engagement.rewards(ada).await.unwrap();
        assert_eq!((rewards.balance, rewards.earned), (0, 200));
        assert!(
            rewards
                .recent
                .iter()
                .any(|g| (g.points, g.reason.as_str()) == (-200, "redeem"))
        );
    }
}

#[tokio::test]
async fn polls_count_one_vote_each_and_close() {
    for (store, _dir) in stores().await {
        let (engagement, _) = setup(&store, rules().await).await;
        let host = shopper(&store, "Host").await;
        let (ada, bob) = (shopper(&store, "Ada").await, shopper(&store, "Bob").await);
        let options = |n: usize| (0..n).map(|i| format!("Option {i}")).collect::<Vec<_>>();
        for (question, opts, secs) in [
            ("Which colour?", options(1), 60),
            ("Which colour?", options(7), 60),
            ("", options(2), 60),
            ("Which colour?", vec!["Red".into(), "Red".into()], 60),
            ("Which colour?", vec!["Red".into(), " ".into()], 60),
            ("Which colour?", options(2), 5),
            ("Which colour?", options(2), 601),
        ] {
            assert!(matches!(
                engagement
                    .create_poll(host, question.into(), opts, secs)
                    .await,
                Err(EngagementError::Invalid(_))
            ));
        }
        let poll = engagement
            .create_poll(
                host,
                "Which colour?".into(),
                vec!["Sage".into(), "Oat".into()],
                60,
            )
            .await
            .unwrap();
        assert_eq!(
            engagement.vote(ada, poll.id, 1).await.unwrap().counts,
            [0, 1]
        );
        assert_eq!(
            engagement.vote(ada, poll.id, 0).await,
            Err(EngagementError::AlreadyVoted)
        );
        assert_eq!(
            engagement.vote(bob, poll.id, 2).await,
            Err(EngagementError::BadOption)
        );
        assert_eq!(
            engagement.vote(bob, PollId(12345), 0).await,
            Err(EngagementError::UnknownPoll)
        );
        assert_eq!(grants(&store, ada, "poll_answer").await, 1);
        // A new poll closes this one.
        let next = engagement
            .create_poll(host, "Next?".into(), options(3), 60)
            .await
            .unwrap();
        assert_eq!(
            engagement.vote(bob, poll.id, 0).await,
            Err(EngagementError::PollClosed)
        );
        assert!(engagement.poll(poll.id).await.unwrap().closed);
        engagement.vote(bob, next.id, 2).await.unwrap();
        // A restart keeps the counts and the voters.
        let (again, _) = setup(&store, rules().await).await;
        assert_eq!(again.poll(poll.id).await.unwrap().counts, [0, 1]);
        assert_eq!(
            again.vote(bob, next.id, 0).await,
            Err(EngagementError::AlreadyVoted)
        );
    }
}

#[tokio::test]
async fn a_poll_closes_when_the_clock_passes_its_time_and_announces_the_results() {
    for (store, _dir) in stores().await {
        let time = ManualClock::starting_now();
        let (engagement, _) = setup_on(&store, rules().await, time.clock()).await;
        let host = shopper(&store, "Host").await;
        let (ada, bob) = (shopper(&store, "Ada").await, shopper(&store, "Bob").await);
        let mut events = engagement.subscribe();
        let poll = engagement
            .create_poll(
                host,
                "Which colour?".into(),
                vec!["Sage".into(), "Oat".into()],
                30,
            )
            .await
            .unwrap();
        engagement.vote(ada, poll.id, 0).await.unwrap();
        // A millisecond short of its time it is still open.
        time.advance(Duration::from_secs(30) - Duration::from_millis(1));
        assert!(!engagement.poll(poll.id).await.unwrap().closed);
        engagement.vote(bob, poll.id, 1).await.unwrap();
        time.advance(Duration::from_millis(1));
        assert_eq!(
            engagement.vote(host, poll.id, 0).await,
            Err(EngagementError::PollClosed)
        );
        // The engine's clock closes it and announces the final counts.
        let results = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Ok(EngagementEvent::PollResults {
                    poll_id,
                    counts,
                    closed: true,
                }) = events.recv().await
                    && poll_id == poll.id
                {
                    return counts;
                }
            }
        })
        .await
        .expect("the poll closed");
        assert_eq!(results, [1, 1]);
        let closed = engagement.poll(poll.id).await.unwrap();
        assert!(closed.closed);
        assert_eq!(closed.closes_at_ms, poll.closes_at_ms);
    }
}

#[tokio::test]
async fn questions_are_asked_upvoted_by_others_and_answered() {
    for (store, _dir) in stores().await {
        let (engagement, _) = setup(&store, rules().await).await;
        let (ada, bob, cy) = (
            shopper(&store, "Ada").await,
            shopper(&store, "Bob").await,
            shopper(&store, "Cy").await,
        );
        let text = |t: &str| ChatText::new(t).unwrap();
        let name = |n: &str| DisplayName::new(n).unwrap();
        let first = engagement
            .ask(ada, name("Ada"), text("Is it dishwasher safe?"))
            .await
            .unwrap();
        let second = engagement
            .ask(bob, name("Bob"), text("Does it come in blue?"))
            .await
            .unwrap();
        assert_eq!(
            engagement.upvote(ada, first.id).await,
            Err(EngagementError::OwnQuestion)
        );
        assert_eq!(engagement.upvote(cy, second.id).await.unwrap().votes, 1);
        assert_eq!(
            engagement.upvote(cy, second.id).await,
            Err(EngagementError::AlreadyUpvoted)
        );
        let queue = engagement.questions().await.unwrap();
        assert_eq!(
            queue.iter().map(|q| q.id).collect::<Vec<_>>(),
            [second.id, first.id],
            "most upvoted first"
        );
        engagement.answered(second.id).await.unwrap();
        let queue = engagement.questions().await.unwrap();
        assert_eq!((queue[0].id, queue[1].answered), (first.id, true));
        // Five open at a time per shopper.
        for i in 0..4 {
            engagement
                .ask(ada, name("Ada"), text(&format!("More {i}?")))
                .await
                .unwrap();
        }
        assert_eq!(
            engagement.ask(ada, name("Ada"), text("One more?")).await,
            Err(EngagementError::TooManyQuestions(5))
        );
    }
}

/// Polls the engine until `giveaway` has `draws` draws, for at most 10 s
/// (it looks at its clock four times a second).
async fn drawn(
    engagement: &EngagementHandle,
    giveaway: GiveawayId,
    draws: usize,
) -> Option<Giveaway> {
    for _ in 0..1000 {
        let g = engagement.giveaway(giveaway).await.unwrap();
        if g.draws.len() >= draws {
            return Some(g);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test]
async fn a_giveaway_is_drawn_verifiably_and_redrawn_when_unclaimed() {
    for (store, _dir) in stores().await {
        let mut rules = rules().await;
        rules.giveaway_claim = Duration::from_millis(500);
        let time = ManualClock::starting_now();
        let (engagement, _) = setup_on(&store, rules.clone(), time.clock()).await;
        let host = shopper(&store, "Host").await;
        let mut entrants = Vec::new();
        for i in 0..6 {
            entrants.push(shopper(&store, &format!("Fan {i}")).await);
        }
        let giveaway = engagement
            .create_giveaway(host, "A lamp".into(), EntryRule::Everyone, 60)
            .await
            .unwrap();
        assert_eq!(giveaway.seed, None, "secret until entries close");
        assert_eq!(
            engagement
                .create_giveaway(host, "Another".into(), EntryRule::Everyone, 60)
                .await,
            Err(EngagementError::GiveawayOpen)
        );
        for fan in &entrants {
            engagement.enter(*fan, giveaway.id).await.unwrap();
        }
        assert_eq!(
            engagement.enter(entrants[0], giveaway.id).await,
            Err(EngagementError::AlreadyEntered)
        );

        // Entries close when the clock passes the window, not before.
        time.advance(Duration::from_secs(60) - Duration::from_millis(1));
        engagement.enter(host, giveaway.id).await.unwrap();
        time.advance(Duration::from_millis(1));
        assert_eq!(
            engagement.enter(entrants[0], giveaway.id).await,
            Err(EngagementError::GiveawayClosed)
        );
        // Drawn, then drawn again when the winner does not claim in time.
        let first_draw = drawn(&engagement, giveaway.id, 1).await.unwrap();
        assert_eq!(first_draw.draws.len(), 1, "no redraw while the claim runs");
        time.advance(rules.giveaway_claim);
        let g = drawn(&engagement, giveaway.id, 2).await.unwrap();
        // Anyone can check: the seed matches the commitment published at
        // the start, and the draws follow from the seed and the entries.
        let seed = g.seed.clone().unwrap();
        assert_eq!(commitment_of(&seed).unwrap(), giveaway.commitment);
        let entries: Vec<u64> = g.entries.iter().map(|a| a.0).collect();
        let first = draw_winner(&seed, &entries, 0, &[]).unwrap();
        let second = draw_winner(&seed, &entries, 1, &[first]).unwrap();
        assert_eq!(g.draws[0].account.0, first);
        assert_eq!(g.draws[1].account.0, second);
        assert!(!g.draws[0].claimed);
        // The first winner is too late; the second claims, twice, the same.
        assert_eq!(
            engagement.claim_prize(AccountId(first), giveaway.id).await,
            Err(EngagementError::ClaimExpired)
        );
        let loser = entrants
            .iter()
            .find(|a| a.0 != first && a.0 != second)
            .unwrap();
        assert_eq!(
            engagement.claim_prize(*loser, giveaway.id).await,
            Err(EngagementError::NotWinner)
        );
    }
}

/// "Draw now" writes the draw before it closes entries: when the draw
/// cannot be written, the giveaway stays open, never closed with no winner.
#[tokio::test]
async fn a_draw_now_that_cannot_be_written_leaves_entries_open() {
    for (store, _dir) in stores().await {
        let time = ManualClock::starting_now();
        let (engagement, _) = setup_on(&store, rules().await, time.clock()).await;
        let host = shopper(&store, "Host").await;
        let (fan, late) = (shopper(&store, "Fan").await, shopper(&store, "Late").await);
        let giveaway = engagement
            .create_giveaway(host, "A lamp".into(), EntryRule::Everyone, 600)
            .await
            .unwrap();
        engagement.enter(fan, giveaway.id).await.unwrap();
        // The draw's table is gone: its insert fails.
        sqlx::query("DROP TABLE giveaway_draws")
            .execute(store.pool())
            .await
            .unwrap();
        time.advance(Duration::from_secs(1));
        assert!(engagement.draw_now(giveaway.id).await.is_err());
        let closes_at: i64 = sqlx::query_scalar("SELECT closes_at FROM giveaways WHERE id = $1")
            .bind(giveaway.id.get())
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(closes_at, giveaway.closes_at_ms, "stored closing time");
        engagement.enter(late, giveaway.id).await.unwrap();
    }
}

#[tokio::test]
async fn giveaway_entry_rules_count_within_the_show() {
    for (store, _dir) in stores().await {
        let (engagement, _) = setup(&store, rules().await).await;
        let host = shopper(&store, "Host").await;
        let (ada, bob) = (shopper(&store, "Ada").await, shopper(&store, "Bob").await);
        assert!(matches!(
            engagement
                .create_giveaway(host, "Mug".into(), EntryRule::PresentMinutes(2), 60)
                .await,
            Err(EngagementError::Invalid(_))
        ));
        engagement.start_show(host, "Morning".into()).await.unwrap();
        let g = engagement
            .create_giveaway(host, "Mug".into(), EntryRule::PresentMinutes(2), 60)
            .await
            .unwrap();
        engagement
            .grant(ada, GrantKind::Watch, "1".into())
            .await
            .unwrap();
        assert!(matches!(
            engagement.enter(ada, g.id).await,
            Err(EngagementError::NotEligible(_))
        ));
        engagement
            .grant(ada, GrantKind::Watch, "2".into())
            .await
            .unwrap();
        engagement.enter(ada, g.id).await.unwrap();
        assert!(matches!(
            engagement.enter(bob, g.id).await,
            Err(EngagementError::NotEligible(_))
        ));
    }
}

#[tokio::test]
async fn an_invite_earns_once_the_friend_watches_or_buys_and_a_guest_that_does_neither_earns_nothing()
 {
    for (store, _dir) in stores().await {
        let (engagement, shop) = setup(&store, rules().await).await;
        let ada = shopper(&store, "Ada").await;
        let code = engagement.invite(ada).await.unwrap();
        assert_eq!(engagement.invite(ada).await.unwrap(), code, "one code each");
        let owner = store.invite_owner(&code.to_lowercase()).await.unwrap();
        assert_eq!(owner, Some(ada));
        let mut friends = Vec::new();
        for (i, name) in ["Bo", "Cy", "Dee"].into_iter().enumerate() {
            let name = DisplayName::new(name).unwrap();
            let network = format!("192.0.2.{i}");
            let guest = store.create_guest_from(&name, owner, &network, 1).await;
            friends.push(guest.unwrap().expect("a guest from a fresh network").id);
        }
        let (watcher, buyer, idle) = (friends[0], friends[1], friends[2]);
        // A self-made guest that chats but neither watches nor buys earns
        // its inviter nothing.
        engagement
            .grant(idle, GrantKind::Chat, "line-1".into())
            .await
            .unwrap();
        // A minute watched actively: the inviter earns, once.
        for minute in ["29000001", "29000002"] {
            engagement
                .grant(watcher, GrantKind::Watch, minute.into())
                .await
                .unwrap();
        }
        assert!(until(|| async { engagement.rewards(ada).await.unwrap().balance == 100 }).await);
        // A first paid order: the inviter earns for that friend too.
        let spec = CheckoutSpec {
            purchase: Purchase::BuyNow {
                sku: Sku::new("stoneware-mug-sage").unwrap(),
                quantity: 1,
            },
            coupon: None,
            method: PaymentMethod::new(cards::APPROVED).unwrap(),
        };
        for key in ["first", "second"] {
            let order = shop.checkout(buyer, spec.clone(), (key.into(), 1)).await;
            assert_eq!(order.unwrap().status, "paid");
        }
        // Both orders' purchase points are in, so both were heard.
        assert!(until(|| async { engagement.rewards(buyer).await.unwrap().balance == 100 }).await);
        assert!(until(|| async { engagement.rewards(ada).await.unwrap().balance == 200 }).await);
        // Nobody earns for inviting themselves, or without an invite.
        engagement
            .grant(ada, GrantKind::Watch, "29000003".into())
            .await
            .unwrap();
        assert_eq!(engagement.rewards(ada).await.unwrap().balance, 202);
        assert_eq!(
            grants(&store, ada, "invite").await,
            2,
            "Dee earned Ada nothing"
        );
    }
}
