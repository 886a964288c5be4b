//! Quick packaging checks that need no root: versions and script syntax.
//! `packaging/check.sh` does the rest (dpkg -i, rpmspec, ruby -c).

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap()
}

#[test]
fn every_recipe_carries_the_cargo_toml_version() {
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        read("packaging/docker-credential-pat.spec")
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Version:", version])
    );
    assert!(
        read("packaging/arch/PKGBUILD")
            .lines()
            .any(|l| l == format!("pkgver={version}"))
    );
    assert!(
        read("packaging/homebrew/docker-credential-pat.rb")
            .contains(&format!("/v{version}.tar.gz\""))
    );
}

#[test]
fn scripts_parse() {
    for script in [
        "install.sh",
        "packaging/build-deb.sh",
        "packaging/check.sh",
        "packaging/set-checksum.sh",
        "packaging/arch/PKGBUILD",
    ] {
        let status = Command::new("bash")
            .arg("-n")
            .arg(repo().join(script))
            .status()
            .unwrap();
        assert!(status.success(), "bash -n {script}");
    }
}

#[test]
fn completions_cover_the_new_commands() {
    let bin = env!("CARGO_BIN_EXE_docker-credential-pat");
    for shell in ["bash", "zsh", "fish"] {
        let output = Command::new(bin)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success());
        let text = String::from_utf8(output.stdout).unwrap();
        for word in [
            "doctor", "repair", "import", "dry-run", "remove", "hub", "rotate", "audit", "expiring",
        ] {
            assert!(text.contains(word), "{shell} completion lacks {word}");
        }
    }
}
