//! Chat and reactions: relayed to every member of the sender's room, in one
//! room-wide order, with the last lines kept for newcomers.

use super::inbox::CommandReceived;
use super::membership::{Member, Room};
use super::{ServerSystems, send_event};
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use vitrine_shared::protocol::{CHAT_HISTORY_LINES, ChatLine, RoomEvent};
use vitrine_shared::{RoomCommand, ServerMessage};

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Update, relay.in_set(ServerSystems::Relay));
}

fn relay(
    mut received: MessageReader<CommandReceived>,
    members: Query<&Member>,
    mut rooms: Query<&mut Room>,
    mut server: ResMut<RenetServer>,
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
                while room.recent_chat.len() > CHAT_HISTORY_LINES {
                    room.recent_chat.pop_front();
                }
                RoomEvent::Chat(line)
            }
            // The shop plugin takes these.
            RoomCommand::ClaimFlashSale { .. }
            | RoomCommand::AddToCart { .. }
            | RoomCommand::SetCartQuantity { .. }
            | RoomCommand::Checkout(_) => continue,
            RoomCommand::React(reaction) => RoomEvent::Reaction {
                from: member.info.slot,
                reaction: *reaction,
            },
        };
        let message = ServerMessage::Room(event);
        for client in room.clients().collect::<Vec<_>>() {
            send_event(&mut server, client, &message);
        }
    }
}
