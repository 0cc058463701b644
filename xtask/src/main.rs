//! `cargo xtask`: the project's tasks, with no dependencies so it builds in
//! seconds.
//!
//!   setup [demo|test]   install the system packages a task needs
//!   demo [--bots N] [--seconds S]
//!                       server with an embedded database, bots in a room,
//!                       and the showroom: a window, or with no display a
//!                       picture rendered offscreen
//!   test                every test (what CI runs)
//!   bench room [--bots N] [--rooms R] [--seconds S] [--mix mixed|walkers]
//!                       room benchmark against the release server
//!   bench voice [--bots N] [--talkers N] [--seconds S] [--clicks N]
//!                       voice: bandwidth, server CPU, mouth-to-ear latency
//!   bench flash-sale    flash-sale claims, engine against correct baselines (SQL, Redis), in process and over HTTP
//!   bench client        showroom frame times at 1280x720 (offscreen)
//!   bench check [--record] [--only room,flash-sale,video,client]
//!                       short runs of those, against their targets and
//!                       docs/bench-baseline.json (non-zero when one fails)
//!   bots ARGS…          run `vitrine-bots` (see `cargo xtask bots --help`)
//!   assets [--check]    (re)make the products' 3D models in assets/models;
//!                       --check fails if a committed one differs

mod assets;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, String>;

/// A Debian package and why a task needs it.
struct Package {
    name: &'static str,
    why: &'static str,
}

/// Needed to build anything here: Rust links with `cc`, and the embedded
/// SQLite is compiled from C.
const BUILD: &[Package] = &[
    Package {
        name: "gcc",
        why: "C compiler and linker for Rust and the bundled SQLite",
    },
    Package {
        name: "libc6-dev",
        why: "C library headers for the bundled SQLite",
    },
    Package {
        name: "pkg-config",
        why: "finds GStreamer for gstreamer-rs (vitrine-media, linked by the server)",
    },
    Package {
        name: "libgstreamer1.0-dev",
        why: "GStreamer 1.22's headers and library: the media relay, publisher and player",
    },
    Package {
        name: "libgstreamer-plugins-base1.0-dev",
        why: "GStreamer's app, video and pbutils libraries (appsink, video frames, discoverer)",
    },
    Package {
        name: "libgstreamer-plugins-bad1.0-dev",
        why: "GStreamer's WebRTC and SDP libraries: the console's live preview (webrtcbin)",
    },
];

/// Live video at run time: the GStreamer elements the relay, the publisher
/// and the player are built from, and ffmpeg for RTMP.
const MEDIA: &[Package] = &[
    Package {
        name: "gstreamer1.0-plugins-base",
        why: "videotestsrc, audiotestsrc, uridecodebin, videoconvert, appsink, opus",
    },
    Package {
        name: "gstreamer1.0-plugins-good",
        why: "VP8, WebM, RTP-free HTTP (souphttpsrc), v4l2 cameras, AAC parsing, autoaudiosink",
    },
    Package {
        name: "gstreamer1.0-plugins-bad",
        why: "SRT (srtsrc/srtsink), MPEG-TS mux and demux, HLS (hlssink2, hlsdemux), h264parse",
    },
    Package {
        name: "gstreamer1.0-plugins-ugly",
        why: "x264enc: the H.264 encoder vitrine-host uses",
    },
    Package {
        name: "gstreamer1.0-libav",
        why: "avdec_h264 and avenc_aac (FFmpeg's decoder and AAC encoder)",
    },
    Package {
        name: "gstreamer1.0-x",
        why: "clockoverlay and timeoverlay: the test pattern's visible clock; textoverlay: the stage's name tags",
    },
    Package {
        name: "gstreamer1.0-nice",
        why: "ICE (nicesrc/nicesink) for webrtcbin: the console's live preview",
    },
    Package {
        name: "ffmpeg",
        why: "the RTMP ingest (ffmpeg -listen 1 bridges RTMP to SRT); the tests push with it as OBS would",
    },
];

/// The showroom's sound: the player's audio sink (it falls back to a silent
/// clock-synced sink where there is no sound card).
const SOUND: &[Package] = &[Package {
    name: "gstreamer1.0-alsa",
    why: "ALSA output for the host's voice in the showroom",
}];

/// The sound tests' hardware (`tests/tests/sound.rs`): a real sound server
/// whose null sinks stand in for a microphone and speakers.
const SOUND_SERVER: &[Package] = &[
    Package {
        name: "pulseaudio",
        why: "a real sound server for the microphone-to-speakers test",
    },
    Package {
        name: "pulseaudio-utils",
        why: "paplay, parec and pactl: speak into the test's microphone, record its speakers",
    },
    Package {
        name: "gstreamer1.0-pulseaudio",
        why: "pulsesrc and pulsesink, which autoaudiosrc and autoaudiosink pick",
    },
];

/// The demo's bots say a few lines aloud, spoken by espeak-ng when the demo
/// starts (made here, never fetched); the sound test says one into its
/// microphone.
const SPEECH: &[Package] = &[Package {
    name: "espeak-ng",
    why: "speech synthesis: the demo's bots say a few lines on voice chat",
}];

/// What the demo's talking bots say, one line each.
const DEMO_LINES: &[&str] = &[
    "Hi! Does this jacket come in blue?",
    "The amber perfume smells lovely. Come and try it.",
    "Is there a discount if we buy two?",
];

/// Speaks [`DEMO_LINES`] into WAV files under the target dir with
/// espeak-ng; the bots' `--voice` arguments for them, or a tone for each
/// when espeak-ng cannot run.
fn demo_voices() -> Vec<String> {
    let dir = target_dir().join("demo-voice");
    let _ = std::fs::create_dir_all(&dir);
    let mut args = Vec::new();
    for (i, line) in DEMO_LINES.iter().enumerate() {
        let wav = dir.join(format!("line-{i}.wav"));
        let voice = ["en-us", "en-gb", "en-us+f3"][i % 3];
        let made = Command::new("espeak-ng")
            .args(["-v", voice, "-s", "150", "-w"])
            .arg(&wav)
            .arg(line)
            .status()
            .is_ok_and(|s| s.success());
        if made {
            args.extend(["--voice".to_owned(), wav.to_string_lossy().into_owned()]);
        } else {
            println!("xtask: espeak-ng could not speak; bot {i} talks in a tone instead");
            args.extend(["--voice".to_owned(), "tone".to_owned()]);
        }
    }
    println!(
        "xtask: {} bots talk on voice chat (lines spoken by espeak-ng into {})",
        DEMO_LINES.len(),
        dir.display()
    );
    args
}

/// The video benchmark plays the same stream with plain gst-launch-1.0.
const GST_TOOLS: &[Package] = &[Package {
    name: "gstreamer1.0-tools",
    why: "gst-launch-1.0: the raw GStreamer path the video benchmark compares against",
}];

/// The flash-sale benchmark's Redis baseline (the bench starts its own
/// server on a free port; nothing else uses Redis).
const REDIS: &[Package] = &[Package {
    name: "redis-server",
    why: "Redis: the flash-sale benchmark's stock counter in a Lua script, the usual alternative to our engine",
}];

/// The tests also run the store and the commerce engine on PostgreSQL.
const POSTGRES: &[Package] = &[Package {
    name: "postgresql",
    why: "PostgreSQL server: the store's tests run on it as well as on SQLite",
}];

/// The host console's tests drive a real browser through WebDriver.
const BROWSER: &[Package] = &[
    Package {
        name: "chromium",
        why: "a real browser for the host console's tests (headless)",
    },
    Package {
        name: "chromium-driver",
        why: "chromedriver: the WebDriver server the console's tests drive Chromium through",
    },
];

/// The showroom renders with Vulkan; with no GPU, Mesa's lavapipe does it
/// on the CPU (tests and benchmarks render offscreen: no display needed).
const RENDER: &[Package] = &[
    Package {
        name: "libvulkan1",
        why: "the Vulkan loader the showroom's renderer (wgpu) opens",
    },
    Package {
        name: "mesa-vulkan-drivers",
        why: "Mesa's Vulkan drivers, lavapipe among them: rendering on the CPU where there is no GPU",
    },
];

/// The OpenXR loader the showroom opens at start to look for a headset
/// (`libopenxr_loader.so`, the name bevy_mod_openxr loads, is in the -dev
/// package). Without a runtime the showroom says so and stays on the desktop.
const XR: &[Package] = &[
    Package {
        name: "libopenxr-loader1",
        why: "the OpenXR loader: the showroom looks for a headset through it",
    },
    Package {
        name: "libopenxr-dev",
        why: "libopenxr_loader.so, the loader's name that bevy_mod_openxr opens",
    },
];

/// A showroom window on X11 (winit opens these libraries at run time).
const WINDOW: &[Package] = &[
    Package {
        name: "libx11-xcb1",
        why: "X11 for the showroom's window",
    },
    Package {
        name: "libxcursor1",
        why: "X11 cursors for the showroom's window",
    },
    Package {
        name: "libxi6",
        why: "X11 input for the showroom's window",
    },
    Package {
        name: "libxrandr2",
        why: "X11 screen sizes for the showroom's window",
    },
    Package {
        name: "libxkbcommon-x11-0",
        why: "keyboard layouts for the showroom's window",
    },
];

/// Tasks that start and stop server processes.
const PROCESSES: &[Package] = &[Package {
    name: "procps",
    why: "`kill` to stop servers with SIGTERM",
}];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_owned()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

/// [`run`] with a time limit: a test pass that hangs is killed, with every
/// process it started, and named as the failure, rather than eating CI's
/// whole budget. (libtest has already printed "has been running for over
/// 60 seconds" for the test that hung.)
fn run_capped(cmd: &mut Command, cap: Duration) -> Result<()> {
    use std::os::unix::process::CommandExt;
    // Its own process group, so the kill reaches the test binaries and the
    // servers they started, not only cargo.
    let mut child = cmd
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let deadline = Instant::now() + cap;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return if status.success() {
                Ok(())
            } else {
                Err(format!("{cmd:?} failed: {status}"))
            };
        }
        if Instant::now() >= deadline {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            return Err(format!(
                "{cmd:?} did not finish within {} minutes and was killed: a test \
                 hung; the test named \"has been running for over 60 seconds\" above",
                cap.as_secs() / 60
            ));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Installs whichever of `packages` are missing, saying what and why.
fn ensure_packages(packages: &[&Package]) -> Result<()> {
    if Command::new("dpkg-query")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("xtask: not a Debian-like system; make sure these are installed:");
        for p in packages {
            println!("  {} ({})", p.name, p.why);
        }
        return Ok(());
    }
    let missing: Vec<&&Package> = packages.iter().filter(|p| !installed(p.name)).collect();
    if missing.is_empty() {
        println!("xtask: system packages present: {}", names(packages));
        return Ok(());
    }
    println!("xtask: installing missing system packages with apt-get:");
    for p in &missing {
        println!("  {:<12} {}", p.name, p.why);
    }
    let sudo = !is_root();
    let apt = |args: &[&str]| {
        let mut cmd = if sudo {
            Command::new("sudo")
        } else {
            Command::new("apt-get")
        };
        if sudo {
            cmd.arg("apt-get");
        }
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut cmd)
    };
    apt(&["update", "-q"])?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(missing.iter().map(|p| p.name));
    apt(&args)
}

fn names(packages: &[&Package]) -> String {
    packages
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a window can open here (an X or Wayland display is set).
fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()))
}

fn packages_for(task: &str) -> Vec<&'static Package> {
    let mut list: Vec<&Package> = BUILD.iter().collect();
    if matches!(task, "demo" | "test" | "bench") {
        list.extend(PROCESSES.iter());
        list.extend(RENDER.iter());
        list.extend(MEDIA.iter());
        list.extend(XR.iter());
    }
    if task == "demo" {
        list.extend(SOUND.iter());
        list.extend(SPEECH.iter());
    }
    if task == "bench" {
        list.extend(GST_TOOLS.iter());
        list.extend(REDIS.iter());
    }
    if task == "demo" && has_display() {
        list.extend(WINDOW.iter());
    }
    if matches!(task, "test" | "bench") {
        list.extend(POSTGRES.iter());
    }
    if task == "test" {
        list.extend(BROWSER.iter());
        list.extend(SOUND_SERVER.iter());
        list.extend(SPEECH.iter());
    }
    list
}

fn flag(args: &[String], name: &str, default: u64) -> Result<u64> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse()
            .map_err(|e| format!("{name}: {e}")),
        None => Ok(default),
    }
}

/// A flag's value as given (the program it goes to checks it).
fn text_flag<'a>(args: &'a [String], name: &str, default: &'a str) -> Result<&'a str> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args.get(i + 1).ok_or(format!("{name} needs a value"))?),
        None => Ok(default),
    }
}

/// Features that `test` turns on so that every test target builds: the
/// rendering tests are behind `vitrine-tests/render`, off by default so the
/// other cross-crate tests link without Bevy's renderer.
const TEST_FEATURES: &str = "vitrine-tests/render";

fn test() -> Result<()> {
    ensure_packages(&packages_for("test"))?;
    run(cargo().args(["fmt", "--all", "--check"]))
        .map_err(|e| format!("{e}\nrun `cargo fmt --all` and commit the result"))?;
    // One compile both lints and builds: clippy's driver compiles our crates
    // for real, so every target `cargo clippy --all-targets` checks (each
    // library and binary, and each as its tests) is linted with `-D
    // warnings` while it is built, and the dependencies are compiled once.
    // `cargo clippy` would first check every dependency on its own (9 of a
    // clean run's 34.5 minutes, docs/BENCHMARKS.md). The test binaries are
    // then the driver's: rustc with clippy's passes and MIR optimisations
    // off, which our unoptimised dev profile barely uses.
    let mut build = cargo();
    build.args([
        "build",
        "--workspace",
        "--all-targets",
        "--locked",
        "--features",
        TEST_FEATURES,
    ]);
    run(lint_while_building(&mut build)?)
        .map_err(|e| format!("{e}\nclippy or the build failed: the first error is above"))?;
    // Same wrapper, same features: everything is fresh, nothing recompiles.
    let mut tests = cargo();
    tests.args([
        "test",
        "--workspace",
        "--locked",
        "--features",
        TEST_FEATURES,
    ]);
    lint_while_building(&mut tests)?;
    let postgres = match test_postgres() {
        Ok(url) => {
            let at = url.split('@').next_back().unwrap_or_default();
            println!("xtask: tests run on SQLite and on PostgreSQL ({at})");
            tests.env("VITRINE_TEST_POSTGRES", &url);
            Some(url)
        }
        // CI must test both; a laptop without PostgreSQL still tests SQLite.
        Err(e) if std::env::var_os("CI").is_none() => {
            println!("xtask: PostgreSQL unavailable ({e}); testing on SQLite only");
            None
        }
        Err(e) => return Err(format!("PostgreSQL for the tests: {e}")),
    };
    // Both passes take about 15 minutes on a warm 2-core machine; the caps
    // leave a slow one room and still end inside CI's 90 after the build.
    run_capped(&mut tests, Duration::from_secs(40 * 60))?;
    // The store's and the engines' tests took both backends in one run;
    // the servers the HTTP, room and crash tests start take one each, so
    // those run again with their servers on PostgreSQL.
    if let Some(url) = postgres {
        println!("xtask: the HTTP, room and crash tests again, their servers on PostgreSQL");
        let mut again = cargo();
        again.args([
            "test",
            "--workspace",
            "--locked",
            "--features",
            TEST_FEATURES,
        ]);
        for target in POSTGRES_AGAIN {
            again.args(["--test", target]);
        }
        lint_while_building(&mut again)?;
        run_capped(
            again
                .env("VITRINE_TEST_POSTGRES", url)
                .env("VITRINE_TEST_BACKEND", "postgres"),
            Duration::from_secs(25 * 60),
        )?;
    }
    Ok(())
}

/// The test binaries whose servers run on PostgreSQL in the second pass:
/// `it` (HTTP and rooms over loopback) and the server binary's `kill -9`
/// tests.
const POSTGRES_AGAIN: &[&str] = &["it", "crash", "group_deal_crash", "payment_crash"];

/// Has `cmd` compile our crates with clippy's driver, denying warnings, the
/// way `cargo clippy -- -D warnings` does; dependencies keep plain `rustc`
/// (cargo applies `RUSTC_WORKSPACE_WRAPPER` to workspace members only).
fn lint_while_building(cmd: &mut Command) -> Result<&mut Command> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run {rustc:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{rustc:?} --print sysroot: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // Beside rustc, so it is the same compiler version as the build's.
    let driver = Path::new(&sysroot).join("bin").join("clippy-driver");
    if !driver.is_file() {
        return Err(format!(
            "no clippy-driver in {sysroot}/bin: run `rustup component add clippy`"
        ));
    }
    // `cargo clippy` passes its lint flags to the driver the same way.
    Ok(cmd
        .env("RUSTC_WORKSPACE_WRAPPER", driver)
        .env("CLIPPY_ARGS", ["-D", "warnings"].join("__CLIPPY_HACKERY__")))
}

/// Runs a command as the `postgres` system user.
fn as_postgres(args: &[&str]) -> Command {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]);
        c
    } else {
        let mut c = Command::new("sudo");
        c.args(["-u", "postgres"]);
        c
    };
    cmd.args(args).current_dir("/");
    cmd
}

/// Starts Debian's PostgreSQL cluster and makes a fresh `vitrine_test`
/// database; returns its URL. `VITRINE_TEST_POSTGRES`, when set, wins.
fn test_postgres() -> Result<String> {
    if let Ok(url) = std::env::var("VITRINE_TEST_POSTGRES") {
        return Ok(url);
    }
    let ready = || {
        Command::new("pg_isready")
            .args(["-q", "-h", "127.0.0.1", "-p", "5432"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready() {
        println!("xtask: starting PostgreSQL");
        let mut start = if is_root() {
            Command::new("service")
        } else {
            Command::new("sudo")
        };
        if !is_root() {
            start.arg("service");
        }
        run(start.args(["postgresql", "start"]))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready() {
            if Instant::now() > deadline {
                return Err("PostgreSQL did not accept connections within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let sql = [
        "DROP DATABASE IF EXISTS vitrine_test",
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vitrine') THEN \
         CREATE ROLE vitrine LOGIN PASSWORD 'vitrine'; END IF; END $$",
        "CREATE DATABASE vitrine_test OWNER vitrine",
    ];
    for statement in sql {
        let out = as_postgres(&["psql", "-q", "-v", "ON_ERROR_STOP=1", "-c", statement])
            .output()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "psql: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok("postgres://vitrine:vitrine@127.0.0.1:5432/vitrine_test".into())
}

/// Waits for the server's log line with its HTTP address.
fn started_at(child: &mut Child) -> Result<SocketAddr> {
    let stdout = child.stdout.take().ok_or("server has no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .ok_or("the server exited while starting")?
            .map_err(|e| e.to_string())?;
        println!("{line}");
        if let Some(rest) = line.split("http_addr=").nth(1) {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            break addr
                .parse()
                .map_err(|e| format!("bad address {addr}: {e}"))?;
        }
    };
    // Go on echoing the server's log.
    std::thread::spawn(move || {
        for line in lines.map_while(std::result::Result::ok) {
            println!("{line}");
        }
    });
    Ok(addr)
}

fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200")
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            println!("xtask: server stopped ({status})");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
}

/// The demo's host account; its data lives in `target/demo-data` only.
const DEMO_HOST: &str = "demo.host";
const DEMO_HOST_PASSWORD: &str = "vitrine-demo-host";

fn demo(args: &[String]) -> Result<()> {
    ensure_packages(&packages_for("demo"))?;
    let bots = flag(args, "--bots", 5)?;
    let seconds = flag(args, "--seconds", 0)?;
    // The whole workspace with its tests: the same features, so the same
    // compiled dependencies, as `cargo xtask test` (the Bevy stack is built
    // once for both, not twice).
    run(cargo().args([
        "build",
        "--workspace",
        "--all-targets",
        "--features",
        TEST_FEATURES,
    ]))?;
    let bin = target_dir().join("debug");
    let data = target_dir().join("demo-data");
    // A host for the show: the bots' run has them start a flash sale.
    let made = Command::new(bin.join("vitrine-server"))
        .current_dir(workspace_root())
        .arg("--data-dir")
        .arg(&data)
        .args([
            "admin",
            "create-user",
            DEMO_HOST,
            "--role",
            "host",
            "--password",
            DEMO_HOST_PASSWORD,
        ])
        .output()
        .map_err(|e| format!("cannot run vitrine-server: {e}"))?;
    let already = String::from_utf8_lossy(&made.stderr).contains("taken");
    if !made.status.success() && !already {
        return Err(format!(
            "creating the demo host failed: {}",
            String::from_utf8_lossy(&made.stderr)
        ));
    }
    println!("xtask: demo host {DEMO_HOST:?}, password {DEMO_HOST_PASSWORD:?}");
    println!(
        "xtask: starting vitrine-server (data in {})",
        data.display()
    );
    let mut server = Command::new(bin.join("vitrine-server"))
        .current_dir(workspace_root())
        .args([
            "--http",
            "127.0.0.1:8080",
            "--udp",
            "127.0.0.1:5000",
            // Four co-host seats: the console's Stage card invites guests
            // onto the stage beside the host.
            "--media-co-host",
            "127.0.0.1:9010,127.0.0.1:9011,127.0.0.1:9012,127.0.0.1:9013",
            "--data-dir",
        ])
        .arg(&data)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let addr = match started_at(&mut server) {
        Ok(addr) => addr,
        Err(e) => {
            stop(&mut server);
            return Err(e);
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !healthy(addr) {
        if Instant::now() > deadline {
            stop(&mut server);
            return Err("the server did not answer /healthz within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("http://{addr}");
    // A live show on the stage screen: the test pattern into the ingest.
    let mut host = match live_test_stream(&bin, &data) {
        Ok(host) => Some(host),
        Err(e) => {
            println!("xtask: no live video in this demo: {e}");
            None
        }
    };
    println!("xtask: server up on {url}; {bots} bots joining main-stage");
    let mut crowd = match Command::new(bin.join("vitrine-bots"))
        .args([
            "--server",
            &url,
            "--room",
            "main-stage",
            "--count",
            &bots.to_string(),
            "--seconds",
            &seconds.to_string(),
            "--host-user",
            DEMO_HOST,
            "--host-password",
            DEMO_HOST_PASSWORD,
            // The first bot asks the window's shopper into a party.
            "--party-with",
            "You",
            // And sets a group deal for the product card's team buttons.
            "--group-deal",
        ])
        // The first bots talk on voice chat.
        .args(demo_voices())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            stop(&mut server);
            return Err(format!("cannot start the bots: {e}"));
        }
    };
    // The showroom: a window where there is a display, else one picture
    // rendered offscreen, then the bots go on until they are done.
    let mut showroom = Command::new(bin.join("vitrine"));
    showroom
        .current_dir(workspace_root())
        .args(["--server", &url, "--room", "main-stage"]);
    let result = if has_display() {
        println!("xtask: opening the showroom (close its window to stop the demo)");
        let shown = run(showroom.args(["--name", "You"]));
        let _ = crowd.kill();
        shown
    } else {
        let picture = data.join("showroom.png");
        println!(
            "xtask: no display here: rendering the showroom offscreen to {}",
            picture.display()
        );
        let shown = run(showroom
            .args(["--name", "Camera", "--frames", "30", "--screenshot"])
            .arg(&picture));
        if shown.is_ok() {
            println!(
                "xtask: the showroom as a shopper sees it: {}",
                picture.display()
            );
            println!("xtask: the bots go on (Ctrl-C to stop)");
        }
        let crowd_done = crowd
            .wait()
            .map_err(|e| format!("waiting for the bots: {e}"))
            .and_then(|status| {
                if status.success() {
                    Ok(())
                } else {
                    Err(format!("the bots failed: {status}"))
                }
            });
        shown.and(crowd_done)
    };
    if let Some(host) = host.as_mut() {
        let _ = host.kill();
        let _ = host.wait();
    }
    stop(&mut server);
    result
}

/// `vitrine-host --test-pattern` publishing to the demo server's ingest
/// (its default, 127.0.0.1:9000) with the key the server made.
fn live_test_stream(bin: &Path, data: &Path) -> Result<std::process::Child> {
    let key_file = data.join("stream.key");
    let key =
        std::fs::read_to_string(&key_file).map_err(|e| format!("{}: {e}", key_file.display()))?;
    println!(
        "xtask: vitrine-host publishes a test pattern to srt://127.0.0.1:9000 (the room goes live)"
    );
    Command::new(bin.join("vitrine-host"))
        .args([
            "--ingest",
            "srt://127.0.0.1:9000",
            "--key",
            key.trim(),
            "--test-pattern",
        ])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start vitrine-host: {e}"))
}

/// Builds `bins` of `packages` in release; the directory they land in.
fn build_release(packages: &[&str], bins: &[&str]) -> Result<PathBuf> {
    let mut build = cargo();
    build.args(["build", "--release"]);
    for package in packages {
        build.args(["-p", package]);
    }
    for bin in bins {
        build.args(["--bin", bin]);
    }
    run(&mut build)?;
    Ok(target_dir().join("release"))
}

fn bench(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        // Each against the release server; the bench checks its own
        // arguments (room: --bots, --rooms, --seconds, --mix; soak: --bots,
        // --minutes, --sale-every, --sample, --rejoin; voice: --bots,
        // --talkers, --seconds, --clicks).
        Some(name @ ("room" | "soak" | "voice")) => {
            ensure_packages(&packages_for("bench"))?;
            let bench = format!("bench-{name}");
            let release = build_release(&["vitrine-server", "vitrine-tests"], &["vitrine-server", &bench])?;
            run(Command::new(release.join(&bench))
                .arg("--server-bin")
                .arg(release.join("vitrine-server"))
                .args(&args[1..]))
        }
        Some("flash-sale") => {
            ensure_packages(&packages_for("bench"))?;
            let release = build_release(&["vitrine-tests"], &["bench-flash-sale"])?;
            let mut bench = Command::new(release.join("bench-flash-sale"));
            bench.args(&args[1..]);
            if std::env::var_os("VITRINE_TEST_POSTGRES").is_none() && !args.iter().any(|a| a == "--postgres") {
                match test_postgres() {
                    Ok(url) => {
                        bench.env("VITRINE_TEST_POSTGRES", url);
                    }
                    Err(e) => println!("xtask: PostgreSQL unavailable ({e}); SQLite only"),
                }
            }
            run(&mut bench)
        }
        Some("check") => {
            ensure_packages(&packages_for("bench"))?;
            // Every benchmark's release binaries, built as each benchmark's
            // own command builds them (the showroom apart: the others link
            // the client without its renderer), then the short runs one
            // after another (`bench-check` compares and prints the table).
            build_release(
                &["vitrine-server", "vitrine-tests", "vitrine-media"],
                &[
                    "vitrine-server",
                    "bench-room",
                    "bench-flash-sale",
                    "bench-check",
                    "vitrine-bench-video",
                    "vitrine-host",
                ],
            )?;
            let release = build_release(&["vitrine-client"], &["vitrine"])?;
            run(Command::new(release.join("bench-check"))
                .current_dir(workspace_root())
                .args(&args[1..]))
        }
        Some("client") => {
            ensure_packages(&packages_for("bench"))?;
            let release = build_release(&["vitrine-client"], &["vitrine"])?;
            let frames = flag(args, "--frames", 600)?;
            let avatars = flag(args, "--avatars", 24)?;
            let products = flag(args, "--products", 40)?;
            run(Command::new(release.join("vitrine"))
                .current_dir(workspace_root())
                .env("RUST_LOG", "warn")
                .args([
                    "--bench",
                    "--width",
                    "1280",
                    "--height",
                    "720",
                    "--frames",
                    &frames.to_string(),
                    "--avatars",
                    &avatars.to_string(),
                    "--products",
                    &products.to_string(),
                ]))
        }
        Some("video") => {
            ensure_packages(&packages_for("bench"))?;
            // Only the media crate in release: GStreamer bindings, no Bevy
            // (and with `--lossy`, the tests crate's proxy).
            run(cargo().args(["build", "--release", "-p", "vitrine-media", "--bins"]))?;
            let lossy = args.iter().any(|a| a == "--lossy");
            if !lossy && args.iter().any(|a| a == "--rtt" || a == "--loss") {
                return Err("--rtt and --loss go with --lossy".into());
            }
            if lossy {
                build_release(&["vitrine-tests"], &["lossy-proxy"])?;
            }
            let seconds = flag(args, "--seconds", 60)?;
            // `auto` (each end by its link: 20 ms on loopback) or ms; the
            // bench binary checks it.
            let latency = text_flag(args, "--latency", "auto")?;
            let mut bench = Command::new(target_dir().join("release").join("vitrine-bench-video"));
            bench
                .env("RUST_LOG", "warn")
                .args(["--seconds", &seconds.to_string()])
                .args(["--latency", latency]);
            if let Some(i) = args.iter().position(|a| a == "--co-hosts") {
                // The stage with 1 to N co-hosts; the binary checks N.
                bench.args(["--co-hosts", args.get(i + 1).map(String::as_str).unwrap_or("")]);
            }
            if lossy {
                // A link across the internet: 40 ms round trip, 1% lost.
                bench
                    .arg("--proxy-bin")
                    .arg(target_dir().join("release").join("lossy-proxy"))
                    .args(["--rtt", text_flag(args, "--rtt", "40")?])
                    .args(["--loss", text_flag(args, "--loss", "1")?]);
            }
            run(&mut bench)
        }
        _ => Err("usage: cargo xtask bench check [--record] [--only room,flash-sale,video,client] | bench room [--bots N] [--rooms R] [--seconds S] [--mix mixed|walkers] | bench flash-sale [--units N] [--clients C] [--postgres URL] | bench client [--frames N] [--avatars N] [--products N] | bench video [--seconds S] [--latency auto|MS] [--lossy [--rtt MS] [--loss PERCENT]] [--co-hosts N] | bench voice [--bots N] [--talkers N] [--seconds S] [--clicks N] | bench soak [--bots N] [--minutes M] [--sale-every S] [--sample S] [--rejoin N]".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    let result = match args.first().map(String::as_str) {
        Some("setup") => {
            let task = rest.first().map(String::as_str).unwrap_or("test");
            ensure_packages(&packages_for(task))
        }
        Some("test") => test(),
        Some("demo") => demo(rest),
        Some("bench") => bench(rest),
        Some("assets") => assets::run(rest),
        Some("bots") => run(cargo()
            .args([
                "run",
                "-q",
                "-p",
                "vitrine-client",
                "--bin",
                "vitrine-bots",
                "--",
            ])
            .args(rest)),
        _ => {
            let mut out = std::io::stderr();
            let _ = writeln!(
                out,
                "usage: cargo xtask <setup [demo|test] | demo [--bots N] [--seconds S] | test | bench room|flash-sale|client|video|voice|soak|check | bots ARGS… | assets [--check]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
