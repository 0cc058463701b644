//! A group's shared cart against the engine, on every backend the tests
//! have (SQLite, and PostgreSQL when `VITRINE_TEST_POSTGRES` is set). Time
//! moves with a `ManualClock`; the engine's own tick reads it.

use super::shopping_tests::{MUG, SERUM, card, engine, held, key, seeded, sku, stock, total_units};
use super::*;
use crate::clock::ManualClock;
use crate::store::Store;
use crate::store::tests::stores;
use std::sync::Arc;
use std::time::Duration;
use vitrine_shared::protocol::{CartGroupId, SharedCartChange, SharedLineId, SharedPayment};
use vitrine_shared::{DisplayName, Money};

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
    use tokio::sync::broadcast::error::RecvError;
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Ok(CommerceEvent::SharedCartChanged {
                    group,
                    members,
                    lines,
                    change,
                }) if change == want => {
                    assert_eq!(group, GROUP);
                    return (members, lines);
                }
                // A stopped engine says no more: waiting would spin.
                Err(RecvError::Closed) => panic!("the engine stopped before any {want:?} news"),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {want:?} news"))
}

/// Waits until the engine behind `events` has stopped (its news ends).
async fn stopped(mut events: tokio::sync::broadcast::Receiver<CommerceEvent>) {
    use tokio::sync::broadcast::error::RecvError;
    tokio::time::timeout(Duration::from_secs(10), async {
        while !matches!(events.recv().await, Err(RecvError::Closed)) {}
    })
    .await
    .expect("the engine stopped");
}

/// A provider the test steers: authorizations wait for `open` permits (one
/// each), and a capture can succeed at the provider while the answer is
/// lost on the way back (`lose`), as a timeout in flight would.
struct Steered {
    inner: TestGateway,
    open: tokio::sync::Semaphore,
    lose: std::sync::Mutex<Vec<PaymentError>>,
}

impl Steered {
    fn new(open: usize) -> Arc<Steered> {
        Arc::new(Steered {
            inner: TestGateway::default(),
            open: tokio::sync::Semaphore::new(open),
            lose: std::sync::Mutex::new(Vec::new()),
        })
    }
}

impl PaymentGateway for Steered {
    fn authorize<'a>(
        &'a self,
        key: &'a str,
        amount: Money,
        method: &'a str,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        Box::pin(async move {
            self.open.acquire().await.expect("open").forget();
            self.inner.authorize(key, amount, method).await
        })
    }

    fn capture<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), PaymentError>> {
        Box::pin(async move {
            self.inner.capture(key, authorization).await?;
            match self.lose.lock().unwrap().pop() {
                Some(lost) => Err(lost),
                None => Ok(()),
            }
        })
    }

    fn void<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), PaymentError>> {
        self.inner.void(key, authorization)
    }

    fn refund<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
        amount: Money,
    ) -> BoxFuture<'a, Result<(), PaymentError>> {
        self.inner.refund(key, authorization, amount)
    }
}

async fn steered_engine(store: &Store, gateway: Arc<Steered>) -> CommerceHandle {
    spawn(
        store.clone(),
        store.clock().clone(),
        gateway,
        EngineSettings::default(),
    )
    .await
    .unwrap()
}

/// Waits until `buyer` has an order (a checkout sent without waiting).
async fn ordered(shop: &CommerceHandle, buyer: AccountId) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while shop.orders(buyer).await.unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the order was made");
}

/// What `who` is shown to pay for `pays_for` in `group`'s cart now, worked
/// out as a client does it (`SharedCartNet::to_pay`).
async fn shown(
    shop: &CommerceHandle,
    group: CartGroupId,
    who: AccountId,
    pays_for: SharedPayment,
) -> (SharedPayment, Money) {
    let lines = shop.shared_cart(group, ADA, members()).await.unwrap();
    (pays_for, total_of(&lines, who, pays_for))
}

fn total_of(lines: &[SharedCartLine], who: AccountId, pays_for: SharedPayment) -> Money {
    let minor = lines
        .iter()
        .filter(|l| pays_for == SharedPayment::Everyone || l.payer.account == who)
        .map(|l| l.unit_price.minor * l.quantity)
        .sum();
    Money::new(minor, vitrine_shared::Currency::EUR)
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
        // Bob grew Ada's line: it is on his bill now, not hers.
        assert_eq!(
            summary(&lines),
            [
                (MUG.into(), 4, "Ada".into(), "Bob".into()),
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
                shown(&shop, GROUP, ADA, SharedPayment::Mine).await,
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
                    shown(&shop, GROUP, ADA, SharedPayment::Mine).await,
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
                shown(&shop, GROUP, ADA, SharedPayment::Everyone).await,
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
                shown(&shop, GROUP, BOB, SharedPayment::Mine).await,
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
                shown(&shop, GROUP, BOB, SharedPayment::Everyone).await,
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
                shown(&shop, GROUP, ADA, SharedPayment::Mine).await,
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
                shown(&shop, GROUP, BOB, SharedPayment::Mine).await,
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
                shown(&shop, GROUP, BOB, SharedPayment::Mine).await,
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
                shown(&shop, GROUP, BOB, SharedPayment::Mine).await,
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
            // Ada's line stays on Ada's bill unless she says otherwise.
            (
                BOB,
                SharedEdit::Mark { line, payer: ADA },
                CommerceError::NotYourMark,
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
                (pays_for, Money::new(0, vitrine_shared::Currency::EUR)),
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
                (
                    SharedPayment::Everyone,
                    Money::new(0, vitrine_shared::Currency::EUR),
                ),
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
        // The provider answers nothing before the caller gives up.
        let mut slow = TestGateway::default();
        slow.hang = Duration::from_millis(100);
        let first = spawn(
            store.clone(),
            store.clock().clone(),
            Arc::new(slow),
            EngineSettings::default(),
        )
        .await
        .unwrap();
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

        // A restart: lines in the cart go back; a line in an order whose
        // payment got no answer stays with it, and a retry finishes that
        // order once.
        first
            .edit_shared_cart(GROUP, ADA, members(), add(MUG, 3))
            .await
            .unwrap();
        first
            .edit_shared_cart(GROUP, BOB, members(), add(SERUM, 1))
            .await
            .unwrap();
        let bobs = shown(&first, GROUP, BOB, SharedPayment::Mine).await;
        assert_eq!(
            first
                .checkout_shared_cart(
                    GROUP,
                    BOB,
                    members(),
                    bobs,
                    card(cards::NO_ANSWER),
                    key("r", 7),
                )
                .await,
            Err(CommerceError::PaymentTimeout)
        );
        assert_eq!(held(&store, MUG).await, (3, 0));
        assert_eq!(held(&store, SERUM).await, (0, 1));
        // The process ends: the engine stops before the next one starts.
        let news_of_first = first.subscribe();
        drop(first);
        stopped(news_of_first).await;

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
        // Groups died with the process: Bob is in none (the room sends no
        // members) or in a new party. Either way his retry finds his order.
        let order = second
            .checkout_shared_cart(
                CartGroupId(77),
                BOB,
                vec![],
                bobs,
                card(cards::APPROVED),
                key("r", 7),
            )
            .await
            .unwrap();
        assert_eq!(order.status, "paid");
        let again = second
            .checkout_shared_cart(
                CartGroupId(78),
                BOB,
                vec![member(BOB, "Bob")],
                bobs,
                card(cards::APPROVED),
                key("r", 7),
            )
            .await
            .unwrap();
        assert_eq!(again.id, order.id);
        // With no group, only a replay gets through: a new key starts nothing.
        assert_eq!(
            second
                .checkout_shared_cart(
                    CartGroupId(77),
                    BOB,
                    vec![],
                    (SharedPayment::Everyone, bobs.1),
                    card(cards::APPROVED),
                    key("r-new", 8),
                )
                .await,
            Err(CommerceError::NotGroupMember)
        );
        assert_eq!(
            second.orders(BOB).await.unwrap().len(),
            1,
            "no second order"
        );
        assert_eq!(gateway.captured(), 1);
        assert_eq!(total_units(&store, MUG).await, mug0);
        assert_eq!(total_units(&store, SERUM).await, serum0);
    }
}

/// The provider took the money but its answer was lost: the order stays
/// pending with its lines (not back in the cart, where they could be
/// bought again), and the retry with the same key settles it, charged once.
#[tokio::test]
async fn a_payment_without_an_answer_keeps_its_order_and_the_retry_settles_it() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let gateway = Steered::new(1_000);
        let shop = steered_engine(&store, gateway.clone()).await;
        let (mug0, serum0) = (stock(&store, MUG).await, stock(&store, SERUM).await);
        shop.edit_shared_cart(GROUP, ADA, members(), add(MUG, 2))
            .await
            .unwrap();
        shop.edit_shared_cart(GROUP, BOB, members(), add(SERUM, 1))
            .await
            .unwrap();
        let lost = [
            (ADA, PaymentError::Timeout),
            (BOB, PaymentError::Unavailable("reset by peer".into())),
        ];
        for (who, error) in lost {
            gateway.lose.lock().unwrap().push(error);
            let k = key(&format!("lost-{who}"), 1);
            let seen = shown(&shop, GROUP, who, SharedPayment::Mine).await;
            assert_eq!(
                shop.checkout_shared_cart(
                    GROUP,
                    who,
                    members(),
                    seen,
                    card(cards::APPROVED),
                    k.clone(),
                )
                .await,
                Err(CommerceError::PaymentTimeout)
            );
            let orders = shop.orders(who).await.unwrap();
            assert_eq!(orders.len(), 1);
            assert_eq!(orders[0].status, "pending", "not known to have failed");
            let cart = shop.shared_cart(GROUP, ADA, members()).await.unwrap();
            assert!(
                !cart.iter().any(|l| l.payer.account == who),
                "{who}'s lines stay with the order: {cart:?}"
            );
            // The retry settles the order the provider already charged.
            let paid = shop
                .checkout_shared_cart(GROUP, who, members(), seen, card(cards::APPROVED), k)
                .await
                .unwrap();
            assert_eq!((paid.id, paid.status.as_str()), (orders[0].id, "paid"));
        }
        assert_eq!(gateway.inner.captured(), 2, "each charged once");
        assert!(
            shop.shared_cart(GROUP, ADA, members())
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(held(&store, MUG).await, (0, 2));
        assert_eq!(total_units(&store, MUG).await, mug0);
        assert_eq!(total_units(&store, SERUM).await, serum0);
    }
}

/// A declined order's lines come back only where they fit: lines in a
/// pending order count towards the cart's currency and its line limit,
/// and a payer who left the group gets nothing back in it (stock does).
#[tokio::test]
async fn a_decline_restores_only_lines_that_still_fit() {
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
        // Authorizations wait until the test lets them through.
        let gateway = Steered::new(0);
        let shop = steered_engine(&store, gateway.clone()).await;
        let (mug0, serum0) = (stock(&store, MUG).await, stock(&store, SERUM).await);

        // Bob's euro line is in an order being paid; the cart looks empty.
        shop.edit_shared_cart(GROUP, BOB, members(), add(MUG, 1))
            .await
            .unwrap();
        let paying = shop
            .try_checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                shown(&shop, GROUP, BOB, SharedPayment::Mine).await,
                card(cards::DECLINED),
                key("b", 1),
            )
            .unwrap();
        ordered(&shop, BOB).await;
        assert_eq!(
            shop.edit_shared_cart(GROUP, ADA, members(), add("dollar-mug", 1))
                .await,
            Err(CommerceError::CurrencyMismatch),
            "the line in the order is still the cart's currency"
        );
        // The cart's line limit counts it too.
        let crowd: Vec<GroupMember> = (1..=MAX_CART_LINES as u64 + 1)
            .map(|i| member(AccountId(i), &format!("Member {i}")))
            .collect();
        for m in &crowd[2..=MAX_CART_LINES] {
            shop.edit_shared_cart(GROUP, m.account, crowd.clone(), add(SERUM, 1))
                .await
                .unwrap();
        }
        assert_eq!(
            shop.edit_shared_cart(GROUP, ADA, crowd.clone(), add(SERUM, 1))
                .await,
            Err(CommerceError::CartFull)
        );
        gateway.open.add_permits(1);
        assert!(matches!(
            paying.await.unwrap(),
            Err(CommerceError::PaymentDeclined { .. })
        ));
        let cart = shop.shared_cart(GROUP, ADA, crowd.clone()).await.unwrap();
        assert_eq!(cart.len(), MAX_CART_LINES, "back, and no more than fit");
        assert!(
            cart.iter()
                .all(|l| l.unit_price.currency == cart[0].unit_price.currency)
        );
        shop.end_shared_cart(GROUP).await.unwrap();

        // Bob leaves while his order is paid: its units go to stock.
        shop.edit_shared_cart(GROUP, BOB, members(), add(MUG, 2))
            .await
            .unwrap();
        let paying = shop
            .try_checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                shown(&shop, GROUP, BOB, SharedPayment::Mine).await,
                card(cards::DECLINED),
                key("b-left", 1),
            )
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            while shop.orders(BOB).await.unwrap().len() < 2 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the order was made");
        let just_ada = vec![member(ADA, "Ada")];
        shop.shared_cart(GROUP, ADA, just_ada.clone())
            .await
            .unwrap();
        gateway.open.add_permits(1);
        assert!(matches!(
            paying.await.unwrap(),
            Err(CommerceError::PaymentDeclined { .. })
        ));
        assert!(
            shop.shared_cart(GROUP, ADA, just_ada)
                .await
                .unwrap()
                .is_empty(),
            "nothing comes back for a payer who left"
        );
        assert_eq!(stock(&store, MUG).await, mug0);
        assert_eq!(held(&store, MUG).await, (0, 0));
        assert_eq!(total_units(&store, SERUM).await, serum0);
    }
}

/// The rows a checkout marks, and a decline puts back, are the ones it
/// meant: if the store disagrees, nothing is written and nobody is charged.
#[tokio::test]
async fn orders_mark_and_release_exactly_their_own_rows() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let gateway = Steered::new(0);
        let shop = steered_engine(&store, gateway.clone()).await;
        let lines = shop
            .edit_shared_cart(GROUP, ADA, members(), add(MUG, 2))
            .await
            .unwrap();
        // The row was taken by another order behind the engine's back.
        sqlx::query("UPDATE shared_cart_lines SET order_id = 1 WHERE id = $1")
            .bind(lines[0].id.0)
            .execute(store.pool())
            .await
            .unwrap();
        // No authorization may pass: a payment would wait here for ever.
        let refused = tokio::time::timeout(
            Duration::from_secs(10),
            shop.checkout_shared_cart(
                GROUP,
                ADA,
                members(),
                shown(&shop, GROUP, ADA, SharedPayment::Mine).await,
                card(cards::APPROVED),
                key("a", 1),
            ),
        )
        .await;
        assert_eq!(refused, Ok(Err(CommerceError::Storage)));
        assert!(
            shop.orders(ADA).await.unwrap().is_empty(),
            "no order written"
        );
        assert_eq!(gateway.inner.authorized(), 0, "nobody charged");

        // A decline whose rows are gone restores nothing that is not there.
        shop.edit_shared_cart(GROUP, BOB, members(), add(SERUM, 1))
            .await
            .unwrap();
        let paying = shop
            .try_checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                shown(&shop, GROUP, BOB, SharedPayment::Mine).await,
                card(cards::DECLINED),
                key("b", 1),
            )
            .unwrap();
        ordered(&shop, BOB).await;
        sqlx::query("DELETE FROM shared_cart_lines WHERE order_id IS NOT NULL AND sku = $1")
            .bind(SERUM)
            .execute(store.pool())
            .await
            .unwrap();
        gateway.open.add_permits(1);
        assert_eq!(paying.await.unwrap(), Err(CommerceError::Storage));
        assert_eq!(shop.orders(BOB).await.unwrap()[0].status, "pending");
        let cart = shop.shared_cart(GROUP, BOB, members()).await.unwrap();
        assert!(
            !cart.iter().any(|l| l.sku.as_str() == SERUM),
            "no line without its row: {cart:?}"
        );
    }
}

#[tokio::test]
async fn news_ends_when_the_engine_stops() {
    let (events, listener) = tokio::sync::broadcast::channel(4);
    drop(events);
    let mut listener = listener;
    let waited = tokio::spawn(async move {
        news(&mut listener, SharedCartChange::Updated).await;
    });
    let ended = tokio::time::timeout(Duration::from_secs(5), waited).await;
    assert!(
        matches!(ended, Ok(Err(ref e)) if e.is_panic()),
        "the helper gives up at once: {ended:?}"
    );
}

/// Nobody pays for what they did not see: growing a line another member
/// pays for puts it on the grower's bill, and a checkout naming a total
/// that is no longer the cart's is refused, typed, and charges nothing.
#[tokio::test]
async fn a_checkout_pays_only_what_its_payer_was_shown() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, gateway) = engine(&store, EngineSettings::default()).await;
        shop.edit_shared_cart(GROUP, ADA, members(), add(SERUM, 1))
            .await
            .unwrap();
        let lines = shop
            .edit_shared_cart(GROUP, ADA, members(), add(MUG, 1))
            .await
            .unwrap();
        let adas_mug = line_of(&lines, MUG, ADA);
        let adas_look = shown(&shop, GROUP, ADA, SharedPayment::Mine).await;

        // Bob wants more mugs than Ada chose: they are his to pay for.
        let lines = shop
            .edit_shared_cart(
                GROUP,
                BOB,
                members(),
                SharedEdit::Set {
                    line: adas_mug,
                    quantity: 3,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            summary(&lines),
            [
                (SERUM.into(), 1, "Ada".into(), "Ada".into()),
                (MUG.into(), 3, "Ada".into(), "Bob".into()),
            ]
        );
        // Ada pays what she saw or nothing.
        assert_eq!(
            shop.checkout_shared_cart(
                GROUP,
                ADA,
                members(),
                adas_look,
                card(cards::APPROVED),
                key("a", 1),
            )
            .await,
            Err(CommerceError::CartChanged)
        );
        assert!(shop.orders(ADA).await.unwrap().is_empty());
        assert_eq!(gateway.authorized(), 0);
        let adas = shop
            .checkout_shared_cart(
                GROUP,
                ADA,
                members(),
                shown(&shop, GROUP, ADA, SharedPayment::Mine).await,
                card(cards::APPROVED),
                key("a", 2),
            )
            .await
            .unwrap();
        let bought: Vec<_> = adas
            .lines
            .iter()
            .map(|l| (l.sku.to_string(), l.quantity))
            .collect();
        assert_eq!(bought, [(SERUM.into(), 1)]);

        // Paying for everyone: a line added after Bob looked is not his.
        let bobs_look = shown(&shop, GROUP, BOB, SharedPayment::Everyone).await;
        shop.edit_shared_cart(GROUP, ADA, members(), add(SERUM, 2))
            .await
            .unwrap();
        assert_eq!(
            shop.checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                bobs_look,
                card(cards::APPROVED),
                key("b", 1),
            )
            .await,
            Err(CommerceError::CartChanged)
        );
        assert!(shop.orders(BOB).await.unwrap().is_empty());
        assert_eq!(
            shop.shared_cart(GROUP, ADA, members()).await.unwrap().len(),
            2
        );
        // A new price is a change too: refused once, then shown to all.
        sqlx::query("UPDATE variants SET price_minor = price_minor + 100 WHERE sku = $1")
            .bind(SERUM)
            .execute(store.pool())
            .await
            .unwrap();
        let stale = shown(&shop, GROUP, BOB, SharedPayment::Everyone).await;
        assert_eq!(
            shop.checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                stale,
                card(cards::APPROVED),
                key("b", 2),
            )
            .await,
            Err(CommerceError::CartChanged)
        );
        let fresh = shown(&shop, GROUP, BOB, SharedPayment::Everyone).await;
        assert_eq!(fresh.1.minor, stale.1.minor + 2 * 100);
        let all = shop
            .checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                fresh,
                card(cards::APPROVED),
                key("b", 3),
            )
            .await
            .unwrap();
        assert_eq!((all.status.as_str(), all.total), ("paid", fresh.1));
        assert_eq!(gateway.captured(), 2);
    }
}

#[tokio::test]
async fn a_shared_cart_order_kept_for_its_retry_and_then_expired_keeps_no_money() {
    use super::late_payment_tests::nothing_kept;
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, gateway) = engine(
            &store,
            EngineSettings {
                payment_timeout: Duration::from_millis(200),
                // Shorter than the provider's delay: the order expires
                // before the late capture is done.
                payment_hold: Duration::from_millis(400),
                ..EngineSettings::default()
            },
        )
        .await;
        gateway.answer_late(Call::Capture, Duration::from_millis(1500));
        shop.edit_shared_cart(GROUP, BOB, members(), add(SERUM, 1))
            .await
            .unwrap();
        let bobs = shown(&shop, GROUP, BOB, SharedPayment::Mine).await;
        let checkout = || {
            shop.checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                bobs,
                card(cards::APPROVED),
                key("s", 3),
            )
        };
        assert_eq!(checkout().await, Err(CommerceError::PaymentTimeout));
        let order = shop.orders(BOB).await.unwrap().remove(0);
        let authorize_key = format!("authorize-{}", order.id);
        // Expired while the provider still works on the capture.
        tokio::time::timeout(Duration::from_secs(10), async {
            while shop.orders(BOB).await.unwrap()[0].status != "cancelled" {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the unpaid order expires");
        nothing_kept(&gateway, Call::Capture, &authorize_key).await;
        // The retry finds the order cancelled and charges nothing.
        gateway.answer_on_time(Call::Capture);
        assert!(checkout().await.is_err());
        assert_eq!(gateway.standing(&authorize_key), Standing::Clear);
        assert_eq!(gateway.captured(), 0);
    }
}

#[tokio::test]
async fn a_late_capture_pays_the_shared_cart_order_kept_for_its_retry_once() {
    for (store, _dir) in stores().await {
        seeded(&store).await;
        let (shop, gateway) = engine(
            &store,
            EngineSettings {
                payment_timeout: Duration::from_millis(200),
                ..EngineSettings::default()
            },
        )
        .await;
        gateway.answer_late(Call::Capture, Duration::from_millis(600));
        shop.edit_shared_cart(GROUP, BOB, members(), add(SERUM, 1))
            .await
            .unwrap();
        let bobs = shown(&shop, GROUP, BOB, SharedPayment::Mine).await;
        let checkout = || {
            shop.checkout_shared_cart(
                GROUP,
                BOB,
                members(),
                bobs,
                card(cards::APPROVED),
                key("p", 4),
            )
        };
        assert_eq!(checkout().await, Err(CommerceError::PaymentTimeout));
        // The provider's late answer is the order's payment.
        tokio::time::timeout(Duration::from_secs(10), async {
            while shop.orders(BOB).await.unwrap()[0].status != "paid" {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the late capture pays the order");
        gateway.answer_on_time(Call::Capture);
        let again = checkout().await.unwrap();
        assert_eq!(again.status, "paid");
        assert_eq!((gateway.authorized(), gateway.captured()), (1, 1));
        assert_eq!(shop.orders(BOB).await.unwrap().len(), 1);
    }
}
