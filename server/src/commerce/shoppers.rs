//! Whom a buyer's per-buyer limits count (`crate::fair`): the engine learns
//! it from the store once per account and keeps it, since an account's
//! network never changes.

use super::CommerceError;
use super::engine::Engine;
use crate::fair::{self, Shopper};
use std::collections::HashMap;
use vitrine_shared::AccountId;

/// Accounts remembered at most; past it the cache starts again (it is only
/// a cache: the store has every answer).
const MAX_REMEMBERED: usize = 100_000;

impl Engine {
    /// Learns the shoppers of `accounts` not known yet, in one query. On a
    /// store error they stay unknown, and their claims are refused as
    /// `Storage`, selling nothing.
    pub(super) async fn learn_shoppers(&mut self, accounts: &[AccountId]) {
        let unknown = to_learn(&mut self.shoppers, accounts, MAX_REMEMBERED);
        if unknown.is_empty() {
            return;
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

/// The accounts of `accounts` that `cache` does not know, making room
/// first: past `max`, the cache starts again.
fn to_learn(
    cache: &mut HashMap<AccountId, Shopper>,
    accounts: &[AccountId],
    max: usize,
) -> Vec<AccountId> {
    let unknown = |cache: &HashMap<AccountId, Shopper>| {
        let mut unknown: Vec<AccountId> = accounts
            .iter()
            .filter(|a| !cache.contains_key(a))
            .copied()
            .collect();
        unknown.sort_unstable_by_key(|a| a.0);
        unknown.dedup();
        unknown
    };
    let first = unknown(cache);
    if first.is_empty() || cache.len() + first.len() <= max {
        return first;
    }
    // Cleared, the cache no longer knows the batch's other buyers either:
    // they are read again with the new ones.
    cache.clear();
    unknown(cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch that overflows the cache is learnt whole: the buyers it
    /// already knew are read again, not lost with the rest of the cache.
    #[test]
    fn a_full_cache_starts_again_without_losing_the_batch() {
        let ids = |ns: &[u64]| ns.iter().map(|&n| AccountId(n)).collect::<Vec<_>>();
        let mut cache: HashMap<AccountId, Shopper> = ids(&[1, 2, 3])
            .into_iter()
            .map(|a| (a, Shopper::Account(a)))
            .collect();
        // Nothing new: nothing to read, nothing dropped.
        assert!(to_learn(&mut cache, &ids(&[1, 3]), 3).is_empty());
        assert_eq!(cache.len(), 3);
        let learn = to_learn(&mut cache, &ids(&[4, 1, 4]), 3);
        let known = |cache: &HashMap<AccountId, Shopper>, a: &AccountId| cache.contains_key(a);
        assert!(
            ids(&[4, 1])
                .iter()
                .all(|a| learn.contains(a) || known(&cache, a)),
            "every buyer of the batch is known or read: {learn:?}, {cache:?}"
        );
    }
}
