//! The party in 3D: a ring in the member's party colour under each party
//! member in this room, a marker at the screen's edge pointing to a member
//! out of view, and a marker floating over each product a member shared
//! (in the sharer's colour). Everything is read from the room's mirror
//! (`party`) and the avatars' and displays' published components; the
//! marks are this feature's own entities.

use super::avatars::RemoteAvatar;
use super::player::MainCamera;
use super::room::ProductDisplay;
use super::session::Session;
use super::{AppState, ShowroomSystems};
use bevy::prelude::*;
use std::collections::BTreeMap;
use vitrine_shared::{AccountId, MemberSlot, ProductId};

/// The party palette: the server gives each member an index, unique in
/// the party; these are far apart in hue and saturated, to tell apart from
/// the room's stone, wood and avatars' softer colours.
const PALETTE: [(f32, f32, f32); 8] = [
    (0.05, 0.85, 0.95),
    (1.0, 0.15, 0.8),
    (0.55, 1.0, 0.1),
    (1.0, 0.5, 0.0),
    (0.55, 0.3, 1.0),
    (1.0, 0.92, 0.1),
    (1.0, 0.1, 0.15),
    (0.15, 0.4, 1.0),
];

/// A member's party colour by the index the server gave them.
pub fn party_colour(index: u8) -> Color {
    let (r, g, b) = PALETTE[index as usize % PALETTE.len()];
    Color::srgb(r, g, b)
}

/// The ring: around the body at the feet.
const RING_RADIUS: f32 = 0.5;
const RING_THICKNESS: f32 = 0.06;
/// The share marker floats this far over the model's top.
pub const SHARE_LIFT: f32 = 0.45;
/// Edge markers keep this far inside the screen's edge (pixels).
const EDGE_MARGIN: f32 = 28.0;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<MarkAssets>().add_systems(
        Update,
        (rings, share_markers, edge_markers)
            .chain()
            .in_set(ShowroomSystems::Present)
            .run_if(in_state(AppState::Showroom)),
    );
}

#[derive(Resource)]
struct MarkAssets {
    ring: Handle<Mesh>,
    cone: Handle<Mesh>,
    colours: Vec<Handle<StandardMaterial>>,
}

impl FromWorld for MarkAssets {
    fn from_world(world: &mut World) -> Self {
        let mut materials = world.resource_mut::<Assets<StandardMaterial>>();
        // Unlit: the colour reads the same under any light, and a test
        // can look for it.
        let colours = (0..PALETTE.len() as u8)
            .map(|i| {
                materials.add(StandardMaterial {
                    base_color: party_colour(i),
                    unlit: true,
                    ..default()
                })
            })
            .collect();
        let mut meshes = world.resource_mut::<Assets<Mesh>>();
        MarkAssets {
            ring: meshes.add(Torus::new(
                RING_RADIUS - RING_THICKNESS,
                RING_RADIUS + RING_THICKNESS,
            )),
            cone: meshes.add(Cone::new(0.22, 0.44)),
            colours,
        }
    }
}

impl MarkAssets {
    fn colour(&self, index: u8) -> Handle<StandardMaterial> {
        self.colours[index as usize % self.colours.len()].clone()
    }
}

/// The ring under a party member's avatar.
#[derive(Component, Debug)]
pub struct PartyRing {
    pub slot: MemberSlot,
    pub colour: u8,
}

/// The marker over a shared product.
#[derive(Component, Debug)]
pub struct ShareMarker {
    pub product: ProductId,
    pub colour: u8,
}

/// The screen-edge pointer to a party member out of view.
#[derive(Component, Debug)]
pub struct EdgeMarker {
    pub account: AccountId,
}

/// Party members in this room by slot, with their colour index.
fn members_here(session: &Session) -> BTreeMap<MemberSlot, (AccountId, String, u8)> {
    let Some(m) = session.mirror() else {
        return BTreeMap::new();
    };
    let Some(party) = &m.party.party else {
        return BTreeMap::new();
    };
    m.members
        .iter()
        .filter(|(slot, _)| Some(**slot) != m.you)
        .filter_map(|(slot, info)| {
            let member = party.members.iter().find(|p| p.account == info.account)?;
            Some((
                *slot,
                (info.account, info.name.as_str().to_owned(), member.colour),
            ))
        })
        .collect()
}

/// A ring follows each party member's avatar; it goes when they leave the
/// party or the room.
fn rings(
    mut commands: Commands,
    session: Res<Session>,
    assets: Res<MarkAssets>,
    avatars: Query<(&RemoteAvatar, &Transform, &Visibility), Without<PartyRing>>,
    mut rings: Query<(Entity, &PartyRing, &mut Transform, &mut Visibility)>,
) {
    let members = members_here(&session);
    let at: BTreeMap<MemberSlot, (Vec3, Visibility)> = avatars
        .iter()
        .map(|(a, t, v)| (a.slot, (t.translation, *v)))
        .collect();
    let mut ringed = BTreeMap::new();
    for (entity, ring, mut t, mut v) in &mut rings {
        let wanted = members.get(&ring.slot).map(|(_, _, c)| *c);
        match (wanted, at.get(&ring.slot)) {
            (Some(colour), Some((pos, shown))) if colour == ring.colour => {
                t.translation = *pos + Vec3::Y * (RING_THICKNESS + 0.01);
                *v = *shown;
                ringed.insert(ring.slot, ());
            }
            _ => commands.entity(entity).despawn(),
        }
    }
    for (slot, (_, _, colour)) in &members {
        if ringed.contains_key(slot) {
            continue;
        }
        let Some((pos, shown)) = at.get(slot) else {
            continue;
        };
        commands.spawn((
            DespawnOnExit(AppState::Showroom),
            PartyRing {
                slot: *slot,
                colour: *colour,
            },
            Mesh3d(assets.ring.clone()),
            MeshMaterial3d(assets.colour(*colour)),
            Transform::from_translation(*pos + Vec3::Y * (RING_THICKNESS + 0.01)),
            *shown,
        ));
    }
}

/// A cone pointing down at each product shared in this party and shown in
/// this room, bobbing gently over the model.
fn share_markers(
    mut commands: Commands,
    time: Res<Time>,
    session: Res<Session>,
    assets: Res<MarkAssets>,
    displays: Query<&ProductDisplay>,
    mut markers: Query<(Entity, &ShareMarker, &mut Transform)>,
) {
    let Some(m) = session.mirror() else {
        return;
    };
    let here = m.room.as_ref();
    let wanted: BTreeMap<&ProductId, u8> = m
        .party
        .shared
        .values()
        .filter(|s| Some(&s.room) == here)
        .filter_map(|s| Some((&s.product, m.party.colour_of(s.by)?)))
        .collect();
    let top = |product: &ProductId| {
        displays
            .iter()
            .find(|d| &d.product == product)
            .map(|d| d.home.translation + Vec3::Y * (d.half_extents.y + SHARE_LIFT))
    };
    let bob = Vec3::Y * 0.06 * (time.elapsed_secs() * 2.5).sin();
    // A cone's tip is up: turned over, it points at the product.
    let down = Quat::from_rotation_x(std::f32::consts::PI);
    let mut marked = Vec::new();
    for (entity, marker, mut t) in &mut markers {
        match (wanted.get(&marker.product), top(&marker.product)) {
            (Some(colour), Some(at)) if *colour == marker.colour => {
                t.translation = at + bob;
                marked.push(marker.product.clone());
            }
            _ => commands.entity(entity).despawn(),
        }
    }
    for (product, colour) in wanted {
        if marked.contains(product) {
            continue;
        }
        let Some(at) = top(product) else {
            continue;
        };
        commands.spawn((
            DespawnOnExit(AppState::Showroom),
            ShareMarker {
                product: product.clone(),
                colour,
            },
            Mesh3d(assets.cone.clone()),
            MeshMaterial3d(assets.colour(colour)),
            Transform::from_translation(at).with_rotation(down),
        ));
    }
}

/// Where an edge marker goes for a point at `world`: `None` when the
/// point is on screen (inside the margin) and in front of the camera.
pub fn edge_position(camera_space: Vec3, on_screen: Option<Vec2>, size: Vec2) -> Option<Vec2> {
    if let Some(p) = on_screen
        && camera_space.z < 0.0
        && p.x >= EDGE_MARGIN
        && p.y >= EDGE_MARGIN
        && p.x <= size.x - EDGE_MARGIN
        && p.y <= size.y - EDGE_MARGIN
    {
        return None;
    }
    // The direction on screen (y down). Behind the camera: the side to
    // turn to, at mid-height.
    let mut dir = Vec2::new(camera_space.x, -camera_space.y);
    if camera_space.z >= 0.0 {
        dir = Vec2::new(if camera_space.x < 0.0 { -1.0 } else { 1.0 }, 0.0);
    }
    if dir.length_squared() < 1e-6 {
        dir = Vec2::Y;
    }
    let centre = size / 2.0;
    let half = (centre - Vec2::splat(EDGE_MARGIN)).max(Vec2::ONE);
    let scale = (half.x / dir.x.abs().max(1e-6)).min(half.y / dir.y.abs().max(1e-6));
    Some(centre + dir * scale)
}

fn edge_markers(
    mut commands: Commands,
    session: Res<Session>,
    camera: Query<(&Camera, &GlobalTransform), With<MainCamera>>,
    avatars: Query<(&RemoteAvatar, &GlobalTransform)>,
    mut markers: Query<(Entity, &EdgeMarker, &mut Node, &mut Visibility, &mut Text)>,
) {
    let members = members_here(&session);
    let Ok((camera, eye)) = camera.single() else {
        return;
    };
    let Some(size) = camera.logical_viewport_size() else {
        return;
    };
    let by_account: BTreeMap<AccountId, (String, u8, Vec3)> = avatars
        .iter()
        .filter_map(|(a, t)| {
            let (account, name, colour) = members.get(&a.slot)?;
            Some((*account, (name.clone(), *colour, t.translation())))
        })
        .collect();
    let mut seen = Vec::new();
    for (entity, marker, mut node, mut visible, mut text) in &mut markers {
        let Some((name, _, at)) = by_account.get(&marker.account) else {
            commands.entity(entity).despawn();
            continue;
        };
        seen.push(marker.account);
        let head = *at + Vec3::Y * 1.5;
        let local = eye.affine().inverse().transform_point3(head);
        let on_screen = camera.world_to_viewport(eye, head).ok();
        match edge_position(local, on_screen, size) {
            Some(p) => {
                let arrow = if p.x < size.x * 0.25 {
                    "< "
                } else if p.x > size.x * 0.75 {
                    "> "
                } else if p.y > size.y / 2.0 {
                    "v "
                } else {
                    "^ "
                };
                let distance = eye.translation().distance(head);
                let words = format!("{arrow}{name} {distance:.0} m");
                if text.0 != words {
                    text.0 = words;
                }
                node.left = px((p.x - 50.0).clamp(0.0, size.x - 120.0));
                node.top = px((p.y - 12.0).clamp(0.0, size.y - 26.0));
                *visible = Visibility::Inherited;
            }
            None => *visible = Visibility::Hidden,
        }
    }
    for (account, (name, colour, _)) in by_account {
        if seen.contains(&account) {
            continue;
        }
        commands.spawn((
            DespawnOnExit(AppState::Showroom),
            EdgeMarker { account },
            Text::new(name),
            TextFont::from_font_size(15.0),
            TextColor(Color::BLACK),
            Node {
                position_type: PositionType::Absolute,
                padding: UiRect::axes(px(8), px(3)),
                border_radius: BorderRadius::all(px(10)),
                ..default()
            },
            BackgroundColor(party_colour(colour).with_alpha(0.9)),
            Visibility::Hidden,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_marker_points_the_way_and_hides_when_on_screen() {
        let size = Vec2::new(800.0, 600.0);
        // In front and on screen: no marker.
        assert_eq!(
            edge_position(
                Vec3::new(0.0, 0.0, -5.0),
                Some(Vec2::new(400.0, 300.0)),
                size
            ),
            None
        );
        // Off to the right, in front: on the right edge.
        let p = edge_position(Vec3::new(9.0, 0.0, -1.0), None, size).unwrap();
        assert_eq!(p, Vec2::new(800.0 - EDGE_MARGIN, 300.0));
        // Behind, a little to the right: turn right, so the right edge.
        let p = edge_position(Vec3::new(0.5, 0.0, 5.0), None, size).unwrap();
        assert_eq!(p, Vec2::new(800.0 - EDGE_MARGIN, 300.0));
        let p = edge_position(Vec3::new(-0.5, 2.0, 5.0), None, size).unwrap();
        assert_eq!(p, Vec2::new(EDGE_MARGIN, 300.0));
        // Above, in front but off the top: the top edge.
        let p = edge_position(
            Vec3::new(0.0, 9.0, -1.0),
            Some(Vec2::new(400.0, -50.0)),
            size,
        )
        .unwrap();
        assert_eq!(p.y, EDGE_MARGIN);
    }

    #[test]
    fn the_palette_has_eight_colours_apart() {
        let hues: Vec<f32> = (0..8).map(|i| Hsla::from(party_colour(i)).hue).collect();
        for (i, a) in hues.iter().enumerate() {
            for b in &hues[i + 1..] {
                let d = (a - b).abs().min(360.0 - (a - b).abs());
                assert!(d > 15.0, "hues {hues:?}");
            }
        }
        assert_eq!(party_colour(8), party_colour(0));
    }
}
