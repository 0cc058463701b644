#![no_main]

// Datagrams through the room server's netcode transport.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vitrine_server::fuzz_entry::netcode_packet(data));
