//! The stage screen and its slate: the quad in the stage's frame, and the
//! picture it shows while the host's video does not ("Waiting for the
//! host", the live show's title, or why the video is not up), drawn by a UI
//! camera into an image only for a few frames after a change.

use super::{StageScreen, StageScreenMaterial, StageVideo, VideoPlanes};
use crate::showroom::AppState;
use crate::showroom::readiness::PipelinesWaiting;
use crate::showroom::room::RoomLayout;
use crate::showroom::session::Session;
use bevy::camera::RenderTarget;
use bevy::prelude::*;
use bevy::render::render_resource::TextureFormat;

/// Frames the slate camera draws after a change, once no shader is still
/// compiling (text layout takes one or two).
const SLATE_FRAMES: u32 = 10;
/// The slate's pixels: 16:9.
const SLATE_SIZE: (u32, u32) = (960, 540);

/// The slate image the stage screen shows while there is no video.
#[derive(Resource)]
pub struct StageSlate {
    pub image: Handle<Image>,
    pub camera: Entity,
    title: Entity,
    subtitle: Entity,
    /// The (show title, video note) the slate last drew.
    shown_for: Option<(Option<String>, Option<String>)>,
    frames_left: u32,
}

/// The screen in the stage's frame, where [`RoomLayout::screen`] says, and
/// the slate it shows: a UI drawn by its own camera into an image.
pub(super) fn spawn_screen(
    mut commands: Commands,
    layout: Res<RoomLayout>,
    mut images: ResMut<Assets<Image>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StageScreenMaterial>>,
) {
    let image = images.add(Image::new_target_texture(
        SLATE_SIZE.0,
        SLATE_SIZE.1,
        TextureFormat::Rgba8UnormSrgb,
        None,
    ));
    let camera = commands
        .spawn((
            DespawnOnExit(AppState::Showroom),
            Camera2d,
            Camera {
                order: -1,
                clear_color: ClearColorConfig::Custom(Color::srgb(0.09, 0.11, 0.24)),
                ..default()
            },
            RenderTarget::Image(image.clone().into()),
        ))
        .id();
    let mut title = Entity::PLACEHOLDER;
    let mut subtitle = Entity::PLACEHOLDER;
    commands
        .spawn((
            DespawnOnExit(AppState::Showroom),
            UiTargetCamera(camera),
            Node {
                width: percent(100),
                height: percent(100),
                flex_direction: FlexDirection::Column,
                align_items: AlignItems::Center,
                justify_content: JustifyContent::Center,
                row_gap: px(18),
                ..default()
            },
        ))
        .with_children(|slate| {
            slate.spawn((
                Text::new("VITRINE LIVE"),
                TextFont::from_font_size(34.0),
                TextColor(Color::srgb(1.0, 0.55, 0.65)),
            ));
            title = slate
                .spawn((
                    Text::new("Waiting for the host"),
                    TextFont::from_font_size(64.0),
                    TextColor(Color::WHITE),
                ))
                .id();
            subtitle = slate
                .spawn((
                    Text::new("The show starts soon: look around the products"),
                    TextFont::from_font_size(28.0),
                    TextColor(Color::srgb(0.75, 0.8, 0.95)),
                ))
                .id();
        });
    commands.insert_resource(StageSlate {
        image: image.clone(),
        camera,
        title,
        subtitle,
        shown_for: None,
        frames_left: SLATE_FRAMES,
    });
    let (at, size) = layout.screen();
    commands.spawn((
        DespawnOnExit(AppState::Showroom),
        StageScreen,
        Mesh3d(meshes.add(Rectangle::new(size.x, size.y))),
        // The slate, with the video's planes drawn over it while it plays.
        MeshMaterial3d(materials.add(StageScreenMaterial {
            base: StandardMaterial {
                base_color_texture: Some(image),
                unlit: true,
                ..default()
            },
            extension: VideoPlanes::default(),
        })),
        Transform::from_translation(at),
    ));
}

/// The slate says whether a show is live, and why the video is not up
/// when it should be.
pub(super) fn update_slate(
    session: Res<Session>,
    video: Option<Res<StageVideo>>,
    slate: Option<ResMut<StageSlate>>,
    mut texts: Query<&mut Text>,
    mut cameras: Query<&mut Camera>,
    compiling: Option<Res<PipelinesWaiting>>,
) {
    let Some(mut slate) = slate else {
        return;
    };
    // The slate camera draws only while the slate changes (a few frames once
    // every shader is ready, so the text is laid out and drawn), then the
    // image stays as it is.
    let ready = compiling.is_none_or(|c| c.count() == 0);
    if slate.frames_left > 0 && ready {
        slate.frames_left -= 1;
        if slate.frames_left == 0
            && let Ok(mut camera) = cameras.get_mut(slate.camera)
        {
            camera.is_active = false;
        }
    }
    // Compared borrowed: this runs every frame; the title is cloned only
    // when the slate changes.
    let live = session.mirror().and_then(|m| m.show_live.as_deref());
    let note = video.and_then(|v| v.slate_note());
    let drawn = slate
        .shown_for
        .as_ref()
        .map(|(l, n)| (l.as_deref(), n.as_deref()));
    if drawn == Some((live, note.as_deref())) {
        return;
    }
    let key = (live.map(str::to_owned), note);
    let (title, subtitle) = match &key {
        (_, Some(note)) => (
            key.0
                .clone()
                .unwrap_or_else(|| "Waiting for the host".to_owned()),
            note.clone(),
        ),
        (Some(show), None) => (
            show.clone(),
            "Live now: the host's camera comes up here".to_owned(),
        ),
        (None, None) => (
            "Waiting for the host".to_owned(),
            "The show starts soon: look around the products".to_owned(),
        ),
    };
    if let Ok(mut t) = texts.get_mut(slate.title) {
        t.0 = title;
    }
    if let Ok(mut t) = texts.get_mut(slate.subtitle) {
        t.0 = subtitle;
    }
    slate.shown_for = Some(key);
    slate.frames_left = SLATE_FRAMES;
    if let Ok(mut camera) = cameras.get_mut(slate.camera) {
        camera.is_active = true;
    }
}
