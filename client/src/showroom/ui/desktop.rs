//! The view-model drawn as screen panels with Bevy UI. Each panel is
//! rebuilt only when its part of the view changed; buttons carry the
//! [`UiAction`] they send.

use super::live::LiveView;
use super::rewards::RewardsPanel;
use super::shared_cart::SharedCartView;
use super::team_deals::TeamDealView;
use super::together::{INVITE_KEY, PARTY_CHAT_PREFIX, SHARE_KEY, TOGETHER_KEY, TogetherView};
use super::view::{ReviewPrompt, SaleState, ShowroomView, Tone, ViewButton};
use super::voice::{MUTE_KEY, PersonVoiceView, VoiceView};
use super::{CurrentView, UiAction};
use crate::showroom::focus::UiFocus;
use crate::showroom::party_marks::party_colour;
use crate::showroom::voice::TalkMode;
use crate::showroom::{AppState, ShowroomSystems};
use bevy::prelude::*;

/// Panels, banners and toasts are opaque: the name tags and party markers
/// floating in the room pass under them (the HUD's `GlobalZIndex`), and
/// through a see-through panel they read as part of its text.
const PANEL: Color = Color::srgb(0.06, 0.07, 0.10);
const ACCENT: Color = Color::srgb(1.0, 0.42, 0.55);
const GOLD: Color = Color::srgb(1.0, 0.8, 0.35);
const MUTED: Color = Color::srgb(0.72, 0.75, 0.82);
const BUTTON: Color = Color::srgb(0.22, 0.24, 0.32);
const BUTTON_HOVER: Color = Color::srgb(0.32, 0.35, 0.46);
/// Party chat's tag and the prompts: a teal apart from room chat's pink.
const PARTY: Color = Color::srgb(0.35, 0.9, 0.85);
/// Talking and speaking: the speaking rings' green.
const SPEAKING: Color = crate::showroom::voice::indicators::SPEAKING_COLOUR;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(OnEnter(AppState::Showroom), spawn_hud)
        .add_systems(
            Update,
            (press_buttons, draw)
                .chain()
                .in_set(ShowroomSystems::Present)
                .after(super::build_view)
                .run_if(in_state(AppState::Showroom)),
        )
        .add_systems(
            Update,
            track_pointer
                .in_set(ShowroomSystems::Input)
                .before(super::chat_keys)
                .run_if(in_state(AppState::Showroom)),
        );
}

/// Where each part of the view is drawn.
#[derive(Component, Clone, Copy, PartialEq, Eq, Debug)]
enum Panel {
    Status,
    Banner,
    Show,
    Card,
    Cart,
    Chat,
    Confirmation,
    Notice,
    /// Friends and the party (`P`).
    Together,
    /// The party invite and the follow prompt, as toasts with their keys.
    Prompts,
    /// Your microphone and who hears you; the volume and mute of the
    /// shopper you look at.
    Voice,
    /// The poll, the Q&A and the giveaway, under the status.
    Live,
    /// Points, quests, leaderboards and rewards (`R`).
    Rewards,
}

/// A button and what it asks for.
#[derive(Component, Clone, Debug)]
pub struct ActionButton(pub UiAction);

fn spawn_hud(mut commands: Commands) {
    let root = commands
        .spawn((
            DespawnOnExit(AppState::Showroom),
            Node {
                width: percent(100),
                height: percent(100),
                position_type: PositionType::Absolute,
                ..default()
            },
            // Over the name tags and party markers that float in the room.
            GlobalZIndex(1),
        ))
        .id();
    let place = |node: Node| Node {
        position_type: PositionType::Absolute,
        row_gap: px(6),
        ..node
    };
    let column = FlexDirection::Column;
    let panels = [
        (
            Panel::Banner,
            place(Node {
                flex_direction: column,
                left: percent(30),
                right: percent(30),
                top: px(16),
                align_items: AlignItems::Center,
                ..default()
            }),
        ),
        (
            // Above the cart, growing up: clear of the show's column at the
            // top right and of the middle of the view.
            Panel::Card,
            place(Node {
                flex_direction: column,
                right: px(16),
                bottom: px(60),
                width: px(330),
                ..default()
            }),
        ),
        (
            Panel::Cart,
            place(Node {
                flex_direction: column,
                right: px(16),
                bottom: px(16),
                width: px(330),
                ..default()
            }),
        ),
        (
            // At the side, over the left column: never over the product in
            // the middle of the view, nor the stage.
            Panel::Confirmation,
            place(Node {
                flex_direction: column,
                left: px(16),
                top: px(16),
                width: px(380),
                ..default()
            }),
        ),
        (
            // Opened on purpose: over the right column, never over the stage.
            Panel::Rewards,
            place(Node {
                flex_direction: column,
                right: px(16),
                top: px(16),
                width: px(330),
                ..default()
            }),
        ),
        (
            Panel::Together,
            // Beside the left column (status above, chat below), not on it.
            place(Node {
                flex_direction: column,
                left: px(410),
                top: px(140),
                width: px(300),
                ..default()
            }),
        ),
        (
            Panel::Prompts,
            // Above the notices, clear of the panels in the corners.
            place(Node {
                flex_direction: column,
                left: percent(35),
                right: percent(35),
                bottom: px(120),
                align_items: AlignItems::Center,
                ..default()
            }),
        ),
        (
            Panel::Notice,
            place(Node {
                flex_direction: column,
                left: percent(30),
                right: percent(30),
                bottom: px(70),
                align_items: AlignItems::Center,
                ..default()
            }),
        ),
    ];
    // The status at the top left; the show and its live moments (poll,
    // questions, giveaway) in one column at the top right, whatever the
    // show panel's height. The middle stays the room's.
    let corners = [
        (
            Node {
                left: px(16),
                max_width: px(520),
                ..default()
            },
            [Panel::Status].as_slice(),
        ),
        (
            Node {
                right: px(16),
                width: px(330),
                ..default()
            },
            [Panel::Show, Panel::Live].as_slice(),
        ),
    ];
    for (node, stacked) in corners {
        let corner = commands
            .spawn(Node {
                position_type: PositionType::Absolute,
                flex_direction: column,
                top: px(16),
                row_gap: px(6),
                ..node
            })
            .id();
        commands.entity(root).add_child(corner);
        for panel in stacked {
            let node = Node {
                flex_direction: column,
                row_gap: px(6),
                ..default()
            };
            let child = commands.spawn((*panel, node, Interaction::default())).id();
            commands.entity(corner).add_child(child);
        }
    }
    // Voice sits on top of chat in the bottom-left corner: the social
    // corner, one column whatever the chat's height.
    let social = commands
        .spawn(Node {
            position_type: PositionType::Absolute,
            flex_direction: column,
            left: px(16),
            bottom: px(16),
            width: px(380),
            row_gap: px(6),
            ..default()
        })
        .id();
    commands.entity(root).add_child(social);
    // The voice box as wide as its line; chat the column's width.
    for (panel, align_items) in [
        (Panel::Voice, AlignItems::FlexStart),
        (Panel::Chat, AlignItems::Stretch),
    ] {
        let node = Node {
            flex_direction: column,
            row_gap: px(6),
            align_items,
            ..default()
        };
        let child = commands.spawn((panel, node, Interaction::default())).id();
        commands.entity(social).add_child(child);
    }
    for (panel, node) in panels {
        let child = commands.spawn((panel, node, Interaction::default())).id();
        // An order's answer sits over whatever panel is open beside it (the
        // Together panel reaches into the middle of the screen).
        if matches!(panel, Panel::Confirmation | Panel::Rewards) {
            commands.entity(child).insert(ZIndex(2));
        }
        commands.entity(root).add_child(child);
    }
    // A small crosshair: where the view's centre points without a cursor.
    let cross = commands
        .spawn((
            Node {
                position_type: PositionType::Absolute,
                left: percent(50),
                top: percent(50),
                width: px(6),
                height: px(6),
                margin: UiRect::all(px(-3)),
                border_radius: BorderRadius::MAX,
                ..default()
            },
            BackgroundColor(Color::srgba(1.0, 1.0, 1.0, 0.7)),
        ))
        .id();
    commands.entity(root).add_child(cross);
}

/// The mouse over a panel belongs to the panel, not to the room.
fn track_pointer(
    panels: Query<&Interaction, Or<(With<Panel>, With<Button>)>>,
    mut focus: ResMut<UiFocus>,
) {
    focus.over_panel = panels.iter().any(|i| *i != Interaction::None);
}

fn press_buttons(
    mut buttons: Query<(&Interaction, &ActionButton, &mut BackgroundColor), Changed<Interaction>>,
    mut actions: MessageWriter<UiAction>,
) {
    for (interaction, button, mut colour) in &mut buttons {
        match interaction {
            Interaction::Pressed => {
                actions.write(button.0.clone());
            }
            Interaction::Hovered => colour.0 = BUTTON_HOVER,
            Interaction::None => colour.0 = BUTTON,
        }
    }
}

fn draw(
    mut commands: Commands,
    current: Res<CurrentView>,
    mut drawn: Local<Option<ShowroomView>>,
    panels: Query<(Entity, &Panel)>,
) {
    if drawn.as_ref() == Some(&current.0) {
        return;
    }
    let view = &current.0;
    for (entity, panel) in &panels {
        let old = drawn.as_ref();
        let changed = match panel {
            Panel::Status => old.is_none_or(|o| {
                (&o.room, o.points, &o.pinned_coupon)
                    != (&view.room, view.points, &view.pinned_coupon)
            }),
            Panel::Banner => old.is_none_or(|o| o.banner != view.banner),
            Panel::Show => old.is_none_or(|o| {
                (&o.show, &o.featured, &o.flash_sales)
                    != (&view.show, &view.featured, &view.flash_sales)
            }),
            Panel::Cart => old.is_none_or(|o| o.cart != view.cart),
            Panel::Chat => old.is_none_or(|o| {
                let together = |v: &ShowroomView| {
                    let t = &v.together;
                    (t.open, t.party.as_ref().map(|p| p.members.len()))
                };
                (
                    &o.chat,
                    &o.chat_draft,
                    &o.reactions,
                    &o.together.party_chat,
                    together(o),
                ) != (
                    &view.chat,
                    &view.chat_draft,
                    &view.reactions,
                    &view.together.party_chat,
                    together(view),
                )
            }),
            Panel::Card => old.is_none_or(|o| {
                (&o.card, &o.together.shareable, o.cart.open)
                    != (&view.card, &view.together.shareable, view.cart.open)
            }),
            Panel::Together => old.is_none_or(|o| {
                // Borrowed, not cloned: this runs every frame.
                let (a, b) = (&o.together, &view.together);
                (a.open, &a.friends, &a.requests, &a.party, &a.invitable)
                    != (b.open, &b.friends, &b.requests, &b.party, &b.invitable)
                    || (&a.code, &a.code_draft, &a.added, &a.refusal)
                        != (&b.code, &b.code_draft, &b.added, &b.refusal)
                    || (b.open && o.voice.members != view.voice.members)
            }),
            Panel::Voice => old.is_none_or(|o| {
                let (a, b) = (&o.voice, &view.voice);
                (&a.mic, a.live, &a.heard_by, a.in_party, a.mode, &a.pointed)
                    != (&b.mic, b.live, &b.heard_by, b.in_party, b.mode, &b.pointed)
            }),
            Panel::Prompts => old.is_none_or(|o| {
                (&o.together.invite, &o.together.follow)
                    != (&view.together.invite, &view.together.follow)
            }),
            Panel::Confirmation => old.is_none_or(|o| o.confirmation != view.confirmation),
            Panel::Live => old.is_none_or(|o| (&o.live, &o.show) != (&view.live, &view.show)),
            Panel::Rewards => old.is_none_or(|o| o.rewards != view.rewards),
            Panel::Notice => old.is_none_or(|o| o.notice != view.notice),
        };
        if !changed {
            continue;
        }
        commands.entity(entity).despawn_children();
        commands
            .entity(entity)
            .with_children(|p| draw_panel(*panel, view, p));
    }
    *drawn = Some(view.clone());
}

fn text(p: &mut ChildSpawnerCommands, s: impl Into<String>, size: f32, colour: Color) {
    p.spawn((
        Text::new(s),
        TextFont::from_font_size(size),
        TextColor(colour),
    ));
}

fn boxed(p: &mut ChildSpawnerCommands, f: impl FnOnce(&mut ChildSpawnerCommands)) {
    p.spawn((
        Node {
            flex_direction: FlexDirection::Column,
            padding: UiRect::all(px(10)),
            row_gap: px(4),
            border_radius: BorderRadius::all(px(10)),
            ..default()
        },
        BackgroundColor(PANEL),
    ))
    .with_children(f);
}

fn button(p: &mut ChildSpawnerCommands, label: impl Into<String>, action: UiAction) {
    p.spawn((
        Button,
        ActionButton(action),
        Node {
            padding: UiRect::axes(px(10), px(5)),
            justify_content: JustifyContent::Center,
            border_radius: BorderRadius::all(px(6)),
            ..default()
        },
        BackgroundColor(BUTTON),
    ))
    .with_children(|b| text(b, label, 15.0, Color::WHITE));
}

/// A button the view-model offers, with its key.
fn view_button(p: &mut ChildSpawnerCommands, b: &ViewButton) {
    button(p, b.keyed_label(), b.action.clone());
}

fn row(p: &mut ChildSpawnerCommands, f: impl FnOnce(&mut ChildSpawnerCommands)) {
    p.spawn(Node {
        flex_direction: FlexDirection::Row,
        column_gap: px(6),
        flex_wrap: FlexWrap::Wrap,
        align_items: AlignItems::Center,
        ..default()
    })
    .with_children(f);
}

fn draw_panel(panel: Panel, view: &ShowroomView, p: &mut ChildSpawnerCommands) {
    match panel {
        Panel::Status => boxed(p, |b| {
            text(
                b,
                if view.room.is_empty() {
                    "Vitrine".to_owned()
                } else {
                    view.room.clone()
                },
                20.0,
                Color::WHITE,
            );
            if let Some(points) = view.points {
                text(b, format!("{points} points"), 16.0, GOLD);
            }
            if let Some(code) = &view.pinned_coupon {
                text(b, format!("Coupon: {code}"), 15.0, ACCENT);
            }
            text(
                b,
                "WASD walk | right-drag look | click: card, or walk there",
                12.0,
                MUTED,
            );
            text(
                b,
                "E pick up / put back | G drop | wheel, Z, X turn | F look closely",
                12.0,
                MUTED,
            );
            text(
                b,
                "C cart | Enter chat | 1-5 react | P together | R rewards | Q ask",
                12.0,
                MUTED,
            );
        }),
        Panel::Live => draw_live(&view.live, view.show.is_some(), p),
        Panel::Rewards => {
            if let Some(rewards) = &view.rewards {
                draw_rewards(rewards, p);
            }
        }
        Panel::Voice => draw_voice(&view.voice, p),
        Panel::Banner => {
            if let Some(banner) = &view.banner {
                let colour = match banner.tone {
                    Tone::Info => Color::srgb(0.15, 0.3, 0.6),
                    Tone::Warning => Color::srgb(0.75, 0.45, 0.05),
                    Tone::Error => Color::srgb(0.7, 0.1, 0.15),
                };
                p.spawn((
                    Node {
                        padding: UiRect::axes(px(14), px(8)),
                        border_radius: BorderRadius::all(px(8)),
                        ..default()
                    },
                    BackgroundColor(colour),
                ))
                .with_children(|b| text(b, banner.text.clone(), 17.0, Color::WHITE));
            }
        }
        Panel::Show => {
            if view.show.is_none() && view.featured.is_empty() && view.flash_sales.is_empty() {
                return;
            }
            boxed(p, |b| {
                if let Some(show) = &view.show {
                    row(b, |r| {
                        r.spawn((
                            Node {
                                padding: UiRect::axes(px(6), px(1)),
                                border_radius: BorderRadius::all(px(4)),
                                ..default()
                            },
                            BackgroundColor(Color::srgb(0.85, 0.1, 0.2)),
                        ))
                        .with_children(|l| text(l, "LIVE", 13.0, Color::WHITE));
                        text(r, show.clone(), 16.0, Color::WHITE);
                    });
                }
                for f in &view.featured {
                    row(b, |r| {
                        text(r, "Featured", 13.0, GOLD);
                        text(r, format!("{} - {}", f.name, f.price), 15.0, Color::WHITE);
                    });
                }
                for sale in &view.flash_sales {
                    text(
                        b,
                        format!("FLASH SALE: {} at {}", sale.name, sale.price),
                        16.0,
                        ACCENT,
                    );
                    let (line, live) = match sale.state {
                        SaleState::Upcoming(s) => {
                            (format!("opens in {}:{:02}", s / 60, s % 60), false)
                        }
                        SaleState::Live(s) => (
                            format!(
                                "{} of {} left - ends in {}:{:02}",
                                sale.units_left,
                                sale.quantity,
                                s / 60,
                                s % 60
                            ),
                            true,
                        ),
                        SaleState::SoldOut => ("sold out".to_owned(), false),
                    };
                    text(b, line, 15.0, Color::WHITE);
                    if live {
                        button(b, "Claim one", UiAction::ClaimFlashSale(sale.id));
                    }
                }
            });
        }
        Panel::Card => {
            // The open cart (with the party's shared cart under it) grows
            // up the same right-hand column: the card gives way until it
            // closes.
            let Some(card) = view.card.as_ref().filter(|_| !view.cart.open) else {
                return;
            };
            boxed(p, |b| {
                if card.featured {
                    text(b, "FEATURED BY THE HOST", 13.0, GOLD);
                }
                text(b, card.name.clone(), 20.0, Color::WHITE);
                text(b, card.price.clone(), 18.0, ACCENT);
                if let Some(rating) = &card.rating {
                    text(b, rating.clone(), 13.0, GOLD);
                }
                for line in &card.latest_reviews {
                    text(b, line.clone(), 12.0, MUTED);
                }
                text(b, card.description.clone(), 13.0, MUTED);
                // Short buttons keep the row on one line beside its words.
                match &card.review {
                    ReviewPrompt::None => {}
                    ReviewPrompt::Ask => row(b, |r| {
                        text(r, "Rate it:", 14.0, GOLD);
                        for stars in 1..=5u8 {
                            let product = card.product.clone();
                            button(r, stars.to_string(), UiAction::Review { product, stars });
                        }
                    }),
                    ReviewPrompt::Done(stars) => {
                        text(b, format!("You rated it {stars} of 5"), 14.0, GOLD)
                    }
                    ReviewPrompt::Refused(why) => text(b, why.clone(), 14.0, MUTED),
                }
                let mut selected = None;
                row(b, |r| {
                    for (i, v) in card.variants.iter().enumerate() {
                        let stock = if v.stock > 0 {
                            format!("{} left", v.stock)
                        } else {
                            "sold out".into()
                        };
                        let label = format!(
                            "{}{} | {} | {stock}",
                            if v.selected { "> " } else { "" },
                            v.label,
                            v.price
                        );
                        button(
                            r,
                            label,
                            UiAction::SelectVariant {
                                product: card.product.clone(),
                                index: i,
                            },
                        );
                        if v.selected {
                            selected = Some(v.sku.clone());
                        }
                    }
                });
                if let Some(who) = &card.held_by {
                    text(b, format!("{who} is holding this one"), 14.0, GOLD);
                }
                row(b, |r| {
                    let hands = if card.holding {
                        "Put back (E)"
                    } else {
                        "Pick up (E)"
                    };
                    if card.held_by.is_none() {
                        button(r, hands, UiAction::PickUpOrPutBack);
                    }
                    if let Some(sku) = selected {
                        button(r, "Add to cart", UiAction::AddToCart { sku: sku.clone() });
                        if card.shared_add {
                            button(
                                r,
                                "Add to shared cart",
                                UiAction::AddToSharedCart { sku: sku.clone() },
                            );
                        }
                        button(r, "Buy now", UiAction::BuyNow { sku });
                    }
                    if view.together.shareable.as_ref() == Some(&card.product) {
                        button(
                            r,
                            format!("Share with party ({SHARE_KEY})"),
                            UiAction::ShareProduct(card.product.clone()),
                        );
                    }
                });
                // One deal keeps the card short: the chosen variant's first.
                if let Some(deal) = card.team_deals.first() {
                    draw_team_deal(deal, b);
                }
                if card.team_deals.len() > 1 {
                    text(
                        b,
                        format!(
                            "{} more team deals on this product",
                            card.team_deals.len() - 1
                        ),
                        12.0,
                        MUTED,
                    );
                }
            });
        }
        Panel::Cart => {
            let cart = &view.cart;
            if !cart.open {
                let shared = cart
                    .shared
                    .as_ref()
                    .map(|s| s.lines.iter().map(|l| l.quantity).sum::<i64>());
                let label = match shared {
                    Some(n) => format!("Cart ({}) - shared ({n})", cart.units),
                    None => format!("Cart ({})", cart.units),
                };
                button(p, label, UiAction::ToggleCart);
                return;
            }
            boxed(p, |b| {
                text(b, "Your cart", 18.0, Color::WHITE);
                if cart.lines.is_empty() {
                    text(
                        b,
                        "Nothing yet: add products from their cards.",
                        14.0,
                        MUTED,
                    );
                }
                for line in &cart.lines {
                    row(b, |r| {
                        text(
                            r,
                            format!("{} x {}", line.quantity, line.name),
                            14.0,
                            Color::WHITE,
                        );
                        text(r, line.line_total.clone(), 14.0, ACCENT);
                        let q = line.quantity.clamp(0, u16::MAX as i64) as u16;
                        button(
                            r,
                            "-",
                            UiAction::SetQuantity {
                                sku: line.sku.clone(),
                                quantity: q.saturating_sub(1),
                            },
                        );
                        button(
                            r,
                            "+",
                            UiAction::SetQuantity {
                                sku: line.sku.clone(),
                                quantity: q.saturating_add(1),
                            },
                        );
                    });
                    text(
                        b,
                        format!(
                            "held for you {}:{:02}",
                            line.held_for_s / 60,
                            line.held_for_s % 60
                        ),
                        12.0,
                        MUTED,
                    );
                }
                if let Some(total) = &cart.total {
                    text(b, format!("Total {total}"), 16.0, Color::WHITE);
                }
                row(b, |r| {
                    if !cart.lines.is_empty() {
                        button(r, "Checkout with saved card", UiAction::Checkout);
                    }
                    button(r, "Close", UiAction::ToggleCart);
                });
                if let Some(shared) = &cart.shared {
                    draw_shared_cart(shared, b);
                }
            });
        }
        Panel::Chat => boxed(p, |b| {
            row(b, |r| {
                for reaction in &view.reactions {
                    button(
                        r,
                        format!("{} {}", reaction.key, reaction.label),
                        UiAction::React(reaction.reaction),
                    );
                }
                // Beside the reactions (on their second line): the panel
                // does not grow over the room for it.
                let t = &view.together;
                let label = match (&t.party, t.open) {
                    (_, true) => format!("{TOGETHER_KEY} Close together"),
                    (Some(party), false) => {
                        format!("{TOGETHER_KEY} Party of {}", party.members.len())
                    }
                    (None, false) => format!("{TOGETHER_KEY} Together"),
                };
                button(r, label, UiAction::ToggleTogether);
                button(
                    r,
                    format!("{} Rewards", super::rewards::REWARDS_KEY),
                    UiAction::ToggleRewards,
                );
            });
            for line in &view.chat {
                row(b, |r| {
                    text(r, format!("{}:", line.name), 14.0, ACCENT);
                    text(r, line.text.clone(), 14.0, Color::WHITE);
                });
            }
            // Party chat below the room's, in the party's colours.
            for line in &view.together.party_chat {
                let colour = line.colour.map(party_colour).unwrap_or(PARTY);
                let say = |r: &mut ChildSpawnerCommands| {
                    text(r, "[party]", 13.0, PARTY);
                    if let Some(from) = &line.from {
                        text(r, format!("{from}:"), 14.0, colour);
                    }
                    text(r, line.text.clone(), 14.0, Color::WHITE);
                };
                match &line.product {
                    // A shared product: the line opens its card.
                    Some(product) => {
                        b.spawn((
                            Button,
                            ActionButton(UiAction::Select(product.clone())),
                            Node {
                                flex_direction: FlexDirection::Row,
                                column_gap: px(6),
                                padding: UiRect::axes(px(4), px(2)),
                                border_radius: BorderRadius::all(px(4)),
                                ..default()
                            },
                            BackgroundColor(BUTTON),
                        ))
                        .with_children(say);
                    }
                    None => row(b, say),
                }
            }
            match &view.chat_draft {
                Some(draft) if draft.starts_with(PARTY_CHAT_PREFIX) => text(
                    b,
                    format!("party > {}_", &draft[PARTY_CHAT_PREFIX.len()..]),
                    15.0,
                    PARTY,
                ),
                Some(draft) => text(b, format!("> {draft}_"), 15.0, GOLD),
                None if view.together.party.is_some() => text(
                    b,
                    format!("Press Enter to chat; start with {PARTY_CHAT_PREFIX}for the party"),
                    13.0,
                    MUTED,
                ),
                None => text(b, "Press Enter to chat", 13.0, MUTED),
            }
        }),
        Panel::Confirmation => {
            let Some(c) = &view.confirmation else {
                return;
            };
            boxed(p, |b| {
                text(b, c.title.clone(), 20.0, if c.ok { GOLD } else { ACCENT });
                for line in &c.lines {
                    text(b, line.clone(), 15.0, Color::WHITE);
                }
                row(b, |r| {
                    for button in &c.buttons {
                        view_button(r, button);
                    }
                });
            });
        }
        Panel::Notice => {
            if let Some(n) = &view.notice {
                boxed(p, |b| text(b, n.clone(), 15.0, Color::WHITE));
            }
        }
        Panel::Together => draw_together(&view.together, &view.voice, p),
        Panel::Prompts => draw_prompts(&view.together, p),
    }
}

/// The poll with its results, the questions, the giveaway and the last
/// winner; "Ask the host" while a show is live.
fn draw_live(live: &LiveView, show_live: bool, p: &mut ChildSpawnerCommands) {
    let quiet = live.poll.is_none()
        && live.questions.is_empty()
        && live.giveaway.is_none()
        && live.winner.is_none()
        && live.ask_draft.is_none();
    if quiet && !show_live {
        return;
    }
    boxed(p, |b| {
        if let Some(poll) = &live.poll {
            text(b, format!("Poll: {}", poll.question), 17.0, Color::WHITE);
            for option in &poll.options {
                row(b, |r| {
                    match &option.vote {
                        Some(vote) => view_button(r, vote),
                        None => text(r, option.label.clone(), 15.0, Color::WHITE),
                    }
                    let yours = if option.yours { "  your vote" } else { "" };
                    let colour = if option.yours { GOLD } else { MUTED };
                    text(
                        r,
                        format!("{}% ({}){yours}", option.percent, option.count),
                        14.0,
                        colour,
                    );
                });
                // The result as a bar: the share of the panel's width.
                b.spawn((
                    Node {
                        width: percent(f32::from(option.percent.max(1))),
                        height: px(4),
                        border_radius: BorderRadius::all(px(2)),
                        ..default()
                    },
                    BackgroundColor(if option.yours { GOLD } else { ACCENT }),
                ));
            }
            text(b, poll.status.clone(), 13.0, MUTED);
        }
        if !live.questions.is_empty() {
            text(b, "Questions for the host", 16.0, Color::WHITE);
        }
        for q in &live.questions {
            row(b, |r| {
                let (prefix, colour) = if q.answered {
                    ("Answered - ", MUTED)
                } else {
                    ("", Color::WHITE)
                };
                text(r, format!("{prefix}{}", q.text), 14.0, colour);
                if q.votes > 0 {
                    text(r, format!("+{}", q.votes), 14.0, ACCENT);
                }
                if let Some(upvote) = &q.upvote {
                    view_button(r, upvote);
                }
            });
        }
        match &live.ask_draft {
            Some(draft) => text(
                b,
                format!("Ask: {draft}_  (Enter sends, Esc closes)"),
                14.0,
                Color::WHITE,
            ),
            None if show_live => view_button(b, &super::live::ask_button()),
            None => {}
        }
        if let Some(g) = &live.giveaway {
            text(b, format!("Giveaway: {}", g.prize), 17.0, GOLD);
            text(b, g.rule.clone(), 13.0, MUTED);
            row(b, |r| {
                let entries = if g.entries == 1 { "entry" } else { "entries" };
                text(
                    r,
                    format!("{} - {} {entries}", g.closes, g.entries),
                    13.0,
                    MUTED,
                );
                match &g.enter {
                    Some(enter) => view_button(r, enter),
                    None if g.entered => text(r, "You're in", 14.0, GOLD),
                    None => {}
                }
            });
        }
        if let Some(winner) = &live.winner {
            row(b, |r| {
                text(r, winner.clone(), 15.0, GOLD);
                if let Some(check) = &live.check {
                    view_button(r, check);
                }
            });
        }
        for line in &live.checked {
            text(b, line.clone(), 13.0, MUTED);
        }
    });
}

fn draw_rewards(panel: &RewardsPanel, p: &mut ChildSpawnerCommands) {
    boxed(p, |b| {
        text(b, "Rewards", 18.0, Color::WHITE);
        text(b, panel.points.clone(), 15.0, GOLD);
        if let Some(problem) = &panel.problem {
            text(b, problem.clone(), 13.0, ACCENT);
        }
        if !panel.quests.is_empty() {
            text(b, "Quests and badges", 15.0, Color::WHITE);
        }
        for quest in &panel.quests {
            text(b, quest.clone(), 13.0, MUTED);
        }
        for (title, board) in [
            ("This show's leaders", &panel.show_board),
            ("All-time leaders", &panel.all_time_board),
        ] {
            if !board.is_empty() {
                text(b, title, 15.0, Color::WHITE);
                text(b, board.join("\n"), 13.0, MUTED);
            }
        }
        if !panel.offers.is_empty() {
            text(b, "Spend points", 15.0, Color::WHITE);
        }
        for offer in &panel.offers {
            row(b, |r| {
                text(r, offer.text.clone(), 13.0, MUTED);
                if let Some(buy) = &offer.buy {
                    view_button(r, buy);
                }
            });
        }
        for coupon in &panel.coupons {
            text(b, coupon.clone(), 13.0, GOLD);
        }
        view_button(b, &panel.close);
    });
}

/// The party's shared cart, under the shopper's own in the cart panel.
fn draw_shared_cart(shared: &SharedCartView, b: &mut ChildSpawnerCommands) {
    text(b, "Party's shared cart", 18.0, Color::WHITE);
    if shared.lines.is_empty() {
        text(
            b,
            "Empty: \"Add to shared cart\" on a product's card.",
            14.0,
            MUTED,
        );
    }
    for line in &shared.lines {
        row(b, |r| {
            text(
                r,
                format!("{} x {}", line.quantity, line.name),
                14.0,
                Color::WHITE,
            );
            text(r, line.line_total.clone(), 14.0, ACCENT);
            for b in line.buttons() {
                view_button(r, &b);
            }
        });
        text(
            b,
            format!(
                "{} - held {}:{:02}",
                line.who,
                line.held_for_s / 60,
                line.held_for_s % 60
            ),
            12.0,
            MUTED,
        );
    }
    for payer in &shared.by_payer {
        text(b, payer.clone(), 14.0, Color::WHITE);
    }
    if let Some(total) = &shared.total {
        text(b, format!("Shared total {total}"), 16.0, Color::WHITE);
    }
    row(b, |r| {
        for b in shared.checkouts() {
            view_button(r, &b);
        }
    });
}

/// A group deal on the card: the team price, the teams forming, yours.
fn draw_team_deal(deal: &TeamDealView, b: &mut ChildSpawnerCommands) {
    text(b, deal.headline.clone(), 15.0, GOLD);
    text(
        b,
        format!(
            "Team deal ends in {}:{:02} - {} left",
            deal.ends_in_s / 60,
            deal.ends_in_s % 60,
            deal.units_left
        ),
        12.0,
        MUTED,
    );
    for team in &deal.teams {
        row(b, |r| {
            text(r, team.text.clone(), 14.0, Color::WHITE);
            if team.can_join {
                button(
                    r,
                    "Join",
                    UiAction::JoinTeam {
                        deal: deal.deal,
                        team: team.team,
                    },
                );
            }
        });
    }
    if let Some(yours) = &deal.yours {
        text(b, yours.clone(), 14.0, ACCENT);
    }
    if let Some(why) = &deal.refusal {
        text(b, why.clone(), 14.0, GOLD);
    }
    if deal.can_start {
        row(b, |r| {
            button(r, "Start a team", UiAction::StartTeam(deal.deal))
        });
    }
}

/// Your microphone in a line, its switches, and the volume and mute of
/// the shopper you look at.
fn draw_voice(v: &VoiceView, p: &mut ChildSpawnerCommands) {
    // In XR the wrist panel has the mic line; the window mirrors the
    // headset's view and keeps it clear.
    if v.xr {
        return;
    }
    p.spawn((
        Node {
            flex_direction: FlexDirection::Column,
            // The chat's width at most: a long line wraps.
            max_width: px(380),
            padding: UiRect::axes(px(10), px(6)),
            row_gap: px(4),
            border_radius: BorderRadius::all(px(10)),
            ..default()
        },
        BackgroundColor(PANEL),
    ))
    .with_children(|b| {
        row(b, |r| {
            // A dot: green while talking, red with the mic off.
            let dot = if v.live {
                SPEAKING
            } else if v.mode == TalkMode::Muted || v.problem.is_some() {
                ACCENT
            } else {
                MUTED
            };
            r.spawn((
                Node {
                    width: px(10),
                    height: px(10),
                    border_radius: BorderRadius::MAX,
                    ..default()
                },
                BackgroundColor(dot),
            ));
            text(
                r,
                v.line(),
                15.0,
                if v.live { SPEAKING } else { Color::WHITE },
            );
            for button in v.buttons() {
                view_button(r, &button);
            }
        });
        if let Some(person) = &v.pointed {
            row(b, |r| {
                text(r, person.label(), 14.0, MUTED);
                for (i, button) in person.buttons().into_iter().enumerate() {
                    // Mute has the key; the volume steps are clicks.
                    let button = if i == 0 {
                        button.with_key(MUTE_KEY)
                    } else {
                        button
                    };
                    view_button(r, &button);
                }
            });
        }
    });
}

/// A party member's voice under their line: speaking or muted, and the
/// volume and mute buttons.
fn draw_member_voice(person: &PersonVoiceView, p: &mut ChildSpawnerCommands) {
    row(p, |r| {
        let (words, colour) = if person.muted {
            ("  muted".to_owned(), ACCENT)
        } else if person.speaking {
            (format!("  speaking - {}%", person.volume), SPEAKING)
        } else {
            (format!("  voice {}%", person.volume), MUTED)
        };
        text(r, words, 12.0, colour);
        for button in person.buttons() {
            view_button(r, &button);
        }
    });
}

fn draw_together(t: &TogetherView, voice: &VoiceView, p: &mut ChildSpawnerCommands) {
    // Closed, the chat panel's button opens it.
    if !t.open {
        return;
    }
    boxed(p, |b| {
        text(b, "Together", 18.0, Color::WHITE);
        if let Some(refusal) = &t.refusal {
            text(b, format!("Party: {refusal}"), 13.0, ACCENT);
        }
        match &t.party {
            Some(party) => {
                text(
                    b,
                    format!("Your party ({})", party.members.len()),
                    15.0,
                    PARTY,
                );
                for m in &party.members {
                    row(b, |r| {
                        r.spawn((
                            Node {
                                width: px(12),
                                height: px(12),
                                border_radius: BorderRadius::MAX,
                                ..default()
                            },
                            BackgroundColor(party_colour(m.colour)),
                        ));
                        text(r, m.label(), 14.0, Color::WHITE);
                        text(r, format!("- {}", m.place), 12.0, MUTED);
                        for button in party.member_buttons(m) {
                            view_button(r, &button);
                        }
                    });
                    if let Some(person) = voice.members.iter().find(|v| v.account == m.account) {
                        draw_member_voice(person, b);
                    }
                }
                if !party.invited.is_empty() {
                    text(
                        b,
                        format!("Invited: {}", party.invited.join(", ")),
                        12.0,
                        MUTED,
                    );
                }
                for button in party.buttons() {
                    view_button(b, &button);
                }
            }
            None => text(b, "No party yet.", 13.0, MUTED),
        }
        if let Some(member) = &t.invitable {
            view_button(b, &member.button());
        } else {
            text(
                b,
                format!("Look at a shopper and press {INVITE_KEY} to invite them."),
                12.0,
                MUTED,
            );
        }
        if !t.requests.is_empty() {
            text(b, "Friend requests", 15.0, GOLD);
            for req in &t.requests {
                row(b, |r| {
                    text(r, req.name.clone(), 14.0, Color::WHITE);
                    for button in req.buttons() {
                        view_button(r, &button);
                    }
                });
            }
        }
        text(b, "Friends", 15.0, GOLD);
        if t.friends.is_empty() {
            text(b, "No friends yet.", 12.0, MUTED);
        }
        for f in &t.friends {
            row(b, |r| {
                text(
                    r,
                    f.name.clone(),
                    14.0,
                    if f.online { Color::WHITE } else { MUTED },
                );
                text(r, f.presence.clone(), 12.0, MUTED);
                for button in f.buttons() {
                    view_button(r, &button);
                }
            });
        }
        // Your code to give, and a friend's code to type.
        if let Some(code) = &t.code {
            text(b, code.clone(), 15.0, GOLD);
        }
        if let Some(link) = &t.link {
            text(b, link.clone(), 12.0, MUTED);
        }
        if let Some(draft) = &t.code_draft {
            text(b, format!("Friend's code > {draft}_"), 15.0, GOLD);
            text(b, "Enter adds them, Esc closes", 12.0, MUTED);
        }
        row(b, |r| view_button(r, &t.add_friend_button()));
        if let Some(added) = &t.added {
            text(
                b,
                added.text.clone(),
                13.0,
                if added.ok { PARTY } else { ACCENT },
            );
        }
    });
}

fn draw_prompts(t: &TogetherView, p: &mut ChildSpawnerCommands) {
    let toast = |p: &mut ChildSpawnerCommands, f: &dyn Fn(&mut ChildSpawnerCommands)| {
        p.spawn((
            Node {
                flex_direction: FlexDirection::Column,
                align_items: AlignItems::Center,
                padding: UiRect::axes(px(14), px(8)),
                row_gap: px(6),
                border_radius: BorderRadius::all(px(8)),
                ..default()
            },
            BackgroundColor(Color::srgb(0.05, 0.35, 0.38)),
        ))
        .with_children(|b| f(b));
    };
    if let Some(invite) = &t.invite {
        toast(p, &|b| {
            text(b, invite.text.clone(), 17.0, Color::WHITE);
            row(b, |r| {
                for button in invite.buttons() {
                    view_button(r, &button);
                }
            });
        });
    }
    if let Some(follow) = &t.follow {
        toast(p, &|b| {
            text(b, follow.text.clone(), 17.0, Color::WHITE);
            if follow.may_be_full {
                text(b, "It may be full.", 13.0, GOLD);
            }
            row(b, |r| {
                for button in follow.buttons() {
                    view_button(r, &button);
                }
            });
        });
    }
}
