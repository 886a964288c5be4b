#!/usr/bin/env bash
# `get` and `store` on the keychain backend, whole processes, for several
# builds of the helper side by side: how a change to the Secret Service
# client shows. Each build gets its own data folder holding 10 tokens in one
# private GNOME Keyring, and is measured on a plain and an encrypted session.
#
# The builds take turns: ROUNDS rounds (default 6) of 15 runs of each build,
# so a machine whose load changes during the run favours none of them.
#
# Usage: tests/bench/secret-service.sh [--keep RUN] NAME=BINARY [NAME=BINARY...]
#   e.g. tests/bench/secret-service.sh --keep restructured before=/tmp/old/docker-credential-pat \
#          after=target/release/docker-credential-pat
#   --keep RUN  keep the measurements as tests/bench/results/RUN.json and write
#               BENCHMARKS.md's side-by-side figures again from every run kept
#               (report.py); without it the table is only printed.
# Needs: hyperfine, gnome-keyring, dbus, python3 (installed with apt-get as root).
set -euo pipefail
# The machine's load is part of what a figure means: kept beside it.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
ROOT_DIR=$(cd "$(dirname "$0")/../.." && pwd)
COMMAND=tests/bench/secret-service.sh
for arg in "$@"; do COMMAND+=" $arg"; done
KEEP=""
if [ "${1:-}" = --keep ]; then KEEP=${2:?--keep needs a name}; shift 2; fi
[ $# -ge 1 ] || { sed -n '2,15p' "$0" >&2; exit 2; }
. "$(dirname "$0")/common.sh"
needs hyperfine:hyperfine gnome-keyring-daemon:gnome-keyring dbus-daemon:dbus-daemon dbus-send:dbus-bin python3:python3

WORK=$(mktemp -d /tmp/pat-ss-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

private_keyring

printf 'registry0000.example.com:5000' >"$WORK/addr"
printf '{"ServerURL":"registry0000.example.com:5000","Username":"user","Secret":"dckr_pat_BENCHSTOREDSECRETVALUE_0000"}\n' >"$WORK/store"
NAMES=()
declare -A BIN
for spec in "$@"; do
  name=${spec%%=*}
  BIN[$name]=$(realpath "${spec#*=}")
  NAMES+=("$name")
  home="$WORK/pat-$name"
  mkdir -p "$home" && chmod 700 "$home"
  for i in $(seq 0 9); do
    printf '{"ServerURL":"registry%04d.example.com:5000","Username":"user","Secret":"dckr_pat_ABCDEFGHIJKLMNOPQRSTUVWX_%04d"}\n' "$i" "$i" |
      DOCKER_PAT_HOME=$home DOCKER_PAT_BACKEND=keychain "${BIN[$name]}" store
  done
done

mkdir -p "$WORK/results"
for session in plain encrypted; do
  for name in "${NAMES[@]}"; do
    printf 'secret_service_session = "%s"\n' "$session" >"$WORK/pat-$name/config.toml"
  done
  for op in get store; do
    for round in $(seq "${ROUNDS:-6}"); do
      for name in "${NAMES[@]}"; do
        run="DOCKER_PAT_HOME=$WORK/pat-$name DOCKER_PAT_BACKEND=keychain ${BIN[$name]}"
        case $op in
          get) cmd="$run get <$WORK/addr >/dev/null" ;;
          store) cmd="$run store <$WORK/store" ;;
        esac
        echo "   $name $op ($session), round $round" >&2
        hyperfine --style none --warmup 3 --runs 15 \
          --export-json "$WORK/results/$name.$op.$session.$round.json" "$cmd" >/dev/null
      done
    done
  done
done

python3 - "$WORK/results" "${NAMES[@]}" <<'EOF'
import glob, json, statistics, sys
results, names = sys.argv[1], sys.argv[2:]
print("| build | operation | session | median | mean ± σ | min | runs |")
print("|---|---|---|---|---|---|---|")
for session in ("plain", "encrypted"):
    for op in ("get", "store"):
        for name in names:
            times = []
            for path in sorted(glob.glob(f"{results}/{name}.{op}.{session}.*.json")):
                times += json.load(open(path))["results"][0]["times"]
            ms = [t * 1000 for t in times]
            print(f"| {name} | `{op}` | {session} | {statistics.median(ms):.2f} ms | "
                  f"{statistics.mean(ms):.2f} ± {statistics.stdev(ms):.2f} ms | {min(ms):.2f} ms | {len(ms)} |")
EOF

if [ -n "$KEEP" ]; then
  MACHINE="$(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), Linux $(uname -r); load average (1, 5, 15 min) $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
  VERSIONS="gnome-keyring $(dpkg-query -W -f '${Version}' gnome-keyring 2>/dev/null || echo '?'); hyperfine $(hyperfine --version | awk '{print $2}')"
  mkdir -p "$ROOT_DIR/tests/bench/results"
  python3 "$ROOT_DIR/tests/bench/report.py" collect-side "$WORK/results" "$ROOT_DIR/tests/bench/results/$KEEP.json" \
    "$KEEP" "$COMMAND" "$MACHINE" "$VERSIONS" "${NAMES[@]}"
  python3 "$ROOT_DIR/tests/bench/report.py" render "$ROOT_DIR"/tests/bench/results/*.json -- \
    "$ROOT_DIR/BENCHMARKS.md" "$ROOT_DIR/README.md"
  echo "== kept tests/bench/results/$KEEP.json; rewrote the figures in BENCHMARKS.md and README.md" >&2
fi
