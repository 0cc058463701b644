//! Payments go through a gateway trait: authorize, capture, void and
//! refund, each idempotent by a key the caller chooses. The built-in test
//! gateway behaves like a real one: it declines some test cards, never
//! answers for another (so the caller's timeout fires), charges once per key
//! however often it is asked, and refuses to capture a voided authorization.
//! A test can tell it to answer a kind of call late: the provider then does
//! the work after a delay on its own task, whether the caller still waits
//! or not, as a real provider does after the shop's timeout.
//! Given a journal file it remembers all of that across restarts of the
//! server, as a provider's ledger outlives the shop's process.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use vitrine_shared::Money;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaymentError {
    #[error("the payment was declined: {reason}")]
    Declined { reason: String },
    #[error("the payment provider did not answer in time")]
    Timeout,
    #[error("the payment provider failed: {0}")]
    Unavailable(String),
}

pub trait PaymentGateway: Send + Sync + 'static {
    /// Reserves `amount` on the payment method; returns an authorization id.
    /// An empty `method` only looks up the authorization `key` made, if any
    /// (declined `no_such_authorization` when none), and makes none. A
    /// provider whose look-up lags behind its writes answers "unknown"
    /// rather than "none" while the key is young (see the Stripe adapter).
    fn authorize<'a>(
        &'a self,
        key: &'a str,
        amount: Money,
        method: &'a str,
    ) -> BoxFuture<'a, Result<String, PaymentError>>;
    /// Takes the authorized money.
    fn capture<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), PaymentError>>;
    /// Releases an authorization that was never captured: nobody is charged.
    fn void<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), PaymentError>>;
    /// Gives money back on a captured authorization.
    fn refund<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
        amount: Money,
    ) -> BoxFuture<'a, Result<(), PaymentError>>;
}

/// Test card numbers, as payment providers document theirs.
pub mod cards {
    pub const APPROVED: &str = "4242424242424242";
    pub const DECLINED: &str = "4000000000000002";
    pub const INSUFFICIENT_FUNDS: &str = "4000000000009995";
    /// The provider never answers: the caller's timeout decides.
    pub const NO_ANSWER: &str = "4000000000000119";
}

fn luhn_ok(number: &str) -> bool {
    let digits: Option<Vec<u32>> = number.chars().map(|c| c.to_digit(10)).collect();
    let Some(digits) = digits else { return false };
    if !(12..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                *d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// How long the journal keeps a hold that was voided: far past any retry
/// of its keys (the engine's back off at most minutes, a deal's window a
/// day), as a provider forgets idempotency keys after a while. Charges are
/// kept: a refund may follow them any time.
const VOIDED_KEPT_MS: i64 = 30 * 24 * 3600 * 1000;

#[derive(Default)]
struct Ledger {
    authorizations: HashMap<String, Result<(String, Money), PaymentError>>,
    captures: HashMap<String, String>,
    refunds: HashMap<String, (String, Money)>,
    /// Void key → authorization.
    voids: HashMap<String, String>,
    /// Indexes of the maps above by authorization, so that a lookup does
    /// not scan the ledger: held, captured and voided authorizations.
    held: HashSet<String>,
    captured: HashSet<String>,
    voided: HashSet<String>,
    /// When each record's process opened the journal (its epoch), by the
    /// record's kind and key: how the journal groups its lines.
    epochs: HashMap<(&'static str, String), i64>,
    /// When each void was made (ms), by void key: what compaction forgets
    /// by. Voids journaled before they carried a time go by their epoch.
    voided_at: HashMap<String, i64>,
    next: u64,
}

impl Ledger {
    fn voided(&self, authorization: &str) -> bool {
        self.voided.contains(authorization)
    }

    fn captured(&self, authorization: &str) -> bool {
        self.captured.contains(authorization)
    }

    fn held(&self, authorization: &str) -> bool {
        self.held.contains(authorization)
    }

    fn authorize(&mut self, key: &str, outcome: Result<(String, Money), PaymentError>) {
        if let Ok((id, _)) = &outcome {
            self.held.insert(id.clone());
        }
        self.authorizations.insert(key.to_owned(), outcome);
    }

    fn capture(&mut self, key: &str, authorization: &str) {
        self.captured.insert(authorization.to_owned());
        self.captures
            .insert(key.to_owned(), authorization.to_owned());
    }

    /// `at`: when the void was made (ms), if the record says.
    fn void(&mut self, key: &str, authorization: &str, at: Option<i64>) {
        self.voided.insert(authorization.to_owned());
        self.voids.insert(key.to_owned(), authorization.to_owned());
        if let Some(at) = at {
            self.voided_at.insert(key.to_owned(), at);
        }
    }

    fn refund(&mut self, key: &str, authorization: &str, amount: Money) {
        self.refunds
            .insert(key.to_owned(), (authorization.to_owned(), amount));
    }

    /// Replays a journal's text: an `open` line sets the epoch of the
    /// records after it (those before any count from `now_ms`), a `next`
    /// line the last id handed out.
    fn replay_journal(&mut self, text: &str, now_ms: i64) {
        let mut epoch = now_ms;
        for line in text.lines() {
            match line.split_once('\t') {
                Some(("open", at)) => epoch = at.parse().unwrap_or(now_ms),
                Some(("next", n)) => self.next = self.next.max(n.parse().unwrap_or(0)),
                _ => self.replay(line, epoch),
            }
        }
    }

    /// Replays one journal line (see [`TestGateway::journaled`]) written in
    /// the epoch `epoch`.
    fn replay(&mut self, line: &str, epoch: i64) {
        let fields: Vec<&str> = line.split('\t').collect();
        let kind = match fields.as_slice() {
            ["authorize", key, id, minor, currency] => {
                let (Ok(minor), Ok(currency)) =
                    (minor.parse(), vitrine_shared::Currency::new(currency))
                else {
                    return;
                };
                if let Some(n) = id
                    .strip_prefix("auth_test_")
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    self.next = self.next.max(n);
                }
                self.authorize(key, Ok(((*id).to_owned(), Money::new(minor, currency))));
                "authorize"
            }
            ["capture", key, id] => {
                self.capture(key, id);
                "capture"
            }
            ["void", key, id] => {
                // Written before voids carried their time: the epoch's.
                self.void(key, id, None);
                "void"
            }
            ["void", key, id, at] => {
                let Ok(at) = at.parse() else { return };
                self.void(key, id, Some(at));
                "void"
            }
            ["refund", key, id, minor, currency] => {
                let (Ok(minor), Ok(currency)) =
                    (minor.parse(), vitrine_shared::Currency::new(currency))
                else {
                    return;
                };
                self.refund(key, id, Money::new(minor, currency));
                "refund"
            }
            _ => return,
        };
        self.epochs.insert((kind, fields[1].to_owned()), epoch);
    }

    /// The journal's lines for this ledger, one per record, grouped by
    /// epoch (each group after its `open` line), without the holds voided
    /// before `forget_before` and their voids.
    fn compacted(&self, forget_before: i64) -> String {
        let forgotten: HashSet<&str> = self
            .voids
            .iter()
            .filter(|(key, id)| {
                !self.captured(id)
                    && self
                        .voided_at
                        .get(*key)
                        .or_else(|| self.epochs.get(&("void", (*key).clone())))
                        .is_some_and(|at| *at < forget_before)
            })
            .map(|(_, id)| id.as_str())
            .collect();
        let mut lines: Vec<(i64, &'static str, String)> = Vec::new();
        let epoch = |kind: &'static str, key: &str| {
            self.epochs
                .get(&(kind, key.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        for (key, outcome) in &self.authorizations {
            if let Ok((id, amount)) = outcome
                && !forgotten.contains(id.as_str())
            {
                lines.push((
                    epoch("authorize", key),
                    "authorize",
                    format!(
                        "authorize\t{key}\t{id}\t{}\t{}",
                        amount.minor,
                        amount.currency.as_str()
                    ),
                ));
            }
        }
        for (key, id) in &self.captures {
            lines.push((
                epoch("capture", key),
                "capture",
                format!("capture\t{key}\t{id}"),
            ));
        }
        for (key, id) in &self.voids {
            if !forgotten.contains(id.as_str()) {
                let line = match self.voided_at.get(key) {
                    Some(at) => format!("void\t{key}\t{id}\t{at}"),
                    None => format!("void\t{key}\t{id}"),
                };
                lines.push((epoch("void", key), "void", line));
            }
        }
        for (key, (id, amount)) in &self.refunds {
            lines.push((
                epoch("refund", key),
                "refund",
                format!(
                    "refund\t{key}\t{id}\t{}\t{}",
                    amount.minor,
                    amount.currency.as_str()
                ),
            ));
        }
        // Epoch by epoch, and within one in the order a provider records
        // them: holds, captures, voids, refunds (then by text, so a
        // compaction of a compacted journal writes the same bytes).
        let rank = |kind: &str| match kind {
            "authorize" => 0,
            "capture" => 1,
            "void" => 2,
            _ => 3,
        };
        lines.sort_by(|a, b| (a.0, rank(a.1), &a.2).cmp(&(b.0, rank(b.1), &b.2)));
        // The last id handed out, so a forgotten hold's id is never reused.
        let mut text = format!("next\t{}\n", self.next);
        let mut current = None;
        for (at, _, line) in lines {
            if current != Some(at) {
                text.push_str(&format!("open\t{at}\n"));
                current = Some(at);
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    }
}

/// A kind of call to the provider, for [`TestGateway::answer_late`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    Authorize,
    /// An authorization asked for by its key alone (no card): a look-up of
    /// the hold that key made, which makes none itself.
    Lookup,
    Capture,
    Void,
    Refund,
}

/// Where one authorization stands at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Nothing held and nothing kept: never authorized, voided, or
    /// captured and refunded in full.
    Clear,
    /// Authorized and neither captured nor voided: money reserved.
    Held(Money),
    /// Captured, less what was refunded: money taken.
    Charged(Money),
}

/// The provider's side: its ledger and journal, shared with the tasks that
/// answer late, so that what it does does not depend on the caller still
/// listening (a real provider goes on when the shop gives up).
#[derive(Default)]
struct Provider {
    ledger: Mutex<Ledger>,
    /// Where each new authorization, capture, void and refund is appended,
    /// one line each, before the caller hears of it.
    journal: Option<Mutex<std::fs::File>>,
    /// Calls done, by kind, answered or not (declines and refusals too).
    done: Mutex<HashMap<Call, usize>>,
    /// When this provider opened its journal: the epoch of what it records.
    epoch: i64,
    /// When, by the monotonic clock, it opened: the time of a record is
    /// the epoch plus the time since (see [`Provider::now_ms`]).
    opened: Option<std::time::Instant>,
    /// Time a test moved the provider's clock on by (ms).
    skipped_ms: std::sync::atomic::AtomicI64,
}

/// The built-in gateway for tests and the demo. No money moves.
pub struct TestGateway {
    provider: Arc<Provider>,
    /// How long a `NO_ANSWER` card keeps the caller waiting.
    pub hang: Duration,
    /// Captures never answer (a provider outage): how a crash test stops the
    /// server between deciding to capture and capturing. Off unless asked.
    stall_captures: bool,
    /// Authorizations with a card never reach the provider: how a crash
    /// test stops the server between making an order and its payment.
    stall_authorizations: bool,
    /// Captures are done at the provider and their answer never comes back
    /// (a lost connection): how a crash test stops the server after the
    /// money was taken and before the shop heard of it.
    lose_capture_answers: bool,
    /// Calls the provider works on for a while before doing them and
    /// answering (see [`TestGateway::answer_late`]).
    late: Mutex<HashMap<Call, Duration>>,
}

impl Default for TestGateway {
    fn default() -> Self {
        TestGateway {
            provider: Arc::default(),
            hang: Duration::from_secs(3600),
            stall_captures: false,
            stall_authorizations: false,
            lose_capture_answers: false,
            late: Mutex::default(),
        }
    }
}

impl TestGateway {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.provider.ledger()
    }

    /// Authorizations that reserved money (declines excluded).
    pub fn authorized(&self) -> usize {
        self.ledger()
            .authorizations
            .values()
            .filter(|r| r.is_ok())
            .count()
    }

    pub fn captured(&self) -> usize {
        self.ledger().captures.len()
    }

    pub fn refunded(&self) -> usize {
        self.ledger().refunds.len()
    }

    pub fn voided(&self) -> usize {
        self.ledger().voids.len()
    }

    /// Where the authorization made under `authorize_key` stands: how a
    /// test reads whether any money stays with the provider for an order.
    pub fn standing(&self, authorize_key: &str) -> Standing {
        let ledger = self.ledger();
        let Some(Ok((id, amount))) = ledger.authorizations.get(authorize_key) else {
            return Standing::Clear;
        };
        if ledger.captured(id) {
            let refunded: i64 = ledger
                .refunds
                .values()
                .filter(|(a, _)| a == id)
                .map(|(_, m)| m.minor)
                .sum();
            let kept = amount.minor - refunded;
            return if kept > 0 {
                Standing::Charged(Money::new(kept, amount.currency))
            } else {
                Standing::Clear
            };
        }
        if ledger.voided(id) {
            Standing::Clear
        } else {
            Standing::Held(*amount)
        }
    }

    /// From now on the provider works on each call of this kind for `delay`
    /// before doing it and answering, whether or not the caller still
    /// waits: the late answer a timeout leaves behind.
    pub fn answer_late(&self, call: Call, delay: Duration) {
        self.late
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(call, delay);
    }

    /// How many calls of this kind the provider has done, whatever their
    /// outcome and whether or not anyone heard the answer.
    pub fn done(&self, call: Call) -> usize {
        let done = self.provider.done.lock().unwrap_or_else(|p| p.into_inner());
        done.get(&call).copied().unwrap_or(0)
    }

    /// Calls of this kind are answered at once again.
    pub fn answer_on_time(&self, call: Call) {
        self.late
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&call);
    }

    /// A gateway whose ledger lives in `path` too: what it finds there is
    /// remembered, and every new record is appended before the caller hears
    /// of it, so a restarted server meets the same provider (keys it used
    /// before answer as before, nothing is charged twice) and a test can
    /// read what was charged after a `kill -9`.
    ///
    /// Opening compacts the journal, so it does not grow without limit: it
    /// is rewritten (into a new file, then renamed over the old) with one
    /// line per record, and holds voided more than [`VOIDED_KEPT_MS`] ago
    /// are forgotten with their voids. An `open` line starts each process's
    /// records and says when it opened.
    pub fn journaled(path: &std::path::Path) -> std::io::Result<TestGateway> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        TestGateway::journaled_at(path, now)
    }

    /// [`TestGateway::journaled`], opening at `now_ms` (the wall clock's
    /// milliseconds).
    pub fn journaled_at(path: &std::path::Path, now_ms: i64) -> std::io::Result<TestGateway> {
        let mut ledger = Ledger::default();
        match std::fs::read_to_string(path) {
            Ok(text) => ledger.replay_journal(&text, now_ms),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut text = ledger.compacted(now_ms - VOIDED_KEPT_MS);
        text.push_str(&format!("open\t{now_ms}\n"));
        // Rebuilt from what it keeps, so what it forgot is gone from memory
        // as from the file.
        let mut kept = Ledger::default();
        kept.replay_journal(&text, now_ms);
        kept.next = kept.next.max(ledger.next);
        let fresh = path.with_extension("compacting");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&fresh)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
        std::fs::rename(&fresh, path)?;
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        Ok(TestGateway {
            provider: Arc::new(Provider {
                ledger: Mutex::new(kept),
                journal: Some(Mutex::new(file)),
                done: Mutex::default(),
                epoch: now_ms,
                opened: Some(std::time::Instant::now()),
                skipped_ms: Default::default(),
            }),
            ..TestGateway::default()
        })
    }

    /// Moves the provider's clock on, as a server that ran that long.
    #[cfg(test)]
    fn run_for(&self, ms: i64) {
        self.provider
            .skipped_ms
            .fetch_add(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Captures hang until the process ends (see `stall_captures`).
    pub fn stalling_captures(mut self) -> TestGateway {
        self.stall_captures = true;
        self
    }

    /// Authorizations with a card hang until the process ends, never
    /// reaching the provider (see `stall_authorizations`); look-ups answer.
    pub fn stalling_authorizations(mut self) -> TestGateway {
        self.stall_authorizations = true;
        self
    }

    /// Captures are done and never answered (see `lose_capture_answers`).
    pub fn losing_capture_answers(mut self) -> TestGateway {
        self.lose_capture_answers = true;
        self
    }

    /// Does `work` at the provider now, or, for a call told to answer late,
    /// on a task of the provider's own after the delay: dropping the
    /// returned future then stops only the listening, not the work.
    fn answer<T: Send + 'static>(
        &self,
        call: Call,
        work: impl FnOnce(&Provider) -> Result<T, PaymentError> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, PaymentError>> {
        let delay = self
            .late
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&call)
            .copied();
        let provider = self.provider.clone();
        let work = move |p: &Provider| {
            let outcome = work(p);
            *p.done
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(call)
                .or_default() += 1;
            outcome
        };
        match delay {
            None => {
                let done = work(&provider);
                Box::pin(std::future::ready(done))
            }
            Some(delay) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = tx.send(work(&provider));
                });
                Box::pin(async move {
                    rx.await
                        .unwrap_or_else(|_| Err(PaymentError::Unavailable("provider gone".into())))
                })
            }
        }
    }
}

impl Provider {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The provider's wall clock (ms): the time it opened its journal, plus
    /// the time since.
    fn now_ms(&self) -> i64 {
        let since = self.opened.map_or(0, |o| o.elapsed().as_millis() as i64);
        self.epoch + since + self.skipped_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn record(&self, ledger: &mut Ledger, kind: &'static str, key: &str, line: String) {
        ledger.epochs.insert((kind, key.to_owned()), self.epoch);
        if let Some(journal) = &self.journal {
            use std::io::Write;
            let mut file = journal.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = file.write_all(format!("{line}\n").as_bytes()) {
                tracing::error!(%e, "test gateway journal not written");
            }
        }
    }

    fn authorize(&self, key: &str, amount: Money, card: &str) -> Result<String, PaymentError> {
        let mut ledger = self.ledger();
        if let Some(seen) = ledger.authorizations.get(key) {
            return seen.clone().map(|(id, _)| id);
        }
        if card.is_empty() {
            // A look-up by key alone finds no hold and makes none: a
            // request under that key still on its way may yet make one.
            return Err(PaymentError::Declined {
                reason: "no_such_authorization".into(),
            });
        }
        let outcome = if card == cards::DECLINED {
            Err(PaymentError::Declined {
                reason: "card_declined".into(),
            })
        } else if card == cards::INSUFFICIENT_FUNDS {
            Err(PaymentError::Declined {
                reason: "insufficient_funds".into(),
            })
        } else if !luhn_ok(card) {
            Err(PaymentError::Declined {
                reason: "invalid_card_number".into(),
            })
        } else if amount.minor <= 0 {
            Err(PaymentError::Declined {
                reason: "invalid_amount".into(),
            })
        } else {
            ledger.next += 1;
            let id = format!("auth_test_{}", ledger.next);
            let line = format!(
                "authorize\t{key}\t{id}\t{}\t{}",
                amount.minor,
                amount.currency.as_str()
            );
            self.record(&mut ledger, "authorize", key, line);
            Ok((id, amount))
        };
        ledger.authorize(key, outcome.clone());
        outcome.map(|(id, _)| id)
    }

    fn capture(&self, key: &str, authorization: &str) -> Result<(), PaymentError> {
        let mut ledger = self.ledger();
        if !ledger.held(authorization) {
            return Err(PaymentError::Unavailable(format!(
                "no authorization {authorization}"
            )));
        }
        if ledger.captures.contains_key(key) {
            return Ok(());
        }
        if ledger.voided(authorization) {
            return Err(PaymentError::Declined {
                reason: "authorization_voided".into(),
            });
        }
        ledger.capture(key, authorization);
        let line = format!("capture\t{key}\t{authorization}");
        self.record(&mut ledger, "capture", key, line);
        Ok(())
    }

    fn void(&self, key: &str, authorization: &str) -> Result<(), PaymentError> {
        let mut ledger = self.ledger();
        // Voided already (under this key, or another after an unknown
        // outcome): done, as a provider answers a second cancel.
        if ledger.voids.contains_key(key) || ledger.voided(authorization) {
            return Ok(());
        }
        if !ledger.held(authorization) {
            return Err(PaymentError::Unavailable(format!(
                "no authorization {authorization}"
            )));
        }
        if ledger.captured(authorization) {
            return Err(PaymentError::Declined {
                reason: "authorization_captured".into(),
            });
        }
        let at = self.now_ms();
        ledger.void(key, authorization, Some(at));
        let line = format!("void\t{key}\t{authorization}\t{at}");
        self.record(&mut ledger, "void", key, line);
        Ok(())
    }

    fn refund(&self, key: &str, authorization: &str, amount: Money) -> Result<(), PaymentError> {
        let mut ledger = self.ledger();
        if !ledger.captured(authorization) {
            return Err(PaymentError::Unavailable(format!(
                "nothing captured on {authorization}"
            )));
        }
        let refunded: i64 = ledger
            .refunds
            .values()
            .filter(|(a, _)| a == authorization)
            .map(|(_, m)| m.minor)
            .sum();
        let charged = ledger
            .authorizations
            .values()
            .find_map(|r| r.as_ref().ok().filter(|(id, _)| id == authorization))
            .map_or(0, |(_, m)| m.minor);
        // Refunded in full already (under another key after an unknown
        // outcome): done, as a provider refuses a second full refund.
        if !ledger.refunds.contains_key(key) && (refunded < charged || charged == 0) {
            ledger.refund(key, authorization, amount);
            let line = format!(
                "refund\t{key}\t{authorization}\t{}\t{}",
                amount.minor,
                amount.currency.as_str()
            );
            self.record(&mut ledger, "refund", key, line);
        }
        Ok(())
    }
}

impl PaymentGateway for TestGateway {
    fn authorize<'a>(
        &'a self,
        key: &'a str,
        amount: Money,
        method: &'a str,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        let card: String = method.chars().filter(|c| !c.is_whitespace()).collect();
        if card == cards::NO_ANSWER {
            let hang = self.hang;
            return Box::pin(async move {
                tokio::time::sleep(hang).await;
                Err(PaymentError::Timeout)
            });
        }
        let call = if card.is_empty() {
            Call::Lookup
        } else {
            Call::Authorize
        };
        if self.stall_authorizations && call == Call::Authorize {
            return Box::pin(std::future::pending());
        }
        let key = key.to_owned();
        self.answer(call, move |p| p.authorize(&key, amount, &card))
    }

    fn capture<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), PaymentError>> {
        if self.stall_captures {
            return Box::pin(std::future::pending());
        }
        let (key, authorization) = (key.to_owned(), authorization.to_owned());
        let done = self.answer(Call::Capture, move |p| p.capture(&key, &authorization));
        if self.lose_capture_answers {
            return Box::pin(async move {
                let _ = done.await;
                std::future::pending().await
            });
        }
        done
    }

    fn void<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), PaymentError>> {
        let (key, authorization) = (key.to_owned(), authorization.to_owned());
        self.answer(Call::Void, move |p| p.void(&key, &authorization))
    }

    fn refund<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
        amount: Money,
    ) -> BoxFuture<'a, Result<(), PaymentError>> {
        let (key, authorization) = (key.to_owned(), authorization.to_owned());
        self.answer(Call::Refund, move |p| {
            p.refund(&key, &authorization, amount)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::Currency;

    #[tokio::test]
    async fn approves_declines_and_charges_once_per_key() {
        let gw = TestGateway::default();
        let eur = Money::new(1990, Currency::EUR);
        let a = gw
            .authorize("k1", eur, "4242 4242 4242 4242")
            .await
            .unwrap();
        let again = gw.authorize("k1", eur, cards::APPROVED).await.unwrap();
        assert_eq!(a, again, "same key, same authorization");
        assert_eq!(gw.authorized(), 1);
        gw.capture("c1", &a).await.unwrap();
        gw.capture("c1", &a).await.unwrap();
        assert_eq!(gw.captured(), 1);
        gw.refund("r1", &a, eur).await.unwrap();
        gw.refund("r1", &a, eur).await.unwrap();
        assert_eq!(gw.refunded(), 1);

        let declined = gw.authorize("k2", eur, cards::DECLINED).await;
        assert_eq!(
            declined,
            Err(PaymentError::Declined {
                reason: "card_declined".into()
            })
        );
        let poor = gw.authorize("k3", eur, cards::INSUFFICIENT_FUNDS).await;
        assert_eq!(
            poor,
            Err(PaymentError::Declined {
                reason: "insufficient_funds".into()
            })
        );
        let typo = gw.authorize("k4", eur, "4242424242424241").await;
        assert_eq!(
            typo,
            Err(PaymentError::Declined {
                reason: "invalid_card_number".into()
            })
        );
        assert!(gw.capture("c2", "auth_made_up").await.is_err());
        assert_eq!(gw.authorized(), 1);
    }

    #[tokio::test]
    async fn a_void_releases_once_per_key_and_a_voided_authorization_cannot_be_captured() {
        let gw = TestGateway::default();
        let eur = Money::new(990, Currency::EUR);
        let a = gw.authorize("a1", eur, cards::APPROVED).await.unwrap();
        gw.void("v1", &a).await.unwrap();
        gw.void("v1", &a).await.unwrap();
        assert_eq!(gw.voided(), 1, "same key, one void");
        assert_eq!(
            gw.capture("c1", &a).await,
            Err(PaymentError::Declined {
                reason: "authorization_voided".into()
            })
        );
        assert_eq!(gw.captured(), 0);
        // A captured authorization cannot be voided, and an unknown one neither.
        let b = gw.authorize("a2", eur, cards::APPROVED).await.unwrap();
        gw.capture("c2", &b).await.unwrap();
        assert!(gw.void("v2", &b).await.is_err());
        assert!(gw.void("v3", "auth_made_up").await.is_err());
        assert_eq!((gw.voided(), gw.captured()), (1, 1));
    }

    #[tokio::test]
    async fn a_journaled_gateway_remembers_its_keys_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.journal");
        let eur = Money::new(1500, Currency::EUR);
        let first = TestGateway::journaled(&path).unwrap();
        let a = first.authorize("a1", eur, cards::APPROVED).await.unwrap();
        first.capture("c1", &a).await.unwrap();
        let b = first.authorize("a2", eur, cards::APPROVED).await.unwrap();
        first.void("v2", &b).await.unwrap();
        drop(first);

        let again = TestGateway::journaled(&path).unwrap();
        assert_eq!(
            again.authorize("a1", eur, cards::APPROVED).await,
            Ok(a.clone())
        );
        again.capture("c1", &a).await.unwrap();
        assert_eq!((again.captured(), again.voided()), (1, 1));
        assert!(again.capture("c2", &b).await.is_err(), "still voided");
        let c = again.authorize("a3", eur, cards::APPROVED).await.unwrap();
        assert!(c != a && c != b, "new ids do not reuse old ones");
    }

    #[tokio::test]
    async fn opening_compacts_the_journal_and_forgets_only_holds_voided_long_ago() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.journal");
        let eur = Money::new(700, Currency::EUR);
        let day = 24 * 3600 * 1000;
        let t0 = 1_700_000_000_000;
        // Long ago: a charge, and a hold voided (the last id handed out).
        let first = TestGateway::journaled_at(&path, t0).unwrap();
        let charged = first.authorize("a2", eur, cards::APPROVED).await.unwrap();
        first.capture("c2", &charged).await.unwrap();
        let old_void = first.authorize("a1", eur, cards::APPROVED).await.unwrap();
        first.void("v1", &old_void).await.unwrap();
        drop(first);
        // Opened again and again, with nothing new: it does not grow.
        let size = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();
        drop(TestGateway::journaled_at(&path, t0 + day).unwrap());
        let once = size(&path);
        for n in 2..6 {
            drop(TestGateway::journaled_at(&path, t0 + n * day).unwrap());
        }
        assert_eq!(size(&path), once, "reopening adds nothing");
        // A recent hold voided too.
        let recent = TestGateway::journaled_at(&path, t0 + 20 * day).unwrap();
        let new_void = recent.authorize("a3", eur, cards::APPROVED).await.unwrap();
        recent.void("v3", &new_void).await.unwrap();
        drop(recent);

        // Past the retention of the first void, not of the second.
        let later = TestGateway::journaled_at(&path, t0 + 31 * day).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("\ta1\t") && !text.contains("\tv1\t"),
            "{text}"
        );
        assert!(text.contains("\ta3\t") && text.contains("\tv3\t"), "{text}");
        assert_eq!((later.voided(), later.captured()), (1, 1));
        // The charge is kept: the same capture key answers as before, and a
        // refund still finds it; the recent void still refuses a capture.
        later.capture("c2", &charged).await.unwrap();
        later.refund("r2", &charged, eur).await.unwrap();
        assert_eq!(
            later.capture("c3", &new_void).await,
            Err(PaymentError::Declined {
                reason: "authorization_voided".into()
            })
        );
        // The forgotten hold is unknown now; new ids never reuse old ones,
        // the forgotten one's included, after yet another compaction too.
        assert!(later.capture("c1", &old_void).await.is_err());
        drop(later);
        let last = TestGateway::journaled_at(&path, t0 + 32 * day).unwrap();
        let fresh = last.authorize("a4", eur, cards::APPROVED).await.unwrap();
        assert!(
            ![&old_void, &charged, &new_void].contains(&&fresh),
            "{fresh}"
        );
        drop(last);

        // A server that ran for a month voids a hold minutes before it
        // restarts: the void is kept 30 days from when it was made, not
        // from when that process opened the journal.
        let long_run = TestGateway::journaled_at(&path, t0 + 33 * day).unwrap();
        let late = long_run
            .authorize("a5", eur, cards::APPROVED)
            .await
            .unwrap();
        long_run.run_for(31 * day);
        long_run.void("v5", &late).await.unwrap();
        drop(long_run);
        let hour = 3600 * 1000;
        let restarted = TestGateway::journaled_at(&path, t0 + 64 * day + hour).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\ta5\t") && text.contains("\tv5\t"), "{text}");
        assert_eq!(
            restarted.capture("c5", &late).await,
            Err(PaymentError::Declined {
                reason: "authorization_voided".into()
            })
        );
        drop(restarted);
        drop(TestGateway::journaled_at(&path, t0 + 95 * day).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("\tv5\t"), "30 days after the void: {text}");

        // A journal whose voids carry no time forgets them by their epoch,
        // as before.
        let legacy = dir.path().join("legacy.journal");
        let old_lines =
            format!("open\t{t0}\nauthorize\ta9\tauth_test_9\t700\tEUR\nvoid\tv9\tauth_test_9\n");
        std::fs::write(&legacy, old_lines).unwrap();
        drop(TestGateway::journaled_at(&legacy, t0 + 29 * day).unwrap());
        let text = std::fs::read_to_string(&legacy).unwrap();
        assert!(text.contains("void\tv9\tauth_test_9\n"), "{text}");
        drop(TestGateway::journaled_at(&legacy, t0 + 31 * day).unwrap());
        let text = std::fs::read_to_string(&legacy).unwrap();
        assert!(!text.contains("\tv9\t"), "{text}");
    }

    #[tokio::test]
    async fn the_no_answer_card_hangs_until_the_caller_gives_up() {
        let gw = TestGateway::default();
        let eur = Money::new(100, Currency::EUR);
        let waited = tokio::time::timeout(
            Duration::from_millis(50),
            gw.authorize("k", eur, cards::NO_ANSWER),
        )
        .await;
        assert!(waited.is_err(), "no answer within the caller's timeout");
    }
}
