//! The vault format's unit tests: golden bytes, round trips, and every kind of damage.

use super::*;
use proptest::prelude::*;

use crate::store::vault::kdf::TINY;

/// A version 1 header (every item in one body).
fn header() -> Header {
    Header {
        version: SINGLE_FILE_VERSION,
        kdf: TINY,
        salt: (0..16).collect(),
        nonce: [0x24; NONCE_LEN],
        key_check: [0x5c; CHECK_LEN],
        wrapped: None,
    }
}

fn key() -> VaultKey {
    VaultKey::from_bytes(&[0x42; 32])
}

fn contents() -> Contents {
    let mut contents = Contents::default();
    for (item, registry, account, secret) in [
        ("item-b", "docker.io", "alice", "dckr_pat_abc"),
        ("item-a", "ghcr.io", "bob", "ghp_\u{e9}xyz"),
    ] {
        contents.items.insert(
            item.into(),
            Entry {
                meta: ItemMeta {
                    registry: registry.into(),
                    account: account.into(),
                    token_id: format!("id-{item}"),
                },
                secret: Secret::from_str_copy(secret),
            },
        );
    }
    contents
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A whole vault file sealed with the fixed header, key and contents above.
/// If this changes, old vaults stop opening: bump FORMAT_VERSION instead.
/// (Checked once against independent BLAKE2b and ChaCha20-Poly1305 code.)
const GOLDEN: &str = concat!(
    "4443505641554c54010001080000000100000001000000100001020304050607",
    "08090a0b0c0d0e0f242424242424242424242424242424242424242424242424",
    "5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c",
    "073d468100d77c8ed6fd19da5e9d8a969d1c11c6fac4ce123c5c4f71d54091b5",
    "a45cd7656e224ccfd64a52176f8f0dad5a92fc941570779d430e84446b79bfe0",
    "7de5edb519fa529c7cb5d6d38982eb252f3455f82721f5b97f17ebda917bdb9b",
    "85f1400a6f5ede00adfa045d502d5a93dab619b4c35543c60fbf33f0f37b1256",
    "8a1b56083db0c4668ace63e8a9ab7ef4b05c1abd3d66224e",
);

#[test]
fn sealed_file_matches_the_golden_bytes_and_round_trips() {
    let file = seal(&header(), &key(), &contents()).unwrap();
    assert_eq!(hex(&file), GOLDEN);
    let parsed = parse_header(&file).unwrap();
    assert_eq!(parsed, header());
    assert_eq!(parsed.to_bytes(), file[..parsed.encoded_len()]);
    let opened = open(&file, &parsed, &key()).unwrap();
    assert_eq!(seal(&parsed, &key(), &opened).unwrap(), file);
}

#[test]
fn body_round_trips_byte_for_byte() {
    let encoded = contents().encode().unwrap();
    let decoded = Contents::decode(&encoded).unwrap();
    assert_eq!(*decoded.encode().unwrap(), *encoded);
    let a = &decoded.items["item-a"];
    assert_eq!(a.meta.account, "bob");
    assert_eq!(a.secret.expose(), "ghp_\u{e9}xyz");
    let empty = Contents::default().encode().unwrap();
    assert_eq!(*empty, [BODY_VERSION, 0, 0, 0, 0]);
}

#[test]
fn every_flipped_bit_is_an_error() {
    let file = seal(&header(), &key(), &contents()).unwrap();
    for i in 0..file.len() {
        for bit in [0x01, 0x80] {
            let mut bad = file.clone();
            bad[i] ^= bit;
            let result = parse_header(&bad).and_then(|h| open(&bad, &h, &key()));
            assert!(result.is_err(), "byte {i} bit {bit:#x}");
        }
    }
}

#[test]
fn damage_is_named_precisely() {
    let file = seal(&header(), &key(), &contents()).unwrap();
    let flip = |i: usize| {
        let mut bad = file.clone();
        bad[i] ^= 1;
        bad
    };
    assert_eq!(parse_header(&flip(0)), Err(FormatError::NotAVault));
    assert!(matches!(
        parse_header(&flip(8)),
        Err(FormatError::UnsupportedVersion(_))
    ));
    assert_eq!(parse_header(&flip(24)), Err(FormatError::HeaderDamaged));
    let body = flip(file.len() - 1);
    let h = parse_header(&body).unwrap();
    assert_eq!(
        open(&body, &h, &key()).err(),
        Some(FormatError::Unauthentic)
    );
    assert!(matches!(
        parse_header(&file[..100]),
        Err(FormatError::Truncated(100))
    ));
    let wrong_key = VaultKey::from_bytes(&[0x43; 32]);
    assert_eq!(
        open(&file, &header(), &wrong_key).err(),
        Some(FormatError::Unauthentic)
    );
}

#[test]
fn malformed_bodies_are_errors() {
    let encoded = contents().encode().unwrap();
    for cut in 0..encoded.len() {
        assert!(Contents::decode(&encoded[..cut]).is_err(), "cut at {cut}");
    }
    let mut extra = encoded.to_vec();
    extra.push(0);
    assert!(Contents::decode(&extra).is_err());
    let mut twice = vec![BODY_VERSION, 2, 0, 0, 0];
    for _ in 0..2 {
        twice.extend_from_slice(&[1, 0, b'x', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
    assert_eq!(
        Contents::decode(&twice).err(),
        Some(FormatError::Malformed("an item name appears twice"))
    );
}

#[test]
fn hostile_kdf_params_are_refused() {
    let mut h = header();
    h.kdf.memory_kib = u32::MAX;
    let mut file = h.to_bytes();
    file.extend_from_slice(&[0; TAG_LEN]);
    assert!(matches!(
        parse_header(&file),
        Err(FormatError::BadKdfParams(_))
    ));
}

#[test]
fn seed_corpus_opens_only_the_intact_vault() {
    for (name, bytes) in crate::corpus::inputs("vault") {
        let opened = parse_header(&bytes).and_then(|h| open(&bytes, &h, &key()));
        assert_eq!(
            opened.is_ok(),
            name == "golden.vault",
            "{name}: {:?}",
            opened.as_ref().err()
        );
        let _ = Contents::decode(&bytes);
    }
}

fn entry() -> Entry {
    Entry {
        meta: ItemMeta {
            registry: "ghcr.io".into(),
            account: "bob".into(),
            token_id: "id-1".into(),
        },
        secret: Secret::from_str_copy("ghp_\u{e9}xyz"),
    }
}

/// A version 2 header with fixed bytes, sealing a fixed data key.
fn header_v2() -> Header {
    let mut wrapped = header().wrapping(&key(), &VaultKey::from_bytes(&[0x11; 32]));
    wrapped.nonce = [0x24; NONCE_LEN];
    // Re-seal under the fixed nonce so the bytes are reproducible.
    let fixed = Header {
        wrapped: None,
        ..wrapped.clone()
    };
    let mut sealed = [0x11u8; KEY_LEN];
    let tag = XChaCha20Poly1305::new(key().expose().into())
        .encrypt_inout_detached(
            &XNonce::from(fixed.nonce),
            &fixed.prefix(),
            sealed.as_mut_slice().into(),
        )
        .unwrap();
    let mut bytes = [0u8; WRAPPED_LEN];
    bytes[..KEY_LEN].copy_from_slice(&sealed);
    bytes[KEY_LEN..].copy_from_slice(&tag);
    wrapped.wrapped = Some(bytes);
    wrapped
}

/// A whole version 2 header with the fixed fields above, sealing the data
/// key 0x11… under the fixed nonce. If this changes, version 2 vaults stop
/// opening: bump FORMAT_VERSION instead.
const GOLDEN_V2: &str = concat!(
    "4443505641554c54020001080000000100000001000000100001020304050607",
    "08090a0b0c0d0e0f242424242424242424242424242424242424242424242424",
    "5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c",
    "b44fc6747f355db7b33e2e2b1f991cdb23e09fab6d0e658c3070f75c7a01cadc",
    "9f36052472d8c80458046e8b3ea72e7c430b74f1a509daf587d0edbd443ead3a",
    "398428ac8def663218f2633c4e47401a",
);

#[test]
fn version_2_header_matches_the_golden_bytes_and_round_trips() {
    let header = header_v2();
    let file = header.to_bytes();
    assert_eq!(hex(&file), GOLDEN_V2);
    assert_eq!(
        file.len(),
        24 + 16 + NONCE_LEN + CHECK_LEN + WRAPPED_LEN + DIGEST_LEN
    );
    let parsed = parse_header(&file).unwrap();
    assert_eq!(parsed, header);
    assert_eq!(parsed.unwrap_key(&key()).unwrap().expose(), &[0x11; 32]);
    let wrong = VaultKey::from_bytes(&[0x43; 32]);
    assert_eq!(
        parsed.unwrap_key(&wrong).err(),
        Some(FormatError::Unauthentic)
    );
    let mut trailing = file.clone();
    trailing.push(0);
    assert!(parse_header(&trailing).is_err());
    for i in 0..file.len() {
        let mut bad = file.clone();
        bad[i] ^= 1;
        let result = parse_header(&bad).and_then(|h| h.unwrap_key(&key()));
        assert!(result.is_err(), "byte {i}");
    }
}

#[test]
fn items_round_trip_and_are_bound_to_their_name_and_key() {
    let data_key = VaultKey::from_bytes(&[0x11; 32]);
    let file = seal_item(&data_key, "item-a", &entry()).unwrap();
    let opened = open_item(&file, &data_key, "item-a").unwrap();
    assert_eq!(opened.meta, entry().meta);
    assert_eq!(opened.secret.expose(), "ghp_\u{e9}xyz");
    assert_ne!(
        seal_item(&data_key, "item-a", &entry()).unwrap(),
        file,
        "a fresh nonce every time"
    );
    assert_eq!(
        open_item(&file, &data_key, "item-b").err(),
        Some(FormatError::Unauthentic)
    );
    assert_eq!(
        open_item(&file, &key(), "item-a").err(),
        Some(FormatError::Unauthentic)
    );
    for i in 0..file.len() {
        for bit in [0x01, 0x80] {
            let mut bad = file.clone();
            bad[i] ^= bit;
            assert!(open_item(&bad, &data_key, "item-a").is_err(), "byte {i}");
        }
    }
    for cut in 0..file.len() {
        assert!(open_item(&file[..cut], &data_key, "item-a").is_err());
    }
}

proptest! {
    #![proptest_config(crate::corpus::proptest_config())]
    #[test]
    fn any_valid_header_reads_back_as_written(
        memory_kib in 64u32..=4096,
        iterations in 1u32..=8,
        lanes in 1u32..=4,
        salt in proptest::collection::vec(any::<u8>(), MIN_SALT_LEN..=MAX_SALT_LEN),
        nonce in any::<[u8; NONCE_LEN]>(),
        key_check in any::<[u8; CHECK_LEN]>(),
    ) {
        let header = Header {
            version: SINGLE_FILE_VERSION,
            kdf: KdfParams { memory_kib, iterations, lanes },
            salt,
            nonce,
            key_check,
            wrapped: None,
        };
        let mut file = header.to_bytes();
        prop_assert_eq!(file.len(), header.encoded_len());
        file.extend_from_slice(&[0; TAG_LEN]);
        prop_assert_eq!(parse_header(&file), Ok(header.clone()));
        let wrapped = header.wrapping(&key(), &VaultKey::from_bytes(&[7; 32]));
        let file = wrapped.to_bytes();
        prop_assert_eq!(file.len(), wrapped.encoded_len());
        prop_assert_eq!(parse_header(&file), Ok(wrapped));
    }

    #[test]
    fn parse_header_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_header(&bytes);
        let _ = Contents::decode(&bytes);
    }

    #[test]
    fn mutated_files_never_panic_or_open(index in 0usize..1000, value in any::<u8>()) {
        let mut file = seal(&header(), &key(), &contents()).unwrap();
        let i = index % file.len();
        prop_assume!(file[i] != value);
        file[i] = value;
        let result = parse_header(&file).and_then(|h| open(&file, &h, &key()));
        prop_assert!(result.is_err());
    }
}
