//! Voice's counters for `/metrics`: frames forwarded and dropped (by
//! reason), deliveries withheld from a listener (by reason), and how long
//! forwarding held a frame. The room loop writes them
//! (`rooms::voice`); `cargo xtask bench voice` and the tests read them.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the forwarding-delay histogram, in seconds: from
/// reading the datagram to handing the listeners' packets to the socket.
pub const FORWARD_BUCKETS: [f64; 12] = [
    0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.1,
];

#[derive(Debug, Default)]
pub struct VoiceMetrics {
    /// Frames that passed every check and were forwarded (to however many
    /// listeners, none included).
    pub frames_forwarded: AtomicU64,
    /// Frames queued to listeners: one per listener per frame.
    pub deliveries: AtomicU64,
    dropped: Mutex<BTreeMap<&'static str, u64>>,
    withheld: Mutex<BTreeMap<&'static str, u64>>,
    delay: Mutex<Histogram>,
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; FORWARD_BUCKETS.len()],
    sum: Duration,
    count: u64,
}

fn add(map: &Mutex<BTreeMap<&'static str, u64>>, reason: &'static str, n: u64) {
    if n == 0 {
        return;
    }
    *map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(reason)
        .or_default() += n;
}

fn get(map: &Mutex<BTreeMap<&'static str, u64>>, reason: &str) -> u64 {
    map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(reason)
        .copied()
        .unwrap_or(0)
}

impl VoiceMetrics {
    /// `n` frames refused whole, for `reason`.
    pub fn dropped(&self, reason: &'static str, n: u64) {
        add(&self.dropped, reason, n);
    }

    /// `n` deliveries not made to a listener, for `reason`.
    pub fn withheld(&self, reason: &'static str, n: u64) {
        add(&self.withheld, reason, n);
    }

    pub fn dropped_count(&self, reason: &str) -> u64 {
        get(&self.dropped, reason)
    }

    pub fn withheld_count(&self, reason: &str) -> u64 {
        get(&self.withheld, reason)
    }

    /// One forwarding pass held its frames for `took`.
    pub fn record_delay(&self, took: Duration) {
        let mut h = self.delay.lock().unwrap_or_else(|p| p.into_inner());
        let secs = took.as_secs_f64();
        for (count, bound) in h.buckets.iter_mut().zip(FORWARD_BUCKETS) {
            if secs <= bound {
                *count += 1;
            }
        }
        h.sum += took;
        h.count += 1;
    }

    pub fn render(&self, out: &mut String) {
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            out,
            "vitrine_voice_frames_forwarded_total",
            "Voice frames that passed every check and were forwarded.",
            self.frames_forwarded.load(Ordering::Relaxed),
        );
        counter(
            out,
            "vitrine_voice_deliveries_total",
            "Voice frames queued to listeners (one per listener per frame).",
            self.deliveries.load(Ordering::Relaxed),
        );
        for (name, help, map) in [
            (
                "vitrine_voice_frames_dropped_total",
                "Voice frames refused whole, by reason.",
                &self.dropped,
            ),
            (
                "vitrine_voice_deliveries_withheld_total",
                "Voice frames not sent to a listener, by reason.",
                &self.withheld,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (reason, n) in map.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {n}");
            }
        }
        let h = self.delay.lock().unwrap_or_else(|p| p.into_inner());
        let name = "vitrine_voice_forward_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} From reading a voice datagram to sending the listeners' packets.\n# TYPE {name} histogram"
        );
        for (count, bound) in h.buckets.iter().zip(FORWARD_BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum {:.9}", h.sum.as_secs_f64());
        let _ = writeln!(out, "{name}_count {}", h.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_reasons_and_the_delay_histogram() {
        let m = VoiceMetrics::default();
        m.dropped("too_large", 2);
        m.withheld("listener_muted", 1);
        m.record_delay(Duration::from_micros(150));
        let out = {
            let mut s = String::new();
            m.render(&mut s);
            s
        };
        assert!(out.contains("vitrine_voice_frames_dropped_total{reason=\"too_large\"} 2"));
        assert!(
            out.contains("vitrine_voice_deliveries_withheld_total{reason=\"listener_muted\"} 1")
        );
        assert!(out.contains("vitrine_voice_forward_seconds_bucket{le=\"0.0001\"} 0"));
        assert!(out.contains("vitrine_voice_forward_seconds_bucket{le=\"0.0002\"} 1"));
        assert!(out.contains("vitrine_voice_forward_seconds_count 1"));
    }
}
