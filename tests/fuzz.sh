#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that reads bytes the helper does not
# control (fuzz/fuzz_targets/), each seeded from tests/corpus/.
#
# Usage: tests/fuzz.sh SECONDS [--record] [TARGET...]
#   SECONDS   how long each target runs
#   --record  append the results table to FUZZING.md (runs of 10 minutes
#             and more are recorded without asking)
#   TARGET    only these targets (default: all of them)
#
# Fails on any crash, panic, hang (an input that takes over 10 s), leak or
# memory blow-up (over 2 GiB); the input that did it is kept in
# fuzz/artifacts/TARGET/, to be added to tests/corpus/ once fixed. What the
# fuzzer learns is kept in fuzz/corpus/TARGET/ (not committed) for the next run.
#
# Needs a nightly toolchain and cargo-fuzz: `cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:?usage: tests/fuzz.sh SECONDS [--record] [TARGET...]}
shift
RECORD=0
if [ "${1:-}" = --record ]; then
  RECORD=1
  shift
fi
[ "$SECONDS_EACH" -ge 600 ] && RECORD=1

# Each target and the corpus folders that seed it (the same pairs as the
# replay test in src/fuzzing.rs).
declare -A SEEDS=(
  [protocol_request]="store address"
  [dbus_replies]="dbus"
  [vault_file]="vault"
  [index_json]="index"
  [usage_log]="usage"
  [config_toml]="config"
  [docker_config]="docker-config"
  [base64]="base64"
  [address]="address"
)
ALL=(protocol_request dbus_replies vault_file index_json usage_log config_toml docker_config base64 address)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "tests/fuzz.sh needs a nightly toolchain and cargo-fuzz: rustup toolchain install nightly; cargo install cargo-fuzz" >&2
  exit 2
fi

echo "== building the fuzz targets" >&2
cargo +nightly fuzz build >&2
BIN_DIR="fuzz/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"

WORK=$(mktemp -d /tmp/pat-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RESULTS="$WORK/results"
: >"$RESULTS"
failed=()

for target in "${TARGETS[@]}"; do
  [ -n "${SEEDS[$target]:-}" ] || { echo "unknown target $target" >&2; exit 2; }
  # Seeds: one file per input; a .txt file holds one input per line.
  seeds="$WORK/seeds-$target"
  mkdir -p "$seeds" "fuzz/corpus/$target" "fuzz/artifacts/$target"
  for kind in ${SEEDS[$target]}; do
    for file in tests/corpus/"$kind"/*; do
      name=$(basename "$file")
      if [[ $name == *.txt ]]; then
        n=0
        while IFS= read -r line || [ -n "$line" ]; do
          n=$((n + 1))
          [ -n "$line" ] && printf '%s' "$line" >"$seeds/$kind-$name-$n"
        done <"$file"
      else
        cp "$file" "$seeds/$kind-$name"
      fi
    done
  done
  echo "== $target: ${SECONDS_EACH} s" >&2
  log="$WORK/$target.log"
  status=0
  # The binary cargo fuzz built, run directly: `cargo fuzz run` would rebuild first.
  "$BIN_DIR/$target" "fuzz/corpus/$target" "$seeds" \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -detect_leaks=1 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$target/" \
    >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  if [ "$status" -eq 0 ]; then
    result=ok
  else
    result="FAILED ($(grep -m1 -oE 'ERROR: libFuzzer: [a-z-]+|panicked at [^ ]+|Test unit written to [^ ]+' "$log" || echo "exit $status"))"
    failed+=("$target")
    echo "!! $target failed; the log ends:" >&2
    tail -40 "$log" >&2
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s | %s MB | %s |\n' \
    "$target" "$SECONDS_EACH" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}" "$result" >>"$RESULTS"
  echo "   $(tail -1 "$RESULTS")" >&2
done

TABLE="$WORK/table"
{
  echo
  echo "### $(date -u +%Y-%m-%d) — \`tests/fuzz.sh $SECONDS_EACH\` at $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(cargo +nightly --version | awk '{print $2}') nightly"
  echo
  echo "| target | seconds | executions | exec/s | coverage (cov) | features (ft) | corpus | peak RSS | result |"
  echo "|---|---|---|---|---|---|---|---|---|"
  cat "$RESULTS"
} >"$TABLE"
cat "$TABLE"
if [ "$RECORD" = 1 ]; then
  cat "$TABLE" >>FUZZING.md
  echo "(appended to FUZZING.md)" >&2
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}; inputs are in fuzz/artifacts/" >&2
  exit 1
fi
