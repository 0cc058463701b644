//! The tracking space rides on the shopper's body ([`LocalPlayer`]): the
//! headset's floor origin is the body's feet, so walking in the play area
//! moves the head within it, and teleports and snap turns move the body.
//! The main camera follows the head (the desktop window mirrors the headset
//! and the products' code keeps its "eyes"), and the avatar's pose carries
//! head and hands in room space.

use super::XrSettings;
use super::input::{Gesture, Gestures, LEFT, RIGHT, SNAP_TURN, XrInput, teleport_arc};
use crate::showroom::input_mode::in_xr;
use crate::showroom::player::{BODY_CENTRE, EYE_HEIGHT, LocalPlayer, MainCamera};
use crate::showroom::room::RoomLayout;
use crate::showroom::session::{OutgoingPose, SendCommand};
use crate::showroom::{AppState, ShowroomSystems};
use bevy::asset::RenderAssetUsages;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use vitrine_shared::pose::{MAX_TELEPORT_M, TrackedPoseNet, XrPoseNet, protocol_yaw};
use vitrine_shared::{PoseNet, RoomCommand};

/// Teleport targets keep this far from the walls.
const WALL_MARGIN: f32 = 0.4;
/// The vignette fades out over this many seconds after a jump or turn.
const VIGNETTE_FADE_SECS: f32 = 0.35;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Rig>()
        .add_systems(
            OnEnter(AppState::Showroom),
            // After the player's body is spawned (`Input`): the rig rides on it.
            spawn_rig.in_set(ShowroomSystems::Simulate).run_if(in_xr),
        )
        .add_systems(
            Update,
            (
                // The stick's release lands where the last frame aimed;
                // then the aim is read again.
                (read_gestures, move_rig, aim_teleport)
                    .chain()
                    .in_set(ShowroomSystems::Input),
                (follow_head, fade_vignette, publish_xr_pose)
                    .chain()
                    .in_set(ShowroomSystems::Present),
            )
                .run_if(in_xr.and_then(in_state(AppState::Showroom))),
        );
}

/// The rig's state.
#[derive(Resource, Debug, Default)]
pub struct Rig {
    /// Seated mode's lift, measured from the first head pose.
    pub seated_lift: Option<f32>,
    /// The teleport being aimed: the hand, the target, and whether it may
    /// be taken.
    pub aim: Option<(usize, Vec3, bool)>,
    /// Teleports made, and the last target.
    pub teleports: u32,
    pub last_teleport: Option<Vec3>,
    /// Snap turns made (+ right, - left).
    pub turns: i32,
    /// The vignette's strength, 0 to 1.
    pub vignette: f32,
}

/// The headset's floor origin: a child of the body, at its feet.
#[derive(Component)]
pub struct TrackingSpace;

/// A hand's visible model, placed at its grip.
#[derive(Component)]
pub struct HandModel(pub usize);

/// The floor ring under an aimed teleport.
#[derive(Component)]
struct TeleportMarker;

/// The comfort vignette before the eyes.
#[derive(Component)]
pub struct Vignette;

pub fn spawn_rig(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut images: ResMut<Assets<Image>>,
    player: Query<Entity, With<LocalPlayer>>,
    camera: Query<Entity, With<MainCamera>>,
    mut rig: ResMut<Rig>,
) {
    *rig = Rig::default();
    let Ok(body) = player.single() else {
        return;
    };
    let space = commands
        .spawn((
            TrackingSpace,
            Transform::from_xyz(0.0, -BODY_CENTRE, 0.0),
            Visibility::default(),
        ))
        .id();
    commands.entity(body).add_child(space);
    let hand_mesh = meshes.add(Cuboid::new(0.08, 0.05, 0.14));
    for (i, color) in [
        (LEFT, Color::srgb(0.3, 0.6, 1.0)),
        (RIGHT, Color::srgb(1.0, 0.5, 0.3)),
    ] {
        let hand = commands
            .spawn((
                HandModel(i),
                Mesh3d(hand_mesh.clone()),
                MeshMaterial3d(materials.add(color)),
                Transform::default(),
                Visibility::Hidden,
            ))
            .id();
        commands.entity(space).add_child(hand);
    }
    commands.spawn((
        DespawnOnExit(AppState::Showroom),
        TeleportMarker,
        Mesh3d(meshes.add(Torus::new(0.22, 0.3))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::srgb(0.2, 0.9, 0.5),
            unlit: true,
            ..default()
        })),
        Transform::default(),
        Visibility::Hidden,
    ));
    // The vignette: a dark ring close in front of the eyes, clear in the
    // middle, faded in while the view moves without the head.
    if let Ok(camera) = camera.single() {
        let vignette = commands
            .spawn((
                Vignette,
                Mesh3d(meshes.add(Rectangle::new(0.5, 0.5))),
                MeshMaterial3d(materials.add(StandardMaterial {
                    base_color: Color::BLACK.with_alpha(0.0),
                    base_color_texture: Some(images.add(vignette_image(64))),
                    alpha_mode: AlphaMode::Blend,
                    unlit: true,
                    ..default()
                })),
                Transform::from_xyz(0.0, 0.0, -0.12),
                Visibility::Hidden,
            ))
            .id();
        commands.entity(camera).add_child(vignette);
    }
}

/// A square whose alpha grows from the clear centre to opaque edges.
fn vignette_image(size: u32) -> Image {
    let mut data = Vec::with_capacity((size * size * 4) as usize);
    let half = size as f32 / 2.0;
    for y in 0..size {
        for x in 0..size {
            let r = Vec2::new(x as f32 + 0.5 - half, y as f32 + 0.5 - half).length() / half;
            let alpha = ((r - 0.45) / 0.4).clamp(0.0, 1.0);
            data.extend_from_slice(&[255, 255, 255, (alpha * 255.0) as u8]);
        }
    }
    Image::new(
        Extent3d {
            width: size,
            height: size,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        data,
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::RENDER_WORLD,
    )
}

pub fn read_gestures(
    input: Res<XrInput>,
    mut gestures: ResMut<Gestures>,
    mut out: MessageWriter<Gesture>,
) {
    out.write_batch(gestures.read(&input));
}

/// The tracking space's transform in the world.
pub fn space_transform(
    body: &Transform,
    settings: &XrSettings,
    rig: &Rig,
) -> (Transform, GlobalTransform) {
    let lift = if settings.seated {
        rig.seated_lift.unwrap_or(0.0)
    } else {
        0.0
    };
    let local = Transform::from_xyz(0.0, lift - BODY_CENTRE, 0.0);
    let global = GlobalTransform::from(*body) * GlobalTransform::from(local);
    (local, global)
}

/// Where a teleport aimed from `hand` lands, and whether it may be taken.
fn aim_target(
    input: &XrInput,
    hand: usize,
    space: &GlobalTransform,
    body: Vec3,
    layout: &RoomLayout,
) -> Option<(Vec3, bool)> {
    let aim = input.hands[hand].aim.or(input.hands[hand].grip)?;
    let world = space.mul_transform(aim.transform());
    let floor = space.translation().y;
    let origin = world.translation() - Vec3::Y * floor;
    let target = teleport_arc(origin, *world.forward())? + Vec3::Y * floor;
    let b = layout.bounds;
    let inside = target.x > b.min[0] + WALL_MARGIN
        && target.x < b.max[0] - WALL_MARGIN
        && target.z > b.min[2] + WALL_MARGIN
        && target.z < b.max[2] - WALL_MARGIN;
    let near = target.with_y(0.0).distance(body.with_y(0.0)) <= MAX_TELEPORT_M;
    Some((target, inside && near))
}

fn aim_teleport(
    input: Res<XrInput>,
    gestures: Res<Gestures>,
    settings: Res<XrSettings>,
    layout: Res<RoomLayout>,
    mut rig: ResMut<Rig>,
    player: Query<&Transform, With<LocalPlayer>>,
    mut marker: Query<
        (
            &mut Transform,
            &mut Visibility,
            &MeshMaterial3d<StandardMaterial>,
        ),
        (With<TeleportMarker>, Without<LocalPlayer>),
    >,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let Ok(body) = player.single() else {
        return;
    };
    let (_, space) = space_transform(body, &settings, &rig);
    rig.aim = [LEFT, RIGHT]
        .into_iter()
        .find(|h| gestures.aiming(*h))
        .and_then(|hand| {
            aim_target(&input, hand, &space, body.translation, &layout).map(|(t, ok)| (hand, t, ok))
        });
    if let Ok((mut t, mut visibility, material)) = marker.single_mut() {
        match rig.aim {
            Some((_, target, ok)) => {
                t.translation = target.with_y(0.01);
                *visibility = Visibility::Visible;
                if let Some(mut m) = materials.get_mut(&material.0) {
                    m.base_color = if ok {
                        Color::srgb(0.2, 0.9, 0.5)
                    } else {
                        Color::srgb(0.9, 0.2, 0.2)
                    };
                }
            }
            None => *visibility = Visibility::Hidden,
        }
    }
}

/// Teleports and snap turns move the body; the head keeps its place in the
/// play area.
fn move_rig(
    mut gestures: MessageReader<Gesture>,
    input: Res<XrInput>,
    settings: Res<XrSettings>,
    mut rig: ResMut<Rig>,
    mut send: MessageWriter<SendCommand>,
    mut player: Query<&mut Transform, With<LocalPlayer>>,
) {
    let Ok(mut body) = player.single_mut() else {
        return;
    };
    for gesture in gestures.read() {
        let (_, space) = space_transform(&body, &settings, &rig);
        let head = input
            .head
            .map(|h| space.transform_point(h.position))
            .unwrap_or(body.translation);
        match *gesture {
            Gesture::TeleportGo(hand) => {
                let Some((_, target, true)) = rig.aim.filter(|(h, ..)| *h == hand) else {
                    continue;
                };
                // The head lands over the target.
                body.translation += (target - head).with_y(0.0);
                let yaw = input
                    .head
                    .map(|h| protocol_yaw(space.rotation() * h.rotation))
                    .unwrap_or_else(|| protocol_yaw(body.rotation));
                send.write(SendCommand(RoomCommand::Teleport {
                    to: target.with_y(0.0).to_array(),
                    yaw,
                }));
                rig.teleports += 1;
                rig.last_teleport = Some(target);
                rig.aim = None;
                rig.vignette = 1.0;
            }
            Gesture::SnapTurn(direction) => {
                // Turn about the head, not the body's centre.
                let turn = Quat::from_rotation_y(-(direction as f32) * SNAP_TURN);
                let pivot = head.with_y(body.translation.y);
                body.translation = pivot + turn * (body.translation - pivot);
                body.rotation = turn * body.rotation;
                rig.turns += direction as i32;
                rig.vignette = 1.0;
            }
            _ => {}
        }
    }
}

/// The camera at the head, hands at their grips, and seated mode's lift.
fn follow_head(
    input: Res<XrInput>,
    settings: Res<XrSettings>,
    mut rig: ResMut<Rig>,
    mut space: Query<&mut Transform, With<TrackingSpace>>,
    mut camera: Query<&mut Transform, (With<MainCamera>, Without<TrackingSpace>)>,
    mut hands: Query<
        (&HandModel, &mut Transform, &mut Visibility),
        (Without<MainCamera>, Without<TrackingSpace>),
    >,
) {
    if settings.seated
        && rig.seated_lift.is_none()
        && let Some(head) = input.head
    {
        // Seated eyes are lower than standing ones: lift the play area so
        // the shopper sees (and reaches) the room as if standing.
        rig.seated_lift = Some((EYE_HEIGHT - head.position.y).max(0.0));
    }
    let lift = if settings.seated {
        rig.seated_lift.unwrap_or(0.0)
    } else {
        0.0
    };
    let local = Vec3::new(0.0, lift - BODY_CENTRE, 0.0);
    if let Ok(mut t) = space.single_mut()
        && t.translation != local
    {
        t.translation = local;
    }
    if let (Ok(mut t), Some(head)) = (camera.single_mut(), input.head) {
        // The camera is the body's child, like the tracking space.
        t.translation = local + head.position;
        t.rotation = head.rotation;
    }
    for (hand, mut t, mut visibility) in &mut hands {
        match input.hands[hand.0].grip {
            Some(grip) => {
                *t = grip.transform();
                visibility.set_if_neq(Visibility::Inherited);
            }
            None => {
                visibility.set_if_neq(Visibility::Hidden);
            }
        }
    }
}

fn fade_vignette(
    time: Res<Time>,
    settings: Res<XrSettings>,
    mut rig: ResMut<Rig>,
    mut vignette: Query<(&MeshMaterial3d<StandardMaterial>, &mut Visibility), With<Vignette>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let strength = rig.vignette;
    rig.vignette = (strength - time.delta_secs() / VIGNETTE_FADE_SECS).max(0.0);
    let shown = settings.vignette && strength > 0.01;
    for (material, mut visibility) in &mut vignette {
        visibility.set_if_neq(if shown {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        });
        if shown && let Some(mut m) = materials.get_mut(&material.0) {
            m.base_color = Color::BLACK.with_alpha(strength);
        }
    }
}

/// The avatar's pose from the headset: the body under the head, facing
/// where the head faces, with head and hands in room space.
fn publish_xr_pose(
    input: Res<XrInput>,
    settings: Res<XrSettings>,
    rig: Res<Rig>,
    mut pose: ResMut<OutgoingPose>,
    player: Query<(&Transform, &LocalPlayer)>,
) {
    let Ok((body, player)) = player.single() else {
        return;
    };
    if !player.placed() {
        return;
    }
    let (_, space) = space_transform(body, &settings, &rig);
    let floor = (body.translation.y - BODY_CENTRE).max(0.0);
    let Some(head) = input.head else {
        let p = body.translation;
        pose.0 = Some(PoseNet::at([p.x, floor, p.z], protocol_yaw(body.rotation)));
        return;
    };
    let tracked = |pose: super::input::TrackedPose| {
        let world = space.mul_transform(pose.transform());
        let (_, rotation, position) = world.to_scale_rotation_translation();
        TrackedPoseNet::from((position, rotation))
    };
    let head_net = tracked(head);
    let head_world = Vec3::from_array(head_net.position);
    pose.0 = Some(PoseNet {
        position: [head_world.x, floor, head_world.z],
        yaw: protocol_yaw(Quat::from_array(head_net.rotation)),
        xr: Some(XrPoseNet {
            head: head_net,
            left_hand: input.hands[LEFT].grip.map(tracked),
            right_hand: input.hands[RIGHT].grip.map(tracked),
        }),
    });
}
