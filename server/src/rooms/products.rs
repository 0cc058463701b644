//! Products in the shoppers' hands: who holds which display model, which
//! lie loose where they were dropped, and putting them back. The room owns
//! this state ([`HeldProducts`], one per room) and tells every member of
//! the room each change (`ProductHeld`, `ProductDropped`, `ProductReturned`,
//! `ProductPassed`); a newcomer's `Welcome` lists what is off its display.
//!
//! - `Inspect` picks a product up: from its display, or from where it lies.
//!   A shopper holds at most [`MAX_HELD_PRODUCTS`]; one somebody else holds
//!   is refused (`ProductHeld { by }`); one already in your hands is a
//!   no-op. A product on its display is first checked against the catalog
//!   by the engagement engine, which also counts the pick-up and grants its
//!   points: it stays reserved for the shopper meanwhile (nobody is told,
//!   nobody else may take it), and the shopper's later product commands
//!   wait behind the answer, so they apply in the order sent.
//! - `PutDownProduct` puts a held product back on its display; `DropProduct`
//!   leaves it loose at a point inside the room, and the server puts it
//!   back later (`LOOSE_RETURN_SECS`, 10 s) unless someone picks it up. Both count
//!   the handling time on the console; neither is allowed for a product you
//!   do not hold (`NotHolding`).
//! - `TakeFromHand` is a hand-off: the sender takes a product out of the
//!   hand of the member holding it, when their hands are within
//!   [`HANDOFF_REACH_M`] by [`handoff_distance`] on the latest validated
//!   poses the server keeps for both. Refused for a product nobody else
//!   holds (on its display, lying loose, reserved, or unknown: `NotHolding`),
//!   with the taker's hands full (`HandsFull`), or hands too far apart
//!   (`OutOfReach`); one already in the sender's hands is a no-op. Everyone
//!   hears `ProductPassed`, and the engagement engine counts it as the
//!   taker's pick-up, like one from the floor.
//! - A member who leaves, or whom a moderator removes, puts everything back.
//!
//! Every refusal is typed and changes nothing.

use super::engagement::{EngagementLink, refusal};
use super::inbox::CommandReceived;
use super::membership::{Avatar, Member, Room};
use super::moderation::ModerationLink;
use super::{ServerSystems, Shared, send_event};
use crate::engagement::{Answer, EngagementError};
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use bevy_time::prelude::*;
use renet::ClientId;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;
use tokio::sync::oneshot::error::TryRecvError;
use vitrine_shared::pose::{HANDOFF_REACH_M, handoff_distance};
use vitrine_shared::protocol::{
    CommandKind, HeldProductNet, MAX_HELD_PRODUCTS, RejectReason, Rejection, RoomEvent,
};
use vitrine_shared::{MemberSlot, PoseNet, ProductId, RoomBounds, RoomCommand, ServerMessage};

/// Product commands a member may have waiting behind a catalog check; more
/// are refused as too fast (the rate limit allows bursts of 10).
const MAX_QUEUED: usize = 16;

/// Who has a product in hand: the member, its connection and its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub member: Entity,
    pub client: ClientId,
    pub slot: MemberSlot,
}

impl Holder {
    fn of(member: Entity, info: &Member) -> Self {
        Holder {
            member,
            client: info.client,
            slot: info.info.slot,
        }
    }
}

/// Where a product that is off its display is.
#[derive(Debug, Clone, PartialEq)]
enum Whereabouts {
    /// Being picked up from its display while the catalog check runs: the
    /// holder's, but nobody has been told yet.
    Reserved(Holder),
    Held(Holder),
    Dropped {
        at: [f32; 3],
        returns_at: Duration,
    },
}

/// One room's products that are off their display. A product not listed
/// is on its display.
#[derive(Component, Debug, Default)]
pub struct HeldProducts {
    products: BTreeMap<ProductId, Whereabouts>,
}

/// What a pick-up that is allowed does.
#[derive(Debug, PartialEq, Eq)]
pub enum PickUp {
    /// It is in this member's hands already: nothing changes.
    AlreadyHeld,
    /// It lay loose and is now in this member's hands.
    FromTheFloor,
    /// It is on its display: reserved for this member until the catalog
    /// check answers ([`HeldProducts::confirm`] or [`HeldProducts::cancel`]).
    NeedsCheck,
}

/// What a hand-off that is allowed does.
#[derive(Debug, PartialEq, Eq)]
pub enum Pass {
    /// It is in the taker's hands already: nothing changes.
    AlreadyHeld,
    /// It was in this member's hands and is now in the taker's.
    From(MemberSlot),
}

impl HeldProducts {
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    /// Who holds `product`, as the room sees it.
    #[cfg(test)]
    fn holder(&self, product: &ProductId) -> Option<MemberSlot> {
        match self.products.get(product) {
            Some(Whereabouts::Held(holder)) => Some(holder.slot),
            _ => None,
        }
    }

    /// Products in this member's hands, or reserved for them.
    fn hands_used(&self, member: Entity) -> usize {
        self.products
            .values()
            .filter(|w| match w {
                Whereabouts::Reserved(h) | Whereabouts::Held(h) => h.member == member,
                Whereabouts::Dropped { .. } => false,
            })
            .count()
    }

    /// `holder` picks `product` up.
    pub fn pick_up(&mut self, product: &ProductId, holder: Holder) -> Result<PickUp, RejectReason> {
        match self.products.get(product) {
            Some(Whereabouts::Held(h) | Whereabouts::Reserved(h)) if h.member == holder.member => {
                return Ok(PickUp::AlreadyHeld);
            }
            Some(Whereabouts::Held(h) | Whereabouts::Reserved(h)) => {
                return Err(RejectReason::ProductHeld { by: h.slot });
            }
            Some(Whereabouts::Dropped { .. }) | None => {}
        }
        if self.hands_used(holder.member) >= MAX_HELD_PRODUCTS {
            return Err(RejectReason::HandsFull);
        }
        let (state, outcome) = match self.products.contains_key(product) {
            true => (Whereabouts::Held(holder), PickUp::FromTheFloor),
            false => (Whereabouts::Reserved(holder), PickUp::NeedsCheck),
        };
        self.products.insert(product.clone(), state);
        Ok(outcome)
    }

    /// `taker` takes `product` out of the hands of the member holding it.
    /// `gap` measures how far apart the taker's and that holder's hands
    /// are, in metres ([`handoff_distance`]); more than
    /// [`HANDOFF_REACH_M`] (or no measure at all: NaN) is out of reach.
    /// A refusal changes nothing.
    pub fn take_from_hand(
        &mut self,
        product: &ProductId,
        taker: Holder,
        gap: impl FnOnce(&Holder) -> f32,
    ) -> Result<Pass, RejectReason> {
        let from = match self.products.get(product) {
            Some(Whereabouts::Held(h) | Whereabouts::Reserved(h)) if h.member == taker.member => {
                return Ok(Pass::AlreadyHeld);
            }
            Some(Whereabouts::Held(h)) => *h,
            // On its display (or unknown), lying loose, or still being
            // checked for someone: nobody has it in hand to pass.
            Some(Whereabouts::Reserved(_) | Whereabouts::Dropped { .. }) | None => {
                return Err(RejectReason::NotHolding);
            }
        };
        if self.hands_used(taker.member) >= MAX_HELD_PRODUCTS {
            return Err(RejectReason::HandsFull);
        }
        let gap = gap(&from);
        if gap.is_nan() || gap > HANDOFF_REACH_M {
            return Err(RejectReason::OutOfReach);
        }
        self.products
            .insert(product.clone(), Whereabouts::Held(taker));
        Ok(Pass::From(from.slot))
    }

    /// The catalog knows `product`: the member's reservation becomes a
    /// hold. False when there was no such reservation (the member left).
    pub fn confirm(&mut self, product: &ProductId, member: Entity) -> bool {
        match self.products.get_mut(product) {
            Some(w) => match *w {
                Whereabouts::Reserved(h) if h.member == member => {
                    *w = Whereabouts::Held(h);
                    true
                }
                _ => false,
            },
            None => false,
        }
    }

    /// The catalog check failed: the product stays on its display.
    pub fn cancel(&mut self, product: &ProductId, member: Entity) {
        if matches!(
            self.products.get(product),
            Some(Whereabouts::Reserved(h)) if h.member == member
        ) {
            self.products.remove(product);
        }
    }

    fn take_from_hands(&mut self, product: &ProductId, member: Entity) -> Result<(), RejectReason> {
        match self.products.get(product) {
            Some(Whereabouts::Held(h)) if h.member == member => {
                self.products.remove(product);
                Ok(())
            }
            _ => Err(RejectReason::NotHolding),
        }
    }

    /// `member` puts `product` back on its display.
    pub fn put_back(&mut self, product: &ProductId, member: Entity) -> Result<(), RejectReason> {
        self.take_from_hands(product, member)
    }

    /// `member` lets go of `product`, which lies at `at` (finite, inside
    /// `bounds`) until `returns_at`.
    pub fn drop_at(
        &mut self,
        product: &ProductId,
        member: Entity,
        at: [f32; 3],
        bounds: &RoomBounds,
        returns_at: Duration,
    ) -> Result<(), RejectReason> {
        if !(at.iter().all(|v| v.is_finite()) && bounds.contains(at)) {
            return Err(RejectReason::InvalidPosition);
        }
        self.take_from_hands(product, member)?;
        self.products
            .insert(product.clone(), Whereabouts::Dropped { at, returns_at });
        Ok(())
    }

    /// Puts back everything of the holders `gone` says have left. Returns
    /// the products the room saw held (a reservation was never announced).
    pub fn release_where(&mut self, gone: impl Fn(&Holder) -> bool) -> Vec<ProductId> {
        let mut returned = Vec::new();
        self.products.retain(|product, w| match w {
            Whereabouts::Held(h) if gone(h) => {
                returned.push(product.clone());
                false
            }
            Whereabouts::Reserved(h) => !gone(h),
            _ => true,
        });
        returned
    }

    /// Puts back the loose products whose time is up at `now`.
    pub fn return_due(&mut self, now: Duration) -> Vec<ProductId> {
        let mut returned = Vec::new();
        self.products.retain(|product, w| match w {
            Whereabouts::Dropped { returns_at, .. } if *returns_at <= now => {
                returned.push(product.clone());
                false
            }
            _ => true,
        });
        returned
    }

    /// What a newcomer is told: products lying loose, and those held by
    /// `members` of the room (slot to connection). A holder who has just
    /// left, whose products go back later in this tick, is left out, so
    /// that a newcomer given the same slot is not shown holding them.
    pub fn net(&self, members: &BTreeMap<MemberSlot, ClientId>) -> Vec<HeldProductNet> {
        self.products
            .iter()
            .filter_map(|(product, w)| match w {
                Whereabouts::Reserved(_) => None,
                Whereabouts::Held(h) => {
                    (members.get(&h.slot) == Some(&h.client)).then(|| HeldProductNet {
                        product: product.clone(),
                        by: Some(h.slot),
                        dropped_at: None,
                    })
                }
                Whereabouts::Dropped { at, .. } => Some(HeldProductNet {
                    product: product.clone(),
                    by: None,
                    dropped_at: Some(*at),
                }),
            })
            .collect()
    }
}

/// A pick-up waiting for the catalog check.
struct Check {
    product: ProductId,
    answer: Answer<Option<i64>>,
}

/// One member's product commands: the check under way, and what was sent
/// after it.
#[derive(Default)]
struct Queue {
    checking: Option<Check>,
    waiting: VecDeque<RoomCommand>,
}

/// Product commands in flight, per member.
#[derive(Resource)]
pub struct ProductDesk {
    loose_return: Duration,
    queues: HashMap<Entity, Queue>,
}

impl ProductDesk {
    /// Dropped products go back to their display after `loose_return`.
    pub fn new(loose_return: Duration) -> Self {
        ProductDesk {
            loose_return,
            queues: HashMap::new(),
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_observer(give_rooms_products).add_systems(
        Update,
        (release_departed, apply_product_commands, return_loose)
            .chain()
            .in_set(ServerSystems::Simulate),
    );
}

/// Every room keeps its own [`HeldProducts`].
fn give_rooms_products(add: On<Add, Room>, mut commands: Commands) {
    commands.entity(add.entity).insert(HeldProducts::default());
}

fn is_product_command(command: &RoomCommand) -> bool {
    matches!(
        command,
        RoomCommand::Inspect { .. }
            | RoomCommand::PutDownProduct { .. }
            | RoomCommand::DropProduct { .. }
            | RoomCommand::TakeFromHand { .. }
    )
}

/// Tells every member of `room`.
fn announce(server: &mut RenetServer, room: &Room, event: RoomEvent) {
    let message = ServerMessage::Room(event);
    for client in room.clients() {
        send_event(server, client, &message);
    }
}

/// Pick-ups, put-downs, drops and hand-offs share one command kind.
fn reject(server: &mut RenetServer, shared: &Shared, member: &Member, reason: RejectReason) {
    shared.metrics.reject(reason.code());
    let rejection = Rejection {
        command: CommandKind::Inspect,
        reason,
    };
    send_event(server, member.client, &ServerMessage::Rejected(rejection));
}

/// Members who left the room, or are being removed from it, put back what
/// they held.
fn release_departed(
    mut rooms: Query<(Entity, &Room, &mut HeldProducts)>,
    members: Query<&Member>,
    moderation: Res<ModerationLink>,
    mut server: ResMut<RenetServer>,
) {
    for (entity, room, mut held) in rooms.iter_mut() {
        if held.is_empty() {
            continue;
        }
        let gone = |h: &Holder| {
            room.members.get(&h.slot) != Some(&h.client)
                || moderation.is_removing(h.client)
                || members.get(h.member).ok().is_none_or(|m| m.room != entity)
        };
        for product in held.release_where(gone) {
            announce(&mut server, room, RoomEvent::ProductReturned { product });
        }
    }
}

/// Everything one command may touch.
struct Ctx<'a> {
    holder: Holder,
    member: &'a Member,
    room: &'a Room,
    held: &'a mut HeldProducts,
    server: &'a mut RenetServer,
    link: &'a EngagementLink,
    shared: &'a Shared,
    returns_at: Duration,
    /// A member's latest validated pose.
    pose_of: &'a dyn Fn(Entity) -> Option<PoseNet>,
}

/// Applies one product command; a pick-up from a display returns the
/// catalog check it now waits for.
fn apply(command: &RoomCommand, ctx: &mut Ctx) -> Option<Check> {
    let (member, holder) = (ctx.member, ctx.holder);
    let engine = ctx.link.handle();
    let outcome = match command {
        RoomCommand::Inspect { product } => match ctx.held.pick_up(product, holder) {
            Ok(PickUp::AlreadyHeld) => Ok(()),
            Ok(PickUp::FromTheFloor) => {
                // Checked when it first left its display: held at once. The
                // engine still counts the pick-up (points are once a show).
                let _ = engine.try_inspect(member.info.account, product.clone());
                let (product, by) = (product.clone(), holder.slot);
                announce(ctx.server, ctx.room, RoomEvent::ProductHeld { product, by });
                Ok(())
            }
            Ok(PickUp::NeedsCheck) => {
                match engine.try_inspect(member.info.account, product.clone()) {
                    Ok(answer) => {
                        let product = product.clone();
                        return Some(Check { product, answer });
                    }
                    Err(e) => {
                        ctx.held.cancel(product, holder.member);
                        Err(RejectReason::Engagement(refusal(e)))
                    }
                }
            }
            Err(reason) => Err(reason),
        },
        RoomCommand::PutDownProduct { product, held_ms } => {
            ctx.held.put_back(product, holder.member).map(|()| {
                engine.try_product_seen(product.clone(), Some(*held_ms));
                let product = product.clone();
                announce(ctx.server, ctx.room, RoomEvent::ProductReturned { product });
            })
        }
        RoomCommand::DropProduct {
            product,
            held_ms,
            at,
        } => ctx
            .held
            .drop_at(
                product,
                holder.member,
                *at,
                &ctx.room.bounds,
                ctx.returns_at,
            )
            .map(|()| {
                engine.try_product_seen(product.clone(), Some(*held_ms));
                let (product, at) = (product.clone(), *at);
                announce(
                    ctx.server,
                    ctx.room,
                    RoomEvent::ProductDropped { product, at },
                );
            }),
        RoomCommand::TakeFromHand { product } => {
            let pose_of = ctx.pose_of;
            let gap = |from: &Holder| match (pose_of(holder.member), pose_of(from.member)) {
                (Some(taker), Some(holding)) => handoff_distance(&taker, &holding),
                _ => f32::NAN,
            };
            match ctx.held.take_from_hand(product, holder, gap) {
                Ok(Pass::AlreadyHeld) => Ok(()),
                Ok(Pass::From(from)) => {
                    // The taker handles it now: counted as their pick-up
                    // (points are once a show), as one from the floor is.
                    let _ = engine.try_inspect(member.info.account, product.clone());
                    let (product, to) = (product.clone(), holder.slot);
                    let passed = RoomEvent::ProductPassed { product, from, to };
                    announce(ctx.server, ctx.room, passed);
                    Ok(())
                }
                Err(reason) => Err(reason),
            }
        }
        _ => Ok(()),
    };
    if let Err(reason) = outcome {
        reject(ctx.server, ctx.shared, member, reason);
    }
    None
}

/// The catalog check's answer, or `None` while it has not come.
fn answered(check: &mut Check) -> Option<Result<(), EngagementError>> {
    match check.answer.try_recv() {
        Err(TryRecvError::Empty) => None,
        Err(TryRecvError::Closed) => Some(Err(EngagementError::Unavailable)),
        Ok(answer) => Some(answer.map(|_| ())),
    }
}

/// Queues each member's product commands, settles catalog checks that
/// answered, and applies what no longer waits, in the order sent.
#[allow(clippy::too_many_arguments)]
fn apply_product_commands(
    mut received: MessageReader<CommandReceived>,
    members: Query<&Member>,
    avatars: Query<&Avatar>,
    mut rooms: Query<(&Room, &mut HeldProducts)>,
    mut desk: ResMut<ProductDesk>,
    link: Res<EngagementLink>,
    moderation: Res<ModerationLink>,
    shared: Res<Shared>,
    mut server: ResMut<RenetServer>,
    time: Res<Time<Real>>,
) {
    let desk = &mut *desk;
    for CommandReceived { member, command } in received.read() {
        if !is_product_command(command) {
            continue;
        }
        let Ok(info) = members.get(*member) else {
            continue;
        };
        let queue = desk.queues.entry(*member).or_default();
        if queue.waiting.len() >= MAX_QUEUED {
            let too_fast = RejectReason::RateLimited {
                retry_after_ms: 100,
            };
            reject(&mut server, &shared, info, too_fast);
            continue;
        }
        queue.waiting.push_back(command.clone());
    }

    let returns_at = time.elapsed() + desk.loose_return;
    let pose_of = |member: Entity| avatars.get(member).ok().map(|a| a.pose);
    desk.queues.retain(|&entity, queue| {
        // A member who left, or is being removed: `release_departed` put
        // their products back, and what they sent since is void.
        let Ok(member) = members.get(entity) else {
            return false;
        };
        if moderation.is_removing(member.client) {
            return false;
        }
        let Ok((room, mut held)) = rooms.get_mut(member.room) else {
            return false;
        };
        let mut ctx = Ctx {
            holder: Holder::of(entity, member),
            member,
            room,
            held: &mut held,
            server: &mut server,
            link: &link,
            shared: &shared,
            returns_at,
            pose_of: &pose_of,
        };
        if let Some(check) = queue.checking.as_mut() {
            let Some(answer) = answered(check) else {
                return true;
            };
            let product = check.product.clone();
            queue.checking = None;
            match answer {
                Ok(()) => {
                    if ctx.held.confirm(&product, entity) {
                        let by = member.info.slot;
                        announce(ctx.server, room, RoomEvent::ProductHeld { product, by });
                    }
                }
                Err(e) => {
                    ctx.held.cancel(&product, entity);
                    let reason = RejectReason::Engagement(refusal(e));
                    reject(ctx.server, &shared, member, reason);
                }
            }
        }
        while queue.checking.is_none() {
            let Some(command) = queue.waiting.pop_front() else {
                break;
            };
            queue.checking = apply(&command, &mut ctx);
        }
        queue.checking.is_some() || !queue.waiting.is_empty()
    });
}

/// Loose products whose time is up go back to their display.
fn return_loose(
    mut rooms: Query<(&Room, &mut HeldProducts)>,
    mut server: ResMut<RenetServer>,
    time: Res<Time<Real>>,
) {
    let now = time.elapsed();
    for (room, mut held) in rooms.iter_mut() {
        if held.is_empty() {
            continue;
        }
        for product in held.return_due(now) {
            announce(&mut server, room, RoomEvent::ProductReturned { product });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::protocol::LOOSE_RETURN_SECS;

    fn p(id: &str) -> ProductId {
        ProductId::new(id).unwrap()
    }

    /// Two members of a room, on slots 0 and 1, and the room's roster.
    fn two_members() -> (Holder, Holder, BTreeMap<MemberSlot, ClientId>) {
        let mut world = World::new();
        let a = Holder {
            member: world.spawn_empty().id(),
            client: 100,
            slot: MemberSlot(0),
        };
        let b = Holder {
            member: world.spawn_empty().id(),
            client: 101,
            slot: MemberSlot(1),
        };
        let roster = [(a.slot, a.client), (b.slot, b.client)].into();
        (a, b, roster)
    }

    fn room() -> RoomBounds {
        RoomBounds::centered(10.0, 10.0, 3.0)
    }

    fn hold(held: &mut HeldProducts, product: &str, who: Holder) {
        assert_eq!(held.pick_up(&p(product), who), Ok(PickUp::NeedsCheck));
        assert!(held.confirm(&p(product), who.member));
    }

    #[test]
    fn a_pick_up_from_the_display_waits_for_the_catalog_and_excludes_others() {
        let (a, b, roster) = two_members();
        let mut held = HeldProducts::default();
        let mug = p("stoneware-mug");
        assert_eq!(held.pick_up(&mug, a), Ok(PickUp::NeedsCheck));
        // Reserved: not announced, not in a welcome, but nobody else's.
        assert_eq!(held.holder(&mug), None);
        assert!(held.net(&roster).is_empty());
        assert_eq!(
            held.pick_up(&mug, b),
            Err(RejectReason::ProductHeld { by: a.slot })
        );
        assert!(held.confirm(&mug, a.member));
        assert_eq!(held.holder(&mug), Some(a.slot));
        // Again: nothing changes.
        assert_eq!(held.pick_up(&mug, a), Ok(PickUp::AlreadyHeld));
        assert_eq!(
            held.pick_up(&mug, b),
            Err(RejectReason::ProductHeld { by: a.slot })
        );
        assert_eq!(held.put_back(&mug, b.member), Err(RejectReason::NotHolding));
        assert_eq!(held.holder(&mug), Some(a.slot));
        assert_eq!(held.put_back(&mug, a.member), Ok(()));
        assert!(held.is_empty());
        assert_eq!(held.put_back(&mug, a.member), Err(RejectReason::NotHolding));
        // A product the catalog does not know stays on its display.
        let bogus = p("no-such-thing");
        assert_eq!(held.pick_up(&bogus, a), Ok(PickUp::NeedsCheck));
        held.cancel(&bogus, a.member);
        assert!(held.is_empty());
        assert!(!held.confirm(&bogus, a.member));
    }

    #[test]
    fn two_hands_at_most() {
        let (a, b, roster) = two_members();
        let mut held = HeldProducts::default();
        assert_eq!(held.pick_up(&p("glow-serum"), a), Ok(PickUp::NeedsCheck));
        assert_eq!(held.pick_up(&p("stoneware-mug"), a), Ok(PickUp::NeedsCheck));
        // Reservations count: a third is refused before they are confirmed.
        assert_eq!(
            held.pick_up(&p("linen-throw"), a),
            Err(RejectReason::HandsFull)
        );
        assert!(held.confirm(&p("glow-serum"), a.member));
        assert!(held.confirm(&p("stoneware-mug"), a.member));
        assert_eq!(
            held.pick_up(&p("linen-throw"), a),
            Err(RejectReason::HandsFull)
        );
        assert_eq!(held.net(&roster).len(), 2);
        // Someone else's hands are their own.
        assert_eq!(held.pick_up(&p("linen-throw"), b), Ok(PickUp::NeedsCheck));
        // Dropping one frees a hand; what lies loose is nobody's.
        let later = Duration::from_secs(20);
        let at = [1.0, 0.0, 2.0];
        assert_eq!(
            held.drop_at(&p("glow-serum"), a.member, at, &room(), later),
            Ok(())
        );
        assert_eq!(held.pick_up(&p("desk-lamp"), a), Ok(PickUp::NeedsCheck));
    }

    #[test]
    fn drops_are_checked_and_loose_products_return_on_time() {
        let (a, b, roster) = two_members();
        let mut held = HeldProducts::default();
        let mug = p("stoneware-mug");
        let dropped_at = Duration::from_secs(100);
        let returns_at = dropped_at + Duration::from_secs(LOOSE_RETURN_SECS);
        hold(&mut held, "stoneware-mug", a);
        for bad in [
            [f32::NAN, 0.0, 0.0],
            [0.0, f32::INFINITY, 0.0],
            [0.0, 0.0, f32::NEG_INFINITY],
            [5.01, 0.0, 0.0],
            [0.0, -0.1, 0.0],
            [0.0, 3.5, 0.0],
        ] {
            assert_eq!(
                held.drop_at(&mug, a.member, bad, &room(), returns_at),
                Err(RejectReason::InvalidPosition),
                "{bad:?}"
            );
        }
        let at = [1.0, 0.0, 1.0];
        assert_eq!(
            held.drop_at(&mug, b.member, at, &room(), returns_at),
            Err(RejectReason::NotHolding)
        );
        assert_eq!(held.holder(&mug), Some(a.slot), "refusals change nothing");
        held.drop_at(&mug, a.member, at, &room(), returns_at)
            .unwrap();
        let loose = HeldProductNet {
            product: mug.clone(),
            by: None,
            dropped_at: Some(at),
        };
        assert_eq!(held.net(&roster), [loose]);
        // Nobody holds it now: not even the one who dropped it may put it
        // back, or drop it again, without picking it up.
        assert_eq!(held.put_back(&mug, a.member), Err(RejectReason::NotHolding));
        assert_eq!(
            held.drop_at(&mug, a.member, at, &room(), returns_at),
            Err(RejectReason::NotHolding)
        );
        // The room's clock steps on: not yet, then back on its display.
        assert!(held.return_due(dropped_at).is_empty());
        assert!(
            held.return_due(returns_at - Duration::from_millis(1))
                .is_empty()
        );
        assert_eq!(held.return_due(returns_at), std::slice::from_ref(&mug));
        assert!(held.is_empty());
        assert!(held.return_due(returns_at * 2).is_empty());

        // Picked up from the floor in time: held again, the return is off.
        hold(&mut held, "stoneware-mug", a);
        held.drop_at(&mug, a.member, at, &room(), returns_at)
            .unwrap();
        assert_eq!(held.pick_up(&mug, b), Ok(PickUp::FromTheFloor));
        assert_eq!(held.holder(&mug), Some(b.slot));
        assert!(held.return_due(returns_at * 2).is_empty());
        assert_eq!(held.holder(&mug), Some(b.slot));
    }

    /// XR poses with both hands at `hands`, for hand-off tests.
    fn hands_at(body: [f32; 3], hands: [f32; 3]) -> PoseNet {
        use vitrine_shared::pose::{TrackedPoseNet, XrPoseNet};
        let tracked = |position| TrackedPoseNet {
            position,
            rotation: [0.0, 0.0, 0.0, 1.0],
        };
        PoseNet {
            position: body,
            yaw: 0.0,
            xr: Some(XrPoseNet {
                head: tracked([body[0], 1.6, body[2]]),
                left_hand: Some(tracked(hands)),
                right_hand: Some(tracked(hands)),
            }),
        }
    }

    #[test]
    fn a_hand_off_needs_the_hands_close_and_a_free_hand() {
        let (a, b, roster) = two_members();
        let mut held = HeldProducts::default();
        let mug = p("stoneware-mug");
        hold(&mut held, "stoneware-mug", a);
        let holder = hands_at([0.0, 0.0, 0.0], [0.2, 1.2, 0.4]);
        let near = hands_at([0.0, 0.0, 1.0], [0.3, 1.2, 0.6]);
        let far = hands_at([0.0, 0.0, 2.0], [0.2, 1.2, 1.5]);
        let gap_to = |taker: PoseNet| {
            move |from: &Holder| {
                assert_eq!(from.slot, a.slot, "measured against the holder");
                handoff_distance(&taker, &holder)
            }
        };
        let before = held.net(&roster);

        // Hands 1.1 m apart: out of reach, nothing changes.
        assert_eq!(
            held.take_from_hand(&mug, b, gap_to(far)),
            Err(RejectReason::OutOfReach)
        );
        // No pose to measure: out of reach too.
        assert_eq!(
            held.take_from_hand(&mug, b, |_| f32::NAN),
            Err(RejectReason::OutOfReach)
        );
        assert_eq!(held.net(&roster), before);
        // Nobody holds these: on display, unknown, reserved, lying loose.
        let never = |_: &Holder| -> f32 { panic!("nothing to measure") };
        assert_eq!(
            held.take_from_hand(&p("arc-lamp"), b, never),
            Err(RejectReason::NotHolding)
        );
        assert_eq!(
            held.take_from_hand(&p("no-such-thing"), b, never),
            Err(RejectReason::NotHolding)
        );
        assert_eq!(held.pick_up(&p("desk-lamp"), a), Ok(PickUp::NeedsCheck));
        assert_eq!(
            held.take_from_hand(&p("desk-lamp"), b, never),
            Err(RejectReason::NotHolding)
        );
        held.cancel(&p("desk-lamp"), a.member);
        hold(&mut held, "soy-candle", a);
        let at = [1.0, 0.0, 1.0];
        let later = Duration::from_secs(30);
        held.drop_at(&p("soy-candle"), a.member, at, &room(), later)
            .unwrap();
        let before = held.net(&roster);
        assert_eq!(
            held.take_from_hand(&p("soy-candle"), b, never),
            Err(RejectReason::NotHolding)
        );
        // The holder's own: a no-op.
        assert_eq!(held.take_from_hand(&mug, a, never), Ok(Pass::AlreadyHeld));
        assert_eq!(held.net(&roster), before);

        // Hands 0.22 m apart: B takes it, and it is B's from now on.
        assert_eq!(
            held.take_from_hand(&mug, b, gap_to(near)),
            Ok(Pass::From(a.slot))
        );
        assert_eq!(held.holder(&mug), Some(b.slot));
        assert_eq!(held.put_back(&mug, a.member), Err(RejectReason::NotHolding));
        assert_eq!(
            held.drop_at(&mug, a.member, at, &room(), later),
            Err(RejectReason::NotHolding)
        );
        assert_eq!(held.take_from_hand(&mug, b, never), Ok(Pass::AlreadyHeld));
        // A may take it back the same way.
        assert_eq!(
            held.take_from_hand(&mug, a, |_| 0.1),
            Ok(Pass::From(b.slot))
        );
        assert_eq!(
            held.take_from_hand(&mug, b, |_| 0.1),
            Ok(Pass::From(a.slot))
        );
        // It never lay loose, so no return timer took it back: only the
        // candle A dropped goes back when its time is up.
        assert_eq!(
            held.return_due(Duration::from_secs(3600)),
            [p("soy-candle")]
        );
        assert_eq!(held.holder(&mug), Some(b.slot));
        assert_eq!(held.put_back(&mug, b.member), Ok(()));
        assert_eq!(held.holder(&mug), None);
    }

    #[test]
    fn a_full_taker_cannot_take_and_a_holder_who_leaves_after_a_hand_off_keeps_nothing() {
        let (a, b, roster) = two_members();
        let mut held = HeldProducts::default();
        hold(&mut held, "stoneware-mug", a);
        hold(&mut held, "glow-serum", b);
        hold(&mut held, "canvas-tote", b);
        let before = held.net(&roster);
        assert_eq!(
            held.take_from_hand(&p("stoneware-mug"), b, |_| 0.0),
            Err(RejectReason::HandsFull)
        );
        assert_eq!(held.net(&roster), before, "refusals change nothing");
        // B frees a hand and takes it; A's hands are free again.
        held.put_back(&p("canvas-tote"), b.member).unwrap();
        assert_eq!(
            held.take_from_hand(&p("stoneware-mug"), b, |_| 0.0),
            Ok(Pass::From(a.slot))
        );
        assert_eq!(held.hands_used(a.member), 0);
        assert_eq!(held.hands_used(b.member), 2);
        // A welcome shows B holding it.
        let shown: Vec<_> = held
            .net(&roster)
            .into_iter()
            .map(|h| (h.product, h.by))
            .collect();
        assert_eq!(
            shown,
            [
                (p("glow-serum"), Some(b.slot)),
                (p("stoneware-mug"), Some(b.slot))
            ]
        );
        // A leaving returns nothing; B leaving returns both.
        assert!(held.release_where(|h| h.member == a.member).is_empty());
        assert_eq!(
            held.release_where(|h| h.member == b.member),
            [p("glow-serum"), p("stoneware-mug")]
        );
        assert!(held.is_empty());
    }

    #[test]
    fn a_member_who_leaves_puts_everything_back() {
        let (a, b, mut roster) = two_members();
        let mut held = HeldProducts::default();
        hold(&mut held, "glow-serum", a);
        hold(&mut held, "stoneware-mug", a);
        let at = [0.0; 3];
        let later = Duration::from_secs(10);
        held.drop_at(&p("glow-serum"), a.member, at, &room(), later)
            .unwrap();
        assert_eq!(held.pick_up(&p("desk-lamp"), a), Ok(PickUp::NeedsCheck));
        hold(&mut held, "linen-throw", b);

        // A leaves and a newcomer gets slot 0 before the products go back:
        // the newcomer's welcome does not show it holding A's mug.
        roster.insert(a.slot, 200);
        let shown: Vec<_> = held.net(&roster).into_iter().map(|h| h.product).collect();
        assert_eq!(shown, [p("glow-serum"), p("linen-throw")]);

        // Only what the room saw held is announced as returned; what lies
        // loose stays until its time.
        assert_eq!(
            held.release_where(|h| h.member == a.member),
            [p("stoneware-mug")]
        );
        assert_eq!(held.holder(&p("linen-throw")), Some(b.slot));
        assert!(!held.confirm(&p("desk-lamp"), a.member));
        let left: Vec<_> = held.net(&roster).into_iter().map(|h| h.product).collect();
        assert_eq!(left, [p("glow-serum"), p("linen-throw")]);
    }
}

/// The plugin in the room app, with the engagement engine checking
/// pick-ups and time moved by hand.
#[cfg(test)]
mod app_tests {
    use super::*;
    use crate::rooms::harness::{TICK, TestRooms};
    use vitrine_shared::Role;

    fn returned(rooms: &TestRooms, client: ClientId, product: &ProductId) -> bool {
        rooms.received(client).iter().any(|m| {
            matches!(m, ServerMessage::Room(RoomEvent::ProductReturned { product: p }) if p == product)
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_product_goes_back_to_its_display_when_its_time_is_up() {
        let loose_return = Duration::from_secs(10);
        let mut rooms = TestRooms::start_with(|s| s.loose_return = loose_return).await;
        let product = rooms.store.products().await.unwrap()[0].id.clone();
        let (_, ada) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (_, bob) = rooms.join("Bob", Role::Shopper, "hall").await;
        rooms.send(
            ada,
            RoomCommand::Inspect {
                product: product.clone(),
            },
        );
        // The engine checks the pick-up against the catalog, on its own thread.
        let held = rooms.settle(|r| {
            r.received(bob).iter().any(|m| {
                matches!(m, ServerMessage::Room(RoomEvent::ProductHeld { product: p, .. }) if *p == product)
            })
        });
        assert!(held, "everyone hears the pick-up");
        let at = [1.0, 0.0, 2.0];
        rooms.send(
            ada,
            RoomCommand::DropProduct {
                product: product.clone(),
                held_ms: 1500,
                at,
            },
        );
        rooms.step(TICK);
        assert!(rooms.received(bob).iter().any(|m| {
            matches!(m, ServerMessage::Room(RoomEvent::ProductDropped { product: p, at: a }) if *p == product && *a == at)
        }));
        rooms.step(loose_return - Duration::from_millis(1));
        assert!(!returned(&rooms, bob, &product), "still lying there");
        rooms.step(Duration::from_millis(1));
        assert!(
            returned(&rooms, bob, &product),
            "back on its display on time"
        );
        assert!(returned(&rooms, ada, &product));
    }
}
