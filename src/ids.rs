//! Random identifiers for tokens and the keychain items that hold their secrets.

/// `bytes` random bytes as lower-case hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fill_random(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fills `buf` from the operating system's random source.
pub fn fill_random(buf: &mut [u8]) {
    // The OS RNG failing means the system is unusable; there is no safe fallback.
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// A new identifier: 128 random bits.
pub fn new_id() -> String {
    random_hex(16)
}
