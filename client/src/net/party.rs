//! The client's copy of its party: members and leader, invites waiting for
//! an answer, the leader's follow offer, shared products and party chat,
//! rebuilt from the server's [`PartyEventNet`]s. The server sends the whole
//! party again whenever this client connects to a room, so a fresh mirror
//! (after following the leader) has it back at once.

use std::collections::BTreeMap;
use vitrine_shared::protocol::{
    PartyCommandKind, PartyEventNet, PartyExit, PartyLine, PartyNet, PartyRefusal,
};
use vitrine_shared::{AccountId, DisplayName, PartyId, ProductId, RoomId};

/// Party chat lines kept.
pub const PARTY_CHAT_KEPT: usize = 200;
/// Refusals kept, newest last.
const REFUSALS_KEPT: usize = 50;

/// An invite this shopper may accept or decline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyInvite {
    pub party: PartyId,
    pub by: AccountId,
    pub by_name: DisplayName,
    pub members: u8,
    /// As sent: how long it could still be answered then.
    pub expires_in_ms: u32,
}

/// The leader moved to `room`: follow with an ordinary join of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowOffer {
    pub leader: AccountId,
    pub room: RoomId,
    pub room_name: String,
    pub seat_for_you: bool,
}

/// A product a party member shared: for a marker on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedProduct {
    pub by: AccountId,
    pub name: DisplayName,
    pub product: ProductId,
    pub room: RoomId,
}

#[derive(Debug, Default, Clone)]
pub struct PartyMirror {
    /// The party this shopper is in.
    pub party: Option<PartyNet>,
    /// Invites waiting for this shopper's answer.
    pub invites: BTreeMap<PartyId, PartyInvite>,
    /// The leader's latest move, until taken up or the party ends.
    pub follow: Option<FollowOffer>,
    /// Products shared in this party, latest share of each.
    pub shared: BTreeMap<ProductId, SharedProduct>,
    /// The last [`PARTY_CHAT_KEPT`] lines, in the party's order.
    pub chat: Vec<PartyLine>,
    /// Party commands turned down, newest last.
    pub refusals: Vec<(PartyCommandKind, PartyRefusal)>,
    /// Why this shopper's last party ended for them.
    pub exited: Option<PartyExit>,
}

impl PartyMirror {
    pub fn leader(&self) -> Option<AccountId> {
        self.party.as_ref().map(|p| p.leader)
    }

    /// Whether `account` is in this shopper's party.
    pub fn has_member(&self, account: AccountId) -> bool {
        self.party
            .as_ref()
            .is_some_and(|p| p.members.iter().any(|m| m.account == account))
    }

    /// A member's colour index, for rings and name tags.
    pub fn colour_of(&self, account: AccountId) -> Option<u8> {
        self.party.as_ref().and_then(|p| {
            p.members
                .iter()
                .find(|m| m.account == account)
                .map(|m| m.colour)
        })
    }

    pub(super) fn apply(&mut self, event: &PartyEventNet) {
        match event {
            PartyEventNet::Invited {
                party,
                by,
                by_name,
                members,
                expires_in_ms,
            } => {
                self.invites.insert(
                    *party,
                    PartyInvite {
                        party: *party,
                        by: *by,
                        by_name: by_name.clone(),
                        members: *members,
                        expires_in_ms: *expires_in_ms,
                    },
                );
            }
            PartyEventNet::InviteGone { party } => {
                self.invites.remove(party);
            }
            // Told as a notice from the event itself; nothing to keep.
            PartyEventNet::InviteDeclined { .. } => {}
            PartyEventNet::State(net) => {
                if self.party.as_ref().map(|p| p.id) != Some(net.id) {
                    // Another party: its chat and shares start afresh.
                    self.chat.clear();
                    self.shared.clear();
                    self.follow = None;
                }
                self.invites.remove(&net.id);
                self.exited = None;
                self.party = Some(net.clone());
            }
            PartyEventNet::Exited { party, why } => {
                if self.party.as_ref().is_some_and(|p| p.id == *party) {
                    self.party = None;
                    self.follow = None;
                    self.shared.clear();
                    self.chat.clear();
                }
                self.exited = Some(*why);
            }
            PartyEventNet::Line(line) => {
                // Lines are replayed at each connect: keep each once.
                if self.chat.last().is_some_and(|last| last.seq >= line.seq) {
                    return;
                }
                if self.chat.len() >= PARTY_CHAT_KEPT {
                    self.chat.drain(..self.chat.len() + 1 - PARTY_CHAT_KEPT);
                }
                self.chat.push(line.clone());
            }
            PartyEventNet::Shared {
                by,
                name,
                product,
                room,
            } => {
                self.shared.insert(
                    product.clone(),
                    SharedProduct {
                        by: *by,
                        name: name.clone(),
                        product: product.clone(),
                        room: room.clone(),
                    },
                );
            }
            PartyEventNet::FollowOffer {
                leader,
                room,
                room_name,
                seat_for_you,
            } => {
                self.follow = Some(FollowOffer {
                    leader: *leader,
                    room: room.clone(),
                    room_name: room_name.clone(),
                    seat_for_you: *seat_for_you,
                });
            }
            PartyEventNet::Refused { command, refusal } => {
                if self.refusals.len() >= REFUSALS_KEPT {
                    self.refusals.remove(0);
                }
                self.refusals.push((*command, refusal.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::ChatText;
    use vitrine_shared::protocol::{PartyLineBody, PartyMemberNet};

    fn name(n: &str) -> DisplayName {
        DisplayName::new(n).unwrap()
    }

    fn state(id: u64, leader: u64, members: &[u64]) -> PartyEventNet {
        PartyEventNet::State(PartyNet {
            id: PartyId(id),
            leader: AccountId(leader),
            members: members
                .iter()
                .enumerate()
                .map(|(i, a)| PartyMemberNet {
                    account: AccountId(*a),
                    name: name(&format!("m{a}")),
                    room: Some(RoomId::new("hall").unwrap()),
                    colour: i as u8,
                    room_name: Some("Hall".into()),
                })
                .collect(),
            invited: vec![],
        })
    }

    fn line(seq: u64, text: &str) -> PartyEventNet {
        PartyEventNet::Line(PartyLine {
            seq,
            from: Some((AccountId(1), name("m1"))),
            body: PartyLineBody::Said(ChatText::new(text).unwrap()),
        })
    }

    #[test]
    fn an_invite_taken_up_becomes_the_party_and_replayed_lines_count_once() {
        let mut m = PartyMirror::default();
        m.apply(&PartyEventNet::Invited {
            party: PartyId(7),
            by: AccountId(1),
            by_name: name("m1"),
            members: 1,
            expires_in_ms: 120_000,
        });
        assert_eq!(m.invites.len(), 1);
        m.apply(&state(7, 1, &[1, 2]));
        assert!(m.invites.is_empty(), "accepted");
        assert_eq!(m.leader(), Some(AccountId(1)));
        assert_eq!(m.colour_of(AccountId(2)), Some(1));
        m.apply(&line(1, "hi"));
        m.apply(&line(2, "there"));
        // A reconnect replays the history.
        m.apply(&line(1, "hi"));
        m.apply(&line(2, "there"));
        m.apply(&line(3, "new"));
        let seqs: Vec<u64> = m.chat.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        m.apply(&PartyEventNet::Exited {
            party: PartyId(7),
            why: PartyExit::Kicked,
        });
        assert!(m.party.is_none() && m.chat.is_empty());
        assert_eq!(m.exited, Some(PartyExit::Kicked));
    }
}
