//! Vitrine's shared vocabulary: the wire protocol, domain types, validated
//! newtypes with their limits, and the pose rules both sides run.
//!
//! No I/O happens here; the server and every client link the same rules.

pub mod api;
pub mod friends;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod giveaway;
pub mod ids;
pub mod limits;
pub mod money;
pub mod opus;
pub mod pose;
pub mod protocol;
pub mod token;
pub mod validated;

pub use ids::{
    AccountId, DealId, GiveawayId, MemberSlot, OrderId, PartyId, PollId, QuestionId, Role, SaleId,
    ShowId, TeamId,
};
pub use money::{Currency, Money, MoneyError};
pub use pose::{
    PoseError, PoseNet, PoseQ, RoomBounds, TrackedDeltaQ, TrackedPoseNet, XrDeltaQ, XrPoseNet,
};
pub use protocol::{
    ClientChannel, ClientMessage, DecodeError, PROTOCOL_ID, PROTOCOL_VERSION, RoomCommand,
    ServerChannel, ServerMessage, channels_config, connection_config, decode, encode,
};
pub use token::{TokenUserData, UserDataError};
pub use validated::{
    Category, ChatText, CouponCode, DisplayName, PaymentMethod, ProductId, Reaction, RoomId, Sku,
    ValidationError,
};
