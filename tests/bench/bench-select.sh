#!/usr/bin/env bash
# `get` side by side with no [[select]] rules and with ten: the rules must cost
# nothing measurable on the hot path. Two data folders with the same tokens
# (the vault, its key cached, so the secret store adds as little as it can);
# in one, config.toml has ten rules, nine that do not match here (dir, env,
# client, registry) and a tenth that does, so every rule is evaluated on every
# call. Both commands in one hyperfine run, alternating. Needs a release build
# and hyperfine. Everything lives in a temporary folder, removed on exit.
set -euo pipefail

BIN=${BIN:-"$(cd "$(dirname "$0")/../.." && pwd)/target/release/docker-credential-pat"}
RUNS=${RUNS:-300}
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
[ "$(printf bench.example | DOCKER_PAT_HOME="$work/rules" "$BIN" get)" != "$(printf bench.example | DOCKER_PAT_HOME="$work/plain" "$BIN" get)" ] ||
    { echo "the tenth rule did not choose alice's token" >&2; exit 1; }

# Through a shell for the pipe; hyperfine subtracts the shell's own start-up.
# Twice, in both orders, so a change in the machine's load during one run does
# not pass for a cost of the rules.
plain="printf bench.example | DOCKER_PAT_HOME=$work/plain $BIN get"
rules="printf bench.example | DOCKER_PAT_HOME=$work/rules $BIN get"
hyperfine --warmup 20 --runs "$RUNS" --export-json "$work/first.json" \
    -n "get, no rules" "$plain" -n "get, ten rules" "$rules"
hyperfine --warmup 20 --runs "$RUNS" --export-json "$work/second.json" \
    -n "get, ten rules" "$rules" -n "get, no rules" "$plain"
python3 -c 'import json, sys
ratios = []
print("| run | command | median | min | max |")
print("|---|---|---|---|---|")
for n, path in enumerate(sys.argv[1:], 1):
    results = {r["command"]: r for r in json.load(open(path))["results"]}
    for name in ("get, no rules", "get, ten rules"):
        r = results[name]
        print("| %d | %s | %.2f ms | %.2f ms | %.2f ms |" % (n, name, r["median"] * 1000, r["min"] * 1000, r["max"] * 1000))
    ratios.append(results["get, ten rules"]["median"] / results["get, no rules"]["median"])
print("\nten rules / no rules (medians): " + ", ".join("%.3f" % r for r in ratios))' "$work/first.json" "$work/second.json"
