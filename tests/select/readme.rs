//! The README's "Several accounts" session, run as written: two accounts on
//! the local registry, a rule for `~/work`, and docker, podman and skopeo in
//! the two directories.

use super::*;
use crate::support::accounts::*;
use crate::support::readme::*;

/// Every `$` line of the session runs as written (`cd DIR && …` as a shell
/// would, the README's registry address, runtime folder and home being this
/// test's) and prints what the README shows, but for the width of the table
/// columns, which the longer port number here changes.
#[test]
fn readme_several_accounts_session_runs_as_shown() {
    let readme = readme();
    let section = readme_section(&readme, "## Several accounts");
    let blocks = console_blocks(section);
    assert_eq!(blocks.len(), 1, "the session is one console block");
    let keyring = SecretService::start();
    let accounts = Accounts::start();
    let host = accounts.host().to_owned();
    let mut env = Env::new(&keyring);
    // As `./install.sh` leaves Docker: every registry through the helper.
    env.write_config_json("{\"credsStore\":\"pat\"}");
    let runtime = env.root.path().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    env.set("XDG_RUNTIME_DIR", runtime.to_str().unwrap());
    let storage = Storage::new(&env, "localhost/app:1");
    let home = env.home().display().to_string();
    let here = |text: &str| {
        text.replace("127.0.0.1:5000", &host)
            .replace("/run/user/1000", runtime.to_str().unwrap())
            .replace("/home/you", &home)
    };
    let mut cwd = env.home();
    let mut commands = 0;
    for (shown, expected) in &blocks[0] {
        let (shown, expected) = (here(shown), here(expected));
        let mut line = shown.as_str();
        if let Some(rest) = line.strip_prefix("cd ") {
            let (dir, command) = rest.split_once(" && ").expect("cd DIR && COMMAND");
            cwd = env.home_dir(dir.strip_prefix("~/").expect("a folder in ~"));
            line = command;
        }
        let quiet = line.ends_with(" >/dev/null");
        let (words, from) = shell_words(line.trim_end_matches(" >/dev/null"));
        let input = match from.as_deref() {
            None => "",
            Some("~/alice-token.txt") => PAT,
            Some("~/bob-token.txt") => PAT2,
            Some(other) => panic!("the README reads {other}, which this test does not know"),
        };
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let output = match words[0].as_str() {
            // The README shows the config it runs with: that is this test's config.toml.
            "cat" => {
                assert_eq!(args, ["~/.config/docker-credential-pat/config.toml"]);
                env.write_config_toml(&expected);
                env.run_program(
                    "cat",
                    &[env.pat_home().join("config.toml").to_str().unwrap()],
                    "",
                )
            }
            "podman" => storage.podman(&env, &cwd, &args),
            program => env.client_in(&cwd, program, &args, input),
        };
        let shown_stdout = if quiet {
            String::new()
        } else {
            stdout(&output)
        };
        let printed = format!("{shown_stdout}{}", without_docker_log(&stderr(&output)));
        printed_as_shown(
            &output,
            &squeezed(&printed),
            (&shown, &squeezed(&expected)),
            0,
        );
        commands += 1;
    }
    assert_eq!(commands, 11, "the README's session has eleven commands");
}
