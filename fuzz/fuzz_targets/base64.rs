//! The base64 of config.json's auth fields.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    docker_credential_pat::fuzzing::base64(data);
});
