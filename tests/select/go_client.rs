//! The protocol table through docker-credential-helpers' own Go client
//! (Debian's source, built offline in GOPATH mode), with rules present that
//! match but choose nothing, so every verb runs the selection.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::conformance::{Helper, Step, run_table, scenarios};
use crate::support::*;

/// Rules of every kind; the one that matches everywhere names an integration
/// with no token, so the table's answers must stay exactly as they are.
const RULES: &str = "\
[[select]]
dir = \"/nonexistent/**\"
integration = \"elsewhere\"

[[select]]
env = \"DOCKER_PAT_TEST_UNSET\"
integration = \"unset\"

[[select]]
client = \"no-such-client\"
integration = \"nobody\"

[[select]]
integration = \"mirror\"
";

const GO_SOURCE: &str = r#"
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"
)

// One verb through the client library; the input on stdin, the outcome on stdout.
func main() {
	program := client.NewShellProgramFunc(os.Args[1])
	input, _ := io.ReadAll(os.Stdin)
	var out interface{} = "OK"
	var err error
	switch os.Args[2] {
	case "store":
		var creds credentials.Credentials
		if err = json.Unmarshal(input, &creds); err == nil {
			err = client.Store(program, &creds)
		}
	case "get":
		out, err = client.Get(program, string(input))
	case "erase":
		err = client.Erase(program, string(input))
	case "list":
		out, err = client.List(program)
	}
	if err != nil {
		fmt.Println("ERR " + err.Error())
		return
	}
	if ok, done := out.(string); done {
		fmt.Println(ok)
		return
	}
	text, _ := json.Marshal(out)
	fmt.Println(string(text))
}
"#;

/// Builds the Go client once per test.
fn build(dir: &Path) -> PathBuf {
    require_tool("go", "golang-go");
    let library =
        Path::new("/usr/share/gocode/src/github.com/docker/docker-credential-helpers/client");
    assert!(
        library.is_dir(),
        "the Go client's source is missing: run `apt-get install golang-github-docker-docker-credential-helpers-dev golang-golang-x-sys-dev` (tests/run.sh installs them)"
    );
    let source = dir.join("src/goclient");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("main.go"), GO_SOURCE).unwrap();
    let binary = dir.join("goclient");
    let output = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg(".")
        .current_dir(&source)
        .env("GO111MODULE", "off")
        .env("GOPATH", format!("{}:/usr/share/gocode", dir.display()))
        .env("GOCACHE", dir.join("cache"))
        .env("GOPROXY", "off")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "go build: {}", stderr(&output));
    binary
}

/// What the Go client reports for a step whose helper output the table gives.
fn through_go(step: &Step) -> String {
    let verb = step.args[0];
    let out = step.stdout.trim();
    if step.code == 0 {
        return match verb {
            "get" | "list" => out.to_owned(),
            _ => "OK".to_owned(),
        };
    }
    if verb == "get" && out == "credentials not found in native keychain" {
        return "ERR credentials not found in native keychain".to_owned();
    }
    let doing = match verb {
        "store" => "storing",
        "get" => "getting",
        "erase" => "erasing",
        _ => "listing",
    };
    let err = match out {
        "no credentials server URL" | "no credentials username" => out,
        _ => "exit status 1",
    };
    format!("ERR error {doing} credentials - err: {err}, out: `{out}`")
}

/// The helper run by the Go client; answers in the helper's own terms so the
/// table can compare: the Go client's report is checked against the step here.
struct GoClient<'a> {
    env: Env,
    binary: &'a Path,
}

impl Helper for GoClient<'_> {
    fn call(&self, args: &[&str], input: &str, vars: &[(&str, &str)]) -> std::process::Output {
        let mut command = self.env.command(self.binary.to_str().unwrap());
        command.arg(BIN).args(args);
        for (key, value) in vars {
            command.env(key, value);
        }
        run_with_input(command, input, "the Go client")
    }
}

#[test]
fn the_go_client_passes_the_protocol_table_with_rules_present() {
    let keyring = SecretService::start();
    let dir = tempfile::tempdir().unwrap();
    let binary = build(dir.path());
    let mut checked = 0;
    for scenario in scenarios() {
        let client = GoClient {
            env: Env::new(&keyring),
            binary: &binary,
        };
        client.env.write_config_toml(RULES);
        for (n, step) in scenario.steps.iter().enumerate() {
            // The Go client speaks only the four verbs, with well-formed requests.
            let speakable = matches!(step.args, ["store" | "get" | "erase" | "list"])
                && (step.args[0] != "store"
                    || serde_json::from_str::<serde_json::Value>(&step.input).is_ok());
            if !speakable {
                // Still run it on the helper itself, so later steps see its effect.
                client.env.call(step.args, &step.input, step.vars);
                continue;
            }
            let output = client.call(step.args, &step.input, step.vars);
            assert_eq!(
                stdout(&output).trim_end(),
                through_go(step),
                "{}, step {}: {:?} {:?}\nstderr: {}",
                scenario.name,
                n + 1,
                step.args,
                step.input,
                stderr(&output)
            );
            checked += 1;
        }
        // The rules matched, but chose nothing: every token is where the table put it.
        let tokens = ok(&client.env.run(&["tokens", "--json"], ""));
        for integration in ["elsewhere", "unset", "nobody", "mirror"] {
            assert!(
                !tokens.contains(&format!("\"integration\": \"{integration}\"")),
                "{}: a rule chose {integration}: {tokens}",
                scenario.name
            );
        }
    }
    assert!(
        checked > 40,
        "only {checked} steps went through the Go client"
    );
}

#[test]
fn the_helper_passes_the_protocol_table_with_rules_present() {
    let keyring = SecretService::start();
    run_table(|| {
        let env = Env::new(&keyring);
        env.write_config_toml(RULES);
        env
    });
}
