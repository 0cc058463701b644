//! The show's stream key: what a publisher puts in SRT's `streamid` (or the
//! RTMP stream name) to be let in.

use std::fmt;

pub const MIN_KEY_LEN: usize = 8;
pub const MAX_KEY_LEN: usize = 64;

/// 8 to 64 characters of `A-Z a-z 0-9 - _`: safe in a URL, a `streamid` and
/// a command line without quoting.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamKeyError {
    #[error("a stream key has {MIN_KEY_LEN} to {MAX_KEY_LEN} characters, not {0}")]
    Length(usize),
    #[error("a stream key holds only letters, digits, '-' and '_'")]
    Character,
}

impl StreamKey {
    pub fn new(key: impl Into<String>) -> Result<Self, StreamKeyError> {
        let key = key.into();
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&key.len()) {
            return Err(StreamKeyError::Length(key.len()));
        }
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(StreamKeyError::Character);
        }
        Ok(Self(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether an SRT `streamid` names this key: either the bare key (what
    /// OBS and ffmpeg users type) or SRT's access-control form
    /// `#!::r=KEY,m=publish`. Compared in constant time.
    pub fn matches_streamid(&self, streamid: &str) -> bool {
        constant_time_eq(offered_key(streamid).as_bytes(), self.0.as_bytes())
    }
}

/// The key a `streamid` offers: the bare id, or `r=` of SRT's
/// access-control form.
pub(crate) fn offered_key(streamid: &str) -> &str {
    match streamid.strip_prefix("#!::") {
        Some(pairs) => pairs
            .split(',')
            .find_map(|kv| kv.strip_prefix("r="))
            .unwrap_or(""),
        None => streamid,
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl TryFrom<String> for StreamKey {
    type Error = StreamKeyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl std::str::FromStr for StreamKey {
    type Err = StreamKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

// Never print the key itself into logs by accident.
impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        assert_eq!(StreamKey::new("short"), Err(StreamKeyError::Length(5)));
        assert_eq!(
            StreamKey::new("x".repeat(65)),
            Err(StreamKeyError::Length(65))
        );
        assert_eq!(
            StreamKey::new("has space in"),
            Err(StreamKeyError::Character)
        );
        assert_eq!(
            StreamKey::new("a/b/../../etc"),
            Err(StreamKeyError::Character)
        );
        assert!(StreamKey::new("show-Key_123").is_ok());
    }

    #[test]
    fn matches_streamids() {
        let key = StreamKey::new("show-key-1").unwrap();
        assert!(key.matches_streamid("show-key-1"));
        assert!(key.matches_streamid("#!::r=show-key-1,m=publish"));
        assert!(key.matches_streamid("#!::m=publish,r=show-key-1"));
        assert!(!key.matches_streamid("show-key-2"));
        assert!(!key.matches_streamid("#!::m=publish"));
        assert!(!key.matches_streamid(""));
        assert_eq!(format!("{key:?}"), "StreamKey(..)");
    }
}
