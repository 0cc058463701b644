//! The client's copy of the room: members, avatars and chat, rebuilt from
//! the server's events and delta snapshots.

use super::party::PartyMirror;
use std::collections::{BTreeMap, HashMap, VecDeque};
use thiserror::Error;
use vitrine_shared::protocol::{
    AvatarFull, AvatarMoved, AvatarMovedXr, CartLineNet, ChatLine, CommerceEventNet, CouponNet,
    EngagementEventNet, FlashSaleNet, FriendEventNet, FriendNet, GiveawayNet, LeaderNet,
    MemberInfo, OrderNet, PartyEventNet, PollNet, QuestionNet, ReactionBurst, Rejection,
    ReviewRefusal, RoomEvent, SharedCartChange, SharedCartNet, SharedCheckoutCommand,
    SharedPayment, ShopRefusal, Snapshot, StreamNet,
};
use vitrine_shared::{
    AccountId, DisplayName, GiveawayId, MemberSlot, OrderId, PaymentMethod, PollId, PoseNet, PoseQ,
    ProductId, QuestionId, RoomBounds, RoomId, SaleId, ServerMessage,
};

/// Chat lines kept: a long show's chat must not grow without end.
pub const CHAT_KEPT: usize = 500;

/// Snapshots kept as possible baselines; matches the server's history.
const HISTORY: usize = vitrine_shared::protocol::SNAPSHOT_HISTORY;

/// Something that happened in the room, for a UI or a log to show.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomChange {
    Welcomed {
        room: RoomId,
        you: MemberSlot,
    },
    Joined(MemberInfo),
    Left(MemberInfo),
    Chat(ChatLine),
    /// Reactions of the last moment in the room, summed.
    Reactions(ReactionBurst),
    Rejected(Rejection),
    ShuttingDown(String),
    Commerce(CommerceEventNet),
    Engagement(EngagementEventNet),
    /// A moderator removed a chat line (by its sequence number).
    ChatRemoved(u64),
    /// A moderator removed this client from the room.
    Removed {
        banned: bool,
        reason: String,
    },
    /// `by` picked `product` up (from its display or from the floor).
    ProductHeld {
        product: ProductId,
        by: MemberSlot,
    },
    /// `product` was let go and lies loose at `at`.
    ProductDropped {
        product: ProductId,
        at: [f32; 3],
    },
    /// `product` is back on its display. Once per return: when its holder
    /// leaves, at whichever comes first of their departure and the server's
    /// notice (the other then changes nothing).
    ProductReturned {
        product: ProductId,
    },
    /// `from` passed `product` to `to`, hand to hand.
    ProductPassed {
        product: ProductId,
        from: MemberSlot,
        to: MemberSlot,
    },
    /// The host's video went live or off (or its URLs changed).
    Stream(StreamNet),
    /// Group deals: a deal or its teams changed, or this shopper's team.
    GroupDeals(vitrine_shared::protocol::GroupDealEventNet),
    /// Your friends: the list, a friend's presence, a request, a
    /// friendship added or removed.
    Friends(FriendEventNet),
    /// Party news (applied to [`RoomMirror::party`] already).
    Party(PartyEventNet),
    /// The group's shared cart changed (or was sent on joining, or ended).
    SharedCart(SharedCartNet),
    /// A moderator voice-muted you, or lifted it.
    Voice(vitrine_shared::protocol::VoiceEventNet),
}

#[derive(Debug, Error, PartialEq)]
pub enum MirrorError {
    #[error("snapshot is corrupt: {0}")]
    Moved(vitrine_shared::protocol::SnapshotError),
    #[error("snapshot {tick} refers to avatar {slot:?} missing from its baseline")]
    BadDelta { tick: u32, slot: MemberSlot },
}

#[derive(Debug, Default)]
pub struct RoomMirror {
    pub room: Option<RoomId>,
    pub room_name: String,
    pub you: Option<MemberSlot>,
    pub spawn: Option<PoseNet>,
    pub bounds: Option<RoomBounds>,
    pub members: BTreeMap<MemberSlot, MemberInfo>,
    pub avatars: BTreeMap<MemberSlot, PoseNet>,
    /// The last [`CHAT_KEPT`] chat lines seen, history first, in the room's order.
    pub chat: Vec<ChatLine>,
    pub rejections: Vec<Rejection>,
    pub shutting_down: Option<String>,
    /// Flash sales announced and not ended, with their units left.
    pub flash_sales: BTreeMap<SaleId, FlashSaleNet>,
    /// This shopper's successful claims (`CommerceEventNet::Claimed`).
    pub claims: Vec<CommerceEventNet>,
    /// This shopper's cart, as the server last sent it.
    pub cart: Vec<CartLineNet>,
    /// This shopper's orders by id, as last heard.
    pub orders: BTreeMap<OrderId, OrderNet>,
    /// Answers to this client's checkouts, by request id.
    pub checkouts: BTreeMap<u32, Result<OrderNet, ShopRefusal>>,
    /// Answers to this client's reviews, by product: the stars given, or
    /// why the review was refused (the latest answer per product).
    pub reviews: BTreeMap<ProductId, Result<u8, ReviewRefusal>>,
    /// The coupon pinned in the show.
    pub pinned_coupon: Option<CouponNet>,
    /// This shopper's group's shared cart, as the server last sent it;
    /// `None` before any and after the group ended.
    pub shared_cart: Option<SharedCartNet>,
    /// Polls heard of, with their latest counts.
    pub polls: BTreeMap<PollId, PollNet>,
    /// Questions asked: the open ones from the join's snapshot on, and
    /// those answered while here (marked).
    pub questions: BTreeMap<QuestionId, QuestionNet>,
    /// Open giveaways, and the draws announced: (giveaway, draw, winner, seed).
    pub giveaways: BTreeMap<GiveawayId, GiveawayNet>,
    pub draws: Vec<(GiveawayId, u32, String, String)>,
    /// The prizes of the giveaways drawn while here.
    pub drawn_prizes: BTreeMap<GiveawayId, String>,
    /// This shopper's points balance, as last heard.
    pub points: Option<i64>,
    /// Badges this shopper earned while here.
    pub badges: Vec<String>,
    /// (show, all time)
    pub leaderboard: (Vec<LeaderNet>, Vec<LeaderNet>),
    /// Reactions seen, summed over every burst.
    pub reactions_seen: u64,
    /// The products the host features now.
    pub featured: Vec<vitrine_shared::ProductId>,
    /// The live show's title, while one is live.
    pub show_live: Option<String>,
    /// Products in someone's hands, and whose (you included).
    pub held: BTreeMap<ProductId, MemberSlot>,
    /// Products lying loose, and where; the server puts each back on its
    /// display `LOOSE_RETURN_SECS` after it was dropped.
    pub dropped: BTreeMap<ProductId, [f32; 3]>,
    /// Set when a moderator removed this client: (banned, reason).
    pub removed: Option<(bool, String)>,
    /// The host's video: where to play it and whether the host is live
    /// (`None`: this server relays no video).
    pub stream: Option<StreamNet>,
    /// Group deals open now, each with its teams forming and places left.
    pub group_deals: BTreeMap<vitrine_shared::DealId, vitrine_shared::protocol::GroupDealNet>,
    /// Answers to this client's team commands, by request id: the team
    /// joined, or why not.
    pub team_answers: BTreeMap<
        u32,
        Result<vitrine_shared::protocol::TeamNet, vitrine_shared::protocol::GroupDealRefusal>,
    >,
    /// This shopper's teams that completed (`true`: charged, with the order)
    /// or were voided (`false`: nothing charged).
    pub teams_settled: BTreeMap<vitrine_shared::TeamId, (bool, Option<OrderId>)>,
    /// Your friends by account, with where each is (`presence: None`:
    /// offline).
    pub friends: BTreeMap<AccountId, FriendNet>,
    /// Friend requests that arrived while here, oldest first (answered
    /// over HTTP; the list is for showing them).
    pub friend_requests: Vec<(AccountId, DisplayName)>,
    /// This shopper's party, its invites, follow offers, shares and chat.
    pub party: PartyMirror,
    /// Newest snapshot applied: acknowledged to the server as a baseline.
    pub latest_snapshot: Option<u32>,
    pub snapshots_applied: u64,
    /// Snapshots dropped: out of order, or baseline no longer held.
    pub snapshots_dropped: u64,
    /// The newest snapshot that carried each avatar (moved or whole): how
    /// fresh the server keeps it here (distant avatars come less often).
    pub carried_in: HashMap<MemberSlot, u32>,
    history: VecDeque<(u32, HashMap<MemberSlot, PoseQ>)>,
    changes: Vec<RoomChange>,
}

fn newer(tick: u32, than: u32) -> bool {
    tick != than && tick.wrapping_sub(than) < u32::MAX / 2
}

impl RoomMirror {
    pub fn is_welcomed(&self) -> bool {
        self.you.is_some()
    }

    /// This shopper's account, once welcomed.
    pub fn my_account(&self) -> Option<vitrine_shared::AccountId> {
        self.you
            .and_then(|you| self.members.get(&you))
            .map(|m| m.account)
    }

    /// A checkout of the shared cart as this shopper sees it now, naming
    /// what they are shown to pay (the server refuses it if the cart has
    /// changed since). `None` before joining, with no cart, or with
    /// nothing to pay for.
    pub fn shared_checkout(
        &self,
        request_id: u32,
        pays_for: SharedPayment,
        payment: PaymentMethod,
    ) -> Option<SharedCheckoutCommand> {
        let me = self.my_account()?;
        let shown = self.shared_cart.as_ref()?.to_pay(me, pays_for)?;
        Some(SharedCheckoutCommand {
            request_id,
            pays_for,
            payment,
            shown,
        })
    }

    pub fn member_by_name(&self, name: &str) -> Option<&MemberInfo> {
        self.members.values().find(|m| m.name.as_str() == name)
    }

    /// Changes since the last call, oldest first.
    pub fn drain_changes(&mut self) -> Vec<RoomChange> {
        std::mem::take(&mut self.changes)
    }

    pub fn apply(&mut self, message: ServerMessage) -> Result<(), MirrorError> {
        match message {
            ServerMessage::Snapshot(snapshot) => return self.apply_snapshot(snapshot),
            ServerMessage::Room(event) => self.apply_event(event),
            ServerMessage::Rejected(rejection) => {
                self.rejections.push(rejection.clone());
                self.changes.push(RoomChange::Rejected(rejection));
            }
            ServerMessage::ShuttingDown { reason } => {
                self.shutting_down = Some(reason.clone());
                self.changes.push(RoomChange::ShuttingDown(reason));
            }
            ServerMessage::Commerce(event) => self.apply_commerce(event),
            ServerMessage::Engagement(event) => self.apply_engagement(event),
            ServerMessage::Removed { banned, reason } => {
                self.removed = Some((banned, reason.clone()));
                self.changes.push(RoomChange::Removed { banned, reason });
            }
            ServerMessage::GroupDeals(event) => self.apply_group_deals(event),
            ServerMessage::Friends(event) => self.apply_friends(event),
            ServerMessage::Party(event) => {
                self.party.apply(&event);
                self.changes.push(RoomChange::Party(event));
            }
            ServerMessage::Voice(event) => self.changes.push(RoomChange::Voice(event)),
        }
        Ok(())
    }

    fn apply_group_deals(&mut self, event: vitrine_shared::protocol::GroupDealEventNet) {
        use vitrine_shared::protocol::GroupDealEventNet as E;
        match &event {
            E::Open(deals) => {
                self.group_deals = deals.iter().map(|d| (d.id, d.clone())).collect();
            }
            E::Deal(deal) => {
                self.group_deals.insert(deal.id, deal.clone());
            }
            E::Ended { deal } => {
                self.group_deals.remove(deal);
            }
            E::Joined {
                request_id, team, ..
            } => {
                self.team_answers.insert(*request_id, Ok(team.clone()));
            }
            E::JoinFailed { request_id, reason } => {
                self.team_answers.insert(*request_id, Err(reason.clone()));
            }
            E::TeamCompleted { team, order_id, .. } => {
                self.teams_settled.insert(*team, (true, Some(*order_id)));
            }
            E::TeamVoided { team, .. } | E::TeamFailed { team, .. } => {
                self.teams_settled.insert(*team, (false, None));
            }
        }
        self.changes.push(RoomChange::GroupDeals(event));
    }

    fn apply_friends(&mut self, event: FriendEventNet) {
        match &event {
            FriendEventNet::List(list) => {
                self.friends = list.iter().map(|f| (f.account, f.clone())).collect();
            }
            FriendEventNet::Presence { account, presence } => {
                if let Some(friend) = self.friends.get_mut(account) {
                    friend.presence = presence.clone();
                }
            }
            FriendEventNet::RequestArrived { account, name } => {
                self.friend_requests.retain(|(a, _)| a != account);
                self.friend_requests.push((*account, name.clone()));
            }
            FriendEventNet::Added(friend) => {
                self.friend_requests.retain(|(a, _)| *a != friend.account);
                self.friends.insert(friend.account, friend.clone());
            }
            FriendEventNet::Removed { account } => {
                self.friends.remove(account);
                self.friend_requests.retain(|(a, _)| a != account);
            }
        }
        self.changes.push(RoomChange::Friends(event));
    }

    fn apply_event(&mut self, event: RoomEvent) {
        match event {
            RoomEvent::Welcome {
                room,
                room_name,
                you,
                spawn,
                bounds,
                members,
                recent_chat,
                flash_sales,
                pinned_coupon,
                products,
            } => {
                // A server without video sends no `Stream` after this.
                self.stream = None;
                self.held.clear();
                self.dropped.clear();
                for product in products {
                    match (product.by, product.dropped_at) {
                        (Some(by), _) => {
                            self.held.insert(product.product, by);
                        }
                        (None, Some(at)) => {
                            self.dropped.insert(product.product, at);
                        }
                        (None, None) => {}
                    }
                }
                self.flash_sales = flash_sales.into_iter().map(|s| (s.id, s)).collect();
                self.pinned_coupon = pinned_coupon.map(|c| *c);
                self.room = Some(room.clone());
                self.room_name = room_name;
                self.you = Some(you);
                self.spawn = Some(*spawn);
                self.bounds = Some(bounds);
                self.members = members.into_iter().map(|m| (m.slot, m)).collect();
                self.avatars.clear();
                self.history.clear();
                self.carried_in.clear();
                self.latest_snapshot = None;
                self.chat.extend(recent_chat);
                self.changes.push(RoomChange::Welcomed { room, you });
            }
            RoomEvent::Stream(stream) => {
                self.stream = Some(stream.clone());
                self.changes.push(RoomChange::Stream(stream));
            }
            RoomEvent::MemberJoined(info) => {
                self.members.insert(info.slot, info.clone());
                self.changes.push(RoomChange::Joined(info));
            }
            RoomEvent::MemberLeft { slot } => {
                // Not from the snapshot history: a snapshot the server
                // encoded before they left may still be on its way (it
                // travels apart from this event), with a delta for them
                // from a baseline that holds them.
                self.avatars.remove(&slot);
                if let Some(info) = self.members.remove(&slot) {
                    self.changes.push(RoomChange::Left(info));
                }
                // What they held goes back on its display, whether or not
                // the server's notice came first.
                let theirs: Vec<ProductId> = self
                    .held
                    .iter()
                    .filter(|(_, by)| **by == slot)
                    .map(|(product, _)| product.clone())
                    .collect();
                for product in theirs {
                    self.return_product(product);
                }
            }
            RoomEvent::ProductHeld { product, by } => {
                if self.members.contains_key(&by) {
                    self.dropped.remove(&product);
                    self.held.insert(product.clone(), by);
                    self.changes.push(RoomChange::ProductHeld { product, by });
                } else {
                    // A holder who has left already: on its way back to its
                    // display.
                    self.return_product(product);
                }
            }
            RoomEvent::ProductDropped { product, at } => {
                self.held.remove(&product);
                self.dropped.insert(product.clone(), at);
                self.changes
                    .push(RoomChange::ProductDropped { product, at });
            }
            RoomEvent::ProductReturned { product } => self.return_product(product),
            RoomEvent::ProductPassed { product, from, to } => {
                if self.members.contains_key(&to) {
                    self.dropped.remove(&product);
                    self.held.insert(product.clone(), to);
                    self.changes
                        .push(RoomChange::ProductPassed { product, from, to });
                } else {
                    self.return_product(product);
                }
            }
            RoomEvent::Chat(line) => {
                if self.chat.len() >= CHAT_KEPT {
                    self.chat.drain(..self.chat.len() + 1 - CHAT_KEPT);
                }
                self.chat.push(line.clone());
                self.changes.push(RoomChange::Chat(line));
            }
            RoomEvent::ChatRemoved { seq } => {
                self.chat.retain(|line| line.seq != seq);
                self.changes.push(RoomChange::ChatRemoved(seq));
            }
            RoomEvent::Reactions(burst) => {
                self.reactions_seen += burst.counts.iter().map(|(_, n)| u64::from(*n)).sum::<u64>();
                self.changes.push(RoomChange::Reactions(burst));
            }
        }
    }

    /// `product` is back on its display: a change only if it was not.
    fn return_product(&mut self, product: ProductId) {
        let held = self.held.remove(&product).is_some();
        let dropped = self.dropped.remove(&product).is_some();
        if held || dropped {
            self.changes.push(RoomChange::ProductReturned { product });
        }
    }

    fn apply_commerce(&mut self, event: CommerceEventNet) {
        match &event {
            CommerceEventNet::SaleAnnounced(sale) => {
                self.flash_sales.insert(sale.id, sale.clone());
            }
            CommerceEventNet::UnitsLeft {
                sale_id,
                units_left,
            } => {
                if let Some(sale) = self.flash_sales.get_mut(sale_id) {
                    sale.units_left = *units_left;
                }
            }
            CommerceEventNet::SoldOut { sale_id } => {
                if let Some(sale) = self.flash_sales.get_mut(sale_id) {
                    sale.units_left = 0;
                }
            }
            CommerceEventNet::SaleEnded { sale_id } => {
                self.flash_sales.remove(sale_id);
            }
            CommerceEventNet::Claimed { .. } => self.claims.push(event.clone()),
            CommerceEventNet::SaleOpened { .. } => {}
            CommerceEventNet::Cart(cart) => self.cart = cart.lines.clone(),
            CommerceEventNet::Order(order) => {
                self.orders.insert(order.id, order.clone());
            }
            CommerceEventNet::RecentOrders(orders) => {
                // Read while live changes were still going out: one heard
                // since is newer than this snapshot's.
                for order in orders {
                    self.orders.entry(order.id).or_insert_with(|| order.clone());
                }
            }
            CommerceEventNet::CheckoutDone { request_id, order } => {
                self.orders.insert(order.id, order.clone());
                self.checkouts.insert(*request_id, Ok(order.clone()));
            }
            CommerceEventNet::CheckoutFailed { request_id, reason } => {
                self.checkouts.insert(*request_id, Err(reason.clone()));
            }
            CommerceEventNet::CouponPinned(coupon) => self.pinned_coupon = coupon.clone(),
            CommerceEventNet::Reviewed {
                product,
                stars,
                refused,
            } => {
                let answer = refused.map_or(Ok(*stars), Err);
                self.reviews.insert(product.clone(), answer);
            }
            CommerceEventNet::SharedCart(cart) => {
                // The server sends a group's cart as `Current` when this
                // shopper joins it (or the room); other news is of the group
                // they are in, unless it is late news of one they left.
                let current = self.shared_cart.as_ref().map(|c| c.group);
                if cart.change != SharedCartChange::Current && current != Some(cart.group) {
                    return;
                }
                self.shared_cart = match cart.change {
                    SharedCartChange::Ended => None,
                    _ => Some(cart.clone()),
                };
                self.changes.push(RoomChange::SharedCart(cart.clone()));
                return;
            }
        }
        self.changes.push(RoomChange::Commerce(event));
    }

    fn apply_engagement(&mut self, event: EngagementEventNet) {
        match &event {
            EngagementEventNet::PollOpened(poll) => {
                self.polls.insert(poll.id, poll.clone());
            }
            EngagementEventNet::PollResults {
                poll_id,
                counts,
                closed,
            } => {
                if let Some(poll) = self.polls.get_mut(poll_id) {
                    poll.counts = counts.clone();
                    poll.closed = *closed;
                }
            }
            EngagementEventNet::QuestionAsked(q) => {
                self.questions.insert(q.id, q.clone());
            }
            EngagementEventNet::QuestionVotes { question_id, votes } => {
                if let Some(q) = self.questions.get_mut(question_id) {
                    q.votes = *votes;
                }
            }
            // Kept, marked: the room shows which questions the host took.
            EngagementEventNet::QuestionAnswered { question_id } => {
                if let Some(q) = self.questions.get_mut(question_id) {
                    q.answered = true;
                }
            }
            EngagementEventNet::GiveawayOpened(g) => {
                self.giveaways.insert(g.id, g.clone());
            }
            EngagementEventNet::GiveawayEntries {
                giveaway_id,
                entries,
            } => {
                if let Some(g) = self.giveaways.get_mut(giveaway_id) {
                    g.entries = *entries;
                }
            }
            EngagementEventNet::GiveawayDrawn {
                giveaway_id,
                draw,
                winner,
                seed,
            } => {
                if let Some(g) = self.giveaways.remove(giveaway_id) {
                    self.drawn_prizes.insert(*giveaway_id, g.prize);
                }
                self.draws
                    .push((*giveaway_id, *draw, winner.to_string(), seed.clone()));
            }
            EngagementEventNet::Points { balance, .. } => self.points = Some(*balance),
            EngagementEventNet::Badge { id, .. } => self.badges.push(id.clone()),
            EngagementEventNet::Leaderboard { show, all_time } => {
                self.leaderboard = (show.clone(), all_time.clone());
            }
            EngagementEventNet::ShowLive { title } => self.show_live = title.clone(),
            EngagementEventNet::Featured { products } => self.featured = products.clone(),
        }
        self.changes.push(RoomChange::Engagement(event));
    }

    fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), MirrorError> {
        if self
            .latest_snapshot
            .is_some_and(|latest| !newer(snapshot.tick, latest))
        {
            self.snapshots_dropped += 1;
            return Ok(());
        }
        let mut poses = match snapshot.baseline {
            None => HashMap::new(),
            Some(base) => match self.history.iter().find(|(tick, _)| *tick == base) {
                Some((_, poses)) => poses.clone(),
                None => {
                    self.snapshots_dropped += 1;
                    return Ok(());
                }
            },
        };
        let moved = snapshot.moved.entries().map_err(MirrorError::Moved)?;
        let mut carried =
            Vec::with_capacity(moved.len() + snapshot.moved_xr.len() + snapshot.full.len());
        for AvatarMoved { slot, delta } in moved {
            let next = poses.get(&slot).and_then(|base| base.apply(&delta));
            let next = next.ok_or(MirrorError::BadDelta {
                tick: snapshot.tick,
                slot,
            })?;
            poses.insert(slot, next);
            carried.push(slot);
        }
        for AvatarMovedXr { slot, delta } in snapshot.moved_xr {
            let next = poses.get(&slot).and_then(|base| base.apply_xr(&delta));
            let next = next.ok_or(MirrorError::BadDelta {
                tick: snapshot.tick,
                slot,
            })?;
            poses.insert(slot, next);
            carried.push(slot);
        }
        for AvatarFull { slot, pose } in snapshot.full {
            poses.insert(slot, pose);
            carried.push(slot);
        }
        // Only now: a snapshot refused above changes nothing.
        for slot in carried {
            self.carried_in.insert(slot, snapshot.tick);
        }
        // Only members known from the reliable events are shown. The
        // history keeps every pose, though: it must hold what the server
        // counts as this baseline, or a snapshot that outran a member's
        // welcome or join (another channel) loses that avatar, and the next
        // delta that moves it cannot be applied.
        self.avatars = poses
            .iter()
            .filter(|(slot, _)| self.members.contains_key(slot))
            .map(|(slot, q)| (*slot, PoseNet::from(q)))
            .collect();
        self.history.push_back((snapshot.tick, poses));
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        self.latest_snapshot = Some(snapshot.tick);
        self.snapshots_applied += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::pose::PoseDeltaQ;
    use vitrine_shared::protocol::MovedAvatars;
    use vitrine_shared::{AccountId, DisplayName, Role};

    fn member(slot: u16) -> MemberInfo {
        MemberInfo {
            slot: MemberSlot(slot),
            account: AccountId(slot as u64 + 100),
            name: DisplayName::new(format!("m{slot}")).unwrap(),
            role: Role::Shopper,
        }
    }

    fn welcomed() -> RoomMirror {
        let mut m = RoomMirror::default();
        m.apply(ServerMessage::Room(RoomEvent::Welcome {
            room: RoomId::new("r").unwrap(),
            room_name: "R".into(),
            you: MemberSlot(0),
            spawn: Box::new(PoseNet::at([0.0; 3], 0.0)),
            bounds: RoomBounds::centered(10.0, 10.0, 3.0),
            members: vec![member(0), member(1)],
            recent_chat: vec![],
            flash_sales: vec![],
            pinned_coupon: None,
            products: vec![],
        }))
        .unwrap();
        m
    }

    fn q(x: i16) -> PoseQ {
        PoseQ {
            position: [x, 0, 0],
            yaw: 0,
            xr: None,
        }
    }

    fn snap(
        tick: u32,
        baseline: Option<u32>,
        full: &[(u16, i16)],
        moved: &[(u16, i16)],
    ) -> ServerMessage {
        ServerMessage::Snapshot(Snapshot {
            tick,
            baseline,
            full: full
                .iter()
                .map(|&(s, x)| AvatarFull {
                    slot: MemberSlot(s),
                    pose: q(x),
                })
                .collect(),
            moved: {
                let mut m = MovedAvatars::default();
                for &(slot, x) in moved {
                    m.push(MemberSlot(slot), PoseDeltaQ { x, z: 0, yaw: 0 })
                        .unwrap();
                }
                m
            },
            moved_xr: vec![],
        })
    }

    #[test]
    fn rebuilds_state_from_deltas_against_acknowledged_baselines() {
        let mut m = welcomed();
        m.apply(snap(1, None, &[(0, 100), (1, 200)], &[])).unwrap();
        // Slot 0 unchanged (omitted), slot 1 moved by +5 cm.
        m.apply(snap(2, Some(1), &[], &[(1, 5)])).unwrap();
        assert_eq!(m.latest_snapshot, Some(2));
        assert!((m.avatars[&MemberSlot(0)].position[0] - 1.0).abs() < 1e-6);
        assert!((m.avatars[&MemberSlot(1)].position[0] - 2.05).abs() < 1e-6);

        // A late, older snapshot is dropped; so is one whose baseline is unknown.
        m.apply(snap(1, None, &[], &[])).unwrap();
        m.apply(snap(9, Some(7), &[], &[])).unwrap();
        assert_eq!(m.snapshots_dropped, 2);
        assert_eq!(m.latest_snapshot, Some(2));

        // A delta for an avatar the baseline lacks is an error, not a guess.
        assert_eq!(
            m.apply(snap(10, Some(2), &[], &[(5, 1)])),
            Err(MirrorError::BadDelta {
                tick: 10,
                slot: MemberSlot(5)
            })
        );
    }

    #[test]
    fn xr_deltas_move_head_and_hands_and_a_bad_one_changes_nothing() {
        use vitrine_shared::pose::{TrackedDeltaQ, TrackedPoseQ, XrDeltaQ, XrPoseQ};
        use vitrine_shared::protocol::AvatarMovedXr;
        let point = |y| TrackedPoseQ {
            position: [0, y, 0],
            rotation: [0, 0, 0, 4096],
        };
        let wearer = PoseQ {
            xr: Some(XrPoseQ {
                head: point(160),
                left_hand: Some(point(110)),
                right_hand: None,
            }),
            ..q(100)
        };
        let step = |dy| TrackedDeltaQ {
            position: [0, dy, 0],
            rotation: [0, 5, 0, 0],
        };
        let delta = |left: Option<TrackedDeltaQ>| XrDeltaQ {
            body: PoseDeltaQ { x: 5, z: 0, yaw: 0 },
            head: step(-2),
            left_hand: left,
            right_hand: None,
        };
        let with_xr = |tick, baseline, slot, d| {
            ServerMessage::Snapshot(Snapshot {
                tick,
                baseline,
                moved_xr: vec![AvatarMovedXr {
                    slot: MemberSlot(slot),
                    delta: d,
                }],
                ..Snapshot::default()
            })
        };
        let mut m = welcomed();
        m.apply(ServerMessage::Snapshot(Snapshot {
            tick: 1,
            full: vec![
                AvatarFull {
                    slot: MemberSlot(0),
                    pose: q(0),
                },
                AvatarFull {
                    slot: MemberSlot(1),
                    pose: wearer,
                },
            ],
            ..Snapshot::default()
        }))
        .unwrap();
        m.apply(with_xr(2, Some(1), 1, delta(Some(step(3)))))
            .unwrap();
        let seen = m.avatars[&MemberSlot(1)];
        let xr = seen.xr.expect("still a headset");
        assert!((seen.position[0] - 1.05).abs() < 1e-6);
        assert!((xr.head.position[1] - 1.58).abs() < 1e-6);
        assert!((xr.left_hand.unwrap().position[1] - 1.13).abs() < 1e-6);
        assert_eq!(m.carried_in[&MemberSlot(1)], 2);
        // Against an avatar without a headset, or with other hands: an
        // error, and the mirror is as it was.
        for (slot, d) in [(0, delta(None)), (1, delta(None))] {
            assert_eq!(
                m.apply(with_xr(3, Some(2), slot, d)),
                Err(MirrorError::BadDelta {
                    tick: 3,
                    slot: MemberSlot(slot)
                })
            );
            assert_eq!(m.latest_snapshot, Some(2));
            assert_eq!(
                m.carried_in[&MemberSlot(slot)],
                if slot == 0 { 1 } else { 2 }
            );
            assert_eq!(m.avatars[&MemberSlot(1)], seen);
        }
    }

    #[test]
    fn the_history_keeps_what_the_server_counts_as_each_baseline() {
        // Snapshots and room events travel on different channels: slot 2's
        // pose can arrive before the event that says who slot 2 is.
        let mut m = welcomed();
        m.apply(snap(1, None, &[(0, 100), (2, 300)], &[])).unwrap();
        assert!(!m.avatars.contains_key(&MemberSlot(2)), "not shown yet");
        m.apply(room(RoomEvent::MemberJoined(member(2)))).unwrap();
        // The server counts slot 2 in baseline 1: unchanged is omitted,
        // and a step is a delta from it.
        m.apply(snap(2, Some(1), &[], &[])).unwrap();
        assert!((m.avatars[&MemberSlot(2)].position[0] - 3.0).abs() < 1e-6);
        m.apply(snap(3, Some(2), &[], &[(2, 5)])).unwrap();
        assert!((m.avatars[&MemberSlot(2)].position[0] - 3.05).abs() < 1e-6);
        // They leave, and the event outruns a snapshot encoded just before:
        // its delta for them still applies, and they are not shown.
        m.apply(room(RoomEvent::MemberLeft {
            slot: MemberSlot(2),
        }))
        .unwrap();
        assert!(!m.avatars.contains_key(&MemberSlot(2)));
        m.apply(snap(4, Some(3), &[], &[(0, 1), (2, -10)])).unwrap();
        assert!(!m.avatars.contains_key(&MemberSlot(2)));
        assert!((m.avatars[&MemberSlot(0)].position[0] - 1.01).abs() < 1e-6);
        // Someone new on the slot is sent whole (the server purged it).
        m.apply(room(RoomEvent::MemberJoined(member(2)))).unwrap();
        m.apply(snap(5, Some(4), &[(2, 700)], &[])).unwrap();
        assert!((m.avatars[&MemberSlot(2)].position[0] - 7.0).abs() < 1e-6);
    }

    fn product(id: &str) -> ProductId {
        ProductId::new(id).unwrap()
    }

    fn room(event: RoomEvent) -> ServerMessage {
        ServerMessage::Room(event)
    }

    #[test]
    fn held_and_loose_products_follow_the_welcome_and_the_events() {
        use vitrine_shared::protocol::HeldProductNet;
        let mut m = RoomMirror::default();
        m.apply(room(RoomEvent::Welcome {
            room: RoomId::new("r").unwrap(),
            room_name: "R".into(),
            you: MemberSlot(0),
            spawn: Box::new(PoseNet::at([0.0; 3], 0.0)),
            bounds: RoomBounds::centered(10.0, 10.0, 3.0),
            members: vec![member(0), member(1), member(2)],
            recent_chat: vec![],
            flash_sales: vec![],
            pinned_coupon: None,
            products: vec![
                HeldProductNet {
                    product: product("mug"),
                    by: Some(MemberSlot(1)),
                    dropped_at: None,
                },
                HeldProductNet {
                    product: product("lamp"),
                    by: None,
                    dropped_at: Some([1.0, 0.0, 2.0]),
                },
            ],
        }))
        .unwrap();
        assert_eq!(m.held, [(product("mug"), MemberSlot(1))].into());
        assert_eq!(m.dropped, [(product("lamp"), [1.0, 0.0, 2.0])].into());
        m.drain_changes();

        // The loose lamp is picked up, the mug dropped, then put back.
        m.apply(room(RoomEvent::ProductHeld {
            product: product("lamp"),
            by: MemberSlot(2),
        }))
        .unwrap();
        m.apply(room(RoomEvent::ProductDropped {
            product: product("mug"),
            at: [3.0, 0.0, 3.0],
        }))
        .unwrap();
        assert_eq!(m.held, [(product("lamp"), MemberSlot(2))].into());
        assert_eq!(m.dropped, [(product("mug"), [3.0, 0.0, 3.0])].into());
        m.apply(room(RoomEvent::ProductReturned {
            product: product("mug"),
        }))
        .unwrap();
        assert!(m.dropped.is_empty());
        assert_eq!(
            m.drain_changes(),
            [
                RoomChange::ProductHeld {
                    product: product("lamp"),
                    by: MemberSlot(2)
                },
                RoomChange::ProductDropped {
                    product: product("mug"),
                    at: [3.0, 0.0, 3.0]
                },
                RoomChange::ProductReturned {
                    product: product("mug")
                },
            ]
        );

        // The lamp passes from hand to hand; one passed to a member who has
        // gone goes home.
        m.apply(room(RoomEvent::ProductPassed {
            product: product("lamp"),
            from: MemberSlot(2),
            to: MemberSlot(1),
        }))
        .unwrap();
        assert_eq!(m.held, [(product("lamp"), MemberSlot(1))].into());
        m.apply(room(RoomEvent::ProductPassed {
            product: product("lamp"),
            from: MemberSlot(1),
            to: MemberSlot(40),
        }))
        .unwrap();
        assert!(m.held.is_empty());
        assert_eq!(
            m.drain_changes(),
            [
                RoomChange::ProductPassed {
                    product: product("lamp"),
                    from: MemberSlot(2),
                    to: MemberSlot(1)
                },
                RoomChange::ProductReturned {
                    product: product("lamp")
                },
            ]
        );

        // A welcome (after reconnecting) replaces everything.
        m.apply(room(RoomEvent::Welcome {
            room: RoomId::new("r").unwrap(),
            room_name: "R".into(),
            you: MemberSlot(0),
            spawn: Box::new(PoseNet::at([0.0; 3], 0.0)),
            bounds: RoomBounds::centered(10.0, 10.0, 3.0),
            members: vec![member(0)],
            recent_chat: vec![],
            flash_sales: vec![],
            pinned_coupon: None,
            products: vec![],
        }))
        .unwrap();
        assert!(m.held.is_empty() && m.dropped.is_empty());
    }

    #[test]
    fn a_member_leaving_puts_back_what_they_held_in_either_order() {
        let mut m = welcomed();
        let held = |m: &mut RoomMirror, id: &str| {
            m.apply(room(RoomEvent::ProductHeld {
                product: product(id),
                by: MemberSlot(1),
            }))
            .unwrap();
        };
        held(&mut m, "mug");
        held(&mut m, "lamp");
        m.apply(room(RoomEvent::ProductHeld {
            product: product("serum"),
            by: MemberSlot(0),
        }))
        .unwrap();
        m.drain_changes();

        // The server's notice for one first, then the departure.
        m.apply(room(RoomEvent::ProductReturned {
            product: product("lamp"),
        }))
        .unwrap();
        m.apply(room(RoomEvent::MemberLeft {
            slot: MemberSlot(1),
        }))
        .unwrap();
        assert_eq!(m.held, [(product("serum"), MemberSlot(0))].into());
        // The notice for the other after the departure changes nothing more.
        m.apply(room(RoomEvent::ProductReturned {
            product: product("mug"),
        }))
        .unwrap();
        let returned: Vec<_> = m
            .drain_changes()
            .into_iter()
            .filter_map(|c| match c {
                RoomChange::ProductReturned { product } => Some(product.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(returned, ["lamp", "mug"], "once each");

        // A pick-up by someone already gone is not shown as held.
        m.apply(room(RoomEvent::ProductHeld {
            product: product("mug"),
            by: MemberSlot(1),
        }))
        .unwrap();
        assert!(!m.held.contains_key(&product("mug")));
    }

    #[test]
    fn members_leaving_vanish_from_avatars() {
        let mut m = welcomed();
        m.apply(snap(1, None, &[(1, 1)], &[])).unwrap();
        m.apply(ServerMessage::Room(RoomEvent::MemberLeft {
            slot: MemberSlot(1),
        }))
        .unwrap();
        assert!(!m.avatars.contains_key(&MemberSlot(1)));
        // A snapshot built on an older baseline still does not bring it back.
        m.apply(snap(2, Some(1), &[], &[])).unwrap();
        assert!(m.avatars.is_empty());
        let changes = m.drain_changes();
        assert!(
            matches!(changes.last(), Some(RoomChange::Left(info)) if info.slot == MemberSlot(1))
        );
    }

    #[test]
    fn stream_follows_welcome_and_live_events() {
        let mut m = welcomed();
        assert_eq!(m.stream, None);
        let off = StreamNet {
            srt: Some("srt://127.0.0.1:9001".into()),
            hls: Some("http://127.0.0.1:8080/hls/live.m3u8".into()),
            live: false,
        };
        m.apply(ServerMessage::Room(RoomEvent::Stream(StreamNet {
            live: true,
            ..off.clone()
        })))
        .unwrap();
        assert!(m.stream.as_ref().is_some_and(|s| s.live));
        m.apply(ServerMessage::Room(RoomEvent::Stream(off.clone())))
            .unwrap();
        assert_eq!(m.stream.as_ref(), Some(&off));
        let changes = m.drain_changes();
        let lives: Vec<bool> = changes
            .iter()
            .filter_map(|c| match c {
                RoomChange::Stream(s) => Some(s.live),
                _ => None,
            })
            .collect();
        assert_eq!(lives, [true, false]);
    }

    #[test]
    fn friends_follow_the_list_then_each_change() {
        use vitrine_shared::protocol::PresenceNet;
        let mut m = welcomed();
        let friend = |id: u64, name: &str, room: Option<&str>| FriendNet {
            account: AccountId(id),
            name: DisplayName::new(name).unwrap(),
            presence: room.map(|r| PresenceNet {
                room: RoomId::new(r).unwrap(),
                room_name: r.to_uppercase(),
                show: None,
            }),
        };
        let friends = |event| ServerMessage::Friends(event);
        m.apply(friends(FriendEventNet::List(vec![
            friend(1, "Ada", Some("hall")),
            friend(2, "Bo", None),
        ])))
        .unwrap();
        m.apply(friends(FriendEventNet::Presence {
            account: AccountId(2),
            presence: friend(2, "Bo", Some("annex")).presence,
        }))
        .unwrap();
        // Presence of someone not a friend changes nothing.
        m.apply(friends(FriendEventNet::Presence {
            account: AccountId(9),
            presence: None,
        }))
        .unwrap();
        assert_eq!(m.friends.len(), 2);
        assert_eq!(
            m.friends[&AccountId(2)]
                .presence
                .as_ref()
                .map(|p| p.room.as_str()),
            Some("annex")
        );
        m.apply(friends(FriendEventNet::RequestArrived {
            account: AccountId(3),
            name: DisplayName::new("Cy").unwrap(),
        }))
        .unwrap();
        assert_eq!(m.friend_requests.len(), 1);
        m.apply(friends(FriendEventNet::Added(friend(3, "Cy", None))))
            .unwrap();
        assert!(
            m.friend_requests.is_empty(),
            "an accepted request is answered"
        );
        m.apply(friends(FriendEventNet::Removed {
            account: AccountId(1),
        }))
        .unwrap();
        let names: Vec<&str> = m.friends.values().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Bo", "Cy"]);
        let changes = m
            .drain_changes()
            .into_iter()
            .filter(|c| matches!(c, RoomChange::Friends(_)))
            .count();
        assert_eq!(changes, 6, "each event is a change");
    }

    #[test]
    fn the_shared_cart_follows_its_news_and_goes_when_the_group_ends() {
        use vitrine_shared::protocol::{CartGroupId, SharedCartLineNet, SharedLineId};
        use vitrine_shared::{AccountId, Currency, DisplayName, Money, Sku};
        let mut m = welcomed();
        let ada = DisplayName::new("Ada").unwrap();
        let line = SharedCartLineNet {
            line: SharedLineId(1),
            sku: Sku::new("stoneware-mug-sage").unwrap(),
            product: product("stoneware-mug"),
            name: "Mug".into(),
            unit_price: Money::new(1600, Currency::EUR),
            quantity: 2,
            held_until_ms: 5,
            added_by: AccountId(1),
            added_by_name: ada.clone(),
            payer: AccountId(1),
            payer_name: ada,
        };
        let cart = |change, lines| {
            ServerMessage::Commerce(CommerceEventNet::SharedCart(SharedCartNet::new(
                CartGroupId(9),
                change,
                lines,
            )))
        };
        // Joining a group, the shopper is sent its cart as it is.
        m.apply(cart(SharedCartChange::Current, vec![line.clone()]))
            .unwrap();
        let kept = m.shared_cart.as_ref().unwrap();
        assert_eq!(
            (kept.lines.len(), kept.total),
            (1, Some(Money::new(3200, Currency::EUR)))
        );
        // A checkout names what this shopper (account 100) is shown.
        let card = PaymentMethod::new("4242424242424242").unwrap();
        let all = m.shared_checkout(5, SharedPayment::Everyone, card.clone());
        assert_eq!(
            all.map(|c| (c.request_id, c.shown)),
            Some((5, Money::new(3200, Currency::EUR)))
        );
        assert_eq!(m.shared_checkout(6, SharedPayment::Mine, card), None);
        // News of a group this shopper is no longer in (it came late) is
        // not theirs: it neither replaces nor ends their cart.
        let stale = |change, lines| {
            ServerMessage::Commerce(CommerceEventNet::SharedCart(SharedCartNet::new(
                CartGroupId(8),
                change,
                lines,
            )))
        };
        m.apply(stale(SharedCartChange::Updated, vec![])).unwrap();
        m.apply(stale(SharedCartChange::Ended, vec![])).unwrap();
        assert_eq!(
            m.shared_cart.as_ref().map(|c| c.group),
            Some(CartGroupId(9))
        );
        assert_eq!(m.shared_cart.as_ref().map(|c| c.lines.len()), Some(1));
        m.apply(cart(SharedCartChange::Ended, vec![])).unwrap();
        assert_eq!(m.shared_cart, None);
        m.apply(cart(SharedCartChange::Updated, vec![line.clone()]))
            .unwrap();
        assert_eq!(m.shared_cart, None, "late news of the ended group");
        // Joining a group starts with its cart as it is.
        m.apply(stale(SharedCartChange::Current, vec![line.clone()]))
            .unwrap();
        assert_eq!(
            m.shared_cart.as_ref().map(|c| c.group),
            Some(CartGroupId(8))
        );
        let changes: Vec<SharedCartChange> = m
            .drain_changes()
            .into_iter()
            .filter_map(|c| match c {
                RoomChange::SharedCart(cart) => Some(cart.change),
                RoomChange::Commerce(CommerceEventNet::SharedCart(_)) => {
                    panic!("told twice")
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            changes,
            [
                SharedCartChange::Current,
                SharedCartChange::Ended,
                SharedCartChange::Current
            ]
        );
    }
}
