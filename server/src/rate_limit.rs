//! Token buckets for chat, reactions and HTTP, and the bounded map that
//! keeps them per client. Time is passed in, so the ECS can drive them from
//! its clock and tests from a manual one.

use crate::config::RateConfig;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// Keys a [`Buckets`] map holds at most.
pub const MAX_TRACKED: usize = 100_000;

/// One token bucket per key (a client address, an account), for at most
/// [`MAX_TRACKED`] keys: past that the least recently used bucket goes. A
/// spray of fresh addresses then evicts only buckets nobody is using (a
/// bucket left alone refills to full, so forgetting it changes nothing
/// once it has been idle for `burst / per_second`), never a busy one.
#[derive(Debug)]
pub struct Buckets<K>(Lru<K, TokenBucket>);

impl<K: Hash + Eq + Clone> Default for Buckets<K> {
    fn default() -> Self {
        Buckets::with_capacity(MAX_TRACKED)
    }
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    pub fn with_capacity(capacity: usize) -> Self {
        Buckets(Lru::new(capacity))
    }

    pub fn try_take(&mut self, key: K, rate: RateConfig, now: Duration) -> Result<(), Duration> {
        self.0
            .get_or_insert_with(key, || TokenBucket::new(rate, now))
            .try_take(now)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The key a client address is limited under: an IPv4 address as it is
/// (also when it comes mapped into IPv6), an IPv6 address by its /64, the
/// block one host or home is given, so that one machine cannot take a
/// fresh bucket per address.
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & !(u128::MAX >> vitrine_shared::limits::fair::IPV6_NETWORK_BITS),
            )),
        },
    }
}

/// A map that holds at most `capacity` entries: past it, the least
/// recently used goes. Every read through it counts as a use.
#[derive(Debug)]
pub struct Lru<K, V> {
    map: HashMap<K, (V, u64)>,
    /// Last use → key, oldest first.
    order: BTreeMap<u64, K>,
    next: u64,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    pub fn new(capacity: usize) -> Self {
        Lru {
            map: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
            capacity: capacity.max(1),
        }
    }

    fn stamp(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// The entry for `key`, made by `make` if there is none (dropping the
    /// least recently used if full); either way it is now the newest.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let stamp = self.stamp();
        if let Some((_, used)) = self.map.get_mut(&key) {
            self.order.remove(used);
            *used = stamp;
        } else {
            if self.map.len() >= self.capacity
                && let Some((_, oldest)) = self.order.pop_first()
            {
                self.map.remove(&oldest);
            }
            self.map.insert(key.clone(), (make(), stamp));
        }
        self.order.insert(stamp, key.clone());
        &mut self.map.get_mut(&key).expect("just inserted").0
    }

    /// The entry for `key`, if any, now the newest.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let stamp = self.stamp();
        let (value, used) = self.map.get_mut(key)?;
        let owned = self
            .order
            .remove(used)
            .expect("every entry is in the order");
        *used = stamp;
        self.order.insert(stamp, owned);
        Some(value)
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (value, used) = self.map.remove(key)?;
        self.order.remove(&used);
        Some(value)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: RateConfig,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket at time `now`.
    pub fn new(rate: RateConfig, now: Duration) -> Self {
        TokenBucket {
            rate,
            tokens: rate.burst as f64,
            last: now,
        }
    }

    /// Takes one token, or says how long until one is available.
    pub fn try_take(&mut self, now: Duration) -> Result<(), Duration> {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate.per_second).min(self.rate.burst as f64);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.rate.per_second;
            Err(Duration::from_secs_f64(wait))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: RateConfig = RateConfig {
        per_second: 20.0,
        burst: 100,
    };

    /// A victim who keeps coming back keeps its (empty) bucket while an
    /// attacker sprays twice as many addresses as the map holds: the spray
    /// cannot buy the victim, or anyone in use, a fresh burst.
    #[test]
    fn spraying_addresses_does_not_refill_a_bucket_in_use() {
        let mut buckets = Buckets::default();
        let now = Duration::from_secs(100);
        let victim = ip_key("203.0.113.7".parse().unwrap());
        while buckets.try_take(victim, RATE, now).is_ok() {}
        for i in 0..200_000u32 {
            let sprayed = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = buckets.try_take(ip_key(sprayed), RATE, now);
            if i % 10_000 == 0 {
                assert!(
                    buckets.try_take(victim, RATE, now).is_err(),
                    "the victim's empty bucket was refilled after {i} sprayed addresses"
                );
            }
        }
        assert!(buckets.try_take(victim, RATE, now).is_err());
        assert_eq!(buckets.len(), MAX_TRACKED, "bounded, and full");
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let mut lru = Lru::new(3);
        for k in ["a", "b", "c"] {
            lru.get_or_insert_with(k, || 0);
        }
        *lru.get_or_insert_with("a", || 0) += 1; // a is now the newest
        assert!(lru.get_mut("b").is_some()); // then b
        lru.get_or_insert_with("d", || 0); // c goes
        assert!(lru.get_mut("c").is_none());
        assert_eq!(lru.len(), 3);
        assert_eq!(lru.get_mut("a").copied(), Some(1)); // b, d, a
        lru.get_or_insert_with("e", || 0); // b goes
        assert!(lru.get_mut("b").is_none());
        assert_eq!(lru.remove("d"), Some(0));
        assert_eq!(lru.len(), 2);
    }

    /// An IPv6 host has a /64 to itself: each of its addresses draws from
    /// one bucket, another /64 from its own. IPv4 in IPv6 is IPv4.
    #[test]
    fn ipv6_addresses_in_one_slash_64_share_a_bucket() {
        let mut buckets = Buckets::default();
        let now = Duration::from_secs(100);
        let rate = RateConfig {
            per_second: 1.0,
            burst: 2,
        };
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(buckets.try_take(ip_key(a), rate, now).is_ok());
        assert!(buckets.try_take(ip_key(b), rate, now).is_ok());
        assert!(
            buckets.try_take(ip_key(a), rate, now).is_err(),
            "a's share spent by b"
        );
        assert!(buckets.try_take(ip_key(b), rate, now).is_err());
        assert!(buckets.try_take(ip_key(other), rate, now).is_ok());
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v4_next: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(ip_key(mapped), ip_key(v4));
        assert_ne!(ip_key(v4), ip_key(v4_next), "IPv4 is per address");
    }

    #[test]
    fn allows_a_burst_then_the_sustained_rate() {
        let rate = RateConfig {
            per_second: 1.0,
            burst: 5,
        };
        let t0 = Duration::from_secs(100);
        let mut bucket = TokenBucket::new(rate, t0);
        for _ in 0..5 {
            assert!(bucket.try_take(t0).is_ok());
        }
        let wait = bucket.try_take(t0).unwrap_err();
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-9);
        assert!(bucket.try_take(t0 + Duration::from_millis(500)).is_err());
        assert!(bucket.try_take(t0 + Duration::from_millis(1000)).is_ok());
        // A long quiet spell refills only up to the burst.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..5 {
            assert!(bucket.try_take(later).is_ok());
        }
        assert!(bucket.try_take(later).is_err());
    }
}
