//! The console's live feed: the ticket that opens it.

use serde::{Deserialize, Serialize};

/// `POST /api/v1/console/tickets`: opens `GET /api/v1/console/feed?ticket=…`
/// once, within 30 s.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedTicket {
    pub ticket: String,
    /// Unix time in milliseconds.
    pub expires_at_ms: i64,
}
