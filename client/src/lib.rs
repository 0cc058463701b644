//! Vitrine's client. `net` signs in, joins and mirrors a room over the game
//! link with no rendering at all, so bots, tests and load runs use it; the
//! showroom, video and XR are built on top of it.

pub mod bots;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod net;
#[cfg(feature = "showroom")]
pub mod showroom;
pub mod voice;
