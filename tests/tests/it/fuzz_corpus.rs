//! The fuzz targets' corpora as plain tests on stable (no fuzzing here):
//! every file under `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`
//! goes through the function its target calls (the `fuzz_entry` modules),
//! so an input that once crashed a target stays fixed.
//! `cargo +nightly fuzz run <target>` does the fuzzing (`fuzz/`).
//!
//! `write_fuzz_seeds` (ignored) rewrites the seed files made from real
//! messages; the TOML seeds are copies of `assets/`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

type Entry = fn(&[u8]);

/// Each target and the function it calls: one list for the test and for
/// `fuzz/fuzz_targets/*.rs`.
const TARGETS: [(&str, Entry); 7] = [
    ("protocol", vitrine_shared::fuzz_entry::protocol),
    ("snapshot", vitrine_client::fuzz_entry::snapshot),
    ("http_json", vitrine_server::fuzz_entry::http_json),
    ("catalog_toml", vitrine_server::fuzz_entry::catalog_toml),
    ("rewards_toml", vitrine_server::fuzz_entry::rewards_toml),
    ("media_uri", vitrine_media::fuzz_entry::media_uri),
    ("netcode_packet", vitrine_server::fuzz_entry::netcode_packet),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_fuzz_corpus_and_regression_input_runs_without_a_panic() {
    let mut failures = Vec::new();
    for (target, entry) in TARGETS {
        let corpus = files(&fuzz_dir().join("corpus").join(target));
        // An empty corpus would make this test pass on nothing.
        assert!(
            corpus.len() >= 2,
            "fuzz/corpus/{target} has {} inputs",
            corpus.len()
        );
        let regressions = files(&fuzz_dir().join("regressions").join(target));
        for file in corpus.iter().chain(&regressions) {
            let data = std::fs::read(file).expect("a readable corpus file");
            if catch_unwind(AssertUnwindSafe(|| entry(&data))).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(failures.is_empty(), "inputs that panicked: {failures:#?}");
}

/// `[kind][length: u16 LE][bytes]`, the framing of the `snapshot` and
/// `netcode_packet` targets.
fn frame(out: &mut Vec<u8>, kind: u8, bytes: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&u16::try_from(bytes.len()).expect("short").to_le_bytes());
    out.extend_from_slice(bytes);
}

#[test]
#[ignore = "rewrites fuzz/corpus seeds; run by hand"]
fn write_fuzz_seeds() {
    use vitrine_shared::pose::PoseDeltaQ;
    use vitrine_shared::protocol::{
        AvatarFull, ChatLine, InputMessage, MemberInfo, MovedAvatars, RoomEvent, Snapshot,
    };
    use vitrine_shared::{
        AccountId, ChatText, ClientMessage, DisplayName, MemberSlot, PoseNet, PoseQ, Reaction,
        Role, RoomCommand, ServerMessage, encode,
    };

    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };

    // protocol: real messages of both directions.
    let chat = ChatText::new("hello, room").unwrap();
    let client = [
        ClientMessage::Room(RoomCommand::Chat(chat.clone())),
        ClientMessage::Room(RoomCommand::React(Reaction::ALL[0])),
        ClientMessage::Input(InputMessage {
            seq: 7,
            ack_snapshot: Some(3),
            pose: PoseNet::at([1.0, 0.0, -2.0], 0.5),
        }),
    ];
    for (i, m) in client.iter().enumerate() {
        write("protocol", &format!("client-{i}"), &encode(m).unwrap());
    }
    let q = |x: i16| PoseQ {
        position: [x, 0, 0],
        yaw: 0,
        xr: None,
    };
    let full = Snapshot {
        tick: 1,
        baseline: None,
        full: vec![
            AvatarFull {
                slot: MemberSlot(0),
                pose: q(100),
            },
            AvatarFull {
                slot: MemberSlot(1),
                pose: q(200),
            },
        ],
        moved: MovedAvatars::default(),
        moved_xr: vec![],
    };
    let mut moved = MovedAvatars::default();
    moved
        .push(MemberSlot(1), PoseDeltaQ { x: 5, z: 0, yaw: 0 })
        .unwrap();
    let delta = Snapshot {
        tick: 2,
        baseline: Some(1),
        full: vec![],
        moved,
        moved_xr: vec![],
    };
    let joined = ServerMessage::Room(RoomEvent::MemberJoined(MemberInfo {
        slot: MemberSlot(5),
        account: AccountId(105),
        name: DisplayName::new("m5").unwrap(),
        role: Role::Shopper,
    }));
    let server = [
        ServerMessage::Snapshot(full.clone()),
        ServerMessage::Room(RoomEvent::Chat(ChatLine {
            from: MemberSlot(1),
            name: DisplayName::new("m1").unwrap(),
            text: chat,
            seq: 1,
        })),
        joined.clone(),
    ];
    for (i, m) in server.iter().enumerate() {
        write("protocol", &format!("server-{i}"), &encode(m).unwrap());
    }

    // snapshot: a full snapshot, then a delta against it, then a member
    // joining and a snapshot with them.
    let mut run = Vec::new();
    frame(&mut run, 0, &encode(&full).unwrap());
    frame(&mut run, 0, &encode(&delta).unwrap());
    write("snapshot", "full-then-delta", &run);
    frame(&mut run, 1, &encode(&joined).unwrap());
    let with_joined = Snapshot {
        tick: 3,
        baseline: Some(2),
        full: vec![AvatarFull {
            slot: MemberSlot(5),
            pose: q(-300),
        }],
        moved: MovedAvatars::default(),
        moved_xr: vec![],
    };
    frame(&mut run, 0, &encode(&with_joined).unwrap());
    write("snapshot", "delta-then-join", &run);

    // http_json: one valid body per type, by its index.
    let bodies: [(&str, &str); 26] = [
        ("CreateSession", r#"{"display_name":"Ada"}"#),
        ("AddToCart", r#"{"sku":"glow-serum-30ml","quantity":1}"#),
        ("SetCartQuantity", r#"{"quantity":2}"#),
        (
            "CheckoutRequest",
            r#"{"card":"tok_visa","coupon":"SAVE10"}"#,
        ),
        ("PayRequest", r#"{"card":"tok_visa"}"#),
        ("RefundRequest", r#"{"reason":"damaged"}"#),
        (
            "StartFlashSale",
            r#"{"sku":"glow-serum-30ml","sale_price_minor":999,"currency":"EUR","quantity":10,"per_buyer_limit":1,"countdown_secs":5,"duration_secs":60}"#,
        ),
        ("ClaimRequest", r#"{"quantity":1}"#),
        (
            "CreateCoupon",
            r#"{"code":"SAVE10","percent_off":10,"currency":"EUR","min_order_minor":0,"ends_at_ms":4102444800000}"#,
        ),
        ("PinCoupon", r#"{"code":"SAVE10"}"#),
        (
            "CreateProduct",
            r#"{"id":"glow-serum","name":"Glow serum","category":"beauty","price":"24.00","currency":"EUR","model":"models/serum.glb","variants":[{"sku":"glow-serum-30ml","options":{"size":"30 ml"},"stock":10}]}"#,
        ),
        (
            "ProductInput",
            r#"{"name":"Glow serum","category":"beauty","price":"24.00","currency":"EUR","model":"models/serum.glb","variants":[{"sku":"glow-serum-30ml","options":{"size":"30 ml"},"price":"20.00","stock":10}]}"#,
        ),
        ("StartShow", r#"{"title":"Spring","lineup":["glow-serum"]}"#),
        ("FeatureProducts", r#"{"products":["glow-serum"]}"#),
        (
            "CreatePoll",
            r#"{"question":"Which?","options":["a","b"],"duration_secs":60}"#,
        ),
        ("VoteRequest", r#"{"option":1}"#),
        ("AskQuestion", r#"{"text":"Does it ship abroad?"}"#),
        (
            "CreateGiveaway",
            r#"{"prize":"A serum","entry":"present","present_minutes":5,"closes_in_secs":600}"#,
        ),
        ("RedeemRequest", r#"{"reward":"coupon-20"}"#),
        ("MuteRequest", r#"{"seconds":60,"reason":"spam"}"#),
        ("KickRequest", r#"{"account_id":42,"reason":"spam"}"#),
        ("BanRequest", r#"{"reason":"spam"}"#),
        ("FilterRequest", r#"{"terms":["spam"]}"#),
        (
            "CreateGroupDeal",
            r#"{"sku":"glow-serum-30ml","team_size":3,"team_price_minor":1500,"currency":"EUR","window_secs":600,"stock_cap":30}"#,
        ),
        ("JoinTeamRequest", r#"{"card":"4242424242424242"}"#),
        ("SendFriendRequest", r#"{"code":"K7QM-3XPD"}"#),
    ];
    for (i, (name, json)) in bodies.iter().enumerate() {
        assert_eq!(vitrine_server::fuzz_entry::HTTP_BODIES[i], *name);
        let mut data = vec![u8::try_from(i).unwrap()];
        data.extend_from_slice(json.as_bytes());
        assert!(
            vitrine_server::fuzz_entry::http_body_parses(&data),
            "{name}"
        );
        write("http_json", &format!("{i:02}-{name}"), &data);
    }

    // The TOML loaders: the repository's own files, and a small one.
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
    let catalog = std::fs::read(assets.join("catalog.toml")).unwrap();
    write("catalog_toml", "assets-catalog.toml", &catalog);
    let rewards = std::fs::read(assets.join("rewards.toml")).unwrap();
    write("rewards_toml", "assets-rewards.toml", &rewards);
    let small_catalog = r#"currency = "EUR"

[[products]]
id = "glow-serum"
name = "Glow serum"
category = "beauty"
price = "24.90"
model = "models/glow-serum.glb"
size_mm = [32, 110, 32]

[[products.variants]]
sku = "glow-serum-30ml"
options = { size = "30 ml" }
stock = 400
"#;
    vitrine_server::catalog::parse_catalog(small_catalog).unwrap();
    write("catalog_toml", "small.toml", small_catalog.as_bytes());
    // Only the grants a file must have, as the loader reports them missing.
    let small_rewards = "idle_after_secs = 120\ngiveaway_claim_hours = 48\n\n[points.watch]\npoints = 2\nmax_per_hour = 120\n";
    write("rewards_toml", "small.toml", small_rewards.as_bytes());

    // media_uri: the URL shapes the player and the relay take.
    for (i, uri) in [
        "srt://127.0.0.1:9000",
        "srt://[::1]:9000",
        "srt://relay.example:7001",
        "rtmp://127.0.0.1/live/key",
        "file:///tmp/show.mp4",
        "http://127.0.0.1:8080/hls/room/index.m3u8",
    ]
    .iter()
    .enumerate()
    {
        write("media_uri", &format!("uri-{i}"), uri.as_bytes());
    }

    // netcode_packet: a connection request made with a token signed by the
    // target's key (the server answers with a challenge), and a garbage
    // datagram from another source.
    use renetcode::{ClientAuthentication, ConnectToken, NetcodeClient};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    use vitrine_server::fuzz_entry::{
        NETCODE_FUZZ_ADDR, NETCODE_FUZZ_KEY, NETCODE_FUZZ_PROTOCOL_VERSION,
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    // A century: the seed stays a valid request for as long as it is kept.
    let token = ConnectToken::generate(
        now,
        vitrine_shared::protocol::protocol_id(NETCODE_FUZZ_PROTOCOL_VERSION),
        100 * 365 * 24 * 3600,
        77,
        15,
        vec![NETCODE_FUZZ_ADDR],
        None,
        &NETCODE_FUZZ_KEY,
    )
    .unwrap();
    let mut client = NetcodeClient::new(
        now,
        ClientAuthentication::Secure {
            connect_token: token,
        },
    )
    .unwrap();
    let (request, _) = client.update(Duration::ZERO).expect("a connection request");
    let request = request.to_vec();
    let mut data = Vec::new();
    frame(&mut data, 0, &request);
    write("netcode_packet", "connection-request", &data);
    frame(&mut data, 1 | (20 << 2), &[0x41; 64]);
    frame(&mut data, 0, &request);
    write("netcode_packet", "request-garbage-replay", &data);
}
