//! Rendering without a window. `--screenshot` waits until the room is in
//! (joined, models loaded), renders `--frames` more, reads the picture back
//! and saves it, with a [`ScreenReport`] of where the stage, the displays
//! and the avatars landed on screen (tests check the pixels there).
//! `--bench` fills the room with walking shoppers and measures frames.

use super::avatars::{RemoteAvatar, avatar_colour};
use super::player::{MainCamera, OffscreenTarget};
use super::readiness::PipelinesWaiting;
use super::room::{ModelToSpawn, ProductDisplay, RoomLayout};
use super::session::{LinkState, Session};
use super::video::StageScreen;
use super::{AppState, Options};
use bevy::app::AppExit;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use std::time::{Duration, Instant};
use vitrine_shared::ProductId;

/// Give up waiting for the room after this long.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Once in the room, give up on the frames before the picture after this
/// long: a busy two-core machine with the demo's host encoding 720p beside
/// it renders under a frame a second on lavapipe.
const FRAMES_TIMEOUT: Duration = Duration::from_secs(240);
/// Bench frames before measuring: shaders compile, models load.
const BENCH_WARMUP: u32 = 60;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Capture>()
        .add_systems(
            Update,
            count_frames
                .run_if(in_state(AppState::Showroom).and_then(|o: Res<Options>| o.offscreen())),
        )
        .add_systems(First, frame_start.run_if(|o: Res<Options>| o.bench))
        .add_systems(Last, frame_end.run_if(|o: Res<Options>| o.bench))
        .add_systems(Update, give_up.run_if(|o: Res<Options>| o.offscreen()));
}

/// Whether every shader the frame needs is compiled, and every product
/// model is in the room: the picture then shows what a shopper sees.
pub fn scene_ready(world: &mut World) -> bool {
    let compiled = world
        .get_resource::<PipelinesWaiting>()
        .is_none_or(|w| w.count() == 0);
    compiled && super::room::models_ready(world)
}

/// Where things landed in the picture, in pixels from the top left.
#[derive(Debug, Clone, Default)]
pub struct ScreenReport {
    pub width: u32,
    pub height: u32,
    /// The stage screen's centre and its four corners.
    pub stage_screen: Option<(Vec2, [Vec2; 4])>,
    /// Each display in view: product, the model's centre, the plinth's.
    pub displays: Vec<(ProductId, Vec2, Vec2)>,
    /// Each avatar in view: name, body centre, and its colour.
    pub avatars: Vec<(String, Vec2, Color)>,
}

/// The offscreen run's progress and result.
#[derive(Resource, Default)]
pub struct Capture {
    frames_in_room: u32,
    requested: bool,
    started: Option<Instant>,
    /// When the room was first ready (joined, loaded, shaders compiled).
    in_room_since: Option<Instant>,
    pub image: Option<Image>,
    pub report: Option<ScreenReport>,
    /// Why the run could not capture, if it could not.
    pub failed: Option<String>,
    bench: BenchTimes,
}

#[derive(Default)]
struct BenchTimes {
    frame_start: Option<Instant>,
    last_frame_start: Option<Instant>,
    frames: Vec<f64>,
    /// Wall time from `First` to `Last`: includes waiting for a core while
    /// the rasterizer's threads hold both.
    main: Vec<f64>,
    /// CPU time all threads but the rasterizer's spent from `First` to
    /// `Last`: the main world's systems, wherever the executor ran them.
    main_cpu: Vec<f64>,
    cpu_start: u64,
    clocks: Vec<libc::clockid_t>,
    measured: u32,
}

/// This process's threads except Mesa's rasterizer (`llvmpipe-N`), as
/// CPU clock ids; empty where there is no `/proc`. Listed once, after the
/// warm-up, so that timing a frame reads clocks and no files.
fn non_rasterizer_clocks() -> Vec<libc::clockid_t> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter(|entry| {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            !comm.starts_with("llvmpipe")
        })
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        // The kernel's clock id for one thread's CPU time, as glibc's
        // `pthread_getcpuclockid` builds it (CPUCLOCK_SCHED | PERTHREAD).
        .map(|tid| ((!tid) << 3) | 6)
        .collect()
}

/// Nanoseconds on a CPU, summed over `clocks`.
fn cpu_ns(clocks: &[libc::clockid_t]) -> u64 {
    let mut total = 0u64;
    for &clock in clocks {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out-pointer; a thread that has exited
        // makes the call fail, and it is skipped.
        if unsafe { libc::clock_gettime(clock, &mut ts) } == 0 {
            total += ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        }
    }
    total
}

fn ready(
    session: &Session,
    options: &Options,
    loading: &Query<(), With<ModelToSpawn>>,
    waiting: &PipelinesWaiting,
) -> bool {
    let joined = options.server.is_none() || session.link == LinkState::Connected;
    joined && loading.is_empty() && waiting.count() == 0
}

fn count_frames(
    mut commands: Commands,
    options: Res<Options>,
    session: Res<Session>,
    loading: Query<(), With<ModelToSpawn>>,
    waiting: Res<PipelinesWaiting>,
    displays: Query<&ProductDisplay>,
    target: Option<Res<OffscreenTarget>>,
    video: Option<Res<super::video::StageVideo>>,
    mut capture: ResMut<Capture>,
) {
    capture.started.get_or_insert_with(Instant::now);
    if capture.requested || options.bench || options.screenshot.is_none() {
        return;
    }
    // A stream being opened gets its chance to reach the screen (the
    // player gives up connecting after its own timeout).
    let video_settled = video.is_none_or(|v| v.status != super::video::VideoStatus::Connecting);
    if displays.is_empty() || !video_settled || !ready(&session, &options, &loading, &waiting) {
        // New pipelines can queue after a quiet frame: count from scratch.
        capture.frames_in_room = 0;
        return;
    }
    capture.in_room_since.get_or_insert_with(Instant::now);
    capture.frames_in_room += 1;
    if capture.frames_in_room < options.frames.max(1) {
        return;
    }
    let Some(target) = target else {
        return;
    };
    capture.requested = true;
    commands
        .spawn(Screenshot::image(target.0.clone()))
        .observe(on_captured);
}

/// Takes the picture now (tests decide when the room is as they want it).
pub fn capture_now(world: &mut World) {
    let Some(target) = world.get_resource::<OffscreenTarget>().cloned() else {
        return;
    };
    world.resource_mut::<Capture>().requested = true;
    world
        .spawn(Screenshot::image(target.0))
        .observe(on_captured);
}

fn on_captured(
    captured: On<ScreenshotCaptured>,
    options: Res<Options>,
    mut capture: ResMut<Capture>,
    camera: Query<(&Camera, &GlobalTransform), With<MainCamera>>,
    layout: Res<RoomLayout>,
    screen: Query<&GlobalTransform, With<StageScreen>>,
    displays: Query<(&ProductDisplay, &GlobalTransform)>,
    avatars: Query<(&RemoteAvatar, &GlobalTransform, &InheritedVisibility)>,
    session: Res<Session>,
    mut exit: MessageWriter<AppExit>,
) {
    let image = captured.image.clone();
    let mut report = ScreenReport {
        width: image.width(),
        height: image.height(),
        ..default()
    };
    if let Ok((camera, eye)) = camera.single() {
        let project = |p: Vec3| camera.world_to_viewport(eye, p).ok();
        let in_view = |p: Vec2| {
            p.x >= 0.0 && p.y >= 0.0 && p.x < report.width as f32 && p.y < report.height as f32
        };
        if let Ok(at) = screen.single() {
            let c = at.translation();
            let (_, size) = layout.screen();
            let h = size / 2.0;
            let corners = [
                c + Vec3::new(-h.x, h.y, 0.0),
                c + Vec3::new(h.x, h.y, 0.0),
                c + Vec3::new(h.x, -h.y, 0.0),
                c + Vec3::new(-h.x, -h.y, 0.0),
            ]
            .map(project);
            if let (Some(centre), [Some(a), Some(b), Some(cc), Some(d)]) = (project(c), corners) {
                report.stage_screen = Some((centre, [a, b, cc, d]));
            }
        }
        for (display, at) in &displays {
            let model = display.home.translation;
            let plinth = at.translation() + Vec3::Y * 0.5;
            if let (Some(m), Some(p)) = (project(model), project(plinth))
                && in_view(m)
                && in_view(p)
            {
                report.displays.push((display.product.clone(), m, p));
            }
        }
        if let Some(mirror) = session.mirror() {
            for (avatar, at, visible) in &avatars {
                let Some(member) = mirror.members.get(&avatar.slot) else {
                    continue;
                };
                if let Some(p) = project(at.translation() + Vec3::Y * 0.65)
                    && in_view(p)
                    && visible.get()
                {
                    report.avatars.push((
                        member.name.as_str().to_owned(),
                        p,
                        avatar_colour(member.account.0),
                    ));
                }
            }
        }
    }
    if let Some(path) = &options.screenshot {
        match image.clone().try_into_dynamic() {
            Ok(picture) => match picture.to_rgb8().save(path) {
                Ok(()) => info!("screenshot saved to {}", path.display()),
                Err(e) => capture.failed = Some(format!("cannot save {}: {e}", path.display())),
            },
            Err(e) => capture.failed = Some(format!("cannot convert the picture: {e}")),
        }
    }
    capture.image = Some(image);
    capture.report = Some(report);
    if options.screenshot.is_none() {
        return;
    }
    exit.write(if capture.failed.is_some() {
        AppExit::error()
    } else {
        AppExit::Success
    });
}

/// An offscreen run that cannot get into the room says why and stops.
fn give_up(
    options: Res<Options>,
    session: Res<Session>,
    mut capture: ResMut<Capture>,
    mut exit: MessageWriter<AppExit>,
) {
    // From the first frame, whatever screen the run is stuck on.
    let started = *capture.started.get_or_insert_with(Instant::now);
    if capture.image.is_some() || capture.failed.is_some() || options.screenshot.is_none() {
        return;
    }
    // Getting in has one limit; the frames after it another, since they
    // go at the renderer's pace.
    let message = match capture.in_room_since {
        None if started.elapsed() > READY_TIMEOUT => {
            let why = match &session.link {
                LinkState::Lost { reason, .. } | LinkState::Closed(reason) => reason.clone(),
                other => format!("still {other:?}"),
            };
            Some(format!(
                "could not render the room within {READY_TIMEOUT:?}: {why}"
            ))
        }
        Some(since) if since.elapsed() > FRAMES_TIMEOUT => Some(format!(
            "in the room, but {} frames did not render within {FRAMES_TIMEOUT:?} (got {})",
            options.frames.max(1),
            capture.frames_in_room
        )),
        _ => None,
    };
    if let Some(message) = message {
        error!("{message}");
        capture.failed = Some(message);
        exit.write(AppExit::error());
    }
}

fn frame_start(mut capture: ResMut<Capture>) {
    let now = Instant::now();
    let bench = &mut capture.bench;
    if let Some(last) = bench.last_frame_start
        && bench.measured > BENCH_WARMUP
    {
        bench.frames.push((now - last).as_secs_f64() * 1000.0);
    }
    bench.last_frame_start = Some(now);
    bench.frame_start = Some(now);
    if bench.measured == BENCH_WARMUP {
        bench.clocks = non_rasterizer_clocks();
    }
    bench.cpu_start = cpu_ns(&bench.clocks);
}

fn frame_end(
    options: Res<Options>,
    video: Option<ResMut<super::video::StageVideo>>,
    mut capture: ResMut<Capture>,
    mut exit: MessageWriter<AppExit>,
) {
    let bench = &mut capture.bench;
    bench.measured += 1;
    if let Some(start) = bench.frame_start
        && bench.measured > BENCH_WARMUP
    {
        bench.main.push(start.elapsed().as_secs_f64() * 1000.0);
        if !bench.clocks.is_empty() {
            let spent = cpu_ns(&bench.clocks).saturating_sub(bench.cpu_start);
            bench.main_cpu.push(spent as f64 / 1e6);
        }
    }
    if bench.frames.len() as u32 >= options.frames.max(10) {
        let (f50, f95) = percentiles(&mut bench.frames);
        let (m50, m95) = percentiles(&mut bench.main);
        let (c50, c95) = percentiles(&mut bench.main_cpu);
        println!(
            "client bench: {}x{}, {} avatars, {} products, {} frames: frame p50 {f50:.2} ms, p95 {f95:.2} ms; \
             non-render CPU (main world, thread CPU clocks) p50 {c50:.2} ms, p95 {c95:.2} ms; \
             main world wall time p50 {m50:.2} ms, p95 {m95:.2} ms",
            options.width,
            options.height,
            options.avatars,
            options.products,
            bench.frames.len()
        );
        if let Some(mut video) = video.filter(|v| !v.copy_cpu_ms.is_empty()) {
            let (v50, v95) = percentiles(&mut video.copy_cpu_ms);
            println!(
                "client bench: stage video: {} frames taken from the player and copied into the \
                 screen's image, main-thread CPU p50 {v50:.2} ms, p95 {v95:.2} ms",
                video.copy_cpu_ms.len()
            );
        }
        exit.write(AppExit::Success);
    }
}

fn percentiles(v: &mut [f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}
