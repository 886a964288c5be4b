//! Entry points for the fuzz targets in `fuzz/`: each runs one real parser of
//! bytes the helper does not control, and checks what must hold of its
//! answer. A panic here is a bug the fuzzer found. Not part of the helper's
//! interface.

use std::path::Path;

use crate::registry::Registry;

/// What the Docker CLI sends on stdin for `store`, `get` and `erase`.
pub fn protocol_request(data: &[u8]) {
    let input = crate::protocol::read_input(data).expect("a slice always reads");
    assert_eq!(&input[..], data);
    match crate::protocol::parse_store(&input) {
        Ok(request) => {
            // What parsed is written back as Go would, and parses to the same.
            let mut body = b"{\"ServerURL\":".to_vec();
            crate::protocol::push_json_string(&mut body, &request.server_url);
            body.extend_from_slice(b",\"Username\":");
            crate::protocol::push_json_string(&mut body, &request.username);
            body.extend_from_slice(b",\"Secret\":");
            crate::protocol::push_json_string(&mut body, request.secret.expose());
            body.push(b'}');
            let again = crate::protocol::parse_store(&body).expect("a Go-encoded request parses");
            assert_eq!(again.server_url, request.server_url);
            assert_eq!(again.username, request.username);
            assert!(again.secret == request.secret);
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
    }
    if let Ok(address) = crate::protocol::parse_address(&input) {
        assert_eq!(address, address.trim());
        address_text(address);
    }
}

/// A registry address, in any spelling a client may send.
pub fn address(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        address_text(text);
    }
}

fn address_text(text: &str) {
    let Ok(registry) = Registry::parse(text) else {
        return;
    };
    let again = Registry::parse(registry.key()).expect("a canonical key parses");
    assert_eq!(again, registry, "{text:?}");
    assert_eq!(
        Registry::parse(registry.default_address()).as_ref(),
        Ok(&registry)
    );
    assert_eq!(
        Registry::parse(registry.list_address(text)).as_ref(),
        Ok(&registry)
    );
}

/// Replies and signals from whatever answers on the session bus, for every
/// conversation the Secret Service client holds.
pub fn dbus_replies(data: &[u8]) {
    #[cfg(target_os = "linux")]
    crate::store::secret_service::fuzz_replay(data);
    #[cfg(not(target_os = "linux"))]
    let _ = data;
}

/// The vault's files: a header (version 2, or version 1 with its sealed
/// body, opened with a fixed key so the seed corpus's golden vault opens), an
/// item file, and any bytes as a plaintext body or item.
pub fn vault_file(data: &[u8]) {
    use crate::store::vault::format::{self, Contents};
    use crate::store::vault::kdf::VaultKey;
    let key = VaultKey::from_bytes(&[0x42; 32]);
    if let Ok(header) = format::parse_header(data) {
        assert_eq!(header.to_bytes(), data[..header.encoded_len()]);
        if header.wrapped.is_some() {
            assert_eq!(header.encoded_len(), data.len());
            let _ = header.unwrap_key(&key);
        } else if let Ok(contents) = format::open(data, &header, &key) {
            let sealed = format::seal(&header, &key, &contents).expect("what opened seals");
            assert_eq!(sealed, data, "a vault reads and writes back byte for byte");
        }
    }
    if let Ok(entry) = format::open_item(data, &key, "default@docker.io") {
        let sealed =
            format::seal_item(&key, "default@docker.io", &entry).expect("what opened seals");
        let again = format::open_item(&sealed, &key, "default@docker.io").expect("sealed opens");
        assert_eq!(again.meta, entry.meta);
        assert!(again.secret == entry.secret);
        assert!(format::open_item(&sealed, &key, "other@docker.io").is_err());
    }
    if let Ok(contents) = Contents::decode(data) {
        let encoded = contents.encode().expect("what decoded encodes");
        assert_eq!(
            &encoded[..],
            data,
            "a body reads and writes back byte for byte"
        );
    }
    if let Ok(entry) = format::decode_item_body(data) {
        let encoded = format::encode_item_body(&entry).expect("what decoded encodes");
        assert_eq!(
            &encoded[..],
            data,
            "an item reads and writes back byte for byte"
        );
    }
}

/// A bucket file of the index: the whole parse, and the paths `get` (one
/// registry) and `list` (the first line only) take through the same bytes.
pub fn index_json(data: &[u8]) {
    use crate::index::{Index, Snapshot};
    let path = Path::new("index/93.json");
    let registries = [
        Registry::DockerHub,
        Registry::Host("ghcr.io".into()),
        Registry::Host("127.0.0.1:5000".into()),
    ];
    for registry in &registries {
        let bucket = crate::index::bucket_of(registry.key());
        let snapshot = Snapshot::from_bytes(data.to_vec(), path.to_owned(), Some(bucket));
        let one = snapshot.registry(registry);
        let mut listed = Vec::new();
        let listing = snapshot.list(&crate::select::Selection::default(), &mut listed);
        // What the whole parse of the bucket accepts, the fast paths accept too.
        let Ok(index) = Index::parse_bucket(data, path, bucket) else {
            continue;
        };
        let record = one.expect("a valid index reads one registry");
        assert_eq!(record.is_some(), index.registry(registry).is_some());
        listing.expect("a valid index lists");
    }
    if let Ok(index) = Index::parse(data, path) {
        let again = Index::parse(&index.to_bytes(), path).expect("a written index reads");
        assert_eq!(again.registries.len(), index.registries.len());
    }
}

/// usage.log, on top of a usage.json read from the same bytes when they are one.
pub fn usage_log(data: &[u8]) {
    let mut table: crate::usage::UsageTable = serde_json::from_slice(data).unwrap_or_default();
    table.apply_log(data);
}

/// config.toml: parses, or names a line that exists in a one-line message.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err((line, message)) = crate::config::Config::parse(text) {
        assert!(
            (1..=text.lines().count().max(1) + 1).contains(&line),
            "line {line}"
        );
        assert!(!message.contains('\n'), "{message}");
    }
}

/// Docker's config.json: parsed as the helper reads it, then every login in it
/// read as `import` reads it, and the helper each registry goes to.
pub fn docker_config(data: &[u8]) {
    let Ok(root) = crate::docker_config::parse(data, Path::new("config.json")) else {
        return;
    };
    for key in crate::import::plaintext_keys(&root) {
        let entry = &root["auths"][&key];
        if let Err(reason) = crate::import::read_login(&key, entry) {
            assert!(!reason.contains('\n'), "{reason}");
        }
        let _ = crate::docker_config::helper_in(&root, &key);
    }
}

/// The `auth` field's base64: what decodes encodes back to the same text.
pub fn base64(data: &[u8]) {
    use base64ct::Encoding;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bytes) = crate::import::decode_auth(text) {
        assert_eq!(base64ct::Base64::encode_string(&bytes), text);
    }
}

#[cfg(test)]
mod tests {
    /// Which seed corpus (tests/corpus/KIND) feeds which target; tests/fuzz.sh
    /// seeds the fuzzer from the same folders.
    type Target = fn(&[u8]);

    const TARGETS: [(&str, Target); 10] = [
        ("store", super::protocol_request),
        ("address", super::protocol_request),
        ("address", super::address),
        ("dbus", super::dbus_replies),
        ("vault", super::vault_file),
        ("index", super::index_json),
        ("usage", super::usage_log),
        ("config", super::config_toml),
        ("docker-config", super::docker_config),
        ("base64", super::base64),
    ];

    /// Every seed, and every input the fuzzer once crashed on (kept beside
    /// them), passes its target.
    #[test]
    fn every_seed_passes_its_fuzz_target() {
        for (kind, target) in TARGETS {
            for (name, bytes) in crate::corpus::inputs(kind) {
                let passed = std::panic::catch_unwind(|| target(&bytes));
                assert!(passed.is_ok(), "tests/corpus/{kind}/{name}");
            }
        }
    }
}
