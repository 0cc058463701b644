//! The one validation stage (STYLE.md §4): right after receive, decode each
//! message, check it came on its channel from an admitted member, apply rate
//! limits and moderation (mutes, the keyword filter), and only then hand
//! typed messages to the gameplay systems.
//! A message that cannot be decoded, or arrives on the wrong channel, is a
//! protocol violation: the sender is disconnected.

use super::membership::{Limits, Member};
use super::moderation::{ModerationLink, Screen};
use super::{Clients, ServerSystems, Shared, send_event};
use crate::store::now_ms;
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use bevy_time::prelude::*;
use std::sync::atomic::Ordering;
use vitrine_shared::protocol::{InputMessage, RejectReason, Rejection};
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
                // One budget for every shop action: claims, cart and checkout.
                RoomCommand::ClaimFlashSale { .. }
                | RoomCommand::AddToCart { .. }
                | RoomCommand::SetCartQuantity { .. }
                | RoomCommand::Checkout(_) => &mut limits.claims,
                // Questions are chat-like; votes, upvotes, entries,
                // inspections, hand-offs and teleports are taps, like
                // reactions (a teleport also has its own cooldown).
                RoomCommand::Ask(_) => &mut limits.chat,
                RoomCommand::Inspect { .. }
                | RoomCommand::ViewProduct { .. }
                | RoomCommand::PutDownProduct { .. }
                | RoomCommand::DropProduct { .. }
                | RoomCommand::TakeFromHand { .. }
                | RoomCommand::Teleport { .. }
                | RoomCommand::Vote { .. }
                | RoomCommand::Upvote { .. }
                | RoomCommand::EnterGiveaway { .. } => &mut limits.reactions,
            };
            // Then moderation: a muted member, a blocked term, or a member
            // on its way out (see `moderation`).
            let screened = match bucket.try_take(now) {
                Ok(()) => moderation.screen(client, member.info.account, &command, now_ms()),
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
