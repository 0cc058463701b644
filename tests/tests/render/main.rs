//! The tests that render: the showroom and XR apps stepped offscreen on
//! lavapipe. Built only with the `render` feature, so the other tests link
//! without Bevy's renderer and OpenXR (`cargo test -p vitrine-tests
//! --features render --test render`). Below, what both step their app with.

mod party;
mod showroom;
mod voice;
mod xr;

use bevy::prelude::*;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use vitrine_client::net::NetClient;
use vitrine_client::showroom::offscreen::scene_ready;
use vitrine_client::showroom::player::LocalPlayer;
use vitrine_client::showroom::room::ProductDisplay;
use vitrine_client::showroom::session::{LinkState, Session};
use vitrine_client::showroom::{Options, build_app, ready_to_step};
use vitrine_tests::{TestServer, pump, step_until};

/// One renderer at a time: lavapipe shares the machine's two cores.
static RENDERER: Mutex<()> = Mutex::new(());

/// Holds the renderer for one test (a test that failed holding it does
/// not stop the others).
fn one_renderer() -> MutexGuard<'static, ()> {
    RENDERER.lock().unwrap_or_else(|e| e.into_inner())
}

/// The desktop showroom of `name` in the server's hall, headless.
fn showroom(server: &TestServer, name: &str, width: u32, height: u32) -> App {
    launch(server, name, width, height, false)
}

/// The showroom of `name` with a simulated headset (`--xr-simulated`).
fn headset(server: &TestServer, name: &str, width: u32, height: u32) -> App {
    launch(server, name, width, height, true)
}

fn launch(server: &TestServer, name: &str, width: u32, height: u32, xr_simulated: bool) -> App {
    let mut app = build_app(Options {
        server: Some(server.url()),
        name: Some(name.into()),
        room: Some("hall".into()),
        headless: true,
        width,
        height,
        xr_simulated,
        ..Default::default()
    });
    ready_to_step(&mut app);
    app
}

/// Steps the app and the bots until `done`, for at most `cap`.
fn step(
    app: &mut App,
    bots: &mut [&mut NetClient],
    cap: Duration,
    mut done: impl FnMut(&mut App, &mut [&mut NetClient]) -> bool,
) -> bool {
    step_until(cap, || {
        app.update();
        pump(bots);
        done(app, bots)
    })
}

/// `n` frames of the app, the bots kept alive.
fn frames(app: &mut App, bots: &mut [&mut NetClient], n: usize) {
    for _ in 0..n {
        app.update();
        pump(bots);
    }
}

/// In the room, placed, with every display built and every model loaded.
fn in_the_room(app: &mut App) -> bool {
    let world = app.world_mut();
    let placed = world
        .query::<&LocalPlayer>()
        .iter(world)
        .next()
        .is_some_and(|p| p.placed());
    let displays = world.query::<&ProductDisplay>().iter(world).count();
    let connected = world.resource::<Session>().link == LinkState::Connected;
    placed && connected && displays > 0 && scene_ready(world)
}

/// The local player's body.
fn body(app: &mut App) -> Transform {
    let world = app.world_mut();
    *world
        .query_filtered::<&Transform, With<LocalPlayer>>()
        .single(world)
        .expect("the player")
}

/// Stands the body 1.3 m before a display, facing it, like a shopper
/// walking up to it (the test's setup, not what it checks). Returns the
/// way from where it stands to the display's model.
fn stand_before(app: &mut App, display: &ProductDisplay) -> Vec3 {
    let model = display.home.translation;
    let outward = (display.home.rotation * Vec3::NEG_Z)
        .with_y(0.0)
        .normalize();
    let world = app.world_mut();
    let mut q = world.query_filtered::<&mut Transform, With<LocalPlayer>>();
    let mut t = q.single_mut(world).expect("the player");
    let stand = model + outward * 1.3;
    t.translation = Vec3::new(stand.x, t.translation.y, stand.z);
    let look = model - stand;
    t.rotation = Quat::from_rotation_y(f32::atan2(-look.x, -look.z));
    look
}
