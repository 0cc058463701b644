//! The one validation stage (STYLE.md §4): right after receive, decode each
//! message, check it came on its channel from an admitted member, apply rate
//! limits and moderation (mutes, the keyword filter), and only then hand
//! typed messages to the gameplay systems.
//! A message that cannot be decoded, or arrives on the wrong channel, is a
//! protocol violation: the sender is disconnected.

use super::membership::{Limits, Member};
use super::moderation::{ModerationLink, Screen};
use super::{Clients, ServerSystems, Shared, send_event};
use crate::clock::Clock;
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use bevy_time::prelude::*;
use std::sync::atomic::Ordering;
use vitrine_shared::protocol::{InputMessage, PartyCommand, RejectReason, Rejection};
use vitrine_shared::{ClientChannel, ClientMessage, RoomCommand, ServerMessage, decode};

/// A pose from an admitted member, decoded but not yet checked for physics.
#[derive(Message, Debug)]
pub struct PoseReceived {
    pub member: Entity,
    pub input: InputMessage,
}

/// A command from an admitted member that passed its rate limit.
#[derive(Message, Debug)]
pub struct CommandReceived {
    pub member: Entity,
    pub command: RoomCommand,
}

pub(super) fn plugin(app: &mut App) {
    app.add_message::<PoseReceived>()
        .add_message::<CommandReceived>()
        .add_systems(
            Update,
            receive_messages.in_set(ServerSystems::ValidateInputs),
        );
}

/// Most messages read from one client's channel in one tick; the rest wait
/// for the next tick, so one flooding client cannot stall the room.
const MAX_MESSAGES_PER_CHANNEL_PER_TICK: usize = 64;

#[allow(clippy::too_many_arguments)]
fn receive_messages(
    mut server: ResMut<RenetServer>,
    clients: Res<Clients>,
    mut members: Query<(&Member, &mut Limits)>,
    mut poses: MessageWriter<PoseReceived>,
    mut commands: MessageWriter<CommandReceived>,
    shared: Res<Shared>,
    time: Res<Time<Real>>,
    clock: Res<Clock>,
    moderation: Res<ModerationLink>,
) {
    let now = time.elapsed();
    let metrics = &shared.metrics;
    for (&client, &entity) in clients.0.iter() {
        let Ok((member, mut limits)) = members.get_mut(entity) else {
            continue;
        };
        let mut violation = None;

        for _ in 0..MAX_MESSAGES_PER_CHANNEL_PER_TICK {
            let Some(bytes) = server.receive_message(client, ClientChannel::Input) else {
                break;
            };
            metrics.messages_in.fetch_add(1, Ordering::Relaxed);
            match decode::<ClientMessage>(&bytes) {
                Ok(ClientMessage::Input(input)) => {
                    poses.write(PoseReceived {
                        member: entity,
                        input,
                    });
                }
                Ok(_) => violation = Some("wrong_channel"),
                Err(_) => violation = Some("malformed"),
            }
            if violation.is_some() {
                break;
            }
        }

        for _ in 0..MAX_MESSAGES_PER_CHANNEL_PER_TICK {
            if violation.is_some() {
                break;
            }
            let Some(bytes) = server.receive_message(client, ClientChannel::Commands) else {
                break;
            };
            metrics.messages_in.fetch_add(1, Ordering::Relaxed);
            let command = match decode::<ClientMessage>(&bytes) {
                Ok(ClientMessage::Room(command)) => command,
                Ok(_) => {
                    violation = Some("wrong_channel");
                    break;
                }
                Err(_) => {
                    violation = Some("malformed");
                    break;
                }
            };
            let bucket = match &command {
                RoomCommand::Chat(_) => &mut limits.chat,
                RoomCommand::React(_) => &mut limits.reactions,
                // One budget for every shop action: claims, cart, checkout and teams.
                RoomCommand::ClaimFlashSale { .. }
                | RoomCommand::AddToCart { .. }
                | RoomCommand::SetCartQuantity { .. }
                | RoomCommand::Checkout(_)
                | RoomCommand::StartTeam { .. }
                | RoomCommand::JoinTeam { .. }
                | RoomCommand::SharedCart(_)
                // A review writes to the store, as a shop action does.
                | RoomCommand::Review { .. } => &mut limits.claims,
                // Questions are chat-like; votes, upvotes, entries,
                // inspections, hand-offs and teleports are taps, like
                // reactions (a teleport also has its own cooldown).
                RoomCommand::Ask(_) => &mut limits.chat,
                // Party chat is chat; the other party commands are taps,
                // and invites and shares also have the party's own limits.
                RoomCommand::Party(PartyCommand::Chat(_)) => &mut limits.chat,
                RoomCommand::Party(_) => &mut limits.reactions,
                RoomCommand::Inspect { .. }
                | RoomCommand::ViewProduct { .. }
                | RoomCommand::PutDownProduct { .. }
                | RoomCommand::DropProduct { .. }
                | RoomCommand::TakeFromHand { .. }
                | RoomCommand::Teleport { .. }
                | RoomCommand::Vote { .. }
                | RoomCommand::Upvote { .. }
                | RoomCommand::EnterGiveaway { .. }
                // Muting a speaker for yourself is a tap too.
                | RoomCommand::Voice(_) => &mut limits.reactions,
            };
            // Then moderation: a muted member, a blocked term, or a member
            // on its way out (see `moderation`).
            let screened = match bucket.try_take(now) {
                Ok(()) => moderation.screen(client, member.info.account, &command, clock.now_ms()),
                Err(wait) => Screen::Reject(RejectReason::RateLimited {
                    retry_after_ms: wait.as_millis().min(u32::MAX as u128) as u32,
                }),
            };
            match screened {
                Screen::Pass => {
                    commands.write(CommandReceived {
                        member: entity,
                        command,
                    });
                }
                Screen::Drop => {}
                Screen::Reject(reason) => {
                    metrics.reject(reason.code());
                    let rejection = Rejection {
                        command: command.kind(),
                        reason,
                    };
                    send_event(&mut server, client, &ServerMessage::Rejected(rejection));
                }
            }
        }

        if let Some(kind) = violation {
            tracing::warn!(client, account = %member.info.account, kind, "protocol violation; disconnecting");
            metrics.reject("protocol_violation");
            server.disconnect(client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::harness::{TICK, TestRooms};
    use std::time::Duration;
    use vitrine_shared::protocol::RoomEvent;
    use vitrine_shared::{ChatText, Role};

    fn chat(text: &str) -> RoomCommand {
        RoomCommand::Chat(ChatText::new(text).unwrap())
    }

    fn limited(rooms: &TestRooms, client: u64) -> Vec<u32> {
        rooms
            .received(client)
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Rejected(Rejection {
                    reason: RejectReason::RateLimited { retry_after_ms },
                    ..
                }) => Some(*retry_after_ms),
                _ => None,
            })
            .collect()
    }

    fn lines(rooms: &TestRooms, client: u64) -> usize {
        rooms
            .received(client)
            .iter()
            .filter(|m| matches!(m, ServerMessage::Room(RoomEvent::Chat(_))))
            .count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chat_beyond_its_burst_waits_for_the_bucket_to_refill() {
        let mut rooms = TestRooms::start_with(|s| {
            s.chat = crate::config::RateConfig {
                per_second: 1.0,
                burst: 2,
            }
        })
        .await;
        let (_, ada) = rooms.join("Ada", Role::Shopper, "hall").await;
        for text in ["a", "b", "c"] {
            rooms.send(ada, chat(text));
        }
        rooms.step(TICK);
        assert_eq!(lines(&rooms, ada), 2, "the burst goes through");
        assert_eq!(
            limited(&rooms, ada),
            [1000],
            "the third is told to wait 1 s"
        );
        // A millisecond short of the second: still empty.
        rooms.step(Duration::from_millis(999) - TICK);
        rooms.send(ada, chat("d"));
        rooms.step(TICK);
        assert_eq!(lines(&rooms, ada), 2);
        assert_eq!(limited(&rooms, ada).len(), 2);
        // Past the second: one more token.
        rooms.send(ada, chat("e"));
        rooms.step(TICK);
        assert_eq!(lines(&rooms, ada), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_on_the_wrong_channel_or_undecodable_disconnects() {
        let mut rooms = TestRooms::start().await;
        let (_, ada) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (_, bob) = rooms.join("Bob", Role::Shopper, "hall").await;
        rooms.send_raw(ada, ClientChannel::Commands, vec![0xff; 8]);
        let chat_on_input = vitrine_shared::encode(&ClientMessage::Room(chat("hi"))).unwrap();
        rooms.send_raw(bob, ClientChannel::Input, chat_on_input);
        rooms.step(TICK);
        assert!(!rooms.is_connected(ada), "malformed");
        assert!(!rooms.is_connected(bob), "wrong channel");
        assert_eq!(rooms.metrics.rejected("protocol_violation"), 2);
    }
}
