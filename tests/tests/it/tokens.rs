//! Connect tokens the game server must refuse: signed with the wrong key,
//! expired, issued for another server address, or for another protocol
//! version. A good token made the same way connects, so the test can fail.

use rand::RngCore;
use renetcode::ConnectToken;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vitrine_client::net::NetClient;
use vitrine_shared::{AccountId, DisplayName, PROTOCOL_ID, Role, RoomId, TokenUserData};
use vitrine_tests::{TestServer, pump, step_until};

struct Recipe {
    key: [u8; 32],
    protocol_id: u64,
    created: Duration,
    expire_secs: u64,
    signed_for: SocketAddr,
    user_data: [u8; 256],
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

fn user_data(name: &str) -> [u8; 256] {
    TokenUserData {
        account: AccountId(rand::random::<u64>() >> 1),
        role: Role::Shopper,
        room: RoomId::new("hall").unwrap(),
        name: DisplayName::new(name).unwrap(),
    }
    .to_bytes()
    .unwrap()
}

fn good(server: &TestServer, name: &str) -> Recipe {
    Recipe {
        key: server.netcode_key(),
        protocol_id: PROTOCOL_ID,
        created: now(),
        expire_secs: 30,
        signed_for: server.udp,
        user_data: user_data(name),
    }
}

/// Makes the token and points the client at the real server, whatever the
/// token was signed for.
fn client(server: &TestServer, r: &Recipe) -> NetClient {
    let mut token = ConnectToken::generate(
        r.created,
        r.protocol_id,
        r.expire_secs,
        rand::random(),
        1, // give up after a second of silence
        vec![r.signed_for],
        Some(&r.user_data),
        &r.key,
    )
    .unwrap();
    token.server_addresses = [None; 32];
    token.server_addresses[0] = Some(server.udp);
    NetClient::with_token(token).unwrap()
}

/// Steps until the client is welcomed (true) or gives up (false).
fn outcome(client: &mut NetClient) -> (bool, bool) {
    let mut ever_connected = false;
    step_until(Duration::from_secs(15), || {
        pump(&mut [&mut *client]);
        ever_connected |= client.is_connected();
        client.mirror().is_welcomed() || client.is_disconnected()
    });
    (client.mirror().is_welcomed(), ever_connected)
}

#[test]
fn a_good_token_made_here_connects() {
    let server = TestServer::start();
    let mut c = client(&server, &good(&server, "Control"));
    let (welcomed, _) = outcome(&mut c);
    assert!(welcomed, "{:?}", c.disconnect_reason());
    assert_eq!(server.metrics.clients.load(Ordering::Relaxed), 1);
}

#[test]
fn refuses_bad_tokens() {
    let server = TestServer::start();
    let mut wrong_key = [0u8; 32];
    rand::rng().fill_bytes(&mut wrong_key);
    let cases = [
        (
            "wrong key",
            Recipe {
                key: wrong_key,
                ..good(&server, "A")
            },
        ),
        (
            "expired",
            Recipe {
                created: now() - Duration::from_secs(120),
                expire_secs: 30,
                ..good(&server, "B")
            },
        ),
        (
            "another server's address",
            Recipe {
                signed_for: "127.0.0.1:9".parse().unwrap(),
                ..good(&server, "C")
            },
        ),
        (
            "wrong protocol id",
            Recipe {
                protocol_id: PROTOCOL_ID ^ 1,
                ..good(&server, "D")
            },
        ),
    ];
    for (what, recipe) in cases {
        let mut c = client(&server, &recipe);
        let (welcomed, ever_connected) = outcome(&mut c);
        assert!(!welcomed && !ever_connected, "{what}: the server let it in");
        assert!(c.is_disconnected(), "{what}: still trying");
        assert_eq!(server.metrics.clients.load(Ordering::Relaxed), 0, "{what}");
    }
    assert_eq!(server.directory.total_members(), 0);
}

#[test]
fn refuses_a_validly_signed_token_with_garbage_user_data() {
    // Only a holder of the key could make one; the server still checks.
    let server = TestServer::start();
    let mut recipe = good(&server, "E");
    recipe.user_data = [0xAB; 256];
    let mut c = client(&server, &recipe);
    let (welcomed, _) = outcome(&mut c);
    assert!(!welcomed);
    assert!(step_until(Duration::from_secs(10), || {
        pump(&mut [&mut c]);
        c.is_disconnected()
    }));
    assert_eq!(server.metrics.rejected("bad_user_data"), 1);
    assert_eq!(server.directory.total_members(), 0);
}
