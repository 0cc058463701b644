//! Spatial voice heard end to end: real clients, the real server, the real
//! Opus codec and spatial mixer (`vitrine_client::voice`), over loopback
//! UDP and through the lossy proxy. The speaker talks a steady tone in real
//! time; the listener renders its output in real time and the test reads
//! the rendered stereo.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use vitrine_client::bots::{Behaviour, Bot};
use vitrine_client::net::{NetClient, SignedIn};
use vitrine_client::voice::{Hearing, Source, Talk, Voice, VoiceStats, VoiceTarget, hum, level_of};
use vitrine_media::voice::{Decision, DecisionKind};
use vitrine_shared::protocol::PartyCommand;
use vitrine_shared::{AccountId, PartyId};
use vitrine_tests::lossy::{Faults, LossyProxy};
use vitrine_tests::{
    TestServer, free_udp_port, joined_as, joined_client, pump, step_until, teleport_to,
};

const WAIT: Duration = Duration::from_secs(20);
/// 20 ms of interleaved stereo.
const FRAME: usize = 1920;
/// A rendered frame at or above this level (about -60 dBFS) is sound.
const AUDIBLE: u8 = 60;

/// A steady voice-like hum: never silence, so DTX sends every frame.
fn tone() -> Vec<i16> {
    hum(220.0, 4.0)
}

/// Teleports `c` to `to` on the floor facing `yaw`, seen by the others
/// (the listener places voices by it).
fn go_to(c: &mut NetClient, others: &mut [&mut NetClient], to: [f32; 2], yaw: f32) {
    teleport_to(c, others, to, yaw, WAIT);
}

/// What one talk spurt sounded like at the listener.
struct Heard {
    /// Every rendered frame, interleaved stereo.
    output: Vec<i16>,
    stats: VoiceStats,
    skipped: u64,
    frames_sent: usize,
    /// What each packet's time was made of, in output frames.
    decisions: Vec<Decision>,
}

impl Heard {
    fn frames(&self) -> impl Iterator<Item = &[i16]> {
        self.output.chunks(FRAME)
    }

    /// (left, right) energy over the whole output.
    fn energy(&self) -> (f64, f64) {
        self.output.chunks(2).fold((0.0, 0.0), |(l, r), p| {
            (l + (p[0] as f64).powi(2), r + (p[1] as f64).powi(2))
        })
    }

    /// Indices of the audible frames.
    fn audible(&self) -> Vec<usize> {
        self.frames()
            .enumerate()
            .filter(|(_, f)| level_of(f) >= AUDIBLE)
            .map(|(i, _)| i)
            .collect()
    }

    /// Whether output frame `i` may be silent. The mixer's decisions say
    /// what each packet's 40 ms (two frames) was made of. Concealment
    /// stands in for a lost packet, and its first 40 ms must be sound; from
    /// the second concealment in a row it fades out, as every codec's
    /// guess does, and what follows a concealment (rebuilt or decoded, or
    /// nothing while the buffer refills) is glued on at the faded level.
    /// Anything else silent is a fault. Each voice's decisions are its own;
    /// this test hears one speaker.
    fn may_be_silent(&self, i: u64) -> bool {
        let Some(at) = self.decisions.iter().rposition(|d| d.frame <= i) else {
            return true; // before the first packet
        };
        let this = self.decisions[at];
        let after_a_guess = at > 0 && self.decisions[at - 1].kind == DecisionKind::Concealed;
        if i >= this.frame + 2 {
            // Past the packet's 40 ms with nothing next: the stream broke
            // off, which only loss does.
            return this.kind == DecisionKind::Concealed;
        }
        // A DTX pause is silence sent as such.
        this.kind == DecisionKind::Pause || after_a_guess
    }
}

/// `speaker` talks the tone for `frames` frames in real time on `target`
/// while `listener` hears in real time; stepping stops once the listener
/// has played or accounted for every sent frame, or the speaker's frames
/// are all in the server's counts and nothing is coming.
fn talk(
    speaker: &mut NetClient,
    listener: &mut NetClient,
    others: &mut [&mut NetClient],
    target: VoiceTarget,
    frames: usize,
) -> Heard {
    let mut mouth = Voice::new(&Source::Clip(tone()), Hearing::Off).expect("voice");
    mouth.set_talk(Talk::OpenMic);
    mouth.set_target(target);
    let mut ear = Voice::new(&Source::Pushed, Hearing::Record).expect("voice");
    let mut sent = 0;
    let mut decisions = Vec::new();
    let mut quiet_since: Option<Instant> = None;
    let done = step_until(WAIT, || {
        let now = Instant::now();
        if sent < frames {
            sent += mouth.send(speaker, now);
        }
        pump(&mut [&mut *speaker, &mut *listener]);
        pump(others);
        ear.receive(listener);
        ear.render_due(Instant::now());
        let mixer = ear.mixer_mut().expect("the listener hears");
        decisions.extend(mixer.take_decisions());
        // Done once everything was sent and the listener's buffer has
        // been idle for a while: 300 ms past the last frame's turn.
        let s = ear.stats();
        let busy = ear.mixer().is_some_and(|m| {
            m.speakers()
                .any(|who| m.view(who).is_some_and(|v| v.speaking))
        });
        if sent >= frames && !busy && s.rendered > 0 {
            let since = *quiet_since.get_or_insert(now);
            now.duration_since(since) > Duration::from_millis(300)
        } else {
            quiet_since = None;
            false
        }
    });
    assert!(done, "the talk spurt never finished: sent {sent}");
    Heard {
        output: ear.take_recorded(),
        stats: ear.stats(),
        skipped: ear.frames_skipped(),
        frames_sent: sent,
        decisions,
    }
}

fn three_in_the_hall(server: &TestServer) -> ([SignedIn; 3], [NetClient; 3]) {
    let api = server.api();
    let sessions = ["Ada", "Bob", "Cy"].map(|n| api.sign_in(n).unwrap());
    let clients = [0, 1, 2].map(|i| joined_as(server, &sessions[i], "hall"));
    (sessions, clients)
}

fn see_each_other(clients: &mut [&mut NetClient]) {
    let n = clients.len();
    assert!(step_until(WAIT, || {
        pump(clients);
        clients
            .iter()
            .all(|c| c.mirror().members.len() == n && c.mirror().avatars.len() == n)
    }));
}

#[test]
fn a_speaker_on_the_left_is_louder_left_and_on_the_right_louder_right() {
    let server = TestServer::start();
    let (_, [mut a, mut b, mut c]) = three_in_the_hall(&server);
    see_each_other(&mut [&mut a, &mut b, &mut c]);
    // Ada stands at the origin facing +Z: her left is +X.
    go_to(&mut a, &mut [&mut b, &mut c], [0.0, 0.0], 0.0);
    go_to(&mut b, &mut [&mut a, &mut c], [3.0, 0.0], 0.0);
    let heard = talk(&mut b, &mut a, &mut [&mut c], VoiceTarget::Nearby, 40);
    let (l, r) = heard.energy();
    assert!(heard.stats.played >= 30, "{:?}", heard.stats);
    assert!(
        l > 4.0 * r && r >= 0.0 && l > 0.0,
        "left {l:.3e} right {r:.3e}"
    );

    go_to(&mut b, &mut [&mut a, &mut c], [-3.0, 0.0], 0.0);
    let heard = talk(&mut b, &mut a, &mut [&mut c], VoiceTarget::Nearby, 40);
    let (l, r) = heard.energy();
    assert!(r > 4.0 * l && r > 0.0, "left {l:.3e} right {r:.3e}");

    // Ada turns round: Bob, still at -X, is now on her left.
    go_to(
        &mut a,
        &mut [&mut b, &mut c],
        [0.0, 0.0],
        std::f32::consts::PI,
    );
    let heard = talk(&mut b, &mut a, &mut [&mut c], VoiceTarget::Nearby, 40);
    let (l, r) = heard.energy();
    assert!(l > 4.0 * r && l > 0.0, "left {l:.3e} right {r:.3e}");
}

#[test]
fn beyond_earshot_is_silent_and_a_party_member_there_is_heard() {
    let server = TestServer::start();
    let ([_, _, cy], [mut a, mut b, mut c]) = three_in_the_hall(&server);
    see_each_other(&mut [&mut a, &mut b, &mut c]);
    // Ada and Cy form a party.
    a.send_party(PartyCommand::Invite {
        account: AccountId(cy.account_id),
    });
    assert!(step_until(WAIT, || {
        pump(&mut [&mut a, &mut c]);
        !c.mirror().party.invites.is_empty()
    }));
    let party: PartyId = *c.mirror().party.invites.keys().next().unwrap();
    c.send_party(PartyCommand::Accept { party });
    assert!(step_until(WAIT, || {
        pump(&mut [&mut a, &mut c]);
        [&a, &c].iter().all(|x| {
            x.mirror()
                .party
                .party
                .as_ref()
                .is_some_and(|p| p.members.len() == 2)
        })
    }));
    go_to(&mut a, &mut [&mut b, &mut c], [0.0, 6.0], 0.0);
    // Cy walks to the far corner, about 31 m from Ada.
    go_to(&mut c, &mut [&mut a, &mut b], [18.0, -19.0], 0.0);

    let nearby = talk(&mut c, &mut a, &mut [&mut b], VoiceTarget::Nearby, 25);
    assert_eq!(nearby.frames_sent, 25);
    assert!(nearby.output.len() >= 10 * FRAME, "the listener rendered");
    assert!(
        nearby.output.iter().all(|&s| s == 0),
        "beyond earshot is silent"
    );
    assert_eq!(nearby.stats.played, 0);

    let party = talk(&mut c, &mut a, &mut [&mut b], VoiceTarget::Party, 40);
    assert!(party.stats.played >= 30, "{:?}", party.stats);
    assert!(
        party.audible().len() >= 30,
        "{} audible frames",
        party.audible().len()
    );
}

#[test]
fn ten_percent_loss_still_plays_continuously() {
    let port = free_udp_port();
    let game: SocketAddr = ([127, 0, 0, 1], port).into();
    let faults = Faults {
        loss: 0.10,
        jitter: Duration::from_millis(5),
        delay: Duration::from_millis(10),
        ..Faults::none()
    };
    let proxy = LossyProxy::start(game, Faults { seed: 17, ..faults }).expect("proxy");
    let server = TestServer::start_with(|c| {
        c.udp = game;
        c.public_addr = Some(proxy.addr());
    });
    let api = server.api();
    let sessions = ["Ada", "Bob"].map(|n| api.sign_in(n).unwrap());
    let welcomed = |s: &SignedIn| {
        let mut client = NetClient::connect(&api.join(s, "hall").unwrap()).unwrap();
        assert!(step_until(Duration::from_secs(60), || {
            pump(&mut [&mut client]);
            client.mirror().is_welcomed()
        }));
        client
    };
    let (mut a, mut b) = (welcomed(&sessions[0]), welcomed(&sessions[1]));
    see_each_other(&mut [&mut a, &mut b]);
    go_to(&mut a, &mut [&mut b], [0.0, 0.0], 0.0);
    go_to(&mut b, &mut [&mut a], [0.0, 2.0], 0.0);

    let heard = talk(&mut b, &mut a, &mut [], VoiceTarget::Nearby, 150);
    let stats = heard.stats;
    // Losses happened and were made good, by FEC or concealment.
    assert!(stats.fec_recovered + stats.concealed >= 5, "{stats:?}");
    assert_eq!(heard.skipped, 0, "the output timeline has no gaps");
    // From the first sound to the last, every 20 ms of output is sound,
    // except where loss makes Opus's concealment fade (the proxy loses 10%
    // each way, so about 19% from speaker to listener): see
    // `Heard::may_be_silent`. One lost packet is rebuilt from the next
    // one's FEC at full level, or concealed for 40 ms that are still sound.
    let audible = heard.audible();
    let (first, last) = (audible[0], *audible.last().unwrap());
    let holes: Vec<usize> = (first..=last).filter(|i| !audible.contains(i)).collect();
    let faults: Vec<usize> = holes
        .iter()
        .copied()
        .filter(|&i| !heard.may_be_silent(i as u64))
        .collect();
    let around = |i: usize| -> Vec<String> {
        heard
            .decisions
            .iter()
            .filter(|d| d.frame + 6 >= i as u64 && d.frame <= i as u64 + 2)
            .map(|d| format!("{}:{:?}", d.frame, d.kind))
            .collect()
    };
    assert!(
        faults.is_empty(),
        "silent frames {faults:?} in {first}..={last} (all silent: {holes:?}); decisions \
         around the first: {:?}; {stats:?}",
        faults.first().map(|&i| around(i))
    );
    // The test can see concealment at all: losses were concealed.
    assert!(
        heard
            .decisions
            .iter()
            .any(|d| d.kind == DecisionKind::Concealed),
        "{stats:?}"
    );
    assert!(last - first + 1 >= 280, "{first}..={last}; {stats:?}");
}

/// A 16-bit mono WAV file, as espeak-ng writes one (at its 22,050 Hz, so
/// the file is resampled on the way in).
fn write_wav(path: &std::path::Path, rate: u32, samples: &[i16]) {
    let data = (samples.len() * 2) as u32;
    let mut bytes = Vec::with_capacity(44 + data as usize);
    bytes.extend(b"RIFF");
    bytes.extend((36 + data).to_le_bytes());
    bytes.extend(b"WAVEfmt ");
    bytes.extend(16u32.to_le_bytes());
    bytes.extend(1u16.to_le_bytes()); // PCM
    bytes.extend(1u16.to_le_bytes()); // mono
    bytes.extend(rate.to_le_bytes());
    bytes.extend((rate * 2).to_le_bytes());
    bytes.extend(2u16.to_le_bytes());
    bytes.extend(16u16.to_le_bytes());
    bytes.extend(b"data");
    bytes.extend(data.to_le_bytes());
    bytes.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_bot_speaks_a_sound_file_and_a_shopper_beside_it_hears_it() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("line.wav");
    // Two seconds of hum at 22,050 Hz: every other sample of a 44.1 kHz one.
    let hum_44k: Vec<i16> = hum(180.0 * 48_000.0 / 44_100.0, 4.0 * 44_100.0 / 48_000.0);
    let at_22k: Vec<i16> = hum_44k.iter().step_by(2).copied().collect();
    write_wav(&wav, 22_050, &at_22k);

    let standing = Behaviour {
        speed: 0.0,
        ..Behaviour::walker()
    };
    let api = server.api();
    let mut bot = Bot::join(&api, "Talker", "hall", standing, 1).unwrap();
    bot.speak(&Source::File(wav)).expect("the file decodes");
    let mut ada = joined_client(&server, "Ada", "hall");
    let mut ear = Voice::new(&Source::Pushed, Hearing::Record).unwrap();
    let mut audible = 0;
    let heard = step_until(WAIT, || {
        let _ = bot.step(Duration::from_millis(10));
        pump(&mut [&mut ada]);
        ear.receive(&mut ada);
        ear.render_due(Instant::now());
        audible += ear
            .take_recorded()
            .chunks(FRAME)
            .filter(|f| level_of(f) >= AUDIBLE)
            .count();
        audible >= 40
    });
    assert!(heard, "{audible} audible frames; {:?}", ear.stats());
    assert!(bot.voice().unwrap().sender().stats().sent >= 20);
}
