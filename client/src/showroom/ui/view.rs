//! The showroom's UI as plain data: what each panel says, built from the
//! room mirror, the catalog and the local UI state by one pure function.
//! The desktop draws it with Bevy UI; the XR issue draws the same structs
//! in world space. Nothing here knows how it is drawn.

use super::super::catalog::CatalogProduct;
use super::super::session::LinkState;
use super::UiAction;
use crate::net::RoomMirror;
use std::collections::BTreeMap;
use vitrine_shared::api::ProductView;
use vitrine_shared::protocol::OrderStatus;
use vitrine_shared::{ProductId, Reaction, SaleId, Sku};

/// Lines of chat a panel shows.
pub const CHAT_LINES: usize = 8;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShowroomView {
    /// The link's state when it is not simply "connected".
    pub banner: Option<Banner>,
    /// The live show's title.
    pub show: Option<String>,
    pub room: String,
    pub points: Option<i64>,
    pub featured: Vec<FeaturedView>,
    pub flash_sales: Vec<FlashSaleView>,
    pub card: Option<ProductCard>,
    pub cart: CartView,
    pub confirmation: Option<Confirmation>,
    pub chat: Vec<ChatLineView>,
    /// The message being typed, while the chat box is open.
    pub chat_draft: Option<String>,
    pub reactions: Vec<ReactionButton>,
    /// A short notice: a refusal, a hint.
    pub notice: Option<String>,
    pub pinned_coupon: Option<String>,
    /// Friends, the party, its prompts and its chat (`together.rs`).
    pub together: super::together::TogetherView,
    /// Your microphone, who speaks, volumes and mutes (`voice.rs`).
    pub voice: super::voice::VoiceView,
    /// The poll, the Q&A and the giveaway (`live.rs`).
    pub live: super::live::LiveView,
    /// Points, quests, leaderboards and rewards, while open (`rewards.rs`).
    pub rewards: Option<super::rewards::RewardsPanel>,
}

/// A button as the view offers it: its words, what it asks for and the
/// desktop's key for it. Both surfaces draw these, so a button does the
/// same wherever it is pressed.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewButton {
    pub label: String,
    pub action: UiAction,
    /// The desktop's shortcut ("Y", "Esc"); XR has no keyboard.
    pub key: Option<&'static str>,
}

impl ViewButton {
    pub fn new(label: impl Into<String>, action: UiAction) -> Self {
        ViewButton {
            label: label.into(),
            action,
            key: None,
        }
    }

    pub fn with_key(self, key: &'static str) -> Self {
        ViewButton {
            key: Some(key),
            ..self
        }
    }

    /// The label with its key, as the desktop shows it: "Join (Y)".
    pub fn keyed_label(&self) -> String {
        match self.key {
            Some(key) => format!("{} ({key})", self.label),
            None => self.label.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Banner {
    pub text: String,
    pub tone: Tone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeaturedView {
    pub product: ProductId,
    pub name: String,
    pub price: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FlashSaleView {
    pub id: SaleId,
    pub name: String,
    pub price: String,
    pub units_left: i64,
    pub quantity: i64,
    pub state: SaleState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleState {
    /// Opens in this many seconds.
    Upcoming(i64),
    /// Ends in this many seconds.
    Live(i64),
    SoldOut,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProductCard {
    pub product: ProductId,
    pub name: String,
    pub description: String,
    pub price: String,
    pub variants: Vec<VariantLine>,
    /// Another shopper holding it.
    pub held_by: Option<String>,
    /// In this shopper's hands.
    pub holding: bool,
    pub featured: bool,
    /// In a party: "Add to shared cart" shows beside "Add to cart".
    pub shared_add: bool,
    /// Group deals open on this product's variants (`team_deals.rs`).
    pub team_deals: Vec<super::team_deals::TeamDealView>,
    /// "4.5 of 5 from 2 reviews", when it has any.
    pub rating: Option<String>,
    /// The latest reviews in words, newest first (at most two):
    /// `4 of 5 from Ada: "Lovely glaze."` (plain characters: the showroom's
    /// font has no star glyphs).
    pub latest_reviews: Vec<String>,
    /// Whether this shopper may rate it, or did.
    pub review: ReviewPrompt,
}

/// The card's review row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewPrompt {
    /// Not bought and delivered (in this session's orders): nothing.
    None,
    /// Delivered and not yet rated here: five star buttons.
    Ask,
    /// Rated: the stars given.
    Done(u8),
    /// The server refused the rating (already rated before, say).
    Refused(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct VariantLine {
    pub sku: Sku,
    pub label: String,
    pub price: String,
    pub stock: i64,
    pub selected: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CartView {
    pub open: bool,
    pub lines: Vec<CartLineView>,
    pub units: i64,
    pub total: Option<String>,
    /// The party's shared cart, while in a party (`shared_cart.rs`).
    pub shared: Option<super::shared_cart::SharedCartView>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CartLineView {
    pub sku: Sku,
    pub name: String,
    pub quantity: i64,
    pub line_total: String,
    /// Seconds the units stay reserved.
    pub held_for_s: i64,
}

/// The checkout panel: the order under review before paying
/// (`checkout_review.rs`), or the server's answer after.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmation {
    pub title: String,
    pub lines: Vec<String>,
    pub ok: bool,
    pub buttons: Vec<ViewButton>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatLineView {
    pub name: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReactionButton {
    pub reaction: Reaction,
    pub label: &'static str,
    pub key: char,
}

/// The local UI state the view reads (what is not in the room).
#[derive(Debug, Clone, Default)]
pub struct LocalUi {
    pub cart_open: bool,
    /// The variant chosen on each product's card.
    pub variant: BTreeMap<ProductId, usize>,
    pub chat_draft: Option<String>,
    /// The order being reviewed before it is paid.
    pub review: Option<super::checkout_review::Review>,
    /// Typed coupon codes and what the server said of them.
    pub coupons: super::checkout_review::CouponLookups,
    /// Votes, upvotes and entries made here, and the question being typed.
    pub live: super::live::LiveLocal,
    pub rewards: super::rewards::RewardsLocal,
    /// The checkout whose answer to show.
    pub checkout: Option<u32>,
    pub notice: Option<String>,
    pub together: super::together::TogetherLocal,
    /// The team request sent for each group deal.
    pub team_requests: super::team_deals::TeamRequests,
    /// Each product's latest reviews, asked when its card opens.
    pub reviews: BTreeMap<ProductId, ReviewsLookup>,
}

pub struct ViewInputs<'a> {
    pub link: &'a LinkState,
    pub mirror: Option<&'a RoomMirror>,
    pub catalog: &'a [CatalogProduct],
    pub card_product: Option<&'a ProductId>,
    pub holding: Option<&'a ProductId>,
    pub ui: &'a LocalUi,
    pub now_ms: i64,
}

pub fn reaction_label(r: Reaction) -> &'static str {
    match r {
        Reaction::Heart => "Love",
        Reaction::Fire => "Fire",
        Reaction::Clap => "Clap",
        Reaction::Laugh => "Haha",
        Reaction::Wow => "Wow",
    }
}

/// A product's reviews as the card last asked for them
/// (`GET /api/v1/products/{id}/reviews`, on a worker thread).
#[derive(Debug, Clone, PartialEq)]
pub enum ReviewsLookup {
    Asking,
    Got {
        latest: Vec<vitrine_shared::api::ReviewView>,
        /// This shopper's own stars, given in an earlier visit.
        mine: Option<u8>,
    },
    Failed,
}

/// The most reviews the card quotes.
pub const LATEST_ON_CARD: usize = 2;
/// The most characters of a review's text the card quotes.
const QUOTE_CHARS: usize = 80;

/// The card's lines for the latest reviews: the stars, who wrote it, and
/// the text (cut short) in quotes when there is one.
pub fn latest_reviews(lookup: Option<&ReviewsLookup>) -> Vec<String> {
    let Some(ReviewsLookup::Got { latest, .. }) = lookup else {
        return Vec::new();
    };
    latest
        .iter()
        .filter(|r| !r.hidden)
        .take(LATEST_ON_CARD)
        .map(|r| {
            let said = format!("{} of 5 from {}", r.stars.clamp(1, 5), r.author);
            // One line: a text's line breaks become spaces.
            let text = r.text.split_whitespace().collect::<Vec<_>>().join(" ");
            if text.is_empty() {
                said
            } else {
                let mut quote: String = text.chars().take(QUOTE_CHARS).collect();
                if text.chars().count() > QUOTE_CHARS {
                    quote.push_str("...");
                }
                format!("{said}: \"{quote}\"")
            }
        })
        .collect()
}

/// Whether the shopper may rate `product`: one of their orders holding it
/// was delivered, and what the server said to a rating, now or in an
/// earlier visit (the reviews lookup): nobody is asked twice.
fn review_prompt(
    mirror: Option<&RoomMirror>,
    product: &ProductView,
    lookup: Option<&ReviewsLookup>,
) -> ReviewPrompt {
    let Some(m) = mirror else {
        return ReviewPrompt::None;
    };
    match m.reviews.get(&product.id) {
        Some(Ok(stars)) => return ReviewPrompt::Done(*stars),
        Some(Err(why)) => return ReviewPrompt::Refused(why.to_string()),
        None => {}
    }
    match lookup {
        Some(ReviewsLookup::Got {
            mine: Some(stars), ..
        }) => return ReviewPrompt::Done(*stars),
        // Asked, not answered yet: the stars wait rather than flash.
        Some(ReviewsLookup::Asking) => return ReviewPrompt::None,
        _ => {}
    }
    if delivered(m, product) {
        ReviewPrompt::Ask
    } else {
        ReviewPrompt::None
    }
}

/// Whether one of this shopper's orders holding `product` was delivered.
pub fn delivered(m: &RoomMirror, product: &ProductView) -> bool {
    m.orders.values().any(|o| {
        o.status == OrderStatus::Delivered
            && o.lines
                .iter()
                .any(|l| product.variants.iter().any(|v| v.sku == l.sku))
    })
}

/// An order's state in words.
pub fn order_state(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Paid => "paid",
        OrderStatus::Pending => "waiting for payment",
        OrderStatus::Fulfilled => "on its way",
        OrderStatus::Delivered => "delivered",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Refunded => "refunded",
    }
}

/// A variant as a shopper reads it: "Speckled Stoneware Mug, Sage", the
/// product's name alone when it has one variant, and the SKU only for a
/// variant the catalog does not know (an order placed before a change).
pub fn variant_name(catalog: &[CatalogProduct], sku: &Sku) -> String {
    catalog
        .iter()
        .find_map(|p| {
            let variant = p.view.variants.iter().find(|v| &v.sku == sku)?;
            let options: Vec<&str> = variant.options.values().map(String::as_str).collect();
            Some(if p.view.variants.len() > 1 && !options.is_empty() {
                format!("{}, {}", p.view.name, options.join(", "))
            } else {
                p.view.name.clone()
            })
        })
        .unwrap_or_else(|| sku.to_string())
}

fn ok_button() -> ViewButton {
    ViewButton::new("OK", UiAction::DismissConfirmation).with_key("Esc")
}

pub fn build(input: &ViewInputs) -> ShowroomView {
    let mirror = input.mirror;
    let product = |id: &ProductId| input.catalog.iter().find(|p| &p.view.id == id);
    let name_of = |id: &ProductId| {
        product(id)
            .map(|p| p.view.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let banner = match input.link {
        LinkState::Connected | LinkState::Idle => None,
        LinkState::Joining => Some(Banner {
            text: "Joining the room...".into(),
            tone: Tone::Info,
        }),
        LinkState::Lost {
            reason, retry_in, ..
        } => Some(Banner {
            text: if *retry_in == std::time::Duration::MAX {
                format!("Connection lost ({reason}). Reconnecting...")
            } else {
                format!(
                    "Connection lost ({reason}). Reconnecting in {} s...",
                    retry_in.as_secs() + 1
                )
            },
            tone: Tone::Warning,
        }),
        LinkState::Closed(reason) => Some(Banner {
            text: reason.clone(),
            tone: Tone::Error,
        }),
    };

    let featured = mirror
        .map(|m| {
            m.featured
                .iter()
                .map(|p| FeaturedView {
                    product: p.clone(),
                    name: name_of(p),
                    price: product(p)
                        .map(|p| p.view.price.display.clone())
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();

    let flash_sales = mirror
        .map(|m| {
            m.flash_sales
                .values()
                .filter(|s| s.ends_at_ms > input.now_ms)
                .map(|s| FlashSaleView {
                    id: s.id,
                    name: name_of(&s.product),
                    price: s.price.to_string(),
                    units_left: s.units_left,
                    quantity: s.quantity,
                    state: if s.units_left <= 0 {
                        SaleState::SoldOut
                    } else if s.starts_at_ms > input.now_ms {
                        SaleState::Upcoming(
                            s.starts_at_ms
                                .saturating_sub(input.now_ms)
                                .saturating_add(999)
                                / 1000,
                        )
                    } else {
                        SaleState::Live(
                            s.ends_at_ms
                                .saturating_sub(input.now_ms)
                                .saturating_add(999)
                                / 1000,
                        )
                    },
                })
                .collect()
        })
        .unwrap_or_default();

    let card = input.card_product.and_then(product).map(|p| {
        let chosen = input.ui.variant.get(&p.view.id).copied().unwrap_or(0);
        let held_by = mirror.and_then(|m| {
            let slot = m.held.get(&p.view.id)?;
            if Some(*slot) == m.you {
                return None;
            }
            m.members.get(slot).map(|who| who.name.as_str().to_owned())
        });
        ProductCard {
            product: p.view.id.clone(),
            name: p.view.name.clone(),
            description: p.view.description.clone(),
            price: p.view.price.display.clone(),
            variants: p
                .view
                .variants
                .iter()
                .enumerate()
                .map(|(i, v)| VariantLine {
                    sku: v.sku.clone(),
                    label: if v.options.is_empty() {
                        "Standard".to_owned()
                    } else {
                        v.options.values().cloned().collect::<Vec<_>>().join(", ")
                    },
                    price: v.price.display.clone(),
                    stock: v.stock,
                    selected: i == chosen.min(p.view.variants.len().saturating_sub(1)),
                })
                .collect(),
            held_by,
            holding: input.holding == Some(&p.view.id),
            featured: mirror.is_some_and(|m| m.featured.contains(&p.view.id)),
            shared_add: mirror.is_some_and(|m| m.party.party.is_some()),
            team_deals: {
                // The chosen variant's deals first: the desktop card shows
                // the first.
                let chosen = p
                    .view
                    .variants
                    .get(chosen.min(p.view.variants.len().saturating_sub(1)))
                    .map(|v| &v.sku);
                let mut deals = super::team_deals::build(
                    mirror,
                    &p.view.id,
                    &input.ui.team_requests,
                    input.now_ms,
                );
                deals.sort_by_key(|d| Some(&d.sku) != chosen);
                deals
            },
            rating: p.view.reviews.average().map(|average| {
                let n = p.view.reviews.count;
                let s = if n == 1 { "" } else { "s" };
                format!("{average:.1} of 5 from {n} review{s}")
            }),
            review: review_prompt(mirror, &p.view, input.ui.reviews.get(&p.view.id)),
            latest_reviews: latest_reviews(input.ui.reviews.get(&p.view.id)),
        }
    });

    let cart = mirror
        .map(|m| {
            let total = m
                .cart
                .iter()
                .try_fold(None::<vitrine_shared::Money>, |acc, l| {
                    let line = l.unit_price.checked_mul(l.quantity).ok()?;
                    match acc {
                        None => Some(Some(line)),
                        Some(sum) => sum.checked_add(line).ok().map(Some),
                    }
                });
            CartView {
                open: input.ui.cart_open,
                units: m
                    .cart
                    .iter()
                    .map(|l| l.quantity)
                    .fold(0i64, i64::saturating_add),
                total: total.flatten().map(|t| t.to_string()),
                lines: m
                    .cart
                    .iter()
                    .map(|l| CartLineView {
                        sku: l.sku.clone(),
                        name: l.name.clone(),
                        quantity: l.quantity,
                        line_total: l
                            .unit_price
                            .checked_mul(l.quantity)
                            .map(|m| m.to_string())
                            .unwrap_or_default(),
                        held_for_s: (l.held_until_ms.saturating_sub(input.now_ms) / 1000).max(0),
                    })
                    .collect(),
                shared: super::shared_cart::build(Some(m), input.now_ms),
            }
        })
        .unwrap_or(CartView {
            open: input.ui.cart_open,
            ..Default::default()
        });

    let review = input.ui.review.as_ref().and_then(|review| {
        let coupons = &input.ui.coupons;
        super::checkout_review::build(review, coupons, mirror?, input.catalog, input.now_ms)
    });
    let confirmation = review.or_else(|| {
        input.ui.checkout.and_then(|request| {
            let answer = mirror?.checkouts.get(&request)?;
            Some(match answer {
                Ok(order) => {
                    // The order as last heard (paid after the checkout, say).
                    let order = mirror?.orders.get(&order.id).unwrap_or(order);
                    let status = order_state(order.status);
                    let mut lines: Vec<String> = order
                        .lines
                        .iter()
                        .map(|l| {
                            let name = variant_name(input.catalog, &l.sku);
                            format!("{} x {name}  {}", l.quantity, l.unit_price)
                        })
                        .collect();
                    if order.discount.minor > 0 {
                        lines.push(match &order.coupon {
                            Some(code) => format!("Coupon {code} -{}", order.discount),
                            None => format!("Discount -{}", order.discount),
                        });
                    }
                    lines.push(format!("Total {} ({status})", order.total));
                    Confirmation {
                        title: format!("Order {} confirmed", order.id.reference()),
                        lines,
                        ok: !matches!(order.status, OrderStatus::Cancelled | OrderStatus::Refunded),
                        buttons: vec![ok_button()],
                    }
                }
                Err(refusal) => Confirmation {
                    title: "Checkout failed".into(),
                    lines: vec![refusal.to_string()],
                    ok: false,
                    buttons: vec![ok_button()],
                },
            })
        })
    });

    let chat = mirror
        .map(|m| {
            let start = m.chat.len().saturating_sub(CHAT_LINES);
            m.chat[start..]
                .iter()
                .map(|l| ChatLineView {
                    name: l.name.as_str().to_owned(),
                    text: l.text.as_str().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();

    ShowroomView {
        banner,
        show: mirror.and_then(|m| m.show_live.clone()),
        room: mirror.map(|m| m.room_name.clone()).unwrap_or_default(),
        points: mirror.and_then(|m| m.points),
        featured,
        flash_sales,
        card,
        cart,
        confirmation,
        chat,
        chat_draft: input.ui.chat_draft.clone(),
        reactions: Reaction::ALL
            .iter()
            .enumerate()
            .map(|(i, r)| ReactionButton {
                reaction: *r,
                label: reaction_label(*r),
                key: char::from(b'1' + i as u8),
            })
            .collect(),
        notice: input.ui.notice.clone(),
        pinned_coupon: mirror
            .and_then(|m| m.pinned_coupon.as_ref().map(|c| c.code.as_str().to_owned())),
        together: super::together::build(
            mirror,
            input.catalog,
            input.card_product,
            &input.ui.together,
        ),
        // Filled from the voice feature's status by the caller.
        voice: Default::default(),
        live: super::live::build(mirror, &input.ui.live, input.now_ms),
        rewards: super::rewards::build(mirror, &input.ui.rewards),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::showroom::models::ModelBounds;
    use std::time::Duration;
    use vitrine_shared::api::{MoneyView, ProductView, VariantView};
    use vitrine_shared::protocol::{
        CartLineNet, FlashSaleNet, MemberInfo, OrderLineNet, OrderNet, ShopRefusal,
    };
    use vitrine_shared::{
        AccountId, Currency, DisplayName, MemberSlot, Money, OrderId, ProductId, Role, Sku,
    };

    pub(crate) fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }

    pub(crate) fn product(id: &str, variants: &[(&str, i64)]) -> CatalogProduct {
        let price: MoneyView = eur(2490).into();
        CatalogProduct {
            view: ProductView {
                id: ProductId::new(id).unwrap(),
                name: format!("The {id}"),
                category: "home".into(),
                description: "A thing.".into(),
                price: price.clone(),
                model: format!("models/{id}.glb"),
                size: None,
                variants: variants
                    .iter()
                    .map(|(sku, stock)| VariantView {
                        sku: Sku::new(*sku).unwrap(),
                        options: [("size".to_owned(), sku.to_uppercase())].into(),
                        price: price.clone(),
                        stock: *stock,
                    })
                    .collect(),
                reviews: Default::default(),
            },
            bounds: ModelBounds::fallback(),
            model_error: None,
        }
    }

    pub(crate) fn mirror() -> RoomMirror {
        let mut m = RoomMirror::default();
        m.you = Some(MemberSlot(1));
        m.room_name = "Main Stage".into();
        for (slot, name) in [(1, "Me"), (2, "Bea")] {
            m.members.insert(
                MemberSlot(slot),
                MemberInfo {
                    slot: MemberSlot(slot),
                    account: AccountId(slot as u64),
                    name: DisplayName::new(name).unwrap(),
                    role: Role::Shopper,
                },
            );
        }
        m
    }

    fn view(
        mirror: &RoomMirror,
        catalog: &[CatalogProduct],
        ui: &LocalUi,
        card: Option<&str>,
    ) -> ShowroomView {
        let card = card.map(|c| ProductId::new(c).unwrap());
        build(&ViewInputs {
            link: &LinkState::Connected,
            mirror: Some(mirror),
            catalog,
            card_product: card.as_ref(),
            holding: None,
            ui,
            now_ms: 100_000,
        })
    }

    #[test]
    fn the_card_names_the_product_its_variants_and_who_holds_it() {
        let catalog = [product("mug", &[("mug-s", 4), ("mug-l", 0)])];
        let mut m = mirror();
        m.held.insert(ProductId::new("mug").unwrap(), MemberSlot(2));
        m.featured.push(ProductId::new("mug").unwrap());
        let mut ui = LocalUi::default();
        ui.variant.insert(ProductId::new("mug").unwrap(), 1);
        let card = view(&m, &catalog, &ui, Some("mug")).card.expect("a card");
        assert_eq!(card.name, "The mug");
        assert_eq!(card.price, "24.90 EUR");
        assert_eq!(card.held_by.as_deref(), Some("Bea"));
        assert!(card.featured);
        assert_eq!(card.variants.len(), 2);
        assert!(!card.variants[0].selected && card.variants[1].selected);
        assert_eq!((card.variants[0].stock, card.variants[1].stock), (4, 0));
        // Held by us: nobody else is named.
        m.held.insert(ProductId::new("mug").unwrap(), MemberSlot(1));
        assert_eq!(
            view(&m, &catalog, &ui, Some("mug")).card.unwrap().held_by,
            None
        );
        // An unknown product has no card.
        assert!(view(&m, &catalog, &ui, Some("nope")).card.is_none());
    }

    #[test]
    fn the_card_quotes_the_latest_reviews_it_was_given() {
        let review =
            |stars: u8, author: &str, text: &str, hidden: bool| vitrine_shared::api::ReviewView {
                id: 1,
                product_id: ProductId::new("mug").unwrap(),
                product_name: "Mug".into(),
                author: author.into(),
                stars,
                text: text.into(),
                created_at_ms: 0,
                verified_buyer: true,
                hidden,
            };
        let catalog = [product("mug", &[("mug-s", 4)])];
        let m = mirror();
        let mut ui = LocalUi::default();
        let card = |ui: &LocalUi| view(&m, &catalog, ui, Some("mug")).card.expect("a card");
        assert!(card(&ui).latest_reviews.is_empty(), "nothing asked yet");
        let mug = ProductId::new("mug").unwrap();
        ui.reviews.insert(mug.clone(), ReviewsLookup::Asking);
        assert!(card(&ui).latest_reviews.is_empty());
        let long = "Lovely glaze, holds a big coffee, and the handle fits two fingers \
                    comfortably without any wobble at all.";
        ui.reviews.insert(
            mug.clone(),
            ReviewsLookup::Got {
                latest: vec![
                    review(5, "Ada", "  Lovely\nglaze. ", false),
                    review(2, "Hidden", "staff hid this", true),
                    review(4, "Ben", "", false),
                    review(3, "Cleo", long, false),
                ],
                mine: None,
            },
        );
        assert_eq!(
            card(&ui).latest_reviews,
            ["5 of 5 from Ada: \"Lovely glaze.\"", "4 of 5 from Ben"],
            "two at most, hidden ones never"
        );
        ui.reviews.insert(
            mug.clone(),
            ReviewsLookup::Got {
                latest: vec![review(3, "Cleo", long, false)],
                mine: None,
            },
        );
        let quoted = &card(&ui).latest_reviews[0];
        assert!(quoted.ends_with("...\""), "{quoted}");
        assert!(quoted.chars().count() < 120, "{quoted}");
        ui.reviews.insert(mug, ReviewsLookup::Failed);
        assert!(card(&ui).latest_reviews.is_empty());
    }

    #[test]
    fn the_card_shows_the_rating_and_asks_a_delivered_buyer_for_stars() {
        let mut catalog = [product("mug", &[("mug-s", 4)])];
        let mut m = mirror();
        let mut ui = LocalUi::default();
        let card = |m: &RoomMirror, catalog: &[CatalogProduct], ui: &LocalUi| {
            view(m, catalog, ui, Some("mug")).card.expect("a card")
        };
        let first = card(&m, &catalog, &ui);
        assert_eq!((first.rating, first.review), (None, ReviewPrompt::None));
        catalog[0].view.reviews = vitrine_shared::api::ReviewTally {
            count: 2,
            stars_total: 9,
        };
        assert_eq!(
            card(&m, &catalog, &ui).rating.as_deref(),
            Some("4.5 of 5 from 2 reviews")
        );
        let mut order = OrderNet {
            id: OrderId(7),
            status: OrderStatus::Fulfilled,
            total: eur(1250),
            discount: eur(0),
            coupon: None,
            lines: vec![OrderLineNet {
                sku: Sku::new("mug-s").unwrap(),
                quantity: 1,
                unit_price: eur(1250),
            }],
        };
        m.orders.insert(OrderId(7), order.clone());
        assert_eq!(
            card(&m, &catalog, &ui).review,
            ReviewPrompt::None,
            "on its way"
        );
        order.status = OrderStatus::Delivered;
        m.orders.insert(OrderId(7), order);
        assert_eq!(card(&m, &catalog, &ui).review, ReviewPrompt::Ask);
        let mug = ProductId::new("mug").unwrap();
        // Rated in an earlier visit: the lookup says so, and the stars are
        // not asked for again; while it is on its way, nothing flashes.
        ui.reviews.insert(mug.clone(), ReviewsLookup::Asking);
        assert_eq!(card(&m, &catalog, &ui).review, ReviewPrompt::None);
        ui.reviews.insert(
            mug.clone(),
            ReviewsLookup::Got {
                latest: Vec::new(),
                mine: Some(3),
            },
        );
        assert_eq!(card(&m, &catalog, &ui).review, ReviewPrompt::Done(3));
        ui.reviews.insert(
            mug.clone(),
            ReviewsLookup::Got {
                latest: Vec::new(),
                mine: None,
            },
        );
        assert_eq!(card(&m, &catalog, &ui).review, ReviewPrompt::Ask);
        ui.reviews.insert(mug.clone(), ReviewsLookup::Failed);
        assert_eq!(card(&m, &catalog, &ui).review, ReviewPrompt::Ask);
        m.reviews.insert(mug.clone(), Ok(4));
        assert_eq!(card(&m, &catalog, &ui).review, ReviewPrompt::Done(4));
        m.reviews.insert(
            mug,
            Err(vitrine_shared::protocol::ReviewRefusal::AlreadyReviewed),
        );
        assert_eq!(
            card(&m, &catalog, &ui).review,
            ReviewPrompt::Refused("you have already reviewed this product".into())
        );
    }

    #[test]
    fn flash_sales_count_down_then_sell_out_then_go() {
        let catalog = [product("mug", &[("mug-s", 4)])];
        let mut m = mirror();
        let sale = |id, starts, ends, left| FlashSaleNet {
            id: SaleId(id),
            product: ProductId::new("mug").unwrap(),
            sku: Sku::new("mug-s").unwrap(),
            price: eur(990),
            quantity: 50,
            units_left: left,
            per_buyer_limit: 1,
            starts_at_ms: starts,
            ends_at_ms: ends,
        };
        m.flash_sales
            .insert(SaleId(1), sale(1, 130_000, 200_000, 50));
        m.flash_sales.insert(SaleId(2), sale(2, 90_000, 165_500, 7));
        m.flash_sales.insert(SaleId(3), sale(3, 90_000, 165_000, 0));
        m.flash_sales.insert(SaleId(4), sale(4, 10_000, 99_000, 9));
        let v = view(&m, &catalog, &LocalUi::default(), None);
        let states: Vec<_> = v
            .flash_sales
            .iter()
            .map(|s| (s.id.get(), s.state))
            .collect();
        assert_eq!(
            states,
            vec![
                (1, SaleState::Upcoming(30)),
                (2, SaleState::Live(66)),
                (3, SaleState::SoldOut)
            ]
        );
        assert_eq!(v.flash_sales[1].name, "The mug");
        assert_eq!(v.flash_sales[1].units_left, 7);
    }

    #[test]
    fn the_cart_totals_and_the_confirmation_follows_the_order() {
        let catalog = [product("mug", &[("mug-s", 4)])];
        let mut m = mirror();
        m.cart.push(CartLineNet {
            sku: Sku::new("mug-s").unwrap(),
            product: ProductId::new("mug").unwrap(),
            name: "The mug".into(),
            unit_price: eur(1250),
            quantity: 3,
            held_until_ms: 160_000,
        });
        let mut ui = LocalUi {
            cart_open: true,
            checkout: Some(7),
            ..Default::default()
        };
        let v = view(&m, &catalog, &ui, None);
        assert_eq!(v.cart.units, 3);
        assert_eq!(v.cart.total.as_deref(), Some("37.50 EUR"));
        assert_eq!(v.cart.lines[0].held_for_s, 60);
        // No answer yet: no confirmation.
        assert!(v.confirmation.is_none());
        let order = OrderNet {
            id: OrderId(42),
            status: OrderStatus::Pending,
            total: eur(3750),
            discount: eur(0),
            coupon: None,
            lines: vec![OrderLineNet {
                sku: Sku::new("mug-s").unwrap(),
                quantity: 3,
                unit_price: eur(1250),
            }],
        };
        m.checkouts.insert(7, Ok(order.clone()));
        // The order moved on after the checkout's answer: the newest wins.
        m.orders.insert(
            OrderId(42),
            OrderNet {
                status: OrderStatus::Paid,
                ..order
            },
        );
        let c = view(&m, &catalog, &ui, None).confirmation.unwrap();
        assert_eq!(c.title, "Order #42 confirmed");
        assert!(c.ok);
        assert!(
            c.lines.last().unwrap().contains("37.50 EUR (paid)"),
            "{:?}",
            c.lines
        );
        ui.checkout = Some(8);
        m.checkouts.insert(8, Err(ShopRefusal::EmptyCart));
        let c = view(&m, &catalog, &ui, None).confirmation.unwrap();
        assert!(!c.ok);
        assert_eq!(c.lines, vec!["your cart is empty".to_owned()]);
    }

    #[test]
    fn the_confirmation_names_each_line_by_product_and_variant_not_sku() {
        let mut mug = product("stoneware-mug", &[("stoneware-mug-oat", 5)]);
        mug.view.name = "Speckled Stoneware Mug".into();
        mug.view.variants = [("stoneware-mug-oat", "Oat"), ("stoneware-mug-sage", "Sage")]
            .map(|(sku, glaze)| VariantView {
                sku: Sku::new(sku).unwrap(),
                options: [("glaze".to_owned(), glaze.to_owned())].into(),
                price: eur(1600).into(),
                stock: 5,
            })
            .into();
        // One variant: the product's name says it all.
        let candle = product("candle", &[("candle-std", 5)]);
        let catalog = [mug, candle];
        let mut m = mirror();
        let line = |sku: &str, quantity| OrderLineNet {
            sku: Sku::new(sku).unwrap(),
            quantity,
            unit_price: eur(1600),
        };
        m.checkouts.insert(
            3,
            Ok(OrderNet {
                id: OrderId(5),
                status: OrderStatus::Paid,
                total: eur(8000),
                discount: eur(0),
                coupon: None,
                lines: vec![
                    line("stoneware-mug-sage", 2),
                    line("candle-std", 1),
                    line("gone-from-the-catalog", 2),
                ],
            }),
        );
        let ui = LocalUi {
            checkout: Some(3),
            ..Default::default()
        };
        let c = view(&m, &catalog, &ui, None).confirmation.unwrap();
        assert_eq!(
            c.lines,
            [
                "2 x Speckled Stoneware Mug, Sage  16.00 EUR",
                "1 x The candle  16.00 EUR",
                // A variant the catalog no longer has keeps its SKU.
                "2 x gone-from-the-catalog  16.00 EUR",
                "Total 80.00 EUR (paid)",
            ]
        );
    }

    #[test]
    fn in_a_party_the_card_offers_the_shared_cart_and_its_checkout_refusal_reads() {
        use vitrine_shared::protocol::{PartyMemberNet, PartyNet};
        let catalog = [product("mug", &[("mug-s", 4)])];
        let mut m = mirror();
        let ui = LocalUi {
            checkout: Some(9),
            ..Default::default()
        };
        let v = view(&m, &catalog, &ui, Some("mug"));
        assert!(!v.card.unwrap().shared_add && v.cart.shared.is_none());
        m.party.party = Some(PartyNet {
            id: vitrine_shared::PartyId(1),
            leader: AccountId(2),
            members: vec![PartyMemberNet {
                account: AccountId(1),
                name: DisplayName::new("Me").unwrap(),
                room: None,
                colour: 0,
                room_name: None,
            }],
            invited: vec![],
        });
        // A shared checkout answers under its request id as a personal one.
        m.checkouts.insert(9, Err(ShopRefusal::CartChanged));
        let v = view(&m, &catalog, &ui, Some("mug"));
        assert!(v.card.unwrap().shared_add);
        assert!(v.cart.shared.is_some());
        let c = v.confirmation.unwrap();
        assert!(!c.ok);
        assert_eq!(
            c.lines,
            ["the shared cart changed since you looked; look again, nothing was charged"]
        );
    }

    #[test]
    fn the_chosen_variants_team_deal_comes_first_on_the_card() {
        use vitrine_shared::DealId;
        use vitrine_shared::protocol::GroupDealNet;
        let catalog = [product("mug", &[("mug-s", 4), ("mug-l", 4)])];
        let mut m = mirror();
        for (id, sku) in [(1, "mug-s"), (2, "mug-l")] {
            m.group_deals.insert(
                DealId(id),
                GroupDealNet {
                    id: DealId(id),
                    product: ProductId::new("mug").unwrap(),
                    sku: Sku::new(sku).unwrap(),
                    team_size: 2,
                    team_price: eur(1000),
                    regular_price: eur(2490),
                    units_left: 5,
                    ends_at_ms: 200_000,
                    teams: vec![],
                    open_teams: 0,
                },
            );
        }
        let mut ui = LocalUi::default();
        let first = |ui: &LocalUi| {
            let card = view(&m, &catalog, ui, Some("mug")).card.unwrap();
            assert_eq!(card.team_deals.len(), 2);
            card.team_deals[0].sku.as_str().to_owned()
        };
        assert_eq!(first(&ui), "mug-s");
        ui.variant.insert(ProductId::new("mug").unwrap(), 1);
        assert_eq!(first(&ui), "mug-l");
    }

    #[test]
    fn a_lost_link_says_so_and_when_it_retries() {
        let ui = LocalUi::default();
        let lost = LinkState::Lost {
            reason: "timed out".into(),
            attempt: 2,
            retry_in: Duration::from_millis(3500),
        };
        let v = build(&ViewInputs {
            link: &lost,
            mirror: None,
            catalog: &[],
            card_product: None,
            holding: None,
            ui: &ui,
            now_ms: 0,
        });
        let banner = v.banner.unwrap();
        assert_eq!(banner.tone, Tone::Warning);
        assert!(
            banner.text.contains("timed out") && banner.text.contains("4 s"),
            "{}",
            banner.text
        );
        assert_eq!(v.reactions.len(), 5);
        assert_eq!(v.reactions[0].key, '1');
    }
}
