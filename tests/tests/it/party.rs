//! Parties over real loopback UDP with real clients: an invite taken up,
//! the leader moving to another room and a member following with an
//! ordinary join, party chat (screened as room chat is), a shared product,
//! promote and kick, a room too small for the whole party, and each bad
//! party command refused with its typed refusal.

use serde_json::json;
use std::time::Duration;
use vitrine_client::net::{NetClient, SignedIn};
use vitrine_shared::protocol::{
    CommandKind, PartyCommand, PartyCommandKind, PartyExit, PartyLineBody, PartyRefusal,
    RejectReason,
};
use vitrine_shared::{AccountId, ChatText, PartyId, ProductId, Role};
use vitrine_tests::{Http, TestServer, joined_as, pump, step_until};

const WAIT: Duration = Duration::from_secs(10);

/// Pumps `clients` until `done` holds, for at most [`WAIT`].
fn until(clients: &mut [&mut NetClient], mut done: impl FnMut(&[&mut NetClient]) -> bool) -> bool {
    step_until(WAIT, || {
        pump(clients);
        done(clients)
    })
}

fn account(session: &SignedIn) -> AccountId {
    AccountId(session.account_id)
}

fn members_in(client: &NetClient) -> Vec<(String, Option<String>)> {
    client
        .mirror()
        .party
        .party
        .as_ref()
        .map(|p| {
            p.members
                .iter()
                .map(|m| (m.name.to_string(), m.room.as_ref().map(|r| r.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn said(client: &NetClient) -> Vec<String> {
    client
        .mirror()
        .party
        .chat
        .iter()
        .filter_map(|line| match &line.body {
            PartyLineBody::Said(text) => Some(text.to_string()),
            _ => None,
        })
        .collect()
}

fn refused(client: &NetClient) -> Vec<(PartyCommandKind, PartyRefusal)> {
    client.mirror().party.refusals.clone()
}

fn chat(text: &str) -> PartyCommand {
    PartyCommand::Chat(ChatText::new(text).unwrap())
}

/// `host` invites `guest`, who accepts from the invite they were shown.
fn invite_and_accept(host: &mut NetClient, guest: &mut NetClient, guest_account: AccountId) {
    host.send_party(PartyCommand::Invite {
        account: guest_account,
    });
    assert!(until(&mut [host, guest], |c| !c[1]
        .mirror()
        .party
        .invites
        .is_empty()));
    let party: PartyId = *guest.mirror().party.invites.keys().next().unwrap();
    guest.send_party(PartyCommand::Accept { party });
    assert!(until(&mut [host, guest], |c| c[1]
        .mirror()
        .party
        .invites
        .is_empty()
        && c[1]
            .mirror()
            .party
            .party
            .as_ref()
            .is_some_and(|p| p.id == party)));
}

#[test]
fn a_party_forms_follows_its_leader_chats_shares_and_hands_over_the_lead() {
    let server = TestServer::start();
    let api = server.api();
    let ada = api.sign_in("Ada").unwrap();
    let bob = api.sign_in("Bob").unwrap();
    let mut a = joined_as(&server, &ada, "hall");
    let mut b = joined_as(&server, &bob, "hall");
    assert!(until(&mut [&mut a, &mut b], |c| c[0]
        .mirror()
        .member_by_name("Bob")
        .is_some()));
    // Ada knows Bob's account from the room's member list.
    let bob_account = a.mirror().member_by_name("Bob").unwrap().account;
    assert_eq!(bob_account, account(&bob));

    invite_and_accept(&mut a, &mut b, bob_account);
    assert!(until(&mut [&mut a, &mut b], |c| c
        .iter()
        .all(|c| members_in(c).len() == 2)));
    for client in [&a, &b] {
        assert_eq!(
            members_in(client),
            [
                ("Ada".into(), Some("hall".into())),
                ("Bob".into(), Some("hall".into()))
            ]
        );
        assert_eq!(client.mirror().party.leader(), Some(account(&ada)));
    }

    // The leader moves to the tiny room: Bob is offered to follow.
    drop(a);
    let mut a = joined_as(&server, &ada, "tiny");
    assert!(until(&mut [&mut a, &mut b], |c| c[1]
        .mirror()
        .party
        .follow
        .is_some()));
    let offer = b.mirror().party.follow.clone().unwrap();
    assert_eq!(
        (offer.leader, offer.room.as_str(), offer.room_name.as_str()),
        (account(&ada), "tiny", "Tiny Room")
    );
    assert!(offer.seat_for_you);
    // Following is the ordinary join of the offered room.
    drop(b);
    let mut b = joined_as(&server, &bob, offer.room.as_str());
    assert!(until(&mut [&mut a, &mut b], |c| c.iter().all(
        |c| members_in(c)
            == [
                ("Ada".to_string(), Some("tiny".to_string())),
                ("Bob".to_string(), Some("tiny".to_string()))
            ]
    )));
    assert!(b.mirror().member_by_name("Ada").is_some(), "together again");

    // Party chat reaches both; a blocked word is refused as in room chat.
    let moderator = server.sign_in_as("mod", Role::Moderator);
    let (status, body) = Http::new(&server).call(
        "PUT",
        "/api/v1/moderation/filter",
        Some(&moderator),
        None,
        Some(json!({ "terms": ["scam"] })),
    );
    assert_eq!(status, 200, "{body}");
    b.send_party(chat("what a scam"));
    b.send_party(chat("look at this"));
    assert!(until(&mut [&mut a, &mut b], |c| c
        .iter()
        .all(|c| said(c) == ["look at this"])));
    assert!(
        b.mirror()
            .rejections
            .iter()
            .any(|r| r.command == CommandKind::Party && r.reason == RejectReason::Filtered)
    );

    // Ada shares a product: Bob gets it for a marker, and a line naming it.
    let serum = ProductId::new("glow-serum").unwrap();
    a.send_party(PartyCommand::Share {
        product: serum.clone(),
    });
    assert!(until(&mut [&mut a, &mut b], |c| c[1]
        .mirror()
        .party
        .shared
        .contains_key(&serum)));
    let shared = &b.mirror().party.shared[&serum];
    assert_eq!((shared.by, shared.room.as_str()), (account(&ada), "tiny"));
    assert!(b.mirror().party.chat.iter().any(|line| matches!(
        &line.body,
        PartyLineBody::Shared { product, .. } if *product == serum
    )));

    // Bob may not kick; Ada hands him the lead, and he kicks her: a party
    // of one ends.
    b.send_party(PartyCommand::Kick {
        account: account(&ada),
    });
    assert!(until(&mut [&mut a, &mut b], |c| !refused(c[1]).is_empty()));
    assert_eq!(
        refused(&b),
        [(PartyCommandKind::Kick, PartyRefusal::NotLeader)]
    );
    a.send_party(PartyCommand::Promote {
        account: account(&bob),
    });
    assert!(until(&mut [&mut a, &mut b], |c| c.iter().all(|c| c
        .mirror()
        .party
        .leader()
        == Some(account(&bob)))));
    b.send_party(PartyCommand::Kick {
        account: account(&ada),
    });
    assert!(until(&mut [&mut a, &mut b], |c| c.iter().all(|c| c
        .mirror()
        .party
        .party
        .is_none())));
    assert_eq!(a.mirror().party.exited, Some(PartyExit::Kicked));
    assert_eq!(b.mirror().party.exited, Some(PartyExit::Dissolved));
}

#[test]
fn each_bad_party_command_is_refused_with_its_reason() {
    let server = TestServer::start();
    let api = server.api();
    let ada = api.sign_in("Ada").unwrap();
    let bob = api.sign_in("Bob").unwrap();
    let cy = api.sign_in("Cy").unwrap();
    let mut a = joined_as(&server, &ada, "hall");
    let mut b = joined_as(&server, &bob, "hall");
    let mut c = joined_as(&server, &cy, "tiny");
    use PartyCommand as C;
    use PartyCommandKind as K;
    use PartyRefusal as R;
    let expect = |a: &mut NetClient,
                  b: &mut NetClient,
                  from_a: bool,
                  command: PartyCommand,
                  refusal: (K, R)| {
        let sender = if from_a { &mut *a } else { &mut *b };
        let before = refused(sender).len();
        sender.send_party(command);
        assert!(
            until(&mut [a, b], |c| refused(c[if from_a { 0 } else { 1 }])
                .len()
                > before),
            "{refusal:?} never came"
        );
        let sender = if from_a { &*a } else { &*b };
        assert_eq!(refused(sender).last(), Some(&refusal));
    };
    let serum = ProductId::new("glow-serum").unwrap();
    expect(
        &mut a,
        &mut b,
        true,
        C::Invite {
            account: account(&ada),
        },
        (K::Invite, R::InviteSelf),
    );
    expect(
        &mut a,
        &mut b,
        true,
        C::Invite {
            account: account(&cy),
        },
        (K::Invite, R::NotInYourRoom),
    );
    expect(
        &mut a,
        &mut b,
        true,
        C::Accept { party: PartyId(77) },
        (K::Accept, R::UnknownInvite),
    );
    expect(
        &mut a,
        &mut b,
        true,
        chat("anyone?"),
        (K::Chat, R::NotInParty),
    );
    expect(
        &mut a,
        &mut b,
        true,
        C::Share { product: serum },
        (K::Share, R::NotInParty),
    );
    expect(&mut a, &mut b, true, C::Leave, (K::Leave, R::NotInParty));

    invite_and_accept(&mut a, &mut b, account(&bob));
    expect(
        &mut a,
        &mut b,
        false,
        C::Promote {
            account: account(&bob),
        },
        (K::Promote, R::NotLeader),
    );
    expect(
        &mut a,
        &mut b,
        true,
        C::Kick {
            account: account(&ada),
        },
        (K::Kick, R::KickSelf),
    );
    expect(
        &mut a,
        &mut b,
        true,
        C::Kick {
            account: account(&cy),
        },
        (K::Kick, R::NotAMember),
    );
    expect(
        &mut a,
        &mut b,
        true,
        C::Invite {
            account: account(&bob),
        },
        (K::Invite, R::AlreadyInParty),
    );
    let unknown = ProductId::new("no-such-product").unwrap();
    expect(
        &mut a,
        &mut b,
        false,
        C::Share { product: unknown },
        (K::Share, R::UnknownProduct),
    );
    // None of it changed the party.
    assert_eq!(members_in(&b).len(), 2);
    assert!(b.mirror().party.shared.is_empty());
    // Cy, in another room, heard nothing of it: not even the invite that
    // was refused. Ten more snapshots reach her first, so anything the
    // server had sent her by then has arrived.
    let seen = c.mirror().snapshots_applied;
    assert!(until(&mut [&mut c], |x| x[0].mirror().snapshots_applied
        >= seen + 10));
    assert!(c.mirror().party.party.is_none() && c.mirror().party.invites.is_empty());
}

#[test]
fn a_room_too_small_for_the_party_is_said_in_party_chat_and_its_join_refused() {
    let server = TestServer::start();
    let api = server.api();
    let ada = api.sign_in("Ada").unwrap();
    let bob = api.sign_in("Bob").unwrap();
    let cy = api.sign_in("Cy").unwrap();
    let mut a = joined_as(&server, &ada, "hall");
    let mut b = joined_as(&server, &bob, "hall");
    let mut c = joined_as(&server, &cy, "hall");
    invite_and_accept(&mut a, &mut b, account(&bob));
    invite_and_accept(&mut a, &mut c, account(&cy));
    assert!(until(&mut [&mut a, &mut b, &mut c], |cl| cl
        .iter()
        .all(|x| members_in(x).len() == 3)));

    // The tiny room seats two: the leader and one more.
    drop(a);
    let mut a = joined_as(&server, &ada, "tiny");
    let too_small = |x: &NetClient| {
        x.mirror()
            .party
            .chat
            .iter()
            .find_map(|line| match &line.body {
                PartyLineBody::RoomTooSmall { free, needed, .. } if line.from.is_none() => {
                    Some((*free, *needed))
                }
                _ => None,
            })
    };
    assert!(until(&mut [&mut a, &mut b, &mut c], |cl| cl
        .iter()
        .all(|x| too_small(x).is_some())));
    assert_eq!(too_small(&c), Some((1, 2)));
    assert!(b.mirror().party.follow.as_ref().unwrap().seat_for_you);
    // Bob follows first; Cy's join of the full room is refused, typed.
    drop(b);
    let _b = joined_as(&server, &bob, "tiny");
    let refused = api.join(&cy, "tiny").unwrap_err();
    assert_eq!(
        (refused.status(), refused.code()),
        (Some(409), Some("room_full"))
    );
    // Cy is still in the party, in the hall, once she hears Bob arrived.
    assert!(until(&mut [&mut c], |x| members_in(x[0])
        .contains(&("Bob".into(), Some("tiny".into())))));
    assert!(members_in(&c).contains(&("Cy".into(), Some("hall".into()))));
}

#[test]
fn a_member_away_when_the_leader_moved_is_offered_to_follow_on_coming_back() {
    let server = TestServer::start();
    let api = server.api();
    let ada = api.sign_in("Ada").unwrap();
    let bob = api.sign_in("Bob").unwrap();
    let mut a = joined_as(&server, &ada, "hall");
    let mut b = joined_as(&server, &bob, "hall");
    invite_and_accept(&mut a, &mut b, account(&bob));

    // Bob drops; Ada sees him away, then moves to the tiny room.
    drop(b);
    assert!(until(&mut [&mut a], |c| members_in(c[0])
        .contains(&("Bob".into(), None))));
    drop(a);
    let mut a = joined_as(&server, &ada, "tiny");
    assert!(until(&mut [&mut a], |c| members_in(c[0])
        .contains(&("Ada".into(), Some("tiny".into())))));

    // Bob comes back to the hall, within the grace: still in the party,
    // and offered to follow to where Ada is now.
    let mut b = joined_as(&server, &bob, "hall");
    assert!(until(&mut [&mut a, &mut b], |c| c[1]
        .mirror()
        .party
        .follow
        .is_some()));
    let offer = b.mirror().party.follow.clone().unwrap();
    assert_eq!(
        (offer.leader, offer.room.as_str(), offer.room_name.as_str()),
        (account(&ada), "tiny", "Tiny Room")
    );
    assert!(offer.seat_for_you);
    assert!(members_in(&b).contains(&("Ada".into(), Some("tiny".into()))));
    // The party state names each member's room as the room list does.
    let ada_there = b
        .mirror()
        .party
        .party
        .as_ref()
        .unwrap()
        .members
        .iter()
        .find(|m| m.account == account(&ada))
        .expect("Ada in the party")
        .clone();
    assert_eq!(
        (ada_there.name.as_str(), ada_there.room_name.as_deref()),
        ("Ada", Some("Tiny Room"))
    );
    // Followed, he stands beside her.
    drop(b);
    let mut b = joined_as(&server, &bob, offer.room.as_str());
    assert!(until(&mut [&mut a, &mut b], |c| c.iter().all(
        |c| members_in(c)
            == [
                ("Ada".to_string(), Some("tiny".to_string())),
                ("Bob".to_string(), Some("tiny".to_string()))
            ]
    )));
}
