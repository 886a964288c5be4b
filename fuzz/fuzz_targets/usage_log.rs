//! usage.log (and usage.json) as the last-used bookkeeping reads them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    docker_credential_pat::fuzzing::usage_log(data);
});
