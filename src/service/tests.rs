//! The service's unit tests: the protocol verbs and token management over an in-memory store.

use std::rc::Rc;

use super::*;
use crate::error::ServiceError;
use crate::secret::Secret;
use crate::store::memory::MemoryStore;

fn service(config: &str) -> (tempfile::TempDir, Service, Rc<MemoryStore>) {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::home(dir.path().into());
    let (service, store) = Service::in_memory(paths, Config::parse(config).unwrap());
    (dir, service, store)
}

fn secret(text: &str) -> Secret {
    Secret::from_str_copy(text)
}

const PAT: &str = "dckr_pat_abcdefghijklmnopqrstuvwxyz0";

#[test]
fn store_then_get_returns_the_secret() {
    let (_dir, service, _) = service("");
    service
        .protocol_store("https://index.docker.io/v1/", "alice", &secret(PAT))
        .unwrap();
    let (user, got) = service.protocol_get("docker.io").unwrap();
    assert_eq!((user.as_str(), got.expose()), ("alice", PAT));
    assert_eq!(
        service.protocol_list().unwrap(),
        vec![("https://index.docker.io/v1/".into(), "alice".into())]
    );
}

#[test]
fn get_after_erase_is_not_found_and_the_secret_is_gone() {
    let (_dir, service, store) = service("");
    service
        .protocol_store("127.0.0.1:5000", "bob", &secret("pw"))
        .unwrap();
    service.protocol_erase("http://127.0.0.1:5000/").unwrap();
    assert!(matches!(
        service.protocol_get("127.0.0.1:5000"),
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        service.protocol_erase("127.0.0.1:5000"),
        Err(ServiceError::NotFound)
    ));
    assert_eq!(store.len(), 0);
    assert!(service.load_index().unwrap().retired.is_empty());
}

#[test]
fn replacing_a_secret_removes_the_old_item() {
    let (_dir, service, store) = service("");
    service
        .protocol_store("ghcr.io", "bob", &secret("one"))
        .unwrap();
    service
        .protocol_store("ghcr.io", "bob2", &secret("two"))
        .unwrap();
    assert_eq!(store.len(), 1);
    let (user, got) = service.protocol_get("ghcr.io").unwrap();
    assert_eq!((user.as_str(), got.expose()), ("bob2", "two"));
}

#[test]
fn refused_password_keeps_existing_token() {
    let (_dir, service, store) = service("[two_factor]\n\"docker.io\" = [\"alice\"]\n");
    service
        .protocol_store("docker.io", "alice", &secret(PAT))
        .unwrap();
    let err = service
        .protocol_store("docker.io", "alice", &secret("hunter2"))
        .unwrap_err();
    assert!(matches!(err, ServiceError::Refused(_)));
    assert_eq!(service.protocol_get("docker.io").unwrap().1.expose(), PAT);
    assert_eq!(store.len(), 1);
}

#[test]
fn unreachable_store_changes_nothing() {
    let (_dir, service, store) = service("");
    service
        .protocol_store("ghcr.io", "bob", &secret("one"))
        .unwrap();
    let file = crate::index::registry_file(&service.paths, &Registry::parse("ghcr.io").unwrap());
    let before = std::fs::read(&file).unwrap();
    store.fail.set(true);
    assert!(matches!(
        service.protocol_store("ghcr.io", "bob", &secret("two")),
        Err(ServiceError::Store(_))
    ));
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn unknown_token_names_the_closest() {
    let (_dir, service, _) = service("");
    service
        .protocol_store("docker.io", "alice", &secret(PAT))
        .unwrap();
    let err = service
        .set_active(&["defualt@docker.io".into()], false)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no token named defualt@docker.io; did you mean default@docker.io?"
    );
}

#[test]
fn rename_keeps_secret_and_default() {
    let (_dir, service, _) = service("");
    service
        .protocol_store("docker.io", "alice", &secret(PAT))
        .unwrap();
    service.rename("default@docker.io", "laptop").unwrap();
    assert_eq!(service.protocol_get("docker.io").unwrap().1.expose(), PAT);
    let index = service.load_index().unwrap();
    assert_eq!(
        index
            .registry(&Registry::DockerHub)
            .unwrap()
            .default
            .as_deref(),
        Some("laptop")
    );
}
