//! Tickets for the console's event stream. A browser's `EventSource`
//! cannot send headers, so the stream's credential travels in its URL,
//! where proxies, histories and logs keep it: a ticket, not the day-long
//! bearer token. A ticket is minted for a signed-in staff session, names
//! that session, is good for [`TICKET_TTL`] and opens one stream, and
//! opens nothing else.

use crate::clock::Clock;
use crate::rate_limit::Lru;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Mutex;
use vitrine_shared::limits::console::{MAX_OPEN_TICKETS, TICKET_TTL};

/// Why a ticket opens nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketError {
    /// Never issued, already used, or forgotten.
    Unknown,
    /// Issued, but its time ran out before it was used.
    Expired,
}

struct Issued {
    session_id: String,
    expires_at_ms: i64,
}

pub struct FeedTickets {
    issued: Mutex<Lru<String, Issued>>,
    clock: Clock,
}

impl FeedTickets {
    pub fn new(clock: Clock) -> FeedTickets {
        FeedTickets {
            issued: Mutex::new(Lru::new(MAX_OPEN_TICKETS)),
            clock,
        }
    }

    /// A fresh ticket for `session_id` and when it runs out (Unix ms).
    pub fn issue(&self, session_id: &str) -> (String, i64) {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let ticket = URL_SAFE_NO_PAD.encode(bytes);
        let expires_at_ms = self.clock.now_ms() + TICKET_TTL.as_millis() as i64;
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(ticket.clone(), || Issued {
                session_id: session_id.to_owned(),
                expires_at_ms,
            });
        (ticket, expires_at_ms)
    }

    /// Uses up `ticket`: the session it was issued to, once.
    pub fn redeem(&self, ticket: &str) -> Result<String, TicketError> {
        let issued = self
            .issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(ticket)
            .ok_or(TicketError::Unknown)?;
        if issued.expires_at_ms <= self.clock.now_ms() {
            return Err(TicketError::Expired);
        }
        Ok(issued.session_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::time::Duration;

    #[test]
    fn a_ticket_opens_once_and_only_in_time() {
        let time = ManualClock::at(1_000_000);
        let tickets = FeedTickets::new(time.clock());
        let (a, expires) = tickets.issue("session-a");
        assert_eq!(expires, 1_000_000 + TICKET_TTL.as_millis() as i64);
        let (b, _) = tickets.issue("session-b");
        assert_ne!(a, b);
        assert_eq!(tickets.redeem(&a), Ok("session-a".to_owned()));
        assert_eq!(tickets.redeem(&a), Err(TicketError::Unknown), "used up");
        assert_eq!(tickets.redeem("made-up"), Err(TicketError::Unknown));
        time.advance(TICKET_TTL);
        assert_eq!(tickets.redeem(&b), Err(TicketError::Expired));
        let (c, _) = tickets.issue("session-c");
        time.advance(TICKET_TTL - Duration::from_millis(1));
        assert_eq!(tickets.redeem(&c), Ok("session-c".to_owned()));
    }
}
