//! What the Docker CLI sends on stdin for store, get and erase.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    docker_credential_pat::fuzzing::protocol_request(data);
});
