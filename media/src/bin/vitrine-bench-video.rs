//! `cargo xtask bench video`: glass-to-glass latency, decode cost, drops and
//! A/V offset of live video on loopback.
//!
//! Three processes, so each one's CPU is its own: `vitrine-host
//! --test-pattern` publishes 720p30 (the timecode in every frame), this
//! binary re-run as `--relay-only` relays it, and this process plays it.
//!
//! Phases, one after another on the same stream:
//! 1. our player, RGBA, on the relay's SRT output: latency, drops, A/V, CPU;
//! 2. our player, I420 (what a GPU shader would convert): CPU;
//! 3. `gst-launch-1.0 srtsrc ! tsdemux ! h264parse ! avdec_h264 ! fdsink`
//!    on the same SRT output: the raw GStreamer path. Its I420 frames come
//!    through a pipe and we read the timecode from their luma; fdsink syncs
//!    to the clock like our appsink, so both stamp frames at render time;
//! 4. our player on the relay's HLS playlist (served from disk by a small
//!    file server here, as axum would): latency.
//!
//! With `--proxy-bin PATH` (the tests crate's `lossy-proxy`), both SRT hops
//! go through a lossy link (`--rtt`, default 40 ms; `--loss`, default 1%
//! each way), and only phases 1 and 3 run: what the link changes.
//!
//! With `--co-hosts N`, the stage instead (`vitrine_media::stage`, as a
//! process of its own: `--stage-only`): phase 1 on the host's stream
//! relayed as sent, then through the stage with the host alone and with 1
//! to N co-hosts (each another `vitrine-host --test-pattern`), picture in
//! picture with the host big so the host's timecode is read as before.
//! What the stage adds to glass to glass, and its CPU per publisher.

use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use vitrine_media::StreamKey;
use vitrine_media::player::{AudioOutput, PixelFormat, Player, PlayerOptions};
use vitrine_media::relay::{Relay, RelayConfig};
use vitrine_media::srt::{INTERNET_LATENCY_MS, LAN_LATENCY_MS, SrtLatency};
use vitrine_media::timecode;

const KEY: &str = "bench-stream-key";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--relay-only") {
        relay_only(&args[2..]);
        return;
    }
    if args.get(1).map(String::as_str) == Some("--stage-only") {
        stage_only(&args[2..]);
        return;
    }
    let seconds: u64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let latency = match args
        .iter()
        .position(|a| a == "--latency")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse::<SrtLatency>())
    {
        None => SrtLatency::Auto,
        Some(Ok(l)) => l,
        Some(Err(e)) => {
            eprintln!("bench video: --latency {e}");
            std::process::exit(2);
        }
    };
    // `--proxy-bin PATH`: both SRT hops through a lossy link (the tests
    // crate's `lossy-proxy`), `--rtt` ms round trip with `--loss` percent
    // lost each way.
    let proxy = lossy_link(&args).unwrap_or_else(|e| {
        eprintln!("bench video: {e}");
        std::process::exit(2);
    });
    let co_hosts: Option<usize> = match args.iter().position(|a| a == "--co-hosts") {
        None => None,
        Some(i) => match args.get(i + 1).and_then(|n| n.parse().ok()) {
            Some(n @ 1..=4) => Some(n),
            _ => {
                eprintln!("bench video: --co-hosts takes 1 to 4");
                std::process::exit(2);
            }
        },
    };
    if let Some(n) = co_hosts {
        if let Err(e) = run_stage(seconds, n) {
            eprintln!("bench video: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = run(seconds, latency, proxy) {
        eprintln!("bench video: {e}");
        std::process::exit(1);
    }
}

fn lossy_link(args: &[String]) -> Result<Option<LossyLink>, String> {
    let value = |name: &str| args.iter().position(|a| a == name).map(|i| args.get(i + 1));
    let number = |name: &str, default: f64, max: f64| match value(name) {
        None => Ok(default),
        Some(v) => v
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| (0.0..=max).contains(v))
            .ok_or(format!("{name} takes a number from 0 to {max}")),
    };
    let (rtt_ms, loss_percent) = (
        number("--rtt", 40.0, 10_000.0)?,
        number("--loss", 1.0, 100.0)?,
    );
    match value("--proxy-bin") {
        None if value("--rtt").is_some() || value("--loss").is_some() => {
            Err("--rtt and --loss need --proxy-bin (the lossy link)".into())
        }
        None => Ok(None),
        Some(None) => Err("--proxy-bin needs a path".into()),
        Some(Some(bin)) => Ok(Some(LossyLink {
            bin: bin.into(),
            // Whole milliseconds, as the proxy takes them.
            rtt_ms: rtt_ms.round() as u64,
            loss_percent,
        })),
    }
}

/// A lossy link in front of each SRT hop: the publisher's to the relay
/// and the players' from it.
struct LossyLink {
    bin: std::path::PathBuf,
    rtt_ms: u64,
    loss_percent: f64,
}

/// One `lossy-proxy` process in front of `to`; closing its input ends it,
/// and it then reports what it dropped.
struct Proxy {
    child: Child,
    addr: SocketAddr,
}

impl LossyLink {
    fn start(&self, to: &str, seed: u32) -> Result<Proxy, String> {
        use std::io::BufRead;
        let mut child = Command::new(&self.bin)
            .args(["--to", to])
            .args(["--rtt", &self.rtt_ms.to_string()])
            .args(["--loss", &self.loss_percent.to_string()])
            .args(["--seed", &seed.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", self.bin.display()))?;
        let mut out = std::io::BufReader::new(child.stdout.as_mut().ok_or("no stdout")?);
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        let addr = line
            .strip_prefix("listening ")
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| format!("lossy-proxy said {line:?}"))?;
        Ok(Proxy { child, addr })
    }
}

impl Proxy {
    /// What it did, once stopped.
    fn finish(mut self) -> String {
        drop(self.child.stdin.take());
        let mut said = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut said);
        }
        let _ = self.child.wait();
        said.lines().collect::<Vec<_>>().join("; ")
    }
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// The relay as a process of its own, until killed.
fn relay_only(args: &[String]) {
    let latency: u32 = args
        .get(3)
        .and_then(|l| l.parse().ok())
        .unwrap_or(LAN_LATENCY_MS);
    let (Some(ingest), Some(viewers), Some(hls)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: --relay-only INGEST VIEWERS HLS_DIR");
        std::process::exit(2);
    };
    let (Ok(ingest), Ok(viewers)) = (ingest.parse(), viewers.parse()) else {
        eprintln!("bad addresses");
        std::process::exit(2);
    };
    let mut config = RelayConfig::new(ingest, viewers, StreamKey::new(KEY).expect("key"));
    config.hls_dir = Some(hls.into());
    config.latency_ms = latency;
    let relay = match Relay::start(config, Arc::new(|e| eprintln!("relay: {e:?}"))) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("relay: {e}");
            std::process::exit(1);
        }
    };
    loop {
        std::thread::sleep(Duration::from_secs(3600));
        let _ = relay.is_live();
    }
}

/// The stage as a process of its own, until killed: seat 0 takes the
/// bench's key, seat N `bench-co-host-N`; picture in picture, host big.
fn stage_only(args: &[String]) {
    use vitrine_media::stage::{Layout, Seat, SeatKey, Stage, StageConfig};
    let addrs: Option<Vec<SocketAddr>> = args.iter().map(|a| a.parse().ok()).collect();
    let Some((relay, seats)) = addrs.as_ref().and_then(|a| a.split_first()) else {
        eprintln!("usage: --stage-only RELAY_INGEST SEAT0 [SEAT1 ...]");
        std::process::exit(2);
    };
    let key = StreamKey::new(KEY).expect("key");
    let stage = match Stage::start(
        StageConfig::new(seats.to_vec(), *relay, key.clone()),
        Arc::new(|e| eprintln!("stage: {e:?}")),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stage: {e}");
            std::process::exit(1);
        }
    };
    for seat in 0..seats.len() {
        let key = if seat == 0 {
            key.clone()
        } else {
            StreamKey::new(format!("bench-co-host-{seat}")).expect("key")
        };
        let _ = stage.set_seat(
            seat,
            Some(Seat {
                name: if seat == 0 {
                    "Host".into()
                } else {
                    format!("Guest {seat}")
                },
                key: SeatKey::Plain(key),
            }),
        );
    }
    let _ = stage.set_layout(Layout::PictureInPicture, None);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
        let _ = stage.live();
    }
}

/// Polls until something listens on UDP `addr` (it cannot be bound), for
/// at most 10 s.
fn wait_bound(addr: &str, what: &str) -> Result<(), String> {
    let ready = Instant::now();
    while UdpSocket::bind(addr).is_ok() {
        if ready.elapsed() > Duration::from_secs(10) {
            return Err(format!("{what} did not start"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// This binary re-run as `--relay-only` on free loopback ports, listening.
struct RelayProcess {
    process: Killed,
    ingest: String,
    viewers: String,
    hls: std::path::PathBuf,
}

impl RelayProcess {
    fn start(exe: &std::path::Path, floor_ms: u32) -> Result<RelayProcess, String> {
        let hls = std::env::temp_dir().join(format!("vitrine-bench-hls-{}", std::process::id()));
        std::fs::create_dir_all(&hls).map_err(|e| e.to_string())?;
        let ingest = format!("127.0.0.1:{}", free_port());
        let viewers = format!("127.0.0.1:{}", free_port());
        let process = Killed(
            Command::new(exe)
                .args(["--relay-only", &ingest, &viewers])
                .arg(&hls)
                .arg(floor_ms.to_string())
                .stdout(Stdio::null())
                .spawn()
                .map_err(|e| format!("relay: {e}"))?,
        );
        wait_bound(&ingest, "the relay")?;
        Ok(RelayProcess {
            process,
            ingest,
            viewers,
            hls,
        })
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line: 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

#[derive(Default)]
struct Phase {
    latencies: Vec<f64>,
    frames: u64,
    first_counter: Option<u32>,
    last_counter: Option<u32>,
    /// Frames the sink showed that a newer one replaced before this
    /// reader (polling every 2 ms) took them: gaps that are the reader's.
    overtaken: u64,
    cpu_s: f64,
}

impl Phase {
    fn note(&mut self, tc: Option<timecode::Timecode>, at: SystemTime) {
        self.frames += 1;
        if let Some(tc) = tc {
            self.latencies.push(tc.age_ms(at) as f64);
            self.first_counter.get_or_insert(tc.frame);
            self.last_counter = Some(tc.frame);
        }
    }

    /// Frames the publisher sent in this window that never reached the
    /// sink: the timecode's gaps, less those the reader was overtaken on.
    fn never_shown(&self) -> u64 {
        self.missing().saturating_sub(self.overtaken)
    }

    /// Frames the publisher sent in this window that this reader never saw.
    fn missing(&self) -> u64 {
        match (self.first_counter, self.last_counter) {
            (Some(a), Some(b)) => {
                (u64::from(b.wrapping_sub(a)) + 1).saturating_sub(self.latencies.len() as u64)
            }
            _ => 0,
        }
    }

    fn pct(&self, p: f64) -> f64 {
        let mut v = self.latencies.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return f64::NAN;
        }
        v[((v.len() - 1) as f64 * p).round() as usize]
    }

    fn cpu_ms_per_frame(&self) -> f64 {
        self.cpu_s * 1000.0 / self.frames.max(1) as f64
    }
}

fn play_phase(
    uri: &str,
    format: PixelFormat,
    seconds: u64,
    measure_av: bool,
    latency: SrtLatency,
) -> Result<(Phase, Vec<f64>, u64), String> {
    let player = Player::start(
        uri,
        PlayerOptions {
            format,
            audio: AudioOutput::Silent,
            measure_av,
            srt_latency: latency,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    // Warm up: the first frames carry start-up, not steady state.
    let start = Instant::now();
    while player.take_frame().is_none_or(|f| f.timecode.is_none()) {
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!("no frames from {uri}: {:?}", player.state()));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let warm_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < warm_until {
        let _ = player.take_frame();
        std::thread::sleep(Duration::from_millis(2));
    }
    let dropped_before = player.stats().dropped;
    let skipped_before = player.stats().skipped;
    let cpu_before = cpu_seconds("self");
    let mut phase = Phase::default();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        if let Some(frame) = player.take_frame() {
            phase.note(frame.timecode, frame.received);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    phase.cpu_s = cpu_seconds("self") - cpu_before;
    phase.overtaken = player.stats().skipped - skipped_before;
    let av = player.av_offsets_ms();
    let dropped = player.stats().dropped - dropped_before;
    Ok((phase, av, dropped))
}

fn gst_launch_phase(uri: &str, seconds: u64, latency: u32) -> Result<Phase, String> {
    let (w, h) = (1280usize, 720usize);
    let mut child = Killed(
        Command::new("gst-launch-1.0")
            .args([
                "-q",
                "srtsrc",
                &format!("uri={uri}"),
                &format!("latency={latency}"),
                "!",
                "tsdemux",
                "latency=40",
            ])
            .args([
                "!",
                "h264parse",
                "!",
                "avdec_h264",
                "!",
                "video/x-raw,format=I420",
            ])
            .args([
                "!",
                "fdsink",
                "fd=1",
                "sync=true",
                "max-lateness=40000000",
                "qos=true",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("gst-launch-1.0: {e}"))?,
    );
    let pid = child.0.id().to_string();
    let mut out = child.0.stdout.take().ok_or("no stdout")?;
    let size = w * h * 3 / 2;
    let mut buf = vec![0u8; size];
    let read_frame =
        |out: &mut std::process::ChildStdout, buf: &mut [u8]| out.read_exact(buf).is_ok();
    let start = Instant::now();
    loop {
        if !read_frame(&mut out, &mut buf) || start.elapsed() > Duration::from_secs(30) {
            return Err("gst-launch-1.0 gave no frames".into());
        }
        if timecode::read_luma(&buf[..w * h], w as u32, h as u32, w).is_ok()
            && start.elapsed() > Duration::from_secs(2)
        {
            break;
        }
    }
    let cpu_before = cpu_seconds(&pid);
    let mut phase = Phase::default();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        if !read_frame(&mut out, &mut buf) {
            break;
        }
        let at = SystemTime::now();
        phase.note(
            timecode::read_luma(&buf[..w * h], w as u32, h as u32, w).ok(),
            at,
        );
    }
    phase.cpu_s = cpu_seconds(&pid) - cpu_before;
    Ok(phase)
}

/// Serves the HLS directory over HTTP, as the server's axum route does, so
/// the bench needs no database or game server.
fn serve_dir(dir: std::path::PathBuf) -> Result<SocketAddr, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let dir = dir.clone();
            std::thread::spawn(move || {
                use std::io::{BufRead, BufReader, Write};
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let name = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.rsplit('/').next())
                    .unwrap_or("")
                    .to_owned();
                loop {
                    let mut h = String::new();
                    if !matches!(reader.read_line(&mut h), Ok(n) if n > 0) || h == "\r\n" {
                        break;
                    }
                }
                let plain = name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
                    && !name.starts_with('.');
                let body = if plain {
                    std::fs::read(dir.join(&name)).ok()
                } else {
                    None
                };
                let mut s = &stream;
                let _ = match body {
                    Some(b) => {
                        let ct = if name.ends_with(".m3u8") {
                            "application/vnd.apple.mpegurl"
                        } else {
                            "video/mp2t"
                        };
                        write!(s, "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len())
                            .and_then(|_| s.write_all(&b))
                    }
                    None => write!(
                        s,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                };
            });
        }
    });
    Ok(addr)
}

fn run(seconds: u64, latency: SrtLatency, lossy: Option<LossyLink>) -> Result<(), String> {
    vitrine_media::init().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let host_bin = exe.with_file_name("vitrine-host");
    // Through a lossy link the ends are across the internet, so `auto`
    // asks what it asks for an internet address (the proxy itself is on
    // loopback, where `auto` would take it for a LAN).
    let ends = match (latency, &lossy) {
        (SrtLatency::Auto, Some(_)) => SrtLatency::Fixed(INTERNET_LATENCY_MS),
        _ => latency,
    };
    // The relay's floor: the ends' own value in `auto`.
    let relay = RelayProcess::start(
        &exe,
        match latency {
            SrtLatency::Fixed(ms) => ms,
            SrtLatency::Auto => LAN_LATENCY_MS,
        },
    )?;
    let (ingest, viewers) = (relay.ingest.clone(), relay.viewers.clone());
    let proxies = match &lossy {
        Some(link) => Some((link.start(&ingest, 1)?, link.start(&viewers, 2)?)),
        None => None,
    };
    let (publish_to, play_from) = match &proxies {
        Some((up, down)) => (up.addr.to_string(), down.addr.to_string()),
        None => (ingest.clone(), viewers.clone()),
    };
    let host = Killed(
        Command::new(&host_bin)
            .args([
                "--ingest",
                &format!("srt://{publish_to}"),
                "--key",
                KEY,
                "--test-pattern",
                "--latency",
                &ends.to_string(),
            ])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", host_bin.display()))?,
    );
    let srt = format!("srt://{play_from}");
    // What both ends pick, as the player does.
    let hop_ms = ends.for_uri(&srt);
    let link = match &lossy {
        Some(l) => format!(
            "through a lossy link: {} ms round trip, {}% lost each way, on each hop",
            l.rtt_ms, l.loss_percent
        ),
        None => "loopback".to_owned(),
    };
    println!(
        "bench video: 1280x720 at 30 fps, H.264 + AAC over SRT (latency {latency}: {hop_ms} ms each hop), {link}"
    );

    let (rgba, av, dropped) = play_phase(&srt, PixelFormat::Rgba, seconds, true, ends)?;
    let short = (seconds / 3).max(10);
    // Through the lossy link: the latency and drops of our player and of
    // the raw path; the I420 and HLS phases measure CPU and HTTP, which
    // the link does not change.
    let i420 = match lossy {
        None => Some(play_phase(&srt, PixelFormat::I420, short, false, ends)?.0),
        Some(_) => None,
    };
    let raw = gst_launch_phase(&srt, short, hop_ms)?;
    let hls_phase = match lossy {
        None => Some(
            play_phase(
                &format!("http://{}/live.m3u8", serve_dir(relay.hls.clone())?),
                PixelFormat::Rgba,
                short,
                false,
                ends,
            )?
            .0,
        ),
        Some(_) => None,
    };
    let host_cpu = cpu_seconds(&host.0.id().to_string());
    drop(host);

    let line = |name: &str, p: &Phase| {
        println!(
            "{name:<34} p50 {:>6.0} ms  p95 {:>6.0} ms  frames {:>5}  never shown {:>3}  reader missed {:>3}  CPU {:>5.2} ms/frame",
            p.pct(0.5),
            p.pct(0.95),
            p.frames,
            p.never_shown(),
            p.missing() - p.never_shown(),
            p.cpu_ms_per_frame()
        )
    };
    line("SRT via relay, our player (RGBA)", &rgba);
    if let Some(i420) = &i420 {
        line("SRT via relay, our player (I420)", i420);
    }
    line("SRT via relay, gst-launch-1.0", &raw);
    if let Some(hls_phase) = &hls_phase {
        line("HLS via relay, our player (RGBA)", hls_phase);
    }
    let ratio = rgba.pct(0.95) / raw.pct(0.95);
    println!("p95 ratio, our player / gst-launch-1.0: {ratio:.2} (target <= 1.2)");
    println!(
        "dropped over {seconds} s: {} late (QoS), {} never shown (timecode gaps: {}, of which the sink showed {} that the bench's reader missed)",
        dropped,
        rgba.never_shown(),
        rgba.missing(),
        rgba.missing() - rgba.never_shown()
    );
    let mut av_sorted = av.clone();
    av_sorted.sort_by(f64::total_cmp);
    // The offset farthest from 0, with its sign.
    let av_worst = av_sorted
        .iter()
        .copied()
        .max_by(|a, b| a.abs().total_cmp(&b.abs()));
    if let Some(worst) = av_worst {
        let median = av_sorted[av_sorted.len() / 2];
        println!(
            "A/V offset (beep onset - flash, at the sinks): median {median:+.1} ms, worst {worst:+.1} ms over {} beeps (target +-40 ms)",
            av_sorted.len()
        );
    } else {
        println!("A/V offset: no beep/flash pairs found");
    }
    println!("publisher (vitrine-host) CPU: {host_cpu:.1} s total");
    // For `bench-check`: one figure a line, name and value.
    let key = if proxies.is_some() {
        "video.lossy"
    } else {
        "video"
    };
    println!("bench-figure {key}.p95_ms {:.1}", rgba.pct(0.95));
    println!("bench-figure {key}.ratio_to_gst_launch {ratio:.3}");
    println!("bench-figure {key}.never_shown {}", rgba.never_shown());
    if let Some(worst) = av_worst {
        println!("bench-figure {key}.av_worst_ms {:.1}", worst.abs());
    }
    if let Some((up, down)) = proxies {
        println!("link, publisher to relay: {}", up.finish());
        println!("link, relay to players: {}", down.finish());
    }
    Ok(())
}

/// `--co-hosts N`: the host relayed as sent, then through the stage alone
/// and with 1 to N co-hosts.
fn run_stage(seconds: u64, co_hosts: usize) -> Result<(), String> {
    vitrine_media::init().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let host_bin = exe.with_file_name("vitrine-host");
    let relay = RelayProcess::start(&exe, LAN_LATENCY_MS)?;
    let (ingest, viewers) = (relay.ingest.clone(), relay.viewers.clone());
    let publish = |to: &str, key: &str| -> Result<Killed, String> {
        Ok(Killed(
            Command::new(&host_bin)
                .args([
                    "--ingest",
                    &format!("srt://{to}"),
                    "--key",
                    key,
                    "--test-pattern",
                ])
                .stdout(Stdio::null())
                .spawn()
                .map_err(|e| format!("{}: {e}", host_bin.display()))?,
        ))
    };
    let srt = format!("srt://{viewers}");
    let relay_pid = relay.process.0.id().to_string();
    println!(
        "bench video --co-hosts {co_hosts}: every publisher 1280x720 at 30 fps (test pattern), the stage composing 1280x720 at 30 fps, picture in picture; loopback, SRT 20 ms each hop; {seconds} s a phase; 2 cores shared by every process"
    );
    // One phase: the player's latency, and the CPU of the given processes
    // over the same window, as a share of one core.
    let measure = |pids: &[&str]| -> Result<(Phase, Vec<f64>), String> {
        let before: Vec<f64> = pids.iter().map(|p| cpu_seconds(p)).collect();
        let t = Instant::now();
        let (phase, _, _) = play_phase(&srt, PixelFormat::Rgba, seconds, false, SrtLatency::Auto)?;
        let wall = t.elapsed().as_secs_f64();
        let shares = pids
            .iter()
            .zip(before)
            .map(|(p, b)| (cpu_seconds(p) - b) / wall * 100.0)
            .collect();
        Ok((phase, shares))
    };
    let row = |name: &str, p: &Phase, shares: &[f64]| {
        println!(
            "{name:<28} p50 {:>5.0} ms  p95 {:>5.0} ms  frames {:>5}  never shown {:>3}  relay {:>5.1}% of a core  stage {}",
            p.pct(0.5),
            p.pct(0.95),
            p.frames,
            p.never_shown(),
            shares[0],
            shares
                .get(1)
                .map(|s| format!("{s:>5.1}% of a core"))
                .unwrap_or_else(|| "    -".into())
        )
    };

    // 1. The host relayed as sent.
    let host = publish(&ingest, KEY)?;
    let (direct, shares) = measure(&[&relay_pid])?;
    row("host, relayed as sent", &direct, &shares);
    drop(host);
    // The relay's session ends once the host is silent (2 s).
    std::thread::sleep(Duration::from_secs(3));

    // 2. Through the stage.
    let seats: Vec<String> = (0..=co_hosts)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let stage = Killed(
        Command::new(&exe)
            .arg("--stage-only")
            .arg(&ingest)
            .args(&seats)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("stage: {e}"))?,
    );
    for seat in &seats {
        wait_bound(seat, "the stage")?;
    }
    let stage_pid = stage.0.id().to_string();
    let mut publishers = vec![publish(&seats[0], KEY)?];
    let mut staged = Vec::new();
    for (k, seat) in seats.iter().enumerate() {
        if k > 0 {
            publishers.push(publish(seat, &format!("bench-co-host-{k}"))?);
        }
        let (phase, shares) = measure(&[&relay_pid, &stage_pid])?;
        row(
            &format!("stage, host + {k} co-host{}", if k == 1 { "" } else { "s" }),
            &phase,
            &shares,
        );
        staged.push((phase, shares[1]));
    }
    drop(publishers);
    let added = staged[1.min(co_hosts)].0.pct(0.95) - direct.pct(0.95);
    let per_co_host = (staged[co_hosts].1 - staged[0].1) / co_hosts as f64;
    println!(
        "the stage adds {added:.0} ms at p95 with two publishers; each co-host costs the stage {per_co_host:.1}% of a core (decode, scale, compose), the host alone {:.1}% (compose and encode)",
        staged[0].1
    );
    println!("bench-figure video.stage.added_p95_ms {added:.1}");
    println!("bench-figure video.stage.cpu_per_co_host_pct {per_co_host:.1}");
    Ok(())
}
