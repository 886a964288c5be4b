#!/usr/bin/env bash
# Measures the vault backend: Argon2 unlock at the default parameters, `get`
# with a cached key against docker-credential-pass (same run), and `get`
# when no key cache is used. Needs a release build, hyperfine, pass and gpg.
# Everything lives in a temporary folder, removed on exit.
set -euo pipefail

BIN=${BIN:-"$(cd "$(dirname "$0")/.." && pwd)/target/release/docker-credential-pat"}
RUNS=${RUNS:-200}
. "$(dirname "$0")/common.sh"
needs hyperfine:hyperfine pass:pass gpg:gnupg docker-credential-pass:golang-docker-credential-helpers
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }

work=$(mktemp -d)
cleanup() {
    DOCKER_PAT_HOME="$work/pat" "$BIN" vault lock >/dev/null 2>&1 || true
    GNUPGHOME="$work/gnupg" gpgconf --kill all 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -m 700 "$work/pat" "$work/gnupg"
unset DBUS_SESSION_BUS_ADDRESS DOCKER_PAT_PASSPHRASE DOCKER_PAT_INTEGRATION
export DOCKER_PAT_HOME="$work/pat" DOCKER_PAT_BACKEND=file
printf 'bench passphrase\n' > "$work/passphrase"
export DOCKER_PAT_PASSPHRASE_FILE="$work/passphrase"
request='{"ServerURL":"bench.example","Username":"bench","Secret":"dckr_pat_benchmarkbenchmarkbenchmark"}'

"$BIN" vault init
echo "$request" | "$BIN" store

# docker-credential-pass with a throwaway gpg key and password store.
export GNUPGHOME="$work/gnupg" PASSWORD_STORE_DIR="$work/store"
gpg --batch --quiet --passphrase '' --quick-gen-key 'bench <bench@example.invalid>' default default never 2>/dev/null
fpr=$(gpg --list-keys --with-colons | awk -F: '/^fpr/ {print $10; exit}')
pass init "$fpr" >/dev/null
echo "$request" | docker-credential-pass store
echo bench.example | docker-credential-pass get >/dev/null

echo "== Argon2id unlock at the default parameters (m=19456 KiB, t=2, p=1)"
hyperfine -N --warmup 3 --runs 30 --export-json "$work/unlock.json" "$BIN vault unlock"

echo "== get: cached key vs docker-credential-pass"
# Through a shell for the pipe; hyperfine subtracts the shell's own start-up.
hyperfine --warmup 10 --runs "$RUNS" --export-json "$work/get.json" \
    "echo bench.example | $BIN get" "echo bench.example | docker-credential-pass get"

echo "== get with no key cache (vault_cache_seconds = 0): Argon2 on every call"
"$BIN" vault lock >/dev/null
echo 'vault_cache_seconds = 0' > "$work/pat/config.toml"
hyperfine --warmup 3 --runs 30 --export-json "$work/uncached.json" "echo bench.example | $BIN get"

echo "== medians"
for run in unlock get uncached; do
    python3 -c 'import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%7.1f ms  %s" % (r["median"] * 1000, r["command"].replace(sys.argv[2], "docker-credential-pat")))' \
        "$work/$run.json" "$BIN"
done
