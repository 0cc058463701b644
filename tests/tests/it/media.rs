//! Live video end to end on loopback, with the real things: the server's
//! in-process relay, `vitrine-host`'s publisher, Debian's ffmpeg pushing SRT
//! and RTMP, SRT and HLS players, and the room announcing live and off.
//!
//! The tests run one at a time (each encodes 720p30 in real time; two at
//! once on a 2-core machine would measure the machine, not the code).

use std::net::{TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use vitrine_client::net::NetClient;
use vitrine_media::StreamKey;
use vitrine_media::player::{
    AudioOutput, Frame, PixelFormat, Player, PlayerError, PlayerOptions, PlayerState,
};
use vitrine_media::publish::{PublishError, PublishOptions, Publisher, Source};
use vitrine_tests::{Http, TestServer, joined_client, pump, step_until};

static SERIAL: Mutex<()> = Mutex::new(());

pub(crate) fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn publish(server: &TestServer) -> Publisher {
    Publisher::start(
        &format!("srt://{}", server.media().ingest),
        &server.stream_key(),
        &PublishOptions::new(Source::TestPattern),
    )
    .expect("publisher starts")
}

fn play(uri: &str) -> Player {
    Player::start(
        uri,
        PlayerOptions {
            audio: AudioOutput::Silent,
            ..Default::default()
        },
    )
    .expect("player starts")
}

/// Waits (pumping the room client, if any) for a new frame that satisfies
/// `want`.
fn frame_where(
    player: &Player,
    mut client: Option<&mut NetClient>,
    cap: Duration,
    want: impl Fn(&Frame) -> bool,
) -> Arc<Frame> {
    let mut found = None;
    step_until(cap, || {
        if let Some(c) = client.as_deref_mut() {
            pump(&mut [c]);
        }
        found = player.take_frame().filter(|f| want(f));
        found.is_some()
    });
    found.unwrap_or_else(|| {
        panic!(
            "no such frame in {cap:?}: state {:?}, stats {:?}",
            player.state(),
            player.stats()
        )
    })
}

fn stamped(player: &Player, client: Option<&mut NetClient>) -> Arc<Frame> {
    frame_where(player, client, Duration::from_secs(20), |f| {
        f.timecode.is_some()
    })
}

fn live(client: &NetClient) -> Option<bool> {
    client.mirror().stream.as_ref().map(|s| s.live)
}

fn until_live(client: &mut NetClient, want: bool, cap: Duration) -> bool {
    step_until(cap, || {
        pump(&mut [client]);
        live(client) == Some(want)
    })
}

/// The 75% colour bars of `videotestsrc pattern=smpte`, left to right.
const BARS: [[bool; 3]; 7] = [
    [true, true, true],
    [true, true, false],
    [false, true, true],
    [false, true, false],
    [true, false, true],
    [true, false, false],
    [false, false, true],
];

/// Reads the bars back from an RGBA frame: the pattern, not just "a picture".
fn assert_smpte_bars(frame: &Frame) {
    assert_eq!(frame.format, PixelFormat::Rgba);
    let (w, h) = (frame.width as usize, frame.height as usize);
    let y = h * 2 / 5;
    for (i, want) in BARS.iter().enumerate() {
        let x = w * (2 * i + 1) / 14;
        let at = frame.offsets[0] + y * frame.strides[0] + x * 4;
        let px = &frame.data()[at..at + 3];
        for (c, on) in want.iter().enumerate() {
            let ok = if *on { px[c] > 140 } else { px[c] < 70 };
            assert!(ok, "bar {i} at ({x}, {y}) is {px:?}, want {want:?}");
        }
    }
}

#[test]
fn test_pattern_reaches_a_player_through_the_relay_and_survives_the_host_leaving() {
    let _serial = serial();
    let server = TestServer::start_with_media(false);
    let mut client = joined_client(&server, "Watcher", "hall");
    // The room says where the video is, and that the host is off.
    assert!(until_live(&mut client, false, Duration::from_secs(5)));
    let srt = client.mirror().stream.clone().unwrap().srt.unwrap();
    assert_eq!(srt, format!("srt://{}", server.media().viewers));

    let host = publish(&server);
    assert!(
        until_live(&mut client, true, Duration::from_secs(10)),
        "the room never heard the host go live"
    );
    let player = play(&srt);
    let frame = stamped(&player, Some(&mut client));
    assert_eq!((frame.width, frame.height), (1280, 720));
    assert_smpte_bars(&frame);
    let latency = frame.latency_ms().unwrap();
    assert!((0..1000).contains(&latency), "latency {latency} ms");
    let first = frame.timecode.unwrap();
    // Frames keep coming, in order.
    let later = frame_where(&player, Some(&mut client), Duration::from_secs(5), |f| {
        f.timecode.is_some_and(|t| t.frame > first.frame + 10)
    });
    assert!(later.timecode.unwrap().unix_ms > first.unix_ms);

    // The host drops: the room hears it, the player notices and retries.
    drop(host);
    assert!(
        until_live(&mut client, false, Duration::from_secs(10)),
        "the room never heard the host go off"
    );
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut client]);
        matches!(player.state(), PlayerState::Reconnecting { .. })
    }));

    // The host comes back: live again, and the same player plays again.
    let reconnects = player.stats().reconnects;
    let _host = publish(&server);
    assert!(until_live(&mut client, true, Duration::from_secs(10)));
    let back = frame_where(&player, Some(&mut client), Duration::from_secs(30), |f| {
        f.timecode
            .is_some_and(|t| t.unix_ms > later.timecode.unwrap().unix_ms + 1000)
    });
    assert_smpte_bars(&back);
    assert!(player.stats().reconnects > reconnects);
    assert!(step_until(Duration::from_secs(5), || player.state()
        == PlayerState::Playing));
}

#[test]
fn bad_urls_and_settings_are_typed_errors() {
    let _serial = serial();
    let opts = PlayerOptions::default;
    assert!(matches!(
        Player::start("not a url", opts()),
        Err(PlayerError::BadUrl(_))
    ));
    assert!(matches!(
        Player::start("", opts()),
        Err(PlayerError::BadUrl(_))
    ));
    assert!(matches!(
        Player::start("gopher://example.invalid/1", opts()),
        Err(PlayerError::UnsupportedScheme(s)) if s == "gopher"
    ));
    assert!(matches!(
        Player::start("file:///definitely/not/here.ts", opts()),
        Err(PlayerError::NotFound(_))
    ));
    // Nobody on this port: a live URL is retried, with the reason shown.
    let port = vitrine_tests::free_udp_port();
    let player = Player::start(
        &format!("srt://127.0.0.1:{port}"),
        PlayerOptions {
            audio: AudioOutput::Silent,
            connect_timeout: Duration::from_secs(4),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        step_until(Duration::from_secs(15), || matches!(
            player.state(),
            PlayerState::Reconnecting {
                reason: PlayerError::Refused(_),
                ..
            }
        )),
        "{:?}",
        player.state()
    );
    assert!(player.latest_frame().is_none());

    // A garbage file is an error that retrying cannot fix.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.ts");
    std::fs::write(&junk, vec![0x5a; 64 * 1024]).unwrap();
    let player = Player::start(&vitrine_media::player::file_uri(&junk).unwrap(), opts()).unwrap();
    assert!(
        step_until(Duration::from_secs(10), || matches!(
            player.state(),
            PlayerState::Error(_)
        )),
        "{:?}",
        player.state()
    );

    let key = StreamKey::new("a-good-key-1").unwrap();
    let pattern = PublishOptions::new(Source::TestPattern);
    for bad in [
        "rtmp://127.0.0.1:1935/live",
        "srt://127.0.0.1",
        "srt://:9000",
        "srt://h:0",
    ] {
        assert!(
            matches!(
                Publisher::start(bad, &key, &pattern),
                Err(PublishError::Url(_))
            ),
            "{bad}"
        );
    }
    let ingest = format!("srt://127.0.0.1:{port}");
    assert!(matches!(
        Publisher::start(
            &ingest,
            &key,
            &PublishOptions::new(Source::File("/no/such.mp4".into()))
        ),
        Err(PublishError::NoSuchFile(_))
    ));
    assert!(matches!(
        Publisher::start(
            &ingest,
            &key,
            &PublishOptions::new(Source::Camera("/dev/video99".into()))
        ),
        Err(PublishError::NoSuchCamera(_))
    ));
    let odd = PublishOptions {
        width: 7,
        ..PublishOptions::new(Source::TestPattern)
    };
    assert!(matches!(
        Publisher::start(&ingest, &key, &odd),
        Err(PublishError::BadFormat { .. })
    ));
    assert!(StreamKey::new("has spaces in it").is_err());
    assert!(StreamKey::new("short").is_err());
}

/// ffmpeg as OBS would be: pushing to the ingest with the key.
pub(crate) fn ffmpeg_push(target: &str, format: &str) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            "60",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args(["-g", "30", "-c:a", "aac", "-f", format, target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg runs (Debian package ffmpeg)")
}

pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ffmpeg_pushing_srt_and_rtmp_reaches_a_player_and_wrong_keys_are_refused() {
    let _serial = serial();
    let server = TestServer::start_with_media(true);
    let media = server.media().clone();
    let key = server.stream_key();
    let mut client = joined_client(&server, "Watcher", "hall");
    assert!(until_live(&mut client, false, Duration::from_secs(5)));
    let srt_out = format!("srt://{}", media.viewers);

    // A wrong key over SRT: refused, nothing goes live.
    let wrong = Killed(ffmpeg_push(
        &format!(
            "srt://{}?streamid=wrong-key-123&latency=80000",
            media.ingest
        ),
        "mpegts",
    ));
    assert!(!until_live(&mut client, true, Duration::from_secs(3)));
    drop(wrong);

    // SRT with the key.
    let pusher = Killed(ffmpeg_push(
        &format!(
            "srt://{}?streamid={}&latency=80000",
            media.ingest,
            key.as_str()
        ),
        "mpegts",
    ));
    assert!(until_live(&mut client, true, Duration::from_secs(15)));
    let player = play(&srt_out);
    let frame = frame_where(&player, Some(&mut client), Duration::from_secs(20), |_| {
        true
    });
    assert_eq!((frame.width, frame.height), (640, 360));
    drop(player);
    drop(pusher);
    assert!(until_live(&mut client, false, Duration::from_secs(10)));

    // RTMP with a wrong stream name: the bridge is killed, nothing goes live.
    let rtmp = media.rtmp.unwrap();
    // The bridge (ffmpeg -listen) takes a moment to bind.
    assert!(step_until(Duration::from_secs(10), || TcpStream::connect(
        rtmp
    )
    .is_ok()));
    let wrong = Killed(ffmpeg_push(
        &format!("rtmp://{rtmp}/live/wrong-key-123"),
        "flv",
    ));
    assert!(!until_live(&mut client, true, Duration::from_secs(4)));
    drop(wrong);

    // RTMP with the key. The bridge restarts after each session; retry
    // the push until it is listening again.
    let mut pusher = None;
    let went_live = step_until(Duration::from_secs(30), || {
        pump(&mut [&mut client]);
        let dead = pusher
            .as_mut()
            .is_none_or(|p: &mut Killed| !matches!(p.0.try_wait(), Ok(None)));
        if dead {
            pusher = Some(Killed(ffmpeg_push(
                &format!("rtmp://{rtmp}/live/{}", key.as_str()),
                "flv",
            )));
        }
        live(&client) == Some(true)
    });
    assert!(went_live, "RTMP never went live");
    let player = play(&srt_out);
    let frame = frame_where(&player, Some(&mut client), Duration::from_secs(20), |_| {
        true
    });
    assert_eq!((frame.width, frame.height), (640, 360));
}

#[test]
fn hls_is_served_by_axum_and_plays_and_the_recording_is_playable() {
    let _serial = serial();
    let server = TestServer::start_with_media(false);
    let mut client = joined_client(&server, "Watcher", "hall");
    let host = publish(&server);
    assert!(until_live(&mut client, true, Duration::from_secs(10)));
    let hls = client.mirror().stream.clone().unwrap().hls.unwrap();
    assert_eq!(hls, format!("{}/hls/live.m3u8", server.url()));

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let get = |path: &str| {
        let mut r = agent.get(format!("{}{path}", server.url())).call().unwrap();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = r.body_mut().read_to_vec().unwrap();
        (r.status().as_u16(), ct, body)
    };
    // Two segments written: the playlist lists them.
    let mut playlist = String::new();
    assert!(
        step_until(Duration::from_secs(20), || {
            pump(&mut [&mut client]);
            let (status, _, body) = get("/hls/live.m3u8");
            playlist = String::from_utf8_lossy(&body).into_owned();
            status == 200 && playlist.matches(".ts").count() >= 2
        }),
        "playlist: {playlist}"
    );
    let (_, ct, _) = get("/hls/live.m3u8");
    assert_eq!(ct, "application/vnd.apple.mpegurl");
    let segment = playlist
        .lines()
        .find(|l| l.ends_with(".ts"))
        .unwrap()
        .to_owned();
    let (status, ct, body) = get(&format!("/hls/{segment}"));
    assert_eq!((status, ct.as_str()), (200, "video/mp2t"));
    assert!(body.len() > 1000 && body[0] == 0x47, "an MPEG-TS segment");
    // Nothing else in (or above) the directory is reachable.
    for path in [
        "/hls/..%2Fstream.key",
        "/hls/%2E%2E%2Fstream.key",
        "/hls/stream.key",
        "/hls/..",
        "/hls/nope.ts",
    ] {
        assert_eq!(get(path).0, 404, "{path}");
    }

    // The web path plays: a player on the HLS URL sees stamped frames.
    let player = play(&hls);
    let frame = stamped(&player, Some(&mut client));
    assert_smpte_bars(&frame);
    eprintln!("HLS latency {} ms", frame.latency_ms().unwrap());
    drop(player);

    // The host leaves: the recording is finalized and plays to its end.
    let sent = host.frames();
    drop(host);
    assert!(until_live(&mut client, false, Duration::from_secs(10)));
    let dir = server.data_dir.join("recordings");
    let mut recording = None;
    assert!(step_until(Duration::from_secs(10), || {
        recording = std::fs::read_dir(&dir).ok().and_then(|d| {
            d.flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "ts"))
        });
        recording.is_some()
    }));
    let recording = recording.unwrap();
    assert!(std::fs::metadata(&recording).unwrap().len() > 100_000);
    // Every frame shown, however late: a scheduling stall on a busy machine
    // must not make the decoder skip this short recording to its end.
    let replay = Player::start(
        &vitrine_media::player::file_uri(&recording).unwrap(),
        PlayerOptions {
            audio: AudioOutput::Silent,
            max_lateness: None,
            ..Default::default()
        },
    )
    .unwrap();
    let frame = stamped(&replay, None);
    assert_smpte_bars(&frame);
    assert!(
        step_until(Duration::from_secs(60), || replay.state()
            == PlayerState::Ended),
        "{:?}",
        replay.state()
    );
    // The whole show is in it, less what was still in flight (the
    // encoder, SRT's buffer) when the host left: half a second at most.
    let decoded = replay.stats().decoded;
    assert!(
        decoded > 30 && decoded + 15 >= sent,
        "{decoded} frames recorded of {sent} sent"
    );
}

#[test]
fn garbage_on_the_media_ports_changes_nothing() {
    let _serial = serial();
    let server = TestServer::start_with_media(true);
    let media = server.media().clone();
    let mut client = joined_client(&server, "Watcher", "hall");
    assert!(until_live(&mut client, false, Duration::from_secs(5)));

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..2000 {
        let len = (next() % 1400) as usize + 1;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 4 == 0 && len >= 16 {
            // Looks like an SRT control packet (the top bit set), a
            // handshake even, with nonsense in its fields.
            bytes[0] = 0x80;
            bytes[1] = 0x00;
        }
        for port in [media.ingest.port(), media.viewers.port()] {
            let _ = socket.send_to(&bytes, ("127.0.0.1", port));
        }
    }
    // Garbage on the RTMP port (ffmpeg's listener) too.
    if let Ok(mut tcp) = TcpStream::connect(media.rtmp.unwrap()) {
        use std::io::Write;
        let junk: Vec<u8> = (0..64 * 1024).map(|_| next() as u8).collect();
        let _ = tcp.write_all(&junk);
    }
    // A publisher with the wrong key is refused.
    let wrong = Publisher::start(
        &format!("srt://{}", media.ingest),
        &StreamKey::new("not-the-key-1").unwrap(),
        &PublishOptions::new(Source::TestPattern),
    );
    // Nothing went live, and the room is still there.
    assert!(!until_live(&mut client, true, Duration::from_secs(2)));
    assert!(client.is_connected());
    drop(wrong);

    // The relay still works for the real host.
    let _host = publish(&server);
    assert!(until_live(&mut client, true, Duration::from_secs(15)));
    let player = play(&format!("srt://{}", media.viewers));
    let frame = stamped(&player, Some(&mut client));
    assert_smpte_bars(&frame);
    // The API agrees.
    let (status, body) = Http::new(&server).call("GET", "/api/v1/stream", None, None, None);
    assert_eq!(status, 200);
    assert_eq!(body["live"], true);
}

#[test]
fn the_host_reads_the_ingest_settings_and_shoppers_cannot() {
    let _serial = serial();
    let server = TestServer::start_with_media(false);
    let http = Http::new(&server);
    let host = server.sign_in_as("ana.host", vitrine_shared::Role::Host);
    let (status, body) = http.call("GET", "/api/v1/stream/ingest", Some(&host), None, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stream_key"], server.stream_key().as_str());
    assert_eq!(body["srt_url"], format!("srt://{}", server.media().ingest));
    let shopper = vitrine_tests::guest(&http, "Bo");
    let (status, body) = http.call("GET", "/api/v1/stream/ingest", Some(&shopper), None, None);
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, _) = http.call("GET", "/api/v1/stream/ingest", None, None, None);
    assert_eq!(status, 401);

    // A server without the relay says so.
    let plain = TestServer::start();
    let (status, body) = Http::new(&plain).call("GET", "/api/v1/stream", None, None, None);
    assert_eq!((status, body["code"].as_str()), (404, Some("no_media")));
    assert_eq!(
        Http::new(&plain)
            .call("GET", "/hls/live.m3u8", None, None, None)
            .0,
        404
    );
}

/// The console's preview answers only a staff member's real offer while the
/// stage is live; everything else is a typed refusal.
#[test]
fn the_preview_refuses_strangers_junk_and_an_empty_stage() {
    let _one = serial();
    let server = TestServer::start_with_media(false);
    let http = Http::new(&server);
    let host = server.sign_in_as("host.preview", vitrine_shared::Role::Host);
    let shopper = vitrine_tests::guest(&http, "Shopper");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |token: Option<&str>, offer: &str| -> (u16, String) {
        let mut req = agent
            .post(format!("{}/api/v1/stream/preview", server.url()))
            .header("Content-Type", "application/sdp");
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut response = req.send(offer).expect("HTTP exchange");
        let body = response.body_mut().read_to_string().unwrap_or_default();
        let code = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or(body);
        (response.status().as_u16(), code)
    };
    // A browser's offer for VP8 alone: well formed, nothing we send.
    let vp8_only = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\n\
        a=rtpmap:96 VP8/90000\r\n";
    assert_eq!(post(None, vp8_only).0, 401);
    assert_eq!(post(Some(&shopper), vp8_only).0, 403);
    assert_eq!(post(Some(&host), vp8_only), (409, "not_live".into()));

    let _camera = publish(&server);
    assert!(
        step_until(Duration::from_secs(20), || {
            http.call("GET", "/api/v1/stream", None, None, None).1["live"] == true
        }),
        "the host never went live"
    );
    assert_eq!(post(Some(&host), "hello"), (400, "invalid_offer".into()));
    assert_eq!(post(Some(&host), ""), (400, "invalid_offer".into()));
    assert_eq!(post(Some(&host), vp8_only), (400, "no_common_codec".into()));
    assert_eq!(
        post(Some(&host), &"x".repeat(20_000)).0,
        413,
        "an offer over the API's 16 KiB"
    );
    let (status, body) = http.call(
        "DELETE",
        "/api/v1/stream/preview/12345",
        Some(&host),
        None,
        None,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("preview_not_found"))
    );
    let (status, _) = http.call(
        "DELETE",
        "/api/v1/stream/preview/abc",
        Some(&host),
        None,
        None,
    );
    assert_eq!(status, 400);
    let (status, _) = http.call(
        "DELETE",
        "/api/v1/stream/preview/1",
        Some(&shopper),
        None,
        None,
    );
    assert_eq!(status, 403);
}
