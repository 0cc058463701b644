//! The showroom for real: Bevy rendering offscreen on Mesa's lavapipe, in
//! one process with a real server and bots over loopback UDP. The pictures
//! are read back and checked where the stage, the displays and the avatars
//! are expected; products are picked up and put back with the keys a
//! shopper presses, and other clients see it.

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use vitrine_client::net::NetClient;
use vitrine_client::showroom::Options;
use vitrine_client::showroom::holding::{Hands, Pointer};
use vitrine_client::showroom::offscreen::{Capture, ScreenReport, capture_now};
use vitrine_client::showroom::player::LocalPlayer;
use vitrine_client::showroom::room::{DisplayedProduct, ProductDisplay};
use vitrine_client::showroom::session::{LinkState, Session};
use vitrine_client::showroom::ui::view::{ReviewPrompt, SaleState};
use vitrine_client::showroom::ui::{CurrentView, UiAction};
use vitrine_client::showroom::video::{StageVideo, VideoStatus};
use vitrine_media::publish::{PublishOptions, Publisher, Source};
use vitrine_shared::Role;
use vitrine_shared::{MemberSlot, PoseNet};
use vitrine_tests::{
    Http, TestServer, joined_client, now_ms, pump, step_until, update_docs_picture,
};

use crate::{body, frames, in_the_room, one_renderer, showroom, stand_before, step};

fn session(app: &App) -> &Session {
    app.world().resource::<Session>()
}

fn my_slot(app: &App) -> Option<MemberSlot> {
    session(app).mirror().and_then(|m| m.you)
}

/// A key going down or up, as the window would report it, for one frame.
/// The watcher is pumped too: a client left unread for the server's timeout
/// (10 s, a few slow frames at this size) is dropped.
fn key(app: &mut App, watcher: &mut NetClient, key: KeyCode, text: &str, state: ButtonState) {
    app.world_mut().write_message(KeyboardInput {
        key_code: key,
        logical_key: Key::Character(text.into()),
        state,
        text: None,
        repeat: false,
        window: Entity::PLACEHOLDER,
    });
    frames(app, &mut [watcher], 1);
}

pub(crate) fn press(app: &mut App, watcher: &mut NetClient, code: KeyCode, text: &str) {
    key(app, watcher, code, text, ButtonState::Pressed);
    key(app, watcher, code, text, ButtonState::Released);
}

/// The median colour of the 5×5 pixels around `at`, as sRGB 0–255.
pub(crate) fn colour_at(image: &Image, at: Vec2) -> [u8; 3] {
    let (w, h) = (image.width() as i32, image.height() as i32);
    let mut channels: [Vec<u8>; 3] = Default::default();
    for dy in -2..=2 {
        for dx in -2..=2 {
            let x = (at.x as i32 + dx).clamp(0, w - 1) as u32;
            let y = (at.y as i32 + dy).clamp(0, h - 1) as u32;
            let c = image.get_color_at(x, y).expect("pixel").to_srgba();
            for (i, v) in [c.red, c.green, c.blue].into_iter().enumerate() {
                channels[i].push((v * 255.0).round() as u8);
            }
        }
    }
    channels.map(|mut c| {
        c.sort();
        c[c.len() / 2]
    })
}

pub(crate) fn hue_and_saturation(rgb: [u8; 3]) -> (f32, f32) {
    let hsla = Hsla::from(Color::srgb_u8(rgb[0], rgb[1], rgb[2]));
    (hsla.hue, hsla.saturation)
}

pub(crate) fn save(image: &Image, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(name);
    image
        .clone()
        .try_into_dynamic()
        .expect("a readable picture")
        .to_rgb8()
        .save(&path)
        .expect("saved");
    update_docs_picture(&path, name);
    path
}

/// Asks for a picture of the next frame, steps until it comes back, and
/// saves it as `name` (see [`save`]).
pub(crate) fn take_picture(app: &mut App, bots: &mut [&mut NetClient], name: &str) -> Image {
    // A picture left from before is not this one.
    app.world_mut().resource_mut::<Capture>().image = None;
    capture_now(app.world_mut());
    assert!(
        step(app, bots, Duration::from_secs(60), |app, _| {
            app.world().resource::<Capture>().image.is_some()
        }),
        "no picture came back for {name}"
    );
    let image = app
        .world_mut()
        .resource_mut::<Capture>()
        .image
        .take()
        .expect("the picture");
    save(&image, name);
    image
}

/// Walks a bot to `to` at walking speed (the server refuses teleports).
pub(crate) fn walk_towards(bot: &mut NetClient, pose: &mut PoseNet, to: Vec3, dt: f32) -> bool {
    let at = Vec3::from_array(pose.position);
    let gap = (to - at).with_y(0.0);
    let step = 3.0 * dt;
    let next = if gap.length() <= step {
        to
    } else {
        at + gap.normalize() * step
    };
    pose.position = next.to_array();
    // Face the camera (south, +Z).
    pose.yaw = 0.0;
    bot.send_pose(*pose);
    gap.length() <= step
}

#[test]
fn the_room_renders_with_three_bots_the_stage_and_the_catalog() {
    let _one = one_renderer();
    let server = TestServer::start();
    let mut bots: Vec<NetClient> = ["Ada", "Bo", "Cyd"]
        .iter()
        .map(|n| joined_client(&server, n, "hall"))
        .collect();
    let mut app = showroom(&server, "Camera", 960, 540);
    let mut refs: Vec<&mut NetClient> = bots.iter_mut().collect();
    assert!(
        step(&mut app, &mut refs, Duration::from_secs(120), |app, _| {
            in_the_room(app)
        }),
        "the showroom never got into the room: {:?}",
        session(&app).link
    );

    // The bots walk to stand in a row in front of the camera.
    let me = session(&app)
        .mirror()
        .and_then(|m| m.spawn)
        .expect("our spawn");
    let eye = Vec3::from_array(me.position);
    let targets: Vec<Vec3> = [-1.6f32, 0.0, 1.6]
        .iter()
        .map(|x| eye + Vec3::new(*x, 0.0, -4.0))
        .collect();
    let mut poses: Vec<PoseNet> = bots
        .iter()
        .map(|b| b.mirror().spawn.expect("bot spawn"))
        .collect();
    let slots: Vec<MemberSlot> = bots.iter().map(|b| b.mirror().you.unwrap()).collect();
    // At walking pace by the real clock: fast frames must not make them
    // faster than the server allows, and slow ones (lavapipe on a loaded
    // machine) must not make the walk take hundreds of frames.
    let mut last = std::time::Instant::now();
    let arrived = step_until(Duration::from_secs(90), || {
        let dt = last.elapsed().as_secs_f32().min(0.25);
        last = std::time::Instant::now();
        let mut all = true;
        for ((bot, pose), to) in bots.iter_mut().zip(&mut poses).zip(&targets) {
            all &= walk_towards(bot, pose, *to, dt);
        }
        pump(&mut bots.iter_mut().collect::<Vec<_>>());
        app.update();
        // Arrived when the showroom shows them there.
        all && slots.iter().zip(&targets).all(|(slot, to)| {
            session(&app)
                .mirror()
                .and_then(|m| m.avatars.get(slot))
                .is_some_and(|p| Vec3::from_array(p.position).distance(*to) < 0.05)
        })
    });
    assert!(arrived, "the bots never reached their marks");
    // The host goes live, features the tote and announces a flash sale:
    // the room shows the marker, the countdown and the live title.
    let http = Http::new(&server);
    let host = server.sign_in_as("host", Role::Host);
    let call = |method: &str, path: &str, body: serde_json::Value| {
        let (status, answer) = http.call(method, path, Some(&host), None, Some(body));
        assert!(status < 300, "{method} {path}: {status} {answer}");
    };
    call(
        "POST",
        "/api/v1/shows",
        json!({"title": "Spring drop, live", "lineup": []}),
    );
    call(
        "PUT",
        "/api/v1/shows/current/featured",
        json!({"products": ["canvas-tote"]}),
    );
    call(
        "POST",
        "/api/v1/flash-sales",
        json!({"sku": "glow-serum-30ml", "sale_price_minor": 1490, "currency": "EUR",
               "quantity": 20, "per_buyer_limit": 1, "countdown_secs": 60, "duration_secs": 120}),
    );
    let mut refs: Vec<&mut NetClient> = bots.iter_mut().collect();
    assert!(
        step(&mut app, &mut refs, Duration::from_secs(20), |app, _| {
            let view = &app.world().resource::<CurrentView>().0;
            view.show.is_some() && !view.featured.is_empty() && !view.flash_sales.is_empty()
        }),
        "the show never reached the screen: {:?}",
        app.world().resource::<CurrentView>().0
    );
    let view = app.world().resource::<CurrentView>().0.clone();
    assert_eq!(view.show.as_deref(), Some("Spring drop, live"));
    assert_eq!(view.featured[0].name, "Everyday Canvas Tote");
    assert!(matches!(view.flash_sales[0].state, SaleState::Upcoming(s) if s > 0 && s <= 60));
    assert_eq!(view.flash_sales[0].units_left, 20);

    // Let interpolation catch up, then take the picture.
    for _ in 0..20 {
        app.update();
        pump(&mut bots.iter_mut().collect::<Vec<_>>());
    }
    capture_now(app.world_mut());
    let mut refs: Vec<&mut NetClient> = bots.iter_mut().collect();
    assert!(
        step(&mut app, &mut refs, Duration::from_secs(60), |app, _| {
            app.world().resource::<Capture>().image.is_some()
        }),
        "no picture came back"
    );
    let capture = app.world().resource::<Capture>();
    let image = capture.image.clone().unwrap();
    let report: ScreenReport = capture.report.clone().unwrap();
    let path = save(&image, "showroom-room.png");
    println!("picture: {} ({report:?})", path.display());

    // Not blank: many colours and real contrast.
    let mut lumas = Vec::new();
    let mut colours = std::collections::HashSet::new();
    for y in (0..image.height()).step_by(4) {
        for x in (0..image.width()).step_by(4) {
            let c = image.get_color_at(x, y).unwrap().to_srgba();
            lumas.push(0.2126 * c.red + 0.7152 * c.green + 0.0722 * c.blue);
            colours.insert((
                (c.red * 15.0) as u8,
                (c.green * 15.0) as u8,
                (c.blue * 15.0) as u8,
            ));
        }
    }
    let mean = lumas.iter().sum::<f32>() / lumas.len() as f32;
    let spread =
        (lumas.iter().map(|l| (l - mean).powi(2)).sum::<f32>() / lumas.len() as f32).sqrt();
    assert!(spread > 0.08, "the picture is flat: luma σ {spread}");
    assert!(colours.len() > 60, "only {} colours", colours.len());

    // The stage screen: where expected, showing the slate (deep blue with
    // white lettering).
    let (centre, corners) = report.stage_screen.expect("the stage screen is in view");
    let (w, h) = (image.width() as f32, image.height() as f32);
    for c in corners {
        assert!(
            c.x >= 0.0 && c.y >= 0.0 && c.x < w && c.y < h,
            "screen corner {c} off the picture"
        );
    }
    assert!(
        centre.y < h * 0.5,
        "the screen should be high in the view: {centre}"
    );
    let inset = |a: Vec2, b: Vec2| a + (b - a) * 0.08;
    for corner in corners {
        let rgb = colour_at(&image, inset(corner, centre));
        assert!(
            rgb[2] > rgb[0] + 15 && rgb[2] > rgb[1] + 10,
            "the slate's blue is missing near {corner}: {rgb:?}"
        );
    }
    let (left, right) = (
        corners[0].x.min(corners[3].x),
        corners[1].x.max(corners[2].x),
    );
    let (top, bottom) = (
        corners[0].y.min(corners[1].y),
        corners[2].y.max(corners[3].y),
    );
    let mut bright = 0;
    let mut total = 0;
    for y in (top as u32..bottom as u32).step_by(2) {
        for x in (left as u32..right as u32).step_by(2) {
            let c = image.get_color_at(x, y).unwrap().to_srgba();
            total += 1;
            if c.red > 0.8 && c.green > 0.8 && c.blue > 0.8 {
                bright += 1;
            }
        }
    }
    assert!(
        bright * 200 > total,
        "no lettering on the slate ({bright} of {total})"
    );

    // Displays: at least four in view, each plinth a light stone colour.
    assert!(
        report.displays.len() >= 4,
        "displays in view: {:?}",
        report.displays
    );
    // (The floor behind them is a saturated brown; stone is a grey.) A
    // display behind an avatar is hidden, as it should be: skip those.
    let behind_someone = |at: &Vec2| {
        report
            .avatars
            .iter()
            .any(|(_, a, _)| (a.x - at.x).abs() < 50.0)
    };
    let clear: Vec<_> = report
        .displays
        .iter()
        .filter(|(_, _, p)| !behind_someone(p))
        .collect();
    assert!(clear.len() >= 4, "displays in clear view: {clear:?}");
    for (product, _, plinth) in clear {
        let rgb = colour_at(&image, *plinth);
        let stone = Hsla::from(Color::srgb_u8(rgb[0], rgb[1], rgb[2]));
        assert!(
            stone.saturation < 0.25 && stone.lightness > 0.2,
            "{product}'s plinth at {plinth} is {rgb:?}"
        );
    }
    let floor = colour_at(&image, Vec2::new(w / 2.0, h - 4.0));
    let floor = Hsla::from(Color::srgb_u8(floor[0], floor[1], floor[2]));
    assert!(
        floor.saturation >= 0.25,
        "the floor should tell apart from stone: {floor:?}"
    );

    // The three bots: each in view, its body in its own colour.
    for name in ["Ada", "Bo", "Cyd"] {
        let (_, at, colour) = report
            .avatars
            .iter()
            .find(|(n, ..)| n == name)
            .unwrap_or_else(|| panic!("{name} is not in view: {:?}", report.avatars));
        let rgb = colour_at(&image, *at);
        let (hue, saturation) = hue_and_saturation(rgb);
        let want = Hsla::from(*colour).hue;
        let off = (hue - want).abs().min(360.0 - (hue - want).abs());
        assert!(
            saturation > 0.2 && off < 30.0,
            "{name} at {at}: {rgb:?} (hue {hue}, want {want})"
        );
    }

    // The host opens a poll: the shopper votes from the room's own button,
    // two bots vote too, and the panel shows the live results, the
    // shopper's choice as a gold bar across the panel.
    let (status, opened) = http.call(
        "POST",
        "/api/v1/polls",
        Some(&host),
        None,
        Some(
            json!({"question": "Which colour next?", "options": ["Sage", "Rust"],
                    "duration_secs": 300}),
        ),
    );
    assert_eq!(status, 201, "{opened}");
    let live = |app: &App| app.world().resource::<CurrentView>().0.live.clone();
    let mut vote = None;
    let mut refs: Vec<&mut NetClient> = bots.iter_mut().collect();
    assert!(
        step(&mut app, &mut refs, Duration::from_secs(20), |app, _| {
            vote = live(app)
                .poll
                .and_then(|p| p.options.first().and_then(|o| o.vote.clone()));
            vote.is_some()
        }),
        "the poll never reached the room: {:?}",
        live(&app)
    );
    let poll_id = live(&app).poll.unwrap().id;
    app.world_mut().write_message(vote.unwrap().action);
    for (bot, option) in bots.iter_mut().zip([0u8, 1]) {
        bot.send_command(vitrine_shared::RoomCommand::Vote { poll_id, option });
    }
    let mut refs: Vec<&mut NetClient> = bots.iter_mut().collect();
    assert!(
        step(&mut app, &mut refs, Duration::from_secs(20), |app, _| {
            live(app).poll.is_some_and(|p| p.votes == 3)
        }),
        "the results never showed three votes: {:?}",
        live(&app).poll
    );
    let poll = live(&app).poll.unwrap();
    let shares: Vec<(u32, u8, bool)> = poll
        .options
        .iter()
        .map(|o| (o.count, o.percent, o.yours))
        .collect();
    assert_eq!(shares, [(2, 67, true), (1, 33, false)]);
    assert!(poll.options.iter().all(|o| o.vote.is_none()));
    let mut refs: Vec<&mut NetClient> = bots.iter_mut().collect();
    let image = take_picture(&mut app, &mut refs, "showroom-poll.png");
    // The gold bar: a long run of gold in one row of the panel at the top
    // right (text never makes a run that long).
    let gold = |x: u32, y: u32| {
        let c = image.get_color_at(x, y).unwrap().to_srgba();
        c.red > 0.9 && (0.7..0.9).contains(&c.green) && c.blue < 0.5
    };
    let longest = (0..image.height())
        .map(|y| {
            let (mut run, mut best) = (0, 0);
            for x in image.width() / 2..image.width() {
                run = if gold(x, y) { run + 1 } else { 0 };
                best = best.max(run);
            }
            best
        })
        .max()
        .unwrap_or(0);
    assert!(
        longest >= 120,
        "no gold bar for the vote: longest run {longest} px"
    );
}

/// Stands before a display and looks down at its model, as a desktop
/// shopper would (the test's setup, not what it checks).
fn face_display(app: &mut App, display: &ProductDisplay) {
    let look = stand_before(app, display);
    let world = app.world_mut();
    let mut q = world.query::<(&Transform, &mut LocalPlayer)>();
    let (t, mut player) = q.single_mut(world).expect("the player");
    let eye_y = t.translation.y + 0.7;
    player.pitch = f32::atan2(
        display.home.translation.y - eye_y,
        look.with_y(0.0).length(),
    );
}

#[test]
fn a_product_picked_up_and_put_back_with_the_keys_is_seen_by_others() {
    let _one = one_renderer();
    let server = TestServer::start();
    let mut watcher = joined_client(&server, "Watcher", "hall");
    let mut app = showroom(&server, "Shopper", 960, 540);
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(120),
            |app, _| in_the_room(app)
        ),
        "the showroom never got into the room: {:?}",
        session(&app).link
    );
    let me = my_slot(&app).expect("our slot");

    // Walk up to a display standing on a plinth.
    let display = {
        let world = app.world_mut();
        world
            .query::<&ProductDisplay>()
            .iter(world)
            .find(|d| d.home.translation.y > 0.9)
            .cloned()
            .expect("a display")
    };
    let product = display.product.clone();
    face_display(&mut app, &display);
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(10),
            |app, _| {
                app.world()
                    .resource::<Pointer>()
                    .hovered
                    .as_ref()
                    .is_some_and(|(p, _)| p == &display.product)
            }
        ),
        "the pointer never found {}",
        display.product
    );

    // E picks it up: it rides in our hands and the watcher sees us hold it.
    press(&mut app, &mut watcher, KeyCode::KeyE, "e");
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(10),
            |_, bots| { bots[0].mirror().held.get(&product) == Some(&me) }
        ),
        "the watcher never saw {product} held: {:?}",
        watcher.mirror().held
    );
    let model_at = |app: &mut App| {
        let world = app.world_mut();
        world
            .query::<(&DisplayedProduct, &Transform)>()
            .iter(world)
            .find(|(d, _)| d.product == display.product)
            .map(|(_, t)| t.translation)
            .unwrap()
    };
    assert!(app.world().resource::<Hands>().held.is_some());
    frames(&mut app, &mut [&mut watcher], 10);
    assert!(
        model_at(&mut app).distance(display.home.translation) > 0.3,
        "the product should have left its display"
    );
    // F brings it close to look at; the card says we hold it; a picture of
    // that for the docs.
    press(&mut app, &mut watcher, KeyCode::KeyF, "f");
    let close = app
        .world()
        .resource::<Hands>()
        .held
        .as_ref()
        .map(|h| h.close);
    assert_eq!(close, Some(true), "F should bring the product close");
    frames(&mut app, &mut [&mut watcher], 10);
    let card = app.world().resource::<CurrentView>().0.card.clone();
    assert!(
        card.as_ref()
            .is_some_and(|c| c.holding && c.product == display.product),
        "the card should show {} in hand: {card:?}",
        display.product
    );
    take_picture(&mut app, &mut [&mut watcher], "showroom-holding.png");
    press(&mut app, &mut watcher, KeyCode::KeyF, "f");

    // E again puts it back: home on its display, and the watcher sees it.
    assert!(
        app.world().resource::<Hands>().held.is_some(),
        "still in hand before E: link {:?}, watcher sees {:?}",
        session(&app).link,
        watcher.mirror().held
    );
    press(&mut app, &mut watcher, KeyCode::KeyE, "e");
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(10),
            |_, bots| { !bots[0].mirror().held.contains_key(&product) }
        ),
        "the watcher never saw {product} put back; the showroom says {:?}, holds {:?}",
        (
            watcher.is_connected(),
            watcher.disconnect_reason(),
            watcher.mirror().held.clone()
        ),
        app.world().resource::<Hands>().held
    );
    assert!(app.world().resource::<Hands>().held.is_none());
    assert!(model_at(&mut app).distance(display.home.translation) < 0.01);

    // E, then S held to step back from the display (the rapier character
    // walks), then G drops it: it falls, settles on the floor, and the
    // watcher sees where it lies.
    press(&mut app, &mut watcher, KeyCode::KeyE, "e");
    assert!(step(
        &mut app,
        &mut [&mut watcher],
        Duration::from_secs(10),
        |_, bots| { bots[0].mirror().held.get(&product) == Some(&me) }
    ));
    let from = body(&mut app).translation;
    key(
        &mut app,
        &mut watcher,
        KeyCode::KeyS,
        "s",
        ButtonState::Pressed,
    );
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(20),
            |app, _| { body(app).translation.distance(from) > 1.2 }
        ),
        "holding S never walked the shopper back"
    );
    key(
        &mut app,
        &mut watcher,
        KeyCode::KeyS,
        "s",
        ButtonState::Released,
    );
    press(&mut app, &mut watcher, KeyCode::KeyG, "g");
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(20),
            |_, bots| { bots[0].mirror().dropped.contains_key(&product) }
        ),
        "the watcher never saw {product} dropped; the showroom says {:?}, its model is at {}",
        app.world().resource::<CurrentView>().0.notice.clone(),
        model_at(&mut app)
    );
    let lies = Vec3::from_array(watcher.mirror().dropped[&product]);
    assert!(lies.y < 0.6, "a dropped product rests low, not at {lies}");
    assert!(model_at(&mut app).distance(lies) < 0.2);

    // The link drops: the showroom says so, rejoins by itself, and the
    // watcher sees the shopper leave and come back.
    app.world_mut()
        .resource_mut::<Session>()
        .net
        .as_mut()
        .expect("connected")
        .disconnect();
    let mut saw_banner = false;
    let mut saw_leave = false;
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(30),
            |app, bots| {
                let view = &app.world().resource::<CurrentView>().0;
                saw_banner |= view
                    .banner
                    .as_ref()
                    .is_some_and(|b| b.text.starts_with("Connection lost"));
                let present = bots[0].mirror().member_by_name("Shopper").is_some();
                saw_leave |= !present;
                saw_leave && present && session(app).link == LinkState::Connected
            }
        ),
        "the showroom never rejoined: {:?}",
        session(&app).link
    );
    assert!(saw_banner, "the lost link was never shown");

    // The card's buttons: add the product's first variant to the cart,
    // then check the cart out; the order is confirmed on screen.
    let sku = {
        let catalog = app
            .world()
            .resource::<vitrine_client::showroom::catalog::Catalog>();
        catalog
            .get(&display.product)
            .expect("in the catalog")
            .view
            .variants[0]
            .sku
            .clone()
    };
    app.world_mut()
        .write_message(UiAction::AddToCart { sku: sku.clone() });
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(10),
            |app, _| { app.world().resource::<CurrentView>().0.cart.units == 1 }
        ),
        "the cart never showed {sku}"
    );
    // The host pins a coupon. Checkout opens the review: nothing is paid
    // yet; the pinned coupon is one tap, and its discount shows before
    // paying.
    let http = Http::new(&server);
    let host = server.sign_in_as("host.render", Role::Host);
    let coupon = json!({
        "code": "SHOWROOM15", "percent_off": 15, "currency": "EUR",
        "per_buyer_limit": 1, "ends_at_ms": now_ms() + 3_600_000,
    });
    let (status, answer) = http.call("POST", "/api/v1/coupons", Some(&host), None, Some(coupon));
    assert_eq!(status, 201, "{answer}");
    let pin = json!({ "code": "SHOWROOM15" });
    let (status, answer) = http.call(
        "PUT",
        "/api/v1/show/pinned-coupon",
        Some(&host),
        None,
        Some(pin),
    );
    assert_eq!(status, 200, "{answer}");
    app.world_mut().write_message(UiAction::Checkout);
    let confirmation = |app: &App| app.world().resource::<CurrentView>().0.confirmation.clone();
    let mut apply = None;
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(20),
            |app, _| {
                apply = confirmation(app).and_then(|c| {
                    let b = c
                        .buttons
                        .iter()
                        .find(|b| b.label.starts_with("Apply SHOWROOM15"));
                    b.map(|b| b.action.clone())
                });
                apply.is_some()
            }
        ),
        "the review never offered the pinned coupon: {:?}",
        confirmation(&app)
    );
    app.world_mut().write_message(apply.unwrap());
    let mut total = String::new();
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(10),
            |app, _| {
                let Some(c) = confirmation(app) else {
                    return false;
                };
                let off = c
                    .lines
                    .iter()
                    .any(|l| l.starts_with("Coupon SHOWROOM15 (15% off) -"));
                total = c
                    .lines
                    .iter()
                    .find_map(|l| l.strip_prefix("Total "))
                    .unwrap_or("")
                    .to_owned();
                off
            }
        ),
        "the discount never showed: {:?}",
        confirmation(&app)
    );
    // Nothing was sent: no order, the cart still full.
    assert!(session(&app).mirror().unwrap().checkouts.is_empty());
    assert_eq!(app.world().resource::<CurrentView>().0.cart.units, 1);
    take_picture(
        &mut app,
        &mut [&mut watcher],
        "showroom-checkout-review.png",
    );
    let pay = confirmation(&app)
        .unwrap()
        .buttons
        .into_iter()
        .find(|b| b.label == format!("Pay {total}"))
        .expect("a Pay button naming the total");
    app.world_mut().write_message(pay.action);
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(20),
            |app, _| { confirmation(app).is_some_and(|c| c.ok && c.title.starts_with("Order #")) }
        ),
        "no order confirmation: {:?}",
        confirmation(&app)
    );
    assert_eq!(app.world().resource::<CurrentView>().0.cart.units, 0);
    let paid = confirmation(&app).unwrap();
    // A short reference, the discount, and the total that was shown.
    assert!(
        paid.title.len() <= "Order #123456 confirmed".len(),
        "{}",
        paid.title
    );
    assert!(
        paid.lines
            .iter()
            .any(|l| l.starts_with("Coupon SHOWROOM15 -")),
        "{:?}",
        paid.lines
    );
    assert!(
        paid.lines
            .iter()
            .any(|l| l.starts_with(&format!("Total {total}"))),
        "{:?}",
        paid.lines
    );

    // The host ships and delivers it: facing the display, the card asks for
    // stars; a picture of that for the docs; 4 stars are posted.
    let order = {
        let mirror = session(&app).mirror().expect("in the room");
        let checkout = mirror.checkouts.values().find_map(|c| c.as_ref().ok());
        checkout.expect("the order").id
    };
    for step in ["fulfil", "deliver"] {
        let path = format!("/api/v1/orders/{order}/{step}");
        assert_eq!(http.call("POST", &path, Some(&host), None, None).0, 200);
    }
    face_display(&mut app, &display);
    let review = |app: &App| {
        let view = &app.world().resource::<CurrentView>().0;
        view.card
            .as_ref()
            .filter(|c| c.product == display.product)
            .map(|c| c.review.clone())
    };
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(20),
            |app, _| review(app) == Some(ReviewPrompt::Ask)
        ),
        "the card never asked for a review: {:?}",
        review(&app)
    );
    take_picture(&mut app, &mut [&mut watcher], "showroom-review.png");
    app.world_mut().write_message(UiAction::Review {
        product: display.product.clone(),
        stars: 4,
    });
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(20),
            |app, _| review(app) == Some(ReviewPrompt::Done(4))
        ),
        "the review was never answered: {:?}",
        review(&app)
    );
    let path = format!("/api/v1/products/{}/reviews", display.product);
    let (_, summary) = http.call("GET", &path, None, None, None);
    assert_eq!(summary["count"], 1, "{summary}");
    // The card quotes the latest reviews, asked of the server: this one.
    let latest = |app: &App| {
        let view = &app.world().resource::<CurrentView>().0;
        view.card
            .as_ref()
            .filter(|c| c.product == display.product)
            .map(|c| c.latest_reviews.clone())
            .unwrap_or_default()
    };
    let author = summary["latest"][0]["author"].as_str().unwrap().to_owned();
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(20),
            |app, _| latest(app) == [format!("4 of 5 from {author}")]
        ),
        "the card never quoted the review: {:?}",
        latest(&app)
    );

    // Walking into a display: W held, the rapier character meets the
    // plinth and slides round it instead of passing through.
    face_display(&mut app, &display);
    let plinth = Vec3::new(display.home.translation.x, 0.0, display.home.translation.z);
    let start = body(&mut app).translation.with_y(0.0).distance(plinth);
    key(
        &mut app,
        &mut watcher,
        KeyCode::KeyW,
        "w",
        ButtonState::Pressed,
    );
    let mut nearest = f32::MAX;
    assert!(
        step(
            &mut app,
            &mut [&mut watcher],
            Duration::from_secs(30),
            |app, _| {
                let gap = body(app).translation.with_y(0.0).distance(plinth);
                nearest = nearest.min(gap);
                // Past it: further away again than it came.
                gap > nearest + 0.5
            }
        ),
        "the shopper never got past the plinth (nearest {nearest} m)"
    );
    key(
        &mut app,
        &mut watcher,
        KeyCode::KeyW,
        "w",
        ButtonState::Released,
    );
    assert!(
        nearest < start - 0.3,
        "W should have walked closer: {start} -> {nearest}"
    );
    // The plinth's radius is 0.32 m and the body's 0.3 m.
    assert!(
        nearest > 0.55,
        "walked into the plinth: {nearest} m from its axis"
    );
}

/// A point on the stage screen's picture, `u` left to right and `v` top to
/// bottom, from the screen's corners in the view (top left, top right,
/// bottom right, bottom left).
fn on_screen(corners: [Vec2; 4], u: f32, v: f32) -> Vec2 {
    let top = corners[0].lerp(corners[1], u);
    let bottom = corners[3].lerp(corners[2], u);
    top.lerp(bottom, v)
}

/// The hues of `videotestsrc pattern=smpte`'s bars, left to right (`None`:
/// the grey one).
const BAR_HUES: [Option<f32>; 7] = [
    None,
    Some(60.0),
    Some(180.0),
    Some(120.0),
    Some(300.0),
    Some(0.0),
    Some(240.0),
];

fn hue_gap(a: f32, b: f32) -> f32 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

fn stage_video(app: &App) -> &StageVideo {
    app.world().resource::<StageVideo>()
}

fn slate_says(app: &mut App, words: &str) -> bool {
    let world = app.world_mut();
    world
        .query::<&Text>()
        .iter(world)
        .any(|t| t.0.contains(words))
}

/// Takes a picture and returns it with the stage screen's corners.
fn picture(app: &mut App) -> (Image, [Vec2; 4]) {
    app.world_mut().resource_mut::<Capture>().image = None;
    capture_now(app.world_mut());
    assert!(
        step(app, &mut [], Duration::from_secs(60), |app, _| {
            app.world().resource::<Capture>().image.is_some()
        }),
        "no picture came back"
    );
    let capture = app.world().resource::<Capture>();
    let (_, corners) = capture
        .report
        .as_ref()
        .and_then(|r| r.stage_screen)
        .expect("the stage screen is in view");
    (capture.image.clone().unwrap(), corners)
}

#[test]
fn the_hosts_test_pattern_plays_on_the_stage_screen_and_the_slate_covers_the_gaps() {
    let _one = one_renderer();
    let server = TestServer::start_with_media(false);
    let mut app = showroom(&server, "Viewer", 640, 360);
    assert!(
        step(&mut app, &mut [], Duration::from_secs(120), |app, _| {
            in_the_room(app)
        }),
        "the showroom never got into the room: {:?}",
        session(&app).link
    );
    // Nobody is publishing: the room says so, and the slate is up.
    assert!(
        step(&mut app, &mut [], Duration::from_secs(10), |app, _| {
            session(app)
                .mirror()
                .and_then(|m| m.stream.as_ref())
                .is_some()
        }),
        "the room never said where its stream is"
    );
    assert_eq!(stage_video(&app).status, VideoStatus::Off);

    // The host goes live with the test pattern (smaller than 720p: the
    // encoder, the relay, the decoder and lavapipe share two cores here).
    let publish = || {
        let mut options = PublishOptions::new(Source::TestPattern);
        (options.width, options.height) = (640, 360);
        Publisher::start(
            &format!("srt://{}", server.media().ingest),
            &server.stream_key(),
            &options,
        )
        .expect("publisher starts")
    };
    let host = publish();
    assert!(
        step(&mut app, &mut [], Duration::from_secs(60), |app, _| {
            let video = stage_video(app);
            video.status == VideoStatus::Playing
                && video.frames_shown >= 5
                && video.last_frame.is_some_and(|f| f.timecode_ms.is_some())
        }),
        "the stream never played: {:?}",
        stage_video(&app).status
    );
    let shown = stage_video(&app).last_frame.unwrap();
    assert_eq!((shown.width, shown.height), (640, 360));

    // The picture on the stage screen, read back from the render: the
    // colour bars, in order, where the screen is.
    let (image, corners) = picture(&mut app);
    save(&image, "showroom-video.png");
    for (i, hue) in BAR_HUES.iter().enumerate() {
        let at = on_screen(corners, (2 * i + 1) as f32 / 14.0, 0.4);
        let rgb = colour_at(&image, at);
        let (h, s) = hue_and_saturation(rgb);
        match hue {
            Some(want) => assert!(
                s > 0.35 && hue_gap(h, *want) < 35.0,
                "bar {i} at {at} is {rgb:?} (hue {h:.0}, saturation {s:.2}), want hue {want}"
            ),
            None => assert!(
                s < 0.2 && rgb.iter().all(|c| *c > 120),
                "bar {i} at {at} is {rgb:?}, want light grey"
            ),
        }
    }

    // The host drops: the room goes off, the slate comes back.
    drop(host);
    assert!(
        step(&mut app, &mut [], Duration::from_secs(30), |app, _| {
            stage_video(app).status == VideoStatus::Off && slate_says(app, "Waiting for the host")
        }),
        "the slate never came back: {:?}",
        stage_video(&app).status
    );
    let (image, corners) = picture(&mut app);
    let rgb = colour_at(&image, on_screen(corners, 0.1, 0.1));
    assert!(
        rgb[2] > rgb[0] + 15 && rgb[2] > rgb[1] + 10,
        "the slate's blue is missing: {rgb:?}"
    );

    // And returns: the picture follows by itself.
    let before = stage_video(&app).frames_shown;
    let _host = publish();
    assert!(
        step(&mut app, &mut [], Duration::from_secs(60), |app, _| {
            let video = stage_video(app);
            video.status == VideoStatus::Playing && video.frames_shown >= before + 5
        }),
        "the stream never came back: {:?}",
        stage_video(&app).status
    );

    // A URL nothing can play: a clear error on the slate, no crash.
    for (bad, words) in [
        ("nonsense://stage", "Video unavailable"),
        ("file:///no/such/show.mp4", "not found"),
        ("srt://", "Video unavailable"),
    ] {
        app.world_mut().resource_mut::<Options>().video = Some(bad.into());
        assert!(
            step(&mut app, &mut [], Duration::from_secs(20), |app, _| {
                matches!(stage_video(app).status, VideoStatus::Failed(_)) && slate_says(app, words)
            }),
            "{bad}: {:?}",
            stage_video(&app).status
        );
        assert!(
            !stage_video(&app).on_screen(),
            "{bad}: the last picture stayed up"
        );
    }
}

#[test]
fn a_host_and_a_co_host_share_the_stage_screen_and_the_host_fills_it_when_alone() {
    let _one = one_renderer();
    let server = TestServer::start_with_stage(1);
    let http = Http::new(&server);
    let host = server.sign_in_as("mara", Role::Host);
    let (status, invited) = http.call(
        "POST",
        "/api/v1/stream/co-hosts",
        Some(&host),
        None,
        Some(json!({"name": "Ada"})),
    );
    assert_eq!(status, 201, "{invited}");
    let publish = |url: &str, key: &str, argb: u32| {
        let mut options = PublishOptions::new(Source::Solid(argb));
        (options.width, options.height) = (640, 360);
        Publisher::start(
            url,
            &vitrine_media::StreamKey::new(key).expect("key"),
            &options,
        )
        .expect("publisher starts")
    };
    let _host_camera = publish(
        &format!("srt://{}", server.media().ingest),
        server.stream_key().as_str(),
        0xffd0_3030,
    );
    let guest_camera = publish(
        invited["co_host"]["srt_url"].as_str().unwrap(),
        invited["stream_key"].as_str().unwrap(),
        0xff30_60d0,
    );
    let live = |http: &Http| {
        let (_, stage) = http.call("GET", "/api/v1/stream/stage", Some(&host), None, None);
        stage["seats"]
            .as_array()
            .map(|s| s.iter().filter(|s| s["live"] == true).count())
            .unwrap_or(0)
    };
    assert!(
        step_until(Duration::from_secs(30), || live(&http) == 2),
        "both never went live"
    );
    let (status, view) = http.call(
        "PUT",
        "/api/v1/stream/stage",
        Some(&host),
        None,
        Some(json!({"layout": "side_by_side", "big": 0})),
    );
    assert_eq!(status, 200, "{view}");

    let mut app = showroom(&server, "Viewer", 960, 540);
    assert!(
        step(&mut app, &mut [], Duration::from_secs(120), |app, _| {
            in_the_room(app)
                && stage_video(app).status == VideoStatus::Playing
                && stage_video(app).frames_shown >= 10
        }),
        "the stage never played: {:?}",
        stage_video(&app).status
    );
    // Read back from the render: the host's red on the left half of the
    // stage screen, the co-host's blue on the right.
    let halves = |image: &Image, corners| {
        [0.25, 0.75].map(|u| hue_and_saturation(colour_at(image, on_screen(corners, u, 0.5))))
    };
    let mut seen = [(0.0, 0.0); 2];
    let side_by_side = step(&mut app, &mut [], Duration::from_secs(60), |app, _| {
        let (image, corners) = picture(app);
        seen = halves(&image, corners);
        let ok = seen[0].1 > 0.4
            && hue_gap(seen[0].0, 0.0) < 30.0
            && seen[1].1 > 0.4
            && hue_gap(seen[1].0, 225.0) < 30.0;
        if ok {
            save(&image, "showroom-co-hosts.png");
        }
        ok
    });
    assert!(side_by_side, "halves (hue, saturation): {seen:?}");

    // The co-host drops: the host fills the screen, and the stream never
    // stopped for the viewer.
    let before = stage_video(&app).frames_shown;
    let mut cut = None;
    drop(guest_camera);
    let solo = step(&mut app, &mut [], Duration::from_secs(60), |app, _| {
        if stage_video(app).status != VideoStatus::Playing {
            cut.get_or_insert(stage_video(app).status.clone());
        }
        let (image, corners) = picture(app);
        seen = halves(&image, corners);
        seen.iter()
            .all(|(h, s)| *s > 0.4 && hue_gap(*h, 0.0) < 30.0)
    });
    assert!(
        solo,
        "halves (hue, saturation) after the co-host left: {seen:?}"
    );
    assert_eq!(cut, None, "the viewer's stream was cut");
    assert!(stage_video(&app).frames_shown > before);
}
