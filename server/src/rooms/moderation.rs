//! Moderation in the rooms: each tick, apply what moderators asked over
//! HTTP (delete a chat line, remove an account), and screen chat lines
//! (room and party chat) and questions (muted, or a blocked term) before
//! anything relays them.
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
use vitrine_shared::protocol::{PartyCommand, RejectReason, RoomEvent, VoiceEventNet};
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
            RoomCommand::Chat(text)
            | RoomCommand::Ask(text)
            | RoomCommand::Party(PartyCommand::Chat(text)) => text,
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
            RoomAction::VoiceMute { account, muted } => {
                let event = match muted {
                    Some((left, reason)) => VoiceEventNet::ModeratorMuted {
                        remaining_ms: left.as_millis() as u64,
                        reason,
                    },
                    None => VoiceEventNet::ModeratorUnmuted,
                };
                let message = ServerMessage::Voice(event);
                for member in members.iter().filter(|m| m.info.account == account) {
                    send_event(&mut server, member.client, &message);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::harness::{TICK, TestRooms};
    use vitrine_shared::{ChatText, Role};

    fn chat(text: &str) -> RoomCommand {
        RoomCommand::Chat(ChatText::new(text).unwrap())
    }

    fn heard(rooms: &TestRooms, client: ClientId, text: &str) -> bool {
        rooms.received(client).iter().any(
            |m| matches!(m, ServerMessage::Room(RoomEvent::Chat(line)) if line.text.as_str() == text),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_mute_holds_until_the_clock_passes_it() {
        let mut rooms = TestRooms::start().await;
        let host = rooms.account("Hana", Role::Host).await;
        let (ada, ada_client) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (_, bob) = rooms.join("Bob", Role::Shopper, "hall").await;
        let minute = Duration::from_secs(60);
        rooms
            .moderation
            .mute(&host, &ada, minute, "calm down")
            .await
            .unwrap();
        rooms.send(ada_client, chat("muted"));
        rooms.step(TICK);
        assert!(!heard(&rooms, bob, "muted"));
        assert!(rooms.received(ada_client).iter().any(|m| matches!(
            m,
            ServerMessage::Rejected(r) if matches!(r.reason, RejectReason::Muted { remaining_ms } if remaining_ms == 60_000 - TICK.as_millis() as u64)
        )));
        // Chat's rate limit refills meanwhile; only the mute's end matters.
        rooms.step(minute - TICK);
        rooms.send(ada_client, chat("free"));
        rooms.step(TICK);
        assert!(heard(&rooms, bob, "free"), "the mute ended with the clock");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_removed_member_is_told_then_disconnected_after_the_grace() {
        let mut rooms = TestRooms::start().await;
        let host = rooms.account("Hana", Role::Host).await;
        let (ada, ada_client) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (_, bob) = rooms.join("Bob", Role::Shopper, "hall").await;
        rooms.moderation.ban(&host, &ada, "spam").await.unwrap();
        rooms.step(TICK);
        assert!(rooms.received(ada_client).iter().any(|m| matches!(
            m,
            ServerMessage::Removed { banned: true, reason } if reason == "spam"
        )));
        // On the way out, what she sends goes nowhere.
        rooms.send(ada_client, chat("last word"));
        rooms.step(REMOVE_GRACE - Duration::from_millis(1));
        assert!(rooms.is_connected(ada_client), "the notice gets its time");
        assert!(!heard(&rooms, bob, "last word"));
        rooms.step(Duration::from_millis(1));
        // Renet drops the connection on its next update.
        rooms.step(Duration::ZERO);
        assert!(!rooms.is_connected(ada_client), "gone after the grace");
        rooms.step(TICK);
        assert!(
            rooms
                .received(bob)
                .iter()
                .any(|m| matches!(m, ServerMessage::Room(RoomEvent::MemberLeft { .. })))
        );
    }
}
