//! The stage on loopback: publishers of different colours composed, the
//! layout switched live, a co-host leaving and coming back without the
//! stream stopping, and every refusal a seat gives.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vitrine_media::StreamKey;
use vitrine_media::player::{AudioOutput, Frame, Player, PlayerOptions};
use vitrine_media::publish::{PublishOptions, Publisher, Source};
use vitrine_media::relay::{Relay, RelayConfig};
use vitrine_media::stage::{Layout, Seat, SeatKey, Stage, StageConfig, StageError, StageEvent};

mod common;
use common::{SilentCaller, until};

fn free_addr() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

const RED: u32 = 0xffff_0000;
const BLUE: u32 = 0xff00_00ff;
const W: u32 = 320;
const H: u32 = 180;

/// The colour at (x, y) of an RGBA frame, as a name.
fn colour_at(frame: &Frame, x: u32, y: u32) -> &'static str {
    let i = frame.offsets[0] + y as usize * frame.strides[0] + x as usize * 4;
    let p = &frame.data()[i..i + 3];
    match (p[0], p[1], p[2]) {
        (r, g, b) if r > 180 && g < 80 && b < 80 => "red",
        (r, g, b) if b > 180 && r < 80 && g < 80 => "blue",
        (r, g, b) if r < 40 && g < 40 && b < 40 => "black",
        _ => "other",
    }
}

/// The colours at the centres of the left and right halves.
fn halves(frame: &Frame) -> (&'static str, &'static str) {
    let (w, h) = (frame.width, frame.height);
    (
        colour_at(frame, w / 4, h / 2),
        colour_at(frame, 3 * w / 4, h / 2),
    )
}

struct Show {
    relay: Relay,
    stage: Stage,
    seats: Vec<SocketAddr>,
    host_key: StreamKey,
    guest_key: StreamKey,
    events: Arc<Mutex<Vec<StageEvent>>>,
}

fn show(seats: usize) -> Show {
    show_with(seats, Vec::new())
}

/// A show whose seats listed in `rtmp` also take RTMP, each on a free
/// TCP port.
fn show_with(seats: usize, rtmp: Vec<usize>) -> Show {
    let relay_ingest = free_addr();
    let viewers = free_addr();
    let relay_key = StreamKey::new("relay-internal-key").unwrap();
    let relay = Relay::start(
        RelayConfig::new(relay_ingest, viewers, relay_key.clone()),
        Arc::new(|_| {}),
    )
    .unwrap();
    let seat_addrs: Vec<SocketAddr> = (0..seats).map(|_| free_addr()).collect();
    let mut config = StageConfig::new(seat_addrs.clone(), relay_ingest, relay_key);
    (config.width, config.height, config.bitrate_kbps) = (W, H, 600);
    config.rtmp = rtmp
        .into_iter()
        .map(|seat| {
            let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
            (seat, tcp.local_addr().unwrap())
        })
        .collect();
    let events: Arc<Mutex<Vec<StageEvent>>> = Arc::default();
    let ev = events.clone();
    let stage = Stage::start(config, Arc::new(move |e| ev.lock().unwrap().push(e))).unwrap();
    let host_key = StreamKey::new("host-key-123").unwrap();
    let guest_key = StreamKey::new("guest-key-456").unwrap();
    stage
        .set_seat(
            0,
            Some(Seat {
                name: "Mara".into(),
                key: SeatKey::Plain(host_key.clone()),
            }),
        )
        .unwrap();
    invite(&stage, 1, "Guest", &guest_key);
    Show {
        relay,
        stage,
        seats: seat_addrs,
        host_key,
        guest_key,
        events,
    }
}

/// Waits (10 s at most) until the stage has told `event`.
fn wait_event(show: &Show, event: StageEvent, what: &str) {
    until(Duration::from_secs(10), || {
        show.events.lock().unwrap().contains(&event).then_some(())
    })
    .unwrap_or_else(|| panic!("{what}"));
}

/// Seats a co-host under `key`, kept as its digest (as the server does).
fn invite(stage: &Stage, seat: usize, name: &str, key: &StreamKey) {
    stage
        .set_seat(
            seat,
            Some(Seat {
                name: name.into(),
                key: SeatKey::Sha256(SeatKey::digest(key)),
            }),
        )
        .unwrap();
}

fn publish(seat: SocketAddr, key: &StreamKey, argb: u32) -> Publisher {
    let mut options = PublishOptions::new(Source::Solid(argb));
    (options.width, options.height, options.bitrate_kbps) = (W, H, 400);
    Publisher::start(&format!("srt://{seat}"), key, &options).unwrap()
}

fn watch(show: &Show) -> Player {
    Player::start(
        &format!("srt://{}", show.relay.config().viewers),
        PlayerOptions {
            audio: AudioOutput::Silent,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Waits for a frame whose halves read `want`; the last seen on failure.
fn wait_for(player: &Player, want: (&str, &str)) -> Result<(), (String, String)> {
    let mut last = ("none".to_owned(), "none".to_owned());
    until(Duration::from_secs(20), || {
        let frame = player.take_frame()?;
        let seen = halves(&frame);
        last = (seen.0.to_owned(), seen.1.to_owned());
        (seen == want).then_some(())
    })
    .ok_or(last)
}

#[test]
fn two_publishers_side_by_side_fall_back_to_solo_and_come_back() {
    let show = show(2);
    let host = publish(show.seats[0], &show.host_key, RED);
    let guest = publish(show.seats[1], &show.guest_key, BLUE);
    until(Duration::from_secs(15), || {
        (show.stage.live() == [0, 1]).then_some(())
    })
    .unwrap_or_else(|| panic!("live: {:?}", show.stage.live()));
    show.stage.set_layout(Layout::SideBySide, Some(0)).unwrap();
    until(Duration::from_secs(10), || {
        show.relay.is_live().then_some(())
    })
    .expect("relay live");
    let player = watch(&show);
    wait_for(&player, ("red", "blue")).expect("host left, guest right");
    // The big slot moves live.
    show.stage.set_layout(Layout::SideBySide, Some(1)).unwrap();
    wait_for(&player, ("blue", "red")).expect("guest left, host right");

    // The guest drops: the host fills the stage, the stream goes on.
    drop(guest);
    until(Duration::from_secs(10), || {
        (show.stage.live() == [0]).then_some(())
    })
    .expect("the guest's seat ends");
    wait_for(&player, ("red", "red")).expect("solo host");
    assert!(show.relay.is_live());
    assert_eq!(show.relay.sessions(), 1, "the stream never stopped");
    // The host's choice is kept for when the guest returns.
    assert_eq!(show.stage.choice(), (Layout::SideBySide, Some(1)));

    let guest = publish(show.seats[1], &show.guest_key, BLUE);
    wait_for(&player, ("blue", "red")).expect("the guest is back on the left");
    assert_eq!(show.relay.sessions(), 1);
    let events = show.events.lock().unwrap().clone();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, StageEvent::Live { seat: 1 }))
            .count(),
        2,
        "{events:?}"
    );
    drop((guest, host));
}

#[test]
fn seats_refuse_wrong_keys_second_publishers_and_revoked_keys() {
    let show = show(2);
    // Not live yet: a layout may not name the seat.
    assert_eq!(
        show.stage.set_layout(Layout::SideBySide, Some(1)),
        Err(StageError::NotLive(1))
    );
    assert_eq!(
        show.stage.set_layout(Layout::Grid, Some(7)),
        Err(StageError::NoSuchSeat(7))
    );
    assert_eq!(
        show.stage.choice(),
        (Layout::Solo, None),
        "refusals change nothing"
    );

    let rejected = |show: &Show, seat: usize| {
        show.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, StageEvent::Rejected { seat: s, .. } if *s == seat))
            .count()
    };
    // The host's key in the guest's seat, and a made-up one.
    let wrong = publish(show.seats[1], &show.host_key, RED);
    until(Duration::from_secs(10), || {
        (rejected(&show, 1) >= 1).then_some(())
    })
    .expect("host key refused in a co-host seat");
    drop(wrong);
    let made_up = publish(
        show.seats[1],
        &StreamKey::new("made-up-key-789").unwrap(),
        RED,
    );
    until(Duration::from_secs(10), || {
        (rejected(&show, 1) >= 2).then_some(())
    })
    .expect("a made-up key refused");
    drop(made_up);

    let guest = publish(show.seats[1], &show.guest_key, BLUE);
    until(Duration::from_secs(10), || {
        (show.stage.live() == [1]).then_some(())
    })
    .expect("guest live");
    // A second publisher with the same key into the live seat.
    let before = rejected(&show, 1);
    let second = publish(show.seats[1], &show.guest_key, RED);
    until(Duration::from_secs(10), || {
        (rejected(&show, 1) > before).then_some(())
    })
    .expect("second publisher refused");
    drop(second);
    assert_eq!(show.stage.live(), [1], "the live guest stays");

    // Revoked while live: out of the picture at once, and the connection
    // closed (the seat's pipeline ends: `Off`).
    show.stage.set_seat(1, None).unwrap();
    assert!(show.stage.live().is_empty());
    wait_event(&show, StageEvent::Off { seat: 1 }, "revoked guest put out");
    drop(guest);
    // A new guest holds the seat: the old key is refused, the new one goes
    // live.
    let next_key = StreamKey::new("next-guest-key-1").unwrap();
    invite(&show.stage, 1, "Next", &next_key);
    let before = rejected(&show, 1);
    let again = publish(show.seats[1], &show.guest_key, BLUE);
    until(Duration::from_secs(10), || {
        (rejected(&show, 1) > before).then_some(())
    })
    .expect("revoked key refused");
    assert!(show.stage.live().is_empty());
    drop(again);
    let _next = publish(show.seats[1], &next_key, BLUE);
    until(Duration::from_secs(10), || {
        (show.stage.live() == [1]).then_some(())
    })
    .expect("the new key goes live");
    assert!(
        show.stage.set_seat(5, None).is_err(),
        "no such seat is an error"
    );
}

/// ffmpeg publishing a solid `colour` over RTMP under `key`, as OBS would.
struct RtmpPush(Child);

impl RtmpPush {
    fn start(addr: SocketAddr, key: &str, colour: &str) -> Self {
        let child = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg(format!("color=c={colour}:s={W}x{H}:r=30"))
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
            ])
            .args(["-g", "30", "-c:a", "aac", "-f", "flv"])
            .arg(format!("rtmp://{addr}/live/{key}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg runs (Debian package ffmpeg)");
        Self(child)
    }

    fn running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for RtmpPush {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pushes over RTMP, starting again whenever the push ends (the bridge
/// serves one publisher and is respawned), until `done` holds.
fn push_until(
    addr: SocketAddr,
    key: &str,
    cap: Duration,
    mut done: impl FnMut() -> bool,
) -> Option<RtmpPush> {
    let mut push: Option<RtmpPush> = None;
    let mut started = Instant::now();
    until(cap, || {
        // Not more often than every 300 ms while the bridge respawns.
        let ended = !push.as_mut().is_some_and(RtmpPush::running);
        if ended && (push.is_none() || started.elapsed() > Duration::from_millis(300)) {
            push = Some(RtmpPush::start(addr, key, "blue"));
            started = Instant::now();
        }
        done().then_some(())
    })?;
    push
}

#[test]
fn a_co_host_over_rtmp_is_let_in_by_their_key_and_put_out_when_revoked() {
    let show = show_with(2, vec![1]);
    let rtmp = show.stage.config().rtmp[0].1;
    let refusals = |show: &Show| {
        show.events
            .lock()
            .unwrap()
            .iter()
            .filter(
                |e| matches!(e, StageEvent::Rejected { seat: 1, reason } if reason.contains("key")),
            )
            .count()
    };

    // The host's key, then a made-up one: refused at the RTMP check.
    for wrong in [show.host_key.as_str(), "made-up-key-789"] {
        let before = refusals(&show);
        push_until(rtmp, wrong, Duration::from_secs(20), || {
            refusals(&show) > before
        })
        .expect("a wrong RTMP key refused");
        assert!(show.stage.live().is_empty(), "nobody got in");
    }

    // The guest's key (held by the stage only as a digest): live, and the
    // stage shows the guest alone.
    let guest = push_until(
        rtmp,
        show.guest_key.as_str(),
        Duration::from_secs(30),
        || show.stage.live() == [1],
    )
    .expect("the co-host goes live over RTMP");
    until(Duration::from_secs(10), || {
        show.relay.is_live().then_some(())
    })
    .expect("relay live");
    let player = watch(&show);
    wait_for(&player, ("blue", "blue")).expect("the co-host alone on stage");
    let mut guest = guest;

    // Revoked while live: out of the picture, and ffmpeg's connection
    // ends with the seat's, so the publisher itself is cut off.
    show.stage.set_seat(1, None).unwrap();
    assert!(show.stage.live().is_empty());
    until(Duration::from_secs(15), || (!guest.running()).then_some(()))
        .expect("the revoked RTMP publisher is cut off");
    drop(guest);

    // The revoked key no longer gets in, over RTMP as over SRT.
    invite(
        &show.stage,
        1,
        "Next",
        &StreamKey::new("next-guest-key-1").unwrap(),
    );
    let before = refusals(&show);
    push_until(
        rtmp,
        show.guest_key.as_str(),
        Duration::from_secs(20),
        || refusals(&show) > before,
    )
    .expect("the revoked key refused over RTMP");
    assert!(show.stage.live().is_empty());
}

#[test]
fn rtmp_listeners_must_name_real_seats_and_distinct_ports() {
    let relay_key = StreamKey::new("relay-internal-key").unwrap();
    let seats = vec![free_addr(), free_addr()];
    let tcp: SocketAddr = "127.0.0.1:1".parse().unwrap();
    for (rtmp, want) in [
        (vec![(2, tcp)], StageError::NoSuchSeat(2)),
        (vec![(0, tcp), (1, tcp)], StageError::SamePort(tcp)),
        (vec![(1, tcp), (1, free_addr())], StageError::TwoRtmp(1)),
    ] {
        let mut config = StageConfig::new(seats.clone(), free_addr(), relay_key.clone());
        config.rtmp = rtmp;
        assert_eq!(Stage::start(config, Arc::new(|_| {})).err(), Some(want));
    }
}

#[test]
fn a_live_publisher_left_out_of_the_layout_is_muted_and_heard_once_shown() {
    let show = show(3);
    let third_key = StreamKey::new("third-key-789").unwrap();
    invite(&show.stage, 2, "Third", &third_key);
    let _host = publish(show.seats[0], &show.host_key, RED);
    let _guest = publish(show.seats[1], &show.guest_key, BLUE);
    let _third = publish(show.seats[2], &third_key, RED);
    until(Duration::from_secs(15), || {
        (show.stage.live() == [0, 1, 2]).then_some(())
    })
    .unwrap_or_else(|| panic!("live: {:?}", show.stage.live()));
    // Side by side shows two: the third is live but neither seen nor heard.
    show.stage.set_layout(Layout::SideBySide, Some(2)).unwrap();
    let shown: Vec<usize> = show.stage.placed().iter().map(|p| p.seat).collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    until(Duration::from_secs(10), || {
        let mut heard = show.stage.heard();
        heard.sort();
        let mut want = shown.clone();
        want.sort();
        (heard == want).then_some(())
    })
    .unwrap_or_else(|| panic!("heard {:?}, shown {shown:?}", show.stage.heard()));
    assert!(shown.contains(&2), "the big slot is shown");
    // The grid shows everyone, and everyone is heard.
    show.stage.set_layout(Layout::Grid, None).unwrap();
    until(Duration::from_secs(10), || {
        (show.stage.heard() == [0, 1, 2]).then_some(())
    })
    .unwrap_or_else(|| panic!("heard {:?}", show.stage.heard()));
}

#[test]
fn a_publisher_who_connects_and_sends_nothing_is_put_out() {
    let show = show(2);
    let silent = SilentCaller::start(show.seats[1], show.guest_key.as_str());
    wait_event(
        &show,
        StageEvent::Live { seat: 1 },
        "the silent caller is let in",
    );
    // Still connected, never sending: put out after the idle timeout, and
    // the seat is free for the real co-host.
    wait_event(
        &show,
        StageEvent::Off { seat: 1 },
        "the silent caller is put out",
    );
    let _guest = publish(show.seats[1], &show.guest_key, BLUE);
    until(Duration::from_secs(15), || {
        (show.stage.live() == [1]).then_some(())
    })
    .expect("the co-host takes the freed seat");
    drop(silent);
}

#[test]
fn an_rtmp_connection_that_sends_nothing_does_not_hold_the_seat() {
    let show = show_with(2, vec![1]);
    let rtmp = show.stage.config().rtmp[0].1;
    // ffmpeg's RTMP listener takes one connection: this one never speaks.
    let idle = until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(rtmp).ok()
    })
    .expect("the seat's RTMP listener is up");
    // The co-host gets in all the same, once the idle one is dropped.
    let guest = push_until(
        rtmp,
        show.guest_key.as_str(),
        Duration::from_secs(40),
        || show.stage.live() == [1],
    );
    assert!(guest.is_some(), "the idle connection held the seat");
    drop(idle);
}
