//! The link to the server: sign in and join on a worker thread (HTTP
//! blocks), then drive [`NetClient`] every frame. A lost link keeps the room
//! on screen, says so, and rejoins with backoff by itself.

use super::{AppState, Options, ShowroomSystems};
use crate::net::{ApiClient, NetClient, RoomChange, RoomMirror, SignedIn};
use bevy::prelude::*;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::Duration;
use vitrine_shared::api::{JoinTicket, ProductView, RoomInfo};
use vitrine_shared::{PoseNet, RoomCommand};

/// How often the avatar's pose goes out: the server's tick rate.
const POSE_HZ: f32 = vitrine_shared::protocol::TICK_HZ as f32;
/// A still pose is sent again this often: inputs carry the snapshot
/// acknowledgements, and without them the server's baselines expire.
const POSE_KEEPALIVE: f32 = 0.25;
/// Rejoin waits 1 s, then doubles up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

pub(super) fn plugin(app: &mut App) {
    let session = Session::from_options(app.world().resource::<Options>());
    app.insert_resource(session)
        .add_message::<RoomChangeMessage>()
        .add_systems(OnEnter(AppState::Connecting), start_join)
        .add_systems(
            Update,
            (finish_join, receive)
                .chain()
                .in_set(ShowroomSystems::Receive),
        )
        .add_systems(
            Update,
            (send_pose, flush).chain().in_set(ShowroomSystems::Send),
        )
        .add_systems(Update, finish_rooms);
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
    since_pose: f32,
    since_sent: f32,
    last_pose: Option<PoseNet>,
    /// The pose the avatar should send; the player plugin sets it.
    pub pose: Option<PoseNet>,
    /// A room with no server behind it (the bench's crowd).
    pub offline: Option<RoomMirror>,
    /// The room as last seen while the link is down: the screen keeps it.
    last_room: Option<RoomMirror>,
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
            since_pose: 0.0,
            since_sent: 0.0,
            last_pose: None,
            pose: None,
            offline: None,
            last_room: None,
        }
    }
}

impl Session {
    /// Queues a command; nothing happens while the link is down.
    pub fn send(&mut self, command: RoomCommand) -> bool {
        match &mut self.net {
            Some(net) if net.is_connected() => {
                net.send_command(command);
                true
            }
            _ => false,
        }
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

    /// Fetches the room list for the start screen (blocking: a click).
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
    pub fn leave(&mut self) {
        self.join = None;
        self.give_up_link();
        self.last_room = None;
        self.link = LinkState::Idle;
    }

    /// Asks the server for its rooms (on a worker thread: the answer
    /// shows on the start screen when it comes).
    pub fn refresh_rooms(&mut self) {
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
        session.last_pose = None;
        if *state.get() != AppState::Showroom {
            next.set(AppState::Showroom);
        }
    }
}

fn send_pose(time: Res<Time>, mut session: ResMut<Session>) {
    let dt = time.delta_secs();
    session.since_pose += dt;
    session.since_sent += dt;
    if session.since_pose < 1.0 / POSE_HZ {
        return;
    }
    // Keep to the rate on average rather than drifting below it.
    session.since_pose = (session.since_pose - 1.0 / POSE_HZ).min(1.0 / POSE_HZ);
    let Some(pose) = session.pose else {
        return;
    };
    if session.last_pose == Some(pose) && session.since_sent < POSE_KEEPALIVE {
        return;
    }
    if let Some(net) = &mut session.net
        && net.is_connected()
        && net.mirror().is_welcomed()
    {
        net.send_pose(pose);
        session.last_pose = Some(pose);
        session.since_sent = 0.0;
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
