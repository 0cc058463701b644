//! A group's shared cart against the engine, on every backend the tests
//! have (SQLite, and PostgreSQL when `VITRINE_TEST_POSTGRES` is set). Time
//! moves with a `ManualClock`; the engine's own tick reads it.

use super::shopping_tests::{MUG, SERUM, card, engine, held, key, seeded, sku, stock, total_units};
use super::*;
use crate::clock::ManualClock;
use crate::store::Store;
use crate::store::tests::stores;
use std::time::Duration;
use vitrine_shared::DisplayName;
use vitrine_shared::protocol::{CartGroupId, SharedCartChange, SharedLineId, SharedPayment};

const GROUP: CartGroupId = CartGroupId(0xfeed_0000_0000_0001);
const ADA: AccountId = AccountId(1);
const BOB: AccountId = AccountId(2);
const CARL: AccountId = AccountId(3);

fn member(account: AccountId, name: &str) -> GroupMember {
    GroupMember {
        account,
        name: DisplayName::new(name).unwrap(),
    }
}

/// Ada and Bob; Carl is not in the group.
fn members() -> Vec<GroupMember> {
    vec![member(ADA, "Ada"), member(BOB, "Bob")]
}

fn add(s: &str, quantity: i64) -> SharedEdit {
    SharedEdit::Add {
        sku: sku(s),
        quantity,
    }
}

/// The store on a clock the test moves.
fn manual(store: Store) -> (Store, ManualClock) {
    let time = ManualClock::starting_now();
    (store.with_clock(time.clock()), time)
}

/// The next shared-cart news of this kind: (members told, lines).
async fn news(
    events: &mut tokio::sync::broadcast::Receiver<CommerceEvent>,
    want: SharedCartChange,
) -> (Vec<AccountId>, Vec<SharedCartLine>) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(CommerceEvent::SharedCartChanged {
                group,
                members,
                lines,
                change,
            }) = events.recv().await
                && change == want
            {
                assert_eq!(group, GROUP);
                return (members, lines);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {want:?} news"))
}

/// (sku, quantity, added by, payer) of each line, in line order.
fn summary(lines: &[SharedCartLine]) -> Vec<(String, i64, String, String)> {
    lines
        .iter()
        .map(|l| {
            (
                l.sku.to_string(),
                l.quantity,
                l.added_by.name.to_string(),
                l.payer.name.to_string(),
            )
        })
        .collect()
}

fn line_of(lines: &[SharedCartLine], s: &str, added_by: AccountId) -> SharedLineId {
    lines
        .iter()
        .find(|l| l.sku.as_str() == s && l.added_by.account == added_by)
        .unwrap_or_else(|| panic!("a {s} line added by {added_by}"))
        .id
}

#[tokio::test]
async fn two_members_add_change_and_remove_lines_and_see_who_added_what() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, _) = engine(&store, EngineSettings::default()).await;
        let (mug0, serum0) = (stock(&store, MUG).await, stock(&store, SERUM).await);
        let mut events = shop.subscribe();

        shop.edit_shared_cart(GROUP, ADA, members(), add(MUG, 2))
            .await
            .unwrap();
        let (told, lines) = news(&mut events, SharedCartChange::Updated).await;
        assert_eq!(told, [ADA, BOB], "every member hears of it");
        assert_eq!(
            summary(&lines),
            [(MUG.into(), 2, "Ada".into(), "Ada".into())]
        );
        shop.edit_shared_cart(GROUP, BOB, members(), add(SERUM, 1))
            .await
            .unwrap();
        // Bob's mugs are his own line, beside Ada's.
        let lines = shop
            .edit_shared_cart(GROUP, BOB, members(), add(MUG, 1))
            .await
            .unwrap();
        assert_eq!(
            summary(&lines),
            [
                (MUG.into(), 2, "Ada".into(), "Ada".into()),
                (SERUM.into(), 1, "Bob".into(), "Bob".into()),
                (MUG.into(), 1, "Bob".into(), "Bob".into()),
            ]
        );
        assert_eq!(stock(&store, MUG).await, mug0 - 3, "reserved at once");
        assert_eq!(stock(&store, SERUM).await, serum0 - 1);
        assert!(
            lines[0].held_until_ms >= store.clock().now_ms() + 590_000,
            "held for the cart hold"
        );

        // Any member changes any line; 0 removes it and frees its units.
        let adas_mug = line_of(&lines, MUG, ADA);
        let bobs_serum = line_of(&lines, SERUM, BOB);
        shop.edit_shared_cart(
            GROUP,
            BOB,
            members(),
            SharedEdit::Set {
                line: adas_mug,
                quantity: 4,
            },
        )
        .await
        .unwrap();
        let lines = shop
            .edit_shared_cart(
                GROUP,
                ADA,
                members(),
                SharedEdit::Set {
                    line: bobs_serum,
                    quantity: 0,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            summary(&lines),
            [
                (MUG.into(), 4, "Ada".into(), "Ada".into()),
                (MUG.into(), 1, "Bob".into(), "Bob".into()),
            ]
        );
        assert_eq!(stock(&store, MUG).await, mug0 - 5);
        assert_eq!(stock(&store, SERUM).await, serum0);

        // Ada will pay for Bob's mug; he still added it.
        let bobs_mug = line_of(&lines, MUG, BOB);
        let lines = shop
            .edit_shared_cart(
                GROUP,
                ADA,
                members(),
                SharedEdit::Mark {
                    line: bobs_mug,
                    payer: ADA,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            summary(&lines)[1],
            (MUG.into(), 1, "Bob".into(), "Ada".into())
        );
        // Each member sees the same cart; a personal cart is apart.
        assert_eq!(
            shop.shared_cart(GROUP, BOB, members()).await.unwrap(),
            lines
        );
        assert!(shop.cart(ADA).await.unwrap().is_empty());
        assert_eq!(held(&store, MUG).await, (5, 0));
        assert_eq!(total_units(&store, MUG).await, mug0);
        assert_eq!(total_units(&store, SERUM).await, serum0);
    }
}

#[tokio::test]
async fn shared_holds_restart_on_change_and_run_out_back_to_stock() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (store, time) = manual(store);
        let (shop, _) = engine(&store, EngineSettings::default()).await;
        let hold = EngineSettings::default().cart_hold;
        let start = stock(&store, SERUM).await;
        let mut events = shop.subscribe();
        let lines = shop
            .edit_shared_cart(GROUP, ADA, members(), add(SERUM, 2))
            .await
            .unwrap();
        assert_eq!(
            lines[0].held_until_ms,
            time.now_ms() + hold.as_millis() as i64
        );

        // A change restarts the line's hold.
        time.advance(hold / 2);
        let lines = shop
            .edit_shared_cart(
                GROUP,
                BOB,
                members(),
                SharedEdit::Set {
                    line: lines[0].id,
                    quantity: 3,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            lines[0].held_until_ms,
            time.now_ms() + hold.as_millis() as i64
        );
        assert_eq!(stock(&store, SERUM).await, start - 3);

        time.advance(hold);
        let (told, left) = news(&mut events, SharedCartChange::Expired).await;
        assert_eq!((told, left), (vec![ADA, BOB], vec![]));
        assert_eq!(stock(&store, SERUM).await, start);
        assert_eq!(held(&store, SERUM).await, (0, 0));
        assert!(
            shop.shared_cart(GROUP, ADA, members())
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn split_checkout_makes_an_order_each_and_pay_for_everyone_one() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, gateway) = engine(&store, EngineSettings::default()).await;
        let (mug0, serum0) = (stock(&store, MUG).await, stock(&store, SERUM).await);
        shop.edit_shared_cart(GROUP, ADA, members(), add(MUG, 2))
            .await
            .unwrap();
        shop.edit_shared_cart(GROUP, BOB, members(), add(SERUM, 1))
            .await
            .unwrap();
        shop.edit_shared_cart(GROUP, BOB, members(), add(MUG, 1))
            .await
            .unwrap();

        // Ada pays for her lines only.
        let adas = shop
            .checkout_shared_cart(
                GROUP,
                ADA,
                members(),
                SharedPayment::Mine,
                card(cards::APPROVED),
                key("split-a", 1),
            )
            .await
            .unwrap();
        assert_eq!(adas.status, "paid");
        assert_eq!(adas.source, "shared_cart");
        let bought: Vec<_> = adas
            .lines
            .iter()
            .map(|l| (l.sku.to_string(), l.quantity))
            .collect();
        assert_eq!(bought, [(MUG.into(), 2)]);
        assert_eq!(adas.total.minor, 2 * adas.lines[0].unit_price.minor);
        let left = shop.shared_cart(GROUP, BOB, members()).await.unwrap();
        assert_eq!(
            summary(&left),
            [
                (SERUM.into(), 1, "Bob".into(), "Bob".into()),
                (MUG.into(), 1, "Bob".into(), "Bob".into()),
            ],
            "Bob's lines wait for him"
        );

        // A retry with the same key is the same order, charged once.
        for _ in 0..3 {
            let again = shop
                .checkout_shared_cart(
                    GROUP,
                    ADA,
                    members(),
                    SharedPayment::Mine,
                    card(cards::APPROVED),
                    key("split-a", 1),
                )
                .await
                .unwrap();
            assert_eq!(again.id, adas.id);
        }
        // The same key for another purchase is a conflict.
        assert_eq!(
            shop.checkout_shared_cart(
                GROUP,
                ADA,
                members(),
                SharedPayment::Everyone,
                card(cards::APPROVED),
                key("split-a", 2),
            )
            .await,
            Err(CommerceError::IdempotencyConflict)
        );
        let bobs = shop
            .checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                SharedPayment::Mine,
                card(cards::APPROVED),
                key("split-b", 1),
            )
            .await
            .unwrap();
        assert_eq!(bobs.status, "paid");
        assert_eq!(bobs.lines.len(), 2);
        assert_eq!(
            shop.orders(ADA).await.unwrap().len(),
            1,
            "two orders in all"
        );
        assert_eq!(shop.orders(BOB).await.unwrap().len(), 1);
        assert_eq!(gateway.captured(), 2);
        assert!(
            shop.shared_cart(GROUP, ADA, members())
                .await
                .unwrap()
                .is_empty()
        );

        // Pay for everyone: one order of every line, whoever it is marked for.
        shop.edit_shared_cart(GROUP, ADA, members(), add(SERUM, 2))
            .await
            .unwrap();
        shop.edit_shared_cart(GROUP, BOB, members(), add(SERUM, 1))
            .await
            .unwrap();
        let all = shop
            .checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                SharedPayment::Everyone,
                card(cards::APPROVED),
                key("all", 1),
            )
            .await
            .unwrap();
        let bought: Vec<_> = all
            .lines
            .iter()
            .map(|l| (l.sku.to_string(), l.quantity))
            .collect();
        assert_eq!(bought, [(SERUM.into(), 3)], "one order line per variant");
        assert_eq!(shop.orders(BOB).await.unwrap().len(), 2);
        assert_eq!(shop.orders(ADA).await.unwrap().len(), 1);
        assert_eq!(gateway.captured(), 3);
        assert!(
            shop.shared_cart(GROUP, ADA, members())
                .await
                .unwrap()
                .is_empty()
        );
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM shared_cart_lines")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(rows, 0, "paid lines leave no rows");
        assert_eq!(held(&store, MUG).await, (0, 3));
        assert_eq!(total_units(&store, MUG).await, mug0);
        assert_eq!(total_units(&store, SERUM).await, serum0);
    }
}

#[tokio::test]
async fn one_members_decline_leaves_the_others_order_and_their_own_lines() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, gateway) = engine(&store, EngineSettings::default()).await;
        let mug0 = stock(&store, MUG).await;
        shop.edit_shared_cart(GROUP, ADA, members(), add(MUG, 2))
            .await
            .unwrap();
        let before = shop
            .edit_shared_cart(GROUP, BOB, members(), add(MUG, 3))
            .await
            .unwrap();
        let bobs_line = before[1].clone();
        let mut events = shop.subscribe();

        let adas = shop
            .checkout_shared_cart(
                GROUP,
                ADA,
                members(),
                SharedPayment::Mine,
                card(cards::APPROVED),
                key("a", 1),
            )
            .await
            .unwrap();
        let declined = shop
            .checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                SharedPayment::Mine,
                card(cards::DECLINED),
                key("b", 1),
            )
            .await;
        assert!(
            matches!(declined, Err(CommerceError::PaymentDeclined { .. })),
            "{declined:?}"
        );
        let (told, restored) = news(&mut events, SharedCartChange::Restored).await;
        assert_eq!(told, [ADA, BOB]);
        // Bob's line is back as it was (his, held again); Ada's order stands.
        assert_eq!(restored.len(), 1);
        assert_eq!(
            (
                restored[0].id,
                &restored[0].added_by,
                &restored[0].payer,
                restored[0].quantity
            ),
            (bobs_line.id, &bobs_line.added_by, &bobs_line.payer, 3)
        );
        assert_eq!(
            shop.shared_cart(GROUP, ADA, members()).await.unwrap(),
            restored
        );
        let adas_now = &shop.orders(ADA).await.unwrap()[0];
        assert_eq!((adas_now.id, adas_now.status.as_str()), (adas.id, "paid"));
        let bobs = &shop.orders(BOB).await.unwrap()[0];
        assert_eq!(bobs.status, "cancelled");
        assert_eq!(stock(&store, MUG).await, mug0 - 5, "Bob's units still held");
        assert_eq!(held(&store, MUG).await, (3, 2));

        // The retry answers the decline again; another card pays.
        assert_eq!(
            shop.checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                SharedPayment::Mine,
                card(cards::DECLINED),
                key("b", 1),
            )
            .await,
            declined
        );
        assert_eq!(shop.orders(BOB).await.unwrap().len(), 1);
        let paid = shop
            .checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                SharedPayment::Mine,
                card(cards::APPROVED),
                key("b-again", 2),
            )
            .await
            .unwrap();
        assert_eq!(paid.status, "paid");
        assert_eq!(gateway.captured(), 2);
        assert_eq!(held(&store, MUG).await, (0, 5));
        assert_eq!(total_units(&store, MUG).await, mug0);
    }
}

#[tokio::test]
async fn bad_shared_cart_requests_are_refused_and_change_nothing() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let usd = crate::catalog::parse_catalog(
            r#"
currency = "USD"
[[products]]
id = "dollar-mug"
name = "Dollar Mug"
category = "home"
description = "A mug priced in dollars."
price = "9.00"
model = "models/stoneware-mug.glb"
[[products.variants]]
sku = "dollar-mug"
stock = 10
"#,
        )
        .unwrap();
        store.import_catalog(&usd).await.unwrap();
        let (shop, gateway) = engine(&store, EngineSettings::default()).await;
        let lines = shop
            .edit_shared_cart(GROUP, ADA, members(), add(MUG, 2))
            .await
            .unwrap();
        let line = lines[0].id;
        let mug_left = stock(&store, MUG).await;
        let mut events = shop.subscribe();

        let set = |line, quantity| SharedEdit::Set { line, quantity };
        let refused: Vec<(AccountId, SharedEdit, CommerceError)> = vec![
            // Not in the group: nothing, however good the request.
            (CARL, add(MUG, 1), CommerceError::NotGroupMember),
            (CARL, set(line, 0), CommerceError::NotGroupMember),
            (
                CARL,
                SharedEdit::Mark { line, payer: CARL },
                CommerceError::NotGroupMember,
            ),
            (BOB, add(MUG, 0), CommerceError::BadQuantity),
            (BOB, add(MUG, -3), CommerceError::BadQuantity),
            (BOB, add(MUG, 101), CommerceError::BadQuantity),
            (ADA, add(MUG, 99), CommerceError::BadQuantity), // the line would hold 101
            (BOB, set(line, -1), CommerceError::BadQuantity),
            (BOB, set(line, i64::MAX), CommerceError::BadQuantity),
            (BOB, add("no-such-thing", 1), CommerceError::UnknownSku),
            (BOB, set(SharedLineId(-5), 1), CommerceError::UnknownLine),
            (
                BOB,
                SharedEdit::Mark {
                    line: SharedLineId(-5),
                    payer: BOB,
                },
                CommerceError::UnknownLine,
            ),
            (
                BOB,
                SharedEdit::Mark { line, payer: CARL },
                CommerceError::PayerNotInGroup,
            ),
            (BOB, add("dollar-mug", 1), CommerceError::CurrencyMismatch),
        ];
        for (actor, edit, error) in refused {
            assert_eq!(
                shop.edit_shared_cart(GROUP, actor, members(), edit.clone())
                    .await,
                Err(error),
                "{actor} {edit:?}"
            );
        }
        // More than the stock.
        sqlx::query("UPDATE variants SET stock = 1 WHERE sku = $1")
            .bind(SERUM)
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(
            shop.edit_shared_cart(GROUP, BOB, members(), add(SERUM, 2))
                .await,
            Err(CommerceError::NotEnoughStock { available: 1 })
        );
        // Checkouts: from outside, with nothing marked as yours.
        let checkout = |actor, pays_for, k: &str| {
            shop.checkout_shared_cart(
                GROUP,
                actor,
                members(),
                pays_for,
                card(cards::APPROVED),
                key(k, 9),
            )
        };
        assert_eq!(
            checkout(CARL, SharedPayment::Everyone, "c").await,
            Err(CommerceError::NotGroupMember)
        );
        assert_eq!(
            checkout(BOB, SharedPayment::Mine, "b").await,
            Err(CommerceError::NothingMarkedYours)
        );
        assert_eq!(
            shop.checkout_shared_cart(
                CartGroupId(5),
                BOB,
                members(),
                SharedPayment::Everyone,
                card(cards::APPROVED),
                key("e", 9),
            )
            .await,
            Err(CommerceError::EmptyCart),
            "another group's cart is empty"
        );
        // Nothing changed: the cart, the stock, the orders, the news.
        assert_eq!(
            shop.shared_cart(GROUP, ADA, members()).await.unwrap(),
            lines
        );
        assert_eq!(
            shop.shared_cart(GROUP, CARL, members()).await,
            Err(CommerceError::NotGroupMember)
        );
        assert_eq!(stock(&store, MUG).await, mug_left);
        assert_eq!(stock(&store, SERUM).await, 1);
        assert!(shop.orders(BOB).await.unwrap().is_empty());
        assert!(shop.orders(CARL).await.unwrap().is_empty());
        assert_eq!(gateway.authorized(), 0);
        assert!(
            !std::iter::from_fn(|| events.try_recv().ok())
                .any(|e| matches!(e, CommerceEvent::SharedCartChanged { .. })),
            "no news"
        );
    }
}

#[tokio::test]
async fn a_full_shared_cart_takes_no_new_line() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, _) = engine(&store, EngineSettings::default()).await;
        // One line per member per variant: members enough to fill the cart.
        let crowd: Vec<GroupMember> = (1..=MAX_CART_LINES as u64 + 1)
            .map(|i| member(AccountId(i), &format!("Member {i}")))
            .collect();
        for m in &crowd[..MAX_CART_LINES] {
            shop.edit_shared_cart(GROUP, m.account, crowd.clone(), add(SERUM, 1))
                .await
                .unwrap();
        }
        let last = crowd[MAX_CART_LINES].account;
        assert_eq!(
            shop.edit_shared_cart(GROUP, last, crowd.clone(), add(SERUM, 1))
                .await,
            Err(CommerceError::CartFull)
        );
        // Growing a line is still fine.
        shop.edit_shared_cart(GROUP, crowd[0].account, crowd.clone(), add(SERUM, 1))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn ending_the_group_and_restarting_return_every_unit() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let settings = EngineSettings {
            payment_timeout: Duration::from_secs(60),
            ..EngineSettings::default()
        };
        let (first, _) = engine(&store, settings).await;
        let (mug0, serum0) = (stock(&store, MUG).await, stock(&store, SERUM).await);

        // The group ends: every unit back, every member told.
        first
            .edit_shared_cart(GROUP, ADA, members(), add(MUG, 2))
            .await
            .unwrap();
        first
            .edit_shared_cart(GROUP, BOB, members(), add(SERUM, 4))
            .await
            .unwrap();
        let mut events = first.subscribe();
        assert_eq!(first.end_shared_cart(GROUP).await, Ok(6));
        let (told, lines) = news(&mut events, SharedCartChange::Ended).await;
        assert_eq!((told, lines), (vec![ADA, BOB], vec![]));
        assert_eq!(
            (stock(&store, MUG).await, stock(&store, SERUM).await),
            (mug0, serum0)
        );
        assert_eq!(held(&store, MUG).await, (0, 0));
        assert_eq!(first.end_shared_cart(GROUP).await, Ok(0), "ended once");

        // A restart: lines in the cart go back; a line in an order being
        // paid stays with it, and a retry finishes that order once.
        first
            .edit_shared_cart(GROUP, ADA, members(), add(MUG, 3))
            .await
            .unwrap();
        first
            .edit_shared_cart(GROUP, BOB, members(), add(SERUM, 1))
            .await
            .unwrap();
        let stuck = first
            .try_checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                SharedPayment::Mine,
                card(cards::NO_ANSWER),
                key("r", 7),
            )
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            while first.orders(BOB).await.unwrap().is_empty() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the order was made");
        assert_eq!(held(&store, MUG).await, (3, 0));
        assert_eq!(held(&store, SERUM).await, (0, 1));

        let (second, gateway) = engine(&store, EngineSettings::default()).await;
        assert_eq!(stock(&store, MUG).await, mug0, "the cart's units are back");
        assert_eq!(held(&store, MUG).await, (0, 0));
        assert_eq!(
            held(&store, SERUM).await,
            (0, 1),
            "the order keeps its unit"
        );
        assert!(
            second
                .shared_cart(GROUP, ADA, members())
                .await
                .unwrap()
                .is_empty()
        );
        let order = second
            .checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                SharedPayment::Mine,
                card(cards::APPROVED),
                key("r", 7),
            )
            .await
            .unwrap();
        assert_eq!(order.status, "paid");
        assert_eq!(
            second.orders(BOB).await.unwrap().len(),
            1,
            "no second order"
        );
        assert_eq!(gateway.captured(), 1);
        assert_eq!(total_units(&store, MUG).await, mug0);
        assert_eq!(total_units(&store, SERUM).await, serum0);
        drop(stuck);
    }
}
