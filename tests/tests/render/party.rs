//! A party in the rendered showroom: a bot invites the shopper, who
//! accepts with `Y`; the bot's avatar gets a ring in its party colour
//! (checked in the picture) and its name tag that colour; a product the
//! bot shares gets a marker over its display, and the party panel names it.

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;
use std::path::PathBuf;
use std::time::Duration;
use vitrine_client::net::NetClient;
use vitrine_client::showroom::avatars::RemoteAvatar;
use vitrine_client::showroom::offscreen::{Capture, capture_now};
use vitrine_client::showroom::party::{PartyRing, SharedMarker, party_colour};
use vitrine_client::showroom::player::{LocalPlayer, MainCamera};
use vitrine_client::showroom::room::ProductDisplay;
use vitrine_client::showroom::session::Session;
use vitrine_client::showroom::ui::CurrentView;
use vitrine_shared::protocol::PartyCommand;
use vitrine_tests::{TestServer, joined_client, update_docs_picture};

use crate::{frames, in_the_room, one_renderer, showroom, step};

fn press(app: &mut App, bot: &mut NetClient, code: KeyCode, text: &str) {
    for state in [ButtonState::Pressed, ButtonState::Released] {
        app.world_mut().write_message(KeyboardInput {
            key_code: code,
            logical_key: Key::Character(text.into()),
            state,
            text: None,
            repeat: false,
            window: Entity::PLACEHOLDER,
        });
        frames(app, &mut [bot], 1);
    }
}

fn view(app: &App) -> &vitrine_client::showroom::ui::view::ShowroomView {
    &app.world().resource::<CurrentView>().0
}

#[test]
fn party_members_see_each_others_ring_and_a_shared_products_marker() {
    let _one = one_renderer();
    let server = TestServer::start();
    let mut ada = joined_client(&server, "Ada", "hall");
    let mut app = showroom(&server, "Cam", 960, 540);
    assert!(
        step(
            &mut app,
            &mut [&mut ada],
            Duration::from_secs(120),
            |app, _| { in_the_room(app) }
        ),
        "the showroom never got into the room"
    );

    // The shopper stands 4 m south of Ada, facing her (the test's setup,
    // as `stand_before` does for displays; Ada's bot stays where she is).
    let ada_slot = ada.mirror().you.unwrap();
    assert!(
        step(
            &mut app,
            &mut [&mut ada],
            Duration::from_secs(30),
            |app, _| {
                app.world()
                    .resource::<Session>()
                    .mirror()
                    .is_some_and(|m| m.avatars.contains_key(&ada_slot))
            }
        ),
        "the showroom never saw Ada"
    );
    let ada_at = {
        let m = app.world().resource::<Session>().mirror().unwrap();
        Vec3::from_array(m.avatars[&ada_slot].position)
    };
    let eye = ada_at + Vec3::new(0.0, 0.0, 4.0);
    {
        let world = app.world_mut();
        let mut q = world.query_filtered::<&mut Transform, With<LocalPlayer>>();
        let mut t = q.single_mut(world).expect("the player");
        t.translation = Vec3::new(eye.x, t.translation.y, eye.z);
        t.rotation = Quat::IDENTITY;
    }

    // Ada invites the shopper, who accepts with Y.
    let cam = ada
        .mirror()
        .member_by_name("Cam")
        .expect("Ada sees Cam")
        .account;
    ada.send_party(PartyCommand::Invite { account: cam });
    assert!(
        step(
            &mut app,
            &mut [&mut ada],
            Duration::from_secs(20),
            |app, _| { !view(app).party.invites.is_empty() }
        ),
        "the invite never reached the panel"
    );
    press(&mut app, &mut ada, KeyCode::KeyY, "y");
    assert!(
        step(
            &mut app,
            &mut [&mut ada],
            Duration::from_secs(20),
            |app, _| {
                let world = app.world_mut();
                let ringed = world.query::<&PartyRing>().iter(world).count();
                view(app).party.members.len() == 2 && ringed == 1
            }
        ),
        "no ring under Ada: {:?}",
        view(&app).party
    );
    let ada_colour = {
        let world = app.world_mut();
        *world.query::<&PartyRing>().single(world).expect("one ring")
    };
    assert_eq!(ada_colour, PartyRing(0), "the inviter's colour");
    let names: Vec<(String, bool)> = view(&app)
        .party
        .members
        .iter()
        .map(|m| (m.name.clone(), m.leader))
        .collect();
    assert_eq!(names, [("Ada".into(), true), ("Cam".into(), false)]);

    // Ada shares the nearest display's product: a marker floats over it.
    let product = {
        let world = app.world_mut();
        world
            .query::<&ProductDisplay>()
            .iter(world)
            .min_by(|a, b| {
                let d = |d: &ProductDisplay| d.home.translation.distance(eye);
                d(a).total_cmp(&d(b))
            })
            .map(|d| d.product.clone())
            .expect("a display")
    };
    ada.send_party(PartyCommand::Share {
        product: product.clone(),
    });
    assert!(
        step(
            &mut app,
            &mut [&mut ada],
            Duration::from_secs(20),
            |app, _| {
                let world = app.world_mut();
                world
                    .query::<&SharedMarker>()
                    .iter(world)
                    .any(|m| m.0 == product)
            }
        ),
        "no marker over {product}"
    );
    assert!(
        view(&app)
            .party
            .lines
            .iter()
            .any(|l| l.product.as_ref() == Some(&product)),
        "the panel names the shared product"
    );

    // The picture: the ring's left and right sides, at Ada's feet, are her
    // colour (its near edge may lie under the notice).
    frames(&mut app, &mut [&mut ada], 10);
    let ring_sides = {
        let world = app.world_mut();
        let feet = world
            .query::<(&RemoteAvatar, &GlobalTransform)>()
            .iter(world)
            .find(|(a, _)| a.slot == ada_slot)
            .map(|(_, t)| t.translation())
            .expect("Ada's avatar");
        let (camera, at) = world
            .query_filtered::<(&Camera, &GlobalTransform), With<MainCamera>>()
            .single(world)
            .expect("the camera");
        [-0.46f32, 0.46].map(|x| {
            camera
                .world_to_viewport(at, feet + Vec3::new(x, 0.03, 0.0))
                .expect("the ring is in view")
        })
    };
    capture_now(app.world_mut());
    assert!(
        step(
            &mut app,
            &mut [&mut ada],
            Duration::from_secs(60),
            |app, _| { app.world().resource::<Capture>().image.is_some() }
        ),
        "no picture came back"
    );
    let image = app.world().resource::<Capture>().image.clone().unwrap();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("showroom-party.png");
    image
        .clone()
        .try_into_dynamic()
        .expect("a readable picture")
        .to_rgb8()
        .save(&path)
        .expect("saved");
    update_docs_picture(&path, "showroom-party.png");
    let want = Hsla::from(party_colour(0));
    for side in ring_sides {
        let ringed = (-4..=4).any(|dy| {
            let y = (side.y as i32 + dy).clamp(0, image.height() as i32 - 1) as u32;
            let x = side.x.clamp(0.0, image.width() as f32 - 1.0) as u32;
            let hsla = Hsla::from(image.get_color_at(x, y).expect("pixel"));
            (hsla.hue - want.hue).abs() < 12.0 && hsla.saturation > 0.5 && hsla.lightness > 0.3
        });
        assert!(ringed, "no ring colour at {side} in {}", path.display());
    }
}
