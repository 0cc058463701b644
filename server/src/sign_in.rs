//! Password sign-in's defences: a bound on the Argon2 checks that run at
//! once (each takes about 19 MiB and tens of milliseconds of a core), with
//! a bounded queue behind it; a lock on a username after repeated
//! failures; and a stand-in hash for names no account has, so that an
//! unknown name costs what a known one does.

use crate::auth;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::rate_limit::Lru;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use vitrine_shared::limits::sign_in::{
    HASH_QUEUE_PER_PERMIT, LOCK_AFTER_FAILURES, LOCK_FOR, LOCK_WINDOW, MAX_TRACKED_NAMES,
};

/// Why a sign-in was not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every check slot is taken and the queue is full, or as many checks
    /// run for this name as it has failures left before it locks: try
    /// again shortly.
    Busy,
    /// Too many failures for this name: locked for this much longer.
    Locked(Duration),
}

/// Failures of one username.
#[derive(Debug, Clone, Copy)]
struct Failures {
    /// When the first failure in the current window happened.
    since_ms: i64,
    count: u32,
    /// Checks let through and not answered yet: they count against the
    /// failures left, so that guesses sent at once cannot all get past
    /// the lock before the first is answered.
    pending: u32,
}

impl Failures {
    fn new(now: i64) -> Failures {
        Failures {
            since_ms: now,
            count: 0,
            pending: 0,
        }
    }

    /// Forgets failures past the window.
    fn expire(&mut self, now: i64) {
        if now - self.since_ms >= LOCK_WINDOW.as_millis() as i64 {
            self.count = 0;
        }
    }
}

/// What the guard knows of usernames.
struct Names {
    failures: Lru<String, Failures>,
    /// Locked names and until when, apart from `failures` so that a flood
    /// of failures on other names never pushes a running lock out. Each
    /// lock costs [`LOCK_AFTER_FAILURES`] checks, so they number at most
    /// what the checks can run in [`LOCK_FOR`]; run-out ones are dropped
    /// as it grows.
    locked: HashMap<String, i64>,
    /// Past this many locks, the run-out ones are dropped.
    prune_at: usize,
    capacity: usize,
}

impl Names {
    /// Refused while `username`'s lock runs; a lock that ran out is
    /// forgotten with the failures that made it: a fresh start.
    fn lock_of(&mut self, username: &str, now: i64) -> Result<(), Refused> {
        match self.locked.get(username) {
            Some(&until) if until > now => {
                Err(Refused::Locked(Duration::from_millis((until - now) as u64)))
            }
            Some(_) => {
                self.locked.remove(username);
                if let Some(entry) = self.failures.get_mut(username) {
                    entry.count = 0;
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn lock(&mut self, username: &str, until: i64, now: i64) {
        if self.locked.len() >= self.prune_at {
            self.locked.retain(|_, until| *until > now);
            self.prune_at = self.capacity.max(self.locked.len() * 2);
        }
        self.locked.insert(username.to_owned(), until);
    }
}

/// A password check let through for a name: answer it with
/// [`Attempt::failed`] or [`Attempt::succeeded`]. Dropped unanswered (a
/// store error, a busy refusal, a request gone) it gives its place back.
pub struct Attempt<'a> {
    guard: &'a SignInGuard,
    username: String,
    open: bool,
}

impl Attempt<'_> {
    pub fn failed(mut self) {
        self.open = false;
        self.guard.failed(&self.username);
    }

    /// Refused as locked if the name locked while this was checked.
    pub fn succeeded(mut self) -> Result<(), Refused> {
        self.open = false;
        self.guard.succeeded(&self.username)
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.open {
            self.guard.release(&self.username);
        }
    }
}

pub struct SignInGuard {
    checks: Arc<Semaphore>,
    permits: usize,
    max_waiting: usize,
    waiting: AtomicUsize,
    names: Mutex<Names>,
    clock: Clock,
    metrics: Arc<Metrics>,
}

/// A PHC string with Argon2's default parameters that no password matches
/// (its hash is zeros): checking against it costs what a real hash does.
fn stand_in_hash() -> String {
    use argon2::Params;
    format!(
        "$argon2id$v=19$m={},t={},p={}$c3RhbmQtaW4gc2FsdCE${}",
        Params::DEFAULT_M_COST,
        Params::DEFAULT_T_COST,
        Params::DEFAULT_P_COST,
        "A".repeat(43)
    )
}

impl SignInGuard {
    /// `permits` checks at once (0: one per core), and a queue of
    /// [`HASH_QUEUE_PER_PERMIT`] per permit behind them.
    pub fn new(permits: usize, clock: Clock, metrics: Arc<Metrics>) -> SignInGuard {
        let permits = if permits == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            permits
        };
        Self::with_limits(
            permits,
            permits * HASH_QUEUE_PER_PERMIT,
            MAX_TRACKED_NAMES,
            clock,
            metrics,
        )
    }

    /// As [`SignInGuard::new`], with the queue and the number of names
    /// whose failures are kept given.
    fn with_limits(
        permits: usize,
        max_waiting: usize,
        names: usize,
        clock: Clock,
        metrics: Arc<Metrics>,
    ) -> SignInGuard {
        metrics
            .sign_in_hashes_limit
            .store(permits as u64, Ordering::Relaxed);
        SignInGuard {
            checks: Arc::new(Semaphore::new(permits)),
            permits,
            max_waiting,
            waiting: AtomicUsize::new(0),
            names: Mutex::new(Names {
                failures: Lru::new(names),
                locked: HashMap::new(),
                prune_at: names,
                capacity: names,
            }),
            clock,
            metrics,
        }
    }

    pub fn permits(&self) -> usize {
        self.permits
    }

    /// Refuses a locked name before anything is checked (a correct
    /// password does not open it early), and a name with as many checks
    /// running as it has failures left; else lets one more check through.
    pub fn check_lock(&self, username: &str) -> Result<Attempt<'_>, Refused> {
        let now = self.clock.now_ms();
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names.lock_of(username, now)?;
        let entry = names
            .failures
            .get_or_insert_with(username.to_owned(), || Failures::new(now));
        entry.expire(now);
        if entry.count + entry.pending >= LOCK_AFTER_FAILURES {
            self.metrics.reject("sign_in_busy");
            return Err(Refused::Busy);
        }
        entry.pending += 1;
        Ok(Attempt {
            guard: self,
            username: username.to_owned(),
            open: true,
        })
    }

    /// One more failure for `username`; the one that reaches
    /// [`LOCK_AFTER_FAILURES`] within [`LOCK_WINDOW`] locks it. A running
    /// lock is never shortened.
    fn failed(&self, username: &str) {
        let now = self.clock.now_ms();
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let locked = names.lock_of(username, now).is_err();
        let entry = names
            .failures
            .get_or_insert_with(username.to_owned(), || Failures::new(now));
        entry.pending = entry.pending.saturating_sub(1);
        if locked {
            return;
        }
        entry.expire(now);
        if entry.count == 0 {
            entry.since_ms = now;
        }
        entry.count += 1;
        if entry.count >= LOCK_AFTER_FAILURES {
            let failures = entry.count;
            names.lock(username, now + LOCK_FOR.as_millis() as i64, now);
            tracing::warn!(failures, "sign-in locked for a username");
        }
    }

    /// A success forgets the name's failures, unless the name locked
    /// while it was checked.
    fn succeeded(&self, username: &str) -> Result<(), Refused> {
        let now = self.clock.now_ms();
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let locked = names.lock_of(username, now);
        if let Some(entry) = names.failures.get_mut(username) {
            entry.pending = entry.pending.saturating_sub(1);
            if locked.is_ok() {
                entry.count = 0;
                if entry.pending == 0 {
                    names.failures.remove(username);
                }
            }
        }
        locked
    }

    /// A check let through and never answered.
    fn release(&self, username: &str) {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = names.failures.get_mut(username) {
            entry.pending = entry.pending.saturating_sub(1);
            if entry.pending == 0 && entry.count == 0 {
                names.failures.remove(username);
            }
        }
    }

    /// Checks `password` against `hash` (or, for a name with no account,
    /// the stand-in) on a blocking thread, when a slot is free.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, Refused> {
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(stand_in_hash);
        let permit = match self.checks.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Queue, unless the queue is full.
                let _waiting = Waiting::join(&self.waiting, self.max_waiting).ok_or_else(|| {
                    self.metrics.reject("sign_in_busy");
                    Refused::Busy
                })?;
                self.checks
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| Refused::Busy)?
            }
        };
        let metrics = self.metrics.clone();
        // The permit goes with the check: a request dropped mid-check
        // still holds its slot until the hash is done.
        let ok = tokio::task::spawn_blocking(move || {
            metrics.sign_in_hash_started();
            let ok = auth::verify_password(&password, &hash);
            metrics.sign_in_hash_finished();
            drop(permit);
            ok
        })
        .await
        .unwrap_or(false);
        Ok(ok && real)
    }
}

/// A place in the queue, given back however the wait ends (a dropped
/// request too).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn join(count: &'a AtomicUsize, max: usize) -> Option<Waiting<'a>> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Waiting(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn the_stand_in_hash_parses_with_the_default_parameters() {
        use argon2::password_hash::PasswordHash;
        let phc = stand_in_hash();
        let hash = PasswordHash::new(&phc).expect("a valid PHC string");
        let params = argon2::Params::try_from(&hash).unwrap();
        let default = argon2::Params::default();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (default.m_cost(), default.t_cost(), default.p_cost())
        );
        assert_eq!(hash.algorithm, argon2::Algorithm::Argon2id.ident());
        assert!(!auth::verify_password("", &phc));
    }

    /// One slot, one place in the queue: the third caller is told the
    /// server is busy at once, and the queued one runs when the slot frees.
    #[tokio::test]
    async fn past_the_queue_a_sign_in_is_refused_as_busy() {
        let metrics = Arc::new(Metrics::default());
        let guard = Arc::new(SignInGuard::with_limits(
            1,
            1,
            MAX_TRACKED_NAMES,
            ManualClock::at(0).clock(),
            metrics.clone(),
        ));
        let held = guard.checks.clone().try_acquire_owned().unwrap();
        let queued = tokio::spawn({
            let guard = guard.clone();
            async move { guard.verify("pw".into(), None).await }
        });
        // Wait (with a cap) until it is in the queue.
        let started = std::time::Instant::now();
        while guard.waiting.load(Ordering::Acquire) == 0 {
            assert!(started.elapsed() < Duration::from_secs(10));
            tokio::task::yield_now().await;
        }
        assert_eq!(guard.verify("pw".into(), None).await, Err(Refused::Busy));
        assert_eq!(metrics.rejected("sign_in_busy"), 1);
        drop(held);
        assert_eq!(
            queued.await.unwrap(),
            Ok(false),
            "the stand-in matches nothing"
        );
        assert_eq!(guard.waiting.load(Ordering::Acquire), 0);
        assert!(
            metrics
                .render()
                .contains("vitrine_sign_in_hash_checks_total 1\n")
        );
    }

    #[test]
    fn five_failures_lock_a_name_for_fifteen_minutes() {
        let time = ManualClock::at(1_000_000);
        let guard = SignInGuard::new(1, time.clock(), Arc::new(Metrics::default()));
        for _ in 0..4 {
            guard.failed("ana");
        }
        assert_eq!(guard.check_lock("ana").map(drop), Ok(()));
        guard.failed("ana");
        assert_eq!(
            guard.check_lock("ana").map(drop),
            Err(Refused::Locked(LOCK_FOR))
        );
        assert_eq!(guard.check_lock("bo").map(drop), Ok(()));
        time.advance(LOCK_FOR - Duration::from_secs(1));
        assert_eq!(
            guard.check_lock("ana").map(drop),
            Err(Refused::Locked(Duration::from_secs(1)))
        );
        time.advance(Duration::from_secs(1));
        assert_eq!(guard.check_lock("ana").map(drop), Ok(()));
        // A fresh start: one failure does not lock again.
        guard.failed("ana");
        assert_eq!(guard.check_lock("ana").map(drop), Ok(()));
    }

    /// As many checks run for a name as it has failures left; past them
    /// it is busy, and an unanswered check gives its place back.
    #[test]
    fn a_name_runs_only_as_many_checks_as_it_has_failures_left() {
        let guard = SignInGuard::new(1, ManualClock::at(0).clock(), Arc::new(Metrics::default()));
        guard.failed("ana");
        let running: Vec<_> = (0..4).map(|_| guard.check_lock("ana").unwrap()).collect();
        assert_eq!(guard.check_lock("ana").err(), Some(Refused::Busy));
        assert!(guard.check_lock("bo").is_ok());
        let mut running = running.into_iter();
        drop(running.next());
        let again = guard.check_lock("ana").unwrap();
        for attempt in running.chain([again]) {
            attempt.failed();
        }
        assert_eq!(
            guard.check_lock("ana").err(),
            Some(Refused::Locked(LOCK_FOR))
        );
    }

    /// A right password checked while the name locked is refused, and
    /// the lock stays.
    #[test]
    fn a_success_does_not_open_a_lock_that_fell_while_it_was_checked() {
        let guard = SignInGuard::new(1, ManualClock::at(0).clock(), Arc::new(Metrics::default()));
        let right = guard.check_lock("ana").unwrap();
        for _ in 0..LOCK_AFTER_FAILURES {
            guard.failed("ana");
        }
        assert_eq!(right.succeeded(), Err(Refused::Locked(LOCK_FOR)));
        assert_eq!(
            guard.check_lock("ana").err(),
            Some(Refused::Locked(LOCK_FOR))
        );
    }

    /// The failure window passing does not end a lock that still runs.
    #[test]
    fn a_failure_never_shortens_a_running_lock() {
        let time = ManualClock::at(0);
        let guard = SignInGuard::new(1, time.clock(), Arc::new(Metrics::default()));
        for _ in 0..LOCK_AFTER_FAILURES - 1 {
            guard.failed("ana");
        }
        time.advance(Duration::from_secs(10 * 60));
        guard.failed("ana");
        // Past the window of the first failure, within the lock.
        time.advance(LOCK_WINDOW - Duration::from_secs(5 * 60));
        guard.failed("ana");
        assert_eq!(
            guard.check_lock("ana").err(),
            Some(Refused::Locked(
                LOCK_FOR - (LOCK_WINDOW - Duration::from_secs(5 * 60))
            ))
        );
    }

    /// Failures on many other names do not push a locked name out.
    #[test]
    fn a_flood_of_failures_on_other_names_keeps_a_lock() {
        let guard = SignInGuard::with_limits(
            1,
            1,
            4,
            ManualClock::at(0).clock(),
            Arc::new(Metrics::default()),
        );
        for _ in 0..LOCK_AFTER_FAILURES {
            guard.failed("ana");
        }
        for n in 0..100 {
            guard.failed(&format!("other{n}"));
        }
        assert_eq!(
            guard.check_lock("ana").err(),
            Some(Refused::Locked(LOCK_FOR))
        );
    }
}
