#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the system packages the
# tests use (when run as root), then runs formatting and lint checks, the unit
# and integration tests (real GNOME Keyring, registry, Docker CLI, skopeo) and
# the packaging checks. Each test starts and stops its own daemons.
set -euo pipefail
cd "$(dirname "$0")/.."

# strace stages kill points and watches where secrets go; util-linux gives
# setpriv and prlimit (the core-dump and file-size tests), mount a tmpfs for the full-disk test;
# gdb takes a core of the helper as it exits, to search it for secrets.
packages=(dbus gnome-keyring libsecret-tools docker-registry apache2-utils skopeo keyutils strace gzip tmux dpkg util-linux util-linux mount gdb)
tools=(dbus-daemon dbus-send gnome-keyring-daemon secret-tool docker-registry htpasswd skopeo keyctl strace gzip tmux dpkg-deb setpriv prlimit mount gdb)

missing=()
for i in "${!tools[@]}"; do
  command -v "${tools[$i]}" >/dev/null 2>&1 || missing+=("${packages[$i]}")
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

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked -- --skip load::
# The 30-second loads run on their own: 64 helpers against one GNOME Keyring
# while other tests load the machine can push that keyring into a crash of its
# own (see tests/load.rs), which would say nothing about this helper.
echo "== cargo test (load)"
cargo test --locked --test integration -- load:: --test-threads=1
# The parsers' property tests again, longer, after replaying the seed corpus in
# tests/corpus/ (PROPTEST_CASES bounds the run; 256 cases in the run above).
echo "== property tests (PROPTEST_CASES=${PROPTEST_CASES:=2000})"
PROPTEST_CASES=$PROPTEST_CASES cargo test --locked --lib

# Every parser under coverage-guided fuzzing, 20 s each (FUZZING.md; tests/fuzz.sh 1800
# for the long runs). It needs the nightly toolchain; cargo-fuzz is installed if missing.
echo "== fuzzing (tests/fuzz.sh ${FUZZ_SECONDS:=20})"
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
  echo "== packaging/check.sh"
  packaging/check.sh
fi
echo "All tests passed."
