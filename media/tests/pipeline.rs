//! The media crate's own pipelines on loopback: the timecode through a real
//! H.264 encode and decode, and publisher → relay → player.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;
use vitrine_media::StreamKey;
use vitrine_media::player::{AudioOutput, Player, PlayerOptions, PlayerState};
use vitrine_media::publish::{PublishOptions, Publisher, Source};
use vitrine_media::relay::{Relay, RelayConfig, RelayEvent};
use vitrine_media::timecode::{self, Timecode};

mod common;
use common::{SilentCaller, until};

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn timecode_survives_h264() {
    vitrine_media::init().unwrap();
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=20 pattern=ball ! video/x-raw,format=I420,width=1280,height=720,framerate=30/1 \
         ! identity name=stamp ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=1500 ! h264parse \
         ! avdec_h264 ! videoconvert ! video/x-raw,format=RGBA ! appsink name=out sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let pad = pipeline
        .by_name("stamp")
        .unwrap()
        .static_pad("src")
        .unwrap();
    let sent: Arc<Mutex<Vec<Timecode>>> = Arc::default();
    let sent2 = sent.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let video = gst_video::VideoInfo::from_caps(&pad.current_caps().unwrap()).unwrap();
        let buffer = info.buffer_mut().unwrap().make_mut();
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, &video).unwrap();
        let mut s = sent2.lock().unwrap();
        let tc = Timecode {
            unix_ms: 1_700_000_000_000 + s.len() as u64 * 33,
            frame: s.len() as u32,
        };
        timecode::stamp_frame(tc, s.len().is_multiple_of(2), &mut frame).unwrap();
        s.push(tc);
        gst::PadProbeReturn::Ok
    });
    let sink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut read = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        let map = sample.buffer().unwrap().map_readable().unwrap();
        let stride = info.stride()[0] as usize;
        read.push((
            timecode::read_rgba(&map, 1280, 720, stride),
            timecode::marker_rgba(&map, 1280, 720, stride),
        ));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let sent = sent.lock().unwrap();
    assert_eq!(read.len(), 20);
    for (i, (tc, marker)) in read.into_iter().enumerate() {
        assert_eq!(tc, Ok(sent[i]), "frame {i}");
        assert_eq!(marker, Some(i.is_multiple_of(2)), "marker {i}");
    }
}

#[test]
fn publisher_relay_player_loopback() {
    let ingest: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let viewers: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let key = StreamKey::new("test-key-123").unwrap();
    let events: Arc<Mutex<Vec<RelayEvent>>> = Arc::default();
    let ev = events.clone();
    let relay = Relay::start(
        RelayConfig::new(ingest, viewers, key.clone()),
        Arc::new(move |e| ev.lock().unwrap().push(e)),
    )
    .unwrap();
    let publisher = Publisher::start(
        &format!("srt://{ingest}"),
        &key,
        &PublishOptions::new(Source::TestPattern),
    )
    .unwrap();
    until(Duration::from_secs(10), || relay.is_live().then_some(())).expect("relay live");
    let player = Player::start(
        &format!("srt://{viewers}"),
        PlayerOptions {
            audio: AudioOutput::Silent,
            ..Default::default()
        },
    )
    .unwrap();
    let frame = until(Duration::from_secs(15), || {
        player.take_frame().filter(|f| f.timecode.is_some())
    })
    .unwrap_or_else(|| panic!("no frame; state {:?}", player.state()));
    assert_eq!((frame.width, frame.height), (1280, 720));
    // Both ends class loopback as a LAN link and ask for the LAN latency,
    // which the relay's floor lets through.
    assert_eq!(publisher.latency_ms(), vitrine_media::srt::LAN_LATENCY_MS);
    assert_eq!(player.srt_latency_ms(), vitrine_media::srt::LAN_LATENCY_MS);
    let lat = frame.latency_ms().unwrap();
    eprintln!(
        "latency {lat} ms, state {:?}, stats {:?}",
        player.state(),
        player.stats()
    );
    assert!((0..2000).contains(&lat), "{lat}");
    until(Duration::from_secs(2), || {
        (player.state() == PlayerState::Playing).then_some(())
    })
    .unwrap_or_else(|| panic!("state {:?}", player.state()));
    drop(publisher);
    until(Duration::from_secs(10), || (!relay.is_live()).then_some(())).expect("relay off");
    drop(player);
    drop(relay);
    eprintln!("{:?}", events.lock().unwrap());
}

#[test]
fn a_wrong_key_is_refused() {
    let ingest: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let viewers: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let key = StreamKey::new("test-key-123").unwrap();
    let events: Arc<Mutex<Vec<RelayEvent>>> = Arc::default();
    let ev = events.clone();
    let relay = Relay::start(
        RelayConfig::new(ingest, viewers, key),
        Arc::new(move |e| ev.lock().unwrap().push(e)),
    )
    .unwrap();
    let wrong = StreamKey::new("not-the-key-1").unwrap();
    // srtsink keeps calling; every call is refused and nothing goes live.
    let _publisher = Publisher::start(
        &format!("srt://{ingest}"),
        &wrong,
        &PublishOptions::new(Source::TestPattern),
    );
    let refused = until(Duration::from_secs(10), || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, RelayEvent::Rejected { .. }))
            .then_some(())
    });
    assert!(refused.is_some());
    assert!(!events.lock().unwrap().contains(&RelayEvent::Live));
    assert!(!relay.is_live());
}

#[test]
fn relay_writes_hls() {
    let ingest: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let viewers: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let key = StreamKey::new("test-key-123").unwrap();
    let dir = std::env::temp_dir().join(format!("vitrine-hls-{}", std::process::id()));
    let mut config = RelayConfig::new(ingest, viewers, key.clone());
    config.hls_dir = Some(dir.clone());
    let relay = Relay::start(config, Arc::new(|_| {})).unwrap();
    let _publisher = Publisher::start(
        &format!("srt://{ingest}"),
        &key,
        &PublishOptions::new(Source::TestPattern),
    )
    .unwrap();
    let found = until(Duration::from_secs(15), || {
        dir.join("live.m3u8").exists().then_some(())
    });
    eprintln!(
        "{:?}",
        std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
    assert!(found.is_some());
    drop(relay);
}

#[test]
fn a_silent_publisher_does_not_hold_the_relay_when_it_stops() {
    let ingest: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let viewers: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let key = StreamKey::new("test-key-123").unwrap();
    let relay = Relay::start(
        RelayConfig::new(ingest, viewers, key.clone()),
        Arc::new(|_| {}),
    )
    .unwrap();
    // Connected with the key, never sending: srtsrc waits on it.
    let _silent = SilentCaller::start(ingest, key.as_str());
    until(Duration::from_secs(10), || relay.is_live().then_some(())).expect("the caller is let in");
    // Stopping the relay (the server shutting down) must not wait on it.
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(relay);
        let _ = done.send(());
    });
    stopped
        .recv_timeout(Duration::from_secs(10))
        .expect("the relay stopped with a silent publisher connected");
}
