//! The step before any payment: what is bought (names and variants, not
//! SKUs), the coupon (the pinned one applied with one tap, the discount
//! shown), the card and the total, and one more tap to pay. Nothing reaches
//! the server until "Pay": *Buy now* and *Checkout* only open this.

use super::super::catalog::CatalogProduct;
use super::view::{Confirmation, ViewButton, variant_name};
use super::{SAVED_CARD, UiAction};
use crate::net::RoomMirror;
use vitrine_shared::api::{CouponView, MoneyView};
use vitrine_shared::protocol::{CouponNet, DiscountNet, Purchase, ShopRefusal};
use vitrine_shared::{CouponCode, Currency, Money};

/// The order being reviewed (local: the server has heard nothing yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub items: Purchase,
    /// The coupon the shopper applied.
    pub coupon: Option<CouponCode>,
    /// The code being typed, while its box is open (desktop).
    pub draft: Option<String>,
}

impl Review {
    pub fn of(items: Purchase) -> Review {
        Review {
            items,
            coupon: None,
            draft: None,
        }
    }
}

/// A typed code's terms, asked of the server (`GET /api/v1/coupons/{code}`):
/// only the pinned coupon's come with the room.
#[derive(Debug, Clone, PartialEq)]
pub enum CouponLookup {
    Asking,
    Found(CouponNet),
    /// No such coupon, or it is not valid now, in words.
    Refused(String),
}

/// Typed codes looked up this session.
pub type CouponLookups = std::collections::BTreeMap<CouponCode, CouponLookup>;

/// A coupon as the API shows it, as the room would: its terms, or why it
/// cannot be used now.
pub fn from_view(view: &CouponView, now_ms: i64) -> CouponLookup {
    let money = |m: &MoneyView| Some(Money::new(m.minor, Currency::new(&m.currency).ok()?));
    let (Ok(code), Some(min_order)) = (CouponCode::new(&view.code), money(&view.min_order)) else {
        return CouponLookup::Refused("the server answered with a coupon it cannot read".into());
    };
    let discount = match (view.percent_off, &view.amount_off) {
        (Some(p), _) => u8::try_from(p).ok().map(DiscountNet::Percent),
        (None, Some(a)) => money(a).map(DiscountNet::Amount),
        (None, None) => None,
    };
    let Some(discount) = discount else {
        return CouponLookup::Refused("the server answered with a coupon it cannot read".into());
    };
    if !(view.starts_at_ms..view.ends_at_ms).contains(&now_ms) {
        return CouponLookup::Refused(ShopRefusal::CouponNotActive.to_string());
    }
    CouponLookup::Found(CouponNet {
        code,
        discount,
        min_order,
        ends_at_ms: view.ends_at_ms,
        remaining: view.max_redemptions.map(|m| (m - view.redeemed).max(0)),
    })
}

/// The card as a shopper recognises it: "card ending 4242".
pub fn card_words() -> String {
    let digits: String = SAVED_CARD.chars().filter(char::is_ascii_digit).collect();
    format!("card ending {}", &digits[digits.len().saturating_sub(4)..])
}

/// What a coupon gives, in words: "10% off", "5.00 EUR off".
pub fn coupon_terms(coupon: &CouponNet) -> String {
    match coupon.discount {
        DiscountNet::Percent(p) => format!("{p}% off"),
        DiscountNet::Amount(a) => format!("{a} off"),
    }
}

/// One line of the order: (quantity, name with variant, unit price).
type Line = (i64, String, Money);

fn lines(review: &Review, mirror: &RoomMirror, catalog: &[CatalogProduct]) -> Vec<Line> {
    match &review.items {
        Purchase::BuyNow { sku, quantity } => catalog
            .iter()
            .flat_map(|p| &p.view.variants)
            .find(|v| &v.sku == sku)
            .and_then(|v| {
                let currency = Currency::new(&v.price.currency).ok()?;
                Some(vec![(
                    i64::from(*quantity),
                    variant_name(catalog, sku),
                    Money::new(v.price.minor, currency),
                )])
            })
            .unwrap_or_default(),
        Purchase::Cart => mirror
            .cart
            .iter()
            .map(|l| {
                // The catalog names the variant; the cart line only the product.
                let name = variant_name(catalog, &l.sku);
                let name = if name == l.sku.as_str() {
                    l.name.clone()
                } else {
                    name
                };
                (l.quantity, name, l.unit_price)
            })
            .collect(),
    }
}

/// The order priced as the server will price it.
struct Priced<'a> {
    lines: Vec<Line>,
    subtotal: Money,
    /// The pinned coupon, while it runs.
    pinned: Option<&'a CouponNet>,
    /// The applied coupon: what it takes off, or why it is not taken
    /// (`None` inside: its terms are still being asked for).
    coupon: Option<(CouponCode, Option<Result<(Money, String), String>>)>,
}

impl Priced<'_> {
    fn discount(&self) -> Money {
        match &self.coupon {
            Some((_, Some(Ok((off, _))))) => *off,
            _ => Money::new(0, self.subtotal.currency),
        }
    }
}

fn price<'a>(
    review: &Review,
    lookups: &CouponLookups,
    mirror: &'a RoomMirror,
    catalog: &[CatalogProduct],
    now_ms: i64,
) -> Option<Priced<'a>> {
    let lines = lines(review, mirror, catalog);
    let currency = lines.first()?.2.currency;
    let subtotal = lines.iter().try_fold(Money::new(0, currency), |sum, l| {
        sum.checked_add(l.2.checked_mul(l.0).ok()?).ok()
    })?;
    let pinned = mirror
        .pinned_coupon
        .as_ref()
        .filter(|c| c.ends_at_ms > now_ms);
    let coupon = review.coupon.as_ref().map(|code| {
        let terms = match (pinned.filter(|c| &c.code == code), lookups.get(code)) {
            (Some(coupon), _) | (None, Some(CouponLookup::Found(coupon))) => Ok(coupon),
            (None, Some(CouponLookup::Asking)) => return (code.clone(), None),
            (None, Some(CouponLookup::Refused(why))) => Err(why.clone()),
            // Applied from the pin, and unpinned since: nothing says what
            // it gives.
            (None, None) => Err("it is no longer offered".into()),
        };
        let outcome = terms.and_then(|coupon| {
            coupon
                .preview(subtotal, now_ms)
                .map(|off| (off, coupon_terms(coupon)))
                .map_err(|why| why.to_string())
        });
        (code.clone(), Some(outcome))
    });
    Some(Priced {
        lines,
        subtotal,
        pinned,
        coupon,
    })
}

/// The review as the confirmation panel shows it, `None` when there is
/// nothing to pay for (an empty cart, a product gone from the catalog).
pub fn build(
    review: &Review,
    lookups: &CouponLookups,
    mirror: &RoomMirror,
    catalog: &[CatalogProduct],
    now_ms: i64,
) -> Option<Confirmation> {
    let priced = price(review, lookups, mirror, catalog, now_ms)?;
    let mut text: Vec<String> = priced
        .lines
        .iter()
        .map(|(quantity, name, unit)| format!("{quantity} x {name}  {unit}"))
        .collect();
    if priced.lines.len() > 1 {
        text.push(format!("Subtotal {}", priced.subtotal));
    }
    let mut buttons = Vec::new();
    let mut asking = false;
    match (&priced.coupon, priced.pinned) {
        (Some((code, outcome)), _) => {
            text.push(match outcome {
                Some(Ok((off, terms))) => format!("Coupon {code} ({terms}) -{off}"),
                Some(Err(why)) => format!("Coupon {code} not applied: {why}"),
                None => {
                    asking = true;
                    format!("Coupon {code}: checking...")
                }
            });
            buttons.push(ViewButton::new(
                "Remove coupon",
                UiAction::ApplyCoupon(None),
            ));
        }
        (None, pinned) => {
            // The pinned coupon, then those known here: bought with points
            // or typed before.
            let known = lookups.values().filter_map(|l| match l {
                CouponLookup::Found(c) if pinned.is_none_or(|p| p.code != c.code) => Some(c),
                _ => None,
            });
            for coupon in pinned.into_iter().chain(known) {
                if coupon.ends_at_ms > now_ms {
                    buttons.push(ViewButton::new(
                        format!("Apply {} ({})", coupon.code, coupon_terms(coupon)),
                        UiAction::ApplyCoupon(Some(coupon.code.clone())),
                    ));
                }
            }
        }
    }
    if priced.coupon.is_none() {
        buttons.push(ViewButton::new("Enter a code", UiAction::TypeCoupon));
    }
    if let Some(draft) = &review.draft {
        text.push(format!("Code: {draft}_  (Enter applies, Esc closes)"));
    }
    // The discount is never more than the subtotal (`CouponNet::preview`).
    let total = Money::new(
        priced
            .subtotal
            .minor
            .saturating_sub(priced.discount().minor),
        priced.subtotal.currency,
    );
    text.push(format!("Total {total}"));
    text.push(format!("Paid with your {}", card_words()));
    // No paying while a coupon's terms are unknown: the total would not be
    // the one shown.
    if !asking {
        buttons.push(ViewButton::new(format!("Pay {total}"), UiAction::Pay));
    }
    buttons.push(ViewButton::new("Cancel", UiAction::CancelReview).with_key("Esc"));
    Some(Confirmation {
        title: "Review your order".into(),
        lines: text,
        ok: true,
        buttons,
    })
}

/// The coupon a payment sends: the applied one, only while the review
/// shows it taken off, so that what is paid is what was shown.
pub fn coupon_to_send(
    review: &Review,
    lookups: &CouponLookups,
    mirror: &RoomMirror,
    catalog: &[CatalogProduct],
    now_ms: i64,
) -> Option<CouponCode> {
    match price(review, lookups, mirror, catalog, now_ms)?.coupon? {
        (code, Some(Ok(_))) => Some(code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::view::tests::{eur, mirror, product};
    use super::super::{UiState, shop_command};
    use super::*;
    use vitrine_shared::protocol::{CartLineNet, CheckoutCommand};
    use vitrine_shared::{ProductId, RoomCommand, Sku};

    const NOW: i64 = 100_000;

    fn sku(s: &str) -> Sku {
        Sku::new(s).unwrap()
    }

    fn pinned(discount: DiscountNet, min_minor: i64) -> CouponNet {
        CouponNet {
            code: CouponCode::new("SPRING10").unwrap(),
            discount,
            min_order: eur(min_minor),
            ends_at_ms: NOW + 60_000,
            remaining: None,
        }
    }

    fn labels(c: &Confirmation) -> Vec<&str> {
        c.buttons.iter().map(|b| b.label.as_str()).collect()
    }

    #[test]
    fn buying_now_shows_the_variant_total_and_card_before_anything_is_sent() {
        let catalog = [product("mug", &[("mug-s", 4), ("mug-l", 2)])];
        let m = mirror();
        let mut ui = UiState::default();
        let buy = UiAction::BuyNow { sku: sku("mug-l") };
        assert_eq!(shop_command(&buy, &mut ui, Some(&m), &catalog), None);
        let review = ui.local.review.clone().expect("a review");
        let shown = build(&review, &CouponLookups::new(), &m, &catalog, NOW).expect("shown");
        assert_eq!(shown.title, "Review your order");
        assert_eq!(
            shown.lines,
            [
                "1 x The mug, MUG-L  24.90 EUR",
                "Total 24.90 EUR",
                "Paid with your card ending 4242"
            ]
        );
        // Nothing pinned: nothing to apply.
        assert_eq!(labels(&shown), ["Enter a code", "Pay 24.90 EUR", "Cancel"]);
        // Cancel sends nothing and closes it.
        assert_eq!(
            shop_command(&UiAction::CancelReview, &mut ui, Some(&m), &catalog),
            None
        );
        assert_eq!(ui.local.review, None);
        // Pay sends the purchase reviewed, once.
        shop_command(&buy, &mut ui, Some(&m), &catalog);
        let Some(RoomCommand::Checkout(CheckoutCommand {
            request_id,
            items,
            coupon,
            ..
        })) = shop_command(&UiAction::Pay, &mut ui, Some(&m), &catalog)
        else {
            panic!("Pay sends a checkout");
        };
        assert_eq!(
            (items, coupon),
            (
                Purchase::BuyNow {
                    sku: sku("mug-l"),
                    quantity: 1
                },
                None
            )
        );
        assert_eq!(ui.local.checkout, Some(request_id));
        assert_eq!(ui.local.review, None);
        assert_eq!(
            shop_command(&UiAction::Pay, &mut ui, Some(&m), &catalog),
            None
        );
    }

    #[test]
    fn the_pinned_coupon_applies_with_one_tap_and_the_discount_shows_before_paying() {
        let catalog = [product("mug", &[("mug-s", 4)])];
        let mut m = mirror();
        // Valid whenever this runs: Pay reads the real clock.
        m.pinned_coupon = Some(CouponNet {
            ends_at_ms: i64::MAX,
            ..pinned(DiscountNet::Percent(10), 0)
        });
        let mut ui = UiState::default();
        shop_command(
            &UiAction::BuyNow { sku: sku("mug-s") },
            &mut ui,
            Some(&m),
            &catalog,
        );
        let shown = build(
            ui.local.review.as_ref().unwrap(),
            &CouponLookups::new(),
            &m,
            &catalog,
            NOW,
        )
        .unwrap();
        assert_eq!(
            labels(&shown),
            [
                "Apply SPRING10 (10% off)",
                "Enter a code",
                "Pay 24.90 EUR",
                "Cancel"
            ]
        );
        let apply = shown.buttons[0].action.clone();
        assert_eq!(shop_command(&apply, &mut ui, Some(&m), &catalog), None);
        let shown = build(
            ui.local.review.as_ref().unwrap(),
            &CouponLookups::new(),
            &m,
            &catalog,
            NOW,
        )
        .unwrap();
        // 10% of 24.90 rounds down to 2.49, as the server prices it.
        assert!(
            shown
                .lines
                .contains(&"Coupon SPRING10 (10% off) -2.49 EUR".to_owned())
        );
        assert!(shown.lines.contains(&"Total 22.41 EUR".to_owned()));
        assert_eq!(labels(&shown), ["Remove coupon", "Pay 22.41 EUR", "Cancel"]);
        let Some(RoomCommand::Checkout(paid)) =
            shop_command(&UiAction::Pay, &mut ui, Some(&m), &catalog)
        else {
            panic!("Pay sends a checkout");
        };
        assert_eq!(paid.coupon.as_ref().map(|c| c.as_str()), Some("SPRING10"));
    }

    #[test]
    fn a_coupon_that_does_not_fit_is_shown_not_applied_and_not_sent() {
        let catalog = [product("mug", &[("mug-s", 4)])];
        let mut m = mirror();
        m.pinned_coupon = Some(pinned(DiscountNet::Amount(eur(500)), 5000));
        let review = Review {
            items: Purchase::BuyNow {
                sku: sku("mug-s"),
                quantity: 1,
            },
            coupon: Some(CouponCode::new("SPRING10").unwrap()),
            draft: None,
        };
        let shown = build(&review, &CouponLookups::new(), &m, &catalog, NOW).unwrap();
        assert!(
            shown.lines.contains(
                &"Coupon SPRING10 not applied: this coupon needs an order of at least 50.00 EUR"
                    .to_owned()
            ),
            "{:?}",
            shown.lines
        );
        assert!(shown.lines.contains(&"Total 24.90 EUR".to_owned()));
        assert_eq!(
            coupon_to_send(&review, &CouponLookups::new(), &m, &catalog, NOW),
            None
        );
        // Ended, or unpinned: not sent either.
        m.pinned_coupon = Some(pinned(DiscountNet::Amount(eur(500)), 0));
        assert!(coupon_to_send(&review, &CouponLookups::new(), &m, &catalog, NOW).is_some());
        assert_eq!(
            coupon_to_send(&review, &CouponLookups::new(), &m, &catalog, NOW + 60_000),
            None
        );
        m.pinned_coupon = None;
        assert_eq!(
            coupon_to_send(&review, &CouponLookups::new(), &m, &catalog, NOW),
            None
        );
        let shown = build(&review, &CouponLookups::new(), &m, &catalog, NOW).unwrap();
        assert!(
            shown
                .lines
                .contains(&"Coupon SPRING10 not applied: it is no longer offered".to_owned())
        );
    }

    #[test]
    fn the_cart_is_reviewed_line_by_line_and_an_empty_one_is_not() {
        let catalog = [
            product("mug", &[("mug-s", 4), ("mug-l", 2)]),
            product("tote", &[("tote-one", 9)]),
        ];
        let mut m = mirror();
        let mut ui = UiState::default();
        assert_eq!(
            shop_command(&UiAction::Checkout, &mut ui, Some(&m), &catalog),
            None
        );
        assert_eq!(ui.local.review, None);
        assert_eq!(ui.local.notice.as_deref(), Some("Your cart is empty"));
        for (s, product, quantity) in [("mug-s", "mug", 2), ("tote-one", "tote", 1)] {
            m.cart.push(CartLineNet {
                sku: sku(s),
                product: ProductId::new(product).unwrap(),
                name: format!("The {product}"),
                unit_price: eur(1000),
                quantity,
                held_until_ms: NOW + 600_000,
            });
        }
        shop_command(&UiAction::Checkout, &mut ui, Some(&m), &catalog);
        let shown = build(
            ui.local.review.as_ref().unwrap(),
            &CouponLookups::new(),
            &m,
            &catalog,
            NOW,
        )
        .unwrap();
        assert_eq!(
            shown.lines[..4],
            [
                "2 x The mug, MUG-S  10.00 EUR",
                "1 x The tote  10.00 EUR",
                "Subtotal 30.00 EUR",
                "Total 30.00 EUR"
            ]
        );
        // A product gone from the catalog and the room: nothing to review.
        let gone = Review {
            items: Purchase::BuyNow {
                sku: sku("nope-1"),
                quantity: 1,
            },
            coupon: None,
            draft: None,
        };
        assert_eq!(build(&gone, &CouponLookups::new(), &m, &catalog, NOW), None);
    }

    #[test]
    fn a_typed_code_is_checked_with_the_server_before_it_is_taken_off() {
        let catalog = [product("mug", &[("mug-s", 4)])];
        let m = mirror();
        let mut ui = UiState::default();
        shop_command(
            &UiAction::BuyNow { sku: sku("mug-s") },
            &mut ui,
            Some(&m),
            &catalog,
        );
        shop_command(&UiAction::TypeCoupon, &mut ui, Some(&m), &catalog);
        assert_eq!(ui.local.review.as_ref().unwrap().draft.as_deref(), Some(""));
        // Not a code: refused in words, the box stays open.
        shop_command(
            &UiAction::ApplyCouponCode("no way!".into()),
            &mut ui,
            Some(&m),
            &catalog,
        );
        assert!(
            ui.local
                .notice
                .as_deref()
                .unwrap()
                .starts_with("Not a coupon code")
        );
        assert_eq!(ui.local.review.as_ref().unwrap().coupon, None);
        shop_command(
            &UiAction::ApplyCouponCode(" welcome5 ".into()),
            &mut ui,
            Some(&m),
            &catalog,
        );
        let review = ui.local.review.clone().unwrap();
        let code = CouponCode::new("WELCOME5").unwrap();
        assert_eq!(
            (&review.coupon, &review.draft),
            (&Some(code.clone()), &None)
        );
        // While the server is asked: no Pay, and a stray Pay sends nothing.
        let mut lookups = CouponLookups::new();
        lookups.insert(code.clone(), CouponLookup::Asking);
        ui.local.coupons = lookups.clone();
        let shown = build(&review, &lookups, &m, &catalog, NOW).unwrap();
        assert!(
            shown
                .lines
                .contains(&"Coupon WELCOME5: checking...".to_owned())
        );
        assert_eq!(labels(&shown), ["Remove coupon", "Cancel"]);
        assert_eq!(
            shop_command(&UiAction::Pay, &mut ui, Some(&m), &catalog),
            None
        );
        assert!(ui.local.review.is_some());
        // Found: taken off, and sent.
        let view = CouponView {
            code: "WELCOME5".into(),
            percent_off: None,
            amount_off: Some(eur(500).into()),
            min_order: eur(0).into(),
            max_redemptions: Some(10),
            per_buyer_limit: 1,
            redeemed: 3,
            starts_at_ms: 0,
            ends_at_ms: NOW + 1,
            pinned: false,
        };
        let found = from_view(&view, NOW);
        assert!(matches!(&found, CouponLookup::Found(c) if c.remaining == Some(7)));
        lookups.insert(code.clone(), found);
        let shown = build(&review, &lookups, &m, &catalog, NOW).unwrap();
        assert!(
            shown
                .lines
                .contains(&"Coupon WELCOME5 (5.00 EUR off) -5.00 EUR".to_owned())
        );
        assert!(shown.lines.contains(&"Total 19.90 EUR".to_owned()));
        assert_eq!(
            coupon_to_send(&review, &lookups, &m, &catalog, NOW),
            Some(code.clone())
        );
        // Not yet valid, ended, or unknown to the server: not applied.
        for (starts, ends) in [(NOW + 1, NOW + 2), (0, NOW)] {
            let view = CouponView {
                starts_at_ms: starts,
                ends_at_ms: ends,
                ..view.clone()
            };
            assert_eq!(
                from_view(&view, NOW),
                CouponLookup::Refused("this coupon is not valid now".into())
            );
        }
        // Known from before (typed, or bought with points): offered in
        // one tap on the next review.
        let next = Review::of(review.items.clone());
        let shown = build(&next, &lookups, &m, &catalog, NOW).unwrap();
        assert_eq!(shown.buttons[0].label, "Apply WELCOME5 (5.00 EUR off)");
        lookups.insert(code.clone(), CouponLookup::Refused("no such coupon".into()));
        let shown = build(&review, &lookups, &m, &catalog, NOW).unwrap();
        assert!(
            shown
                .lines
                .contains(&"Coupon WELCOME5 not applied: no such coupon".to_owned())
        );
        assert_eq!(coupon_to_send(&review, &lookups, &m, &catalog, NOW), None);
    }
}
