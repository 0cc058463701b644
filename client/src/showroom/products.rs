//! Products in hand. Pointing (the cursor, or the screen's centre without
//! one) casts a rapier ray; the product hit gets its card. `E` (or the
//! card's button) picks it up: it becomes a kinematic body in front of the
//! eyes that the wheel turns and `F` brings close; `E` again puts it back on
//! its display, `G` drops it to fall and settle as a dynamic body. The
//! server records who holds what, so products held by others float in
//! their hands here, and dropped ones go home when the server says so. `E`
//! on a product in someone else's hand asks for a hand-off. In XR the hands
//! do the taking and letting go instead (`xr::hands`); both call
//! [`holding`](super::holding), and the server's word on holding is heard
//! here for both.

use super::avatars::RemoteAvatar;
use super::catalog::Catalog;
use super::focus::{FocusDecided, UiFocus};
use super::holding::{self, Hand, Hands, POINT_RANGE, Pointer, go_home};
use super::input_mode::{XrMode, on_desktop};
use super::player::{LocalPlayer, MainCamera, WalkTo};
use super::room::{DisplayedProduct, DisplaysRebuilt, ProductDisplay};
use super::session::{RoomChangeMessage, SendCommand, Session};
use super::ui::UiAction;
use super::{AppState, ShowroomSystems};
use crate::net::RoomChange;
use bevy::input::mouse::AccumulatedMouseScroll;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_rapier3d::prelude::*;
use vitrine_shared::ProductId;
use vitrine_shared::protocol::{CommandKind, RejectReason};

/// Products can be picked up from this close.
pub const REACH: f32 = 3.0;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Pointer>()
        .init_resource::<Hands>()
        .add_message::<DisplaysRebuilt>()
        .add_message::<WalkTo>()
        .add_systems(
            Update,
            (
                (point, keys_to_actions)
                    .chain()
                    .in_set(ShowroomSystems::Input)
                    .after(FocusDecided)
                    .run_if(on_desktop),
                (
                    forget_old_displays,
                    handle_actions,
                    hear_server,
                    carry.run_if(on_desktop),
                    settle_dropped,
                    place_others_products,
                )
                    .chain()
                    .in_set(ShowroomSystems::Simulate),
            )
                .run_if(in_state(AppState::Showroom)),
        );
}

/// New displays: the old models are gone, so the desktop's hand, the
/// falling products and the pinned card let go of them.
pub fn forget_old_displays(
    mut rebuilt: MessageReader<DisplaysRebuilt>,
    mut hands: ResMut<Hands>,
    mut pointer: ResMut<Pointer>,
) {
    if rebuilt.read().count() == 0 {
        return;
    }
    hands.held = None;
    hands.falling.clear();
    pointer.selected = None;
}

fn point(
    windows: Query<&Window, With<PrimaryWindow>>,
    camera: Query<(&Camera, &GlobalTransform), With<MainCamera>>,
    player: Query<Entity, With<LocalPlayer>>,
    rapier: ReadRapierContext,
    products: Query<&DisplayedProduct>,
    hands: Res<Hands>,
    focus: Res<UiFocus>,
    mut pointer: ResMut<Pointer>,
) {
    let Ok((camera, at)) = camera.single() else {
        return;
    };
    // The cursor when there is a window, the centre of the view otherwise.
    let ray = match windows.single().ok().and_then(|w| w.cursor_position()) {
        Some(cursor) => camera.viewport_to_world(at, cursor).ok(),
        None => Some(Ray3d::new(at.translation(), at.forward())),
    };
    // Over a panel (the card, say) the room keeps what was pointed at, so
    // the card's own buttons act on it.
    if focus.over_panel {
        return;
    }
    pointer.hovered = None;
    pointer.floor = None;
    let (Some(ray), Ok(context)) = (ray, rapier.single()) else {
        return;
    };
    let held = hands.held.as_ref().map(|h| h.entity);
    let me = player.single().ok();
    let skip = |e: Entity| Some(e) == held || Some(e) == me;
    let keep = |e: Entity| !skip(e);
    let filter = QueryFilter::default().predicate(&keep);
    if let Some((entity, distance)) =
        context.cast_ray(ray.origin, *ray.direction, POINT_RANGE, true, filter)
        && let Ok(product) = products.get(entity)
    {
        pointer.hovered = Some((product.product.clone(), distance));
        return;
    }
    // Not a product: where does the pointer meet the floor?
    if ray.direction.y < -0.01 {
        let t = -ray.origin.y / ray.direction.y;
        if t < 30.0 {
            pointer.floor = Some(ray.origin + *ray.direction * t);
        }
    }
}

/// Keys and clicks in the room become the same actions the panels send.
fn keys_to_actions(
    keys: Res<ButtonInput<KeyCode>>,
    mouse: Res<ButtonInput<MouseButton>>,
    focus: Res<UiFocus>,
    pointer: Res<Pointer>,
    mut actions: MessageWriter<UiAction>,
    mut walk: MessageWriter<WalkTo>,
) {
    if focus.typing {
        return;
    }
    if keys.just_pressed(KeyCode::KeyE) {
        actions.write(UiAction::PickUpOrPutBack);
    }
    if keys.just_pressed(KeyCode::KeyG) {
        actions.write(UiAction::Drop);
    }
    if keys.just_pressed(KeyCode::KeyF) {
        actions.write(UiAction::LookClosely);
    }
    if mouse.just_pressed(MouseButton::Left) && !focus.over_panel {
        if let Some((product, _)) = &pointer.hovered {
            actions.write(UiAction::Select(product.clone()));
        } else if let Some(floor) = pointer.floor {
            walk.write(WalkTo(floor));
        }
    }
}

fn handle_actions(
    mut commands: Commands,
    mut actions: MessageReader<UiAction>,
    session: Res<Session>,
    mut send: MessageWriter<SendCommand>,
    mut pointer: ResMut<Pointer>,
    mut hands: ResMut<Hands>,
    models: Query<(Entity, &DisplayedProduct)>,
    displays: Query<&ProductDisplay>,
    camera: Query<&GlobalTransform, With<MainCamera>>,
    mut velocities: Query<&mut Transform>,
    mode: Res<XrMode>,
) {
    for action in actions.read() {
        // In XR, hands pick up and let go (xr::hands).
        if mode.is_xr()
            && matches!(
                action,
                UiAction::PickUpOrPutBack | UiAction::Drop | UiAction::LookClosely
            )
        {
            continue;
        }
        match action {
            UiAction::Select(product) => {
                pointer.selected = Some(product.clone());
                send.write_batch(pointer.report_view(product).map(SendCommand));
            }
            UiAction::PickUpOrPutBack => {
                if let Some(held) = hands.held.take() {
                    send.write(SendCommand(holding::put_back(&held)));
                    go_home(
                        &mut commands,
                        held.entity,
                        &displays,
                        &models,
                        &mut velocities,
                    );
                    continue;
                }
                let Some((product, distance)) = pointer.hovered.clone() else {
                    continue;
                };
                if distance > REACH {
                    continue;
                }
                let taken = session
                    .mirror()
                    .and_then(|m| m.held.get(&product).map(|by| Some(*by) != m.you))
                    .unwrap_or(false);
                let Some((entity, _)) = models.iter().find(|(_, m)| m.product == product) else {
                    continue;
                };
                // In someone else's hands: ask for a hand-off (the server
                // allows it when our hands meet).
                let ask = holding::take(
                    &mut hands,
                    &mut pointer,
                    Hand::Desktop,
                    product,
                    entity,
                    None,
                    taken,
                );
                send.write(SendCommand(ask));
                holding::hold_body(&mut commands, entity);
            }
            UiAction::Drop => {
                let Some(held) = hands.held.take() else {
                    continue;
                };
                // Let go: a dynamic body with a little of the hand's motion.
                let forward = camera
                    .single()
                    .map(|c| c.forward().as_vec3())
                    .unwrap_or(Vec3::NEG_Z);
                holding::fall_body(&mut commands, held.entity, forward * 0.3);
                holding::let_fall(&mut hands, held);
            }
            UiAction::LookClosely => {
                if let Some(held) = &mut hands.held {
                    held.close = !held.close;
                }
            }
            _ => {}
        }
    }
}

/// The server's word on holding: a refused pick-up goes back, a product
/// the server returned goes home.
fn hear_server(
    mut commands: Commands,
    time: Res<Time>,
    mut changes: MessageReader<RoomChangeMessage>,
    mut hands: ResMut<Hands>,
    mut pointer: ResMut<Pointer>,
    session: Res<Session>,
    mut send: MessageWriter<SendCommand>,
    displays: Query<&ProductDisplay>,
    models: Query<(Entity, &DisplayedProduct)>,
    bodies: Query<(Entity, &RigidBody), With<DisplayedProduct>>,
    mut transforms: Query<&mut Transform>,
) {
    pointer.age_reports(time.delta_secs());
    if let Some((product, _)) = pointer.hovered.clone() {
        send.write_batch(pointer.report_view(&product).map(SendCommand));
    }
    for RoomChangeMessage(change) in changes.read() {
        match change {
            // A refused pick-up or hand-off (someone else was first, hands
            // full, hands too far apart): what is in hand and not granted
            // goes home (a product in someone's hand goes back to them). (A
            // rate limit may answer a card view instead, so it is left be.)
            RoomChange::Rejected(rejection)
                if rejection.command == CommandKind::Inspect
                    && !matches!(rejection.reason, RejectReason::RateLimited { .. }) =>
            {
                // Only grabs the server has not granted: with a product in
                // each hand, the other one stays.
                let granted = |product: &ProductId| {
                    session
                        .mirror()
                        .is_some_and(|m| m.held.get(product).is_some_and(|by| Some(*by) == m.you))
                };
                for held in hands.take_where(|p| !granted(p)) {
                    go_home(
                        &mut commands,
                        held.entity,
                        &displays,
                        &models,
                        &mut transforms,
                    );
                }
            }
            // Passed out of our hand: it is theirs to place now.
            RoomChange::ProductPassed { product, from, .. }
                if session.mirror().and_then(|m| m.you) == Some(*from) =>
            {
                hands.take_product(product);
            }
            // A (re)join: the server put back whatever we held or dropped.
            RoomChange::Welcomed { .. } => {
                let entities: Vec<Entity> = hands
                    .take_where(|_| true)
                    .into_iter()
                    .map(|h| h.entity)
                    .chain(hands.falling.drain(..).map(|(_, e, ..)| e))
                    .chain(
                        bodies
                            .iter()
                            .filter(|(_, b)| **b == RigidBody::Dynamic)
                            .map(|(e, _)| e),
                    )
                    .collect();
                for entity in entities {
                    go_home(&mut commands, entity, &displays, &models, &mut transforms);
                }
            }
            RoomChange::ProductReturned { product } => {
                if hands.holds_product(product) {
                    continue;
                }
                hands.falling.retain(|(p, ..)| p != product);
                if let Some((entity, _)) = models.iter().find(|(_, m)| &m.product == product) {
                    go_home(&mut commands, entity, &displays, &models, &mut transforms);
                }
            }
            _ => {}
        }
    }
}

/// The held product rides in front of the eyes; the wheel turns it, `Z`
/// and `X` tilt it.
fn carry(
    time: Res<Time>,
    keys: Res<ButtonInput<KeyCode>>,
    scroll: Res<AccumulatedMouseScroll>,
    focus: Res<UiFocus>,
    mut hands: ResMut<Hands>,
    camera: Query<&GlobalTransform, With<MainCamera>>,
    displays: Query<&ProductDisplay>,
    models: Query<&DisplayedProduct>,
    catalog: Res<Catalog>,
    mut transforms: Query<&mut Transform>,
) {
    let Some(held) = &mut hands.held else {
        return;
    };
    // In the hand at the product's real size (the catalog's), so a model
    // made at another size still shows true.
    let true_scale = catalog
        .get(&held.product)
        .map(|p| p.true_scale())
        .unwrap_or(1.0);
    let dt = time.delta_secs();
    held.seconds += dt;
    if !focus.typing {
        let tilt = |key, by: f32| if keys.pressed(key) { by } else { 0.0 };
        let pitch = tilt(KeyCode::KeyX, 1.5 * dt) + tilt(KeyCode::KeyZ, -1.5 * dt);
        holding::turn(held, scroll.delta.y * 0.2, pitch);
    }
    let Ok(eyes) = camera.single() else {
        return;
    };
    // Bigger products are held further out so they fit the view.
    let size = models
        .get(held.entity)
        .ok()
        .and_then(|m| displays.get(m.display).ok())
        .map(|d| d.half_extents.length() / d.home.scale.x * true_scale)
        .unwrap_or(0.2);
    let distance = if held.close {
        0.25 + size * 1.5
    } else {
        0.55 + size * 2.0
    };
    let side = if held.close { 0.0 } else { 0.18 };
    let target = eyes.translation() + eyes.forward() * distance + eyes.right() * side
        - eyes.up() * if held.close { 0.0 } else { 0.12 };
    let facing = Quat::from_rotation_y(
        eyes.to_scale_rotation_translation()
            .1
            .to_euler(EulerRot::YXZ)
            .0,
    );
    if let Ok(mut t) = transforms.get_mut(held.entity) {
        // A short ease: the product follows the hand without lag spikes.
        let k = (dt * 18.0).min(1.0);
        t.translation = t.translation.lerp(target, k);
        t.rotation = t.rotation.slerp(facing * held.spin, k);
        // In the hand, true size.
        t.scale = t.scale.lerp(Vec3::splat(true_scale), k);
    }
}

/// A dropped product tells the server where it came to rest.
fn settle_dropped(
    time: Res<Time>,
    mut hands: ResMut<Hands>,
    mut send: MessageWriter<SendCommand>,
    bodies: Query<(&Transform, Option<&Velocity>)>,
) {
    let body = |entity| match bodies.get(entity) {
        Ok((t, v)) => (
            t.translation,
            v.is_none_or(|v| v.linear.length() < 0.05 && v.angular.length() < 0.1),
        ),
        Err(_) => (Vec3::ZERO, true),
    };
    let settled = holding::settle(&mut hands, time.delta_secs(), body);
    send.write_batch(settled.into_iter().map(SendCommand));
}

/// Products others hold float before them; products others dropped lie
/// where they fell; the rest stand on their displays.
fn place_others_products(
    mut commands: Commands,
    session: Res<Session>,
    hands: Res<Hands>,
    time: Res<Time>,
    avatars: Query<(&RemoteAvatar, &Transform), Without<DisplayedProduct>>,
    hand_at: Query<(&GlobalTransform, &InheritedVisibility), Without<DisplayedProduct>>,
    displays: Query<&ProductDisplay>,
    mut models: Query<(
        Entity,
        &DisplayedProduct,
        &mut Transform,
        Option<&RigidBody>,
    )>,
) {
    let Some(mirror) = session.mirror() else {
        return;
    };
    let k = (time.delta_secs() * 12.0).min(1.0);
    for (entity, model, mut t, body) in &mut models {
        let mine = hands.holds(entity) || hands.falling.iter().any(|(_, e, ..)| *e == entity);
        if mine {
            continue;
        }
        let held_by = mirror
            .held
            .get(&model.product)
            .filter(|s| Some(**s) != mirror.you);
        let dropped = mirror
            .dropped
            .get(&model.product)
            .map(|at| Vec3::from_array(*at))
            .filter(|at| at.is_finite());
        if body.is_some_and(|b| *b == RigidBody::Dynamic) {
            // Ours, lying where it fell, until someone else takes it.
            if held_by.is_none() {
                continue;
            }
            commands
                .entity(entity)
                .insert((RigidBody::KinematicPositionBased, Sensor))
                .remove::<(Velocity, Ccd)>();
        }
        let target = if let Some(slot) = held_by {
            avatars
                .iter()
                .find(|(a, _)| a.slot == *slot)
                .map(|(a, avatar)| {
                    // In a tracked hand (the right, else the left), else before
                    // the body.
                    let hand = a.hands().into_iter().rev().find_map(|h| {
                        hand_at
                            .get(h)
                            .ok()
                            .filter(|(_, v)| v.get())
                            .map(|(t, _)| t.compute_transform())
                    });
                    match hand {
                        Some(hand) => hand,
                        None => {
                            let at =
                                avatar.translation + avatar.rotation * Vec3::new(0.0, 1.15, -0.45);
                            Transform::from_translation(at).with_rotation(avatar.rotation)
                        }
                    }
                })
        } else {
            dropped.map(|at| Transform::from_translation(at).with_rotation(t.rotation))
        };
        let target = match target {
            Some(target) => target,
            None => match displays.get(model.display) {
                Ok(d) => d.home,
                Err(_) => continue,
            },
        };
        // At rest: leave the transform alone, so rapier and the transform
        // propagation have nothing to redo for the products standing still.
        if t.translation.distance_squared(target.translation) < 1e-8
            && t.rotation.angle_between(target.rotation) < 1e-4
            && t.scale.distance_squared(target.scale) < 1e-8
        {
            continue;
        }
        t.translation = t.translation.lerp(target.translation, k);
        t.rotation = t.rotation.slerp(target.rotation, k);
        t.scale = t.scale.lerp(target.scale, k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::showroom::holding::Held;

    fn id(product: &str) -> ProductId {
        ProductId::new(product).unwrap()
    }

    fn held(product: &str, entity: Entity) -> Held {
        Held {
            product: id(product),
            entity,
            seconds: 0.0,
            spin: Quat::IDENTITY,
            close: false,
            in_hand: None,
        }
    }

    #[test]
    fn rebuilt_displays_empty_the_hand_and_unpin_the_card() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .init_resource::<Hands>()
            .init_resource::<Pointer>()
            .add_message::<DisplaysRebuilt>()
            .add_systems(Update, forget_old_displays);
        let (lamp, vase, cup) = (
            app.world_mut().spawn_empty().id(),
            app.world_mut().spawn_empty().id(),
            app.world_mut().spawn_empty().id(),
        );
        {
            let mut hands = app.world_mut().resource_mut::<Hands>();
            hands.held = Some(held("lamp", lamp));
            hands.xr[1] = Some(held("cup", cup));
            hands.falling.push((id("vase"), vase, 0.2, 900));
        }
        app.world_mut().resource_mut::<Pointer>().selected = Some(id("lamp"));
        // No rebuild: everything stays.
        app.update();
        assert!(app.world().resource::<Hands>().held.is_some());
        assert!(app.world().resource::<Pointer>().selected.is_some());

        app.world_mut().write_message(DisplaysRebuilt);
        app.update();
        let hands = app.world().resource::<Hands>();
        assert!(hands.held.is_none());
        assert!(hands.falling.is_empty());
        assert!(app.world().resource::<Pointer>().selected.is_none());
        // As before the message, XR hands are left to the server's word.
        assert!(hands.xr[1].is_some());
    }

    #[test]
    fn a_click_on_the_floor_asks_the_player_to_walk_and_one_on_a_product_selects_it() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .init_resource::<ButtonInput<KeyCode>>()
            .init_resource::<ButtonInput<MouseButton>>()
            .init_resource::<UiFocus>()
            .init_resource::<Pointer>()
            .add_message::<UiAction>()
            .add_message::<WalkTo>()
            .add_systems(Update, keys_to_actions);
        let floor = Vec3::new(2.0, 0.0, -3.0);
        let click = |app: &mut App| {
            let mut mouse = app.world_mut().resource_mut::<ButtonInput<MouseButton>>();
            mouse.release(MouseButton::Left);
            mouse.clear();
            mouse.press(MouseButton::Left);
            app.update();
        };
        let walks = |app: &mut App| {
            let sent: Vec<WalkTo> = app
                .world_mut()
                .resource_mut::<Messages<WalkTo>>()
                .drain()
                .collect();
            sent
        };
        let actions = |app: &mut App| {
            let sent: Vec<UiAction> = app
                .world_mut()
                .resource_mut::<Messages<UiAction>>()
                .drain()
                .collect();
            sent
        };

        app.world_mut().resource_mut::<Pointer>().floor = Some(floor);
        click(&mut app);
        assert_eq!(walks(&mut app), [WalkTo(floor)]);
        assert!(actions(&mut app).is_empty());

        // Over a product, the click is the product's, not the floor's.
        app.world_mut().resource_mut::<Pointer>().hovered = Some((id("lamp"), 1.5));
        click(&mut app);
        assert!(walks(&mut app).is_empty());
        assert_eq!(actions(&mut app), [UiAction::Select(id("lamp"))]);

        // Over a panel, the room hears no click at all.
        app.world_mut().resource_mut::<Pointer>().hovered = None;
        app.world_mut().resource_mut::<UiFocus>().over_panel = true;
        click(&mut app);
        assert!(walks(&mut app).is_empty());
        assert!(actions(&mut app).is_empty());
    }
}
