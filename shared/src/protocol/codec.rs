//! The one encode/decode pair. Decoding returns `Result` and never panics.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest encoded message either side accepts.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

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
    use crate::protocol::{ClientMessage, RoomCommand};
    use crate::validated::Reaction;

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
    fn refuses_invalid_chat_inside_a_message() {
        // A hand-built message carrying an empty chat line.
        let bytes = [1u8, 0, 0];
        assert!(matches!(
            decode::<ClientMessage>(&bytes),
            Err(DecodeError::Malformed(_))
        ));
    }
}
