//! Moderation in the rooms: each tick, apply what moderators asked over
//! HTTP (delete a chat line, remove an account), and screen chat lines and
//! questions (muted, or a blocked term) before anything relays them.
//!
//! A removed member is told why (`ServerMessage::Removed`) and disconnected
//! [`REMOVE_GRACE`] later, so the message goes out before the connection
//! closes; meanwhile its commands are dropped.

use super::membership::{Member, Room, RoomIndex};
use super::{ServerSystems, send_event};
use crate::moderation::{Moderation, RoomAction};
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use bevy_time::prelude::*;
use renet::ClientId;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use vitrine_shared::protocol::{RejectReason, RoomEvent};
use vitrine_shared::{AccountId, RoomCommand, ServerMessage};

/// How long a removed member's connection stays open for the notice to
/// reach it.
pub const REMOVE_GRACE: Duration = Duration::from_millis(500);

/// The room side of moderation.
#[derive(Resource)]
pub struct ModerationLink {
    pub state: Arc<Moderation>,
    actions: UnboundedReceiver<RoomAction>,
    /// Clients told they are removed, and when to disconnect them.
    removing: Vec<(ClientId, Duration)>,
}

impl ModerationLink {
    pub fn new(state: Arc<Moderation>, actions: UnboundedReceiver<RoomAction>) -> Self {
        ModerationLink {
            state,
            actions,
            removing: Vec::new(),
        }
    }

    /// Whether `client` was told it is removed and is on its way out.
    pub(super) fn is_removing(&self, client: ClientId) -> bool {
        self.removing.iter().any(|(c, _)| *c == client)
    }

    /// What the inbox does with a command that passed its rate limit.
    pub(super) fn screen(
        &self,
        client: ClientId,
        account: AccountId,
        command: &RoomCommand,
        now_ms: i64,
    ) -> Screen {
        if self.is_removing(client) {
            return Screen::Drop;
        }
        let text = match command {
            RoomCommand::Chat(text) | RoomCommand::Ask(text) => text,
            _ => return Screen::Pass,
        };
        match self.state.screen(account, text.as_str(), now_ms) {
            Some(reason) => Screen::Reject(reason),
            None => Screen::Pass,
        }
    }
}

pub(super) enum Screen {
    Pass,
    /// From a member being removed: ignored.
    Drop,
    Reject(RejectReason),
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Update, apply_actions.in_set(ServerSystems::ValidateInputs));
}

fn apply_actions(
    mut link: ResMut<ModerationLink>,
    index: Res<RoomIndex>,
    mut rooms: Query<&mut Room>,
    members: Query<&Member>,
    mut server: ResMut<RenetServer>,
    time: Res<Time<Real>>,
) {
    let now = time.elapsed();
    let link = &mut *link;
    link.removing.retain(|(client, at)| {
        if now < *at {
            return true;
        }
        server.disconnect(*client);
        false
    });
    // Empty, or (at shutdown) no HTTP tier left: nothing more to do.
    while let Ok(action) = link.actions.try_recv() {
        match action {
            RoomAction::DeleteLine { room, seq } => {
                let Some(mut room) = index.0.get(&room).and_then(|e| rooms.get_mut(*e).ok()) else {
                    continue;
                };
                room.recent_chat.retain(|line| line.seq != seq);
                // Members who saw it drop it, even if it had left the history.
                let message = ServerMessage::Room(RoomEvent::ChatRemoved { seq });
                for client in room.clients().collect::<Vec<_>>() {
                    send_event(&mut server, client, &message);
                }
                tracing::info!(room = %room.id, seq, "chat line removed by a moderator");
            }
            RoomAction::Remove {
                account,
                banned,
                reason,
            } => {
                let message = ServerMessage::Removed {
                    banned,
                    reason: reason.clone(),
                };
                for member in members.iter().filter(|m| m.info.account == account) {
                    send_event(&mut server, member.client, &message);
                    if !link.removing.iter().any(|(c, _)| *c == member.client) {
                        link.removing.push((member.client, now + REMOVE_GRACE));
                    }
                    tracing::info!(client = member.client, %account, banned, "removed by a moderator");
                }
            }
        }
    }
}
