# shellcheck shell=bash
# Sourced by the suite's scripts: how a check that cannot run here says so.
#
#   not_run NAME WHY...
#
# Under CI (CI set) it fails the script: CI must run every check. Elsewhere it
# records NAME and WHY in a file under target/not-run/ (CARGO_TARGET_DIR's
# not-run/), where the tests record theirs too (tests/support's `cannot_run`),
# and returns; tests/run.sh then ends with "Passed, but K checks did not run",
# listing them, never "All … passed". Paths are taken from the repository's root.

not_run() {
    local name=$1 dir
    shift
    printf '\n*** NOT RUN: %s: %s ***\n\n' "$name" "$*" >&2
    if [ -n "${CI:-}" ]; then
        printf 'CI must run %s: %s\n' "$name" "$*" >&2
        exit 1
    fi
    dir=${CARGO_TARGET_DIR:-target}/not-run
    mkdir -p "$dir"
    # The name on the first line, why on the second (tests/run.sh reads them so).
    printf '%s\n%s\n' "$name" "$*" >"$dir/$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '_')"
}
