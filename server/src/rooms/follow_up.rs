//! After the sale, in the room: a newcomer is sent their recent orders as
//! they stand now (what changed while they were away is listed when they
//! come back), and a shopper's `RoomCommand::Review` goes to
//! `crate::reviews`, answered to that shopper as
//! `CommerceEventNet::Reviewed`. Both run on the server's runtime: the room
//! thread never waits on the store.

use super::inbox::CommandReceived;
use super::membership::Member;
use super::shop::order_net;
use super::{ServerSystems, send_event};
use crate::commerce::CommerceHandle;
use crate::reviews::{ReviewError, Reviews};
use crate::store::Account;
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use renet::ClientId;
use std::sync::Arc;
use tokio::sync::oneshot;
use vitrine_shared::protocol::{CommerceEventNet, OrderNet, ReviewRefusal};
use vitrine_shared::{ProductId, RoomCommand, ServerMessage};

/// The most recent orders a newcomer is sent.
pub const RECENT_ORDERS: u16 = 20;

/// The room side of the follow-up.
#[derive(Resource)]
pub struct FollowUpLink {
    reviews: Arc<Reviews>,
    commerce: CommerceHandle,
    runtime: tokio::runtime::Handle,
    waiting: Vec<Waiting>,
    orders: Vec<(ClientId, oneshot::Receiver<Vec<OrderNet>>)>,
}

struct Waiting {
    client: ClientId,
    product: ProductId,
    stars: u8,
    answer: oneshot::Receiver<Result<(), ReviewError>>,
}

impl FollowUpLink {
    pub fn new(
        reviews: Arc<Reviews>,
        commerce: CommerceHandle,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        FollowUpLink {
            reviews,
            commerce,
            runtime,
            waiting: Vec::new(),
            orders: Vec::new(),
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        (fetch_orders_of_newcomers, submit).in_set(ServerSystems::Relay),
    )
    .add_systems(
        Update,
        (answer, send_recent_orders).in_set(ServerSystems::Publish),
    );
}

fn fetch_orders_of_newcomers(
    joined: Query<&Member, Added<Member>>,
    mut link: ResMut<FollowUpLink>,
) {
    for member in &joined {
        let (tx, rx) = oneshot::channel();
        let commerce = link.commerce.clone();
        let buyer = member.info.account;
        link.runtime.spawn(async move {
            // Newest first, as the store lists them; a failure sends none
            // (the orders are still in the app's list over HTTP).
            match commerce.recent_orders(buyer, RECENT_ORDERS).await {
                Ok(orders) => {
                    let _ = tx.send(orders.into_iter().map(order_net).collect());
                }
                Err(e) => tracing::warn!(%e, "a newcomer's orders not read"),
            }
        });
        link.orders.push((member.client, rx));
    }
}

fn send_recent_orders(mut link: ResMut<FollowUpLink>, mut server: ResMut<RenetServer>) {
    link.orders.retain_mut(|(client, rx)| match rx.try_recv() {
        Err(oneshot::error::TryRecvError::Empty) => true,
        Err(oneshot::error::TryRecvError::Closed) => false,
        Ok(orders) => {
            if !orders.is_empty() {
                let message = ServerMessage::Commerce(CommerceEventNet::RecentOrders(orders));
                send_event(&mut server, *client, &message);
            }
            false
        }
    });
}

fn refusal(e: &ReviewError) -> ReviewRefusal {
    match e {
        ReviewError::Refused(refused) => *refused,
        // Staff's refusals cannot come from a review; the store failing
        // is "try again".
        _ => ReviewRefusal::Unavailable,
    }
}

fn submit(
    mut received: MessageReader<CommandReceived>,
    members: Query<&Member>,
    mut link: ResMut<FollowUpLink>,
) {
    for CommandReceived { member, command } in received.read() {
        let RoomCommand::Review {
            product,
            stars,
            text,
        } = command
        else {
            continue;
        };
        let Ok(member) = members.get(*member) else {
            continue;
        };
        // Identity from the transport: the member's account and name.
        let reviewer = Account {
            id: member.info.account,
            name: member.info.name.clone(),
            role: member.info.role,
        };
        let (tx, answer) = oneshot::channel();
        let reviews = link.reviews.clone();
        let (product_id, text, stars_given) = (product.clone(), text.clone(), *stars);
        link.runtime.spawn(async move {
            let done = reviews
                .submit(&reviewer, &product_id, stars_given, &text)
                .await
                .map(drop);
            let _ = tx.send(done);
        });
        link.waiting.push(Waiting {
            client: member.client,
            product: product.clone(),
            stars: *stars,
            answer,
        });
    }
}

fn answer(mut link: ResMut<FollowUpLink>, mut server: ResMut<RenetServer>) {
    link.waiting.retain_mut(|w| {
        let refused = match w.answer.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => return true,
            Err(oneshot::error::TryRecvError::Closed) => Some(ReviewRefusal::Unavailable),
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                if let ReviewError::Store(e) = &e {
                    tracing::error!(%e, "review from the room not stored");
                }
                Some(refusal(&e))
            }
        };
        let message = ServerMessage::Commerce(CommerceEventNet::Reviewed {
            product: w.product.clone(),
            stars: w.stars,
            refused,
        });
        send_event(&mut server, w.client, &message);
        false
    });
}
