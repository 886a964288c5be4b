//! The Secret Service's encrypted session: `dh-ietf1024-sha256-aes128-cbc-pkcs7`.
//!
//! Diffie–Hellman over the 1024-bit MODP group 2 of RFC 2409 (with a 256-bit
//! secret exponent, in constant time) agrees a shared value with the
//! service; HKDF-SHA256 (no salt, no info) turns it into a
//! 16-byte AES key; each secret then crosses the bus AES-128-CBC encrypted with
//! PKCS#7 padding under a fresh random IV. This is what libsecret speaks. The
//! exponent, the shared value and the key are wiped when dropped.

use aes::Aes128;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use crypto_bigint::modular::{ConstMontyForm, ConstMontyParams};
use crypto_bigint::{U1024, const_monty_params};
use zeroize::{Zeroize, Zeroizing};

use super::wire::Malformed;

pub(super) const ALGORITHM: &str = "dh-ietf1024-sha256-aes128-cbc-pkcs7";
/// The group's size in bytes.
const BYTES: usize = 128;
/// Our secret exponent's size: 256 bits, twice the group's security level
/// and then some (RFC 2631), at a quarter of the cost of a full-size one.
pub(super) const PRIVATE_BYTES: usize = 32;
const IV_LEN: usize = 16;
const BLOCK: usize = 16;

const_monty_params!(
    Group2,
    U1024,
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
    "The 1024-bit MODP group of RFC 2409, section 6.2"
);
type Residue = ConstMontyForm<Group2, { U1024::LIMBS }>;

/// How many bits of the exponent count. The fuzzer exercises the parsing
/// around the key agreement, not RustCrypto's arithmetic, and its keypair's
/// exponent is below 2^64, so a shorter exponentiation gives the same results
/// at several times the speed.
#[cfg(not(fuzzing))]
const EXPONENT_BITS: u32 = PRIVATE_BYTES as u32 * 8;
#[cfg(fuzzing)]
const EXPONENT_BITS: u32 = 64;

/// Our half of the key agreement.
#[derive(Clone)]
pub(super) struct Keypair {
    private: Zeroizing<U1024>,
    public: Vec<u8>,
}

impl Keypair {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; PRIVATE_BYTES]);
        crate::ids::fill_random(&mut bytes[..]);
        Self::from_private(&bytes)
    }

    /// A keypair from a given exponent (tests and fuzzing need a fixed one).
    pub fn from_private(bytes: &[u8; PRIVATE_BYTES]) -> Self {
        let mut padded = Zeroizing::new([0u8; BYTES]);
        padded[BYTES - PRIVATE_BYTES..].copy_from_slice(bytes);
        let private = Zeroizing::new(U1024::from_be_slice(&padded[..]));
        let public = Residue::new(&U1024::from_u8(2))
            .pow_bounded_exp(&*private, EXPONENT_BITS)
            .retrieve();
        Self {
            private,
            public: minimal_be(&public),
        }
    }

    /// The public value to send: big-endian without leading zeros, as libsecret sends it.
    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// The session key agreed with the service, whose public value is `theirs`.
    pub fn agree(&self, theirs: &[u8]) -> Result<SessionKey, Malformed> {
        let start = theirs.iter().position(|&b| b != 0).unwrap_or(theirs.len());
        let theirs = &theirs[start..];
        if theirs.len() > BYTES {
            return Err(Malformed("a Diffie-Hellman value longer than the group"));
        }
        let mut padded = [0u8; BYTES];
        padded[BYTES - theirs.len()..].copy_from_slice(theirs);
        let value = U1024::from_be_slice(&padded);
        // 0, 1 and p-1 (and anything not below p) would give a key anyone can guess.
        let p_minus_1 = prime().wrapping_sub(&U1024::ONE);
        if value.cmp_vartime(&U1024::ONE).is_le() || value.cmp_vartime(&p_minus_1).is_ge() {
            return Err(Malformed("a Diffie-Hellman value outside the group"));
        }
        let shared = Zeroizing::new(
            Residue::new(&value)
                .pow_bounded_exp(&*self.private, EXPONENT_BITS)
                .retrieve(),
        );
        let mut ikm = Zeroizing::new([0u8; BYTES]);
        ikm.copy_from_slice(shared.to_be_bytes().as_ref());
        let mut key = Zeroizing::new([0u8; 16]);
        hkdf::Hkdf::<sha2::Sha256>::new(None, &ikm[..])
            .expand(&[], &mut key[..])
            .map_err(|_| Malformed("a key derivation failure"))?;
        Ok(SessionKey(key))
    }
}

/// The group's prime.
fn prime() -> U1024 {
    *<Group2 as ConstMontyParams<{ U1024::LIMBS }>>::PARAMS
        .modulus()
        .as_ref()
}

fn minimal_be(value: &U1024) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let bytes: &[u8] = bytes.as_ref();
    let start = bytes
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(bytes.len() - 1);
    bytes[start..].to_vec()
}

/// The AES key of one encrypted session; wiped on drop.
pub(super) struct SessionKey(Zeroizing<[u8; 16]>);

impl SessionKey {
    /// Encrypts `plaintext` under a fresh IV; returns the IV and the ciphertext.
    pub fn encrypt(&self, plaintext: &[u8]) -> ([u8; IV_LEN], Zeroizing<Vec<u8>>) {
        let mut iv = [0u8; IV_LEN];
        crate::ids::fill_random(&mut iv);
        let padded_len = (plaintext.len() / BLOCK + 1) * BLOCK;
        let mut buffer = Zeroizing::new(vec![0u8; padded_len]);
        buffer[..plaintext.len()].copy_from_slice(plaintext);
        let encryptor = cbc::Encryptor::<Aes128>::new((&*self.0).into(), (&iv).into());
        let len = encryptor
            .encrypt_padded::<Pkcs7>(&mut buffer, plaintext.len())
            .map(<[u8]>::len)
            .unwrap_or(0);
        debug_assert_eq!(len, padded_len, "the buffer has room for the padding");
        (iv, buffer)
    }

    /// Decrypts a secret sent with `iv`; a wrong length or padding is an error.
    pub fn decrypt(&self, iv: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, Malformed> {
        let iv: &[u8; IV_LEN] = iv
            .try_into()
            .map_err(|_| Malformed("an IV that is not 16 bytes"))?;
        if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(BLOCK) {
            return Err(Malformed("a ciphertext that is not whole blocks"));
        }
        let mut buffer = Zeroizing::new(ciphertext.to_vec());
        let decryptor = cbc::Decryptor::<Aes128>::new((&*self.0).into(), iv.into());
        let len = decryptor
            .decrypt_padded::<Pkcs7>(&mut buffer)
            .map_err(|_| Malformed("a secret whose padding is wrong"))?
            .len();
        // Keep the padding bytes inside the wiped buffer: truncate, do not reallocate.
        buffer[len..].zeroize();
        buffer.truncate(len);
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree_on_one_key() {
        let ours = Keypair::from_private(&[0x11; PRIVATE_BYTES]);
        let theirs = Keypair::from_private(&[0x7e; PRIVATE_BYTES]);
        let a = ours.agree(theirs.public()).unwrap();
        let b = theirs.agree(ours.public()).unwrap();
        assert_eq!(*a.0, *b.0);
        let (iv, sealed) = a.encrypt(b"dckr_pat_secret");
        assert_eq!(sealed.len(), 16);
        assert_eq!(&b.decrypt(&iv, &sealed).unwrap()[..], b"dckr_pat_secret");
        let (_, full_block) = a.encrypt(&[7u8; 16]);
        assert_eq!(full_block.len(), 32, "a whole block of padding is added");
    }

    #[test]
    fn the_generator_gives_the_known_public_value() {
        // 2^1 mod p = 2, and 2^8 = 256: the public value is the group's own arithmetic.
        let mut one = [0u8; PRIVATE_BYTES];
        one[PRIVATE_BYTES - 1] = 1;
        assert_eq!(Keypair::from_private(&one).public(), [2]);
        one[PRIVATE_BYTES - 1] = 8;
        assert_eq!(Keypair::from_private(&one).public(), [1, 0]);
    }

    #[test]
    fn weak_or_oversized_peer_values_are_refused() {
        let ours = Keypair::from_private(&[0x11; PRIVATE_BYTES]);
        let p = prime().to_be_bytes();
        let p: &[u8] = p.as_ref();
        let p_minus_1 = prime().wrapping_sub(&U1024::ONE).to_be_bytes();
        for bad in [
            &[][..],
            &[0],
            &[1],
            &[0, 0, 1],
            p_minus_1.as_ref(),
            p,
            &[1; 129],
        ] {
            assert!(ours.agree(bad).is_err(), "{bad:?}");
        }
        assert!(ours.agree(&[2]).is_ok());
    }

    #[test]
    fn tampered_ciphertexts_are_errors_not_panics() {
        let key = Keypair::from_private(&[3; PRIVATE_BYTES])
            .agree(Keypair::from_private(&[4; PRIVATE_BYTES]).public())
            .unwrap();
        let (iv, sealed) = key.encrypt(b"x");
        assert!(key.decrypt(&iv[..15], &sealed).is_err());
        assert!(key.decrypt(&iv, &sealed[..15]).is_err());
        assert!(key.decrypt(&iv, &[]).is_err());
        // In CBC the IV's last byte lands on the padding byte: 0x0f ^ 0x55
        // is no valid padding, whatever the random IV was.
        let mut bad_iv = iv.to_vec();
        bad_iv[15] ^= 0x55;
        assert!(key.decrypt(&bad_iv, &sealed).is_err());
        // A flipped ciphertext byte scrambles the whole block: the padding
        // then passes about once in 256, so the check is only that the
        // secret does not come back.
        let mut flipped = sealed.to_vec();
        flipped[15] ^= 0x55;
        if let Ok(plain) = key.decrypt(&iv, &flipped) {
            assert_ne!(&plain[..], b"x");
        }
    }
}
