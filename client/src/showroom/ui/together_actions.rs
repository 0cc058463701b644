//! Shopping together, the doing half: the keys (`P` the panel, `Y`/`N` an
//! invite, `J` follow, `I` invite who you look at, `H` share the card's
//! product), who is in the middle of the view, and the together
//! [`UiAction`]s turned into party commands (room commands), friend calls
//! (HTTP, on a worker thread: answering requests, your friend code, adding
//! a friend by a typed code) and room moves ([`SessionRequest`]).

use super::together::{AddFriendAnswer, FriendRequestView, TogetherView, add_friend_answer};
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
use vitrine_shared::friends::{FriendCode, FriendCodeView};
use vitrine_shared::limits::friends::{CODE_CHARS, LINK_PREFIX};
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

/// Friend calls' answers, from their worker threads.
#[derive(Resource)]
struct FriendCalls {
    tx: Sender<FriendAnswer>,
    rx: Mutex<Receiver<FriendAnswer>>,
}

/// What a friend call came back with.
enum FriendAnswer {
    /// A line for the notice: the call failed.
    Failed(String),
    Code(FriendCodeView),
    /// Requests to you waiting from before this room, newest first.
    Waiting(Vec<vitrine_shared::friends::FriendRequestView>),
    /// What adding a friend by code did.
    Added(AddFriendAnswer),
}

/// The longest text the friend-code box takes: a whole link, with room
/// for spaces and dashes.
pub const MAX_CODE_TYPED: usize = LINK_PREFIX.len() + 2 * CODE_CHARS;

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
                if ui.local.together.open {
                    // Your code to give, and requests from before this room.
                    fetch_code_and_requests(&session, &calls, &ui);
                } else {
                    ui.local.together.code_draft = None;
                }
                None
            }
            UiAction::OpenFriendCode => {
                ui.local.together.code_draft = Some(String::new());
                None
            }
            UiAction::AddFriendByCode(typed) => {
                add_friend(&session, &calls, typed, &mut ui);
                None
            }
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
            other => party_command(other),
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

/// The party command a party action sends (a click, a key or an XR ray).
pub(crate) fn party_command(action: &UiAction) -> Option<PartyCommand> {
    match action {
        UiAction::AcceptPartyInvite(party) => Some(PartyCommand::Accept { party: *party }),
        UiAction::DeclinePartyInvite(party) => Some(PartyCommand::Decline { party: *party }),
        UiAction::LeaveParty => Some(PartyCommand::Leave),
        UiAction::RemoveFromParty(account) => Some(PartyCommand::Kick { account: *account }),
        UiAction::MakePartyLeader(account) => Some(PartyCommand::Promote { account: *account }),
        UiAction::InviteToParty(account) => Some(PartyCommand::Invite { account: *account }),
        UiAction::ShareProduct(product) => Some(PartyCommand::Share {
            product: product.clone(),
        }),
        _ => None,
    }
}

/// Fetches your friend code (once) and the requests waiting for you.
fn fetch_code_and_requests(session: &Session, calls: &FriendCalls, ui: &UiState) {
    let (Some(server), Some(signed_in)) = (session.server.clone(), session.signed_in.clone())
    else {
        return;
    };
    let want_code = ui.local.together.code.is_none();
    let tx = calls.tx.clone();
    std::thread::spawn(move || {
        let api = ApiClient::new(&server);
        if want_code {
            let _ = tx.send(match api.friend_code(&signed_in) {
                Ok(code) => FriendAnswer::Code(code),
                Err(e) => FriendAnswer::Failed(format!("Your friend code: {e}")),
            });
        }
        // Failing, the room's own news of requests still lists new ones.
        if let Ok(requests) = api.friend_requests(&signed_in) {
            let _ = tx.send(FriendAnswer::Waiting(requests.incoming));
        }
    });
}

/// Adds a friend by a typed code or link: a malformed one is refused here
/// (and stays in the box to mend); a well-formed one goes to the server,
/// whose answer comes back in words.
fn add_friend(session: &Session, calls: &FriendCalls, typed: &str, ui: &mut UiState) {
    if let Err(e) = FriendCode::parse(typed) {
        ui.local.together.added = Some(AddFriendAnswer {
            text: format!("Not added: {e}"),
            ok: false,
        });
        return;
    }
    let (Some(server), Some(signed_in)) = (session.server.clone(), session.signed_in.clone())
    else {
        ui.notice("Not signed in");
        return;
    };
    ui.local.together.code_draft = None;
    ui.local.together.added = Some(AddFriendAnswer {
        text: "Asking...".into(),
        ok: true,
    });
    let tx = calls.tx.clone();
    let typed = typed.to_owned();
    std::thread::spawn(move || {
        let answer =
            add_friend_answer(&ApiClient::new(&server).send_friend_request(&signed_in, &typed));
        let _ = tx.send(FriendAnswer::Added(answer));
    });
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
            let _ = tx.send(FriendAnswer::Failed(format!("Friend request: {e}")));
        }
    });
}

fn finish_friend_calls(calls: Res<FriendCalls>, mut ui: ResMut<UiState>) {
    let answers: Vec<FriendAnswer> = calls
        .rx
        .lock()
        .map(|rx| rx.try_iter().collect())
        .unwrap_or_default();
    for answer in answers {
        let together = &mut ui.local.together;
        match answer {
            FriendAnswer::Failed(line) => ui.notice(line),
            FriendAnswer::Code(code) => together.code = Some(code),
            FriendAnswer::Waiting(mut incoming) => {
                incoming.reverse();
                together.earlier_requests = incoming
                    .into_iter()
                    .map(|r| FriendRequestView {
                        account: AccountId(r.account),
                        name: r.name,
                    })
                    .collect();
            }
            FriendAnswer::Added(answer) => together.added = Some(answer),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::SignedIn;
    use crate::showroom::focus::UiFocus;
    use bevy::input::ButtonState;
    use bevy::input::keyboard::{Key, KeyboardInput};
    use std::time::{Duration, Instant};

    /// What the systems asked of the session.
    #[derive(Resource, Default)]
    struct Asked(Vec<SessionRequest>);

    fn hear_requests(mut requests: MessageReader<SessionRequest>, mut asked: ResMut<Asked>) {
        asked.0.extend(requests.read().cloned());
    }

    /// The chat box's keys, the together actions and the friend calls'
    /// answers, as the showroom runs them (without a window).
    fn app() -> App {
        let mut app = App::new();
        let (tx, rx) = channel();
        app.add_plugins(MinimalPlugins)
            .init_resource::<UiState>()
            .init_resource::<UiFocus>()
            .init_resource::<CurrentView>()
            .init_resource::<Session>()
            .init_resource::<Asked>()
            .insert_resource(FriendCalls {
                tx,
                rx: Mutex::new(rx),
            })
            .add_message::<UiAction>()
            .add_message::<KeyboardInput>()
            .add_message::<RoomChangeMessage>()
            .add_message::<SendCommand>()
            .add_message::<SessionRequest>()
            .add_systems(
                Update,
                (
                    super::super::chat_keys,
                    together_actions,
                    hear_party,
                    finish_friend_calls,
                    hear_requests,
                )
                    .chain(),
            );
        app.update();
        app
    }

    fn act(app: &mut App, action: UiAction) {
        app.world_mut().write_message(action);
        app.update();
    }

    fn press(app: &mut App, key: Key) {
        app.world_mut().write_message(KeyboardInput {
            key_code: KeyCode::Unidentified(bevy::input::keyboard::NativeKeyCode::Unidentified),
            logical_key: key,
            state: ButtonState::Pressed,
            text: None,
            repeat: false,
            window: Entity::PLACEHOLDER,
        });
        app.update();
    }

    fn type_text(app: &mut App, text: &str) {
        for c in text.chars() {
            press(app, Key::Character(c.to_string().into()));
        }
    }

    fn together(app: &App) -> &super::super::together::TogetherLocal {
        &app.world().resource::<UiState>().local.together
    }

    #[test]
    fn a_typed_friend_code_is_refused_in_words_or_sent_and_its_answer_shown() {
        let mut app = app();
        act(&mut app, UiAction::ToggleTogether);
        assert!(together(&app).open);
        act(&mut app, UiAction::OpenFriendCode);
        assert_eq!(together(&app).code_draft.as_deref(), Some(""));
        // The box has the keys: typing is not chat, and P is a letter.
        type_text(&mut app, "k7qm-3xp");
        assert!(app.world().resource::<UiFocus>().typing);
        assert_eq!(together(&app).code_draft.as_deref(), Some("k7qm-3xp"));
        assert_eq!(app.world().resource::<UiState>().local.chat_draft, None);
        // One letter short: refused here in words, kept to mend.
        press(&mut app, Key::Enter);
        let added = together(&app).added.clone().expect("an answer");
        assert!(!added.ok);
        assert_eq!(
            added.text,
            format!("Not added: {}", vitrine_shared::friends::BadFriendCode)
        );
        assert_eq!(together(&app).code_draft.as_deref(), Some("k7qm-3xp"));

        // Well formed: it goes to the server (none listens here), and the
        // call's answer comes back in words.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        {
            let mut session = app.world_mut().resource_mut::<Session>();
            session.server = Some(format!("http://127.0.0.1:{port}"));
            session.signed_in = Some(SignedIn {
                token: "t".into(),
                account_id: 1,
                display_name: "Me".into(),
            });
        }
        type_text(&mut app, "d");
        press(&mut app, Key::Enter);
        assert_eq!(together(&app).code_draft, None, "sent: the box closes");
        let deadline = Instant::now() + Duration::from_secs(20);
        while together(&app)
            .added
            .as_ref()
            .is_some_and(|a| a.text == "Asking...")
            && Instant::now() < deadline
        {
            app.update();
        }
        let added = together(&app).added.clone().unwrap();
        assert!(
            !added.ok && added.text.starts_with("Not added: cannot reach the server"),
            "{added:?}"
        );
        // The keys are the room's again, from the frame after the Enter that
        // sent (that frame consumed it; the answer may come within it).
        app.update();
        assert!(!app.world().resource::<UiFocus>().typing);

        // Esc closes the box without sending.
        act(&mut app, UiAction::OpenFriendCode);
        type_text(&mut app, "abc");
        press(&mut app, Key::Escape);
        assert_eq!(together(&app).code_draft, None);
        // Closing the panel closes the box too.
        act(&mut app, UiAction::OpenFriendCode);
        act(&mut app, UiAction::ToggleTogether);
        assert!(!together(&app).open && together(&app).code_draft.is_none());
    }

    /// Esc that closes a text box is the box's: the cart, the checkout's
    /// confirmation and the follow offer (which read Esc too) stay.
    #[test]
    fn esc_closing_a_text_box_closes_nothing_else() {
        use super::super::together::FollowPrompt;
        let mut app = App::new();
        let (tx, rx) = channel();
        app.add_plugins((MinimalPlugins, bevy::input::InputPlugin))
            .init_resource::<UiState>()
            .init_resource::<UiFocus>()
            .init_resource::<CurrentView>()
            .init_resource::<Session>()
            .insert_resource(FriendCalls {
                tx,
                rx: Mutex::new(rx),
            })
            .add_message::<UiAction>()
            .add_message::<SessionRequest>()
            .add_message::<RoomChangeMessage>()
            .add_message::<SendCommand>()
            .add_systems(
                Update,
                (
                    (
                        super::super::chat_keys.in_set(FocusDecided),
                        super::super::shortcut_keys,
                    )
                        .chain(),
                    together_keys.after(FocusDecided),
                    together_actions.after(together_keys),
                ),
            );
        let room = vitrine_shared::RoomId::new("studio-b").unwrap();
        app.world_mut()
            .resource_mut::<CurrentView>()
            .0
            .together
            .follow = Some(FollowPrompt {
            room: room.clone(),
            text: "Bea moved to Studio B: press J to follow".into(),
            moved: "Bea moved to Studio B".into(),
            may_be_full: false,
        });
        {
            let mut ui = app.world_mut().resource_mut::<UiState>();
            ui.local.cart_open = true;
            ui.local.checkout = Some(7);
        }
        app.update();
        let esc = |app: &mut App| {
            app.world_mut().write_message(KeyboardInput {
                key_code: KeyCode::Escape,
                logical_key: Key::Escape,
                state: ButtonState::Pressed,
                text: None,
                repeat: false,
                window: Entity::PLACEHOLDER,
            });
            app.update();
            app.world_mut().write_message(KeyboardInput {
                key_code: KeyCode::Escape,
                logical_key: Key::Escape,
                state: ButtonState::Released,
                text: None,
                repeat: false,
                window: Entity::PLACEHOLDER,
            });
            app.update();
        };
        let ui = |app: &App| app.world().resource::<UiState>().local.clone();
        for open_box in [
            |ui: &mut UiState| ui.local.together.code_draft = Some("k7qm".into()),
            |ui: &mut UiState| ui.local.chat_draft = Some("hi".into()),
        ] {
            open_box(&mut app.world_mut().resource_mut::<UiState>());
            app.update();
            esc(&mut app);
            let after = ui(&app);
            assert!(after.together.code_draft.is_none() && after.chat_draft.is_none());
            assert!(after.cart_open, "the cart stays open");
            assert_eq!(after.checkout, Some(7), "the confirmation stays");
            assert_eq!(after.together.dismissed_follow, None, "the offer stays");
            assert!(!app.world().resource::<UiFocus>().typing);
        }
        // With no box open, Esc is the room's: it closes them all.
        esc(&mut app);
        let after = ui(&app);
        assert!(!after.cart_open && after.checkout.is_none());
        assert_eq!(after.together.dismissed_follow, Some(room));
    }

    #[test]
    fn join_friend_and_follow_ask_the_session_and_answering_a_request_takes_it_off() {
        let mut app = app();
        act(&mut app, UiAction::JoinFriend(AccountId(5)));
        let room = vitrine_shared::RoomId::new("studio-b").unwrap();
        act(&mut app, UiAction::FollowLeader(room.clone()));
        assert_eq!(
            app.world().resource::<Asked>().0,
            [
                SessionRequest::JoinFriend {
                    account: AccountId(5)
                },
                SessionRequest::SwitchRoom {
                    room: "studio-b".into()
                },
            ]
        );
        assert_eq!(together(&app).dismissed_follow, Some(room));
        // Signed in (to a server that is not there): the answered request
        // leaves the list at once.
        app.world_mut().resource_mut::<Session>().server = Some("http://127.0.0.1:9".into());
        app.world_mut().resource_mut::<Session>().signed_in = Some(SignedIn {
            token: "t".into(),
            account_id: 1,
            display_name: "Me".into(),
        });
        act(&mut app, UiAction::DeclineFriend(AccountId(11)));
        assert!(together(&app).answered.contains(&AccountId(11)));
    }
}
