//! Restreaming over HTTP with the real relay: the host adds an RTMP outlet
//! (a local ffmpeg listening on loopback stands in for YouTube or Twitch),
//! frames reach it while the show is live, killing it shows "retrying"
//! while the show's own stream goes on, and it comes back live with the
//! sink. Every bad request is refused and changes nothing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vitrine_media::player::{AudioOutput, Player, PlayerOptions};
use vitrine_media::publish::{PublishOptions, Publisher, Source};
use vitrine_shared::Role;
use vitrine_tests::{Http, TestServer, free_tcp_port, guest, step_until};

/// A platform's RTMP ingest on loopback: ffmpeg listening for `key`,
/// writing one line per video packet it receives into `log`.
pub(crate) struct Sink(Child);

impl Sink {
    pub(crate) fn start(port: u16, key: &str, log: &Path) -> Self {
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
            .args(["-listen", "1", "-i"])
            .arg(format!("rtmp://127.0.0.1:{port}/live/{key}"))
            .args([
                "-map",
                "0:v",
                "-c",
                "copy",
                "-f",
                "framemd5",
                "-flush_packets",
                "1",
                "-y",
            ])
            .arg(log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg runs (Debian package ffmpeg)");
        Self(child)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The host's camera: a small test pattern, cheap to encode beside the
/// other tests.
pub(crate) fn small_camera(server: &TestServer) -> Publisher {
    let mut options = PublishOptions::new(Source::TestPattern);
    (options.width, options.height, options.bitrate_kbps) = (320, 180, 300);
    Publisher::start(
        &format!("srt://{}", server.media().ingest),
        &server.stream_key(),
        &options,
    )
    .expect("publisher starts")
}

/// Video packets the sink has written so far.
pub(crate) fn packets(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|t| t.lines().filter(|l| l.starts_with("0,")).count())
        .unwrap_or(0)
}

fn outlets(http: &Http, token: &str) -> Value {
    let (status, body) = http.call("GET", "/api/v1/stream/outlets", Some(token), None, None);
    assert_eq!(status, 200, "{body}");
    body
}

fn add(http: &Http, token: &str, body: Value) -> (u16, Value) {
    http.call(
        "POST",
        "/api/v1/stream/outlets",
        Some(token),
        None,
        Some(body),
    )
}

#[test]
fn a_host_restreams_to_an_rtmp_outlet_that_fails_and_comes_back_without_touching_the_show() {
    let _one = crate::media::serial();
    let server = TestServer::start_with_media(false);
    let http = Http::new(&server);
    let host = server.sign_in_as("mara", Role::Host);
    let co_host = server.sign_in_as("theo", Role::CoHost);
    let shopper = guest(&http, "Shopper");
    let port = free_tcp_port();
    let key = "sink-secret-key-42";
    let good = json!({"name": "Loopback Live", "url": format!("rtmp://127.0.0.1:{port}/live"), "stream_key": key});

    // Who may add, and what is refused.
    assert_eq!(add(&http, &shopper, good.clone()).0, 403);
    assert_eq!(add(&http, &co_host, good.clone()).0, 403);
    for (bad, code) in [
        (
            json!({"name": "Web", "url": "http://example.com/live", "stream_key": "k"}),
            "invalid_outlet",
        ),
        (
            json!({"name": "File", "url": "file:///etc/passwd", "stream_key": "k"}),
            "invalid_outlet",
        ),
        (
            json!({"name": "Opt", "url": "-f", "stream_key": "k"}),
            "invalid_outlet",
        ),
        (
            json!({"name": "NoKey", "url": "rtmp://a.example/live", "stream_key": ""}),
            "invalid_outlet",
        ),
        (
            json!({"name": "Space", "url": "rtmp://a.example/live", "stream_key": "a b"}),
            "invalid_outlet",
        ),
        (
            json!({"name": "", "url": "rtmp://a.example/live", "stream_key": "k"}),
            "invalid_name",
        ),
    ] {
        let (status, body) = add(&http, &host, bad.clone());
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some(code)),
            "{bad}: {body}"
        );
    }
    let (status, _) = add(&http, &host, json!({"name": "x"}));
    assert_eq!(status, 400);
    assert_eq!(
        outlets(&http, &host)["outlets"].as_array().unwrap().len(),
        0,
        "refusals add nothing"
    );

    let (status, added) = add(&http, &host, good.clone());
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["key_hint"], "y-42");
    assert_eq!(added["state"], "idle", "not live yet");
    let id = added["id"].as_i64().unwrap();
    // Co-hosts see the outlets; nobody sees the key again.
    let list = outlets(&http, &co_host);
    assert_eq!(list["outlets"][0]["name"], "Loopback Live");
    assert_eq!(list["max"], 5);
    assert!(!list.to_string().contains(key), "the key leaked: {list}");
    let (status, _) = http.call("GET", "/api/v1/stream/outlets", Some(&shopper), None, None);
    assert_eq!(status, 403);

    // Live: the outlet connects and frames reach the platform.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sink.framemd5");
    let sink = Sink::start(port, key, &log);
    let _camera = small_camera(&server);
    assert!(
        step_until(Duration::from_secs(40), || packets(&log) >= 30),
        "the outlet sent {} packets; outlets: {}",
        packets(&log),
        outlets(&http, &host)
    );
    assert!(
        step_until(Duration::from_secs(10), || outlets(&http, &host)["outlets"]
            [0]["state"]
            == "live"),
        "{}",
        outlets(&http, &host)
    );

    // The platform goes away: the outlet says so and retries; the show's
    // own stream never notices.
    let (_, stream) = http.call("GET", "/api/v1/stream", None, None, None);
    let viewer = Player::start(
        stream["srt"].as_str().unwrap(),
        PlayerOptions {
            audio: AudioOutput::Silent,
            ..Default::default()
        },
    )
    .expect("viewer");
    assert!(step_until(Duration::from_secs(20), || viewer
        .take_frame()
        .is_some()));
    drop(sink);
    assert!(
        step_until(Duration::from_secs(20), || outlets(&http, &host)["outlets"]
            [0]["state"]
            == "retrying"),
        "{}",
        outlets(&http, &host)
    );
    let failed = outlets(&http, &host)["outlets"][0].clone();
    assert!(
        !failed["reason"].as_str().unwrap_or("").is_empty(),
        "a reason is given: {failed}"
    );
    assert!(
        !failed.to_string().contains(key),
        "the key leaked: {failed}"
    );
    // Frames keep coming to viewers for a while after the outlet failed.
    let since = Instant::now();
    let mut fresh = 0;
    assert!(step_until(Duration::from_secs(10), || {
        if viewer.take_frame().is_some() {
            fresh += 1;
        }
        fresh >= 20 && since.elapsed() > Duration::from_secs(1)
    }));
    let (_, stream) = http.call("GET", "/api/v1/stream", None, None, None);
    assert_eq!(stream["live"], true);

    // The platform is back: the next try goes live again.
    let log2 = dir.path().join("sink2.framemd5");
    let _sink = Sink::start(port, key, &log2);
    assert!(
        step_until(Duration::from_secs(40), || packets(&log2) >= 10),
        "never back: {}",
        outlets(&http, &host)
    );

    // Removed: gone from the list; a second removal and an unknown id are
    // refused.
    let path = format!("/api/v1/stream/outlets/{id}");
    assert_eq!(
        http.call("DELETE", &path, Some(&co_host), None, None).0,
        403
    );
    assert_eq!(http.call("DELETE", &path, Some(&host), None, None).0, 204);
    let (status, body) = http.call("DELETE", &path, Some(&host), None, None);
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("outlet_not_found"))
    );
    assert_eq!(
        outlets(&http, &host)["outlets"].as_array().unwrap().len(),
        0
    );
}

#[test]
fn a_sixth_outlet_is_refused_and_a_server_without_a_relay_has_none() {
    let server = TestServer::start_with_media(false);
    let http = Http::new(&server);
    let host = server.sign_in_as("mara", Role::Host);
    for i in 0..5 {
        let (status, body) = add(
            &http,
            &host,
            json!({"name": format!("Outlet {i}"), "url": "rtmps://live.example.com:443/app", "stream_key": format!("key-{i}")}),
        );
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = add(
        &http,
        &host,
        json!({"name": "Sixth", "url": "rtmp://live.example.com/app", "stream_key": "key-6"}),
    );
    assert_eq!((status, body["code"].as_str()), (409, Some("outlet_limit")));
    assert_eq!(
        outlets(&http, &host)["outlets"].as_array().unwrap().len(),
        5
    );
    // Not live: every outlet waits for the show.
    assert!(
        outlets(&http, &host)["outlets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["state"] == "idle")
    );
    drop(server);

    let bare = TestServer::start();
    let http = Http::new(&bare);
    let host = bare.sign_in_as("mara", Role::Host);
    let (status, body) = http.call("GET", "/api/v1/stream/outlets", Some(&host), None, None);
    assert_eq!((status, body["code"].as_str()), (404, Some("no_restream")));
}
