//! Docker's config.json, and the logins import reads from it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    docker_credential_pat::fuzzing::docker_config(data);
});
