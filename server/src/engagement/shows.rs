//! Shows: scheduled with a line-up, taken live (one at a time), ended; the
//! products featured now. Points, badges and giveaways count within the
//! live show.

use super::engine::{Engine, storage};
use super::{EngagementError, EngagementEvent, MAX_FEATURED, Show};
use crate::store::{Store, StoreError};
use sqlx::Row;
use vitrine_shared::ShowId;
use vitrine_shared::{AccountId, ProductId};

const COLUMNS: &str = "id, title, started_at, live_at, ended_at, lineup, featured";

fn products(json: &str) -> Result<Vec<ProductId>, StoreError> {
    let ids: Vec<String> =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    ids.into_iter()
        .map(|id| ProductId::new(id).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

fn json(ids: &[ProductId]) -> String {
    serde_json::to_string(&ids.iter().map(|p| p.as_str()).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into())
}

fn row_to_show(row: &sqlx::any::AnyRow) -> Result<Show, StoreError> {
    Ok(Show {
        id: ShowId(row.try_get(0)?),
        title: row.try_get(1)?,
        scheduled_at_ms: row.try_get(2)?,
        live_at_ms: row.try_get(3)?,
        ended_at_ms: row.try_get(4)?,
        lineup: products(&row.try_get::<String, _>(5)?)?,
        featured: products(&row.try_get::<String, _>(6)?)?,
    })
}

/// The show live now, if any.
pub(super) async fn load_live(store: &Store) -> Result<Option<Show>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM shows WHERE ended_at IS NULL AND live_at IS NOT NULL \
         ORDER BY live_at DESC LIMIT 1"
    ))
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(row_to_show).transpose()
}

pub async fn load_one(store: &Store, id: ShowId) -> Result<Option<Show>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM shows WHERE id = $1"))
        .bind(id.get())
        .fetch_optional(store.pool())
        .await?;
    row.as_ref().map(row_to_show).transpose()
}

impl Engine {
    async fn check_products(&self, ids: &[ProductId]) -> Result<(), EngagementError> {
        for id in ids {
            let found: Option<String> =
                sqlx::query_scalar("SELECT id FROM products WHERE id = $1 AND archived_at IS NULL")
                    .bind(id.as_str())
                    .fetch_optional(self.store.pool())
                    .await
                    .map_err(|e| storage(e.into()))?;
            if found.is_none() {
                return Err(EngagementError::UnknownProduct);
            }
        }
        Ok(())
    }

    pub(super) async fn create_show(
        &mut self,
        by: AccountId,
        title: String,
        scheduled_at_ms: Option<i64>,
        lineup: Vec<ProductId>,
    ) -> Result<Show, EngagementError> {
        let title = title.trim().to_owned();
        use vitrine_shared::limits::engagement::{MAX_LINEUP, MAX_SHOW_TITLE_CHARS};
        if title.is_empty()
            || title.chars().count() > MAX_SHOW_TITLE_CHARS
            || title.chars().any(char::is_control)
        {
            return Err(EngagementError::Invalid(format!(
                "title: 1 to {MAX_SHOW_TITLE_CHARS} characters"
            )));
        }
        if lineup.len() > MAX_LINEUP {
            return Err(EngagementError::Invalid(format!(
                "lineup: at most {MAX_LINEUP} products"
            )));
        }
        let now = self.clock.now_ms();
        if scheduled_at_ms.is_some_and(|at| at < now - 60_000 || at > now + 366 * 86_400_000) {
            return Err(EngagementError::Invalid(
                "scheduled_at_ms: from now to a year ahead".into(),
            ));
        }
        self.check_products(&lineup).await?;
        let id: ShowId = crate::ids::new_id();
        sqlx::query(
            "INSERT INTO shows (id, title, started_at, ended_at, started_by, live_at, lineup, featured) \
             VALUES ($1, $2, $3, NULL, $4, NULL, $5, '[]')",
        )
        .bind(id.get())
        .bind(&title)
        .bind(scheduled_at_ms.unwrap_or(now))
        .bind(by.0 as i64)
        .bind(json(&lineup))
        .execute(self.store.pool())
        .await
        .map_err(|e| storage(e.into()))?;
        tracing::info!(show = id.get(), %title, "show created");
        match scheduled_at_ms {
            None => self.go_live(id).await,
            Some(_) => load_one(&self.store, id)
                .await
                .map_err(storage)?
                .ok_or(EngagementError::UnknownShow),
        }
    }

    /// Takes a show live, ending the one that was.
    pub(super) async fn go_live(&mut self, show_id: ShowId) -> Result<Show, EngagementError> {
        let show = load_one(&self.store, show_id)
            .await
            .map_err(storage)?
            .ok_or(EngagementError::UnknownShow)?;
        if show.ended_at_ms.is_some() {
            return Err(EngagementError::ShowEnded);
        }
        if show.live_at_ms.is_some() {
            return Ok(show);
        }
        let now = self.clock.now_ms();
        let mut tx = self
            .store
            .pool()
            .begin()
            .await
            .map_err(|e| storage(e.into()))?;
        sqlx::query(
            "UPDATE shows SET ended_at = $1 WHERE ended_at IS NULL AND live_at IS NOT NULL",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| storage(e.into()))?;
        sqlx::query("UPDATE shows SET live_at = $1 WHERE id = $2")
            .bind(now)
            .bind(show_id.get())
            .execute(&mut *tx)
            .await
            .map_err(|e| storage(e.into()))?;
        tx.commit().await.map_err(|e| storage(e.into()))?;
        let show = Show {
            live_at_ms: Some(now),
            ..show
        };
        tracing::info!(show = show.id.get(), title = %show.title, "show is live");
        // Commerce closes the deals of the show this one replaced.
        self.commerce.show_live(Some(show.id)).await;
        for ledger in self.ledgers.values_mut() {
            ledger.new_show();
        }
        self.show = Some(show.clone());
        self.leaderboard_dirty = true;
        let _ = self.events.send(EngagementEvent::ShowLive {
            title: Some(show.title.clone()),
        });
        let _ = self.events.send(EngagementEvent::Featured {
            products: Vec::new(),
        });
        Ok(show)
    }

    pub(super) async fn end_show(&mut self) -> Result<Option<Show>, EngagementError> {
        let Some(mut show) = self.show.take() else {
            return Ok(None);
        };
        let now = self.clock.now_ms();
        let ended = sqlx::query("UPDATE shows SET ended_at = $1 WHERE id = $2")
            .bind(now)
            .bind(show.id.get())
            .execute(self.store.pool())
            .await;
        if let Err(e) = ended {
            self.show = Some(show);
            return Err(storage(e.into()));
        }
        tracing::info!(show = show.id.get(), "show ended");
        // Commerce closes the show's deals "until the show ends".
        self.commerce.show_live(None).await;
        for ledger in self.ledgers.values_mut() {
            ledger.new_show();
        }
        self.leaderboard_dirty = true;
        show.ended_at_ms = Some(now);
        let _ = self.events.send(EngagementEvent::ShowLive { title: None });
        let _ = self.events.send(EngagementEvent::Featured {
            products: Vec::new(),
        });
        Ok(Some(show))
    }

    pub(super) async fn feature(
        &mut self,
        products: Vec<ProductId>,
    ) -> Result<Show, EngagementError> {
        if self.show.is_none() {
            return Err(EngagementError::NoShow);
        }
        if products.len() > MAX_FEATURED {
            return Err(EngagementError::Invalid(format!(
                "products: at most {MAX_FEATURED}"
            )));
        }
        let mut distinct = products.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() != products.len() {
            return Err(EngagementError::Invalid("products: each once".into()));
        }
        self.check_products(&products).await?;
        let show = self.show.as_mut().ok_or(EngagementError::NoShow)?;
        sqlx::query("UPDATE shows SET featured = $1 WHERE id = $2")
            .bind(json(&products))
            .bind(show.id.get())
            .execute(self.store.pool())
            .await
            .map_err(|e| storage(e.into()))?;
        show.featured = products.clone();
        tracing::info!(show = show.id.get(), ?products, "featured");
        let show = show.clone();
        let _ = self.events.send(EngagementEvent::Featured { products });
        Ok(show)
    }

    pub(super) async fn list_shows(&mut self) -> Result<Vec<Show>, EngagementError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM shows ORDER BY (CASE WHEN ended_at IS NULL THEN 0 ELSE 1 END), \
             started_at DESC LIMIT 50"
        ))
        .fetch_all(self.store.pool())
        .await
        .map_err(|e| storage(e.into()))?;
        rows.iter()
            .map(row_to_show)
            .collect::<Result<_, _>>()
            .map_err(storage)
    }
}
