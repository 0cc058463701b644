//! The functions the fuzz targets (`fuzz/`, `cargo +nightly fuzz`) call, so
//! that the targets and the stable test that replays their corpus
//! (`tests/tests/it/fuzz_corpus.rs`) run one and the same code. Each must
//! return for any input: a panic here is a bug.

use crate::protocol::{ClientMessage, ServerMessage, decode, encode};

/// The `protocol` target: arbitrary bytes through both decoders, and
/// anything that decodes must encode again (what the sender does with it).
pub fn protocol(data: &[u8]) {
    if let Ok(message) = decode::<ClientMessage>(data) {
        let _ = encode(&message);
    }
    if let Ok(message) = decode::<ServerMessage>(data) {
        let _ = encode(&message);
    }
}
