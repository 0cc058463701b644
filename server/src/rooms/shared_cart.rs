//! A group's shared cart in the rooms: a member's shared-cart commands go
//! to the commerce engine with the member's group, and every change of a
//! group's cart reaches each member's clients, in whichever room of this
//! process they are (the engine's news is relayed by `shop`, through
//! [`shared_cart_net`]).
//!
//! Which group a member is in is not this plugin's to decide: the party
//! plugin says so with two messages, the one seam between them.
//! [`CartGroupSet`] names a group and its members (sent whenever they
//! change); [`CartGroupEnded`] ends it, and the engine returns its units to
//! stock. A command from someone in no group is refused, typed, and never
//! reaches the engine (the engine refuses anyone outside the list too),
//! but for a checkout: that goes on as a retry only, since after a restart
//! nobody is in a group yet and a payer must still settle an order the
//! provider may have charged.

use super::inbox::CommandReceived;
use super::membership::{Member, clients_of};
use super::shop::{Awaited, order_net, poll};
use super::{ServerSystems, send_event};
use crate::commerce::{
    CommerceError, CommerceHandle, GroupMember, OrderRecord, SharedCartLine, SharedEdit,
};
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use renet::ClientId;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use tokio::sync::oneshot;
use vitrine_shared::protocol::{
    CartGroupId, CommandKind, CommerceEventNet, RejectReason, Rejection, SharedCartChange,
    SharedCartCommand, SharedCartLineNet, SharedCartNet, SharedCheckoutCommand, ShopRefusal,
};
use vitrine_shared::{AccountId, RoomCommand, ServerMessage, encode};

/// From the party plugin: `group` has these members now (first sent when
/// it forms, again after each join or leave).
#[derive(Message, Debug, Clone)]
pub struct CartGroupSet {
    pub group: CartGroupId,
    pub members: Vec<GroupMember>,
}

/// From the party plugin: `group` has ended (the party dissolved).
#[derive(Message, Debug, Clone)]
pub struct CartGroupEnded {
    pub group: CartGroupId,
}

/// Which group each member is in, as the party plugin last said.
#[derive(Resource, Default, Debug)]
pub struct SharedCartGroups {
    groups: HashMap<CartGroupId, Vec<GroupMember>>,
    member_of: HashMap<AccountId, CartGroupId>,
}

impl SharedCartGroups {
    /// `account`'s group and its members.
    pub fn group_of(&self, account: AccountId) -> Option<(CartGroupId, &[GroupMember])> {
        let group = *self.member_of.get(&account)?;
        Some((group, self.groups.get(&group)?.as_slice()))
    }

    /// Answers who was in the group and is no longer. A group of nobody is
    /// forgotten, not kept empty.
    fn set(&mut self, group: CartGroupId, members: Vec<GroupMember>) -> Vec<AccountId> {
        let mut left = Vec::new();
        self.member_of.retain(|account, g| {
            let leaving = *g == group && !members.iter().any(|m| m.account == *account);
            if leaving {
                left.push(*account);
            }
            !leaving
        });
        for m in &members {
            self.member_of.insert(m.account, group);
        }
        if members.is_empty() {
            self.groups.remove(&group);
        } else {
            self.groups.insert(group, members);
        }
        left
    }

    fn end(&mut self, group: CartGroupId) {
        self.member_of.retain(|_, g| *g != group);
        self.groups.remove(&group);
    }
}

/// The engine's answer with a group's lines.
type LinesAnswer = oneshot::Receiver<Result<Vec<SharedCartLine>, CommerceError>>;

/// The plugin's link to the engine: answers it is waiting for.
#[derive(Resource)]
pub struct SharedCartLink {
    commerce: CommerceHandle,
    edits: Vec<Awaited<Result<Vec<SharedCartLine>, CommerceError>>>,
    checkouts: Vec<(u32, Awaited<Result<OrderRecord, CommerceError>>)>,
    /// Carts fetched for a member who joined a room, or for a group whose
    /// members changed.
    views: Vec<(CartGroupId, Audience, LinesAnswer)>,
}

/// Whom a fetched cart is for.
enum Audience {
    Client(ClientId),
    /// Every member of the group, as it stands when the answer comes.
    Group,
}

impl SharedCartLink {
    pub fn new(commerce: CommerceHandle) -> Self {
        SharedCartLink {
            commerce,
            edits: Vec::new(),
            checkouts: Vec::new(),
            views: Vec::new(),
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_message::<CartGroupSet>()
        .add_message::<CartGroupEnded>()
        .init_resource::<SharedCartGroups>()
        .add_systems(
            Update,
            (
                follow_groups,
                (queue_shared_cart_commands, fetch_shared_carts_of_newcomers),
            )
                .chain()
                .in_set(ServerSystems::Relay),
        )
        .add_systems(
            Update,
            deliver_shared_answers.in_set(ServerSystems::Publish),
        );
}

/// The engine's lines as a member sees them, with totals.
pub(super) fn shared_cart_net(
    group: CartGroupId,
    change: SharedCartChange,
    lines: Vec<SharedCartLine>,
) -> SharedCartNet {
    let lines = lines
        .into_iter()
        .map(|l| SharedCartLineNet {
            line: l.id,
            sku: l.sku,
            product: l.product,
            name: l.name,
            unit_price: l.unit_price,
            quantity: l.quantity,
            held_until_ms: l.held_until_ms,
            added_by: l.added_by.account,
            added_by_name: l.added_by.name,
            payer: l.payer.account,
            payer_name: l.payer.name,
        })
        .collect();
    SharedCartNet::new(group, change, lines)
}

/// Sends the group's cart to each of `members`' clients, in any room.
pub(super) fn send_to_members(
    server: &mut RenetServer,
    members: &Query<&Member>,
    accounts: &[AccountId],
    cart: SharedCartNet,
) {
    let message = ServerMessage::Commerce(CommerceEventNet::SharedCart(cart));
    for account in accounts {
        for client in clients_of(members, *account) {
            send_event(server, client, &message);
        }
    }
}

fn reject(server: &mut RenetServer, client: ClientId, why: ShopRefusal) {
    let rejection = Rejection {
        command: CommandKind::SharedCart,
        reason: RejectReason::Shop(why),
    };
    send_event(server, client, &ServerMessage::Rejected(rejection));
}

/// A shared checkout's key is its request id, apart from the personal
/// checkout's; the hash covers the rest, so reusing an id for another
/// purchase is caught. Not the group: a retry after a restart finds the
/// party re-formed under another id, or none, and is the same purchase.
fn checkout_idempotency(command: &SharedCheckoutCommand) -> (String, u64) {
    let body = encode(&(&command.pays_for, &command.payment, &command.shown)).unwrap_or_default();
    let digest = Sha256::digest(&body);
    let hash = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (format!("room-shared:{}", command.request_id), hash)
}

/// Takes the party plugin's word on groups. A group's members are sent
/// the cart as it is (the engine learns the new list with the request),
/// and one who left is told it ended for them; an ended group's units go
/// back to stock and its members hear so.
fn follow_groups(
    mut set: MessageReader<CartGroupSet>,
    mut ended: MessageReader<CartGroupEnded>,
    mut groups: ResMut<SharedCartGroups>,
    mut link: ResMut<SharedCartLink>,
    clients: Query<&Member>,
    mut server: ResMut<RenetServer>,
) {
    for CartGroupSet { group, members } in set.read() {
        // Who left sees the cart no more: for them the group has ended.
        let left = groups.set(*group, members.clone());
        let gone = SharedCartNet::new(*group, SharedCartChange::Ended, Vec::new());
        send_to_members(&mut server, &clients, &left, gone);
        let Some(first) = members.first() else {
            continue;
        };
        match link
            .commerce
            .try_shared_cart(*group, first.account, members.clone())
        {
            // Delivered to every member of the group by `deliver_shared_answers`.
            Ok(answer) => link.views.push((*group, Audience::Group, answer)),
            Err(e) => tracing::warn!(%e, group = group.0, "shared cart not fetched"),
        }
    }
    for CartGroupEnded { group } in ended.read() {
        groups.end(*group);
        // The engine announces the end to the members itself.
        if let Err(e) = link.commerce.try_end_shared_cart(*group) {
            tracing::error!(%e, group = group.0, "shared cart not ended");
        }
    }
}

fn queue_shared_cart_commands(
    mut received: MessageReader<CommandReceived>,
    members: Query<&Member>,
    groups: Res<SharedCartGroups>,
    mut link: ResMut<SharedCartLink>,
    mut server: ResMut<RenetServer>,
) {
    for CommandReceived { member, command } in received.read() {
        let RoomCommand::SharedCart(command) = command else {
            continue;
        };
        let Ok(member) = members.get(*member) else {
            continue;
        };
        // Identity from the transport; the group from the party plugin.
        let (actor, client) = (member.info.account, member.client);
        let commerce = &link.commerce;
        if let SharedCartCommand::Checkout(checkout) = command {
            let idempotency = checkout_idempotency(checkout);
            let pays_for = (checkout.pays_for, checkout.shown);
            let payment = checkout.payment.clone();
            let queued = match groups.group_of(actor) {
                Some((group, in_group)) => commerce.try_checkout_shared_cart(
                    group,
                    actor,
                    in_group.to_vec(),
                    pays_for,
                    payment,
                    idempotency,
                ),
                // In no group: it can only be a retry of a checkout made.
                None => commerce.try_replay_shared_checkout(actor, pays_for, payment, idempotency),
            };
            match queued {
                Ok(answer) => link
                    .checkouts
                    .push((checkout.request_id, Awaited { client, answer })),
                Err(e) => {
                    let failed = CommerceEventNet::CheckoutFailed {
                        request_id: checkout.request_id,
                        reason: e.refusal().shop,
                    };
                    send_event(&mut server, client, &ServerMessage::Commerce(failed));
                }
            }
            continue;
        }
        let Some((group, in_group)) = groups.group_of(actor) else {
            reject(&mut server, client, ShopRefusal::NotGroupMember);
            continue;
        };
        let in_group = in_group.to_vec();
        let edit = match command {
            SharedCartCommand::Add { sku, quantity } => SharedEdit::Add {
                sku: sku.clone(),
                quantity: i64::from(*quantity),
            },
            SharedCartCommand::SetQuantity { line, quantity } => SharedEdit::Set {
                line: *line,
                quantity: i64::from(*quantity),
            },
            SharedCartCommand::MarkMine { line } => SharedEdit::Mark {
                line: *line,
                payer: actor,
            },
            // Handled above.
            SharedCartCommand::Checkout(_) => continue,
        };
        match commerce.try_edit_shared_cart(group, actor, in_group, edit) {
            Ok(answer) => link.edits.push(Awaited { client, answer }),
            Err(e) => reject(&mut server, client, e.refusal().shop),
        }
    }
}

/// A member who just joined a room is sent their group's cart.
fn fetch_shared_carts_of_newcomers(
    joined: Query<&Member, Added<Member>>,
    groups: Res<SharedCartGroups>,
    mut link: ResMut<SharedCartLink>,
) {
    for member in &joined {
        let account = member.info.account;
        let Some((group, in_group)) = groups.group_of(account) else {
            continue;
        };
        if let Ok(answer) = link
            .commerce
            .try_shared_cart(group, account, in_group.to_vec())
        {
            link.views
                .push((group, Audience::Client(member.client), answer));
        }
    }
}

/// Sends the engine's answers. A successful change is answered by the
/// cart news every member gets; only a refusal needs an answer here.
fn deliver_shared_answers(
    mut link: ResMut<SharedCartLink>,
    groups: Res<SharedCartGroups>,
    members: Query<&Member>,
    mut server: ResMut<RenetServer>,
) {
    let link = &mut *link;
    link.edits.retain_mut(|awaited| {
        let Some(result) = poll(awaited) else {
            return true;
        };
        if let Err(e) = result.and_then(|r| r) {
            reject(&mut server, awaited.client, e.refusal().shop);
        }
        false
    });
    link.checkouts.retain_mut(|(request_id, awaited)| {
        let Some(result) = poll(awaited) else {
            return true;
        };
        let event = match result.and_then(|r| r) {
            Ok(order) => CommerceEventNet::CheckoutDone {
                request_id: *request_id,
                order: order_net(order),
            },
            Err(e) => CommerceEventNet::CheckoutFailed {
                request_id: *request_id,
                reason: e.refusal().shop,
            },
        };
        send_event(&mut server, awaited.client, &ServerMessage::Commerce(event));
        false
    });
    link.views.retain_mut(|(group, audience, answer)| {
        let lines = match answer.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => return true,
            Ok(Ok(lines)) => lines,
            // Refused or gone: the next change's news will carry the cart.
            Ok(Err(_)) | Err(oneshot::error::TryRecvError::Closed) => return false,
        };
        let cart = shared_cart_net(*group, SharedCartChange::Current, lines);
        match audience {
            Audience::Group => {
                let accounts: Vec<AccountId> = groups
                    .groups
                    .get(group)
                    .map(|m| m.iter().map(|m| m.account).collect())
                    .unwrap_or_default();
                send_to_members(&mut server, &members, &accounts, cart);
            }
            Audience::Client(client) => {
                let message = ServerMessage::Commerce(CommerceEventNet::SharedCart(cart));
                send_event(&mut server, *client, &message);
            }
        }
        false
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::harness::TestRooms;
    use crate::store::Account;
    use vitrine_shared::protocol::{SharedCheckoutCommand, SharedLineId, SharedPayment};
    use vitrine_shared::{PaymentMethod, Role, Sku};

    const GROUP: CartGroupId = CartGroupId(41);

    fn member(account: &Account) -> GroupMember {
        GroupMember {
            account: account.id,
            name: account.name.clone(),
        }
    }

    /// The shared carts `client` was sent, oldest first.
    fn carts(rooms: &TestRooms, client: ClientId) -> Vec<SharedCartNet> {
        rooms
            .received(client)
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Commerce(CommerceEventNet::SharedCart(cart)) => Some(cart.clone()),
                _ => None,
            })
            .collect()
    }

    fn refusals(rooms: &TestRooms, client: ClientId) -> Vec<ShopRefusal> {
        rooms
            .received(client)
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Rejected(Rejection {
                    command: CommandKind::SharedCart,
                    reason: RejectReason::Shop(why),
                }) => Some(why.clone()),
                _ => None,
            })
            .collect()
    }

    fn last_cart(rooms: &TestRooms, client: ClientId) -> Option<SharedCartNet> {
        carts(rooms, client).pop()
    }

    /// (sku, quantity, added by, payer) of the last cart `client` got.
    fn seen(rooms: &TestRooms, client: ClientId) -> Vec<(String, i64, String, String)> {
        last_cart(rooms, client)
            .map(|c| {
                c.lines
                    .iter()
                    .map(|l| {
                        (
                            l.sku.to_string(),
                            l.quantity,
                            l.added_by_name.to_string(),
                            l.payer_name.to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn stock(rooms: &TestRooms, sku: &Sku) -> i64 {
        sqlx::query_scalar("SELECT stock FROM variants WHERE sku = $1")
            .bind(sku.as_str())
            .fetch_one(rooms.store.pool())
            .await
            .unwrap()
    }

    /// A checkout naming what `account` was shown in the last cart `client` got.
    fn checkout(
        rooms: &TestRooms,
        (client, account): (ClientId, AccountId),
        request_id: u32,
        pays_for: SharedPayment,
    ) -> RoomCommand {
        let shown = last_cart(rooms, client)
            .and_then(|c| c.to_pay(account, pays_for))
            .expect("something to pay for");
        RoomCommand::SharedCart(SharedCartCommand::Checkout(SharedCheckoutCommand {
            request_id,
            pays_for,
            payment: PaymentMethod::new(crate::commerce::cards::APPROVED).unwrap(),
            shown,
        }))
    }

    /// The orders `client` was answered under `request_id`, in order.
    fn answers(
        rooms: &TestRooms,
        client: ClientId,
        request_id: u32,
    ) -> Vec<Result<i64, ShopRefusal>> {
        rooms
            .received(client)
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Commerce(CommerceEventNet::CheckoutDone {
                    request_id: id,
                    order,
                }) if *id == request_id => Some(Ok(order.id.get())),
                ServerMessage::Commerce(CommerceEventNet::CheckoutFailed {
                    request_id: id,
                    reason,
                }) if *id == request_id => Some(Err(reason.clone())),
                _ => None,
            })
            .collect()
    }

    fn checked_out(rooms: &TestRooms, client: ClientId, request_id: u32) -> Option<i64> {
        answers(rooms, client, request_id)
            .into_iter()
            .find_map(Result::ok)
    }

    #[test]
    fn a_group_listed_with_no_members_is_gone() {
        let ada = GroupMember {
            account: AccountId(1),
            name: vitrine_shared::DisplayName::new("Ada").unwrap(),
        };
        let mut groups = SharedCartGroups::default();
        groups.set(GROUP, vec![ada.clone()]);
        assert_eq!(groups.group_of(ada.account).map(|(g, _)| g), Some(GROUP));
        assert_eq!(groups.set(GROUP, Vec::new()), [ada.account]);
        assert!(groups.group_of(ada.account).is_none());
        assert!(groups.groups.is_empty(), "no empty group is kept");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn members_in_two_rooms_change_one_cart_and_both_see_each_change() {
        let mut rooms = TestRooms::start().await;
        let (ada, ada_c) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (bob, bob_c) = rooms.join("Bob", Role::Shopper, "annex").await;
        let (_, carl_c) = rooms.join("Carl", Role::Shopper, "hall").await;
        let mug = Sku::new("stoneware-mug-sage").unwrap();
        let mug0 = stock(&rooms, &mug).await;
        let add = |quantity| {
            RoomCommand::SharedCart(SharedCartCommand::Add {
                sku: mug.clone(),
                quantity,
            })
        };

        // In no group yet: refused, and the engine never asked.
        rooms.send(ada_c, add(1));
        assert!(rooms.settle(|r| !refusals(r, ada_c).is_empty()));
        assert_eq!(refusals(&rooms, ada_c), [ShopRefusal::NotGroupMember]);

        // The party plugin forms the group: both are sent its cart.
        rooms.app.world_mut().write_message(CartGroupSet {
            group: GROUP,
            members: vec![member(&ada), member(&bob)],
        });
        assert!(rooms.settle(|r| last_cart(r, ada_c).is_some() && last_cart(r, bob_c).is_some()));
        let current = last_cart(&rooms, bob_c).unwrap();
        assert_eq!(
            (current.group, current.change, current.lines.len()),
            (GROUP, SharedCartChange::Current, 0)
        );

        // Ada adds in the hall; Bob, in the annex, sees who added what.
        rooms.send(ada_c, add(2));
        assert!(rooms.settle(|r| seen(r, bob_c).len() == 1 && seen(r, ada_c).len() == 1));
        let want = vec![(mug.to_string(), 2, "Ada".to_owned(), "Ada".to_owned())];
        assert_eq!(
            (seen(&rooms, ada_c), seen(&rooms, bob_c)),
            (want.clone(), want)
        );
        let line: SharedLineId = last_cart(&rooms, bob_c).unwrap().lines[0].line;

        // Bob changes Ada's line and marks it as his: both see it.
        rooms.send(
            bob_c,
            RoomCommand::SharedCart(SharedCartCommand::SetQuantity { line, quantity: 3 }),
        );
        rooms.send(
            bob_c,
            RoomCommand::SharedCart(SharedCartCommand::MarkMine { line }),
        );
        let want = vec![(mug.to_string(), 3, "Ada".to_owned(), "Bob".to_owned())];
        assert!(rooms.settle(|r| seen(r, ada_c) == want && seen(r, bob_c) == want));
        let cart = last_cart(&rooms, ada_c).unwrap();
        assert_eq!(cart.by_payer.len(), 1);
        assert_eq!(cart.by_payer[0].0, bob.id);
        assert_eq!(Some(cart.by_payer[0].1), cart.total);

        // Carl, outside the group, changes nothing and hears nothing of it.
        rooms.send(carl_c, add(1));
        rooms.send(
            carl_c,
            RoomCommand::SharedCart(SharedCartCommand::SetQuantity { line, quantity: 0 }),
        );
        assert!(rooms.settle(|r| refusals(r, carl_c).len() == 2));
        assert_eq!(
            refusals(&rooms, carl_c),
            [ShopRefusal::NotGroupMember, ShopRefusal::NotGroupMember]
        );
        assert!(carts(&rooms, carl_c).is_empty());
        // A bad line is refused to its sender only.
        rooms.send(
            ada_c,
            RoomCommand::SharedCart(SharedCartCommand::MarkMine {
                line: SharedLineId(-1),
            }),
        );
        assert!(rooms.settle(|r| refusals(r, ada_c).len() == 2));
        assert_eq!(refusals(&rooms, ada_c)[1], ShopRefusal::UnknownLine);

        // Split checkout: Ada adds her own line; each pays for theirs.
        rooms.send(ada_c, add(1));
        assert!(rooms.settle(|r| seen(r, bob_c).len() == 2 && seen(r, ada_c).len() == 2));
        let adas_checkout = checkout(&rooms, (ada_c, ada.id), 1, SharedPayment::Mine);
        let bobs_checkout = checkout(&rooms, (bob_c, bob.id), 1, SharedPayment::Mine);
        rooms.send(ada_c, adas_checkout);
        rooms.send(bob_c, bobs_checkout.clone());
        assert!(
            rooms.settle(
                |r| checked_out(r, ada_c, 1).is_some() && checked_out(r, bob_c, 1).is_some()
            )
        );
        assert_ne!(checked_out(&rooms, ada_c, 1), checked_out(&rooms, bob_c, 1));
        assert_eq!(rooms.commerce.orders(ada.id).await.unwrap().len(), 1);
        assert_eq!(rooms.commerce.orders(bob.id).await.unwrap().len(), 1);
        assert!(rooms.settle(|r| seen(r, ada_c).is_empty() && seen(r, bob_c).is_empty()));

        // Bob leaves the group: for him it has ended; he comes back and is
        // sent the cart as it is.
        rooms.app.world_mut().write_message(CartGroupSet {
            group: GROUP,
            members: vec![member(&ada)],
        });
        assert!(rooms.settle(|r| {
            last_cart(r, bob_c).is_some_and(|cart| cart.change == SharedCartChange::Ended)
        }));
        rooms.send(bob_c, add(1));
        assert!(rooms.settle(|r| refusals(r, bob_c).len() == 1));
        assert_eq!(refusals(&rooms, bob_c), [ShopRefusal::NotGroupMember]);
        // Out of the group, his checkout's retry still answers his order
        // (after a restart nobody is in a group); a new one starts nothing.
        let bobs_order = checked_out(&rooms, bob_c, 1);
        rooms.send(bob_c, bobs_checkout.clone());
        assert!(rooms.settle(|r| answers(r, bob_c, 1).len() == 2));
        assert_eq!(answers(&rooms, bob_c, 1)[1], Ok(bobs_order.unwrap()));
        let RoomCommand::SharedCart(SharedCartCommand::Checkout(mut fresh)) = bobs_checkout else {
            unreachable!()
        };
        fresh.request_id = 2;
        rooms.send(
            bob_c,
            RoomCommand::SharedCart(SharedCartCommand::Checkout(fresh)),
        );
        assert!(rooms.settle(|r| !answers(r, bob_c, 2).is_empty()));
        assert_eq!(
            answers(&rooms, bob_c, 2),
            [Err(ShopRefusal::NotGroupMember)]
        );
        assert_eq!(rooms.commerce.orders(bob.id).await.unwrap().len(), 1);
        rooms.app.world_mut().write_message(CartGroupSet {
            group: GROUP,
            members: vec![member(&ada), member(&bob)],
        });
        assert!(rooms.settle(|r| {
            last_cart(r, bob_c).is_some_and(|cart| cart.change == SharedCartChange::Current)
        }));
        assert!(seen(&rooms, bob_c).is_empty());

        // The party dissolves: both hear the cart end.
        rooms.send(ada_c, add(2));
        assert!(rooms.settle(|r| seen(r, bob_c).len() == 1));
        rooms
            .app
            .world_mut()
            .write_message(CartGroupEnded { group: GROUP });
        let ended = |r: &TestRooms, c| {
            last_cart(r, c).is_some_and(|cart| cart.change == SharedCartChange::Ended)
        };
        assert!(rooms.settle(|r| ended(r, ada_c) && ended(r, bob_c)));
        rooms.send(bob_c, add(1));
        assert!(rooms.settle(|r| refusals(r, bob_c).len() == 2));
        assert_eq!(refusals(&rooms, bob_c)[1], ShopRefusal::NotGroupMember);
        // Only what the two orders bought (3 and 1) is gone from stock.
        assert_eq!(stock(&rooms, &mug).await, mug0 - 4);
    }
}
