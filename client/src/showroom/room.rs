//! The room itself: floor, walls, the stage and the screen's frame, lights,
//! and one display per product, laid out from the catalog. The screen in
//! the frame (the slate, then the host's video) is the video feature's; it
//! stands where [`RoomLayout::screen`] says.

use super::catalog::Catalog;
use super::session::{Session, offline_bounds};
use super::{AppState, ShowroomSystems};
use bevy::gltf::{GltfMaterial, GltfMesh};
use bevy::prelude::*;
use bevy_rapier3d::prelude::*;
use vitrine_shared::pose::yaw_rotation;
use vitrine_shared::{ProductId, RoomBounds};

pub const WALL_THICKNESS: f32 = 0.3;
pub const STAGE_DEPTH: f32 = 3.0;
pub const STAGE_HEIGHT: f32 = 0.4;
/// Models taller than this stand on the floor instead of a plinth.
const TALL_MODEL: f32 = 0.8;
pub const PLINTH_HEIGHT: f32 = 1.0;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<RoomLayout>()
        .add_message::<DisplaysRebuilt>()
        .add_systems(
            OnEnter(AppState::Showroom),
            (measure_room, spawn_room)
                .chain()
                .in_set(ShowroomSystems::Build),
        )
        .add_systems(
            Update,
            (
                (measure_room, spawn_displays)
                    .chain()
                    .in_set(ShowroomSystems::Build),
                (spawn_model_meshes, show_featured, spin_markers).in_set(ShowroomSystems::Simulate),
            )
                .run_if(in_state(AppState::Showroom)),
        );
}

/// The displays were built anew for a new catalog or room size: the old
/// models are gone, so nothing may stay in hand or pinned from them.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplaysRebuilt;

/// The room's size: the server's bounds, or the default offline.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct RoomLayout {
    pub bounds: RoomBounds,
    /// The catalog generation the displays were built for.
    built_for: Option<(u64, [i32; 2])>,
}

impl Default for RoomLayout {
    fn default() -> Self {
        RoomLayout {
            bounds: offline_bounds(),
            built_for: None,
        }
    }
}

impl RoomLayout {
    pub fn width(&self) -> f32 {
        self.bounds.max[0] - self.bounds.min[0]
    }
    pub fn depth(&self) -> f32 {
        self.bounds.max[2] - self.bounds.min[2]
    }
    /// The ceiling: the walkable height, or higher to clear the screen.
    pub fn height(&self) -> f32 {
        let (at, size) = self.screen();
        (self.bounds.max[1] - self.bounds.min[1]).max(at.y + size.y / 2.0 + 0.8)
    }
    /// The stage screen's centre and size (metres).
    pub fn screen(&self) -> (Vec3, Vec2) {
        let w = (self.width() * 0.35).clamp(5.0, 9.0);
        let h = w * 9.0 / 16.0;
        let x = (self.bounds.min[0] + self.bounds.max[0]) / 2.0;
        let z = self.bounds.min[2] + 0.2;
        (
            Vec3::new(x, STAGE_HEIGHT + 0.6 + h / 2.0, z),
            Vec2::new(w, h),
        )
    }
}

/// One product on display. The model entity is [`DisplayedProduct`].
#[derive(Component, Debug, Clone)]
pub struct ProductDisplay {
    pub product: ProductId,
    /// Where the model rests on its display (its centre).
    pub home: Transform,
    /// Half the model's size: the collider and the pointing box.
    pub half_extents: Vec3,
    pub model: Entity,
}

/// The product model a shopper can point at and pick up.
#[derive(Component, Debug, Clone)]
pub struct DisplayedProduct {
    pub product: ProductId,
    pub display: Entity,
}

/// A product model still loading: its glTF mesh becomes child meshes once
/// loaded. (The models are one mesh of a few primitives; spawning them
/// directly skips the scene machinery and its reflection.)
#[derive(Component)]
pub struct ModelToSpawn(pub Handle<GltfMesh>);

/// Whether every product model is in the room (or has failed to load).
pub fn models_ready(world: &mut World) -> bool {
    world.query::<&ModelToSpawn>().iter(world).next().is_none()
}

fn spawn_model_meshes(
    mut commands: Commands,
    assets: Res<AssetServer>,
    pending: Query<(Entity, &ModelToSpawn)>,
    gltf_meshes: Res<Assets<GltfMesh>>,
    gltf_materials: Res<Assets<GltfMaterial>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut shared: Local<std::collections::HashMap<AssetId<GltfMaterial>, Handle<StandardMaterial>>>,
) {
    for (entity, model) in &pending {
        let id = model.0.id();
        if assets.load_state(id).is_failed()
            || assets.recursive_dependency_load_state(id).is_failed()
        {
            warn!("a product model failed to load; showing it without its mesh");
            commands.entity(entity).remove::<ModelToSpawn>();
            continue;
        }
        if !assets.is_loaded_with_dependencies(model.0.id()) {
            continue;
        }
        let Some(mesh) = gltf_meshes.get(&model.0) else {
            continue;
        };
        for primitive in &mesh.primitives {
            let material = match &primitive.material {
                Some(m) => shared
                    .entry(m.id())
                    .or_insert_with(|| {
                        let gltf = gltf_materials.get(m).cloned().unwrap_or_default();
                        materials.add(StandardMaterial {
                            base_color: gltf.base_color,
                            emissive: gltf.emissive,
                            perceptual_roughness: gltf.perceptual_roughness,
                            metallic: gltf.metallic,
                            reflectance: gltf.reflectance,
                            double_sided: gltf.double_sided,
                            cull_mode: gltf.cull_mode,
                            unlit: gltf.unlit,
                            alpha_mode: gltf.alpha_mode,
                            ..default()
                        })
                    })
                    .clone(),
                None => materials.add(StandardMaterial::default()),
            };
            commands
                .entity(entity)
                .with_child((Mesh3d(primitive.mesh.clone()), MeshMaterial3d(material)));
        }
        commands.entity(entity).remove::<ModelToSpawn>();
    }
}

/// The marker hovering over a featured product.
#[derive(Component)]
struct FeaturedMarker(ProductId);

#[derive(Component)]
struct FeaturedLight(ProductId);

/// Where each of `n` displays stands, and which way it faces (yaw, with
/// the protocol's convention: 0 faces +Z). Lines of displays run from the
/// stage towards the back on both sides of a clear middle aisle (the view
/// to the stage), each display facing the middle; the lines nearest the
/// middle fill first, and a crowded room packs its lines tighter.
pub fn display_spots(n: usize, bounds: &RoomBounds) -> Vec<(Vec3, f32)> {
    const LINE_GAP: f32 = 3.5;
    const SPACING: f32 = 1.9;
    let centre_x = (bounds.min[0] + bounds.max[0]) / 2.0;
    let half_width = (bounds.max[0] - bounds.min[0]) / 2.0;
    let z_start = bounds.min[2] + STAGE_DEPTH + 2.5;
    let z_end = (bounds.max[2] - 1.5).max(z_start);
    let pairs = (((half_width - 1.0) / LINE_GAP).floor() as usize).max(1);
    let room_for = ((z_end - z_start) / SPACING).floor() as usize + 1;
    // Fill the inner lines first; squeeze only when every line is full.
    let per_line = room_for.max(n.div_ceil(2 * pairs));
    let spacing = if per_line > 1 {
        ((z_end - z_start) / (per_line - 1) as f32).min(SPACING)
    } else {
        0.0
    };
    let mut spots = Vec::with_capacity(n);
    'lines: for line in 0..pairs {
        let offset = (LINE_GAP * (line + 1) as f32).min(half_width - 1.0);
        for i in 0..per_line {
            for (x, yaw) in [
                (centre_x - offset, std::f32::consts::FRAC_PI_2),
                (centre_x + offset, -std::f32::consts::FRAC_PI_2),
            ] {
                if spots.len() == n {
                    break 'lines;
                }
                let z = z_start + i as f32 * spacing;
                spots.push((Vec3::new(x, bounds.min[1], z), yaw));
            }
        }
    }
    spots
}

/// How much larger than life a model stands on its display: small things
/// up to 3×, so that their largest side is about 35 cm.
pub fn display_scale(bounds: &super::models::ModelBounds) -> f32 {
    (0.35 / bounds.size().max_element().max(0.01)).clamp(1.0, 3.0)
}

fn measure_room(session: Res<Session>, mut layout: ResMut<RoomLayout>) {
    if let Some(bounds) = session.mirror().and_then(|m| m.bounds)
        && bounds != layout.bounds
    {
        if sane_bounds(&bounds) {
            layout.bounds = bounds;
        } else {
            warn!(
                "the server's room bounds {bounds:?} are not a room; keeping {:?}",
                layout.bounds
            );
        }
    }
}

/// Bounds a room can be built from: finite, 2 to 200 m a side.
pub fn sane_bounds(b: &RoomBounds) -> bool {
    (0..3).all(|i| {
        let side = b.max[i] - b.min[i];
        b.min[i].is_finite() && b.max[i].is_finite() && (2.0..=200.0).contains(&side)
    })
}

#[derive(Component, Clone)]
pub struct RoomShell;

fn spawn_room(
    mut commands: Commands,
    layout: Res<RoomLayout>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut ambient: ResMut<GlobalAmbientLight>,
) {
    let (w, d, h) = (layout.width(), layout.depth(), layout.height());
    let b = layout.bounds;
    let centre = Vec3::new(
        (b.min[0] + b.max[0]) / 2.0,
        0.0,
        (b.min[2] + b.max[2]) / 2.0,
    );
    let scope = (DespawnOnExit(AppState::Showroom), RoomShell);
    ambient.color = Color::srgb(1.0, 0.96, 0.9);
    ambient.brightness = 180.0;

    let floor = materials.add(StandardMaterial {
        base_color: Color::srgb(0.42, 0.30, 0.22),
        perceptual_roughness: 0.55,
        ..default()
    });
    let wall = materials.add(StandardMaterial {
        base_color: Color::srgb(0.80, 0.78, 0.74),
        perceptual_roughness: 0.9,
        ..default()
    });
    let ceiling = materials.add(StandardMaterial {
        base_color: Color::srgb(0.30, 0.30, 0.34),
        perceptual_roughness: 0.9,
        ..default()
    });
    let accent = materials.add(StandardMaterial {
        base_color: Color::srgb(0.16, 0.17, 0.22),
        perceptual_roughness: 0.4,
        ..default()
    });
    commands.spawn((
        scope.clone(),
        Mesh3d(meshes.add(Plane3d::default().mesh().size(w, d))),
        MeshMaterial3d(floor),
        Transform::from_translation(centre),
        Collider::cuboid(w / 2.0, 0.05, d / 2.0),
    ));
    commands.spawn((
        scope.clone(),
        Mesh3d(
            meshes.add(
                Plane3d::new(Vec3::NEG_Y, Vec2::splat(0.5))
                    .mesh()
                    .size(w, d),
            ),
        ),
        MeshMaterial3d(ceiling),
        Transform::from_translation(centre + Vec3::Y * h),
    ));
    // Walls: north (behind the stage), south, west, east.
    let t = WALL_THICKNESS;
    for (pos, size) in [
        (
            Vec3::new(centre.x, h / 2.0, b.min[2] - t / 2.0),
            Vec3::new(w + 2.0 * t, h, t),
        ),
        (
            Vec3::new(centre.x, h / 2.0, b.max[2] + t / 2.0),
            Vec3::new(w + 2.0 * t, h, t),
        ),
        (
            Vec3::new(b.min[0] - t / 2.0, h / 2.0, centre.z),
            Vec3::new(t, h, d),
        ),
        (
            Vec3::new(b.max[0] + t / 2.0, h / 2.0, centre.z),
            Vec3::new(t, h, d),
        ),
    ] {
        commands.spawn((
            scope.clone(),
            Mesh3d(meshes.add(Cuboid::from_size(size))),
            MeshMaterial3d(wall.clone()),
            Transform::from_translation(pos),
            Collider::cuboid(size.x / 2.0, size.y / 2.0, size.z / 2.0),
        ));
    }
    // A skirting strip along the walls reads as a finished room.
    for (pos, size) in [
        (
            Vec3::new(centre.x, 0.06, b.max[2] - 0.01),
            Vec3::new(w, 0.12, 0.02),
        ),
        (
            Vec3::new(b.min[0] + 0.01, 0.06, centre.z),
            Vec3::new(0.02, 0.12, d),
        ),
        (
            Vec3::new(b.max[0] - 0.01, 0.06, centre.z),
            Vec3::new(0.02, 0.12, d),
        ),
    ] {
        commands.spawn((
            scope.clone(),
            Mesh3d(meshes.add(Cuboid::from_size(size))),
            MeshMaterial3d(accent.clone()),
            Transform::from_translation(pos),
        ));
    }

    // The stage: a low platform across the north end with a screen above.
    let stage_w = (w * 0.6).max(8.0).min(w);
    let stage = Vec3::new(centre.x, STAGE_HEIGHT / 2.0, b.min[2] + STAGE_DEPTH / 2.0);
    commands.spawn((
        scope.clone(),
        Mesh3d(meshes.add(Cuboid::new(stage_w, STAGE_HEIGHT, STAGE_DEPTH))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::srgb(0.10, 0.10, 0.13),
            perceptual_roughness: 0.3,
            ..default()
        })),
        Transform::from_translation(stage),
        Collider::cuboid(stage_w / 2.0, STAGE_HEIGHT / 2.0, STAGE_DEPTH / 2.0),
    ));
    // A glowing edge along the stage's front.
    commands.spawn((
        scope.clone(),
        Mesh3d(meshes.add(Cuboid::new(stage_w, 0.04, 0.04))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::srgb(1.0, 0.45, 0.55),
            emissive: LinearRgba::rgb(4.0, 1.2, 1.8),
            ..default()
        })),
        Transform::from_translation(Vec3::new(centre.x, STAGE_HEIGHT, b.min[2] + STAGE_DEPTH)),
    ));
    let (screen_at, screen_size) = layout.screen();
    commands.spawn((
        scope.clone(),
        Mesh3d(meshes.add(Cuboid::new(screen_size.x + 0.3, screen_size.y + 0.3, 0.1))),
        MeshMaterial3d(accent.clone()),
        Transform::from_translation(screen_at - Vec3::Z * 0.06),
    ));

    // Light: a warm key from above the audience, fill lights along the
    // room, and the ambient term for the shadows' side.
    commands.spawn((
        scope.clone(),
        DirectionalLight {
            illuminance: 2_500.0,
            color: Color::srgb(1.0, 0.95, 0.88),
            ..default()
        },
        Transform::from_xyz(centre.x + 4.0, h * 2.0, centre.z + 8.0).looking_at(centre, Vec3::Y),
    ));
    let rows = ((d / 7.0).ceil() as i32).max(1);
    for i in 0..rows {
        for x in [-0.3f32, 0.3] {
            let z = b.min[2] + (i as f32 + 0.5) * d / rows as f32;
            // Below the ceiling, so the lamps light the room, not a hot spot above.
            commands.spawn((
                scope.clone(),
                PointLight {
                    intensity: 250_000.0,
                    range: 14.0,
                    color: Color::srgb(1.0, 0.92, 0.82),
                    ..default()
                },
                Transform::from_xyz(centre.x + x * w, h - 1.2, z),
            ));
        }
    }
}

/// Builds (or rebuilds) a display for every product in the catalog.
fn spawn_displays(
    mut commands: Commands,
    mut layout: ResMut<RoomLayout>,
    catalog: Res<Catalog>,
    assets: Res<AssetServer>,
    old: Query<
        Entity,
        Or<(
            With<ProductDisplay>,
            With<DisplayedProduct>,
            With<FeaturedMarker>,
            With<FeaturedLight>,
        )>,
    >,
    mut rebuilt: MessageWriter<DisplaysRebuilt>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let key = (
        catalog.generation,
        [layout.width() as i32, layout.depth() as i32],
    );
    if layout.built_for == Some(key) || catalog.products.is_empty() {
        return;
    }
    layout.built_for = Some(key);
    // A new set of products: the old displays, models and markers go, and
    // whoever holds or pins them hears so.
    rebuilt.write(DisplaysRebuilt);
    for e in &old {
        commands.entity(e).despawn();
    }
    let plinth = meshes.add(Cylinder::new(0.32, PLINTH_HEIGHT));
    let plate = meshes.add(Cylinder::new(0.5, 0.05));
    let stone = materials.add(StandardMaterial {
        base_color: Color::srgb(0.93, 0.92, 0.90),
        perceptual_roughness: 0.35,
        ..default()
    });
    let band = meshes.add(Cylinder::new(0.33, 0.05));
    let mut trims = std::collections::HashMap::new();
    let spots = display_spots(catalog.products.len(), &layout.bounds);
    for (product, (at, yaw)) in catalog.products.iter().zip(spots) {
        // Valid by construction: the catalog's ids are checked as they are read.
        let id = product.view.id.clone();
        let bounds = product.bounds;
        let tall = bounds.size().y > TALL_MODEL;
        let top = if tall { 0.05 } else { PLINTH_HEIGHT };
        // Small products stand on their display as larger "hero" models so
        // they read from across the room; in the hand they are true size.
        let scale = display_scale(&bounds);
        let half = (bounds.size() * scale / 2.0).max(Vec3::splat(0.03));
        let rotation = yaw_rotation(yaw);
        let home = Transform::from_translation(
            at + Vec3::Y * (top + (bounds.center().y - bounds.min.y) * scale),
        )
        .with_rotation(rotation)
        .with_scale(Vec3::splat(scale));
        let display = commands
            .spawn((
                DespawnOnExit(AppState::Showroom),
                Transform::from_translation(at).with_rotation(rotation),
                Visibility::default(),
            ))
            .id();
        // The stand, solid to walk into.
        let (stand_mesh, stand_height) = if tall {
            (plate.clone(), 0.05)
        } else {
            (plinth.clone(), PLINTH_HEIGHT)
        };
        let trim = trims
            .entry(product.view.category.clone())
            .or_insert_with(|| {
                materials.add(StandardMaterial {
                    base_color: category_colour(&product.view.category),
                    metallic: 0.6,
                    perceptual_roughness: 0.3,
                    ..default()
                })
            })
            .clone();
        commands.entity(display).with_children(|d| {
            d.spawn((
                Mesh3d(stand_mesh),
                MeshMaterial3d(stone.clone()),
                Transform::from_xyz(0.0, stand_height / 2.0, 0.0),
                Collider::cylinder(stand_height / 2.0, if tall { 0.5 } else { 0.32 }),
            ));
            // A band in the category's colour under the top.
            if !tall {
                d.spawn((
                    Mesh3d(band.clone()),
                    MeshMaterial3d(trim),
                    Transform::from_xyz(0.0, stand_height - 0.06, 0.0),
                ));
            }
        });
        // The model: a body rapier can point at and later carry.
        let offset = -bounds.center();
        let model =
            commands
                .spawn((
                    DespawnOnExit(AppState::Showroom),
                    DisplayedProduct {
                        product: id.clone(),
                        display,
                    },
                    home,
                    Visibility::default(),
                    // Kinematic from the start, so the collider belongs to
                    // a body that can carry it, let it fall and bring it home.
                    // (Rapier scales the collider with the display scale.)
                    RigidBody::KinematicPositionBased,
                    Collider::cuboid(half.x / scale, half.y / scale, half.z / scale),
                    Sensor,
                ))
                .with_children(|m| {
                    if product.model_error.is_none() {
                        m.spawn((
                            ModelToSpawn(assets.load(
                                GltfAssetLabel::Mesh(0).from_asset(product.view.model.clone()),
                            )),
                            Transform::from_translation(offset),
                            Visibility::default(),
                        ));
                    } else {
                        // A model that would not load still shows something to pick up.
                        m.spawn((
                            Mesh3d(meshes.add(Cuboid::from_size(bounds.size()))),
                            MeshMaterial3d(materials.add(Color::srgb(0.6, 0.6, 0.65))),
                        ));
                    }
                })
                .id();
        commands.entity(display).insert(ProductDisplay {
            product: id,
            home,
            half_extents: half,
            model,
        });
    }
}

/// A colour per category, for the displays' trim.
pub fn category_colour(category: &str) -> Color {
    match category {
        "beauty" => Color::srgb(0.85, 0.45, 0.55),
        "fashion" => Color::srgb(0.35, 0.45, 0.85),
        "electronics" => Color::srgb(0.2, 0.75, 0.8),
        "home" => Color::srgb(0.85, 0.65, 0.3),
        _ => Color::srgb(0.6, 0.6, 0.65),
    }
}

/// A spotlight and a hovering marker over each featured product.
fn show_featured(
    mut commands: Commands,
    session: Res<Session>,
    displays: Query<&ProductDisplay>,
    markers: Query<(Entity, &FeaturedMarker)>,
    lights: Query<(Entity, &FeaturedLight)>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let featured: Vec<ProductId> = session
        .mirror()
        .map(|m| m.featured.clone())
        .unwrap_or_default();
    for (e, m) in &markers {
        if !featured.contains(&m.0) {
            commands.entity(e).despawn();
        }
    }
    for (e, l) in &lights {
        if !featured.contains(&l.0) {
            commands.entity(e).despawn();
        }
    }
    for product in featured {
        if markers.iter().any(|(_, m)| m.0 == product) {
            continue;
        }
        let Some(display) = displays.iter().find(|d| d.product == product) else {
            continue;
        };
        let top = display.home.translation + Vec3::Y * (display.half_extents.y + 0.45);
        commands.spawn((
            DespawnOnExit(AppState::Showroom),
            FeaturedMarker(product.clone()),
            Mesh3d(meshes.add(Torus::new(0.12, 0.18))),
            MeshMaterial3d(materials.add(StandardMaterial {
                base_color: Color::srgb(1.0, 0.8, 0.3),
                emissive: LinearRgba::rgb(6.0, 4.0, 1.0),
                ..default()
            })),
            Transform::from_translation(top)
                .with_rotation(Quat::from_rotation_x(std::f32::consts::FRAC_PI_2)),
        ));
        commands.spawn((
            DespawnOnExit(AppState::Showroom),
            FeaturedLight(product),
            SpotLight {
                intensity: 600_000.0,
                range: 8.0,
                color: Color::srgb(1.0, 0.9, 0.7),
                outer_angle: 0.35,
                inner_angle: 0.2,
                ..default()
            },
            Transform::from_translation(display.home.translation + Vec3::Y * 3.0)
                .looking_at(display.home.translation, Vec3::Z),
        ));
    }
}

fn spin_markers(time: Res<Time>, mut markers: Query<&mut Transform, With<FeaturedMarker>>) {
    for mut t in &mut markers {
        t.rotate_y(time.delta_secs() * 1.5);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_fit_the_room_apart_and_clear_of_the_stage_and_middle_aisle() {
        for (n, bounds) in [
            (13, RoomBounds::centered(30.0, 20.0, 5.0)),
            (40, RoomBounds::centered(30.0, 20.0, 5.0)),
            (13, RoomBounds::centered(18.0, 14.0, 5.0)),
            (40, RoomBounds::centered(18.0, 14.0, 5.0)),
        ] {
            let spots = display_spots(n, &bounds);
            assert_eq!(spots.len(), n);
            for (i, (a, _)) in spots.iter().enumerate() {
                assert!(bounds.contains(a.to_array()), "{a} outside");
                assert!(a.z > bounds.min[2] + STAGE_DEPTH, "{a} on the stage");
                assert!(a.x.abs() > 2.0, "{a} blocks the middle aisle");
                for (b, _) in &spots[i + 1..] {
                    assert!(a.distance(*b) >= 0.7, "{a} and {b} overlap");
                }
            }
        }
    }

    #[test]
    fn yaw_rotation_faces_where_the_protocol_says() {
        // Yaw 0 faces +Z; a Bevy entity looks down its -Z.
        let forward = yaw_rotation(0.0) * Vec3::NEG_Z;
        assert!((forward - Vec3::Z).length() < 1e-5);
        let forward = yaw_rotation(std::f32::consts::FRAC_PI_2) * Vec3::NEG_Z;
        assert!((forward - Vec3::X).length() < 1e-5);
    }
}
