//! A group's shared cart on the wire: the commands a member sends from the
//! room, and the whole cart every member is sent after each change. The
//! group is a party; membership is the server's to know, so no command
//! names a group or a member: the sender is the transport's.

use crate::ids::AccountId;
use crate::money::Money;
use crate::validated::{DisplayName, PaymentMethod, ProductId, Sku};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The group a shared cart belongs to (a party's id). Transparent on the
/// wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CartGroupId(pub u64);

impl fmt::Display for CartGroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One line of a shared cart, numbered by the server. Two members' lines of
/// the same variant are two lines, so each shows who added it and who pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SharedLineId(pub i64);

impl fmt::Display for SharedLineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a member does to their group's shared cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SharedCartCommand {
    /// Adds units of a variant to the sender's own line of it (added and
    /// paid by the sender), reserving them for the hold.
    Add { sku: Sku, quantity: u16 },
    /// Sets any line's quantity; 0 removes the line and frees its units.
    SetQuantity { line: SharedLineId, quantity: u16 },
    /// The sender will pay for this line.
    MarkMine { line: SharedLineId },
    /// Pays for the lines marked as the sender's, or for every line.
    Checkout(SharedCheckoutCommand),
}

/// A shared checkout. As for [`CheckoutCommand`](super::CheckoutCommand),
/// the same `request_id` again answers the same order; the answer comes as
/// [`CommerceEventNet::CheckoutDone`](super::CommerceEventNet::CheckoutDone)
/// or `CheckoutFailed` under that id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedCheckoutCommand {
    pub request_id: u32,
    pub pays_for: SharedPayment,
    pub payment: PaymentMethod,
    /// What the payer was shown for `pays_for` ([`SharedCartNet::to_pay`]).
    /// Other members change the cart too: if the lines cost anything else
    /// when the server prices them, nothing is charged and the answer is
    /// [`ShopRefusal::CartChanged`](super::ShopRefusal::CartChanged).
    pub shown: Money,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SharedPayment {
    /// The lines marked as the sender's.
    Mine,
    /// Every line in the cart, whoever it is marked for.
    Everyone,
}

/// Why the shared cart is being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SharedCartChange {
    /// On joining a room or the group: the cart as it is.
    Current,
    /// A member changed it.
    Updated,
    /// Lines whose hold ran out were removed and their units released.
    Expired,
    /// Some lines became a member's order.
    CheckedOut,
    /// A member's payment failed: their lines are back in the cart.
    Restored,
    /// The group ended: every line is gone and its units are back in stock.
    Ended,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedCartLineNet {
    pub line: SharedLineId,
    pub sku: Sku,
    pub product: ProductId,
    pub name: String,
    /// The variant's price now; checkout charges the price at that moment.
    pub unit_price: Money,
    pub quantity: i64,
    /// Unix milliseconds: the units are released then unless checked out.
    pub held_until_ms: i64,
    pub added_by: AccountId,
    pub added_by_name: DisplayName,
    /// Who will pay for the line: the adder until a member marks it theirs.
    pub payer: AccountId,
    pub payer_name: DisplayName,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedCartNet {
    pub group: CartGroupId,
    pub change: SharedCartChange,
    pub lines: Vec<SharedCartLineNet>,
    /// What the lines cost now (`None` while the cart is empty).
    pub total: Option<Money>,
    /// What each payer's lines cost now, by account.
    pub by_payer: Vec<(AccountId, Money)>,
}

impl SharedCartNet {
    /// The cart with its totals worked out from its lines (all in one
    /// currency: the server refuses a line in another).
    pub fn new(
        group: CartGroupId,
        change: SharedCartChange,
        lines: Vec<SharedCartLineNet>,
    ) -> Self {
        let cost = |l: &SharedCartLineNet| {
            Money::new(l.unit_price.minor * l.quantity, l.unit_price.currency)
        };
        let mut by_payer: Vec<(AccountId, Money)> = Vec::new();
        for line in &lines {
            let c = cost(line);
            match by_payer.iter_mut().find(|(a, _)| *a == line.payer) {
                Some((_, m)) => m.minor += c.minor,
                None => by_payer.push((line.payer, c)),
            }
        }
        by_payer.sort_by_key(|(a, _)| *a);
        let total = lines.first().map(|first| {
            Money::new(
                lines.iter().map(|l| cost(l).minor).sum(),
                first.unit_price.currency,
            )
        });
        SharedCartNet {
            group,
            change,
            lines,
            total,
            by_payer,
        }
    }

    /// What `payer` is asked to pay for `pays_for`, as this cart stands:
    /// the total a checkout names in [`SharedCheckoutCommand::shown`].
    /// `None` when there is nothing to pay for.
    pub fn to_pay(&self, payer: AccountId, pays_for: SharedPayment) -> Option<Money> {
        match pays_for {
            SharedPayment::Everyone => self.total,
            SharedPayment::Mine => self
                .by_payer
                .iter()
                .find(|(a, _)| *a == payer)
                .map(|(_, m)| *m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn line(id: i64, payer: u64, minor: i64, quantity: i64) -> SharedCartLineNet {
        SharedCartLineNet {
            line: SharedLineId(id),
            sku: Sku::new("stoneware-mug-sage").unwrap(),
            product: ProductId::new("stoneware-mug").unwrap(),
            name: "Mug".into(),
            unit_price: Money::new(minor, Currency::EUR),
            quantity,
            held_until_ms: 1,
            added_by: AccountId(payer),
            added_by_name: DisplayName::new("Ada").unwrap(),
            payer: AccountId(payer),
            payer_name: DisplayName::new("Ada").unwrap(),
        }
    }

    #[test]
    fn totals_add_up_by_payer() {
        let cart = SharedCartNet::new(
            CartGroupId(7),
            SharedCartChange::Updated,
            vec![line(1, 2, 800, 3), line(2, 1, 150, 2), line(3, 2, 100, 1)],
        );
        assert_eq!(cart.total, Some(Money::new(2800, Currency::EUR)));
        assert_eq!(
            cart.by_payer,
            [
                (AccountId(1), Money::new(300, Currency::EUR)),
                (AccountId(2), Money::new(2500, Currency::EUR))
            ]
        );
        assert_eq!(
            (
                cart.to_pay(AccountId(2), SharedPayment::Mine),
                cart.to_pay(AccountId(1), SharedPayment::Everyone),
                cart.to_pay(AccountId(3), SharedPayment::Mine),
            ),
            (
                Some(Money::new(2500, Currency::EUR)),
                Some(Money::new(2800, Currency::EUR)),
                None
            )
        );
        let empty = SharedCartNet::new(CartGroupId(7), SharedCartChange::Ended, vec![]);
        assert_eq!((empty.total, empty.by_payer.len()), (None, 0));
    }
}
