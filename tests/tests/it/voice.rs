//! Spatial voice over real loopback UDP with real clients and server:
//! who a frame is forwarded to (within earshot, the party across the room,
//! the eight-voice cap), who it is kept from (a listener's mute, a block, a
//! moderator's voice-mute, which is logged and ends by itself), and each
//! bad frame dropped and counted under its reason while chat still flows.
//! Counts are read at the listener and at the server's `/metrics`.

use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use vitrine_client::net::{NetClient, SignedIn};
use vitrine_shared::protocol::{
    PartyCommand, RoomEvent, VoiceCommand, VoiceEventNet, VoiceTarget, VoiceUp,
};
use vitrine_shared::{
    AccountId, ChatText, ClientChannel, MemberSlot, PartyId, Role, RoomCommand, ServerMessage,
};
use vitrine_tests::{Http, TestServer, joined_as, pump, step_until};

const WAIT: Duration = Duration::from_secs(10);

/// Pumps `clients` until `done` holds, for at most [`WAIT`].
fn until(
    clients: &mut [&mut NetClient],
    mut done: impl FnMut(&mut [&mut NetClient]) -> bool,
) -> bool {
    step_until(WAIT, || {
        pump(clients);
        done(clients)
    })
}

/// A valid 20 ms CELT frame (TOC config 31, code 0) of 60 bytes.
fn opus() -> Vec<u8> {
    let mut packet = vec![31 << 3];
    packet.extend([0x5A; 59]);
    packet
}

fn frame(seq: u16, level: u8, target: VoiceTarget) -> VoiceUp {
    VoiceUp {
        seq,
        timestamp: u32::from(seq) * 960,
        target,
        level,
        opus: opus(),
    }
}

/// Sends `n` frames from `seq` on, all at once (the burst allows 10).
fn speak(c: &mut NetClient, seq: u16, n: u16, target: VoiceTarget) {
    for i in 0..n {
        c.send_voice(&frame(seq + i, 120, target));
    }
    let _ = c.flush();
}

/// The frames each speaker's slot sent `c` since the last call, added to
/// `heard`.
fn listen(c: &mut NetClient, heard: &mut BTreeMap<MemberSlot, usize>) {
    for down in c.drain_voice() {
        *heard.entry(down.speaker).or_default() += 1;
    }
}

fn slot_of(c: &NetClient) -> MemberSlot {
    c.mirror().you.expect("welcomed")
}

fn account(session: &SignedIn) -> AccountId {
    AccountId(session.account_id)
}

/// A counter (with its labels, as written) from the server's `/metrics`.
fn metric(server: &TestServer, series: &str) -> u64 {
    let text = ureq::get(format!("{}/metrics", server.url()))
        .call()
        .expect("metrics")
        .body_mut()
        .read_to_string()
        .expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

fn dropped(reason: &str) -> String {
    format!("vitrine_voice_frames_dropped_total{{reason=\"{reason}\"}}")
}

fn withheld(reason: &str) -> String {
    format!("vitrine_voice_deliveries_withheld_total{{reason=\"{reason}\"}}")
}

/// Moves `c` to `to` on the floor in teleports short enough to be allowed,
/// each one seen by `c` in a snapshot before the next (a hop refused for
/// its cooldown is sent again).
fn walk_to(c: &mut NetClient, others: &mut [&mut NetClient], to: [f32; 2]) {
    let me = slot_of(c);
    loop {
        let here = c.mirror().avatars.get(&me).expect("own avatar").position;
        let (dx, dz) = (to[0] - here[0], to[1] - here[2]);
        let d = (dx * dx + dz * dz).sqrt();
        if d < 0.1 {
            return;
        }
        let step = (8.0 / d).min(1.0);
        let hop = [here[0] + dx * step, 0.0, here[2] + dz * step];
        let refused = c.mirror().rejections.len();
        c.send_command(RoomCommand::Teleport { to: hop, yaw: 0.0 });
        let arrived = step_until(WAIT, || {
            pump(&mut [&mut *c]);
            pump(others);
            c.mirror().rejections.len() > refused
                || c.mirror().avatars.get(&me).is_some_and(|p| {
                    (p.position[0] - hop[0]).abs() < 0.05 && (p.position[2] - hop[2]).abs() < 0.05
                })
        });
        assert!(arrived, "a hop to {hop:?} was neither made nor refused");
    }
}

fn chat(text: &str) -> RoomCommand {
    RoomCommand::Chat(ChatText::new(text).unwrap())
}

fn heard_chat(c: &NetClient, text: &str) -> bool {
    c.mirror().chat.iter().any(|l| l.text.as_str() == text)
}

/// Everyone in `clients` sees all of them.
fn all_see_each_other(clients: &mut [&mut NetClient]) {
    let n = clients.len();
    assert!(until(clients, |cs| cs.iter().all(|c| c
        .mirror()
        .members
        .len()
        == n
        && c.mirror().avatars.len() == n)));
}

#[test]
fn a_nearby_speaker_is_heard_and_one_beyond_earshot_is_not() {
    let server = TestServer::start();
    let api = server.api();
    let [ada, bob, cy] = ["Ada", "Bob", "Cy"].map(|n| api.sign_in(n).unwrap());
    let mut a = joined_as(&server, &ada, "hall");
    let mut b = joined_as(&server, &bob, "hall");
    let mut c = joined_as(&server, &cy, "hall");
    all_see_each_other(&mut [&mut a, &mut b, &mut c]);
    // Everyone spawns in the audience near (0, 6); Cy walks to the far
    // corner, about 30 m from Ada.
    walk_to(&mut c, &mut [&mut a, &mut b], [18.0, -19.0]);

    speak(&mut c, 0, 10, VoiceTarget::Nearby);
    speak(&mut b, 0, 10, VoiceTarget::Nearby);
    let mut heard = BTreeMap::new();
    let (bs, cs) = (slot_of(&b), slot_of(&c));
    assert!(until(&mut [&mut a, &mut b, &mut c], |cl| {
        listen(cl[0], &mut heard);
        heard.get(&bs) == Some(&10)
    }));
    // Cy spoke first: had anything of hers come, it would be here.
    assert_eq!(heard.get(&cs), None, "beyond earshot");
    assert_eq!(metric(&server, "vitrine_voice_frames_forwarded_total"), 20);
    // Cy's ten reached nobody (Ada and Bob are both beyond earshot), and
    // Bob's ten went to Ada only (Cy is as far from him).
    assert_eq!(metric(&server, &withheld("beyond_earshot")), 30);
    assert_eq!(metric(&server, "vitrine_voice_deliveries_total"), 10);
    assert_eq!(a.voice_dropped(), 0);
}

/// `host` invites `guest`, who accepts.
fn party_up(host: &mut NetClient, guest: &mut NetClient, guest_account: AccountId) {
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
    assert!(until(&mut [host, guest], |c| c.iter().all(|c| c
        .mirror()
        .party
        .party
        .as_ref()
        .is_some_and(|p| p.members.len() == 2))));
}

#[test]
fn a_party_member_across_the_room_is_heard_on_the_party_channel() {
    let server = TestServer::start();
    let api = server.api();
    let [ada, bob, cy] = ["Ada", "Bob", "Cy"].map(|n| api.sign_in(n).unwrap());
    let mut a = joined_as(&server, &ada, "hall");
    let mut b = joined_as(&server, &bob, "hall");
    let mut c = joined_as(&server, &cy, "hall");
    all_see_each_other(&mut [&mut a, &mut b, &mut c]);
    party_up(&mut a, &mut c, account(&cy));
    walk_to(&mut c, &mut [&mut a, &mut b], [18.0, -19.0]);

    // Nearby, Cy is out of Ada's earshot; on the party channel she is
    // heard, and only by her party (Bob stands beside Ada).
    speak(&mut c, 0, 5, VoiceTarget::Nearby);
    speak(&mut c, 5, 5, VoiceTarget::Party);
    let cs = slot_of(&c);
    let mut by_a = Vec::new();
    assert!(until(&mut [&mut a, &mut b, &mut c], |cl| {
        by_a.extend(cl[0].drain_voice().filter(|d| d.speaker == cs));
        by_a.len() >= 5
    }));
    assert!(by_a.iter().all(|d| d.target == VoiceTarget::Party));
    assert_eq!(
        by_a.iter().map(|d| d.seq).collect::<Vec<_>>(),
        [5, 6, 7, 8, 9]
    );
    assert_eq!(b.drain_voice().count(), 0, "not Bob's party");
    assert_eq!(metric(&server, "vitrine_voice_deliveries_total"), 5);

    // Bob, in no party, talking to his party: dropped and counted.
    speak(&mut b, 0, 3, VoiceTarget::Party);
    assert!(step_until(WAIT, || {
        pump(&mut [&mut a, &mut b, &mut c]);
        metric(&server, &dropped("no_party")) == 3
    }));
}
