//! Parties in the rendered showroom: a shopper takes up a party invite with
//! its key, then sees the other member's ring under them and a marker over
//! the product they shared, read back from the picture (and absent from
//! the picture taken before).

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;
use std::time::Duration;
use vitrine_client::net::NetClient;
use vitrine_client::showroom::avatars::RemoteAvatar;
use vitrine_client::showroom::offscreen::{Capture, capture_now};
use vitrine_client::showroom::party_marks::{SHARE_LIFT, party_colour};
use vitrine_client::showroom::player::{LocalPlayer, MainCamera};
use vitrine_client::showroom::room::ProductDisplay;
use vitrine_client::showroom::session::Session;
use vitrine_client::showroom::ui::CurrentView;
use vitrine_shared::protocol::{PartyCommand, PartyLineBody};
use vitrine_shared::{AccountId, PoseNet, ProductId};
use vitrine_tests::{TestServer, joined_client, pump, step_until};

use crate::showroom::{colour_at, hue_and_saturation, press, walk_towards};
use crate::{frames, in_the_room, one_renderer, showroom, step};

fn session(app: &App) -> &Session {
    app.world().resource::<Session>()
}

/// Where a world point lands in the picture, if in front of the camera.
fn project(app: &mut App, at: Vec3) -> Option<Vec2> {
    let world = app.world_mut();
    let mut q = world.query_filtered::<(&Camera, &GlobalTransform), With<MainCamera>>();
    let (camera, eye) = q.single(world).ok()?;
    camera.world_to_viewport(eye, at).ok()
}

/// A picture, taken now.
fn picture(app: &mut App, bot: &mut NetClient) -> Image {
    app.world_mut().resource_mut::<Capture>().image = None;
    capture_now(app.world_mut());
    assert!(
        step(app, &mut [bot], Duration::from_secs(60), |app, _| {
            app.world().resource::<Capture>().image.is_some()
        }),
        "no picture came back"
    );
    app.world_mut()
        .resource_mut::<Capture>()
        .image
        .take()
        .unwrap()
}

/// One key pressed and let go, as the window reports it, in one frame.
fn key(app: &mut App, bot: &mut NetClient, logical_key: Key, code: KeyCode) {
    for state in [ButtonState::Pressed, ButtonState::Released] {
        app.world_mut().write_message(KeyboardInput {
            key_code: code,
            logical_key: logical_key.clone(),
            state,
            text: None,
            repeat: false,
            window: Entity::PLACEHOLDER,
        });
    }
    frames(app, &mut [bot], 1);
}

/// Enter, the line typed a character at a time, Enter.
fn type_line(app: &mut App, bot: &mut NetClient, line: &str) {
    key(app, bot, Key::Enter, KeyCode::Enter);
    for c in line.chars() {
        let logical = if c == ' ' {
            Key::Space
        } else {
            Key::Character(c.to_string().into())
        };
        key(app, bot, logical, KeyCode::F13);
    }
    key(app, bot, Key::Enter, KeyCode::Enter);
}

/// Keeps a picture beside the test's build (the docs' party pictures come
/// from the demo, with the panels open).
fn keep(image: &Image, name: &str) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    image
        .clone()
        .try_into_dynamic()
        .expect("a readable picture")
        .to_rgb8()
        .save(&path)
        .expect("saved");
    path
}

/// How far `rgb` is from `want` in hue (degrees), and its saturation.
fn hue_off(rgb: [u8; 3], want: Color) -> (f32, f32) {
    let (hue, saturation) = hue_and_saturation(rgb);
    let want = Hsla::from(want).hue;
    (
        (hue - want).abs().min(360.0 - (hue - want).abs()),
        saturation,
    )
}

#[test]
fn party_members_see_each_others_ring_and_a_shared_products_marker() {
    let _one = one_renderer();
    let server = TestServer::start();
    let mut ana = joined_client(&server, "Ana", "hall");
    let mut app = showroom(&server, "Bea", 960, 540);
    assert!(
        step(
            &mut app,
            &mut [&mut ana],
            Duration::from_secs(120),
            |app, _| in_the_room(app)
        ),
        "the showroom never got into the room: {:?}",
        session(&app).link
    );
    // Bea looks a little down, so Ana's feet are in view 5 m ahead.
    {
        let world = app.world_mut();
        let mut q = world.query::<&mut LocalPlayer>();
        q.single_mut(world).expect("the player").pitch = -0.2;
    }
    let me = session(&app)
        .mirror()
        .and_then(|m| m.spawn)
        .expect("our spawn");
    let eye = Vec3::from_array(me.position);
    let mark = eye + Vec3::new(0.0, 0.0, -5.0);
    let mut pose: PoseNet = ana.mirror().spawn.expect("Ana's spawn");
    let ana_slot = ana.mirror().you.expect("Ana's slot");
    // At walking pace by the real clock: fast frames must not make her
    // faster than the server allows.
    let mut last = std::time::Instant::now();
    let arrived = step_until(Duration::from_secs(60), || {
        let dt = last.elapsed().as_secs_f32().min(0.05);
        last = std::time::Instant::now();
        let there = walk_towards(&mut ana, &mut pose, mark, dt);
        pump(&mut [&mut ana]);
        app.update();
        there
            && session(&app)
                .mirror()
                .and_then(|m| m.avatars.get(&ana_slot))
                .is_some_and(|p| Vec3::from_array(p.position).distance(mark) < 0.05)
    });
    assert!(arrived, "Ana never reached her mark");
    frames(&mut app, &mut [&mut ana], 20);

    // Where Ana's ring will be: its side nearest Bea, on the floor.
    let ana_at = {
        let world = app.world_mut();
        let mut q = world.query::<(&RemoteAvatar, &GlobalTransform)>();
        q.iter(world)
            .find(|(a, _)| a.slot == ana_slot)
            .map(|(_, t)| t.translation())
            .expect("Ana's avatar")
    };
    let towards_bea = (eye - ana_at).with_y(0.0).normalize();
    let ring_px =
        project(&mut app, ana_at + towards_bea * 0.5 + Vec3::Y * 0.07).expect("Ana's feet in view");
    // A display in view, away from Ana, for the share; its marker's place.
    let (product, marker_px): (ProductId, Vec2) = {
        let displays: Vec<ProductDisplay> = {
            let world = app.world_mut();
            world
                .query::<&ProductDisplay>()
                .iter(world)
                .cloned()
                .collect()
        };
        displays
            .iter()
            .filter_map(|d| {
                let top = d.home.translation + Vec3::Y * (d.half_extents.y + SHARE_LIFT + 0.05);
                let p = project(&mut app, top)?;
                let inside = p.x > 40.0 && p.x < 920.0 && p.y > 40.0 && p.y < 500.0;
                (inside && (p.x - ring_px.x).abs() > 120.0).then(|| (d.product.clone(), p))
            })
            .next()
            .expect("a display in view")
    };

    // Before any party: neither mark is drawn.
    let before = picture(&mut app, &mut ana);
    keep(&before, "party-before.png");
    let cyan_ish = |rgb: [u8; 3], colour: Color| {
        let (off, saturation) = hue_off(rgb, colour);
        off < 25.0 && saturation > 0.5
    };

    // Ana invites Bea: the toast says so, and Y takes it up.
    let bea = AccountId(
        session(&app)
            .signed_in
            .as_ref()
            .expect("signed in")
            .account_id,
    );
    ana.send_party(PartyCommand::Invite { account: bea });
    assert!(
        step(
            &mut app,
            &mut [&mut ana],
            Duration::from_secs(10),
            |app, _| {
                app.world()
                    .resource::<CurrentView>()
                    .0
                    .together
                    .invite
                    .is_some()
            }
        ),
        "the invite never showed"
    );
    let invite = app
        .world()
        .resource::<CurrentView>()
        .0
        .together
        .invite
        .clone()
        .unwrap();
    assert_eq!(invite.text, "Ana invites you to their party (1 member)");
    press(&mut app, &mut ana, KeyCode::KeyY, "y");
    assert!(
        step(
            &mut app,
            &mut [&mut ana],
            Duration::from_secs(10),
            |app, bots| {
                let view = &app.world().resource::<CurrentView>().0.together;
                view.party.as_ref().is_some_and(|p| p.members.len() == 2)
                    && bots[0]
                        .mirror()
                        .party
                        .party
                        .as_ref()
                        .is_some_and(|p| p.members.len() == 2)
            }
        ),
        "the party never formed: {:?}",
        app.world().resource::<CurrentView>().0.together
    );
    // Each is marked for the other in the party's colours.
    let mirror = session(&app).mirror().expect("the room");
    let ana_account = mirror.members[&ana_slot].account;
    let ana_colour = mirror.party.colour_of(ana_account).expect("Ana's colour");
    assert_eq!(
        ana.mirror().party.colour_of(bea),
        mirror.party.colour_of(bea),
        "both see Bea in the same colour"
    );
    assert_ne!(Some(ana_colour), mirror.party.colour_of(bea));

    // Bea writes in party chat: "/p " in the chat box sends it there.
    type_line(&mut app, &mut ana, "/p see you at the stage");
    assert!(
        step(
            &mut app,
            &mut [&mut ana],
            Duration::from_secs(10),
            |_, bots| {
                bots[0].mirror().party.chat.iter().any(|l| {
                matches!(&l.body, PartyLineBody::Said(t) if t.as_str() == "see you at the stage")
            })
            }
        ),
        "Ana never got Bea's party line: {:?}",
        ana.mirror().party.chat
    );
    assert!(
        !ana.mirror()
            .chat
            .iter()
            .any(|l| l.text.as_str().contains("see you")),
        "a party line must not reach room chat"
    );

    // Ana shares the product; Bea's mirror has it, then the picture.
    ana.send_party(PartyCommand::Share {
        product: product.clone(),
    });
    assert!(
        step(
            &mut app,
            &mut [&mut ana],
            Duration::from_secs(10),
            |app, _| {
                session(app)
                    .mirror()
                    .is_some_and(|m| m.party.shared.contains_key(&product))
            }
        ),
        "the share never arrived"
    );
    let line = app
        .world()
        .resource::<CurrentView>()
        .0
        .together
        .party_chat
        .last()
        .cloned();
    assert_eq!(line.and_then(|l| l.product), Some(product.clone()));
    frames(&mut app, &mut [&mut ana], 10);
    let after = picture(&mut app, &mut ana);
    let path = keep(&after, "party-after.png");
    println!("picture: {}", path.display());

    let colour = party_colour(ana_colour);
    let (ring_before, ring_after) = (colour_at(&before, ring_px), colour_at(&after, ring_px));
    assert!(
        !cyan_ish(ring_before, colour),
        "Ana's ring before the party at {ring_px}: {ring_before:?}"
    );
    assert!(
        cyan_ish(ring_after, colour),
        "Ana's ring in her colour at {ring_px}: {ring_after:?}, want {colour:?}"
    );
    let (marker_before, marker_after) =
        (colour_at(&before, marker_px), colour_at(&after, marker_px));
    assert!(
        !cyan_ish(marker_before, colour),
        "a marker over {product} before the share at {marker_px}: {marker_before:?}"
    );
    assert!(
        cyan_ish(marker_after, colour),
        "the marker over {product} at {marker_px}: {marker_after:?}, want {colour:?}"
    );
}
