//! The showroom's friends panel for real: a friend in another room shows
//! with where she is and a Join button; pressing it moves the showroom into
//! her room, where she sees it arrive.

use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use vitrine_client::net::{ApiClient, NetClient};
use vitrine_client::showroom::offscreen::{Capture, capture_now};
use vitrine_client::showroom::session::Session;
use vitrine_client::showroom::ui::{CurrentView, UiAction};
use vitrine_tests::{Http, TestServer, joined_as, update_docs_picture};

use crate::{in_the_room, one_renderer, showroom, step};

fn session(app: &bevy::prelude::App) -> &Session {
    app.world().resource::<Session>()
}

#[test]
fn a_friend_elsewhere_is_listed_and_join_takes_the_showroom_to_her_room() {
    let _one = one_renderer();
    let server = TestServer::start();
    let ada = ApiClient::new(&server.url())
        .sign_in("Ada")
        .expect("sign in");
    let mut ada_client: NetClient = joined_as(&server, &ada, "tiny");
    let mut app = showroom(&server, "Camera", 960, 540);
    assert!(
        step(
            &mut app,
            &mut [&mut ada_client],
            Duration::from_secs(120),
            |app, _| in_the_room(app)
        ),
        "the showroom never got into the room: {:?}",
        session(&app).link
    );

    // Ada asks the showroom's shopper by code; it accepts over HTTP.
    let me = session(&app).signed_in.clone().expect("signed in");
    let http = Http::new(&server);
    let (_, code) = http.call("GET", "/api/v1/friends/code", Some(&me.token), None, None);
    let (status, body) = http.call(
        "POST",
        "/api/v1/friends/requests",
        Some(&ada.token),
        None,
        Some(json!({ "code": code["code"] })),
    );
    assert_eq!(status, 200, "{body}");
    let accept = format!("/api/v1/friends/requests/{}/accept", ada.account_id);
    let (status, body) = http.call("POST", &accept, Some(&me.token), None, None);
    assert_eq!(status, 200, "{body}");

    // The panel lists her in the tiny room, with Join.
    let listed = step(
        &mut app,
        &mut [&mut ada_client],
        Duration::from_secs(30),
        |app, _| {
            let view = &app.world().resource::<CurrentView>().0;
            view.friends
                .friends
                .iter()
                .any(|f| f.name == "Ada" && f.place == "Tiny Room" && f.joinable)
        },
    );
    assert!(
        listed,
        "{:?}",
        app.world().resource::<CurrentView>().0.friends
    );

    capture_now(app.world_mut());
    let captured = step(
        &mut app,
        &mut [&mut ada_client],
        Duration::from_secs(60),
        |app, _| app.world().resource::<Capture>().image.is_some(),
    );
    assert!(captured, "no picture came back");
    let image = app.world().resource::<Capture>().image.clone().unwrap();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("showroom-friends.png");
    image
        .try_into_dynamic()
        .expect("a readable picture")
        .to_rgb8()
        .save(&path)
        .expect("saved");
    update_docs_picture(&path, "showroom-friends.png");

    // Join: the showroom stands in her room, and she sees it arrive.
    app.world_mut()
        .write_message(UiAction::JoinFriend(ada.account_id));
    let moved = step(
        &mut app,
        &mut [&mut ada_client],
        Duration::from_secs(120),
        |app, bots| {
            in_the_room(app)
                && session(app)
                    .mirror()
                    .and_then(|m| m.room.as_ref())
                    .is_some_and(|r| r.as_str() == "tiny")
                && bots[0].mirror().member_by_name("Camera").is_some()
        },
    );
    assert!(
        moved,
        "link {:?}, room {:?}",
        session(&app).link,
        session(&app).mirror().and_then(|m| m.room.clone())
    );
    // Now beside her: no Join for someone in this room.
    let here = step(
        &mut app,
        &mut [&mut ada_client],
        Duration::from_secs(30),
        |app, _| {
            let view = &app.world().resource::<CurrentView>().0;
            view.friends
                .friends
                .iter()
                .any(|f| f.name == "Ada" && f.place == "Here" && !f.joinable)
        },
    );
    assert!(
        here,
        "{:?}",
        app.world().resource::<CurrentView>().0.friends
    );
}
