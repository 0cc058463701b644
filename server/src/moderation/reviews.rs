//! Staff hide a review (`crate::reviews`): the review is marked hidden and
//! the log records it, in one transaction, as every moderation action.

use super::{Change, Moderation, ModerationError, check_reason, with_reason};
use crate::reviews::Review;
use crate::store::Account;

impl Moderation {
    /// Hides `review` from shoppers, logged with `reason`; false when it
    /// was hidden already (by another moderator a moment before).
    pub async fn hide_review(
        &self,
        actor: &Account,
        review: &Review,
        reason: &str,
    ) -> Result<bool, ModerationError> {
        let reason = check_reason(reason)?;
        // Moderation's writes go one at a time: read under the same lock.
        let mut next = self.writes.lock().await;
        let hidden: Option<i64> = sqlx::query_scalar("SELECT hidden_at FROM reviews WHERE id = $1")
            .bind(review.id)
            .fetch_one(self.store.pool())
            .await?;
        if hidden.is_some() {
            return Ok(false);
        }
        let hide =
            sqlx::query("UPDATE reviews SET hidden_at = $1 WHERE id = $2 AND hidden_at IS NULL")
                .bind(self.clock.now_ms())
                .bind(review.id);
        self.commit(
            &mut next,
            vec![hide],
            Change {
                actor,
                action: "hide_review",
                room: None,
                target: Some((review.account, review.author.as_str())),
                details: with_reason(
                    format!(
                        "review {} of {} ({} stars)",
                        review.id,
                        review.product.as_str(),
                        review.stars
                    ),
                    reason,
                ),
            },
        )
        .await?;
        Ok(true)
    }
}
