//! Moderation of the live rooms: delete a chat line, timed mutes, kicks,
//! bans, the keyword filter and the log of every action.
//!
//! [`Moderation`] is shared by the HTTP tier and the room thread. HTTP
//! handlers change it: each action is written to the store with its log
//! entry in one transaction, then applied in memory, then (for deleting a
//! line, a kick or a ban) queued for the room thread on a channel it drains
//! each tick. The room thread only reads it (mutes, bans and the filter,
//! behind mutexes held for microseconds) and appends each chat line to the
//! per-room copy that moderators read, so it never waits on a request.

pub mod filter;
mod reviews;
mod voice;

pub use filter::{Filter, FilterError, MAX_TERM_CHARS, MAX_TERMS};

use crate::clock::Clock;
use crate::store::{Account, Store, StoreError};
use sqlx::Row;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::mpsc;
use vitrine_shared::protocol::{ChatLine, RejectReason};
use vitrine_shared::{AccountId, ChatText, DisplayName, MemberSlot, Role, RoomId};

pub use vitrine_shared::limits::moderation::{MAX_LOG_PAGE, MAX_MUTE, MAX_REASON_CHARS, MIN_MUTE};
/// Chat lines kept per room for moderators to pick from.
pub const CHAT_KEPT_PER_ROOM: usize = 200;
/// What a removed member is told when the moderator gave no reason.
pub const DEFAULT_REMOVE_REASON: &str = "removed by a moderator";
/// Terms named in the log entry of a filter change; the rest are counted.
const LOGGED_TERMS: usize = 20;

/// A chat line as moderators see it: who wrote it, by account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatEntry {
    pub seq: u64,
    pub slot: MemberSlot,
    pub account: AccountId,
    pub name: DisplayName,
    pub text: ChatText,
    pub at_ms: i64,
}

/// What the room thread does for a moderator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomAction {
    /// Drop the line from the room's history and tell its members.
    DeleteLine { room: RoomId, seq: u64 },
    /// Tell every connection of the account, then disconnect it.
    Remove {
        account: AccountId,
        banned: bool,
        reason: String,
    },
    /// Tell every connection of the account its voice-mute began
    /// (`Some(remaining, reason)`) or was lifted (`None`).
    VoiceMute {
        account: AccountId,
        muted: Option<(Duration, String)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mute {
    pub account: AccountId,
    pub name: String,
    pub until_ms: i64,
    pub reason: String,
    pub muted_by: AccountId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    pub account: AccountId,
    pub name: String,
    pub reason: String,
    pub banned_by: AccountId,
    pub banned_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: AccountId,
    pub actor_name: String,
    /// `delete_chat`, `mute`, `unmute`, `kick`, `ban`, `unban` or `filter`.
    pub action: String,
    pub room: Option<String>,
    pub target: Option<AccountId>,
    pub target_name: Option<String>,
    pub details: String,
}

#[derive(Debug, Error)]
pub enum ModerationError {
    #[error("no such room")]
    UnknownRoom,
    #[error("no chat line {0} among the room's recent lines")]
    UnknownLine(u64),
    #[error("no such account")]
    UnknownAccount,
    #[error("hosts, co-hosts and moderators cannot be muted, kicked or banned")]
    StaffTarget,
    #[error("that account is not muted")]
    NotMuted,
    #[error("that account is not banned")]
    NotBanned,
    #[error("{0}")]
    Invalid(String),
    #[error("filter: {0}")]
    Filter(#[from] FilterError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ModerationError {
    fn from(e: sqlx::Error) -> Self {
        ModerationError::Store(StoreError::Database(e))
    }
}

/// Mutes by account, with the expiry rule in one place.
#[derive(Debug, Default)]
pub struct Mutes(HashMap<AccountId, Mute>);

impl Mutes {
    /// How long `account` stays muted after `now_ms`; `None` when it is not
    /// (or no longer) muted.
    pub fn remaining(&self, account: AccountId, now_ms: i64) -> Option<Duration> {
        let mute = self.0.get(&account)?;
        let left = mute.until_ms - now_ms;
        (left > 0).then(|| Duration::from_millis(left as u64))
    }

    pub fn insert(&mut self, mute: Mute) {
        self.0.insert(mute.account, mute);
    }

    /// Removes a mute; `Some` only when it was still running at `now_ms`.
    pub fn remove(&mut self, account: AccountId, now_ms: i64) -> Option<Mute> {
        let mute = self.0.remove(&account)?;
        (mute.until_ms > now_ms).then_some(mute)
    }

    /// Mutes running at `now_ms`, soonest to end first; ended ones go.
    pub fn active(&mut self, now_ms: i64) -> Vec<Mute> {
        self.0.retain(|_, m| m.until_ms > now_ms);
        let mut list: Vec<Mute> = self.0.values().cloned().collect();
        list.sort_by_key(|m| (m.until_ms, m.account.0));
        list
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Moderation state shared by the HTTP tier and the room thread.
pub struct Moderation {
    store: Store,
    /// Mutes end and actions are stamped by this clock.
    clock: Clock,
    mutes: Mutex<Mutes>,
    /// Voice-mutes (`voice`): the same rule, a separate list.
    voice_mutes: Mutex<Mutes>,
    bans: Mutex<HashMap<AccountId, Ban>>,
    filter: RwLock<Arc<Filter>>,
    chat: Mutex<HashMap<RoomId, VecDeque<ChatEntry>>>,
    /// Serialises actions so memory follows the order of commits; holds the
    /// next log number.
    writes: tokio::sync::Mutex<i64>,
    to_rooms: mpsc::UnboundedSender<RoomAction>,
}

type Statement = sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments<'static>>;

/// What an action records in the log.
struct Change<'a> {
    actor: &'a Account,
    action: &'static str,
    room: Option<&'a RoomId>,
    target: Option<(AccountId, &'a str)>,
    details: String,
}

impl Moderation {
    /// Loads mutes still running (by `clock`), bans and the filter from the
    /// store. The receiver goes to the room thread.
    pub async fn load(
        store: Store,
        clock: Clock,
    ) -> Result<(Arc<Moderation>, mpsc::UnboundedReceiver<RoomAction>), StoreError> {
        let store = store.with_clock(clock.clone());
        let now = clock.now_ms();
        let pool = store.pool();
        sqlx::query("DELETE FROM moderation_mutes WHERE until_at <= $1")
            .bind(now)
            .execute(pool)
            .await?;
        let mut mutes = Mutes::default();
        for row in
            sqlx::query("SELECT account_id, name, until_at, reason, muted_by FROM moderation_mutes")
                .fetch_all(pool)
                .await?
        {
            mutes.insert(Mute {
                account: AccountId(row.try_get::<i64, _>(0)? as u64),
                name: row.try_get(1)?,
                until_ms: row.try_get(2)?,
                reason: row.try_get(3)?,
                muted_by: AccountId(row.try_get::<i64, _>(4)? as u64),
            });
        }
        let mut bans = HashMap::new();
        for row in sqlx::query(
            "SELECT account_id, name, reason, banned_by, banned_at FROM moderation_bans",
        )
        .fetch_all(pool)
        .await?
        {
            let ban = Ban {
                account: AccountId(row.try_get::<i64, _>(0)? as u64),
                name: row.try_get(1)?,
                reason: row.try_get(2)?,
                banned_by: AccountId(row.try_get::<i64, _>(3)? as u64),
                banned_at_ms: row.try_get(4)?,
            };
            bans.insert(ban.account, ban);
        }
        let terms: Vec<String> =
            sqlx::query("SELECT term FROM moderation_filter_terms ORDER BY position")
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<_, _>>()?;
        let filter = Filter::new(&terms)
            .map_err(|e| StoreError::Corrupt(format!("moderation filter: {e}")))?;
        let last: Option<i64> = sqlx::query("SELECT MAX(seq) FROM moderation_log")
            .fetch_one(pool)
            .await?
            .try_get(0)?;
        let voice_mutes = voice::load(pool, now).await?;
        let (to_rooms, from_http) = mpsc::unbounded_channel();
        let moderation = Moderation {
            store,
            clock,
            mutes: Mutex::new(mutes),
            voice_mutes: Mutex::new(voice_mutes),
            bans: Mutex::new(bans),
            filter: RwLock::new(Arc::new(filter)),
            chat: Mutex::new(HashMap::new()),
            writes: tokio::sync::Mutex::new(last.unwrap_or(0) + 1),
            to_rooms,
        };
        Ok((Arc::new(moderation), from_http))
    }

    // ---------------------------------------------------------------------
    // Read by the room thread: never waits on the store.

    /// Why a chat line or question from `account` must not go out: muted,
    /// or a blocked term in `text`.
    pub fn screen(&self, account: AccountId, text: &str, now_ms: i64) -> Option<RejectReason> {
        if let Some(left) = lock(&self.mutes).remaining(account, now_ms) {
            return Some(RejectReason::Muted {
                remaining_ms: left.as_millis() as u64,
            });
        }
        let filter = self
            .filter
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        filter.blocks(text).then_some(RejectReason::Filtered)
    }

    /// Whether the keyword filter blocks `text` (reviews pass it too).
    pub fn filter_blocks(&self, text: &str) -> bool {
        self.filter
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .blocks(text)
    }

    pub fn is_banned(&self, account: AccountId) -> bool {
        lock(&self.bans).contains_key(&account)
    }

    /// Keeps a relayed line for moderators (the last
    /// [`CHAT_KEPT_PER_ROOM`] per room).
    pub fn record_chat(&self, room: &RoomId, account: AccountId, line: &ChatLine) {
        let mut chat = lock(&self.chat);
        let lines = chat.entry(room.clone()).or_default();
        lines.push_back(ChatEntry {
            seq: line.seq,
            slot: line.from,
            account,
            name: line.name.clone(),
            text: line.text.clone(),
            at_ms: self.clock.now_ms(),
        });
        while lines.len() > CHAT_KEPT_PER_ROOM {
            lines.pop_front();
        }
    }

    // ---------------------------------------------------------------------
    // For the HTTP tier.

    /// A room's recent lines, oldest first.
    pub fn recent_chat(&self, room: &RoomId) -> Vec<ChatEntry> {
        lock(&self.chat)
            .get(room)
            .map(|lines| lines.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn mutes(&self) -> Vec<Mute> {
        lock(&self.mutes).active(self.clock.now_ms())
    }

    pub fn bans(&self) -> Vec<Ban> {
        let mut list: Vec<Ban> = lock(&self.bans).values().cloned().collect();
        list.sort_by_key(|b| std::cmp::Reverse((b.banned_at_ms, b.account.0)));
        list
    }

    pub fn filter_terms(&self) -> Vec<String> {
        self.filter
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .terms()
            .to_vec()
    }

    /// The account a moderator means to mute, kick or ban: it must exist
    /// and be a shopper.
    pub async fn target(&self, account: AccountId) -> Result<Account, ModerationError> {
        let id = i64::try_from(account.0).map_err(|_| ModerationError::UnknownAccount)?;
        let row = sqlx::query("SELECT display_name, role FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?
            .ok_or(ModerationError::UnknownAccount)?;
        let name = DisplayName::new(row.try_get::<String, _>(0)?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let role: String = row.try_get(1)?;
        let role = Role::ALL
            .into_iter()
            .find(|r| r.as_str() == role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?;
        if role.is_staff() {
            return Err(ModerationError::StaffTarget);
        }
        Ok(Account {
            id: account,
            name,
            role,
        })
    }

    /// Writes `statements` and the log entry of `change` in one
    /// transaction; returns the entry. Call with the write lock held.
    async fn commit(
        &self,
        next_seq: &mut i64,
        statements: Vec<Statement>,
        change: Change<'_>,
    ) -> Result<LogEntry, ModerationError> {
        let entry = LogEntry {
            seq: *next_seq,
            at_ms: self.clock.now_ms(),
            actor: change.actor.id,
            actor_name: change.actor.name.to_string(),
            action: change.action.to_owned(),
            room: change.room.map(|r| r.to_string()),
            target: change.target.map(|(id, _)| id),
            target_name: change.target.map(|(_, name)| name.to_owned()),
            details: change.details,
        };
        let mut tx = self.store.pool().begin().await?;
        for statement in statements {
            statement.execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO moderation_log (seq, at, actor_id, actor_name, action, room_id, \
             target_id, target_name, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(entry.seq)
        .bind(entry.at_ms)
        .bind(entry.actor.0 as i64)
        .bind(entry.actor_name.clone())
        .bind(entry.action.clone())
        .bind(entry.room.clone())
        .bind(entry.target.map(|a| a.0 as i64))
        .bind(entry.target_name.clone())
        .bind(entry.details.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        *next_seq += 1;
        Ok(entry)
    }

    fn tell_rooms(&self, action: RoomAction) {
        // Only fails once the room thread is gone, at shutdown.
        let _ = self.to_rooms.send(action);
    }

    /// Removes line `seq` from `room`: moderators stop seeing it, the room
    /// drops it from its history and tells its members.
    pub async fn delete_line(
        &self,
        actor: &Account,
        room: &RoomId,
        seq: u64,
    ) -> Result<LogEntry, ModerationError> {
        let mut next = self.writes.lock().await;
        let line = self
            .recent_chat(room)
            .into_iter()
            .find(|l| l.seq == seq)
            .ok_or(ModerationError::UnknownLine(seq))?;
        let entry = self
            .commit(
                &mut next,
                Vec::new(),
                Change {
                    actor,
                    action: "delete_chat",
                    room: Some(room),
                    target: Some((line.account, line.name.as_str())),
                    details: format!("line {seq}: {}", line.text.as_str()),
                },
            )
            .await?;
        if let Some(lines) = lock(&self.chat).get_mut(room) {
            lines.retain(|l| l.seq != seq);
        }
        self.tell_rooms(RoomAction::DeleteLine {
            room: room.clone(),
            seq,
        });
        Ok(entry)
    }

    /// Mutes `target` for `duration` from now (replacing any mute it had).
    pub async fn mute(
        &self,
        actor: &Account,
        target: &Account,
        duration: Duration,
        reason: &str,
    ) -> Result<Mute, ModerationError> {
        if !(MIN_MUTE..=MAX_MUTE).contains(&duration) {
            return Err(ModerationError::Invalid(format!(
                "a mute lasts {} s to {} s",
                MIN_MUTE.as_secs(),
                MAX_MUTE.as_secs()
            )));
        }
        let reason = check_reason(reason)?;
        let mut next = self.writes.lock().await;
        let now = self.clock.now_ms();
        let mute = Mute {
            account: target.id,
            name: target.name.to_string(),
            until_ms: now + duration.as_millis() as i64,
            reason: reason.to_owned(),
            muted_by: actor.id,
        };
        let upsert = sqlx::query(
            "INSERT INTO moderation_mutes (account_id, name, until_at, reason, muted_by, muted_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id) DO UPDATE SET \
             name = excluded.name, until_at = excluded.until_at, reason = excluded.reason, \
             muted_by = excluded.muted_by, muted_at = excluded.muted_at",
        )
        .bind(target.id.0 as i64)
        .bind(mute.name.clone())
        .bind(mute.until_ms)
        .bind(mute.reason.clone())
        .bind(actor.id.0 as i64)
        .bind(now);
        self.commit(
            &mut next,
            vec![upsert],
            Change {
                actor,
                action: "mute",
                room: None,
                target: Some((target.id, target.name.as_str())),
                details: with_reason(format!("for {} s", duration.as_secs()), reason),
            },
        )
        .await?;
        lock(&self.mutes).insert(mute.clone());
        Ok(mute)
    }

    /// Ends `account`'s mute early.
    pub async fn unmute(&self, actor: &Account, account: AccountId) -> Result<(), ModerationError> {
        let mut next = self.writes.lock().await;
        let now = self.clock.now_ms();
        let name = lock(&self.mutes)
            .0
            .get(&account)
            .filter(|m| m.until_ms > now)
            .map(|m| m.name.clone())
            .ok_or(ModerationError::NotMuted)?;
        let delete = sqlx::query("DELETE FROM moderation_mutes WHERE account_id = $1")
            .bind(account.0 as i64);
        self.commit(
            &mut next,
            vec![delete],
            Change {
                actor,
                action: "unmute",
                room: None,
                target: Some((account, &name)),
                details: String::new(),
            },
        )
        .await?;
        lock(&self.mutes).remove(account, now);
        Ok(())
    }

    /// Disconnects every connection of `target`; it may join again.
    pub async fn kick(
        &self,
        actor: &Account,
        target: &Account,
        reason: &str,
    ) -> Result<LogEntry, ModerationError> {
        let reason = check_reason(reason)?;
        let mut next = self.writes.lock().await;
        let entry = self
            .commit(
                &mut next,
                Vec::new(),
                Change {
                    actor,
                    action: "kick",
                    room: None,
                    target: Some((target.id, target.name.as_str())),
                    details: reason.to_owned(),
                },
            )
            .await?;
        self.tell_rooms(RoomAction::Remove {
            account: target.id,
            banned: false,
            reason: told(reason),
        });
        Ok(entry)
    }

    /// Bans `target` from every room and disconnects it.
    pub async fn ban(
        &self,
        actor: &Account,
        target: &Account,
        reason: &str,
    ) -> Result<Ban, ModerationError> {
        let reason = check_reason(reason)?;
        let mut next = self.writes.lock().await;
        let ban = Ban {
            account: target.id,
            name: target.name.to_string(),
            reason: reason.to_owned(),
            banned_by: actor.id,
            banned_at_ms: self.clock.now_ms(),
        };
        let upsert = sqlx::query(
            "INSERT INTO moderation_bans (account_id, name, reason, banned_by, banned_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id) DO UPDATE SET \
             name = excluded.name, reason = excluded.reason, banned_by = excluded.banned_by, \
             banned_at = excluded.banned_at",
        )
        .bind(target.id.0 as i64)
        .bind(ban.name.clone())
        .bind(ban.reason.clone())
        .bind(actor.id.0 as i64)
        .bind(ban.banned_at_ms);
        self.commit(
            &mut next,
            vec![upsert],
            Change {
                actor,
                action: "ban",
                room: None,
                target: Some((target.id, target.name.as_str())),
                details: reason.to_owned(),
            },
        )
        .await?;
        lock(&self.bans).insert(target.id, ban.clone());
        self.tell_rooms(RoomAction::Remove {
            account: target.id,
            banned: true,
            reason: told(reason),
        });
        Ok(ban)
    }

    /// Lifts `account`'s ban.
    pub async fn unban(&self, actor: &Account, account: AccountId) -> Result<(), ModerationError> {
        let mut next = self.writes.lock().await;
        let name = lock(&self.bans)
            .get(&account)
            .map(|b| b.name.clone())
            .ok_or(ModerationError::NotBanned)?;
        let delete =
            sqlx::query("DELETE FROM moderation_bans WHERE account_id = $1").bind(account.0 as i64);
        self.commit(
            &mut next,
            vec![delete],
            Change {
                actor,
                action: "unban",
                room: None,
                target: Some((account, &name)),
                details: String::new(),
            },
        )
        .await?;
        lock(&self.bans).remove(&account);
        Ok(())
    }

    /// Replaces the blocked terms; returns them as stored (trimmed, lower
    /// case, without repeats).
    pub async fn set_filter(
        &self,
        actor: &Account,
        raw: &[String],
    ) -> Result<Vec<String>, ModerationError> {
        let filter = Filter::new(raw)?;
        let mut next = self.writes.lock().await;
        let old = self.filter_terms();
        let added: Vec<&String> = filter.terms().iter().filter(|t| !old.contains(t)).collect();
        let removed: Vec<&String> = old.iter().filter(|t| !filter.terms().contains(t)).collect();
        let mut details = format!("{} terms", filter.terms().len());
        if !added.is_empty() {
            details.push_str(&format!("; added {}", quoted(&added)));
        }
        if !removed.is_empty() {
            details.push_str(&format!("; removed {}", quoted(&removed)));
        }
        let mut statements = vec![sqlx::query("DELETE FROM moderation_filter_terms")];
        for (i, term) in filter.terms().iter().enumerate() {
            statements.push(
                sqlx::query("INSERT INTO moderation_filter_terms (position, term) VALUES ($1, $2)")
                    .bind(i as i64)
                    .bind(term.clone()),
            );
        }
        self.commit(
            &mut next,
            statements,
            Change {
                actor,
                action: "filter",
                room: None,
                target: None,
                details,
            },
        )
        .await?;
        let terms = filter.terms().to_vec();
        *self.filter.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(filter);
        Ok(terms)
    }

    /// The log, newest first: at most `limit` entries, older than `before`
    /// (a `seq`) when given.
    pub async fn log(
        &self,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<LogEntry>, ModerationError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor_id, actor_name, action, room_id, target_id, target_name, \
             details FROM moderation_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit.min(MAX_LOG_PAGE) as i64)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LogEntry {
                    seq: row.try_get(0)?,
                    at_ms: row.try_get(1)?,
                    actor: AccountId(row.try_get::<i64, _>(2)? as u64),
                    actor_name: row.try_get(3)?,
                    action: row.try_get(4)?,
                    room: row.try_get(5)?,
                    target: row
                        .try_get::<Option<i64>, _>(6)?
                        .map(|id| AccountId(id as u64)),
                    target_name: row.try_get(7)?,
                    details: row.try_get(8)?,
                })
            })
            .collect()
    }
}

pub(crate) fn check_reason(reason: &str) -> Result<&str, ModerationError> {
    let reason = reason.trim();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ModerationError::Invalid(format!(
            "a reason has at most {MAX_REASON_CHARS} characters"
        )));
    }
    if reason.chars().any(char::is_control) {
        return Err(ModerationError::Invalid(
            "a reason holds no control characters".into(),
        ));
    }
    Ok(reason)
}

fn with_reason(details: String, reason: &str) -> String {
    if reason.is_empty() {
        details
    } else {
        format!("{details}: {reason}")
    }
}

/// What a removed member reads.
fn told(reason: &str) -> String {
    if reason.is_empty() {
        DEFAULT_REMOVE_REASON.to_owned()
    } else {
        reason.to_owned()
    }
}

/// Terms for the log: the first [`LOGGED_TERMS`], then how many more.
fn quoted(terms: &[&String]) -> String {
    let mut out = terms
        .iter()
        .take(LOGGED_TERMS)
        .map(|t| format!("{t:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if terms.len() > LOGGED_TERMS {
        out.push_str(&format!(" and {} more", terms.len() - LOGGED_TERMS));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn mute(account: u64, until_ms: i64) -> Mute {
        Mute {
            account: AccountId(account),
            name: format!("a{account}"),
            until_ms,
            reason: String::new(),
            muted_by: AccountId(1),
        }
    }

    #[test]
    fn a_mute_runs_until_its_end_and_no_longer() {
        let mut mutes = Mutes::default();
        mutes.insert(mute(7, 10_000));
        assert_eq!(
            mutes.remaining(AccountId(7), 9_000),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            mutes.remaining(AccountId(7), 9_999),
            Some(Duration::from_millis(1))
        );
        assert_eq!(mutes.remaining(AccountId(7), 10_000), None, "ended");
        assert_eq!(mutes.remaining(AccountId(7), 20_000), None);
        assert_eq!(mutes.remaining(AccountId(8), 0), None, "never muted");
    }

    #[test]
    fn ended_mutes_are_not_listed_and_cannot_be_lifted() {
        let mut mutes = Mutes::default();
        mutes.insert(mute(1, 5_000));
        mutes.insert(mute(2, 3_000));
        mutes.insert(mute(3, 1_000));
        let active: Vec<u64> = mutes.active(2_000).iter().map(|m| m.account.0).collect();
        assert_eq!(active, [2, 1], "soonest to end first; the ended one gone");
        assert!(mutes.remove(AccountId(2), 4_000).is_none(), "already over");
        assert!(mutes.remove(AccountId(1), 4_000).is_some());
        assert!(mutes.active(4_000).is_empty());
    }

    #[test]
    fn a_remuted_account_gets_the_new_end() {
        let mut mutes = Mutes::default();
        mutes.insert(mute(1, 60_000));
        mutes.insert(mute(1, 2_000));
        assert_eq!(
            mutes.remaining(AccountId(1), 1_000),
            Some(Duration::from_secs(1))
        );
    }

    #[tokio::test]
    async fn actions_are_durable_and_logged_in_order() {
        for (store, _dir) in crate::store::tests::stores().await {
            durable_and_logged(store).await;
        }
    }

    #[tokio::test]
    async fn a_mute_ends_when_the_clock_passes_it_and_a_restart_forgets_it() {
        for (store, _dir) in crate::store::tests::stores().await {
            let time = ManualClock::starting_now();
            let host = store
                .create_account(&DisplayName::new("Hana").unwrap(), Role::Host, "user")
                .await
                .unwrap();
            let shopper = store
                .create_guest(&DisplayName::new("Sam").unwrap())
                .await
                .unwrap();
            let (moderation, _rx) = Moderation::load(store.clone(), time.clock()).await.unwrap();
            let target = moderation.target(shopper.id).await.unwrap();
            moderation
                .mute(&host, &target, MIN_MUTE, "calm down")
                .await
                .unwrap();
            time.advance(MIN_MUTE - Duration::from_millis(1));
            assert_eq!(
                moderation.screen(shopper.id, "hello", time.now_ms()),
                Some(RejectReason::Muted { remaining_ms: 1 })
            );
            assert_eq!(moderation.mutes().len(), 1);
            time.advance(Duration::from_millis(1));
            assert_eq!(moderation.screen(shopper.id, "hello", time.now_ms()), None);
            assert!(moderation.mutes().is_empty(), "an ended mute is not listed");
            assert!(matches!(
                moderation.unmute(&host, shopper.id).await,
                Err(ModerationError::NotMuted)
            ));
            // A restart drops the ended mute from the store too.
            drop(moderation);
            let (again, _rx) = Moderation::load(store.clone(), time.clock()).await.unwrap();
            assert!(again.mutes().is_empty());
            let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM moderation_mutes")
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!(rows, 0);
        }
    }

    async fn durable_and_logged(store: Store) {
        let time = ManualClock::starting_now();
        let host = store
            .create_account(&DisplayName::new("Hana").unwrap(), Role::Host, "user")
            .await
            .unwrap();
        let shopper = store
            .create_guest(&DisplayName::new("Sam").unwrap())
            .await
            .unwrap();
        let (moderation, mut rx) = Moderation::load(store.clone(), time.clock()).await.unwrap();
        assert!(matches!(
            moderation.target(host.id).await,
            Err(ModerationError::StaffTarget)
        ));
        assert!(matches!(
            moderation.target(AccountId(12345)).await,
            Err(ModerationError::UnknownAccount)
        ));
        let target = moderation.target(shopper.id).await.unwrap();
        moderation
            .mute(&host, &target, Duration::from_secs(600), "spam")
            .await
            .unwrap();
        moderation.ban(&host, &target, "").await.unwrap();
        assert_eq!(
            rx.try_recv().unwrap(),
            RoomAction::Remove {
                account: shopper.id,
                banned: true,
                reason: DEFAULT_REMOVE_REASON.into()
            }
        );
        let terms = moderation
            .set_filter(&host, &["Spam".into(), "eggs".into()])
            .await
            .unwrap();
        assert_eq!(terms, ["spam", "eggs"]);
        assert!(matches!(
            moderation
                .mute(&host, &target, Duration::from_secs(0), "")
                .await,
            Err(ModerationError::Invalid(_))
        ));

        // A restart finds it all again.
        drop(moderation);
        let (again, _rx) = Moderation::load(store.clone(), time.clock()).await.unwrap();
        assert!(again.is_banned(shopper.id));
        assert!(matches!(
            again.screen(shopper.id, "hello", time.now_ms()),
            Some(RejectReason::Muted { remaining_ms }) if remaining_ms > 590_000
        ));
        assert_eq!(
            again.screen(host.id, "SPAM!", time.now_ms()),
            Some(RejectReason::Filtered)
        );
        assert_eq!(again.screen(host.id, "spammer", time.now_ms()), None);
        again.unmute(&host, shopper.id).await.unwrap();
        again.unban(&host, shopper.id).await.unwrap();
        assert!(matches!(
            again.unban(&host, shopper.id).await,
            Err(ModerationError::NotBanned)
        ));
        assert!(!again.is_banned(shopper.id));
        assert_eq!(again.screen(shopper.id, "hello", time.now_ms()), None);

        let log = again.log(100, None).await.unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["unban", "unmute", "filter", "ban", "mute"]);
        assert!(log.iter().all(|e| e.actor_name == "Hana"));
        assert_eq!(log[4].target_name.as_deref(), Some("Sam"));
        assert_eq!(log[4].details, "for 600 s: spam");
        assert_eq!(log[2].details, "2 terms; added \"spam\", \"eggs\"");
        let older = again.log(2, Some(log[1].seq)).await.unwrap();
        assert_eq!(
            older.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [log[2].seq, log[3].seq]
        );
    }
}
