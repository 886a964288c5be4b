//! A vault file: header, sealed body, and plaintext body.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    docker_credential_pat::fuzzing::vault_file(data);
});
