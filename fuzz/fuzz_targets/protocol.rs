#![no_main]

// Arbitrary bytes through the protocol's decoders (ClientMessage, ServerMessage).
libfuzzer_sys::fuzz_target!(|data: &[u8]| vitrine_shared::fuzz_entry::protocol(data));
