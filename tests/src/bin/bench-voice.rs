//! `cargo xtask bench voice`: spatial voice against the release server on
//! loopback.
//!
//! - Bandwidth and server CPU: N bots stand in one room (all within
//!   earshot of each other: the worst case for forwarding); first nobody
//!   talks (the room's own traffic), then T of them talk a voice-like hum
//!   on open mic without pause. The difference is voice's: per speaker up
//!   and per listener down on the wire (UDP payload plus 28 bytes of IPv4
//!   and UDP header per datagram), and the server's CPU as a share of one
//!   core.
//! - Mouth-to-ear latency: with the bots silent, one shopper's input is a
//!   quiet hum with a click at the end of every tenth frame; the time from
//!   the frame being captured (the click has just happened) to the click's
//!   sample in the listener's output timeline (rendered in real time, the
//!   jitter buffer included), p50 and p95.
//!
//! A benchmark, not a test: it prints figures and asserts nothing.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vitrine_client::bots::{Behaviour, Bot};
use vitrine_client::net::{ApiClient, NetClient};
use vitrine_client::voice::{Hearing, Source, Talk, Voice, hum};
use vitrine_tests::bench::{cpu_seconds, wire_bytes};

const FRAME: Duration = Duration::from_millis(20);
const FRAME_SAMPLES: usize = 960;

struct Args {
    server_bin: PathBuf,
    bots: usize,
    talkers: usize,
    seconds: u64,
    clicks: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        server_bin: PathBuf::from("target/release/vitrine-server"),
        bots: 100,
        talkers: 10,
        seconds: 20,
        clicks: 300,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--server-bin" => args.server_bin = PathBuf::from(value()?),
            "--bots" => args.bots = number(value()?)? as usize,
            "--talkers" => args.talkers = number(value()?)? as usize,
            "--seconds" => args.seconds = number(value()?)?,
            "--clicks" => args.clicks = number(value()?)? as usize,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.bots == 0 || args.bots > 1000 || args.talkers > args.bots {
        return Err("--bots must be 1 to 1000 and --talkers at most --bots".into());
    }
    Ok(args)
}

/// What one phase of the crowd measured.
struct Phase {
    seconds: f64,
    /// Per client, bytes per second on the wire: (down, up) of talkers and
    /// of listeners.
    talker: (f64, f64),
    listener: (f64, f64),
    /// Voice frames a listener received per second.
    voice_frames: f64,
    cpu_share: f64,
}

/// Runs the crowd for `length`: talkers step every 10 ms (so each voice
/// frame leaves within 10 ms of being captured), the others at 30 Hz as
/// bench-room's do; `pair` is kept connected.
fn run_phase(
    bots: &mut [Bot],
    talkers: usize,
    pair: &mut [&mut NetClient; 2],
    server: u32,
    length: Duration,
) -> Phase {
    let before: Vec<(u64, u64)> = bots.iter().map(|b| wire_bytes(&b.net)).collect();
    let cpu_before = cpu_seconds(server).unwrap_or(f64::NAN);
    let mut frames_heard = 0u64;
    let start = Instant::now();
    let mut last = start;
    let mut last_crowd = start;
    let tick = Duration::from_millis(10);
    let crowd_every = Duration::from_millis(33);
    while start.elapsed() < length {
        let now = Instant::now();
        let dt = now - last;
        last = now;
        let crowd_dt = now - last_crowd;
        let crowd = crowd_dt >= crowd_every;
        if crowd {
            last_crowd = now;
        }
        for (i, bot) in bots.iter_mut().enumerate() {
            if i < talkers {
                let _ = bot.step(dt);
            } else if crowd {
                let _ = bot.step(crowd_dt);
                frames_heard += bot.net.drain_voice().count() as u64;
            }
        }
        for net in pair.iter_mut() {
            let _ = net.update(dt);
            let _ = net.flush();
            net.drain_voice().for_each(drop);
        }
        std::thread::sleep(tick.saturating_sub(now.elapsed()));
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(server).unwrap_or(f64::NAN) - cpu_before;
    let rate = |range: std::ops::Range<usize>| {
        let n = range.len().max(1) as f64;
        let (mut down, mut up) = (0u64, 0u64);
        for i in range {
            let (d, u) = wire_bytes(&bots[i].net);
            down += d - before[i].0;
            up += u - before[i].1;
        }
        (down as f64 / n / seconds, up as f64 / n / seconds)
    };
    let listeners = (bots.len() - talkers).max(1) as f64;
    Phase {
        seconds,
        talker: rate(0..talkers),
        listener: rate(talkers..bots.len()),
        voice_frames: frames_heard as f64 / listeners / seconds,
        cpu_share: cpu / seconds * 100.0,
    }
}

fn kbit(bytes_per_second: f64) -> String {
    format!("{:.1} kbit/s", bytes_per_second * 8.0 / 1000.0)
}

/// Mouth-to-ear latencies, in milliseconds, of `clicks` clicks from
/// `mouth` to `ear` while `bots` keep stepping.
fn latencies(
    mouth_net: &mut NetClient,
    ear_net: &mut NetClient,
    bots: &mut [Bot],
    clicks: usize,
) -> Latency {
    let mut mouth = Voice::new(&Source::Pushed, Hearing::Off).expect("voice");
    mouth.set_talk(Talk::PushToTalk { held: true });
    let mut ear = Voice::new(&Source::Pushed, Hearing::Record).expect("voice");
    // A quiet hum keeps the stream going between clicks (as speech would),
    // far below the click's level.
    let bed: Vec<i16> = hum(180.0, 2.0).into_iter().map(|s| s / 6).collect();
    // Odd, so the clicks fall in either half of a 40 ms packet.
    const EVERY: usize = 11;
    const CLICK: usize = 96; // 2 ms
    const THRESHOLD: i16 = 9_000;
    let t0 = Instant::now();
    let mut captured = 0usize; // frames pushed
    let mut rendered = 0usize;
    let mut clicks_at: Vec<Instant> = Vec::new();
    let mut found: Vec<Instant> = Vec::new();
    let mut armed = true;
    let mut last = t0;
    let mut last_crowd = t0;
    let end_after = FRAME * (EVERY * clicks + 50) as u32;
    while t0.elapsed() < end_after {
        let now = Instant::now();
        // The microphone: one frame each 20 ms, the click at its end.
        while (captured as u32 + 1) * FRAME <= now - t0 && clicks_at.len() <= clicks {
            let start = captured * FRAME_SAMPLES % bed.len();
            let mut frame: Vec<i16> = (0..FRAME_SAMPLES)
                .map(|i| bed[(start + i) % bed.len()])
                .collect();
            if captured % EVERY == EVERY - 1 && clicks_at.len() < clicks {
                for (i, s) in frame[FRAME_SAMPLES - CLICK..].iter_mut().enumerate() {
                    *s = if (i / 12) % 2 == 0 { 30_000 } else { -30_000 };
                }
                // On the same nominal timeline as the output's frames
                // (the click ends as its frame does), so a loop that runs
                // late moves both alike.
                clicks_at.push(t0 + FRAME * (captured as u32 + 1));
            }
            mouth.push_pcm(&frame);
            captured += 1;
        }
        mouth.send(mouth_net, now);
        let dt = last.elapsed();
        last = now;
        for net in [&mut *mouth_net, &mut *ear_net] {
            let _ = net.update(dt);
            let _ = net.flush();
        }
        if now - last_crowd >= Duration::from_millis(33) {
            for bot in bots.iter_mut() {
                let _ = bot.step(now - last_crowd);
                bot.net.drain_voice().for_each(drop);
            }
            last_crowd = now;
        }
        ear.receive(ear_net);
        // The sound card: frame k plays over [k, k+1) x 20 ms from t0.
        while (rendered as u32) * FRAME <= now - t0 {
            let out = ear.render_frame().expect("hearing");
            for (j, pair) in out.chunks(2).enumerate() {
                let loud = pair[0].unsigned_abs().max(pair[1].unsigned_abs()) >= THRESHOLD as u16;
                if loud && armed {
                    found.push(
                        t0 + FRAME * rendered as u32
                            + Duration::from_micros(j as u64 * 1_000_000 / 48_000),
                    );
                    armed = false;
                }
            }
            // A click is over within a frame: re-arm when a whole frame
            // stays below the threshold.
            if out.iter().all(|s| s.unsigned_abs() < THRESHOLD as u16) {
                armed = true;
            }
            rendered += 1;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // Pair each click with the first detection after it, within 400 ms.
    let mut out = Vec::new();
    let mut missed = 0;
    let mut k = 0;
    for at in &clicks_at {
        while k < found.len() && found[k] < *at {
            k += 1;
        }
        match found.get(k) {
            Some(heard) if heard.duration_since(*at) < Duration::from_millis(400) => {
                out.push(heard.duration_since(*at).as_secs_f64() * 1000.0);
                k += 1;
            }
            _ => missed += 1,
        }
    }
    out.sort_by(|a, b| a.total_cmp(b));
    Latency {
        ms: out,
        missed,
        stats: ear.stats(),
    }
}

/// The click run: latencies (sorted, ms) and clicks not found.
struct Latency {
    ms: Vec<f64>,
    missed: usize,
    stats: vitrine_client::voice::VoiceStats,
}

/// Teleports `ear` a metre from `mouth` (facing it) and waits until `ear`
/// sees itself there.
fn stand_beside(ear: &mut NetClient, mouth: &NetClient, bots: &mut [Bot]) {
    let (Some(me), Some(them)) = (ear.mirror().you, mouth.mirror().you) else {
        return;
    };
    let Some(at) = ear.mirror().avatars.get(&them).map(|p| p.position) else {
        return;
    };
    let to = [at[0], 0.0, at[2] - 1.0];
    ear.send_command(vitrine_shared::RoomCommand::Teleport { to, yaw: 0.0 });
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let _ = ear.update(Duration::from_millis(10));
        let _ = ear.flush();
        for bot in bots.iter_mut() {
            let _ = bot.step(Duration::from_millis(10));
        }
        if ear
            .mirror()
            .avatars
            .get(&me)
            .is_some_and(|p| (p.position[2] - to[2]).abs() < 0.05)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("bench voice: the ear could not stand beside the mouth; latency clicks may be quiet");
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() -> Result<(), String> {
    let args = parse_args()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let rooms = dir.path().join("rooms.toml");
    std::fs::write(
        &rooms,
        format!(
            "[[rooms]]\nid = \"bench\"\nname = \"Bench\"\ncapacity = {}\nsize = [40.0, 40.0]\n",
            args.bots + 10
        ),
    )
    .map_err(|e| e.to_string())?;
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
    std::thread::spawn(move || for _ in lines {});

    let api = ApiClient::new(&format!("http://{http}")).with_loopback_guests();
    // Everyone stands where they spawn: all within earshot of each other.
    let standing = Behaviour {
        speed: 0.0,
        ..Behaviour::walker()
    };
    let mut bots = Vec::with_capacity(args.bots);
    for i in 0..args.bots {
        let bot = Bot::join(&api, &format!("bench{i}"), "bench", standing, i as u64)
            .map_err(|e| format!("bot {i}: {e}"))?;
        bots.push(bot);
    }
    let mut mouth =
        NetClient::sign_in_and_join(&api, "mouth", "bench").map_err(|e| e.to_string())?;
    let mut ear = NetClient::sign_in_and_join(&api, "ear", "bench").map_err(|e| e.to_string())?;
    let everyone = args.bots + 2;
    let warm = Instant::now();
    let mut last = Instant::now();
    while bots.iter().any(|b| b.net.mirror().avatars.len() < everyone)
        || [&mouth, &ear]
            .iter()
            .any(|c| c.mirror().avatars.len() < everyone)
    {
        if warm.elapsed() > Duration::from_secs(120) {
            return Err("the room did not fill within 120 s".into());
        }
        let dt = last.elapsed();
        last = Instant::now();
        for bot in bots.iter_mut() {
            let _ = bot.step(dt);
        }
        for c in [&mut mouth, &mut ear] {
            let _ = c.update(dt);
            let _ = c.flush();
        }
        std::thread::sleep(Duration::from_millis(30).saturating_sub(last.elapsed()));
    }

    let length = Duration::from_secs(args.seconds);
    // The pair keeps up its side quietly while the crowd runs.
    let quiet = run_phase(
        &mut bots,
        args.talkers,
        &mut [&mut mouth, &mut ear],
        server.id(),
        length,
    );
    for (i, bot) in bots.iter_mut().take(args.talkers).enumerate() {
        bot.speak(&Source::Clip(hum(120.0 + 15.0 * i as f32, 4.0)))
            .map_err(|e| e.to_string())?;
    }
    let talking = run_phase(
        &mut bots,
        args.talkers,
        &mut [&mut mouth, &mut ear],
        server.id(),
        length,
    );
    let sent: u64 = bots
        .iter()
        .take(args.talkers)
        .filter_map(|b| b.voice().map(|v| v.sender().stats().sent))
        .sum();
    for bot in bots.iter_mut() {
        bot.stop_speaking();
    }
    // The ear stands a metre from the mouth: full volume, centred.
    stand_beside(&mut ear, &mouth, &mut bots);
    let latency = latencies(&mut mouth, &mut ear, &mut bots, args.clicks);
    let lat = &latency.ms;

    let speaker_up = talking.talker.1 - quiet.talker.1;
    let listener_down = talking.listener.0 - quiet.listener.0;
    println!(
        "bench voice: {} in one room (all within earshot), {} talking for {:.1} s (asked {} s); {} on loopback",
        args.bots,
        args.talkers,
        talking.seconds,
        args.seconds,
        args.server_bin.display()
    );
    // The per-speaker figure is the crowd's: the click run's own link steps
    // every 2 ms, so its up is mostly renet's acks of the room, not voice.
    println!(
        "  speaker up             {} more than quiet (all up {}; {:.1} packets/s sent each)   (target <= 32 kbit/s)",
        kbit(speaker_up),
        kbit(talking.talker.1),
        sent as f64 / args.talkers.max(1) as f64 / talking.seconds
    );
    println!(
        "  listener down, voice   {}  (all down {}; {:.1} voices heard = {:.0} packets/s)   (target <= 8 voices: {})",
        kbit(listener_down),
        kbit(talking.listener.0),
        talking.voice_frames / (1000.0 / vitrine_shared::limits::voice::FRAME_MS as f64),
        talking.voice_frames,
        kbit(8.0 * speaker_up)
    );
    println!(
        "  room without voice     down {} up {} per client",
        kbit(quiet.listener.0),
        kbit(quiet.listener.1)
    );
    println!(
        "  server CPU             {:.1} % of one core talking, {:.1} % quiet: voice {:.1} %   (target <= 10 %)",
        talking.cpu_share,
        quiet.cpu_share,
        talking.cpu_share - quiet.cpu_share
    );
    println!(
        "  mouth to ear           p50 {:.1} ms  p95 {:.1} ms  max {:.1} ms over {} clicks ({missed} missed)   (target p95 <= 150 ms)",
        percentile(lat, 0.50),
        percentile(lat, 0.95),
        lat.last().copied().unwrap_or(f64::NAN),
        lat.len(),
        missed = latency.missed
    );
    println!("  the ear's counters     {:?}", latency.stats);

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
