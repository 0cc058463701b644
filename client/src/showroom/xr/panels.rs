//! The desktop's view-model ([`ShowroomView`]) drawn in world space: Bevy UI
//! renders each panel into an image on a quad.
//! - the product card beside the product it is about;
//! - chat and cart on the left wrist;
//! - the flash sale's countdown above the stage.
//!
//! A hand's ray clicks a panel's buttons: the hit point on the quad maps to
//! the panel's pixels, and the button there sends its [`UiAction`], the
//! same one the desktop's button sends.

use super::input::LEFT;
use super::rig::TrackingSpace;
use crate::showroom::input_mode::in_xr;
use crate::showroom::room::{DisplayedProduct, RoomLayout};
use crate::showroom::ui::view::{SaleState, ShowroomView};
use crate::showroom::ui::{UiAction, ViewBuilt};
use crate::showroom::{AppState, ShowroomSystems, ui::CurrentView};
use bevy::camera::{ImageRenderTarget, RenderTarget};
use bevy::prelude::*;
use bevy::render::render_resource::TextureFormat;
use vitrine_shared::protocol::SharedPayment;

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

fn spawn_panels(
    mut commands: Commands,
    mut images: ResMut<Assets<Image>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    space: Query<Entity, With<TrackingSpace>>,
) {
    for (kind, size) in [
        (PanelKind::Card, Vec2::new(0.36, 0.26)),
        (PanelKind::Wrist, Vec2::new(0.22, 0.2)),
        (PanelKind::Sale, Vec2::new(1.4, 0.35)),
    ] {
        let density = if kind == PanelKind::Sale {
            STAGE_PX_PER_M
        } else {
            PX_PER_M
        };
        let px = (size * density).as_uvec2();
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
                TextFont::from_font_size(if kind == PanelKind::Sale { 22.0 } else { 20.0 }),
                TextColor(Color::WHITE),
            ))
            .id();
        let actions = commands
            .spawn(Node {
                flex_direction: FlexDirection::Row,
                column_gap: Val::Px(10.0),
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
                    padding: UiRect::all(Val::Px(14.0)),
                    ..default()
                },
            ))
            .add_children(&[text, actions]);
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
        // The wrist panel rides in the tracking space with the hand.
        if kind == PanelKind::Wrist
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
            let mut buttons = Vec::new();
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
            let mut text = String::new();
            if let Some(c) = &view.confirmation {
                text += &format!("{}\n", c.title);
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
            let mut buttons = if view.cart.units > 0 {
                vec![("Checkout".into(), UiAction::Checkout)]
            } else {
                Vec::new()
            };
            // The party's shared cart: its totals by payer and checkouts.
            if let Some(shared) = view.cart.shared.as_ref().filter(|s| !s.lines.is_empty()) {
                text += &format!("Shared cart: {}\n", shared.by_payer.join(", "));
                if shared.can_pay_mine {
                    buttons.push((
                        "Pay for mine".into(),
                        UiAction::PaySharedCart(SharedPayment::Mine),
                    ));
                }
                buttons.push((
                    "Pay for all".into(),
                    UiAction::PaySharedCart(SharedPayment::Everyone),
                ));
            }
            if let Some(invite) = &t.invite {
                text += &format!("{}\n", invite.text);
                buttons.push((
                    "Join party".into(),
                    UiAction::AcceptPartyInvite(invite.party),
                ));
                buttons.push(("No".into(), UiAction::DeclinePartyInvite(invite.party)));
            }
            if let Some(follow) = &t.follow {
                text += &format!("{}\n", follow.text);
                buttons.push(("Follow".into(), UiAction::FollowLeader(follow.room.clone())));
            }
            if let Some(member) = &t.invitable {
                buttons.push((
                    format!("Invite {}", member.name),
                    UiAction::InviteToParty(member.account),
                ));
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
                        padding: UiRect::axes(Val::Px(14.0), Val::Px(8.0)),
                        ..default()
                    },
                    BackgroundColor(Color::srgb(0.85, 0.3, 0.45)),
                ))
                .with_child((Text::new(label), TextFont::from_font_size(18.0)))
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
    mut panels: Query<(&WorldPanel, &mut Transform)>,
) {
    let eyes = camera.single().map(|c| c.translation()).unwrap_or(Vec3::Y);
    for (panel, mut t) in &mut panels {
        match panel.kind {
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
        }
    }
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
}
