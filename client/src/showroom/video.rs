//! The host's video on the stage screen, with its sound.
//!
//! The room says where the stream is and whether the host is on
//! ([`StreamNet`]); `--video URI` plays any URI GStreamer reads instead. A
//! [`Player`] (from `vitrine-media`) decodes on its own threads into a
//! latest-frame slot and plays the sound, both synced to its pipeline clock;
//! each frame here copies the newest picture's three I420 planes, if there
//! is one, into three one-channel [`Image`]s, and the screen's material
//! ([`StageScreenMaterial`]) turns Y'CbCr into colour in its fragment
//! shader (`stage_video.wgsl`): on the GPU, with 1.5 bytes a pixel to copy
//! and upload instead of RGBA's 4 (docs/BENCHMARKS.md).
//!
//! While the host is off, while the stream reconnects and when it cannot
//! play, the screen shows the slate ([`screen::StageSlate`]) with a line
//! saying why. The screen is this feature's from end to end (its quad, the
//! slate and the video over it), so the choice between slate and picture
//! and the slate's words both read [`StageVideo`] here; the room only
//! frames it, where [`RoomLayout::screen`](super::room::RoomLayout::screen)
//! says.

pub mod screen;

use bevy::asset::RenderAssetUsages;
use bevy::pbr::{ExtendedMaterial, MaterialExtension};
use bevy::prelude::*;
use bevy::render::render_resource::{AsBindGroup, Extent3d, TextureDimension, TextureFormat};
use bevy::shader::ShaderRef;
use std::time::Duration;
use vitrine_media::player::{AudioOutput, PixelFormat, Player, PlayerOptions, PlayerState};
use vitrine_shared::protocol::StreamNet;

use super::session::Session;
use super::{AppState, Options, ShowroomSystems};

/// The stage screen's material: the slate as an unlit `StandardMaterial`,
/// and the video's planes, converted in the fragment shader, over it.
pub type StageScreenMaterial = ExtendedMaterial<StandardMaterial, VideoPlanes>;

/// The video's I420 planes and how to read them.
#[derive(Asset, AsBindGroup, Reflect, Debug, Clone, Default)]
pub struct VideoPlanes {
    /// 0: show the slate; 1: the video, BT.601; 2: the video, BT.709.
    #[uniform(100)]
    pub mode: u32,
    #[texture(101)]
    #[sampler(102)]
    pub y: Option<Handle<Image>>,
    #[texture(103)]
    pub u: Option<Handle<Image>>,
    #[texture(104)]
    pub v: Option<Handle<Image>>,
}

impl MaterialExtension for VideoPlanes {
    fn fragment_shader() -> ShaderRef {
        "embedded://vitrine_client/showroom/stage_video.wgsl".into()
    }
}

/// The colour matrix for a picture this tall: BT.709 for HD, BT.601 below,
/// as GStreamer assumes when the stream does not say.
pub fn matrix_mode(height: u32) -> u32 {
    if height >= 720 { 2 } else { 1 }
}

pub fn plugin(app: &mut App) {
    bevy::asset::embedded_asset!(app, "stage_video.wgsl");
    app.add_plugins(MaterialPlugin::<StageScreenMaterial>::default())
        // After the room is measured (`Build`), so the screen fits its frame.
        .add_systems(
            OnEnter(AppState::Showroom),
            (setup_video, screen::spawn_screen).in_set(ShowroomSystems::Present),
        )
        .add_systems(OnExit(AppState::Showroom), stop_video)
        .add_systems(
            Update,
            (
                screen::update_slate.in_set(ShowroomSystems::Simulate),
                (follow_stream, show_frames)
                    .chain()
                    .in_set(ShowroomSystems::Present),
            )
                .run_if(in_state(AppState::Showroom)),
        );
}

/// The stage screen's quad (the slate, and the video over it).
#[derive(Component)]
pub struct StageScreen;

/// What the stage screen is doing, for the slate, the HUD and tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum VideoStatus {
    /// No stream, or the host is not on.
    #[default]
    Off,
    /// Opening the stream; the slate stays up until the first frame.
    Connecting,
    /// Frames are on the screen.
    Playing,
    /// The stream dropped; the player tries again by itself.
    Reconnecting { reason: String, retry_in: Duration },
    /// A file played to its end.
    Ended,
    /// The stream cannot play (bad URL, missing file, undecodable).
    Failed(String),
}

/// The stage screen's video.
#[derive(Resource)]
pub struct StageVideo {
    player: Option<Player>,
    /// The URI being played (or failed): a new one restarts the player.
    uri: Option<String>,
    /// Y, U and V: one byte a sample each.
    planes: [Handle<Image>; 3],
    /// The material's mode while the video shows (BT.601 or BT.709).
    mode: u32,
    on_screen: bool,
    pub status: VideoStatus,
    /// Frames copied to the screen since the showroom opened.
    pub frames_shown: u64,
    /// The newest frame's size, in-picture timecode (unix ms) and sequence.
    pub last_frame: Option<ShownFrame>,
    /// `--bench`: the main thread's CPU time taking each frame and copying
    /// it into the screen's image, in ms.
    pub copy_cpu_ms: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShownFrame {
    pub width: u32,
    pub height: u32,
    pub timecode_ms: Option<u64>,
    pub seq: u64,
}

impl StageVideo {
    /// Whether the screen shows the video (else the slate).
    pub fn on_screen(&self) -> bool {
        self.on_screen
    }

    /// A line for the slate when the video is not showing, if there is
    /// something to say beyond "waiting for the host".
    pub fn slate_note(&self) -> Option<String> {
        match &self.status {
            VideoStatus::Off | VideoStatus::Playing => None,
            VideoStatus::Connecting => Some("Connecting to the host's video…".into()),
            VideoStatus::Reconnecting { reason, retry_in } => Some(format!(
                "Video interrupted ({reason}): reconnecting in {} s",
                retry_in.as_secs_f32().ceil() as u32
            )),
            VideoStatus::Ended => Some("The video has ended".into()),
            VideoStatus::Failed(why) => Some(format!("Video unavailable: {why}")),
        }
    }
}

/// Which URI to play: `--video` if given, else the room's stream while the
/// host is on, SRT first (lowest latency), HLS otherwise.
pub fn stream_uri<'a>(forced: Option<&'a str>, stream: Option<&'a StreamNet>) -> Option<&'a str> {
    if forced.is_some() {
        return forced;
    }
    let stream = stream.filter(|s| s.live)?;
    stream.srt.as_deref().or(stream.hls.as_deref())
}

fn setup_video(mut commands: Commands, mut images: ResMut<Assets<Image>>) {
    commands.insert_resource(StageVideo {
        player: None,
        uri: None,
        planes: [(); 3].map(|_| images.add(plane_image(2, 2, vec![0; 4]))),
        mode: 0,
        on_screen: false,
        status: VideoStatus::Off,
        frames_shown: 0,
        last_frame: None,
        copy_cpu_ms: Vec::new(),
    });
}

fn stop_video(mut commands: Commands) {
    // Dropping the player stops its pipeline.
    commands.remove_resource::<StageVideo>();
}

fn plane_image(width: u32, height: u32, data: Vec<u8>) -> Image {
    Image::new(
        Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        data,
        // Raw samples: the shader does the colour maths.
        TextureFormat::R8Unorm,
        // Each frame is new data: the main world need not keep a copy once
        // it is on its way to the GPU.
        RenderAssetUsages::RENDER_WORLD,
    )
}

/// Starts, restarts or stops the player as the room's stream changes.
fn follow_stream(options: Res<Options>, session: Res<Session>, mut video: ResMut<StageVideo>) {
    let stream = session.mirror().and_then(|m| m.stream.as_ref());
    // Compared borrowed: this runs every frame, and allocates only when
    // the stream changes.
    let wanted = stream_uri(options.video.as_deref(), stream);
    if wanted == video.uri.as_deref() {
        return;
    }
    video.player = None;
    video.uri = wanted.map(str::to_owned);
    video.status = VideoStatus::Off;
    video.last_frame = None;
    let Some(uri) = wanted else {
        return;
    };
    let player_options = PlayerOptions {
        format: PixelFormat::I420,
        // A shopper in a window hears the show; offscreen runs (tests,
        // benchmarks, headless demos) decode the sound in sync, silently.
        audio: if options.offscreen() {
            AudioOutput::Silent
        } else {
            AudioOutput::Auto
        },
        ..default()
    };
    match Player::start(uri, player_options) {
        Ok(player) => {
            info!("stage video: playing {uri}");
            video.player = Some(player);
            video.status = VideoStatus::Connecting;
        }
        Err(e) => {
            warn!("stage video: cannot play {uri}: {e}");
            video.status = VideoStatus::Failed(e.to_string());
        }
    }
}

/// Copies the newest frame's planes into the screen's images and switches
/// the screen between the video and the slate.
fn show_frames(
    options: Res<Options>,
    mut video: ResMut<StageVideo>,
    mut images: ResMut<Assets<Image>>,
    screens: Query<&MeshMaterial3d<StageScreenMaterial>, With<StageScreen>>,
    mut materials: ResMut<Assets<StageScreenMaterial>>,
) {
    let video = &mut *video;
    let bench = options.bench;
    if let Some(player) = &video.player {
        video.status = match player.state() {
            PlayerState::Connecting { .. } => VideoStatus::Connecting,
            PlayerState::Playing => VideoStatus::Playing,
            PlayerState::Reconnecting {
                reason, retry_in, ..
            } => VideoStatus::Reconnecting {
                reason: reason.to_string(),
                retry_in,
            },
            PlayerState::Ended => VideoStatus::Ended,
            PlayerState::Error(e) => VideoStatus::Failed(e.to_string()),
        };
        let started = bench.then(thread_cpu_ms);
        if let Some(frame) = player.take_frame()
            && frame.format == PixelFormat::I420
            && let Some(planes) = i420_planes(
                frame.data(),
                frame.width,
                frame.height,
                frame.strides,
                frame.offsets,
            )
        {
            for (handle, (width, height, data)) in video.planes.iter().zip(planes) {
                // The handles are made at setup and held here: they cannot
                // vanish. Same size, same GPU texture: Bevy writes into it.
                if let Some(mut image) = images.get_mut(handle) {
                    *image = plane_image(width, height, data);
                }
            }
            video.mode = matrix_mode(frame.height);
            video.frames_shown += 1;
            if let Some(started) = started {
                video.copy_cpu_ms.push(thread_cpu_ms() - started);
            }
            video.last_frame = Some(ShownFrame {
                width: frame.width,
                height: frame.height,
                timecode_ms: frame.timecode.map(|t| t.unix_ms),
                seq: frame.seq,
            });
        }
    }
    // A frozen last picture would look like a live host: only a playing
    // stream with a frame on hand goes on the screen.
    let show_video = video.status == VideoStatus::Playing && video.last_frame.is_some();
    let mode = if show_video { video.mode } else { 0 };
    for material in &screens {
        if materials
            .get(&material.0)
            .is_some_and(|m| m.extension.mode == mode)
        {
            continue;
        }
        if let Some(mut material) = materials.get_mut(&material.0) {
            let [y, u, v] = video.planes.clone();
            material.extension = VideoPlanes {
                mode,
                y: Some(y),
                u: Some(u),
                v: Some(v),
            };
        }
    }
    video.on_screen = show_video;
}

/// The three planes of an I420 frame, each tightly packed: (width, height,
/// bytes). `None` if the buffer is shorter than its layout says.
fn i420_planes(
    data: &[u8],
    width: u32,
    height: u32,
    strides: [usize; 3],
    offsets: [usize; 3],
) -> Option<[(u32, u32, Vec<u8>); 3]> {
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    let sizes = [(width, height), (cw, ch), (cw, ch)];
    let mut out: [(u32, u32, Vec<u8>); 3] = Default::default();
    for (i, (w, h)) in sizes.into_iter().enumerate() {
        let plane = data.get(offsets[i]..)?;
        out[i] = (w, h, plane_rows(plane, w as usize, h, strides[i])?);
    }
    Some(out)
}

/// This thread's CPU time, in ms.
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

/// Tightly packed rows of `row` bytes from a plane whose rows may be
/// padded to `stride`; `None` if the buffer is shorter than its size says.
fn plane_rows(data: &[u8], row: usize, height: u32, stride: usize) -> Option<Vec<u8>> {
    if row == 0 || height == 0 || stride < row {
        return None;
    }
    let needed = stride * (height as usize - 1) + row;
    let data = data.get(..needed)?;
    if stride == row {
        return Some(data.to_vec());
    }
    let mut out = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        out.extend_from_slice(&data[y * stride..y * stride + row]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(live: bool, srt: Option<&str>, hls: Option<&str>) -> StreamNet {
        StreamNet {
            srt: srt.map(str::to_owned),
            hls: hls.map(str::to_owned),
            live,
        }
    }

    #[test]
    fn plays_srt_first_only_while_live_and_a_forced_uri_always() {
        let both = stream(true, Some("srt://h:1"), Some("http://h/hls/live.m3u8"));
        assert_eq!(stream_uri(None, Some(&both)), Some("srt://h:1"));
        let hls_only = stream(true, None, Some("http://h/hls/live.m3u8"));
        assert_eq!(
            stream_uri(None, Some(&hls_only)),
            Some("http://h/hls/live.m3u8")
        );
        let off = stream(false, Some("srt://h:1"), None);
        assert_eq!(stream_uri(None, Some(&off)), None);
        assert_eq!(stream_uri(None, None), None);
        assert_eq!(
            stream_uri(Some("file:///x.mp4"), Some(&off)),
            Some("file:///x.mp4")
        );
    }

    #[test]
    fn rows_are_unpadded_and_short_buffers_refused() {
        // 2x2 RGBA (8 bytes a row) with rows padded to 12 bytes.
        let padded: Vec<u8> = (0..24).collect();
        let rows = plane_rows(&padded, 8, 2, 12).unwrap();
        assert_eq!(
            rows,
            [0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17, 18, 19]
        );
        assert_eq!(plane_rows(&padded[..19], 8, 2, 12), None);
        assert_eq!(
            plane_rows(&padded, 16, 2, 12),
            None,
            "stride shorter than a row"
        );
        assert_eq!(plane_rows(&padded, 0, 2, 12), None);
        let packed: Vec<u8> = (0..16).collect();
        assert_eq!(plane_rows(&packed, 8, 2, 8).unwrap(), packed);
    }

    #[test]
    fn i420_planes_come_apart_unpadded_and_odd_sizes_round_up() {
        // 3x3 luma in rows of 4; 2x2 chroma planes in rows of 4.
        let mut data = vec![0u8; 12 + 8 + 8];
        for y in 0..3 {
            for x in 0..3 {
                data[y * 4 + x] = (10 * y + x) as u8;
            }
        }
        for (base, value) in [(12, 100), (20, 200)] {
            for y in 0..2 {
                for x in 0..2 {
                    data[base + y * 4 + x] = value + (2 * y + x) as u8;
                }
            }
        }
        let [y, u, v] = i420_planes(&data, 3, 3, [4, 4, 4], [0, 12, 20]).unwrap();
        assert_eq!(y, (3, 3, vec![0, 1, 2, 10, 11, 12, 20, 21, 22]));
        assert_eq!(u, (2, 2, vec![100, 101, 102, 103]));
        assert_eq!(v, (2, 2, vec![200, 201, 202, 203]));
        // A V plane cut short, or an offset past the end, is refused.
        assert_eq!(i420_planes(&data[..25], 3, 3, [4, 4, 4], [0, 12, 20]), None);
        assert_eq!(i420_planes(&data, 3, 3, [4, 4, 4], [0, 12, 99]), None);
    }

    #[test]
    fn hd_pictures_read_as_bt709_and_smaller_ones_as_bt601() {
        assert_eq!(matrix_mode(720), 2);
        assert_eq!(matrix_mode(1080), 2);
        assert_eq!(matrix_mode(576), 1);
    }
}
