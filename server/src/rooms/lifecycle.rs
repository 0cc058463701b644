//! Shutdown and bookkeeping: on the shutdown signal, tell every client and
//! exit (the transport then sends netcode disconnects); each tick, publish
//! client counts to the metrics.

use super::{Clients, ServerSystems, Shared, ShutdownSignal, send_event};
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use std::sync::atomic::Ordering;
use vitrine_shared::ServerMessage;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        (publish_counts, shut_down)
            .chain()
            .in_set(ServerSystems::Publish),
    );
}

fn publish_counts(clients: Res<Clients>, shared: Res<Shared>) {
    shared
        .metrics
        .clients
        .store(clients.0.len() as u64, Ordering::Relaxed);
}

fn shut_down(
    signal: Res<ShutdownSignal>,
    mut server: ResMut<RenetServer>,
    mut exit: MessageWriter<AppExit>,
    mut done: Local<bool>,
) {
    if *done || !signal.0.load(Ordering::Acquire) {
        return;
    }
    *done = true;
    let message = ServerMessage::ShuttingDown {
        reason: "the server is shutting down".into(),
    };
    for client in server.clients_id() {
        send_event(&mut server, client, &message);
    }
    exit.write(AppExit::Success);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::harness::{TICK, TestRooms};
    use vitrine_shared::Role;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_shutdown_signal_tells_every_client_and_exits_once() {
        let mut rooms = TestRooms::start().await;
        let (_, ada) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (_, cy) = rooms.join("Cy", Role::Shopper, "annex").await;
        assert_eq!(rooms.metrics.clients.load(Ordering::Relaxed), 2);
        rooms.step(TICK);
        assert!(rooms.app.should_exit().is_none());
        rooms.shutdown.store(true, Ordering::Release);
        rooms.step(TICK);
        assert!(rooms.app.should_exit().is_some());
        rooms.step(TICK);
        for client in [ada, cy] {
            let told = rooms
                .received(client)
                .iter()
                .filter(|m| matches!(m, ServerMessage::ShuttingDown { .. }))
                .count();
            assert_eq!(told, 1, "told once");
        }
    }
}
