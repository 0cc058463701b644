//! The desktop showroom: a Bevy app on top of [`crate::net`].
//!
//! Plugins, one per feature:
//! - [`session`]: sign-in, join, the game link, reconnects;
//! - [`catalog`]: the products and their models' sizes;
//! - [`room`]: floor, walls, stage, lights and product displays;
//! - [`player`]: the shopper's own body, walking and looking;
//! - [`avatars`]: everyone else, interpolated, with name tags and reactions;
//! - [`party_marks`]: party members' rings, markers to members out of view
//!   and over shared products;
//! - [`products`]: pointing, picking up, turning, putting back, dropping;
//! - [`ui`]: the view-model ([`ui::view`]) and its desktop drawing;
//! - [`voice`]: spatial voice: talk modes, the nearby / party switch,
//!   volumes and mutes, speaking rings over avatars;
//! - [`video`]: the stage screen: the slate, and the host's video and sound;
//! - [`xr`]: the same room in an OpenXR headset: hands, teleport, panels;
//! - [`offscreen`]: `--screenshot` and `--bench` without a window.
//!
//! Features depend on the session and on the vocabulary they share, never
//! on each other's resources:
//! - [`input_mode`]: desktop or XR;
//! - [`focus`]: whether a text box or a panel has the keyboard and mouse;
//! - [`readiness`]: whether the renderer still compiles pipelines;
//! - [`holding`]: pointing at and holding products (take, turn, put back,
//!   go home), which the desktop's and the XR hands' input both call.
//!
//! They read the room from [`session::Session`] and talk to the server and
//! to each other through messages: [`session::SendCommand`],
//! [`session::OutgoingPose`], [`session::SessionRequest`],
//! [`session::RoomChangeMessage`], [`room::DisplaysRebuilt`],
//! [`player::WalkTo`] and [`ui::UiAction`] (docs/ARCHITECTURE.md has the
//! recipe for a new one).

// Bevy systems take what they touch as parameters, and queries spell out
// their filters: both lints fire on ordinary systems.
#![allow(clippy::too_many_arguments, clippy::type_complexity)]

pub mod avatars;
pub mod catalog;
pub mod focus;
pub mod holding;
pub mod input_mode;
pub mod models;
pub mod offscreen;
pub mod party_marks;
pub mod player;
pub mod products;
pub mod readiness;
pub mod room;
pub mod session;
pub mod ui;
pub mod video;
pub mod voice;
pub mod xr;

use bevy::prelude::*;
use bevy::window::{ExitCondition, WindowResolution};
use bevy::winit::WinitPlugin;
use bevy_rapier3d::prelude::*;
use clap::Parser;
use std::path::PathBuf;

/// `vitrine`: the showroom.
#[derive(Parser, Resource, Debug, Clone, Default)]
#[command(name = "vitrine", version, about = "Vitrine's 3D showroom")]
pub struct Options {
    /// The server's HTTP root. Without it the start screen asks; with
    /// `--screenshot` or `--bench` and no server, the room is rendered from
    /// the local catalog with nobody in it.
    #[arg(long, env = "VITRINE_SERVER")]
    pub server: Option<String>,
    /// Your display name; with `--server` and `--room`, joins at once.
    #[arg(long)]
    pub name: Option<String>,
    /// The room to join.
    #[arg(long)]
    pub room: Option<String>,
    /// Render offscreen (no window), save the picture here and exit.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Frames to render before the screenshot is taken, once the room is
    /// in and every shader is compiled (`--bench`: frames to measure).
    #[arg(long, default_value_t = 10)]
    pub frames: u32,
    /// Picture size for `--screenshot` and `--bench`.
    #[arg(long, default_value_t = 1280)]
    pub width: u32,
    #[arg(long, default_value_t = 720)]
    pub height: u32,
    /// Run in the room offscreen, with no window and no screenshot (tests,
    /// and demos on machines without a display).
    #[arg(long)]
    pub headless: bool,
    /// Measure frame times offscreen and print them (`cargo xtask bench client`).
    #[arg(long)]
    pub bench: bool,
    /// Bench: simulated shoppers walking about.
    #[arg(long, default_value_t = 24)]
    pub avatars: usize,
    /// Bench: product displays (the catalog repeated to this many).
    #[arg(long, default_value_t = 40)]
    pub products: usize,
    /// Where the catalog and models are; defaults to the repository's `assets/`.
    #[arg(long, env = "VITRINE_ASSETS")]
    pub assets: Option<PathBuf>,
    /// Play this URI on the stage screen (any URI GStreamer reads: `srt://`,
    /// an HLS `http://…m3u8`, `file://`) instead of the room's stream.
    #[arg(long)]
    pub video: Option<String>,
    /// Start in an OpenXR headset, and fail if there is none. By default
    /// the showroom tries the headset and falls back to the desktop.
    #[arg(long)]
    pub xr: bool,
    /// Never try the headset.
    #[arg(long)]
    pub no_xr: bool,
    /// XR seated mode: eyes lifted to standing height.
    #[arg(long)]
    pub seated: bool,
    /// XR: no vignette while teleporting and turning.
    #[arg(long)]
    pub no_vignette: bool,
    /// XR passthrough AR, where the runtime blends with the real world:
    /// the room is hidden and what you hold shows at its real size.
    #[arg(long)]
    pub ar: bool,
    /// Where the showroom keeps its settings (the voice choices). Default:
    /// the user's config directory (`~/.config/vitrine`); offscreen runs
    /// keep nothing unless given one.
    #[arg(long, env = "VITRINE_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,
    /// XR interactions from synthetic poses, without a headset (tests).
    #[arg(long, hide = true)]
    pub xr_simulated: bool,
}

impl Options {
    pub fn offscreen(&self) -> bool {
        self.screenshot.is_some() || self.bench || self.headless
    }

    pub fn assets_dir(&self) -> PathBuf {
        if let Some(dir) = &self.assets {
            return dir.clone();
        }
        let dev = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets"));
        if dev.is_dir() {
            return dev;
        }
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|d| d.join("assets")))
            .filter(|d| d.is_dir())
            .unwrap_or_else(|| PathBuf::from("assets"))
    }
}

/// The screens.
#[derive(States, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AppState {
    /// Name, server and the room list.
    #[default]
    Start,
    /// Signing in, joining and waiting for the room's welcome.
    Connecting,
    /// In the room (also while reconnecting: the room stays on screen).
    Showroom,
}

/// The frame's order: read the network, build what it says, then input,
/// then the world, then what is drawn and sent.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShowroomSystems {
    Receive,
    /// The room builds (or rebuilds) its displays from the catalog and the
    /// mirror, so every feature after sees this frame's models (and the
    /// [`room::DisplaysRebuilt`] message when they changed).
    Build,
    Input,
    Simulate,
    Present,
    Send,
}

/// Puts the [`ShowroomSystems`] in their order, each frame and on entering
/// the room (where the room is measured and built, `Build`, before the
/// features that place things by it) (single-app tests use it too).
pub fn order_systems(app: &mut App) {
    let order = || {
        (
            ShowroomSystems::Receive,
            ShowroomSystems::Build,
            ShowroomSystems::Input,
            ShowroomSystems::Simulate,
            ShowroomSystems::Present,
            ShowroomSystems::Send,
        )
            .chain()
    };
    app.configure_sets(Update, order())
        .configure_sets(OnEnter(AppState::Showroom), order());
}

/// Waits for the renderer to come up and finishes the app's plugins, so a
/// test can step it with `update()` (what `run()` does first).
pub fn ready_to_step(app: &mut App) {
    use bevy::app::PluginsState;
    while app.plugins_state() == PluginsState::Adding {
        bevy::tasks::tick_global_task_pools_on_main_thread();
        std::thread::yield_now();
    }
    app.finish();
    app.cleanup();
}

/// Runs the showroom as the command line asks; the `vitrine` binary's main.
pub fn main() {
    let options = Options::parse();
    let start = match xr::decide(&options, xr::probe) {
        Ok(start) => start,
        Err(e) => {
            eprintln!("vitrine: {e}");
            std::process::exit(2);
        }
    };
    if let Some(note) = &start.note {
        eprintln!("{note}");
    }
    let exit = build_app_for(options, start.mode).run();
    if let AppExit::Error(code) = exit {
        std::process::exit(code.get() as i32);
    }
}

/// The whole app, windowed or offscreen, ready to `run()` or to step with
/// `update()` (tests do). It never looks for a headset: `--xr-simulated`
/// gives XR interactions on synthetic poses, anything else the desktop.
pub fn build_app(options: Options) -> App {
    let mode = if options.xr_simulated {
        input_mode::XrMode::Simulated
    } else {
        input_mode::XrMode::Desktop
    };
    build_app_for(options, mode)
}

/// The app for a mode [`xr::decide`] chose.
pub fn build_app_for(options: Options, mode: input_mode::XrMode) -> App {
    let mut app = App::new();
    app.insert_resource(mode);
    let assets = options.assets_dir();
    let asset_plugin = AssetPlugin {
        file_path: assets.to_string_lossy().into_owned(),
        ..default()
    };
    // Vulkan only (lavapipe where there is no GPU): bevy_mod_openxr's wgpu
    // brings the GL backend too, which would only try EGL and log its
    // failure. `WGPU_BACKEND` still overrides.
    let render = bevy::render::RenderPlugin {
        render_creation: bevy::render::settings::WgpuSettings {
            backends: Some(
                bevy::render::settings::Backends::from_env()
                    .unwrap_or(bevy::render::settings::Backends::VULKAN),
            ),
            ..default()
        }
        .into(),
        ..default()
    };
    // renetcode logs an ERROR for every datagram it cannot decode: on a
    // lossy link that is each duplicate (its replay protection refuses it),
    // a line per packet that says nothing a shopper or we can act on. The
    // link's real failures still show: a lost connection is reported with
    // its reason by the room client.
    let log = bevy::log::LogPlugin {
        filter: format!("{},renetcode::client=off", bevy::log::DEFAULT_FILTER),
        ..default()
    };
    let defaults = DefaultPlugins.set(asset_plugin).set(render).set(log);
    if options.offscreen() {
        // No window and no event loop: the camera renders into an image and
        // the app is stepped as fast as it renders.
        app.add_plugins(
            defaults
                .set(WindowPlugin {
                    primary_window: None,
                    exit_condition: ExitCondition::DontExit,
                    close_when_requested: false,
                    ..default()
                })
                .disable::<WinitPlugin>(),
        )
        // With the window plugin in the group, the runner is not: add it.
        // Pictures and benchmarks run flat out; a headless shopper keeps
        // to 60 frames a second instead of spinning a core.
        .add_plugins(bevy::app::ScheduleRunnerPlugin::run_loop(
            if options.headless && !options.bench && options.screenshot.is_none() {
                std::time::Duration::from_secs_f64(1.0 / 60.0)
            } else {
                std::time::Duration::ZERO
            },
        ));
    } else {
        let defaults = defaults.set(WindowPlugin {
            primary_window: Some(Window {
                title: "Vitrine".into(),
                resolution: WindowResolution::new(options.width, options.height),
                ..default()
            }),
            ..default()
        });
        match mode {
            // The headset renders the room; the window mirrors it.
            #[cfg(feature = "xr")]
            input_mode::XrMode::Headset => {
                xr::runtime::configure(&mut app, &options);
                app.add_plugins(bevy_mod_openxr::add_xr_plugins(defaults));
            }
            _ => {
                app.add_plugins(defaults);
            }
        }
    }
    app.add_plugins(RapierPhysicsPlugin::<NoUserData>::default())
        // Physics keeps to real time down to 20 frames a second (a software
        // renderer), in steps no longer than 1/60 s.
        .insert_resource(TimestepMode::Variable {
            max_dt: 1.0 / 20.0,
            time_scale: 1.0,
            substeps: 3,
        })
        .insert_state(session::first_screen(&options));
    order_systems(&mut app);
    app.insert_resource(options.clone())
        .insert_resource(ClearColor(Color::srgb(0.05, 0.05, 0.07)))
        .add_plugins((
            session::plugin,
            readiness::plugin,
            catalog::plugin,
            room::plugin,
            player::plugin,
            avatars::plugin,
            party_marks::plugin,
            products::plugin,
            ui::plugin,
            video::plugin,
            voice::plugin,
            offscreen::plugin,
            xr::plugin,
        ));
    // The main world's systems are many and small: handing each to a task
    // pool costs more than it saves. Measured with `cargo xtask bench
    // client`, the single-threaded executor halves their CPU time per frame
    // (docs/BENCHMARKS.md). The render world keeps its parallel executor.
    for (_, schedule) in app.world_mut().resource_mut::<Schedules>().iter_mut() {
        schedule.set_executor(bevy::ecs::schedule::SingleThreadedExecutor::new());
    }
    app
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::state::app::StatesPlugin;

    #[derive(Resource, Default)]
    struct Ran(Vec<&'static str>);

    #[test]
    fn entering_the_room_keeps_the_frames_order() {
        // Added either way round: only the sets put the room's build first
        // (unordered, the executor runs them as it likes).
        for screen_first in [false, true] {
            let mut app = App::new();
            app.add_plugins((MinimalPlugins, StatesPlugin))
                .init_resource::<Ran>()
                .insert_state(AppState::Showroom);
            order_systems(&mut app);
            let room = |mut ran: ResMut<Ran>| ran.0.push("room");
            let screen = |mut ran: ResMut<Ran>| ran.0.push("screen");
            let enter = || OnEnter(AppState::Showroom);
            if screen_first {
                app.add_systems(enter(), screen.in_set(ShowroomSystems::Present))
                    .add_systems(enter(), room.in_set(ShowroomSystems::Build));
            } else {
                app.add_systems(enter(), room.in_set(ShowroomSystems::Build))
                    .add_systems(enter(), screen.in_set(ShowroomSystems::Present));
            }
            app.update();
            assert_eq!(app.world().resource::<Ran>().0, ["room", "screen"]);
        }
    }
}
