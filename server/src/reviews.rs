//! Reviews: after an order is delivered its buyer may rate each product in
//! it, 1 to 5 stars with an optional text, once per product. Only a
//! delivered order counts (a verified buyer); the text passes the chat
//! filter. Staff hide a review through `crate::moderation`, which logs it;
//! a hidden review is left out of everything shoppers see.
//!
//! Reviews are read and written straight from the store: they are few
//! next to chat, and nothing on the room thread waits on them (the room
//! hands a review to a task, as it does friends' requests).

use crate::ids::new_id;
use crate::moderation::Moderation;
use crate::store::{Account, Store, StoreError};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;
use thiserror::Error;
use vitrine_shared::ProductId;
use vitrine_shared::api::{MAX_REVIEW_CHARS, ReviewSummary, ReviewTally, ReviewView};
use vitrine_shared::protocol::ReviewRefusal;

/// The latest reviews a product's card shows.
pub const LATEST_SHOWN: usize = 5;
/// The most reviews one console page lists.
pub const MAX_LIST: usize = 100;

/// A review refused or failed. What a shopper's review is refused for is
/// the wire's [`ReviewRefusal`], one list for HTTP and the room; the rest
/// are staff's refusals and the store failing.
#[derive(Debug, Error)]
pub enum ReviewError {
    #[error(transparent)]
    Refused(#[from] ReviewRefusal),
    #[error("no such review")]
    UnknownReview,
    #[error("this review is already hidden")]
    AlreadyHidden,
    #[error("{0}")]
    Reason(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ReviewError {
    fn from(e: sqlx::Error) -> Self {
        ReviewError::Store(StoreError::Database(e))
    }
}

/// A review as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: i64,
    pub product: ProductId,
    pub product_name: String,
    pub account: vitrine_shared::AccountId,
    pub author: String,
    pub stars: u8,
    pub text: String,
    pub created_at_ms: i64,
    pub hidden: bool,
}

impl Review {
    pub fn view(self) -> ReviewView {
        ReviewView {
            id: self.id,
            product_id: self.product,
            product_name: self.product_name,
            author: self.author,
            stars: self.stars,
            text: self.text,
            created_at_ms: self.created_at_ms,
            verified_buyer: true,
            hidden: self.hidden,
        }
    }
}

const SELECT: &str = "SELECT r.id, r.product_id, p.name, r.account_id, r.author, r.stars, \
                      r.body, r.created_at, r.hidden_at FROM reviews r \
                      JOIN products p ON p.id = r.product_id";

fn review(row: &sqlx::any::AnyRow) -> Result<Review, ReviewError> {
    let product: String = row.try_get(1)?;
    Ok(Review {
        id: row.try_get(0)?,
        product: ProductId::new(product).map_err(|e| {
            ReviewError::Store(StoreError::Corrupt(format!("review's product: {e}")))
        })?,
        product_name: row.try_get(2)?,
        account: vitrine_shared::AccountId(row.try_get::<i64, _>(3)? as u64),
        author: row.try_get(4)?,
        stars: row.try_get::<i64, _>(5)?.clamp(1, 5) as u8,
        text: row.try_get(6)?,
        created_at_ms: row.try_get(7)?,
        hidden: row.try_get::<Option<i64>, _>(8)?.is_some(),
    })
}

/// Checks a review's stars and text before anything is read: the text is
/// trimmed, and must fit and pass the filter.
pub fn check(stars: u8, text: &str, moderation: &Moderation) -> Result<String, ReviewError> {
    if !(1..=5).contains(&stars) {
        return Err(ReviewRefusal::Stars.into());
    }
    let text = text.trim();
    if text.chars().count() > MAX_REVIEW_CHARS {
        return Err(ReviewRefusal::TooLong.into());
    }
    // As chat's rule, with line breaks allowed: control characters break
    // the card and the console (and PostgreSQL refuses NUL); direction
    // overrides spoof what is shown.
    let forbidden = |c: char| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if text.chars().any(forbidden) {
        return Err(ReviewRefusal::BadCharacter.into());
    }
    if moderation.filter_blocks(text) {
        return Err(ReviewRefusal::Filtered.into());
    }
    Ok(text.to_owned())
}

pub struct Reviews {
    store: Store,
    moderation: Arc<Moderation>,
}

impl Reviews {
    pub fn new(store: Store, moderation: Arc<Moderation>) -> Reviews {
        Reviews { store, moderation }
    }

    /// `buyer` reviews `product`: refused unless an order of theirs holding
    /// it was delivered, and once they have reviewed it.
    pub async fn submit(
        &self,
        buyer: &Account,
        product: &ProductId,
        stars: u8,
        text: &str,
    ) -> Result<Review, ReviewError> {
        let text = check(stars, text, &self.moderation)?;
        let pool = self.store.pool();
        let name: Option<String> = sqlx::query("SELECT name FROM products WHERE id = $1")
            .bind(product.as_str())
            .fetch_optional(pool)
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
        let Some(product_name) = name else {
            return Err(ReviewRefusal::UnknownProduct.into());
        };
        // Every state an order holding the product reached, for this buyer:
        // delivered lets them review; paid or fulfilled means "not yet".
        let states: Vec<String> = sqlx::query(
            "SELECT DISTINCT o.status FROM orders o JOIN order_lines l ON l.order_id = o.id \
             JOIN variants v ON v.sku = l.sku WHERE o.account_id = $1 AND v.product_id = $2",
        )
        .bind(buyer.id.0 as i64)
        .bind(product.as_str())
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
        if !states.iter().any(|s| s == "delivered") {
            let on_its_way = states
                .iter()
                .any(|s| s == "pending" || s == "paid" || s == "fulfilled");
            return Err(if on_its_way {
                ReviewRefusal::NotDelivered
            } else {
                ReviewRefusal::NotBought
            }
            .into());
        }
        let review = Review {
            id: new_id(),
            product: product.clone(),
            product_name,
            account: buyer.id,
            author: buyer.name.to_string(),
            stars,
            text,
            created_at_ms: self.store.clock().now_ms(),
            hidden: false,
        };
        // The unique (product, account) pair decides a race between two
        // submissions: the second finds nothing inserted.
        let inserted = sqlx::query(
            "INSERT INTO reviews (id, product_id, account_id, author, stars, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (product_id, account_id) DO NOTHING",
        )
        .bind(review.id)
        .bind(product.as_str())
        .bind(buyer.id.0 as i64)
        .bind(review.author.clone())
        .bind(i64::from(stars))
        .bind(review.text.clone())
        .bind(review.created_at_ms)
        .execute(pool)
        .await?;
        if inserted.rows_affected() != 1 {
            return Err(ReviewRefusal::AlreadyReviewed.into());
        }
        tracing::info!(
            review = review.id,
            product = product.as_str(),
            stars,
            "review posted"
        );
        Ok(review)
    }

    /// A product's visible reviews: average, count and the latest.
    pub async fn summary(
        &self,
        product: &ProductId,
        viewer: Option<&Account>,
    ) -> Result<ReviewSummary, ReviewError> {
        let pool = self.store.pool();
        let exists = sqlx::query("SELECT 1 FROM products WHERE id = $1")
            .bind(product.as_str())
            .fetch_optional(pool)
            .await?
            .is_some();
        if !exists {
            return Err(ReviewRefusal::UnknownProduct.into());
        }
        let tally = self
            .tallies(Some(product))
            .await?
            .remove(product)
            .unwrap_or_default();
        let latest = sqlx::query(&format!(
            "{SELECT} WHERE r.product_id = $1 AND r.hidden_at IS NULL \
             ORDER BY r.created_at DESC, r.id DESC LIMIT $2"
        ))
        .bind(product.as_str())
        .bind(LATEST_SHOWN as i64)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| review(row).map(Review::view))
        .collect::<Result<_, _>>()?;
        let mine = match viewer {
            Some(who) => {
                sqlx::query("SELECT stars FROM reviews WHERE product_id = $1 AND account_id = $2")
                    .bind(product.as_str())
                    .bind(who.id.0 as i64)
                    .fetch_optional(pool)
                    .await?
                    .map(|row| row.try_get::<i64, _>(0))
                    .transpose()?
                    .and_then(|stars| u8::try_from(stars).ok())
            }
            None => None,
        };
        Ok(ReviewSummary {
            average: tally.average(),
            count: tally.count,
            latest,
            mine,
        })
    }

    /// Visible reviews counted per product (one product, or all).
    pub async fn tallies(
        &self,
        product: Option<&ProductId>,
    ) -> Result<HashMap<ProductId, ReviewTally>, ReviewError> {
        let query = match product {
            Some(p) => sqlx::query(
                "SELECT product_id, COUNT(*), CAST(SUM(stars) AS BIGINT) FROM reviews \
                 WHERE hidden_at IS NULL AND product_id = $1 GROUP BY product_id",
            )
            .bind(p.as_str()),
            None => sqlx::query(
                "SELECT product_id, COUNT(*), CAST(SUM(stars) AS BIGINT) FROM reviews \
                 WHERE hidden_at IS NULL GROUP BY product_id",
            ),
        };
        let mut out = HashMap::new();
        for row in query.fetch_all(self.store.pool()).await? {
            let id: String = row.try_get(0)?;
            let Ok(id) = ProductId::new(id) else { continue };
            out.insert(
                id,
                ReviewTally {
                    count: row.try_get::<i64, _>(1)? as u64,
                    stars_total: row.try_get::<i64, _>(2)? as u64,
                },
            );
        }
        Ok(out)
    }

    /// For staff: the newest reviews across products, hidden ones too.
    pub async fn newest(&self, limit: usize) -> Result<Vec<Review>, ReviewError> {
        sqlx::query(&format!(
            "{SELECT} ORDER BY r.created_at DESC, r.id DESC LIMIT $1"
        ))
        .bind(limit.clamp(1, MAX_LIST) as i64)
        .fetch_all(self.store.pool())
        .await?
        .iter()
        .map(review)
        .collect()
    }

    /// One review, hidden or not.
    pub async fn get(&self, id: i64) -> Result<Review, ReviewError> {
        let row = sqlx::query(&format!("{SELECT} WHERE r.id = $1"))
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?
            .ok_or(ReviewError::UnknownReview)?;
        review(&row)
    }

    /// Staff hide a review; the moderation log records who and why.
    pub async fn hide(
        &self,
        actor: &Account,
        id: i64,
        reason: &str,
    ) -> Result<Review, ReviewError> {
        // The request's own fault first, whatever it names.
        let reason = crate::moderation::check_reason(reason)
            .map_err(|e| ReviewError::Reason(e.to_string()))?;
        let review = self.get(id).await?;
        if review.hidden {
            return Err(ReviewError::AlreadyHidden);
        }
        let hid = self
            .moderation
            .hide_review(actor, &review, reason)
            .await
            .map_err(|e| match e {
                crate::moderation::ModerationError::Store(e) => ReviewError::Store(e),
                other => ReviewError::Reason(other.to_string()),
            })?;
        if !hid {
            return Err(ReviewError::AlreadyHidden);
        }
        Ok(Review {
            hidden: true,
            ..review
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::{DisplayName, Role};

    /// A product with one variant, and an order of it by `buyer` in
    /// `status`.
    async fn bought(store: &Store, product: &str, buyer: &Account, status: &str) {
        let pool = store.pool();
        sqlx::query(
            "INSERT INTO products (id, name, category, description, price_minor, currency, \
             model, position, updated_at) VALUES ($1, $2, 'home', 'A thing.', 1000, 'EUR', \
             'm.glb', 0, 0) ON CONFLICT (id) DO NOTHING",
        )
        .bind(product)
        .bind(format!("The {product}"))
        .execute(pool)
        .await
        .unwrap();
        let sku = format!("{product}-one");
        sqlx::query(
            "INSERT INTO variants (sku, product_id, options, price_minor, position, stock) \
             VALUES ($1, $2, '{}', 1000, 0, 5) ON CONFLICT (sku) DO NOTHING",
        )
        .bind(&sku)
        .bind(product)
        .execute(pool)
        .await
        .unwrap();
        let order: i64 = new_id();
        sqlx::query(
            "INSERT INTO orders (id, account_id, status, total_minor, currency, created_at, \
             updated_at) VALUES ($1, $2, $3, 1000, 'EUR', 0, 0)",
        )
        .bind(order)
        .bind(buyer.id.0 as i64)
        .bind(status)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO order_lines (order_id, sku, quantity, unit_price_minor) \
             VALUES ($1, $2, 1, 1000)",
        )
        .bind(order)
        .bind(&sku)
        .execute(pool)
        .await
        .unwrap();
    }

    fn id(raw: &str) -> ProductId {
        ProductId::new(raw).unwrap()
    }

    #[tokio::test]
    async fn only_a_delivered_buyer_reviews_once_and_staff_hide_it_with_a_log_entry() {
        for (store, _dir) in crate::store::tests::stores().await {
            let account = |name: &str, role| {
                let store = store.clone();
                let name = DisplayName::new(name).unwrap();
                async move { store.create_account(&name, role, "user").await.unwrap() }
            };
            let host = account("Hana", Role::Host).await;
            let ada = account("Ada", Role::Shopper).await;
            let bob = account("Bob", Role::Shopper).await;
            let cy = account("Cy", Role::Shopper).await;
            let (moderation, _rx) = Moderation::load(store.clone(), store.clock().clone())
                .await
                .unwrap();
            moderation
                .set_filter(&host, &["scam".to_owned()])
                .await
                .unwrap();
            let reviews = Reviews::new(store.clone(), moderation.clone());
            bought(&store, "mug", &ada, "delivered").await;
            bought(&store, "mug", &bob, "fulfilled").await;
            bought(&store, "lamp", &cy, "refunded").await;
            let mug = id("mug");

            // Refusals, each changing nothing.
            for (who, product, stars, text, want) in [
                (&ada, &mug, 0, "", "stars"),
                (&ada, &mug, 6, "", "stars"),
                (&ada, &mug, 5, "a total scam", "filtered"),
                (&ada, &id("nothing"), 5, "", "unknown"),
                (&bob, &mug, 5, "", "not delivered"),
                (&cy, &mug, 5, "", "not bought"),
                (&cy, &id("lamp"), 5, "", "not bought"),
            ] {
                let got = reviews.submit(who, product, stars, text).await.unwrap_err();
                let matched = match want {
                    "stars" => matches!(got, ReviewError::Refused(ReviewRefusal::Stars)),
                    "filtered" => matches!(got, ReviewError::Refused(ReviewRefusal::Filtered)),
                    "unknown" => matches!(got, ReviewError::Refused(ReviewRefusal::UnknownProduct)),
                    "not delivered" => {
                        matches!(got, ReviewError::Refused(ReviewRefusal::NotDelivered))
                    }
                    _ => matches!(got, ReviewError::Refused(ReviewRefusal::NotBought)),
                };
                assert!(matched, "{want}: got {got:?}");
            }
            let long = "x".repeat(MAX_REVIEW_CHARS + 1);
            assert!(matches!(
                reviews.submit(&ada, &mug, 4, &long).await,
                Err(ReviewError::Refused(ReviewRefusal::TooLong))
            ));
            assert_eq!(reviews.summary(&mug, None).await.unwrap().count, 0);

            // The delivered buyer reviews once; the text is trimmed.
            let posted = reviews
                .submit(&ada, &mug, 4, "  Lovely glaze.  ")
                .await
                .unwrap();
            assert_eq!(posted.text, "Lovely glaze.");
            assert!(matches!(
                reviews.submit(&ada, &mug, 5, "again").await,
                Err(ReviewError::Refused(ReviewRefusal::AlreadyReviewed))
            ));
            // Bob's order arrives: his review counts too.
            sqlx::query("UPDATE orders SET status = 'delivered' WHERE account_id = $1")
                .bind(bob.id.0 as i64)
                .execute(store.pool())
                .await
                .unwrap();
            reviews.submit(&bob, &mug, 5, "").await.unwrap();
            let summary = reviews.summary(&mug, None).await.unwrap();
            assert_eq!(summary.count, 2);
            // Each buyer is told their own stars; nobody else's.
            assert_eq!(summary.mine, None);
            assert_eq!(
                reviews.summary(&mug, Some(&ada)).await.unwrap().mine,
                Some(4)
            );
            assert_eq!(
                reviews.summary(&mug, Some(&bob)).await.unwrap().mine,
                Some(5)
            );
            assert_eq!(reviews.summary(&mug, Some(&host)).await.unwrap().mine, None);
            assert_eq!(summary.average, Some(4.5));
            let authors: Vec<&str> = summary.latest.iter().map(|r| r.author.as_str()).collect();
            assert!(authors.contains(&"Ada") && authors.contains(&"Bob"));
            assert!(summary.latest.iter().all(|r| r.verified_buyer));

            // Staff hide Bob's: gone from the summary and the tallies,
            // listed as hidden for staff, and logged.
            let bobs = summary.latest.iter().find(|r| r.author == "Bob").unwrap();
            let hidden = reviews.hide(&host, bobs.id, "off topic").await.unwrap();
            assert!(hidden.hidden);
            assert!(matches!(
                reviews.hide(&host, bobs.id, "").await,
                Err(ReviewError::AlreadyHidden)
            ));
            assert!(matches!(
                reviews.hide(&host, 12345, "").await,
                Err(ReviewError::UnknownReview)
            ));
            let summary = reviews.summary(&mug, Some(&bob)).await.unwrap();
            assert_eq!((summary.count, summary.average), (1, Some(4.0)));
            assert_eq!(summary.mine, Some(5), "hidden, still his");
            assert_eq!(
                reviews.tallies(None).await.unwrap()[&mug],
                ReviewTally {
                    count: 1,
                    stars_total: 4
                }
            );
            let newest = reviews.newest(10).await.unwrap();
            assert_eq!(newest.len(), 2);
            assert!(newest.iter().any(|r| r.author == "Bob" && r.hidden));
            let entry = &moderation.log(10, None).await.unwrap()[0];
            assert_eq!(entry.action, "hide_review");
            assert_eq!(entry.target, Some(bob.id));
            assert!(entry.details.ends_with(": off topic"), "{}", entry.details);
        }
    }
}
