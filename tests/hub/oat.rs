//! `hub … --org ORG`: Docker Hub organisation access tokens, made, listed,
//! switched off and on, rotated, audited and deleted through the helper,
//! and what `docker login -u ORG` and `docker manifest inspect` against the
//! local registry (which takes its tokens from the Hub double) then do.

use super::{json, local, run_hub, tokens_json};
use crate::support::hub::{HubDouble, OrgToken};
use crate::support::hub_setup::*;
use crate::support::readme::*;
use crate::support::*;

const ORG: &str = "acme";
const NAME: &str = "ci@docker.io";

/// What `get` serves for Docker Hub: (username, secret).
fn served_login(env: &Env) -> (String, String) {
    let reply: serde_json::Value = serde_json::from_str(&ok(&env.get("docker.io"))).unwrap();
    (
        reply["Username"].as_str().unwrap().to_owned(),
        reply["Secret"].as_str().unwrap().to_owned(),
    )
}

/// A fresh machine and Hub, with alice, an owner of acme, signed in.
fn owner_signed_in() -> Setup {
    let setup = setup();
    setup.hub.add_org(ORG, &[USER]);
    login(&setup.env);
    setup
}

/// The organisation's token whose secret is `secret`.
#[track_caller]
fn org_token_with_secret(hub: &HubDouble, secret: &str) -> OrgToken {
    hub.org_tokens(ORG)
        .into_iter()
        .find(|t| t.secret == secret)
        .expect("the token is the organisation's")
}

#[test]
fn an_organisation_token_is_created_stored_as_the_org_and_used_switched_rotated_and_deleted_end_to_end()
 {
    let Setup {
        env,
        hub,
        keyring: _keyring,
    } = owner_signed_in();
    let registry = HubRegistry::start(&hub);
    let host = registry.registry.host.clone();

    // Made with its resources, stored as ci@docker.io with the organisation as username.
    let out = ok(&run_hub(
        &env,
        &[
            words(
                "create --org acme -i ci --repo acme/* --scopes image-pull,image-push --expires 30",
            ),
            vec!["--description", "pushes from CI"],
        ]
        .concat(),
    ));
    let (user, oat) = served_login(&env);
    assert_eq!(user, ORG, "stored with the organisation as username");
    let made = hub.org_tokens(ORG);
    assert_eq!(made.len(), 1);
    let first = made[0].clone();
    assert_eq!(first.secret, oat);
    assert_eq!(first.description, "pushes from CI");
    assert_eq!(first.resources.len(), 1);
    assert_eq!(first.resources[0].path, "acme/*");
    assert_eq!(
        first.resources[0].scopes,
        ["scope-image-pull", "scope-image-push"]
    );
    assert!(first.expires_at.is_some());
    assert!(
        out.starts_with(&format!(
            "Created ci@docker.io on Docker Hub as organisation access token {} of acme: label \"ci@",
            &first.id[..8]
        )) && out.contains("reaching acme/*: image-pull, image-push, expires on ")
            && out.contains("It is stored with acme as its username, as `docker login -u acme` expects"),
        "{out}"
    );
    let listed = tokens_json(&env);
    let record = local(&listed, NAME);
    assert_eq!(record["username"], ORG);
    assert_eq!(record["hub_id"], first.id.as_str());
    assert_eq!(record["hub_org"], ORG);
    assert_eq!(record["hub_resources"][0]["path"], "acme/*");
    assert!(record["expires_at"].is_string());

    // Docker uses it: a push through the helper, then `docker login -u acme` and an inspect.
    let reference = format!("{host}/acme/app:1");
    push_through_bridge(&env, &bridge(&env), &registry.registry, &reference);
    assert!(hub.org_token(&first.id).unwrap().last_used_at.is_some());
    assert!(
        !docker_login_reads(
            &env,
            &host,
            "acme/app",
            ORG,
            "dckr_oat_notatokenatallnotatokenat"
        ),
        "the check can see a refusal"
    );
    assert!(docker_login_reads(&env, &host, "acme/app", ORG, &oat));

    // Hub's listing beside the stored tokens, with what each reaches.
    let rows = json(&run_hub(&env, &["tokens", "--org", ORG, "--json"]));
    assert_eq!(rows[0]["uuid"], first.id.as_str());
    assert_eq!(rows[0]["local"], NAME);
    assert_eq!(rows[0]["resources"][0]["path"], "acme/*");
    assert!(rows[0]["last_used"].is_string());
    let table = ok(&run_hub(&env, &["tokens", "--org", ORG, "--wide"]));
    assert!(
        table.contains("REACHES") && table.contains("acme/*: image-pull, image-push"),
        "{table}"
    );
    // `tokens` shows Hub's view from the record.
    let listed = tokens_json(&env);
    let view = &local(&listed, NAME)["registry_view"];
    assert_eq!(view["state"], "active", "{view}");
    assert_eq!(view["scopes"][0], "acme/*: image-pull, image-push");

    // The personal listing neither shows nor marks it.
    ok(&run_hub(&env, &["tokens", "--json"]));
    assert_eq!(
        local(&tokens_json(&env), NAME)["registry_view"]["state"],
        "active"
    );

    // Deactivated (the record says which organisation: no --org needed), then activated.
    let out = ok(&run_hub(&env, &["deactivate", NAME]));
    assert_eq!(out, "Deactivated ci@docker.io on Docker Hub and here\n");
    assert!(!hub.org_token(&first.id).unwrap().is_active);
    assert_eq!(local(&tokens_json(&env), NAME)["active"], false);
    assert!(!docker_login_reads(&env, &host, "acme/app", ORG, &oat));
    ok(&run_hub(&env, &["activate", "--org", ORG, NAME]));
    assert!(hub.org_token(&first.id).unwrap().is_active);
    assert!(docker_login_reads(&env, &host, "acme/app", ORG, &oat));

    // Rotated: same label, resources and expiry length; checked with the
    // organisation's name; stored in place; the old one switched off.
    let out = ok(&run_hub(&env, &["rotate", NAME]));
    let (user, new) = served_login(&env);
    assert_eq!(user, ORG);
    assert_ne!(new, oat);
    let second = org_token_with_secret(&hub, &new);
    assert!(
        out.starts_with("Rotated ci@docker.io: the new token"),
        "{out}"
    );
    assert_eq!(second.label, first.label);
    assert_eq!(
        second.description, "pushes from CI",
        "carried from the record"
    );
    assert_eq!(second.resources, first.resources);
    let length =
        |t: &crate::support::hub::OrgToken| (t.expires_at.unwrap() - t.created_at).num_minutes();
    assert!((length(&second) - length(&first)).abs() <= 1);
    assert!(
        second.last_used_at.is_some(),
        "checked at /v2/auth/token as acme"
    );
    assert!(!hub.org_token(&first.id).unwrap().is_active);
    assert_eq!(
        local(&tokens_json(&env), NAME)["hub_id"],
        second.id.as_str()
    );
    assert!(docker_login_reads(&env, &host, "acme/app", ORG, &new));
    assert!(!docker_login_reads(&env, &host, "acme/app", ORG, &oat));
    ok(&env.run(&["history", NAME], ""));

    // The audit: Hub's last use against the latest use known here.
    let out = ok(&run_hub(&env, &["audit", "--org", ORG]));
    assert!(
        out.starts_with("ok         ci@docker.io: Docker Hub's last use ("),
        "{out}"
    );
    hub.advance_clock(chrono::Duration::minutes(20));
    assert_eq!(hub.use_directly(ORG, &new), 200);
    let audit = run_hub(&env, &["audit", "--org", ORG]);
    assert_eq!(audit.status.code(), Some(3), "{}", stdout(&audit));
    assert!(
        stdout(&audit).starts_with("suspicious ci@docker.io: Docker Hub saw it used at "),
        "{}",
        stdout(&audit)
    );
    let audit = run_hub(&env, &["audit", "--org", ORG, "--json"]);
    assert_eq!(audit.status.code(), Some(3));
    let items: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(items[0]["status"], "suspicious");
    // doctor runs the organisation's audit too, while the session is open
    // (and says nothing of the account's own tokens, of which none is linked).
    let doctor = env.run(&["doctor", "--json"], "");
    assert_eq!(doctor.status.code(), Some(3), "{}", stdout(&doctor));
    let findings: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert!(
        findings
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "hub-audit"
                && f["status"] == "problem"
                && f["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("ci@docker.io: Docker Hub saw it used at ")),
        "{findings}"
    );
    let hub_checks = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "hub-audit")
        .count();
    assert_eq!(hub_checks, 1, "{findings}");
    // The personal audit does not judge it.
    let personal = run_hub(&env, &["audit"]);
    assert_eq!(personal.status.code(), Some(0), "{}", stdout(&personal));

    // --delete-old deletes the replaced token instead; then delete the token itself.
    ok(&run_hub(&env, &["rotate", NAME, "--delete-old"]));
    assert!(hub.org_token(&second.id).is_none());
    let (_, newest) = served_login(&env);
    let third = org_token_with_secret(&hub, &newest);
    let out = ok(&run_hub(&env, &["delete", NAME]));
    assert_eq!(out, "Deleted ci@docker.io on Docker Hub and here\n");
    assert!(hub.org_token(&third.id).is_none());
    assert!(served(&env).is_none());
    assert!(!docker_login_reads(&env, &host, "acme/app", ORG, &newest));
}

#[test]
fn organisation_tokens_need_an_owner_and_bad_input_is_one_line_with_nothing_made() {
    let Setup {
        env,
        hub,
        keyring: _keyring,
    } = setup();
    hub.add_org(ORG, &["carol"]);
    login(&env);
    let line = error_line(&run_hub(&env, &["tokens", "--org", ORG]));
    assert!(
        line.contains("only an owner of the organisation acme manages its access tokens")
            && line.contains("sign in as one of its owners"),
        "{line}"
    );
    let line = error_line(&run_hub(
        &env,
        &words("create --org acme -i ci --repo acme/app"),
    ));
    assert!(
        line.contains("only an owner of the organisation acme"),
        "{line}"
    );
    assert!(hub.org_tokens(ORG).is_empty());

    hub.add_org("beta", &[USER]);
    for (args, says) in [
        (
            "create --org beta -i ci --repo other/app",
            "is not a repository of beta",
        ),
        (
            "create --org beta -i ci",
            "say which repositories the token reaches: --repo beta/NAME",
        ),
        (
            "create --org beta -i ci --repo beta/app --scopes admin",
            "unknown scope \"admin\"",
        ),
        (
            "create --org Beta/.. -i ci --repo beta/app",
            "is not a Docker Hub organisation name",
        ),
        (
            "create --org beta -i ci --repo beta/app --expires 400",
            "within one year",
        ),
    ] {
        let line = error_line(&run_hub(&env, &words(args)));
        assert!(line.contains(says), "{args}: {line}");
    }
    assert!(hub.org_tokens("beta").is_empty());
    assert!(
        tokens_json(&env).as_array().unwrap().is_empty(),
        "nothing stored"
    );

    // A personal token named with --org, and an organisation token with another organisation.
    ok(&run_hub(&env, &words("create -i mine")));
    let line = error_line(&run_hub(
        &env,
        &["deactivate", "--org", "beta", "mine@docker.io"],
    ));
    assert!(
        line.contains(
            "is a personal Docker Hub token, not one of the organisation beta: leave out --org"
        ),
        "{line}"
    );
    ok(&run_hub(
        &env,
        &words("create --org beta -i ci --repo beta/app"),
    ));
    hub.add_org("gamma", &[USER]);
    let line = error_line(&run_hub(&env, &["rotate", "--org", "gamma", NAME]));
    assert!(
        line.contains("is an access token of the Docker Hub organisation beta: give --org beta"),
        "{line}"
    );

    // The organisation's token cap: Hub's refusal in one line, nothing stored.
    hub.set_org_token_limit("beta", 1);
    let line = error_line(&run_hub(
        &env,
        &words("create --org beta -i second --repo beta/app"),
    ));
    assert!(
        line.starts_with("Docker Hub refused to create the token: This organization already has 1 access tokens, its limit"),
        "{line}"
    );
    assert_eq!(hub.org_tokens("beta").len(), 1);
    let stored = tokens_json(&env);
    assert!(
        stored
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["token"] != "second@docker.io"),
        "{stored}"
    );
}

/// The session in the README's "Organisation access tokens", run against the
/// double and a registry that takes its tokens, as the personal session is
/// (`readme_hub_session_runs_as_shown`): every `$` line runs as written and
/// prints what the README shows, but for ids, dates and times. Between the
/// blocks: CI pushes `acme/app` with `ci@docker.io`; 25 minutes later the pull
/// token is used somewhere else; then someone who is not an owner signs in.
#[test]
fn readme_organisation_session_runs_as_shown() {
    let readme = readme();
    let blocks = console_blocks(readme_section(&readme, "### Organisation access tokens"));
    assert_eq!(blocks.len(), 4, "the session is in four console blocks");
    let Setup {
        mut env,
        hub,
        keyring: _keyring,
    } = setup();
    hub.add_org(ORG, &[USER]);
    hub.add_user("bob", PASSWORD);
    let registry = HubRegistry::start(&hub);
    env.set("COLUMNS", "80");
    login(&env);
    let mut commands = 0;
    for (part, block) in blocks.iter().enumerate() {
        match part {
            1 => {
                let reference = format!("{}/acme/app:1", registry.registry.host);
                push_through_bridge(&env, &bridge(&env), &registry.registry, &reference);
            }
            2 => {
                hub.advance_clock(chrono::Duration::minutes(25));
                let pull = hub
                    .org_tokens(ORG)
                    .into_iter()
                    .find(|t| t.label.starts_with("pull@"))
                    .unwrap();
                assert_eq!(hub.use_directly(ORG, &pull.secret), 200);
            }
            3 => {
                ok(&env.run(
                    &["hub", "login", "--username", "bob", "--password-stdin"],
                    PASSWORD,
                ));
            }
            _ => {}
        }
        for (shown, expected) in block {
            let (words, from) = shell_words(shown);
            assert_eq!(words[0], "docker-credential-pat", "{shown}");
            assert!(from.is_none(), "{shown}");
            let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
            let code = match part {
                _ if args.starts_with(&["hub", "audit"]) => 3,
                3 => 1,
                _ => 0,
            };
            runs_as_shown(&env, (shown, expected), &args, "", code);
            commands += 1;
        }
    }
    assert_eq!(commands, 9, "the README's session has nine commands");
}

/// An expired organisation token can only be deleted on Hub: rotating one
/// stores a working replacement and takes the refusal to deactivate the old
/// one as done (it works nowhere any more); `tokens --expiring` and `doctor`
/// warned of it before.
#[test]
fn an_expiring_organisation_token_is_warned_of_and_an_expired_one_rotates() {
    let Setup {
        env,
        hub,
        keyring: _keyring,
    } = owner_signed_in();
    ok(&run_hub(
        &env,
        &words("create --org acme -i ci --repo acme/app --expires 5"),
    ));
    let expiring = env.run(&["tokens", "--expiring", "10"], "");
    assert_eq!(expiring.status.code(), Some(3), "{}", stderr(&expiring));
    assert!(stdout(&expiring).contains("ci@docker.io"));
    let doctor = stdout(&env.run(&["doctor"], ""));
    assert!(
        doctor.contains("ci@docker.io") && doctor.contains("expires"),
        "{doctor}"
    );

    let (_, old) = served_login(&env);
    let first = hub.org_tokens(ORG).remove(0);
    hub.set_org_token_expires_at(
        &first.id,
        Some(chrono::Utc::now() - chrono::Duration::hours(1)),
    );
    let line = error_line(&run_hub(&env, &["deactivate", NAME]));
    assert!(
        line.contains("only deleted"),
        "Hub's refusal, in one line: {line}"
    );
    let out = ok(&run_hub(&env, &["rotate", NAME]));
    assert!(out.starts_with("Rotated ci@docker.io"), "{out}");
    let (user, new) = served_login(&env);
    assert_eq!(user, ORG);
    assert_ne!(new, old);
    let second = org_token_with_secret(&hub, &new);
    assert!(second.expires_at.unwrap() > chrono::Utc::now());
    let audit = ok(&run_hub(&env, &["audit", "--org", ORG]));
    assert!(
        !audit.contains(&first.id[..8]),
        "nothing left retiring: {audit}"
    );
}

/// An organisation token stored by `docker login -u acme` (here `add`) is
/// linked with `hub link --org`, taking what it reaches from Hub; linked
/// again without `--org`, its record says whose it is, and it stays an
/// organisation token.
#[test]
fn an_organisation_token_stored_earlier_is_linked_and_stays_the_organisations() {
    let Setup {
        env,
        hub,
        keyring: _keyring,
    } = owner_signed_in();
    let (id, secret) = hub.add_org_token(
        ORG,
        "made on Hub",
        &[("TYPE_REPO", "acme/*", &["scope-image-pull"])],
        None,
    );
    ok(&env.run(
        &["add", "docker.io", "-u", ORG, "-i", "bot"],
        &format!("{secret}\n"),
    ));
    let line = error_line(&run_hub(&env, &["link", "bot@docker.io", &id[..8]]));
    assert!(
        line.contains("belongs to acme on Docker Hub")
            && line.ends_with("(or, if acme is an organisation, give --org acme)"),
        "{line}"
    );
    let out = ok(&run_hub(
        &env,
        &["link", "--org", ORG, "bot@docker.io", &id[..8]],
    ));
    assert_eq!(
        out,
        format!(
            "Linked bot@docker.io to Docker Hub organisation access token {id} of acme (label \"made on Hub\", reaching acme/*: image-pull)\n"
        )
    );
    let listed = tokens_json(&env);
    let record = local(&listed, "bot@docker.io");
    assert_eq!(record["hub_id"], id.as_str());
    assert_eq!(record["hub_org"], ORG);
    assert_eq!(record["hub_resources"][0]["path"], "acme/*");
    ok(&run_hub(&env, &["link", "bot@docker.io", &id]));
    let listed = tokens_json(&env);
    assert_eq!(
        local(&listed, "bot@docker.io")["hub_org"],
        ORG,
        "still the organisation's"
    );
    ok(&run_hub(&env, &["deactivate", "bot@docker.io"]));
    assert!(!hub.org_token(&id).unwrap().is_active);
}
