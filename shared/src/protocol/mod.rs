//! The wire protocol: every message, its channel, and the one encode/decode
//! pair. Decoding returns `Result` and never panics.

use crate::ids::{AccountId, MemberSlot, Role};
use crate::money::Money;
use crate::pose::{PoseDeltaQ, PoseError, PoseNet, PoseQ, RoomBounds};
use crate::validated::{
    ChatText, CouponCode, DisplayName, PaymentMethod, ProductId, Reaction, RoomId, Sku,
};
use renet::{ChannelConfig, ConnectionConfig, SendType};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use thiserror::Error;

/// Bump on any change to a message's shape. Clients built for another
/// version are refused at connect, because the netcode protocol id differs.
pub const PROTOCOL_VERSION: u32 = 5;

/// The netcode protocol id: an FNV-1a hash of the product name and version,
/// so that ids of different versions are unrelated.
pub const PROTOCOL_ID: u64 = {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let name = b"vitrine/";
    let mut i = 0;
    while i < name.len() {
        hash = (hash ^ name[i] as u64).wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    let version = PROTOCOL_VERSION.to_le_bytes();
    let mut i = 0;
    while i < version.len() {
        hash = (hash ^ version[i] as u64).wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
};

/// Largest encoded message either side accepts.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Chat lines the server replays to a member who joins.
pub const CHAT_HISTORY_LINES: usize = 50;
/// Products one shopper may hold at once: one per hand.
pub const MAX_HELD_PRODUCTS: usize = 2;
/// A dropped product goes back to its display this many seconds after it
/// was dropped, unless someone picks it up first.
pub const LOOSE_RETURN_SECS: u64 = 10;
/// The shortest time between two [`RoomCommand::Teleport`]s of one member.
pub const TELEPORT_COOLDOWN_MS: u64 = 250;

/// Channels the client sends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientChannel {
    /// Unreliable: the latest avatar pose; a lost one is replaced by the next.
    Input,
    /// Reliable ordered: chat, reactions and every other command.
    Commands,
}

/// Channels the server sends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerChannel {
    /// Unreliable: snapshots, delta-encoded against an acknowledged one.
    Snapshots,
    /// Reliable ordered: room events and rejections.
    Events,
}

impl From<ClientChannel> for u8 {
    fn from(channel: ClientChannel) -> u8 {
        match channel {
            ClientChannel::Input => 0,
            ClientChannel::Commands => 1,
        }
    }
}

impl From<ServerChannel> for u8 {
    fn from(channel: ServerChannel) -> u8 {
        match channel {
            ServerChannel::Snapshots => 0,
            ServerChannel::Events => 1,
        }
    }
}

impl ClientChannel {
    pub fn from_id(id: u8) -> Option<Self> {
        [Self::Input, Self::Commands]
            .into_iter()
            .find(|c| u8::from(*c) == id)
    }
}

/// Both directions' channel lists, `(client, server)`.
pub fn channels_config() -> (Vec<ChannelConfig>, Vec<ChannelConfig>) {
    let resend = Duration::from_millis(200);
    let client = vec![
        ChannelConfig {
            channel_id: ClientChannel::Input.into(),
            max_memory_usage_bytes: 64 * 1024,
            send_type: SendType::Unreliable,
        },
        ChannelConfig {
            channel_id: ClientChannel::Commands.into(),
            max_memory_usage_bytes: 1024 * 1024,
            send_type: SendType::ReliableOrdered {
                resend_time: resend,
            },
        },
    ];
    // Events first: a chat line or a sold-out notice outranks a snapshot.
    let server = vec![
        ChannelConfig {
            channel_id: ServerChannel::Events.into(),
            max_memory_usage_bytes: 8 * 1024 * 1024,
            send_type: SendType::ReliableOrdered {
                resend_time: resend,
            },
        },
        ChannelConfig {
            channel_id: ServerChannel::Snapshots.into(),
            max_memory_usage_bytes: 1024 * 1024,
            send_type: SendType::Unreliable,
        },
    ];
    (client, server)
}

pub fn connection_config() -> ConnectionConfig {
    let (client_channels_config, server_channels_config) = channels_config();
    ConnectionConfig {
        // 30 Hz ticks: 120 kB per tick is ~29 Mbit/s per connection, far above need.
        available_bytes_per_tick: 120_000,
        client_channels_config,
        server_channels_config,
    }
}

// ---------------------------------------------------------------------------
// Client to server.

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
        sale_id: i64,
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
    /// Everyone in the room hears [`RoomEvent::ProductHeld`]. Sending it
    /// again for a product you hold changes nothing.
    Inspect {
        product: ProductId,
    },
    /// The shopper looked at a product's card (pointing at it).
    ViewProduct {
        product: ProductId,
    },
    /// The shopper put a product they held for `held_ms` back on its display
    /// ([`RoomEvent::ProductReturned`]).
    PutDownProduct {
        product: ProductId,
        held_ms: u32,
    },
    /// The shopper let go of a product they held for `held_ms`, and it
    /// settled loose at `at` (inside the room). Everyone hears
    /// [`RoomEvent::ProductDropped`]; the server puts it back on its display
    /// [`LOOSE_RETURN_SECS`] later unless someone picks it up.
    DropProduct {
        product: ProductId,
        held_ms: u32,
        at: [f32; 3],
    },
    /// Takes `product` out of the hand of the member holding it: a hand-off.
    /// The server allows it when the taker's hand is within
    /// [`crate::pose::HANDOFF_REACH_M`] of the holder's (see
    /// [`crate::pose::handoff_distance`]); everyone hears
    /// [`RoomEvent::ProductPassed`].
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
        poll_id: i64,
        option: u8,
    },
    /// A question for the host's Q&A queue.
    Ask(ChatText),
    /// One more voice behind someone else's question.
    Upvote {
        question_id: i64,
    },
    EnterGiveaway {
        giveaway_id: i64,
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
        }
    }
}

/// A purchase from the room. There is no price anywhere: the server prices
/// every line. `request_id` is the client's: sending the same id again (a
/// double tap, a resend after reconnecting) answers with the same order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutCommand {
    pub request_id: u32,
    pub items: Purchase,
    pub coupon: Option<CouponCode>,
    pub payment: PaymentMethod,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Purchase {
    /// Everything in your cart.
    Cart,
    /// One variant, straight from the display.
    BuyNow { sku: Sku, quantity: u16 },
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
}

// ---------------------------------------------------------------------------
// Server to client.

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
    /// server [`LOOSE_RETURN_SECS`] after a drop, or because its holder left.
    ProductReturned {
        product: ProductId,
    },
    /// `from` passed `product` to `to`, hand to hand
    /// ([`RoomCommand::TakeFromHand`]); `to` holds it now.
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

/// A snapshot of the room's avatars, relative to the snapshot `baseline`
/// when set (one the client acknowledged): `moved` avatars changed by a
/// delta, `full` ones are sent whole (new, or not expressible as a delta),
/// and any avatar in neither is unchanged since the baseline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Snapshot {
    pub tick: u32,
    pub baseline: Option<u32>,
    pub full: Vec<AvatarFull>,
    pub moved: MovedAvatars,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvatarFull {
    pub slot: MemberSlot,
    pub pose: PoseQ,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvatarMoved {
    pub slot: MemberSlot,
    pub delta: PoseDeltaQ,
}

/// Moved avatars as a bitmask of slots plus their deltas in slot order: a
/// bit per member instead of a byte, which is most of a walking step's cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MovedAvatars {
    slots: Vec<u8>,
    deltas: Vec<PoseDeltaQ>,
}

#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum SnapshotError {
    #[error("moved avatars must be added in increasing slot order")]
    OutOfOrder,
    #[error("the moved-avatar mask names {mask} avatars but {deltas} deltas follow")]
    CountMismatch { mask: usize, deltas: usize },
}

impl MovedAvatars {
    /// Adds `slot`, which must be greater than every slot added before.
    pub fn push(&mut self, slot: MemberSlot, delta: PoseDeltaQ) -> Result<(), SnapshotError> {
        if self.last_slot().is_some_and(|last| slot.0 <= last) {
            return Err(SnapshotError::OutOfOrder);
        }
        let (byte, bit) = (slot.0 as usize / 8, slot.0 % 8);
        if self.slots.len() <= byte {
            self.slots.resize(byte + 1, 0);
        }
        self.slots[byte] |= 1 << bit;
        self.deltas.push(delta);
        Ok(())
    }

    fn last_slot(&self) -> Option<u16> {
        let (byte, bits) = self
            .slots
            .iter()
            .enumerate()
            .rev()
            .find(|(_, b)| **b != 0)?;
        Some(byte as u16 * 8 + (7 - bits.leading_zeros() as u16))
    }

    fn iter_slots(&self) -> impl Iterator<Item = u16> + '_ {
        self.slots.iter().enumerate().flat_map(|(byte, bits)| {
            (0..8u16)
                .filter(move |bit| bits & (1 << bit) != 0)
                .map(move |bit| byte as u16 * 8 + bit)
        })
    }

    pub fn len(&self) -> usize {
        self.deltas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty()
    }

    /// The moved avatars, or an error when the mask and deltas disagree (a
    /// corrupt or hostile snapshot).
    pub fn entries(&self) -> Result<Vec<AvatarMoved>, SnapshotError> {
        let mask = self
            .slots
            .iter()
            .map(|b| b.count_ones() as usize)
            .sum::<usize>();
        if mask != self.deltas.len() || self.slots.len() > (u16::MAX as usize + 1) / 8 {
            return Err(SnapshotError::CountMismatch {
                mask,
                deltas: self.deltas.len(),
            });
        }
        Ok(self
            .iter_slots()
            .zip(&self.deltas)
            .map(|(slot, delta)| AvatarMoved {
                slot: MemberSlot(slot),
                delta: *delta,
            })
            .collect())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    pub command: CommandKind,
    pub reason: RejectReason,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Error)]
pub enum RejectReason {
    #[error("too fast: try again in {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u32 },
    #[error("invalid pose: {0}")]
    InvalidPose(PoseError),
    #[error("your role may not do this")]
    NotAllowed,
    #[error("{0}")]
    Claim(ClaimRefusal),
    #[error("{0}")]
    Shop(ShopRefusal),
    #[error("{0}")]
    Engagement(EngagementRefusal),
    #[error("you are muted for {remaining_ms} ms more")]
    Muted { remaining_ms: u64 },
    #[error("that message contains a blocked word")]
    Filtered,
    /// Someone else holds this product.
    #[error("someone else is holding this product")]
    ProductHeld { by: MemberSlot },
    /// Putting back or dropping a product you do not hold.
    #[error("you are not holding this product")]
    NotHolding,
    /// You already hold [`MAX_HELD_PRODUCTS`] products.
    #[error("your hands are full: put something down first")]
    HandsFull,
    /// A position that is not finite or lies outside the room.
    #[error("that position is outside the room")]
    InvalidPosition,
    /// A hand-off with hands too far apart, or a teleport beyond its range.
    #[error("out of reach: move closer")]
    OutOfReach,
}

impl RejectReason {
    /// A stable label, used in metrics.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::RateLimited { .. } => "rate_limited",
            RejectReason::InvalidPose(_) => "invalid_pose",
            RejectReason::NotAllowed => "not_allowed",
            RejectReason::Claim(_) => "claim_refused",
            RejectReason::Shop(_) => "shop_refused",
            RejectReason::Engagement(_) => "engagement_refused",
            RejectReason::Muted { .. } => "muted",
            RejectReason::Filtered => "filtered",
            RejectReason::ProductHeld { .. } => "product_held",
            RejectReason::NotHolding => "not_holding",
            RejectReason::HandsFull => "hands_full",
            RejectReason::InvalidPosition => "invalid_position",
            RejectReason::OutOfReach => "out_of_reach",
        }
    }
}

/// Why a flash-sale claim was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum ClaimRefusal {
    #[error("no such flash sale")]
    UnknownSale,
    #[error("quantity must be 1 to 100")]
    BadQuantity,
    #[error("the sale opens in {opens_in_ms} ms")]
    NotStarted { opens_in_ms: i64 },
    #[error("the sale has ended")]
    Ended,
    #[error("sold out")]
    SoldOut,
    #[error("only {available} left")]
    NotEnoughLeft { available: i64 },
    #[error("only {remaining} more for you (limit {limit} per buyer)")]
    LimitReached { limit: i64, remaining: i64 },
    #[error("the shop is unavailable; nothing was bought")]
    Unavailable,
}

/// Why a vote, question, upvote or giveaway entry was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum EngagementRefusal {
    #[error("no such poll")]
    UnknownPoll,
    #[error("the poll has closed")]
    PollClosed,
    #[error("no such option")]
    BadOption,
    #[error("you have voted in this poll")]
    AlreadyVoted,
    #[error("no such question")]
    UnknownQuestion,
    #[error("you cannot upvote your own question")]
    OwnQuestion,
    #[error("you have upvoted this question")]
    AlreadyUpvoted,
    #[error("no such product")]
    UnknownProduct,
    #[error("no such giveaway")]
    UnknownGiveaway,
    #[error("the giveaway is closed")]
    GiveawayClosed,
    #[error("you have entered this giveaway")]
    AlreadyEntered,
    #[error("not eligible: {0}")]
    NotEligible(String),
    #[error("engagement is unavailable")]
    Unavailable,
}

/// Why a cart change or a checkout was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum ShopRefusal {
    #[error("no such product on sale")]
    UnknownProduct,
    #[error("quantity must be 1 to 100")]
    BadQuantity,
    #[error("only {available} available")]
    NotEnoughStock { available: i64 },
    #[error("your cart is full")]
    CartFull,
    #[error("your cart is empty")]
    EmptyCart,
    #[error("no such coupon")]
    UnknownCoupon,
    #[error("this coupon is not valid now")]
    CouponNotActive,
    #[error("this coupon needs an order of at least {min}")]
    CouponMinimum { min: Money },
    #[error("this coupon has been used up")]
    CouponUsedUp,
    #[error("you have used this coupon as often as allowed")]
    CouponLimitReached,
    #[error("the payment was declined ({reason}); nothing was charged")]
    PaymentDeclined { reason: String },
    #[error("the payment provider did not answer; nothing was charged")]
    PaymentTimeout,
    #[error("this purchase is being paid already")]
    PaymentInProgress,
    #[error("this request id was used for a different purchase")]
    RequestReused,
    #[error("all items of an order must be in one currency")]
    CurrencyMismatch,
    #[error("the shop is unavailable; nothing was bought")]
    Unavailable,
}

/// A flash sale as rooms see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashSaleNet {
    pub id: i64,
    pub product: String,
    pub sku: String,
    pub price: Money,
    pub quantity: i64,
    pub units_left: i64,
    pub per_buyer_limit: i64,
    /// Unix milliseconds: clients count down to it.
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
}

/// Commerce news for every room of the show, and claim results for the
/// claimer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommerceEventNet {
    SaleAnnounced(FlashSaleNet),
    SaleOpened {
        sale_id: i64,
    },
    UnitsLeft {
        sale_id: i64,
        units_left: i64,
    },
    SoldOut {
        sale_id: i64,
    },
    SaleEnded {
        sale_id: i64,
    },
    /// To the claimer only: the order the claim made.
    Claimed {
        sale_id: i64,
        order_id: i64,
        quantity: i64,
        total: Money,
    },
    /// To the shopper: the whole cart, after any change to it.
    Cart(CartNet),
    /// To the buyer: one of their orders was made or moved on.
    Order(OrderNet),
    /// To the buyer: the answer to their checkout command.
    CheckoutDone {
        request_id: u32,
        order: OrderNet,
    },
    CheckoutFailed {
        request_id: u32,
        reason: ShopRefusal,
    },
    /// To everyone: the coupon the host pinned in the show, or none.
    CouponPinned(Option<CouponNet>),
}

/// Why the cart is being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CartChange {
    /// On joining a room: the cart as it is.
    Current,
    /// The shopper changed it.
    Updated,
    /// Lines whose hold ran out were removed and their units released.
    Expired,
    /// Its lines became an order.
    CheckedOut,
    /// A checkout's payment failed: its lines are back in the cart.
    Restored,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLineNet {
    pub sku: Sku,
    pub product: ProductId,
    pub name: String,
    /// The variant's price now; checkout charges the price at that moment.
    pub unit_price: Money,
    pub quantity: i64,
    /// Unix milliseconds: the units are released then unless checked out.
    pub held_until_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartNet {
    pub change: CartChange,
    pub lines: Vec<CartLineNet>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    Pending,
    Paid,
    Fulfilled,
    Delivered,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::Fulfilled,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineNet {
    pub sku: Sku,
    pub quantity: i64,
    pub unit_price: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderNet {
    pub id: i64,
    pub status: OrderStatus,
    /// What is charged: the lines less the discount.
    pub total: Money,
    pub discount: Money,
    pub coupon: Option<CouponCode>,
    pub lines: Vec<OrderLineNet>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiscountNet {
    /// 1 to 100 percent off the order's lines.
    Percent(u8),
    /// A fixed amount off.
    Amount(Money),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponNet {
    pub code: CouponCode,
    pub discount: DiscountNet,
    pub min_order: Money,
    /// Unix milliseconds.
    pub ends_at_ms: i64,
    /// Redemptions left, when the coupon is capped.
    pub remaining: Option<i64>,
}

/// A poll as rooms see it: counts are live until it closes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollNet {
    pub id: i64,
    pub question: String,
    pub options: Vec<String>,
    pub counts: Vec<u32>,
    /// Unix milliseconds.
    pub closes_at_ms: i64,
    pub closed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestionNet {
    pub id: i64,
    pub name: DisplayName,
    pub text: ChatText,
    pub votes: u32,
    pub answered: bool,
}

/// Who may enter a giveaway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryRule {
    Everyone,
    /// Present and active in the show for at least this many minutes.
    PresentMinutes(u32),
    /// Bought something in this show.
    BoughtInShow,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiveawayNet {
    pub id: i64,
    pub prize: String,
    pub rule: EntryRule,
    /// Unix milliseconds: entries close then, and the draw follows.
    pub closes_at_ms: i64,
    /// SHA-256 of the secret seed, hex: published before entries close.
    pub commitment: String,
    pub entries: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderNet {
    pub name: DisplayName,
    pub points: i64,
}

/// Engagement news: polls, questions and giveaways for every room of the
/// show; points and badges for their shopper only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EngagementEventNet {
    PollOpened(PollNet),
    /// Live results, at most a few times a second.
    PollResults {
        poll_id: i64,
        counts: Vec<u32>,
        closed: bool,
    },
    QuestionAsked(QuestionNet),
    QuestionVotes {
        question_id: i64,
        votes: u32,
    },
    QuestionAnswered {
        question_id: i64,
    },
    GiveawayOpened(GiveawayNet),
    GiveawayEntries {
        giveaway_id: i64,
        entries: u32,
    },
    /// The draw: `seed` (hex) is revealed so that anyone can check it
    /// against the commitment and recompute the winner.
    GiveawayDrawn {
        giveaway_id: i64,
        draw: u32,
        winner: DisplayName,
        seed: String,
    },
    /// To the shopper: points earned (or spent) and the balance after.
    Points {
        change: i64,
        balance: i64,
        reason: String,
    },
    /// To the shopper: a badge earned.
    Badge {
        id: String,
        name: String,
    },
    /// The top of the show's and the all-time leaderboards.
    Leaderboard {
        show: Vec<LeaderNet>,
        all_time: Vec<LeaderNet>,
    },
    /// The show went live (`Some(title)`) or ended (`None`).
    ShowLive {
        title: Option<String>,
    },
    /// The products the host features now (at most 3), in order.
    Featured {
        products: Vec<ProductId>,
    },
}

// ---------------------------------------------------------------------------
// Encoding.

#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum DecodeError {
    #[error("message of {0} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("message is empty")]
    Empty,
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    #[error("malformed message: {0}")]
    Malformed(String),
}

#[derive(Debug, Error)]
#[error("cannot encode message: {0}")]
pub struct EncodeError(String);

/// Encodes any protocol message (postcard: compact varints, no padding).
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, EncodeError> {
    let bytes = postcard::to_stdvec(message).map_err(|e| EncodeError(e.to_string()))?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(EncodeError(format!(
            "{} bytes exceeds the limit",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Decodes one message that must fill `bytes` exactly.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let (message, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::{TrackedPoseNet, XrPoseNet};
    use proptest::prelude::*;

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

    #[test]
    fn channels_are_distinct_per_direction() {
        let (client, server) = channels_config();
        assert_eq!(client.len(), 2);
        assert_eq!(server.len(), 2);
        assert_ne!(client[0].channel_id, client[1].channel_id);
        assert_ne!(server[0].channel_id, server[1].channel_id);
        assert_eq!(ClientChannel::from_id(1), Some(ClientChannel::Commands));
        assert_eq!(ClientChannel::from_id(7), None);
    }

    #[test]
    fn refuses_trailing_oversized_and_empty() {
        let msg = ClientMessage::Room(RoomCommand::React(Reaction::Heart));
        let mut bytes = encode(&msg).unwrap();
        assert_eq!(decode::<ClientMessage>(&bytes), Ok(msg));
        bytes.push(0);
        assert_eq!(
            decode::<ClientMessage>(&bytes),
            Err(DecodeError::TrailingBytes(1))
        );
        assert_eq!(decode::<ClientMessage>(&[]), Err(DecodeError::Empty));
        let huge = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert_eq!(
            decode::<ClientMessage>(&huge),
            Err(DecodeError::TooLarge(huge.len()))
        );
    }

    #[test]
    fn moved_avatars_keep_slot_order_and_check_their_count() {
        let d = |x| PoseDeltaQ { x, z: 0, yaw: 0 };
        let mut moved = MovedAvatars::default();
        moved.push(MemberSlot(0), d(1)).unwrap();
        moved.push(MemberSlot(9), d(2)).unwrap();
        moved.push(MemberSlot(300), d(3)).unwrap();
        assert_eq!(
            moved.push(MemberSlot(9), d(4)),
            Err(SnapshotError::OutOfOrder)
        );
        let slots: Vec<u16> = moved.entries().unwrap().iter().map(|m| m.slot.0).collect();
        assert_eq!(slots, [0, 9, 300]);
        // 100 moved avatars cost 13 mask bytes, not 100 slot bytes.
        let mut many = MovedAvatars::default();
        for slot in 0..100 {
            many.push(MemberSlot(slot), d(1)).unwrap();
        }
        assert_eq!(encode(&many).unwrap().len(), 1 + 13 + 1 + 100 * 3);
        // A mask that disagrees with its deltas is refused.
        let bad = MovedAvatars {
            slots: vec![0b11],
            deltas: vec![d(1)],
        };
        assert_eq!(
            bad.entries(),
            Err(SnapshotError::CountMismatch { mask: 2, deltas: 1 })
        );
    }

    #[test]
    fn refuses_invalid_chat_inside_a_message() {
        // A hand-built message carrying an empty chat line.
        let bytes = [1u8, 0, 0];
        assert!(matches!(
            decode::<ClientMessage>(&bytes),
            Err(DecodeError::Malformed(_))
        ));
    }

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

    #[test]
    fn welcome_stays_small() {
        // Every event in memory is as large as `Welcome`, the largest: box
        // big or rare fields (as `spawn` and `pinned_coupon`) before this
        // grows.
        let size = std::mem::size_of::<RoomEvent>();
        assert!(size <= 192, "RoomEvent is {size} bytes");
    }

    // Strategies for arbitrary, valid messages.

    fn finite() -> impl Strategy<Value = f32> {
        -1000.0f32..1000.0
    }

    fn tracked() -> impl Strategy<Value = TrackedPoseNet> {
        (
            prop::array::uniform3(finite()),
            prop::array::uniform4(-1.0f32..1.0),
        )
            .prop_map(|(position, rotation)| TrackedPoseNet { position, rotation })
    }

    fn pose() -> impl Strategy<Value = PoseNet> {
        let xr = (
            tracked(),
            prop::option::of(tracked()),
            prop::option::of(tracked()),
        )
            .prop_map(|(head, left_hand, right_hand)| XrPoseNet {
                head,
                left_hand,
                right_hand,
            });
        (
            prop::array::uniform3(finite()),
            finite(),
            prop::option::of(xr),
        )
            .prop_map(|(position, yaw, xr)| PoseNet { position, yaw, xr })
    }

    fn pose_q() -> impl Strategy<Value = PoseQ> {
        (prop::array::uniform3(any::<i16>()), 0u16..4096).prop_map(|(position, yaw)| PoseQ {
            position,
            yaw,
            xr: None,
        })
    }

    fn reaction() -> impl Strategy<Value = Reaction> {
        prop::sample::select(Reaction::ALL.to_vec())
    }

    fn chat() -> impl Strategy<Value = ChatText> {
        "[a-zA-Z0-9 ,.!?éü😀]{1,120}".prop_filter_map("valid chat", |s| ChatText::new(s).ok())
    }

    fn name() -> impl Strategy<Value = DisplayName> {
        "[a-zA-Z][a-zA-Z0-9 _]{0,30}".prop_filter_map("valid name", |s| DisplayName::new(s).ok())
    }

    fn member() -> impl Strategy<Value = MemberInfo> {
        (
            any::<u16>(),
            any::<u64>(),
            name(),
            prop::sample::select(Role::ALL.to_vec()),
        )
            .prop_map(|(slot, account, name, role)| MemberInfo {
                slot: MemberSlot(slot),
                account: AccountId(account),
                name,
                role,
            })
    }

    fn client_message() -> impl Strategy<Value = ClientMessage> {
        prop_oneof![
            (any::<u32>(), prop::option::of(any::<u32>()), pose()).prop_map(
                |(seq, ack_snapshot, pose)| ClientMessage::Input(InputMessage {
                    seq,
                    ack_snapshot,
                    pose
                })
            ),
            chat().prop_map(|c| ClientMessage::Room(RoomCommand::Chat(c))),
            reaction().prop_map(|r| ClientMessage::Room(RoomCommand::React(r))),
            (any::<i64>(), any::<u8>(), any::<i64>(), any::<bool>()).prop_map(
                |(poll_id, option, id, vote)| ClientMessage::Room(if vote {
                    RoomCommand::Vote { poll_id, option }
                } else {
                    RoomCommand::Upvote { question_id: id }
                })
            ),
            chat().prop_map(|c| ClientMessage::Room(RoomCommand::Ask(c))),
            any::<i64>().prop_map(
                |giveaway_id| ClientMessage::Room(RoomCommand::EnterGiveaway { giveaway_id })
            ),
            "[a-z0-9-]{1,64}".prop_map(|p| ClientMessage::Room(RoomCommand::Inspect {
                product: ProductId::new(p).unwrap()
            })),
            ("[a-z0-9-]{1,64}", prop::option::of(any::<u32>())).prop_map(|(p, held)| {
                let product = ProductId::new(p).unwrap();
                ClientMessage::Room(match held {
                    Some(held_ms) => RoomCommand::PutDownProduct { product, held_ms },
                    None => RoomCommand::ViewProduct { product },
                })
            }),
            // Infinities too: the server refuses them, but they must cross
            // the wire intact (NaN, which equals nothing, has its own test).
            (
                product(),
                any::<u32>(),
                prop::array::uniform3(prop_oneof![
                    finite(),
                    Just(f32::INFINITY),
                    Just(f32::NEG_INFINITY)
                ])
            )
                .prop_map(|(product, held_ms, at)| ClientMessage::Room(
                    RoomCommand::DropProduct {
                        product,
                        held_ms,
                        at
                    }
                )),
            product()
                .prop_map(|product| ClientMessage::Room(RoomCommand::TakeFromHand { product })),
            (
                prop::array::uniform3(prop_oneof![
                    finite(),
                    Just(f32::INFINITY),
                    Just(f32::NEG_INFINITY)
                ]),
                prop_oneof![finite(), Just(f32::INFINITY)],
            )
                .prop_map(|(to, yaw)| ClientMessage::Room(RoomCommand::Teleport { to, yaw })),
            (any::<i64>(), any::<u16>()).prop_map(|(sale_id, quantity)| {
                ClientMessage::Room(RoomCommand::ClaimFlashSale { sale_id, quantity })
            }),
            (sku(), any::<u16>(), any::<bool>()).prop_map(|(sku, quantity, add)| {
                ClientMessage::Room(if add {
                    RoomCommand::AddToCart { sku, quantity }
                } else {
                    RoomCommand::SetCartQuantity { sku, quantity }
                })
            }),
            (
                any::<u32>(),
                prop::option::of((sku(), any::<u16>())),
                prop::option::of("[A-Z0-9-]{3,32}"),
                "[0-9 ]{0,20}[0-9]",
            )
                .prop_map(|(request_id, buy_now, coupon, card)| {
                    ClientMessage::Room(RoomCommand::Checkout(CheckoutCommand {
                        request_id,
                        items: match buy_now {
                            Some((sku, quantity)) => Purchase::BuyNow { sku, quantity },
                            None => Purchase::Cart,
                        },
                        coupon: coupon.map(|c| CouponCode::new(c).unwrap()),
                        payment: PaymentMethod::new(card).unwrap(),
                    }))
                }),
        ]
    }

    fn product() -> impl Strategy<Value = ProductId> {
        "[a-z0-9-]{1,64}".prop_map(|p| ProductId::new(p).unwrap())
    }

    fn held_product() -> impl Strategy<Value = HeldProductNet> {
        (
            product(),
            any::<u16>(),
            prop::array::uniform3(finite()),
            any::<bool>(),
        )
            .prop_map(|(product, slot, at, held)| HeldProductNet {
                product,
                by: held.then_some(MemberSlot(slot)),
                dropped_at: (!held).then_some(at),
            })
    }

    fn sku() -> impl Strategy<Value = Sku> {
        "[a-z0-9-]{1,64}".prop_map(|s| Sku::new(s).unwrap())
    }

    fn money() -> impl Strategy<Value = Money> {
        any::<i64>().prop_map(|minor| Money::new(minor, crate::Currency::EUR))
    }

    fn order() -> impl Strategy<Value = OrderNet> {
        (
            any::<i64>(),
            prop::sample::select(OrderStatus::ALL.to_vec()),
            money(),
            prop::collection::vec((sku(), any::<i64>(), money()), 0..4),
        )
            .prop_map(|(id, status, total, lines)| OrderNet {
                id,
                status,
                total,
                discount: Money::new(0, crate::Currency::EUR),
                coupon: CouponCode::new("LIVE10").ok(),
                lines: lines
                    .into_iter()
                    .map(|(sku, quantity, unit_price)| OrderLineNet {
                        sku,
                        quantity,
                        unit_price,
                    })
                    .collect(),
            })
    }

    fn server_message() -> impl Strategy<Value = ServerMessage> {
        let full = (any::<u16>(), pose_q()).prop_map(|(s, pose)| AvatarFull {
            slot: MemberSlot(s),
            pose,
        });
        let moved = prop::collection::btree_map(
            any::<u16>(),
            (any::<i16>(), any::<i16>(), any::<i16>()),
            0..40,
        )
        .prop_map(|deltas| {
            let mut moved = MovedAvatars::default();
            for (slot, (x, z, yaw)) in deltas {
                moved
                    .push(MemberSlot(slot), PoseDeltaQ { x, z, yaw })
                    .unwrap();
            }
            moved
        });
        let line = || {
            (any::<u16>(), name(), chat(), any::<u64>()).prop_map(|(s, name, text, seq)| ChatLine {
                from: MemberSlot(s),
                name,
                text,
                seq,
            })
        };
        prop_oneof![
            (
                any::<u32>(),
                prop::option::of(any::<u32>()),
                prop::collection::vec(full, 0..40),
                moved,
            )
                .prop_map(|(tick, baseline, full, moved)| {
                    ServerMessage::Snapshot(Snapshot {
                        tick,
                        baseline,
                        full,
                        moved,
                    })
                }),
            member().prop_map(|m| ServerMessage::Room(RoomEvent::MemberJoined(m))),
            any::<u16>().prop_map(|s| ServerMessage::Room(RoomEvent::MemberLeft {
                slot: MemberSlot(s)
            })),
            line().prop_map(|l| ServerMessage::Room(RoomEvent::Chat(l))),
            (
                prop::collection::vec((reaction(), any::<u32>()), 0..5),
                prop::collection::vec((any::<u16>(), reaction()), 0..16)
            )
                .prop_map(|(counts, from)| ServerMessage::Room(RoomEvent::Reactions(
                    ReactionBurst {
                        counts,
                        from: from.into_iter().map(|(s, r)| (MemberSlot(s), r)).collect(),
                    }
                ))),
            (
                any::<i64>(),
                prop::collection::vec(any::<u32>(), 2..6),
                any::<bool>()
            )
                .prop_map(|(poll_id, counts, closed)| ServerMessage::Engagement(
                    EngagementEventNet::PollResults {
                        poll_id,
                        counts,
                        closed
                    }
                )),
            (any::<i64>(), name(), chat(), any::<u32>()).prop_map(|(id, name, text, votes)| {
                ServerMessage::Engagement(EngagementEventNet::QuestionAsked(QuestionNet {
                    id,
                    name,
                    text,
                    votes,
                    answered: false,
                }))
            }),
            (any::<i64>(), any::<u32>(), name(), "[0-9a-f]{64}").prop_map(
                |(giveaway_id, draw, winner, seed)| {
                    ServerMessage::Engagement(EngagementEventNet::GiveawayDrawn {
                        giveaway_id,
                        draw,
                        winner,
                        seed,
                    })
                }
            ),
            (any::<i64>(), any::<i64>()).prop_map(|(change, balance)| {
                ServerMessage::Engagement(EngagementEventNet::Points {
                    change,
                    balance,
                    reason: "watch".into(),
                })
            }),
            (
                prop::collection::vec(member(), 0..5),
                prop::collection::vec(line(), 0..5),
                prop::collection::vec(held_product(), 0..5),
            )
                .prop_map(|(members, recent_chat, products)| ServerMessage::Room(
                    RoomEvent::Welcome {
                        room: RoomId::new("main-stage").unwrap(),
                        room_name: "Main stage".into(),
                        you: MemberSlot(3),
                        spawn: Box::new(PoseNet::at([1.0, 0.0, -2.0], 0.5)),
                        bounds: RoomBounds::centered(30.0, 20.0, 5.0),
                        members,
                        recent_chat,
                        flash_sales: vec![],
                        pinned_coupon: None,
                        products,
                    }
                )),
            any::<bool>().prop_map(|live| ServerMessage::Room(RoomEvent::Stream(StreamNet {
                srt: Some("srt://10.0.0.1:9001".into()),
                hls: Some("http://10.0.0.1:8080/hls/live.m3u8".into()),
                live,
            }))),
            (product(), any::<u16>()).prop_map(|(product, slot)| ServerMessage::Room(
                RoomEvent::ProductHeld {
                    product,
                    by: MemberSlot(slot)
                }
            )),
            (product(), prop::array::uniform3(finite())).prop_map(|(product, at)| {
                ServerMessage::Room(RoomEvent::ProductDropped { product, at })
            }),
            product()
                .prop_map(|product| ServerMessage::Room(RoomEvent::ProductReturned { product })),
            (product(), any::<u16>(), any::<u16>()).prop_map(|(product, from, to)| {
                ServerMessage::Room(RoomEvent::ProductPassed {
                    product,
                    from: MemberSlot(from),
                    to: MemberSlot(to),
                })
            }),
            (
                prop::sample::select(vec![CommandKind::Pose, CommandKind::Inspect]),
                prop_oneof![
                    Just(RejectReason::OutOfReach),
                    Just(RejectReason::InvalidPosition),
                    any::<u32>().prop_map(|ms| RejectReason::RateLimited { retry_after_ms: ms }),
                ],
            )
                .prop_map(|(command, reason)| ServerMessage::Rejected(Rejection {
                    command,
                    reason
                })),
            any::<u32>().prop_map(|ms| ServerMessage::Rejected(Rejection {
                command: CommandKind::Chat,
                reason: RejectReason::RateLimited { retry_after_ms: ms }
            })),
            (
                any::<u16>(),
                prop::sample::select(vec![
                    RejectReason::NotHolding,
                    RejectReason::HandsFull,
                    RejectReason::InvalidPosition,
                    RejectReason::OutOfReach,
                ])
            )
                .prop_map(|(slot, reason)| ServerMessage::Rejected(Rejection {
                    command: CommandKind::Inspect,
                    reason: if slot % 4 == 0 {
                        RejectReason::ProductHeld {
                            by: MemberSlot(slot),
                        }
                    } else {
                        reason
                    },
                })),
            ".{0,40}".prop_map(|reason| ServerMessage::ShuttingDown { reason }),
            (any::<i64>(), any::<i64>(), 0i64..1_000_000).prop_map(|(id, starts, left)| {
                ServerMessage::Commerce(CommerceEventNet::SaleAnnounced(FlashSaleNet {
                    id,
                    product: "glow-serum".into(),
                    sku: "glow-serum-30ml".into(),
                    price: Money::new(1990, crate::Currency::EUR),
                    quantity: left + 1,
                    units_left: left,
                    per_buyer_limit: 2,
                    starts_at_ms: starts,
                    ends_at_ms: starts.saturating_add(60_000),
                }))
            }),
            (any::<i64>(), any::<i64>()).prop_map(|(sale_id, units_left)| {
                ServerMessage::Commerce(CommerceEventNet::UnitsLeft {
                    sale_id,
                    units_left,
                })
            }),
            (sku(), money(), any::<i64>(), any::<i64>()).prop_map(
                |(sku, unit_price, quantity, held)| {
                    ServerMessage::Commerce(CommerceEventNet::Cart(CartNet {
                        change: CartChange::Updated,
                        lines: vec![CartLineNet {
                            sku,
                            product: ProductId::new("glow-serum").unwrap(),
                            name: "Glow Serum".into(),
                            unit_price,
                            quantity,
                            held_until_ms: held,
                        }],
                    }))
                }
            ),
            (any::<u32>(), order()).prop_map(|(request_id, order)| {
                ServerMessage::Commerce(CommerceEventNet::CheckoutDone { request_id, order })
            }),
            order().prop_map(|o| ServerMessage::Commerce(CommerceEventNet::Order(o))),
            (any::<u32>(), money()).prop_map(|(request_id, min)| {
                ServerMessage::Commerce(CommerceEventNet::CheckoutFailed {
                    request_id,
                    reason: ShopRefusal::CouponMinimum { min },
                })
            }),
            (1u8..=100, money(), any::<i64>()).prop_map(|(pct, min_order, ends_at_ms)| {
                ServerMessage::Commerce(CommerceEventNet::CouponPinned(Some(CouponNet {
                    code: CouponCode::new("LIVE10").unwrap(),
                    discount: DiscountNet::Percent(pct),
                    min_order,
                    ends_at_ms,
                    remaining: Some(3),
                })))
            }),
            (any::<i64>(), 0i64..100).prop_map(|(limit, remaining)| ServerMessage::Rejected(
                Rejection {
                    command: CommandKind::ClaimFlashSale,
                    reason: RejectReason::Claim(ClaimRefusal::LimitReached { limit, remaining }),
                }
            )),
        ]
    }

    proptest! {
        #[test]
        fn client_messages_round_trip(msg in client_message()) {
            let bytes = encode(&msg).unwrap();
            prop_assert_eq!(decode::<ClientMessage>(&bytes), Ok(msg));
        }

        #[test]
        fn server_messages_round_trip(msg in server_message()) {
            let bytes = encode(&msg).unwrap();
            prop_assert_eq!(decode::<ServerMessage>(&bytes), Ok(msg));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            // Either outcome is fine; a panic fails the test. Whatever
            // decodes must be a message that encodes and decodes again.
            if let Ok(msg) = decode::<ClientMessage>(&bytes) {
                prop_assert!(decode::<ClientMessage>(&encode(&msg).unwrap()).is_ok());
            }
            if let Ok(msg) = decode::<ServerMessage>(&bytes) {
                prop_assert!(decode::<ServerMessage>(&encode(&msg).unwrap()).is_ok());
            }
        }

        #[test]
        fn truncated_messages_are_errors(msg in client_message(), cut in 1usize..64) {
            let bytes = encode(&msg).unwrap();
            let cut = cut.min(bytes.len());
            prop_assert!(decode::<ClientMessage>(&bytes[..bytes.len() - cut]).is_err());
        }
    }
}
