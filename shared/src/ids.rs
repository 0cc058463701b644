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

/// Integer ids the server issues from its database rows. Each is its own
/// type so a sale id cannot be passed where an order id is meant; on the
/// wire (postcard and JSON) each is exactly its `i64`.
macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The database's integer.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl From<i64> for $name {
            fn from(value: i64) -> Self {
                $name(value)
            }
        }

        impl From<$name> for i64 {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        /// Path segments such as `/orders/{id}` parse with this.
        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        // The schema is the integer's, so the API document is unchanged.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <i64 as utoipa::PartialSchema>::schema()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

row_id!(
    /// A flash sale.
    SaleId
);
row_id!(
    /// An order (from a flash-sale claim, a cart checkout or a buy-now).
    OrderId
);
impl OrderId {
    /// How a shopper reads an order, as the console shows it: `#` and the
    /// last six characters of the id ("#117321"), which the console's
    /// search takes. Not unique over a shop's history; the whole id is.
    pub fn reference(self) -> String {
        let digits = self.0.to_string();
        format!("#{}", &digits[digits.len().saturating_sub(6)..])
    }
}

row_id!(
    /// A poll in a show.
    PollId
);
row_id!(
    /// A shopper's question in a show's Q&A.
    QuestionId
);
row_id!(
    /// A giveaway in a show.
    GiveawayId
);
row_id!(
    /// A show: scheduled, live or ended.
    ShowId
);
row_id!(
    /// A group deal (team purchase) on a variant.
    DealId
);
row_id!(
    /// A team of a group deal.
    TeamId
);

/// A party (friends shopping together). Parties live in the server's
/// memory only: a counter, not a database row. Membership is checked on
/// the server, so knowing a party's id grants nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PartyId(pub u64);

impl fmt::Display for PartyId {
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
    #[test]
    fn row_ids_encode_exactly_as_their_integer() {
        for raw in [0_i64, 1, -1, 300, i64::MAX, i64::MIN] {
            let id = OrderId(raw);
            assert_eq!(
                postcard::to_allocvec(&id).unwrap(),
                postcard::to_allocvec(&raw).unwrap()
            );
            assert_eq!(serde_json::to_string(&id).unwrap(), raw.to_string());
            let back: SaleId = postcard::from_bytes(&postcard::to_allocvec(&raw).unwrap()).unwrap();
            assert_eq!(back, SaleId(raw));
            let back: PollId = serde_json::from_str(&raw.to_string()).unwrap();
            assert_eq!(back, PollId(raw));
        }
        assert_eq!("42".parse::<ShowId>(), Ok(ShowId(42)));
        assert!("4x".parse::<GiveawayId>().is_err());
        assert_eq!(QuestionId(7).to_string(), "7");
    }

    #[test]
    fn an_order_reads_as_its_last_six_digits() {
        assert_eq!(OrderId(1_733_518_204_117_321).reference(), "#117321");
        assert_eq!(OrderId(1_000_042).reference(), "#000042");
        assert_eq!(OrderId(42).reference(), "#42");
    }
}
