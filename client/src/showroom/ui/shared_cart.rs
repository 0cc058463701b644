//! The party's shared cart as plain data: each line with who added it and
//! who pays, its hold countdown, the totals by payer and which checkouts
//! make sense. Built by [`build`] from the room mirror's `shared_cart`;
//! `view::build` puts it in [`CartView::shared`](super::view::CartView).

use crate::net::RoomMirror;
use vitrine_shared::AccountId;
use vitrine_shared::protocol::{SharedCartLineNet, SharedLineId};

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
