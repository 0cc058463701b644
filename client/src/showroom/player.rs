//! The shopper's own body: a rapier character that walks (WASD, or a click
//! on the floor) and collides with walls and displays, and the camera at
//! its eyes (right mouse button held: look around). Its pose goes to the
//! server through the session ([`OutgoingPose`]).

use super::focus::UiFocus;
use super::input_mode::on_desktop;
use super::room::RoomLayout;
use super::session::{OutgoingPose, Session};
use super::{AppState, Options, ShowroomSystems};
use bevy::camera::{ImageRenderTarget, RenderTarget};
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::input::mouse::AccumulatedMouseMotion;
use bevy::prelude::*;
use bevy::render::render_resource::TextureFormat;
use bevy::ui::IsDefaultUiCamera;
use bevy_rapier3d::prelude::*;
use vitrine_shared::PoseNet;
use vitrine_shared::pose::{protocol_yaw, yaw_rotation};

pub const EYE_HEIGHT: f32 = 1.6;
const CAPSULE_HALF: f32 = 0.6;
const CAPSULE_RADIUS: f32 = 0.3;
/// The capsule's centre above the floor.
pub const BODY_CENTRE: f32 = CAPSULE_HALF + CAPSULE_RADIUS;
const WALK_SPEED: f32 = 2.5;
const RUN_SPEED: f32 = 4.5;
const LOOK_SENSITIVITY: f32 = 0.003;

pub(super) fn plugin(app: &mut App) {
    app.add_message::<WalkTo>()
        // After the room is measured (`Build`), so the body starts inside it.
        .add_systems(
            OnEnter(AppState::Showroom),
            spawn_player.in_set(ShowroomSystems::Input),
        )
        .add_systems(
            Update,
            (
                (look, walk)
                    .chain()
                    .in_set(ShowroomSystems::Input)
                    .run_if(on_desktop),
                (place_at_spawn, publish_pose.run_if(on_desktop))
                    .chain()
                    .in_set(ShowroomSystems::Present),
            )
                .run_if(in_state(AppState::Showroom)),
        );
}

/// A click on the floor (the pointer is `holding`'s): walk there, until a
/// walking key takes over.
#[derive(Message, Debug, Clone, Copy, PartialEq)]
pub struct WalkTo(pub Vec3);

#[derive(Component)]
pub struct LocalPlayer {
    /// Camera pitch, radians (up is positive).
    pub pitch: f32,
    /// Where a click on the floor ([`WalkTo`]) sends us.
    pub walk_to: Option<Vec3>,
    /// Set once we stand where the server put us.
    placed: bool,
}

impl LocalPlayer {
    /// Whether we stand where the server put us (or offline, anywhere).
    pub fn placed(&self) -> bool {
        self.placed
    }
}

#[derive(Component)]
pub struct MainCamera;

/// The image the camera renders into when there is no window.
#[derive(Resource, Clone)]
pub struct OffscreenTarget(pub Handle<Image>);

pub fn spawn_player(
    mut commands: Commands,
    options: Res<Options>,
    layout: Res<RoomLayout>,
    mut images: ResMut<Assets<Image>>,
) {
    let b = layout.bounds;
    // Offline: where the server would put us, in the audience facing the stage.
    let depth = b.max[2] - b.min[2];
    let start = Vec3::new(
        (b.min[0] + b.max[0]) / 2.0,
        BODY_CENTRE,
        (b.min[2] + b.max[2]) / 2.0 + depth * 0.15,
    );
    let target = options.offscreen().then(|| {
        images.add(Image::new_target_texture(
            options.width,
            options.height,
            TextureFormat::Rgba8UnormSrgb,
            None,
        ))
    });
    if let Some(image) = &target {
        commands.insert_resource(OffscreenTarget(image.clone()));
    }
    let mut camera = commands.spawn((
        MainCamera,
        Camera3d::default(),
        Tonemapping::AcesFitted,
        IsDefaultUiCamera,
        Projection::Perspective(PerspectiveProjection {
            fov: 70f32.to_radians(),
            ..default()
        }),
        Transform::from_xyz(0.0, EYE_HEIGHT - BODY_CENTRE, 0.0),
    ));
    if let Some(image) = target {
        camera.insert(RenderTarget::Image(ImageRenderTarget::from(image)));
    }
    let camera = camera.id();
    commands
        .spawn((
            DespawnOnExit(AppState::Showroom),
            LocalPlayer {
                pitch: -0.05,
                walk_to: None,
                placed: false,
            },
            Transform::from_translation(start).with_rotation(yaw_rotation(std::f32::consts::PI)),
            Visibility::default(),
            RigidBody::KinematicPositionBased,
            Collider::capsule_y(CAPSULE_HALF, CAPSULE_RADIUS),
            KinematicCharacterController {
                offset: CharacterLength::Absolute(0.02),
                ..default()
            },
        ))
        .add_child(camera);
}

/// When the server welcomes us, stand where it says, facing the stage.
fn place_at_spawn(session: Res<Session>, mut player: Query<(&mut Transform, &mut LocalPlayer)>) {
    let Ok((mut transform, mut player)) = player.single_mut() else {
        return;
    };
    if player.placed {
        return;
    }
    let Some(spawn) = session.mirror().and_then(|m| m.spawn) else {
        return;
    };
    let [x, y, z] = spawn.position;
    transform.translation = Vec3::new(x, y + BODY_CENTRE, z);
    transform.rotation = yaw_rotation(std::f32::consts::PI);
    player.placed = true;
}

fn look(
    mouse: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    focus: Res<UiFocus>,
    mut player: Query<(&mut Transform, &mut LocalPlayer), Without<MainCamera>>,
    mut camera: Query<&mut Transform, With<MainCamera>>,
) {
    let Ok((mut body, mut player)) = player.single_mut() else {
        return;
    };
    if mouse.pressed(MouseButton::Right) && !focus.typing {
        let d = motion.delta * LOOK_SENSITIVITY;
        body.rotate_y(-d.x);
        player.pitch = (player.pitch - d.y).clamp(-1.3, 1.3);
    }
    if let Ok(mut cam) = camera.single_mut() {
        cam.rotation = Quat::from_rotation_x(player.pitch);
    }
}

fn walk(
    time: Res<Time>,
    keys: Res<ButtonInput<KeyCode>>,
    focus: Res<UiFocus>,
    mut clicks: MessageReader<WalkTo>,
    mut player: Query<(
        &Transform,
        &mut LocalPlayer,
        &mut KinematicCharacterController,
    )>,
) {
    let Ok((transform, mut player, mut controller)) = player.single_mut() else {
        return;
    };
    if let Some(WalkTo(floor)) = clicks.read().last() {
        player.walk_to = Some(*floor);
    }
    let mut input = Vec2::ZERO;
    if !focus.typing {
        for (key, dir) in [
            (KeyCode::KeyW, Vec2::Y),
            (KeyCode::ArrowUp, Vec2::Y),
            (KeyCode::KeyS, Vec2::NEG_Y),
            (KeyCode::ArrowDown, Vec2::NEG_Y),
            (KeyCode::KeyA, Vec2::NEG_X),
            (KeyCode::ArrowLeft, Vec2::NEG_X),
            (KeyCode::KeyD, Vec2::X),
            (KeyCode::ArrowRight, Vec2::X),
        ] {
            if keys.pressed(key) {
                input += dir;
            }
        }
    }
    let forward = (transform.rotation * Vec3::NEG_Z)
        .with_y(0.0)
        .normalize_or_zero();
    let right = (transform.rotation * Vec3::X)
        .with_y(0.0)
        .normalize_or_zero();
    let speed = if keys.pressed(KeyCode::ShiftLeft) {
        RUN_SPEED
    } else {
        WALK_SPEED
    };
    let dt = time.delta_secs();
    let mut velocity = Vec3::ZERO;
    if input != Vec2::ZERO {
        // Keys take over from a click-to-walk.
        player.walk_to = None;
        let input = input.normalize();
        velocity = (forward * input.y + right * input.x) * speed;
    } else if let Some(target) = player.walk_to {
        let to = (target - transform.translation).with_y(0.0);
        if to.length() < 0.15 {
            player.walk_to = None;
        } else {
            velocity = to.normalize() * speed;
        }
    }
    // A little gravity keeps the capsule on the floor.
    controller.translation = Some(velocity * dt + Vec3::NEG_Y * 2.0 * dt);
}

fn publish_pose(mut pose: ResMut<OutgoingPose>, player: Query<(&Transform, &LocalPlayer)>) {
    let Ok((transform, player)) = player.single() else {
        return;
    };
    if !player.placed {
        return;
    }
    let p = transform.translation;
    pose.0 = Some(PoseNet::at(
        [p.x, (p.y - BODY_CENTRE).max(0.0), p.z],
        protocol_yaw(transform.rotation),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::time::TimeUpdateStrategy;
    use std::time::Duration;

    #[test]
    fn a_walk_to_message_walks_the_body_there_until_a_key_takes_over() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
                100,
            )))
            .init_resource::<ButtonInput<KeyCode>>()
            .init_resource::<UiFocus>()
            .add_message::<WalkTo>()
            .add_systems(Update, walk);
        let me = app
            .world_mut()
            .spawn((
                LocalPlayer {
                    pitch: 0.0,
                    walk_to: None,
                    placed: true,
                },
                Transform::from_xyz(0.0, BODY_CENTRE, 0.0),
                KinematicCharacterController::default(),
            ))
            .id();
        let state = |app: &App| {
            let player = app.world().get::<LocalPlayer>(me).unwrap();
            let moved = app
                .world()
                .get::<KinematicCharacterController>(me)
                .unwrap()
                .translation;
            (player.walk_to, moved)
        };
        // The first frame's clock is zero: step once so the walk has time.
        app.update();
        let target = Vec3::new(3.0, 0.0, 0.0);
        app.world_mut().write_message(WalkTo(target));
        app.update();
        let (walk_to, moved) = state(&app);
        assert_eq!(walk_to, Some(target));
        let moved = moved.expect("the body moves");
        assert!(moved.x > 0.0 && moved.z.abs() < 1e-6, "{moved:?}");

        // A walking key takes over and forgets the click.
        app.world_mut()
            .resource_mut::<ButtonInput<KeyCode>>()
            .press(KeyCode::KeyW);
        app.update();
        assert_eq!(state(&app).0, None);
    }

    #[test]
    fn yaw_round_trips() {
        for yaw in [-3.0f32, -1.0, 0.0, 0.5, 2.0, 3.1] {
            let back = protocol_yaw(yaw_rotation(yaw));
            let diff = (back - yaw).rem_euclid(std::f32::consts::TAU);
            assert!(
                diff.min(std::f32::consts::TAU - diff) < 1e-4,
                "{yaw} -> {back}"
            );
        }
    }
}
