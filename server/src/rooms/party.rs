//! Parties: up to [`MAX_PARTY_SIZE`] shoppers with a leader, shopping
//! together across the rooms of this server. Every room of a server process
//! lives in this one app, so one [`Parties`] resource spans them all.
//! Parties live in memory only, as on Oculus and Xbox: a restart ends them.
//!
//! - **Invites.** A member (or someone with no party, who then leads a new
//!   one) invites an account that [`invite_allowed`] allows; the invitee
//!   accepts or declines from their screen before the invite expires
//!   ([`INVITE_EXPIRY_SECS`]). Someone already in a party is refused
//!   (`AlreadyInParty`): they leave theirs first.
//! - **Leaving.** Leave, kick (leader), promote (hand over the lead). A
//!   leader who leaves hands the lead to the longest-standing member; a
//!   party of one with no invite waiting ends.
//! - **Away.** A member whose connection ends (switching rooms, a network
//!   drop) stays a member for [`AWAY_GRACE_SECS`]: when they connect to any
//!   room again they get the party back; after the grace they are out.
//! - **Together across rooms.** When the leader connects to another room,
//!   every member elsewhere gets a follow offer saying whether the room has
//!   a seat for them (a member away then gets it on connecting again, to
//!   where the leader is by then). Following is the ordinary join over HTTP, which checks
//!   bans and capacity; when the room cannot seat every member elsewhere,
//!   the party is told so in its chat.
//! - **Party chat and point-and-share.** Party chat passes the inbox like
//!   room chat (its rate limit, mutes and keyword filter) and reaches members
//!   in any room. A shared product, once the catalog knows it, goes to every
//!   member (for a marker) with a line in party chat naming it.
//!
//! Every refusal is typed ([`PartyRefusal`]) and changes nothing.

use super::engagement::EngagementLink;
use super::inbox::CommandReceived;
use super::membership::{Member, Room};
use super::shared_cart::{CartGroupEnded, CartGroupSet};
use super::{ServerSystems, Shared, send_event};
use crate::commerce::GroupMember;
use crate::config::RateConfig;
use crate::engagement::{Answer, EngagementError};
use crate::friends::Friends;
use crate::rate_limit::TokenBucket;
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use bevy_renet::RenetServer;
use bevy_time::prelude::*;
use renet::ClientId;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;
use tokio::sync::oneshot::error::TryRecvError;
use vitrine_shared::limits::party::{
    AWAY_GRACE_SECS, INVITE_BURST, INVITE_EXPIRY_SECS, INVITES_PER_SECOND, MAX_PARTY_SIZE,
    MAX_PENDING_INVITES, PARTY_CHAT_HISTORY, SHARE_BURST, SHARES_PER_SECOND,
};
use vitrine_shared::protocol::{
    CartGroupId, PartyCommand, PartyCommandKind, PartyEventNet, PartyExit, PartyInviteeNet,
    PartyLine, PartyLineBody, PartyMemberNet, PartyNet, PartyRefusal,
};
use vitrine_shared::{
    AccountId, DisplayName, PartyId, ProductId, RoomCommand, RoomId, ServerMessage,
};

pub const INVITE_EXPIRY: Duration = Duration::from_secs(INVITE_EXPIRY_SECS);
pub const AWAY_GRACE: Duration = Duration::from_secs(AWAY_GRACE_SECS);
const INVITE_RATE: RateConfig = RateConfig {
    per_second: INVITES_PER_SECOND,
    burst: INVITE_BURST,
};
const SHARE_RATE: RateConfig = RateConfig {
    per_second: SHARES_PER_SECOND,
    burst: SHARE_BURST,
};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Parties>().add_systems(
        Update,
        (track_presence, apply_commands, settle_shares, sweep)
            .chain()
            .in_set(ServerSystems::Relay),
    );
}

/// Where a connected account is: its newest connection.
#[derive(Debug, Clone)]
pub struct Seen {
    pub client: ClientId,
    pub entity: Entity,
    pub name: DisplayName,
    pub room: RoomId,
    /// The room's name, as the room list shows it.
    pub room_name: String,
}

/// Whether `from` (in `from_room`) may invite `to` (in `to_room`, or not
/// connected: `None`) into a party. The one place this is decided: anyone
/// in the inviter's room, or a friend in any room; never across a block,
/// either way (the refusal does not say which, as friends' do not). The
/// room comes first, so that from elsewhere a block reads as any stranger
/// (a block ends a friendship). [`Parties`] also keeps blocks out of a
/// party's other members.
pub(crate) fn invite_allowed(
    friends: &Friends,
    from: AccountId,
    from_room: &RoomId,
    to: AccountId,
    to_room: Option<&RoomId>,
) -> Result<(), PartyRefusal> {
    if from == to {
        return Err(PartyRefusal::InviteSelf);
    }
    match to_room {
        Some(room) if room == from_room => {}
        Some(_) if friends.are_friends(from, to) => {}
        _ => return Err(PartyRefusal::NotInYourRoom),
    }
    if friends.is_blocked_either_way(from, to) {
        return Err(PartyRefusal::CannotInvite);
    }
    Ok(())
}

/// Whether a block stands between `account` and any member of `party`.
fn blocked_by_any(friends: &Friends, party: &Party, account: AccountId) -> bool {
    party
        .members
        .iter()
        .any(|m| friends.is_blocked_either_way(m.account, account))
}

#[derive(Debug)]
struct PartyMember {
    account: AccountId,
    name: DisplayName,
    colour: u8,
    /// The room they were last seen in (kept while away), to tell a
    /// leader's move from a reconnect.
    last_room: Option<RoomId>,
    /// Since when their connection is gone; `None` while connected.
    away_since: Option<Duration>,
    /// The leader moved while they were away: the offer to follow is made
    /// when they connect again.
    missed_move: bool,
}

#[derive(Debug)]
struct Party {
    id: PartyId,
    leader: AccountId,
    /// Longest-standing first: the lead passes in this order.
    members: Vec<PartyMember>,
    line_seq: u64,
    recent: VecDeque<PartyLine>,
}

impl Party {
    fn member(&self, account: AccountId) -> Option<&PartyMember> {
        self.members.iter().find(|m| m.account == account)
    }

    fn member_mut(&mut self, account: AccountId) -> Option<&mut PartyMember> {
        self.members.iter_mut().find(|m| m.account == account)
    }

    fn free_colour(&self) -> u8 {
        (0..MAX_PARTY_SIZE as u8)
            .find(|c| !self.members.iter().any(|m| m.colour == *c))
            .unwrap_or(0)
    }
}

#[derive(Debug)]
struct Invite {
    party: PartyId,
    from: AccountId,
    to: AccountId,
    to_name: DisplayName,
    expires_at: Duration,
}

#[derive(Debug)]
struct Buckets {
    invites: TokenBucket,
    shares: TokenBucket,
}

/// A share waiting for the catalog check.
struct PendingShare {
    account: AccountId,
    product: ProductId,
    room: RoomId,
    answer: Answer<bool>,
}

/// Party news to send, to whom: gathered while the state changes, sent
/// after.
type Outbox = Vec<(AccountId, PartyEventNet)>;

/// Every party of this server, the invites waiting, and where each
/// connected account is.
#[derive(Resource, Default)]
pub struct Parties {
    next_id: u64,
    parties: BTreeMap<PartyId, Party>,
    member_of: HashMap<AccountId, PartyId>,
    invites: Vec<Invite>,
    online: HashMap<AccountId, Seen>,
    by_entity: HashMap<Entity, AccountId>,
    /// Per account, so switching rooms does not refill them.
    buckets: HashMap<AccountId, Buckets>,
    shares: Vec<PendingShare>,
    /// Each party's members as the shared cart was last told them.
    cart_groups: HashMap<PartyId, Vec<AccountId>>,
}

impl Parties {
    /// The party `account` is in.
    pub fn party_of(&self, account: AccountId) -> Option<PartyId> {
        self.member_of.get(&account).copied()
    }

    /// The party as its members see it.
    fn net(&self, id: PartyId) -> Option<PartyNet> {
        let party = self.parties.get(&id)?;
        // Where a member is: nowhere while away.
        let here = |m: &PartyMember| match m.away_since {
            Some(_) => None,
            None => self.online.get(&m.account),
        };
        Some(PartyNet {
            id,
            leader: party.leader,
            members: party
                .members
                .iter()
                .map(|m| PartyMemberNet {
                    account: m.account,
                    name: m.name.clone(),
                    room: here(m).map(|s| s.room.clone()),
                    room_name: here(m).map(|s| s.room_name.clone()),
                    colour: m.colour,
                })
                .collect(),
            invited: self
                .invites
                .iter()
                .filter(|i| i.party == id)
                .map(|i| PartyInviteeNet {
                    account: i.to,
                    name: i.to_name.clone(),
                })
                .collect(),
        })
    }

    fn tell_party(&self, id: PartyId, event: PartyEventNet, out: &mut Outbox) {
        if let Some(party) = self.parties.get(&id) {
            for m in &party.members {
                out.push((m.account, event.clone()));
            }
        }
    }

    fn broadcast_state(&self, id: PartyId, out: &mut Outbox) {
        if let Some(net) = self.net(id) {
            self.tell_party(id, PartyEventNet::State(net), out);
        }
    }

    fn add_line(
        &mut self,
        id: PartyId,
        from: Option<(AccountId, DisplayName)>,
        body: PartyLineBody,
        out: &mut Outbox,
    ) {
        let Some(party) = self.parties.get_mut(&id) else {
            return;
        };
        party.line_seq += 1;
        let line = PartyLine {
            seq: party.line_seq,
            from,
            body,
        };
        party.recent.push_back(line.clone());
        while party.recent.len() > PARTY_CHAT_HISTORY {
            party.recent.pop_front();
        }
        self.tell_party(id, PartyEventNet::Line(line), out);
    }

    fn buckets(&mut self, account: AccountId, now: Duration) -> &mut Buckets {
        self.buckets.entry(account).or_insert_with(|| Buckets {
            invites: TokenBucket::new(INVITE_RATE, now),
            shares: TokenBucket::new(SHARE_RATE, now),
        })
    }

    /// Applies one command from `from`; refusals come back typed and
    /// change nothing. A share that passes waits for the catalog.
    fn command(
        &mut self,
        from: AccountId,
        command: &PartyCommand,
        engagement: &EngagementLink,
        friends: &Friends,
        now: Duration,
        out: &mut Outbox,
    ) -> Result<(), PartyRefusal> {
        match command {
            PartyCommand::Invite { account } => self.invite(friends, from, *account, now, out),
            PartyCommand::Accept { party } => self.accept(friends, from, *party, now, out),
            PartyCommand::Decline { party } => self.decline(from, *party, out),
            PartyCommand::Leave => {
                let id = self.party_of(from).ok_or(PartyRefusal::NotInParty)?;
                self.remove_member(id, from, PartyExit::Left, out);
                Ok(())
            }
            PartyCommand::Kick { account } => {
                let id = self.led_by(from)?;
                if *account == from {
                    return Err(PartyRefusal::KickSelf);
                }
                if self.party_of(*account) != Some(id) {
                    return Err(PartyRefusal::NotAMember);
                }
                self.remove_member(id, *account, PartyExit::Kicked, out);
                Ok(())
            }
            PartyCommand::Promote { account } => {
                let id = self.led_by(from)?;
                if *account == from {
                    return Err(PartyRefusal::AlreadyLeader);
                }
                if self.party_of(*account) != Some(id) {
                    return Err(PartyRefusal::NotAMember);
                }
                if let Some(party) = self.parties.get_mut(&id) {
                    party.leader = *account;
                }
                self.broadcast_state(id, out);
                Ok(())
            }
            PartyCommand::Chat(text) => {
                let id = self.party_of(from).ok_or(PartyRefusal::NotInParty)?;
                let name = self.name_in(id, from);
                self.add_line(
                    id,
                    Some((from, name)),
                    PartyLineBody::Said(text.clone()),
                    out,
                );
                Ok(())
            }
            PartyCommand::Share { product } => {
                self.party_of(from).ok_or(PartyRefusal::NotInParty)?;
                let room = self
                    .online
                    .get(&from)
                    .map(|s| s.room.clone())
                    .ok_or(PartyRefusal::Unavailable)?;
                too_fast(self.buckets(from, now).shares.try_take(now))?;
                let answer = engagement
                    .handle()
                    .try_product_on_sale(product.clone())
                    .map_err(|_| PartyRefusal::Unavailable)?;
                self.shares.push(PendingShare {
                    account: from,
                    product: product.clone(),
                    room,
                    answer,
                });
                Ok(())
            }
        }
    }

    fn name_in(&self, id: PartyId, account: AccountId) -> DisplayName {
        self.parties
            .get(&id)
            .and_then(|p| p.member(account))
            .map(|m| m.name.clone())
            .or_else(|| self.online.get(&account).map(|s| s.name.clone()))
            .unwrap_or_else(|| DisplayName::new("?").expect("a valid name"))
    }

    /// The party `account` leads.
    fn led_by(&self, account: AccountId) -> Result<PartyId, PartyRefusal> {
        let id = self.party_of(account).ok_or(PartyRefusal::NotInParty)?;
        match self.parties.get(&id) {
            Some(party) if party.leader == account => Ok(id),
            _ => Err(PartyRefusal::NotLeader),
        }
    }

    fn invite(
        &mut self,
        friends: &Friends,
        from: AccountId,
        to: AccountId,
        now: Duration,
        out: &mut Outbox,
    ) -> Result<(), PartyRefusal> {
        if from == to {
            return Err(PartyRefusal::InviteSelf);
        }
        let inviter = self.online.get(&from).ok_or(PartyRefusal::Unavailable)?;
        invite_allowed(
            friends,
            from,
            &inviter.room,
            to,
            self.online.get(&to).map(|s| &s.room),
        )?;
        let existing = self.party_of(from);
        if let Some(id) = existing {
            // Nobody is brought into a party with someone who blocked them.
            if self
                .parties
                .get(&id)
                .is_some_and(|p| blocked_by_any(friends, p, to))
            {
                return Err(PartyRefusal::CannotInvite);
            }
            let members = self.parties.get(&id).map_or(0, |p| p.members.len());
            if members >= MAX_PARTY_SIZE {
                return Err(PartyRefusal::PartyFull);
            }
            let waiting = self.invites.iter().filter(|i| i.party == id).count();
            if self.invites.iter().any(|i| i.party == id && i.to == to) {
                return Err(PartyRefusal::AlreadyInvited);
            }
            if waiting >= MAX_PENDING_INVITES {
                return Err(PartyRefusal::TooManyInvites);
            }
        }
        if self.party_of(to).is_some() {
            return Err(PartyRefusal::AlreadyInParty);
        }
        too_fast(self.buckets(from, now).invites.try_take(now))?;

        let inviter_name = self.online[&from].name.clone();
        let inviter_room = self.online[&from].room.clone();
        let to_name = self.online[&to].name.clone();
        let id = match existing {
            Some(id) => id,
            None => {
                // Their own party, led by them, which the invitee may join.
                self.next_id += 1;
                let id = PartyId(self.next_id);
                self.parties.insert(
                    id,
                    Party {
                        id,
                        leader: from,
                        members: vec![PartyMember {
                            account: from,
                            name: inviter_name.clone(),
                            colour: 0,
                            last_room: Some(inviter_room),
                            away_since: None,
                            missed_move: false,
                        }],
                        line_seq: 0,
                        recent: VecDeque::new(),
                    },
                );
                self.member_of.insert(from, id);
                id
            }
        };
        let members = self.parties[&id].members.len() as u8;
        self.invites.push(Invite {
            party: id,
            from,
            to,
            to_name,
            expires_at: now + INVITE_EXPIRY,
        });
        out.push((
            to,
            PartyEventNet::Invited {
                party: id,
                by: from,
                by_name: inviter_name,
                members,
                expires_in_ms: INVITE_EXPIRY.as_millis() as u32,
            },
        ));
        self.broadcast_state(id, out);
        Ok(())
    }

    fn accept(
        &mut self,
        friends: &Friends,
        account: AccountId,
        id: PartyId,
        now: Duration,
        out: &mut Outbox,
    ) -> Result<(), PartyRefusal> {
        if !self
            .invites
            .iter()
            .any(|i| i.party == id && i.to == account && i.expires_at > now)
        {
            return Err(PartyRefusal::UnknownInvite);
        }
        if self.party_of(account).is_some() {
            return Err(PartyRefusal::InAParty);
        }
        let party = self.parties.get(&id).ok_or(PartyRefusal::UnknownInvite)?;
        if party.members.len() >= MAX_PARTY_SIZE {
            return Err(PartyRefusal::PartyFull);
        }
        // A block made (by either side) since the invite was sent.
        if blocked_by_any(friends, party, account) {
            return Err(PartyRefusal::CannotInvite);
        }
        let seen = self.online.get(&account).ok_or(PartyRefusal::Unavailable)?;
        let member = PartyMember {
            account,
            name: seen.name.clone(),
            colour: party.free_colour(),
            last_room: Some(seen.room.clone()),
            away_since: None,
            missed_move: false,
        };
        // Their other invites lapse: one party at a time.
        let mut lapsed = Vec::new();
        self.invites.retain(|i| {
            if i.to != account {
                return true;
            }
            if i.party != id {
                lapsed.push(i.party);
            }
            false
        });
        if let Some(party) = self.parties.get_mut(&id) {
            party.members.push(member);
        }
        self.member_of.insert(account, id);
        self.broadcast_state(id, out);
        for other in lapsed {
            out.push((account, PartyEventNet::InviteGone { party: other }));
            self.settle(other, out);
        }
        Ok(())
    }

    fn decline(
        &mut self,
        account: AccountId,
        id: PartyId,
        out: &mut Outbox,
    ) -> Result<(), PartyRefusal> {
        let at = self
            .invites
            .iter()
            .position(|i| i.party == id && i.to == account)
            .ok_or(PartyRefusal::UnknownInvite)?;
        let invite = self.invites.remove(at);
        out.push((
            invite.from,
            PartyEventNet::InviteDeclined {
                account,
                name: invite.to_name,
            },
        ));
        self.settle(id, out);
        Ok(())
    }

    /// Takes `account` out of party `id`, telling them why.
    fn remove_member(&mut self, id: PartyId, account: AccountId, why: PartyExit, out: &mut Outbox) {
        let Some(party) = self.parties.get_mut(&id) else {
            return;
        };
        party.members.retain(|m| m.account != account);
        if party.leader == account
            && let Some(next) = party.members.first()
        {
            party.leader = next.account;
        }
        self.member_of.remove(&account);
        out.push((account, PartyEventNet::Exited { party: id, why }));
        // Their invites go with them: nobody joins on the word of someone
        // no longer in the party.
        self.invites.retain(|i| {
            if i.party != id || i.from != account {
                return true;
            }
            out.push((i.to, PartyEventNet::InviteGone { party: id }));
            false
        });
        self.settle(id, out);
    }

    /// After a change to party `id`: a party with nobody to shop with ends
    /// (one member and no invite waiting, or no member); otherwise every
    /// member hears how it stands.
    fn settle(&mut self, id: PartyId, out: &mut Outbox) {
        let Some(party) = self.parties.get(&id) else {
            return;
        };
        let waiting = self.invites.iter().any(|i| i.party == id);
        let over = party.members.is_empty() || (party.members.len() == 1 && !waiting);
        if !over {
            self.broadcast_state(id, out);
            return;
        }
        let party = self.parties.remove(&id).expect("checked above");
        for m in party.members {
            self.member_of.remove(&m.account);
            out.push((
                m.account,
                PartyEventNet::Exited {
                    party: id,
                    why: PartyExit::Dissolved,
                },
            ));
        }
        self.invites.retain(|i| {
            if i.party != id {
                return true;
            }
            out.push((i.to, PartyEventNet::InviteGone { party: id }));
            false
        });
    }

    /// `account` connected to `room` (on a new connection): they get their
    /// party and invites back, the party hears where they are, and a
    /// leader's move is offered to everyone elsewhere.
    fn arrived(
        &mut self,
        account: AccountId,
        seen: Seen,
        now: Duration,
        out: &mut Outbox,
    ) -> Option<Moved> {
        let room = seen.room.clone();
        if let Some(old) = self.online.insert(account, seen.clone()) {
            self.by_entity.remove(&old.entity);
        }
        self.by_entity.insert(seen.entity, account);
        let now_invites: Vec<_> = self
            .invites
            .iter()
            .filter(|i| i.to == account)
            .map(|i| (i.party, i.from, i.expires_at.saturating_sub(now)))
            .collect();
        for (party, from, left) in now_invites {
            let members = self
                .parties
                .get(&party)
                .map_or(0, |p| p.members.len() as u8);
            let by_name = self.name_in(party, from);
            out.push((
                account,
                PartyEventNet::Invited {
                    party,
                    by: from,
                    by_name,
                    members,
                    expires_in_ms: left.as_millis().min(u32::MAX as u128) as u32,
                },
            ));
        }
        let id = self.party_of(account)?;
        let party = self.parties.get_mut(&id)?;
        let member = party.member_mut(account)?;
        member.away_since = None;
        let moved = member.last_room.as_ref() != Some(&room);
        member.last_room = Some(room.clone());
        let missed_move = std::mem::take(&mut member.missed_move);
        let leader = party.leader;
        let is_leader = leader == account;
        let history: Vec<PartyLine> = party.recent.iter().cloned().collect();
        self.broadcast_state(id, out);
        for line in history {
            out.push((account, PartyEventNet::Line(line)));
        }
        if is_leader {
            return moved.then_some(Moved {
                party: id,
                leader: account,
                room,
                only: None,
            });
        }
        // Back after the leader moved: the offer they missed, to where the
        // leader stands now (none if they came back there, or the leader is
        // away too: their own arrival offers it then).
        let leader_room = self.online.get(&leader).map(|s| s.room.clone());
        match leader_room {
            Some(to) if missed_move && to != room => Some(Moved {
                party: id,
                leader,
                room: to,
                only: Some(account),
            }),
            _ => None,
        }
    }

    /// The connection on `entity` ended: if it was its account's newest,
    /// the account is away (its party keeps it for the grace).
    fn departed(&mut self, entity: Entity, now: Duration, out: &mut Outbox) {
        let Some(account) = self.by_entity.remove(&entity) else {
            return;
        };
        if self
            .online
            .get(&account)
            .is_some_and(|s| s.entity == entity)
        {
            self.online.remove(&account);
        } else {
            return;
        }
        let Some(id) = self.party_of(account) else {
            return;
        };
        if let Some(member) = self
            .parties
            .get_mut(&id)
            .and_then(|p| p.member_mut(account))
        {
            member.away_since = Some(now);
        }
        self.broadcast_state(id, out);
    }

    /// The leader moved: follow offers to every member elsewhere, and a
    /// line when the room cannot seat them all; members away are marked to
    /// get theirs when they connect again (`moved.only`).
    fn offer_follow(&mut self, moved: Moved, seats: Option<(String, usize)>, out: &mut Outbox) {
        let Some(party) = self.parties.get(&moved.party) else {
            return;
        };
        let Some((room_name, free)) = seats else {
            return;
        };
        let others = party
            .members
            .iter()
            .filter(|m| m.account != moved.leader)
            .filter(|m| moved.only.is_none_or(|only| only == m.account));
        let (online, away): (Vec<&PartyMember>, Vec<&PartyMember>) =
            others.partition(|m| self.online.contains_key(&m.account));
        let away: Vec<AccountId> = away.iter().map(|m| m.account).collect();
        let elsewhere: Vec<AccountId> = online
            .iter()
            .filter(|m| {
                self.online
                    .get(&m.account)
                    .is_some_and(|s| s.room != moved.room)
            })
            .map(|m| m.account)
            .collect();
        // Those away now hear of the move when they connect again.
        if let Some(party) = self.parties.get_mut(&moved.party) {
            for m in party.members.iter_mut() {
                if away.contains(&m.account) {
                    m.missed_move = true;
                }
            }
        }
        if elsewhere.is_empty() {
            return;
        }
        for account in &elsewhere {
            out.push((
                *account,
                PartyEventNet::FollowOffer {
                    leader: moved.leader,
                    room: moved.room.clone(),
                    room_name: room_name.clone(),
                    seat_for_you: free > 0,
                },
            ));
        }
        // A late offer to one member says whether there is a seat; the line
        // is for a move the whole party heard of.
        if free < elsewhere.len() && moved.only.is_none() {
            self.add_line(
                moved.party,
                None,
                PartyLineBody::RoomTooSmall {
                    room: moved.room,
                    room_name,
                    free: free as u32,
                    needed: elsewhere.len() as u32,
                },
                out,
            );
        }
    }

    /// Invites past their time lapse; members away past the grace are out;
    /// rate limits of accounts gone and partyless are forgotten.
    fn sweep(&mut self, friends: &Friends, now: Duration, out: &mut Outbox) {
        // A block made while together: the one blocked leaves the party
        // (told only that they were taken out), and invites across a block
        // lapse.
        let blocked: Vec<(PartyId, AccountId)> = self
            .parties
            .values()
            .flat_map(|p| {
                p.members.iter().flat_map(move |a| {
                    p.members
                        .iter()
                        .filter(move |b| friends.has_blocked(a.account, b.account))
                        .map(move |b| (p.id, b.account))
                })
            })
            .collect();
        for (id, account) in blocked {
            if self.party_of(account) == Some(id) {
                self.remove_member(id, account, PartyExit::Kicked, out);
            }
        }
        let mut lapsed = Vec::new();
        let parties = &self.parties;
        self.invites.retain(|i| {
            let across_a_block = parties
                .get(&i.party)
                .is_some_and(|p| blocked_by_any(friends, p, i.to));
            if i.expires_at > now && !across_a_block {
                return true;
            }
            lapsed.push((i.party, i.to));
            false
        });
        for (party, to) in lapsed {
            out.push((to, PartyEventNet::InviteGone { party }));
            self.settle(party, out);
        }
        let gone: Vec<(PartyId, AccountId)> = self
            .parties
            .values()
            .flat_map(|p| {
                p.members
                    .iter()
                    .filter(|m| m.away_since.is_some_and(|t| now >= t + AWAY_GRACE))
                    .map(|m| (p.id, m.account))
            })
            .collect();
        for (id, account) in gone {
            self.remove_member(id, account, PartyExit::TimedOut, out);
        }
        let (online, member_of) = (&self.online, &self.member_of);
        self.buckets
            .retain(|a, _| online.contains_key(a) || member_of.contains_key(a));
    }
}

struct Moved {
    party: PartyId,
    leader: AccountId,
    room: RoomId,
    /// The one member to offer it to (a late offer on their return);
    /// `None`: every member elsewhere.
    only: Option<AccountId>,
}

fn too_fast(taken: Result<(), Duration>) -> Result<(), PartyRefusal> {
    taken.map_err(|wait| PartyRefusal::TooFast {
        retry_after_ms: wait.as_millis().min(u32::MAX as u128) as u32,
    })
}

/// The shared cart's side of parties: a party is a cart group, whose
/// members the shared-cart plugin hears from here (and only here).
#[derive(SystemParam)]
struct CartNews<'w> {
    set: MessageWriter<'w, CartGroupSet>,
    ended: MessageWriter<'w, CartGroupEnded>,
}

/// Tells the shared cart of each party whose members `out` changed, and of
/// each party that has ended. State goes out on any news (a member's room too),
/// so only a changed member list is passed on.
fn tell_carts(parties: &mut Parties, out: &Outbox, carts: &mut CartNews) {
    for (_, event) in out {
        let PartyEventNet::State(net) = event else {
            continue;
        };
        let accounts: Vec<AccountId> = net.members.iter().map(|m| m.account).collect();
        if parties.cart_groups.get(&net.id) == Some(&accounts) {
            continue;
        }
        parties.cart_groups.insert(net.id, accounts);
        carts.set.write(CartGroupSet {
            group: CartGroupId(net.id.0),
            members: net
                .members
                .iter()
                .map(|m| GroupMember {
                    account: m.account,
                    name: m.name.clone(),
                })
                .collect(),
        });
    }
    // A party that ended (dissolved, or emptied while an invite waited, with
    // nobody left to hear `Dissolved`) ends its cart.
    let gone: Vec<PartyId> = parties
        .cart_groups
        .keys()
        .filter(|id| !parties.parties.contains_key(id))
        .copied()
        .collect();
    for id in gone {
        parties.cart_groups.remove(&id);
        carts.ended.write(CartGroupEnded {
            group: CartGroupId(id.0),
        });
    }
}

/// Sends what `out` holds to each account's newest connection; an account
/// away hears it when they come back (as the party's state).
fn deliver(parties: &Parties, out: Outbox, server: &mut RenetServer) {
    for (account, event) in out {
        if let Some(seen) = parties.online.get(&account) {
            send_event(server, seen.client, &ServerMessage::Party(event));
        }
    }
}

/// Follows connections: who is where, who is away, and the leader's moves.
#[allow(clippy::too_many_arguments)]
fn track_presence(
    mut parties: ResMut<Parties>,
    joined: Query<(Entity, &Member), Added<Member>>,
    mut left: RemovedComponents<Member>,
    rooms: Query<&Room>,
    shared: Res<Shared>,
    mut server: ResMut<RenetServer>,
    time: Res<Time<Real>>,
    mut carts: CartNews,
) {
    let now = time.elapsed();
    let mut out = Outbox::new();
    for entity in left.read() {
        parties.departed(entity, now, &mut out);
    }
    for (entity, member) in joined.iter() {
        let Ok(room) = rooms.get(member.room) else {
            continue;
        };
        let seen = Seen {
            client: member.client,
            entity,
            name: member.info.name.clone(),
            room: room.id.clone(),
            room_name: room.name.clone(),
        };
        if let Some(moved) = parties.arrived(member.info.account, seen, now, &mut out) {
            // Seats as the directory counts them, the leader included.
            let seats = shared
                .directory
                .get(&moved.room)
                .map(|r| (r.name.clone(), r.capacity.saturating_sub(r.occupancy)));
            parties.offer_follow(moved, seats, &mut out);
        }
    }
    tell_carts(&mut parties, &out, &mut carts);
    deliver(&parties, out, &mut server);
}

#[allow(clippy::too_many_arguments)]
fn apply_commands(
    mut received: MessageReader<CommandReceived>,
    members: Query<&Member>,
    mut parties: ResMut<Parties>,
    engagement: Res<EngagementLink>,
    shared: Res<Shared>,
    mut server: ResMut<RenetServer>,
    time: Res<Time<Real>>,
    mut carts: CartNews,
) {
    let now = time.elapsed();
    let mut out = Outbox::new();
    for CommandReceived { member, command } in received.read() {
        let RoomCommand::Party(command) = command else {
            continue;
        };
        let Ok(member) = members.get(*member) else {
            continue;
        };
        let account = member.info.account;
        if let Err(refusal) = parties.command(
            account,
            command,
            &engagement,
            &shared.friends,
            now,
            &mut out,
        ) {
            shared.metrics.reject("party_refused");
            out.push((
                account,
                PartyEventNet::Refused {
                    command: command.kind(),
                    refusal,
                },
            ));
        }
    }
    tell_carts(&mut parties, &out, &mut carts);
    deliver(&parties, out, &mut server);
}

/// Shares whose catalog check answered go out (or are refused).
fn settle_shares(
    mut parties: ResMut<Parties>,
    shared: Res<Shared>,
    mut server: ResMut<RenetServer>,
) {
    if parties.shares.is_empty() {
        return;
    }
    let mut out = Outbox::new();
    let pending = std::mem::take(&mut parties.shares);
    for mut share in pending {
        let answer = match share.answer.try_recv() {
            Err(TryRecvError::Empty) => {
                parties.shares.push(share);
                continue;
            }
            Err(TryRecvError::Closed) => Err(EngagementError::Unavailable),
            Ok(answer) => answer,
        };
        let refusal = match answer {
            Ok(true) => None,
            Ok(false) => Some(PartyRefusal::UnknownProduct),
            Err(_) => Some(PartyRefusal::Unavailable),
        };
        if let Some(refusal) = refusal {
            shared.metrics.reject("party_refused");
            out.push((
                share.account,
                PartyEventNet::Refused {
                    command: PartyCommandKind::Share,
                    refusal,
                },
            ));
            continue;
        }
        // They may have left the party while the catalog answered.
        let Some(id) = parties.party_of(share.account) else {
            continue;
        };
        let name = parties.name_in(id, share.account);
        parties.tell_party(
            id,
            PartyEventNet::Shared {
                by: share.account,
                name: name.clone(),
                product: share.product.clone(),
                room: share.room.clone(),
            },
            &mut out,
        );
        parties.add_line(
            id,
            Some((share.account, name)),
            PartyLineBody::Shared {
                product: share.product,
                room: share.room,
            },
            &mut out,
        );
    }
    deliver(&parties, out, &mut server);
}

fn sweep(
    mut parties: ResMut<Parties>,
    shared: Res<Shared>,
    mut server: ResMut<RenetServer>,
    time: Res<Time<Real>>,
    mut carts: CartNews,
) {
    let mut out = Outbox::new();
    parties.sweep(&shared.friends, time.elapsed(), &mut out);
    tell_carts(&mut parties, &out, &mut carts);
    deliver(&parties, out, &mut server);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::harness::{TICK, TestRooms};
    use crate::store::Account;
    use vitrine_shared::{ChatText, Role};

    fn party(command: PartyCommand) -> RoomCommand {
        RoomCommand::Party(command)
    }

    fn events(rooms: &TestRooms, client: ClientId) -> Vec<PartyEventNet> {
        rooms
            .received(client)
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Party(event) => Some(event.clone()),
                _ => None,
            })
            .collect()
    }

    fn state(rooms: &TestRooms, client: ClientId) -> Option<PartyNet> {
        events(rooms, client)
            .into_iter()
            .rev()
            .find_map(|e| match e {
                PartyEventNet::State(net) => Some(net),
                _ => None,
            })
    }

    fn refusals(rooms: &TestRooms, client: ClientId) -> Vec<(PartyCommandKind, PartyRefusal)> {
        events(rooms, client)
            .into_iter()
            .filter_map(|e| match e {
                PartyEventNet::Refused { command, refusal } => Some((command, refusal)),
                _ => None,
            })
            .collect()
    }

    fn invited_to(rooms: &TestRooms, client: ClientId) -> Option<PartyId> {
        events(rooms, client)
            .into_iter()
            .rev()
            .find_map(|e| match e {
                PartyEventNet::Invited { party, .. } => Some(party),
                _ => None,
            })
    }

    fn said(rooms: &TestRooms, client: ClientId) -> Vec<String> {
        events(rooms, client)
            .into_iter()
            .filter_map(|e| match e {
                PartyEventNet::Line(PartyLine {
                    body: PartyLineBody::Said(text),
                    ..
                }) => Some(text.to_string()),
                _ => None,
            })
            .collect()
    }

    fn names(net: &PartyNet) -> Vec<(String, Option<String>)> {
        net.members
            .iter()
            .map(|m| (m.name.to_string(), m.room.as_ref().map(|r| r.to_string())))
            .collect()
    }

    fn chat(text: &str) -> RoomCommand {
        party(PartyCommand::Chat(ChatText::new(text).unwrap()))
    }

    /// `leader` invites `account` and `client` accepts, a second apart so
    /// that no rate limit is met.
    fn invite_and_accept(
        rooms: &mut TestRooms,
        leader: ClientId,
        account: &Account,
        client: ClientId,
    ) {
        rooms.send(
            leader,
            party(PartyCommand::Invite {
                account: account.id,
            }),
        );
        rooms.step(Duration::from_secs(2));
        let id = invited_to(rooms, client).expect("invited");
        rooms.send(client, party(PartyCommand::Accept { party: id }));
        rooms.step(TICK);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_invite_taken_up_makes_a_party_whose_chat_reaches_members_only() {
        let mut rooms = TestRooms::start().await;
        let (ada, a) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (bob, b) = rooms.join("Bob", Role::Shopper, "hall").await;
        let (_, c) = rooms.join("Cy", Role::Shopper, "annex").await;
        rooms.send(a, party(PartyCommand::Invite { account: bob.id }));
        rooms.step(TICK);
        let id = invited_to(&rooms, b).expect("Bob is invited");
        let forming = state(&rooms, a).expect("Ada sees her party forming");
        assert_eq!((forming.leader, forming.members.len()), (ada.id, 1));
        assert_eq!(forming.invited[0].account, bob.id);
        assert!(state(&rooms, b).is_none(), "not Bob's party yet");

        rooms.send(b, party(PartyCommand::Accept { party: id }));
        rooms.step(TICK);
        for client in [a, b] {
            let net = state(&rooms, client).unwrap();
            assert_eq!(net.id, id);
            assert_eq!(net.leader, ada.id);
            assert_eq!(
                names(&net),
                [
                    ("Ada".into(), Some("hall".into())),
                    ("Bob".into(), Some("hall".into()))
                ]
            );
            assert!(net.invited.is_empty());
            let colours: Vec<u8> = net.members.iter().map(|m| m.colour).collect();
            assert_eq!(colours, [0, 1]);
        }
        rooms.send(b, chat("this one?"));
        rooms.step(TICK);
        assert_eq!(said(&rooms, a), ["this one?"]);
        assert_eq!(said(&rooms, b), ["this one?"]);
        assert!(events(&rooms, c).is_empty(), "Cy is in no party");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_leaders_move_is_offered_to_members_and_the_party_told_when_seats_lack() {
        let mut rooms = TestRooms::start().await;
        let (ada, a) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (bob, b) = rooms.join("Bob", Role::Shopper, "hall").await;
        let (dee, d) = rooms.join("Dee", Role::Shopper, "hall").await;
        invite_and_accept(&mut rooms, a, &bob, b);
        // The annex holds three: Cy and Eve leave one seat.
        rooms.join("Cy", Role::Shopper, "annex").await;
        rooms.join("Eve", Role::Shopper, "annex").await;

        // Ada moves: her new connection replaces the old one.
        let a2 = rooms.connect(&ada, "annex");
        rooms.ticks(3);
        let offer = |rooms: &TestRooms, client| {
            events(rooms, client).into_iter().find_map(|e| match e {
                PartyEventNet::FollowOffer {
                    leader,
                    room,
                    room_name,
                    seat_for_you,
                } => Some((leader, room.to_string(), room_name, seat_for_you)),
                _ => None,
            })
        };
        assert_eq!(
            offer(&rooms, b),
            Some((ada.id, "annex".into(), "Annex".into(), false)),
            "Ada took the last seat"
        );
        assert!(offer(&rooms, a2).is_none(), "not to the leader");
        let net = state(&rooms, a2).expect("the new connection has the party");
        assert_eq!(
            names(&net),
            [
                ("Ada".into(), Some("annex".into())),
                ("Bob".into(), Some("hall".into()))
            ]
        );
        let notice = events(&rooms, b).into_iter().find_map(|e| match e {
            PartyEventNet::Line(PartyLine {
                from: None,
                body: PartyLineBody::RoomTooSmall { free, needed, .. },
                ..
            }) => Some((free, needed)),
            _ => None,
        });
        assert_eq!(notice, Some((0, 1)));
        // Chat still reaches both, in their different rooms; Dee is in no
        // party.
        rooms.send(b, chat("wait for me"));
        rooms.step(TICK);
        assert_eq!(said(&rooms, a2), ["wait for me"]);
        assert!(events(&rooms, d).is_empty());
        let _ = dee;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_follow_offer_says_there_is_a_seat_when_there_is() {
        let mut rooms = TestRooms::start().await;
        let (ada, a) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (bob, b) = rooms.join("Bob", Role::Shopper, "hall").await;
        invite_and_accept(&mut rooms, a, &bob, b);
        rooms.connect(&ada, "annex");
        rooms.ticks(3);
        let offers: Vec<bool> = events(&rooms, b)
            .into_iter()
            .filter_map(|e| match e {
                PartyEventNet::FollowOffer { seat_for_you, .. } => Some(seat_for_you),
                _ => None,
            })
            .collect();
        assert_eq!(offers, [true]);
        assert!(
            !events(&rooms, b)
                .iter()
                .any(|e| matches!(e, PartyEventNet::Line(_))),
            "no notice when the room has seats"
        );
        // Bob follows: no offer back to him, and both stand in the annex.
        let b2 = rooms.connect(&bob, "annex");
        rooms.ticks(3);
        let net = state(&rooms, b2).unwrap();
        assert_eq!(
            names(&net),
            [
                ("Ada".into(), Some("annex".into())),
                ("Bob".into(), Some("annex".into()))
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_shared_product_reaches_every_member_with_a_line_once_the_catalog_knows_it() {
        let mut rooms = TestRooms::start().await;
        let (_, a) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (bob, b) = rooms.join("Bob", Role::Shopper, "hall").await;
        invite_and_accept(&mut rooms, a, &bob, b);
        rooms.send(
            a,
            party(PartyCommand::Share {
                product: ProductId::new("glow-serum").unwrap(),
            }),
        );
        let shared = |rooms: &TestRooms, client| {
            events(rooms, client).into_iter().find_map(|e| match e {
                PartyEventNet::Shared {
                    name,
                    product,
                    room,
                    ..
                } => Some((name.to_string(), product.to_string(), room.to_string())),
                _ => None,
            })
        };
        assert!(rooms.settle(|r| shared(r, b).is_some()));
        let expected = Some(("Ada".into(), "glow-serum".into(), "hall".into()));
        assert_eq!(shared(&rooms, a), expected);
        assert_eq!(shared(&rooms, b), expected);
        let line = events(&rooms, b).into_iter().any(|e| {
            matches!(e, PartyEventNet::Line(PartyLine {
                body: PartyLineBody::Shared { product, .. }, ..
            }) if product.as_str() == "glow-serum")
        });
        assert!(line, "a line in party chat names it");

        // A product nobody sells: refused, and nobody hears of it.
        rooms.send(
            b,
            party(PartyCommand::Share {
                product: ProductId::new("no-such-thing").unwrap(),
            }),
        );
        assert!(rooms.settle(|r| !refusals(r, b).is_empty()));
        assert_eq!(
            refusals(&rooms, b),
            [(PartyCommandKind::Share, PartyRefusal::UnknownProduct)]
        );
        let shares = events(&rooms, a)
            .iter()
            .filter(|e| matches!(e, PartyEventNet::Shared { .. }))
            .count();
        assert_eq!(shares, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_bad_party_command_is_refused_typed_and_changes_nothing() {
        let mut rooms = TestRooms::start().await;
        let (ada, a) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (bob, b) = rooms.join("Bob", Role::Shopper, "hall").await;
        let (dee, d) = rooms.join("Dee", Role::Shopper, "hall").await;
        let (cy, _) = rooms.join("Cy", Role::Shopper, "annex").await;
        use PartyCommand as C;
        use PartyCommandKind as K;
        use PartyRefusal as R;

        // Without a party.
        let alone = [
            (C::Invite { account: ada.id }, K::Invite, R::InviteSelf),
            (C::Invite { account: cy.id }, K::Invite, R::NotInYourRoom),
            (
                C::Invite {
                    account: AccountId(999_999),
                },
                K::Invite,
                R::NotInYourRoom,
            ),
            (
                C::Accept { party: PartyId(42) },
                K::Accept,
                R::UnknownInvite,
            ),
            (
                C::Decline { party: PartyId(42) },
                K::Decline,
                R::UnknownInvite,
            ),
            (C::Leave, K::Leave, R::NotInParty),
            (C::Kick { account: bob.id }, K::Kick, R::NotInParty),
            (C::Promote { account: bob.id }, K::Promote, R::NotInParty),
            (
                C::Chat(ChatText::new("hi").unwrap()),
                K::Chat,
                R::NotInParty,
            ),
            (
                C::Share {
                    product: ProductId::new("glow-serum").unwrap(),
                },
                K::Share,
                R::NotInParty,
            ),
        ];
        for (command, kind, refusal) in alone {
            rooms.clear(a);
            rooms.send(a, party(command));
            rooms.step(Duration::from_millis(500));
            assert_eq!(refusals(&rooms, a), [(kind, refusal)]);
            assert!(state(&rooms, a).is_none(), "no party was made");
        }

        invite_and_accept(&mut rooms, a, &bob, b);
        let before = state(&rooms, a).unwrap();
        // Bob is not the leader; Ada cannot kick or promote herself, nor
        // touch someone outside the party; Bob is in a party already.
        let bad = [
            (b, C::Kick { account: ada.id }, K::Kick, R::NotLeader),
            (b, C::Promote { account: bob.id }, K::Promote, R::NotLeader),
            (a, C::Kick { account: ada.id }, K::Kick, R::KickSelf),
            (
                a,
                C::Promote { account: ada.id },
                K::Promote,
                R::AlreadyLeader,
            ),
            (a, C::Kick { account: dee.id }, K::Kick, R::NotAMember),
            (a, C::Promote { account: dee.id }, K::Promote, R::NotAMember),
            (
                a,
                C::Invite { account: bob.id },
                K::Invite,
                R::AlreadyInParty,
            ),
            (
                d,
                C::Invite { account: bob.id },
                K::Invite,
                R::AlreadyInParty,
            ),
        ];
        for (client, command, kind, refusal) in bad {
            rooms.clear(client);
            rooms.clear(a);
            rooms.send(client, party(command));
            rooms.step(Duration::from_millis(500));
            assert_eq!(
                refusals(&rooms, client),
                [(kind, refusal.clone())],
                "{refusal:?}"
            );
            assert!(state(&rooms, a).is_none(), "{refusal:?} changed the party");
        }
        // Dee's refused invite made no party of her own either.
        assert!(state(&rooms, d).is_none());

        // Dee is invited; a second invite is refused, and accepting while
        // in a party is refused.
        rooms.send(a, party(C::Invite { account: dee.id }));
        rooms.step(Duration::from_millis(500));
        rooms.clear(a);
        rooms.clear(b);
        rooms.send(b, party(C::Invite { account: dee.id }));
        rooms.step(Duration::from_millis(500));
        assert_eq!(refusals(&rooms, b), [(K::Invite, R::AlreadyInvited)]);
        rooms.clear(b);
        rooms.send(b, party(C::Accept { party: before.id }));
        rooms.step(Duration::from_millis(500));
        assert_eq!(refusals(&rooms, b), [(K::Accept, R::UnknownInvite)]);
        assert!(state(&rooms, a).is_none());
        assert_eq!(state(&rooms, b).map(|n| n.members.len()), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn accepting_while_in_a_party_is_refused_and_an_invite_follows_a_reconnect() {
        let mut rooms = TestRooms::start().await;
        let (ada, a) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (bob, b) = rooms.join("Bob", Role::Shopper, "hall").await;
        let (_, d) = rooms.join("Dee", Role::Shopper, "hall").await;
        // Dee invites Ada; then Ada starts her own party by inviting Bob.
        rooms.send(d, party(PartyCommand::Invite { account: ada.id }));
        rooms.step(TICK);
        let from_dee = invited_to(&rooms, a).unwrap();
        rooms.send(a, party(PartyCommand::Invite { account: bob.id }));
        rooms.step(TICK);
        rooms.send(a, party(PartyCommand::Accept { party: from_dee }));
        rooms.step(TICK);
        assert_eq!(
            refusals(&rooms, a),
            [(PartyCommandKind::Accept, PartyRefusal::InAParty)]
        );
        // Bob's connection drops and comes back: his invite is shown again,
        // with the time it has left.
        rooms.step(Duration::from_secs(30));
        rooms.drop_connection(b);
        rooms.ticks(2);
        let b2 = rooms.connect(&bob, "hall");
        rooms.ticks(2);
        let again = events(&rooms, b2).into_iter().find_map(|e| match e {
            PartyEventNet::Invited { expires_in_ms, .. } => Some(expires_in_ms),
            _ => None,
        });
        let left = again.expect("the invite again") as u64;
        assert!(
            left < INVITE_EXPIRY.as_millis() as u64 - 30_000 + 1000 && left > 80_000,
            "{left} ms left"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_party_has_at_most_its_cap_of_invites_waiting() {
        let rooms_toml = r#"
[[rooms]]
id = "hall"
name = "Hall"
capacity = 20
"#;
        let mut rooms = TestRooms::start_with(|s| {
            s.rooms = crate::rooms::parse_rooms(rooms_toml, 20).unwrap();
        })
        .await;
        let (_, lead) = rooms.join("Lead", Role::Shopper, "hall").await;
        let mut guests = Vec::new();
        for i in 0..=MAX_PENDING_INVITES {
            guests.push(
                rooms
                    .join(&format!("Guest {i}"), Role::Shopper, "hall")
                    .await,
            );
        }
        for (account, _) in &guests[..MAX_PENDING_INVITES] {
            rooms.send(
                lead,
                party(PartyCommand::Invite {
                    account: account.id,
                }),
            );
            rooms.step(Duration::from_secs(2));
        }
        assert!(refusals(&rooms, lead).is_empty());
        assert_eq!(
            state(&rooms, lead).unwrap().invited.len(),
            MAX_PENDING_INVITES
        );
        rooms.send(
            lead,
            party(PartyCommand::Invite {
                account: guests[MAX_PENDING_INVITES].0.id,
            }),
        );
        rooms.step(Duration::from_secs(2));
        assert_eq!(
            refusals(&rooms, lead),
            [(PartyCommandKind::Invite, PartyRefusal::TooManyInvites)]
        );
        assert!(invited_to(&rooms, guests[MAX_PENDING_INVITES].1).is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn party_chat_is_screened_like_room_chat() {
        let mut rooms = TestRooms::start().await;
        let host = rooms.account("Hana", Role::Host).await;
        let (ada, a) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (bob, b) = rooms.join("Bob", Role::Shopper, "hall").await;
        invite_and_accept(&mut rooms, a, &bob, b);
        rooms
            .moderation
            .set_filter(&host, &["scam".to_string()])
            .await
            .unwrap();
        rooms.send(a, chat("what a scam"));
        rooms.step(TICK);
        let filtered = rooms.received(a).iter().any(|m| {
            matches!(m, ServerMessage::Rejected(r)
                if r.command == vitrine_shared::protocol::CommandKind::Party
                    && r.reason == vitrine_shared::protocol::RejectReason::Filtered)
        });
        assert!(filtered);
        rooms
            .moderation
            .mute(&host, &ada, Duration::from_secs(60), "calm down")
            .await
            .unwrap();
        rooms.send(a, chat("muted words"));
        rooms.step(TICK);
        assert!(said(&rooms, b).is_empty(), "neither line reached Bob");
        let muted = rooms.received(a).iter().any(|m| {
            matches!(m, ServerMessage::Rejected(r)
                if matches!(r.reason, vitrine_shared::protocol::RejectReason::Muted { .. }))
        });
        assert!(muted);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_lead_passes_to_the_longest_standing_and_a_party_of_one_ends() {
        let mut rooms = TestRooms::start().await;
        let (ada, a) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (bob, b) = rooms.join("Bob", Role::Shopper, "hall").await;
        let (dee, d) = rooms.join("Dee", Role::Shopper, "hall").await;
        invite_and_accept(&mut rooms, a, &bob, b);
        invite_and_accept(&mut rooms, a, &dee, d);
        assert_eq!(state(&rooms, d).unwrap().members.len(), 3);

        // Promote hands the lead over; the new leader may kick.
        rooms.send(a, party(PartyCommand::Promote { account: dee.id }));
        rooms.step(TICK);
        assert_eq!(state(&rooms, b).unwrap().leader, dee.id);
        rooms.send(a, party(PartyCommand::Kick { account: bob.id }));
        rooms.step(TICK);
        assert_eq!(
            refusals(&rooms, a),
            [(PartyCommandKind::Kick, PartyRefusal::NotLeader)],
            "Ada leads no more"
        );
        // Dee leaves: the lead goes to Ada, the longest-standing.
        rooms.send(d, party(PartyCommand::Leave));
        rooms.step(TICK);
        let net = state(&rooms, b).unwrap();
        assert_eq!((net.leader, net.members.len()), (ada.id, 2));
        assert!(events(&rooms, d).contains(&PartyEventNet::Exited {
            party: net.id,
            why: PartyExit::Left
        }));
        // Ada kicks Bob: a party of one ends.
        rooms.send(a, party(PartyCommand::Kick { account: bob.id }));
        rooms.step(TICK);
        let exited = |rooms: &TestRooms, client| {
            events(rooms, client)
                .into_iter()
                .rev()
                .find_map(|e| match e {
                    PartyEventNet::Exited { why, .. } => Some(why),
                    _ => None,
                })
        };
        assert_eq!(exited(&rooms, b), Some(PartyExit::Kicked));
        assert_eq!(exited(&rooms, a), Some(PartyExit::Dissolved));
        // Nobody is in a party now: Bob may be invited again.
        rooms.clear(b);
        rooms.send(d, party(PartyCommand::Invite { account: bob.id }));
        rooms.step(Duration::from_secs(2));
        assert!(invited_to(&rooms, b).is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_member_who_drops_stays_for_the_grace_and_is_then_out() {
        let mut rooms = TestRooms::start().await;
        let (ada, a) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (bob, b) = rooms.join("Bob", Role::Shopper, "hall").await;
        let (dee, d) = rooms.join("Dee", Role::Shopper, "hall").await;
        invite_and_accept(&mut rooms, a, &bob, b);
        invite_and_accept(&mut rooms, a, &dee, d);
        rooms.send(b, chat("brb"));
        rooms.step(TICK);

        // Bob drops, and comes back within the grace: still a member, and
        // his new connection gets the party and its chat.
        rooms.drop_connection(b);
        rooms.ticks(2);
        let net = state(&rooms, a).unwrap();
        assert_eq!(names(&net)[1], ("Bob".into(), None), "away");
        rooms.step(AWAY_GRACE - Duration::from_secs(1));
        let b2 = rooms.connect(&bob, "annex");
        rooms.ticks(2);
        assert_eq!(
            names(&state(&rooms, b2).unwrap())[1],
            ("Bob".into(), Some("annex".into()))
        );
        assert_eq!(said(&rooms, b2), ["brb"]);

        // Ada drops for good: at the grace she is out, and the lead passes.
        rooms.drop_connection(a);
        rooms.ticks(2);
        rooms.step(AWAY_GRACE - Duration::from_millis(100));
        assert_eq!(
            state(&rooms, d).unwrap().members.len(),
            3,
            "within the grace"
        );
        assert_eq!(state(&rooms, d).unwrap().leader, ada.id);
        rooms.step(Duration::from_millis(100));
        let net = state(&rooms, d).unwrap();
        assert_eq!(net.members.len(), 2);
        assert_eq!(net.leader, bob.id);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invites_expire_and_are_declined_and_the_inviter_hears() {
        let mut rooms = TestRooms::start().await;
        let (_, a) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (bob, b) = rooms.join("Bob", Role::Shopper, "hall").await;
        let (dee, d) = rooms.join("Dee", Role::Shopper, "hall").await;
        rooms.send(a, party(PartyCommand::Invite { account: bob.id }));
        rooms.send(a, party(PartyCommand::Invite { account: dee.id }));
        rooms.step(TICK);
        let id = invited_to(&rooms, b).unwrap();
        rooms.send(d, party(PartyCommand::Decline { party: id }));
        rooms.step(TICK);
        assert!(events(&rooms, a).iter().any(|e| matches!(
            e,
            PartyEventNet::InviteDeclined { account, .. } if *account == dee.id
        )));
        // Bob waits too long.
        rooms.step(INVITE_EXPIRY);
        assert!(events(&rooms, b).contains(&PartyEventNet::InviteGone { party: id }));
        assert!(
            events(&rooms, a).contains(&PartyEventNet::Exited {
                party: id,
                why: PartyExit::Dissolved
            }),
            "nobody took up Ada's invites: her party of one ends"
        );
        rooms.send(b, party(PartyCommand::Accept { party: id }));
        rooms.step(TICK);
        assert_eq!(
            refusals(&rooms, b),
            [(PartyCommandKind::Accept, PartyRefusal::UnknownInvite)]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_party_holds_eight_and_invites_are_rate_limited_and_capped() {
        let rooms_toml = r#"
[[rooms]]
id = "hall"
name = "Hall"
capacity = 20
"#;
        let mut rooms = TestRooms::start_with(|s| {
            s.rooms = crate::rooms::parse_rooms(rooms_toml, 20).unwrap();
        })
        .await;
        let (_, lead) = rooms.join("Lead", Role::Shopper, "hall").await;
        let mut others = Vec::new();
        for i in 0..12 {
            others.push(
                rooms
                    .join(&format!("Guest {i}"), Role::Shopper, "hall")
                    .await,
            );
        }
        // A burst of invites, then the rate limit.
        for (account, _) in &others[..INVITE_BURST as usize + 1] {
            rooms.send(
                lead,
                party(PartyCommand::Invite {
                    account: account.id,
                }),
            );
        }
        rooms.step(TICK);
        let limited = refusals(&rooms, lead);
        assert_eq!(limited.len(), 1, "{limited:?}");
        assert!(matches!(
            limited[0],
            (PartyCommandKind::Invite, PartyRefusal::TooFast { retry_after_ms }) if retry_after_ms > 1000
        ));
        // Seven accept, a second apart: a party of eight.
        for (account, client) in &others[..7] {
            if invited_to(&rooms, *client).is_none() {
                rooms.send(
                    lead,
                    party(PartyCommand::Invite {
                        account: account.id,
                    }),
                );
                rooms.step(Duration::from_secs(2));
            }
            let id = invited_to(&rooms, *client).unwrap();
            rooms.send(*client, party(PartyCommand::Accept { party: id }));
            rooms.step(Duration::from_secs(1));
        }
        assert_eq!(state(&rooms, lead).unwrap().members.len(), MAX_PARTY_SIZE);
        rooms.clear(lead);
        rooms.send(
            lead,
            party(PartyCommand::Invite {
                account: others[7].0.id,
            }),
        );
        rooms.step(Duration::from_secs(2));
        assert_eq!(
            refusals(&rooms, lead),
            [(PartyCommandKind::Invite, PartyRefusal::PartyFull)]
        );
        assert!(invited_to(&rooms, others[7].1).is_none());
    }
    /// The last refusal `client` heard for an invite.
    fn invite_refusals(rooms: &TestRooms, client: ClientId) -> Vec<PartyRefusal> {
        refusals(rooms, client)
            .into_iter()
            .filter(|(kind, _)| *kind == PartyCommandKind::Invite)
            .map(|(_, refusal)| refusal)
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_friend_is_invited_from_any_room_and_no_invite_crosses_a_block() {
        let mut rooms = TestRooms::start().await;
        let (ada, a) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (bob, b) = rooms.join("Bob", Role::Shopper, "hall").await;
        let (cy, c) = rooms.join("Cy", Role::Shopper, "annex").await;
        let friends = rooms.app.world().resource::<Shared>().friends.clone();

        // Cy is in another room and no friend of Ada's yet.
        rooms.send(a, party(PartyCommand::Invite { account: cy.id }));
        rooms.step(TICK);
        assert_eq!(invite_refusals(&rooms, a), [PartyRefusal::NotInYourRoom]);
        assert_eq!(invited_to(&rooms, c), None);

        // Friends, they may: the invite reaches her in the annex.
        let code = friends.code(cy.id).await.unwrap();
        friends.send_request(&ada, code.as_str()).await.unwrap();
        friends.accept(&cy, ada.id).await.unwrap();
        rooms.clear(a);
        rooms.step(Duration::from_secs(2));
        rooms.send(a, party(PartyCommand::Invite { account: cy.id }));
        rooms.step(TICK);
        assert!(invite_refusals(&rooms, a).is_empty());
        assert!(
            invited_to(&rooms, c).is_some(),
            "a friend elsewhere is invited"
        );

        // Bob, beside Ada, blocks her: her invite is refused without saying
        // who blocked whom, and he hears nothing.
        friends.block(bob.id, ada.id).await.unwrap();
        rooms.step(Duration::from_secs(2));
        rooms.send(a, party(PartyCommand::Invite { account: bob.id }));
        rooms.step(TICK);
        assert_eq!(invite_refusals(&rooms, a), [PartyRefusal::CannotInvite]);
        assert_eq!(invited_to(&rooms, b), None);
        // Nor may the blocker invite the one he blocked.
        rooms.send(b, party(PartyCommand::Invite { account: ada.id }));
        rooms.step(TICK);
        assert_eq!(invite_refusals(&rooms, b), [PartyRefusal::CannotInvite]);
        assert!(
            state(&rooms, b).is_none(),
            "no party was made for the refused invite"
        );
    }

    /// The shared carts `client` was sent, oldest first.
    fn shared_carts(
        rooms: &TestRooms,
        client: ClientId,
    ) -> Vec<vitrine_shared::protocol::SharedCartNet> {
        rooms
            .received(client)
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Commerce(
                    vitrine_shared::protocol::CommerceEventNet::SharedCart(cart),
                ) => Some(cart.clone()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_party_is_one_shared_cart_that_ends_with_it() {
        use vitrine_shared::Sku;
        use vitrine_shared::protocol::{SharedCartChange, SharedCartCommand};
        let mut rooms = TestRooms::start().await;
        let (_, a) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (bob, b) = rooms.join("Bob", Role::Shopper, "hall").await;
        let (dee, d) = rooms.join("Dee", Role::Shopper, "hall").await;
        let mug = Sku::new("stoneware-mug-sage").unwrap();
        let store = rooms.store.clone();
        let stock = || async {
            sqlx::query_scalar::<_, i64>("SELECT stock FROM variants WHERE sku = $1")
                .bind(mug.as_str())
                .fetch_one(store.pool())
                .await
                .unwrap()
        };
        let before = stock().await;

        invite_and_accept(&mut rooms, a, &bob, b);
        let id = state(&rooms, b).expect("in the party").id;
        assert!(rooms.settle(|r| !shared_carts(r, a).is_empty() && !shared_carts(r, b).is_empty()));
        let group = shared_carts(&rooms, b).last().unwrap().group;
        assert_eq!(group.0, id.0, "the party's cart");

        // Bob adds; Ada, in the same party, sees his line.
        rooms.send(
            b,
            RoomCommand::SharedCart(SharedCartCommand::Add {
                sku: mug.clone(),
                quantity: 2,
            }),
        );
        assert!(rooms.settle(|r| {
            shared_carts(r, a)
                .last()
                .is_some_and(|c| c.lines.len() == 1)
        }));
        let line = shared_carts(&rooms, a).last().unwrap().lines[0].clone();
        assert_eq!((line.added_by, line.quantity), (bob.id, 2));
        // Dee, not in the party, is refused and sees no cart.
        rooms.send(
            d,
            RoomCommand::SharedCart(SharedCartCommand::Add {
                sku: mug.clone(),
                quantity: 1,
            }),
        );
        rooms.ticks(5);
        assert!(shared_carts(&rooms, d).is_empty());
        let _ = dee;

        // Bob leaves: a party of one ends, and so does its cart, for both;
        // the units go back to stock.
        rooms.send(b, party(PartyCommand::Leave));
        assert!(rooms.settle(|r| {
            [a, b].iter().all(|c| {
                shared_carts(r, *c)
                    .last()
                    .is_some_and(|c| c.change == SharedCartChange::Ended)
            })
        }));
        let mut back = false;
        for _ in 0..200 {
            if stock().await == before {
                back = true;
                break;
            }
            rooms.ticks(1);
        }
        assert!(back, "the party's units went back to stock");
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_block_keeps_its_pair_apart_through_other_members_and_after_the_fact() {
        let mut rooms = TestRooms::start().await;
        let (ada, a) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (bob, b) = rooms.join("Bob", Role::Shopper, "hall").await;
        let (cy, c) = rooms.join("Cy", Role::Shopper, "hall").await;
        let friends = rooms.app.world().resource::<Shared>().friends.clone();
        invite_and_accept(&mut rooms, a, &cy, c);

        // Bob blocked Ada: Cy, in Ada's party, cannot bring him in.
        friends.block(bob.id, ada.id).await.unwrap();
        rooms.step(Duration::from_secs(2));
        rooms.send(c, party(PartyCommand::Invite { account: bob.id }));
        rooms.step(TICK);
        assert_eq!(invite_refusals(&rooms, c), [PartyRefusal::CannotInvite]);
        assert_eq!(invited_to(&rooms, b), None);
        friends.unblock(bob.id, ada.id).await.unwrap();

        // Invited, then blocked before answering: the invite lapses.
        rooms.step(Duration::from_secs(2));
        rooms.send(a, party(PartyCommand::Invite { account: bob.id }));
        rooms.step(TICK);
        let id = invited_to(&rooms, b).expect("invited");
        friends.block(ada.id, bob.id).await.unwrap();
        rooms.step(TICK);
        assert!(events(&rooms, b).contains(&PartyEventNet::InviteGone { party: id }));
        rooms.send(b, party(PartyCommand::Accept { party: id }));
        rooms.step(TICK);
        assert_eq!(state(&rooms, a).unwrap().members.len(), 2, "Bob is not in");
        friends.unblock(ada.id, bob.id).await.unwrap();

        // Together, then blocked: the one blocked is taken out.
        rooms.clear(b);
        rooms.step(Duration::from_secs(2));
        invite_and_accept(&mut rooms, a, &bob, b);
        assert_eq!(state(&rooms, a).unwrap().members.len(), 3);
        friends.block(cy.id, bob.id).await.unwrap();
        rooms.step(TICK);
        assert!(events(&rooms, b).contains(&PartyEventNet::Exited {
            party: id,
            why: PartyExit::Kicked,
        }));
        let left: Vec<AccountId> = state(&rooms, a)
            .unwrap()
            .members
            .iter()
            .map(|m| m.account)
            .collect();
        assert_eq!(left, [ada.id, cy.id]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_removed_members_invites_go_and_an_emptied_partys_cart_ends() {
        use super::super::shared_cart::SharedCartGroups;
        let mut rooms = TestRooms::start().await;
        let (_, a) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (cy, c) = rooms.join("Cy", Role::Shopper, "hall").await;
        let (dee, d) = rooms.join("Dee", Role::Shopper, "hall").await;
        invite_and_accept(&mut rooms, a, &cy, c);
        let id = state(&rooms, a).unwrap().id;
        rooms.step(Duration::from_secs(2));
        rooms.send(c, party(PartyCommand::Invite { account: dee.id }));
        rooms.step(TICK);
        assert_eq!(invited_to(&rooms, d), Some(id));
        // Ada kicks Cy: Cy's invite to Dee goes with him.
        rooms.send(a, party(PartyCommand::Kick { account: cy.id }));
        rooms.step(TICK);
        assert!(events(&rooms, d).contains(&PartyEventNet::InviteGone { party: id }));
        rooms.send(d, party(PartyCommand::Accept { party: id }));
        rooms.step(TICK);
        assert!(
            refusals(&rooms, d).contains(&(PartyCommandKind::Accept, PartyRefusal::UnknownInvite))
        );

        // A party of one with an invite waiting has a cart group; when its
        // last member leaves, the cart ends though nobody hears `Dissolved`.
        // Dee goes, to make room in the hall for Eve.
        rooms.drop_connection(d);
        rooms.ticks(2);
        let (eve, e) = rooms.join("Eve", Role::Shopper, "hall").await;
        rooms.step(Duration::from_secs(2));
        rooms.send(c, party(PartyCommand::Invite { account: eve.id }));
        rooms.step(TICK);
        assert!(invited_to(&rooms, e).is_some());
        let groups = |rooms: &TestRooms| {
            rooms
                .app
                .world()
                .resource::<SharedCartGroups>()
                .group_of(cy.id)
                .is_some()
        };
        assert!(
            rooms.settle(|r| groups(r)),
            "Cy's new party is a cart group"
        );
        rooms.send(c, party(PartyCommand::Leave));
        assert!(rooms.settle(|r| !groups(r)), "its cart ended with it");
    }
}
