//! Whom a buyer's per-buyer limits count (`crate::fair`): the engine learns
//! it from the store once per account and keeps it, since an account's
//! network never changes.

use super::CommerceError;
use super::engine::Engine;
use crate::fair::{self, Shopper};
use vitrine_shared::AccountId;

/// Accounts remembered at most; past it the cache starts again (it is only
/// a cache: the store has every answer).
const MAX_REMEMBERED: usize = 100_000;

impl Engine {
    /// Learns the shoppers of `accounts` not known yet, in one query. On a
    /// store error they stay unknown, and their claims are refused as
    /// `Storage`, selling nothing.
    pub(super) async fn learn_shoppers(&mut self, accounts: &[AccountId]) {
        let mut unknown: Vec<AccountId> = accounts
            .iter()
            .filter(|a| !self.shoppers.contains_key(a))
            .copied()
            .collect();
        unknown.sort_unstable_by_key(|a| a.0);
        unknown.dedup();
        if unknown.is_empty() {
            return;
        }
        if self.shoppers.len() + unknown.len() > MAX_REMEMBERED {
            self.shoppers.clear();
        }
        match fair::shoppers(&self.store, &unknown).await {
            Ok(found) => self.shoppers.extend(found),
            Err(e) => tracing::error!(%e, "could not read whom buyers count as"),
        }
    }

    /// Whom `buyer` counts as for per-buyer limits.
    pub(super) async fn shopper(&mut self, buyer: AccountId) -> Result<Shopper, CommerceError> {
        self.learn_shoppers(&[buyer]).await;
        self.shoppers
            .get(&buyer)
            .cloned()
            .ok_or(CommerceError::Storage)
    }
}
