//! Giveaways, drawn so that anyone can check the draw.
//!
//! When a giveaway opens, the server picks a secret 32-byte seed and
//! publishes its commitment; entries close at `closes_at`; then the seed is
//! revealed and the winners drawn, as `vitrine_shared::giveaway` defines it
//! for the server and the clients that check it.
//!
//! Anyone can fetch the giveaway (`GET /api/v1/giveaways/{id}`), check that
//! SHA-256 of the revealed seed is the commitment published before entries
//! closed, and recompute every draw. A winner who does not claim within the
//! claim window (48 hours by default) loses the prize to draw `k + 1`.
//!
//! What the commitment does not rule out: the server itself adding entries
//! of its own before entries close. The entry list is public for that
//! reason.

use super::engine::{Engine, storage};
use super::rules::GrantKind;
use super::{Draw, EngagementError, EngagementEvent, Giveaway};
use crate::store::{Store, StoreError};
use rand::Rng;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use vitrine_shared::AccountId;
use vitrine_shared::GiveawayId;
use vitrine_shared::ShowId;
use vitrine_shared::protocol::EntryRule;

pub use vitrine_shared::limits::engagement::{
    GIVEAWAY_CLOSES_IN_SECS as CLOSES_IN_SECS, MAX_PRESENT_MINUTES, MAX_PRIZE_CHARS,
};

// One definition of the draw for the server and every client that checks it.
pub use vitrine_shared::giveaway::{commitment_of, draw_winner, hex};

pub(super) struct DrawState {
    pub draw: u32,
    pub account: AccountId,
    pub claim_by_ms: i64,
    pub claimed: bool,
}

pub(super) struct GiveawayState {
    pub id: GiveawayId,
    pub prize: String,
    pub rule: EntryRule,
    pub show: Option<ShowId>,
    pub closes_at_ms: i64,
    pub seed: String,
    pub commitment: String,
    pub entries: BTreeSet<AccountId>,
    pub draws: Vec<DrawState>,
    /// Every entrant has been drawn: nothing more to draw.
    pub exhausted: bool,
}

fn rule_columns(rule: EntryRule) -> (&'static str, i64) {
    match rule {
        EntryRule::Everyone => ("everyone", 0),
        EntryRule::PresentMinutes(m) => ("present", i64::from(m)),
        EntryRule::BoughtInShow => ("bought_in_show", 0),
    }
}

pub(super) async fn load(store: &Store) -> Result<BTreeMap<GiveawayId, GiveawayState>, StoreError> {
    let corrupt = |m: String| StoreError::Corrupt(m);
    let mut giveaways = BTreeMap::new();
    for row in sqlx::query(
        "SELECT id, prize, rule, rule_minutes, show_id, closes_at, seed, commitment FROM giveaways",
    )
    .fetch_all(store.pool())
    .await?
    {
        let id = GiveawayId(row.try_get(0)?);
        let minutes: i64 = row.try_get(3)?;
        let rule = match row.try_get::<String, _>(2)?.as_str() {
            "everyone" => EntryRule::Everyone,
            "present" => EntryRule::PresentMinutes(minutes as u32),
            "bought_in_show" => EntryRule::BoughtInShow,
            other => return Err(corrupt(format!("giveaway rule {other}"))),
        };
        giveaways.insert(
            id,
            GiveawayState {
                id,
                prize: row.try_get(1)?,
                rule,
                show: row.try_get::<Option<i64>, _>(4)?.map(ShowId),
                closes_at_ms: row.try_get(5)?,
                seed: row.try_get(6)?,
                commitment: row.try_get(7)?,
                entries: BTreeSet::new(),
                draws: Vec::new(),
                exhausted: false,
            },
        );
    }
    for row in sqlx::query("SELECT giveaway_id, account_id FROM giveaway_entries")
        .fetch_all(store.pool())
        .await?
    {
        if let Some(g) = giveaways.get_mut(&GiveawayId(row.try_get(0)?)) {
            g.entries
                .insert(AccountId(row.try_get::<i64, _>(1)? as u64));
        }
    }
    for row in sqlx::query(
        "SELECT giveaway_id, draw, account_id, claim_by, claimed_at FROM giveaway_draws ORDER BY giveaway_id, draw",
    )
    .fetch_all(store.pool())
    .await?
    {
        if let Some(g) = giveaways.get_mut(&GiveawayId(row.try_get(0)?)) {
            g.draws.push(DrawState {
                draw: row.try_get::<i64, _>(1)? as u32,
                account: AccountId(row.try_get::<i64, _>(2)? as u64),
                claim_by_ms: row.try_get(3)?,
                claimed: row.try_get::<Option<i64>, _>(4)?.is_some(),
            });
        }
    }
    for g in giveaways.values_mut() {
        g.exhausted = !g.draws.is_empty() && g.draws.len() >= g.entries.len();
    }
    Ok(giveaways)
}

impl Engine {
    pub(super) async fn create_giveaway(
        &mut self,
        by: AccountId,
        prize: String,
        rule: EntryRule,
        closes_in_secs: u64,
    ) -> Result<Giveaway, EngagementError> {
        let invalid = |m: &str| Err(EngagementError::Invalid(m.to_owned()));
        let prize = prize.trim().to_owned();
        if prize.is_empty()
            || prize.chars().count() > MAX_PRIZE_CHARS
            || prize.chars().any(char::is_control)
        {
            return invalid(&format!("prize: 1 to {MAX_PRIZE_CHARS} characters"));
        }
        if !CLOSES_IN_SECS.contains(&closes_in_secs) {
            return invalid(&format!(
                "closes_in_secs: {} to {}",
                CLOSES_IN_SECS.start(),
                CLOSES_IN_SECS.end()
            ));
        }
        if let EntryRule::PresentMinutes(m) = rule
            && !(1..=MAX_PRESENT_MINUTES).contains(&m)
        {
            return invalid(&format!("present_minutes: 1 to {MAX_PRESENT_MINUTES}"));
        }
        if rule != EntryRule::Everyone && self.show.is_none() {
            return invalid("that entry rule counts within a show: start one first");
        }
        let now = self.clock.now_ms();
        if self
            .giveaways
            .values()
            .any(|g| now < g.closes_at_ms && g.draws.is_empty())
        {
            return Err(EngagementError::GiveawayOpen);
        }
        let seed: [u8; 32] = rand::rng().random();
        let seed = hex(&seed);
        let commitment = commitment_of(&seed).expect("hex we made");
        let state = GiveawayState {
            id: crate::ids::new_id(),
            prize,
            rule,
            show: self.show.as_ref().map(|s| s.id),
            closes_at_ms: now + closes_in_secs as i64 * 1000,
            seed,
            commitment,
            entries: BTreeSet::new(),
            draws: Vec::new(),
            exhausted: false,
        };
        let (rule_name, minutes) = rule_columns(rule);
        sqlx::query(
            "INSERT INTO giveaways (id, show_id, prize, rule, rule_minutes, seed, commitment, closes_at, \
             created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(state.id.get())
        .bind(state.show.map(ShowId::get))
        .bind(&state.prize)
        .bind(rule_name)
        .bind(minutes)
        .bind(&state.seed)
        .bind(&state.commitment)
        .bind(state.closes_at_ms)
        .bind(by.0 as i64)
        .bind(now)
        .execute(self.store.pool())
        .await
        .map_err(|e| storage(e.into()))?;
        let id = state.id;
        tracing::info!(giveaway = id.get(), commitment = %state.commitment, "giveaway opened");
        self.giveaways.insert(id, state);
        let view = self.giveaway_view(id).await?;
        let _ = self
            .events
            .send(EngagementEvent::GiveawayOpened(view.clone()));
        Ok(view)
    }

    fn eligible(&self, account: AccountId, g: &GiveawayState) -> Result<(), EngagementError> {
        let in_show = self.show.as_ref().map(|s| s.id) == g.show;
        let count = |kind: GrantKind| {
            self.ledgers
                .get(&account)
                .filter(|_| in_show)
                .and_then(|l| l.show_counts.get(&kind).copied())
                .unwrap_or(0)
        };
        match g.rule {
            EntryRule::Everyone => Ok(()),
            EntryRule::PresentMinutes(m) => {
                let present = count(GrantKind::Watch);
                if present >= i64::from(m) {
                    Ok(())
                } else {
                    Err(EngagementError::NotEligible(format!(
                        "present {present} of the {m} minutes needed"
                    )))
                }
            }
            EntryRule::BoughtInShow => {
                if count(GrantKind::Purchase) > 0 {
                    Ok(())
                } else {
                    Err(EngagementError::NotEligible(
                        "buy something in this show first".into(),
                    ))
                }
            }
        }
    }

    pub(super) async fn enter(
        &mut self,
        account: AccountId,
        giveaway_id: GiveawayId,
    ) -> Result<Giveaway, EngagementError> {
        let g = self
            .giveaways
            .get(&giveaway_id)
            .ok_or(EngagementError::UnknownGiveaway)?;
        if self.clock.now_ms() >= g.closes_at_ms || !g.draws.is_empty() {
            return Err(EngagementError::GiveawayClosed);
        }
        if g.entries.contains(&account) {
            return Err(EngagementError::AlreadyEntered);
        }
        self.eligible(account, g)?;
        let written = sqlx::query(
            "INSERT INTO giveaway_entries (giveaway_id, account_id, entered_at) VALUES ($1, $2, $3) \
             ON CONFLICT (giveaway_id, account_id) DO NOTHING",
        )
        .bind(giveaway_id.get())
        .bind(account.0 as i64)
        .bind(self.clock.now_ms())
        .execute(self.store.pool())
        .await
        .map_err(|e| storage(e.into()))?;
        if written.rows_affected() != 1 {
            return Err(EngagementError::AlreadyEntered);
        }
        let g = self.giveaways.get_mut(&giveaway_id).expect("checked above");
        g.entries.insert(account);
        let _ = self.events.send(EngagementEvent::GiveawayEntries {
            giveaway_id,
            entries: g.entries.len() as u32,
        });
        self.giveaway_view(giveaway_id).await
    }

    pub(super) async fn giveaway_view(
        &mut self,
        id: GiveawayId,
    ) -> Result<Giveaway, EngagementError> {
        let g = self
            .giveaways
            .get(&id)
            .ok_or(EngagementError::UnknownGiveaway)?;
        let now = self.clock.now_ms();
        let draws: Vec<(u32, AccountId, i64, bool)> = g
            .draws
            .iter()
            .map(|d| (d.draw, d.account, d.claim_by_ms, d.claimed))
            .collect();
        let mut view = Giveaway {
            id,
            prize: g.prize.clone(),
            rule: g.rule,
            closes_at_ms: g.closes_at_ms,
            commitment: g.commitment.clone(),
            seed: (now >= g.closes_at_ms).then(|| g.seed.clone()),
            entries: g.entries.iter().copied().collect(),
            draws: Vec::new(),
        };
        for (draw, account, claim_by_ms, claimed) in draws {
            view.draws.push(Draw {
                draw,
                account,
                name: self.name_of(account).await,
                claim_by_ms,
                claimed,
            });
        }
        Ok(view)
    }

    /// Draws closed giveaways, and draws again for a prize not claimed in
    /// time.
    pub(super) async fn draw_giveaways(&mut self, now: i64) {
        let due: Vec<GiveawayId> = self
            .giveaways
            .values()
            .filter(|g| now >= g.closes_at_ms && !g.exhausted && !g.entries.is_empty())
            .filter(|g| match g.draws.last() {
                None => true,
                Some(d) => !d.claimed && now >= d.claim_by_ms,
            })
            .map(|g| g.id)
            .collect();
        for id in due {
            if let Err(e) = self.draw_next(id, now).await {
                tracing::error!(%e, giveaway = id.get(), "draw not recorded; trying again");
            }
        }
    }

    async fn draw_next(&mut self, id: GiveawayId, now: i64) -> Result<(), EngagementError> {
        let g = self
            .giveaways
            .get(&id)
            .ok_or(EngagementError::UnknownGiveaway)?;
        let entries: Vec<u64> = g.entries.iter().map(|a| a.0).collect();
        let excluded: Vec<u64> = g.draws.iter().map(|d| d.account.0).collect();
        let draw = g.draws.len() as u32;
        let Some(winner) = draw_winner(&g.seed, &entries, draw, &excluded) else {
            if let Some(g) = self.giveaways.get_mut(&id) {
                g.exhausted = true;
            }
            return Ok(());
        };
        let claim_by_ms = now + self.rules.giveaway_claim.as_millis() as i64;
        sqlx::query(
            "INSERT INTO giveaway_draws (giveaway_id, draw, account_id, drawn_at, claim_by, claimed_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(id.get())
        .bind(i64::from(draw))
        .bind(winner as i64)
        .bind(now)
        .bind(claim_by_ms)
        .execute(self.store.pool())
        .await
        .map_err(|e| storage(e.into()))?;
        let account = AccountId(winner);
        let seed = {
            let g = self.giveaways.get_mut(&id).expect("checked above");
            g.draws.push(DrawState {
                draw,
                account,
                claim_by_ms,
                claimed: false,
            });
            g.exhausted = g.draws.len() >= g.entries.len();
            g.seed.clone()
        };
        tracing::info!(giveaway = id.get(), draw, winner = %account, "giveaway drawn");
        let name = self.name_of(account).await;
        let _ = self.events.send(EngagementEvent::GiveawayDrawn {
            giveaway_id: id,
            draw: Draw {
                draw,
                account,
                name,
                claim_by_ms,
                claimed: false,
            },
            seed,
        });
        Ok(())
    }

    /// The host's "draw now": entries close at this moment and the first
    /// draw is made at once, by the same rule as a draw at the time set.
    /// Refused, changing nothing, once drawn, or while nobody has entered
    /// (closing then would leave a giveaway that can never be drawn).
    pub(super) async fn draw_now(
        &mut self,
        giveaway_id: GiveawayId,
    ) -> Result<Giveaway, EngagementError> {
        let now = self.clock.now_ms();
        let g = self
            .giveaways
            .get(&giveaway_id)
            .ok_or(EngagementError::UnknownGiveaway)?;
        if !g.draws.is_empty() {
            return Err(EngagementError::AlreadyDrawn);
        }
        if g.entries.is_empty() {
            return Err(EngagementError::NoEntrants);
        }
        let early = now < g.closes_at_ms;
        // The draw is written first: if it fails, nothing has changed and
        // entries stay open; closing first could leave a giveaway closed
        // with no winner. A drawn giveaway takes no entries whatever its
        // closing time says (see `enter`), so a failed move below only
        // leaves the stored time late.
        self.draw_next(giveaway_id, now).await?;
        if early {
            if let Some(g) = self.giveaways.get_mut(&giveaway_id) {
                g.closes_at_ms = now;
            }
            sqlx::query("UPDATE giveaways SET closes_at = $1 WHERE id = $2")
                .bind(now)
                .bind(giveaway_id.get())
                .execute(self.store.pool())
                .await
                .map_err(|e| storage(e.into()))?;
        }
        self.giveaway_view(giveaway_id).await
    }

    /// The current winner claims the prize; claiming again answers the same.
    pub(super) async fn claim_prize(
        &mut self,
        account: AccountId,
        giveaway_id: GiveawayId,
    ) -> Result<Draw, EngagementError> {
        let g = self
            .giveaways
            .get(&giveaway_id)
            .ok_or(EngagementError::UnknownGiveaway)?;
        let Some(last) = g.draws.last() else {
            return Err(EngagementError::NotWinner);
        };
        if last.account != account {
            let lost = g.draws.iter().any(|d| d.account == account);
            return Err(if lost {
                EngagementError::ClaimExpired
            } else {
                EngagementError::NotWinner
            });
        }
        let (draw, claim_by_ms, claimed) = (last.draw, last.claim_by_ms, last.claimed);
        if !claimed {
            if self.clock.now_ms() >= claim_by_ms {
                return Err(EngagementError::ClaimExpired);
            }
            sqlx::query(
                "UPDATE giveaway_draws SET claimed_at = $1 WHERE giveaway_id = $2 AND draw = $3",
            )
            .bind(self.clock.now_ms())
            .bind(giveaway_id.get())
            .bind(i64::from(draw))
            .execute(self.store.pool())
            .await
            .map_err(|e| storage(e.into()))?;
            if let Some(d) = self
                .giveaways
                .get_mut(&giveaway_id)
                .and_then(|g| g.draws.last_mut())
            {
                d.claimed = true;
            }
            tracing::info!(giveaway = giveaway_id.get(), draw, %account, "prize claimed");
        }
        Ok(Draw {
            draw,
            account,
            name: self.name_of(account).await,
            claim_by_ms,
            claimed: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commitment_binds_the_seed_and_draws_are_reproducible() {
        let seed = "00".repeat(31) + "01";
        let commitment = commitment_of(&seed).unwrap();
        assert_eq!(commitment.len(), 64);
        assert_ne!(
            commitment_of(&("00".repeat(31) + "02")).unwrap(),
            commitment
        );
        assert_eq!(commitment_of("xyz"), None);
        let entries = [30, 10, 20];
        let first = draw_winner(&seed, &entries, 0, &[]).unwrap();
        assert!(entries.contains(&first));
        assert_eq!(
            draw_winner(&seed, &[10, 20, 30], 0, &[]),
            Some(first),
            "order-free"
        );
        let second = draw_winner(&seed, &entries, 1, &[first]).unwrap();
        assert_ne!(second, first);
        let third = draw_winner(&seed, &entries, 2, &[first, second]).unwrap();
        assert!(![first, second].contains(&third));
        assert_eq!(draw_winner(&seed, &entries, 3, &[10, 20, 30]), None);
        // Different seeds pick differently somewhere across many entries.
        let many: Vec<u64> = (1..=1000).collect();
        let winners: BTreeSet<u64> = (0..20u8)
            .map(|i| draw_winner(&hex(&[i; 32]), &many, 0, &[]).unwrap())
            .collect();
        assert!(winners.len() > 15, "{winners:?}");
    }
}
