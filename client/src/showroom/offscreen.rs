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
    // Only for the bench: an exclusive system is a sync point in the
    // render world's schedule.
    let bench = app
        .world()
        .get_resource::<Options>()
        .is_some_and(|o| o.bench);
    if let Some(render) = app.get_sub_app_mut(bevy::render::RenderApp)
        && bench
    {
        render.add_systems(bevy::render::Render, note_render_thread);
    }
}

/// The thread that runs the render world's schedule: the pipelined
/// rendering thread, which has no name of its own to be found by.
static RENDER_THREAD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Exclusive, so the executor runs it on its own thread: the render
/// thread, not one of the compute pool's.
fn note_render_thread(_: &mut World) {
    // SAFETY: gettid takes no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    RENDER_THREAD.store(tid, std::sync::atomic::Ordering::Relaxed);
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
    /// Wall time from one `First` to the next.
    frames: Vec<f64>,
    /// Wall time from `First` to `Last`: includes waiting for a core while
    /// the rasterizer's threads hold both.
    main: Vec<f64>,
    /// The main thread's CPU time from `First` to `Last`: the main world's
    /// systems (its executor is single-threaded).
    main_world_cpu: Vec<f64>,
    /// Each group's CPU time from one `First` to the next: with pipelined
    /// rendering, one main-world update and one render-world update.
    per_frame: GroupTimes<Vec<f64>>,
    /// Each group's CPU clock at this frame's `First`.
    at_start: GroupTimes<u64>,
    threads: Option<ThreadGroups>,
    measured: u32,
}

/// Something for each group of the process's threads.
#[derive(Default)]
struct GroupTimes<T> {
    /// The main thread: the main world, then extraction into the render
    /// world (which runs here, between `Last` and the next `First`).
    main_thread: T,
    /// The render thread and the compute pool's threads, which run the
    /// render world's systems: preparing, queueing, encoding commands and
    /// submitting them (and the few parallel iterations of the main world).
    render: T,
    /// Mesa's rasterizer (`llvmpipe-N`): what a GPU does on a real machine.
    rasterizer: T,
    /// The rest: Mesa's queue thread (which hands command buffers to the
    /// rasterizer) and helpers, the stage video's decoder, audio, the
    /// link, asset loading.
    other: T,
}

/// This process's threads as CPU clock ids, by group, with their names.
struct ThreadGroups {
    clocks: GroupTimes<Vec<libc::clockid_t>>,
    names: GroupTimes<Vec<String>>,
}

impl ThreadGroups {
    /// Listed once, after the warm-up, so that timing a frame reads clocks
    /// and no files. `None` where there is no `/proc`.
    fn list() -> Option<ThreadGroups> {
        let me = std::process::id() as i32;
        let comm = |tid: i32| {
            std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
                .unwrap_or_default()
                .trim_end()
                .to_owned()
        };
        let render_thread = RENDER_THREAD.load(std::sync::atomic::Ordering::Relaxed);
        let mut groups = ThreadGroups {
            clocks: GroupTimes::default(),
            names: GroupTimes::default(),
        };
        for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let Some(tid) = entry
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<i32>().ok())
            else {
                continue;
            };
            let name = comm(tid);
            // Unnamed threads carry the process's name: the render thread
            // is found by its id, and the rest (Mesa's queue and helpers
            // among them) are "other".
            let (clocks, names) = if tid == me {
                (
                    &mut groups.clocks.main_thread,
                    &mut groups.names.main_thread,
                )
            } else if name.starts_with("llvmpipe") {
                (&mut groups.clocks.rasterizer, &mut groups.names.rasterizer)
            } else if tid == render_thread || name.starts_with("Compute Task") {
                (&mut groups.clocks.render, &mut groups.names.render)
            } else {
                (&mut groups.clocks.other, &mut groups.names.other)
            };
            clocks.push(thread_clock(tid));
            names.push(name);
        }
        if !groups.clocks.render.contains(&thread_clock(render_thread)) {
            warn!("the render thread was not found: the render world is counted elsewhere");
        }
        Some(groups)
    }

    fn now(&self) -> GroupTimes<u64> {
        GroupTimes {
            main_thread: cpu_ns(&self.clocks.main_thread),
            render: cpu_ns(&self.clocks.render),
            rasterizer: cpu_ns(&self.clocks.rasterizer),
            other: cpu_ns(&self.clocks.other),
        }
    }
}

/// The kernel's clock id for one thread's CPU time, as glibc's
/// `pthread_getcpuclockid` builds it (CPUCLOCK_SCHED | PERTHREAD).
fn thread_clock(tid: i32) -> libc::clockid_t {
    ((!tid) << 3) | 6
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

fn ms_between(from: u64, to: u64) -> f64 {
    to.saturating_sub(from) as f64 / 1e6
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
    if bench.measured == BENCH_WARMUP {
        bench.threads = ThreadGroups::list();
    }
    // Without `/proc` (no thread clocks) the wall times still come.
    let clocks = bench.threads.as_ref().map(ThreadGroups::now);
    if let Some(last) = bench.last_frame_start
        && bench.measured > BENCH_WARMUP
    {
        bench.frames.push((now - last).as_secs_f64() * 1000.0);
        if let Some(clocks) = &clocks {
            let (from, per) = (&bench.at_start, &mut bench.per_frame);
            per.main_thread
                .push(ms_between(from.main_thread, clocks.main_thread));
            per.render.push(ms_between(from.render, clocks.render));
            per.rasterizer
                .push(ms_between(from.rasterizer, clocks.rasterizer));
            per.other.push(ms_between(from.other, clocks.other));
        }
    }
    bench.last_frame_start = Some(now);
    bench.frame_start = Some(now);
    if let Some(clocks) = clocks {
        bench.at_start = clocks;
    }
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
        if let Some(threads) = &bench.threads {
            let main_thread = cpu_ns(&threads.clocks.main_thread);
            bench
                .main_world_cpu
                .push(ms_between(bench.at_start.main_thread, main_thread));
        }
    }
    if bench.frames.len() as u32 >= options.frames.max(10) {
        report(&options, bench);
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

/// What a frame costs, by thread group, against a 90 Hz headset's frame.
fn report(options: &Options, bench: &mut BenchTimes) {
    // Pipelined, the main thread and the render thread work side by side:
    // each must finish its part of a frame within the frame.
    const HEADSET_FRAME_MS: f64 = 1000.0 / 90.0;
    // The last frame's main world is timed, its whole span not yet: the
    // same frames in every row.
    let frames = bench.frames.len();
    bench.main.truncate(frames);
    bench.main_world_cpu.truncate(frames);
    println!(
        "client bench: {}x{}, {} avatars, {} products, {} frames, pipelined rendering \
         (as the showroom runs); CPU by the threads' own clocks, ms per frame:",
        options.width,
        options.height,
        options.avatars,
        options.products,
        bench.frames.len()
    );
    let row = |name: &str, v: &mut Vec<f64>| {
        let (p50, p95) = percentiles(v);
        println!("  {name:<58} p50 {p50:>8.2}  p95 {p95:>8.2}");
        p95
    };
    // The main thread's time outside the main world: extraction into the
    // render world (and what the thread picks up while it waits for the
    // render world to come back).
    let mut extraction: Vec<f64> = bench
        .per_frame
        .main_thread
        .iter()
        .zip(&bench.main_world_cpu)
        .map(|(thread, world)| (thread - world).max(0.0))
        .collect();
    row("frame (wall, First to First)", &mut bench.frames);
    row("main world (wall, First to Last)", &mut bench.main);
    let Some(threads) = &bench.threads else {
        // No figures rather than zeros that would pass a check.
        println!("  no thread CPU clocks here (no /proc): no CPU figures");
        return;
    };
    let names = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.dedup();
        v.join(", ")
    };
    let threads = format!(
        "  threads: render side {} ({}), other {} ({}; unnamed ones carry the process's name), rasterizer {}",
        threads.names.render.len(),
        names(&threads.names.render),
        threads.names.other.len(),
        names(&threads.names.other),
        threads.names.rasterizer.len()
    );
    let world = row(
        "main world (main thread CPU, First to Last)",
        &mut bench.main_world_cpu,
    );
    row(
        "extraction (main thread, Last to the next First)",
        &mut extraction,
    );
    let main = row(
        "main thread (main world + extraction)",
        &mut bench.per_frame.main_thread,
    );
    let render = row(
        "render world (render thread + compute pool)",
        &mut bench.per_frame.render,
    );
    row(
        "other threads (Mesa's queue, video, audio, link, assets)",
        &mut bench.per_frame.other,
    );
    row(
        "rasterizer (llvmpipe: a GPU's work)",
        &mut bench.per_frame.rasterizer,
    );
    println!("{threads}");
    println!(
        "  a 90 Hz headset frame is {HEADSET_FRAME_MS:.1} ms: main thread p95 {main:.2} ms ({:.0}%), \
         render world p95 {render:.2} ms ({:.0}%), main world alone p95 {world:.2} ms",
        main / HEADSET_FRAME_MS * 100.0,
        render / HEADSET_FRAME_MS * 100.0
    );
    println!("bench-figure client.main_thread_p95_ms {main:.3}");
    println!("bench-figure client.render_world_p95_ms {render:.3}");
    println!("bench-figure client.main_world_p95_ms {world:.3}");
}

fn percentiles(v: &mut [f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}
