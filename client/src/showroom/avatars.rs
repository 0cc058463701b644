//! Everyone else in the room: a body, a head (and hands when their pose
//! comes from XR), a colour from their account id and a name tag. Poses are
//! played back [`INTERP_DELAY`] behind the newest snapshot, interpolated
//! between snapshots on the server's own clock (the snapshot's tick), so
//! uneven packet arrival does not show as jitter. Distant avatars come only
//! every second or fourth snapshot (the server's interest management):
//! they are played back that much later still, between the poses their
//! turns brought, so they walk evenly rather than stand and then hurry.

use super::player::MainCamera;
use super::session::{RoomChangeMessage, Session};
use super::{AppState, ShowroomSystems};
use crate::net::RoomChange;
use bevy::prelude::*;
use std::collections::{BTreeMap, VecDeque};
use vitrine_shared::pose::yaw_rotation;
use vitrine_shared::protocol::{MAX_BURST_SENDERS, interest};
use vitrine_shared::{MemberSlot, PoseNet, Reaction};

/// Snapshots are numbered at 20 Hz (the server's `SNAPSHOT_HZ`); a
/// snapshot's number is its timestamp. (They are taken on two ticks of
/// every three at 30 Hz, so real spacing alternates 33 and 67 ms; played
/// back evenly, that is a speed ripple of a centimetre or two at walking
/// pace, not a jump.)
const SNAPSHOT_HZ: f64 = vitrine_shared::protocol::SNAPSHOT_HZ as f64;
/// Two snapshot intervals (20 Hz) and a little: one lost packet is hidden.
pub const INTERP_DELAY: f64 = 0.12;
const MAX_SAMPLES: usize = 16;
/// Reactions rise this high over their lifetime.
const REACTION_RISE: f32 = 1.4;
const REACTION_SECS: f32 = 1.6;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<PlaybackClock>()
        .init_resource::<AvatarAssets>()
        .add_systems(
            Update,
            (
                (forget_on_welcome, sync_avatars, record_snapshots, play_back).chain(),
                float_reactions,
                spawn_reactions,
            )
                .in_set(ShowroomSystems::Simulate)
                .run_if(in_state(AppState::Showroom)),
        )
        .add_systems(
            Update,
            (place_name_tags, colour_name_tags)
                .in_set(ShowroomSystems::Present)
                .run_if(in_state(AppState::Showroom)),
        );
}

/// A pose history on the server's clock, sampled behind the newest.
#[derive(Debug, Default, Clone)]
pub struct PoseBuffer {
    samples: VecDeque<(f64, PoseNet)>,
}

impl PoseBuffer {
    /// The newest sample.
    pub fn last(&self) -> Option<(f64, PoseNet)> {
        self.samples.back().copied()
    }

    pub fn push(&mut self, time: f64, pose: PoseNet) {
        if let Some((last, _)) = self.samples.back()
            && time <= *last
        {
            return;
        }
        self.samples.push_back((time, pose));
        while self.samples.len() > MAX_SAMPLES {
            self.samples.pop_front();
        }
    }

    /// The pose at `time`: interpolated between the samples around it,
    /// held at the ends (never extrapolated: a late packet pauses an avatar
    /// rather than throwing it forward).
    pub fn sample(&self, time: f64) -> Option<PoseNet> {
        let (first_t, first) = self.samples.front()?;
        if time <= *first_t {
            return Some(*first);
        }
        for pair in self.samples.iter().zip(self.samples.iter().skip(1)) {
            let ((t0, a), (t1, b)) = pair;
            if time <= *t1 {
                let f = ((time - t0) / (t1 - t0)).clamp(0.0, 1.0) as f32;
                return Some(lerp_pose(a, b, f));
            }
        }
        self.samples.back().map(|(_, p)| *p)
    }
}

fn lerp_pose(a: &PoseNet, b: &PoseNet, f: f32) -> PoseNet {
    let pa = Vec3::from_array(a.position);
    let pb = Vec3::from_array(b.position);
    let turn = (b.yaw - a.yaw + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU)
        - std::f32::consts::PI;
    PoseNet {
        position: pa.lerp(pb, f).to_array(),
        yaw: a.yaw + turn * f,
        // Head and hands come from the nearer sample: XR poses arrive at
        // the same rate and the hands' own interpolation lives with XR.
        xr: if f < 0.5 { a.xr } else { b.xr },
    }
}

/// The time avatars are shown at, on the server's clock: it runs with the
/// local clock and is nudged towards `newest snapshot - INTERP_DELAY`.
#[derive(Resource, Default, Debug)]
pub struct PlaybackClock {
    pub time: Option<f64>,
    newest: Option<u32>,
}

impl PlaybackClock {
    /// Advances by `dt` and steers towards the target; jumps when far off
    /// (a rejoin, a long stall).
    pub fn advance(&mut self, dt: f64, newest_server_time: f64) -> f64 {
        let target = newest_server_time - INTERP_DELAY;
        let t = match self.time {
            Some(t) if (t + dt - target).abs() < 0.5 => {
                let t = t + dt;
                t + (target - t) * 0.05
            }
            _ => target,
        };
        self.time = Some(t);
        t
    }
}

#[derive(Component)]
pub struct RemoteAvatar {
    pub slot: MemberSlot,
    pub buffer: PoseBuffer,
    /// How much later than [`INTERP_DELAY`] this avatar is played back
    /// (a distant one's turn comes every second or fourth snapshot), and
    /// what that is heading for; eased, so a change of distance does not
    /// jump the avatar in time.
    lag: f64,
    lag_target: f64,
    head: Entity,
    hands: [Entity; 2],
    tag: Entity,
}

impl RemoteAvatar {
    /// The left and right hands' entities (shown for XR avatars).
    pub fn hands(&self) -> [Entity; 2] {
        self.hands
    }
}

#[derive(Component)]
struct NameTag;

#[derive(Component)]
struct FloatingReaction {
    age: f32,
    from: Vec3,
}

#[derive(Resource)]
struct AvatarAssets {
    body: Handle<Mesh>,
    head: Handle<Mesh>,
    visor: Handle<Mesh>,
    hand: Handle<Mesh>,
    reaction: Handle<Mesh>,
    reactions: Vec<(Reaction, Handle<StandardMaterial>)>,
    visor_material: Handle<StandardMaterial>,
}

impl FromWorld for AvatarAssets {
    fn from_world(world: &mut World) -> Self {
        let mut materials = world.resource_mut::<Assets<StandardMaterial>>();
        let reactions = Reaction::ALL
            .iter()
            .map(|r| {
                let colour = reaction_colour(*r);
                let material = materials.add(StandardMaterial {
                    base_color: colour,
                    emissive: LinearRgba::from(colour) * 3.0,
                    ..default()
                });
                (*r, material)
            })
            .collect();
        let visor_material = materials.add(StandardMaterial {
            base_color: Color::srgb(0.05, 0.05, 0.08),
            perceptual_roughness: 0.2,
            metallic: 0.3,
            ..default()
        });
        let mut meshes = world.resource_mut::<Assets<Mesh>>();
        AvatarAssets {
            body: meshes.add(Capsule3d::new(0.25, 0.8)),
            head: meshes.add(Sphere::new(0.17)),
            visor: meshes.add(Cuboid::new(0.22, 0.07, 0.06)),
            hand: meshes.add(Sphere::new(0.06)),
            reaction: meshes.add(Sphere::new(0.09)),
            reactions,
            visor_material,
        }
    }
}

/// A member's colour, from their account id: stable across sessions and
/// the same on every client.
pub fn avatar_colour(account: u64) -> Color {
    // Fibonacci hashing spreads neighbouring ids around the colour wheel.
    let hue = (account.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 / (1u64 << 24) as f32;
    Color::hsl(hue * 360.0, 0.65, 0.55)
}

pub fn reaction_colour(reaction: Reaction) -> Color {
    match reaction {
        Reaction::Heart => Color::srgb(1.0, 0.2, 0.35),
        Reaction::Fire => Color::srgb(1.0, 0.5, 0.1),
        Reaction::Clap => Color::srgb(1.0, 0.85, 0.3),
        Reaction::Laugh => Color::srgb(0.3, 0.9, 0.4),
        Reaction::Wow => Color::srgb(0.4, 0.6, 1.0),
    }
}

/// A (re)join starts the room afresh: slots may now be other people, and
/// a restarted server numbers its snapshots from zero again.
fn forget_on_welcome(
    mut commands: Commands,
    mut changes: MessageReader<RoomChangeMessage>,
    mut clock: ResMut<PlaybackClock>,
    avatars: Query<(Entity, &RemoteAvatar)>,
) {
    if !changes
        .read()
        .any(|RoomChangeMessage(c)| matches!(c, RoomChange::Welcomed { .. }))
    {
        return;
    }
    *clock = PlaybackClock::default();
    for (entity, avatar) in &avatars {
        commands.entity(entity).despawn();
        commands.entity(avatar.tag).despawn();
    }
}

/// Spawns an avatar for each member, removes those who left.
fn sync_avatars(
    mut commands: Commands,
    session: Res<Session>,
    assets: Res<AvatarAssets>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    avatars: Query<(Entity, &RemoteAvatar)>,
) {
    let Some(mirror) = session.mirror() else {
        return;
    };
    if !mirror.is_welcomed() {
        return;
    }
    let present: BTreeMap<MemberSlot, Entity> = avatars.iter().map(|(e, a)| (a.slot, e)).collect();
    for (slot, entity) in &present {
        if !mirror.members.contains_key(slot) || Some(*slot) == mirror.you {
            let tag = avatars.get(*entity).map(|(_, a)| a.tag).ok();
            commands.entity(*entity).despawn();
            if let Some(tag) = tag {
                commands.entity(tag).despawn();
            }
        }
    }
    for (slot, member) in &mirror.members {
        if Some(*slot) == mirror.you || present.contains_key(slot) {
            continue;
        }
        let colour = avatar_colour(member.account.0);
        let body = materials.add(StandardMaterial {
            base_color: colour,
            perceptual_roughness: 0.6,
            ..default()
        });
        let skin = materials.add(StandardMaterial {
            base_color: colour.lighter(0.2),
            perceptual_roughness: 0.5,
            ..default()
        });
        let visor = assets.visor_material.clone();
        let tag = commands
            .spawn((
                DespawnOnExit(AppState::Showroom),
                NameTag,
                Text::new(member.name.as_str()),
                TextFont::from_font_size(15.0),
                TextColor(Color::WHITE),
                Node {
                    position_type: PositionType::Absolute,
                    padding: UiRect::axes(px(6), px(2)),
                    border_radius: BorderRadius::all(px(6)),
                    ..default()
                },
                BackgroundColor(colour.with_alpha(0.75).darker(0.25)),
                Visibility::Hidden,
            ))
            .id();
        let root = commands
            .spawn((
                DespawnOnExit(AppState::Showroom),
                Transform::default(),
                Visibility::Hidden,
            ))
            .id();
        let mut head = Entity::PLACEHOLDER;
        let mut hands = [Entity::PLACEHOLDER; 2];
        commands.entity(root).with_children(|a| {
            a.spawn((
                Mesh3d(assets.body.clone()),
                MeshMaterial3d(body.clone()),
                Transform::from_xyz(0.0, 0.65, 0.0),
            ));
            head = a
                .spawn((
                    Mesh3d(assets.head.clone()),
                    MeshMaterial3d(skin.clone()),
                    Transform::from_xyz(0.0, 1.45, 0.0),
                ))
                .with_children(|h| {
                    // The visor shows which way they face.
                    h.spawn((
                        Mesh3d(assets.visor.clone()),
                        MeshMaterial3d(visor),
                        Transform::from_xyz(0.0, 0.02, -0.15),
                    ));
                })
                .id();
            for (i, x) in [-0.32f32, 0.32].into_iter().enumerate() {
                hands[i] = a
                    .spawn((
                        Mesh3d(assets.hand.clone()),
                        MeshMaterial3d(skin.clone()),
                        Transform::from_xyz(x, 1.0, -0.2),
                        Visibility::Hidden,
                    ))
                    .id();
            }
        });
        commands.entity(root).insert(RemoteAvatar {
            slot: *slot,
            buffer: PoseBuffer::default(),
            lag: 0.0,
            lag_target: 0.0,
            head,
            hands,
            tag,
        });
    }
}

/// Each new snapshot adds a sample at the snapshot's time for every avatar
/// near this shopper (one left out of it is unchanged), and for a distant
/// one when its turn brought a new pose (one left out is only not due).
fn record_snapshots(
    session: Res<Session>,
    mut clock: ResMut<PlaybackClock>,
    mut avatars: Query<&mut RemoteAvatar>,
) {
    let Some(mirror) = session.mirror() else {
        return;
    };
    let Some(tick) = mirror.latest_snapshot else {
        return;
    };
    if clock.newest == Some(tick) {
        return;
    }
    clock.newest = Some(tick);
    let time = tick as f64 / SNAPSHOT_HZ;
    let here = mirror
        .you
        .and_then(|you| mirror.avatars.get(&you))
        .map(|p| p.position);
    for mut avatar in &mut avatars {
        let Some(pose) = mirror.avatars.get(&avatar.slot) else {
            continue;
        };
        let every = here.map_or(1, |h| {
            let (dx, dz) = (pose.position[0] - h[0], pose.position[2] - h[2]);
            interest((dx * dx + dz * dz).sqrt()).0
        });
        let carried = mirror.carried_in.get(&avatar.slot) == Some(&tick);
        let avatar = &mut *avatar;
        record(&mut avatar.buffer, time, *pose, every, carried);
        avatar.lag_target = (every - 1) as f64 / SNAPSHOT_HZ;
    }
}

/// Adds what snapshot `time` says of one avatar that comes every `every`
/// snapshots (`carried`: this snapshot had it).
fn record(buffer: &mut PoseBuffer, time: f64, pose: PoseNet, every: u32, carried: bool) {
    let last = buffer.last();
    if every == 1 || last.is_none() {
        buffer.push(time, pose);
        return;
    }
    if !carried || last.is_some_and(|(_, p)| p == pose) {
        return;
    }
    // Moving again after standing: it stood where it was until its last
    // turn, not since the last sample (which would spread the step over
    // the whole pause).
    let turn = every as f64 / SNAPSHOT_HZ;
    if let Some((at, still)) = last
        && at < time - turn - 1e-6
    {
        buffer.push(time - turn, still);
    }
    buffer.push(time, pose);
}

fn play_back(
    time: Res<Time>,
    mut clock: ResMut<PlaybackClock>,
    mut avatars: Query<(Entity, &mut RemoteAvatar)>,
    mut transforms: Query<(&mut Transform, &mut Visibility)>,
) {
    let Some(newest) = clock.newest else {
        return;
    };
    let dt = time.delta_secs_f64();
    let now = clock.advance(dt, newest as f64 / SNAPSHOT_HZ);
    for (entity, mut avatar) in &mut avatars {
        // Half a second of lag per second at most: a change of tier slows
        // or hurries the avatar a little instead of jumping it.
        let step = (avatar.lag_target - avatar.lag).clamp(-dt * 0.5, dt * 0.5);
        avatar.lag += step;
        let Some(pose) = avatar.buffer.sample(now - avatar.lag) else {
            continue;
        };
        let root = Vec3::from_array(pose.position);
        if let Ok((mut t, mut v)) = transforms.get_mut(entity) {
            t.translation = root;
            t.rotation = yaw_rotation(pose.yaw);
            *v = Visibility::Inherited;
        }
        // XR avatars: head and hands where the headset says (room space).
        let inverse = Transform::from_translation(root)
            .with_rotation(yaw_rotation(pose.yaw))
            .compute_affine()
            .inverse();
        let xr = pose.xr;
        if let Ok((mut t, _)) = transforms.get_mut(avatar.head) {
            t.translation = match xr {
                Some(xr) => inverse.transform_point3(Vec3::from_array(xr.head.position)),
                None => Vec3::new(0.0, 1.45, 0.0),
            };
        }
        let hands = xr
            .map(|x| [x.left_hand, x.right_hand])
            .unwrap_or([None, None]);
        for (hand, tracked) in avatar.hands.iter().zip(hands) {
            if let Ok((mut t, mut v)) = transforms.get_mut(*hand) {
                match tracked {
                    Some(p) => {
                        t.translation = inverse.transform_point3(Vec3::from_array(p.position));
                        *v = Visibility::Inherited;
                    }
                    None => *v = Visibility::Hidden,
                }
            }
        }
    }
}

/// A party member's name tag takes their party colour (the ring under
/// them is `party_marks`'), everyone else's their own.
fn colour_name_tags(
    session: Res<Session>,
    avatars: Query<&RemoteAvatar>,
    mut tags: Query<(&mut BackgroundColor, &mut TextColor), With<NameTag>>,
) {
    let Some(mirror) = session.mirror() else {
        return;
    };
    for avatar in &avatars {
        let Some(member) = mirror.members.get(&avatar.slot) else {
            continue;
        };
        let Ok((mut background, mut ink)) = tags.get_mut(avatar.tag) else {
            continue;
        };
        let (fill, letters) = match mirror.party.colour_of(member.account) {
            Some(i) => (
                super::party_marks::party_colour(i).with_alpha(0.9),
                Color::BLACK,
            ),
            None => (
                avatar_colour(member.account.0)
                    .with_alpha(0.75)
                    .darker(0.25),
                Color::WHITE,
            ),
        };
        // Only on a change: the UI re-lays out what changed.
        if background.0 != fill {
            background.0 = fill;
        }
        if ink.0 != letters {
            ink.0 = letters;
        }
    }
}

/// Name tags follow heads on screen; hidden behind the camera or far away.
fn place_name_tags(
    camera: Query<(&Camera, &GlobalTransform), With<MainCamera>>,
    avatars: Query<(&RemoteAvatar, &GlobalTransform, &Visibility)>,
    mut tags: Query<
        (&mut Node, &mut Visibility, &ComputedNode),
        (With<NameTag>, Without<RemoteAvatar>),
    >,
) {
    let Ok((camera, cam_at)) = camera.single() else {
        return;
    };
    for (avatar, at, shown) in &avatars {
        let Ok((mut node, mut visible, computed)) = tags.get_mut(avatar.tag) else {
            continue;
        };
        let head = at.translation() + Vec3::Y * 1.85;
        let near = cam_at.translation().distance(head) < 25.0;
        match camera.world_to_viewport(cam_at, head) {
            Ok(p) if near && *shown != Visibility::Hidden => {
                let size = computed.size() * computed.inverse_scale_factor();
                node.left = px(p.x - size.x / 2.0);
                node.top = px(p.y - size.y);
                *visible = Visibility::Inherited;
            }
            _ => *visible = Visibility::Hidden,
        }
    }
}

/// Reactions float up from whoever sent them (from our own eyes for ours).
fn spawn_reactions(
    mut commands: Commands,
    mut changes: MessageReader<RoomChangeMessage>,
    session: Res<Session>,
    assets: Res<AvatarAssets>,
    avatars: Query<(&RemoteAvatar, &GlobalTransform)>,
    camera: Query<&GlobalTransform, With<MainCamera>>,
) {
    let you = session.mirror().and_then(|m| m.you);
    for RoomChangeMessage(change) in changes.read() {
        let RoomChange::Reactions(burst) = change else {
            continue;
        };
        // The server names at most MAX_BURST_SENDERS; a client takes no more.
        for (i, (slot, reaction)) in burst.from.iter().take(MAX_BURST_SENDERS).enumerate() {
            let from = if Some(*slot) == you {
                camera
                    .single()
                    .map(|c| c.translation() + c.forward() * 1.2 + Vec3::Y * -0.3)
                    .ok()
            } else {
                avatars
                    .iter()
                    .find(|(a, _)| a.slot == *slot)
                    .map(|(_, t)| t.translation() + Vec3::Y * 1.9)
            };
            let Some(from) = from else {
                continue;
            };
            let Some((_, material)) = assets.reactions.iter().find(|(r, _)| r == reaction) else {
                continue;
            };
            commands.spawn((
                DespawnOnExit(AppState::Showroom),
                FloatingReaction {
                    age: -(i as f32) * 0.08,
                    from,
                },
                Mesh3d(assets.reaction.clone()),
                MeshMaterial3d(material.clone()),
                Transform::from_translation(from),
            ));
        }
    }
}

fn float_reactions(
    mut commands: Commands,
    time: Res<Time>,
    mut reactions: Query<(Entity, &mut FloatingReaction, &mut Transform)>,
) {
    for (e, mut r, mut t) in &mut reactions {
        r.age += time.delta_secs();
        let f = (r.age / REACTION_SECS).clamp(0.0, 1.0);
        if r.age >= REACTION_SECS {
            commands.entity(e).despawn();
            continue;
        }
        let sway = (r.age * 5.0).sin() * 0.08;
        t.translation = r.from + Vec3::new(sway, f * REACTION_RISE, 0.0);
        t.scale = Vec3::splat(1.0 - f * 0.6);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f32) -> PoseNet {
        PoseNet::at([x, 0.0, 0.0], 0.0)
    }

    #[test]
    fn uneven_arrival_plays_back_evenly() {
        // Snapshots every 50 ms of server time; arrival order and bunching
        // do not matter because samples carry the server's time.
        let mut buffer = PoseBuffer::default();
        for i in 0..10 {
            buffer.push(i as f64 * 0.05, at(i as f32 * 0.1));
        }
        // Sampled at 60 Hz, the avatar moves the same distance each frame.
        let mut last = buffer.sample(0.1).unwrap().position[0];
        for frame in 1..20 {
            let t = 0.1 + frame as f64 / 60.0;
            let x = buffer.sample(t).unwrap().position[0];
            let step = x - last;
            assert!(
                (step - 0.1 / 3.0).abs() < 1e-3,
                "frame {frame}: step {step}"
            );
            last = x;
        }
    }

    /// A distant avatar walks 7 cm a snapshot but comes every fourth.
    /// Played back its turn later, it moves an even step every frame (not
    /// still for three snapshots and then a jump); one that stood 2 s and
    /// walks on starts moving when it did, not drifting over the pause.
    #[test]
    fn a_distant_avatar_walks_evenly_between_its_turns() {
        let lag = 3.0 / 20.0;
        let feed = |x_at: &dyn Fn(u32) -> f32, ticks: u32| {
            let mut buffer = PoseBuffer::default();
            let mut shown = at(x_at(0));
            for tick in 0..=ticks {
                // Its turns: every fourth snapshot; otherwise it keeps the last.
                if tick % 4 == 0 {
                    shown = at(x_at(tick));
                }
                record(&mut buffer, tick as f64 / 20.0, shown, 4, tick % 4 == 0);
            }
            move |t: f64| buffer.sample(t - lag).unwrap().position[0]
        };
        let x = feed(&|tick| tick as f32 * 0.07, 60);
        // At 60 frames a second, each step is 7 cm × 20 / 60.
        for frame in 0..60 {
            let t = 1.0 + lag + frame as f64 / 60.0;
            let step = x(t + 1.0 / 60.0) - x(t);
            assert!((step - 0.07 / 3.0).abs() < 1e-3, "frame {frame}: {step}");
        }
        // Standing to tick 40, then walking.
        let x = feed(&|tick| tick.saturating_sub(40) as f32 * 0.07, 60);
        assert_eq!(x(1.0 + lag), x(1.95 + lag));
        assert!(x(2.3 + lag) > x(2.0 + lag));
        // Near avatars take every snapshot, as before.
        let mut near = PoseBuffer::default();
        for tick in 0..4u32 {
            record(&mut near, tick as f64 / 20.0, at(1.0), 1, false);
        }
        assert_eq!(near.samples.len(), 4);
    }

    #[test]
    fn late_or_old_samples_do_not_throw_avatars_about() {
        let mut buffer = PoseBuffer::default();
        buffer.push(1.0, at(1.0));
        buffer.push(1.05, at(2.0));
        buffer.push(0.9, at(-50.0)); // older: ignored
        assert_eq!(buffer.sample(0.5).unwrap().position[0], 1.0);
        // Past the newest sample the avatar holds still.
        assert_eq!(buffer.sample(9.0).unwrap().position[0], 2.0);
        let mid = buffer.sample(1.025).unwrap().position[0];
        assert!((mid - 1.5).abs() < 1e-4);
    }

    #[test]
    fn yaw_turns_the_short_way() {
        let a = PoseNet::at([0.0; 3], 3.0);
        let b = PoseNet::at([0.0; 3], -3.0);
        let mid = lerp_pose(&a, &b, 0.5).yaw;
        // Halfway between 3 and -3 the short way round is ±π, not 0.
        assert!((mid.abs() - std::f32::consts::PI).abs() < 1e-3, "{mid}");
    }

    #[test]
    fn the_playback_clock_runs_smoothly_and_catches_up() {
        let mut clock = PlaybackClock::default();
        let start = clock.advance(0.016, 10.0);
        assert!((start - (10.0 - INTERP_DELAY)).abs() < 1e-9);
        // Snapshots stall for a frame: the clock keeps running.
        let next = clock.advance(0.016, 10.0);
        assert!(next > start);
        // A rejoin jumps it.
        let far = clock.advance(0.016, 100.0);
        assert!((far - (100.0 - INTERP_DELAY)).abs() < 1e-9);
    }

    #[test]
    fn colours_are_stable_and_spread() {
        assert_eq!(avatar_colour(7), avatar_colour(7));
        let hues: Vec<f32> = (1..=6)
            .map(|id| Hsla::from(avatar_colour(id)).hue)
            .collect();
        for (i, a) in hues.iter().enumerate() {
            for b in &hues[i + 1..] {
                let d = (a - b).abs().min(360.0 - (a - b).abs());
                assert!(d > 10.0, "hues {hues:?} too close");
            }
        }
    }
}
