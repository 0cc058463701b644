//! Fair limits. A guest account costs one `POST /api/v1/sessions`, so a
//! per-buyer limit that counted each guest alone would be one loop away
//! from meaningless. A guest records the network it was created from (an
//! IPv4 address, or an IPv6 /64), each network may create so many guests a
//! day, and every guest from one network shares ONE per-buyer count for
//! flash-sale claims and coupon uses. A registered account (made by staff)
//! counts alone.
//!
//! The commerce engine keys its counts by [`Shopper`]; it learns each
//! account's shopper from the store (an account's network never changes,
//! so it caches them) and rebuilds its counts through the same mapping
//! after a restart.

use crate::store::{Store, StoreError};
use sqlx::Row;
use std::collections::HashMap;
use std::net::IpAddr;
use vitrine_shared::AccountId;
use vitrine_shared::limits::fair::IPV6_NETWORK_BITS;

/// The network a request came from: an IPv4 address as it is, an IPv6
/// address by its /64 (a home or an office is given a /64 or more, so its
/// addresses are one network). An IPv4 address mapped into IPv6 is IPv4.
pub fn network_of(ip: IpAddr) -> String {
    // The rate limiter's key: one place decides what a network is.
    match crate::rate_limit::ip_key(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(prefix) => format!("{prefix}/{IPV6_NETWORK_BITS}"),
    }
}

/// Who a per-buyer limit counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Shopper {
    /// A registered account, or a guest made before networks were
    /// recorded: itself alone.
    Account(AccountId),
    /// Every guest created from this network, together.
    Network(String),
}

impl Shopper {
    /// From an account's row: its kind (`guest`, `registered`) and network.
    pub fn of(account: AccountId, kind: Option<&str>, network: Option<String>) -> Shopper {
        match (kind, network) {
            (Some("guest"), Some(network)) => Shopper::Network(network),
            _ => Shopper::Account(account),
        }
    }
}

/// Ids bound in one query: far below either backend's limit on parameters.
const CHUNK: usize = 500;

/// The shoppers of `accounts`; an account the store does not know counts
/// alone.
pub async fn shoppers(
    store: &Store,
    accounts: &[AccountId],
) -> Result<HashMap<AccountId, Shopper>, StoreError> {
    let mut found: HashMap<AccountId, Shopper> = accounts
        .iter()
        .map(|a| (*a, Shopper::Account(*a)))
        .collect();
    for chunk in accounts.chunks(CHUNK) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, kind, network FROM accounts WHERE id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for account in chunk {
            query = query.bind(account.0 as i64);
        }
        for row in query.fetch_all(store.pool()).await? {
            let account = AccountId(row.try_get::<i64, _>(0)? as u64);
            let kind: String = row.try_get(1)?;
            let network: Option<String> = row.try_get(2)?;
            found.insert(account, Shopper::of(account, Some(&kind), network));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_is_an_ipv4_address_or_an_ipv6_slash_64() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(network_of(v4), "203.0.113.7");
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(network_of(mapped), "203.0.113.7");
        let a: IpAddr = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network_of(a), "2001:db8:1:2::/64");
        assert_eq!(network_of(a), network_of(b), "one /64 is one network");
        assert_ne!(network_of(a), network_of(c));
    }

    #[test]
    fn guests_count_by_network_and_the_rest_alone() {
        let ada = AccountId(1);
        let net = Some("198.51.100.4".to_owned());
        assert_eq!(
            Shopper::of(ada, Some("guest"), net.clone()),
            Shopper::Network("198.51.100.4".into())
        );
        assert_eq!(
            Shopper::of(ada, Some("registered"), net),
            Shopper::Account(ada)
        );
        assert_eq!(Shopper::of(ada, Some("guest"), None), Shopper::Account(ada));
        assert_eq!(Shopper::of(ada, None, None), Shopper::Account(ada));
    }
}
