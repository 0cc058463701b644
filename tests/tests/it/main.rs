//! The cross-crate tests that need no renderer, in one binary: one link of
//! the server and the client's `net` instead of one per file. Each module is
//! one area; `cargo test -p vitrine-tests --test it flash_sale` runs one.

mod admin_products;
mod co_hosts;
mod console;
mod console_desk;
mod console_feed;
mod engagement;
mod fair;
mod flash_sale;
mod friends;
mod fuzz_corpus;
mod group_deals;
mod hostile;
mod http_api;
mod lossy;
mod media;
mod moderation;
mod party;
mod products;
mod refused_traffic;
mod restream;
mod reviews;
mod room_sync;
mod shopping;
mod sign_in;
mod stripe;
mod together;
mod tokens;
mod voice;
mod voice_audio;
