//! Shopping together, the doing half: the keys (`P` the panel, `Y`/`N` an
//! invite, `J` follow, `I` invite who you look at, `H` share the card's
//! product), who is in the middle of the view, and the together
//! [`UiAction`]s turned into party commands (room commands), friend calls
//! (HTTP, on a worker thread) and room moves ([`SessionRequest`]).

use super::together::TogetherView;
use super::{CurrentView, UiAction, UiState};
use crate::net::{ApiClient, RoomChange};
use crate::showroom::avatars::RemoteAvatar;
use crate::showroom::focus::{FocusDecided, UiFocus};
use crate::showroom::player::MainCamera;
use crate::showroom::session::{RoomChangeMessage, SendCommand, Session, SessionRequest};
use crate::showroom::{AppState, ShowroomSystems};
use bevy::prelude::*;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use vitrine_shared::protocol::{PartyCommand, PartyEventNet};
use vitrine_shared::{AccountId, RoomCommand};

/// How far off the view's centre (radians) and how far away (metres)
/// another shopper still counts as "the one you look at".
const POINT_ANGLE: f32 = 0.12;
const POINT_RANGE: f32 = 12.0;

pub(super) fn plugin(app: &mut App) {
    let (tx, rx) = channel();
    app.insert_resource(FriendCalls {
        tx,
        rx: Mutex::new(rx),
    })
    .add_message::<SessionRequest>()
    .add_message::<SendCommand>()
    .add_systems(
        Update,
        (together_keys.after(FocusDecided), point_at_shoppers)
            .in_set(ShowroomSystems::Input)
            .run_if(in_state(AppState::Showroom)),
    )
    .add_systems(
        Update,
        (together_actions, hear_party, finish_friend_calls)
            .chain()
            .in_set(ShowroomSystems::Present)
            .before(super::ViewBuilt)
            .run_if(in_state(AppState::Showroom)),
    );
}

/// Friend calls' answers: a line for the notice when one failed.
#[derive(Resource)]
struct FriendCalls {
    tx: Sender<String>,
    rx: Mutex<Receiver<String>>,
}

/// The keys act on what the view shows (last frame's: what is on screen).
fn together_keys(
    keys: Res<ButtonInput<KeyCode>>,
    focus: Res<UiFocus>,
    current: Res<CurrentView>,
    mut actions: MessageWriter<UiAction>,
) {
    if focus.typing {
        return;
    }
    let view: &TogetherView = &current.0.together;
    let pressed = |k| keys.just_pressed(k);
    if pressed(KeyCode::KeyP) {
        actions.write(UiAction::ToggleTogether);
    }
    if let Some(invite) = &view.invite {
        if pressed(KeyCode::KeyY) {
            actions.write(UiAction::AcceptPartyInvite(invite.party));
        }
        if pressed(KeyCode::KeyN) {
            actions.write(UiAction::DeclinePartyInvite(invite.party));
        }
    }
    if let Some(follow) = &view.follow {
        if pressed(KeyCode::KeyJ) {
            actions.write(UiAction::FollowLeader(follow.room.clone()));
        }
        if pressed(KeyCode::Escape) {
            actions.write(UiAction::DismissFollow);
        }
    }
    if let Some(member) = &view.invitable
        && pressed(KeyCode::KeyI)
    {
        actions.write(UiAction::InviteToParty(member.account));
    }
    if let Some(product) = &view.shareable
        && pressed(KeyCode::KeyH)
    {
        actions.write(UiAction::ShareProduct(product.clone()));
    }
}

/// The other shopper nearest the middle of the view (the crosshair), if
/// one is close enough to it.
fn point_at_shoppers(
    session: Res<Session>,
    camera: Query<&GlobalTransform, With<MainCamera>>,
    avatars: Query<(&RemoteAvatar, &GlobalTransform, &Visibility)>,
    mut ui: ResMut<UiState>,
) {
    let pointed = (|| {
        let mirror = session.mirror()?;
        let eye = camera.single().ok()?;
        let forward = eye.forward().as_vec3();
        avatars
            .iter()
            .filter(|(_, _, v)| **v != Visibility::Hidden)
            .filter_map(|(a, at, _)| {
                let chest = at.translation() + Vec3::Y * 1.2;
                let to = chest - eye.translation();
                let distance = to.length();
                let angle = forward.angle_between(to);
                (distance < POINT_RANGE && angle < POINT_ANGLE).then_some((a.slot, angle))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .and_then(|(slot, _)| mirror.members.get(&slot).map(|m| m.account))
    })();
    if ui.local.together.pointed != pointed {
        ui.local.together.pointed = pointed;
    }
}

fn together_actions(
    mut actions: MessageReader<UiAction>,
    session: Res<Session>,
    current: Res<CurrentView>,
    calls: Res<FriendCalls>,
    mut send: MessageWriter<SendCommand>,
    mut requests: MessageWriter<SessionRequest>,
    mut ui: ResMut<UiState>,
) {
    for action in actions.read() {
        let party = match action {
            UiAction::ToggleTogether => {
                ui.local.together.open = !ui.local.together.open;
                None
            }
            UiAction::AcceptPartyInvite(party) => Some(PartyCommand::Accept { party: *party }),
            UiAction::DeclinePartyInvite(party) => Some(PartyCommand::Decline { party: *party }),
            UiAction::LeaveParty => Some(PartyCommand::Leave),
            UiAction::InviteToParty(account) => Some(PartyCommand::Invite { account: *account }),
            UiAction::ShareProduct(product) => Some(PartyCommand::Share {
                product: product.clone(),
            }),
            UiAction::FollowLeader(room) => {
                ui.local.together.dismissed_follow = Some(room.clone());
                requests.write(SessionRequest::SwitchRoom {
                    room: room.to_string(),
                });
                None
            }
            UiAction::DismissFollow => {
                ui.local.together.dismissed_follow =
                    current.0.together.follow.as_ref().map(|f| f.room.clone());
                None
            }
            UiAction::JoinFriend(account) => {
                requests.write(SessionRequest::JoinFriend { account: *account });
                None
            }
            UiAction::AcceptFriend(account) | UiAction::DeclineFriend(account) => {
                let accept = matches!(action, UiAction::AcceptFriend(_));
                friend_call(&session, &calls, *account, accept, &mut ui);
                None
            }
            _ => None,
        };
        if let Some(command) = party {
            if session.can_send() {
                send.write(SendCommand(RoomCommand::Party(command)));
            } else {
                ui.notice("Not connected: try again in a moment");
            }
        }
    }
}

/// Answers a friend request over HTTP on a worker thread; the request
/// leaves the list at once (an accept is confirmed by the room's
/// `Added`, a decline is not echoed).
fn friend_call(
    session: &Session,
    calls: &FriendCalls,
    account: AccountId,
    accept: bool,
    ui: &mut UiState,
) {
    let (Some(server), Some(signed_in)) = (session.server.clone(), session.signed_in.clone())
    else {
        ui.notice("Not signed in");
        return;
    };
    ui.local.together.answered.insert(account);
    let tx = calls.tx.clone();
    std::thread::spawn(move || {
        let api = ApiClient::new(&server);
        let result = if accept {
            api.accept_friend_request(&signed_in, account)
        } else {
            api.decline_friend_request(&signed_in, account)
        };
        if let Err(e) = result {
            let _ = tx.send(format!("Friend request: {e}"));
        }
    });
}

fn finish_friend_calls(calls: Res<FriendCalls>, mut ui: ResMut<UiState>) {
    let failed: Vec<String> = calls
        .rx
        .lock()
        .map(|rx| rx.try_iter().collect())
        .unwrap_or_default();
    if let Some(last) = failed.into_iter().last() {
        ui.notice(last);
    }
}

/// Party news that needs a word on screen: refusals, an exit, a decline.
fn hear_party(mut changes: MessageReader<RoomChangeMessage>, mut ui: ResMut<UiState>) {
    for RoomChangeMessage(change) in changes.read() {
        let RoomChange::Party(event) = change else {
            continue;
        };
        match event {
            PartyEventNet::Refused { refusal, .. } => ui.notice(format!("Party: {refusal}")),
            PartyEventNet::Exited { why, .. } => ui.notice(super::together::exit_words(*why)),
            PartyEventNet::InviteDeclined { name, .. } => {
                ui.notice(format!("{} declined your invite", name.as_str()))
            }
            _ => {}
        }
    }
}
