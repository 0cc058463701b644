//! Client to server: the avatar's pose and the commands a shopper sends in a
//! room, with the room rules those commands are held to.

use super::{CheckoutCommand, ClientChannel, PartyCommand, SharedCartCommand};
use crate::ids::{GiveawayId, PollId, QuestionId, SaleId};
use crate::pose::PoseNet;
use crate::validated::{ChatText, ProductId, Reaction, Sku};
use serde::{Deserialize, Serialize};

/// Products one shopper may hold at once: one per hand.
pub const MAX_HELD_PRODUCTS: usize = 2;
/// A dropped product goes back to its display this many seconds after it
/// was dropped, unless someone picks it up first.
pub const LOOSE_RETURN_SECS: u64 = 10;
/// The shortest time between two [`RoomCommand::Teleport`]s of one member.
pub const TELEPORT_COOLDOWN_MS: u64 = 250;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// On [`ClientChannel::Input`].
    Input(InputMessage),
    /// On [`ClientChannel::Commands`].
    Room(RoomCommand),
}

impl ClientMessage {
    pub fn channel(&self) -> ClientChannel {
        match self {
            ClientMessage::Input(_) => ClientChannel::Input,
            ClientMessage::Room(_) => ClientChannel::Commands,
        }
    }
}

/// The avatar's latest pose, plus the newest snapshot tick the client holds,
/// which the server uses as the delta baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputMessage {
    pub seq: u32,
    pub ack_snapshot: Option<u32>,
    pub pose: PoseNet,
}

/// Intents in a room. Identity is never part of a command: the server knows
/// the sender from the transport.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RoomCommand {
    Chat(ChatText),
    React(Reaction),
    /// One tap in a flash sale. No price: the server sets it.
    ClaimFlashSale {
        sale_id: SaleId,
        quantity: u16,
    },
    /// Adds units of a variant to your cart, reserving them for the hold.
    AddToCart {
        sku: Sku,
        quantity: u16,
    },
    /// Sets a cart line's quantity; 0 removes the line and frees its units.
    SetCartQuantity {
        sku: Sku,
        quantity: u16,
    },
    /// "Buy now" of one variant, or checkout of the whole cart.
    Checkout(CheckoutCommand),
    /// The shopper picks up this product's display model (at most
    /// [`MAX_HELD_PRODUCTS`] at once; one lying loose may be picked up too).
    /// Everyone in the room hears
    /// [`RoomEvent::ProductHeld`](super::RoomEvent::ProductHeld). Sending
    /// it again for a product you hold changes nothing.
    Inspect {
        product: ProductId,
    },
    /// The shopper looked at a product's card (pointing at it).
    ViewProduct {
        product: ProductId,
    },
    /// The shopper put a product they held for `held_ms` back on its display
    /// ([`RoomEvent::ProductReturned`](super::RoomEvent::ProductReturned)).
    PutDownProduct {
        product: ProductId,
        held_ms: u32,
    },
    /// The shopper let go of a product they held for `held_ms`, and it
    /// settled loose at `at` (inside the room). Everyone hears
    /// [`RoomEvent::ProductDropped`](super::RoomEvent::ProductDropped); the
    /// server puts it back on its display [`LOOSE_RETURN_SECS`] later unless
    /// someone picks it up.
    DropProduct {
        product: ProductId,
        held_ms: u32,
        at: [f32; 3],
    },
    /// Takes `product` out of the hand of the member holding it: a hand-off.
    /// The server allows it when the taker's hand is within
    /// [`crate::pose::HANDOFF_REACH_M`] of the holder's (see
    /// [`crate::pose::handoff_distance`]); everyone hears
    /// [`RoomEvent::ProductPassed`](super::RoomEvent::ProductPassed).
    TakeFromHand {
        product: ProductId,
    },
    /// Teleports the avatar to `to` on the floor, facing `yaw`: a jump the
    /// walking-speed rule would refuse. At most [`crate::pose::MAX_TELEPORT_M`]
    /// from where the avatar stands, inside the room, and no more often than
    /// every [`TELEPORT_COOLDOWN_MS`]. Poses sent afterwards carry on from `to`.
    Teleport {
        to: [f32; 3],
        yaw: f32,
    },
    /// A vote in the open poll: the option's index.
    Vote {
        poll_id: PollId,
        option: u8,
    },
    /// A question for the host's Q&A queue.
    Ask(ChatText),
    /// One more voice behind someone else's question.
    Upvote {
        question_id: QuestionId,
    },
    EnterGiveaway {
        giveaway_id: GiveawayId,
    },
    /// Starts a team of a group deal, paying the team price with `payment`
    /// (authorized now, captured when the team fills). The answer is `GroupDealEventNet::Joined` or `JoinFailed` with the same
    /// `request_id`, which also makes a repeat safe (as a checkout's).
    StartTeam {
        deal: crate::ids::DealId,
        request_id: u32,
        payment: crate::validated::PaymentMethod,
    },
    /// Joins an open team, as `StartTeam` does.
    JoinTeam {
        team: crate::ids::TeamId,
        request_id: u32,
        payment: crate::validated::PaymentMethod,
    },
    /// Your party, wherever its members are
    /// ([`PartyEventNet`](super::PartyEventNet) answers).
    Party(PartyCommand),
    /// A change to, or a checkout of, the sender's group's shared cart.
    SharedCart(SharedCartCommand),
    /// A listener's voice settings (mute a speaker for yourself).
    Voice(super::VoiceCommand),
    /// Reviews a product the shopper bought and got delivered: 1 to 5
    /// stars and an optional text, once (as `POST
    /// /api/v1/products/{id}/reviews`). The answer is
    /// [`CommerceEventNet::Reviewed`](super::CommerceEventNet::Reviewed).
    Review {
        product: ProductId,
        stars: u8,
        text: String,
    },
}

impl RoomCommand {
    pub fn kind(&self) -> CommandKind {
        match self {
            RoomCommand::Chat(_) => CommandKind::Chat,
            RoomCommand::React(_) => CommandKind::React,
            RoomCommand::ClaimFlashSale { .. } => CommandKind::ClaimFlashSale,
            RoomCommand::AddToCart { .. } | RoomCommand::SetCartQuantity { .. } => {
                CommandKind::Cart
            }
            RoomCommand::Checkout(_) => CommandKind::Checkout,
            RoomCommand::Inspect { .. }
            | RoomCommand::ViewProduct { .. }
            | RoomCommand::PutDownProduct { .. }
            | RoomCommand::DropProduct { .. }
            | RoomCommand::TakeFromHand { .. } => CommandKind::Inspect,
            RoomCommand::Teleport { .. } => CommandKind::Pose,
            RoomCommand::Vote { .. } => CommandKind::Vote,
            RoomCommand::Ask(_) | RoomCommand::Upvote { .. } => CommandKind::Question,
            RoomCommand::EnterGiveaway { .. } => CommandKind::Giveaway,
            RoomCommand::StartTeam { .. } | RoomCommand::JoinTeam { .. } => CommandKind::Team,
            RoomCommand::Party(_) => CommandKind::Party,
            RoomCommand::SharedCart(_) => CommandKind::SharedCart,
            RoomCommand::Voice(_) => CommandKind::Voice,
            RoomCommand::Review { .. } => CommandKind::Review,
        }
    }
}

/// Names a command in a rejection without echoing its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CommandKind {
    Pose,
    Chat,
    React,
    ClaimFlashSale,
    Cart,
    Checkout,
    Inspect,
    Vote,
    Question,
    Giveaway,
    /// Starting or joining a group deal's team.
    Team,
    Party,
    SharedCart,
    /// Voice: a listener's command, or a frame refused (voice-muted).
    Voice,
    Review,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{decode, encode};

    #[test]
    fn a_nan_drop_point_crosses_the_wire_for_the_server_to_refuse() {
        let msg = ClientMessage::Room(RoomCommand::DropProduct {
            product: ProductId::new("glow-serum").unwrap(),
            held_ms: 1500,
            at: [f32::NAN, 0.0, f32::INFINITY],
        });
        let decoded = decode::<ClientMessage>(&encode(&msg).unwrap()).unwrap();
        let ClientMessage::Room(RoomCommand::DropProduct { at, held_ms, .. }) = decoded else {
            panic!("{decoded:?}");
        };
        assert_eq!(held_ms, 1500);
        assert!(at[0].is_nan() && at[1] == 0.0 && at[2] == f32::INFINITY);
    }

    #[test]
    fn a_nan_teleport_crosses_the_wire_for_the_server_to_refuse() {
        let msg = ClientMessage::Room(RoomCommand::Teleport {
            to: [1.0, f32::NAN, -2.5],
            yaw: f32::NAN,
        });
        let decoded = decode::<ClientMessage>(&encode(&msg).unwrap()).unwrap();
        let ClientMessage::Room(RoomCommand::Teleport { to, yaw }) = decoded else {
            panic!("{decoded:?}");
        };
        assert!(to[0] == 1.0 && to[1].is_nan() && to[2] == -2.5 && yaw.is_nan());
        // Refused as a pose; a hand-off as a product command.
        let teleport = RoomCommand::Teleport { to, yaw };
        assert_eq!(teleport.kind(), CommandKind::Pose);
        let product = ProductId::new("glow-serum").unwrap();
        assert_eq!(
            RoomCommand::TakeFromHand { product }.kind(),
            CommandKind::Inspect
        );
    }
}
