#![no_main]

// The catalog TOML loader.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vitrine_server::fuzz_entry::catalog_toml(data));
