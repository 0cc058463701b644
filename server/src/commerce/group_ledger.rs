//! The group deals' SQL. Like `ledger.rs`, it runs inside the engine task
//! (or before it starts), so there is one writer. Every step of a team is
//! one transaction: a member and their unit, an authorization held (and
//! the team full), a member refused, a team completed with its orders, a
//! team voided with its units back.

use super::group_deals::{Member, MemberStatus, TeamStatus};
use crate::store::{Store, StoreError};
use sqlx::Row;
use vitrine_shared::{
    AccountId, Currency, DealId, DisplayName, Money, OrderId, ProductId, ShowId, Sku, TeamId,
};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A deal as stored, without its teams.
#[derive(Debug, Clone)]
pub(super) struct DealRow {
    pub id: DealId,
    pub product: ProductId,
    pub sku: Sku,
    pub team_size: i64,
    pub team_price: Money,
    pub regular_price: Money,
    pub stock_cap: i64,
    pub taken: i64,
    pub sold: i64,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    /// The show a deal "until the show ends" belongs to: it closes when
    /// that show ends.
    pub show: Option<ShowId>,
}

pub(super) struct TeamRow {
    pub id: TeamId,
    pub deal: DealId,
    pub status: TeamStatus,
    /// The starter's display name (`None` for an account not in the store).
    pub started_by: Option<DisplayName>,
}

pub(super) struct MemberRow {
    pub team: TeamId,
    pub member: Member,
    pub key: Option<String>,
    pub hash: u64,
}

pub(super) async fn insert_deal(
    store: &Store,
    deal: &DealRow,
    by: AccountId,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO group_deals (id, sku, product_id, team_size, price_minor, regular_minor, \
         currency, stock_cap, taken, sold, starts_at, ends_at, created_by, created_at, show_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0, $9, $10, $11, $12, $13)",
    )
    .bind(deal.id.get())
    .bind(deal.sku.as_str())
    .bind(deal.product.as_str())
    .bind(deal.team_size)
    .bind(deal.team_price.minor)
    .bind(deal.regular_price.minor)
    .bind(deal.team_price.currency.as_str())
    .bind(deal.stock_cap)
    .bind(deal.starts_at_ms)
    .bind(deal.ends_at_ms)
    .bind(by.0 as i64)
    .bind(store.clock().now_ms())
    .bind(deal.show.map(|s| s.get()))
    .execute(store.pool())
    .await?;
    Ok(())
}

/// An account's display name, if the store has the account.
pub(super) async fn display_name(
    store: &Store,
    account: AccountId,
) -> Result<Option<DisplayName>, StoreError> {
    let name: Option<String> =
        sqlx::query_scalar("SELECT display_name FROM accounts WHERE id = $1")
            .bind(account.0 as i64)
            .fetch_optional(store.pool())
            .await?;
    Ok(name.and_then(|n| DisplayName::new(n).ok()))
}

/// Brings a deal's end forward to `at` (its show ended); a deal already
/// ended stays as it was.
pub(super) async fn close_deal(store: &Store, deal: DealId, at: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE group_deals SET ends_at = $1 WHERE id = $2 AND ends_at > $1")
        .bind(at)
        .bind(deal.get())
        .execute(store.pool())
        .await?;
    Ok(())
}

pub(super) async fn deals(store: &Store) -> Result<Vec<DealRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, product_id, sku, team_size, price_minor, regular_minor, currency, stock_cap, \
         taken, sold, starts_at, ends_at, show_id FROM group_deals ORDER BY id",
    )
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(|row| {
            let currency = Currency::new(&row.try_get::<String, _>(6)?).map_err(corrupt)?;
            Ok(DealRow {
                id: DealId(row.try_get(0)?),
                product: ProductId::new(row.try_get::<String, _>(1)?).map_err(corrupt)?,
                sku: Sku::new(row.try_get::<String, _>(2)?).map_err(corrupt)?,
                team_size: row.try_get(3)?,
                team_price: Money::new(row.try_get(4)?, currency),
                regular_price: Money::new(row.try_get(5)?, currency),
                stock_cap: row.try_get(7)?,
                taken: row.try_get(8)?,
                sold: row.try_get(9)?,
                starts_at_ms: row.try_get(10)?,
                ends_at_ms: row.try_get(11)?,
                show: row.try_get::<Option<i64>, _>(12)?.map(ShowId),
            })
        })
        .collect()
}

pub(super) async fn teams(store: &Store) -> Result<Vec<TeamRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT t.id, t.deal_id, t.status, a.display_name FROM group_teams t \
         LEFT JOIN accounts a ON a.id = t.started_by ORDER BY t.id",
    )
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(|row| {
            let status: String = row.try_get(2)?;
            Ok(TeamRow {
                id: TeamId(row.try_get(0)?),
                deal: DealId(row.try_get(1)?),
                status: TeamStatus::parse(&status).ok_or_else(|| corrupt(&status))?,
                started_by: row
                    .try_get::<Option<String>, _>(3)?
                    .and_then(|n| DisplayName::new(n).ok()),
            })
        })
        .collect()
}

/// Every member (for the idempotency keys); those of unsettled teams are
/// the teams' members.
pub(super) async fn members(store: &Store) -> Result<Vec<MemberRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT team_id, account_id, order_id, status, payment_ref, idempotency_key, request_hash \
         FROM group_members ORDER BY joined_at, order_id",
    )
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(|row| {
            let status: String = row.try_get(3)?;
            let hash = u64::from_str_radix(&row.try_get::<String, _>(6)?, 16).map_err(corrupt)?;
            Ok(MemberRow {
                team: TeamId(row.try_get(0)?),
                member: Member {
                    account: AccountId(row.try_get::<i64, _>(1)? as u64),
                    order_id: OrderId(row.try_get(2)?),
                    status: match status.as_str() {
                        "authorizing" => MemberStatus::Authorizing,
                        "captured" => MemberStatus::Captured,
                        _ => MemberStatus::Authorized,
                    },
                    payment_ref: row.try_get(4)?,
                },
                key: row.try_get(5)?,
                hash,
            })
        })
        .collect()
}

/// Members whose authorization a restart cut off leave their teams, their
/// units back; their authorizations' voids are recorded as pending (the
/// provider may have held money before the crash). Returns how many.
pub(super) async fn abandon_interrupted(
    store: &Store,
    deals: &[DealRow],
) -> Result<u64, StoreError> {
    let rows = sqlx::query(
        "SELECT m.team_id, m.order_id, t.deal_id FROM group_members m \
         JOIN group_teams t ON t.id = m.team_id WHERE m.status = 'authorizing'",
    )
    .fetch_all(store.pool())
    .await?;
    let mut abandoned = 0;
    for row in rows {
        let team = TeamId(row.try_get(0)?);
        let order = OrderId(row.try_get(1)?);
        let deal_id = DealId(row.try_get(2)?);
        let deal = deals
            .iter()
            .find(|d| d.id == deal_id)
            .ok_or_else(|| corrupt(format!("team {} of no deal", team.get())))?;
        let left: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM group_members WHERE team_id = $1",
        )
        .bind(team.get())
        .fetch_one(store.pool())
        .await?;
        abandon_member(store, team, order, deal, left == 1, None).await?;
        abandoned += 1;
    }
    Ok(abandoned)
}

/// Takes one unit from the variant and one from the deal's cap, and writes
/// the member (and the team, when it starts one). `false`, nothing written,
/// when the variant is out of stock.
pub(super) async fn insert_member(
    store: &Store,
    deal: &DealRow,
    team: TeamId,
    new_team: bool,
    buyer: AccountId,
    order_id: OrderId,
    (key, hash): (&str, u64),
) -> Result<bool, StoreError> {
    let now = store.clock().now_ms();
    let mut tx = store.pool().begin().await?;
    let taken = sqlx::query("UPDATE variants SET stock = stock - 1 WHERE sku = $1 AND stock >= 1")
        .bind(deal.sku.as_str())
        .execute(&mut *tx)
        .await?;
    if taken.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    // The engine checked the cap; the CHECK on `taken` is a last line of defence.
    sqlx::query("UPDATE group_deals SET taken = taken + 1 WHERE id = $1")
        .bind(deal.id.get())
        .execute(&mut *tx)
        .await?;
    if new_team {
        sqlx::query(
            "INSERT INTO group_teams (id, deal_id, status, started_by, created_at, settled_at) \
             VALUES ($1, $2, 'open', $3, $4, NULL)",
        )
        .bind(team.get())
        .bind(deal.id.get())
        .bind(buyer.0 as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO group_members (team_id, account_id, order_id, status, payment_ref, \
         idempotency_key, request_hash, joined_at) VALUES ($1, $2, $3, 'authorizing', NULL, $4, $5, $6)",
    )
    .bind(team.get())
    .bind(buyer.0 as i64)
    .bind(order_id.get())
    .bind(key)
    .bind(format!("{hash:016x}"))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The member's authorization is held; when it fills the team, the team
/// turns to capturing in the same transaction, so a restart captures it.
pub(super) async fn mark_authorized(
    store: &Store,
    team: TeamId,
    order_id: OrderId,
    authorization: &str,
    full: bool,
) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    sqlx::query(
        "UPDATE group_members SET status = 'authorized', payment_ref = $1 WHERE order_id = $2",
    )
    .bind(authorization)
    .bind(order_id.get())
    .execute(&mut *tx)
    .await?;
    if full {
        sqlx::query("UPDATE group_teams SET status = 'capturing' WHERE id = $1")
            .bind(team.get())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A member refused by the gateway (or cut off by a restart) leaves; their
/// unit goes back. A team left empty is voided.
pub(super) async fn remove_member(
    store: &Store,
    team: TeamId,
    order_id: OrderId,
    sku: &Sku,
    deal: DealId,
    emptied: bool,
) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    let gone = sqlx::query("DELETE FROM group_members WHERE order_id = $1")
        .bind(order_id.get())
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 1 {
        give_back_units(&mut tx, sku, deal, 1).await?;
    }
    if emptied {
        sqlx::query("UPDATE group_teams SET status = 'voided', settled_at = $1 WHERE id = $2")
            .bind(store.clock().now_ms())
            .bind(team.get())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Every member's authorization was captured: their orders are placed,
/// paid, at the team price, with the units they held. Only the store's
/// members in a held status count (memory may have missed a store error);
/// returns how many orders were placed.
pub(super) async fn complete_team(
    store: &Store,
    deal: &DealRow,
    team: TeamId,
) -> Result<i64, StoreError> {
    let now = store.clock().now_ms();
    let mut tx = store.pool().begin().await?;
    let moved = sqlx::query(
        "UPDATE group_teams SET status = 'complete', settled_at = $1 WHERE id = $2 AND status = 'capturing'",
    )
    .bind(now)
    .bind(team.get())
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() != 1 {
        // Recorded already: nothing to place twice.
        tx.rollback().await?;
        return Ok(0);
    }
    let rows = sqlx::query(
        "SELECT account_id, order_id, payment_ref FROM group_members \
         WHERE team_id = $1 AND status IN ('authorized', 'captured') ORDER BY order_id",
    )
    .bind(team.get())
    .fetch_all(&mut *tx)
    .await?;
    let mut members = Vec::with_capacity(rows.len());
    for row in rows {
        members.push(Member {
            account: AccountId(row.try_get::<i64, _>(0)? as u64),
            order_id: OrderId(row.try_get(1)?),
            status: MemberStatus::Captured,
            payment_ref: row.try_get(2)?,
        });
    }
    for m in &members {
        sqlx::query(
            "INSERT INTO orders (id, account_id, status, total_minor, currency, flash_sale_id, \
             idempotency_key, request_hash, created_at, updated_at, source, coupon_code, \
             discount_minor, payment_ref) \
             VALUES ($1, $2, 'paid', $3, $4, NULL, NULL, NULL, $5, $5, 'group_deal', NULL, 0, $6)",
        )
        .bind(m.order_id.get())
        .bind(m.account.0 as i64)
        .bind(deal.team_price.minor)
        .bind(deal.team_price.currency.as_str())
        .bind(now)
        .bind(m.payment_ref.clone())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO order_lines (order_id, sku, quantity, unit_price_minor) VALUES ($1, $2, 1, $3)",
        )
        .bind(m.order_id.get())
        .bind(deal.sku.as_str())
        .bind(deal.team_price.minor)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE group_members SET status = 'captured' WHERE team_id = $1 AND status = 'authorized'",
    )
    .bind(team.get())
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE group_deals SET sold = sold + $1 WHERE id = $2")
        .bind(members.len() as i64)
        .bind(deal.id.get())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(members.len() as i64)
}

/// Every authorization was voided: the members' units go back, counted in
/// SQL among the members the store holds as authorized (memory may have
/// missed a store error). Returns the units.
pub(super) async fn void_team(
    store: &Store,
    deal: &DealRow,
    team: TeamId,
) -> Result<i64, StoreError> {
    let mut tx = store.pool().begin().await?;
    let moved = sqlx::query(
        "UPDATE group_teams SET status = 'voided', settled_at = $1 WHERE id = $2 AND status = 'open'",
    )
    .bind(store.clock().now_ms())
    .bind(team.get())
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(0);
    }
    let members: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM group_members WHERE team_id = $1 AND status = 'authorized'",
    )
    .bind(team.get())
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE group_members SET status = 'voided' WHERE team_id = $1 AND status = 'authorized'",
    )
    .bind(team.get())
    .execute(&mut *tx)
    .await?;
    give_back_units(&mut tx, &deal.sku, deal.id, members).await?;
    tx.commit().await?;
    Ok(members)
}

/// Where a settled member's team ended: (team, deal, status, members).
pub(super) async fn settled_member(
    store: &Store,
    order_id: OrderId,
) -> Result<Option<(TeamId, DealId, TeamStatus, i64)>, StoreError> {
    let row = sqlx::query(
        "SELECT t.id, t.deal_id, t.status, \
         (SELECT CAST(COUNT(*) AS BIGINT) FROM group_members c WHERE c.team_id = t.id) \
         FROM group_members m JOIN group_teams t ON t.id = m.team_id WHERE m.order_id = $1",
    )
    .bind(order_id.get())
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let status: String = row.try_get(2)?;
    Ok(Some((
        TeamId(row.try_get(0)?),
        DealId(row.try_get(1)?),
        TeamStatus::parse(&status).ok_or_else(|| corrupt(&status))?,
        row.try_get(3)?,
    )))
}

/// One member's capture went through: recorded at once, so a retry (or a
/// restart) captures only the others, and a failing team knows whom to
/// refund.
pub(super) async fn mark_captured(store: &Store, order_id: OrderId) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE group_members SET status = 'captured' WHERE order_id = $1 AND status = 'authorized'",
    )
    .bind(order_id.get())
    .execute(store.pool())
    .await?;
    Ok(())
}

/// A capture was declined for good: the team turns to failing, so a restart
/// goes on refunding and voiding it rather than capturing.
pub(super) async fn mark_failing(store: &Store, team: TeamId) -> Result<(), StoreError> {
    sqlx::query("UPDATE group_teams SET status = 'failing' WHERE id = $1 AND status = 'capturing'")
        .bind(team.get())
        .execute(store.pool())
        .await?;
    Ok(())
}

/// A failing team's captured members were refunded and the rest voided:
/// the team is failed and the units its members held go back, counted in
/// SQL so memory's count cannot drift from the rows. Returns the units.
pub(super) async fn fail_team(
    store: &Store,
    deal: &DealRow,
    team: TeamId,
) -> Result<i64, StoreError> {
    let mut tx = store.pool().begin().await?;
    let moved = sqlx::query(
        "UPDATE group_teams SET status = 'failed', settled_at = $1 WHERE id = $2 AND status = 'failing'",
    )
    .bind(store.clock().now_ms())
    .bind(team.get())
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(0);
    }
    let units: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM group_members WHERE team_id = $1 \
         AND status IN ('authorized', 'captured')",
    )
    .bind(team.get())
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE group_members SET status = CASE status WHEN 'captured' THEN 'refunded' \
         ELSE 'voided' END WHERE team_id = $1 AND status IN ('authorized', 'captured')",
    )
    .bind(team.get())
    .execute(&mut *tx)
    .await?;
    give_back_units(&mut tx, &deal.sku, deal.id, units).await?;
    tx.commit().await?;
    Ok(units)
}

/// An authorization the engine will not use, and whose void the provider
/// has not yet confirmed.
pub(super) struct VoidRow {
    pub order_id: OrderId,
    pub account: AccountId,
    pub pending: bool,
    pub payment_ref: Option<String>,
    pub amount: Money,
    pub key: String,
    pub hash: u64,
}

/// A member whose authorization may hold money the engine will not use (a
/// timeout, a restart mid-authorization, a hold not recorded) leaves the
/// team: their unit goes back, and the void is recorded as pending, with
/// their key, until the provider confirms it. A team left empty is voided.
pub(super) async fn abandon_member(
    store: &Store,
    team: TeamId,
    order_id: OrderId,
    deal: &DealRow,
    emptied: bool,
    payment_ref: Option<&str>,
) -> Result<(), StoreError> {
    let now = store.clock().now_ms();
    let mut tx = store.pool().begin().await?;
    let moved = sqlx::query(
        "INSERT INTO group_void_pending (order_id, team_id, account_id, status, payment_ref, \
         amount_minor, currency, idempotency_key, request_hash, created_at, voided_at) \
         SELECT order_id, team_id, account_id, 'pending', $1, $2, $3, idempotency_key, \
         request_hash, $4, NULL FROM group_members WHERE order_id = $5 AND status = 'authorizing'",
    )
    .bind(payment_ref)
    .bind(deal.team_price.minor)
    .bind(deal.team_price.currency.as_str())
    .bind(now)
    .bind(order_id.get())
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() == 1 {
        sqlx::query("DELETE FROM group_members WHERE order_id = $1")
            .bind(order_id.get())
            .execute(&mut *tx)
            .await?;
        give_back_units(&mut tx, &deal.sku, deal.id, 1).await?;
    }
    if emptied {
        sqlx::query(
            "UPDATE group_teams SET status = 'voided', settled_at = $1 WHERE id = $2 AND status = 'open'",
        )
        .bind(now)
        .bind(team.get())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn voids(store: &Store) -> Result<Vec<VoidRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT order_id, account_id, status, payment_ref, amount_minor, currency, \
         idempotency_key, request_hash FROM group_void_pending ORDER BY order_id",
    )
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(|row| {
            let currency = Currency::new(&row.try_get::<String, _>(5)?).map_err(corrupt)?;
            let status: String = row.try_get(2)?;
            Ok(VoidRow {
                order_id: OrderId(row.try_get(0)?),
                account: AccountId(row.try_get::<i64, _>(1)? as u64),
                pending: status == "pending",
                payment_ref: row.try_get(3)?,
                amount: Money::new(row.try_get(4)?, currency),
                key: row.try_get(6)?,
                hash: u64::from_str_radix(&row.try_get::<String, _>(7)?, 16).map_err(corrupt)?,
            })
        })
        .collect()
}

/// The provider confirmed the void (or that nothing was held).
pub(super) async fn void_done(store: &Store, order_id: OrderId) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE group_void_pending SET status = 'voided', voided_at = $1 \
         WHERE order_id = $2 AND status = 'pending'",
    )
    .bind(store.clock().now_ms())
    .bind(order_id.get())
    .execute(store.pool())
    .await?;
    Ok(())
}

/// `units` a deal held go back to the variant's stock and off the deal's
/// count, in the caller's transaction.
async fn give_back_units(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sku: &Sku,
    deal: DealId,
    units: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE variants SET stock = stock + $1 WHERE sku = $2")
        .bind(units)
        .bind(sku.as_str())
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE group_deals SET taken = taken - $1 WHERE id = $2")
        .bind(units)
        .bind(deal.get())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
