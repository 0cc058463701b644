//! The host console in a real browser: Debian's Chromium, headless, driven
//! through chromedriver (WebDriver). A host signs in, goes live, features a
//! product that a shopper's client receives, starts a flash sale and
//! watches the counter fall as bots buy, and mutes a bot that spams.
//! Screenshots at desktop and phone width land in the test target dir (and
//! in `docs/` with `VITRINE_UPDATE_SCREENSHOTS=1`).

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vitrine_client::net::{NetClient, SignedIn};
use vitrine_shared::protocol::RejectReason;
use vitrine_shared::{ChatText, ProductId, Role, RoomCommand};
use vitrine_tests::{TestServer, joined_as, pump, update_docs_picture};

const PASSWORD: &str = "correct horse battery staple";

/// A chromedriver process on a free port, stopped on drop.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    fn start() -> Chromedriver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver (Debian's chromium-driver package; `cargo xtask test` installs it)",
            );
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Chromedriver { child, port }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Chromedriver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1280,1000",
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session")
}

/// Gives up on a step after this long.
const CAP: Duration = Duration::from_secs(30);

/// One frame of waiting: the room clients are pumped meanwhile.
async fn frame(clients: &mut [&mut NetClient], started: Instant, what: &str) {
    pump(clients);
    assert!(started.elapsed() < CAP, "timed out: {what}");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

async fn text(c: &Client, css: &str) -> Option<String> {
    c.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

async fn fill(c: &Client, id: &str, value: &str) {
    let field = c.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Clicks what `css` finds, finding it again while the page's 2-second
/// refresh has just replaced it (a stale element), a few times at most.
async fn click_fresh(c: &Client, css: &str) {
    for _ in 0..20 {
        let found = c.find(Locator::Css(css)).await.unwrap();
        match found.click().await {
            Ok(_) => return,
            Err(e) if e.is_stale_element_reference() => continue,
            Err(e) => panic!("{css}: {e}"),
        }
    }
    panic!("{css}: replaced under every click");
}

fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

async fn screenshot(c: &Client, width: u32, height: u32, name: &str) {
    c.set_window_size(width, height).await.unwrap();
    // The top of the page, with the layout and the chart redrawn at the new width.
    c.execute(
        "window.scrollTo(0, 0); window.dispatchEvent(new Event('resize'))",
        vec![],
    )
    .await
    .unwrap();
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = screenshot_path(name);
    std::fs::write(&path, &png).unwrap();
    update_docs_picture(&path, name);
}

#[test]
fn a_host_runs_the_show_from_the_console_in_a_real_browser() {
    let server = TestServer::start();
    server.sign_in_as("host.console", Role::Host);
    let api = server.api();
    let shoppers: Vec<SignedIn> = (0..6)
        .map(|i| api.sign_in(&format!("Shopper {i}")).unwrap())
        .collect();
    let spam_session = api.sign_in("Spammy").unwrap();
    let mut bots: Vec<NetClient> = shoppers
        .iter()
        .map(|s| joined_as(&server, s, "hall"))
        .collect();
    let mut spammer = joined_as(&server, &spam_session, "hall");
    let driver = Chromedriver::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let c = browser(&driver).await;
        let mut clients: Vec<&mut NetClient> = bots.iter_mut().collect();
        clients.push(&mut spammer);

        // Sign in.
        c.goto(&format!("{}/console", server.url())).await.unwrap();
        fill(&c, "username", "host.console").await;
        fill(&c, "password", PASSWORD).await;
        click(&c, "#sign-in").await;
        let t = Instant::now();
        while text(&c, "#feed-state").await.as_deref() != Some("live") {
            frame(&mut clients, t, "signed in, following the live feed").await;
        }

        // Go live: the page and the rooms hear it.
        fill(&c, "show-title-input", "Spring drop").await;
        click(&c, "#start-show").await;
        let t = Instant::now();
        while clients[0].mirror().show_live.as_deref() != Some("Spring drop")
            // Shown in capitals by the style sheet.
            || text(&c, "#show-status").await.map(|s| s.to_lowercase()).as_deref() != Some("live")
        {
            frame(&mut clients, t, "live on the page and in the room").await;
        }

        // Feature a product: a shopper's client receives it.
        click(&c, "#featured-products input[data-product='glow-serum']").await;
        click(&c, "#feature").await;
        let serum = ProductId::new("glow-serum").unwrap();
        let t = Instant::now();
        while clients[0].mirror().featured != [serum.clone()] {
            frame(&mut clients, t, "the featured product reaches the room").await;
        }

        // A flash sale of 5 for 6 shoppers: the counter falls to 0.
        c.find(Locator::Id("sale-sku"))
            .await
            .unwrap()
            .select_by_value("stoneware-mug-sage")
            .await
            .unwrap();
        fill(&c, "sale-price", "9.90").await;
        fill(&c, "sale-quantity", "5").await;
        fill(&c, "sale-limit", "1").await;
        fill(&c, "sale-countdown", "10").await;
        fill(&c, "sale-duration", "60").await;
        click(&c, "#start-sale").await;
        let mut seen: Vec<i64> = Vec::new();
        let mut tapped = false;
        let t = Instant::now();
        while seen.last() != Some(&0) {
            // Shoppers tap buy the moment the sale opens, as the bots do.
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64;
            let open = clients[0]
                .mirror()
                .flash_sales
                .values()
                .find(|s| s.starts_at_ms <= now_ms)
                .map(|s| s.id);
            if let (false, Some(sale_id)) = (tapped, open) {
                tapped = true;
                for shopper in clients.iter_mut().take(6) {
                    shopper.send_command(RoomCommand::ClaimFlashSale {
                        sale_id,
                        quantity: 1,
                    });
                }
            }
            if let Some(left) = text(&c, "#sales li .left").await
                && let Ok(left) = left.parse::<i64>()
                && seen.last() != Some(&left)
            {
                seen.push(left);
            }
            frame(&mut clients, t, "the counter reaches 0").await;
        }
        assert_eq!(seen.first(), Some(&5), "it started full: {seen:?}");
        assert!(
            seen.windows(2).all(|w| w[1] < w[0]),
            "it only fell: {seen:?}"
        );

        // A bot spams; the moderator mutes it from its chat line.
        let spam = |client: &mut NetClient, i: usize| {
            client.send_command(RoomCommand::Chat(
                ChatText::new(format!("BUY MY STUFF {i}")).unwrap(),
            ));
        };
        spam(clients[6], 0);
        let line = format!(
            "#chat-lines li[data-account='{}'] .mute",
            spam_session.account_id
        );
        let t = Instant::now();
        while c.find(Locator::Css(&line)).await.is_err() {
            frame(&mut clients, t, "the spam shows in the console's chat").await;
        }
        click(&c, &line).await;
        let t = Instant::now();
        let mut i = 1;
        while !clients[6]
            .mirror()
            .rejections
            .iter()
            .any(|r| matches!(r.reason, RejectReason::Muted { .. }))
        {
            if i < 20 {
                spam(clients[6], i);
                i += 1;
            }
            frame(&mut clients, t, "the spammer is muted").await;
        }

        screenshot(&c, 1280, 1000, "console-desktop.png").await;
        screenshot(&c, 390, 844, "console-phone.png").await;
        c.close().await.unwrap();
    });
}

/// A host sets a group deal from the console, and watches a team form and
/// fill as two shoppers start and join it from their room.
#[test]
fn a_host_sets_a_group_deal_in_the_console_and_sees_its_team_fill() {
    let server = TestServer::start();
    server.sign_in_as("host.deals", Role::Host);
    let api = server.api();
    let mut shoppers: Vec<NetClient> = ["Ivy", "Jo"]
        .iter()
        .map(|name| joined_as(&server, &api.sign_in(name).unwrap(), "hall"))
        .collect();
    let driver = Chromedriver::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let c = browser(&driver).await;
        let (ivy, jo) = shoppers.split_at_mut(1);
        let mut clients: Vec<&mut NetClient> = vec![&mut ivy[0], &mut jo[0]];
        c.goto(&format!("{}/console", server.url())).await.unwrap();
        fill(&c, "username", "host.deals").await;
        fill(&c, "password", PASSWORD).await;
        click(&c, "#sign-in").await;
        let t = Instant::now();
        while text(&c, "#feed-state").await.as_deref() != Some("live") {
            frame(&mut clients, t, "signed in").await;
        }

        c.find(Locator::Id("deal-sku"))
            .await
            .unwrap()
            .select_by_value("stoneware-mug-sage")
            .await
            .unwrap();
        fill(&c, "deal-price", "12.00").await;
        fill(&c, "deal-size", "2").await;
        fill(&c, "deal-cap", "10").await;
        click(&c, "#start-deal").await;
        let t = Instant::now();
        let deal = loop {
            if let Some(deal) = clients[0].mirror().group_deals.values().next() {
                break deal.clone();
            }
            frame(&mut clients, t, "the deal reaches the room").await;
        };
        assert_eq!(
            (deal.team_size, deal.team_price.minor, deal.units_left),
            (2, 1200, 10)
        );
        let card = || vitrine_shared::PaymentMethod::new("4242 4242 4242 4242").unwrap();
        clients[0].send_command(RoomCommand::StartTeam {
            deal: deal.id,
            request_id: 1,
            payment: card(),
        });
        let t = Instant::now();
        while !text(&c, "#deals li")
            .await
            .is_some_and(|s| s.contains("Teams: 1/2"))
        {
            frame(&mut clients, t, "the console shows the team forming").await;
        }
        let team = clients[0].mirror().team_answers[&1].clone().unwrap().id;
        clients[1].send_command(RoomCommand::JoinTeam {
            team,
            request_id: 1,
            payment: card(),
        });
        let t = Instant::now();
        while !text(&c, "#deals li")
            .await
            .is_some_and(|s| s.contains("2 sold") && s.contains("no team yet"))
        {
            frame(&mut clients, t, "the console shows the team filled").await;
        }
        // The card itself, for a look (in the test target dir).
        let card = c.find(Locator::Id("deal-card")).await.unwrap();
        let png = card.screenshot().await.unwrap();
        std::fs::write(screenshot_path("console-group-deal.png"), png).unwrap();
        c.close().await.unwrap();
    });
}

/// The console's numbers without a browser: the live dashboard (as JSON
/// and as the event stream the page follows) counts what happens in the
/// show, and the summary and CSV exports hold it afterwards.
#[test]
fn the_dashboard_summary_and_exports_follow_the_show() {
    use serde_json::Value;
    use std::io::{BufRead, BufReader};
    use vitrine_shared::api::{DashboardView, ShowSummary};
    use vitrine_tests::Http;

    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.numbers", Role::Host);
    let (status, show) = http.call(
        "POST",
        "/api/v1/shows",
        Some(&host),
        None,
        Some(json!({ "title": "Numbers night" })),
    );
    assert_eq!(status, 201, "{show}");
    let show_id = show["id"].as_i64().unwrap();
    let api = server.api();
    let (ada, bo) = (api.sign_in("Ada").unwrap(), api.sign_in("Bo").unwrap());
    let mut clients = [
        joined_as(&server, &ada, "hall"),
        joined_as(&server, &bo, "hall"),
    ];
    clients[1].send_command(RoomCommand::Chat(
        ChatText::new("=cmd, \"quoted\" and fine").unwrap(),
    ));
    let mug = ProductId::new("stoneware-mug").unwrap();
    clients[1].send_command(RoomCommand::ViewProduct {
        product: mug.clone(),
    });
    // Picked up and put back twice; a put-down of what is not in hand
    // (the third) counts for nothing.
    for held_ms in [4_000, 2_000] {
        clients[1].send_command(RoomCommand::Inspect {
            product: mug.clone(),
        });
        clients[1].send_command(RoomCommand::PutDownProduct {
            product: mug.clone(),
            held_ms,
        });
    }
    clients[1].send_command(RoomCommand::PutDownProduct {
        product: mug.clone(),
        held_ms: 60_000,
    });
    let (status, _) = http.call(
        "POST",
        "/api/v1/cart/items",
        Some(&ada.token),
        None,
        Some(json!({ "sku": "stoneware-mug-sage", "quantity": 2 })),
    );
    assert_eq!(status, 200);
    let (status, order) = http.call(
        "POST",
        "/api/v1/checkout",
        Some(&ada.token),
        Some("numbers"),
        Some(json!({ "card": "4242424242424242" })),
    );
    assert_eq!(status, 201, "{order}");

    // The dashboard catches up within a couple of its 1 s rounds.
    let started = Instant::now();
    let dashboard = loop {
        let mut refs: Vec<&mut NetClient> = clients.iter_mut().collect();
        pump(&mut refs);
        let (_, body) = http.call("GET", "/api/v1/console/dashboard", Some(&host), None, None);
        let d: DashboardView = serde_json::from_value(body).unwrap();
        let mug = d.products.iter().find(|p| p.product_id == "stoneware-mug");
        let counted = mug.is_some_and(|p| {
            (p.views, p.pickups, p.handling_ms, p.carts, p.units_sold) == (1, 2, 3_000, 1, 2)
        });
        if d.viewers == 2
            && d.orders == 1
            && d.add_to_carts == 1
            && d.chat_per_minute == 1
            && counted
        {
            break d;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{d:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(dashboard.show.as_ref().map(|s| s.id.get()), Some(show_id));
    assert_eq!(
        dashboard.sales.minor,
        order["total"]["minor"].as_i64().unwrap()
    );
    assert_eq!(dashboard.conversion_bp, 5_000, "1 buyer of 2 viewers");
    assert_eq!(dashboard.rooms.iter().map(|r| r.viewers).sum::<u32>(), 2);

    // The page's event stream carries the same dashboard.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    // It opens with a ticket, not the bearer token.
    let (status, ticket) = http.call("POST", "/api/v1/console/tickets", Some(&host), None, None);
    assert_eq!(status, 201, "{ticket}");
    let ticket = ticket["ticket"].as_str().unwrap();
    let mut response = agent
        .get(format!(
            "{}/api/v1/console/feed?ticket={ticket}",
            server.url()
        ))
        .call()
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut lines = BufReader::new(response.body_mut().as_reader()).lines();
    let mut event = None;
    while let Some(Ok(line)) = lines.next() {
        if line == "event: dashboard" {
            event = Some(());
        } else if let (Some(()), Some(data)) = (event, line.strip_prefix("data: ")) {
            let streamed: DashboardView = serde_json::from_str(data).unwrap();
            assert_eq!((streamed.orders, streamed.viewers), (1, 2));
            break;
        }
    }
    assert!(event.is_some(), "a dashboard event arrived");

    // After the show: the summary and the exports.
    let (status, _) = http.call("POST", "/api/v1/shows/current/end", Some(&host), None, None);
    assert_eq!(status, 200);
    let (status, body) = http.call(
        "GET",
        &format!("/api/v1/shows/{show_id}/summary"),
        Some(&host),
        None,
        None,
    );
    assert_eq!(status, 200, "{body}");
    let summary: ShowSummary = serde_json::from_value(body).unwrap();
    assert_eq!((summary.orders, summary.buyers), (1, 1));
    assert_eq!(summary.unique_viewers, 2);
    assert!(summary.peak_viewers >= 2);
    assert_eq!(summary.chat_lines, 1);
    assert_eq!(summary.top_products[0].product_id, "stoneware-mug");
    assert_eq!(summary.top_products[0].units, 2);

    let csv = |what: &str| -> String {
        let url = format!("{}/api/v1/shows/{show_id}/{what}.csv", server.url());
        let mut response = agent
            .get(url)
            .header("Authorization", format!("Bearer {host}"))
            .call()
            .unwrap();
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/csv; charset=utf-8"
        );
        response.body_mut().read_to_string().unwrap()
    };
    let orders = csv("orders");
    let rows: Vec<&str> = orders.lines().collect();
    assert!(rows[0].starts_with("order_id,created_at_ms,account_id,buyer,status"));
    assert_eq!(rows.len(), 2, "{orders}");
    assert!(
        rows[1].contains(",Ada,paid,cart,stoneware-mug-sage,2,"),
        "{}",
        rows[1]
    );
    let chat = csv("chat");
    assert!(
        chat.contains(",Bo,\"'=cmd, \"\"quoted\"\" and fine\""),
        "quoted, and defused as a formula: {chat}"
    );
    let value: Value = serde_json::to_value(&summary).unwrap();
    assert_eq!(value["show"]["status"], "ended");
}

/// Closes the browser when a test ends, passed or failed: a failed step
/// otherwise leaves Chromium (orphaned by chromedriver's end) holding the
/// console's event stream open, and the test server, waiting for it to
/// close, never stops: a failure would hang instead of failing.
struct Closer<'a>(&'a tokio::runtime::Runtime, Client);

impl Drop for Closer<'_> {
    fn drop(&mut self) {
        let _ = self.0.block_on(self.1.clone().close());
    }
}

/// Signs the console in as `user` and waits for the live feed.
async fn console_sign_in(
    c: &Client,
    server: &TestServer,
    user: &str,
    clients: &mut [&mut NetClient],
) {
    c.goto(&format!("{}/console", server.url())).await.unwrap();
    fill(c, "username", user).await;
    fill(c, "password", PASSWORD).await;
    click(c, "#sign-in").await;
    let t = Instant::now();
    while text(c, "#feed-state").await.as_deref() != Some("live") {
        frame(clients, t, "signed in, following the live feed").await;
    }
}

/// A card of the page, as a picture (in the test target dir, and in
/// `docs/` with `VITRINE_UPDATE_SCREENSHOTS=1`).
async fn card_picture(c: &Client, id: &str, name: &str) {
    c.execute(
        "document.getElementById(arguments[0]).scrollIntoView()",
        vec![json!(id)],
    )
    .await
    .unwrap();
    let card = c.find(Locator::Id(id)).await.unwrap();
    let png = card.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = screenshot_path(name);
    std::fs::write(&path, &png).unwrap();
    update_docs_picture(&path, name);
}

/// A host opens a giveaway from the console, sees shoppers (one in a room)
/// enter it by name, draws it now, and reads the winner and the proof
/// (checked in the browser); the shopper in the room hears the same winner.
#[test]
fn a_host_draws_a_giveaway_from_the_console_and_a_bot_sees_the_winner() {
    let server = TestServer::start();
    server.sign_in_as("host.giveaway", Role::Host);
    let api = server.api();
    let gus = api.sign_in("Gus Entrant").unwrap();
    let mut bot = joined_as(&server, &gus, "hall");
    // Six entrants, so that a wrong recomputation in the browser picks
    // someone else (5 times in 6) rather than the only entrant.
    let http = vitrine_tests::Http::new(&server);
    let others: Vec<String> = (1..=5)
        .map(|i| vitrine_tests::guest(&http, &format!("Fan {i}")))
        .collect();
    let driver = Chromedriver::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let c = runtime.block_on(browser(&driver));
    let _closer = Closer(&runtime, c.clone());
    runtime.block_on(async {
        let mut clients: Vec<&mut NetClient> = vec![&mut bot];
        console_sign_in(&c, &server, "host.giveaway", &mut clients).await;

        fill(&c, "giveaway-prize", "A signed mug").await;
        fill(&c, "giveaway-minutes", "10").await;
        click(&c, "#open-giveaway").await;
        let t = Instant::now();
        let id = loop {
            if let Some(id) = clients[0].mirror().giveaways.keys().next() {
                break *id;
            }
            frame(&mut clients, t, "the giveaway reaches the room").await;
        };
        clients[0].send_command(RoomCommand::EnterGiveaway { giveaway_id: id });
        for token in &others {
            let (status, body) = http.call(
                "POST",
                &format!("/api/v1/giveaways/{id}/entries"),
                Some(token),
                None,
                None,
            );
            assert_eq!(status, 200, "{body}");
        }
        let card = format!("#giveaway-{id}");
        let t = Instant::now();
        while text(&c, &format!("{card} .entrant-count")).await.as_deref() != Some("6")
            || !text(&c, &format!("{card} .entrants"))
                .await
                .is_some_and(|s| s.contains("Gus Entrant"))
        {
            frame(&mut clients, t, "the console lists the entrant by name").await;
        }
        assert!(
            text(&c, &card)
                .await
                .is_some_and(|s| s.contains("Everyone watching may enter")),
            "the entry rule in words"
        );

        click(&c, &format!("{card} .draw")).await;
        let t = Instant::now();
        while clients[0].mirror().draws.is_empty() {
            frame(&mut clients, t, "the room hears the draw").await;
        }
        let (drawn, _, winner, _) = clients[0].mirror().draws[0].clone();
        assert_eq!(drawn, id);
        let t = Instant::now();
        while !text(&c, &format!("{card} .winner"))
            .await
            .is_some_and(|s| s.contains(&format!("Winner: {winner}")))
        {
            frame(&mut clients, t, "the console shows the winner").await;
        }
        // The browser recomputed the draw from the seed and the entries.
        let verdict = text(&c, &format!("{card} .verdict.ok")).await;
        assert!(
            verdict
                .as_deref()
                .is_some_and(|v| v.contains("same winner")),
            "{verdict:?}"
        );
        card_picture(&c, "giveaway-card", "console-giveaways.png").await;
        c.close().await.unwrap();
    });
}

/// Orders from the console: a paid order shipped, delivered and refunded
/// with a reason (each checked over HTTP), a refund another host made
/// meanwhile refused in words; the page shows names and states in words,
/// never a slug or `sold_out`; the chart has its axes and a bar once an
/// order is paid.
#[test]
fn a_host_ships_delivers_and_refunds_from_the_console_which_reads_in_words() {
    use vitrine_tests::Http;
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.orders", Role::Host);
    let api = server.api();
    let hal = api.sign_in("Hal Buyer").unwrap();
    let mut bot = joined_as(&server, &hal, "hall");
    let call = |method: &str,
                path: &str,
                token: &str,
                key: Option<&str>,
                body: Option<serde_json::Value>| {
        http.call(method, path, Some(token), key, body)
    };
    let (status, body) = call(
        "POST",
        "/api/v1/shows",
        &host,
        None,
        Some(json!({ "title": "Orders night" })),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        "PUT",
        "/api/v1/shows/current/featured",
        &host,
        None,
        Some(json!({ "products": ["glow-serum"] })),
    );
    assert_eq!(status, 200, "{body}");
    // A flash sale of one unit, to be sold out by the time the page is read.
    let (status, sale) = call(
        "POST",
        "/api/v1/flash-sales",
        &host,
        None,
        Some(json!({
            "sku": "glow-serum-30ml", "sale_price_minor": 990, "currency": "EUR",
            "quantity": 1, "per_buyer_limit": 1, "countdown_secs": 10, "duration_secs": 120,
        })),
    );
    assert_eq!(status, 201, "{sale}");
    let sale_id = serde_json::from_value(sale["id"].clone()).unwrap();
    let buy = |sku: &str, key: &str| -> i64 {
        let (status, body) = call(
            "POST",
            "/api/v1/cart/items",
            &hal.token,
            None,
            Some(json!({ "sku": sku, "quantity": 1 })),
        );
        assert_eq!(status, 200, "{body}");
        let (status, order) = call(
            "POST",
            "/api/v1/checkout",
            &hal.token,
            Some(key),
            Some(json!({ "card": "4242424242424242" })),
        );
        assert_eq!(status, 201, "{order}");
        order["id"].as_i64().unwrap()
    };
    let order_of = |id: i64| {
        let (status, order) = call(
            "GET",
            &format!("/api/v1/orders/{id}"),
            &hal.token,
            None,
            None,
        );
        assert_eq!(status, 200, "{order}");
        order
    };
    let driver = Chromedriver::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let c = runtime.block_on(browser(&driver));
    let _closer = Closer(&runtime, c.clone());
    runtime.block_on(async {
        let mut clients: Vec<&mut NetClient> = vec![&mut bot];
        console_sign_in(&c, &server, "host.orders", &mut clients).await;

        // Money in the currency's own units (yen have no cents), a chart
        // whose series begins mid-show counting only what rose in view, and
        // a refusal said in the giveaway form's minutes.
        let checks = c
            .execute(
                "const d = { at_ms: 180000, viewers: 1, orders: 3, sales: { minor: 5300, currency: 'EUR' },
                   series: [{ at_ms: 0, viewers: 1, orders: 2, sales_minor: 5000 },
                            { at_ms: 120000, viewers: 1, orders: 3, sales_minor: 5300 }] };
                 return [moneyText(1200, 'JPY').replace(/\\D/g, ''),
                         moneyText(1234, 'EUR').replace(/\\D/g, ''),
                         [...chartData(d).minutes.values()].reduce((a, b) => a + b, 0),
                         typeof giveawayRefusal === 'function'
                           ? giveawayRefusal({ message: 'closes_in_secs: 10 to 86400' }) : null];",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            (&checks[0], &checks[1], &checks[2]),
            (&json!("1200"), &json!("1234"), &json!(300)),
            "¥1,200, €12.34, a rise of 300: {checks}"
        );
        let refusal = checks[3].as_str().unwrap_or_default();
        assert!(
            refusal.contains("minutes") && !refusal.contains("secs"),
            "the refusal in minutes: {checks}"
        );

        // The chart before any sale: axes, no bar.
        let count = |css: &'static str| {
            let c = &c;
            async move {
                c.find_all(Locator::Css(css))
                    .await
                    .map(|v| v.len())
                    .unwrap_or(0)
            }
        };
        let t = Instant::now();
        while count("#chart .axis-time text").await < 2
            || count("#chart .axis-viewers text").await < 2
        {
            frame(&mut clients, t, "the chart's axes").await;
        }
        assert_eq!(count("#chart .sales-bar").await, 0, "no sales yet");
        assert!(
            text(&c, ".legend")
                .await
                .is_some_and(|s| s.contains("viewers") && s.contains("EUR")),
            "a legend with the unit"
        );

        // An order comes in: the chart grows a bar of its total.
        let mug = buy("stoneware-mug-sage", "mug");
        let total = order_of(mug)["total"]["minor"].as_i64().unwrap();
        let t = Instant::now();
        loop {
            let bars = c.find_all(Locator::Css("#chart .sales-bar")).await.unwrap();
            let mut sum = 0;
            for bar in bars {
                sum += bar
                    .attr("data-minor")
                    .await
                    .unwrap()
                    .and_then(|m| m.parse::<i64>().ok())
                    .unwrap_or(0);
            }
            if sum == total {
                break;
            }
            frame(&mut clients, t, "the chart shows the sale").await;
        }
        let sales_axis = text(&c, "#chart .axis-sales").await.unwrap_or_default();
        assert!(
            sales_axis.contains('€'),
            "money on the sales axis: {sales_axis}"
        );

        // Ship, deliver, refund with a reason: each result on the page and over HTTP.
        let row = format!("#order-rows tr[data-order='{mug}']");
        let t = Instant::now();
        while c
            .find(Locator::Css(&format!("{row} .fulfil")))
            .await
            .is_err()
        {
            frame(&mut clients, t, "the order is listed").await;
        }
        let listed = text(&c, &row).await.unwrap();
        for words in ["Hal Buyer", "Speckled Stoneware Mug (Sage)", "Paid", "€"] {
            assert!(listed.contains(words), "{words} in {listed}");
        }
        for (button, shown, status) in [
            (".fulfil", "Marked shipped", "fulfilled"),
            (".deliver", "Marked delivered", "delivered"),
        ] {
            click_fresh(&c, &format!("{row} {button}")).await;
            let t = Instant::now();
            while !text(&c, &format!("{row} .result"))
                .await
                .is_some_and(|s| s.contains(shown))
            {
                frame(&mut clients, t, shown).await;
            }
            assert_eq!(order_of(mug)["status"], status);
        }
        click_fresh(&c, &format!("{row} .refund")).await;
        fill_css(&c, &format!("{row} .refund-reason"), "Arrived chipped").await;
        click(&c, &format!("{row} .refund-confirm")).await;
        let t = Instant::now();
        while !text(&c, &format!("{row} .result"))
            .await
            .is_some_and(|s| s.contains("Refunded"))
        {
            frame(&mut clients, t, "refunded from the console").await;
        }
        let refunded = order_of(mug);
        assert_eq!(
            (
                refunded["status"].as_str(),
                refunded["return_reason"].as_str()
            ),
            (Some("refunded"), Some("Arrived chipped"))
        );

        // Another host refunds an order while the console has it open: the
        // console's refund is refused in words, and nothing changes.
        let serum = buy("glow-serum-50ml", "serum");
        let row = format!("#order-rows tr[data-order='{serum}']");
        let t = Instant::now();
        while c
            .find(Locator::Css(&format!("{row} .refund")))
            .await
            .is_err()
        {
            frame(&mut clients, t, "the second order is listed").await;
        }
        click_fresh(&c, &format!("{row} .refund")).await;
        let (status, body) = call(
            "POST",
            &format!("/api/v1/orders/{serum}/refund"),
            &host,
            None,
            Some(json!({ "reason": "Out of stock" })),
        );
        assert_eq!(status, 200, "{body}");
        fill_css(&c, &format!("{row} .refund-reason"), "Changed my mind").await;
        click(&c, &format!("{row} .refund-confirm")).await;
        let t = Instant::now();
        while text(&c, &format!("{row} .result.refused")).await.as_deref()
            != Some("Already refunded")
        {
            frame(&mut clients, t, "the refusal in words").await;
        }
        assert_eq!(order_of(serum)["return_reason"], "Out of stock");

        // Only Hal's orders, then the ✕ on "Buyer: Hal Buyer ✕" shows all again.
        click_fresh(&c, &format!("{row} .buyer")).await;
        let chip = |c: &Client| {
            let c = c.clone();
            async move {
                let chip = c.find(Locator::Id("orders-buyer")).await.ok()?;
                chip.is_displayed().await.ok()?.then_some(())?;
                chip.text().await.ok()
            }
        };
        let t = Instant::now();
        while !chip(&c).await.is_some_and(|s| s.contains("Hal Buyer")) {
            frame(&mut clients, t, "the buyer filter").await;
        }
        click(&c, "#orders-buyer").await;
        let t = Instant::now();
        while chip(&c).await.is_some() {
            frame(&mut clients, t, "the buyer filter cleared").await;
        }

        // The flash sale sells out; the page says so in words, with names.
        let t = Instant::now();
        let mut claimed = false;
        while !text(&c, "#sales li")
            .await
            .is_some_and(|s| s.contains("Sold out"))
        {
            let open = clients[0]
                .mirror()
                .flash_sales
                .values()
                .any(|s| s.starts_at_ms <= vitrine_tests::now_ms());
            if open && !claimed {
                claimed = true;
                clients[0].send_command(RoomCommand::ClaimFlashSale {
                    sale_id,
                    quantity: 1,
                });
            }
            frame(&mut clients, t, "the sale sold out").await;
        }
        let page = text(&c, "body").await.unwrap();
        assert!(
            page.contains("Glow Vitamin C Serum (30 ml) at €9.90")
                || page.contains("Glow Vitamin C Serum (30 ml) at 9,90 €"),
            "{page}"
        );
        assert!(
            page.contains("Featured now: Glow Vitamin C Serum"),
            "{page}"
        );
        for raw in [
            "sold_out",
            "glow-serum",
            "stoneware-mug",
            "countdown",
            "fulfilled",
        ] {
            assert!(!page.contains(raw), "{raw} shows on the page:\n{page}");
        }
        card_picture(&c, "orders-card", "console-orders.png").await;
        // At phone width, for a look (in the test target dir only).
        c.set_window_size(390, 844).await.unwrap();
        let card = c.find(Locator::Id("orders-card")).await.unwrap();
        let png = card.screenshot().await.unwrap();
        std::fs::write(screenshot_path("console-orders-phone.png"), png).unwrap();
        c.close().await.unwrap();
    });
}

async fn fill_css(c: &Client, css: &str, value: &str) {
    let field = c.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// The console lists a verified buyer's new review in words and stars; the
/// host hides it from the console, shoppers no longer see it, and the
/// moderation log records it.
#[test]
fn a_host_sees_new_reviews_in_the_console_and_hides_one() {
    use vitrine_tests::Http;
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.reviews", Role::Host);
    let api = server.api();
    let rae = api.sign_in("Rae Buyer").unwrap();
    let mut bot = joined_as(&server, &rae, "hall");
    let body = json!({ "buy_now": { "sku": "glow-serum-30ml", "quantity": 1 },
                       "card": "4242424242424242" });
    let (status, order) = http.call(
        "POST",
        "/api/v1/checkout",
        Some(&rae.token),
        Some("rae-1"),
        Some(body),
    );
    assert_eq!(status, 201, "{order}");
    for step in ["fulfil", "deliver"] {
        let path = format!("/api/v1/orders/{}/{step}", order["id"]);
        assert_eq!(http.call("POST", &path, Some(&host), None, None).0, 200);
    }
    let (status, review) = http.call(
        "POST",
        "/api/v1/products/glow-serum/reviews",
        Some(&rae.token),
        None,
        Some(json!({ "stars": 2, "text": "Stung a little." })),
    );
    assert_eq!(status, 201, "{review}");
    let driver = Chromedriver::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let c = runtime.block_on(browser(&driver));
    let _closer = Closer(&runtime, c.clone());
    runtime.block_on(async {
        let mut clients: Vec<&mut NetClient> = vec![&mut bot];
        console_sign_in(&c, &server, "host.reviews", &mut clients).await;
        let line = format!("#reviews li[data-review='{}']", review["id"]);
        let t = Instant::now();
        let words = loop {
            if let Some(words) = text(&c, &line).await {
                break words;
            }
            frame(&mut clients, t, "the review listed").await;
        };
        assert!(
            words.contains("★★☆☆☆")
                && words.contains("Rae Buyer on Glow Vitamin C Serum")
                && words.contains("Stung a little."),
            "{words}"
        );
        card_picture(&c, "moderation-card", "console-reviews.png").await;
        click_fresh(&c, &format!("{line} .hide-review")).await;
        let t = Instant::now();
        while text(&c, &format!("{line} .hidden-review")).await.is_none() {
            frame(&mut clients, t, "the review marked hidden").await;
        }
    });
    let (_, summary) = http.call(
        "GET",
        "/api/v1/products/glow-serum/reviews",
        None,
        None,
        None,
    );
    assert_eq!(summary["count"], 0, "{summary}");
    let (_, log) = http.call("GET", "/api/v1/moderation/log", Some(&host), None, None);
    assert_eq!(log["entries"][0]["action"], "hide_review", "{log}");
}

/// The stage from the console: a co-host invited by name (the key shown
/// once, and it works), the layout and the big slot switched with buttons
/// (checked over HTTP), and the key revoked.
#[test]
fn a_host_runs_the_stage_from_the_console_invites_switches_and_revokes() {
    use vitrine_media::publish::{PublishOptions, Publisher, Source};
    // Encoding beside the media tests would measure the machine.
    let _one = crate::media::serial();
    let server = TestServer::start_with_stage_and_rtmp(2);
    let host = server.sign_in_as("host.stage", Role::Host);
    let http = vitrine_tests::Http::new(&server);
    let stage = || {
        let (status, body) = http.call("GET", "/api/v1/stream/stage", Some(&host), None, None);
        assert_eq!(status, 200, "{body}");
        body
    };
    let publish = |url: &str, key: &str, argb: u32| {
        let mut options = PublishOptions::new(Source::Solid(argb));
        (options.width, options.height, options.bitrate_kbps) = (320, 180, 300);
        Publisher::start(url, &vitrine_media::StreamKey::new(key).unwrap(), &options)
            .expect("publisher starts")
    };
    let driver = Chromedriver::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let c = runtime.block_on(browser(&driver));
    let _closer = Closer(&runtime, c.clone());
    runtime.block_on(async {
        console_sign_in(&c, &server, "host.stage", &mut []).await;
        let t = Instant::now();
        while text(&c, "#seat-0").await.is_none() {
            frame(&mut [], t, "the stage card lists the host's seat").await;
        }
        fill(&c, "co-host-name", "Ada Lovelace").await;
        click(&c, "#invite-co-host").await;
        let t = Instant::now();
        let key = loop {
            if let Some(key) = text(&c, "#co-host-new-key").await {
                break key;
            }
            frame(&mut [], t, "the new key is shown").await;
        };
        let (_, list) = http.call("GET", "/api/v1/stream/co-hosts", Some(&host), None, None);
        let co = &list["co_hosts"][0];
        assert_eq!(co["name"], "Ada Lovelace");
        assert_eq!(co["key_hint"].as_str().unwrap(), &key[key.len() - 4..]);
        // OBS users get the RTMP server beside the SRT one.
        assert_eq!(
            text(&c, "#co-host-rtmp").await.as_deref(),
            co["rtmp_url"].as_str()
        );

        // The host and the co-host (with the key from the page) go live.
        let (_, ingest) = http.call("GET", "/api/v1/stream/ingest", Some(&host), None, None);
        let _host_camera = publish(
            ingest["srt_url"].as_str().unwrap(),
            ingest["stream_key"].as_str().unwrap(),
            0xffd0_3030,
        );
        let _guest_camera = publish(co["srt_url"].as_str().unwrap(), &key, 0xff30_60d0);
        let t = Instant::now();
        while c
            .find(Locator::Css("#seat-1[data-live='true']"))
            .await
            .is_err()
        {
            frame(&mut [], t, "the console shows the co-host live").await;
        }
        click_fresh(&c, "#stage-card [data-layout='side_by_side']").await;
        let t = Instant::now();
        while stage()["shown"] != "side_by_side" {
            frame(&mut [], t, "side by side over HTTP").await;
        }
        c.execute(
            "const s = document.getElementById('stage-big'); s.value = '1'; \
             s.dispatchEvent(new Event('change'))",
            vec![],
        )
        .await
        .unwrap();
        let t = Instant::now();
        while stage()["big"] != 1 {
            frame(&mut [], t, "the co-host in the big slot").await;
        }
        let t = Instant::now();
        loop {
            let shown = text(&c, "#stage-shown").await.unwrap_or_default();
            if shown.contains("Side by side, 2 on camera") {
                break;
            }
            assert!(
                t.elapsed() < CAP,
                "the console says {shown:?}; the stage: {}",
                stage()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        card_picture(&c, "stage-card", "console-stage.png").await;

        click_fresh(&c, "#seat-1 button").await;
        let t = Instant::now();
        while stage()["seats"].as_array().unwrap().len() != 1 {
            frame(&mut [], t, "the co-host's seat is freed").await;
        }
        let (_, list) = http.call("GET", "/api/v1/stream/co-hosts", Some(&host), None, None);
        assert!(list["co_hosts"].as_array().unwrap().is_empty());
        c.close().await.unwrap();
    });
}

/// The console's live preview over WebRTC: the stage as viewers get it
/// plays in the page (its pixels move), its in-picture timecode is read
/// back to say how far behind the stage it runs, and a fifth preview at
/// once is refused.
#[test]
fn the_console_previews_the_stage_over_webrtc() {
    use vitrine_media::publish::{PublishOptions, Publisher, Source};
    let _one = crate::media::serial();
    let server = TestServer::start_with_media(false);
    server.sign_in_as("host.preview", Role::Host);
    let http = vitrine_tests::Http::new(&server);
    let mut options = PublishOptions::new(Source::TestPattern);
    options.bitrate_kbps = 1500;
    let _camera = Publisher::start(
        &format!("srt://{}", server.media().ingest),
        &server.stream_key(),
        &options,
    )
    .expect("publisher starts");
    assert!(
        vitrine_tests::step_until(Duration::from_secs(20), || {
            http.call("GET", "/api/v1/stream", None, None, None).1["live"] == true
        }),
        "the host never went live"
    );
    let driver = Chromedriver::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let c = runtime.block_on(browser(&driver));
    let _closer = Closer(&runtime, c.clone());
    runtime.block_on(async {
        console_sign_in(&c, &server, "host.preview", &mut []).await;
        // Live on camera before any show is started: said so, not "Off air".
        let t = Instant::now();
        // (The badge is drawn in capitals.)
        while text(&c, "#show-status").await.map(|s| s.to_lowercase()).as_deref()
            != Some("camera live")
        {
            frame(&mut [], t, "the show card says the camera is live").await;
        }
        assert_eq!(
            text(&c, "#show-title").await.as_deref(),
            Some("On camera, no show started")
        );
        click(&c, "#preview-start").await;
        let t = Instant::now();
        loop {
            let said = text(&c, "#preview-state").await.unwrap_or_default();
            if said.starts_with("Live") {
                break;
            }
            assert!(t.elapsed() < CAP, "the preview says {said:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The picture, read off the page: the top left (the timecode) and
        // the wall clock when it was drawn.
        let grab = r#"
            const v = document.getElementById('preview');
            if (!v.videoWidth) return null;
            const c = document.createElement('canvas');
            c.width = v.videoWidth; c.height = v.videoHeight;
            const g = c.getContext('2d');
            g.drawImage(v, 0, 0);
            const now = Date.now();
            const d = g.getImageData(0, 0, 448, 64).data;
            return { now, w: v.videoWidth, h: v.videoHeight, px: Array.from(d) };
        "#;
        let mut stamps = Vec::new();
        let mut behind = Vec::new();
        let t = Instant::now();
        while stamps.len() < 10 {
            assert!(t.elapsed() < CAP * 2, "frames read: {stamps:?}");
            let got = c.execute(grab, vec![]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            if got.is_null() {
                continue;
            }
            let (w, h) = (got["w"].as_u64().unwrap() as usize, got["h"].as_u64().unwrap() as usize);
            assert_eq!((w, h), (1280, 720), "the stage's own size");
            // The timecode reader takes a whole frame: the grabbed corner
            // in an empty one.
            let mut frame = vec![0u8; w * h * 4];
            let px: Vec<u8> = got["px"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u8)
                .collect();
            for row in 0..64 {
                frame[row * w * 4..row * w * 4 + 448 * 4]
                    .copy_from_slice(&px[row * 448 * 4..(row + 1) * 448 * 4]);
            }
            let read = vitrine_media::timecode::read_rgba(&frame, w as u32, h as u32, w * 4);
            if let Ok(tc) = read
                && stamps.last() != Some(&tc.frame)
            {
                stamps.push(tc.frame);
                behind.push(got["now"].as_i64().unwrap() - tc.unix_ms as i64);
            }
        }
        // The frames move: ten different frames, in order.
        assert!(stamps.windows(2).all(|w| w[1] > w[0]), "{stamps:?}");
        card_picture(&c, "live-card", "console-preview.png").await;
        behind.sort_unstable();
        eprintln!(
            "preview behind the publisher's clock, 10 reads: median {} ms, max {} ms ({behind:?})",
            behind[5], behind[9]
        );

        // Opens `arguments[0]` more previews from the page, each from an
        // offer of its own (ICE gathered, or 1 s); their statuses, or codes.
        let open_previews = r#"
            const done = arguments[arguments.length - 1];
            (async () => {
                const token = sessionStorage.getItem('vitrine.token');
                const codes = [];
                for (let i = 0; i < arguments[0]; i++) {
                    const pc = new RTCPeerConnection();
                    pc.addTransceiver('video', { direction: 'recvonly' });
                    await pc.setLocalDescription(await pc.createOffer());
                    await new Promise((ok) => { setTimeout(ok, 1000); pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && ok(); });
                    const r = await fetch('/api/v1/stream/preview', { method: 'POST',
                        headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/sdp' },
                        body: pc.localDescription.sdp });
                    codes.push(r.status === 201 ? 201 : (await r.json()).code);
                }
                done(codes);
            })();
        "#;
        // Four previews at most: three more open, a fifth is refused.
        let codes = c.execute_async(open_previews, vec![json!(4)]).await.unwrap();
        assert_eq!(codes, json!([201, 201, 201, "too_many_previews"]));
        // Stopping frees this page's preview on the server: one more opens.
        click(&c, "#preview-stop").await;
        let t = Instant::now();
        loop {
            let codes = c.execute_async(open_previews, vec![json!(1)]).await.unwrap();
            if codes == json!([201]) {
                break;
            }
            assert!(t.elapsed() < CAP, "after Stop a new preview got {codes}");
        }
        c.close().await.unwrap();
    });
}

/// Restream from the console: the host adds an outlet (a local RTMP sink
/// standing in for a platform) and one whose server is down; the first
/// goes live with the show, the second says why it fails and when it
/// tries again; a bad URL is refused in words; an outlet is removed.
#[test]
fn a_host_restreams_from_the_console_and_sees_each_outlets_state() {
    use crate::restream::{Sink, packets, small_camera};
    let _one = crate::media::serial();
    let server = TestServer::start_with_media(false);
    let host = server.sign_in_as("host.restream", Role::Host);
    let http = vitrine_tests::Http::new(&server);
    let outlets = || {
        let (status, body) = http.call("GET", "/api/v1/stream/outlets", Some(&host), None, None);
        assert_eq!(status, 200, "{body}");
        body
    };
    let port = vitrine_tests::free_tcp_port();
    let down = vitrine_tests::free_tcp_port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sink.framemd5");
    let _sink = Sink::start(port, "console-key-77", &log);
    let driver = Chromedriver::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let c = runtime.block_on(browser(&driver));
    let _closer = Closer(&runtime, c.clone());
    runtime.block_on(async {
        console_sign_in(&c, &server, "host.restream", &mut []).await;
        let t = Instant::now();
        while text(&c, "#outlet-list").await.is_none() {
            frame(&mut [], t, "the restream card shows").await;
        }
        // A web address is refused, in words, and nothing is added.
        fill(&c, "outlet-name", "Website").await;
        fill(&c, "outlet-url", "https://example.com/live").await;
        fill(&c, "outlet-key", "abc").await;
        click(&c, "#add-outlet").await;
        let t = Instant::now();
        while !text(&c, "#toast")
            .await
            .unwrap_or_default()
            .contains("rtmp://")
        {
            frame(&mut [], t, "the refusal is said").await;
        }
        assert!(outlets()["outlets"].as_array().unwrap().is_empty());

        for (name, url, key) in [
            (
                "Loopback Live",
                format!("rtmp://127.0.0.1:{port}/live"),
                "console-key-77",
            ),
            (
                "Backup (down)",
                format!("rtmp://127.0.0.1:{down}/app"),
                "backup-key-11",
            ),
        ] {
            fill(&c, "outlet-name", name).await;
            fill(&c, "outlet-url", &url).await;
            fill(&c, "outlet-key", key).await;
            click(&c, "#add-outlet").await;
            let t = Instant::now();
            while !outlets()["outlets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["name"] == name)
            {
                frame(&mut [], t, "the outlet is added").await;
            }
        }
        let list = outlets();
        let live_id = list["outlets"][0]["id"].as_i64().unwrap();
        let down_id = list["outlets"][1]["id"].as_i64().unwrap();
        assert_eq!(list["outlets"][0]["key_hint"], "y-77");
        // The key field is emptied once sent (after the answer the list
        // above was read from: waited for, not raced).
        let t = Instant::now();
        loop {
            let key_left = c
                .find(Locator::Id("outlet-key"))
                .await
                .unwrap()
                .prop("value")
                .await
                .unwrap();
            if key_left.as_deref() == Some("") {
                break;
            }
            frame(&mut [], t, "the key field is emptied once sent").await;
        }
        let t = Instant::now();
        while !text(&c, &format!("#outlet-{live_id}"))
            .await
            .unwrap_or_default()
            .contains("waiting for the show")
        {
            frame(&mut [], t, "idle until live").await;
        }

        let _camera = small_camera(&server);
        let t = Instant::now();
        while c
            .find(Locator::Css(&format!(
                "#outlet-{live_id}[data-state='live']"
            )))
            .await
            .is_err()
        {
            frame(&mut [], t, "the console shows the outlet live").await;
        }
        assert!(
            vitrine_tests::step_until(Duration::from_secs(10), || packets(&log) > 0),
            "live on the console, frames at the sink"
        );
        let t = Instant::now();
        while !text(&c, &format!("#outlet-{down_id}"))
            .await
            .unwrap_or_default()
            .contains("trying again in")
        {
            frame(&mut [], t, "the down outlet says it retries").await;
        }
        // One outlet failing leaves the other sending.
        assert_eq!(outlets()["outlets"][0]["state"], "live", "{}", outlets());
        let sent = packets(&log);
        assert!(
            vitrine_tests::step_until(Duration::from_secs(10), || packets(&log) > sent + 10),
            "the live outlet kept sending"
        );
        card_picture(&c, "outlets-card", "console-restream.png").await;

        click_fresh(&c, &format!("#outlet-{down_id} button")).await;
        let t = Instant::now();
        while outlets()["outlets"].as_array().unwrap().len() != 1 {
            frame(&mut [], t, "the outlet is removed").await;
        }
        c.close().await.unwrap();
    });
}
