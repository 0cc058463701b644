//! The stage's video: when the host goes live or off, every room hears it
//! (`RoomEvent::Stream`); welcomes carry the current state.

use super::{ServerSystems, Shared, send_event};
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use vitrine_shared::ServerMessage;
use vitrine_shared::protocol::RoomEvent;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Update, announce.in_set(ServerSystems::Publish));
}

/// Sends the stream to every client when its version moves (checked each
/// tick: one atomic load).
fn announce(shared: Res<Shared>, mut server: ResMut<RenetServer>, mut seen: Local<u64>) {
    let Some(stage) = &shared.stage else {
        return;
    };
    let version = stage.version();
    if version == *seen {
        return;
    }
    *seen = version;
    let message = ServerMessage::Room(RoomEvent::Stream(stage.get()));
    for client in server.clients_id() {
        send_event(&mut server, client, &message);
    }
}
