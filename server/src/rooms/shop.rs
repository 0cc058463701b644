//! The shop in the room: flash-sale and coupon news from the commerce
//! engine to every room; carts and orders to their shopper's clients; and
//! claims, cart changes and checkouts from the room to the engine. The room
//! loop never waits on the engine: requests are queued and their answers
//! polled.

use super::inbox::CommandReceived;
use super::membership::{Member, clients_of};
use super::{ServerSystems, send_event};
use crate::commerce::{
    CartEdit, CartLine, CheckoutSpec, Claimed, CommerceError, CommerceEvent, CommerceHandle,
    CouponInfo, Discount, FlashSale, OrderRecord, Purchase,
};
use crate::config::RateConfig;
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use renet::ClientId;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::{broadcast, oneshot};
use vitrine_shared::SaleId;
use vitrine_shared::protocol::{
    CartChange, CartLineNet, CartNet, CheckoutCommand, ClaimRefusal, CommandKind, CommerceEventNet,
    CouponNet, DiscountNet, FlashSaleNet, OrderLineNet, OrderNet, OrderStatus, RejectReason,
    Rejection, ShopRefusal,
};
use vitrine_shared::{CouponCode, Money, RoomCommand, ServerMessage, encode};

/// Claims per member: a tap is one message; a burst allows a quick
/// double-tap without letting a script flood the engine.
pub const CLAIM_RATE: RateConfig = RateConfig {
    per_second: vitrine_shared::limits::rates::CLAIMS_PER_SECOND,
    burst: vitrine_shared::limits::rates::CLAIMS_BURST,
};

/// An answer the room is waiting for, and whom it is for.
pub(super) struct Awaited<T> {
    pub(super) client: ClientId,
    pub(super) answer: oneshot::Receiver<T>,
}

/// Takes the answer if it has come; `None` while it has not.
pub(super) fn poll<T>(awaited: &mut Awaited<T>) -> Option<Result<T, CommerceError>> {
    match awaited.answer.try_recv() {
        Err(oneshot::error::TryRecvError::Empty) => None,
        Err(oneshot::error::TryRecvError::Closed) => Some(Err(CommerceError::Unavailable)),
        Ok(answer) => Some(Ok(answer)),
    }
}

#[derive(Resource)]
pub struct ShopLink {
    commerce: CommerceHandle,
    events: broadcast::Receiver<CommerceEvent>,
    /// Sales announced and not yet ended, for newcomers' welcome.
    pub sales: BTreeMap<SaleId, FlashSaleNet>,
    /// The coupon pinned in the show, for newcomers' welcome.
    pub pinned: Option<CouponNet>,
    claims: Vec<Awaited<Result<Claimed, CommerceError>>>,
    cart_edits: Vec<Awaited<Result<Vec<CartLine>, CommerceError>>>,
    checkouts: Vec<(u32, Awaited<Result<OrderRecord, CommerceError>>)>,
    /// Carts fetched for members who just joined.
    carts: Vec<Awaited<Vec<CartLine>>>,
}

impl ShopLink {
    /// The engine, for the room's other commerce plugins (group deals).
    pub(super) fn commerce(&self) -> &CommerceHandle {
        &self.commerce
    }

    /// `events` must be subscribed before `open` and `pinned` were read, so
    /// that nothing falls between them.
    pub fn new(
        commerce: CommerceHandle,
        events: broadcast::Receiver<CommerceEvent>,
        open: &[FlashSale],
        pinned: Option<CouponInfo>,
    ) -> Self {
        let sales = open.iter().map(|s| (s.id, net(s))).collect();
        ShopLink {
            commerce,
            events,
            sales,
            pinned: pinned.map(coupon_net),
            claims: Vec::new(),
            cart_edits: Vec::new(),
            checkouts: Vec::new(),
            carts: Vec::new(),
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        (queue_shop_commands, fetch_carts_of_newcomers).in_set(ServerSystems::Relay),
    )
    .add_systems(
        Update,
        (deliver_answers, relay_commerce_news).in_set(ServerSystems::Publish),
    );
}

fn cart_net(lines: Vec<CartLine>, change: CartChange) -> CartNet {
    CartNet {
        change,
        lines: lines
            .into_iter()
            .map(|l| CartLineNet {
                sku: l.sku,
                product: l.product,
                name: l.name,
                unit_price: l.unit_price,
                quantity: l.quantity,
                held_until_ms: l.held_until_ms,
            })
            .collect(),
    }
}

pub(super) fn order_net(o: OrderRecord) -> OrderNet {
    OrderNet {
        id: o.id,
        status: OrderStatus::parse(&o.status).unwrap_or(OrderStatus::Pending),
        total: o.total,
        discount: o.discount,
        coupon: o.coupon.and_then(|c| CouponCode::new(c).ok()),
        lines: o
            .lines
            .into_iter()
            .map(|l| OrderLineNet {
                sku: l.sku,
                quantity: l.quantity,
                unit_price: l.unit_price,
            })
            .collect(),
    }
}

fn coupon_net(info: CouponInfo) -> CouponNet {
    let c = info.coupon;
    CouponNet {
        discount: match c.discount {
            Discount::Percent(p) => DiscountNet::Percent(p.clamp(0, 100) as u8),
            Discount::Amount(a) => DiscountNet::Amount(Money::new(a, c.currency)),
        },
        min_order: Money::new(c.min_order_minor, c.currency),
        ends_at_ms: c.ends_at_ms,
        remaining: c.max_redemptions.map(|m| (m - info.redeemed).max(0)),
        code: c.code,
    }
}

fn shop_refusal(error: CommerceError) -> ShopRefusal {
    // The commerce error table decides; rooms only read it.
    error.refusal().shop
}

/// A room checkout's idempotency key is its request id; the hash covers
/// everything else, so reusing an id for another purchase is caught.
fn checkout_idempotency(command: &CheckoutCommand) -> (String, u64) {
    let body = encode(&(&command.items, &command.coupon, &command.payment)).unwrap_or_default();
    let digest = Sha256::digest(&body);
    let hash = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (format!("room:{}", command.request_id), hash)
}

fn net(sale: &FlashSale) -> FlashSaleNet {
    FlashSaleNet {
        id: sale.id,
        product: sale.product.clone(),
        sku: sale.sku.clone(),
        price: sale.price,
        quantity: sale.quantity,
        units_left: sale.units_left(),
        per_buyer_limit: sale.per_buyer_limit,
        starts_at_ms: sale.starts_at_ms,
        ends_at_ms: sale.ends_at_ms,
    }
}

fn refusal(error: CommerceError) -> ClaimRefusal {
    // The commerce error table decides; rooms only read it.
    error.refusal().claim
}

fn reject(server: &mut RenetServer, client: ClientId, why: ClaimRefusal) {
    let rejection = Rejection {
        command: CommandKind::ClaimFlashSale,
        reason: RejectReason::Claim(why),
    };
    send_event(server, client, &ServerMessage::Rejected(rejection));
}

fn queue_shop_commands(
    mut received: MessageReader<CommandReceived>,
    members: Query<&Member>,
    mut shop: ResMut<ShopLink>,
    mut server: ResMut<RenetServer>,
) {
    for CommandReceived { member, command } in received.read() {
        let Ok(member) = members.get(*member) else {
            continue;
        };
        // Identity from the transport: the member's account, never the payload.
        let (buyer, client) = (member.info.account, member.client);
        let commerce = &shop.commerce;
        match command {
            RoomCommand::ClaimFlashSale { sale_id, quantity } => {
                match commerce.try_claim(buyer, *sale_id, i64::from(*quantity)) {
                    Ok(answer) => shop.claims.push(Awaited { client, answer }),
                    Err(e) => reject(&mut server, client, refusal(e)),
                }
            }
            RoomCommand::AddToCart { sku, quantity }
            | RoomCommand::SetCartQuantity { sku, quantity } => {
                let edit = match command {
                    RoomCommand::AddToCart { .. } => CartEdit::Add(i64::from(*quantity)),
                    _ => CartEdit::Set(i64::from(*quantity)),
                };
                match commerce.try_edit_cart(buyer, sku.clone(), edit) {
                    Ok(answer) => shop.cart_edits.push(Awaited { client, answer }),
                    Err(e) => reject_shop(&mut server, client, CommandKind::Cart, e),
                }
            }
            RoomCommand::Checkout(checkout) => {
                let spec = CheckoutSpec {
                    purchase: match &checkout.items {
                        vitrine_shared::protocol::Purchase::Cart => Purchase::Cart,
                        vitrine_shared::protocol::Purchase::BuyNow { sku, quantity } => {
                            Purchase::BuyNow {
                                sku: sku.clone(),
                                quantity: i64::from(*quantity),
                            }
                        }
                    },
                    coupon: checkout.coupon.clone(),
                    method: checkout.payment.clone(),
                };
                let idempotency = checkout_idempotency(checkout);
                match commerce.try_checkout(buyer, spec, idempotency) {
                    Ok(answer) => shop
                        .checkouts
                        .push((checkout.request_id, Awaited { client, answer })),
                    Err(e) => {
                        let failed = CommerceEventNet::CheckoutFailed {
                            request_id: checkout.request_id,
                            reason: shop_refusal(e),
                        };
                        send_event(&mut server, client, &ServerMessage::Commerce(failed));
                    }
                }
            }
            // The chat and engagement plugins take the rest.
            _ => {}
        }
    }
}

fn reject_shop(server: &mut RenetServer, client: ClientId, command: CommandKind, e: CommerceError) {
    let rejection = Rejection {
        command,
        reason: RejectReason::Shop(shop_refusal(e)),
    };
    send_event(server, client, &ServerMessage::Rejected(rejection));
}

/// A member who just joined is sent their cart, which may hold units from
/// another room or from the web.
fn fetch_carts_of_newcomers(joined: Query<&Member, Added<Member>>, mut shop: ResMut<ShopLink>) {
    for member in &joined {
        if let Ok(answer) = shop.commerce.try_cart(member.info.account) {
            shop.carts.push(Awaited {
                client: member.client,
                answer,
            });
        }
    }
}

/// Sends the engine's answers to whoever asked. A client that left in the
/// meantime is skipped: what the engine decided stands, and the shopper
/// finds it in their orders and cart.
fn deliver_answers(mut shop: ResMut<ShopLink>, mut server: ResMut<RenetServer>) {
    let shop = &mut *shop;
    shop.claims.retain_mut(|awaited| {
        let Some(result) = poll(awaited) else {
            return true;
        };
        match result.and_then(|r| r) {
            Ok(claimed) => {
                let event = CommerceEventNet::Claimed {
                    sale_id: claimed.sale_id,
                    order_id: claimed.order_id,
                    quantity: claimed.quantity,
                    total: claimed.total,
                };
                send_event(&mut server, awaited.client, &ServerMessage::Commerce(event));
            }
            Err(e) => reject(&mut server, awaited.client, refusal(e)),
        }
        false
    });
    // A successful edit is answered by the cart news every client of the
    // shopper gets; only a refusal needs an answer here.
    shop.cart_edits.retain_mut(|awaited| {
        let Some(result) = poll(awaited) else {
            return true;
        };
        if let Err(e) = result.and_then(|r| r) {
            reject_shop(&mut server, awaited.client, CommandKind::Cart, e);
        }
        false
    });
    shop.checkouts.retain_mut(|(request_id, awaited)| {
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
                reason: shop_refusal(e),
            },
        };
        send_event(&mut server, awaited.client, &ServerMessage::Commerce(event));
        false
    });
    shop.carts.retain_mut(|awaited| {
        let Some(result) = poll(awaited) else {
            return true;
        };
        if let Ok(lines) = result {
            let event = CommerceEventNet::Cart(cart_net(lines, CartChange::Current));
            send_event(&mut server, awaited.client, &ServerMessage::Commerce(event));
        }
        false
    });
}

/// Every room hears every sale's news (one show per server for now).
fn relay_commerce_news(
    mut shop: ResMut<ShopLink>,
    members: Query<&Member>,
    mut server: ResMut<RenetServer>,
) {
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
            CommerceEvent::CouponPinned(info) => {
                shop.pinned = info.map(coupon_net);
                CommerceEventNet::CouponPinned(shop.pinned.clone())
            }
            // For the console only.
            CommerceEvent::AddedToCart { .. } => continue,
            // `rooms::group_deals` relays these.
            CommerceEvent::GroupDealChanged(_)
            | CommerceEvent::GroupDealEnded { .. }
            | CommerceEvent::TeamCompleted { .. }
            | CommerceEvent::TeamVoided { .. }
            | CommerceEvent::TeamFailed { .. } => continue,
            // A shopper's own news goes to their clients only.
            CommerceEvent::CartChanged {
                buyer,
                lines,
                change,
            } => {
                let message =
                    ServerMessage::Commerce(CommerceEventNet::Cart(cart_net(lines, change)));
                for client in clients_of(&members, buyer) {
                    send_event(&mut server, client, &message);
                }
                continue;
            }
            // A group's news goes to its members' clients only.
            CommerceEvent::SharedCartChanged {
                group,
                members: accounts,
                lines,
                change,
            } => {
                let cart = super::shared_cart::shared_cart_net(group, change, lines);
                super::shared_cart::send_to_members(&mut server, &members, &accounts, cart);
                continue;
            }
            CommerceEvent::OrderChanged { buyer, order } => {
                let message = ServerMessage::Commerce(CommerceEventNet::Order(order_net(order)));
                for client in clients_of(&members, buyer) {
                    send_event(&mut server, client, &message);
                }
                continue;
            }
        };
        let message = ServerMessage::Commerce(news);
        for client in server.clients_id() {
            send_event(&mut server, client, &message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commerce::{COUNTDOWN_SECS, DURATION_SECS, FlashSaleSpec};
    use crate::rooms::harness::TestRooms;
    use std::time::Duration;
    use vitrine_shared::protocol::{RoomCommand, ServerMessage};
    use vitrine_shared::{Currency, Money, Role, Sku};

    /// What `client` was told about its flash-sale claims, oldest first:
    /// the quantity claimed, or the refusal.
    fn claim_answers(rooms: &TestRooms, client: ClientId) -> Vec<Result<i64, ClaimRefusal>> {
        rooms
            .received(client)
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Commerce(CommerceEventNet::Claimed { quantity, .. }) => {
                    Some(Ok(*quantity))
                }
                ServerMessage::Rejected(Rejection {
                    command: CommandKind::ClaimFlashSale,
                    reason: RejectReason::Claim(why),
                }) => Some(Err(why.clone())),
                _ => None,
            })
            .collect()
    }

    fn heard(rooms: &TestRooms, client: ClientId, news: &CommerceEventNet) -> bool {
        rooms
            .received(client)
            .iter()
            .any(|m| matches!(m, ServerMessage::Commerce(n) if n == news))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sale_announced_in_the_room_takes_claims_only_once_its_countdown_is_over() {
        let mut rooms = TestRooms::start().await;
        let (host, _) = rooms.join("Hal", Role::Host, "hall").await;
        let (_, ada) = rooms.join("Ada", Role::Shopper, "hall").await;
        let sale = rooms
            .commerce
            .start_sale(
                host.id,
                FlashSaleSpec {
                    sku: Sku::new("stoneware-mug-sage").unwrap(),
                    price: Money::new(800, Currency::EUR),
                    quantity: 5,
                    per_buyer_limit: 2,
                    countdown_secs: *COUNTDOWN_SECS.start(),
                    duration_secs: *DURATION_SECS.start(),
                },
            )
            .await
            .unwrap();
        assert!(
            rooms.settle(|r| r.received(ada).iter().any(|m| matches!(
                m,
                ServerMessage::Commerce(CommerceEventNet::SaleAnnounced(s)) if s.id == sale.id
            ))),
            "the room hears of the sale"
        );

        // A millisecond before the countdown is over: refused.
        let early = Duration::from_millis((sale.starts_at_ms - rooms.time.now_ms() - 1) as u64);
        rooms.step(early);
        let claim = RoomCommand::ClaimFlashSale {
            sale_id: sale.id,
            quantity: 1,
        };
        rooms.send(ada, claim.clone());
        assert!(rooms.settle(|r| !claim_answers(r, ada).is_empty()));
        assert_eq!(
            claim_answers(&rooms, ada),
            [Err(ClaimRefusal::NotStarted { opens_in_ms: 1 })]
        );
        let opened = CommerceEventNet::SaleOpened { sale_id: sale.id };
        assert!(!heard(&rooms, ada, &opened));

        // The countdown runs out: the room hears the sale open, and the
        // same claim is taken.
        rooms.step(Duration::from_millis(1));
        assert!(rooms.settle(|r| heard(r, ada, &opened)), "the sale opened");
        rooms.send(ada, claim);
        assert!(rooms.settle(|r| claim_answers(r, ada).len() == 2));
        assert_eq!(claim_answers(&rooms, ada)[1], Ok(1));
        let view = rooms.commerce.sale(sale.id).await.unwrap().unwrap();
        assert_eq!(view.sold, 1);
    }
}
