//! The party panel as plain data: members (with where they are and their
//! colour), invites to answer, the leader's follow prompt and party chat,
//! built from the mirror by one pure function, as [`super::view`] does for
//! the rest of the screen.

use crate::net::RoomMirror;
use vitrine_shared::protocol::{PartyExit, PartyLineBody};
use vitrine_shared::{AccountId, PartyId, ProductId, RoomId};

/// Party chat lines the panel shows.
pub const PARTY_LINES: usize = 6;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PartyView {
    /// Longest-standing first; empty when not in a party.
    pub members: Vec<PartyMemberView>,
    /// Whether this shopper leads the party.
    pub leading: bool,
    /// Names invited and not answered yet.
    pub invited: Vec<String>,
    /// Invites this shopper may accept (`Y`) or decline (`N`), oldest first.
    pub invites: Vec<InviteView>,
    /// The leader moved elsewhere: `J` follows.
    pub follow: Option<FollowPrompt>,
    pub lines: Vec<PartyLineView>,
    /// Why the last party ended for this shopper, until another starts.
    pub ended: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartyMemberView {
    pub account: AccountId,
    pub name: String,
    /// "here", "in Tiny Room" or "away".
    pub place: String,
    /// Index into the party palette (ring and name tag).
    pub colour: u8,
    pub leader: bool,
    pub you: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InviteView {
    pub party: PartyId,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FollowPrompt {
    pub room: RoomId,
    pub text: String,
    /// The room had a seat for this shopper when the leader arrived.
    pub seat: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartyLineView {
    pub name: String,
    pub text: String,
    /// A shared product: the line opens its card.
    pub product: Option<ProductId>,
}

impl PartyView {
    pub fn in_party(&self) -> bool {
        !self.members.is_empty()
    }
}

/// The party panel from the mirror; `name_of` names products.
pub fn build(mirror: &RoomMirror, name_of: impl Fn(&ProductId) -> String) -> PartyView {
    let party = &mirror.party;
    let me = mirror.my_account();
    let here = mirror.room.as_ref();
    let room_label = |room: &RoomId| {
        if Some(room) == here {
            "here".to_owned()
        } else if party.follow.as_ref().is_some_and(|f| &f.room == room) {
            format!("in {}", party.follow.as_ref().map_or("", |f| &f.room_name))
        } else {
            format!("in {room}")
        }
    };
    let mut view = PartyView {
        invites: party
            .invites
            .values()
            .map(|i| InviteView {
                party: i.party,
                text: format!(
                    "{} invites you to their party ({} in it)",
                    i.by_name, i.members
                ),
            })
            .collect(),
        ..Default::default()
    };
    if let Some(net) = &party.party {
        view.leading = me == Some(net.leader);
        view.members = net
            .members
            .iter()
            .map(|m| PartyMemberView {
                account: m.account,
                name: m.name.to_string(),
                place: m.room.as_ref().map_or("away".into(), room_label),
                colour: m.colour,
                leader: m.account == net.leader,
                you: Some(m.account) == me,
            })
            .collect();
        view.invited = net.invited.iter().map(|i| i.name.to_string()).collect();
        view.follow = party
            .follow
            .as_ref()
            .filter(|f| Some(&f.room) != here)
            .map(|f| FollowPrompt {
                room: f.room.clone(),
                seat: f.seat_for_you,
                text: if f.seat_for_you {
                    format!("The leader went to {}: J to follow", f.room_name)
                } else {
                    format!("The leader went to {}, which is full", f.room_name)
                },
            });
        let start = party.chat.len().saturating_sub(PARTY_LINES);
        view.lines = party.chat[start..]
            .iter()
            .map(|line| {
                let name = line
                    .from
                    .as_ref()
                    .map_or("Party".to_owned(), |(_, n)| n.to_string());
                match &line.body {
                    PartyLineBody::Said(text) => PartyLineView {
                        name,
                        text: text.to_string(),
                        product: None,
                    },
                    PartyLineBody::Shared { product, .. } => PartyLineView {
                        name,
                        text: format!("shared {} (open its card)", name_of(product)),
                        product: Some(product.clone()),
                    },
                    PartyLineBody::RoomTooSmall {
                        room_name,
                        free,
                        needed,
                        ..
                    } => PartyLineView {
                        name,
                        text: format!(
                            "{room_name} has {free} free seats for {needed} of us: not everyone can follow"
                        ),
                        product: None,
                    },
                }
            })
            .collect();
    } else {
        view.ended = party.exited.map(|why| {
            match why {
                PartyExit::Left => "You left the party",
                PartyExit::Kicked => "The leader removed you from the party",
                PartyExit::Dissolved => "Your party ended",
                PartyExit::TimedOut => "You were away too long and left the party",
            }
            .to_owned()
        });
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::protocol::{
        MemberInfo, PartyEventNet, PartyLine, PartyMemberNet, PartyNet, RoomEvent,
    };
    use vitrine_shared::{DisplayName, MemberSlot, PoseNet, Role, RoomBounds, ServerMessage};

    fn name(n: &str) -> DisplayName {
        DisplayName::new(n).unwrap()
    }

    fn room(id: &str) -> RoomId {
        RoomId::new(id).unwrap()
    }

    fn mirror_in_hall() -> RoomMirror {
        let mut m = RoomMirror::default();
        m.apply(ServerMessage::Room(RoomEvent::Welcome {
            room: room("hall"),
            room_name: "Hall".into(),
            you: MemberSlot(0),
            spawn: Box::new(PoseNet::at([0.0; 3], 0.0)),
            bounds: RoomBounds::centered(10.0, 10.0, 3.0),
            members: vec![MemberInfo {
                slot: MemberSlot(0),
                account: AccountId(2),
                name: name("Bob"),
                role: Role::Shopper,
            }],
            recent_chat: vec![],
            flash_sales: vec![],
            pinned_coupon: None,
            products: vec![],
        }))
        .unwrap();
        m
    }

    fn party(m: &mut RoomMirror, event: PartyEventNet) {
        m.apply(ServerMessage::Party(event)).unwrap();
    }

    #[test]
    fn the_panel_says_who_is_where_and_offers_to_follow_the_leader() {
        let mut m = mirror_in_hall();
        party(
            &mut m,
            PartyEventNet::Invited {
                party: PartyId(3),
                by: AccountId(1),
                by_name: name("Ada"),
                members: 1,
                expires_in_ms: 120_000,
            },
        );
        let view = build(&m, |p| p.to_string());
        assert!(!view.in_party());
        assert_eq!(
            view.invites[0].text,
            "Ada invites you to their party (1 in it)"
        );

        party(
            &mut m,
            PartyEventNet::State(PartyNet {
                id: PartyId(3),
                leader: AccountId(1),
                members: vec![
                    PartyMemberNet {
                        account: AccountId(1),
                        name: name("Ada"),
                        room: Some(room("tiny")),
                        colour: 0,
                    },
                    PartyMemberNet {
                        account: AccountId(2),
                        name: name("Bob"),
                        room: Some(room("hall")),
                        colour: 1,
                    },
                ],
                invited: vec![],
            }),
        );
        party(
            &mut m,
            PartyEventNet::FollowOffer {
                leader: AccountId(1),
                room: room("tiny"),
                room_name: "Tiny Room".into(),
                seat_for_you: true,
            },
        );
        party(
            &mut m,
            PartyEventNet::Line(PartyLine {
                seq: 1,
                from: Some((AccountId(1), name("Ada"))),
                body: PartyLineBody::Shared {
                    product: ProductId::new("glow-serum").unwrap(),
                    room: room("tiny"),
                },
            }),
        );
        let view = build(&m, |_| "Glow Serum".into());
        assert!(view.invites.is_empty(), "taken up");
        assert!(!view.leading);
        let places: Vec<(&str, &str, bool, bool)> = view
            .members
            .iter()
            .map(|m| (m.name.as_str(), m.place.as_str(), m.leader, m.you))
            .collect();
        assert_eq!(
            places,
            [
                ("Ada", "in Tiny Room", true, false),
                ("Bob", "here", false, true)
            ]
        );
        let follow = view.follow.unwrap();
        assert_eq!(follow.text, "The leader went to Tiny Room: J to follow");
        assert_eq!(view.lines[0].text, "shared Glow Serum (open its card)");
        assert_eq!(
            view.lines[0].product.as_ref().unwrap().as_str(),
            "glow-serum"
        );

        party(
            &mut m,
            PartyEventNet::Exited {
                party: PartyId(3),
                why: PartyExit::Kicked,
            },
        );
        let view = build(&m, |p| p.to_string());
        assert!(!view.in_party() && view.follow.is_none());
        assert_eq!(
            view.ended.as_deref(),
            Some("The leader removed you from the party")
        );
    }
}
