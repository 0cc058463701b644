//! Friends: friend codes, requests, friendships, blocks and presence.
//!
//! [`Friends`] is shared by the HTTP tier and the room thread, as
//! `Moderation` is. HTTP handlers change it: each change is committed to the
//! store, then applied to the in-memory graph (friendships, blocks and the
//! friends' names), then queued as [`FriendsNews`] for the room thread,
//! which drains it each tick. The room thread answers [`Friends::are_friends`]
//! and [`Friends::is_blocked_either_way`] from memory (behind a lock held
//! for microseconds) and keeps presence: online means in a room on this
//! server, which the room thread sets on admit and on leave.
//!
//! A blocked account is not told it is blocked: its request by code is
//! refused exactly as an unknown code is, and the friendship the block ended
//! reads as "not friends".
//!
//! An account has at most [`MAX_PENDING_REQUESTS`] requests waiting for its
//! answer (one more is refused to its sender), and a request unanswered for
//! [`REQUEST_EXPIRY_MS`] (30 days) lapses.

#[cfg(test)]
mod tests;

use crate::clock::Clock;
use crate::config::RateConfig;
use crate::rate_limit::Buckets;
use crate::store::{Account, Store, StoreError};
use sqlx::Row;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::mpsc;
use vitrine_shared::friends::{BadFriendCode, FriendCode};
use vitrine_shared::limits::friends::{
    CODE_CHARS, MAX_FRIENDS, MAX_PENDING_REQUESTS, REQUEST_EXPIRY_MS, REQUESTS_BURST,
    REQUESTS_PER_HOUR,
};
use vitrine_shared::{AccountId, DisplayName, RoomId};

/// What the room thread tells connected members, after a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FriendsNews {
    /// `from` asked `to` to be friends.
    RequestArrived {
        to: AccountId,
        from: AccountId,
        name: DisplayName,
    },
    /// `a` and `b` became friends.
    Added { a: AccountId, b: AccountId },
    /// `a` and `b` are friends no more (removed, or a block).
    Removed { a: AccountId, b: AccountId },
}

#[derive(Debug, Error)]
pub enum FriendError {
    #[error(transparent)]
    BadCode(#[from] BadFriendCode),
    #[error("that is your own friend code; you cannot befriend or block yourself")]
    ToSelf,
    #[error("no account has this friend code (it may have been replaced)")]
    UnknownCode,
    #[error("no such account")]
    UnknownAccount,
    #[error("you are already friends")]
    AlreadyFriends,
    #[error("you already asked this account; it has not answered yet")]
    AlreadyPending,
    #[error("you blocked this account; unblock it first")]
    YouBlocked,
    #[error("you have {MAX_FRIENDS} friends, the most an account may have")]
    TooManyFriends,
    #[error("that account has {MAX_FRIENDS} friends, the most an account may have")]
    TheyHaveTooMany,
    #[error("too many friend requests; try again in {} s", .0.as_secs() + 1)]
    RateLimited(Duration),
    #[error("no pending request from that account")]
    NoSuchRequest,
    #[error(
        "that account has {MAX_PENDING_REQUESTS} friend requests waiting; try again once it has answered some"
    )]
    TheirRequestsFull,
    #[error("you are not friends with that account")]
    NotFriends,
    #[error("you have already blocked that account")]
    AlreadyBlocked,
    #[error("you have not blocked that account")]
    NotBlocked,
    #[error("that friend is not in a room")]
    FriendOffline,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for FriendError {
    fn from(e: sqlx::Error) -> Self {
        FriendError::Store(StoreError::Database(e))
    }
}

/// What a request by code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Pending: the other accepts or declines.
    Pending { to: AccountId, name: DisplayName },
    /// They had already asked: this accepted theirs.
    Friends { with: AccountId, name: DisplayName },
}

/// A pending request as one side lists it: the other account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub account: AccountId,
    pub name: DisplayName,
    pub sent_at_ms: i64,
}

/// A friend and where they are (`None`: offline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Friend {
    pub account: AccountId,
    pub name: DisplayName,
    pub room: Option<RoomId>,
}

/// The friend graph as memory holds it.
#[derive(Debug, Default)]
struct Graph {
    friends: HashMap<AccountId, BTreeSet<AccountId>>,
    /// (blocker, blocked)
    blocks: HashSet<(AccountId, AccountId)>,
    /// The names of accounts that have friends, for lists sent from the
    /// room thread without a query.
    names: HashMap<AccountId, DisplayName>,
}

impl Graph {
    fn are_friends(&self, a: AccountId, b: AccountId) -> bool {
        self.friends.get(&a).is_some_and(|f| f.contains(&b))
    }

    fn count(&self, a: AccountId) -> usize {
        self.friends.get(&a).map_or(0, BTreeSet::len)
    }

    fn link(&mut self, a: (AccountId, &DisplayName), b: (AccountId, &DisplayName)) {
        self.friends.entry(a.0).or_default().insert(b.0);
        self.friends.entry(b.0).or_default().insert(a.0);
        self.names.insert(a.0, a.1.clone());
        self.names.insert(b.0, b.1.clone());
    }

    fn unlink(&mut self, a: AccountId, b: AccountId) -> bool {
        let removed = self.friends.get_mut(&a).is_some_and(|f| f.remove(&b));
        if let Some(f) = self.friends.get_mut(&b) {
            f.remove(&a);
        }
        for side in [a, b] {
            if self.friends.get(&side).is_some_and(BTreeSet::is_empty) {
                self.friends.remove(&side);
                self.names.remove(&side);
            }
        }
        removed
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn account(row: &sqlx::any::AnyRow, index: usize) -> Result<AccountId, sqlx::Error> {
    Ok(AccountId(row.try_get::<i64, _>(index)? as u64))
}

fn name(row: &sqlx::any::AnyRow, index: usize) -> Result<DisplayName, StoreError> {
    DisplayName::new(row.try_get::<String, _>(index)?)
        .map_err(|e| StoreError::Corrupt(format!("display name: {e}")))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// The rate at which one account may send requests.
pub fn request_rate() -> RateConfig {
    RateConfig {
        per_second: REQUESTS_PER_HOUR / 3600.0,
        burst: REQUESTS_BURST,
    }
}

/// Friends, shared by the HTTP tier and the room thread.
pub struct Friends {
    store: Store,
    clock: Clock,
    graph: RwLock<Graph>,
    /// Online accounts and their room; the room thread writes it.
    presence: Mutex<HashMap<AccountId, RoomId>>,
    /// Serialises changes so memory follows the order of commits.
    writes: tokio::sync::Mutex<()>,
    /// Request rate per account, bounded by forgetting the least recently
    /// used (an idle bucket is a full one), as the HTTP limits are.
    requests: Mutex<Buckets<AccountId>>,
    rate: RateConfig,
    news: mpsc::UnboundedSender<FriendsNews>,
}

impl Friends {
    /// Loads friendships (with names) and blocks. The receiver goes to the
    /// room thread.
    pub async fn load(
        store: Store,
        clock: Clock,
    ) -> Result<(Arc<Friends>, mpsc::UnboundedReceiver<FriendsNews>), StoreError> {
        Self::load_with_rate(store, clock, request_rate()).await
    }

    /// [`Friends::load`] with another request rate (tests of the limit).
    pub async fn load_with_rate(
        store: Store,
        clock: Clock,
        rate: RateConfig,
    ) -> Result<(Arc<Friends>, mpsc::UnboundedReceiver<FriendsNews>), StoreError> {
        let pool = store.pool();
        let mut graph = Graph::default();
        for row in sqlx::query(
            "SELECT f.low_id, a.display_name, f.high_id, b.display_name FROM friendships f \
             JOIN accounts a ON a.id = f.low_id JOIN accounts b ON b.id = f.high_id",
        )
        .fetch_all(pool)
        .await?
        {
            graph.link(
                (account(&row, 0)?, &name(&row, 1)?),
                (account(&row, 2)?, &name(&row, 3)?),
            );
        }
        for row in sqlx::query("SELECT blocker_id, blocked_id FROM friend_blocks")
            .fetch_all(pool)
            .await?
        {
            graph.blocks.insert((account(&row, 0)?, account(&row, 1)?));
        }
        let (news, receiver) = mpsc::unbounded_channel();
        let friends = Friends {
            store,
            clock,
            graph: RwLock::new(graph),
            presence: Mutex::new(HashMap::new()),
            writes: tokio::sync::Mutex::new(()),
            requests: Mutex::new(Buckets::default()),
            rate,
            news,
        };
        Ok((Arc::new(friends), receiver))
    }

    fn graph(&self) -> std::sync::RwLockReadGuard<'_, Graph> {
        self.graph.read().unwrap_or_else(|p| p.into_inner())
    }

    fn graph_mut(&self) -> std::sync::RwLockWriteGuard<'_, Graph> {
        self.graph.write().unwrap_or_else(|p| p.into_inner())
    }

    fn tell(&self, news: FriendsNews) {
        // No room thread (at shutdown, or a test without one): nobody to tell.
        let _ = self.news.send(news);
    }

    // ---- What the room tick asks, from memory. ----

    pub fn are_friends(&self, a: AccountId, b: AccountId) -> bool {
        self.graph().are_friends(a, b)
    }

    /// Whether `blocker` has blocked `blocked` (one way).
    pub fn has_blocked(&self, blocker: AccountId, blocked: AccountId) -> bool {
        self.graph().blocks.contains(&(blocker, blocked))
    }

    /// Whether either account blocked the other.
    pub fn is_blocked_either_way(&self, a: AccountId, b: AccountId) -> bool {
        let graph = self.graph();
        graph.blocks.contains(&(a, b)) || graph.blocks.contains(&(b, a))
    }

    /// `a`'s friends.
    pub fn friends_of(&self, a: AccountId) -> Vec<AccountId> {
        self.graph()
            .friends
            .get(&a)
            .map(|f| f.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The name of an account that has friends.
    pub fn name_of(&self, a: AccountId) -> Option<DisplayName> {
        self.graph().names.get(&a).cloned()
    }

    /// `a`'s friends with their presence, by name.
    pub fn list(&self, a: AccountId) -> Vec<Friend> {
        let presence = lock(&self.presence);
        let graph = self.graph();
        let mut list: Vec<Friend> = graph
            .friends
            .get(&a)
            .into_iter()
            .flatten()
            .filter_map(|f| {
                Some(Friend {
                    account: *f,
                    name: graph.names.get(f)?.clone(),
                    room: presence.get(f).cloned(),
                })
            })
            .collect();
        list.sort_by(|x, y| (x.name.as_str(), x.account).cmp(&(y.name.as_str(), y.account)));
        list
    }

    /// The room `a` is in, if online.
    pub fn presence(&self, a: AccountId) -> Option<RoomId> {
        lock(&self.presence).get(&a).cloned()
    }

    /// Sets where `a` is (`None`: offline); whether that changed anything.
    pub fn set_presence(&self, a: AccountId, room: Option<RoomId>) -> bool {
        let mut presence = lock(&self.presence);
        match room {
            Some(room) => presence.insert(a, room.clone()).as_ref() != Some(&room),
            None => presence.remove(&a).is_some(),
        }
    }

    // ---- Changes, from HTTP. ----

    /// `a`'s friend code, made on first use.
    pub async fn code(&self, a: AccountId) -> Result<FriendCode, FriendError> {
        let _write = self.writes.lock().await;
        let stored: Option<String> =
            sqlx::query_scalar("SELECT code FROM friend_codes WHERE account_id = $1")
                .bind(a.0 as i64)
                .fetch_optional(self.store.pool())
                .await?;
        match stored {
            Some(code) => FriendCode::parse(&code)
                .map_err(|_| StoreError::Corrupt(format!("friend code {code:?}")).into()),
            None => self.new_code(a).await,
        }
    }

    /// Replaces `a`'s code: the old one is unknown from now on.
    pub async fn rotate(&self, a: AccountId) -> Result<FriendCode, FriendError> {
        let _write = self.writes.lock().await;
        self.new_code(a).await
    }

    async fn new_code(&self, a: AccountId) -> Result<FriendCode, FriendError> {
        // A clash is one in ~10^11 per code in use; a few tries are plenty.
        let mut tries = 0;
        loop {
            let code = FriendCode::from_indexes(rand::random::<[u8; CODE_CHARS]>());
            let done = sqlx::query(
                "INSERT INTO friend_codes (account_id, code, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (account_id) DO UPDATE SET code = excluded.code, \
                 created_at = excluded.created_at",
            )
            .bind(a.0 as i64)
            .bind(code.as_str())
            .bind(self.clock.now_ms())
            .execute(self.store.pool())
            .await;
            match done {
                Ok(_) => return Ok(code),
                Err(e) if is_unique_violation(&e) && tries < 5 => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Asks the owner of `code` (a code or a link) to be `from`'s friend.
    /// Every well-formed attempt pays from `from`'s request bucket, so
    /// guessing codes is as slow as spamming requests.
    pub async fn send_request(&self, from: &Account, code: &str) -> Result<Sent, FriendError> {
        let code = FriendCode::parse(code)?;
        self.take_request_token(from.id)?;
        let _write = self.writes.lock().await;
        self.expire_requests().await?;
        let pool = self.store.pool();
        let owner = sqlx::query(
            "SELECT c.account_id, a.display_name FROM friend_codes c \
             JOIN accounts a ON a.id = c.account_id WHERE c.code = $1",
        )
        .bind(code.as_str())
        .fetch_optional(pool)
        .await?;
        let Some(owner) = owner else {
            return Err(FriendError::UnknownCode);
        };
        let (to, to_name) = (account(&owner, 0)?, name(&owner, 1)?);
        if to == from.id {
            return Err(FriendError::ToSelf);
        }
        {
            let graph = self.graph();
            // Not revealed: to the blocked account this code does not work.
            if graph.blocks.contains(&(to, from.id)) {
                return Err(FriendError::UnknownCode);
            }
            if graph.blocks.contains(&(from.id, to)) {
                return Err(FriendError::YouBlocked);
            }
            if graph.are_friends(from.id, to) {
                return Err(FriendError::AlreadyFriends);
            }
        }
        if self.pending(from.id, to).await?.is_some() {
            return Err(FriendError::AlreadyPending);
        }
        self.check_caps(from.id, to)?;
        if self.pending(to, from.id).await?.is_some() {
            // They asked first: this is a yes.
            self.befriend((from.id, &from.name), (to, &to_name)).await?;
            return Ok(Sent::Friends {
                with: to,
                name: to_name,
            });
        }
        // Many senders, each within their own rate, must not flood one list.
        let waiting: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM friend_requests WHERE to_id = $1",
        )
        .bind(to.0 as i64)
        .fetch_one(pool)
        .await?;
        if waiting >= MAX_PENDING_REQUESTS {
            return Err(FriendError::TheirRequestsFull);
        }
        sqlx::query("INSERT INTO friend_requests (from_id, to_id, created_at) VALUES ($1, $2, $3)")
            .bind(from.id.0 as i64)
            .bind(to.0 as i64)
            .bind(self.clock.now_ms())
            .execute(pool)
            .await?;
        self.tell(FriendsNews::RequestArrived {
            to,
            from: from.id,
            name: from.name.clone(),
        });
        Ok(Sent::Pending { to, name: to_name })
    }

    fn take_request_token(&self, a: AccountId) -> Result<(), FriendError> {
        let now = Duration::from_millis(self.clock.now_ms().max(0) as u64);
        lock(&self.requests)
            .try_take(a, self.rate, now)
            .map_err(FriendError::RateLimited)
    }

    fn check_caps(&self, me: AccountId, other: AccountId) -> Result<(), FriendError> {
        let graph = self.graph();
        if graph.count(me) >= MAX_FRIENDS {
            return Err(FriendError::TooManyFriends);
        }
        if graph.count(other) >= MAX_FRIENDS {
            return Err(FriendError::TheyHaveTooMany);
        }
        Ok(())
    }

    /// Requests unanswered for [`REQUEST_EXPIRY_MS`] lapse: deleted before
    /// any request is read or answered, so a lapsed one is gone everywhere
    /// (listed nowhere, accepted never, counted against no cap).
    async fn expire_requests(&self) -> Result<(), FriendError> {
        let lapsed = sqlx::query("DELETE FROM friend_requests WHERE created_at <= $1")
            .bind(self.clock.now_ms() - REQUEST_EXPIRY_MS)
            .execute(self.store.pool())
            .await?
            .rows_affected();
        if lapsed > 0 {
            tracing::info!(lapsed, "friend requests lapsed unanswered");
        }
        Ok(())
    }

    /// The pending request from `from` to `to`: the requester's name.
    async fn pending(
        &self,
        from: AccountId,
        to: AccountId,
    ) -> Result<Option<DisplayName>, FriendError> {
        let row = sqlx::query(
            "SELECT a.display_name FROM friend_requests r JOIN accounts a ON a.id = r.from_id \
             WHERE r.from_id = $1 AND r.to_id = $2",
        )
        .bind(from.0 as i64)
        .bind(to.0 as i64)
        .fetch_optional(self.store.pool())
        .await?;
        Ok(match row {
            Some(row) => Some(name(&row, 0)?),
            None => None,
        })
    }

    /// Commits a friendship (clearing requests either way), then memory,
    /// then tells the rooms. Holds `writes`.
    async fn befriend(
        &self,
        a: (AccountId, &DisplayName),
        b: (AccountId, &DisplayName),
    ) -> Result<(), FriendError> {
        let (low, high) = if a.0 < b.0 { (a.0, b.0) } else { (b.0, a.0) };
        let mut tx = self.store.pool().begin().await?;
        sqlx::query(
            "DELETE FROM friend_requests WHERE (from_id = $1 AND to_id = $2) \
             OR (from_id = $2 AND to_id = $1)",
        )
        .bind(a.0.0 as i64)
        .bind(b.0.0 as i64)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO friendships (low_id, high_id, created_at) VALUES ($1, $2, $3)")
            .bind(low.0 as i64)
            .bind(high.0 as i64)
            .bind(self.clock.now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.graph_mut().link(a, b);
        self.tell(FriendsNews::Added { a: a.0, b: b.0 });
        Ok(())
    }

    /// Requests to `a` and from `a`, newest first: (incoming, outgoing).
    pub async fn requests(
        &self,
        a: AccountId,
    ) -> Result<(Vec<Request>, Vec<Request>), FriendError> {
        self.expire_requests().await?;
        let list = |sql: &'static str| async move {
            let rows = sqlx::query(sql)
                .bind(a.0 as i64)
                .fetch_all(self.store.pool())
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(Request {
                        account: account(row, 0)?,
                        name: name(row, 1)?,
                        sent_at_ms: row.try_get(2)?,
                    })
                })
                .collect::<Result<Vec<_>, FriendError>>()
        };
        let incoming = list(
            "SELECT r.from_id, a.display_name, r.created_at FROM friend_requests r \
             JOIN accounts a ON a.id = r.from_id WHERE r.to_id = $1 \
             ORDER BY r.created_at DESC, r.from_id",
        )
        .await?;
        let outgoing = list(
            "SELECT r.to_id, a.display_name, r.created_at FROM friend_requests r \
             JOIN accounts a ON a.id = r.to_id WHERE r.from_id = $1 \
             ORDER BY r.created_at DESC, r.to_id",
        )
        .await?;
        Ok((incoming, outgoing))
    }

    /// `me` accepts `from`'s request.
    pub async fn accept(&self, me: &Account, from: AccountId) -> Result<Friend, FriendError> {
        let _write = self.writes.lock().await;
        self.expire_requests().await?;
        let Some(from_name) = self.pending(from, me.id).await? else {
            return Err(FriendError::NoSuchRequest);
        };
        self.check_caps(me.id, from)?;
        self.befriend((me.id, &me.name), (from, &from_name)).await?;
        Ok(Friend {
            account: from,
            name: from_name,
            room: self.presence(from),
        })
    }

    /// `me` declines `from`'s request; `from` is not told (their request
    /// just leaves their list).
    pub async fn decline(&self, me: AccountId, from: AccountId) -> Result<(), FriendError> {
        let _write = self.writes.lock().await;
        self.expire_requests().await?;
        let done = sqlx::query("DELETE FROM friend_requests WHERE from_id = $1 AND to_id = $2")
            .bind(from.0 as i64)
            .bind(me.0 as i64)
            .execute(self.store.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(FriendError::NoSuchRequest);
        }
        Ok(())
    }

    /// Ends the friendship of `me` and `other`; both are told.
    pub async fn remove(&self, me: AccountId, other: AccountId) -> Result<(), FriendError> {
        let _write = self.writes.lock().await;
        if !self.are_friends(me, other) {
            return Err(FriendError::NotFriends);
        }
        self.delete_friendship(me, other).await?;
        self.graph_mut().unlink(me, other);
        self.tell(FriendsNews::Removed { a: me, b: other });
        Ok(())
    }

    async fn delete_friendship(&self, a: AccountId, b: AccountId) -> Result<(), FriendError> {
        let (low, high) = if a < b { (a, b) } else { (b, a) };
        sqlx::query("DELETE FROM friendships WHERE low_id = $1 AND high_id = $2")
            .bind(low.0 as i64)
            .bind(high.0 as i64)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    /// `me` blocks `other`: any friendship and request between them ends,
    /// and `other` can no longer ask, invite, follow or message `me`.
    pub async fn block(&self, me: AccountId, other: AccountId) -> Result<(), FriendError> {
        if me == other {
            return Err(FriendError::ToSelf);
        }
        let _write = self.writes.lock().await;
        let pool = self.store.pool();
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM accounts WHERE id = $1")
            .bind(other.0 as i64)
            .fetch_optional(pool)
            .await?;
        if exists.is_none() {
            return Err(FriendError::UnknownAccount);
        }
        if self.graph().blocks.contains(&(me, other)) {
            return Err(FriendError::AlreadyBlocked);
        }
        let (low, high) = if me < other { (me, other) } else { (other, me) };
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO friend_blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(me.0 as i64)
        .bind(other.0 as i64)
        .bind(self.clock.now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM friendships WHERE low_id = $1 AND high_id = $2")
            .bind(low.0 as i64)
            .bind(high.0 as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM friend_requests WHERE (from_id = $1 AND to_id = $2) \
             OR (from_id = $2 AND to_id = $1)",
        )
        .bind(me.0 as i64)
        .bind(other.0 as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let was_friend = {
            let mut graph = self.graph_mut();
            graph.blocks.insert((me, other));
            graph.unlink(me, other)
        };
        if was_friend {
            self.tell(FriendsNews::Removed { a: me, b: other });
        }
        Ok(())
    }

    pub async fn unblock(&self, me: AccountId, other: AccountId) -> Result<(), FriendError> {
        let _write = self.writes.lock().await;
        if !self.graph().blocks.contains(&(me, other)) {
            return Err(FriendError::NotBlocked);
        }
        sqlx::query("DELETE FROM friend_blocks WHERE blocker_id = $1 AND blocked_id = $2")
            .bind(me.0 as i64)
            .bind(other.0 as i64)
            .execute(self.store.pool())
            .await?;
        self.graph_mut().blocks.remove(&(me, other));
        Ok(())
    }

    /// The accounts `me` blocked, by name.
    pub async fn blocked(
        &self,
        me: AccountId,
    ) -> Result<Vec<(AccountId, DisplayName)>, FriendError> {
        let rows = sqlx::query(
            "SELECT b.blocked_id, a.display_name FROM friend_blocks b \
             JOIN accounts a ON a.id = b.blocked_id WHERE b.blocker_id = $1 \
             ORDER BY a.display_name, b.blocked_id",
        )
        .bind(me.0 as i64)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((account(row, 0)?, name(row, 1)?)))
            .collect()
    }

    /// Where `me` may follow `friend`: the friend's room. Not friends
    /// (including after a block, which is not revealed) or offline: refused.
    pub fn room_to_follow(&self, me: AccountId, friend: AccountId) -> Result<RoomId, FriendError> {
        if !self.are_friends(me, friend) || self.is_blocked_either_way(me, friend) {
            return Err(FriendError::NotFriends);
        }
        self.presence(friend).ok_or(FriendError::FriendOffline)
    }
}
