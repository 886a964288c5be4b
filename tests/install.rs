//! install.sh end to end: into a temporary prefix with a temporary Docker config,
//! then `import`, the Docker CLI through the installed helper, `doctor`, and `--uninstall`.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

fn source_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The target folder this test binary was built in, so install.sh reuses its cache.
fn target_dir() -> PathBuf {
    Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf()
}

/// Where rustup and cargo keep their files; the test's HOME is a temporary one.
fn toolchain_vars(command: &mut Command) {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    for (var, default) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
        match std::env::var_os(var) {
            Some(value) => {
                command.env(var, value);
            }
            None => {
                if let Some(home) = &home {
                    command.env(var, home.join(default));
                }
            }
        }
    }
    if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
        command.env("RUSTUP_TOOLCHAIN", toolchain);
    }
}

/// PATH with `first` in front, and cargo's own folder at the end in case PATH lacks it.
fn path_with(first: &Path) -> String {
    let mut dirs = vec![first.to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    if let Some(cargo) = option_env!("CARGO").map(Path::new).and_then(Path::parent) {
        dirs.push(cargo.to_path_buf());
    }
    std::env::join_paths(dirs).unwrap().into_string().unwrap()
}

/// Runs `install.sh ARGS` as a user would, with the default data folder under the test's HOME.
fn install_sh(env: &Env, prefix: &Path, args: &[&str]) -> Output {
    let mut command = env.command("bash");
    command
        .arg(source_dir().join("install.sh"))
        .args(args)
        .env_remove("DOCKER_PAT_HOME")
        .env("PATH", path_with(&prefix.join("bin")))
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_NET_OFFLINE", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    toolchain_vars(&mut command);
    let child = command.spawn().expect("run install.sh");
    // The first release build takes minutes on a small machine.
    wait_with_timeout(child, Duration::from_secs(45 * 60), "install.sh")
}

/// Runs a program with the installed helper first on PATH and the default data folder.
fn installed(env: &Env, prefix: &Path, program: &str, args: &[&str]) -> Output {
    let mut command = env.command(program);
    command
        .args(args)
        .env_remove("DOCKER_PAT_HOME")
        .env("PATH", path_with(&prefix.join("bin")))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    wait_with_timeout(command.spawn().unwrap(), Duration::from_secs(120), program)
}

/// What install.sh puts under its prefix, and `--uninstall` takes away.
const INSTALLED: [&str; 5] = [
    "bin/docker-credential-pat",
    "share/man/man1/docker-credential-pat.1",
    "share/bash-completion/completions/docker-credential-pat",
    "share/zsh/site-functions/_docker-credential-pat",
    "share/fish/vendor_completions.d/docker-credential-pat.fish",
];

#[test]
fn install_then_import_then_uninstall() {
    let password = "install-test-pass";
    let keyring = SecretService::start();
    let registry = Registry::start(password);
    let host = registry.host.clone();
    let image = format!("{host}/demo/installed:1");
    registry.push_with_plaintext(REGISTRY_USER, password, &image);

    let env = Env::new(&keyring);
    let prefix = env.root.path().join("prefix");
    let auth = base64(format!("{REGISTRY_USER}:{password}").as_bytes());
    env.write_config_json(&format!(
        "{{\n\t\"auths\": {{\n\t\t\"{host}\": {{\n\t\t\t\"auth\": \"{auth}\"\n\t\t}}\n\t}},\n\t\"detachKeys\": \"ctrl-q\",\n\t\"currentContext\": \"default\"\n}}"
    ));

    let output = install_sh(&env, &prefix, &["--prefix", prefix.to_str().unwrap()]);
    let text = ok(&output);
    for file in INSTALLED {
        let path = prefix.join(file);
        assert!(path.is_file(), "{file} is installed");
        assert!(
            text.contains(&format!("Installed {}", path.display())),
            "{text}"
        );
    }
    assert_eq!(mode_of(&prefix.join("bin/docker-credential-pat")), 0o755);
    let man =
        std::fs::read_to_string(prefix.join("share/man/man1/docker-credential-pat.1")).unwrap();
    assert!(man.contains(".TH") && man.contains("doctor"));
    assert!(
        text.contains("docker-credential-pat doctor:") && text.contains("plaintext:"),
        "install.sh ends with doctor, which sees the plaintext login:\n{text}"
    );
    assert!(
        !stderr(&output).contains("not on PATH"),
        "{}",
        stderr(&output)
    );
    let config: Value = serde_json::from_str(&env.config_json()).unwrap();
    assert_eq!(config["credsStore"], "pat", "install.sh configured Docker");

    let import = installed(&env, &prefix, "docker-credential-pat", &["import"]);
    assert!(ok(&import).contains("Imported"), "{}", stdout(&import));

    let text = env.config_json();
    let config: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(config["detachKeys"], "ctrl-q");
    assert_eq!(config["currentContext"], "default");
    assert_eq!(config["auths"][&host], serde_json::json!({}));
    assert!(
        !text.contains(&auth) && !text.contains(password),
        "the plaintext is gone"
    );
    let backups = std::fs::read_dir(env.docker_config())
        .unwrap()
        .map(Result::unwrap)
        .filter(|e| e.file_name().to_string_lossy().contains(".pat-backup-"))
        .count();
    assert!(backups >= 1, "a backup exists");
    assert!(keyring.holds(password));

    let manifest = installed(
        &env,
        &prefix,
        "docker",
        &["manifest", "inspect", "--insecure", &image],
    );
    assert!(
        ok(&manifest).contains("schemaVersion"),
        "{}",
        stderr(&manifest)
    );

    let doctor = installed(&env, &prefix, "docker-credential-pat", &["doctor"]);
    assert_eq!(
        doctor.status.code(),
        Some(0),
        "doctor is green:\n{}{}",
        stdout(&doctor),
        stderr(&doctor)
    );

    let again = install_sh(
        &env,
        &prefix,
        &["--prefix", prefix.to_str().unwrap(), "--no-configure"],
    );
    ok(&again);

    let output = install_sh(
        &env,
        &prefix,
        &["--uninstall", "--prefix", prefix.to_str().unwrap()],
    );
    let text = ok(&output);
    assert!(text.contains("delete --all"), "{text}");
    for file in INSTALLED {
        assert!(absent(&prefix.join(file)), "{file} is removed");
    }
    let config: Value = serde_json::from_str(&env.config_json()).unwrap();
    assert!(config.get("credsStore").is_none(), "{config}");
    assert_eq!(config["detachKeys"], "ctrl-q");
    assert!(keyring.holds(password), "uninstall keeps the tokens");
}

/// A folder holding only the named programs, to run install.sh without the others.
fn tools(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        let found = std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{name} is needed for this test"));
        symlink(found, dir.path().join(name)).unwrap();
    }
    dir
}

fn install_sh_with_path(path: &Path, args: &[&str]) -> Output {
    let env = Env::without_keychain();
    let mut command = env.command("/bin/bash");
    command
        .arg(source_dir().join("install.sh"))
        .args(args)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    toolchain_vars(&mut command);
    wait_with_timeout(
        command.spawn().unwrap(),
        Duration::from_secs(60),
        "install.sh",
    )
}

#[test]
fn install_sh_without_cargo_says_how_to_get_it() {
    let tools = tools(&["dirname"]);
    let output = install_sh_with_path(tools.path(), &["--prefix", "/nonexistent/prefix"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("cargo")
            && message.contains("rustup")
            && message.contains("apt-get install cargo"),
        "{message}"
    );
}

#[test]
fn install_sh_without_a_c_compiler_says_how_to_get_one() {
    let tools = tools(&["dirname", "sed", "head", "sort", "cargo", "rustc"]);
    let output = install_sh_with_path(tools.path(), &["--prefix", "/nonexistent/prefix"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("C compiler") && message.contains("build-essential"),
        "{message}"
    );
}

#[test]
fn install_sh_with_a_rustup_that_has_no_toolchain_says_how_to_choose_one() {
    let tools = tools(&["dirname", "sed", "head", "sort", "grep", "cargo", "rustc"]);
    let empty = tempfile::tempdir().unwrap();
    let env = Env::without_keychain();
    let mut command = env.command("/bin/bash");
    command
        .arg(source_dir().join("install.sh"))
        .args(["--prefix", "/nonexistent/prefix"])
        .env("PATH", tools.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    toolchain_vars(&mut command);
    // A rustup with no toolchain installed, as a new user has before `rustup default`.
    command
        .env("RUSTUP_HOME", empty.path())
        .env_remove("RUSTUP_TOOLCHAIN");
    let output = wait_with_timeout(
        command.spawn().unwrap(),
        Duration::from_secs(60),
        "install.sh",
    );
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("Rust is installed but does not work")
            && message.contains("rustup default stable"),
        "{message}"
    );
}

#[test]
fn install_sh_rejects_unknown_options() {
    let output = install_sh_with_path(Path::new("/usr/bin:/bin"), &["--prefx", "/tmp/x"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("unknown option: --prefx"));
    let help = install_sh_with_path(Path::new("/usr/bin:/bin"), &["--help"]);
    let text = ok(&help);
    assert!(
        text.contains("--uninstall")
            && text.contains("--no-configure")
            && text.contains("--prefix")
    );
}
