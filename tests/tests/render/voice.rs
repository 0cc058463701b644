//! Voice in the rendered showroom, over loopback with the real server: a
//! bot talks (a voice-like buzz) through the real encoder, the server forwards its
//! frames as they arrive, the showroom's engine decodes them, and a
//! ring of light shows around its head in the picture, absent from the
//! picture taken before; the mic's line on screen says how to talk, and
//! says "Talking" while V is held.

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;
use std::time::Duration;
use std::time::Instant;
use vitrine_client::net::NetClient;
use vitrine_client::showroom::avatars::RemoteAvatar;
use vitrine_client::showroom::offscreen::{Capture, capture_now};
use vitrine_client::showroom::player::MainCamera;
use vitrine_client::showroom::session::Session;
use vitrine_client::showroom::ui::CurrentView;
use vitrine_client::showroom::voice::VoiceStatus;
use vitrine_client::showroom::voice::indicators::{RING_HEIGHT, RING_RADIUS, SPEAKING_COLOUR};
use vitrine_client::voice::{Hearing, Source, Talk, Voice};
use vitrine_shared::{MemberSlot, PoseNet};
use vitrine_tests::{TestServer, joined_client, pump, step_until};

use crate::showroom::{colour_at, hue_and_saturation, save, walk_towards};
use crate::{in_the_room, one_renderer, showroom, step};

/// A voice-like sound at `t` seconds: a 140 Hz buzz with its harmonics,
/// its pitch gliding and its loudness rising and falling four times a
/// second like syllables. (A steady sine is stationary enough for Opus's
/// DTX to take it for background noise and stop sending.)
fn voiced(t: f32) -> i16 {
    use std::f32::consts::TAU;
    // The phase of a pitch of 140 Hz gliding 25 Hz either way three
    // times a second: the pitch's integral.
    let phase = 140.0 * t - 25.0 / (TAU * 3.0) * (t * TAU * 3.0).cos();
    let buzz: f32 = (1..=8)
        .map(|h| (phase * TAU * h as f32).sin() / h as f32)
        .sum();
    let syllables = 0.6 + 0.4 * (t * TAU * 4.0).sin();
    (buzz * syllables * 6_000.0) as i16
}

/// A bot's voice: [`voiced`] through the real encoder (open mic), as much
/// of it each step as the clock says, at most 180 ms (four 40 ms packets;
/// the server's burst is ten).
struct Talker {
    voice: Voice,
    last: Instant,
    samples: u64,
}

impl Talker {
    fn new() -> Self {
        let mut voice = Voice::new(&Source::Pushed, Hearing::Off).expect("a voice");
        voice.set_talk(Talk::OpenMic);
        Talker {
            voice,
            last: Instant::now(),
            samples: 0,
        }
    }

    fn talk(&mut self, bot: &mut NetClient) {
        let due = (self.last.elapsed().as_secs_f64() * 48_000.0) as usize;
        let n = due.min(9 * 960);
        self.last = Instant::now();
        let pcm: Vec<i16> = (0..n as u64)
            .map(|i| voiced((self.samples + i) as f32 / 48_000.0))
            .collect();
        self.samples += n as u64;
        self.voice.push_pcm(&pcm);
        self.voice.send(bot, Instant::now());
    }
}

/// The server's voice counters, for a failure to show.
fn voice_metrics(server: &TestServer) -> String {
    ureq::get(format!("{}/metrics", server.url()))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .map(|text| {
            text.lines()
                .filter(|l| l.starts_with("vitrine_voice"))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// Whether any text on screen says `words`.
fn on_screen(app: &mut App, words: &str) -> bool {
    let world = app.world_mut();
    world
        .query::<&Text>()
        .iter(world)
        .any(|t| t.0.contains(words))
}

fn view_mic(app: &App) -> String {
    app.world().resource::<CurrentView>().0.voice.mic.clone()
}

/// A picture of this frame.
fn picture(app: &mut App, bot: &mut NetClient) -> Image {
    app.world_mut().resource_mut::<Capture>().image = None;
    capture_now(app.world_mut());
    assert!(
        step(app, &mut [bot], Duration::from_secs(60), |app, _| {
            app.world().resource::<Capture>().image.is_some()
        }),
        "no picture came back"
    );
    app.world_mut()
        .resource_mut::<Capture>()
        .image
        .take()
        .unwrap()
}

/// Where the ring's left and right ends land in the picture: beside the
/// avatar's head, clear of the head itself.
fn ring_ends(app: &mut App, slot: MemberSlot) -> [Vec2; 2] {
    let world = app.world_mut();
    let at = world
        .query::<(&RemoteAvatar, &GlobalTransform)>()
        .iter(world)
        .find(|(a, _)| a.slot == slot)
        .map(|(_, t)| t.translation())
        .expect("the bot's avatar");
    let mut q = world.query_filtered::<(&Camera, &GlobalTransform), With<MainCamera>>();
    let (camera, eye) = q.single(world).expect("the camera");
    let right = eye.right().as_vec3().with_y(0.0).normalize();
    let centre = at + Vec3::Y * RING_HEIGHT;
    [-1.0, 1.0].map(|side| {
        camera
            .world_to_viewport(eye, centre + right * side * RING_RADIUS)
            .expect("the ring's end in view")
    })
}

fn speaking_green(rgb: [u8; 3]) -> bool {
    let (hue, saturation) = hue_and_saturation(rgb);
    let want = Hsla::from(SPEAKING_COLOUR).hue;
    let off = (hue - want).abs().min(360.0 - (hue - want).abs());
    off < 20.0 && saturation > 0.5
}

fn key_v(app: &mut App, state: ButtonState) {
    app.world_mut().write_message(KeyboardInput {
        key_code: KeyCode::KeyV,
        logical_key: Key::Character("v".into()),
        state,
        text: None,
        repeat: false,
        window: Entity::PLACEHOLDER,
    });
}

#[test]
fn a_bot_that_talks_shows_a_speaking_ring_and_the_mic_line_follows_v() {
    let _one = one_renderer();
    let server = TestServer::start();
    let mut bot = joined_client(&server, "Ada", "hall");
    let mut app = showroom(&server, "Camera", 960, 540);
    assert!(
        step(
            &mut app,
            &mut [&mut bot],
            Duration::from_secs(120),
            |app, _| { in_the_room(app) }
        ),
        "the showroom never got into the room"
    );
    let mirror = |app: &App| {
        app.world()
            .resource::<Session>()
            .mirror()
            .map(|m| (m.spawn, m.avatars.clone()))
    };
    let me = mirror(&app)
        .and_then(|(spawn, _)| spawn)
        .expect("our spawn");
    let slot = bot.mirror().you.expect("the bot's slot");
    // The bot walks to 3 m before the camera, facing it.
    let to = Vec3::from_array(me.position) + Vec3::new(0.0, 0.0, -3.0);
    let mut pose: PoseNet = bot.mirror().spawn.expect("the bot's spawn");
    let mut last = std::time::Instant::now();
    let arrived = step_until(Duration::from_secs(90), || {
        let dt = last.elapsed().as_secs_f32().min(0.25);
        last = std::time::Instant::now();
        let there = walk_towards(&mut bot, &mut pose, to, dt);
        pump(&mut [&mut bot]);
        app.update();
        there
            && mirror(&app)
                .and_then(|(_, avatars)| avatars.get(&slot).copied())
                .is_some_and(|p| Vec3::from_array(p.position).distance(to) < 0.05)
    });
    assert!(arrived, "the bot never reached its mark");
    // Interpolation catches up; nobody speaks yet.
    for _ in 0..20 {
        app.update();
        pump(&mut [&mut bot]);
    }
    assert!(app.world().resource::<VoiceStatus>().speaking.is_empty());
    assert_eq!(view_mic(&app), "Push V to talk");
    assert!(
        on_screen(&mut app, "Push V to talk - Nearby"),
        "the mic's line is not on screen"
    );
    let quiet = picture(&mut app, &mut bot);
    let ends = ring_ends(&mut app, slot);
    for end in ends {
        let rgb = colour_at(&quiet, end);
        assert!(!speaking_green(rgb), "a ring before anyone spoke: {rgb:?}");
    }

    // The bot talks until the showroom hears it (its mix, decoded).
    let talker = std::cell::RefCell::new(Talker::new());
    let talk = |bot: &mut NetClient| talker.borrow_mut().talk(bot);
    let talker_stats = || talker.borrow().voice.sender().stats();
    assert!(
        step(
            &mut app,
            &mut [&mut bot],
            Duration::from_secs(20),
            |app, bots| {
                talk(bots[0]);
                app.world()
                    .resource::<VoiceStatus>()
                    .speaking
                    .contains_key(&slot)
            }
        ),
        "the showroom never heard the bot: {:?}, the bot sent {:?}; the server's voice counters: {}",
        app.world().resource::<VoiceStatus>(),
        talker_stats(),
        voice_metrics(&server),
    );
    // Still talking while the picture is taken.
    app.world_mut().resource_mut::<Capture>().image = None;
    capture_now(app.world_mut());
    assert!(
        step(
            &mut app,
            &mut [&mut bot],
            Duration::from_secs(60),
            |app, bots| {
                talk(bots[0]);
                app.world().resource::<Capture>().image.is_some()
            }
        ),
        "no picture came back"
    );
    let talking = app
        .world_mut()
        .resource_mut::<Capture>()
        .image
        .take()
        .unwrap();
    let path = save(&talking, "showroom-voice-ring.png");
    let ends = ring_ends(&mut app, slot);
    for end in ends {
        let rgb = colour_at(&talking, end);
        assert!(
            speaking_green(rgb),
            "no speaking ring at {end} ({rgb:?}); picture {}",
            path.display()
        );
    }

    // The bot stops: the ring goes.
    assert!(
        step(
            &mut app,
            &mut [&mut bot],
            Duration::from_secs(10),
            |app, _| { app.world().resource::<VoiceStatus>().speaking.is_empty() }
        ),
        "the bot still counts as speaking"
    );

    // Holding V: "Talking", on screen; let go: back.
    key_v(&mut app, ButtonState::Pressed);
    assert!(
        step(
            &mut app,
            &mut [&mut bot],
            Duration::from_secs(5),
            |app, _| { view_mic(app) == "Talking" }
        ),
        "holding V did not say Talking: {}",
        view_mic(&app)
    );
    crate::frames(&mut app, &mut [&mut bot], 2);
    assert!(on_screen(&mut app, "Talking - Nearby"));
    key_v(&mut app, ButtonState::Released);
    assert!(
        step(
            &mut app,
            &mut [&mut bot],
            Duration::from_secs(5),
            |app, _| { view_mic(app) == "Push V to talk" }
        ),
        "letting V go did not end it"
    );
}
