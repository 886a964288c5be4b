//! The README's one-minute walkthrough, run as written: Docker, skopeo and
//! the helper against two local registries, on a private GNOME Keyring.

use crate::support::readme::*;
use crate::support::*;

/// Every `$` line runs as written and prints what the README shows, but for
/// dates, times and the width of table columns (the registries' ports here
/// are this test's). `./install.sh` is its `configure-docker` step, whose
/// output the README leaves out. The registry on 5000 keeps one password for
/// alice, so `my-token.txt` and `ci-token.txt` hold the same token; the one on
/// 5001 takes alice's password.
#[test]
fn readme_walkthrough_runs_as_shown() {
    const PASSWORD: &str = "correct-horse-battery-staple";
    let blocks = console_blocks(readme_section(&readme(), "## One-minute walkthrough"));
    assert_eq!(blocks.len(), 4, "the walkthrough is four console blocks");
    let keyring = SecretService::start();
    let registry = Registry::start(PAT);
    let second = Registry::start(PASSWORD);
    let mut env = Env::new(&keyring);
    let runtime = env.root.path().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    env.set("XDG_RUNTIME_DIR", runtime.to_str().unwrap());
    let home = env.home().display().to_string();
    let cwd = env.home();
    make_oci_layout(&cwd.join("img"));
    let here = |text: &str| {
        text.replace("127.0.0.1:5000", &registry.host)
            .replace("127.0.0.1:5001", &second.host)
            .replace("/run/user/1000", runtime.to_str().unwrap())
            .replace("/home/you", &home)
    };
    let mut commands = 0;
    for (shown, expected) in blocks.iter().flatten() {
        let (shown, expected) = (here(shown), here(expected));
        let twice = shown.ends_with("# twice");
        let line = uncommented(&shown);
        let quiet = line.ends_with(" >/dev/null");
        let (words, from) = shell_words(line.trim_end_matches(" >/dev/null"));
        let input = match from.as_deref() {
            None => "",
            Some("my-token.txt" | "ci-token.txt") => PAT,
            Some("my-password.txt") => PASSWORD,
            Some(other) => panic!("the README reads {other}, which this test does not know"),
        };
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        commands += 1;
        let output = match (words[0].as_str(), args.as_slice()) {
            ("./install.sh", []) => {
                ok(&env.run(&["configure-docker"], ""));
                continue;
            }
            ("export", [assignment]) => {
                let (name, value) = assignment.split_once('=').unwrap();
                env.set(name, value);
                continue;
            }
            ("unset", [name]) => {
                env.vars.retain(|(k, _)| k != name);
                continue;
            }
            ("docker-credential-pat", _) => env.run(&args, input),
            (program, _) => {
                if twice {
                    ok(&env.client_in(&cwd, program, &args, input));
                }
                env.client_in(&cwd, program, &args, input)
            }
        };
        let shown_stdout = if quiet {
            String::new()
        } else {
            stdout(&output)
        };
        let printed = format!("{shown_stdout}{}", without_docker_log(&stderr(&output)));
        // Docker's two refusals in the README end with status 1.
        let code = if expected.starts_with("Get \"http") || expected.starts_with("Error saving") {
            1
        } else {
            0
        };
        printed_as_shown(
            &output,
            &squeezed(&printed),
            (&shown, &squeezed(&expected)),
            code,
        );
    }
    assert_eq!(commands, 16, "the walkthrough has sixteen commands");
}
