//! `cargo xtask bench room`: N bots in R rooms for S seconds against the
//! release server binary; prints the server's tick time (p50, p99), bytes
//! per second per client on the wire (down and up, each datagram's IPv4 and
//! UDP headers included, over the bots connected through the whole window;
//! those that dropped are reported), how far from the truth each bot sees
//! the avatars near it and the rest, and the CPU of the server and of the
//! bots.
//!
//! The bots behave like a room's shoppers (`Behaviour::mixed`): one in ten
//! in a headset (head and hands moving), two holding products, three
//! chatting and reacting, the rest walking; `--mix walkers` has them all
//! walk, as the first figures did.
//! A benchmark, not a test: it prints figures and asserts nothing.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vitrine_client::bots::{Behaviour, Bot};
use vitrine_client::net::ApiClient;
use vitrine_tests::bench::{cpu_seconds, http_get, quantile, wire_bytes};

struct Args {
    server_bin: PathBuf,
    bots: usize,
    rooms: usize,
    seconds: u64,
    walkers_only: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        server_bin: PathBuf::from("target/release/vitrine-server"),
        bots: 100,
        rooms: 1,
        seconds: 30,
        walkers_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--server-bin" => args.server_bin = PathBuf::from(value()?),
            "--bots" => args.bots = value()?.parse().map_err(|e| format!("--bots: {e}"))?,
            "--seconds" => {
                args.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?
            }
            "--rooms" => args.rooms = value()?.parse().map_err(|e| format!("--rooms: {e}"))?,
            "--mix" => {
                args.walkers_only = match value()?.as_str() {
                    "mixed" => false,
                    "walkers" => true,
                    other => return Err(format!("--mix: mixed or walkers, not {other}")),
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.bots == 0 || args.bots > 1000 {
        return Err("--bots must be 1 to 1000".into());
    }
    if args.rooms == 0 || args.rooms > args.bots {
        return Err("--rooms must be 1 to the number of bots".into());
    }
    Ok(args)
}

/// The tick histogram and byte counters from one scrape.
struct Scrape {
    buckets: Vec<(f64, f64)>,
    bytes_out: f64,
    bytes_in: f64,
}

fn scrape(addr: SocketAddr) -> std::io::Result<Scrape> {
    let text = http_get(addr, "/metrics")?;
    let mut s = Scrape {
        buckets: Vec::new(),
        bytes_out: 0.0,
        bytes_in: 0.0,
    };
    for line in text.lines() {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        if let Some(le) = name.strip_prefix("vitrine_tick_duration_seconds_bucket{le=\"") {
            let bound = le.trim_end_matches("\"}");
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().unwrap_or(f64::NAN)
            };
            s.buckets.push((bound, value));
        } else if name == "vitrine_bytes_out_total" {
            s.bytes_out = value;
        } else if name == "vitrine_bytes_in_total" {
            s.bytes_in = value;
        }
    }
    Ok(s)
}

/// How true each bot sees the others: the distance on the floor between
/// where its newest snapshot shows an avatar and where that avatar's bot
/// is now, for those within [`NEAR_CHECK_M`] (sent in every snapshot) and
/// for everyone (the distant ones come 10 or 5 times a second).
#[derive(Default)]
struct Truth {
    near: Vec<f32>,
    all: Vec<f32>,
}

/// The server's full-rate distance less the 0.3 m an avatar may walk
/// between two of its updates.
const NEAR_CHECK_M: f32 = vitrine_shared::protocol::NEAR_M - 0.3;

fn floor(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

impl Truth {
    /// `bots` by (room, slot): where each one really is.
    fn sample(&mut self, viewer: usize, bots: &[Bot], room: usize, by_slot: &SlotMap) {
        let mirror = bots[viewer].net.mirror();
        let (Some(you), Some(here)) = (mirror.you, bots[viewer].pose()) else {
            return;
        };
        for (slot, seen) in &mirror.avatars {
            if *slot == you {
                continue;
            }
            let Some(truth) = by_slot.get(&(room, *slot)).and_then(|&i| bots[i].pose()) else {
                continue;
            };
            let error = floor(seen.position, truth.position);
            if floor(here.position, truth.position) <= NEAR_CHECK_M {
                self.near.push(error);
            }
            self.all.push(error);
        }
    }

    /// How far off the shown pose was at the `q`th percentile, in cm;
    /// `errors` sorted.
    fn cm_at(errors: &[f32], q: usize) -> Option<f32> {
        Some(errors.get(errors.len().checked_sub(1)? * q / 100)? * 100.0)
    }

    fn sort(errors: &mut [f32]) {
        errors.sort_unstable_by(|a, b| a.total_cmp(b));
    }

    fn line(errors: &mut [f32]) -> String {
        if errors.is_empty() {
            return "none sampled".into();
        }
        Self::sort(errors);
        let at = |q: usize| Self::cm_at(errors, q).unwrap_or(f32::NAN);
        format!(
            "shown within {:.0} cm of the truth at p50, {:.0} cm at p99, {:.0} cm at worst ({} samples)",
            at(50),
            at(99),
            errors[errors.len() - 1] * 100.0,
            errors.len()
        )
    }
}

type SlotMap = std::collections::HashMap<(usize, vitrine_shared::MemberSlot), usize>;

fn main() -> Result<(), String> {
    let args = parse_args()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let rooms = dir.path().join("rooms.toml");
    let per_room = args.bots.div_ceil(args.rooms);
    let mut rooms_toml = String::new();
    for r in 0..args.rooms {
        rooms_toml.push_str(&format!(
            "[[rooms]]\nid = \"bench{r}\"\nname = \"Bench {r}\"\ncapacity = {}\nsize = [40.0, 40.0]\n",
            (per_room + 10).min(1000)
        ));
    }
    std::fs::write(&rooms, rooms_toml).map_err(|e| e.to_string())?;
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "rooms_file = \"{}\"\n[http_rate]\nper_second = 10000.0\nburst = 10000\n",
            rooms.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut server = Command::new(&args.server_bin)
        .args([
            "--http",
            "127.0.0.1:0",
            "--udp",
            "127.0.0.1:0",
            // No media relay: its fixed ports would clash with a demo or
            // another run.
            "--no-media",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn,vitrine_server=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.server_bin.display()))?;
    let stdout = server.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
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
    // Keep draining the server's log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});

    let api = ApiClient::new(&format!("http://{http}")).with_loopback_guests();
    let products: Vec<_> = api
        .products()
        .map_err(|e| format!("products: {e}"))?
        .into_iter()
        .map(|p| p.id)
        .collect();
    let mut bots = Vec::with_capacity(args.bots);
    let mut room_of = Vec::with_capacity(args.bots);
    for i in 0..args.bots {
        let behaviour = if args.walkers_only {
            Behaviour::walker()
        } else {
            Behaviour::mixed(i)
        };
        let room = i % args.rooms;
        let mut bot = Bot::join(
            &api,
            &format!("bench{i}"),
            &format!("bench{room}"),
            behaviour,
            i as u64,
        )
        .map_err(|e| format!("bot {i}: {e}"))?;
        bot.hold_from(products.clone());
        bots.push(bot);
        room_of.push(room);
    }
    let in_room: Vec<usize> = (0..args.rooms)
        .map(|r| room_of.iter().filter(|&&x| x == r).count())
        .collect();
    let frame = Duration::from_secs_f64(1.0 / 30.0);
    let step_all = |bots: &mut Vec<Bot>, dt: Duration| {
        for bot in bots.iter_mut() {
            let _ = bot.step(dt);
        }
    };
    // Warm up: everyone welcomed and seeing everyone in their room.
    let warm_deadline = Instant::now() + Duration::from_secs(180);
    let mut last = Instant::now();
    while bots
        .iter()
        .zip(&room_of)
        .any(|(b, r)| b.net.mirror().members.len() < in_room[*r])
    {
        if Instant::now() > warm_deadline {
            return Err("bots did not all see their room within 180 s".into());
        }
        let dt = last.elapsed();
        last = Instant::now();
        step_all(&mut bots, dt);
        std::thread::sleep(frame.saturating_sub(last.elapsed()));
    }

    let by_slot: SlotMap = bots
        .iter()
        .enumerate()
        .filter_map(|(i, b)| b.net.mirror().you.map(|slot| ((room_of[i], slot), i)))
        .collect();
    let before = scrape(http).map_err(|e| e.to_string())?;
    let cpu_before = cpu_seconds(server.id()).unwrap_or(f64::NAN);
    let own_cpu_before = cpu_seconds(std::process::id()).unwrap_or(f64::NAN);
    let bytes_before: Vec<(u64, u64)> = bots.iter().map(|b| wire_bytes(&b.net)).collect();
    // Only bots connected through the whole window count toward the
    // per-client figures; a bot that dropped would make them look smaller.
    let mut throughout: Vec<bool> = bots.iter().map(|b| b.net.is_connected()).collect();
    let mut truth = Truth::default();
    let mut frames = 0u64;
    let start = Instant::now();
    let run_for = Duration::from_secs(args.seconds);
    last = Instant::now();
    while start.elapsed() < run_for {
        let dt = last.elapsed();
        last = Instant::now();
        step_all(&mut bots, dt);
        frames += 1;
        for (kept, bot) in throughout.iter_mut().zip(&bots) {
            *kept &= bot.net.is_connected();
        }
        // Every tenth frame, a tenth of the bots in turn.
        if frames.is_multiple_of(10) {
            let turn = (frames / 10) as usize % 10;
            for viewer in (turn..bots.len()).step_by(10) {
                truth.sample(viewer, &bots, room_of[viewer], &by_slot);
            }
        }
        std::thread::sleep(frame.saturating_sub(last.elapsed()));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let after = scrape(http).map_err(|e| e.to_string())?;
    let cpu_after = cpu_seconds(server.id()).unwrap_or(f64::NAN);
    let own_cpu_after = cpu_seconds(std::process::id()).unwrap_or(f64::NAN);
    let connected = throughout.iter().filter(|&&kept| kept).count();
    if connected == 0 {
        return Err("no bot stayed connected through the window".into());
    }

    let (mut down, mut up) = (0u64, 0u64);
    for ((bot, (d0, u0)), _) in bots
        .iter()
        .zip(&bytes_before)
        .zip(&throughout)
        .filter(|(_, kept)| **kept)
    {
        let (d1, u1) = wire_bytes(&bot.net);
        down += d1 - d0;
        up += u1 - u0;
    }
    let n = connected as f64;
    let per_client_down = down as f64 / n / elapsed;
    let per_client_up = up as f64 / n / elapsed;
    let p50 = quantile(&before.buckets, &after.buckets, 0.50);
    let p99 = quantile(&before.buckets, &after.buckets, 0.99);
    let ms = |v: Option<f64>| {
        v.map(|s| format!("{:.3} ms", s * 1000.0))
            .unwrap_or("n/a".into())
    };
    let cpu = (cpu_after - cpu_before) / elapsed * 100.0;
    let own_cpu = (own_cpu_after - own_cpu_before) / elapsed * 100.0;

    let mix = if args.walkers_only {
        "all walking".to_string()
    } else {
        let mut kinds: Vec<(&str, usize)> = Vec::new();
        for i in 0..args.bots {
            let kind = Behaviour::mixed_kind(i);
            match kinds.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, n)) => *n += 1,
                None => kinds.push((kind, 1)),
            }
        }
        kinds
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "bench room: {} bots in {} room(s) of up to {per_room} for {elapsed:.1} s ({mix}); {connected} connected throughout, {} dropped",
        args.bots,
        args.rooms,
        args.bots - connected
    );
    println!(
        "  server tick           p50 {}   p99 {}   (one tick steps every room)",
        ms(p50),
        ms(p99)
    );
    println!(
        "  per client, down      {:.0} B/s = {:.1} kbit/s on the wire, 28 B of IPv4 and UDP a datagram included",
        per_client_down,
        per_client_down * 8.0 / 1000.0
    );
    println!(
        "  per client, up        {:.0} B/s = {:.1} kbit/s on the wire",
        per_client_up,
        per_client_up * 8.0 / 1000.0
    );
    println!(
        "  server socket         out {:.0} B/s, in {:.0} B/s (all clients, UDP payload)",
        (after.bytes_out - before.bytes_out) / elapsed,
        (after.bytes_in - before.bytes_in) / elapsed
    );
    println!(
        "  avatars within {NEAR_CHECK_M} m  {}",
        Truth::line(&mut truth.near)
    );
    println!("  every avatar          {}", Truth::line(&mut truth.all));
    println!("  server CPU            {cpu:.1} % of one core");
    println!(
        "  bots' CPU             {own_cpu:.1} % of one core, {:.1} frames/s of 30 (this process, beside the server on the same cores)",
        frames as f64 / elapsed
    );

    // For `bench-check`: one figure a line, name and value.
    if let Some(p99) = p99 {
        println!("bench-figure room.tick_p99_ms {:.3}", p99 * 1000.0);
    }
    println!(
        "bench-figure room.down_kbit_s {:.2}",
        per_client_down * 8.0 / 1000.0
    );
    println!("bench-figure room.dropped {}", args.bots - connected);
    Truth::sort(&mut truth.near);
    if let Some(p99) = Truth::cm_at(&truth.near, 99) {
        println!("bench-figure room.near_error_p99_cm {p99:.1}");
    }
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = server.kill();
    Ok(())
}
