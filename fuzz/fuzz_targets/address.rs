//! Registry addresses in any spelling a client may send.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    docker_credential_pat::fuzzing::address(data);
});
