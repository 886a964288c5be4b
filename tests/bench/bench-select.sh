#!/usr/bin/env bash
# `get` side by side with no [[select]] rules and with ten: the rules must cost
# nothing measurable on the hot path. Two data folders with the same tokens
# (the vault, its key cached, so the secret store adds as little as it can);
# in one, config.toml has ten rules, nine that do not match here (dir, env,
# client, registry) and a tenth that does, so every rule is evaluated on every
# call. The two take turns: ROUNDS rounds (default 6) of 30 runs each, so a
# machine whose load changes during the run favours neither. Needs a release
# build and hyperfine. Everything lives in a temporary folder, removed on exit.
#
# Usage: tests/bench/bench-select.sh [--keep RUN]
#   --keep RUN  keep the measurements as tests/bench/results/RUN.json and write
#               BENCHMARKS.md's side-by-side figures again from every run kept
#               (report.py); without it the table is only printed.
set -euo pipefail
# The machine's load is part of what a figure means: kept beside it.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

ROOT_DIR=$(cd "$(dirname "$0")/../.." && pwd)
COMMAND=tests/bench/bench-select.sh
for arg in "$@"; do COMMAND+=" $arg"; done
KEEP=""
if [ "${1:-}" = --keep ]; then KEEP=${2:?--keep needs a name}; fi
BIN=${BIN:-"$(cd "$(dirname "$0")/../.." && pwd)/target/release/docker-credential-pat"}
command -v hyperfine >/dev/null || { echo "hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }

work=$(mktemp -d)
cleanup() {
    for home in plain rules; do
        DOCKER_PAT_HOME="$work/$home" "$BIN" vault lock >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
unset DBUS_SESSION_BUS_ADDRESS DOCKER_PAT_PASSPHRASE DOCKER_PAT_INTEGRATION
export DOCKER_PAT_BACKEND=file HOME="$work/home"
mkdir -p "$HOME/work/app"
printf 'bench passphrase\n' > "$work/passphrase"
export DOCKER_PAT_PASSPHRASE_FILE="$work/passphrase"

for home in plain rules; do
    mkdir -m 700 "$work/$home"
    export DOCKER_PAT_HOME="$work/$home"
    "$BIN" vault init >/dev/null
    echo '{"ServerURL":"bench.example","Username":"bob","Secret":"dckr_pat_benchmarkbenchmarkbenchmarkb"}' | "$BIN" store
    echo '{"ServerURL":"bench.example","Username":"alice","Secret":"dckr_pat_benchmarkbenchmarkbenchmarka"}' |
        DOCKER_PAT_INTEGRATION=work "$BIN" store
    "$BIN" vault unlock >/dev/null
done
{
    for i in 1 2 3; do printf '[[select]]\ndir = "~/elsewhere-%s/**"\nintegration = "work"\n\n' "$i"; done
    for i in 1 2; do printf '[[select]]\nenv = "BENCH_UNSET_%s"\nintegration = "work"\n\n' "$i"; done
    for c in skopeo podman; do printf '[[select]]\nclient = "%s"\nintegration = "work"\n\n' "$c"; done
    printf '[[select]]\nregistry = "ghcr.io"\nintegration = "work"\n\n'
    printf '[[select]]\ndir = "/nonexistent/**"\nenv = "HOME"\nintegration = "work"\n\n'
    printf '[[select]]\ndir = "~/work/**"\nintegration = "work"\n'
} > "$work/rules/config.toml"

cd "$HOME/work/app"
case $(printf bench.example | DOCKER_PAT_HOME="$work/rules" "$BIN" get) in
    *'"Username":"alice"'*) ;;
    *) echo "the tenth rule did not choose alice's token" >&2; exit 1 ;;
esac
case $(printf bench.example | DOCKER_PAT_HOME="$work/plain" "$BIN" get) in
    *'"Username":"bob"'*) ;;
    *) echo "without rules, get did not return bob's token" >&2; exit 1 ;;
esac

# Through a shell for the pipe; hyperfine subtracts the shell's own start-up.
mkdir -p "$work/results"
for round in $(seq "${ROUNDS:-6}"); do
    for build in no-rules ten-rules; do
        home=plain
        [ "$build" = ten-rules ] && home=rules
        echo "   get, $build, round $round" >&2
        hyperfine --style none --warmup 5 --runs 30 \
            --export-json "$work/results/$build.get.vault.$round.json" \
            "printf bench.example | DOCKER_PAT_HOME=$work/$home $BIN get" >/dev/null || { echo "get failed:" >&2; printf bench.example | DOCKER_PAT_HOME=$work/$home $BIN get >&2; exit 1; }
    done
done

if [ -n "$KEEP" ]; then
    MACHINE="$(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), Linux $(uname -r); load average (1, 5, 15 min) $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    VERSIONS="docker-credential-pat $("$BIN" version | awk '{print $NF}'); hyperfine $(hyperfine --version | awk '{print $2}')"
    mkdir -p "$ROOT_DIR/tests/bench/results"
    python3 "$ROOT_DIR/tests/bench/report.py" collect-side "$work/results" "$ROOT_DIR/tests/bench/results/$KEEP.json" \
        "$KEEP" "$COMMAND" "$MACHINE" "$VERSIONS" no-rules ten-rules
    python3 "$ROOT_DIR/tests/bench/report.py" render "$ROOT_DIR"/tests/bench/results/*.json -- \
        "$ROOT_DIR/BENCHMARKS.md" "$ROOT_DIR/README.md"
    echo "== kept tests/bench/results/$KEEP.json; rewrote the figures in BENCHMARKS.md and README.md" >&2
else
    python3 - "$work/results" <<'PY'
import glob, json, statistics, sys
for build in ("no-rules", "ten-rules"):
    times = []
    for path in sorted(glob.glob(f"{sys.argv[1]}/{build}.get.vault.*.json")):
        times += json.load(open(path))["results"][0]["times"]
    print(f"{build}: median {statistics.median(times) * 1000:.2f} ms over {len(times)} runs")
PY
fi
