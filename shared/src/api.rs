//! HTTP API bodies, shared so that the server, the client and the tests
//! agree on them. The `openapi` feature derives their OpenAPI schemas.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable, machine-readable: `bad_request`, `unauthorized`, `room_full`, …
    pub code: String,
    /// For people; may change.
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// 1 to 32 characters, shown to others in the room.
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionCreated {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub account_id: u64,
    pub display_name: String,
    pub role: String,
    /// Unix time in milliseconds.
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomInfo {
    pub id: String,
    pub name: String,
    pub occupancy: usize,
    pub capacity: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomList {
    pub rooms: Vec<RoomInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinTicket {
    pub room: String,
    /// A netcode connect token (standard base64), valid for `expires_in_secs`.
    pub connect_token: String,
    /// The game server's UDP address, also inside the token.
    pub server_addr: String,
    pub expires_in_secs: u64,
    pub protocol_id: u64,
}
