//! The wire protocol: every message, its channel, and the one encode/decode
//! pair. Decoding returns `Result` and never panics.
//!
//! One file per concern: the channels, what the client sends, what the
//! server sends, avatar snapshots, refusals, commerce, engagement, parties,
//! voice and the codec. Everything is re-exported here, so users name
//! `vitrine_shared::protocol::X` whatever file `X` lives in.

mod bundle;
mod channels;
mod client_message;
mod codec;
mod commerce;
mod engagement;
mod friends;
mod group_deals;
mod party;
mod refusal;
mod server_message;
mod shared_cart;
mod snapshot;
mod voice;

#[cfg(test)]
mod round_trip;

pub use bundle::{BundleError, MAX_BUNDLE_BYTES, acks_only, bundle, unbundle};
pub use channels::{ClientChannel, ServerChannel, channels_config, connection_config};
pub use client_message::{
    ClientMessage, CommandKind, InputMessage, LOOSE_RETURN_SECS, MAX_HELD_PRODUCTS, RoomCommand,
    TELEPORT_COOLDOWN_MS,
};
pub use codec::{DecodeError, EncodeError, MAX_MESSAGE_BYTES, decode, encode};
pub use commerce::{
    CartChange, CartLineNet, CartNet, CheckoutCommand, CommerceEventNet, CouponNet, DiscountNet,
    FlashSaleNet, OrderLineNet, OrderNet, OrderStatus, Purchase,
};
pub use engagement::{EngagementEventNet, EntryRule, GiveawayNet, LeaderNet, PollNet, QuestionNet};
pub use friends::{FriendEventNet, FriendNet, PresenceNet};
pub use group_deals::{GroupDealEventNet, GroupDealNet, GroupDealRefusal, TeamNet};
pub use party::{
    PartyCommand, PartyCommandKind, PartyEventNet, PartyExit, PartyInviteeNet, PartyLine,
    PartyLineBody, PartyMemberNet, PartyNet, PartyRefusal,
};
pub use refusal::{
    ClaimRefusal, EngagementRefusal, RejectReason, Rejection, ReviewRefusal, ShopRefusal,
};
pub use server_message::{
    CHAT_HISTORY_LINES, ChatLine, HeldProductNet, MAX_BURST_SENDERS, MemberInfo, ReactionBurst,
    RoomEvent, ServerMessage, StreamNet,
};
pub use shared_cart::{
    CartGroupId, SharedCartChange, SharedCartCommand, SharedCartLineNet, SharedCartNet,
    SharedCheckoutCommand, SharedLineId, SharedPayment,
};
pub use snapshot::{
    AvatarFull, AvatarMoved, AvatarMovedXr, DETAIL_HYSTERESIS_M, DETAIL_M, FAR_M, MovedAvatars,
    NEAR_M, SNAPSHOT_HISTORY, SNAPSHOT_HZ, Snapshot, SnapshotError, TICK_HZ, interest,
    snapshot_due,
};
pub use voice::{VoiceCommand, VoiceDown, VoiceEventNet, VoiceTarget, VoiceUp};

/// Bump on any change to a message's shape. Clients built for another
/// version are refused at connect, because the netcode protocol id differs.
pub const PROTOCOL_VERSION: u32 = 10;

/// The netcode protocol id: an FNV-1a hash of the product name and version,
/// so that ids of different versions are unrelated.
pub const PROTOCOL_ID: u64 = protocol_id(PROTOCOL_VERSION);

/// The netcode protocol id of `version` (see [`PROTOCOL_ID`]).
pub const fn protocol_id(version: u32) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let name = b"vitrine/";
    let mut i = 0;
    while i < name.len() {
        hash = (hash ^ name[i] as u64).wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    let version = version.to_le_bytes();
    let mut i = 0;
    while i < version.len() {
        hash = (hash ^ version[i] as u64).wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_id_follows_version() {
        assert_ne!(PROTOCOL_ID, 0);
        // A fixed value would let a stale client through; recompute by hand.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in b"vitrine/"
            .iter()
            .chain(PROTOCOL_VERSION.to_le_bytes().iter())
        {
            h = (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        assert_eq!(h, PROTOCOL_ID);
    }
}
