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
//! reaches the engine; the engine refuses anyone outside the list too.

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

    fn set(&mut self, group: CartGroupId, members: Vec<GroupMember>) {
        self.member_of.retain(|_, g| *g != group);
        for m in &members {
            self.member_of.insert(m.account, group);
        }
        self.groups.insert(group, members);
    }

    fn end(&mut self, group: CartGroupId) {
        self.member_of.retain(|_, g| *g != group);
        self.groups.remove(&group);
    }
}

/// The plugin's link to the engine: answers it is waiting for.
#[derive(Resource)]
pub struct SharedCartLink {
    commerce: CommerceHandle,
    edits: Vec<Awaited<Result<Vec<SharedCartLine>, CommerceError>>>,
    checkouts: Vec<(u32, Awaited<Result<OrderRecord, CommerceError>>)>,
    /// Carts fetched for a member who joined a room, or for a group whose
    /// members changed.
    views: Vec<(
        CartGroupId,
        Audience,
        oneshot::Receiver<Result<Vec<SharedCartLine>, CommerceError>>,
    )>,
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
/// checkout's; the hash covers the rest (the group included), so reusing
/// an id for another purchase is caught.
fn checkout_idempotency(group: CartGroupId, command: &SharedCheckoutCommand) -> (String, u64) {
    let body = encode(&(group, &command.pays_for, &command.payment)).unwrap_or_default();
    let digest = Sha256::digest(&body);
    let hash = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (format!("room-shared:{}", command.request_id), hash)
}

/// Takes the party plugin's word on groups. A group's members are sent
/// the cart as it is (the engine learns the new list with the request);
/// an ended group's units go back to stock and its members hear so.
fn follow_groups(
    mut set: MessageReader<CartGroupSet>,
    mut ended: MessageReader<CartGroupEnded>,
    mut groups: ResMut<SharedCartGroups>,
    mut link: ResMut<SharedCartLink>,
) {
    for CartGroupSet { group, members } in set.read() {
        groups.set(*group, members.clone());
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
        let Some((group, in_group)) = groups.group_of(actor) else {
            reject(&mut server, client, ShopRefusal::NotGroupMember);
            continue;
        };
        let in_group = in_group.to_vec();
        let commerce = &link.commerce;
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
            SharedCartCommand::Checkout(checkout) => {
                let queued = commerce.try_checkout_shared_cart(
                    group,
                    actor,
                    in_group,
                    checkout.pays_for,
                    checkout.payment.clone(),
                    checkout_idempotency(group, checkout),
                );
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
