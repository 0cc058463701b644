//! Shopping together, as plain data: friends with where they are, friend
//! requests, the party (members, leader, colours, where each is), a party
//! invite, the leader's follow offer and party chat with shared products.
//! Built by [`build`] from the room mirror (its `friends`,
//! `friend_requests` and `party`), the catalog and the local UI state;
//! `view::build` calls it for [`ShowroomView::together`](super::view::ShowroomView).

use super::super::catalog::CatalogProduct;
use crate::net::RoomMirror;
use std::collections::BTreeSet;
use vitrine_shared::protocol::{PartyExit, PartyLineBody, PartyRefusal};
use vitrine_shared::{AccountId, PartyId, ProductId, RoomId};

// The UI's font has no middle dot: words are joined with " - ".

/// Party chat lines the chat panel shows.
pub const PARTY_CHAT_LINES: usize = 6;

/// The keys the prompts name (the desktop's key map: README).
pub const TOGETHER_KEY: char = 'P';
pub const ACCEPT_KEY: char = 'Y';
pub const DECLINE_KEY: char = 'N';
pub const FOLLOW_KEY: char = 'J';
pub const INVITE_KEY: char = 'I';
pub const SHARE_KEY: char = 'H';
/// Typed at the start of a chat line, it goes to party chat.
pub const PARTY_CHAT_PREFIX: &str = "/p ";

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TogetherView {
    /// The "Together" panel is open.
    pub open: bool,
    /// Friends, online first, then by name.
    pub friends: Vec<FriendLine>,
    /// Friend requests not answered yet, oldest first.
    pub requests: Vec<FriendRequestView>,
    pub party: Option<PartyView>,
    /// The oldest party invite waiting for an answer.
    pub invite: Option<InviteView>,
    /// The leader moved: follow them.
    pub follow: Option<FollowPrompt>,
    /// The last [`PARTY_CHAT_LINES`] lines of party chat.
    pub party_chat: Vec<PartyChatLine>,
    /// The member pointed at, when they can be invited.
    pub invitable: Option<PointedMember>,
    /// The product on the card, when it can be shared with the party.
    pub shareable: Option<ProductId>,
    /// The last party refusal, in words.
    pub refusal: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FriendLine {
    pub account: AccountId,
    pub name: String,
    /// "In Main Hall - Spring show", "Here", "Offline".
    pub presence: String,
    pub online: bool,
    /// Online in another room: "join friend" goes there.
    pub can_join: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FriendRequestView {
    pub account: AccountId,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartyView {
    /// Longest-standing first, as the server orders them.
    pub members: Vec<PartyMemberView>,
    /// This shopper leads.
    pub you_lead: bool,
    /// Invited, not answered yet.
    pub invited: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartyMemberView {
    pub account: AccountId,
    pub name: String,
    /// Index into the party palette (`party_marks::party_colour`).
    pub colour: u8,
    pub leader: bool,
    pub you: bool,
    /// "Here", "In Studio B", "Between rooms".
    pub place: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InviteView {
    pub party: PartyId,
    /// "Ana invites you to their party (2 members)".
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FollowPrompt {
    pub room: RoomId,
    /// "Ana moved to Studio B: press J to follow".
    pub text: String,
    /// The room had no seat for you when they arrived.
    pub may_be_full: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartyChatLine {
    /// Who wrote it; `None` for the server's notices.
    pub from: Option<String>,
    /// The writer's party colour, while they are in the party.
    pub colour: Option<u8>,
    pub text: String,
    /// A shared product: the line opens its card.
    pub product: Option<ProductId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PointedMember {
    pub account: AccountId,
    pub name: String,
}

/// What the together view keeps locally (not in the room).
#[derive(Debug, Clone, Default)]
pub struct TogetherLocal {
    pub open: bool,
    /// The other shopper in the middle of the view, if any.
    pub pointed: Option<AccountId>,
    /// Friend requests answered here (a decline is not echoed by the
    /// server, so the mirror keeps it).
    pub answered: BTreeSet<AccountId>,
    /// Follow offers turned away (Esc) or taken: not shown again.
    pub dismissed_follow: Option<RoomId>,
}

pub fn exit_words(why: PartyExit) -> &'static str {
    match why {
        PartyExit::Left => "You left the party",
        PartyExit::Kicked => "The leader removed you from the party",
        PartyExit::Dissolved => "Your party ended: everyone else left",
        PartyExit::TimedOut => "You were away too long and left the party",
    }
}

pub fn build(
    mirror: Option<&RoomMirror>,
    catalog: &[CatalogProduct],
    card_product: Option<&ProductId>,
    local: &TogetherLocal,
) -> TogetherView {
    let Some(m) = mirror else {
        return TogetherView {
            open: local.open,
            ..Default::default()
        };
    };
    let product_name = |id: &ProductId| {
        catalog
            .iter()
            .find(|p| &p.view.id == id)
            .map(|p| p.view.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let you = m.my_account();
    // A room's name as the friends' presence says it, else its id.
    let room_name = |room: &RoomId| {
        if m.room.as_ref() == Some(room) {
            return m.room_name.clone();
        }
        m.friends
            .values()
            .filter_map(|f| f.presence.as_ref())
            .find(|p| &p.room == room)
            .map(|p| p.room_name.clone())
            .unwrap_or_else(|| room.to_string())
    };

    let mut friends: Vec<FriendLine> = m
        .friends
        .values()
        .map(|f| {
            let here = f
                .presence
                .as_ref()
                .is_some_and(|p| m.room.as_ref() == Some(&p.room));
            let presence = match &f.presence {
                None => "Offline".to_owned(),
                Some(_) if here => "Here".to_owned(),
                Some(p) => match &p.show {
                    Some(show) => format!("In {} - {show}", p.room_name),
                    None => format!("In {}", p.room_name),
                },
            };
            FriendLine {
                account: f.account,
                name: f.name.as_str().to_owned(),
                presence,
                online: f.presence.is_some(),
                can_join: f.presence.is_some() && !here,
            }
        })
        .collect();
    friends.sort_by(|a, b| b.online.cmp(&a.online).then_with(|| a.name.cmp(&b.name)));

    let requests = m
        .friend_requests
        .iter()
        .filter(|(a, _)| !local.answered.contains(a))
        .map(|(account, name)| FriendRequestView {
            account: *account,
            name: name.as_str().to_owned(),
        })
        .collect();

    let party_net = m.party.party.as_ref();
    let party = party_net.map(|p| PartyView {
        members: p
            .members
            .iter()
            .map(|member| PartyMemberView {
                account: member.account,
                name: member.name.as_str().to_owned(),
                colour: member.colour,
                leader: member.account == p.leader,
                you: Some(member.account) == you,
                place: match &member.room {
                    None => "Between rooms".to_owned(),
                    Some(r) if m.room.as_ref() == Some(r) => "Here".to_owned(),
                    // The party state names the room, friend or not.
                    Some(r) => format!("In {}", member.room_name.as_deref().unwrap_or(r.as_str())),
                },
            })
            .collect(),
        you_lead: you.is_some() && Some(p.leader) == you,
        invited: p
            .invited
            .iter()
            .map(|i| i.name.as_str().to_owned())
            .collect(),
    });

    let invite = if party_net.is_some() {
        // In a party, an invite can only be answered by leaving first.
        None
    } else {
        m.party.invites.values().next().map(|i| InviteView {
            party: i.party,
            text: format!(
                "{} invites you to their party ({} {})",
                i.by_name.as_str(),
                i.members,
                if i.members == 1 { "member" } else { "members" }
            ),
        })
    };

    let follow = m
        .party
        .follow
        .as_ref()
        .filter(|f| m.room.as_ref() != Some(&f.room))
        .filter(|f| local.dismissed_follow.as_ref() != Some(&f.room))
        .filter(|f| Some(f.leader) != you)
        .map(|f| {
            let leader = party_net
                .and_then(|p| p.members.iter().find(|x| x.account == f.leader))
                .map(|x| x.name.as_str().to_owned())
                .unwrap_or_else(|| "Your leader".to_owned());
            FollowPrompt {
                room: f.room.clone(),
                text: format!(
                    "{leader} moved to {}: press {FOLLOW_KEY} to follow",
                    f.room_name
                ),
                may_be_full: !f.seat_for_you,
            }
        });

    let colour_of = |account: AccountId| m.party.colour_of(account);
    let start = m.party.chat.len().saturating_sub(PARTY_CHAT_LINES);
    let party_chat = m.party.chat[start..]
        .iter()
        .map(|line| {
            let from = line.from.as_ref().map(|(_, n)| n.as_str().to_owned());
            let colour = line.from.as_ref().and_then(|(a, _)| colour_of(*a));
            let (text, product) = match &line.body {
                PartyLineBody::Said(text) => (text.as_str().to_owned(), None),
                PartyLineBody::Shared { product, room } => {
                    let place = if m.room.as_ref() == Some(room) {
                        String::new()
                    } else {
                        format!(" in {}", room_name(room))
                    };
                    (
                        format!("shared {}{place} (click to see it)", product_name(product)),
                        Some(product.clone()),
                    )
                }
                PartyLineBody::RoomTooSmall {
                    room_name,
                    free,
                    needed,
                    ..
                } => (
                    format!(
                        "{room_name} is too full for the party: {free} free {} for {needed}",
                        if *free == 1 { "seat" } else { "seats" }
                    ),
                    None,
                ),
            };
            PartyChatLine {
                from,
                colour,
                text,
                product,
            }
        })
        .collect();

    let in_party_size = party_net.map(|p| p.members.len()).unwrap_or(1);
    let invitable = local
        .pointed
        .filter(|a| Some(*a) != you && !m.party.has_member(*a))
        .filter(|_| {
            in_party_size < vitrine_shared::limits::party::MAX_PARTY_SIZE
                && party_net.is_none_or(|p| Some(p.leader) == you)
        })
        .and_then(|a| {
            let info = m.members.values().find(|i| i.account == a)?;
            Some(PointedMember {
                account: a,
                name: info.name.as_str().to_owned(),
            })
        });

    TogetherView {
        open: local.open,
        friends,
        requests,
        party,
        invite,
        follow,
        party_chat,
        invitable,
        shareable: card_product.filter(|_| party_net.is_some()).cloned(),
        refusal: m
            .party
            .refusals
            .last()
            .map(|(_, r): &(_, PartyRefusal)| r.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{FollowOffer, PartyInvite};
    use vitrine_shared::protocol::{
        FriendNet, MemberInfo, PartyLine, PartyMemberNet, PartyNet, PresenceNet,
    };
    use vitrine_shared::{ChatText, DisplayName, MemberSlot, Role};

    fn name(n: &str) -> DisplayName {
        DisplayName::new(n).unwrap()
    }

    fn room(r: &str) -> RoomId {
        RoomId::new(r).unwrap()
    }

    /// Me (account 1) in the hall with Bea (2) beside me.
    fn mirror() -> RoomMirror {
        let mut m = RoomMirror::default();
        m.you = Some(MemberSlot(1));
        m.room = Some(room("hall"));
        m.room_name = "Main Hall".into();
        for (slot, n) in [(1u16, "Me"), (2, "Bea")] {
            m.members.insert(
                MemberSlot(slot),
                MemberInfo {
                    slot: MemberSlot(slot),
                    account: AccountId(slot as u64),
                    name: name(n),
                    role: Role::Shopper,
                },
            );
        }
        m
    }

    fn friend(id: u64, n: &str, at: Option<(&str, &str, Option<&str>)>) -> FriendNet {
        FriendNet {
            account: AccountId(id),
            name: name(n),
            presence: at.map(|(r, rn, show)| PresenceNet {
                room: room(r),
                room_name: rn.into(),
                show: show.map(Into::into),
            }),
        }
    }

    fn party(leader: u64, members: &[(u64, &str, Option<&str>)]) -> PartyNet {
        PartyNet {
            id: PartyId(9),
            leader: AccountId(leader),
            members: members
                .iter()
                .enumerate()
                .map(|(i, (a, n, r))| PartyMemberNet {
                    account: AccountId(*a),
                    name: name(n),
                    room: r.map(room),
                    colour: i as u8 + 3,
                    room_name: r.map(|r| match r {
                        "studio-b" => "Studio B".to_owned(),
                        "annex" => "Annex".to_owned(),
                        other => other.to_owned(),
                    }),
                })
                .collect(),
            invited: vec![],
        }
    }

    #[test]
    fn friends_say_where_they_are_in_words_online_first() {
        let mut m = mirror();
        for f in [
            friend(5, "Zed", Some(("studio-b", "Studio B", None))),
            friend(6, "Ana", Some(("hall", "Main Hall", Some("Spring show")))),
            friend(7, "Cy", None),
            friend(8, "Al", Some(("annex", "Annex", Some("Spring show")))),
        ] {
            m.friends.insert(f.account, f);
        }
        m.friend_requests.push((AccountId(11), name("Kim")));
        m.friend_requests.push((AccountId(12), name("Lou")));
        let mut local = TogetherLocal::default();
        local.answered.insert(AccountId(11));
        let v = build(Some(&m), &[], None, &local);
        let lines: Vec<(&str, &str, bool)> = v
            .friends
            .iter()
            .map(|f| (f.name.as_str(), f.presence.as_str(), f.can_join))
            .collect();
        assert_eq!(
            lines,
            [
                ("Al", "In Annex - Spring show", true),
                ("Ana", "Here", false),
                ("Zed", "In Studio B", true),
                ("Cy", "Offline", false),
            ]
        );
        // An answered request is gone at once; the other waits.
        assert_eq!(
            v.requests,
            [FriendRequestView {
                account: AccountId(12),
                name: "Lou".into()
            }]
        );
    }

    #[test]
    fn the_party_names_its_leader_colours_and_places() {
        let mut m = mirror();
        m.friends.insert(
            AccountId(5),
            friend(5, "Zed", Some(("studio-b", "Studio B", None))),
        );
        m.party.party = Some(party(
            2,
            &[
                (2, "Bea", Some("hall")),
                (1, "Me", Some("hall")),
                (5, "Zed", Some("studio-b")),
                (6, "Ola", None),
            ],
        ));
        let v = build(Some(&m), &[], None, &TogetherLocal::default());
        let p = v.party.expect("a party");
        assert!(!p.you_lead);
        let rows: Vec<(&str, u8, bool, bool, &str)> = p
            .members
            .iter()
            .map(|x| (x.name.as_str(), x.colour, x.leader, x.you, x.place.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                ("Bea", 3, true, false, "Here"),
                ("Me", 4, false, true, "Here"),
                ("Zed", 5, false, false, "In Studio B"),
                ("Ola", 6, false, false, "Between rooms"),
            ]
        );
        // A member who is no friend of yours is placed by name too.
        m.party.party = Some(party(
            2,
            &[(2, "Bea", Some("annex")), (1, "Me", Some("hall"))],
        ));
        let v = build(Some(&m), &[], None, &TogetherLocal::default());
        assert_eq!(v.party.unwrap().members[0].place, "In Annex");
        // Not the leader: nobody can be invited from here.
        let local = TogetherLocal {
            pointed: Some(AccountId(2)),
            ..Default::default()
        };
        assert!(build(Some(&m), &[], None, &local).invitable.is_none());
    }

    #[test]
    fn an_invite_prompts_until_in_a_party_and_the_pointed_shopper_can_be_invited() {
        let mut m = mirror();
        m.party.invites.insert(
            PartyId(4),
            PartyInvite {
                party: PartyId(4),
                by: AccountId(2),
                by_name: name("Bea"),
                members: 2,
                expires_in_ms: 60_000,
            },
        );
        let local = TogetherLocal {
            pointed: Some(AccountId(2)),
            ..Default::default()
        };
        let v = build(Some(&m), &[], None, &local);
        let invite = v.invite.expect("the invite");
        assert_eq!(invite.party, PartyId(4));
        assert_eq!(invite.text, "Bea invites you to their party (2 members)");
        // Alone, anyone in the room can be invited; oneself never.
        assert_eq!(v.invitable.unwrap().name, "Bea");
        let me = TogetherLocal {
            pointed: Some(AccountId(1)),
            ..Default::default()
        };
        assert!(build(Some(&m), &[], None, &me).invitable.is_none());
        // In a party (led by me): the invite waits, Bea is a member now.
        m.party.party = Some(party(
            1,
            &[(1, "Me", Some("hall")), (2, "Bea", Some("hall"))],
        ));
        let v = build(Some(&m), &[], None, &local);
        assert!(v.invite.is_none() && v.invitable.is_none());
        assert!(v.party.unwrap().you_lead);
    }

    #[test]
    fn the_follow_prompt_names_the_leader_and_the_key_until_there_or_dismissed() {
        let mut m = mirror();
        m.party.party = Some(party(
            2,
            &[(2, "Ana", Some("studio-b")), (1, "Me", Some("hall"))],
        ));
        m.party.follow = Some(FollowOffer {
            leader: AccountId(2),
            room: room("studio-b"),
            room_name: "Studio B".into(),
            seat_for_you: true,
        });
        let v = build(Some(&m), &[], None, &TogetherLocal::default());
        let f = v.follow.expect("a prompt");
        assert_eq!(f.text, "Ana moved to Studio B: press J to follow");
        assert_eq!(f.room, room("studio-b"));
        assert!(!f.may_be_full);
        let dismissed = TogetherLocal {
            dismissed_follow: Some(room("studio-b")),
            ..Default::default()
        };
        assert!(build(Some(&m), &[], None, &dismissed).follow.is_none());
        // Already there: nothing to follow.
        m.room = Some(room("studio-b"));
        assert!(
            build(Some(&m), &[], None, &TogetherLocal::default())
                .follow
                .is_none()
        );
    }

    #[test]
    fn party_chat_colours_writers_and_a_share_opens_its_product() {
        let mut m = mirror();
        m.party.party = Some(party(
            2,
            &[(2, "Bea", Some("hall")), (1, "Me", Some("hall"))],
        ));
        let mug = ProductId::new("mug").unwrap();
        let line = |seq, body| PartyLine {
            seq,
            from: Some((AccountId(2), name("Bea"))),
            body,
        };
        m.party.chat = vec![
            line(1, PartyLineBody::Said(ChatText::new("look!").unwrap())),
            line(
                2,
                PartyLineBody::Shared {
                    product: mug.clone(),
                    room: room("hall"),
                },
            ),
            PartyLine {
                seq: 3,
                from: None,
                body: PartyLineBody::RoomTooSmall {
                    room: room("annex"),
                    room_name: "Annex".into(),
                    free: 1,
                    needed: 2,
                },
            },
        ];
        let v = build(Some(&m), &[], Some(&mug), &TogetherLocal::default());
        assert_eq!(v.party_chat.len(), 3);
        assert_eq!(v.party_chat[0].from.as_deref(), Some("Bea"));
        assert_eq!(v.party_chat[0].colour, Some(3));
        assert_eq!(v.party_chat[1].product.as_ref(), Some(&mug));
        assert!(
            v.party_chat[1].text.starts_with("shared mug"),
            "{:?}",
            v.party_chat[1]
        );
        assert_eq!(
            v.party_chat[2].text,
            "Annex is too full for the party: 1 free seat for 2"
        );
        assert_eq!(v.party_chat[2].colour, None);
        // In a party, the card's product can be shared; alone it cannot.
        assert_eq!(v.shareable.as_ref(), Some(&mug));
        m.party.party = None;
        assert!(
            build(Some(&m), &[], Some(&mug), &TogetherLocal::default())
                .shareable
                .is_none()
        );
    }
}
