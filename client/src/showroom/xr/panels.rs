//! The desktop's view-model ([`ShowroomView`]) drawn in world space: Bevy UI
//! renders each panel into an image on a quad.
//! - the product card beside the product it is about;
//! - chat and cart on the left wrist;
//! - the flash sale's countdown above the stage;
//! - "Together" (your code, friend requests, friends with where they are,
//!   the party, its invite and follow offer) and the party's shared cart,
//!   each floating before the shopper when opened from the wrist.
//!
//! A hand's ray clicks a panel's buttons: the hit point on the quad maps to
//! the panel's pixels, and the button there sends its [`UiAction`], the
//! same one the desktop's button sends.

use super::input::LEFT;
use super::rig::TrackingSpace;
use crate::showroom::input_mode::in_xr;
use crate::showroom::room::{DisplayedProduct, RoomLayout};
use crate::showroom::ui::together::TogetherView;
use crate::showroom::ui::view::{ReviewPrompt, SaleState, ShowroomView, ViewButton};
use crate::showroom::ui::voice::VoiceView;
use crate::showroom::ui::{UiAction, ViewBuilt};
use crate::showroom::{AppState, ShowroomSystems, ui::CurrentView};
use bevy::camera::{ImageRenderTarget, RenderTarget};
use bevy::prelude::*;
use bevy::render::render_resource::TextureFormat;

/// Panel pixels per metre: sharp at arm's length; the stage's panel, read
/// from across the room, needs fewer.
const PX_PER_M: f32 = 1000.0;
const STAGE_PX_PER_M: f32 = 500.0;
/// A panel's camera draws for this many frames after its content changes
/// (the image keeps the picture in between).
const DRAW_FRAMES: u8 = 3;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        OnEnter(AppState::Showroom),
        spawn_panels.after(super::rig::spawn_rig).run_if(in_xr),
    )
    .add_systems(
        Update,
        (
            fill_panels,
            place_panels,
            collect_buttons,
            draw_when_changed,
        )
            .chain()
            .in_set(ShowroomSystems::Present)
            .after(ViewBuilt)
            .run_if(in_xr.and_then(in_state(AppState::Showroom))),
    );
}

/// Which panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelKind {
    Card,
    Wrist,
    Sale,
    /// Friends and the party, while "Together" is open.
    Together,
    /// The party's shared cart, while the cart is open in a party.
    SharedCart,
    /// The poll, the questions and the giveaway, beside the stage screen.
    Live,
}

/// The panels' layout: `spawn_panels` and `fill_panels` build the nodes
/// from these, and [`button_rects`] works out from them where the buttons
/// land, so a panel can leave out what would not fit.
const PAD: f32 = 14.0;
const BUTTON_FONT: f32 = 18.0;
const BUTTON_PAD: Vec2 = Vec2::new(14.0, 8.0);
const COLUMN_GAP: f32 = 10.0;
const ROW_GAP: f32 = 6.0;
/// Bevy's default font (Fira Mono) advances each glyph 0.6 of its size,
/// and a line is 1.2 of it (`LineHeight`'s default).
const ADVANCE: f32 = 0.6;
const LINE: f32 = 1.2;

/// Each panel's size in metres.
fn panel_size(kind: PanelKind) -> Vec2 {
    match kind {
        PanelKind::Card => Vec2::new(0.36, 0.26),
        PanelKind::Wrist => Vec2::new(0.22, 0.2),
        PanelKind::Sale => Vec2::new(1.4, 0.35),
        PanelKind::Live => Vec2::new(1.2, 1.3),
        PanelKind::Together => Vec2::new(0.55, 0.75),
        PanelKind::SharedCart => Vec2::new(0.5, 0.6),
    }
}

/// Each panel's size in pixels.
pub fn panel_px(kind: PanelKind) -> UVec2 {
    let density = if matches!(kind, PanelKind::Sale | PanelKind::Live) {
        STAGE_PX_PER_M
    } else {
        PX_PER_M
    };
    (panel_size(kind) * density).as_uvec2()
}

/// The text's size on each panel.
fn text_font(kind: PanelKind) -> f32 {
    match kind {
        PanelKind::Sale | PanelKind::Live => 22.0,
        PanelKind::Together | PanelKind::SharedCart => 16.0,
        _ => 20.0,
    }
}

/// Whether the buttons lie on the panel, with room above them for the
/// text (its long lines wrapped); `""` for a panel whose text may be cut.
pub fn fits(kind: PanelKind, text: &str, buttons: &[(String, UiAction)]) -> bool {
    let px = panel_px(kind).as_vec2();
    let inner = px.x - 2.0 * PAD;
    let font = text_font(kind);
    let text_height: f32 = if text.is_empty() {
        0.0
    } else {
        text.split('\n')
            .map(|l| {
                let w = l.chars().count() as f32 * font * ADVANCE;
                (w / inner).ceil().max(1.0) * font * LINE
            })
            .sum()
    };
    let rects = button_rects(kind, buttons);
    let top = rects.iter().map(|r| r.min.y).fold(px.y - PAD, f32::min);
    rects
        .iter()
        .all(|r| r.max.x <= px.x - PAD + 0.5 && r.max.y <= px.y - PAD + 0.5)
        && PAD + text_height <= top + 0.5
}

/// Where a panel's buttons land, in its pixels, as the UI lays them out:
/// wrapped rows at the bottom (the text above shrinks, clipped, to make
/// room); a label wider than the row wraps inside its button.
pub fn button_rects(kind: PanelKind, buttons: &[(String, UiAction)]) -> Vec<Rect> {
    let px = panel_px(kind).as_vec2();
    let inner = px.x - 2.0 * PAD;
    let widest = inner - 2.0 * BUTTON_PAD.x;
    // Each row: its buttons' x and size.
    let mut rows: Vec<Vec<(f32, Vec2)>> = Vec::new();
    let mut x = 0.0;
    for (label, _) in buttons {
        let w = label.chars().count() as f32 * BUTTON_FONT * ADVANCE;
        let lines = (w / widest).ceil().max(1.0);
        let size = Vec2::new(
            w.min(widest) + 2.0 * BUTTON_PAD.x,
            lines * BUTTON_FONT * LINE + 2.0 * BUTTON_PAD.y,
        );
        match rows.last_mut() {
            Some(row) if x + COLUMN_GAP + size.x <= inner => {
                x += COLUMN_GAP;
                row.push((x, size));
                x += size.x;
            }
            _ => {
                rows.push(vec![(0.0, size)]);
                x = size.x;
            }
        }
    }
    let height = |row: &Vec<(f32, Vec2)>| row.iter().map(|(_, s)| s.y).fold(0.0, f32::max);
    let total: f32 =
        rows.iter().map(height).sum::<f32>() + ROW_GAP * rows.len().saturating_sub(1) as f32;
    let mut y = PAD + (px.y - 2.0 * PAD - total).max(0.0);
    let mut rects = Vec::new();
    for row in &rows {
        let h = height(row);
        for (x, size) in row {
            rects.push(Rect::new(PAD + x, y, PAD + x + size.x, y + h));
        }
        y += h + ROW_GAP;
    }
    rects
}

/// Friends, friend requests and shared-cart lines a panel lists (friends
/// online first); the rest are counted, so the buttons stay on the quad.
pub const XR_FRIENDS: usize = 6;
pub const XR_REQUESTS: usize = 3;
pub const XR_SHARED_LINES: usize = 5;

/// A panel that floats before the shopper where they looked when it
/// opened, and stays there (in the tracking space) until it closes.
#[derive(Component, Debug, Default)]
struct Floating {
    placed: bool,
}

/// A panel's quad: its size in metres and pixels, and its buttons' rects
/// in pixels (refreshed each frame from the UI layout).
#[derive(Component, Debug, Clone)]
pub struct WorldPanel {
    pub kind: PanelKind,
    pub size: Vec2,
    pub px: UVec2,
    pub buttons: Vec<(Rect, UiAction)>,
    text: Entity,
    actions: Entity,
    /// The buttons on show now, as last built.
    shown: Vec<(String, UiAction)>,
    camera: Entity,
    /// Frames left for the camera to draw.
    draw: u8,
}

impl WorldPanel {
    /// The entity whose `Text` the panel shows.
    pub fn text(&self) -> Entity {
        self.text
    }
}

/// A button on a panel.
#[derive(Component, Debug, Clone)]
pub struct PanelButton(pub UiAction);

/// Where `ray` meets the panel's quad (facing +Z, centred), in the panel's
/// pixels from its top-left corner.
pub fn hit(ray: Ray3d, panel: &WorldPanel, at: &GlobalTransform) -> Option<(f32, Vec2)> {
    let inverse = at.affine().inverse();
    let origin = inverse.transform_point3(ray.origin);
    let direction = inverse.transform_vector3(*ray.direction);
    if direction.z.abs() < 1e-6 {
        return None;
    }
    let t = -origin.z / direction.z;
    if t <= 0.0 {
        return None;
    }
    let p = origin + direction * t;
    let uv = Vec2::new(p.x / panel.size.x + 0.5, 0.5 - p.y / panel.size.y);
    let inside = (0.0..=1.0).contains(&uv.x) && (0.0..=1.0).contains(&uv.y);
    inside.then(|| (t, uv * panel.px.as_vec2()))
}

/// The action of the button the nearest panel shows where `ray` meets it.
pub fn click<'a>(
    ray: Ray3d,
    panels: impl Iterator<Item = (&'a WorldPanel, &'a GlobalTransform)>,
) -> Option<UiAction> {
    let (_, panel, px) = panels
        .filter_map(|(panel, at)| hit(ray, panel, at).map(|(t, px)| (t, panel, px)))
        .min_by(|a, b| a.0.total_cmp(&b.0))?;
    panel
        .buttons
        .iter()
        .find(|(rect, _)| rect.contains(px))
        .map(|(_, action)| action.clone())
}

/// Whether `ray` meets a panel on show; a hidden one (a closed
/// "Together") is not there to catch it.
pub fn on_a_panel<'a>(
    ray: Ray3d,
    panels: impl Iterator<Item = (&'a WorldPanel, &'a GlobalTransform, &'a Visibility)>,
) -> bool {
    panels
        .into_iter()
        .filter(|(_, _, v)| **v != Visibility::Hidden)
        .any(|(panel, at, _)| hit(ray, panel, at).is_some())
}

fn spawn_panels(
    mut commands: Commands,
    mut images: ResMut<Assets<Image>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    space: Query<Entity, With<TrackingSpace>>,
) {
    for kind in [
        PanelKind::Card,
        PanelKind::Wrist,
        PanelKind::Sale,
        PanelKind::Together,
        PanelKind::SharedCart,
        PanelKind::Live,
    ] {
        let (size, px) = (panel_size(kind), panel_px(kind));
        let image = images.add(Image::new_target_texture(
            px.x,
            px.y,
            TextureFormat::Rgba8UnormSrgb,
            None,
        ));
        let camera = commands
            .spawn((
                DespawnOnExit(AppState::Showroom),
                Camera2d,
                Camera {
                    order: -1,
                    clear_color: ClearColorConfig::Custom(Color::srgba(0.06, 0.07, 0.1, 0.92)),
                    ..default()
                },
                RenderTarget::Image(ImageRenderTarget::from(image.clone())),
            ))
            .id();
        let text = commands
            .spawn((
                Text::default(),
                TextFont::from_font_size(text_font(kind)),
                TextColor(Color::WHITE),
            ))
            .id();
        // The text gives way (clipped) to the buttons below it, so that
        // they stay on the quad where a ray reaches them.
        let clip = commands
            .spawn(Node {
                // A column, so the text spans the width as it did unwrapped.
                flex_direction: FlexDirection::Column,
                flex_shrink: 1.0,
                min_height: Val::Px(0.0),
                overflow: Overflow::clip(),
                ..default()
            })
            .add_child(text)
            .id();
        let actions = commands
            .spawn(Node {
                flex_direction: FlexDirection::Row,
                // Many buttons (a friend's "Join" each) wrap onto more rows.
                flex_wrap: FlexWrap::Wrap,
                column_gap: Val::Px(COLUMN_GAP),
                row_gap: Val::Px(ROW_GAP),
                flex_shrink: 0.0,
                ..default()
            })
            .id();
        commands
            .spawn((
                DespawnOnExit(AppState::Showroom),
                UiTargetCamera(camera),
                Node {
                    width: Val::Percent(100.0),
                    height: Val::Percent(100.0),
                    flex_direction: FlexDirection::Column,
                    justify_content: JustifyContent::SpaceBetween,
                    padding: UiRect::all(Val::Px(PAD)),
                    ..default()
                },
            ))
            .add_children(&[clip, actions]);
        let quad = commands
            .spawn((
                DespawnOnExit(AppState::Showroom),
                WorldPanel {
                    kind,
                    size,
                    px,
                    buttons: Vec::new(),
                    text,
                    actions,
                    shown: Vec::new(),
                    camera,
                    draw: DRAW_FRAMES,
                },
                Mesh3d(meshes.add(Rectangle::from_size(size))),
                MeshMaterial3d(materials.add(StandardMaterial {
                    base_color_texture: Some(image),
                    unlit: true,
                    alpha_mode: AlphaMode::Blend,
                    double_sided: true,
                    cull_mode: None,
                    ..default()
                })),
                Transform::default(),
                Visibility::Hidden,
            ))
            .id();
        let floating = matches!(kind, PanelKind::Together | PanelKind::SharedCart);
        if floating {
            commands.entity(quad).insert(Floating::default());
        }
        // The wrist panel rides in the tracking space with the hand; the
        // floating ones stay where the shopper stands as they move.
        if (kind == PanelKind::Wrist || floating)
            && let Ok(space) = space.single()
        {
            commands.entity(space).add_child(quad);
        }
    }
}

/// What a panel says and which buttons it has, from the view.
pub fn panel_content(
    kind: PanelKind,
    view: &ShowroomView,
) -> Option<(String, Vec<(String, UiAction)>)> {
    match kind {
        PanelKind::Card => {
            let card = view.card.as_ref()?;
            let variant = card.variants.iter().find(|v| v.selected);
            let mut text = format!(
                "{}\n{}",
                card.name,
                variant.map_or(&card.price, |v| &v.price)
            );
            if let Some(v) = variant {
                text += &format!("  ·  {}  ·  {} left", v.label, v.stock);
            }
            if let Some(by) = &card.held_by {
                text += &format!("\nIn {by}'s hands: reach out to take it");
            }
            if let Some(rating) = &card.rating {
                text += &format!("\n{rating}");
            }
            for line in &card.latest_reviews {
                text += &format!("\n{line}");
            }
            let mut buttons = Vec::new();
            // The same review row as the desktop card's.
            match &card.review {
                ReviewPrompt::None => {}
                ReviewPrompt::Ask => {
                    text += "\nYours arrived. Rate it:";
                    for stars in 1..=5u8 {
                        let product = card.product.clone();
                        buttons.push((format!("{stars}/5"), UiAction::Review { product, stars }));
                    }
                }
                ReviewPrompt::Done(stars) => text += &format!("\nYou rated it {stars} of 5"),
                ReviewPrompt::Refused(why) => text += &format!("\n{why}"),
            }
            if let Some(v) = variant.filter(|v| v.stock > 0) {
                buttons.push((
                    "Add to cart".into(),
                    UiAction::AddToCart { sku: v.sku.clone() },
                ));
                buttons.push(("Buy now".into(), UiAction::BuyNow { sku: v.sku.clone() }));
                if card.shared_add {
                    buttons.push((
                        "Add to shared".into(),
                        UiAction::AddToSharedCart { sku: v.sku.clone() },
                    ));
                }
            }
            // Group deals: the team price, your team, and start or join.
            for deal in &card.team_deals {
                text += &format!("\n{}", deal.headline);
                for team in &deal.teams {
                    text += &format!("\n{}", team.text);
                    if team.can_join {
                        buttons.push((
                            "Join team".into(),
                            UiAction::JoinTeam {
                                deal: deal.deal,
                                team: team.team,
                            },
                        ));
                    }
                }
                if let Some(line) = deal.yours.as_ref().or(deal.refusal.as_ref()) {
                    text += &format!("\n{line}");
                }
                if deal.can_start {
                    buttons.push(("Start a team".into(), UiAction::StartTeam(deal.deal)));
                }
            }
            if view.together.shareable.as_ref() == Some(&card.product) {
                buttons.push(("Share".into(), UiAction::ShareProduct(card.product.clone())));
            }
            Some((text, buttons))
        }
        PanelKind::Wrist => {
            // The notice first: friend calls' failures and refusals have
            // no other place in a headset.
            let mut text = view
                .notice
                .as_ref()
                .map_or_else(String::new, |n| format!("{n}\n"));
            // The order under review, or the checkout's answer: all of it,
            // and its buttons ("Pay ...", "Cancel") never give way.
            let mut checkout_buttons = Vec::new();
            if let Some(c) = &view.confirmation {
                text += &format!("{}\n", c.title);
                for line in &c.lines {
                    text += &format!("{line}\n");
                }
                // No typing in a headset: the code box is the desktop's.
                let tappable = c
                    .buttons
                    .iter()
                    .filter(|b| b.action != UiAction::TypeCoupon);
                checkout_buttons.extend(tappable.cloned().map(|b| (0, plain(b))));
            }
            text += &match &view.cart.total {
                Some(total) => format!("Cart: {} items, {total}\n", view.cart.units),
                None => "Cart is empty\n".into(),
            };
            for line in view.chat.iter().rev().take(4).rev() {
                text += &format!("{}: {}\n", line.name, line.text);
            }
            // The party: its size, its last lines, and the prompts.
            let t = &view.together;
            if let Some(party) = &t.party {
                text += &format!("Party of {}\n", party.members.len());
            }
            for line in t.party_chat.iter().rev().take(2).rev() {
                text += &format!(
                    "[party] {}: {}\n",
                    line.from.as_deref().unwrap_or("-"),
                    line.text
                );
            }
            // Each button with how soon it gives way when they do not all
            // fit ("Together" never: the panel it opens has the rest).
            let mut buttons: Vec<(u8, (String, UiAction))> = if view.cart.units > 0 {
                vec![(3, ("Checkout".into(), UiAction::Checkout))]
            } else {
                Vec::new()
            };
            // The shared cart's panel (its lines and checkouts) opens here.
            if let Some(shared) = &view.cart.shared {
                if !shared.lines.is_empty() {
                    text += &format!("Shared cart: {}\n", shared.by_payer.join(", "));
                }
                buttons.push((4, ("Shared cart".into(), UiAction::ToggleCart)));
            }
            buttons.push((0, ("Together".into(), UiAction::ToggleTogether)));
            buttons.extend(checkout_buttons);
            if let Some(invite) = &t.invite {
                text += &format!("{}\n", invite.text);
                buttons.extend(invite.buttons().into_iter().map(|b| (1, plain(b))));
            }
            if let Some(follow) = &t.follow {
                text += &format!("{}\n", follow.moved);
                buttons.extend(follow.buttons().into_iter().map(|b| (2, plain(b))));
            }
            if let Some(member) = &t.invitable {
                buttons.push((5, plain(member.button())));
            }
            // Your mic in a line; its switches give way first.
            let voice = &view.voice;
            text += &format!("Mic: {}\n", voice.line());
            buttons.extend(voice.buttons().into_iter().map(|b| (7, plain(b))));
            if let Some(person) = &voice.pointed {
                let mute = person.buttons().into_iter().next();
                buttons.extend(mute.map(|b| (6, about(b, &person.name))));
            }
            loop {
                let shown: Vec<_> = buttons.iter().map(|(_, b)| b.clone()).collect();
                let last = buttons.iter().map(|(r, _)| *r).max().unwrap_or(0);
                if last == 0 || fits(kind, "", &shown) {
                    return Some((text, shown));
                }
                buttons.retain(|(r, _)| *r < last);
            }
        }
        PanelKind::Together => {
            let t = &view.together;
            if !t.open {
                return None;
            }
            // Fewer friends, then fewer requests, then fewer members with
            // the leader's buttons, until it all lies on the quad.
            let mut lists = Lists {
                voiced: vitrine_shared::limits::party::MAX_PARTY_SIZE,
                friends: XR_FRIENDS,
                requests: XR_REQUESTS,
                managed: vitrine_shared::limits::party::MAX_PARTY_SIZE,
            };
            loop {
                let (text, buttons) = together_panel(t, &view.voice, lists);
                if fits(kind, &text, &buttons) || !lists.shrink() {
                    return Some((text, buttons));
                }
            }
        }
        PanelKind::SharedCart => {
            let shared = view.cart.shared.as_ref().filter(|_| view.cart.open)?;
            let mut text = "Party's shared cart\n".to_owned();
            let mut buttons = Vec::new();
            if shared.lines.is_empty() {
                text += "Empty: \"Add to shared\" on a product's card.\n";
            }
            // Numbered: each line's buttons carry its number.
            for (i, line) in shared.lines.iter().enumerate().take(XR_SHARED_LINES) {
                let n = format!("#{}", i + 1);
                text += &format!(
                    "{n} {} x {}  {}\n    {}\n",
                    line.quantity, line.name, line.line_total, line.who
                );
                buttons.extend(line.buttons().into_iter().map(|b| about(b, &n)));
            }
            if shared.lines.len() > XR_SHARED_LINES {
                text += &format!(
                    "and {} more lines (the desktop lists them all)\n",
                    shared.lines.len() - XR_SHARED_LINES
                );
            }
            for payer in &shared.by_payer {
                text += &format!("{payer}\n");
            }
            if let Some(total) = &shared.total {
                text += &format!("Shared total {total}\n");
            }
            buttons.extend(shared.checkouts().into_iter().map(plain));
            buttons.push(("Close".into(), UiAction::ToggleCart));
            Some((text, buttons))
        }
        PanelKind::Live => {
            let live = &view.live;
            let mut text = String::new();
            let mut buttons = Vec::new();
            if let Some(poll) = &live.poll {
                text += &format!("POLL: {}\n", poll.question);
                for o in &poll.options {
                    let yours = if o.yours { "  (your vote)" } else { "" };
                    text += &format!("{}  {}% ({}){yours}\n", o.label, o.percent, o.count);
                    buttons.extend(o.vote.clone().map(|b| (b.label, b.action)));
                }
                text += &format!("{}\n", poll.status);
            }
            for q in &live.questions {
                let answered = if q.answered { "Answered - " } else { "" };
                text += &format!("{answered}{} (+{})\n", q.text, q.votes);
                if let Some(b) = &q.upvote {
                    let who = q.text.split(':').next().unwrap_or_default();
                    buttons.push(about(b.clone(), who));
                }
            }
            if let Some(g) = &live.giveaway {
                let entered = if g.entered { "  You're in" } else { "" };
                text += &format!(
                    "GIVEAWAY: {}\n{}\n{} - {} entries{entered}\n",
                    g.prize, g.rule, g.closes, g.entries
                );
                buttons.extend(g.enter.clone().map(|b| (b.label, b.action)));
            }
            if let Some(winner) = &live.winner {
                text += &format!("{winner}\n");
            }
            for line in &live.checked {
                text += &format!("{line}\n");
            }
            buttons.extend(live.check.clone().map(|b| (b.label, b.action)));
            if text.is_empty() {
                return None;
            }
            Some((text, buttons))
        }
        PanelKind::Sale => {
            let sale = view
                .flash_sales
                .iter()
                .find(|s| matches!(s.state, SaleState::Live(_)))
                .or(view.flash_sales.first())?;
            let when = match sale.state {
                SaleState::Upcoming(s) => format!("opens in {}:{:02}", s / 60, s % 60),
                SaleState::Live(s) => format!("ends in {}:{:02}", s / 60, s % 60),
                SaleState::SoldOut => "sold out".into(),
            };
            let text = format!(
                "FLASH SALE {} {}  ·  {}  ·  {}/{} left",
                sale.name, sale.price, when, sale.units_left, sale.quantity
            );
            let buttons = match sale.state {
                SaleState::Live(_) => vec![("Claim".into(), UiAction::ClaimFlashSale(sale.id))],
                _ => Vec::new(),
            };
            Some((text, buttons))
        }
    }
}

/// How much of its lists the Together panel shows.
#[derive(Debug, Clone, Copy)]
struct Lists {
    /// Members with their volume buttons (mute stays for all).
    voiced: usize,
    friends: usize,
    requests: usize,
    /// Members with the leader's buttons (remove, make leader).
    managed: usize,
}

impl Lists {
    /// One fewer of the first list that still has some; false when none.
    fn shrink(&mut self) -> bool {
        let list = [
            &mut self.voiced,
            &mut self.friends,
            &mut self.requests,
            &mut self.managed,
        ]
        .into_iter()
        .find(|n| **n > 0);
        list.map(|n| *n -= 1).is_some()
    }
}

/// The Together panel: your code, the party, its prompts, friend requests
/// and friends, each list cut to `lists` (the rest counted).
fn together_panel(
    t: &TogetherView,
    voice: &VoiceView,
    lists: Lists,
) -> (String, Vec<(String, UiAction)>) {
    let mut text = "Together\n".to_owned();
    let mut buttons = Vec::new();
    // Near the top, where the text is never cut.
    if let Some(refusal) = &t.refusal {
        text += &format!("Party: {refusal}\n");
    }
    if let Some(code) = &t.code {
        text += &format!("{code}\n");
    }
    if let Some(added) = &t.added {
        text += &format!("{}\n", added.text);
    }
    match &t.party {
        Some(party) => {
            text += &format!("Your party ({}):\n", party.members.len());
            let mut managed = 0;
            let mut voiced = 0;
            for m in &party.members {
                // Speaking, muted or their volume, for those here.
                let person = voice.members.iter().find(|v| v.account == m.account);
                let heard = match person {
                    Some(v) if v.muted => " - muted".to_owned(),
                    Some(v) if v.speaking => " - speaking".to_owned(),
                    Some(v) if v.volume != 100 => format!(" - voice {}%", v.volume),
                    _ => String::new(),
                };
                text += &format!("  {} - {}{heard}\n", m.label(), m.place);
                if let Some(person) = person {
                    voiced += 1;
                    let keep = if voiced > lists.voiced { 1 } else { 3 };
                    buttons.extend(
                        person
                            .buttons()
                            .into_iter()
                            .take(keep)
                            .map(|b| about(b, &m.name)),
                    );
                }
                let theirs = party.member_buttons(m);
                if !theirs.is_empty() {
                    managed += 1;
                    if managed > lists.managed {
                        continue;
                    }
                }
                buttons.extend(theirs.into_iter().map(|b| about(b, &m.name)));
            }
            if managed > lists.managed {
                text += "  Remove or make leader the others on the desktop\n";
            }
            if !party.invited.is_empty() {
                text += &format!("  Invited: {}\n", party.invited.join(", "));
            }
            buttons.extend(party.buttons().into_iter().map(plain));
        }
        None => text += "No party yet.\n",
    }
    if let Some(invite) = &t.invite {
        text += &format!("{}\n", invite.text);
        buttons.extend(invite.buttons().into_iter().map(plain));
    }
    if let Some(follow) = &t.follow {
        text += &format!("{}\n", follow.moved);
        buttons.extend(follow.buttons().into_iter().map(plain));
    }
    if let Some(member) = &t.invitable {
        buttons.push(plain(member.button()));
    }
    if !t.requests.is_empty() {
        text += "Friend requests:\n";
        for req in t.requests.iter().take(lists.requests) {
            text += &format!("  {}\n", req.name);
            buttons.extend(req.buttons().into_iter().map(|b| about(b, &req.name)));
        }
        if t.requests.len() > lists.requests {
            text += &format!("  and {} more\n", t.requests.len() - lists.requests);
        }
    }
    text += if t.friends.is_empty() {
        "No friends yet.\n"
    } else {
        "Friends:\n"
    };
    for f in t.friends.iter().take(lists.friends) {
        text += &format!("  {} - {}\n", f.name, f.presence);
        buttons.extend(f.buttons().into_iter().map(|b| about(b, &f.name)));
    }
    if t.friends.len() > lists.friends {
        text += &format!("  and {} more\n", t.friends.len() - lists.friends);
    }
    buttons.push(("Close".into(), UiAction::ToggleTogether));
    (text, buttons)
}

/// A view-model button as a panel shows it (no keys in XR).
fn plain(b: ViewButton) -> (String, UiAction) {
    (b.label, b.action)
}

/// A button for one item of a list: the item in its label ("Join Ana").
fn about(b: ViewButton, item: &str) -> (String, UiAction) {
    (format!("{} {item}", b.label), b.action)
}

/// Text and buttons from this frame's view; only what changed is rebuilt.
fn fill_panels(
    mut commands: Commands,
    view: Res<CurrentView>,
    mut panels: Query<(&mut WorldPanel, &mut Visibility)>,
    mut texts: Query<&mut Text>,
) {
    if !view.is_changed() {
        return;
    }
    for (mut panel, mut visibility) in &mut panels {
        let content = panel_content(panel.kind, &view.0);
        visibility.set_if_neq(if content.is_some() {
            Visibility::Visible
        } else {
            Visibility::Hidden
        });
        let Some((text, wanted)) = content else {
            continue;
        };
        if let Ok(mut t) = texts.get_mut(panel.text)
            && t.0 != text
        {
            t.0 = text;
            panel.draw = DRAW_FRAMES;
        }
        if panel.shown == wanted {
            continue;
        }
        panel.draw = DRAW_FRAMES;
        commands.entity(panel.actions).despawn_related::<Children>();
        for (label, action) in wanted.iter().cloned() {
            let button = commands
                .spawn((
                    PanelButton(action),
                    Node {
                        padding: UiRect::axes(Val::Px(BUTTON_PAD.x), Val::Px(BUTTON_PAD.y)),
                        ..default()
                    },
                    BackgroundColor(Color::srgb(0.85, 0.3, 0.45)),
                ))
                .with_child((Text::new(label), TextFont::from_font_size(BUTTON_FONT)))
                .id();
            commands.entity(panel.actions).add_child(button);
        }
        panel.shown = wanted;
    }
}

/// The card beside its product, facing the shopper; the wrist panel over
/// the left hand; the sale panel above the stage.
fn place_panels(
    view: Res<CurrentView>,
    input: Res<super::input::XrInput>,
    layout: Res<RoomLayout>,
    camera: Query<&GlobalTransform, With<crate::showroom::player::MainCamera>>,
    products: Query<(&DisplayedProduct, &GlobalTransform)>,
    mut panels: Query<(
        &WorldPanel,
        &mut Transform,
        &Visibility,
        Option<&mut Floating>,
    )>,
) {
    let eyes = camera.single().map(|c| c.translation()).unwrap_or(Vec3::Y);
    for (panel, mut t, visibility, floating) in &mut panels {
        match panel.kind {
            PanelKind::Together | PanelKind::SharedCart => {
                let Some(mut floating) = floating else {
                    continue;
                };
                if *visibility == Visibility::Hidden {
                    floating.placed = false;
                } else if !floating.placed {
                    floating.placed = true;
                    let side = if panel.kind == PanelKind::Together {
                        -1.0
                    } else {
                        1.0
                    };
                    *t = floating_spot(input.head, side);
                }
            }
            PanelKind::Card => {
                let Some(card) = &view.0.card else {
                    continue;
                };
                let Some((_, at)) = products.iter().find(|(p, _)| p.product == card.product) else {
                    continue;
                };
                let product = at.translation();
                let to_eyes = (eyes - product).with_y(0.0).normalize_or(Vec3::Z);
                let side = Vec3::Y.cross(to_eyes).normalize_or(Vec3::X);
                let at = product + side * 0.35 + Vec3::Y * 0.15;
                *t = Transform::from_translation(at)
                    .looking_to(-(eyes - at).normalize_or(Vec3::Z), Vec3::Y);
            }
            PanelKind::Wrist => {
                // Above the back of the left wrist, facing up and back.
                if let Some(grip) = input.hands[LEFT].grip {
                    t.translation = grip.position + grip.rotation * Vec3::new(0.0, 0.08, 0.1);
                    t.rotation = grip.rotation * Quat::from_rotation_x(-1.1);
                }
            }
            PanelKind::Sale => {
                let b = layout.bounds;
                t.translation = Vec3::new((b.min[0] + b.max[0]) / 2.0, 3.2, b.min[2] + 1.0);
                t.rotation = Quat::IDENTITY;
            }
            PanelKind::Live => {
                // Left of the stage screen, as high, facing the room.
                let (screen, size) = layout.screen();
                let width = panel_size(PanelKind::Live).x;
                t.translation = screen + Vec3::new(-(size.x + width) / 2.0 - 0.3, 0.0, 0.3);
                t.rotation = Quat::IDENTITY;
            }
        }
    }
}

/// Where a floating panel opens, in the tracking space: 0.8 m before
/// the head and a little to one side (`side` -1 left, 1 right),
/// below the eyes, facing them.
pub fn floating_spot(head: Option<super::input::TrackedPose>, side: f32) -> Transform {
    let (eyes, rotation) = head.map_or((Vec3::new(0.0, 1.6, 0.0), Quat::IDENTITY), |h| {
        (h.position, h.rotation)
    });
    let forward = (rotation * Vec3::NEG_Z)
        .with_y(0.0)
        .normalize_or(Vec3::NEG_Z);
    let right = forward.cross(Vec3::Y).normalize_or(Vec3::X);
    let at = eyes + forward * 0.8 + right * (0.32 * side) - Vec3::Y * 0.2;
    Transform::from_translation(at).looking_to(-(eyes - at).normalize_or(Vec3::Z), Vec3::Y)
}

/// A panel's camera draws only for a few frames after a change.
fn draw_when_changed(mut panels: Query<&mut WorldPanel>, mut cameras: Query<&mut Camera>) {
    for mut panel in &mut panels {
        let active = panel.draw > 0;
        if active {
            panel.draw -= 1;
        }
        if let Ok(mut camera) = cameras.get_mut(panel.camera)
            && camera.is_active != active
        {
            camera.is_active = active;
        }
    }
}

/// Each panel's buttons' rects, in the panel's pixels, from the layout.
fn collect_buttons(
    mut panels: Query<&mut WorldPanel>,
    buttons: Query<(&PanelButton, &ComputedNode, &UiGlobalTransform)>,
    children: Query<&Children>,
) {
    for mut panel in &mut panels {
        // Layout changes only with content, which draws the panel again.
        if panel.draw == 0 {
            continue;
        }
        let rects: Vec<(Rect, UiAction)> = children
            .get(panel.actions)
            .map(|c| {
                c.iter()
                    .filter_map(|e| buttons.get(e).ok())
                    .map(|(b, node, at)| {
                        let (_, _, centre) = at.to_scale_angle_translation();
                        (Rect::from_center_size(centre, node.size()), b.0.clone())
                    })
                    .collect()
            })
            .unwrap_or_default();
        if panel.buttons != rects {
            panel.buttons = rects;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::Sku;

    fn panel() -> WorldPanel {
        WorldPanel {
            kind: PanelKind::Card,
            size: Vec2::new(0.4, 0.2),
            px: UVec2::new(400, 200),
            buttons: vec![(
                Rect::new(20.0, 150.0, 120.0, 190.0),
                UiAction::AddToCart {
                    sku: Sku::new("mug-blue").unwrap(),
                },
            )],
            text: Entity::PLACEHOLDER,
            actions: Entity::PLACEHOLDER,
            shown: Vec::new(),
            camera: Entity::PLACEHOLDER,
            draw: 0,
        }
    }

    #[test]
    fn a_ray_on_a_button_clicks_it_and_elsewhere_nothing() {
        let p = panel();
        let at = GlobalTransform::from(Transform::from_xyz(1.0, 1.5, -2.0));
        // The button's centre: px (70, 170) → local (-0.13, -0.07).
        let target = Vec3::new(1.0 - 0.13, 1.5 - 0.07, -2.0);
        let from = Vec3::new(1.0, 1.6, 0.0);
        let ray = Ray3d::new(from, Dir3::new(target - from).unwrap());
        let (_, px) = hit(ray, &p, &at).unwrap();
        assert!((px - Vec2::new(70.0, 170.0)).length() < 0.5, "{px}");
        assert_eq!(
            click(ray, [(&p, &at)].into_iter()),
            Some(UiAction::AddToCart {
                sku: Sku::new("mug-blue").unwrap()
            })
        );
        // The panel's top half has no button; a ray away misses it.
        let top = Ray3d::new(from, Dir3::new(Vec3::new(1.0, 1.55, -2.0) - from).unwrap());
        assert_eq!(click(top, [(&p, &at)].into_iter()), None);
        let away = Ray3d::new(from, Dir3::Z);
        assert_eq!(hit(away, &p, &at), None);
    }

    #[test]
    fn a_closed_panel_does_not_catch_the_pointing_ray() {
        // A closed "Together" stays where it was, invisible, 0.8 m ahead:
        // a ray through it points past it at the products beyond.
        let p = panel();
        let at = GlobalTransform::from(Transform::from_xyz(0.0, 1.6, -0.8));
        let ray = Ray3d::new(Vec3::new(0.0, 1.6, 0.0), Dir3::NEG_Z);
        assert!(on_a_panel(
            ray,
            [(&p, &at, &Visibility::Visible)].into_iter()
        ));
        assert!(on_a_panel(
            ray,
            [(&p, &at, &Visibility::Inherited)].into_iter()
        ));
        assert!(!on_a_panel(
            ray,
            [(&p, &at, &Visibility::Hidden)].into_iter()
        ));
    }

    #[test]
    fn the_card_panel_offers_the_shared_cart_and_team_deals_in_xr_too() {
        use crate::showroom::ui::team_deals::{TeamDealView, TeamLine};
        use crate::showroom::ui::view::{ProductCard, VariantLine};
        use vitrine_shared::{DealId, ProductId, Sku, TeamId};
        let sku = Sku::new("mug-s").unwrap();
        let mut card = ProductCard {
            product: ProductId::new("mug").unwrap(),
            name: "Mug".into(),
            description: String::new(),
            price: "24.90 EUR".into(),
            variants: vec![VariantLine {
                sku: sku.clone(),
                label: "Standard".into(),
                price: "24.90 EUR".into(),
                stock: 3,
                selected: true,
            }],
            held_by: None,
            holding: false,
            featured: false,
            shared_add: true,
            rating: None,
            review: ReviewPrompt::None,
            latest_reviews: Vec::new(),
            team_deals: vec![TeamDealView {
                deal: DealId(5),
                sku: sku.clone(),
                headline: "Team price 19.00 EUR (solo 24.90 EUR) - teams of 3".into(),
                ends_in_s: 60,
                units_left: 9,
                teams: vec![TeamLine {
                    team: TeamId(2),
                    text: "Team 1: 1 place left".into(),
                    can_join: true,
                }],
                can_start: true,
                yours: None,
                refusal: None,
            }],
        };
        let view = |card: &ProductCard| ShowroomView {
            card: Some(card.clone()),
            ..Default::default()
        };
        let (text, buttons) = panel_content(PanelKind::Card, &view(&card)).unwrap();
        assert!(text.contains("Team 1: 1 place left"), "{text}");
        let actions: Vec<UiAction> = buttons.into_iter().map(|(_, a)| a).collect();
        for wanted in [
            UiAction::AddToSharedCart { sku: sku.clone() },
            UiAction::JoinTeam {
                deal: DealId(5),
                team: TeamId(2),
            },
            UiAction::StartTeam(DealId(5)),
        ] {
            assert!(actions.contains(&wanted), "{wanted:?} in {actions:?}");
        }
        // Out of a party, with no deal: neither.
        card.shared_add = false;
        card.team_deals.clear();
        let (_, buttons) = panel_content(PanelKind::Card, &view(&card)).unwrap();
        assert_eq!(buttons.len(), 2, "add to cart and buy now only");
    }

    /// Me (account 1) in the hall; Bea (2) leads our party from Studio B
    /// and offers to follow; Zed (5) is online in Studio B, Cy (7) offline;
    /// Kim (11) asked to be friends; the shared cart has two lines.
    fn together_room() -> crate::net::RoomMirror {
        use crate::net::FollowOffer;
        use vitrine_shared::protocol::{
            CartGroupId, FriendNet, MemberInfo, PartyMemberNet, PartyNet, PresenceNet,
            SharedCartChange, SharedCartLineNet, SharedCartNet, SharedLineId,
        };
        use vitrine_shared::{
            AccountId, Currency, DisplayName, MemberSlot, Money, PartyId, ProductId, Role, RoomId,
        };
        let name = |n: &str| DisplayName::new(n).unwrap();
        let room = |r: &str| RoomId::new(r).unwrap();
        let mut m = crate::net::RoomMirror::default();
        m.you = Some(MemberSlot(1));
        m.room = Some(room("hall"));
        m.room_name = "Main Hall".into();
        m.members.insert(
            MemberSlot(1),
            MemberInfo {
                slot: MemberSlot(1),
                account: AccountId(1),
                name: name("Me"),
                role: Role::Shopper,
            },
        );
        for (id, n, at) in [(5, "Zed", Some("studio-b")), (7, "Cy", None)] {
            m.friends.insert(
                AccountId(id),
                FriendNet {
                    account: AccountId(id),
                    name: name(n),
                    presence: at.map(|r| PresenceNet {
                        room: room(r),
                        room_name: "Studio B".into(),
                        show: None,
                    }),
                },
            );
        }
        m.friend_requests.push((AccountId(11), name("Kim")));
        m.party.party = Some(PartyNet {
            id: PartyId(9),
            leader: AccountId(2),
            members: [(2, "Bea", "studio-b"), (1, "Me", "hall")]
                .into_iter()
                .map(|(a, n, r)| PartyMemberNet {
                    account: AccountId(a),
                    name: name(n),
                    room: Some(room(r)),
                    colour: a as u8,
                    room_name: Some(if r == "hall" { "Main Hall" } else { "Studio B" }.into()),
                })
                .collect(),
            invited: vec![],
        });
        m.party.follow = Some(FollowOffer {
            leader: AccountId(2),
            room: room("studio-b"),
            room_name: "Studio B".into(),
            seat_for_you: true,
        });
        let line = |id: i64, payer: (u64, &str)| SharedCartLineNet {
            line: SharedLineId(id),
            sku: Sku::new("mug-s").unwrap(),
            product: ProductId::new("mug").unwrap(),
            name: format!("Mug {id}"),
            unit_price: Money::new(1000, Currency::EUR),
            quantity: 2,
            held_until_ms: 190_000,
            added_by: AccountId(2),
            added_by_name: name("Bea"),
            payer: AccountId(payer.0),
            payer_name: name(payer.1),
        };
        m.shared_cart = Some(SharedCartNet::new(
            CartGroupId(3),
            SharedCartChange::Updated,
            vec![line(1, (1, "Me")), line(2, (2, "Bea"))],
        ));
        m
    }

    fn view_of(
        m: &crate::net::RoomMirror,
        ui: &crate::showroom::ui::view::LocalUi,
    ) -> ShowroomView {
        use crate::showroom::session::LinkState;
        use crate::showroom::ui::view::{ViewInputs, build};
        build(&ViewInputs {
            link: &LinkState::Connected,
            mirror: Some(m),
            catalog: &[],
            card_product: None,
            holding: None,
            ui,
            now_ms: 100_000,
        })
    }

    /// A ray from before the panel at each of its buttons (laid out one
    /// under the other, as a wrapped row would put them): what each click
    /// asks for, by label. Each must be the button's own action.
    fn rays_on_buttons(kind: PanelKind, view: &ShowroomView) -> Vec<(String, UiAction)> {
        let (_, shown) = panel_content(kind, view).expect("the panel shows");
        let px = UVec2::new(500, 560);
        let band = px.y as f32 / shown.len() as f32;
        let mut p = panel();
        p.kind = kind;
        p.size = Vec2::new(0.5, 0.56);
        p.px = px;
        p.buttons = shown
            .iter()
            .enumerate()
            .map(|(i, (_, action))| {
                let top = i as f32 * band;
                (
                    Rect::new(20.0, top + 2.0, 300.0, top + band - 2.0),
                    action.clone(),
                )
            })
            .collect();
        let at = GlobalTransform::from(Transform::from_xyz(0.3, 1.4, -0.6));
        let from = Vec3::new(0.0, 1.6, 0.0);
        shown
            .iter()
            .zip(&p.buttons)
            .map(|((label, _), (rect, _))| {
                let c = rect.center() / p.px.as_vec2();
                let local = Vec3::new((c.x - 0.5) * p.size.x, (0.5 - c.y) * p.size.y, 0.0);
                let ray = Ray3d::new(from, Dir3::new(at.transform_point(local) - from).unwrap());
                let clicked = click(ray, [(&p, &at)].into_iter()).expect("a button under the ray");
                (label.clone(), clicked)
            })
            .collect()
    }

    /// The room command an action sends, as the desktop's click does.
    fn sends(action: &UiAction, m: &crate::net::RoomMirror) -> Option<vitrine_shared::RoomCommand> {
        use crate::showroom::ui::{UiState, shop_command, together_actions::party_command};
        shop_command(action, &mut UiState::default(), Some(m), &[])
            .or_else(|| party_command(action).map(vitrine_shared::RoomCommand::Party))
    }

    #[test]
    fn the_together_panel_lists_friends_requests_and_the_party_and_its_rays_act() {
        use vitrine_shared::protocol::PartyCommand;
        use vitrine_shared::{AccountId, RoomCommand, RoomId};
        let m = together_room();
        let mut ui = crate::showroom::ui::view::LocalUi::default();
        // Closed: no panel; the wrist opens it.
        assert!(panel_content(PanelKind::Together, &view_of(&m, &ui)).is_none());
        let (_, wrist) = panel_content(PanelKind::Wrist, &view_of(&m, &ui)).unwrap();
        assert!(wrist.contains(&("Together".to_owned(), UiAction::ToggleTogether)));
        ui.together.open = true;
        let view = view_of(&m, &ui);
        let (text, _) = panel_content(PanelKind::Together, &view).unwrap();
        for line in [
            "Your party (2):",
            "Bea, leader - In Studio B",
            "Me (you) - Here",
            "Bea moved to Studio B",
            "Friend requests:\n  Kim",
            "Zed - In Studio B",
            "Cy - Offline",
        ] {
            assert!(text.contains(line), "{line:?} in {text}");
        }
        assert!(!text.contains("press J"), "no keys in a headset: {text}");
        let clicked = rays_on_buttons(PanelKind::Together, &view);
        let labels: Vec<&str> = clicked.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Leave the party",
                "Follow",
                "Stay",
                "Accept Kim",
                "Decline Kim",
                "Join Zed",
                "Close"
            ]
        );
        let action = |label: &str| clicked.iter().find(|(l, _)| l == label).unwrap().1.clone();
        assert_eq!(
            sends(&action("Leave the party"), &m),
            Some(RoomCommand::Party(PartyCommand::Leave))
        );
        // Friends and following go through HTTP and the session (the
        // together_actions tests show those): the rays ask for them.
        assert_eq!(
            action("Follow"),
            UiAction::FollowLeader(RoomId::new("studio-b").unwrap())
        );
        assert_eq!(action("Accept Kim"), UiAction::AcceptFriend(AccountId(11)));
        assert_eq!(
            action("Decline Kim"),
            UiAction::DeclineFriend(AccountId(11))
        );
        assert_eq!(action("Join Zed"), UiAction::JoinFriend(AccountId(5)));
        assert_eq!(action("Close"), UiAction::ToggleTogether);
    }

    #[test]
    fn the_leader_removes_a_member_or_hands_over_the_lead_with_a_ray() {
        use vitrine_shared::protocol::PartyCommand;
        use vitrine_shared::{AccountId, RoomCommand};
        let mut m = together_room();
        if let Some(party) = m.party.party.as_mut() {
            party.leader = AccountId(1);
        }
        let mut ui = crate::showroom::ui::view::LocalUi::default();
        ui.together.open = true;
        let view = view_of(&m, &ui);
        let clicked = rays_on_buttons(PanelKind::Together, &view);
        let action = |label: &str| {
            clicked
                .iter()
                .find(|(l, _)| l == label)
                .unwrap_or_else(|| panic!("{label:?} in {clicked:?}"))
                .1
                .clone()
        };
        assert_eq!(
            sends(&action("Remove Bea"), &m),
            Some(RoomCommand::Party(PartyCommand::Kick {
                account: AccountId(2)
            }))
        );
        assert_eq!(
            sends(&action("Make leader Bea"), &m),
            Some(RoomCommand::Party(PartyCommand::Promote {
                account: AccountId(2)
            }))
        );
        assert!(
            !clicked.iter().any(|(l, _)| l.ends_with(" Me")),
            "not herself"
        );
    }

    #[test]
    fn out_of_a_party_the_together_panel_answers_an_invite_and_shows_your_code() {
        use crate::net::PartyInvite;
        use vitrine_shared::protocol::PartyCommand;
        use vitrine_shared::{AccountId, DisplayName, PartyId, RoomCommand};
        let mut m = together_room();
        m.party.party = None;
        m.party.follow = None;
        m.shared_cart = None;
        m.party.invites.insert(
            PartyId(4),
            PartyInvite {
                party: PartyId(4),
                by: AccountId(2),
                by_name: DisplayName::new("Bea").unwrap(),
                members: 1,
                expires_in_ms: 60_000,
            },
        );
        let mut ui = crate::showroom::ui::view::LocalUi::default();
        ui.together.open = true;
        ui.together.code = Some(vitrine_shared::friends::FriendCodeView {
            code: "K7QM-3XPD".into(),
            link: "vitrine://friend/K7QM-3XPD".into(),
        });
        let view = view_of(&m, &ui);
        let (text, _) = panel_content(PanelKind::Together, &view).unwrap();
        assert!(text.contains("Your code: K7QM-3XPD"), "{text}");
        assert!(
            text.contains("Bea invites you to their party (1 member)"),
            "{text}"
        );
        assert!(text.contains("No party yet."), "{text}");
        // No shared cart out of a party: neither its panel nor its button.
        ui.cart_open = true;
        let view = view_of(&m, &ui);
        assert!(panel_content(PanelKind::SharedCart, &view).is_none());
        let clicked = rays_on_buttons(PanelKind::Together, &view);
        let sent: Vec<(&str, Option<RoomCommand>)> = clicked
            .iter()
            .map(|(l, a)| (l.as_str(), sends(a, &m)))
            .collect();
        let party = |c| Some(RoomCommand::Party(c));
        assert_eq!(
            &sent[..2],
            [
                ("Join", party(PartyCommand::Accept { party: PartyId(4) })),
                (
                    "No thanks",
                    party(PartyCommand::Decline { party: PartyId(4) })
                ),
            ]
        );
    }

    #[test]
    fn the_shared_cart_panel_lists_lines_with_who_added_them_and_its_rays_act() {
        use vitrine_shared::RoomCommand;
        use vitrine_shared::protocol::{SharedCartCommand, SharedLineId, SharedPayment};
        let m = together_room();
        let mut ui = crate::showroom::ui::view::LocalUi::default();
        assert!(panel_content(PanelKind::SharedCart, &view_of(&m, &ui)).is_none());
        let (_, wrist) = panel_content(PanelKind::Wrist, &view_of(&m, &ui)).unwrap();
        assert!(wrist.contains(&("Shared cart".to_owned(), UiAction::ToggleCart)));
        ui.cart_open = true;
        let view = view_of(&m, &ui);
        let (text, _) = panel_content(PanelKind::SharedCart, &view).unwrap();
        for line in [
            "#1 2 x Mug 1  20.00 EUR",
            "added by Bea - you pay",
            "#2 2 x Mug 2  20.00 EUR",
            "added by Bea - Bea pays",
            "You pay 20.00 EUR",
            "Shared total 40.00 EUR",
        ] {
            assert!(text.contains(line), "{line:?} in {text}");
        }
        let clicked = rays_on_buttons(PanelKind::SharedCart, &view);
        let sent: Vec<(&str, Option<RoomCommand>)> = clicked
            .iter()
            .map(|(l, a)| (l.as_str(), sends(a, &m)))
            .collect();
        let shared = |c| Some(RoomCommand::SharedCart(c));
        let set = |line, quantity| {
            shared(SharedCartCommand::SetQuantity {
                line: SharedLineId(line),
                quantity,
            })
        };
        assert_eq!(
            &sent[..5],
            [
                ("- #1", set(1, 1)),
                ("+ #1", set(1, 3)),
                ("- #2", set(2, 1)),
                ("+ #2", set(2, 3)),
                (
                    "mine #2",
                    shared(SharedCartCommand::MarkMine {
                        line: SharedLineId(2)
                    })
                ),
            ]
        );
        // The checkouts: what each pays for, and what it was shown.
        let paid: Vec<(&str, SharedPayment, String)> = sent[5..7]
            .iter()
            .map(|(l, c)| match c {
                Some(RoomCommand::SharedCart(SharedCartCommand::Checkout(c))) => {
                    (*l, c.pays_for, c.shown.to_string())
                }
                other => panic!("{l}: {other:?}"),
            })
            .collect();
        assert_eq!(
            paid,
            [
                ("Pay for mine", SharedPayment::Mine, "20.00 EUR".to_owned()),
                (
                    "Pay for everyone",
                    SharedPayment::Everyone,
                    "40.00 EUR".to_owned()
                ),
            ]
        );
        assert_eq!(clicked[7], ("Close".to_owned(), UiAction::ToggleCart));
        assert_eq!(clicked.len(), 8);
    }

    /// Lays out the worst case: a party of 8 led by you (long names), 6
    /// friends and 3 requests (and more), an invite, a follow offer and a
    /// shopper to invite; every button must lie on its quad, where a ray
    /// can reach it. The layout is computed from the constants the panel
    /// is built with ([`button_rects`]), not by Bevy's UI.
    #[test]
    fn the_worst_case_keeps_every_button_on_its_panel() {
        use crate::net::PartyInvite;
        use vitrine_shared::protocol::{FriendNet, PartyMemberNet, PresenceNet};
        use vitrine_shared::{AccountId, DisplayName, PartyId, RoomId};
        // As long as a name may be.
        let long = |n: u64| DisplayName::new(format!("{n:0>32}")).unwrap();
        let mut m = together_room();
        let party = m.party.party.as_mut().unwrap();
        party.leader = AccountId(1);
        for id in 100..106u64 {
            party.members.push(PartyMemberNet {
                account: AccountId(id),
                name: long(id),
                room: Some(RoomId::new("hall").unwrap()),
                colour: id as u8,
                room_name: Some("Main Hall".into()),
            });
        }
        assert_eq!(party.members.len(), 8);
        for id in 200..210u64 {
            m.friends.insert(
                AccountId(id),
                FriendNet {
                    account: AccountId(id),
                    name: long(id),
                    presence: Some(PresenceNet {
                        room: RoomId::new("annex").unwrap(),
                        room_name: "Annex".into(),
                        show: None,
                    }),
                },
            );
        }
        for id in 300..305u64 {
            m.friend_requests.push((AccountId(id), long(id)));
        }
        m.party.invites.insert(
            PartyId(4),
            PartyInvite {
                party: PartyId(4),
                by: AccountId(300),
                by_name: long(300),
                members: 7,
                expires_in_ms: 60_000,
            },
        );
        let mut ui = crate::showroom::ui::view::LocalUi::default();
        ui.together.open = true;
        let mut view = view_of(&m, &ui);
        // The view may not offer all at once; the worst case has them.
        let t = &mut view.together;
        t.invite
            .get_or_insert(crate::showroom::ui::together::InviteView {
                party: PartyId(4),
                text: format!("{} invites you to their party (7 members)", long(300)),
            });
        t.follow
            .get_or_insert(crate::showroom::ui::together::FollowPrompt {
                room: RoomId::new("studio-b").unwrap(),
                text: format!("{} moved to Studio B: press J to follow", long(2)),
                moved: format!("{} moved to Studio B", long(2)),
                may_be_full: true,
            });
        assert!(t.party.as_ref().is_some_and(|p| p.you_lead));
        assert_eq!((t.friends.len(), t.requests.len()), (12, 6));
        view.together.invitable = Some(crate::showroom::ui::together::PointedMember {
            account: AccountId(400),
            name: long(400).to_string(),
        });
        view.cart.units = 3;
        for kind in [PanelKind::Together, PanelKind::Wrist] {
            let (_, buttons) = panel_content(kind, &view).unwrap();
            let px = panel_px(kind).as_vec2();
            let quad = Rect::new(0.0, 0.0, px.x, px.y);
            let rects = button_rects(kind, &buttons);
            for ((label, _), rect) in buttons.iter().zip(&rects) {
                assert!(
                    quad.contains(rect.min) && quad.contains(rect.max),
                    "{kind:?}: {label:?} at {rect:?} is off the {px} panel"
                );
            }
            // What must stay: closing the panel, and the prompts' answers.
            let has = |a: &UiAction| buttons.iter().any(|(_, b)| b == a);
            match kind {
                PanelKind::Together => {
                    assert!(has(&UiAction::ToggleTogether));
                    assert!(has(&UiAction::DismissFollow));
                    assert!(has(&UiAction::DeclinePartyInvite(PartyId(4))));
                }
                _ => assert!(has(&UiAction::ToggleTogether)),
            }
        }
    }

    #[test]
    fn refusals_and_notices_reach_the_headset() {
        use vitrine_shared::protocol::{PartyCommandKind, PartyRefusal};
        let mut m = together_room();
        m.party
            .refusals
            .push((PartyCommandKind::Invite, PartyRefusal::PartyFull));
        let mut ui = crate::showroom::ui::view::LocalUi::default();
        ui.together.open = true;
        ui.notice = Some("Not added: cannot reach the server".into());
        let view = view_of(&m, &ui);
        let refusal = PartyRefusal::PartyFull.to_string();
        let (text, _) = panel_content(PanelKind::Together, &view).unwrap();
        assert!(text.contains(&refusal), "{refusal:?} in {text}");
        let (text, _) = panel_content(PanelKind::Wrist, &view).unwrap();
        assert!(
            text.contains("Not added: cannot reach the server"),
            "the notice in {text}"
        );
    }

    #[test]
    fn floating_panels_open_before_the_eyes_to_either_side_facing_them() {
        use super::super::input::TrackedPose;
        // Looking along -X (turned left).
        let head = TrackedPose::new(
            Vec3::new(1.0, 1.6, 2.0),
            Quat::from_rotation_y(std::f32::consts::FRAC_PI_2),
        );
        let left = floating_spot(Some(head), -1.0);
        let right = floating_spot(Some(head), 1.0);
        assert!(left.translation.x < 1.0 && right.translation.x < 1.0);
        // Left of a shopper facing -X is +Z.
        assert!(left.translation.z > 2.0 && right.translation.z < 2.0);
        for t in [left, right] {
            // The quad's face (+Z) points at the eyes.
            let to_eyes = (head.position - t.translation).normalize();
            assert!((t.rotation * Vec3::Z).dot(to_eyes) > 0.99, "{t:?}");
        }
    }

    #[test]
    fn long_lists_are_cut_so_the_buttons_stay_on_the_panel() {
        use vitrine_shared::AccountId;
        use vitrine_shared::protocol::{FriendNet, PresenceNet};
        let mut m = together_room();
        for id in 20..30u64 {
            m.friends.insert(
                AccountId(id),
                FriendNet {
                    account: AccountId(id),
                    name: vitrine_shared::DisplayName::new(format!("F{id}")).unwrap(),
                    presence: Some(PresenceNet {
                        room: vitrine_shared::RoomId::new("annex").unwrap(),
                        room_name: "Annex".into(),
                        show: None,
                    }),
                },
            );
        }
        let mut ui = crate::showroom::ui::view::LocalUi::default();
        ui.together.open = true;
        let view = view_of(&m, &ui);
        assert_eq!(view.together.friends.len(), 12);
        let (text, buttons) = panel_content(PanelKind::Together, &view).unwrap();
        assert!(text.contains("and 6 more"), "{text}");
        let joins = buttons
            .iter()
            .filter(|(_, a)| matches!(a, UiAction::JoinFriend(_)))
            .count();
        assert_eq!(joins, XR_FRIENDS);
    }
}
