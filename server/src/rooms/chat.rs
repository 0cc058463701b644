//! Chat and reactions: chat lines are relayed to every member of the
//! sender's room, in one room-wide order, with the last lines kept for
//! newcomers. Reactions are summed and sent as one summary per room every
//! [`REACTION_WINDOW`]: a burst of a thousand hearts is one message.

use super::inbox::CommandReceived;
use super::membership::{Member, Room};
use super::{ServerSystems, Shared, send_event};
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use bevy_time::prelude::*;
use std::time::Duration;
use vitrine_shared::protocol::{
    CHAT_HISTORY_LINES, ChatLine, MAX_BURST_SENDERS, ReactionBurst, RoomEvent,
};
use vitrine_shared::{Reaction, RoomCommand, ServerMessage};

/// How often a room's reactions go out, summed.
pub const REACTION_WINDOW: Duration = Duration::from_millis(250);

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Update, relay.in_set(ServerSystems::Relay))
        .add_systems(Update, send_reaction_bursts.in_set(ServerSystems::Publish));
}

fn add_reaction(burst: &mut ReactionBurst, from: vitrine_shared::MemberSlot, reaction: Reaction) {
    match burst.counts.iter_mut().find(|(r, _)| *r == reaction) {
        Some((_, n)) => *n = n.saturating_add(1),
        None => {
            burst.counts.push((reaction, 1));
            burst
                .counts
                .sort_by_key(|(r, _)| Reaction::ALL.iter().position(|a| a == r));
        }
    }
    if burst.from.len() < MAX_BURST_SENDERS {
        burst.from.push((from, reaction));
    }
}

/// Every [`REACTION_WINDOW`], each room with reactions gets their sum.
fn send_reaction_bursts(
    mut rooms: Query<&mut Room>,
    mut server: ResMut<RenetServer>,
    time: Res<Time<Real>>,
    mut last: Local<Duration>,
) {
    let now = time.elapsed();
    if now < *last + REACTION_WINDOW {
        return;
    }
    *last = now;
    for mut room in rooms.iter_mut() {
        if room.reactions.counts.is_empty() {
            continue;
        }
        let burst = std::mem::take(&mut room.reactions);
        let message = ServerMessage::Room(RoomEvent::Reactions(burst));
        for client in room.clients().collect::<Vec<_>>() {
            send_event(&mut server, client, &message);
        }
    }
}

fn relay(
    mut received: MessageReader<CommandReceived>,
    members: Query<&Member>,
    mut rooms: Query<&mut Room>,
    mut server: ResMut<RenetServer>,
    shared: Res<Shared>,
) {
    for CommandReceived { member, command } in received.read() {
        let Ok(member) = members.get(*member) else {
            continue;
        };
        let Ok(mut room) = rooms.get_mut(member.room) else {
            continue;
        };
        let event = match command {
            RoomCommand::Chat(text) => {
                room.chat_seq += 1;
                let line = ChatLine {
                    from: member.info.slot,
                    name: member.info.name.clone(),
                    text: text.clone(),
                    seq: room.chat_seq,
                };
                room.recent_chat.push_back(line.clone());
                // Moderators pick lines to delete from their own copy.
                shared
                    .moderation
                    .record_chat(&room.id, member.info.account, &line);
                while room.recent_chat.len() > CHAT_HISTORY_LINES {
                    room.recent_chat.pop_front();
                }
                RoomEvent::Chat(line)
            }
            RoomCommand::React(reaction) => {
                add_reaction(&mut room.reactions, member.info.slot, *reaction);
                continue;
            }
            // The shop and engagement plugins take the rest.
            _ => continue,
        };
        let message = ServerMessage::Room(event);
        for client in room.clients().collect::<Vec<_>>() {
            send_event(&mut server, client, &message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::harness::{TICK, TestRooms};
    use vitrine_shared::{ChatText, Role};

    fn bursts(rooms: &TestRooms, client: renet::ClientId) -> Vec<ReactionBurst> {
        rooms
            .received(client)
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Room(RoomEvent::Reactions(burst)) => Some(burst.clone()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reactions_go_out_summed_once_per_window_to_their_room_only() {
        let mut rooms = TestRooms::start().await;
        let (_, ada) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (_, bob) = rooms.join("Bob", Role::Shopper, "hall").await;
        let (_, cy) = rooms.join("Cy", Role::Shopper, "annex").await;
        // A window closes here, whatever the joins left in it.
        rooms.step(REACTION_WINDOW);
        for _ in 0..3 {
            rooms.send(ada, RoomCommand::React(Reaction::Heart));
        }
        rooms.send(bob, RoomCommand::React(Reaction::Clap));
        rooms.step(REACTION_WINDOW - Duration::from_millis(1));
        assert!(bursts(&rooms, ada).is_empty(), "held until the window ends");
        rooms.step(Duration::from_millis(1));
        let sent = bursts(&rooms, ada);
        assert_eq!(sent.len(), 1, "a burst is one message");
        assert_eq!(sent[0].counts, [(Reaction::Heart, 3), (Reaction::Clap, 1)]);
        assert_eq!(sent[0].from.len(), 4);
        assert_eq!(bursts(&rooms, bob), sent);
        assert!(bursts(&rooms, cy).is_empty(), "another room hears nothing");
        // The next window starts empty.
        rooms.send(ada, RoomCommand::React(Reaction::Wow));
        rooms.step(TICK);
        rooms.step(REACTION_WINDOW - TICK - Duration::from_millis(1));
        assert_eq!(bursts(&rooms, ada).len(), 1);
        rooms.step(Duration::from_millis(1));
        let sent = bursts(&rooms, ada);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].counts, [(Reaction::Wow, 1)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chat_is_relayed_in_one_order_and_kept_for_newcomers() {
        let mut rooms = TestRooms::start().await;
        let (_, ada) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (_, cy) = rooms.join("Cy", Role::Shopper, "annex").await;
        for text in ["one", "two"] {
            rooms.send(ada, RoomCommand::Chat(ChatText::new(text).unwrap()));
        }
        rooms.step(TICK);
        let sent_at = rooms.time.now_ms();
        let lines = |rooms: &TestRooms, client| -> Vec<(u64, String)> {
            rooms
                .received(client)
                .iter()
                .filter_map(|m| match m {
                    ServerMessage::Room(RoomEvent::Chat(line)) => {
                        Some((line.seq, line.text.to_string()))
                    }
                    _ => None,
                })
                .collect()
        };
        assert_eq!(lines(&rooms, ada), [(1, "one".into()), (2, "two".into())]);
        assert!(lines(&rooms, cy).is_empty());
        let (_, bob) = rooms.join("Bob", Role::Shopper, "hall").await;
        let welcome = rooms.received(bob).iter().find_map(|m| match m {
            ServerMessage::Room(RoomEvent::Welcome { recent_chat, .. }) => Some(recent_chat),
            _ => None,
        });
        assert_eq!(welcome.map(|c| c.len()), Some(2));
        // The console's log gets each line with its sender's account, stamped
        // by the server's clock.
        let logged = rooms.chat_log.try_recv().unwrap();
        assert_eq!((logged.seq, logged.text.as_str()), (1, "one"));
        assert_eq!(logged.sent_at_ms, sent_at);
    }
}
