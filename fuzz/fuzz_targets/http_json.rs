#![no_main]

// Every HTTP JSON body type, parsed and checked as its handler does.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vitrine_server::fuzz_entry::http_json(data));
