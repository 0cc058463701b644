//! Engagement in the room: presence and activity (for watch points), votes,
//! questions, upvotes, giveaway entries and product views sent to the
//! engagement engine, and its news relayed: polls, questions and giveaways
//! to every room, points and badges to their shopper's clients. Live poll
//! results go out at most [`RESULTS_EVERY`]. The room loop never waits on
//! the engine. Pick-ups and put-downs go through the `products` plugin,
//! which tells the engine about those that happened.

use super::Clients;
use super::inbox::{CommandReceived, PoseReceived};
use super::membership::{Member, Room, clients_of};
use super::{ServerSystems, send_event};
use crate::clock::Clock;
use crate::console::ChatLogLine;
use crate::engagement::{
    Answer, EngagementError, EngagementEvent, EngagementHandle, Giveaway, GrantKind, Leader,
    OpenState, Poll, Question,
};
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use bevy_time::prelude::*;
use renet::ClientId;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::mpsc;
use tokio::sync::oneshot::error::TryRecvError as AnswerError;
use vitrine_shared::protocol::{
    CommandKind, EngagementEventNet, EngagementRefusal, GiveawayNet, LeaderNet, PollNet,
    QuestionNet, RejectReason, Rejection,
};
use vitrine_shared::{AccountId, RoomCommand, ServerMessage};
use vitrine_shared::{GiveawayId, PollId, QuestionId};

/// Live poll results go out at most this often (final ones at once).
pub const RESULTS_EVERY: Duration = Duration::from_millis(250);
/// A member's presence: when they last did anything (joining does not
/// count: an idle connection earns nothing), and when their next minute is
/// up.
#[derive(Component)]
pub struct Presence {
    last_active: Option<Duration>,
    next_minute: Duration,
    last_pose: Option<([f32; 3], f32)>,
}

enum Pending {
    Vote(Answer<Poll>),
    Question(Answer<Question>),
    Giveaway(Answer<Giveaway>),
}

impl Pending {
    /// `None` while the engine has not answered.
    fn poll(&mut self) -> Option<Result<(), EngagementError>> {
        fn take<T>(rx: &mut Answer<T>) -> Option<Result<(), EngagementError>> {
            match rx.try_recv() {
                Err(AnswerError::Empty) => None,
                Err(AnswerError::Closed) => Some(Err(EngagementError::Unavailable)),
                Ok(answer) => Some(answer.map(|_| ())),
            }
        }
        match self {
            Pending::Vote(rx) => take(rx),
            Pending::Question(rx) => take(rx),
            Pending::Giveaway(rx) => take(rx),
        }
    }
}

#[derive(Resource)]
pub struct EngagementLink {
    handle: EngagementHandle,
    events: broadcast::Receiver<EngagementEvent>,
    idle_after: Duration,
    /// A member earns watch points per this much presence: a minute, except
    /// in tests.
    watch_minute: Duration,
    chat_log: mpsc::Sender<ChatLogLine>,
    /// The last chat line logged, per room.
    logged: HashMap<Entity, u64>,
    /// What a newcomer is shown.
    polls: BTreeMap<PollId, PollNet>,
    questions: BTreeMap<QuestionId, QuestionNet>,
    giveaways: BTreeMap<GiveawayId, GiveawayNet>,
    leaderboard: Option<EngagementEventNet>,
    show_live: Option<String>,
    featured: Vec<vitrine_shared::ProductId>,
    /// Poll results not yet sent: the latest counts per poll.
    results: BTreeMap<PollId, Vec<u32>>,
    results_sent_at: Duration,
    pending: Vec<(ClientId, CommandKind, Pending)>,
}

impl EngagementLink {
    /// `events` must be subscribed before `state` was read.
    pub fn new(
        handle: EngagementHandle,
        events: broadcast::Receiver<EngagementEvent>,
        state: OpenState,
        idle_after: Duration,
        watch_minute: Duration,
        chat_log: mpsc::Sender<ChatLogLine>,
    ) -> Self {
        let leaderboard = leaderboard_net(&state.show, &state.all_time);
        EngagementLink {
            handle,
            events,
            idle_after,
            watch_minute,
            chat_log,
            logged: HashMap::new(),
            polls: state
                .polls
                .into_iter()
                .map(|p| (p.id, poll_net(p)))
                .collect(),
            questions: state
                .questions
                .into_iter()
                .map(|q| (q.id, question_net(q)))
                .collect(),
            giveaways: state
                .giveaways
                .into_iter()
                .map(|g| (g.id, giveaway_net(g)))
                .collect(),
            leaderboard: Some(leaderboard),
            show_live: state.show_live,
            featured: state.featured,
            results: BTreeMap::new(),
            results_sent_at: Duration::ZERO,
            pending: Vec::new(),
        }
    }

    /// The title of the show live now, if any (for friends' presence).
    pub(super) fn show_live(&self) -> Option<&str> {
        self.show_live.as_deref()
    }
}

impl EngagementLink {
    /// The engine, for the other room plugins (pick-ups are counted there).
    pub(super) fn handle(&self) -> &EngagementHandle {
        &self.handle
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        (welcome_newcomers, track_activity).in_set(ServerSystems::Simulate),
    )
    .add_systems(
        Update,
        (send_engagement_commands, grant_watch_minutes).in_set(ServerSystems::Relay),
    )
    .add_systems(
        Update,
        (deliver_answers, relay_engagement_news, log_chat).in_set(ServerSystems::Publish),
    );
}

/// Sends the chat lines relayed this tick to the console's log, with the
/// sender's account.
fn log_chat(
    rooms: Query<(Entity, &Room)>,
    clients: Res<Clients>,
    members: Query<&Member>,
    mut link: ResMut<EngagementLink>,
    clock: Res<Clock>,
) {
    for (entity, room) in &rooms {
        let last = link.logged.get(&entity).copied().unwrap_or(0);
        let Some(newest) = room.recent_chat.back().map(|l| l.seq) else {
            continue;
        };
        if newest <= last {
            continue;
        }
        for line in room.recent_chat.iter().filter(|l| l.seq > last) {
            let account = room
                .members
                .get(&line.from)
                .and_then(|client| clients.0.get(client))
                .and_then(|e| members.get(*e).ok())
                .map(|m| m.info.account)
                .unwrap_or(AccountId(0));
            let entry = ChatLogLine {
                room: room.id.clone(),
                seq: line.seq,
                account,
                name: line.name.to_string(),
                text: line.text.to_string(),
                sent_at_ms: clock.now_ms(),
            };
            if link.chat_log.try_send(entry).is_err() {
                tracing::warn!("chat log queue full; a line is missing from the export");
            }
        }
        link.logged.insert(entity, newest);
    }
}

fn poll_net(p: Poll) -> PollNet {
    PollNet {
        id: p.id,
        question: p.question,
        options: p.options,
        counts: p.counts,
        closes_at_ms: p.closes_at_ms,
        closed: p.closed,
    }
}

fn question_net(q: Question) -> QuestionNet {
    QuestionNet {
        id: q.id,
        name: q.name,
        text: q.text,
        votes: q.votes,
        answered: q.answered,
    }
}

fn giveaway_net(g: Giveaway) -> GiveawayNet {
    GiveawayNet {
        id: g.id,
        prize: g.prize,
        rule: g.rule,
        closes_at_ms: g.closes_at_ms,
        commitment: g.commitment,
        entries: g.entries.len() as u32,
    }
}

fn leaders_net(leaders: &[Leader]) -> Vec<LeaderNet> {
    leaders
        .iter()
        .map(|l| LeaderNet {
            name: l.name.clone(),
            points: l.points,
        })
        .collect()
}

fn leaderboard_net(show: &[Leader], all_time: &[Leader]) -> EngagementEventNet {
    EngagementEventNet::Leaderboard {
        show: leaders_net(show),
        all_time: leaders_net(all_time),
    }
}

/// What a room tells the client, from engagement's one table.
pub(super) fn refusal(e: EngagementError) -> EngagementRefusal {
    e.refusal().room
}

fn reject(server: &mut RenetServer, client: ClientId, command: CommandKind, e: EngagementError) {
    let rejection = Rejection {
        command,
        reason: RejectReason::Engagement(refusal(e)),
    };
    send_event(server, client, &ServerMessage::Rejected(rejection));
}

/// A newcomer gets presence tracking, and the open polls, questions and
/// giveaways and the leaderboard. (A friend who invited them earns once they
/// watch or buy, not for joining: the engagement engine decides that.)
fn welcome_newcomers(
    mut commands: Commands,
    joined: Query<(Entity, &Member), Added<Member>>,
    link: Res<EngagementLink>,
    mut server: ResMut<RenetServer>,
    time: Res<Time<Real>>,
) {
    let now = time.elapsed();
    for (entity, member) in &joined {
        commands.entity(entity).insert(Presence {
            last_active: None,
            next_minute: now + link.watch_minute,
            last_pose: None,
        });
        let show = [
            EngagementEventNet::ShowLive {
                title: link.show_live.clone(),
            },
            EngagementEventNet::Featured {
                products: link.featured.clone(),
            },
        ];
        let news = show
            .into_iter()
            .chain(
                link.polls
                    .values()
                    .cloned()
                    .map(EngagementEventNet::PollOpened),
            )
            .chain(
                link.questions
                    .values()
                    .cloned()
                    .map(EngagementEventNet::QuestionAsked),
            )
            .chain(
                link.giveaways
                    .values()
                    .cloned()
                    .map(EngagementEventNet::GiveawayOpened),
            )
            .chain(link.leaderboard.clone());
        for event in news {
            send_event(
                &mut server,
                member.client,
                &ServerMessage::Engagement(event),
            );
        }
    }
}

/// Moving or sending a command keeps a member active.
fn track_activity(
    mut poses: MessageReader<PoseReceived>,
    mut commands: MessageReader<CommandReceived>,
    mut presence: Query<&mut Presence>,
    time: Res<Time<Real>>,
) {
    let now = time.elapsed();
    for PoseReceived { member, input } in poses.read() {
        let Ok(mut p) = presence.get_mut(*member) else {
            continue;
        };
        // The first pose only says where the avatar stands; moving from
        // there (or turning) is activity.
        let pose = (input.pose.position, input.pose.yaw);
        let moved = p.last_pose.is_some_and(|(at, yaw)| {
            let d = (0..3).map(|i| (at[i] - pose.0[i]).powi(2)).sum::<f32>();
            d > 0.05 * 0.05 || (yaw - pose.1).abs() > 0.05
        });
        if moved {
            p.last_active = Some(now);
        }
        if moved || p.last_pose.is_none() {
            p.last_pose = Some(pose);
        }
    }
    for CommandReceived { member, .. } in commands.read() {
        if let Ok(mut p) = presence.get_mut(*member) {
            p.last_active = Some(now);
        }
    }
}

/// Each full minute in the room, an active member earns watch points. The
/// number of the minute since the epoch is the grant's reference, so the
/// same account in two rooms earns once per minute; a reconnect starts the
/// minute over, so reconnecting in a loop earns nothing.
fn grant_watch_minutes(
    mut members: Query<(&Member, &mut Presence)>,
    link: Res<EngagementLink>,
    time: Res<Time<Real>>,
    clock: Res<Clock>,
) {
    let now = time.elapsed();
    for (member, mut presence) in members.iter_mut() {
        if now < presence.next_minute {
            continue;
        }
        presence.next_minute = now + link.watch_minute;
        let active = presence
            .last_active
            .is_some_and(|at| now.saturating_sub(at) <= link.idle_after);
        if active {
            let minute = clock.now_ms() / link.watch_minute.as_millis().max(1) as i64;
            link.handle
                .try_grant(member.info.account, GrantKind::Watch, minute.to_string());
        }
    }
}

fn send_engagement_commands(
    mut received: MessageReader<CommandReceived>,
    members: Query<&Member>,
    mut link: ResMut<EngagementLink>,
    mut server: ResMut<RenetServer>,
    shared: Res<super::Shared>,
    clock: Res<Clock>,
) {
    for CommandReceived { member, command } in received.read() {
        let Ok(member) = members.get(*member) else {
            continue;
        };
        let (account, client): (AccountId, ClientId) = (member.info.account, member.client);
        let handle = &link.handle;
        let asked = match command {
            RoomCommand::React(_) => {
                shared.metrics.reactions.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            RoomCommand::Chat(_) => {
                shared.metrics.chat_lines.fetch_add(1, Ordering::Relaxed);
                // Capped per hour by the rules; each line is its own reference.
                handle.try_grant(
                    account,
                    GrantKind::Chat,
                    format!("{}:{client}", clock.now_ms()),
                );
                continue;
            }
            RoomCommand::ViewProduct { product } => {
                handle.try_product_seen(product.clone(), None);
                continue;
            }
            RoomCommand::Vote { poll_id, option } => handle
                .try_vote(account, *poll_id, u32::from(*option))
                .map(Pending::Vote),
            RoomCommand::Ask(text) => handle
                .try_ask(account, member.info.name.clone(), text.clone())
                .map(Pending::Question),
            RoomCommand::Upvote { question_id } => handle
                .try_upvote(account, *question_id)
                .map(Pending::Question),
            RoomCommand::EnterGiveaway { giveaway_id } => handle
                .try_enter(account, *giveaway_id)
                .map(Pending::Giveaway),
            // Chat goes to the relay, shop actions to the shop; pick-ups,
            // put-downs and drops to `products`, which tells the engine
            // about those that happened.
            _ => continue,
        };
        match asked {
            Ok(pending) => link.pending.push((client, command.kind(), pending)),
            Err(e) => reject(&mut server, client, command.kind(), e),
        }
    }
}

/// Successes show up as news for everyone; only refusals need an answer.
fn deliver_answers(mut link: ResMut<EngagementLink>, mut server: ResMut<RenetServer>) {
    link.pending.retain_mut(|(client, kind, pending)| {
        let Some(result) = pending.poll() else {
            return true;
        };
        if let Err(e) = result {
            reject(&mut server, *client, *kind, e);
        }
        false
    });
}

fn relay_engagement_news(
    mut link: ResMut<EngagementLink>,
    members: Query<&Member>,
    mut server: ResMut<RenetServer>,
    time: Res<Time<Real>>,
) {
    let link = &mut *link;
    let mut to_all = Vec::new();
    loop {
        let event = match link.events.try_recv() {
            Ok(event) => event,
            Err(TryRecvError::Lagged(missed)) => {
                tracing::warn!(missed, "engagement news lagged");
                continue;
            }
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        };
        let news = match event {
            EngagementEvent::PollOpened(poll) => {
                let poll = poll_net(poll);
                link.polls.retain(|_, p| !p.closed);
                link.polls.insert(poll.id, poll.clone());
                EngagementEventNet::PollOpened(poll)
            }
            EngagementEvent::PollResults {
                poll_id,
                counts,
                closed,
            } => {
                if let Some(p) = link.polls.get_mut(&poll_id) {
                    p.counts = counts.clone();
                    p.closed = closed;
                }
                if !closed {
                    link.results.insert(poll_id, counts);
                    continue;
                }
                link.results.remove(&poll_id);
                link.polls.remove(&poll_id);
                EngagementEventNet::PollResults {
                    poll_id,
                    counts,
                    closed,
                }
            }
            EngagementEvent::QuestionAsked(q) => {
                let q = question_net(q);
                link.questions.insert(q.id, q.clone());
                EngagementEventNet::QuestionAsked(q)
            }
            EngagementEvent::QuestionVotes { question_id, votes } => {
                if let Some(q) = link.questions.get_mut(&question_id) {
                    q.votes = votes;
                }
                EngagementEventNet::QuestionVotes { question_id, votes }
            }
            EngagementEvent::QuestionAnswered { question_id } => {
                link.questions.remove(&question_id);
                EngagementEventNet::QuestionAnswered { question_id }
            }
            EngagementEvent::GiveawayOpened(g) => {
                let g = giveaway_net(g);
                link.giveaways.insert(g.id, g.clone());
                EngagementEventNet::GiveawayOpened(g)
            }
            EngagementEvent::GiveawayEntries {
                giveaway_id,
                entries,
            } => {
                if let Some(g) = link.giveaways.get_mut(&giveaway_id) {
                    g.entries = entries;
                }
                EngagementEventNet::GiveawayEntries {
                    giveaway_id,
                    entries,
                }
            }
            EngagementEvent::GiveawayDrawn {
                giveaway_id,
                draw,
                seed,
            } => {
                link.giveaways.remove(&giveaway_id);
                EngagementEventNet::GiveawayDrawn {
                    giveaway_id,
                    draw: draw.draw,
                    winner: draw.name,
                    seed,
                }
            }
            EngagementEvent::Leaderboard { show, all_time } => {
                let board = leaderboard_net(&show, &all_time);
                link.leaderboard = Some(board.clone());
                board
            }
            EngagementEvent::ShowLive { title } => {
                link.show_live = title.clone();
                EngagementEventNet::ShowLive { title }
            }
            EngagementEvent::Featured { products } => {
                link.featured = products.clone();
                EngagementEventNet::Featured { products }
            }
            // For the console only.
            EngagementEvent::Inspected { .. } | EngagementEvent::ProductSeen { .. } => continue,
            // A shopper's own news goes to their clients only.
            EngagementEvent::Points {
                account,
                change,
                balance,
                reason,
            } => {
                let message = ServerMessage::Engagement(EngagementEventNet::Points {
                    change,
                    balance,
                    reason,
                });
                for client in clients_of(&members, account) {
                    send_event(&mut server, client, &message);
                }
                continue;
            }
            EngagementEvent::Badge { account, id, name } => {
                let message = ServerMessage::Engagement(EngagementEventNet::Badge { id, name });
                for client in clients_of(&members, account) {
                    send_event(&mut server, client, &message);
                }
                continue;
            }
        };
        to_all.push(news);
    }
    let now = time.elapsed();
    if !link.results.is_empty() && now >= link.results_sent_at + RESULTS_EVERY {
        link.results_sent_at = now;
        for (poll_id, counts) in std::mem::take(&mut link.results) {
            to_all.push(EngagementEventNet::PollResults {
                poll_id,
                counts,
                closed: false,
            });
        }
    }
    for news in to_all {
        let message = ServerMessage::Engagement(news);
        for client in server.clients_id() {
            send_event(&mut server, client, &message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::harness::{TICK, TestRooms};
    use vitrine_shared::{Reaction, Role};

    fn points(rooms: &TestRooms, client: ClientId) -> Vec<(i64, String)> {
        rooms
            .received(client)
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Engagement(EngagementEventNet::Points {
                    change, reason, ..
                }) => Some((*change, reason.clone())),
                _ => None,
            })
            .collect()
    }

    async fn watch_refs(rooms: &TestRooms, account: AccountId) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT ref FROM point_grants WHERE account_id = $1 AND reason = 'watch'",
        )
        .bind(account.0 as i64)
        .fetch_all(rooms.store.pool())
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_active_member_earns_each_full_minute_and_an_idle_one_does_not() {
        let mut rooms = TestRooms::start().await;
        let (ada, ada_client) = rooms.join("Ada", Role::Shopper, "hall").await;
        // A reaction is activity; Bob only watches.
        rooms.send(ada_client, RoomCommand::React(Reaction::Heart));
        let (bob, bob_client) = rooms.join("Bob", Role::Shopper, "hall").await;
        let minute = Duration::from_secs(60);
        rooms.step(minute - TICK - Duration::from_millis(1));
        rooms.step(Duration::from_millis(1));
        let granted_at = rooms.time.now_ms();
        rooms.step(TICK);
        let earned = rooms.settle(|r| !points(r, ada_client).is_empty());
        assert!(earned, "Ada's first minute earns");
        assert_eq!(points(&rooms, ada_client)[0].0, 2);
        // The grant's reference is the minute's number by the server's clock.
        assert_eq!(
            watch_refs(&rooms, ada.id).await,
            [(granted_at / 60_000).to_string()]
        );
        assert!(points(&rooms, bob_client).is_empty());
        assert!(watch_refs(&rooms, bob.id).await.is_empty(), "idle: nothing");
    }
}
