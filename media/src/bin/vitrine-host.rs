//! `vitrine-host`: publish a test pattern, a camera or a file to a Vitrine
//! server's ingest over SRT.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use vitrine_media::StreamKey;
use vitrine_media::publish::{Codec, PublishEnd, PublishOptions, Publisher, Source};
use vitrine_media::srt::SrtLatency;

#[derive(Parser, Debug)]
#[command(
    name = "vitrine-host",
    about = "Publish live video to a Vitrine server"
)]
struct Args {
    /// The server's SRT ingest, e.g. srt://127.0.0.1:9000.
    #[arg(long, env = "VITRINE_INGEST")]
    ingest: String,
    /// The show's stream key (the host console shows it).
    #[arg(long, env = "VITRINE_STREAM_KEY")]
    key: String,
    /// Colour bars, a clock, an in-picture timecode and a beep each second.
    #[arg(long, group = "source")]
    test_pattern: bool,
    /// A V4L2 camera such as /dev/video0 (with the default microphone).
    #[arg(long, group = "source")]
    camera: Option<PathBuf>,
    /// A media file, played once in real time.
    #[arg(long, group = "source")]
    file: Option<PathBuf>,
    /// h264 (with AAC in MPEG-TS; what HLS needs) or vp8 (with Opus in WebM).
    #[arg(long, default_value = "h264")]
    codec: Codec,
    #[arg(long, default_value_t = 1280)]
    width: u32,
    #[arg(long, default_value_t = 720)]
    height: u32,
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Video bitrate in kbit/s.
    #[arg(long, default_value_t = 2500)]
    bitrate: u32,
    /// SRT latency in milliseconds, or `auto`: 20 to a loopback or LAN
    /// address, 120 (libsrt's default) across the internet.
    #[arg(long, default_value = "auto")]
    latency: SrtLatency,
    /// Stop at the first failure instead of reconnecting.
    #[arg(long)]
    once: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    let key = match StreamKey::new(args.key.clone()) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("vitrine-host: --key: {e}");
            return ExitCode::from(2);
        }
    };
    let source = match (args.test_pattern, args.camera, args.file) {
        (true, None, None) => Source::TestPattern,
        (false, Some(camera), None) => Source::Camera(camera),
        (false, None, Some(file)) => Source::File(file),
        _ => {
            eprintln!("vitrine-host: choose one of --test-pattern, --camera DEVICE, --file PATH");
            return ExitCode::from(2);
        }
    };
    let mut options = PublishOptions::new(source);
    options.codec = args.codec;
    options.width = args.width;
    options.height = args.height;
    options.fps = args.fps;
    options.bitrate_kbps = args.bitrate;
    options.latency = args.latency;

    let mut backoff = Duration::from_millis(500);
    loop {
        let publisher = match Publisher::start(&args.ingest, &key, &options) {
            Ok(p) => p,
            Err(e @ vitrine_media::publish::PublishError::Refused(_)) if !args.once => {
                eprintln!("vitrine-host: {e}; trying again in {backoff:?}");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
            Err(e) => {
                eprintln!("vitrine-host: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "vitrine-host: publishing to {} (SRT latency {} ms)",
            args.ingest,
            publisher.latency_ms()
        );
        let end = loop {
            if let Some(end) = publisher.wait(Duration::from_secs(1)) {
                break end;
            }
            if publisher.frames() > 0 {
                backoff = Duration::from_millis(500);
            }
        };
        drop(publisher);
        match end {
            PublishEnd::Finished => {
                println!("vitrine-host: the source ended");
                return ExitCode::SUCCESS;
            }
            PublishEnd::Failed(e) if args.once => {
                eprintln!("vitrine-host: {e}");
                return ExitCode::FAILURE;
            }
            PublishEnd::Failed(e) => {
                eprintln!("vitrine-host: {e}; reconnecting in {backoff:?}");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}
