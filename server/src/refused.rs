//! Refused traffic, counted rather than logged line by line. A flood of
//! garbage at the game port or of refused HTTP requests would otherwise
//! write one line each and fill a disk or a log pipeline: each refusal is
//! counted by reason in `/metrics`, and the log gets one summary line at
//! most every [`SUMMARY_EVERY`].
//!
//! The game port's refusals are decided inside renetcode, which reports
//! them only as a `log` record (`Failed to process packet: …`, at error
//! level) and an empty result. The server's `log` logger ([`LogBridge`])
//! hands every record on to `tracing` as `tracing-log` does, except that
//! one while the transport is [`watching`] the call on the same thread:
//! then it becomes the refusal's reason instead of a line.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Shortest time between two summary lines.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(5);

/// renetcode's words for a packet it refused, and the target they come from.
const NETCODE_TARGET: &str = "renetcode::server";
const NETCODE_REFUSED: &str = "Failed to process packet: ";

thread_local! {
    /// `Some` while a transport watches a call on this thread: the reason
    /// once renetcode refuses.
    static WATCHED: Cell<Option<Option<&'static str>>> = const { Cell::new(None) };
}

/// Runs `f` (a call into renetcode's packet processing) and says why the
/// packet was refused, if it was.
pub fn watching<R>(f: impl FnOnce() -> R) -> (R, Option<&'static str>) {
    let outer = WATCHED.with(|w| w.replace(Some(None)));
    let result = f();
    let refused = WATCHED.with(|w| w.replace(outer)).flatten();
    (result, refused)
}

/// A label for renetcode's message (the `Display` of its `NetcodeError`).
fn netcode_reason(message: &str) -> &'static str {
    const KNOWN: [(&str, &str); 12] = [
        ("packet is too small", "too_small"),
        ("invalid packet type", "invalid_type"),
        ("no private key was found", "not_connected"),
        ("invalid protocol id", "invalid_protocol"),
        ("invalid version info", "invalid_version"),
        ("connection expired", "token_expired"),
        ("sequence already received", "replayed"),
        ("error while encoding or decoding", "undecryptable"),
        ("token does not contain the server address", "wrong_server"),
        ("payload is above", "too_large"),
        ("client was not found", "unknown_client"),
        ("client is disconnected or connecting", "not_connected"),
    ];
    KNOWN
        .iter()
        .find(|(text, _)| message.starts_with(text))
        .map_or("malformed", |(_, reason)| reason)
}

/// The server's `log` logger: `tracing-log`'s, less renetcode's refusals
/// while a transport is watching.
pub struct LogBridge(tracing_log::LogTracer);

impl log::Log for LogBridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.level() == log::Level::Error
            && record.target() == NETCODE_TARGET
            && WATCHED.with(|w| w.get()).is_some()
        {
            let text = record.args().to_string();
            if let Some(message) = text.strip_prefix(NETCODE_REFUSED) {
                WATCHED.with(|w| w.set(Some(Some(netcode_reason(message)))));
                return;
            }
        }
        self.0.log(record)
    }

    fn flush(&self) {
        self.0.flush()
    }
}

/// Makes [`LogBridge`] the process's `log` logger. False if another
/// logger was there first: renetcode's refusals are then neither counted
/// nor kept out of the log.
pub fn install_log_bridge() -> bool {
    use tracing::level_filters::LevelFilter;
    let installed =
        log::set_boxed_logger(Box::new(LogBridge(tracing_log::LogTracer::new()))).is_ok();
    if installed {
        // The records the subscribers want, and at least renetcode's refusals.
        let level = match LevelFilter::current() {
            LevelFilter::TRACE => log::LevelFilter::Trace,
            LevelFilter::DEBUG => log::LevelFilter::Debug,
            LevelFilter::INFO => log::LevelFilter::Info,
            LevelFilter::WARN => log::LevelFilter::Warn,
            _ => log::LevelFilter::Error,
        };
        log::set_max_level(level);
    }
    installed
}

/// Refusals since the last summary line, and when that was.
#[derive(Debug)]
pub struct Summary {
    what: &'static str,
    since: BTreeMap<String, u64>,
    last: Option<Instant>,
}

impl Summary {
    pub fn new(what: &'static str) -> Summary {
        Summary {
            what,
            since: BTreeMap::new(),
            last: None,
        }
    }

    /// Counts `count` refusals for `reason`, for the next line.
    pub fn refused(&mut self, reason: &str, count: u64) {
        *self.since.entry(reason.to_owned()).or_default() += count;
    }

    /// Logs what was refused since the last line, if anything was and the
    /// last line is [`SUMMARY_EVERY`] old.
    pub fn flush(&mut self, now: Instant) {
        if self.since.is_empty() || self.last.is_some_and(|t| now - t < SUMMARY_EVERY) {
            return;
        }
        let total: u64 = self.since.values().sum();
        let by_reason = self
            .since
            .iter()
            .map(|(reason, n)| format!("{reason}={n}"))
            .collect::<Vec<_>>()
            .join(" ");
        tracing::warn!(
            refused = total,
            by_reason = %by_reason,
            "refused {} since the last summary",
            self.what
        );
        self.since.clear();
        self.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::capture::Capture;

    /// renetcode's line for a refused datagram becomes a reason while a
    /// transport watches the call, and stays a log line otherwise; other
    /// records pass through either way.
    #[test]
    fn the_bridge_turns_netcode_refusals_into_reasons_and_passes_the_rest() {
        install_log_bridge();
        log::set_max_level(log::LevelFilter::Warn);
        let capture = Capture::default();
        let dispatch = capture.dispatch();
        let refuse = |message: &str| {
            log::error!(target: NETCODE_TARGET, "{NETCODE_REFUSED}{message}");
        };
        tracing::dispatcher::with_default(&dispatch, || {
            let ((), reason) = watching(|| refuse("packet is too small"));
            assert_eq!(reason, Some("too_small"));
            let ((), reason) = watching(|| refuse("error while encoding or decoding"));
            assert_eq!(reason, Some("undecryptable"));
            let ((), reason) = watching(|| {
                log::warn!(target: NETCODE_TARGET, "Connection request denied");
            });
            assert_eq!(reason, None);
            refuse("invalid packet type");
        });
        let lines: Vec<String> = capture
            .events()
            .iter()
            .filter_map(|e| e.field("message").map(str::to_owned))
            .collect();
        assert_eq!(
            lines,
            [
                "Connection request denied",
                "Failed to process packet: invalid packet type"
            ],
            "only the unwatched refusal and the other record are logged"
        );
    }

    #[test]
    fn a_summary_is_a_line_at_most_every_five_seconds() {
        let capture = Capture::default();
        let start = Instant::now();
        tracing::dispatcher::with_default(&capture.dispatch(), || {
            let mut summary = Summary::new("datagrams");
            summary.flush(start);
            for i in 0..1_000u64 {
                summary.refused(if i % 2 == 0 { "too_small" } else { "replayed" }, 1);
                summary.flush(start + Duration::from_millis(i * 9));
            }
            summary.flush(start + Duration::from_secs(60));
        });
        let events = capture.events();
        // At 0 s and 5 s within the 9 s of refusals, and the rest at 60 s.
        assert_eq!(events.len(), 3, "{events:?}");
        let total: u64 = events
            .iter()
            .map(|e| e.field("refused").unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(total, 1_000);
        assert_eq!(events[0].field("by_reason"), Some("too_small=1"));
    }
}
