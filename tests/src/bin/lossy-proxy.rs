//! `lossy-proxy`: the tests crate's lossy link ([`vitrine_tests::lossy`])
//! as a process of its own, for a benchmark outside this crate (the video
//! bench's `--proxy-bin`, which puts one in front of each SRT hop).
//!
//! ```text
//! lossy-proxy --to ADDR [--rtt MS] [--jitter MS] [--loss PERCENT] [--seed N]
//! ```
//!
//! Prints `listening ADDR` once it forwards, then runs until its standard
//! input closes, and prints what it did to the datagrams each way.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use vitrine_tests::lossy::{DirectionCounts, Faults, LossyProxy};

fn value<T: std::str::FromStr>(args: &[String], name: &str) -> Result<Option<T>, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => {
            let v = args.get(i + 1).ok_or(format!("{name} needs a value"))?;
            v.parse()
                .map(Some)
                .map_err(|_| format!("{name}: cannot read `{v}`"))
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let to: SocketAddr = value(&args, "--to")?.ok_or("--to ADDR is required")?;
    let rtt_ms: u64 = value(&args, "--rtt")?.unwrap_or(0);
    let jitter_ms: u64 = value(&args, "--jitter")?.unwrap_or(0);
    let loss: f64 = value(&args, "--loss")?.unwrap_or(0.0);
    if !(0.0..=100.0).contains(&loss) || rtt_ms > 10_000 || jitter_ms > rtt_ms / 2 {
        return Err(
            "--loss is 0 to 100 (%), --rtt at most 10000 ms, --jitter at most half the round trip"
                .into(),
        );
    }
    let faults = Faults {
        // The round trip split evenly between the two directions.
        delay: Duration::from_millis(rtt_ms) / 2,
        jitter: Duration::from_millis(jitter_ms),
        loss: loss / 100.0,
        seed: value(&args, "--seed")?.unwrap_or(1),
        ..Faults::none()
    };
    let proxy = LossyProxy::start(to, faults).map_err(|e| format!("cannot start: {e}"))?;
    println!("listening {}", proxy.addr());
    // Until whoever started us closes our input (or dies).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    // Whoever started us may be gone: a closed pipe is no error here.
    let line = |name: &str, d: &DirectionCounts| {
        let _ = writeln!(
            std::io::stdout(),
            "{name}: {} datagrams, {} dropped",
            DirectionCounts::get(&d.seen),
            DirectionCounts::get(&d.dropped)
        );
    };
    line("towards the listener", &proxy.counts().up);
    line("back", &proxy.counts().down);
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("lossy-proxy: {e}");
        std::process::exit(2);
    }
}
