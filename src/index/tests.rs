//! The index's unit tests: records, reading, writing and the bucket layout together.

use std::path::Path;

use chrono::Utc;

use super::check::{FORMAT_VERSION, LEGACY_VERSION};
use super::*;
use crate::config::Paths;
use crate::fsutil;
use crate::names::{Integration, TokenName};
use crate::policy::SecretKind;
use crate::registry::Registry;
use crate::select::Selection;
use crate::store::BackendKind;

fn token(item: &str, active: bool) -> TokenRecord {
    let now = Utc::now();
    TokenRecord {
        id: crate::ids::new_id(),
        secret: SecretRef {
            backend: BackendKind::Keychain,
            item: item.into(),
            hint: None,
        },
        username: "alice".into(),
        server_url: "https://index.docker.io/v1/".into(),
        description: None,
        created_at: now,
        rotated_at: now,
        active,
        kind: SecretKind::Token,
        expires_at: None,
        hub: None,
        remote: None,
        seen: None,
    }
}

fn name(text: &str) -> TokenName {
    TokenName::parse(text).unwrap()
}

#[test]
fn select_uses_default_unless_an_integration_is_named() {
    let mut index = Index::default();
    index.insert(&name("laptop@docker.io"), token("a", true));
    index.insert(&name("ci@docker.io"), token("b", true));
    assert!(
        index
            .select(&Registry::DockerHub, &Selection::default())
            .is_none(),
        "no default chosen yet"
    );
    index.set_default(&name("laptop@docker.io"));
    assert_eq!(
        index
            .select(&Registry::DockerHub, &Selection::default())
            .unwrap()
            .1
            .secret
            .item,
        "a"
    );
    let ci = Integration::parse("ci").unwrap();
    assert_eq!(
        index
            .select(&Registry::DockerHub, &Selection::forced(ci.clone()))
            .unwrap()
            .1
            .secret
            .item,
        "b"
    );
    let other = Integration::parse("other").unwrap();
    assert!(
        index
            .select(&Registry::DockerHub, &Selection::forced(other.clone()))
            .is_none(),
        "never falls back"
    );
}

#[test]
fn inactive_tokens_are_not_selected() {
    let mut index = Index::default();
    index.insert(&name("default@docker.io"), token("a", false));
    index.set_default(&name("default@docker.io"));
    assert!(
        index
            .select(&Registry::DockerHub, &Selection::default())
            .is_none()
    );
}

#[test]
fn replacing_and_removing_retire_the_old_secret() {
    let mut index = Index::default();
    index.insert(&name("ci@ghcr.io"), token("old", true));
    index.insert(&name("ci@ghcr.io"), token("new", true));
    assert_eq!(
        index
            .retired
            .iter()
            .map(|r| r.item.as_str())
            .collect::<Vec<_>>(),
        ["old"]
    );
    index.set_default(&name("ci@ghcr.io"));
    index.remove(&name("ci@ghcr.io")).unwrap();
    assert!(index.registries.is_empty(), "an empty registry is dropped");
    assert_eq!(index.retired.len(), 2);
}

#[test]
fn round_trips_through_json() {
    let mut index = Index {
        version: FORMAT_VERSION,
        ..Index::default()
    };
    index.insert(&name("ci@docker.io"), token("a", true));
    index.set_default(&name("ci@docker.io"));
    let bytes = index.to_bytes();
    let again = Index::parse(&bytes, Path::new("index.json")).unwrap();
    assert_eq!(again.to_bytes(), bytes);
}

fn paths(dir: &Path) -> Paths {
    Paths::home(dir.into())
}

fn legacy_index() -> Index {
    let mut index = Index {
        version: LEGACY_VERSION,
        ..Index::default()
    };
    index.insert(&name("ci@docker.io"), token("a", true));
    index.insert(&name("default@ghcr.io"), token("b", false));
    index.set_default(&name("ci@docker.io"));
    index
}

#[test]
fn records_without_expiry_or_hub_link_still_read_and_write_the_same() {
    let old = br#"{"version":1,"registries":{"docker.io":{"default":"ci","tokens":{"ci":{"id":"i","secret":{"backend":"keychain","item":"s"},"username":"alice","server_url":"docker.io","created_at":"2026-01-01T00:00:00Z","rotated_at":"2026-01-01T00:00:00Z","active":true,"kind":"token"}}}}}"#;
    let index = Index::parse(old, Path::new("i")).unwrap();
    let token = index.token(&name("ci@docker.io")).unwrap();
    assert!(token.expires_at.is_none() && token.hub.is_none());
    assert_eq!(index.to_bytes(), [&old[..], b"\n"].concat());
    let mut index = index;
    let token = index.token_mut(&name("ci@docker.io")).unwrap();
    token.expires_at = Some("2027-03-01T00:00:00Z".parse().unwrap());
    token.hub = Some(HubLink {
        uuid: "u".into(),
        scopes: vec!["repo:read".into()],
        retiring: None,
        used_before_link: None,
        ..HubLink::default()
    });
    let again = Index::parse(&index.to_bytes(), Path::new("i")).unwrap();
    let token = again.token(&name("ci@docker.io")).unwrap();
    assert_eq!(token.hub.as_ref().unwrap().scopes, ["repo:read"]);
    assert_eq!(
        token.expires_at.unwrap().to_rfc3339(),
        "2027-03-01T00:00:00+00:00"
    );
}

#[test]
fn snapshot_reads_one_registry_and_the_listing() {
    let dir = tempfile::tempdir().unwrap();
    let paths = paths(dir.path());
    assert!(
        Snapshot::of_registry(&paths, &Registry::DockerHub)
            .unwrap()
            .is_none()
    );
    assert!(Snapshot::all(&paths).unwrap().is_empty());
    std::fs::write(paths.index_file(), legacy_index().to_bytes()).unwrap();
    for converted in [false, true] {
        if converted {
            IndexWriter::begin(&paths).unwrap().save().unwrap();
        }
        let snapshot = Snapshot::of_registry(&paths, &Registry::DockerHub)
            .unwrap()
            .unwrap();
        let hub = snapshot.registry(&Registry::DockerHub).unwrap().unwrap();
        assert_eq!(
            hub.select(&Registry::DockerHub, &Selection::default())
                .unwrap()
                .1
                .secret
                .item,
            "a"
        );
        let quay = Registry::parse("quay.io").unwrap();
        assert!(
            Snapshot::of_registry(&paths, &quay)
                .unwrap()
                .is_none_or(|s| s.registry(&quay).unwrap().is_none())
        );
        let mut listed = Vec::new();
        for snapshot in Snapshot::all(&paths).unwrap() {
            snapshot.list(&Selection::default(), &mut listed).unwrap();
        }
        // ghcr.io has no default and an inactive token.
        assert_eq!(
            listed,
            [("https://index.docker.io/v1/".to_owned(), "alice".to_owned())]
        );
        let ci = Integration::parse("ci").unwrap();
        let mut listed = Vec::new();
        for snapshot in Snapshot::all(&paths).unwrap() {
            snapshot
                .list(&Selection::forced(ci.clone()), &mut listed)
                .unwrap();
        }
        assert_eq!(listed.len(), 1);
    }
    let bucket = layout::bucket_path(&paths, layout::bucket_of("docker.io"));
    std::fs::write(&bucket, b"{\"version\":2,\"registries\":{\"docker.io\":").unwrap();
    let snapshot = Snapshot::of_registry(&paths, &Registry::DockerHub)
        .unwrap()
        .unwrap();
    assert!(matches!(
        snapshot.registry(&Registry::DockerHub),
        Err(IndexError::Corrupt { .. })
    ));
}

#[test]
fn first_format_index_is_converted_whole_on_the_first_write() {
    let dir = tempfile::tempdir().unwrap();
    let paths = paths(dir.path());
    let legacy = legacy_index();
    std::fs::write(paths.index_file(), legacy.to_bytes()).unwrap();
    // An interrupted earlier conversion left a stray bucket: not in force.
    fsutil::ensure_private_dir(&paths.index_dir()).unwrap();
    std::fs::write(layout::bucket_path(&paths, 7), b"stale").unwrap();
    assert_eq!(Index::load(&paths).unwrap().names(), legacy.names());
    let mut writer = IndexWriter::begin_for(&paths, &Registry::DockerHub).unwrap();
    writer.index.set_default(&name("ci@docker.io"));
    writer.save().unwrap();
    let marker = std::fs::read_to_string(paths.index_file()).unwrap();
    assert!(marker.starts_with("{\"version\":2"), "{marker}");
    assert!(
        !layout::bucket_path(&paths, 7).exists(),
        "stray bucket removed"
    );
    let files: Vec<u8> = layout::bucket_files(&paths)
        .unwrap()
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    let mut expected = vec![layout::bucket_of("docker.io"), layout::bucket_of("ghcr.io")];
    expected.sort();
    assert_eq!(files, expected);
    let again = Index::load(&paths).unwrap();
    assert_eq!(again.names(), legacy.names());
    assert_eq!(
        again
            .registry(&Registry::DockerHub)
            .unwrap()
            .default
            .as_deref(),
        Some("ci")
    );
}

#[test]
fn a_registry_writer_touches_only_its_own_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let paths = paths(dir.path());
    std::fs::write(paths.index_file(), legacy_index().to_bytes()).unwrap();
    IndexWriter::begin(&paths).unwrap().save().unwrap();
    let ghcr = layout::bucket_path(&paths, layout::bucket_of("ghcr.io"));
    let before = std::fs::metadata(&ghcr).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut writer = IndexWriter::begin_for(&paths, &Registry::DockerHub).unwrap();
    assert_eq!(writer.index.registries.len(), 1, "only docker.io is loaded");
    writer.index.remove(&name("ci@docker.io")).unwrap();
    writer.save().unwrap();
    assert_eq!(
        std::fs::metadata(&ghcr).unwrap().modified().unwrap(),
        before
    );
    // docker.io is now empty but its secret is retired, so its bucket stays.
    let index = Index::load(&paths).unwrap();
    assert_eq!(index.names(), ["default@ghcr.io"]);
    assert_eq!(index.retired.len(), 1);
    writer.index.retired.clear();
    writer.save().unwrap();
    assert!(
        !layout::bucket_path(&paths, layout::bucket_of("docker.io")).exists(),
        "an empty bucket is removed"
    );
    assert!(Index::load(&paths).unwrap().retired.is_empty());
    // Outside its registry a scoped writer refuses to write.
    writer.index.insert(&name("x@quay.io"), token("q", true));
    assert!(matches!(writer.save(), Err(IndexError::Internal(_))));
}

#[test]
fn a_registry_in_the_wrong_bucket_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let paths = paths(dir.path());
    std::fs::write(paths.index_file(), legacy_index().to_bytes()).unwrap();
    IndexWriter::begin(&paths).unwrap().save().unwrap();
    let from = layout::bucket_path(&paths, layout::bucket_of("ghcr.io"));
    let to = layout::bucket_path(&paths, layout::bucket_of("ghcr.io").wrapping_add(1));
    std::fs::rename(from, to).unwrap();
    let error = Index::load(&paths).err().unwrap();
    assert!(
        error.to_string().contains("does not belong in this file"),
        "{error}"
    );
    let (mut writer, damage) = IndexWriter::begin_for_repair(&paths).unwrap();
    assert!(damage.is_some());
    assert_eq!(writer.index.names(), ["ci@docker.io"]);
    writer.save().unwrap();
    assert_eq!(Index::load(&paths).unwrap().names(), ["ci@docker.io"]);
}

#[test]
fn a_damaged_marker_in_front_of_intact_buckets_loses_nothing_on_repair() {
    let dir = tempfile::tempdir().unwrap();
    let paths = paths(dir.path());
    std::fs::write(paths.index_file(), legacy_index().to_bytes()).unwrap();
    IndexWriter::begin(&paths).unwrap().save().unwrap();
    std::fs::write(paths.index_file(), b"{\"vers").unwrap();
    assert!(matches!(
        Index::load(&paths),
        Err(IndexError::Corrupt { .. })
    ));
    let (mut writer, damage) = IndexWriter::begin_for_repair(&paths).unwrap();
    assert!(damage.is_some());
    assert_eq!(writer.index.names().len(), 2);
    writer.save().unwrap();
    assert_eq!(Index::load(&paths).unwrap().names().len(), 2);
}

#[test]
fn a_stray_byte_where_get_would_refuse_it_is_damage_to_the_full_parse_too() {
    let bytes = b"{\"version\":1,\"registries\":{\"ghcr.io\":{\"unknown\":\"\xff\"}}}";
    let path = Path::new("index.json");
    let snapshot = Snapshot::from_bytes(bytes.to_vec(), path.to_owned(), None);
    let ghcr = Registry::parse("ghcr.io").unwrap();
    assert!(snapshot.registry(&ghcr).is_err());
    assert!(matches!(
        Index::parse(bytes, path),
        Err(IndexError::Corrupt { .. })
    ));
}

#[test]
fn only_an_object_is_an_index_as_list_reads_it() {
    // Found by fuzzing: serde read `[1]` as an index that `list` refused.
    let path = Path::new("index/93.json");
    for bytes in [&b"[1]\n"[..], b" \n[]", b"1", b"\"x\""] {
        assert!(
            matches!(Index::parse(bytes, path), Err(IndexError::Corrupt { .. })),
            "{bytes:?}"
        );
    }
    assert!(Index::parse(b"\n {\"version\":1,\"registries\":{}}", path).is_ok());
}

#[test]
fn a_bucket_whose_listing_line_list_cannot_read_is_damaged() {
    // Found by fuzzing: a listing cut short on its line, closed on the next,
    // read as an index while `list` refused it.
    let bytes = b"{\"version\":2,\"listing\":{\"ghcr.io\":{\"tokens\":{}}\n,\"registries\":{}}}";
    let path = Path::new("index/7.json");
    assert!(Index::parse(bytes, path).is_ok());
    let bucket = bucket_of("ghcr.io");
    assert!(matches!(
        Index::parse_bucket(bytes, path, bucket),
        Err(IndexError::Corrupt { .. })
    ));
}

#[test]
fn damaged_index_is_an_error_naming_the_file() {
    let err = Index::parse(
        b"{\"version\":1,\"registries\":{",
        Path::new("/x/index.json"),
    )
    .err()
    .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("/x/index.json") && text.contains("doctor --repair"),
        "{text}"
    );
    let err = Index::parse(
        br#"{"version":1,"registries":{"Docker.IO":{"tokens":{}}}}"#,
        Path::new("i"),
    )
    .err();
    assert!(err.is_some(), "non-canonical key is rejected");
}
