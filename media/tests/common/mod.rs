//! What the media crate's loopback tests share.

use std::time::{Duration, Instant};

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
