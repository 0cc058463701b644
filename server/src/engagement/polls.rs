//! Polls: 2 to 6 options and a timer; one vote per shopper; results live.
//! One poll is open at a time: a new one closes the one before.

use super::engine::{Engine, storage};
use super::rules::GrantKind;
use super::{EngagementError, EngagementEvent, Poll};
use crate::store::{Store, StoreError};
use sqlx::Row;
use std::collections::{BTreeMap, HashSet};
use vitrine_shared::AccountId;
use vitrine_shared::PollId;

pub use vitrine_shared::limits::engagement::{
    MAX_POLL_OPTION_CHARS, MAX_POLL_QUESTION_CHARS, POLL_DURATION_SECS as DURATION_SECS,
    POLL_OPTIONS as OPTIONS,
};

pub(super) struct PollState {
    pub poll: Poll,
    pub voters: HashSet<AccountId>,
    pub closed: bool,
    pub closes_at_ms: i64,
}

impl PollState {
    pub fn view(&self, now: i64) -> Poll {
        Poll {
            closed: self.closed || now >= self.closes_at_ms,
            ..self.poll.clone()
        }
    }
}

fn text_ok(s: &str, max: usize) -> bool {
    let t = s.trim();
    !t.is_empty() && t.chars().count() <= max && !t.chars().any(char::is_control)
}

pub(super) async fn load(
    store: &Store,
    now: i64,
) -> Result<BTreeMap<PollId, PollState>, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
    let mut polls = BTreeMap::new();
    for row in sqlx::query("SELECT id, question, options, closes_at FROM polls")
        .fetch_all(store.pool())
        .await?
    {
        let options: Vec<String> =
            serde_json::from_str(&row.try_get::<String, _>(2)?).map_err(|e| corrupt(&e))?;
        let id = PollId(row.try_get(0)?);
        let closes_at_ms: i64 = row.try_get(3)?;
        polls.insert(
            id,
            PollState {
                poll: Poll {
                    id,
                    question: row.try_get(1)?,
                    counts: vec![0; options.len()],
                    options,
                    closes_at_ms,
                    closed: false,
                },
                voters: HashSet::new(),
                closed: closes_at_ms <= now,
                closes_at_ms,
            },
        );
    }
    for row in sqlx::query("SELECT poll_id, account_id, option_index FROM poll_votes")
        .fetch_all(store.pool())
        .await?
    {
        let poll_id = PollId(row.try_get(0)?);
        let option: i64 = row.try_get(2)?;
        if let Some(state) = polls.get_mut(&poll_id)
            && let Some(count) = state.poll.counts.get_mut(option as usize)
        {
            *count += 1;
            state
                .voters
                .insert(AccountId(row.try_get::<i64, _>(1)? as u64));
        }
    }
    for state in polls.values_mut() {
        state.poll.closed = state.closed;
    }
    Ok(polls)
}

impl Engine {
    pub(super) async fn create_poll(
        &mut self,
        by: AccountId,
        question: String,
        options: Vec<String>,
        duration_secs: u64,
    ) -> Result<Poll, EngagementError> {
        let invalid = |m: &str| Err(EngagementError::Invalid(m.to_owned()));
        if !text_ok(&question, MAX_POLL_QUESTION_CHARS) {
            return invalid(&format!(
                "question: 1 to {MAX_POLL_QUESTION_CHARS} characters"
            ));
        }
        if !OPTIONS.contains(&options.len()) {
            return invalid(&format!(
                "options: {} to {} of them",
                OPTIONS.start(),
                OPTIONS.end()
            ));
        }
        if options.iter().any(|o| !text_ok(o, MAX_POLL_OPTION_CHARS)) {
            return invalid(&format!(
                "options: each 1 to {MAX_POLL_OPTION_CHARS} characters"
            ));
        }
        let options: Vec<String> = options.iter().map(|o| o.trim().to_owned()).collect();
        let distinct: HashSet<&String> = options.iter().collect();
        if distinct.len() != options.len() {
            return invalid("options: each different");
        }
        if !DURATION_SECS.contains(&duration_secs) {
            return invalid(&format!(
                "duration_secs: {} to {}",
                DURATION_SECS.start(),
                DURATION_SECS.end()
            ));
        }
        let now = self.clock.now_ms();
        // One poll at a time: the one open closes now.
        let open: Vec<PollId> = self
            .polls
            .values()
            .filter(|p| !p.closed)
            .map(|p| p.poll.id)
            .collect();
        for id in &open {
            sqlx::query("UPDATE polls SET closes_at = $1 WHERE id = $2 AND closes_at > $1")
                .bind(now)
                .bind(id.get())
                .execute(self.store.pool())
                .await
                .map_err(|e| storage(e.into()))?;
        }
        self.close_polls_now(&open, now);
        let poll = Poll {
            id: crate::ids::new_id(),
            question: question.trim().to_owned(),
            counts: vec![0; options.len()],
            options,
            closes_at_ms: now + duration_secs as i64 * 1000,
            closed: false,
        };
        let options_json = serde_json::to_string(&poll.options)
            .map_err(|e| storage(StoreError::Corrupt(e.to_string())))?;
        sqlx::query(
            "INSERT INTO polls (id, show_id, question, options, closes_at, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(poll.id.get())
        .bind(self.show.as_ref().map(|s| s.id.get()))
        .bind(&poll.question)
        .bind(options_json)
        .bind(poll.closes_at_ms)
        .bind(by.0 as i64)
        .bind(now)
        .execute(self.store.pool())
        .await
        .map_err(|e| storage(e.into()))?;
        tracing::info!(poll = poll.id.get(), question = %poll.question, "poll opened");
        self.polls.insert(
            poll.id,
            PollState {
                poll: poll.clone(),
                voters: HashSet::new(),
                closed: false,
                closes_at_ms: poll.closes_at_ms,
            },
        );
        let _ = self.events.send(EngagementEvent::PollOpened(poll.clone()));
        Ok(poll)
    }

    pub(super) async fn vote(
        &mut self,
        account: AccountId,
        poll_id: PollId,
        option: u32,
    ) -> Result<Poll, EngagementError> {
        let now = self.clock.now_ms();
        let state = self
            .polls
            .get(&poll_id)
            .ok_or(EngagementError::UnknownPoll)?;
        if state.closed || now >= state.closes_at_ms {
            return Err(EngagementError::PollClosed);
        }
        if option as usize >= state.poll.options.len() {
            return Err(EngagementError::BadOption);
        }
        if state.voters.contains(&account) {
            return Err(EngagementError::AlreadyVoted);
        }
        let written = sqlx::query(
            "INSERT INTO poll_votes (poll_id, account_id, option_index, voted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (poll_id, account_id) DO NOTHING",
        )
        .bind(poll_id.get())
        .bind(account.0 as i64)
        .bind(i64::from(option))
        .bind(now)
        .execute(self.store.pool())
        .await
        .map_err(|e| storage(e.into()))?;
        if written.rows_affected() != 1 {
            return Err(EngagementError::AlreadyVoted);
        }
        let state = self.polls.get_mut(&poll_id).expect("checked above");
        state.voters.insert(account);
        state.poll.counts[option as usize] += 1;
        let poll = state.view(now);
        let _ = self.events.send(EngagementEvent::PollResults {
            poll_id,
            counts: poll.counts.clone(),
            closed: false,
        });
        self.grant(account, GrantKind::PollAnswer, poll_id.to_string())
            .await?;
        Ok(poll)
    }

    fn close_polls_now(&mut self, ids: &[PollId], now: i64) {
        for id in ids {
            if let Some(state) = self.polls.get_mut(id) {
                state.closed = true;
                state.closes_at_ms = state.closes_at_ms.min(now);
                state.poll.closed = true;
                state.poll.closes_at_ms = state.closes_at_ms;
                tracing::info!(poll = id.get(), counts = ?state.poll.counts, "poll closed");
                let _ = self.events.send(EngagementEvent::PollResults {
                    poll_id: *id,
                    counts: state.poll.counts.clone(),
                    closed: true,
                });
            }
        }
    }

    /// Closes polls whose timer ran out, announcing the final results.
    pub(super) fn close_polls(&mut self, now: i64) {
        let due: Vec<PollId> = self
            .polls
            .values()
            .filter(|p| !p.closed && now >= p.closes_at_ms)
            .map(|p| p.poll.id)
            .collect();
        self.close_polls_now(&due, now);
    }
}
