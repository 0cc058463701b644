//! The function the `media_uri` fuzz target (`fuzz/`) calls, shared with the
//! stable test that replays its corpus (`tests/tests/it/fuzz_corpus.rs`).

use crate::uri;

/// The `media_uri` target: any text through the URL checks every element
/// sees first (the scheme check of `player::Player::start`, the
/// `srt://host:port` parse of the publisher and relay). A parsed SRT
/// address must print as a URL that parses to itself. Host names are not
/// resolved (`srt::link_of` would): the target stays off the network.
pub fn media_uri(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = uri::scheme(text);
    if let Ok(addr) = uri::parse_srt(text) {
        assert_eq!(uri::parse_srt(&addr.uri()).as_ref(), Ok(&addr), "{text:?}");
    }
}
