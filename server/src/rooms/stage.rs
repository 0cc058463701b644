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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::StageStream;
    use crate::rooms::harness::{TICK, TestRooms};
    use std::sync::Arc;
    use vitrine_shared::Role;
    use vitrine_shared::protocol::StreamNet;

    fn streams(rooms: &TestRooms, client: u64) -> Vec<bool> {
        rooms
            .received(client)
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Room(RoomEvent::Stream(s)) => Some(s.live),
                _ => None,
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_room_hears_when_the_stage_goes_live_once() {
        let stage = Arc::new(StageStream::new(StreamNet {
            srt: Some("srt://stage:9000".into()),
            hls: None,
            live: false,
        }));
        let mut rooms = TestRooms::start_with(|s| s.stage = Some(stage.clone())).await;
        let (_, ada) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (_, cy) = rooms.join("Cy", Role::Shopper, "annex").await;
        assert_eq!(
            streams(&rooms, ada),
            [false],
            "the welcome carries the slate"
        );
        stage.set_live(true);
        rooms.ticks(3);
        assert_eq!(streams(&rooms, ada), [false, true], "told once");
        assert_eq!(streams(&rooms, cy), [false, true]);
        rooms.step(TICK);
        assert_eq!(streams(&rooms, cy).len(), 2);
    }
}
