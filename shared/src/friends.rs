//! Friends: the friend code (and its link) both sides parse the same way,
//! and the HTTP bodies of `/api/v1/friends`.

use crate::limits::friends::{CODE_ALPHABET, CODE_CHARS, LINK_PREFIX};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A friend code: [`CODE_CHARS`] characters of [`CODE_ALPHABET`], kept
/// without its dash and shown as `K7QM-3XPD`. Parsing forgives case, spaces
/// and the dash, and takes the whole link (`vitrine://friend/K7QM-3XPD`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FriendCode(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "a friend code is {CODE_CHARS} letters and digits (such as K7QM-3XPD), or a {LINK_PREFIX} link"
)]
pub struct BadFriendCode;

impl FriendCode {
    /// Parses a code or a link.
    pub fn parse(text: &str) -> Result<FriendCode, BadFriendCode> {
        let text = text.trim();
        let text = match text.get(..LINK_PREFIX.len()) {
            Some(head) if head.eq_ignore_ascii_case(LINK_PREFIX) => &text[LINK_PREFIX.len()..],
            _ => text,
        };
        let code: String = text
            .chars()
            .filter(|c| *c != '-' && *c != ' ')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid = code.len() == CODE_CHARS && code.bytes().all(|b| CODE_ALPHABET.contains(&b));
        if valid {
            Ok(FriendCode(code))
        } else {
            Err(BadFriendCode)
        }
    }

    /// A code from `CODE_CHARS` random indexes (each taken modulo the
    /// alphabet's length).
    pub fn from_indexes(indexes: [u8; CODE_CHARS]) -> FriendCode {
        FriendCode(
            indexes
                .iter()
                .map(|i| CODE_ALPHABET[*i as usize % CODE_ALPHABET.len()] as char)
                .collect(),
        )
    }

    /// The stored form: no dash, upper case.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The link that adds this code's owner as a friend.
    pub fn link(&self) -> String {
        format!("{LINK_PREFIX}{self}")
    }
}

impl fmt::Display for FriendCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = self.0.split_at(CODE_CHARS / 2);
        write!(f, "{a}-{b}")
    }
}

/// `GET /api/v1/friends/code`: your code, and the link that carries it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendCodeView {
    /// Such as `K7QM-3XPD`; rotating it makes the old one unknown.
    pub code: String,
    /// `vitrine://friend/K7QM-3XPD`: send this to a friend.
    pub link: String,
}

/// `POST /api/v1/friends/requests`: add a friend by their code or link.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SendFriendRequest {
    /// A friend code (`K7QM-3XPD`; case, spaces and the dash do not matter)
    /// or a friend link (`vitrine://friend/K7QM-3XPD`).
    pub code: String,
}

/// Where a friend is: the room, and the show live there if any.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PresenceView {
    pub room: String,
    pub room_name: String,
    /// The title of the show live now (shows play in every room).
    pub show: Option<String>,
}

/// A friend, with their presence (`null`: offline, in no room).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendView {
    pub account: u64,
    pub name: String,
    pub online: bool,
    pub presence: Option<PresenceView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendList {
    /// By name.
    pub friends: Vec<FriendView>,
}

/// What a request by code did: `pending` (the other decides), or `friends`
/// (they had already asked you, so this accepted theirs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendRequestSent {
    pub account: u64,
    pub name: String,
    /// `pending` or `friends`.
    pub status: String,
}

/// A pending request: who (the other account) and since when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendRequestView {
    pub account: u64,
    pub name: String,
    pub sent_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendRequests {
    /// Asked you; accept or decline each. Newest first.
    pub incoming: Vec<FriendRequestView>,
    /// You asked; pending. Newest first.
    pub outgoing: Vec<FriendRequestView>,
}

/// An account you blocked.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockedView {
    pub account: u64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockList {
    pub blocked: Vec<BlockedView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_from_any_spelling_and_links_and_nothing_else() {
        let code = FriendCode::parse("K7QM-3XPD").unwrap();
        assert_eq!(code.as_str(), "K7QM3XPD");
        assert_eq!(code.to_string(), "K7QM-3XPD");
        assert_eq!(code.link(), "vitrine://friend/K7QM-3XPD");
        for spelling in ["k7qm3xpd", " K7QM 3XPD ", "vitrine://friend/k7qm-3xpd"] {
            assert_eq!(FriendCode::parse(spelling), Ok(code.clone()), "{spelling}");
        }
        assert_eq!(FriendCode::parse(&code.link()), Ok(code));
        // Too short, too long, misreadable characters, another scheme.
        for bad in [
            "",
            "K7QM-3XP",
            "K7QM-3XPDD",
            "K7QM-3XP0",
            "K7QM-3XPI",
            "https://friend/K7QM3XPD",
            "K7QM-3XPÉ",
        ] {
            assert_eq!(FriendCode::parse(bad), Err(BadFriendCode), "{bad:?}");
        }
    }

    #[test]
    fn generated_codes_parse() {
        let code = FriendCode::from_indexes([0, 1, 2, 29, 30, 31, 200, 255]);
        assert_eq!(FriendCode::parse(&code.to_string()), Ok(code));
    }
}
