//! `cargo xtask bench soak`: a long run of the release server under a
//! steady crowd. N bots walk, chat, react, tap on the flash sales a host
//! starts every few minutes and pay for what they got; a few leave and
//! rejoin every minute. Every sample prints the server's resident memory,
//! open file descriptors, threads, the tick's p50/p99 over the sample, and
//! the errors seen so far, so leaks and slow growth show as a trend.
//! A benchmark, not a test: it prints figures and asserts nothing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vitrine_client::bots::{Behaviour, Bot};
use vitrine_client::net::{ApiClient, NetClient, RoomChange, SignedIn};
use vitrine_shared::api::StartFlashSale;
use vitrine_shared::protocol::{ClaimRefusal, CommandKind, CommerceEventNet, RejectReason};
use vitrine_tests::bench::{cpu_seconds, http_get, quantile};
use vitrine_tests::now_ms;

struct Args {
    server_bin: PathBuf,
    bots: usize,
    minutes: u64,
    sale_every_secs: u64,
    sample_secs: u64,
    rejoin_per_minute: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        server_bin: PathBuf::from("target/release/vitrine-server"),
        bots: 100,
        minutes: 60,
        sale_every_secs: 240,
        sample_secs: 30,
        rejoin_per_minute: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--server-bin" => args.server_bin = PathBuf::from(value()?),
            "--bots" => args.bots = number(value()?)? as usize,
            "--minutes" => args.minutes = number(value()?)?,
            "--sale-every" => args.sale_every_secs = number(value()?)?,
            "--sample" => args.sample_secs = number(value()?)?,
            "--rejoin" => args.rejoin_per_minute = number(value()?)? as usize,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.bots == 0 || args.bots > 1000 {
        return Err("--bots must be 1 to 1000".into());
    }
    if args.minutes == 0 || args.sample_secs == 0 || args.sale_every_secs < 60 {
        return Err("--minutes and --sample must be positive, --sale-every at least 60".into());
    }
    Ok(args)
}

/// The tick histogram's cumulative buckets, `(upper bound, count)`.
fn tick_buckets(addr: SocketAddr) -> std::io::Result<Vec<(f64, f64)>> {
    let text = http_get(addr, "/metrics")?;
    let mut buckets = Vec::new();
    for line in text.lines() {
        let Some(le) = line.strip_prefix("vitrine_tick_duration_seconds_bucket{le=\"") else {
            continue;
        };
        let Some((bound, value)) = le.split_once("\"} ") else {
            continue;
        };
        let bound = if bound == "+Inf" {
            f64::INFINITY
        } else {
            bound.parse().unwrap_or(f64::NAN)
        };
        if let Ok(value) = value.trim().parse::<f64>() {
            buckets.push((bound, value));
        }
    }
    Ok(buckets)
}

/// A field of `/proc/PID/status` in kB (or a count), such as `VmRSS`.
fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Errors by kind, seen by the bots and in the server's log.
#[derive(Default)]
struct Errors(BTreeMap<String, u64>);

impl Errors {
    fn add(&mut self, kind: &str) {
        *self.0.entry(kind.to_owned()).or_default() += 1;
    }
    fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

fn write_files(dir: &Path, bots: usize) -> Result<PathBuf, String> {
    let rooms = dir.join("rooms.toml");
    std::fs::write(
        &rooms,
        format!(
            "[[rooms]]\nid = \"soak\"\nname = \"Soak\"\ncapacity = {}\nsize = [40.0, 40.0]\n",
            bots + 10
        ),
    )
    .map_err(|e| e.to_string())?;
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "rooms_file = \"{}\"\n[http_rate]\nper_second = 10000.0\nburst = 10000\n",
            rooms.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    Ok(config)
}

const HOST: &str = "soakhost";
const HOST_PASSWORD: &str = "soak-host-password-1";
/// Sales rotate over these, so an hour of sales stays inside their stock.
const SALE_SKUS: &[&str] = &[
    "glow-serum-30ml",
    "velvet-lipstick-ruby",
    "canvas-tote-natural",
];

fn main() -> Result<(), String> {
    let args = parse_args()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = write_files(dir.path(), args.bots)?;
    let data = dir.path().join("data");
    let server_args = |cmd: &mut Command| {
        cmd.arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&config);
    };
    let mut admin = Command::new(&args.server_bin);
    server_args(&mut admin);
    let made = admin
        .args(["admin", "create-user", HOST, "--role", "host"])
        .env("VITRINE_NEW_PASSWORD", HOST_PASSWORD)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", args.server_bin.display()))?;
    if !made.status.success() {
        return Err(format!(
            "could not create the host: {}",
            String::from_utf8_lossy(&made.stderr)
        ));
    }

    let mut cmd = Command::new(&args.server_bin);
    cmd.args([
        "--http",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--no-media",
    ]);
    server_args(&mut cmd);
    let mut server = cmd
        // Warnings and errors are what the soak counts; info would only
        // cost the server time writing to a pipe.
        .env("RUST_LOG", "warn,vitrine_server=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.server_bin.display()))?;
    let pid = server.id();
    let mut lines = BufReader::new(server.stdout.take().ok_or("no stdout")?).lines();
    let http: SocketAddr = loop {
        let line = lines
            .next()
            .ok_or("server exited before starting")?
            .map_err(|e| e.to_string())?;
        if let Some(rest) = line.split("http_addr=").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .parse()
                .map_err(|e| format!("{e}"))?;
        }
    };
    // Count the server's warnings and errors from both streams, keeping
    // the first few of each for the report.
    let warnings = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    // By message (level, target and text, without the time and fields), so
    // the report says what the warnings were.
    let by_message = Arc::new(std::sync::Mutex::new(BTreeMap::<String, u64>::new()));
    let stderr = server.stderr.take().ok_or("no stderr")?;
    for stream in [
        Box::new(lines.map_while(Result::ok)) as Box<dyn Iterator<Item = String> + Send>,
        Box::new(BufReader::new(stderr).lines().map_while(Result::ok)),
    ] {
        let (warnings, errors, by_message) = (warnings.clone(), errors.clone(), by_message.clone());
        std::thread::spawn(move || {
            for line in stream {
                let counter = if line.contains(" ERROR ") {
                    &errors
                } else if line.contains(" WARN ") {
                    &warnings
                } else {
                    continue;
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut by_message) = by_message.lock() {
                    *by_message.entry(message_of(&line)).or_default() += 1;
                }
            }
        });
    }

    let api = ApiClient::new(&format!("http://{http}")).with_loopback_guests();
    let host = api
        .sign_in_with_password(HOST, HOST_PASSWORD)
        .map_err(|e| format!("host sign-in: {e}"))?;
    api.start_show(&host, "Soak")
        .map_err(|e| format!("start show: {e}"))?;

    let mut bots = Vec::with_capacity(args.bots);
    for i in 0..args.bots {
        let bot = Bot::join(
            &api,
            &format!("soak{i}"),
            "soak",
            Behaviour::default(),
            i as u64,
        )
        .map_err(|e| format!("bot {i}: {e}"))?;
        bots.push(bot);
    }
    let frame = Duration::from_secs_f64(1.0 / 30.0);
    let warm_deadline = Instant::now() + Duration::from_secs(120);
    let mut last = Instant::now();
    while bots
        .iter()
        .any(|b| b.net.mirror().members.len() < args.bots)
    {
        if Instant::now() > warm_deadline {
            return Err("bots did not all see each other within 120 s".into());
        }
        let dt = last.elapsed();
        last = Instant::now();
        for bot in bots.iter_mut() {
            let _ = bot.step(dt);
        }
        std::thread::sleep(frame.saturating_sub(last.elapsed()));
    }

    println!(
        "bench soak: {} bots for {} min, a flash sale every {} s, {} rejoins a minute, \
         a sample every {} s",
        args.bots, args.minutes, args.sale_every_secs, args.rejoin_per_minute, args.sample_secs
    );
    println!(
        "| min | RSS MiB | fds | threads | tick p50 ms | tick p99 ms | server CPU % | connected | \
         chat lines | paid orders | sales | server warn/error | bot errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");

    let mut bot_errors = Errors::default();
    let (mut chat_lines, mut paid, mut sales) = (0u64, 0u64, 0u64);
    let mut rejoins = 0u64;
    let start = Instant::now();
    let run_for = Duration::from_secs(args.minutes * 60);
    let mut next_sample = start + Duration::from_secs(args.sample_secs);
    let mut next_sale = start;
    let mut next_rejoin = start + Duration::from_secs(60);
    let mut rejoin_cursor = 0usize;
    let mut buckets = tick_buckets(http).map_err(|e| e.to_string())?;
    let mut cpu = cpu_seconds(pid).unwrap_or(0.0);
    let mut sample_start = Instant::now();
    let mut rss: Vec<(f64, u64)> = Vec::new();
    last = Instant::now();
    while start.elapsed() < run_for {
        let dt = last.elapsed();
        last = Instant::now();
        let now = Instant::now();

        if now >= next_sale {
            next_sale += Duration::from_secs(args.sale_every_secs);
            let sale = StartFlashSale {
                sku: SALE_SKUS[sales as usize % SALE_SKUS.len()].into(),
                sale_price_minor: 990,
                currency: "EUR".into(),
                quantity: 20,
                per_buyer_limit: 1,
                countdown_secs: 10,
                duration_secs: 60,
            };
            match api.start_flash_sale(&host, &sale) {
                Ok(_) => sales += 1,
                Err(e) => {
                    eprintln!("soak: the host could not start a sale: {e}");
                    bot_errors.add("host_sale");
                }
            }
        }

        if now >= next_rejoin {
            next_rejoin += Duration::from_secs(60);
            for _ in 0..args.rejoin_per_minute.min(bots.len()) {
                let bot = &mut bots[rejoin_cursor % args.bots];
                rejoin_cursor += 1;
                bot.net.disconnect();
                match rejoin(&api, &bot.session) {
                    Ok(net) => {
                        bot.net = net;
                        rejoins += 1;
                    }
                    Err(e) => {
                        eprintln!("soak: {} could not rejoin: {e}", bot.name);
                        bot_errors.add("rejoin");
                    }
                }
            }
        }

        let now_ms = now_ms();
        for bot in bots.iter_mut() {
            if bot.step(dt).is_err() {
                bot_errors.add("link");
            }
            // A link that ended without our asking (a timeout, a kick) is
            // an error; the shopper comes back, as a real one would.
            if bot.net.is_disconnected() {
                bot_errors.add(&format!(
                    "dropped: {}",
                    bot.net.disconnect_reason().unwrap_or_default()
                ));
                match rejoin(&api, &bot.session) {
                    Ok(net) => bot.net = net,
                    Err(e) => {
                        eprintln!("soak: {} could not come back: {e}", bot.name);
                        bot_errors.add("rejoin");
                    }
                }
            }
            bot.shop(now_ms);
            for change in bot.net.mirror_mut().drain_changes() {
                match change {
                    RoomChange::Chat(_) => chat_lines += 1,
                    RoomChange::Commerce(CommerceEventNet::Claimed { order_id, .. }) => {
                        match api.pay(&bot.session, order_id, "4242 4242 4242 4242") {
                            Ok(_) => paid += 1,
                            Err(e) => {
                                eprintln!("soak: {} could not pay: {e}", bot.name);
                                bot_errors.add("pay");
                            }
                        }
                    }
                    // Missing out on a sale is the sale working.
                    RoomChange::Rejected(r)
                        if r.command == CommandKind::ClaimFlashSale
                            && matches!(
                                r.reason,
                                RejectReason::Claim(
                                    ClaimRefusal::SoldOut
                                        | ClaimRefusal::Ended
                                        | ClaimRefusal::NotEnoughLeft { .. }
                                        | ClaimRefusal::LimitReached { .. }
                                )
                            ) => {}
                    RoomChange::Rejected(r) => {
                        bot_errors.add(&format!("rejected {:?}: {}", r.command, r.reason))
                    }
                    RoomChange::Removed { .. } | RoomChange::ShuttingDown(_) => {
                        bot_errors.add("removed")
                    }
                    _ => {}
                }
            }
        }

        if Instant::now() >= next_sample {
            next_sample += Duration::from_secs(args.sample_secs);
            let minutes = start.elapsed().as_secs_f64() / 60.0;
            let now_buckets = tick_buckets(http).unwrap_or_default();
            let p = |q| {
                quantile(&buckets, &now_buckets, q)
                    .map(|s| format!("{:.2}", s * 1000.0))
                    .unwrap_or("n/a".into())
            };
            let (p50, p99) = (p(0.50), p(0.99));
            let cpu_now = cpu_seconds(pid).unwrap_or(cpu);
            let cpu_share = (cpu_now - cpu) / sample_start.elapsed().as_secs_f64() * 100.0;
            let rss_kb = proc_status(pid, "VmRSS").unwrap_or(0);
            rss.push((minutes, rss_kb));
            let connected = bots.iter().filter(|b| b.net.is_connected()).count();
            println!(
                "| {minutes:.1} | {:.1} | {} | {} | {p50} | {p99} | {cpu_share:.1} | {connected} | \
                 {chat_lines} | {paid} | {sales} | {}/{} | {} |",
                rss_kb as f64 / 1024.0,
                open_fds(pid).map_or("n/a".into(), |n| n.to_string()),
                proc_status(pid, "Threads").map_or("n/a".into(), |n| n.to_string()),
                warnings.load(Ordering::Relaxed),
                errors.load(Ordering::Relaxed),
                bot_errors.total(),
            );
            buckets = now_buckets;
            cpu = cpu_now;
            sample_start = Instant::now();
        }
        std::thread::sleep(frame.saturating_sub(last.elapsed()));
    }

    // Growth after the first ten minutes (or the first sample of a short
    // run): the warm-up fills caches and pools that then stay.
    let base = rss
        .iter()
        .find(|(m, _)| *m >= 10.0)
        .or(rss.first())
        .copied();
    if let (Some((at, from)), Some((_, to))) = (base, rss.last().copied()) {
        let max = rss.iter().map(|(_, kb)| *kb).max().unwrap_or(to);
        println!(
            "RSS: {:.1} MiB at {at:.1} min, {:.1} MiB at the end ({:+.1} %), peak {:.1} MiB \
             (target: under 5 % growth after 10 min)",
            from as f64 / 1024.0,
            to as f64 / 1024.0,
            (to as f64 - from as f64) / from.max(1) as f64 * 100.0,
            max as f64 / 1024.0,
        );
    }
    println!(
        "{rejoins} rejoins, {sales} sales, {paid} paid orders, {chat_lines} chat lines seen by the bots"
    );
    println!(
        "server log: {} warnings, {} errors; bot errors: {}",
        warnings.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        bot_errors.total()
    );
    for (kind, n) in &bot_errors.0 {
        println!("  bot error {kind}: {n}");
    }
    if let Ok(by_message) = by_message.lock() {
        for (message, n) in by_message.iter() {
            println!("  server {n} × {message}");
        }
    }

    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = server.kill();
    Ok(())
}

/// A log line's level, target and message, without its time and fields.
fn message_of(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().skip(1).collect();
    words
        .iter()
        .take_while(|w| !w.contains('='))
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Leaves and joins again with the same account, as a shopper whose
/// connection dropped would.
fn rejoin(api: &ApiClient, session: &SignedIn) -> Result<NetClient, String> {
    let ticket = api.join(session, "soak").map_err(|e| e.to_string())?;
    NetClient::connect(&ticket).map_err(|e| e.to_string())
}
