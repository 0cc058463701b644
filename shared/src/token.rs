//! What the server puts in a netcode connect token's `user_data`: the only
//! source of a connected client's identity.

use crate::ids::{AccountId, Role};
use crate::validated::{DisplayName, RoomId};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub const USER_DATA_BYTES: usize = 256;
const USER_DATA_VERSION: u8 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUserData {
    pub account: AccountId,
    pub role: Role,
    pub room: RoomId,
    pub name: DisplayName,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum UserDataError {
    #[error("user data does not fit in {USER_DATA_BYTES} bytes")]
    TooLarge,
    #[error("unknown user data version {0}")]
    Version(u8),
    #[error("malformed user data")]
    Malformed,
}

impl TokenUserData {
    pub fn to_bytes(&self) -> Result<[u8; USER_DATA_BYTES], UserDataError> {
        let mut out = [0u8; USER_DATA_BYTES];
        out[0] = USER_DATA_VERSION;
        postcard::to_slice(self, &mut out[1..]).map_err(|_| UserDataError::TooLarge)?;
        Ok(out)
    }

    pub fn from_bytes(bytes: &[u8; USER_DATA_BYTES]) -> Result<Self, UserDataError> {
        if bytes[0] != USER_DATA_VERSION {
            return Err(UserDataError::Version(bytes[0]));
        }
        let (data, rest): (TokenUserData, _) =
            postcard::take_from_bytes(&bytes[1..]).map_err(|_| UserDataError::Malformed)?;
        if rest.iter().any(|b| *b != 0) {
            return Err(UserDataError::Malformed);
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_largest_values() {
        let data = TokenUserData {
            account: AccountId(u64::MAX),
            role: Role::Moderator,
            room: RoomId::new("r".repeat(crate::validated::MAX_ROOM_ID_BYTES)).unwrap(),
            name: DisplayName::new("😀".repeat(crate::validated::MAX_DISPLAY_NAME_CHARS)).unwrap(),
        };
        let bytes = data.to_bytes().unwrap();
        assert_eq!(TokenUserData::from_bytes(&bytes), Ok(data));
    }

    #[test]
    fn refuses_garbage() {
        let mut bytes = [0xffu8; USER_DATA_BYTES];
        assert_eq!(
            TokenUserData::from_bytes(&bytes),
            Err(UserDataError::Version(0xff))
        );
        bytes[0] = USER_DATA_VERSION;
        assert_eq!(
            TokenUserData::from_bytes(&bytes),
            Err(UserDataError::Malformed)
        );
    }
}
