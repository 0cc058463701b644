//! Parties in the rendered showroom, from both sides: two showrooms in one
//! process, each with its own renderer, stepped frame for frame. Ana
//! invites Bea, Bea takes it up with its key; then each one's picture shows
//! the other's ring under them, and both show the marker over the product
//! Ana shared, read back from the pictures (and absent from the pictures
//! taken before).

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;
use std::time::Duration;
use vitrine_client::showroom::avatars::RemoteAvatar;
use vitrine_client::showroom::offscreen::{Capture, capture_now};
use vitrine_client::showroom::party_marks::{SHARE_LIFT, party_colour};
use vitrine_client::showroom::player::{BODY_CENTRE, EYE_HEIGHT, LocalPlayer, MainCamera};
use vitrine_client::showroom::room::{ProductDisplay, RoomLayout, STAGE_DEPTH};
use vitrine_client::showroom::session::Session;
use vitrine_client::showroom::ui::{CurrentView, UiAction};
use vitrine_shared::protocol::PartyLineBody;
use vitrine_shared::{AccountId, MemberSlot, ProductId};
use vitrine_tests::{TestServer, step_until};

use crate::showroom::{colour_at, hue_and_saturation};
use crate::{in_the_room, one_renderer, showroom};

/// The pictures' size: the corner panels leave the middle and the sides
/// clear.
const WIDTH: f32 = 960.0;
const HEIGHT: f32 = 540.0;

fn session(app: &App) -> &Session {
    app.world().resource::<Session>()
}

fn my_slot(app: &App) -> MemberSlot {
    session(app).mirror().and_then(|m| m.you).expect("our slot")
}

/// One frame of each showroom, one after the other, as two shoppers'
/// machines would run side by side.
fn both(apps: &mut [&mut App; 2]) {
    for app in apps.iter_mut() {
        app.update();
    }
}

/// Steps both showrooms until `done`, for at most `cap`.
fn step_both(
    apps: &mut [&mut App; 2],
    cap: Duration,
    mut done: impl FnMut(&mut [&mut App; 2]) -> bool,
) -> bool {
    step_until(cap, || {
        both(apps);
        done(apps)
    })
}

fn frames_both(apps: &mut [&mut App; 2], n: usize) {
    for _ in 0..n {
        both(apps);
    }
}

/// Where a world point lands in the app's picture, if in front of the camera.
fn project(app: &mut App, at: Vec3) -> Option<Vec2> {
    let world = app.world_mut();
    let mut q = world.query_filtered::<(&Camera, &GlobalTransform), With<MainCamera>>();
    let (camera, eye) = q.single(world).ok()?;
    camera.world_to_viewport(eye, at).ok()
}

/// A picture from each showroom, taken in the same frame.
fn pictures(apps: &mut [&mut App; 2]) -> [Image; 2] {
    for app in apps.iter_mut() {
        app.world_mut().resource_mut::<Capture>().image = None;
        capture_now(app.world_mut());
    }
    assert!(
        step_both(apps, Duration::from_secs(60), |apps| {
            apps.iter()
                .all(|app| app.world().resource::<Capture>().image.is_some())
        }),
        "no picture came back"
    );
    let mut take = |i: usize| {
        apps[i]
            .world_mut()
            .resource_mut::<Capture>()
            .image
            .take()
            .unwrap()
    };
    [take(0), take(1)]
}

/// One key pressed and let go in `apps[at]`, as its window reports it, in
/// one frame of both.
fn key(apps: &mut [&mut App; 2], at: usize, logical_key: Key, code: KeyCode) {
    for state in [ButtonState::Pressed, ButtonState::Released] {
        apps[at].world_mut().write_message(KeyboardInput {
            key_code: code,
            logical_key: logical_key.clone(),
            state,
            text: None,
            repeat: false,
            window: Entity::PLACEHOLDER,
        });
    }
    both(apps);
}

/// Enter, the line typed a character at a time, Enter, in `apps[at]`.
fn type_line(apps: &mut [&mut App; 2], at: usize, line: &str) {
    key(apps, at, Key::Enter, KeyCode::Enter);
    for c in line.chars() {
        let logical = if c == ' ' {
            Key::Space
        } else {
            Key::Character(c.to_string().into())
        };
        key(apps, at, logical, KeyCode::F13);
    }
    key(apps, at, Key::Enter, KeyCode::Enter);
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

/// Whether `rgb` is `want`'s hue (within 25 degrees) and saturated.
fn in_colour(rgb: [u8; 3], want: Color) -> bool {
    let (hue, saturation) = hue_and_saturation(rgb);
    let want = Hsla::from(want).hue;
    let off = (hue - want).abs().min(360.0 - (hue - want).abs());
    off < 25.0 && saturation > 0.5
}

/// The horizontal distance from `p` to the segment `a`–`b`.
fn off_segment(p: Vec3, a: Vec3, b: Vec3) -> f32 {
    let (p, a, b) = (p.xz(), a.xz(), b.xz());
    let ab = b - a;
    let t = ((p - a).dot(ab) / ab.length_squared()).clamp(0.0, 1.0);
    p.distance(a + ab * t)
}

/// Where the two stand for the pictures: across an aisle from each other,
/// 7 m apart and 1.5 m out in front of a display, so that each, facing the
/// other, sees the display's top to one side. The first display
/// whose two places are on the room's floor, clear of every display, with
/// no display between them. Returns the display and the two floor places.
fn aisle(displays: &[ProductDisplay], layout: &RoomLayout) -> (ProductDisplay, Vec3, Vec3) {
    let b = &layout.bounds;
    let inside = |p: Vec3| {
        // Off the stage, across the north end: its edge would hide the feet.
        p.x > b.min[0] + 1.0
            && p.x < b.max[0] - 1.0
            && p.z > b.min[2] + STAGE_DEPTH + 1.0
            && p.z < b.max[2] - 1.0
    };
    displays
        .iter()
        .find_map(|d| {
            let out = (d.home.rotation * Vec3::NEG_Z).with_y(0.0).normalize();
            let across = Vec3::Y.cross(out);
            let front = d.home.translation.with_y(0.0) + out * 1.5;
            let (one, two) = (front + across * 3.5, front - across * 3.5);
            let clear = displays.iter().all(|other| {
                let at = other.home.translation;
                at.xz().distance(one.xz()) > 1.2
                    && at.xz().distance(two.xz()) > 1.2
                    && off_segment(at, one, two) > 0.8
            });
            (inside(one) && inside(two) && clear).then(|| (d.clone(), one, two))
        })
        .expect("a display with an aisle in front of it")
}

/// Stands the body at `place` (the test's setup: the server brings its
/// avatar there at walking pace), facing `other` (so the crosshair is on
/// them, and their ring mid-picture, clear of the corner panels), pitched
/// halfway between their feet and the marker's place over the display.
fn stand(app: &mut App, place: Vec3, other: Vec3, marker: Vec3) {
    let world = app.world_mut();
    let mut q = world.query::<(&mut Transform, &mut LocalPlayer)>();
    let (mut t, mut player) = q.single_mut(world).expect("the player");
    t.translation = Vec3::new(place.x, t.translation.y, place.z);
    let eye = t.translation + Vec3::Y * (EYE_HEIGHT - BODY_CENTRE);
    let floor = t.translation.y - BODY_CENTRE;
    let look = (other - place).with_y(0.0);
    t.rotation = Quat::from_rotation_y(f32::atan2(-look.x, -look.z));
    let elevation = |at: Vec3| f32::atan2(at.y - eye.y, (at - eye).with_y(0.0).length());
    player.pitch = (elevation(other.with_y(floor)) + elevation(marker)) / 2.0;
}

/// Fails when `at` lies under a drawn UI node (a panel, a toast, a name
/// tag): the pixels there would be the UI's, not the room's.
fn assert_clear_of_ui(app: &mut App, what: &str, at: Vec2) {
    let world = app.world_mut();
    let mut q = world.query::<(
        &ComputedNode,
        &UiGlobalTransform,
        &BackgroundColor,
        &InheritedVisibility,
    )>();
    let over = q
        .iter(world)
        .filter(|(_, _, colour, shown)| colour.0.alpha() > 0.0 && shown.get())
        .find(|(node, transform, _, _)| node.contains_point(**transform, at));
    if let Some((node, transform, _, _)) = over {
        panic!(
            "{what} at {at} is under a UI node of {} at {}",
            node.size(),
            transform.translation
        );
    }
}

/// Where another member's avatar stands in this showroom.
fn avatar_at(app: &mut App, slot: MemberSlot) -> Option<Vec3> {
    let world = app.world_mut();
    let mut q = world.query::<(&RemoteAvatar, &GlobalTransform)>();
    q.iter(world)
        .find(|(a, _)| a.slot == slot)
        .map(|(_, t)| t.translation())
}

/// Where, in this showroom's picture, the other member's ring and the
/// marker over `display` will be: the ring's side nearest us, on the floor.
fn marks_px(app: &mut App, other: MemberSlot, display: &ProductDisplay) -> (Vec2, Vec2) {
    let me = {
        let world = app.world_mut();
        let mut q = world.query_filtered::<&GlobalTransform, With<LocalPlayer>>();
        q.single(world).expect("the player").translation()
    };
    let at = avatar_at(app, other).expect("the other's avatar");
    let towards_me = (me - at).with_y(0.0).normalize();
    let ring = project(app, at + towards_me * 0.5 + Vec3::Y * 0.07).expect("the ring in view");
    let top = display.home.translation + Vec3::Y * (display.half_extents.y + SHARE_LIFT + 0.05);
    let marker = project(app, top).expect("the marker in view");
    for p in [ring, marker] {
        assert!(
            p.x > 30.0 && p.x < WIDTH - 30.0 && p.y > 30.0 && p.y < HEIGHT - 30.0,
            "out of the picture: ring {ring}, marker {marker}"
        );
    }
    assert!(
        ring.distance(marker) > 80.0,
        "ring {ring} and marker {marker} overlap"
    );
    (ring, marker)
}

/// The middle of the left padding of the visible name tag that reads
/// `name` (the letters would hide the tag's colour).
fn name_tag_edge(app: &mut App, name: &str) -> Vec2 {
    let world = app.world_mut();
    let mut q = world.query::<(
        &Text,
        &ComputedNode,
        &UiGlobalTransform,
        &BackgroundColor,
        &InheritedVisibility,
    )>();
    let tags: Vec<Vec2> = q
        .iter(world)
        .filter(|(text, _, _, colour, shown)| {
            text.0 == name && colour.0.alpha() > 0.0 && shown.get()
        })
        .map(|(_, node, transform, _, _)| {
            transform.translation - Vec2::new(node.size().x / 2.0 - 3.0, 0.0)
        })
        .collect();
    assert_eq!(tags.len(), 1, "one name tag for {name}: {tags:?}");
    tags[0]
}

/// How many drawn UI nodes cover `at`.
fn ui_nodes_at(app: &mut App, at: Vec2) -> usize {
    let world = app.world_mut();
    let mut q = world.query::<(
        &ComputedNode,
        &UiGlobalTransform,
        &BackgroundColor,
        &InheritedVisibility,
    )>();
    q.iter(world)
        .filter(|(node, transform, colour, shown)| {
            colour.0.alpha() > 0.0 && shown.get() && node.contains_point(**transform, at)
        })
        .count()
}

/// Checks each mark's place is clear of the UI in its showroom, as drawn now.
fn marks_clear(apps: &mut [&mut App; 2], ana: (Vec2, Vec2), bea: (Vec2, Vec2)) {
    assert_clear_of_ui(apps[0], "Bea's ring, in Ana's picture", ana.0);
    assert_clear_of_ui(apps[0], "the marker, in Ana's picture", ana.1);
    assert_clear_of_ui(apps[1], "Ana's ring, in Bea's picture", bea.0);
    assert_clear_of_ui(apps[1], "the marker, in Bea's picture", bea.1);
}

#[test]
fn party_members_see_each_others_ring_and_a_shared_products_marker() {
    let _one = one_renderer();
    let started = std::time::Instant::now();
    let server = TestServer::start();
    let mut ana = showroom(&server, "Ana", WIDTH as u32, HEIGHT as u32);
    let mut bea = showroom(&server, "Bea", WIDTH as u32, HEIGHT as u32);
    let apps = &mut [&mut ana, &mut bea];
    assert!(
        step_both(apps, Duration::from_secs(180), |apps| {
            apps.iter_mut().all(|app| in_the_room(app))
        }),
        "the showrooms never got into the room: {:?}, {:?}",
        session(apps[0]).link,
        session(apps[1]).link
    );
    let (ana_slot, bea_slot) = (my_slot(apps[0]), my_slot(apps[1]));

    // Across an aisle from each other before a display, facing each other,
    // the display to one side.
    let displays: Vec<ProductDisplay> = {
        let world = apps[0].world_mut();
        world
            .query::<&ProductDisplay>()
            .iter(world)
            .cloned()
            .collect()
    };
    let (display, ana_place, bea_place) =
        aisle(&displays, apps[0].world().resource::<RoomLayout>());
    let product: ProductId = display.product.clone();
    let model = display.home.translation;
    let marker = model + Vec3::Y * (display.half_extents.y + SHARE_LIFT);
    stand(apps[0], ana_place, bea_place, marker);
    stand(apps[1], bea_place, ana_place, marker);
    let arrived = |app: &App, slot: MemberSlot, place: Vec3| {
        session(app)
            .mirror()
            .and_then(|m| m.avatars.get(&slot))
            .is_some_and(|p| Vec3::from_array(p.position).xz().distance(place.xz()) < 0.05)
    };
    assert!(
        step_both(apps, Duration::from_secs(60), |apps| {
            arrived(apps[0], bea_slot, bea_place) && arrived(apps[1], ana_slot, ana_place)
        }),
        "the two never saw each other in their places"
    );
    // The avatars' smoothing catches up with the mirror.
    frames_both(apps, 20);
    let (ring_in_ana, marker_in_ana) = marks_px(apps[0], bea_slot, &display);
    let (ring_in_bea, marker_in_bea) = marks_px(apps[1], ana_slot, &display);

    // Before any party: no mark in either picture.
    let [ana_before, bea_before] = pictures(apps);
    marks_clear(
        apps,
        (ring_in_ana, marker_in_ana),
        (ring_in_bea, marker_in_bea),
    );
    keep(&ana_before, "party-ana-before.png");
    keep(&bea_before, "party-bea-before.png");

    // Ana invites Bea from her showroom with its key; Bea's toast says so,
    // and Y takes it up.
    let bea_account = session(apps[0]).mirror().expect("Ana's room").members[&bea_slot].account;
    assert_eq!(
        Some(bea_account),
        session(apps[1])
            .signed_in
            .as_ref()
            .map(|s| AccountId(s.account_id))
    );
    let together = |app: &App| app.world().resource::<CurrentView>().0.together.clone();
    // Ana faces Bea, so the crosshair is on her: I invites her.
    assert_eq!(
        together(apps[0]).invitable.map(|m| m.account),
        Some(bea_account),
        "Ana should be pointing at Bea"
    );
    key(apps, 0, Key::Character("i".into()), KeyCode::KeyI);
    assert!(
        step_both(apps, Duration::from_secs(10), |apps| {
            together(apps[1]).invite.is_some()
        }),
        "the invite never showed"
    );
    let invite = together(apps[1]).invite.unwrap();
    assert_eq!(invite.text, "Ana invites you to their party (1 member)");
    key(apps, 1, Key::Character("y".into()), KeyCode::KeyY);
    assert!(
        step_both(apps, Duration::from_secs(10), |apps| {
            apps.iter().all(|app| {
                together(app)
                    .party
                    .as_ref()
                    .is_some_and(|p| p.members.len() == 2)
            })
        }),
        "the party never formed: {:?}",
        together(apps[1])
    );
    // Each is marked for the other in the party's colours, the same in
    // both showrooms.
    let (in_ana, in_bea) = (
        &session(apps[0]).mirror().expect("Ana's room").party,
        &session(apps[1]).mirror().expect("Bea's room").party,
    );
    let ana_account = session(apps[1]).mirror().expect("Bea's room").members[&ana_slot].account;
    let ana_colour = in_bea.colour_of(ana_account).expect("Ana's colour");
    let bea_colour = in_ana.colour_of(bea_account).expect("Bea's colour");
    assert_eq!(in_ana.colour_of(ana_account), Some(ana_colour));
    assert_eq!(in_bea.colour_of(bea_account), Some(bea_colour));
    assert_ne!(ana_colour, bea_colour);

    // Bea writes in party chat: "/p " in the chat box sends it there; it
    // reaches Ana's party chat and not her room chat.
    type_line(apps, 1, "/p see you at the stage");
    assert!(
        step_both(apps, Duration::from_secs(10), |apps| {
            session(apps[0]).mirror().is_some_and(|m| {
                m.party.chat.iter().any(|l| {
                    matches!(&l.body, PartyLineBody::Said(t) if t.as_str() == "see you at the stage")
                })
            })
        }),
        "Ana never got Bea's party line"
    );
    assert!(
        !session(apps[0])
            .mirror()
            .unwrap()
            .chat
            .iter()
            .any(|l| l.text.as_str().contains("see you")),
        "a party line must not reach room chat"
    );

    // Ana shares the display's product (the card's *Share with party*
    // action): both party chats get a line that opens its card, then the
    // pictures.
    apps[0]
        .world_mut()
        .write_message(UiAction::ShareProduct(product.clone()));
    assert!(
        step_both(apps, Duration::from_secs(10), |apps| {
            apps.iter().all(|app| {
                together(app)
                    .party_chat
                    .last()
                    .is_some_and(|l| l.product.as_ref() == Some(&product))
            })
        }),
        "the share never reached both: {:?}",
        together(apps[1]).party_chat
    );
    frames_both(apps, 10);
    let [ana_after, bea_after] = pictures(apps);
    marks_clear(
        apps,
        (ring_in_ana, marker_in_ana),
        (ring_in_bea, marker_in_bea),
    );
    println!(
        "marks at {ring_in_ana} {marker_in_ana} (Ana), {ring_in_bea} {marker_in_bea} (Bea); pictures: {} {}",
        keep(&ana_after, "party-ana-after.png").display(),
        keep(&bea_after, "party-bea-after.png").display()
    );

    // In each picture, the other's ring in the other's colour, and Ana's
    // marker over the product; neither before the party.
    let (ana_rgb, bea_rgb) = (party_colour(ana_colour), party_colour(bea_colour));
    let checks = [
        (
            "Bea's ring, in Ana's picture",
            ring_in_ana,
            bea_rgb,
            &ana_before,
            &ana_after,
        ),
        (
            "Ana's ring, in Bea's picture",
            ring_in_bea,
            ana_rgb,
            &bea_before,
            &bea_after,
        ),
        (
            "the marker, in Ana's picture",
            marker_in_ana,
            ana_rgb,
            &ana_before,
            &ana_after,
        ),
        (
            "the marker, in Bea's picture",
            marker_in_bea,
            ana_rgb,
            &bea_before,
            &bea_after,
        ),
    ];
    // Every mark's verdict at once, so a failure says which are missing.
    let mut wrong = Vec::new();
    for (what, at, colour, before, after) in checks {
        let (was, is) = (colour_at(before, at), colour_at(after, at));
        if in_colour(was, colour) {
            wrong.push(format!("{what} at {at} before the party: {was:?}"));
        }
        if !in_colour(is, colour) {
            wrong.push(format!("{what} at {at}: {is:?}, want {colour:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    // The panels read cleanly: Ana's name tag, in her party colour in
    // Bea's picture, goes under the Together panel (P, which opens in the
    // middle of the screen) and does not show through it.
    let tag = name_tag_edge(apps[1], "Ana");
    let tag_rgb = colour_at(&bea_after, tag);
    assert!(
        in_colour(tag_rgb, ana_rgb),
        "Ana's name tag at {tag}: {tag_rgb:?}"
    );
    key(apps, 1, Key::Character("p".into()), KeyCode::KeyP);
    assert!(
        step_both(apps, Duration::from_secs(10), |apps| {
            together(apps[1]).open && ui_nodes_at(apps[1], tag) > 1
        }),
        "the Together panel never opened over Ana's name tag"
    );
    let [_, bea_panel] = pictures(apps);
    keep(&bea_panel, "party-bea-together.png");
    let through = colour_at(&bea_panel, tag);
    assert!(
        !in_colour(through, ana_rgb),
        "Ana's name tag shows through the Together panel at {tag}: {through:?}"
    );
    println!("two-sided party test took {:?}", started.elapsed());
}
