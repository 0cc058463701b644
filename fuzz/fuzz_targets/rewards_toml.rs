#![no_main]

// The rewards TOML loader.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vitrine_server::fuzz_entry::rewards_toml(data));
