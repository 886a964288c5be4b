//! docker, skopeo, podman and buildah authenticate as the account the
//! directory chooses; the registry's log says which.

use std::path::Path;

use super::*;
use crate::support::accounts::*;

/// One client's run, named for the message.
type Client<'a> = Box<dyn Fn() -> std::process::Output + 'a>;

/// Every client, run in `dir`, reaches the registry as `expected` only.
fn every_client_is(
    env: &Env,
    accounts: &Accounts,
    storage: &Storage,
    dir: &Path,
    tag: &str,
    expected: &str,
) {
    let host = accounts.host();
    let layout = format!("oci:{}:latest", env.root.path().join("layout").display());
    let clients: [(&str, Client<'_>); 5] = [
        (
            "skopeo copy",
            Box::new(|| {
                env.client_in(
                    dir,
                    "skopeo",
                    &[
                        "copy",
                        "--dest-tls-verify=false",
                        &layout,
                        &format!("docker://{host}/skopeo/small:{tag}"),
                    ],
                    "",
                )
            }),
        ),
        (
            "docker manifest inspect",
            Box::new(|| {
                env.client_in(
                    dir,
                    "docker",
                    &[
                        "manifest",
                        "inspect",
                        "--insecure",
                        &format!("{host}/skopeo/small:{tag}"),
                    ],
                    "",
                )
            }),
        ),
        (
            "podman push",
            Box::new(|| storage.push(env, dir, "podman", &format!("{host}/podman/small:{tag}"))),
        ),
        (
            "podman pull",
            Box::new(|| {
                storage.podman(
                    env,
                    dir,
                    &[
                        "pull",
                        "-q",
                        "--tls-verify=false",
                        &format!("{host}/podman/small:{tag}"),
                    ],
                )
            }),
        ),
        (
            "buildah push",
            Box::new(|| storage.push(env, dir, "buildah", &format!("{host}/buildah/small:{tag}"))),
        ),
    ];
    for (what, run) in clients {
        let mark = accounts.mark();
        ok(&run());
        assert_eq!(
            accounts.users_since(mark),
            [expected],
            "{what} in {} should reach the registry as {expected}",
            dir.display()
        );
    }
}

#[test]
fn clients_authenticate_as_the_account_their_directory_chooses() {
    let keyring = SecretService::start();
    let accounts = Accounts::start();
    let host = accounts.host().to_owned();
    let mut env = wired(&keyring, &host);
    // bob's token is the registry's default; alice's belongs to `work`.
    ok(&env.store(&host, BOB, PAT2));
    as_integration(&mut env, "work", |env| ok(&env.store(&host, ALICE, PAT)));
    let work = env.home_dir("work/app");
    let oss = env.home_dir("oss/lib");
    let storage = Storage::new(&env, "localhost/select/small:1");

    // Without rules, every directory gets the default: the log can tell bob from alice.
    every_client_is(&env, &accounts, &storage, &work, "none", BOB);

    env.write_config_toml(WORK_RULE);
    every_client_is(&env, &accounts, &storage, &work, "work", ALICE);
    every_client_is(&env, &accounts, &storage, &oss, "oss", BOB);
    as_integration(&mut env, "default", |env| {
        every_client_is(env, &accounts, &storage, &work, "forced", BOB)
    });

    // `exec` fixes the selection whatever the directory says.
    for (dir, integration, expected) in [(&oss, "work", ALICE), (&work, "default", BOB)] {
        let mark = accounts.mark();
        let reference = format!("{host}/skopeo/small:work");
        ok(&env.client_in(
            dir,
            BIN,
            &[
                "exec",
                "--integration",
                integration,
                "--",
                "docker",
                "manifest",
                "inspect",
                "--insecure",
                &reference,
            ],
            "",
        ));
        assert_eq!(
            accounts.users_since(mark),
            [expected],
            "exec --integration {integration}"
        );
    }

    // The last use says which rule chose the token, never the directory.
    let tokens = ok(&env.run(&["tokens", "--json"], ""));
    let tokens: serde_json::Value = serde_json::from_str(&tokens).unwrap();
    let work_token = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["integration"] == "work")
        .unwrap();
    assert_eq!(
        work_token["last_chosen_by"], "DOCKER_PAT_INTEGRATION",
        "exec named it last"
    );
    let history = ok(&env.run(&["history", &format!("work@{host}"), "--json"], ""));
    assert!(history.contains("\"chosen_by\": \"rule 1\""), "{history}");
    assert!(!history.contains("work/app"), "{history}");
    for file in files_under(&env.pat_home()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("work/app"),
            "{} records the directory",
            file.display()
        );
    }
}
