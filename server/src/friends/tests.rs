//! Friends on every backend the tests have: codes, requests, the graph in
//! memory following the store, blocks, caps and the request limit.

use super::*;
use crate::clock::ManualClock;
use crate::store::tests::stores;
use vitrine_shared::Role;

async fn shopper(store: &Store, name: &str) -> Account {
    store
        .create_account(&DisplayName::new(name).unwrap(), Role::Shopper, "guest")
        .await
        .unwrap()
}

async fn count(store: &Store, table: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Rows of every friends table: a refusal must change none.
async fn rows(store: &Store) -> [i64; 4] {
    [
        count(store, "friend_codes").await,
        count(store, "friend_requests").await,
        count(store, "friendships").await,
        count(store, "friend_blocks").await,
    ]
}

fn drain(news: &mut mpsc::UnboundedReceiver<FriendsNews>) -> Vec<FriendsNews> {
    std::iter::from_fn(|| news.try_recv().ok()).collect()
}

#[tokio::test]
async fn a_request_by_code_accepted_makes_friends_in_the_store_and_in_memory() {
    for (store, _dir) in stores().await {
        let (friends, mut news) = Friends::load(store.clone(), Clock::system()).await.unwrap();
        let (ada, bob) = (shopper(&store, "Ada").await, shopper(&store, "Bob").await);
        let code = friends.code(bob.id).await.unwrap();
        assert_eq!(friends.code(bob.id).await.unwrap(), code, "one code, kept");

        // By link, in any case: the same code.
        let link = code.link().to_lowercase();
        let sent = friends.send_request(&ada, &link).await.unwrap();
        assert_eq!(
            sent,
            Sent::Pending {
                to: bob.id,
                name: bob.name.clone()
            }
        );
        let (incoming, outgoing) = friends.requests(bob.id).await.unwrap();
        assert_eq!(incoming.len(), 1);
        assert_eq!((incoming[0].account, outgoing.len()), (ada.id, 0));
        assert!(!friends.are_friends(ada.id, bob.id));

        let friend = friends.accept(&bob, ada.id).await.unwrap();
        assert_eq!((friend.account, friend.room), (ada.id, None));
        assert!(friends.are_friends(ada.id, bob.id) && friends.are_friends(bob.id, ada.id));
        assert_eq!(friends.requests(bob.id).await.unwrap().0, vec![]);
        assert_eq!(
            drain(&mut news),
            [
                FriendsNews::RequestArrived {
                    to: bob.id,
                    from: ada.id,
                    name: ada.name.clone()
                },
                FriendsNews::Added {
                    a: bob.id,
                    b: ada.id
                },
            ]
        );

        // A restart loads the same graph, names included.
        let (again, _) = Friends::load(store.clone(), Clock::system()).await.unwrap();
        assert!(again.are_friends(ada.id, bob.id));
        let names: Vec<String> = again
            .list(ada.id)
            .into_iter()
            .map(|f| f.name.to_string())
            .collect();
        assert_eq!(names, ["Bob"]);

        // Removing ends it on both sides, and in the store.
        friends.remove(bob.id, ada.id).await.unwrap();
        assert!(!friends.are_friends(ada.id, bob.id));
        assert_eq!(count(&store, "friendships").await, 0);
        assert!(matches!(
            friends.remove(bob.id, ada.id).await,
            Err(FriendError::NotFriends)
        ));
    }
}

#[tokio::test]
async fn asking_someone_who_asked_you_accepts_and_decline_drops_the_request() {
    for (store, _dir) in stores().await {
        let (friends, _news) = Friends::load(store.clone(), Clock::system()).await.unwrap();
        let (ada, bob, cy) = (
            shopper(&store, "Ada").await,
            shopper(&store, "Bob").await,
            shopper(&store, "Cy").await,
        );
        let ada_code = friends.code(ada.id).await.unwrap().to_string();
        let bob_code = friends.code(bob.id).await.unwrap().to_string();
        friends.send_request(&ada, &bob_code).await.unwrap();
        let sent = friends.send_request(&bob, &ada_code).await.unwrap();
        assert_eq!(
            sent,
            Sent::Friends {
                with: ada.id,
                name: ada.name.clone()
            }
        );
        assert!(friends.are_friends(ada.id, bob.id));
        assert_eq!(count(&store, "friend_requests").await, 0);

        friends.send_request(&cy, &ada_code).await.unwrap();
        friends.decline(ada.id, cy.id).await.unwrap();
        assert_eq!(count(&store, "friend_requests").await, 0);
        assert!(!friends.are_friends(ada.id, cy.id));
        assert!(matches!(
            friends.decline(ada.id, cy.id).await,
            Err(FriendError::NoSuchRequest)
        ));
        assert!(matches!(
            friends.accept(&ada, cy.id).await,
            Err(FriendError::NoSuchRequest)
        ));
    }
}

#[tokio::test]
async fn each_bad_request_is_refused_by_name_and_changes_nothing() {
    for (store, _dir) in stores().await {
        let (friends, mut news) = Friends::load(store.clone(), Clock::system()).await.unwrap();
        let (ada, bob, cy) = (
            shopper(&store, "Ada").await,
            shopper(&store, "Bob").await,
            shopper(&store, "Cy").await,
        );
        let ada_code = friends.code(ada.id).await.unwrap().to_string();
        let bob_code = friends.code(bob.id).await.unwrap().to_string();
        let cy_code = friends.code(cy.id).await.unwrap().to_string();
        friends.send_request(&ada, &bob_code).await.unwrap();
        friends.send_request(&ada, &cy_code).await.unwrap();
        friends.accept(&cy, ada.id).await.unwrap();
        // Rotating: the old code is unknown from now on.
        let old_bob = bob_code.clone();
        let bob_code = friends.rotate(bob.id).await.unwrap().to_string();
        assert_ne!(old_bob, bob_code);
        drain(&mut news);
        let before = rows(&store).await;

        let refusals: Vec<(&str, Result<Sent, FriendError>)> = vec![
            ("malformed", friends.send_request(&ada, "K7QM-3XP0").await),
            ("own code", friends.send_request(&ada, &ada_code).await),
            ("rotated", friends.send_request(&cy, &old_bob).await),
            ("unknown", friends.send_request(&ada, "2222-2222").await),
            ("pending", friends.send_request(&ada, &bob_code).await),
            ("friends", friends.send_request(&ada, &cy_code).await),
        ];
        let names: Vec<(&str, String)> = refusals
            .into_iter()
            .map(|(what, r)| (what, format!("{:?}", r.unwrap_err())))
            .collect();
        assert_eq!(
            names,
            [
                ("malformed", "BadCode(BadFriendCode)".to_owned()),
                ("own code", "ToSelf".to_owned()),
                ("rotated", "UnknownCode".to_owned()),
                ("unknown", "UnknownCode".to_owned()),
                ("pending", "AlreadyPending".to_owned()),
                ("friends", "AlreadyFriends".to_owned()),
            ]
        );
        assert!(matches!(
            friends.block(ada.id, ada.id).await,
            Err(FriendError::ToSelf)
        ));
        assert!(matches!(
            friends.block(ada.id, AccountId(1)).await,
            Err(FriendError::UnknownAccount)
        ));
        assert!(matches!(
            friends.unblock(ada.id, bob.id).await,
            Err(FriendError::NotBlocked)
        ));
        assert!(matches!(
            friends.room_to_follow(ada.id, bob.id),
            Err(FriendError::NotFriends)
        ));
        assert!(matches!(
            friends.room_to_follow(ada.id, cy.id),
            Err(FriendError::FriendOffline)
        ));
        assert_eq!(rows(&store).await, before, "refusals change nothing");
        assert_eq!(drain(&mut news), [], "and tell nobody");
    }
}

#[tokio::test]
async fn a_block_ends_everything_between_two_and_is_not_revealed() {
    for (store, _dir) in stores().await {
        let (friends, mut news) = Friends::load(store.clone(), Clock::system()).await.unwrap();
        let (ada, bob, cy) = (
            shopper(&store, "Ada").await,
            shopper(&store, "Bob").await,
            shopper(&store, "Cy").await,
        );
        let ada_code = friends.code(ada.id).await.unwrap().to_string();
        let bob_code = friends.code(bob.id).await.unwrap().to_string();
        friends.send_request(&bob, &ada_code).await.unwrap();
        friends.accept(&ada, bob.id).await.unwrap();
        friends.send_request(&cy, &ada_code).await.unwrap();
        friends.set_presence(ada.id, Some(RoomId::new("hall").unwrap()));
        assert_eq!(
            friends.room_to_follow(bob.id, ada.id).unwrap().as_str(),
            "hall"
        );
        drain(&mut news);

        friends.block(ada.id, bob.id).await.unwrap();
        friends.block(ada.id, cy.id).await.unwrap();
        assert!(!friends.are_friends(ada.id, bob.id));
        assert!(friends.is_blocked_either_way(bob.id, ada.id));
        assert!(friends.is_blocked_either_way(ada.id, bob.id));
        assert!(!friends.is_blocked_either_way(bob.id, cy.id));
        assert_eq!(count(&store, "friendships").await, 0);
        assert_eq!(
            count(&store, "friend_requests").await,
            0,
            "Cy's request went"
        );
        assert_eq!(
            drain(&mut news),
            [FriendsNews::Removed {
                a: ada.id,
                b: bob.id
            }],
            "only a friendship's end is news"
        );
        assert!(matches!(
            friends.block(ada.id, bob.id).await,
            Err(FriendError::AlreadyBlocked)
        ));

        // Bob cannot ask again: the code reads as unknown to him. Ada must
        // unblock first, and is told so.
        let before = rows(&store).await;
        assert!(matches!(
            friends.send_request(&bob, &ada_code).await,
            Err(FriendError::UnknownCode)
        ));
        assert!(matches!(
            friends.send_request(&ada, &bob_code).await,
            Err(FriendError::YouBlocked)
        ));
        // Nor follow her.
        assert!(matches!(
            friends.room_to_follow(bob.id, ada.id),
            Err(FriendError::NotFriends)
        ));
        assert_eq!(rows(&store).await, before);

        // Blocks survive a restart, and unblocking lets him ask again.
        let (again, _) = Friends::load(store.clone(), Clock::system()).await.unwrap();
        assert!(again.is_blocked_either_way(ada.id, bob.id));
        let blocked: Vec<String> = friends
            .blocked(ada.id)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, n)| n.to_string())
            .collect();
        assert_eq!(blocked, ["Bob", "Cy"]);
        friends.unblock(ada.id, bob.id).await.unwrap();
        assert!(!friends.is_blocked_either_way(ada.id, bob.id));
        assert!(matches!(
            friends.send_request(&bob, &ada_code).await,
            Ok(Sent::Pending { .. })
        ));
    }
}

#[tokio::test]
async fn requests_are_rate_limited_per_account_and_refill_with_time() {
    for (store, _dir) in stores().await {
        let time = ManualClock::starting_now();
        let rate = RateConfig {
            per_second: 1.0 / 60.0,
            burst: 3,
        };
        let (friends, _news) = Friends::load_with_rate(store.clone(), time.clock(), rate)
            .await
            .unwrap();
        let spammer = shopper(&store, "Spam").await;
        let mut codes = Vec::new();
        for i in 0..5 {
            let target = shopper(&store, &format!("T{i}")).await;
            codes.push(friends.code(target.id).await.unwrap().to_string());
        }
        for code in &codes[..3] {
            friends.send_request(&spammer, code).await.unwrap();
        }
        let before = rows(&store).await;
        let Err(FriendError::RateLimited(wait)) = friends.send_request(&spammer, &codes[3]).await
        else {
            panic!("the fourth request in a burst of three passed");
        };
        assert!(wait <= Duration::from_secs(60), "{wait:?}");
        assert_eq!(rows(&store).await, before);
        // Another account has its own bucket.
        let other = shopper(&store, "Calm").await;
        friends.send_request(&other, &codes[3]).await.unwrap();
        time.advance(Duration::from_secs(60));
        friends.send_request(&spammer, &codes[3]).await.unwrap();
    }
}

#[tokio::test]
async fn the_friend_cap_holds_on_both_sides() {
    for (store, _dir) in stores().await {
        let (friends, _news) = Friends::load(store.clone(), Clock::system()).await.unwrap();
        let (ada, bob, cy) = (
            shopper(&store, "Ada").await,
            shopper(&store, "Bob").await,
            shopper(&store, "Cy").await,
        );
        // Fill Ada's list in memory (the cap is checked there).
        {
            let mut graph = friends.graph_mut();
            let filler = DisplayName::new("Filler").unwrap();
            for i in 0..MAX_FRIENDS as u64 {
                graph.link((ada.id, &ada.name), (AccountId(1_000_000 + i), &filler));
            }
        }
        let ada_code = friends.code(ada.id).await.unwrap().to_string();
        let bob_code = friends.code(bob.id).await.unwrap().to_string();
        friends.send_request(&cy, &bob_code).await.unwrap();
        let before = rows(&store).await;
        assert!(matches!(
            friends.send_request(&ada, &bob_code).await,
            Err(FriendError::TooManyFriends)
        ));
        assert!(matches!(
            friends.send_request(&bob, &ada_code).await,
            Err(FriendError::TheyHaveTooMany)
        ));
        assert_eq!(rows(&store).await, before);
        // One fewer: room again.
        friends.graph_mut().unlink(ada.id, AccountId(1_000_000));
        friends.send_request(&bob, &ada_code).await.unwrap();
        friends.accept(&ada, bob.id).await.unwrap();
        assert_eq!(friends.list(ada.id).len(), MAX_FRIENDS);
    }
}

#[test]
fn presence_changes_only_when_the_room_does() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&crate::config::sqlite_url(dir.path()))
            .await
            .unwrap();
        let (friends, _news) = Friends::load(store, Clock::system()).await.unwrap();
        let (a, hall, annex) = (
            AccountId(7),
            RoomId::new("hall").unwrap(),
            RoomId::new("annex").unwrap(),
        );
        assert!(friends.set_presence(a, Some(hall.clone())));
        assert!(!friends.set_presence(a, Some(hall)));
        assert!(friends.set_presence(a, Some(annex.clone())));
        assert_eq!(friends.presence(a), Some(annex));
        assert!(friends.set_presence(a, None));
        assert!(!friends.set_presence(a, None));
    });
}

#[tokio::test]
async fn an_account_has_at_most_its_cap_of_requests_waiting_and_a_sender_is_told() {
    for (store, _dir) in stores().await {
        let rate = RateConfig {
            per_second: 1.0,
            burst: 1000,
        };
        let (friends, _news) = Friends::load_with_rate(store.clone(), Clock::system(), rate)
            .await
            .unwrap();
        let star = shopper(&store, "Star").await;
        let code = friends.code(star.id).await.unwrap().to_string();
        for i in 0..MAX_PENDING_REQUESTS {
            let fan = shopper(&store, &format!("Fan{i}")).await;
            friends.send_request(&fan, &code).await.unwrap();
        }
        let late = shopper(&store, "Late").await;
        let before = rows(&store).await;
        assert!(matches!(
            friends.send_request(&late, &code).await,
            Err(FriendError::TheirRequestsFull)
        ));
        assert_eq!(rows(&store).await, before, "the refusal changed nothing");
        assert_eq!(
            friends.requests(star.id).await.unwrap().0.len() as i64,
            MAX_PENDING_REQUESTS
        );
        // Star may still ask others, and an answer makes room.
        let other = shopper(&store, "Other").await;
        let other_code = friends.code(other.id).await.unwrap().to_string();
        friends.send_request(&star, &other_code).await.unwrap();
        let (incoming, _) = friends.requests(star.id).await.unwrap();
        friends.decline(star.id, incoming[0].account).await.unwrap();
        friends.send_request(&late, &code).await.unwrap();
    }
}

#[tokio::test]
async fn a_request_unanswered_for_thirty_days_lapses() {
    for (store, _dir) in stores().await {
        let time = ManualClock::starting_now();
        let store = store.with_clock(time.clock());
        let (friends, _news) = Friends::load(store.clone(), time.clock()).await.unwrap();
        let (ada, bob, cy) = (
            shopper(&store, "Ada").await,
            shopper(&store, "Bob").await,
            shopper(&store, "Cy").await,
        );
        let bob_code = friends.code(bob.id).await.unwrap().to_string();
        friends.send_request(&ada, &bob_code).await.unwrap();
        time.advance(Duration::from_secs(29 * 24 * 3600));
        friends.send_request(&cy, &bob_code).await.unwrap();
        // A day short of thirty: still waiting, and Ada cannot ask again.
        assert!(matches!(
            friends.send_request(&ada, &bob_code).await,
            Err(FriendError::AlreadyPending)
        ));
        time.advance(Duration::from_secs(24 * 3600));
        // Thirty days: Ada's lapsed; Cy's, a day old, waits.
        let (incoming, _) = friends.requests(bob.id).await.unwrap();
        assert_eq!(
            incoming.iter().map(|r| r.account).collect::<Vec<_>>(),
            vec![cy.id]
        );
        let (_, outgoing) = friends.requests(ada.id).await.unwrap();
        assert!(outgoing.is_empty());
        assert_eq!(count(&store, "friend_requests").await, 1);
        assert!(matches!(
            friends.accept(&bob, ada.id).await,
            Err(FriendError::NoSuchRequest)
        ));
        assert!(!friends.are_friends(ada.id, bob.id));
        // Ada may ask afresh.
        friends.send_request(&ada, &bob_code).await.unwrap();
        friends.accept(&bob, ada.id).await.unwrap();
        assert!(friends.are_friends(ada.id, bob.id));
    }
}
