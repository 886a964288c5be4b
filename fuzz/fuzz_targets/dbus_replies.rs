//! Replies and signals from the session bus, in every conversation the Secret Service client holds.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    docker_credential_pat::fuzzing::dbus_replies(data);
});
