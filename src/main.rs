//! Entry point: hand the arguments to the library and turn its answer into an exit code.

fn main() -> std::process::ExitCode {
    docker_credential_pat::run(std::env::args_os().collect())
}
