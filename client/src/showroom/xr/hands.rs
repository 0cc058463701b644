//! Hands in the headset. A squeeze (or a pinch) near a product grabs it:
//! from its display, from the floor, or out of another shopper's hand (a
//! hand-off the server allows when the hands meet). The product then
//! follows the hand at its real size, so turning the hand turns it.
//! Letting go near its display puts it back; anywhere else it falls with
//! the hand's motion. Each hand's ray points at products (their card
//! opens) and panels; the trigger clicks what the ray points at.

use super::XrSettings;
use super::input::{Gesture, LEFT, RIGHT, XrInput};
use super::panels::{self, WorldPanel};
use super::rig::{Rig, space_transform};
use crate::showroom::catalog::Catalog;
use crate::showroom::holding::{self, Hand, Hands, POINT_RANGE, Pointer, go_home};
use crate::showroom::input_mode::in_xr;
use crate::showroom::player::LocalPlayer;
use crate::showroom::room::{DisplayedProduct, ProductDisplay};
use crate::showroom::session::{SendCommand, Session};
use crate::showroom::ui::UiAction;
use crate::showroom::{AppState, ShowroomSystems};
use bevy::prelude::*;
use bevy_rapier3d::prelude::*;
use vitrine_shared::ProductId;

/// A hand grabs products whose centre is this much further than their own
/// size from its grip.
pub const GRAB_RADIUS: f32 = 0.12;
/// Let go this close to its display, a product goes back on it.
pub const PUT_BACK_RADIUS: f32 = 0.35;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<HandMotion>().add_systems(
        Update,
        (
            (point_rays, grab_and_release)
                .chain()
                .in_set(ShowroomSystems::Input)
                .after(super::rig::read_gestures),
            carry_in_hands.in_set(ShowroomSystems::Simulate),
        )
            .run_if(in_xr.and_then(in_state(AppState::Showroom))),
    );
}

/// Each hand's grip in the world this frame and last, for throwing.
#[derive(Resource, Debug, Default)]
pub struct HandMotion {
    pub world: [Option<Transform>; 2],
    pub velocity: [Vec3; 2],
    /// What each hand's ray points at.
    pub ray: [Option<Ray3d>; 2],
}

/// The grips and aims in world space.
fn point_rays(
    time: Res<Time>,
    input: Res<XrInput>,
    settings: Res<XrSettings>,
    rig: Res<Rig>,
    hands: Res<Hands>,
    rapier: ReadRapierContext,
    player: Query<(Entity, &Transform), With<LocalPlayer>>,
    products: Query<&DisplayedProduct>,
    panels: Query<(&WorldPanel, &GlobalTransform, &Visibility)>,
    mut motion: ResMut<HandMotion>,
    mut pointer: ResMut<Pointer>,
) {
    let Ok((me, body)) = player.single() else {
        return;
    };
    let (_, space) = space_transform(body, &settings, &rig);
    let dt = time.delta_secs().max(1e-3);
    for hand in [LEFT, RIGHT] {
        let world = input.hands[hand]
            .grip
            .map(|g| space.mul_transform(g.transform()).compute_transform());
        motion.velocity[hand] = match (motion.world[hand], world) {
            (Some(a), Some(b)) => (b.translation - a.translation) / dt,
            _ => Vec3::ZERO,
        };
        motion.world[hand] = world;
        motion.ray[hand] = input.hands[hand].aim.map(|a| {
            let t = space.mul_transform(a.transform());
            Ray3d::new(t.translation(), t.forward())
        });
    }
    // The right hand's ray (else the left's) opens products' cards.
    let Some(ray) = motion.ray[RIGHT].or(motion.ray[LEFT]) else {
        pointer.hovered = None;
        return;
    };
    // On a panel, the room keeps what was pointed at, so the card's own
    // buttons act on it (as the desktop's mouse over a panel does).
    if panels::on_a_panel(ray, panels.iter()) {
        return;
    }
    pointer.hovered = None;
    let Ok(context) = rapier.single() else {
        return;
    };
    let keep = |e: Entity| e != me && !hands.holds(e);
    let filter = QueryFilter::default().predicate(&keep);
    if let Some((entity, distance)) =
        context.cast_ray(ray.origin, *ray.direction, POINT_RANGE, true, filter)
        && let Ok(product) = products.get(entity)
    {
        pointer.hovered = Some((product.product.clone(), distance));
    }
}

/// The product nearest `at` that a hand there can take, and how far its
/// centre is beyond the grab distance (negative: in reach).
pub fn reachable<'a>(
    at: Vec3,
    products: impl Iterator<Item = (Entity, &'a DisplayedProduct, &'a GlobalTransform, f32)>,
    hands: &Hands,
) -> Option<(Entity, ProductId)> {
    products
        .filter(|(e, ..)| !hands.holds(*e))
        .map(|(e, p, t, radius)| (e, p, t.translation().distance(at) - radius))
        .filter(|(.., gap)| *gap <= GRAB_RADIUS)
        .min_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(e, p, _)| (e, p.product.clone()))
}

fn grab_and_release(
    mut commands: Commands,
    mut gestures: MessageReader<Gesture>,
    session: Res<Session>,
    mut send: MessageWriter<SendCommand>,
    mut hands: ResMut<Hands>,
    mut pointer: ResMut<Pointer>,
    motion: Res<HandMotion>,
    products: Query<(Entity, &DisplayedProduct, &GlobalTransform)>,
    displays: Query<&ProductDisplay>,
    models: Query<(Entity, &DisplayedProduct)>,
    panels: Query<(&WorldPanel, &GlobalTransform, &Visibility)>,
    mut actions: MessageWriter<UiAction>,
    mut transforms: Query<&mut Transform>,
) {
    for gesture in gestures.read() {
        match *gesture {
            Gesture::Grab(hand) => {
                let Some(grip) = motion.world[hand] else {
                    continue;
                };
                let candidates = products.iter().map(|(e, p, t)| {
                    let radius = displays
                        .get(p.display)
                        .map(|d| d.half_extents.max_element().min(0.3))
                        .unwrap_or(0.1);
                    (e, p, t, radius)
                });
                let Some((entity, product)) = reachable(grip.translation, candidates, &hands)
                else {
                    continue;
                };
                let holder = session.mirror().and_then(|m| {
                    m.held
                        .get(&product)
                        .copied()
                        .filter(|by| Some(*by) != m.you)
                });
                let Ok((_, _, at)) = products.get(entity) else {
                    continue;
                };
                let offset = grip.compute_affine().inverse() * at.affine();
                let (_, rotation, translation) = offset.to_scale_rotation_translation();
                // Out of someone's hand (a hand-off), or off its display or
                // the floor; held at once, undone if the server says no.
                let ask = holding::take(
                    &mut hands,
                    &mut pointer,
                    Hand::Xr(hand),
                    product,
                    entity,
                    // Held at the grip, keeping the grasp's angle.
                    Some(
                        Transform::from_translation(translation.clamp_length_max(0.1))
                            .with_rotation(rotation),
                    ),
                    holder.is_some(),
                );
                send.write(SendCommand(ask));
                holding::hold_body(&mut commands, entity);
            }
            Gesture::Release(hand) => {
                let Some(held) = hands.xr[hand].take() else {
                    continue;
                };
                let at = transforms
                    .get(held.entity)
                    .map(|t| t.translation)
                    .unwrap_or_default();
                let home = models
                    .get(held.entity)
                    .ok()
                    .and_then(|(_, m)| displays.get(m.display).ok())
                    .map(|d| d.home.translation);
                if home.is_some_and(|home| home.distance(at) <= PUT_BACK_RADIUS) {
                    send.write(SendCommand(holding::put_back(&held)));
                    go_home(
                        &mut commands,
                        held.entity,
                        &displays,
                        &models,
                        &mut transforms,
                    );
                } else {
                    // Let go: it falls with the hand's motion.
                    holding::fall_body(
                        &mut commands,
                        held.entity,
                        motion.velocity[hand].clamp_length_max(8.0),
                    );
                    holding::let_fall(&mut hands, held);
                }
            }
            Gesture::Click(hand) => {
                let Some(ray) = motion.ray[hand] else {
                    continue;
                };
                // A panel in front of a product takes the click; a hidden
                // one (a closed "Together") is not there to take it.
                let shown = panels
                    .iter()
                    .filter(|(_, _, v)| **v != Visibility::Hidden)
                    .map(|(p, at, _)| (p, at));
                if let Some(action) = panels::click(ray, shown) {
                    actions.write(action);
                } else if let Some((product, _)) = &pointer.hovered {
                    actions.write(UiAction::Select(product.clone()));
                }
            }
            _ => {}
        }
    }
}

/// Held products follow their hands at their real size.
fn carry_in_hands(
    time: Res<Time>,
    catalog: Res<Catalog>,
    motion: Res<HandMotion>,
    mut hands: ResMut<Hands>,
    mut transforms: Query<&mut Transform>,
) {
    let dt = time.delta_secs();
    for hand in [LEFT, RIGHT] {
        let Some(held) = &mut hands.xr[hand] else {
            continue;
        };
        held.seconds += dt;
        let (Some(grip), Some(offset)) = (motion.world[hand], held.in_hand) else {
            continue;
        };
        let scale = catalog
            .get(&held.product)
            .map(|p| p.true_scale())
            .unwrap_or(1.0);
        if let Ok(mut t) = transforms.get_mut(held.entity) {
            let at = grip * offset;
            t.translation = at.translation;
            t.rotation = at.rotation;
            t.scale = Vec3::splat(scale);
        }
    }
}
