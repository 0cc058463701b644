//! Server to client: the message envelope, and the room's events (who is
//! here, chat, reactions, products in hand, the host's video).

use super::{
    CommerceEventNet, CouponNet, EngagementEventNet, FlashSaleNet, FriendEventNet, PartyEventNet,
    Rejection, ServerChannel, Snapshot,
};
use crate::ids::{AccountId, MemberSlot, Role};
use crate::pose::{PoseNet, RoomBounds};
use crate::validated::{ChatText, DisplayName, ProductId, Reaction, RoomId};
use serde::{Deserialize, Serialize};

/// Chat lines the server replays to a member who joins.
pub const CHAT_HISTORY_LINES: usize = 50;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// On [`ServerChannel::Snapshots`].
    Snapshot(Snapshot),
    /// On [`ServerChannel::Events`].
    Room(RoomEvent),
    /// On [`ServerChannel::Events`]: the sender's command was refused.
    Rejected(Rejection),
    /// On [`ServerChannel::Events`]: the server is going away.
    ShuttingDown { reason: String },
    /// On [`ServerChannel::Events`]: a moderator removed you from the room
    /// (kicked, or banned when `banned`); the connection closes next.
    Removed { banned: bool, reason: String },
    /// On [`ServerChannel::Events`]: flash sales and your orders.
    Commerce(CommerceEventNet),
    /// On [`ServerChannel::Events`]: polls, questions, giveaways, points.
    Engagement(EngagementEventNet),
    /// On [`ServerChannel::Events`]: group deals, their teams, your team.
    GroupDeals(super::GroupDealEventNet),
    /// On [`ServerChannel::Events`]: your friends and where they are.
    Friends(FriendEventNet),
    /// On [`ServerChannel::Events`]: your party and its invites, from any
    /// room.
    Party(PartyEventNet),
    /// On [`ServerChannel::Events`]: a moderator's voice-mute of you, or
    /// its end.
    Voice(super::VoiceEventNet),
}

impl ServerMessage {
    pub fn channel(&self) -> ServerChannel {
        match self {
            ServerMessage::Snapshot(_) => ServerChannel::Snapshots,
            _ => ServerChannel::Events,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub slot: MemberSlot,
    pub account: AccountId,
    pub name: DisplayName,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    pub from: MemberSlot,
    pub name: DisplayName,
    pub text: ChatText,
    /// Room-wide sequence number: every member sees the same order.
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RoomEvent {
    /// First event after connecting: who you are and who is here.
    Welcome {
        room: RoomId,
        room_name: String,
        you: MemberSlot,
        /// Where your avatar starts; poses move on from here at walking speed.
        /// (Boxed, like `pinned_coupon`, to keep every event small; the wire
        /// is the same.)
        spawn: Box<PoseNet>,
        bounds: RoomBounds,
        members: Vec<MemberInfo>,
        recent_chat: Vec<ChatLine>,
        /// Flash sales announced and not yet ended.
        flash_sales: Vec<FlashSaleNet>,
        /// The coupon the host pinned in the show, if any (boxed: most
        /// welcomes have none).
        pinned_coupon: Option<Box<CouponNet>>,
        /// Products off their display: held by someone, or lying loose.
        products: Vec<HeldProductNet>,
    },
    /// The host's video: sent right after `Welcome` when the server relays
    /// one (kept out of `Welcome`, the largest event, so that it stays
    /// small), and again whenever the host goes live or off.
    Stream(StreamNet),
    MemberJoined(MemberInfo),
    MemberLeft {
        slot: MemberSlot,
    },
    Chat(ChatLine),
    /// Reactions of the last moment, summed: a burst from many shoppers is
    /// one message, not one per tap.
    Reactions(ReactionBurst),
    /// A moderator removed a chat line: clients drop it.
    ChatRemoved {
        seq: u64,
    },
    /// `by` picked up `product` (from its display, or from where it lay).
    ProductHeld {
        product: ProductId,
        by: MemberSlot,
    },
    /// Its holder let go of `product` and it lies loose at `at`.
    ProductDropped {
        product: ProductId,
        at: [f32; 3],
    },
    /// `product` is back on its display: put back by hand, returned by the
    /// server [`LOOSE_RETURN_SECS`](super::LOOSE_RETURN_SECS) after a drop,
    /// or because its holder left.
    ProductReturned {
        product: ProductId,
    },
    /// `from` passed `product` to `to`, hand to hand
    /// ([`RoomCommand::TakeFromHand`](super::RoomCommand::TakeFromHand));
    /// `to` holds it now.
    ProductPassed {
        product: ProductId,
        from: MemberSlot,
        to: MemberSlot,
    },
}

/// The host's video on the stage: where to play it and whether the host is
/// on. Clients show a slate while `live` is false.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamNet {
    /// Low-latency SRT for the app (`srt://host:port`).
    pub srt: Option<String>,
    /// HLS for the web and CDNs (`http://host/hls/live.m3u8`).
    pub hls: Option<String>,
    pub live: bool,
}

/// A product off its display, in [`RoomEvent::Welcome`]: held (`by`) or
/// lying loose (`dropped_at`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldProductNet {
    pub product: ProductId,
    pub by: Option<MemberSlot>,
    pub dropped_at: Option<[f32; 3]>,
}

/// Reactions sent in the room over one short window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReactionBurst {
    /// How many of each, in [`Reaction::ALL`] order; absent ones are zero.
    pub counts: Vec<(Reaction, u32)>,
    /// Some of the senders (at most [`MAX_BURST_SENDERS`]), for clients to
    /// float reactions up from their avatars.
    pub from: Vec<(MemberSlot, Reaction)>,
}

/// Senders named in one [`ReactionBurst`].
pub const MAX_BURST_SENDERS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welcome_stays_small() {
        // Every event in memory is as large as `Welcome`, the largest: box
        // big or rare fields (as `spawn` and `pinned_coupon`) before this
        // grows.
        let size = std::mem::size_of::<RoomEvent>();
        assert!(size <= 192, "RoomEvent is {size} bytes");
    }
}
