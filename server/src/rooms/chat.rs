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
