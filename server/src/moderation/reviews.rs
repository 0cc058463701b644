//! Staff hide a review (`crate::reviews`): the review is marked hidden and
//! the log records it, in one transaction, as every moderation action.

use super::{Change, Moderation, ModerationError, check_reason, with_reason};
use crate::reviews::Review;
use crate::store::Account;

impl Moderation {
    /// Hides `review` from shoppers, logged with `reason`.
    pub async fn hide_review(
        &self,
        actor: &Account,
        review: &Review,
        reason: &str,
    ) -> Result<(), ModerationError> {
        let reason = check_reason(reason)?;
        let mut next = self.writes.lock().await;
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
        Ok(())
    }
}
