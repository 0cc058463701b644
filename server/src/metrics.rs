//! Counters and gauges for `GET /metrics`, in the Prometheus text format.
//! Written by the room ECS and the HTTP tier, read by scrapes.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Tick durations kept for quantiles: about 68 s at 30 Hz.
const TICK_WINDOW: usize = 2048;

/// Upper bounds of the tick histogram's buckets, in seconds: half a
/// millisecond apart up to 5 ms, a millisecond apart to 10 ms (the crowd
/// targets are 4, 8 and 10 ms), coarse above. A scraper takes quantiles over any window
/// from the difference of two scrapes.
pub const TICK_BUCKETS: [f64; 26] = [
    0.0001, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.0025, 0.003, 0.0035, 0.004,
    0.0045, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01, 0.0125, 0.015, 0.02, 0.033, 0.05, 0.1, 0.25,
];

#[derive(Debug, Default)]
pub struct Metrics {
    pub rooms: AtomicU64,
    pub clients: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub messages_in: AtomicU64,
    pub ticks: AtomicU64,
    /// Chat lines and reactions sent in rooms, for the console's rates.
    pub chat_lines: AtomicU64,
    pub reactions: AtomicU64,
    /// Password sign-in's Argon2 checks: the bound on those at once, how
    /// many run now, the most that ever ran at once, and all run.
    pub sign_in_hashes_limit: AtomicU64,
    sign_in_hashes_running: AtomicU64,
    sign_in_hashes_peak: AtomicU64,
    sign_in_hash_checks: AtomicU64,
    tick_times: Mutex<TickWindow>,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// Datagrams at the game port that netcode refused, by reason.
    refused_packets: Mutex<BTreeMap<&'static str, u64>>,
    /// Refused HTTP requests (4xx), by their error code.
    http_refusals: Mutex<BTreeMap<&'static str, u64>>,
    http_requests: Mutex<BTreeMap<u16, u64>>,
    /// Voice forwarding's counters.
    pub voice: crate::voice::VoiceMetrics,
}

#[derive(Debug, Default)]
struct TickWindow {
    recent: VecDeque<Duration>,
    sum: Duration,
    /// Cumulative counts per bucket of `TICK_BUCKETS`.
    buckets: [u64; TICK_BUCKETS.len()],
}

/// Quantiles of the recent tick times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickStats {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub samples: usize,
}

impl Metrics {
    pub fn record_tick(&self, took: Duration) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
        let mut window = self.tick_times.lock().unwrap_or_else(|p| p.into_inner());
        window.sum += took;
        let secs = took.as_secs_f64();
        for (count, bound) in window.buckets.iter_mut().zip(TICK_BUCKETS) {
            if secs <= bound {
                *count += 1;
            }
        }
        window.recent.push_back(took);
        if window.recent.len() > TICK_WINDOW {
            window.recent.pop_front();
        }
    }

    pub fn tick_stats(&self) -> Option<TickStats> {
        let window = self.tick_times.lock().unwrap_or_else(|p| p.into_inner());
        if window.recent.is_empty() {
            return None;
        }
        let mut sorted: Vec<Duration> = window.recent.iter().copied().collect();
        sorted.sort_unstable();
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        Some(TickStats {
            p50: at(0.5),
            p99: at(0.99),
            max: *sorted.last().unwrap_or(&Duration::ZERO),
            samples: sorted.len(),
        })
    }

    /// An Argon2 check starts; how many run now.
    pub fn sign_in_hash_started(&self) -> u64 {
        self.sign_in_hash_checks.fetch_add(1, Ordering::Relaxed);
        let running = self.sign_in_hashes_running.fetch_add(1, Ordering::AcqRel) + 1;
        self.sign_in_hashes_peak
            .fetch_max(running, Ordering::AcqRel);
        running
    }

    pub fn sign_in_hash_finished(&self) {
        self.sign_in_hashes_running.fetch_sub(1, Ordering::AcqRel);
    }

    pub fn reject(&self, reason: &'static str) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    pub fn rejected(&self, reason: &str) -> u64 {
        self.rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(reason)
            .copied()
            .unwrap_or(0)
    }

    pub fn refuse_packets(&self, reason: &'static str, count: u64) {
        *self
            .refused_packets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason)
            .or_default() += count;
    }

    /// Datagrams refused at the game port, all reasons.
    pub fn refused_packets(&self) -> u64 {
        self.refused_packets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }

    pub fn http_refused(&self, code: &'static str) {
        *self
            .http_refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(code)
            .or_default() += 1;
    }

    pub fn http_response(&self, status: u16) {
        *self
            .http_requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(status)
            .or_default() += 1;
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        gauge(
            &mut out,
            "vitrine_rooms",
            "Rooms this server holds.",
            "gauge",
            self.rooms.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "vitrine_clients",
            "Connected game clients.",
            "gauge",
            self.clients.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "vitrine_ticks_total",
            "Room ticks run.",
            "counter",
            self.ticks.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "vitrine_bytes_in_total",
            "UDP payload bytes received on the game socket.",
            "counter",
            self.bytes_in.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "vitrine_bytes_out_total",
            "UDP payload bytes sent on the game socket.",
            "counter",
            self.bytes_out.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "vitrine_messages_in_total",
            "Game messages received from clients.",
            "counter",
            self.messages_in.load(Ordering::Relaxed),
        );

        gauge(
            &mut out,
            "vitrine_sign_in_hashes_limit",
            "Password checks (Argon2) allowed to run at once.",
            "gauge",
            self.sign_in_hashes_limit.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "vitrine_sign_in_hashes_running",
            "Password checks running now.",
            "gauge",
            self.sign_in_hashes_running.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "vitrine_sign_in_hashes_peak",
            "The most password checks that ran at once since start.",
            "gauge",
            self.sign_in_hashes_peak.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "vitrine_sign_in_hash_checks_total",
            "Password checks run, unknown usernames' included.",
            "counter",
            self.sign_in_hash_checks.load(Ordering::Relaxed),
        );

        let _ = writeln!(
            out,
            "# HELP vitrine_tick_seconds Room tick duration over the recent window."
        );
        let _ = writeln!(out, "# TYPE vitrine_tick_seconds summary");
        if let Some(stats) = self.tick_stats() {
            let _ = writeln!(
                out,
                "vitrine_tick_seconds{{quantile=\"0.5\"}} {:.9}",
                stats.p50.as_secs_f64()
            );
            let _ = writeln!(
                out,
                "vitrine_tick_seconds{{quantile=\"0.99\"}} {:.9}",
                stats.p99.as_secs_f64()
            );
            let _ = writeln!(
                out,
                "vitrine_tick_seconds{{quantile=\"1\"}} {:.9}",
                stats.max.as_secs_f64()
            );
        }
        let (sum, buckets) = {
            let window = self.tick_times.lock().unwrap_or_else(|p| p.into_inner());
            (window.sum, window.buckets)
        };
        let count = self.ticks.load(Ordering::Relaxed);
        let _ = writeln!(out, "vitrine_tick_seconds_sum {:.9}", sum.as_secs_f64());
        let _ = writeln!(out, "vitrine_tick_seconds_count {count}");

        let _ = writeln!(
            out,
            "# HELP vitrine_tick_duration_seconds Room tick duration since start."
        );
        let _ = writeln!(out, "# TYPE vitrine_tick_duration_seconds histogram");
        for (bound, n) in TICK_BUCKETS.iter().zip(buckets) {
            let _ = writeln!(
                out,
                "vitrine_tick_duration_seconds_bucket{{le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "vitrine_tick_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "vitrine_tick_duration_seconds_sum {:.9}",
            sum.as_secs_f64()
        );
        let _ = writeln!(out, "vitrine_tick_duration_seconds_count {count}");

        let rejected = self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        labeled(
            &mut out,
            "vitrine_rejected_total",
            "Client inputs refused, by reason.",
            "reason",
            &rejected,
        );
        let responses = self
            .http_requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        labeled(
            &mut out,
            "vitrine_http_responses_total",
            "HTTP responses, by status.",
            "status",
            &responses,
        );
        let refused = self
            .refused_packets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        labeled(
            &mut out,
            "vitrine_refused_packets_total",
            "Datagrams at the game port refused by netcode, by reason.",
            "reason",
            &refused,
        );
        let refusals = self
            .http_refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        labeled(
            &mut out,
            "vitrine_http_refusals_total",
            "Refused HTTP requests (4xx), by error code.",
            "code",
            &refusals,
        );
        self.voice.render(&mut out);
        out
    }
}

/// A counter with one label, one line per label value.
fn labeled<K: std::fmt::Display>(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: &BTreeMap<K, u64>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (key, count) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{key}\"}} {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_quantiles_and_labels() {
        let m = Metrics::default();
        for ms in 1..=100 {
            m.record_tick(Duration::from_millis(ms));
        }
        m.reject("rate_limited");
        m.reject("rate_limited");
        let stats = m.tick_stats().unwrap();
        assert_eq!(stats.p50, Duration::from_millis(51));
        assert_eq!(stats.p99, Duration::from_millis(99));
        let text = m.render();
        assert!(
            text.contains("vitrine_rejected_total{reason=\"rate_limited\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("vitrine_tick_seconds{quantile=\"0.99\"} 0.099000000"),
            "{text}"
        );
        assert!(text.contains("vitrine_tick_seconds_count 100"), "{text}");
        assert!(
            text.contains("vitrine_tick_duration_seconds_bucket{le=\"0.005\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("vitrine_tick_duration_seconds_bucket{le=\"+Inf\"} 100\n"),
            "{text}"
        );
    }
}
