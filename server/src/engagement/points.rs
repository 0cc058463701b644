//! The points ledger: grants with their reasons, caps per hour, balances,
//! badges from quests, leaderboards, invites, and spending points on
//! coupons.

use super::engine::{Engine, TOP, storage};
use super::rules::{GrantKind, QuestCount};
use super::{EngagementError, EngagementEvent, GrantRecord, Leader, QuestProgress, Rewards, Scope};
use crate::commerce::{Coupon, Discount};
use crate::store::{Store, StoreError};
use rand::Rng;
use sqlx::Row;
use std::collections::{HashMap, HashSet, VecDeque};
use vitrine_shared::ShowId;
use vitrine_shared::{AccountId, CouponCode, Currency, ProductId};

const HOUR_MS: i64 = 3_600_000;
/// Accounts remembered as settled for invites; past it the memory starts
/// again (the store has every answer, and grants are once per reference).
const MAX_INVITES_SETTLED: usize = 100_000;

/// One shopper's points, as the engine keeps them.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    pub balance: i64,
    /// Earned ever; spending does not lower it.
    pub earned: i64,
    pub earned_show: i64,
    /// Grants of each kind, ever and in the current show.
    pub counts: HashMap<GrantKind, i64>,
    pub show_counts: HashMap<GrantKind, i64>,
    pub shows_watched: HashSet<ShowId>,
    pub badges: HashSet<String>,
    /// Points granted in the last hour, per kind: (when, points).
    recent: HashMap<GrantKind, VecDeque<(i64, i64)>>,
}

impl Ledger {
    pub fn new_show(&mut self) {
        self.earned_show = 0;
        self.show_counts.clear();
    }

    /// Points of `kind` still allowed this hour.
    fn room_this_hour(&mut self, kind: GrantKind, max: i64, now: i64) -> i64 {
        let window = self.recent.entry(kind).or_default();
        while window.front().is_some_and(|(at, _)| *at <= now - HOUR_MS) {
            window.pop_front();
        }
        max - window.iter().map(|(_, p)| p).sum::<i64>()
    }

    fn progress(&self, count: QuestCount, per_show: bool) -> i64 {
        match count {
            QuestCount::ShowsWatched => self.shows_watched.len() as i64,
            QuestCount::Grants(kind) => {
                let counts = if per_show {
                    &self.show_counts
                } else {
                    &self.counts
                };
                counts.get(&kind).copied().unwrap_or(0)
            }
        }
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Every ledger from the grants table, with the current show's share.
pub(super) async fn load(
    store: &Store,
    show: Option<ShowId>,
    now: i64,
) -> Result<HashMap<AccountId, Ledger>, StoreError> {
    let mut ledgers: HashMap<AccountId, Ledger> = HashMap::new();
    let rows = sqlx::query(
        "SELECT account_id, reason, show_id, COUNT(*), CAST(SUM(points) AS BIGINT) \
         FROM point_grants GROUP BY account_id, reason, show_id",
    )
    .fetch_all(store.pool())
    .await?;
    for row in rows {
        let account = AccountId(row.try_get::<i64, _>(0)? as u64);
        let reason: String = row.try_get(1)?;
        let show_id = row.try_get::<Option<i64>, _>(2)?.map(ShowId);
        let count: i64 = row.try_get(3)?;
        let points: i64 = row.try_get(4)?;
        let ledger = ledgers.entry(account).or_default();
        ledger.balance += points;
        let Some(kind) = GrantKind::parse(&reason) else {
            continue; // spending
        };
        ledger.earned += points;
        *ledger.counts.entry(kind).or_default() += count;
        if show_id.is_some() && show_id == show {
            ledger.earned_show += points;
            *ledger.show_counts.entry(kind).or_default() += count;
        }
        if let (GrantKind::Watch, Some(id)) = (kind, show_id) {
            ledger.shows_watched.insert(id);
        }
    }
    let since = now - HOUR_MS;
    let rows = sqlx::query(
        "SELECT account_id, reason, created_at, points FROM point_grants \
         WHERE created_at > $1 AND points > 0 ORDER BY created_at",
    )
    .bind(since)
    .fetch_all(store.pool())
    .await?;
    for row in rows {
        let account = AccountId(row.try_get::<i64, _>(0)? as u64);
        let kind = GrantKind::parse(&row.try_get::<String, _>(1)?)
            .ok_or_else(|| corrupt("a positive grant of an unknown kind"))?;
        ledgers
            .entry(account)
            .or_default()
            .recent
            .entry(kind)
            .or_default()
            .push_back((row.try_get(2)?, row.try_get(3)?));
    }
    for row in sqlx::query("SELECT account_id, badge FROM badges")
        .fetch_all(store.pool())
        .await?
    {
        let account = AccountId(row.try_get::<i64, _>(0)? as u64);
        ledgers
            .entry(account)
            .or_default()
            .badges
            .insert(row.try_get(1)?);
    }
    Ok(ledgers)
}

impl Engine {
    /// Grants points of `kind` for `reference`, at most once per account
    /// and reference, within the hour's cap. `Some(points)` when granted.
    pub(super) async fn grant(
        &mut self,
        account: AccountId,
        kind: GrantKind,
        reference: String,
    ) -> Result<Option<i64>, EngagementError> {
        let rule = self.rules.rule(kind);
        let now = self.clock.now_ms();
        let ledger = self.ledgers.entry(account).or_default();
        let points = rule
            .points
            .min(ledger.room_this_hour(kind, rule.max_per_hour, now));
        if points <= 0 || reference.is_empty() || reference.len() > 200 {
            return Ok(None);
        }
        let show = self.show.as_ref().map(|s| s.id);
        let inserted = sqlx::query(
            "INSERT INTO point_grants (id, account_id, points, reason, ref, show_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, reason, ref) DO NOTHING",
        )
        .bind(crate::ids::new_id::<i64>())
        .bind(account.0 as i64)
        .bind(points)
        .bind(kind.as_str())
        .bind(&reference)
        .bind(show.map(ShowId::get))
        .bind(now)
        .execute(self.store.pool())
        .await
        .map_err(|e| storage(e.into()))?;
        if inserted.rows_affected() != 1 {
            // Granted before for this very thing (another room, a retry).
            return Ok(None);
        }
        let ledger = self.ledgers.entry(account).or_default();
        ledger.balance += points;
        ledger.earned += points;
        *ledger.counts.entry(kind).or_default() += 1;
        ledger
            .recent
            .entry(kind)
            .or_default()
            .push_back((now, points));
        if let Some(show) = show {
            ledger.earned_show += points;
            *ledger.show_counts.entry(kind).or_default() += 1;
            if kind == GrantKind::Watch {
                ledger.shows_watched.insert(show);
            }
        }
        let balance = ledger.balance;
        let _ = self.events.send(EngagementEvent::Points {
            account,
            change: points,
            balance,
            reason: kind.as_str().to_owned(),
        });
        self.leaderboard_dirty = true;
        self.award_badges(account).await;
        Ok(Some(points))
    }

    /// Records the badges whose quests are now complete, and tells the
    /// shopper.
    async fn award_badges(&mut self, account: AccountId) {
        let Some(ledger) = self.ledgers.get(&account) else {
            return;
        };
        let done: Vec<(String, String)> = self
            .rules
            .quests
            .iter()
            .filter(|q| !ledger.badges.contains(&q.id))
            .filter(|q| ledger.progress(q.counts, q.per_show) >= q.target)
            .map(|q| (q.id.clone(), q.name.clone()))
            .collect();
        for (id, name) in done {
            let written = sqlx::query(
                "INSERT INTO badges (account_id, badge, show_id, earned_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (account_id, badge) DO NOTHING",
            )
            .bind(account.0 as i64)
            .bind(&id)
            .bind(self.show.as_ref().map(|s| s.id.get()))
            .bind(self.clock.now_ms())
            .execute(self.store.pool())
            .await;
            if let Err(e) = written {
                tracing::error!(%e, badge = id, "badge not recorded");
                continue;
            }
            if let Some(ledger) = self.ledgers.get_mut(&account) {
                ledger.badges.insert(id.clone());
            }
            tracing::info!(%account, badge = id, "badge earned");
            let _ = self
                .events
                .send(EngagementEvent::Badge { account, id, name });
        }
    }

    /// A product picked up or examined: points once per product per show.
    pub(super) async fn inspect(
        &mut self,
        account: AccountId,
        product: ProductId,
    ) -> Result<Option<i64>, EngagementError> {
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM products WHERE id = $1 AND archived_at IS NULL")
                .bind(product.as_str())
                .fetch_optional(self.store.pool())
                .await
                .map_err(|e| storage(e.into()))?;
        if exists.is_none() {
            return Err(EngagementError::UnknownProduct);
        }
        let _ = self.events.send(EngagementEvent::Inspected {
            account,
            product: product.clone(),
        });
        let show = self.show.as_ref().map_or(0, |s| s.id.get());
        self.grant(account, GrantKind::Inspect, format!("{show}:{product}"))
            .await
    }

    /// The shopper's invite code, made on first asking.
    pub(super) async fn invite(&mut self, account: AccountId) -> Result<String, EngagementError> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT code FROM invites WHERE account_id = $1")
                .bind(account.0 as i64)
                .fetch_optional(self.store.pool())
                .await
                .map_err(|e| storage(e.into()))?;
        if let Some(code) = found {
            return Ok(code);
        }
        let code = random_code("I-");
        sqlx::query("INSERT INTO invites (code, account_id, created_at) VALUES ($1, $2, $3)")
            .bind(&code)
            .bind(account.0 as i64)
            .bind(self.clock.now_ms())
            .execute(self.store.pool())
            .await
            .map_err(|e| storage(e.into()))?;
        Ok(code)
    }

    /// `account` did what a real person does (a first paid order, or a
    /// minute watched actively): the friend who invited it earns, once.
    /// Joining a room earns nothing, so self-made guests farm nothing.
    pub(super) async fn credit_inviter(&mut self, account: AccountId) {
        if self.invites_settled.contains(&account) {
            return;
        }
        let inviter: Result<Option<Option<i64>>, sqlx::Error> =
            sqlx::query_scalar("SELECT invited_by FROM accounts WHERE id = $1")
                .bind(account.0 as i64)
                .fetch_optional(self.store.pool())
                .await;
        let settled = match inviter {
            Ok(Some(Some(inviter))) if inviter as u64 != account.0 => {
                let inviter = AccountId(inviter as u64);
                // Once per invited account: the grant's reference is it.
                let reference = account.0.to_string();
                match self
                    .grant(inviter, GrantKind::Invite, reference.clone())
                    .await
                {
                    Ok(Some(_)) => true,
                    // Not granted: settled only if granted before; held back
                    // by the inviter's hourly cap, it is tried again on the
                    // invitee's next qualifying act.
                    Ok(None) => {
                        self.granted_before(inviter, GrantKind::Invite, &reference)
                            .await
                    }
                    Err(_) => false,
                }
            }
            Ok(_) => true,
            Err(e) => {
                tracing::error!(%e, %account, "could not read who invited a shopper");
                false
            }
        };
        if settled {
            if self.invites_settled.len() >= MAX_INVITES_SETTLED {
                self.invites_settled.clear();
            }
            self.invites_settled.insert(account);
        }
    }

    /// Whether `account` was granted for `kind` and `reference` already
    /// (a store error: not known, so not).
    async fn granted_before(&self, account: AccountId, kind: GrantKind, reference: &str) -> bool {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM point_grants WHERE account_id = $1 AND reason = $2 AND ref = $3",
        )
        .bind(account.0 as i64)
        .bind(kind.as_str())
        .bind(reference)
        .fetch_one(self.store.pool())
        .await
        .is_ok_and(|n| n > 0)
    }

    pub(super) async fn rewards(&mut self, account: AccountId) -> Result<Rewards, EngagementError> {
        let rows = sqlx::query(
            "SELECT points, reason, created_at FROM point_grants WHERE account_id = $1 \
             ORDER BY created_at DESC LIMIT 20",
        )
        .bind(account.0 as i64)
        .fetch_all(self.store.pool())
        .await
        .map_err(|e| storage(e.into()))?;
        let mut recent = Vec::with_capacity(rows.len());
        for row in rows {
            recent.push(GrantRecord {
                points: row.try_get(0).map_err(|e| storage(e.into()))?,
                reason: row.try_get(1).map_err(|e| storage(e.into()))?,
                at_ms: row.try_get(2).map_err(|e| storage(e.into()))?,
            });
        }
        let empty = Ledger::default();
        let ledger = self.ledgers.get(&account).unwrap_or(&empty);
        let quests = self
            .rules
            .quests
            .iter()
            .map(|q| QuestProgress {
                quest: q.clone(),
                progress: ledger.progress(q.counts, q.per_show).min(q.target),
                earned: ledger.badges.contains(&q.id),
            })
            .collect();
        Ok(Rewards {
            balance: ledger.balance,
            earned: ledger.earned,
            earned_this_show: ledger.earned_show,
            quests,
            recent,
        })
    }

    /// Spends points on a reward: a single-use coupon for the shopper. The
    /// points go first; if the coupon cannot be made they come back.
    pub(super) async fn redeem(
        &mut self,
        account: AccountId,
        reward: String,
    ) -> Result<(String, i64), EngagementError> {
        let offer = self
            .rules
            .rewards
            .iter()
            .find(|r| r.id == reward)
            .cloned()
            .ok_or(EngagementError::UnknownReward)?;
        let balance = self.ledgers.get(&account).map_or(0, |l| l.balance);
        if balance < offer.points {
            return Err(EngagementError::NotEnoughPoints {
                balance,
                needed: offer.points,
            });
        }
        let code = random_code("R-");
        let now = self.clock.now_ms();
        let grant_id: i64 = crate::ids::new_id();
        sqlx::query(
            "INSERT INTO point_grants (id, account_id, points, reason, ref, show_id, created_at) \
             VALUES ($1, $2, $3, 'redeem', $4, $5, $6)",
        )
        .bind(grant_id)
        .bind(account.0 as i64)
        .bind(-offer.points)
        .bind(&code)
        .bind(self.show.as_ref().map(|s| s.id.get()))
        .bind(now)
        .execute(self.store.pool())
        .await
        .map_err(|e| storage(e.into()))?;
        let currency: Option<String> =
            sqlx::query_scalar("SELECT currency FROM products ORDER BY position LIMIT 1")
                .fetch_optional(self.store.pool())
                .await
                .ok()
                .flatten();
        let currency = currency
            .and_then(|c| Currency::new(&c).ok())
            .unwrap_or(Currency::EUR);
        let coupon = Coupon {
            code: CouponCode::new(code.clone()).expect("random codes are valid"),
            discount: Discount::Percent(offer.percent_off),
            currency,
            min_order_minor: 0,
            max_redemptions: Some(1),
            per_buyer_limit: 1,
            starts_at_ms: now,
            ends_at_ms: now + offer.valid_days * 24 * HOUR_MS,
        };
        // Bound to the shopper who paid for it in points: a code passed on
        // (or farmed by throwaway accounts and sold) works for nobody else.
        if let Err(e) = self.commerce.create_bound_coupon(account, coupon).await {
            tracing::error!(%e, %account, "reward coupon not made; giving the points back");
            let _ = sqlx::query("DELETE FROM point_grants WHERE id = $1")
                .bind(grant_id)
                .execute(self.store.pool())
                .await;
            return Err(EngagementError::RedeemFailed);
        }
        let ledger = self.ledgers.entry(account).or_default();
        ledger.balance -= offer.points;
        let balance = ledger.balance;
        tracing::info!(%account, reward = offer.id, "points redeemed for a coupon");
        let _ = self.events.send(EngagementEvent::Points {
            account,
            change: -offer.points,
            balance,
            reason: "redeem".into(),
        });
        Ok((code, balance))
    }

    /// The top shoppers by points earned, in the show or ever.
    pub(super) async fn leaders(&mut self, scope: Scope) -> Result<Vec<Leader>, EngagementError> {
        if scope == Scope::Show && self.show.is_none() {
            return Ok(Vec::new());
        }
        let mut top: Vec<(AccountId, i64)> = self
            .ledgers
            .iter()
            .map(|(a, l)| {
                let points = match scope {
                    Scope::Show => l.earned_show,
                    Scope::AllTime => l.earned,
                };
                (*a, points)
            })
            .filter(|(_, points)| *points > 0)
            .collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.0.cmp(&b.0.0)));
        top.truncate(TOP);
        let mut leaders = Vec::with_capacity(top.len());
        for (account, points) in top {
            leaders.push(Leader {
                account,
                name: self.name_of(account).await,
                points,
            });
        }
        Ok(leaders)
    }
}

/// An unguessable code: `prefix` and 10 of `A-Z0-9` (no look-alikes).
fn random_code(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let tail: String = (0..10)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hourly_cap_is_a_sliding_window() {
        let mut ledger = Ledger::default();
        let kind = GrantKind::Chat;
        assert_eq!(ledger.room_this_hour(kind, 10, 0), 10);
        ledger.recent.entry(kind).or_default().push_back((1_000, 6));
        ledger.recent.entry(kind).or_default().push_back((2_000, 4));
        assert_eq!(ledger.room_this_hour(kind, 10, 3_000), 0);
        assert_eq!(ledger.room_this_hour(kind, 10, 1_000 + HOUR_MS), 6);
        assert_eq!(ledger.room_this_hour(kind, 10, 2_000 + HOUR_MS), 10);
    }

    #[test]
    fn codes_are_valid_coupon_codes() {
        for _ in 0..100 {
            let code = random_code("R-");
            assert!(CouponCode::new(code.clone()).is_ok(), "{code}");
            assert_eq!(code.len(), 12);
        }
    }
}
