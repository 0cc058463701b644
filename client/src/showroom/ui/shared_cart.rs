//! The party's shared cart as plain data: each line with who added it and
//! who pays, its hold countdown, the totals by payer and which checkouts
//! make sense. Built by [`build`] from the room mirror's `shared_cart`;
//! `view::build` puts it in [`CartView::shared`](super::view::CartView).

use super::UiAction;
use super::view::ViewButton;
use crate::net::RoomMirror;
use vitrine_shared::AccountId;
use vitrine_shared::protocol::{SharedCartLineNet, SharedLineId, SharedPayment};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SharedCartView {
    /// In the server's order (oldest line first).
    pub lines: Vec<SharedLineView>,
    pub total: Option<String>,
    /// "You pay 25.00 EUR", "Ada pays 3.00 EUR": you first.
    pub by_payer: Vec<String>,
    /// Some line is marked as yours: "Pay for mine" has something to pay.
    pub can_pay_mine: bool,
    /// The cart has lines: "Pay for everyone".
    pub can_pay_all: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SharedLineView {
    pub line: SharedLineId,
    pub name: String,
    pub quantity: i64,
    pub line_total: String,
    /// "added by Ada - you pay".
    pub who: String,
    /// This shopper pays for it (no "mine" button).
    pub mine: bool,
    /// Seconds the units stay reserved.
    pub held_for_s: i64,
}

impl SharedLineView {
    /// One fewer, one more, and "mine" while someone else pays for it.
    pub fn buttons(&self) -> Vec<ViewButton> {
        let q = self.quantity.clamp(0, u16::MAX as i64) as u16;
        let mut buttons = vec![
            ViewButton::new(
                "-",
                UiAction::SetSharedQuantity {
                    line: self.line,
                    quantity: q.saturating_sub(1),
                },
            ),
            ViewButton::new(
                "+",
                UiAction::SetSharedQuantity {
                    line: self.line,
                    quantity: q.saturating_add(1),
                },
            ),
        ];
        if !self.mine {
            buttons.push(ViewButton::new("mine", UiAction::MarkSharedMine(self.line)));
        }
        buttons
    }
}

impl SharedCartView {
    /// The checkouts that have something to pay.
    pub fn checkouts(&self) -> Vec<ViewButton> {
        let mut buttons = Vec::new();
        if self.can_pay_mine {
            buttons.push(ViewButton::new(
                "Pay for mine",
                UiAction::PaySharedCart(SharedPayment::Mine),
            ));
        }
        if self.can_pay_all {
            buttons.push(ViewButton::new(
                "Pay for everyone",
                UiAction::PaySharedCart(SharedPayment::Everyone),
            ));
        }
        buttons
    }
}

/// The shared cart, while the shopper is in a party (or still has its
/// cart): `None` otherwise.
pub fn build(mirror: Option<&RoomMirror>, now_ms: i64) -> Option<SharedCartView> {
    let m = mirror?;
    if m.party.party.is_none() && m.shared_cart.is_none() {
        return None;
    }
    let you = m.my_account();
    let Some(cart) = &m.shared_cart else {
        return Some(SharedCartView::default());
    };
    let who = |account: AccountId, name: &str| {
        if Some(account) == you {
            "you".to_owned()
        } else {
            name.to_owned()
        }
    };
    let lines = cart
        .lines
        .iter()
        .map(|l: &SharedCartLineNet| {
            let payer = who(l.payer, l.payer_name.as_str());
            let pays = if Some(l.payer) == you { "pay" } else { "pays" };
            SharedLineView {
                line: l.line,
                name: l.name.clone(),
                quantity: l.quantity,
                line_total: l
                    .unit_price
                    .checked_mul(l.quantity)
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
                who: format!(
                    "added by {} - {payer} {pays}",
                    who(l.added_by, l.added_by_name.as_str())
                ),
                mine: Some(l.payer) == you,
                held_for_s: (l.held_until_ms.saturating_sub(now_ms) / 1000).max(0),
            }
        })
        .collect();
    let mut by_payer: Vec<(bool, String)> = cart
        .by_payer
        .iter()
        .map(|(account, amount)| {
            if Some(*account) == you {
                (true, format!("You pay {amount}"))
            } else {
                let name = cart
                    .lines
                    .iter()
                    .find(|l| l.payer == *account)
                    .map(|l| l.payer_name.as_str().to_owned())
                    .unwrap_or_else(|| format!("Shopper {account}"));
                (false, format!("{name} pays {amount}"))
            }
        })
        .collect();
    // You first, then the others in the server's order.
    by_payer.sort_by_key(|(yours, _)| !*yours);
    Some(SharedCartView {
        lines,
        total: cart.total.map(|t| t.to_string()),
        can_pay_mine: you.is_some_and(|me| cart.by_payer.iter().any(|(a, _)| *a == me)),
        can_pay_all: !cart.lines.is_empty(),
        by_payer: by_payer.into_iter().map(|(_, s)| s).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::protocol::{
        CartGroupId, MemberInfo, PartyMemberNet, PartyNet, SharedCartChange, SharedCartNet,
        SharedPayment,
    };
    use vitrine_shared::{
        Currency, DisplayName, MemberSlot, Money, PartyId, PaymentMethod, ProductId, Role, Sku,
    };

    fn name(n: &str) -> DisplayName {
        DisplayName::new(n).unwrap()
    }

    /// Me (account 5) in a party with Ada (2).
    fn mirror() -> RoomMirror {
        let mut m = RoomMirror::default();
        m.you = Some(MemberSlot(1));
        m.members.insert(
            MemberSlot(1),
            MemberInfo {
                slot: MemberSlot(1),
                account: AccountId(5),
                name: name("Me"),
                role: Role::Shopper,
            },
        );
        m.party.party = Some(PartyNet {
            id: PartyId(4),
            leader: AccountId(2),
            members: [(2, "Ada"), (5, "Me")]
                .into_iter()
                .map(|(a, n)| PartyMemberNet {
                    account: AccountId(a),
                    name: name(n),
                    room: None,
                    colour: a as u8,
                    room_name: None,
                })
                .collect(),
            invited: vec![],
        });
        m
    }

    fn line(
        id: i64,
        added: (u64, &str),
        payer: (u64, &str),
        minor: i64,
        q: i64,
    ) -> SharedCartLineNet {
        SharedCartLineNet {
            line: SharedLineId(id),
            sku: Sku::new("mug-s").unwrap(),
            product: ProductId::new("mug").unwrap(),
            name: format!("Mug {id}"),
            unit_price: Money::new(minor, Currency::EUR),
            quantity: q,
            held_until_ms: 190_000,
            added_by: AccountId(added.0),
            added_by_name: name(added.1),
            payer: AccountId(payer.0),
            payer_name: name(payer.1),
        }
    }

    #[test]
    fn each_line_says_who_added_it_and_who_pays_and_totals_go_by_payer() {
        let mut m = mirror();
        m.shared_cart = Some(SharedCartNet::new(
            CartGroupId(3),
            SharedCartChange::Updated,
            vec![
                line(1, (2, "Ada"), (5, "Me"), 1000, 2),
                line(2, (5, "Me"), (2, "Ada"), 250, 1),
                line(3, (2, "Ada"), (2, "Ada"), 100, 3),
            ],
        ));
        let v = build(Some(&m), 100_000).expect("in a party");
        let who: Vec<_> = v.lines.iter().map(|l| (l.who.as_str(), l.mine)).collect();
        assert_eq!(
            who,
            [
                ("added by Ada - you pay", true),
                ("added by you - Ada pays", false),
                ("added by Ada - Ada pays", false)
            ]
        );
        assert_eq!(v.lines[0].line_total, "20.00 EUR");
        assert_eq!(v.lines[0].held_for_s, 90);
        // You first, whatever the accounts' order.
        assert_eq!(v.by_payer, ["You pay 20.00 EUR", "Ada pays 5.50 EUR"]);
        assert_eq!(v.total.as_deref(), Some("25.50 EUR"));
        assert!(v.can_pay_mine && v.can_pay_all);
        // What "Pay for mine" sends is what the shopper is shown.
        let mine = m
            .shared_checkout(
                7,
                SharedPayment::Mine,
                PaymentMethod::new("4242 4242 4242 4242").unwrap(),
            )
            .unwrap();
        assert_eq!(mine.shown.to_string(), "20.00 EUR");
    }

    #[test]
    fn nothing_marked_yours_leaves_only_paying_for_everyone_and_no_party_no_cart() {
        let mut m = mirror();
        // In a party with no shared cart heard yet: an empty section.
        let empty = build(Some(&m), 0).unwrap();
        assert!(empty.lines.is_empty() && !empty.can_pay_mine && !empty.can_pay_all);
        m.shared_cart = Some(SharedCartNet::new(
            CartGroupId(3),
            SharedCartChange::Updated,
            vec![line(1, (2, "Ada"), (2, "Ada"), 1000, 1)],
        ));
        let v = build(Some(&m), 0).unwrap();
        assert!(!v.can_pay_mine && v.can_pay_all);
        assert_eq!(v.by_payer, ["Ada pays 10.00 EUR"]);
        // Out of the party and its cart ended: no section.
        m.party.party = None;
        m.shared_cart = None;
        assert_eq!(build(Some(&m), 0), None);
        assert_eq!(build(None, 0), None);
    }

    #[test]
    fn each_line_offers_less_more_and_mine_and_the_checkouts_what_can_be_paid() {
        let mut m = mirror();
        m.shared_cart = Some(SharedCartNet::new(
            CartGroupId(3),
            SharedCartChange::Updated,
            vec![
                line(1, (2, "Ada"), (5, "Me"), 1000, 2),
                line(2, (5, "Me"), (2, "Ada"), 250, 1),
            ],
        ));
        let v = build(Some(&m), 0).unwrap();
        let actions = |l: &SharedLineView| -> Vec<(String, UiAction)> {
            l.buttons()
                .into_iter()
                .map(|b| (b.label, b.action))
                .collect()
        };
        let set = |line, quantity| UiAction::SetSharedQuantity {
            line: SharedLineId(line),
            quantity,
        };
        // Mine already: no "mine".
        assert_eq!(
            actions(&v.lines[0]),
            [("-".to_owned(), set(1, 1)), ("+".to_owned(), set(1, 3))]
        );
        assert_eq!(
            actions(&v.lines[1]),
            [
                ("-".to_owned(), set(2, 0)),
                ("+".to_owned(), set(2, 2)),
                ("mine".to_owned(), UiAction::MarkSharedMine(SharedLineId(2))),
            ]
        );
        let pays = |v: &SharedCartView| -> Vec<UiAction> {
            v.checkouts().into_iter().map(|b| b.action).collect()
        };
        assert_eq!(
            pays(&v),
            [
                UiAction::PaySharedCart(SharedPayment::Mine),
                UiAction::PaySharedCart(SharedPayment::Everyone)
            ]
        );
        // Nothing of mine: only everyone's; nothing at all: neither.
        m.shared_cart = Some(SharedCartNet::new(
            CartGroupId(3),
            SharedCartChange::Updated,
            vec![line(2, (5, "Me"), (2, "Ada"), 250, 1)],
        ));
        let v = build(Some(&m), 0).unwrap();
        assert_eq!(pays(&v), [UiAction::PaySharedCart(SharedPayment::Everyone)]);
        m.shared_cart = None;
        assert_eq!(pays(&build(Some(&m), 0).unwrap()), []);
    }
}
