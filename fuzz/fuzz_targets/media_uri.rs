#![no_main]

// The media URL checks (scheme, srt://host:port).
libfuzzer_sys::fuzz_target!(|data: &[u8]| vitrine_media::fuzz_entry::media_uri(data));
