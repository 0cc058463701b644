//! Friends in the room: your friends with their presence, sent after
//! `Welcome`, then each change as it happens (a friend moves, a request
//! arrives, a friendship starts or ends).

use crate::ids::AccountId;
use crate::validated::{DisplayName, RoomId};
use serde::{Deserialize, Serialize};

/// Where a friend is. Online means in a room on this server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceNet {
    pub room: RoomId,
    pub room_name: String,
    /// The show live when this was sent (shows play in every room; later
    /// changes come as engagement news).
    pub show: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendNet {
    pub account: AccountId,
    pub name: DisplayName,
    /// `None`: offline.
    pub presence: Option<PresenceNet>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FriendEventNet {
    /// Every friend, by name: right after `Welcome`.
    List(Vec<FriendNet>),
    /// A friend went online, moved room or went offline (`None`).
    Presence {
        account: AccountId,
        presence: Option<PresenceNet>,
    },
    /// Someone asked to be your friend; answer over HTTP.
    RequestArrived {
        account: AccountId,
        name: DisplayName,
    },
    /// A friendship started (you or they accepted).
    Added(FriendNet),
    /// A friendship ended (removed or blocked, by either side).
    Removed { account: AccountId },
}
