//! Identifiers and roles.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A durable account (guest or registered). Issued by the server only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountId(pub u64);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A member's short handle inside one room, assigned at join. Snapshots name
/// avatars by slot rather than by account id: one varint byte instead of eight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MemberSlot(pub u16);

/// What a member may do. Carried in the connect token, never in a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[repr(u8)]
pub enum Role {
    #[default]
    Shopper = 0,
    Host = 1,
    CoHost = 2,
    Moderator = 3,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Shopper, Role::Host, Role::CoHost, Role::Moderator];

    pub fn from_u8(value: u8) -> Option<Role> {
        Self::ALL.into_iter().find(|role| *role as u8 == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Shopper => "shopper",
            Role::Host => "host",
            Role::CoHost => "co-host",
            Role::Moderator => "moderator",
        }
    }

    /// Staff run the show (host, co-host, moderator).
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Shopper)
    }

    /// Hosts and co-hosts: the catalog, sales, coupons, shows, giveaways.
    pub fn runs_shows(self) -> bool {
        matches!(self, Role::Host | Role::CoHost)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_round_trips_through_u8() {
        for role in Role::ALL {
            assert_eq!(Role::from_u8(role as u8), Some(role));
        }
        assert_eq!(Role::from_u8(200), None);
    }
}
