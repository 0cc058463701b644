//! Parties on the wire: what a member asks of their party
//! ([`PartyCommand`], inside [`RoomCommand::Party`](super::RoomCommand::Party))
//! and what the server tells them ([`PartyEventNet`], inside
//! [`ServerMessage::Party`](super::ServerMessage::Party)).
//!
//! A party spans rooms: its members may stand in different rooms of the
//! server, and its events reach each of them wherever they are. Identity is
//! never part of a command: the server knows the sender from the transport.

use crate::ids::{AccountId, PartyId};
use crate::limits::party::{MAX_PARTY_SIZE, MAX_PENDING_INVITES};
use crate::validated::{ChatText, DisplayName, ProductId, RoomId};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What a member asks of their party.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PartyCommand {
    /// Invites `account` into your party (making one, with you as its
    /// leader, if you have none). They answer with `Accept` or `Decline`.
    Invite { account: AccountId },
    /// Takes up an invite you were sent.
    Accept { party: PartyId },
    /// Turns down an invite you were sent; its sender is told.
    Decline { party: PartyId },
    /// Leaves your party (a leader hands the lead to the longest-standing
    /// member).
    Leave,
    /// The leader removes a member.
    Kick { account: AccountId },
    /// The leader hands the lead to another member.
    Promote { account: AccountId },
    /// A line in party chat, held to room chat's rules (filter, mutes,
    /// rate limit).
    Chat(ChatText),
    /// Points the party at a product: each member gets a marker on it and
    /// a line in party chat naming it.
    Share { product: ProductId },
}

/// Names a party command in a refusal without echoing its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PartyCommandKind {
    Invite,
    Accept,
    Decline,
    Leave,
    Kick,
    Promote,
    Chat,
    Share,
}

impl PartyCommand {
    pub fn kind(&self) -> PartyCommandKind {
        match self {
            PartyCommand::Invite { .. } => PartyCommandKind::Invite,
            PartyCommand::Accept { .. } => PartyCommandKind::Accept,
            PartyCommand::Decline { .. } => PartyCommandKind::Decline,
            PartyCommand::Leave => PartyCommandKind::Leave,
            PartyCommand::Kick { .. } => PartyCommandKind::Kick,
            PartyCommand::Promote { .. } => PartyCommandKind::Promote,
            PartyCommand::Chat(_) => PartyCommandKind::Chat,
            PartyCommand::Share { .. } => PartyCommandKind::Share,
        }
    }
}

/// One member of a party, as every member sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyMemberNet {
    pub account: AccountId,
    pub name: DisplayName,
    /// The room they are in; `None` while they are between rooms (or lost
    /// their connection and have not come back yet).
    pub room: Option<RoomId>,
    /// Their colour in the party (ring and name tag), `0..MAX_PARTY_SIZE`:
    /// kept while they stay, unique within the party.
    pub colour: u8,
    /// The name of the room they are in, as the room list shows it; `None`
    /// with `room`.
    pub room_name: Option<String>,
}

/// Someone invited and not answered yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyInviteeNet {
    pub account: AccountId,
    pub name: DisplayName,
}

/// A party as it stands: sent whole to every member on each change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyNet {
    pub id: PartyId,
    pub leader: AccountId,
    /// Longest-standing first: the order the lead passes in.
    pub members: Vec<PartyMemberNet>,
    pub invited: Vec<PartyInviteeNet>,
}

/// What a party chat line says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartyLineBody {
    /// A member wrote this.
    Said(ChatText),
    /// A member shared this product (seen in `room`): the client can open
    /// its card from the line.
    Shared { product: ProductId, room: RoomId },
    /// The leader moved to a room that has no seat for every member who is
    /// elsewhere: `free` seats for `needed` members.
    RoomTooSmall {
        room: RoomId,
        room_name: String,
        free: u32,
        needed: u32,
    },
}

/// A line in party chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyLine {
    /// Party-wide sequence number: every member sees the same order.
    pub seq: u64,
    /// Who wrote or shared it; `None` for the server's notices.
    pub from: Option<(AccountId, DisplayName)>,
    pub body: PartyLineBody,
}

/// Why you are no longer in a party.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartyExit {
    /// You left.
    Left,
    /// The leader removed you.
    Kicked,
    /// Everyone else left: a party of one ends.
    Dissolved,
    /// You were away (disconnected) for longer than the grace.
    TimedOut,
}

/// Party news, to the members it concerns, in whatever room they are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PartyEventNet {
    /// To the invitee: `by` invites you into `party`, until the invite
    /// expires `expires_in_ms` from now.
    Invited {
        party: PartyId,
        by: AccountId,
        by_name: DisplayName,
        /// How many the party has now (so the prompt can say so).
        members: u8,
        expires_in_ms: u32,
    },
    /// To the invitee: an invite you held is gone (expired, or its party
    /// ended, or you joined another).
    InviteGone { party: PartyId },
    /// To the inviter: `account` turned your invite down.
    InviteDeclined {
        account: AccountId,
        name: DisplayName,
    },
    /// Your party as it is now: after every change, and when you connect
    /// to a room.
    State(PartyNet),
    /// You are no longer in `party`.
    Exited { party: PartyId, why: PartyExit },
    /// A line in party chat.
    Line(PartyLine),
    /// `by` shared `product`, seen in `room`: put a marker on it.
    Shared {
        by: AccountId,
        name: DisplayName,
        product: ProductId,
        room: RoomId,
    },
    /// The leader moved to `room`: follow with an ordinary join of it.
    /// `seat_for_you` says whether it had a free seat when they arrived
    /// (the join decides).
    FollowOffer {
        leader: AccountId,
        room: RoomId,
        room_name: String,
        seat_for_you: bool,
    },
    /// Your party command was turned down; nothing changed.
    Refused {
        command: PartyCommandKind,
        refusal: PartyRefusal,
    },
}

/// Why a party command was turned down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum PartyRefusal {
    #[error("you cannot invite yourself")]
    InviteSelf,
    #[error("you can invite someone in your room, or a friend in any room")]
    NotInYourRoom,
    #[error("the party is full: at most {MAX_PARTY_SIZE} members")]
    PartyFull,
    #[error("they are in a party already")]
    AlreadyInParty,
    #[error("they are invited already")]
    AlreadyInvited,
    #[error("the party has {MAX_PENDING_INVITES} invites waiting: wait for answers")]
    TooManyInvites,
    #[error("no such invite (it may have expired)")]
    UnknownInvite,
    #[error("you are in a party already: leave it first")]
    InAParty,
    #[error("you are not in a party")]
    NotInParty,
    #[error("only the party's leader may do this")]
    NotLeader,
    #[error("you cannot kick yourself: leave instead")]
    KickSelf,
    #[error("you lead the party already")]
    AlreadyLeader,
    #[error("they are not in your party")]
    NotAMember,
    #[error("no such product")]
    UnknownProduct,
    #[error("too fast: try again in {retry_after_ms} ms")]
    TooFast { retry_after_ms: u32 },
    #[error("parties are unavailable right now")]
    Unavailable,
    /// A block stands between the two (which of them blocked is not said).
    #[error("they cannot be invited")]
    CannotInvite,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_real_limits() {
        assert!(
            PartyRefusal::PartyFull
                .to_string()
                .ends_with(&format!("at most {MAX_PARTY_SIZE} members"))
        );
        assert!(
            PartyRefusal::TooManyInvites
                .to_string()
                .contains(&MAX_PENDING_INVITES.to_string())
        );
    }
}
