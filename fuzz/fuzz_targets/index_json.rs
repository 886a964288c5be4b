//! index.json: the whole parse and the snapshot paths of get and list.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    docker_credential_pat::fuzzing::index_json(data);
});
