//! Who is speaking, in 3D: a ring of light around each speaking avatar's
//! head, swelling with their level, gone a moment after they stop. A mesh
//! in the room rather than a screen label, so the headset shows it too.
//! Read from [`VoiceStatus`] and the avatars' published components; the
//! rings are this feature's own entities, and nothing runs while nobody
//! speaks.

use super::VoiceStatus;
use crate::showroom::avatars::RemoteAvatar;
use crate::showroom::{AppState, ShowroomSystems};
use bevy::prelude::*;
use vitrine_shared::MemberSlot;

/// The ring's colour: a green apart from the party palette's greens and
/// cyans (hue about 150 degrees).
pub const SPEAKING_COLOUR: Color = Color::srgb(0.15, 1.0, 0.55);
/// Around the head, clear of it (the avatars' head is 0.17 m in radius).
pub const RING_RADIUS: f32 = 0.3;
const RING_THICKNESS: f32 = 0.035;
/// The ring's height over the avatar's feet: at the chin, under the visor
/// (the head's sphere is 0.17 m in radius), so the face stays clear.
pub const RING_HEIGHT: f32 = super::HEAD_HEIGHT - 0.14;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<RingAssets>().add_systems(
        Update,
        rings
            .in_set(ShowroomSystems::Present)
            .run_if(in_state(AppState::Showroom)),
    );
}

#[derive(Resource)]
struct RingAssets {
    mesh: Handle<Mesh>,
    material: Handle<StandardMaterial>,
}

impl FromWorld for RingAssets {
    fn from_world(world: &mut World) -> Self {
        // Unlit: the colour reads the same under any light, and a test can
        // look for it.
        let material = world
            .resource_mut::<Assets<StandardMaterial>>()
            .add(StandardMaterial {
                base_color: SPEAKING_COLOUR,
                unlit: true,
                ..default()
            });
        let mesh = world.resource_mut::<Assets<Mesh>>().add(Torus::new(
            RING_RADIUS - RING_THICKNESS,
            RING_RADIUS + RING_THICKNESS,
        ));
        RingAssets { mesh, material }
    }
}

/// The ring around a speaking member's head.
#[derive(Component, Debug)]
pub struct SpeakingRing {
    pub slot: MemberSlot,
}

/// A ring follows each speaking avatar; it goes when they stop.
fn rings(
    mut commands: Commands,
    status: Res<VoiceStatus>,
    assets: Res<RingAssets>,
    avatars: Query<(&RemoteAvatar, &Transform, &Visibility), Without<SpeakingRing>>,
    mut rings: Query<(Entity, &SpeakingRing, &mut Transform, &mut Visibility)>,
    mut ringed: Local<Vec<MemberSlot>>,
) {
    if status.speaking.is_empty() && rings.is_empty() {
        return;
    }
    let place = |at: &Transform, level: f32| {
        Transform::from_translation(at.translation + Vec3::Y * RING_HEIGHT)
            .with_scale(Vec3::splat(1.0 + 0.2 * level.clamp(0.0, 1.0)))
    };
    ringed.clear();
    for (entity, ring, mut t, mut v) in &mut rings {
        let avatar = avatars.iter().find(|(a, _, _)| a.slot == ring.slot);
        match (status.speaking.get(&ring.slot), avatar) {
            (Some(level), Some((_, at, shown))) => {
                *t = place(at, *level);
                v.set_if_neq(*shown);
                ringed.push(ring.slot);
            }
            _ => commands.entity(entity).despawn(),
        }
    }
    for (slot, level) in &status.speaking {
        if ringed.contains(slot) {
            continue;
        }
        let Some((_, at, shown)) = avatars.iter().find(|(a, _, _)| a.slot == *slot) else {
            continue;
        };
        commands.spawn((
            DespawnOnExit(AppState::Showroom),
            SpeakingRing { slot: *slot },
            Mesh3d(assets.mesh.clone()),
            MeshMaterial3d(assets.material.clone()),
            place(at, *level),
            *shown,
        ));
    }
}
