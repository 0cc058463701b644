//! Co-hosts over HTTP with the real stage: invitations and their keys,
//! every refusal (a fifth co-host, bad names, a layout naming someone not
//! live, a revoked key, a second publisher in a live seat), and two
//! publishers composed side by side as a viewer receives them.

use std::time::Duration;

use serde_json::{Value, json};
use vitrine_media::StreamKey;
use vitrine_media::player::{AudioOutput, Frame, Player, PlayerOptions};
use vitrine_media::publish::{PublishOptions, Publisher, Source};
use vitrine_shared::Role;
use vitrine_tests::{Http, TestServer, guest, step_until};

use crate::media::{Killed, ffmpeg_push};

const RED: u32 = 0xffff_0000;
const BLUE: u32 = 0xff00_00ff;

fn publish(url: &str, key: &str, argb: u32) -> Publisher {
    let mut options = PublishOptions::new(Source::Solid(argb));
    (options.width, options.height, options.bitrate_kbps) = (320, 180, 400);
    Publisher::start(url, &StreamKey::new(key).unwrap(), &options).expect("publisher starts")
}

fn colour_at(frame: &Frame, x: u32, y: u32) -> &'static str {
    let i = frame.offsets[0] + y as usize * frame.strides[0] + x as usize * 4;
    match (frame.data()[i], frame.data()[i + 1], frame.data()[i + 2]) {
        (r, g, b) if r > 180 && g < 80 && b < 80 => "red",
        (r, g, b) if b > 180 && r < 80 && g < 80 => "blue",
        _ => "other",
    }
}

fn stage(http: &Http, token: &str) -> Value {
    let (status, body) = http.call("GET", "/api/v1/stream/stage", Some(token), None, None);
    assert_eq!(status, 200, "{body}");
    body
}

/// `POST /api/v1/stream/co-hosts` with `body`, as `token`.
fn invite(http: &Http, token: &str, body: Value) -> (u16, Value) {
    http.call(
        "POST",
        "/api/v1/stream/co-hosts",
        Some(token),
        None,
        Some(body),
    )
}

fn live_seats(view: &Value) -> Vec<u64> {
    view["seats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["live"] == true)
        .map(|s| s["seat"].as_u64().unwrap())
        .collect()
}

#[test]
fn the_host_invites_four_co_hosts_and_every_bad_request_changes_nothing() {
    let server = TestServer::start_with_stage(4);
    let http = Http::new(&server);
    let host = server.sign_in_as("mara", Role::Host);
    let co_host_account = server.sign_in_as("theo", Role::CoHost);
    let shopper = guest(&http, "Shopper");

    // Only the host invites; co-host accounts may look.
    let (status, body) = invite(&http, &shopper, json!({"name": "Sneaky"}));
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, _) = invite(&http, &co_host_account, json!({"name": "Sneaky"}));
    assert_eq!(status, 403);
    for bad in [
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": "a\u{7}b"}),
        json!({"name": "x".repeat(200)}),
        json!({"nom": "Ada"}),
        json!("Ada"),
    ] {
        let (status, body) = invite(&http, &host, bad.clone());
        assert_eq!(status, 400, "{bad}: {body}");
    }

    let mut keys = Vec::new();
    for (i, name) in ["Ada", "Ben", "Chloé", "Dev"].into_iter().enumerate() {
        let (status, body) = invite(&http, &host, json!({"name": name}));
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["co_host"]["seat"], i as u64 + 1);
        assert_eq!(body["co_host"]["name"], name);
        assert!(body["co_host"]["rtmp_url"].is_null(), "RTMP is off here");
        let key = body["stream_key"].as_str().unwrap().to_owned();
        assert_eq!(body["co_host"]["key_hint"], key[key.len() - 4..]);
        keys.push((body["co_host"]["id"].as_i64().unwrap(), key));
    }
    // A fifth: the stage is full.
    let (status, body) = invite(&http, &host, json!({"name": "Eve"}));
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("co_host_limit"))
    );

    // The list never shows a key again, to anyone.
    let (status, list) = http.call(
        "GET",
        "/api/v1/stream/co-hosts",
        Some(&co_host_account),
        None,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(list["co_hosts"].as_array().unwrap().len(), 4);
    assert_eq!(list["max"], 4);
    let text = list.to_string();
    for (_, key) in &keys {
        assert!(!text.contains(key.as_str()), "a key leaked into the list");
    }
    let (status, _) = http.call("GET", "/api/v1/stream/co-hosts", Some(&shopper), None, None);
    assert_eq!(status, 403);

    // Layouts: nobody is live, so none may name a seat.
    let before = stage(&http, &host);
    assert_eq!(before["layout"], "solo");
    assert_eq!(before["seats"].as_array().unwrap().len(), 5);
    for (body, code) in [
        (json!({"layout": "grid", "big": 2}), "not_live"),
        (json!({"layout": "grid", "big": 9}), "invalid_seat"),
        (json!({"layout": "mosaic"}), "invalid_request"),
        (json!({"big": 1}), "invalid_request"),
    ] {
        let (status, answer) = http.call(
            "PUT",
            "/api/v1/stream/stage",
            Some(&host),
            None,
            Some(body.clone()),
        );
        assert!(status == 400 || status == 409, "{body}: {status} {answer}");
        if code != "invalid_request" {
            assert_eq!(answer["code"], code, "{body}");
        }
    }
    assert_eq!(stage(&http, &host), before, "refusals change nothing");
    let (status, _) = http.call(
        "PUT",
        "/api/v1/stream/stage",
        Some(&shopper),
        None,
        Some(json!({"layout": "grid"})),
    );
    assert_eq!(status, 403);

    // Revoking: once; then unknown ids and repeats are refused.
    let (id, _) = keys[1];
    let path = format!("/api/v1/stream/co-hosts/{id}");
    let (status, _) = http.call("DELETE", &path, Some(&co_host_account), None, None);
    assert_eq!(status, 403);
    let (status, _) = http.call("DELETE", &path, Some(&host), None, None);
    assert_eq!(status, 204);
    let (_, list) = http.call("GET", "/api/v1/stream/co-hosts", Some(&host), None, None);
    assert_eq!(list["co_hosts"].as_array().unwrap().len(), 3);
    let (status, body) = http.call("DELETE", &path, Some(&host), None, None);
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("already_revoked"))
    );
    let (status, body) = http.call(
        "DELETE",
        "/api/v1/stream/co-hosts/12345",
        Some(&host),
        None,
        None,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("co_host_not_found"))
    );
    let (status, body) = http.call(
        "DELETE",
        "/api/v1/stream/co-hosts/not-a-number",
        Some(&host),
        None,
        None,
    );
    assert_eq!(status, 400, "{body}");
    // The freed seat takes the next invitation.
    let (status, body) = invite(&http, &host, json!({"name": "Eve"}));
    assert_eq!(
        (status, body["co_host"]["seat"].as_u64()),
        (201, Some(2)),
        "{body}"
    );
}

#[test]
fn two_publishers_are_composed_side_by_side_and_a_revoked_key_is_refused() {
    let _one = crate::media::serial();
    let server = TestServer::start_with_stage(2);
    let http = Http::new(&server);
    let host = server.sign_in_as("mara", Role::Host);
    let (status, body) = invite(&http, &host, json!({"name": "Ada"}));
    assert_eq!(status, 201, "{body}");
    let co_id = body["co_host"]["id"].as_i64().unwrap();
    let co_url = body["co_host"]["srt_url"].as_str().unwrap().to_owned();
    let co_key = body["stream_key"].as_str().unwrap().to_owned();
    let (_, ingest) = http.call("GET", "/api/v1/stream/ingest", Some(&host), None, None);
    let host_url = ingest["srt_url"].as_str().unwrap().to_owned();
    let host_key = ingest["stream_key"].as_str().unwrap().to_owned();

    let _red = publish(&host_url, &host_key, RED);
    let blue = publish(&co_url, &co_key, BLUE);
    assert!(
        step_until(Duration::from_secs(20), || live_seats(&stage(&http, &host))
            == [0, 1]),
        "both never live: {}",
        stage(&http, &host)
    );
    // The co-host in the big slot, on the left.
    let (status, view) = http.call(
        "PUT",
        "/api/v1/stream/stage",
        Some(&host),
        None,
        Some(json!({"layout": "side_by_side", "big": 1})),
    );
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["shown"], "side_by_side");
    // The host's tag is the host's name now.
    assert!(
        view["seats"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["seat"] == 0 && s["name"] == "mara")
    );

    let (_, stream) = http.call("GET", "/api/v1/stream", None, None, None);
    let player = Player::start(
        stream["srt"].as_str().unwrap(),
        PlayerOptions {
            audio: AudioOutput::Silent,
            ..Default::default()
        },
    )
    .expect("player");
    let mut seen = ("none", "none");
    assert!(
        step_until(Duration::from_secs(30), || {
            if let Some(f) = player.take_frame() {
                seen = (
                    colour_at(&f, f.width / 4, f.height / 2),
                    colour_at(&f, 3 * f.width / 4, f.height / 2),
                );
            }
            seen == ("blue", "red")
        }),
        "the viewer saw {seen:?}"
    );

    // A second publisher into the live seat is refused.
    let refused = stage(&http, &host)["refused"].as_u64().unwrap();
    let second = publish(&co_url, &co_key, RED);
    assert!(
        step_until(Duration::from_secs(15), || stage(&http, &host)["refused"]
            .as_u64()
            .unwrap()
            > refused),
        "a second publisher was let in"
    );
    drop(second);

    // Revoked while live: off the stage at once, the host alone and whole.
    let (status, _) = http.call(
        "DELETE",
        &format!("/api/v1/stream/co-hosts/{co_id}"),
        Some(&host),
        None,
        None,
    );
    assert_eq!(status, 204);
    assert!(
        step_until(Duration::from_secs(10), || live_seats(&stage(&http, &host))
            == [0]),
        "the revoked co-host stayed live"
    );
    assert_eq!(stage(&http, &host)["shown"], "solo");
    assert!(
        step_until(Duration::from_secs(30), || {
            if let Some(f) = player.take_frame() {
                seen = (
                    colour_at(&f, f.width / 4, f.height / 2),
                    colour_at(&f, 3 * f.width / 4, f.height / 2),
                );
            }
            seen == ("red", "red")
        }),
        "the viewer saw {seen:?}"
    );
    drop(blue);
    // The seat goes to someone new: the revoked key opens nothing, the new
    // one does (so the revoked publisher is really gone from it).
    let (status, body) = invite(&http, &host, json!({"name": "Ben"}));
    assert_eq!(
        (status, body["co_host"]["seat"].as_u64()),
        (201, Some(1)),
        "{body}"
    );
    let new_key = body["stream_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, co_key);
    let refused = |http: &Http| stage(http, &host)["refused"].as_u64().unwrap();
    let before = refused(&http);
    let old = publish(&co_url, &co_key, BLUE);
    assert!(
        step_until(Duration::from_secs(15), || refused(&http) > before),
        "the revoked key was let in"
    );
    drop(old);
    assert_eq!(live_seats(&stage(&http, &host)), [0]);
    let _ben = publish(&co_url, &new_key, BLUE);
    assert!(
        step_until(Duration::from_secs(20), || live_seats(&stage(&http, &host))
            == [0, 1]),
        "the new co-host never went live: {}",
        stage(&http, &host)
    );
}

#[test]
fn a_co_host_publishes_over_rtmp_with_the_url_and_key_from_the_invitation() {
    let _one = crate::media::serial();
    let server = TestServer::start_with_stage_and_rtmp(1);
    let http = Http::new(&server);
    let host = server.sign_in_as("mara", Role::Host);
    let (status, body) = invite(&http, &host, json!({"name": "Ada"}));
    assert_eq!(status, 201, "{body}");
    let key = body["stream_key"].as_str().unwrap().to_owned();
    // RTMP on the seat's port number, as OBS's "Server".
    let srt_url = body["co_host"]["srt_url"].as_str().unwrap();
    let rtmp_url = body["co_host"]["rtmp_url"].as_str().unwrap().to_owned();
    assert_eq!(
        rtmp_url,
        format!("{}/live", srt_url.replace("srt://", "rtmp://")),
        "{body}"
    );
    let (_, list) = http.call("GET", "/api/v1/stream/co-hosts", Some(&host), None, None);
    assert_eq!(list["co_hosts"][0]["rtmp_url"], rtmp_url.as_str());
    assert!(
        !list.to_string().contains(&key),
        "a key leaked into the list"
    );

    // Pushes to `rtmp_url/name` again whenever the push ends (the bridge
    // serves one publisher at a time), until `done`.
    let push_until = |name: &str, cap: Duration, done: &dyn Fn() -> bool| {
        let mut push: Option<Killed> = None;
        let mut started = std::time::Instant::now();
        let ok = step_until(cap, || {
            let ended = push
                .as_mut()
                .is_none_or(|p| !matches!(p.0.try_wait(), Ok(None)));
            // Not more often than every 300 ms while the bridge respawns.
            if ended && (push.is_none() || started.elapsed() > Duration::from_millis(300)) {
                push = Some(Killed(ffmpeg_push(&format!("{rtmp_url}/{name}"), "flv")));
                started = std::time::Instant::now();
            }
            done()
        });
        ok.then_some(push).flatten()
    };
    let refused = || stage(&http, &host)["refused"].as_u64().unwrap();

    // The show's own key is not this seat's: refused, nobody live.
    let (_, ingest) = http.call("GET", "/api/v1/stream/ingest", Some(&host), None, None);
    let before = refused();
    push_until(
        ingest["stream_key"].as_str().unwrap(),
        Duration::from_secs(20),
        &|| refused() > before,
    )
    .expect("the host's key refused in a co-host's RTMP seat");
    assert!(live_seats(&stage(&http, &host)).is_empty());

    // The co-host's own key: live in seat 1.
    let pushing = push_until(&key, Duration::from_secs(30), &|| {
        live_seats(&stage(&http, &host)) == [1]
    });
    assert!(
        pushing.is_some(),
        "never live over RTMP: {}",
        stage(&http, &host)
    );
    let (_, list) = http.call("GET", "/api/v1/stream/co-hosts", Some(&host), None, None);
    assert_eq!(list["co_hosts"][0]["live"], true);
}
