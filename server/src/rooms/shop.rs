//! The shop in the room: flash-sale news from the commerce engine to every
//! room, and one-tap claims from the room to the engine. The room loop
//! never waits on the engine: claims are queued and their answers polled.

use super::inbox::CommandReceived;
use super::membership::Member;
use super::{ServerSystems, send_event};
use crate::commerce::{Claimed, CommerceError, CommerceEvent, CommerceHandle, FlashSale};
use crate::config::RateConfig;
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use renet::ClientId;
use std::collections::BTreeMap;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::{broadcast, oneshot};
use vitrine_shared::protocol::{
    ClaimRefusal, CommandKind, CommerceEventNet, FlashSaleNet, RejectReason, Rejection,
};
use vitrine_shared::{RoomCommand, ServerMessage};

/// Claims per member: a tap is one message; bursts of 10 allow a quick
/// double-tap without letting a script flood the engine.
pub const CLAIM_RATE: RateConfig = RateConfig {
    per_second: 5.0,
    burst: 10,
};

struct PendingClaim {
    client: ClientId,
    answer: oneshot::Receiver<Result<Claimed, CommerceError>>,
}

#[derive(Resource)]
pub struct ShopLink {
    commerce: CommerceHandle,
    events: broadcast::Receiver<CommerceEvent>,
    /// Sales announced and not yet ended, for newcomers' welcome.
    pub sales: BTreeMap<i64, FlashSaleNet>,
    pending: Vec<PendingClaim>,
}

impl ShopLink {
    /// `events` must be subscribed before `open` was read, so that nothing
    /// falls between the two.
    pub fn new(
        commerce: CommerceHandle,
        events: broadcast::Receiver<CommerceEvent>,
        open: &[FlashSale],
    ) -> Self {
        let sales = open.iter().map(|s| (s.id, net(s))).collect();
        ShopLink {
            commerce,
            events,
            sales,
            pending: Vec::new(),
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Update, queue_claims.in_set(ServerSystems::Relay))
        .add_systems(
            Update,
            (deliver_claims, relay_commerce_news).in_set(ServerSystems::Publish),
        );
}

fn net(sale: &FlashSale) -> FlashSaleNet {
    FlashSaleNet {
        id: sale.id,
        product: sale.product.to_string(),
        sku: sale.sku.to_string(),
        price: sale.price,
        quantity: sale.quantity,
        units_left: sale.units_left(),
        per_buyer_limit: sale.per_buyer_limit,
        starts_at_ms: sale.starts_at_ms,
        ends_at_ms: sale.ends_at_ms,
    }
}

fn refusal(error: CommerceError) -> ClaimRefusal {
    match error {
        CommerceError::UnknownSale | CommerceError::UnknownSku => ClaimRefusal::UnknownSale,
        CommerceError::BadQuantity => ClaimRefusal::BadQuantity,
        CommerceError::NotStarted { opens_in_ms } => ClaimRefusal::NotStarted { opens_in_ms },
        CommerceError::Ended => ClaimRefusal::Ended,
        CommerceError::SoldOut => ClaimRefusal::SoldOut,
        CommerceError::NotEnoughStock { available } => ClaimRefusal::NotEnoughLeft { available },
        CommerceError::LimitReached { limit, remaining } => {
            ClaimRefusal::LimitReached { limit, remaining }
        }
        CommerceError::InvalidSale(_)
        | CommerceError::IdempotencyConflict
        | CommerceError::UnknownOrder
        | CommerceError::OrderNotPayable { .. }
        | CommerceError::PaymentInProgress
        | CommerceError::PaymentDeclined { .. }
        | CommerceError::PaymentTimeout
        | CommerceError::Forbidden
        | CommerceError::WrongOrderState { .. }
        | CommerceError::BadReason
        | CommerceError::RefundFailed
        | CommerceError::ProductExists
        | CommerceError::UnknownProduct
        | CommerceError::SkuTaken(_)
        | CommerceError::Storage
        | CommerceError::Unavailable => ClaimRefusal::Unavailable,
    }
}

fn reject(server: &mut RenetServer, client: ClientId, why: ClaimRefusal) {
    let rejection = Rejection {
        command: CommandKind::ClaimFlashSale,
        reason: RejectReason::Claim(why),
    };
    send_event(server, client, &ServerMessage::Rejected(rejection));
}

fn queue_claims(
    mut received: MessageReader<CommandReceived>,
    members: Query<&Member>,
    mut shop: ResMut<ShopLink>,
    mut server: ResMut<RenetServer>,
) {
    for CommandReceived { member, command } in received.read() {
        let RoomCommand::ClaimFlashSale { sale_id, quantity } = command else {
            continue;
        };
        let Ok(member) = members.get(*member) else {
            continue;
        };
        // Identity from the transport: the member's account, never the payload.
        match shop
            .commerce
            .try_claim(member.info.account, *sale_id, i64::from(*quantity))
        {
            Ok(answer) => shop.pending.push(PendingClaim {
                client: member.client,
                answer,
            }),
            Err(e) => reject(&mut server, member.client, refusal(e)),
        }
    }
}

fn deliver_claims(mut shop: ResMut<ShopLink>, mut server: ResMut<RenetServer>) {
    shop.pending.retain_mut(|pending| {
        let result = match pending.answer.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => return true,
            Err(oneshot::error::TryRecvError::Closed) => Err(CommerceError::Unavailable),
            Ok(result) => result,
        };
        match result {
            Ok(claimed) => {
                let event = CommerceEventNet::Claimed {
                    sale_id: claimed.sale_id,
                    order_id: claimed.order_id,
                    quantity: claimed.quantity,
                    total: claimed.total,
                };
                send_event(&mut server, pending.client, &ServerMessage::Commerce(event));
            }
            Err(e) => reject(&mut server, pending.client, refusal(e)),
        }
        false
    });
}

/// Every room hears every sale's news (one show per server for now).
fn relay_commerce_news(mut shop: ResMut<ShopLink>, mut server: ResMut<RenetServer>) {
    loop {
        let event = match shop.events.try_recv() {
            Ok(event) => event,
            // Missed news: the next units-left update corrects the count.
            Err(TryRecvError::Lagged(missed)) => {
                tracing::warn!(missed, "commerce news lagged");
                continue;
            }
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        };
        let news = match event {
            CommerceEvent::SaleAnnounced(sale) => {
                let sale = net(&sale);
                shop.sales.insert(sale.id, sale.clone());
                CommerceEventNet::SaleAnnounced(sale)
            }
            CommerceEvent::SaleOpened { sale_id } => CommerceEventNet::SaleOpened { sale_id },
            CommerceEvent::UnitsLeft {
                sale_id,
                units_left,
            } => {
                if let Some(sale) = shop.sales.get_mut(&sale_id) {
                    sale.units_left = units_left;
                }
                CommerceEventNet::UnitsLeft {
                    sale_id,
                    units_left,
                }
            }
            CommerceEvent::SoldOut { sale_id } => CommerceEventNet::SoldOut { sale_id },
            CommerceEvent::SaleEnded { sale_id, .. } => {
                shop.sales.remove(&sale_id);
                CommerceEventNet::SaleEnded { sale_id }
            }
        };
        let message = ServerMessage::Commerce(news);
        for client in server.clients_id() {
            send_event(&mut server, client, &message);
        }
    }
}
