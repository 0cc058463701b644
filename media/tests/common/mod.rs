//! What the media crate's loopback tests share.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gst::prelude::*;

/// Polls `f` until it gives a value, for at most `cap`.
pub fn until<T>(cap: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + cap;
    while Instant::now() < end {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// An SRT caller with `key` that connects to `addr` and never sends a
/// byte (keepalives only). Stops when dropped.
pub struct SilentCaller(gst::Element);

impl SilentCaller {
    pub fn start(addr: SocketAddr, key: &str) -> Self {
        vitrine_media::init().unwrap();
        let pipeline = gst::parse::launch(&format!(
            "appsrc is-live=true format=time ! srtsink uri=\"srt://{addr}?mode=caller\" \
             streamid={key} latency=20 wait-for-connection=false"
        ))
        .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        Self(pipeline)
    }
}

impl Drop for SilentCaller {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}
