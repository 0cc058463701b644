//! The server's wall clock, in Unix milliseconds: what the engines, the
//! store and the rooms stamp and compare deadlines with (a flash sale's
//! start, a poll's close, a mute's end). The server runs on the system
//! clock; tests hand it a [`ManualClock`] and move time themselves instead
//! of waiting out a countdown or writing deadlines into the database.
//!
//! Cadence inside the room loop (reaction bursts, snapshots, grace
//! periods) runs on Bevy's `Time`, which tests step with
//! `TimeUpdateStrategy::ManualDuration`; this clock is for the instants
//! that leave the process or outlive it.

use bevy_ecs::prelude::Resource;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Reads the time. Cheap to clone; every clone reads the same source.
#[derive(Clone, Default, Resource)]
pub struct Clock(Source);

#[derive(Clone, Default)]
enum Source {
    #[default]
    System,
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// The operating system's clock: what the server runs on.
    pub fn system() -> Clock {
        Clock(Source::System)
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            Source::System => system_now_ms(),
            Source::Manual(now) => now.load(Ordering::Acquire),
        }
    }

    /// Whether tests move this clock (it then stands still between moves).
    pub fn is_manual(&self) -> bool {
        matches!(self.0, Source::Manual(_))
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Source::System => f.write_str("Clock::System"),
            Source::Manual(now) => write!(f, "Clock::Manual({})", now.load(Ordering::Acquire)),
        }
    }
}

/// A clock that moves only when told to. Separate from [`Clock`] so that
/// only the code holding it (a test) can move time; what it hands out with
/// [`ManualClock::clock`] reads the same instant.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Stands at `start_ms` until moved.
    pub fn at(start_ms: i64) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(start_ms)))
    }

    /// Stands at the present moment, so rows it stamps read as recent.
    pub fn starting_now() -> ManualClock {
        ManualClock::at(system_now_ms())
    }

    /// The reading side, for the engines, the store and the rooms.
    pub fn clock(&self) -> Clock {
        Clock(Source::Manual(self.0.clone()))
    }

    pub fn now_ms(&self) -> i64 {
        self.0.load(Ordering::Acquire)
    }

    /// Moves time forward by `by` (whole milliseconds).
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.saturating_add(ms))
            });
    }
}

fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_every_reader_sees_it() {
        let manual = ManualClock::at(1_000);
        let (a, b) = (manual.clock(), manual.clock().clone());
        assert_eq!((a.now_ms(), b.now_ms()), (1_000, 1_000));
        manual.advance(Duration::from_millis(250));
        assert_eq!((a.now_ms(), b.now_ms()), (1_250, 1_250));
        assert!(a.is_manual());
        manual.advance(Duration::MAX);
        assert_eq!(a.now_ms(), i64::MAX, "saturates, never wraps");
    }

    #[test]
    fn the_system_clock_reads_the_present() {
        let clock = Clock::default();
        assert!(!clock.is_manual());
        let before = system_now_ms();
        let now = clock.now_ms();
        assert!(now >= before && now - before < 60_000);
    }
}
