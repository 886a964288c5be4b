//! Turning a passphrase into the vault key with Argon2id.
//!
//! Argon2id is memory-hard, so each guess at a stolen vault costs an attacker
//! the same memory and time it costs us once per unlock. The parameters are
//! stored in the vault header, so they can be raised later without breaking
//! old vaults, and tests can keep them tiny. One derivation yields 64 bytes:
//! the first half is the encryption key, the second a check value kept in the
//! header so a wrong passphrase can be told apart from a damaged file.

use argon2::{Algorithm, Argon2, Block, Params, Version};
use zeroize::Zeroizing;

/// Length of the encryption key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of the check value in bytes.
pub const CHECK_LEN: usize = 32;

/// OWASP's minimum for Argon2id (2023): 19 MiB, two passes, one lane.
pub const DEFAULT_MEMORY_KIB: u32 = 19 * 1024;
pub const DEFAULT_ITERATIONS: u32 = 2;
pub const DEFAULT_LANES: u32 = 1;

/// Bounds on what a vault header may ask for, so a hostile or damaged file
/// cannot make an unlock allocate gigabytes or run for hours.
pub const MIN_MEMORY_KIB: u32 = 8;
pub const MAX_MEMORY_KIB: u32 = 2 * 1024 * 1024;
pub const MAX_ITERATIONS: u32 = 64;
pub const MAX_LANES: u32 = 16;
/// The most work any vault may ask for in all: memory × passes, in KiB. 2 GiB
/// for one pass (RFC 9106's first recommendation) takes a few seconds; the
/// per-field maxima alone would allow 64 times that.
pub const MAX_COST_KIB: u64 = 2 * 1024 * 1024;

/// The cheapest parameters Argon2 allows, so tests derive keys in microseconds.
#[cfg(test)]
pub const TINY: KdfParams = KdfParams {
    memory_kib: 8,
    iterations: 1,
    lanes: 1,
};

/// Argon2id cost parameters, as stored in the vault header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub lanes: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        Self {
            memory_kib: DEFAULT_MEMORY_KIB,
            iterations: DEFAULT_ITERATIONS,
            lanes: DEFAULT_LANES,
        }
    }
}

impl KdfParams {
    /// Rejects parameters outside the supported range, saying which one and why.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_LANES).contains(&self.lanes) {
            return Err(format!(
                "Argon2 parallelism {} is outside 1 to {MAX_LANES}",
                self.lanes
            ));
        }
        let min_memory = MIN_MEMORY_KIB.max(8 * self.lanes);
        if !(min_memory..=MAX_MEMORY_KIB).contains(&self.memory_kib) {
            return Err(format!(
                "Argon2 memory {} KiB is outside {min_memory} to {MAX_MEMORY_KIB} KiB",
                self.memory_kib
            ));
        }
        if !(1..=MAX_ITERATIONS).contains(&self.iterations) {
            return Err(format!(
                "Argon2 iterations {} is outside 1 to {MAX_ITERATIONS}",
                self.iterations
            ));
        }
        if u64::from(self.memory_kib) * u64::from(self.iterations) > MAX_COST_KIB {
            return Err(format!(
                "Argon2 memory {} KiB × {} iterations is more work than the limit of {MAX_COST_KIB} KiB × 1",
                self.memory_kib, self.iterations
            ));
        }
        Ok(())
    }

    /// True when these parameters ask for no more memory and passes than `limit`.
    pub fn within(&self, limit: &KdfParams) -> bool {
        self.memory_kib <= limit.memory_kib && self.iterations <= limit.iterations
    }

    /// The most an existing vault may ask for when these are the configured
    /// parameters: these, and never less than the defaults, so lowering the
    /// settings for new vaults does not lock out an existing one.
    pub fn opening_limit(&self) -> KdfParams {
        KdfParams {
            memory_kib: self.memory_kib.max(DEFAULT_MEMORY_KIB),
            iterations: self.iterations.max(DEFAULT_ITERATIONS),
            lanes: MAX_LANES,
        }
    }

    /// True when the parameters are at least OWASP's minimum.
    pub fn meets_recommendation(&self) -> bool {
        self.memory_kib >= DEFAULT_MEMORY_KIB && self.iterations >= DEFAULT_ITERATIONS
    }
}

impl std::fmt::Display for KdfParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "argon2id m={} KiB, t={}, p={}",
            self.memory_kib, self.iterations, self.lanes
        )
    }
}

/// The key that opens a vault. No `Debug`, wiped on drop.
pub struct VaultKey(Zeroizing<[u8; KEY_LEN]>);

impl VaultKey {
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(*bytes))
    }

    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl Clone for VaultKey {
    fn clone(&self) -> Self {
        Self::from_bytes(&self.0)
    }
}

/// What one derivation yields: the key and the check value recorded in the header.
pub struct Derived {
    pub key: VaultKey,
    pub check: [u8; CHECK_LEN],
}

#[derive(Debug, thiserror::Error)]
pub enum KdfError {
    #[error("{0}")]
    Params(String),
    #[error("not enough memory for Argon2 ({0} KiB)")]
    OutOfMemory(u32),
    #[error("Argon2 failed: {0}")]
    Argon2(String),
}

/// Runs Argon2id over `passphrase` and `salt`.
pub fn derive(passphrase: &[u8], salt: &[u8], params: &KdfParams) -> Result<Derived, KdfError> {
    params.check().map_err(KdfError::Params)?;
    let argon_params = Params::new(
        params.memory_kib,
        params.iterations,
        params.lanes,
        Some(KEY_LEN + CHECK_LEN),
    )
    .map_err(|e| KdfError::Params(e.to_string()))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    // Our own working memory, so it can be wiped afterwards and an allocation
    // failure is an error rather than an abort.
    let blocks_len = argon.params().block_count();
    let mut blocks: Zeroizing<Vec<Block>> = Zeroizing::new(Vec::new());
    blocks
        .try_reserve_exact(blocks_len)
        .map_err(|_| KdfError::OutOfMemory(params.memory_kib))?;
    blocks.resize(blocks_len, Block::new());
    let mut out = Zeroizing::new([0u8; KEY_LEN + CHECK_LEN]);
    argon
        .hash_password_into_with_memory(passphrase, salt, &mut out[..], &mut blocks[..])
        .map_err(|e| KdfError::Argon2(e.to_string()))?;
    let (key, check) = split_key_and_check(&out[..]);
    Ok(Derived { key, check })
}

/// A key followed by its check, as Argon2 derives them and the key cache
/// keeps them. The copy of the key made on the way is wiped.
pub(super) fn split_key_and_check(bytes: &[u8]) -> (VaultKey, [u8; CHECK_LEN]) {
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(&bytes[..KEY_LEN]);
    let vault_key = VaultKey::from_bytes(&key);
    zeroize::Zeroize::zeroize(&mut key);
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(&bytes[KEY_LEN..]);
    (vault_key, check)
}

/// Compares check values without an early exit.
pub fn same_check(a: &[u8; CHECK_LEN], b: &[u8; CHECK_LEN]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_give_the_same_key_and_check() {
        let a = derive(b"correct horse", &[7u8; 16], &TINY).unwrap();
        let b = derive(b"correct horse", &[7u8; 16], &TINY).unwrap();
        assert_eq!(a.key.expose(), b.key.expose());
        assert!(same_check(&a.check, &b.check));
        assert_ne!(&a.key.expose()[..], &a.check[..], "key and check differ");
    }

    #[test]
    fn passphrase_salt_and_params_all_change_the_key() {
        let base = derive(b"pw", &[1u8; 16], &TINY).unwrap();
        let other_pw = derive(b"pX", &[1u8; 16], &TINY).unwrap();
        let other_salt = derive(b"pw", &[2u8; 16], &TINY).unwrap();
        let other_params = derive(
            b"pw",
            &[1u8; 16],
            &KdfParams {
                iterations: 2,
                ..TINY
            },
        )
        .unwrap();
        for other in [other_pw, other_salt, other_params] {
            assert_ne!(base.key.expose(), other.key.expose());
            assert!(!same_check(&base.check, &other.check));
        }
    }

    #[test]
    fn output_matches_the_reference_argon2id() {
        // From the reference implementation (Debian's `argon2` tool):
        // echo -n password | argon2 somesalt -id -t 1 -k 8 -p 1 -l 64 -r
        const EXPECTED: &str = "1437f91898f231ac18bc80cbcd32883b34264c2927195fec7a7773226927033688422945a19069302e7e70233131350f89cb8a96daa78cee92f6b8416a5efd6c";
        let derived = derive(b"password", b"somesalt", &TINY).unwrap();
        let hex: String = derived
            .key
            .expose()
            .iter()
            .chain(derived.check.iter())
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, EXPECTED);
    }

    #[test]
    fn out_of_range_params_are_refused_before_any_work() {
        for bad in [
            KdfParams {
                memory_kib: 4,
                ..TINY
            },
            KdfParams {
                memory_kib: MAX_MEMORY_KIB + 1,
                ..TINY
            },
            KdfParams {
                iterations: 0,
                ..TINY
            },
            KdfParams {
                iterations: MAX_ITERATIONS + 1,
                ..TINY
            },
            KdfParams { lanes: 0, ..TINY },
            KdfParams {
                lanes: 4,
                memory_kib: 16,
                iterations: 1,
            },
            KdfParams {
                memory_kib: MAX_MEMORY_KIB,
                iterations: 2,
                lanes: 1,
            },
            KdfParams {
                memory_kib: MAX_MEMORY_KIB,
                iterations: MAX_ITERATIONS,
                lanes: 1,
            },
        ] {
            assert!(matches!(
                derive(b"pw", &[0u8; 16], &bad),
                Err(KdfError::Params(_))
            ));
        }
        assert!(KdfParams::default().check().is_ok());
        let rfc_9106_first = KdfParams {
            memory_kib: MAX_MEMORY_KIB,
            iterations: 1,
            lanes: 4,
        };
        assert!(
            rfc_9106_first.check().is_ok(),
            "2 GiB for one pass stays allowed"
        );
        assert!(KdfParams::default().meets_recommendation());
        assert!(!TINY.meets_recommendation());
    }
}
