//! The room over a bad link: every game datagram passes through the lossy
//! proxy (`vitrine_tests::lossy`) at 200 ms ± 20 ms each way, 5% lost, 1%
//! duplicated, 1% reordered. Reliable commands apply exactly once, avatars
//! converge, and a claim made during a loss burst is settled once.

use serde_json::json;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;
use vitrine_client::net::{NetClient, SignedIn};
use vitrine_server::config::RateConfig;
use vitrine_shared::api::{CartView, FlashSaleView, OrderList, PollView};
use vitrine_shared::{ChatText, PoseNet, Role, RoomCommand, SaleId, Sku};
use vitrine_tests::lossy::{DirectionCounts, Faults, LossyProxy};
use vitrine_tests::{Http, TestServer, free_udp_port, pump_all, step_until};

/// A server whose game port is reached only through a proxy with
/// `faults`: connect tokens name the proxy.
fn behind_a_bad_link(faults: Faults) -> (TestServer, LossyProxy) {
    behind(|game| LossyProxy::start(game, faults).expect("proxy"))
}

fn behind(proxy: impl FnOnce(SocketAddr) -> LossyProxy) -> (TestServer, LossyProxy) {
    let port = free_udp_port();
    let game: SocketAddr = ([127, 0, 0, 1], port).into();
    let proxy = proxy(game);
    let public = proxy.addr();
    let server = TestServer::start_with(|c| {
        c.udp = game;
        c.public_addr = Some(public);
        // The test sends faster than a person types.
        c.chat = RateConfig {
            per_second: 1000.0,
            burst: 1000,
        };
    });
    (server, proxy)
}

/// Signed in and joined through the proxy; connecting over the bad link
/// takes a few round trips.
fn shoppers(server: &TestServer, names: &[&str]) -> (Vec<SignedIn>, Vec<NetClient>) {
    let api = server.api();
    let sessions: Vec<SignedIn> = names.iter().map(|n| api.sign_in(n).unwrap()).collect();
    let mut clients: Vec<NetClient> = Vec::new();
    for session in &sessions {
        let ticket = api.join(session, "hall").expect("join ticket");
        clients.push(NetClient::connect(&ticket).expect("connect"));
        let started = std::time::Instant::now();
        // The welcome carries the room and the catalog in many fragments,
        // each at risk on this link: allow it more than a clean link's 10 s.
        let settled = step_until(Duration::from_secs(60), || {
            pump_all(&mut clients);
            let c = clients.last().unwrap();
            c.mirror().is_welcomed() || c.is_disconnected()
        });
        assert!(
            settled && clients.last().unwrap().mirror().is_welcomed(),
            "{} was not welcomed: {:?}",
            session.display_name,
            clients.last().unwrap().disconnect_reason()
        );
        eprintln!(
            "{} welcomed over the bad link in {:?}",
            session.display_name,
            started.elapsed()
        );
    }
    (sessions, clients)
}

fn start_sale(http: &Http, host: &str, sku: &str, quantity: i64) -> FlashSaleView {
    let body = json!({
        "sku": sku, "sale_price_minor": 990, "currency": "EUR", "quantity": quantity,
        "per_buyer_limit": 1, "countdown_secs": 10, "duration_secs": 300,
    });
    let (status, body) = http.call("POST", "/api/v1/flash-sales", Some(host), None, Some(body));
    assert_eq!(status, 201, "{body}");
    serde_json::from_value(body).unwrap()
}

fn sale_live(http: &Http, sale: SaleId, clients: &mut [NetClient]) -> bool {
    step_until(Duration::from_secs(40), || {
        pump_all(clients);
        let (_, body) = http.call(
            "GET",
            &format!("/api/v1/flash-sales/{sale}"),
            None,
            None,
            None,
        );
        body["state"] == "live"
    })
}

fn orders(http: &Http, token: &str) -> OrderList {
    let (status, body) = http.call("GET", "/api/v1/orders", Some(token), None, None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

/// Enough frames for any late duplicate to arrive: several round trips of
/// the bad link (its delays plus renet's resend interval).
fn linger(clients: &mut [NetClient]) {
    for _ in 0..150 {
        pump_all(clients);
        std::thread::sleep(vitrine_tests::FRAME);
    }
}

fn faults_happened(proxy: &LossyProxy) {
    let get = DirectionCounts::get;
    let c = proxy.counts();
    for (way, d) in [("up", &c.up), ("down", &c.down)] {
        assert!(
            get(&d.dropped) > 0 && get(&d.forwarded) > 100,
            "{way}: the link really lost datagrams ({:?})",
            d
        );
    }
    assert!(
        get(&c.up.duplicated) + get(&c.down.duplicated) > 0,
        "some datagrams came twice"
    );
    assert!(
        get(&c.up.reordered) + get(&c.down.reordered) > 0,
        "some were overtaken"
    );
}

#[test]
fn reliable_commands_apply_exactly_once_over_a_bad_link() {
    let (server, proxy) = behind_a_bad_link(Faults::bad_mobile(21));
    let http = Http::new(&server);
    let host = server.sign_in_as("host.lossy", Role::Host);
    let names = ["Ada", "Bo", "Cy"];
    let (sessions, mut clients) = shoppers(&server, &names);

    let (status, body) = http.call(
        "POST",
        "/api/v1/polls",
        Some(&host),
        None,
        Some(
            json!({ "question": "Sage or oat?", "options": ["Sage", "Oat"], "duration_secs": 300 }),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let poll: PollView = serde_json::from_value(body).unwrap();
    let sale = start_sale(&http, &host, "canvas-tote-navy", 10);
    assert!(sale_live(&http, sale.id, &mut clients), "the sale opened");
    assert!(
        step_until(Duration::from_secs(20), || {
            pump_all(&mut clients);
            clients
                .iter()
                .all(|c| c.mirror().polls.contains_key(&poll.id))
        }),
        "the poll reached everyone"
    );

    // Each shopper, a few commands per frame: ten chat lines, three single
    // units added to the cart, one vote and one claim.
    let mug = Sku::new("stoneware-mug-sage").unwrap();
    for round in 0..10 {
        for (i, client) in clients.iter_mut().enumerate() {
            let text = ChatText::new(format!("{} line {round}", names[i])).unwrap();
            client.send_command(RoomCommand::Chat(text));
            if round < 3 {
                client.send_command(RoomCommand::AddToCart {
                    sku: mug.clone(),
                    quantity: 1,
                });
            }
            if round == 4 {
                client.send_command(RoomCommand::Vote {
                    poll_id: poll.id,
                    option: (i % 2) as u8,
                });
                client.send_command(RoomCommand::ClaimFlashSale {
                    sale_id: sale.id,
                    quantity: 1,
                });
            }
        }
        pump_all(&mut clients);
    }
    let all_arrived = step_until(Duration::from_secs(60), || {
        pump_all(&mut clients);
        clients.iter().all(|c| {
            let m = c.mirror();
            m.chat.len() >= 30
                && m.claims.len() == 1
                && m.cart.iter().any(|l| l.sku == mug && l.quantity >= 3)
                && m.polls[&poll.id].counts.iter().sum::<u32>() >= 3
        })
    });
    assert!(
        all_arrived,
        "chat {:?}, claims {:?}, rejections {:?}",
        clients
            .iter()
            .map(|c| c.mirror().chat.len())
            .collect::<Vec<_>>(),
        clients
            .iter()
            .map(|c| c.mirror().claims.len())
            .collect::<Vec<_>>(),
        clients[0].mirror().rejections
    );
    linger(&mut clients);

    // Chat: every line once, in one order for everyone.
    let reference: Vec<(u64, String)> = clients[0]
        .mirror()
        .chat
        .iter()
        .map(|l| (l.seq, l.text.to_string()))
        .collect();
    assert_eq!(reference.len(), 30, "each line exactly once");
    let texts: HashSet<&str> = reference.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts.len(), 30);
    for client in &clients[1..] {
        let seen: Vec<(u64, String)> = client
            .mirror()
            .chat
            .iter()
            .map(|l| (l.seq, l.text.to_string()))
            .collect();
        assert_eq!(seen, reference, "the same lines in the same order");
    }
    // The vote counted once each; the cart and the claim as the server
    // keeps them, read over HTTP (not through the bad link).
    let (_, body) = http.call(
        "GET",
        &format!("/api/v1/polls/{}", poll.id),
        None,
        None,
        None,
    );
    let after: PollView = serde_json::from_value(body).unwrap();
    assert_eq!(after.counts, [2, 1], "one vote each");
    for (session, client) in sessions.iter().zip(&clients) {
        let (_, body) = http.call("GET", "/api/v1/cart", Some(&session.token), None, None);
        let cart: CartView = serde_json::from_value(body).unwrap();
        let mugs: i64 = cart
            .lines
            .iter()
            .filter(|l| l.sku == mug)
            .map(|l| l.quantity)
            .sum();
        assert_eq!(mugs, 3, "{}: three adds, three units", session.display_name);
        assert_eq!(client.mirror().claims.len(), 1);
        assert!(
            client.mirror().rejections.is_empty(),
            "{}: no command refused (a repeated claim or vote would be): {:?}",
            session.display_name,
            client.mirror().rejections
        );
        assert_eq!(
            orders(&http, &session.token).orders.len(),
            1,
            "{}: one claim, one order",
            session.display_name
        );
    }
    let (_, body) = http.call(
        "GET",
        &format!("/api/v1/flash-sales/{}", sale.id),
        None,
        None,
        None,
    );
    let sale: FlashSaleView = serde_json::from_value(body).unwrap();
    assert_eq!(sale.sold, 3, "three claims, three units");
    faults_happened(&proxy);
}

#[test]
fn avatars_converge_over_a_bad_link() {
    let (server, proxy) = behind_a_bad_link(Faults::bad_mobile(17));
    let (_, mut clients) = shoppers(&server, &["Ada", "Bo", "Cy"]);
    assert!(step_until(Duration::from_secs(30), || {
        pump_all(&mut clients);
        clients.iter().all(|c| c.mirror().members.len() == 3)
    }));
    // Each walks at 1.5 m/s to its own target and stays there, sending its
    // pose every frame as the showroom does.
    let targets = [[3.0f32, 0.0, 2.0], [-4.0, 0.0, 1.5], [0.5, 0.0, -5.0]];
    let mut poses: Vec<PoseNet> = clients.iter().map(|c| c.mirror().spawn.unwrap()).collect();
    let names: Vec<String> = clients
        .iter()
        .map(|c| {
            let me = c.mirror().you.expect("a slot");
            c.mirror().members[&me].name.to_string()
        })
        .collect();
    let converged = step_until(Duration::from_secs(40), || {
        for (i, client) in clients.iter_mut().enumerate() {
            let p = &mut poses[i];
            let step = 1.5 * vitrine_tests::FRAME.as_secs_f32();
            let (dx, dz) = (targets[i][0] - p.position[0], targets[i][2] - p.position[2]);
            let dist = (dx * dx + dz * dz).sqrt();
            if dist <= step {
                p.position = targets[i];
            } else {
                p.position[0] += dx / dist * step;
                p.position[2] += dz / dist * step;
            }
            p.yaw = 1.0 + i as f32;
            client.send_pose(*p);
        }
        pump_all(&mut clients);
        clients.iter().all(|viewer| {
            viewer.mirror().members.values().all(|m| {
                let owner = names.iter().position(|n| *n == m.name.as_str()).unwrap();
                viewer.mirror().avatars.get(&m.slot).is_some_and(|pose| {
                    (0..3).all(|k| (pose.position[k] - targets[owner][k]).abs() <= 0.011)
                        && (pose.yaw - (1.0 + owner as f32)).abs() < 0.01
                })
            })
        })
    });
    assert!(
        converged,
        "poses did not converge: {:?}",
        clients[0].mirror().avatars
    );
    faults_happened(&proxy);
}

/// A claim whose datagrams are lost in a burst: once before it reaches the
/// server, once after (the answer and acks lost). Each is settled once:
/// one order and one answer, never two. The link here is slow (200 ms ±
/// 20 ms each way) but loses nothing at random, so which datagrams the
/// bursts take is certain; the other tests cover random loss.
#[test]
fn a_claim_in_a_loss_burst_is_settled_once() {
    let slow = Faults {
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        ..Faults::bad_mobile(5)
    };
    let (server, proxy) = behind_a_bad_link(slow);
    let http = Http::new(&server);
    let host = server.sign_in_as("host.burst", Role::Host);
    let (sessions, mut clients) = shoppers(&server, &["Ada", "Bo"]);
    let (ada, bo) = (&sessions[0].token, &sessions[1].token);
    let sale = start_sale(&http, &host, "canvas-tote-navy", 10);
    assert!(sale_live(&http, sale.id, &mut clients));

    // Ada's claim leaves during a 2 s blackout and never reaches the
    // server; renet sends it again after.
    proxy.blackout(Duration::from_secs(2));
    clients[0].send_command(RoomCommand::ClaimFlashSale {
        sale_id: sale.id,
        quantity: 1,
    });
    pump_all(&mut clients);
    assert!(step_until(Duration::from_secs(10), || {
        pump_all(&mut clients);
        !proxy.blacked_out()
    }));
    // Anything sent since is still 180 ms or more from the server.
    assert_eq!(orders(&http, ada).orders.len(), 0, "Ada's claim was lost");

    // Bo's claim reaches the server (200 ms away), but the blackout
    // starting 100 ms after it is sent swallows the answer and the acks,
    // so Bo's client sends the claim again.
    clients[1].send_command(RoomCommand::ClaimFlashSale {
        sale_id: sale.id,
        quantity: 1,
    });
    pump_all(&mut clients);
    let sent = std::time::Instant::now();
    assert!(step_until(Duration::from_secs(1), || {
        pump_all(&mut clients);
        sent.elapsed() >= Duration::from_millis(100)
    }));
    proxy.blackout(Duration::from_secs(2));
    let reached = step_until(Duration::from_secs(2), || {
        pump_all(&mut clients);
        orders(&http, bo).orders.len() == 1
    });
    assert!(
        reached && proxy.blacked_out(),
        "Bo's claim reached the server in the blackout"
    );
    assert!(
        clients[1].mirror().claims.is_empty(),
        "its answer did not reach Bo"
    );

    let settled = step_until(Duration::from_secs(60), || {
        pump_all(&mut clients);
        clients
            .iter()
            .all(|c| c.mirror().claims.len() + c.mirror().rejections.len() >= 1)
    });
    assert!(settled, "every claim got its answer");
    linger(&mut clients);
    for (session, client) in sessions.iter().zip(&clients) {
        let m = client.mirror();
        assert_eq!(
            (m.claims.len(), m.rejections.len()),
            (1, 0),
            "{}: one answer, a success, no second claim refused",
            session.display_name
        );
        assert_eq!(
            orders(&http, &session.token).orders.len(),
            1,
            "{}: one order",
            session.display_name
        );
    }
    let (_, body) = http.call(
        "GET",
        &format!("/api/v1/flash-sales/{}", sale.id),
        None,
        None,
        None,
    );
    let after: FlashSaleView = serde_json::from_value(body).unwrap();
    assert_eq!(after.sold, 2, "two claims, two units");
    assert!(
        DirectionCounts::get(&proxy.counts().up.blacked_out) > 0
            && DirectionCounts::get(&proxy.counts().down.blacked_out) > 0,
        "the bursts swallowed datagrams both ways"
    );
}

/// renetcode tells a client it is in with one keep-alive; lose it and the
/// client, dropping the payloads that follow, used to time out (one join
/// in twenty on a 5% link). The server now repeats it while the client's
/// connection response says it is still waiting.
#[test]
fn a_lost_welcome_keep_alive_does_not_strand_the_joiner() {
    const KEEP_ALIVE: u8 = 4;
    let mut lost = 0;
    let (server, proxy) = behind(|game| {
        LossyProxy::start_dropping(game, Faults::none(), move |towards_client, bytes| {
            let first = towards_client && lost == 0 && bytes[0] & 0x0F == KEEP_ALIVE;
            lost += usize::from(first);
            first
        })
        .expect("proxy")
    });
    let (_, clients) = shoppers(&server, &["Ada"]);
    assert!(clients[0].mirror().is_welcomed());
    assert_eq!(
        DirectionCounts::get(&proxy.counts().down.dropped),
        1,
        "the keep-alive, and only it, was lost"
    );
}
