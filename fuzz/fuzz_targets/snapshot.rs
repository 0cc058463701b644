#![no_main]

// Snapshots and events, cut from the input, applied to a welcomed RoomMirror.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vitrine_client::fuzz_entry::snapshot(data));
