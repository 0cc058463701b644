//! Party members in 3D: a ring in the party's colour under each member's
//! avatar and their name tag in the same colour; a marker at the screen's
//! edge pointing to each member in this room who is out of view; and a
//! floating marker over each product a member shared in this room.

use super::avatars::{RemoteAvatar, name_tag_colour};
use super::player::MainCamera;
use super::room::ProductDisplay;
use super::session::Session;
use super::{AppState, ShowroomSystems};
use bevy::prelude::*;
use std::collections::{BTreeMap, HashMap};
use vitrine_shared::limits::party::MAX_PARTY_SIZE;
use vitrine_shared::{AccountId, ProductId};

/// The party palette: one colour per member slot, far apart in hue.
const PALETTE: [(f32, f32, f32); MAX_PARTY_SIZE] = [
    (1.0, 0.78, 0.2),
    (0.25, 0.85, 1.0),
    (0.55, 1.0, 0.35),
    (1.0, 0.4, 0.75),
    (0.7, 0.5, 1.0),
    (1.0, 0.55, 0.25),
    (0.3, 1.0, 0.8),
    (0.95, 0.95, 0.95),
];

/// A party member's colour, from the colour index the server gave them.
pub fn party_colour(index: u8) -> Color {
    let (r, g, b) = PALETTE[index as usize % PALETTE.len()];
    Color::srgb(r, g, b)
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<PartyMarks>()
        .init_resource::<PartyAssets>()
        .add_systems(
            Update,
            (ring_members, mark_shared_products)
                .in_set(ShowroomSystems::Simulate)
                .run_if(in_state(AppState::Showroom)),
        )
        .add_systems(
            Update,
            point_to_members
                .in_set(ShowroomSystems::Present)
                .run_if(in_state(AppState::Showroom)),
        );
}

#[derive(Resource)]
struct PartyAssets {
    ring: Handle<Mesh>,
    marker: Handle<Mesh>,
    materials: Vec<Handle<StandardMaterial>>,
    shared: Handle<StandardMaterial>,
}

impl FromWorld for PartyAssets {
    fn from_world(world: &mut World) -> Self {
        let mut materials = world.resource_mut::<Assets<StandardMaterial>>();
        let glow = |colour: Color| StandardMaterial {
            base_color: colour,
            emissive: LinearRgba::from(colour) * 2.0,
            unlit: true,
            ..default()
        };
        let ring_materials = (0..MAX_PARTY_SIZE as u8)
            .map(|i| materials.add(glow(party_colour(i))))
            .collect();
        let shared = materials.add(glow(Color::srgb(1.0, 0.85, 0.3)));
        let mut meshes = world.resource_mut::<Assets<Mesh>>();
        PartyAssets {
            ring: meshes.add(Torus::new(0.42, 0.5)),
            marker: meshes.add(Cone::new(0.12, 0.25)),
            materials: ring_materials,
            shared,
        }
    }
}

/// The ring under a party member's avatar, with their colour index.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartyRing(pub u8);

/// The marker over a product a party member shared.
#[derive(Component, Debug, Clone, PartialEq, Eq)]
pub struct SharedMarker(pub ProductId);

/// What this client has drawn for the party: each avatar's ring (and its
/// colour), each member's edge marker, each shared product's marker.
#[derive(Resource, Default)]
struct PartyMarks {
    rings: HashMap<Entity, (Entity, u8)>,
    edges: BTreeMap<AccountId, Entity>,
    shared: BTreeMap<ProductId, Entity>,
}

/// Rings under party members' avatars and name tags in their colour.
fn ring_members(
    mut commands: Commands,
    session: Res<Session>,
    assets: Res<PartyAssets>,
    mut marks: ResMut<PartyMarks>,
    avatars: Query<(Entity, &RemoteAvatar)>,
    mut tags: Query<&mut BackgroundColor>,
) {
    let Some(mirror) = session.mirror() else {
        return;
    };
    // Rings of avatars gone went with them.
    marks.rings.retain(|avatar, _| avatars.contains(*avatar));
    for (entity, avatar) in &avatars {
        let Some(member) = mirror.members.get(&avatar.slot) else {
            continue;
        };
        let colour = mirror.party.colour_of(member.account);
        let drawn = marks.rings.get(&entity).map(|(_, c)| *c);
        if drawn == colour {
            continue;
        }
        if let Some((ring, _)) = marks.rings.remove(&entity) {
            commands.entity(ring).despawn();
        }
        if let Ok(mut background) = tags.get_mut(avatar.tag()) {
            background.0 = match colour {
                Some(c) => party_colour(c).with_alpha(0.85).darker(0.2),
                None => name_tag_colour(member.account.0),
            };
        }
        let Some(colour) = colour else {
            continue;
        };
        let ring = commands
            .spawn((
                PartyRing(colour),
                Mesh3d(assets.ring.clone()),
                MeshMaterial3d(assets.materials[colour as usize % MAX_PARTY_SIZE].clone()),
                Transform::from_xyz(0.0, 0.03, 0.0),
            ))
            .id();
        commands.entity(entity).add_child(ring);
        marks.rings.insert(entity, (ring, colour));
    }
}

/// A cone floats over each product a member shared in this room.
fn mark_shared_products(
    mut commands: Commands,
    session: Res<Session>,
    assets: Res<PartyAssets>,
    mut marks: ResMut<PartyMarks>,
    displays: Query<&ProductDisplay>,
    time: Res<Time>,
    mut transforms: Query<&mut Transform>,
) {
    let Some(mirror) = session.mirror() else {
        return;
    };
    let here = mirror.room.as_ref();
    let wanted: BTreeMap<&ProductId, Vec3> = mirror
        .party
        .shared
        .values()
        .filter(|s| Some(&s.room) == here)
        .filter_map(|s| {
            let display = displays.iter().find(|d| d.product == s.product)?;
            let top = display.home.translation + Vec3::Y * (display.half_extents.y + 0.45);
            Some((&s.product, top))
        })
        .collect();
    let gone: Vec<ProductId> = marks
        .shared
        .keys()
        .filter(|p| !wanted.contains_key(p))
        .cloned()
        .collect();
    for product in gone {
        if let Some(marker) = marks.shared.remove(&product) {
            commands.entity(marker).despawn();
        }
    }
    let bob = (time.elapsed_secs() * 2.5).sin() * 0.06;
    for (product, top) in wanted {
        let at = Transform::from_translation(top + Vec3::Y * bob)
            // Point down at the product.
            .with_rotation(Quat::from_rotation_x(std::f32::consts::PI));
        match marks.shared.get(product) {
            Some(marker) => {
                if let Ok(mut transform) = transforms.get_mut(*marker) {
                    *transform = at;
                }
            }
            None => {
                let marker = commands
                    .spawn((
                        DespawnOnExit(AppState::Showroom),
                        SharedMarker(product.clone()),
                        Mesh3d(assets.marker.clone()),
                        MeshMaterial3d(assets.shared.clone()),
                        at,
                    ))
                    .id();
                marks.shared.insert(product.clone(), marker);
            }
        }
    }
}

/// Where a point off screen shows on its edge: from the screen's centre
/// towards the point's direction in the camera's view (`local`, camera
/// space: x right, y up, looking down -z), `margin` in from the edge.
pub fn edge_position(local: Vec3, size: Vec2, margin: f32) -> Vec2 {
    let centre = size / 2.0;
    // Screen y grows downwards; behind the camera, the direction still
    // says left or right.
    let mut direction = Vec2::new(local.x, -local.y);
    if direction.length_squared() < 1e-6 {
        direction = Vec2::new(0.0, 1.0);
    }
    let half = (centre - Vec2::splat(margin)).max(Vec2::ONE);
    let scale = (half.x / direction.x.abs()).min(half.y / direction.y.abs());
    centre + direction * scale
}

/// A label at the screen's edge for each party member in this room whose
/// avatar is out of view.
#[allow(clippy::too_many_arguments)]
fn point_to_members(
    mut commands: Commands,
    session: Res<Session>,
    mut marks: ResMut<PartyMarks>,
    camera: Query<(&Camera, &GlobalTransform), With<MainCamera>>,
    avatars: Query<(&RemoteAvatar, &GlobalTransform, &Visibility)>,
    mut labels: Query<(&mut Node, &mut Visibility), Without<RemoteAvatar>>,
) {
    let Some(mirror) = session.mirror() else {
        return;
    };
    let Ok((camera, cam_at)) = camera.single() else {
        return;
    };
    let Some(size) = camera.logical_viewport_size() else {
        return;
    };
    let mut seen = Vec::new();
    for (avatar, at, shown) in &avatars {
        let Some(member) = mirror.members.get(&avatar.slot) else {
            continue;
        };
        let Some(colour) = mirror.party.colour_of(member.account) else {
            continue;
        };
        if *shown == Visibility::Hidden {
            continue;
        }
        seen.push(member.account);
        let head = at.translation() + Vec3::Y * 1.6;
        let on_screen = camera
            .world_to_viewport(cam_at, head)
            .is_ok_and(|p| p.x >= 0.0 && p.y >= 0.0 && p.x <= size.x && p.y <= size.y);
        let label = *marks.edges.entry(member.account).or_insert_with(|| {
            commands
                .spawn((
                    DespawnOnExit(AppState::Showroom),
                    Text::new(format!("> {}", member.name)),
                    TextFont::from_font_size(14.0),
                    TextColor(Color::BLACK),
                    Node {
                        position_type: PositionType::Absolute,
                        padding: UiRect::axes(px(6), px(2)),
                        border_radius: BorderRadius::all(px(8)),
                        ..default()
                    },
                    BackgroundColor(party_colour(colour)),
                    Visibility::Hidden,
                ))
                .id()
        });
        let Ok((mut node, mut visible)) = labels.get_mut(label) else {
            continue;
        };
        if on_screen {
            *visible = Visibility::Hidden;
            continue;
        }
        let local = cam_at.affine().inverse().transform_point3(head);
        let p = edge_position(local, size, 40.0);
        node.left = px(p.x - 30.0);
        node.top = px(p.y - 10.0);
        *visible = Visibility::Inherited;
    }
    let gone: Vec<AccountId> = marks
        .edges
        .keys()
        .filter(|a| !seen.contains(a))
        .copied()
        .collect();
    for account in gone {
        if let Some(label) = marks.edges.remove(&account) {
            commands.entity(label).despawn();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_marker_sits_on_the_side_its_member_is() {
        let size = Vec2::new(1280.0, 720.0);
        // Far to the right, level with the eyes.
        let p = edge_position(Vec3::new(10.0, 0.0, -1.0), size, 40.0);
        assert_eq!(p, Vec2::new(1240.0, 360.0));
        // Behind and to the left.
        let p = edge_position(Vec3::new(-3.0, 0.0, 5.0), size, 40.0);
        assert_eq!(p, Vec2::new(40.0, 360.0));
        // Below: the bottom edge.
        let p = edge_position(Vec3::new(0.0, -4.0, -1.0), size, 40.0);
        assert_eq!(p, Vec2::new(640.0, 680.0));
    }

    #[test]
    fn party_colours_are_distinct() {
        for a in 0..MAX_PARTY_SIZE as u8 {
            for b in 0..a {
                assert_ne!(party_colour(a), party_colour(b));
            }
        }
    }
}
