//! Reviews from the room: a shopper's `RoomCommand::Review` goes to
//! `crate::reviews` on the server's runtime (the room thread never waits
//! on the store), and the answer comes back to that shopper as
//! `CommerceEventNet::Reviewed` on a later tick.

use super::inbox::CommandReceived;
use super::membership::Member;
use super::{ServerSystems, send_event};
use crate::reviews::{ReviewError, Reviews};
use crate::store::Account;
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use renet::ClientId;
use std::sync::Arc;
use tokio::sync::oneshot;
use vitrine_shared::protocol::{CommerceEventNet, ReviewRefusal};
use vitrine_shared::{ProductId, RoomCommand, ServerMessage};

/// The room side of reviews.
#[derive(Resource)]
pub struct ReviewsLink {
    reviews: Arc<Reviews>,
    runtime: tokio::runtime::Handle,
    waiting: Vec<Waiting>,
}

struct Waiting {
    client: ClientId,
    product: ProductId,
    stars: u8,
    answer: oneshot::Receiver<Result<(), ReviewError>>,
}

impl ReviewsLink {
    pub fn new(reviews: Arc<Reviews>, runtime: tokio::runtime::Handle) -> Self {
        ReviewsLink {
            reviews,
            runtime,
            waiting: Vec::new(),
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Update, submit.in_set(ServerSystems::Relay))
        .add_systems(Update, answer.in_set(ServerSystems::Publish));
}

fn refusal(e: &ReviewError) -> ReviewRefusal {
    match e {
        ReviewError::Stars => ReviewRefusal::Stars,
        ReviewError::TooLong => ReviewRefusal::TooLong,
        ReviewError::Filtered => ReviewRefusal::Filtered,
        ReviewError::UnknownProduct => ReviewRefusal::UnknownProduct,
        ReviewError::NotBought => ReviewRefusal::NotBought,
        ReviewError::NotDelivered => ReviewRefusal::NotDelivered,
        ReviewError::AlreadyReviewed => ReviewRefusal::AlreadyReviewed,
        ReviewError::UnknownReview
        | ReviewError::AlreadyHidden
        | ReviewError::Reason(_)
        | ReviewError::Store(_) => ReviewRefusal::Unavailable,
    }
}

fn submit(
    mut received: MessageReader<CommandReceived>,
    members: Query<&Member>,
    mut link: ResMut<ReviewsLink>,
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

fn answer(mut link: ResMut<ReviewsLink>, mut server: ResMut<RenetServer>) {
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
