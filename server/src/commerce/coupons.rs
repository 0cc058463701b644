//! Coupons: a percentage or a fixed amount off an order, with a minimum
//! order, caps on redemptions in all and per buyer, and a validity window.
//! The host may pin one in the show. Redemptions are counted when an order
//! is made and given back when it is cancelled, so a declined card does not
//! use up a shopper's coupon.

use super::CommerceError;
use super::engine::Engine;
use crate::fair::Shopper;
use crate::store::{Store, StoreError};
use sqlx::Row;
use std::collections::HashMap;
use vitrine_shared::{AccountId, CouponCode, Currency, Money};

use vitrine_shared::limits::commerce::{
    MAX_AMOUNT_OFF_MINOR as MAX_AMOUNT_OFF, MAX_COUPON_PER_BUYER, MAX_COUPON_REDEMPTIONS,
    MAX_COUPON_WINDOW_MS, MAX_PERCENT_OFF,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// 1 to [`MAX_PERCENT_OFF`] percent of the order's lines.
    Percent(i64),
    /// A fixed amount, in the coupon's currency.
    Amount(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    pub code: CouponCode,
    pub discount: Discount,
    pub currency: Currency,
    pub min_order_minor: i64,
    /// Redemptions in all; `None` for no cap.
    pub max_redemptions: Option<i64>,
    pub per_buyer_limit: i64,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
}

/// A coupon with its use so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponInfo {
    pub coupon: Coupon,
    pub redeemed: i64,
    pub pinned: bool,
}

impl Coupon {
    /// The rules a host's coupon must follow.
    pub fn check(&self, now: i64) -> Result<(), CommerceError> {
        let invalid = |m: &str| Err(CommerceError::InvalidCoupon(m.to_owned()));
        match self.discount {
            Discount::Percent(p) if !(1..=MAX_PERCENT_OFF).contains(&p) => {
                return invalid(&format!("percent_off must be 1 to {MAX_PERCENT_OFF}"));
            }
            Discount::Amount(a) if !(1..=MAX_AMOUNT_OFF).contains(&a) => {
                return invalid(&format!("amount_off_minor must be 1 to {MAX_AMOUNT_OFF}"));
            }
            _ => {}
        }
        if !(0..=MAX_AMOUNT_OFF).contains(&self.min_order_minor) {
            return invalid(&format!("min_order_minor must be 0 to {MAX_AMOUNT_OFF}"));
        }
        if self
            .max_redemptions
            .is_some_and(|m| !(1..=MAX_COUPON_REDEMPTIONS).contains(&m))
        {
            return invalid(&format!(
                "max_redemptions must be 1 to {MAX_COUPON_REDEMPTIONS}"
            ));
        }
        if !(1..=MAX_COUPON_PER_BUYER).contains(&self.per_buyer_limit) {
            return invalid(&format!(
                "per_buyer_limit must be 1 to {MAX_COUPON_PER_BUYER}"
            ));
        }
        if self.ends_at_ms <= self.starts_at_ms || self.ends_at_ms <= now {
            return invalid("ends_at_ms must be after starts_at_ms and in the future");
        }
        if self.ends_at_ms - self.starts_at_ms > MAX_COUPON_WINDOW_MS {
            return invalid(&format!(
                "a coupon is valid for at most {} days",
                MAX_COUPON_WINDOW_MS / (24 * 3600 * 1000)
            ));
        }
        Ok(())
    }

    pub fn is_active(&self, now: i64) -> bool {
        (self.starts_at_ms..self.ends_at_ms).contains(&now)
    }

    /// What the coupon takes off `subtotal`, never more than all of it.
    /// Percentages round down to the minor unit.
    pub fn discount_on(&self, subtotal: Money) -> i64 {
        let off = match self.discount {
            Discount::Percent(p) => vitrine_shared::money::percent_of(subtotal.minor, p),
            Discount::Amount(a) => a,
        };
        off.clamp(0, subtotal.minor.max(0))
    }
}

/// A coupon in the engine's memory.
pub(super) struct CouponState {
    pub coupon: Coupon,
    pub redeemed: i64,
    /// Uses per buyer, counted by [`Shopper`]: guests from one network
    /// together (`crate::fair`).
    pub by_buyer: HashMap<Shopper, i64>,
    /// The one account that may use it (a coupon bought with points);
    /// `None`: anyone.
    pub bound_to: Option<AccountId>,
}

impl CouponState {
    pub fn info(&self, pinned: &Option<CouponCode>) -> CouponInfo {
        CouponInfo {
            coupon: self.coupon.clone(),
            redeemed: self.redeemed,
            pinned: pinned.as_ref() == Some(&self.coupon.code),
        }
    }

    /// Whether `buyer` (counted as `shopper`) may take the coupon off
    /// `subtotal` now; the discount if so.
    pub fn redeemable(
        &self,
        buyer: AccountId,
        shopper: &Shopper,
        subtotal: Money,
        now: i64,
    ) -> Result<i64, CommerceError> {
        let c = &self.coupon;
        if self.bound_to.is_some_and(|owner| owner != buyer) {
            return Err(CommerceError::CouponNotYours);
        }
        if !c.is_active(now) {
            return Err(CommerceError::CouponNotActive);
        }
        if subtotal.currency != c.currency {
            return Err(CommerceError::CurrencyMismatch);
        }
        if subtotal.minor < c.min_order_minor {
            return Err(CommerceError::CouponMinimum {
                min: Money::new(c.min_order_minor, c.currency),
            });
        }
        if c.max_redemptions.is_some_and(|m| self.redeemed >= m) {
            return Err(CommerceError::CouponUsedUp);
        }
        if self.by_buyer.get(shopper).copied().unwrap_or(0) >= c.per_buyer_limit {
            return Err(CommerceError::CouponLimitReached);
        }
        Ok(c.discount_on(subtotal))
    }

    pub fn redeem(&mut self, shopper: Shopper, times: i64) {
        self.redeemed += times;
        *self.by_buyer.entry(shopper).or_default() += times;
    }
}

impl Engine {
    /// Creates a coupon; one `bound_to` an account may be used by it alone.
    pub(super) async fn create_coupon(
        &mut self,
        by: AccountId,
        coupon: Coupon,
        bound_to: Option<AccountId>,
    ) -> Result<CouponInfo, CommerceError> {
        coupon.check(self.clock.now_ms())?;
        if self.coupons.contains_key(&coupon.code) {
            return Err(CommerceError::CouponExists);
        }
        insert(&self.store, &coupon, by, bound_to)
            .await
            .map_err(|e| {
                tracing::error!(%e, "coupon not created");
                CommerceError::Storage
            })?;
        tracing::info!(code = %coupon.code, "coupon created");
        let state = CouponState {
            coupon: coupon.clone(),
            redeemed: 0,
            by_buyer: HashMap::new(),
            bound_to,
        };
        let info = state.info(&self.pinned);
        self.coupons.insert(coupon.code, state);
        Ok(info)
    }

    pub(super) fn coupon_info(&self, code: &CouponCode) -> Option<CouponInfo> {
        self.coupons.get(code).map(|c| c.info(&self.pinned))
    }

    /// Pins a coupon that has not ended, or unpins; announces either.
    pub(super) async fn pin_coupon(
        &mut self,
        code: Option<CouponCode>,
    ) -> Result<Option<CouponInfo>, CommerceError> {
        if let Some(code) = &code {
            let coupon = self.coupons.get(code).ok_or(CommerceError::UnknownCoupon)?;
            if coupon.coupon.ends_at_ms <= self.clock.now_ms() {
                return Err(CommerceError::CouponNotActive);
            }
        }
        set_pinned(&self.store, code.as_ref()).await.map_err(|e| {
            tracing::error!(%e, "pin not recorded");
            CommerceError::Storage
        })?;
        self.pinned = code;
        let info = self.pinned.as_ref().and_then(|c| self.coupon_info(c));
        let _ = self
            .events
            .send(super::CommerceEvent::CouponPinned(info.clone()));
        Ok(info)
    }

    /// A pinned coupon that has ended comes down by itself.
    pub(super) async fn unpin_ended(&mut self, now: i64) {
        let ended = self
            .pinned
            .as_ref()
            .and_then(|code| self.coupons.get(code))
            .is_some_and(|c| c.coupon.ends_at_ms <= now);
        if ended && self.pin_coupon(None).await.is_ok() {
            tracing::info!("the pinned coupon ended and was unpinned");
        }
    }
}

async fn insert(
    store: &Store,
    c: &Coupon,
    by: AccountId,
    bound_to: Option<AccountId>,
) -> Result<(), StoreError> {
    let (kind, amount) = match c.discount {
        Discount::Percent(p) => ("percent", p),
        Discount::Amount(a) => ("amount", a),
    };
    sqlx::query(
        "INSERT INTO coupons (code, kind, amount, currency, min_order_minor, max_redemptions, \
         per_buyer_limit, starts_at, ends_at, pinned_at, created_by, created_at, bound_to) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, $11, $12)",
    )
    .bind(c.code.as_str())
    .bind(kind)
    .bind(amount)
    .bind(c.currency.as_str())
    .bind(c.min_order_minor)
    .bind(c.max_redemptions)
    .bind(c.per_buyer_limit)
    .bind(c.starts_at_ms)
    .bind(c.ends_at_ms)
    .bind(by.0 as i64)
    .bind(store.clock().now_ms())
    .bind(bound_to.map(|a| a.0 as i64))
    .execute(store.pool())
    .await?;
    Ok(())
}

async fn set_pinned(store: &Store, code: Option<&CouponCode>) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    sqlx::query("UPDATE coupons SET pinned_at = NULL WHERE pinned_at IS NOT NULL")
        .execute(&mut *tx)
        .await?;
    if let Some(code) = code {
        sqlx::query("UPDATE coupons SET pinned_at = $1 WHERE code = $2")
            .bind(store.clock().now_ms())
            .bind(code.as_str())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Every coupon with its redemptions (orders not cancelled), and the pinned
/// one, for the engine's start.
pub(super) async fn load(
    store: &Store,
) -> Result<(HashMap<CouponCode, CouponState>, Option<CouponCode>), StoreError> {
    let rows = sqlx::query(
        "SELECT code, kind, amount, currency, min_order_minor, max_redemptions, per_buyer_limit, \
         starts_at, ends_at, pinned_at, bound_to FROM coupons ORDER BY pinned_at",
    )
    .fetch_all(store.pool())
    .await?;
    let mut coupons = HashMap::new();
    let mut pinned = None;
    for row in rows {
        let code = CouponCode::new(row.try_get::<String, _>(0)?).map_err(corrupt)?;
        let amount: i64 = row.try_get(2)?;
        let discount = match row.try_get::<String, _>(1)?.as_str() {
            "percent" => Discount::Percent(amount),
            "amount" => Discount::Amount(amount),
            other => return Err(corrupt(format!("coupon kind {other}"))),
        };
        if row.try_get::<Option<i64>, _>(9)?.is_some() {
            pinned = Some(code.clone());
        }
        let coupon = Coupon {
            code: code.clone(),
            discount,
            currency: Currency::new(&row.try_get::<String, _>(3)?).map_err(corrupt)?,
            min_order_minor: row.try_get(4)?,
            max_redemptions: row.try_get(5)?,
            per_buyer_limit: row.try_get(6)?,
            starts_at_ms: row.try_get(7)?,
            ends_at_ms: row.try_get(8)?,
        };
        coupons.insert(
            code,
            CouponState {
                coupon,
                redeemed: 0,
                by_buyer: HashMap::new(),
                bound_to: row
                    .try_get::<Option<i64>, _>(10)?
                    .map(|a| AccountId(a as u64)),
            },
        );
    }
    // Uses by shopper (`crate::fair`): guests from one network together.
    let uses = sqlx::query(
        "SELECT o.coupon_code, o.account_id, a.kind, a.network, COUNT(*) FROM orders o \
         LEFT JOIN accounts a ON a.id = o.account_id \
         WHERE o.coupon_code IS NOT NULL AND o.status <> 'cancelled' \
         GROUP BY o.coupon_code, o.account_id, a.kind, a.network",
    )
    .fetch_all(store.pool())
    .await?;
    for row in uses {
        let code = CouponCode::new(row.try_get::<String, _>(0)?).map_err(corrupt)?;
        let buyer = AccountId(row.try_get::<i64, _>(1)? as u64);
        let kind: Option<String> = row.try_get(2)?;
        let shopper = Shopper::of(buyer, kind.as_deref(), row.try_get(3)?);
        if let Some(state) = coupons.get_mut(&code) {
            state.redeem(shopper, row.try_get(4)?);
        }
    }
    Ok((coupons, pinned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coupon(discount: Discount, min: i64) -> Coupon {
        Coupon {
            code: CouponCode::new("LIVE10").unwrap(),
            discount,
            currency: Currency::EUR,
            min_order_minor: min,
            max_redemptions: Some(2),
            per_buyer_limit: 1,
            starts_at_ms: 1_000,
            ends_at_ms: 2_000,
        }
    }

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }

    #[test]
    fn discounts_round_down_and_never_exceed_the_order() {
        assert_eq!(coupon(Discount::Percent(10), 0).discount_on(eur(2499)), 249);
        assert_eq!(
            coupon(Discount::Percent(100), 0).discount_on(eur(2499)),
            2499
        );
        assert_eq!(coupon(Discount::Amount(500), 0).discount_on(eur(2499)), 500);
        assert_eq!(
            coupon(Discount::Amount(5000), 0).discount_on(eur(2499)),
            2499
        );
        // No overflow on absurd totals.
        assert_eq!(
            coupon(Discount::Percent(50), 0).discount_on(eur(i64::MAX)),
            i64::MAX / 2
        );
    }

    #[test]
    fn window_minimum_and_caps_are_enforced() {
        let mut state = CouponState {
            coupon: coupon(Discount::Percent(10), 2000),
            redeemed: 0,
            by_buyer: HashMap::new(),
            bound_to: None,
        };
        let (ada, bob, cy) = (AccountId(1), AccountId(2), AccountId(3));
        let shopper = Shopper::Account;
        assert_eq!(
            state.redeemable(ada, &shopper(ada), eur(3000), 999),
            Err(CommerceError::CouponNotActive)
        );
        assert_eq!(
            state.redeemable(ada, &shopper(ada), eur(3000), 2000),
            Err(CommerceError::CouponNotActive),
            "the end is exclusive"
        );
        assert_eq!(
            state.redeemable(ada, &shopper(ada), eur(1999), 1500),
            Err(CommerceError::CouponMinimum { min: eur(2000) })
        );
        assert_eq!(
            state.redeemable(
                ada,
                &shopper(ada),
                Money::new(3000, Currency::new("USD").unwrap()),
                1500
            ),
            Err(CommerceError::CurrencyMismatch)
        );
        assert_eq!(
            state.redeemable(ada, &shopper(ada), eur(3000), 1500),
            Ok(300)
        );
        state.redeem(shopper(ada), 1);
        assert_eq!(
            state.redeemable(ada, &shopper(ada), eur(3000), 1500),
            Err(CommerceError::CouponLimitReached)
        );
        state.redeem(shopper(bob), 1);
        assert_eq!(
            state.redeemable(cy, &shopper(cy), eur(3000), 1500),
            Err(CommerceError::CouponUsedUp)
        );
    }

    #[test]
    fn hosts_cannot_make_nonsense_coupons() {
        let now = 1_500;
        assert!(coupon(Discount::Percent(10), 0).check(now).is_ok());
        let bad = [
            coupon(Discount::Percent(0), 0),
            coupon(Discount::Percent(101), 0),
            coupon(Discount::Amount(0), 0),
            coupon(Discount::Amount(-5), 0),
            coupon(Discount::Percent(10), -1),
            Coupon {
                per_buyer_limit: 0,
                ..coupon(Discount::Percent(10), 0)
            },
            Coupon {
                max_redemptions: Some(0),
                ..coupon(Discount::Percent(10), 0)
            },
            Coupon {
                ends_at_ms: 1_000,
                ..coupon(Discount::Percent(10), 0)
            },
            Coupon {
                ends_at_ms: MAX_COUPON_WINDOW_MS + 2_000,
                ..coupon(Discount::Percent(10), 0)
            },
        ];
        for c in bad {
            assert!(
                matches!(c.check(now), Err(CommerceError::InvalidCoupon(_))),
                "{c:?}"
            );
        }
        // Already over.
        assert!(coupon(Discount::Percent(10), 0).check(3_000).is_err());
    }
}
