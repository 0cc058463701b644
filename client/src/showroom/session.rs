//! The link to the server: sign in and join on a worker thread (HTTP
//! blocks), then drive [`NetClient`] every frame. A lost link keeps the room
//! on screen, says so, and rejoins with backoff by itself.
//!
//! The session is the only writer of [`Session`]; features read it (the
//! room's mirror, the link's state) and talk to it through messages:
//! - [`SendCommand`]: a room command to send;
//! - [`OutgoingPose`]: the avatar's pose, set each frame;
//! - [`SessionRequest`]: the start screen's find rooms, join and leave;
//! - [`OutgoingVoice`] and [`IncomingVoice`]: voice frames to send, and
//!   those received (the voice feature's).
//!
//! All of them go out in [`ShowroomSystems::Send`], after every feature has
//! had its say for the frame.

use super::{AppState, Options, ShowroomSystems};
use crate::net::{ApiClient, NetClient, RoomChange, RoomMirror, SignedIn};
use bevy::prelude::*;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::Duration;
use vitrine_shared::api::{JoinTicket, ProductView, RoomInfo};
use vitrine_shared::protocol::{MemberInfo, VoiceDown, VoiceUp};
use vitrine_shared::{
    AccountId, DisplayName, MemberSlot, PoseNet, Role, RoomBounds, RoomCommand, RoomId,
};

/// Without snapshots arriving, the pose still goes out this often (a new
/// link, a server that stalls): inputs otherwise follow the snapshots.
const POSE_WITHOUT_SNAPSHOT: f32 = 0.1;
/// Rejoin waits 1 s, then doubles up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// A room with no server behind it (offline pictures, the bench) is the
/// main stage's size: width, depth and height in metres.
pub const OFFLINE_ROOM: (f32, f32, f32) = (30.0, 20.0, 5.0);

/// The offline room's bounds.
pub fn offline_bounds() -> RoomBounds {
    let (w, d, h) = OFFLINE_ROOM;
    RoomBounds::centered(w, d, h)
}

pub(super) fn plugin(app: &mut App) {
    let session = Session::from_options(app.world().resource::<Options>());
    app.insert_resource(session)
        .init_resource::<OutgoingPose>()
        .add_message::<RoomChangeMessage>()
        .add_message::<SendCommand>()
        .add_message::<SessionRequest>()
        .add_message::<OutgoingVoice>()
        .add_message::<IncomingVoice>()
        .add_systems(OnEnter(AppState::Connecting), start_join)
        .add_systems(
            Update,
            (
                finish_join,
                receive,
                bench_crowd.run_if(
                    in_state(AppState::Showroom)
                        .and_then(|o: Res<Options>| o.bench && o.server.is_none()),
                ),
            )
                .chain()
                .in_set(ShowroomSystems::Receive),
        )
        // After the screens' input, before they draw what came of it.
        .add_systems(Update, answer_requests.in_set(ShowroomSystems::Simulate))
        .add_systems(
            Update,
            (send_commands, send_pose, send_voice, flush)
                .chain()
                .in_set(ShowroomSystems::Send),
        )
        .add_systems(Update, finish_rooms);
}

/// A room command a feature wants sent. The session sends it in
/// [`ShowroomSystems::Send`]; while the link is down it is dropped, as the
/// server would not hear it (a feature that says so checks
/// [`Session::can_send`] first).
#[derive(Message, Debug, Clone, PartialEq)]
pub struct SendCommand(pub RoomCommand);

/// A voice frame to send on the voice channel (unreliable). Dropped while
/// the link is down: a late voice frame is worth nothing.
#[derive(Message, Debug, Clone, PartialEq)]
pub struct OutgoingVoice(pub VoiceUp);

/// A voice frame the server forwarded, as it arrived this frame.
#[derive(Message, Debug, Clone, PartialEq)]
pub struct IncomingVoice(pub VoiceDown);

/// The pose the avatar should send: the player (desktop) or the rig (XR)
/// sets it; the session sends it at the server's tick rate.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq)]
pub struct OutgoingPose(pub Option<PoseNet>);

/// What the start and joining screens ask of the session.
#[derive(Message, Debug, Clone, PartialEq)]
pub enum SessionRequest {
    /// List the rooms on this server.
    FindRooms { server: String },
    /// Sign in as `name` and join `room`: the app moves on to
    /// [`AppState::Connecting`]. An empty name is refused with a note in
    /// [`Session::rooms_error`].
    Join {
        name: String,
        server: String,
        room: String,
    },
    /// Leave the room and go back to the start screen.
    Leave,
    /// Move to another room as the same account (following the party's
    /// leader): the party and friends come along, as they belong to the
    /// account.
    SwitchRoom { room: String },
    /// Move to the room a friend is in (`POST /api/v1/friends/{id}/join`:
    /// the server says which room, after the same checks as a join).
    JoinFriend { account: AccountId },
}

/// Where the link stands, for the UI to say.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkState {
    /// Not asked to join yet (start screen, or offline rendering).
    Idle,
    /// Signing in and joining.
    Joining,
    /// In the room.
    Connected,
    /// The link dropped; rejoining after `retry_in`.
    Lost {
        reason: String,
        attempt: u32,
        retry_in: Duration,
    },
    /// A moderator removed us, or the server refused for good.
    Closed(String),
}

/// Something that happened in the room this frame (from the mirror).
#[derive(Message, Debug, Clone)]
pub struct RoomChangeMessage(pub RoomChange);

type JoinResult = Result<Joined, String>;

struct Joined {
    signed_in: SignedIn,
    ticket: JoinTicket,
    catalog: Vec<ProductView>,
}

#[derive(Resource)]
pub struct Session {
    pub server: Option<String>,
    pub name: String,
    pub room: Option<String>,
    pub link: LinkState,
    pub net: Option<NetClient>,
    pub signed_in: Option<SignedIn>,
    /// The server's catalog, once joined (the local file when offline).
    pub catalog: Option<Vec<ProductView>>,
    /// Rooms listed on the start screen.
    pub rooms: Vec<RoomInfo>,
    pub rooms_error: Option<String>,
    join: Option<Mutex<Receiver<JoinResult>>>,
    rooms_pending: Option<Mutex<Receiver<Result<Vec<RoomInfo>, String>>>>,
    since_sent: f32,
    /// The newest snapshot the last input acknowledged (`None` on a new
    /// link: the server has not seen our pose yet).
    acked: Option<u32>,
    /// The commands the features asked to send this frame, in order.
    outbox: Vec<RoomCommand>,
    /// A room with no server behind it (the bench's crowd).
    pub offline: Option<RoomMirror>,
    /// The room as last seen while the link is down: the screen keeps it.
    last_room: Option<RoomMirror>,
    /// The next join goes to this friend's room (then to that room by id).
    via_friend: Option<AccountId>,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            server: None,
            name: String::new(),
            room: None,
            link: LinkState::Idle,
            net: None,
            signed_in: None,
            catalog: None,
            rooms: Vec::new(),
            rooms_error: None,
            join: None,
            rooms_pending: None,
            since_sent: 0.0,
            acked: None,
            outbox: Vec::new(),
            offline: None,
            last_room: None,
            via_friend: None,
        }
    }
}

impl Session {
    /// Whether a command sent now reaches the server: the link is up.
    pub fn can_send(&self) -> bool {
        self.net.as_ref().is_some_and(|net| net.is_connected())
    }

    /// The commands the features asked to send this frame (after
    /// [`ShowroomSystems::Send`]), whether or not the link took them.
    pub fn outbox(&self) -> &[RoomCommand] {
        &self.outbox
    }

    pub fn mirror(&self) -> Option<&RoomMirror> {
        self.net
            .as_ref()
            .map(|n| n.mirror())
            .or(self.offline.as_ref())
    }

    pub fn connected(&self) -> bool {
        self.link == LinkState::Connected
    }

    /// Drops the link, keeping the room as last seen on screen.
    fn give_up_link(&mut self) {
        if let Some(mut net) = self.net.take() {
            net.disconnect();
            let mirror = net.into_mirror();
            if mirror.is_welcomed() {
                self.last_room = Some(mirror);
            }
        }
    }

    /// Leaves the room and forgets it (the start screen's Back button).
    fn leave(&mut self) {
        self.join = None;
        self.give_up_link();
        self.last_room = None;
        self.link = LinkState::Idle;
    }

    /// Asks the server for its rooms (on a worker thread: the answer
    /// shows on the start screen when it comes).
    fn refresh_rooms(&mut self) {
        let Some(server) = self.server.clone() else {
            self.rooms_error = Some("enter a server URL".into());
            return;
        };
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let _ = tx.send(ApiClient::new(&server).rooms().map_err(|e| e.to_string()));
        });
        self.rooms_pending = Some(Mutex::new(rx));
        self.rooms_error = Some("looking for rooms...".into());
    }

    fn spawn_join(&mut self) {
        if let (Some(friend), Some(server), Some(signed_in)) =
            (self.via_friend, self.server.clone(), self.signed_in.clone())
        {
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                let _ = tx.send(join_friend(&server, signed_in, friend));
            });
            self.join = Some(Mutex::new(rx));
            self.link = LinkState::Joining;
            return;
        }
        let (Some(server), Some(room)) = (self.server.clone(), self.room.clone()) else {
            self.link = LinkState::Closed("no server or room to join".into());
            return;
        };
        let name = self.name.clone();
        let signed_in = self.signed_in.clone();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let _ = tx.send(join(&server, &name, &room, signed_in));
        });
        self.join = Some(Mutex::new(rx));
        self.link = LinkState::Joining;
    }
}

fn join(server: &str, name: &str, room: &str, signed_in: Option<SignedIn>) -> JoinResult {
    let api = ApiClient::new(server);
    let signed_in = match signed_in {
        Some(s) => s,
        None => api
            .sign_in(name)
            .map_err(|e| format!("sign-in failed: {e}"))?,
    };
    let ticket = match api.join(&signed_in, room) {
        // A token that expired meanwhile: sign in afresh once.
        Err(e) if e.status() == Some(401) => {
            let fresh = api
                .sign_in(name)
                .map_err(|e| format!("sign-in failed: {e}"))?;
            let ticket = api
                .join(&fresh, room)
                .map_err(|e| format!("join failed: {e}"))?;
            return Ok(Joined {
                catalog: api.products().map_err(|e| format!("catalog: {e}"))?,
                signed_in: fresh,
                ticket,
            });
        }
        other => other.map_err(|e| format!("join failed: {e}"))?,
    };
    let catalog = api.products().map_err(|e| format!("catalog: {e}"))?;
    Ok(Joined {
        signed_in,
        ticket,
        catalog,
    })
}

fn join_friend(server: &str, signed_in: SignedIn, friend: AccountId) -> JoinResult {
    let api = ApiClient::new(server);
    let ticket = api
        .join_friend(&signed_in, friend)
        .map_err(|e| format!("joining your friend failed: {e}"))?;
    let catalog = api.products().map_err(|e| format!("catalog: {e}"))?;
    Ok(Joined {
        signed_in,
        ticket,
        catalog,
    })
}

/// Which screen the app opens on: `--server`, `--name` and `--room`
/// together skip the start screen; offline rendering goes straight into
/// the room with the local catalog.
pub fn first_screen(options: &Options) -> AppState {
    if options.server.is_some() && options.room.is_some() {
        AppState::Connecting
    } else if options.offscreen() {
        AppState::Showroom
    } else {
        AppState::Start
    }
}

impl Session {
    pub fn from_options(options: &Options) -> Self {
        Session {
            server: options.server.clone(),
            name: options
                .name
                .clone()
                .unwrap_or_else(|| format!("Shopper {}", rand::random::<u16>() % 1000)),
            room: options.room.clone(),
            ..Default::default()
        }
    }
}

/// Polls the room list fetched for the start screen.
fn finish_rooms(mut session: ResMut<Session>) {
    let Some(rx) = &session.rooms_pending else {
        return;
    };
    let result = match rx.lock().map(|rx| rx.try_recv()) {
        Ok(Ok(result)) => result,
        Ok(Err(TryRecvError::Empty)) => return,
        _ => Err("the room list request stopped".into()),
    };
    session.rooms_pending = None;
    match result {
        Ok(rooms) => {
            session.rooms = rooms;
            session.rooms_error = None;
        }
        Err(e) => session.rooms_error = Some(e),
    }
}

fn start_join(mut session: ResMut<Session>) {
    session.spawn_join();
}

fn finish_join(mut session: ResMut<Session>) {
    let Some(rx) = &session.join else {
        return;
    };
    let result = match rx.lock().map(|rx| rx.try_recv()) {
        Ok(Ok(result)) => result,
        Ok(Err(TryRecvError::Empty)) => return,
        _ => Err("the join thread stopped".into()),
    };
    session.join = None;
    let attempt = match &session.link {
        LinkState::Lost { attempt, .. } => *attempt,
        _ => 0,
    };
    match result.and_then(|joined| {
        NetClient::connect(&joined.ticket)
            .map(|net| (joined, net))
            .map_err(|e| e.to_string())
    }) {
        Ok((joined, net)) => {
            // A friend's room is a room like any other from now on (a
            // rejoin after a lost link goes back to it).
            session.via_friend = None;
            session.room = Some(joined.ticket.room.clone());
            session.signed_in = Some(joined.signed_in);
            session.catalog = Some(joined.catalog);
            session.net = Some(net);
            // Stays "joining" until the room's welcome arrives.
        }
        Err(reason) => lose(&mut session, reason, attempt + 1),
    }
}

fn lose(session: &mut Session, reason: String, attempt: u32) {
    let retry_in = Duration::from_secs(1 << attempt.min(3)).min(MAX_BACKOFF);
    warn!("link lost ({reason}); rejoining in {retry_in:?}");
    session.link = LinkState::Lost {
        reason,
        attempt,
        retry_in,
    };
}

fn receive(
    time: Res<Time>,
    mut session: ResMut<Session>,
    state: Res<State<AppState>>,
    mut next: ResMut<NextState<AppState>>,
    mut changes: MessageWriter<RoomChangeMessage>,
    mut voice: MessageWriter<IncomingVoice>,
) {
    let dt = time.delta();
    let session = &mut *session;
    // Count down to a rejoin.
    if session.net.is_none() {
        if let LinkState::Lost {
            retry_in, attempt, ..
        } = &mut session.link
        {
            *retry_in = retry_in.saturating_sub(dt);
            let attempt = *attempt;
            if retry_in.is_zero() && session.join.is_none() {
                session.spawn_join();
                // Still "lost" for the UI, counting attempts across rejoins.
                if session.link == LinkState::Joining {
                    session.link = LinkState::Lost {
                        reason: "rejoining...".into(),
                        attempt,
                        retry_in: Duration::MAX,
                    };
                }
            }
        }
        return;
    }
    let Some(net) = &mut session.net else {
        return;
    };
    let result = net.update(dt);
    let welcomed = net.mirror().is_welcomed();
    for change in net.mirror_mut().drain_changes() {
        changes.write(RoomChangeMessage(change));
    }
    for frame in net.drain_voice() {
        voice.write(IncomingVoice(frame));
    }
    let removed = net.mirror().removed.clone();
    let lost = match result {
        Err(e) => Some(e.to_string()),
        Ok(()) if net.is_disconnected() => Some(
            net.disconnect_reason()
                .unwrap_or_else(|| "disconnected".into()),
        ),
        Ok(()) => None,
    };
    if let Some((banned, reason)) = removed {
        let verb = if banned { "banned" } else { "removed" };
        session.link = LinkState::Closed(format!("A moderator {verb} you: {reason}"));
        session.give_up_link();
        return;
    }
    if let Some(reason) = lost {
        let attempt = match &session.link {
            LinkState::Lost { attempt, .. } => *attempt + 1,
            _ => 0,
        };
        session.give_up_link();
        lose(session, reason, attempt);
        return;
    }
    if welcomed && session.link != LinkState::Connected {
        session.link = LinkState::Connected;
        session.last_room = None;
        // A new link: the server has not seen our pose yet.
        session.acked = None;
        if *state.get() != AppState::Showroom {
            next.set(AppState::Showroom);
        }
    }
}

/// What the screens asked: find rooms, join, leave.
fn answer_requests(
    mut requests: MessageReader<SessionRequest>,
    mut session: ResMut<Session>,
    mut next: ResMut<NextState<AppState>>,
) {
    for request in requests.read() {
        match request {
            SessionRequest::FindRooms { server } => {
                session.server = Some(server.clone());
                session.refresh_rooms();
            }
            SessionRequest::Join { name, .. } if name.trim().is_empty() => {
                session.rooms_error = Some("enter a display name first".into());
            }
            SessionRequest::Join { name, server, room } => {
                session.name = name.trim().to_owned();
                session.server = Some(server.clone());
                session.room = Some(room.clone());
                session.signed_in = None;
                next.set(AppState::Connecting);
            }
            SessionRequest::Leave => {
                session.leave();
                next.set(AppState::Start);
            }
            // Without an account yet (offline, or still signing in) there
            // is nobody to move.
            SessionRequest::SwitchRoom { .. } | SessionRequest::JoinFriend { .. }
                if session.signed_in.is_none() => {}
            SessionRequest::SwitchRoom { room } => {
                session.leave();
                session.room = Some(room.clone());
                next.set(AppState::Connecting);
            }
            SessionRequest::JoinFriend { account } => {
                session.leave();
                session.via_friend = Some(*account);
                next.set(AppState::Connecting);
            }
        }
    }
}

/// The features' commands go to the link, in the order they were written.
fn send_commands(mut commands: MessageReader<SendCommand>, mut session: ResMut<Session>) {
    let session = &mut *session;
    session.outbox.clear();
    session
        .outbox
        .extend(commands.read().map(|SendCommand(c)| c.clone()));
    if let Some(net) = &mut session.net
        && net.is_connected()
    {
        for command in &session.outbox {
            net.send_command(command.clone());
        }
    }
}

/// An input (the pose, and the newest snapshot held) goes out as each
/// snapshot arrives: the server learns at once which baseline this client
/// holds (a late acknowledgement makes it send again what already arrived),
/// and the pose goes at the snapshot rate, the most the server uses.
fn send_pose(time: Res<Time>, pose: Res<OutgoingPose>, mut session: ResMut<Session>) {
    session.since_sent += time.delta_secs();
    let Some(pose) = pose.0 else {
        return;
    };
    let (since_sent, acked) = (session.since_sent, session.acked);
    let Some(net) = &mut session.net else {
        return;
    };
    if !net.is_connected() || !net.mirror().is_welcomed() {
        return;
    }
    let latest = net.mirror().latest_snapshot;
    if (latest.is_some() && latest != acked) || since_sent >= POSE_WITHOUT_SNAPSHOT {
        net.send_pose(pose);
        session.acked = latest;
        session.since_sent = 0.0;
    }
}

/// The voice feature's frames go out as they were captured, after the
/// commands; nothing is kept for later.
fn send_voice(mut frames: MessageReader<OutgoingVoice>, mut session: ResMut<Session>) {
    match &mut session.net {
        Some(net) if net.is_connected() && net.mirror().is_welcomed() => {
            for OutgoingVoice(frame) in frames.read() {
                net.send_voice(frame);
            }
        }
        _ => frames.clear(),
    }
}

fn flush(mut session: ResMut<Session>) {
    let Some(net) = &mut session.net else {
        return;
    };
    if let Err(e) = net.flush() {
        warn!("send failed: {e}");
    }
}

/// The bench's crowd (`--bench` without a server): shoppers walking
/// circuits, fed through the offline room's mirror as if their snapshots
/// came from a server at 20 Hz, so interpolation, name tags and everything
/// else run as in a real room. It lives here because the session is the
/// only writer of the room everyone reads.
fn bench_crowd(
    options: Res<Options>,
    time: Res<Time>,
    mut session: ResMut<Session>,
    mut since: Local<f32>,
    mut tick: Local<u32>,
) {
    // Runs only on a bench with no server: its `run_if` says so.
    let mirror = session.offline.get_or_insert_with(|| {
        let mut m = RoomMirror::default();
        m.room = RoomId::new("bench").ok();
        m.room_name = "Bench".into();
        m.you = Some(MemberSlot(0));
        m.bounds = Some(offline_bounds());
        for i in 1..=options.avatars as u16 {
            let slot = MemberSlot(i);
            m.members.insert(
                slot,
                MemberInfo {
                    slot,
                    account: AccountId(1000 + i as u64),
                    name: DisplayName::new(format!("Shopper {i}")).expect("a valid name"),
                    role: Role::Shopper,
                },
            );
        }
        m
    });
    *since += time.delta_secs();
    if *since < 0.05 {
        return;
    }
    *since = 0.0;
    *tick += 1; // numbered at 20 Hz, as the server numbers its snapshots
    let t = *tick as f32 / 20.0;
    let b = mirror.bounds.unwrap_or_else(offline_bounds);
    // Up and down the aisles between the display lines, at walking pace.
    let lanes = [-1.5f32, 0.0, 1.5, -5.25, 5.25, -8.75, 8.75];
    let (z0, z1) = (b.min[2] + 5.0, b.max[2] - 1.0);
    for (i, slot) in mirror
        .members
        .keys()
        .copied()
        .collect::<Vec<_>>()
        .into_iter()
        .enumerate()
    {
        let x = lanes[i % lanes.len()].clamp(b.min[0] + 0.5, b.max[0] - 0.5);
        let length = z1 - z0;
        let travelled = (t * 1.2 + i as f32 * 2.3) % (2.0 * length);
        let (z, yaw) = if travelled < length {
            (z0 + travelled, 0.0)
        } else {
            (z1 - (travelled - length), std::f32::consts::PI)
        };
        mirror.avatars.insert(slot, PoseNet::at([x, 0.0, z], yaw));
    }
    mirror.latest_snapshot = Some(*tick);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::state::app::StatesPlugin;
    use vitrine_shared::Reaction;

    /// The session alone, offline, on the start screen: no window, no
    /// sockets.
    fn app() -> App {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StatesPlugin))
            .insert_resource(Options::default())
            .insert_state(AppState::Start);
        super::super::order_systems(&mut app);
        app.add_plugins(plugin);
        app
    }

    #[test]
    fn a_command_a_feature_sends_reaches_the_outbox_once() {
        let mut app = app();
        let command = RoomCommand::React(Reaction::ALL[0]);
        let sent = command.clone();
        // A feature sends in its input step, once.
        app.add_systems(
            Update,
            (move |mut send: MessageWriter<SendCommand>, mut done: Local<bool>| {
                if !*done {
                    send.write(SendCommand(sent.clone()));
                    *done = true;
                }
            })
            .in_set(ShowroomSystems::Input),
        );
        app.update();
        let session = app.world().resource::<Session>();
        assert_eq!(session.outbox(), std::slice::from_ref(&command));
        // Offline, nothing takes it: the next frame starts empty.
        assert!(!session.can_send());
        app.update();
        assert!(app.world().resource::<Session>().outbox().is_empty());
    }

    #[test]
    fn a_join_request_sets_the_room_and_moves_on_and_an_empty_name_is_refused() {
        let mut app = app();
        app.world_mut().write_message(SessionRequest::Join {
            name: "  ".into(),
            server: "http://127.0.0.1:9".into(),
            room: "main".into(),
        });
        app.update();
        let session = app.world().resource::<Session>();
        assert_eq!(
            session.rooms_error.as_deref(),
            Some("enter a display name first")
        );
        assert_eq!(session.room, None);
        assert!(matches!(
            app.world().resource::<NextState<AppState>>(),
            NextState::Unchanged
        ));

        app.world_mut().write_message(SessionRequest::Join {
            name: " Ada ".into(),
            server: "http://127.0.0.1:9".into(),
            room: "main".into(),
        });
        app.update();
        let session = app.world().resource::<Session>();
        assert_eq!(session.name, "Ada");
        assert_eq!(session.server.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(session.room.as_deref(), Some("main"));
        // The state moves on at the next frame's transition (not stepped
        // here: joining would open a socket).
        assert!(matches!(
            app.world().resource::<NextState<AppState>>(),
            NextState::Pending(AppState::Connecting)
        ));
    }

    /// In a room as account 7 (offline: no link, no sockets).
    fn signed_in_app() -> App {
        let mut app = app();
        let mut session = app.world_mut().resource_mut::<Session>();
        session.signed_in = Some(SignedIn {
            token: "t".into(),
            account_id: 7,
            display_name: "Ada".into(),
        });
        session.server = Some("http://127.0.0.1:9".into());
        session.room = Some("main".into());
        session.link = LinkState::Connected;
        app
    }

    #[test]
    fn following_rejoins_another_room_as_the_same_account() {
        // Not signed in (offline): nobody to move, nothing changes.
        let mut app = app();
        app.world_mut().write_message(SessionRequest::SwitchRoom {
            room: "studio-b".into(),
        });
        app.update();
        assert_eq!(app.world().resource::<Session>().room, None);
        assert!(matches!(
            app.world().resource::<NextState<AppState>>(),
            NextState::Unchanged
        ));

        let mut app = signed_in_app();
        app.world_mut().write_message(SessionRequest::SwitchRoom {
            room: "studio-b".into(),
        });
        app.update();
        let session = app.world().resource::<Session>();
        assert_eq!(session.room.as_deref(), Some("studio-b"));
        // The same account: its party and friends come along.
        assert_eq!(session.signed_in.as_ref().map(|s| s.account_id), Some(7));
        assert_eq!(session.link, LinkState::Idle);
        // Joining happens on entering the next screen (not stepped here:
        // it would open a socket).
        assert!(matches!(
            app.world().resource::<NextState<AppState>>(),
            NextState::Pending(AppState::Connecting)
        ));
    }

    #[test]
    fn joining_a_friend_asks_for_their_room_as_the_same_account() {
        let mut app = signed_in_app();
        app.world_mut().write_message(SessionRequest::JoinFriend {
            account: AccountId(9),
        });
        app.update();
        let session = app.world().resource::<Session>();
        assert_eq!(session.via_friend, Some(AccountId(9)));
        assert_eq!(session.signed_in.as_ref().map(|s| s.account_id), Some(7));
        assert!(matches!(
            app.world().resource::<NextState<AppState>>(),
            NextState::Pending(AppState::Connecting)
        ));
    }

    #[test]
    fn leaving_goes_back_to_the_start_screen() {
        let mut app = app();
        app.world_mut().resource_mut::<Session>().link = LinkState::Closed("gone".into());
        app.world_mut().write_message(SessionRequest::Leave);
        app.update();
        assert_eq!(app.world().resource::<Session>().link, LinkState::Idle);
        assert!(matches!(
            app.world().resource::<NextState<AppState>>(),
            NextState::Pending(AppState::Start)
        ));
    }
}
