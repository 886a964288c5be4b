//! The vault, byte by byte: a versioned header file and one sealed file per item.
//!
//! The layout is our own and small, so every byte is accounted for and a
//! hostile file can only ever produce an error. The header carries a BLAKE2b
//! digest of itself: without it, damage to the salt or the KDF parameters
//! would yield a different key and be reported as a wrong passphrase.
//!
//! ```text
//! header file (version 2)
//! offset    size  field
//! 0         8     magic "DCPVAULT"
//! 8         2     format version, little-endian (2)
//! 10        1     KDF id (1 = Argon2id, version 0x13)
//! 11        4     Argon2 memory in KiB
//! 15        4     Argon2 iterations
//! 19        4     Argon2 parallelism
//! 23        1     salt length n (16 to 64)
//! 24        n     salt
//! 24+n      24    XChaCha20-Poly1305 nonce of the wrapped data key
//! 48+n      32    key check: the second half of the Argon2 output
//! 80+n      48    the data key sealed under the passphrase key, with tag;
//!                 associated data: bytes 0 .. 80+n
//! 128+n     32    BLAKE2b-256 of bytes 0 .. 128+n
//! ```
//!
//! Each item is a file of its own, so reading or writing one costs the same
//! however many there are, and changing the passphrase re-seals only the
//! data key. An item file is the magic "DCPVITEM", a `u16` version (1), a
//! 24-byte nonce, then the item sealed under the data key with the file's
//! first 34 bytes and the item's name as associated data (so items cannot be
//! swapped between names), then the tag. The plaintext is the registry,
//! account and token id (each `u16` length + UTF-8) and the secret (`u32`
//! length + UTF-8).
//!
//! Version 1 kept every item in one body after the header (no wrapped data
//! key; nonce and key check as above, digest at 80+n, then the ciphertext
//! and tag, with the header as associated data). It is still read, and the
//! first change rewrites it as version 2.

use std::collections::BTreeMap;

use blake2::{Blake2b256, Digest};
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use super::kdf::{CHECK_LEN, KEY_LEN, KdfParams, VaultKey};
use crate::secret::Secret;
use crate::store::ItemMeta;

pub const MAGIC: &[u8; 8] = b"DCPVAULT";
pub const ITEM_MAGIC: &[u8; 8] = b"DCPVITEM";
/// A header with a wrapped data key; items in files of their own.
pub const FORMAT_VERSION: u16 = 2;
/// Every item in one sealed body after the header.
pub const SINGLE_FILE_VERSION: u16 = 1;
const ITEM_VERSION: u16 = 1;
/// The data key sealed under the passphrase key, tag included.
pub const WRAPPED_LEN: usize = KEY_LEN + TAG_LEN;
/// An item file's bytes before its ciphertext.
const ITEM_HEADER_LEN: usize = 8 + 2 + NONCE_LEN;
/// No item is anywhere near this; a larger file is not one of ours.
pub const MAX_ITEM_LEN: usize = 1024 * 1024;
pub const KDF_ARGON2ID: u8 = 1;
pub const SALT_LEN: usize = 16;
pub const MIN_SALT_LEN: usize = 16;
pub const MAX_SALT_LEN: usize = 64;
pub const NONCE_LEN: usize = 24;
pub const DIGEST_LEN: usize = 32;
pub const TAG_LEN: usize = 16;
const BODY_VERSION: u8 = 1;
/// A vault is a few kilobytes; anything near this is not one of ours.
pub const MAX_FILE_LEN: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("it is truncated ({0} bytes)")]
    Truncated(usize),
    #[error("it is not a docker-credential-pat vault (it does not start with DCPVAULT)")]
    NotAVault,
    #[error(
        "it claims vault format {0}, which this version cannot read (if a newer docker-credential-pat wrote it, upgrade)"
    )]
    UnsupportedVersion(u16),
    #[error("it names an unknown key derivation function ({0})")]
    UnknownKdf(u8),
    #[error("its key derivation parameters are out of range: {0}")]
    BadKdfParams(String),
    #[error("its salt length {0} is outside {MIN_SALT_LEN} to {MAX_SALT_LEN}")]
    BadSaltLength(usize),
    #[error("its header is damaged (the header checksum does not match)")]
    HeaderDamaged,
    #[error("it is larger than {} MiB", MAX_FILE_LEN / 1024 / 1024)]
    TooLarge,
    #[error("its contents fail authentication: the file was modified or damaged")]
    Unauthentic,
    #[error("its decrypted contents are malformed ({0})")]
    Malformed(&'static str),
    #[error("the {0} is too long to store in the vault")]
    FieldTooLong(&'static str),
    #[error("the vault would grow past {} MiB", MAX_FILE_LEN / 2 / 1024 / 1024)]
    Full,
}

/// The parsed header. Everything here is public information (the data key
/// is only there sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub kdf: KdfParams,
    pub salt: Vec<u8>,
    pub nonce: [u8; NONCE_LEN],
    pub key_check: [u8; CHECK_LEN],
    /// Version 2: the data key, sealed under the passphrase key with `nonce`.
    pub wrapped: Option<[u8; WRAPPED_LEN]>,
}

impl Header {
    /// The header's length in bytes, digest included.
    pub fn encoded_len(&self) -> usize {
        self.prefix_len() + self.wrapped.map_or(0, |w| w.len()) + DIGEST_LEN
    }

    /// The bytes before the wrapped key: its associated data.
    fn prefix_len(&self) -> usize {
        24 + self.salt.len() + NONCE_LEN + CHECK_LEN
    }

    /// The header's bytes, digest included: for version 1, the body's associated data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.prefix();
        if let Some(wrapped) = &self.wrapped {
            out.extend_from_slice(wrapped);
        }
        let digest = Blake2b256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    fn prefix(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.push(KDF_ARGON2ID);
        out.extend_from_slice(&self.kdf.memory_kib.to_le_bytes());
        out.extend_from_slice(&self.kdf.iterations.to_le_bytes());
        out.extend_from_slice(&self.kdf.lanes.to_le_bytes());
        // The salt length is checked when a header is made or parsed.
        out.push(self.salt.len() as u8);
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.key_check);
        out
    }

    /// The data key of a version 2 vault, unsealed with the passphrase key.
    pub fn unwrap_key(&self, key: &VaultKey) -> Result<VaultKey, FormatError> {
        let wrapped = self.wrapped.ok_or(FormatError::Malformed("no data key"))?;
        let mut data_key = Zeroizing::new([0u8; KEY_LEN]);
        data_key.copy_from_slice(&wrapped[..KEY_LEN]);
        let tag = wrapped[KEY_LEN..]
            .try_into()
            .map_err(|_| FormatError::Unauthentic)?;
        XChaCha20Poly1305::new(key.expose().into())
            .decrypt_inout_detached(
                &XNonce::from(self.nonce),
                &self.prefix(),
                data_key.as_mut_slice().into(),
                tag,
            )
            .map_err(|_| FormatError::Unauthentic)?;
        Ok(VaultKey::from_bytes(&data_key))
    }

    /// A version 2 header sealing `data_key` under `key`; `self` supplies the
    /// KDF parameters, salt and key check, and a fresh nonce is drawn.
    pub fn wrapping(&self, key: &VaultKey, data_key: &VaultKey) -> Self {
        let mut header = Self {
            version: FORMAT_VERSION,
            wrapped: None,
            ..self.clone()
        };
        crate::ids::fill_random(&mut header.nonce);
        let mut sealed = Zeroizing::new(*data_key.expose());
        let tag = XChaCha20Poly1305::new(key.expose().into())
            .encrypt_inout_detached(
                &XNonce::from(header.nonce),
                &header.prefix(),
                sealed.as_mut_slice().into(),
            )
            .expect("32 bytes are always within the AEAD's limits");
        let mut wrapped = [0u8; WRAPPED_LEN];
        wrapped[..KEY_LEN].copy_from_slice(&sealed[..]);
        wrapped[KEY_LEN..].copy_from_slice(&tag);
        header.wrapped = Some(wrapped);
        header
    }
}

/// Reads forward through a byte slice; running out is `Truncated`, never a panic.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

/// Parses and checks the header at the start of a vault file.
///
/// It checks the magic, version, KDF id and parameters, salt length, the
/// header digest, and that a body of at least one tag follows. It never
/// panics, whatever the bytes.
pub fn parse_header(bytes: &[u8]) -> Result<Header, FormatError> {
    if bytes.len() > MAX_FILE_LEN {
        return Err(FormatError::TooLarge);
    }
    let truncated = FormatError::Truncated(bytes.len());
    let mut reader = Reader::new(bytes);
    let magic = reader.take(MAGIC.len()).ok_or(truncated.clone())?;
    if magic != MAGIC {
        return Err(FormatError::NotAVault);
    }
    let version = reader.u16().ok_or(truncated.clone())?;
    if version != FORMAT_VERSION && version != SINGLE_FILE_VERSION {
        return Err(FormatError::UnsupportedVersion(version));
    }
    let kdf_id = reader.u8().ok_or(truncated.clone())?;
    if kdf_id != KDF_ARGON2ID {
        return Err(FormatError::UnknownKdf(kdf_id));
    }
    let memory_kib = reader.u32().ok_or(truncated.clone())?;
    let iterations = reader.u32().ok_or(truncated.clone())?;
    let lanes = reader.u32().ok_or(truncated.clone())?;
    let salt_len = usize::from(reader.u8().ok_or(truncated.clone())?);
    if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&salt_len) {
        return Err(FormatError::BadSaltLength(salt_len));
    }
    let salt = reader.take(salt_len).ok_or(truncated.clone())?.to_vec();
    let nonce = reader.array::<NONCE_LEN>().ok_or(truncated.clone())?;
    let key_check = reader.array::<CHECK_LEN>().ok_or(truncated.clone())?;
    let wrapped = match version {
        FORMAT_VERSION => Some(reader.array::<WRAPPED_LEN>().ok_or(truncated.clone())?),
        _ => None,
    };
    let digested = reader.pos;
    let digest = reader.array::<DIGEST_LEN>().ok_or(truncated.clone())?;
    if Blake2b256::digest(&bytes[..digested]).as_slice() != digest {
        return Err(FormatError::HeaderDamaged);
    }
    match version {
        FORMAT_VERSION if reader.remaining() != 0 => {
            return Err(FormatError::Malformed("trailing bytes after the header"));
        }
        SINGLE_FILE_VERSION if reader.remaining() < TAG_LEN => return Err(truncated),
        _ => {}
    }
    let kdf = KdfParams {
        memory_kib,
        iterations,
        lanes,
    };
    kdf.check().map_err(FormatError::BadKdfParams)?;
    Ok(Header {
        version,
        kdf,
        salt,
        nonce,
        key_check,
        wrapped,
    })
}

/// Encrypts `contents` under `key` and returns a whole version 1 file.
///
/// `header` supplies everything but must carry a nonce never used with this key.
/// Vaults are written in version 2 now; this remains for tests and fuzzing.
pub fn seal(header: &Header, key: &VaultKey, contents: &Contents) -> Result<Vec<u8>, FormatError> {
    let associated = header.to_bytes();
    let mut body = contents.encode()?;
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    let nonce = XNonce::from(header.nonce);
    let tag = cipher
        .encrypt_inout_detached(&nonce, &associated, body.as_mut_slice().into())
        .map_err(|_| FormatError::Full)?;
    let mut file = associated;
    file.reserve_exact(body.len() + TAG_LEN);
    file.extend_from_slice(&body);
    file.extend_from_slice(&tag);
    Ok(file)
}

/// Decrypts and parses the body of `bytes`, whose header is `header`.
pub fn open(bytes: &[u8], header: &Header, key: &VaultKey) -> Result<Contents, FormatError> {
    let header_len = header.encoded_len();
    let sealed = bytes
        .get(header_len..)
        .filter(|s| s.len() >= TAG_LEN)
        .ok_or(FormatError::Truncated(bytes.len()))?;
    let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_LEN);
    let tag = tag.try_into().map_err(|_| FormatError::Unauthentic)?;
    let mut body = Zeroizing::new(ciphertext.to_vec());
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    let nonce = XNonce::from(header.nonce);
    cipher
        .decrypt_inout_detached(
            &nonce,
            &bytes[..header_len],
            body.as_mut_slice().into(),
            tag,
        )
        .map_err(|_| FormatError::Unauthentic)?;
    Contents::decode(&body)
}

/// An item's file: sealed under the data key, bound to the item's name.
pub fn seal_item(key: &VaultKey, item: &str, entry: &Entry) -> Result<Vec<u8>, FormatError> {
    let mut body = encode_entry(entry)?;
    let mut nonce = [0u8; NONCE_LEN];
    crate::ids::fill_random(&mut nonce);
    let mut file = Vec::with_capacity(ITEM_HEADER_LEN + body.len() + TAG_LEN);
    file.extend_from_slice(ITEM_MAGIC);
    file.extend_from_slice(&ITEM_VERSION.to_le_bytes());
    file.extend_from_slice(&nonce);
    let tag = XChaCha20Poly1305::new(key.expose().into())
        .encrypt_inout_detached(
            &XNonce::from(nonce),
            &item_associated(&file, item),
            body.as_mut_slice().into(),
        )
        .map_err(|_| FormatError::FieldTooLong("secret"))?;
    file.extend_from_slice(&body);
    file.extend_from_slice(&tag);
    Ok(file)
}

/// Opens an item's file; a file made for another name, or changed, is unauthentic.
pub fn open_item(bytes: &[u8], key: &VaultKey, item: &str) -> Result<Entry, FormatError> {
    if bytes.len() > MAX_ITEM_LEN {
        return Err(FormatError::TooLarge);
    }
    let mut reader = Reader::new(bytes);
    let truncated = FormatError::Truncated(bytes.len());
    if reader.take(ITEM_MAGIC.len()).ok_or(truncated.clone())? != ITEM_MAGIC {
        return Err(FormatError::NotAVault);
    }
    let version = reader.u16().ok_or(truncated.clone())?;
    if version != ITEM_VERSION {
        return Err(FormatError::UnsupportedVersion(version));
    }
    let nonce = reader.array::<NONCE_LEN>().ok_or(truncated.clone())?;
    let sealed = &bytes[ITEM_HEADER_LEN..];
    if sealed.len() < TAG_LEN {
        return Err(truncated);
    }
    let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_LEN);
    let tag = tag.try_into().map_err(|_| FormatError::Unauthentic)?;
    let mut body = Zeroizing::new(ciphertext.to_vec());
    XChaCha20Poly1305::new(key.expose().into())
        .decrypt_inout_detached(
            &XNonce::from(nonce),
            &item_associated(&bytes[..ITEM_HEADER_LEN], item),
            body.as_mut_slice().into(),
            tag,
        )
        .map_err(|_| FormatError::Unauthentic)?;
    decode_item_body(&body)
}

/// The plaintext of an item's file: exactly one entry.
pub fn decode_item_body(body: &[u8]) -> Result<Entry, FormatError> {
    let mut reader = Reader::new(body);
    let entry = decode_entry(&mut reader)?;
    if reader.remaining() != 0 {
        return Err(FormatError::Malformed("trailing bytes"));
    }
    Ok(entry)
}

/// An entry's plaintext, as [`decode_item_body`] reads it.
pub fn encode_item_body(entry: &Entry) -> Result<Zeroizing<Vec<u8>>, FormatError> {
    encode_entry(entry)
}

fn item_associated(head: &[u8], item: &str) -> Vec<u8> {
    let mut associated = head.to_vec();
    associated.extend_from_slice(item.as_bytes());
    associated
}

/// The fields an entry's encoding holds before its secret.
fn entry_texts(entry: &Entry) -> [(&str, &'static str); 3] {
    [
        (&entry.meta.registry, "registry"),
        (&entry.meta.account, "username"),
        (&entry.meta.token_id, "token id"),
    ]
}

fn short(text: &str, what: &'static str) -> Result<u16, FormatError> {
    u16::try_from(text.len()).map_err(|_| FormatError::FieldTooLong(what))
}

fn entry_len(entry: &Entry) -> Result<usize, FormatError> {
    let mut size = 4 + entry.secret.len();
    u32::try_from(entry.secret.len()).map_err(|_| FormatError::FieldTooLong("secret"))?;
    for (text, what) in entry_texts(entry) {
        size += 2 + usize::from(short(text, what)?);
    }
    Ok(size)
}

/// One entry in one exactly-sized wiped buffer.
fn encode_entry(entry: &Entry) -> Result<Zeroizing<Vec<u8>>, FormatError> {
    let mut out = Zeroizing::new(Vec::with_capacity(entry_len(entry)?));
    write_entry(entry, &mut out);
    Ok(out)
}

fn write_entry(entry: &Entry, out: &mut Vec<u8>) {
    for (text, _) in entry_texts(entry) {
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(&(entry.secret.len() as u32).to_le_bytes());
    out.extend_from_slice(entry.secret.expose_bytes());
}

/// Reads one entry; its secret is copied once, straight into a [`Secret`].
fn decode_entry(reader: &mut Reader<'_>) -> Result<Entry, FormatError> {
    let malformed = FormatError::Malformed;
    let mut text = |what: &'static str| -> Result<String, FormatError> {
        let len = reader.u16().ok_or(malformed(what))?;
        let raw = reader.take(usize::from(len)).ok_or(malformed(what))?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| malformed(what))
    };
    let meta = ItemMeta {
        registry: text("registry")?,
        account: text("username")?,
        token_id: text("token id")?,
    };
    let len = reader.u32().ok_or(malformed("secret"))?;
    let raw = usize::try_from(len)
        .ok()
        .and_then(|len| reader.take(len))
        .ok_or(malformed("secret"))?;
    let secret = std::str::from_utf8(raw)
        .map(Secret::from_str_copy)
        .map_err(|_| malformed("secret"))?;
    Ok(Entry { meta, secret })
}

/// One stored item: its non-secret facts and its secret.
pub struct Entry {
    pub meta: ItemMeta,
    pub secret: Secret,
}

/// The decrypted body: item name → entry.
#[derive(Default)]
pub struct Contents {
    pub items: BTreeMap<String, Entry>,
}

impl Contents {
    /// The plaintext body of a version 1 file, in one exactly-sized zeroizing
    /// buffer so no copy of a secret is left behind by a reallocation.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, FormatError> {
        let mut size = 1 + 4;
        for (item, entry) in &self.items {
            size += 2 + usize::from(short(item, "item name")?) + entry_len(entry)?;
        }
        if size > MAX_FILE_LEN / 2 {
            return Err(FormatError::Full);
        }
        let count = u32::try_from(self.items.len()).map_err(|_| FormatError::Full)?;
        let mut out = Zeroizing::new(Vec::with_capacity(size));
        out.push(BODY_VERSION);
        out.extend_from_slice(&count.to_le_bytes());
        for (item, entry) in &self.items {
            out.extend_from_slice(&(item.len() as u16).to_le_bytes());
            out.extend_from_slice(item.as_bytes());
            write_entry(entry, &mut out);
        }
        debug_assert_eq!(out.len(), size);
        Ok(out)
    }

    /// Parses the plaintext body of a version 1 file.
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let malformed = FormatError::Malformed;
        let mut reader = Reader::new(bytes);
        match reader.u8() {
            Some(BODY_VERSION) => {}
            Some(_) => return Err(malformed("unknown body version")),
            None => return Err(malformed("empty")),
        }
        let count = reader.u32().ok_or(malformed("no item count"))?;
        let mut items = BTreeMap::new();
        for _ in 0..count {
            let len = reader.u16().ok_or(malformed("item name"))?;
            let item = reader
                .take(usize::from(len))
                .and_then(|raw| std::str::from_utf8(raw).ok())
                .ok_or(malformed("item name"))?
                .to_owned();
            let entry = decode_entry(&mut reader)?;
            if items.insert(item, entry).is_some() {
                return Err(malformed("an item name appears twice"));
            }
        }
        if reader.remaining() != 0 {
            return Err(malformed("trailing bytes"));
        }
        Ok(Self { items })
    }
}

#[cfg(test)]
mod tests;
