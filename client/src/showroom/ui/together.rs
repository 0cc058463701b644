//! Shopping together, as plain data: friends with where they are, friend
//! requests, the party (members, leader, colours, where each is), a party
//! invite, the leader's follow offer and party chat with shared products.
//! Built by [`build`] from the room mirror (its `friends`,
//! `friend_requests` and `party`), the catalog and the local UI state;
//! `view::build` calls it for [`ShowroomView::together`](super::view::ShowroomView).

use super::super::catalog::CatalogProduct;
use super::UiAction;
use super::view::ViewButton;
use crate::net::{ApiError, RoomMirror};
use std::collections::BTreeSet;
use vitrine_shared::friends::{FriendCodeView, FriendRequestSent};
use vitrine_shared::protocol::{PartyExit, PartyLineBody, PartyRefusal};
use vitrine_shared::{AccountId, PartyId, ProductId, RoomId};

// The UI's font has no middle dot: words are joined with " - ".

/// Party chat lines the chat panel shows.
pub const PARTY_CHAT_LINES: usize = 6;

/// The keys the prompts name (the desktop's key map: README).
pub const TOGETHER_KEY: &str = "P";
pub const ACCEPT_KEY: &str = "Y";
pub const DECLINE_KEY: &str = "N";
pub const FOLLOW_KEY: &str = "J";
pub const INVITE_KEY: &str = "I";
pub const SHARE_KEY: &str = "H";
pub const STAY_KEY: &str = "Esc";
/// Sends the typed friend code.
pub const ADD_FRIEND_KEY: &str = "Enter";
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
    /// "Your code: K7QM-3XPD", once the server told it.
    pub code: Option<String>,
    /// The link that carries the code (`vitrine://friend/K7QM-3XPD`).
    pub link: Option<String>,
    /// The friend code being typed (desktop), while its box is open.
    pub code_draft: Option<String>,
    /// What the last "add a friend" did, in words.
    pub added: Option<AddFriendAnswer>,
}

/// The answer to adding a friend by code: asked, friends now, or why not.
#[derive(Debug, Clone, PartialEq)]
pub struct AddFriendAnswer {
    pub text: String,
    pub ok: bool,
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
    /// "Ana moved to Studio B", without the key (XR has a button).
    pub moved: String,
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
    /// Your friend code and link, once the server told them.
    pub code: Option<FriendCodeView>,
    /// The code being typed, while its box is open (desktop).
    pub code_draft: Option<String>,
    pub added: Option<AddFriendAnswer>,
    /// Requests that were waiting before this room (the room tells only
    /// of new ones), from `GET /friends/requests`: oldest first.
    pub earlier_requests: Vec<FriendRequestView>,
}

impl FriendLine {
    /// "Join" while the friend is online in another room.
    pub fn buttons(&self) -> Vec<ViewButton> {
        if self.can_join {
            vec![ViewButton::new("Join", UiAction::JoinFriend(self.account))]
        } else {
            Vec::new()
        }
    }
}

impl FriendRequestView {
    pub fn buttons(&self) -> Vec<ViewButton> {
        vec![
            ViewButton::new("Accept", UiAction::AcceptFriend(self.account)),
            ViewButton::new("Decline", UiAction::DeclineFriend(self.account)),
        ]
    }
}

impl PartyView {
    pub fn buttons(&self) -> Vec<ViewButton> {
        vec![ViewButton::new("Leave the party", UiAction::LeaveParty)]
    }

    /// What the leader can do to another member: remove them, or hand
    /// them the lead. Nothing for anyone else (the server would refuse).
    pub fn member_buttons(&self, member: &PartyMemberView) -> Vec<ViewButton> {
        if !self.you_lead || member.you {
            return Vec::new();
        }
        vec![
            ViewButton::new("Remove", UiAction::RemoveFromParty(member.account)),
            ViewButton::new("Make leader", UiAction::MakePartyLeader(member.account)),
        ]
    }
}

impl PartyMemberView {
    /// "Bea (you), leader".
    pub fn label(&self) -> String {
        let mut name = self.name.clone();
        if self.you {
            name.push_str(" (you)");
        }
        if self.leader {
            name.push_str(", leader");
        }
        name
    }
}

impl InviteView {
    pub fn buttons(&self) -> Vec<ViewButton> {
        vec![
            ViewButton::new("Join", UiAction::AcceptPartyInvite(self.party)).with_key(ACCEPT_KEY),
            ViewButton::new("No thanks", UiAction::DeclinePartyInvite(self.party))
                .with_key(DECLINE_KEY),
        ]
    }
}

impl FollowPrompt {
    pub fn buttons(&self) -> Vec<ViewButton> {
        vec![
            ViewButton::new("Follow", UiAction::FollowLeader(self.room.clone()))
                .with_key(FOLLOW_KEY),
            ViewButton::new("Stay", UiAction::DismissFollow).with_key(STAY_KEY),
        ]
    }
}

impl PointedMember {
    pub fn button(&self) -> ViewButton {
        ViewButton::new(
            format!("Invite {}", self.name),
            UiAction::InviteToParty(self.account),
        )
        .with_key(INVITE_KEY)
    }
}

impl TogetherView {
    /// Adding a friend by code (typed: the desktop's): open the box, or
    /// send what is typed in it.
    pub fn add_friend_button(&self) -> ViewButton {
        match &self.code_draft {
            None => ViewButton::new("Add a friend by code", UiAction::OpenFriendCode),
            Some(draft) => ViewButton::new("Add", UiAction::AddFriendByCode(draft.clone()))
                .with_key(ADD_FRIEND_KEY),
        }
    }
}

/// What adding a friend by code did, in words: the server's refusals are
/// typed and worded there (`FriendError`), so they are shown as said.
pub fn add_friend_answer(result: &Result<FriendRequestSent, ApiError>) -> AddFriendAnswer {
    match result {
        Ok(sent) if sent.status == "friends" => AddFriendAnswer {
            text: format!("You and {} are friends now", sent.name),
            ok: true,
        },
        Ok(sent) => AddFriendAnswer {
            text: format!("Asked {}: they will see your request", sent.name),
            ok: true,
        },
        Err(ApiError::Refused { message, .. }) => AddFriendAnswer {
            text: format!("Not added: {message}"),
            ok: false,
        },
        Err(e) => AddFriendAnswer {
            text: format!("Not added: {e}"),
            ok: false,
        },
    }
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
    let code = local
        .code
        .as_ref()
        .map(|c| format!("Your code: {}", c.code));
    let link = local.code.as_ref().map(|c| c.link.clone());
    let Some(m) = mirror else {
        return TogetherView {
            open: local.open,
            code,
            link,
            code_draft: local.code_draft.clone(),
            added: local.added.clone(),
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

    // Those waiting from before this room first, then those heard here;
    // each once, and not once answered or friends.
    let mut requests: Vec<FriendRequestView> = Vec::new();
    let heard = m
        .friend_requests
        .iter()
        .map(|(account, name)| FriendRequestView {
            account: *account,
            name: name.as_str().to_owned(),
        });
    for request in local.earlier_requests.iter().cloned().chain(heard) {
        let fresh = !local.answered.contains(&request.account)
            && !m.friends.contains_key(&request.account)
            && !requests.iter().any(|r| r.account == request.account);
        if fresh {
            requests.push(request);
        }
    }

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
            let moved = format!("{leader} moved to {}", f.room_name);
            FollowPrompt {
                room: f.room.clone(),
                text: format!("{moved}: press {FOLLOW_KEY} to follow"),
                moved,
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
        code,
        link,
        code_draft: local.code_draft.clone(),
        added: local.added.clone(),
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

    #[test]
    fn each_friend_and_request_offers_its_buttons_and_waiting_requests_come_first_once() {
        let mut m = mirror();
        for f in [
            friend(5, "Zed", Some(("studio-b", "Studio B", None))),
            friend(6, "Ana", Some(("hall", "Main Hall", None))),
            friend(7, "Cy", None),
        ] {
            m.friends.insert(f.account, f);
        }
        // Heard in the room: Lou, and Kim again.
        m.friend_requests.push((AccountId(12), name("Lou")));
        m.friend_requests.push((AccountId(11), name("Kim")));
        let request = |a, n: &str| FriendRequestView {
            account: AccountId(a),
            name: n.into(),
        };
        // Waiting from before the room: Kim, and Cy (a friend by now).
        let mut local = TogetherLocal {
            earlier_requests: vec![request(11, "Kim"), request(7, "Cy")],
            ..Default::default()
        };
        let v = build(Some(&m), &[], None, &local);
        assert_eq!(v.requests, [request(11, "Kim"), request(12, "Lou")]);
        assert_eq!(
            v.requests[0].buttons(),
            [
                ViewButton::new("Accept", UiAction::AcceptFriend(AccountId(11))),
                ViewButton::new("Decline", UiAction::DeclineFriend(AccountId(11))),
            ]
        );
        // Join only a friend online elsewhere: not one here, not one offline.
        let joins: Vec<(&str, Vec<ViewButton>)> = v
            .friends
            .iter()
            .map(|f| (f.name.as_str(), f.buttons()))
            .collect();
        assert_eq!(
            joins,
            [
                ("Ana", vec![]),
                (
                    "Zed",
                    vec![ViewButton::new("Join", UiAction::JoinFriend(AccountId(5)))]
                ),
                ("Cy", vec![]),
            ]
        );
        local.answered.insert(AccountId(11));
        assert_eq!(
            build(Some(&m), &[], None, &local).requests,
            [request(12, "Lou")]
        );
    }

    #[test]
    fn the_party_prompts_and_the_pointed_shopper_offer_their_buttons_with_keys() {
        let mut m = mirror();
        m.party.party = Some(party(
            1,
            &[(1, "Me", Some("hall")), (2, "Bea", Some("studio-b"))],
        ));
        m.party.follow = Some(FollowOffer {
            leader: AccountId(2),
            room: room("studio-b"),
            room_name: "Studio B".into(),
            seat_for_you: true,
        });
        let v = build(Some(&m), &[], None, &TogetherLocal::default());
        let p = v.party.unwrap();
        assert_eq!(p.members[0].label(), "Me (you), leader");
        assert_eq!(p.members[1].label(), "Bea");
        // XR says it without the key: it has a button.
        assert_eq!(v.follow.as_ref().unwrap().moved, "Bea moved to Studio B");
        assert_eq!(
            p.buttons(),
            [ViewButton::new("Leave the party", UiAction::LeaveParty)]
        );
        // The leader may remove another member or hand them the lead, and
        // send the server's own party commands for it; not for herself.
        let bea = p.member_buttons(&p.members[1]);
        assert_eq!(
            bea,
            [
                ViewButton::new("Remove", UiAction::RemoveFromParty(AccountId(2))),
                ViewButton::new("Make leader", UiAction::MakePartyLeader(AccountId(2))),
            ]
        );
        assert_eq!(
            bea.iter()
                .map(|b| super::super::together_actions::party_command(&b.action))
                .collect::<Vec<_>>(),
            [
                Some(vitrine_shared::protocol::PartyCommand::Kick {
                    account: AccountId(2)
                }),
                Some(vitrine_shared::protocol::PartyCommand::Promote {
                    account: AccountId(2)
                }),
            ]
        );
        assert!(p.member_buttons(&p.members[0]).is_empty());
        // A member who does not lead gets neither.
        m.party.party = Some(party(
            2,
            &[(1, "Me", Some("hall")), (2, "Bea", Some("studio-b"))],
        ));
        let led = build(Some(&m), &[], None, &TogetherLocal::default())
            .party
            .unwrap();
        assert!(led.members.iter().all(|x| led.member_buttons(x).is_empty()));
        let follow: Vec<(String, UiAction)> = v
            .follow
            .unwrap()
            .buttons()
            .into_iter()
            .map(|b| (b.keyed_label(), b.action))
            .collect();
        assert_eq!(
            follow,
            [
                (
                    "Follow (J)".to_owned(),
                    UiAction::FollowLeader(room("studio-b"))
                ),
                ("Stay (Esc)".to_owned(), UiAction::DismissFollow),
            ]
        );
        let invite = InviteView {
            party: PartyId(4),
            text: String::new(),
        };
        let labels: Vec<(String, UiAction)> = invite
            .buttons()
            .into_iter()
            .map(|b| (b.keyed_label(), b.action))
            .collect();
        assert_eq!(
            labels,
            [
                (
                    "Join (Y)".to_owned(),
                    UiAction::AcceptPartyInvite(PartyId(4))
                ),
                (
                    "No thanks (N)".to_owned(),
                    UiAction::DeclinePartyInvite(PartyId(4))
                ),
            ]
        );
        let pointed = PointedMember {
            account: AccountId(3),
            name: "Cy".into(),
        }
        .button();
        assert_eq!(pointed.keyed_label(), "Invite Cy (I)");
        assert_eq!(pointed.action, UiAction::InviteToParty(AccountId(3)));
    }

    #[test]
    fn your_code_shows_and_adding_a_friend_answers_in_words() {
        let m = mirror();
        let mut local = TogetherLocal::default();
        let v = build(Some(&m), &[], None, &local);
        assert_eq!((&v.code, &v.link), (&None, &None));
        assert_eq!(
            v.add_friend_button(),
            ViewButton::new("Add a friend by code", UiAction::OpenFriendCode)
        );
        let code = vitrine_shared::friends::FriendCode::parse("k7qm3xpd").unwrap();
        local.code = Some(FriendCodeView {
            code: code.to_string(),
            link: code.link(),
        });
        local.code_draft = Some("vitrine://friend/ABCD-EFGH".into());
        // Out of the room too (the link lost), your code stays on show.
        for mirror in [Some(&m), None] {
            let v = build(mirror, &[], None, &local);
            assert_eq!(v.code.as_deref(), Some("Your code: K7QM-3XPD"));
            assert_eq!(v.link.as_deref(), Some("vitrine://friend/K7QM-3XPD"));
            let add = v.add_friend_button();
            assert_eq!(add.keyed_label(), "Add (Enter)");
            assert_eq!(
                add.action,
                UiAction::AddFriendByCode("vitrine://friend/ABCD-EFGH".into())
            );
        }
        let sent = |status: &str| {
            add_friend_answer(&Ok(FriendRequestSent {
                account: 4,
                name: "Dee".into(),
                status: status.into(),
            }))
        };
        assert_eq!(
            sent("pending"),
            AddFriendAnswer {
                text: "Asked Dee: they will see your request".into(),
                ok: true
            }
        );
        assert_eq!(sent("friends").text, "You and Dee are friends now");
        let refused = add_friend_answer(&Err(ApiError::Refused {
            status: 409,
            code: "already_friends".into(),
            message: "you are already friends".into(),
        }));
        assert_eq!(
            refused,
            AddFriendAnswer {
                text: "Not added: you are already friends".into(),
                ok: false
            }
        );
        let offline = add_friend_answer(&Err(ApiError::Transport("refused".into())));
        assert!(!offline.ok && offline.text.contains("cannot reach the server"));
    }
}
