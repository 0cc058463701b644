//! The room list, read from `assets/rooms.toml`.

use super::MAX_ROOM_CAPACITY;
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;
use thiserror::Error;
use vitrine_shared::{RoomBounds, RoomId};

#[derive(Debug, Clone, PartialEq)]
pub struct RoomSpec {
    pub id: RoomId,
    pub name: String,
    pub capacity: usize,
    pub bounds: RoomBounds,
}

#[derive(Debug, Error)]
pub enum RoomsFileError {
    #[error("cannot read rooms file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("rooms file is invalid: {0}")]
    Parse(String),
    #[error("room {index}: {message}")]
    Invalid { index: usize, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoomsToml {
    rooms: Vec<RoomToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoomToml {
    id: String,
    name: String,
    capacity: Option<usize>,
    /// Floor width and depth in metres.
    size: Option<[f32; 2]>,
    height: Option<f32>,
}

pub fn load_rooms_file(
    path: &Path,
    default_capacity: usize,
) -> Result<Vec<RoomSpec>, RoomsFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| RoomsFileError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_rooms(&text, default_capacity)
}

/// A room's name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 64;
/// A room's width, depth and height, in metres.
pub const ROOM_SIDE_M: std::ops::RangeInclusive<f32> = 2.0..=500.0;

pub fn parse_rooms(text: &str, default_capacity: usize) -> Result<Vec<RoomSpec>, RoomsFileError> {
    let file: RoomsToml = toml::from_str(text).map_err(|e| RoomsFileError::Parse(e.to_string()))?;
    if file.rooms.is_empty() {
        return Err(RoomsFileError::Parse(
            "at least one [[rooms]] entry is needed".into(),
        ));
    }
    let mut seen = HashSet::new();
    file.rooms
        .into_iter()
        .enumerate()
        .map(|(index, room)| {
            let invalid = |message: String| RoomsFileError::Invalid { index, message };
            let id = RoomId::new(room.id).map_err(|e| invalid(e.to_string()))?;
            if !seen.insert(id.clone()) {
                return Err(invalid(format!("duplicate id {id}")));
            }
            let name = room.name.trim().to_owned();
            if name.is_empty() || name.chars().count() > MAX_ROOM_NAME_CHARS {
                return Err(invalid(format!(
                    "name must be 1 to {MAX_ROOM_NAME_CHARS} characters"
                )));
            }
            let capacity = room.capacity.unwrap_or(default_capacity);
            if capacity == 0 || capacity > MAX_ROOM_CAPACITY {
                return Err(invalid(format!(
                    "capacity must be 1 to {MAX_ROOM_CAPACITY}"
                )));
            }
            let [width, depth] = room.size.unwrap_or([30.0, 20.0]);
            let height = room.height.unwrap_or(6.0);
            let sane = |v: f32| v.is_finite() && ROOM_SIDE_M.contains(&v);
            if !(sane(width) && sane(depth) && sane(height)) {
                return Err(invalid(format!(
                    "size and height must be {} to {} metres",
                    ROOM_SIDE_M.start(),
                    ROOM_SIDE_M.end()
                )));
            }
            Ok(RoomSpec {
                id,
                name,
                capacity,
                bounds: RoomBounds::centered(width, depth, height),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shipped_rooms_file() {
        let rooms = load_rooms_file(&crate::config::default_asset("rooms.toml"), 100).unwrap();
        assert!(rooms.len() >= 2);
        assert!(rooms.iter().all(|r| r.capacity >= 1));
    }

    #[test]
    fn refuses_bad_rooms() {
        let cases = [
            ("rooms = []", "at least one"),
            ("[[rooms]]\nid = \"Bad Id\"\nname = \"x\"", "room 0"),
            (
                "[[rooms]]\nid = \"a\"\nname = \"x\"\n[[rooms]]\nid = \"a\"\nname = \"y\"",
                "duplicate",
            ),
            (
                "[[rooms]]\nid = \"a\"\nname = \"x\"\ncapacity = 0",
                "capacity",
            ),
            (
                "[[rooms]]\nid = \"a\"\nname = \"x\"\nsize = [1e9, 3.0]",
                "size",
            ),
            (
                "[[rooms]]\nid = \"a\"\nname = \"x\"\ncolour = 3",
                "unknown field",
            ),
            ("not toml at all [", "invalid"),
        ];
        for (text, expected) in cases {
            let err = parse_rooms(text, 100).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?} gave {err}");
        }
    }
}
