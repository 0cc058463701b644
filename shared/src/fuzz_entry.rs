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
    // Voice frames, as the server reads them: the frame, then its Opus
    // packet's structure; and the bytes as a bare Opus packet.
    if let Ok(up) = decode::<crate::protocol::VoiceUp>(data) {
        let _ = crate::opus::check_packet(&up.opus);
        let _ = encode(&up);
    }
    let _ = crate::opus::check_packet(data);
    // A payload as both transports read it: a bundle yields every packet it
    // holds, whole and in order, or none.
    if let Ok(packets) = crate::protocol::unbundle(data) {
        assert!(packets.iter().all(|p| !p.is_empty()));
        assert_eq!(
            packets.iter().map(|p| p.len() + 2).sum::<usize>(),
            data.len()
        );
        let _ = crate::protocol::bundle(packets);
    }
}
