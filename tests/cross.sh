#!/usr/bin/env bash
# Type-checks and lints the helper, tests included, for Windows and macOS from
# Linux: `cargo clippy --all-targets -- -D warnings` per target, with the
# standard library built from source (cargo -Zbuild-std), since no prebuilt std
# for those targets can be downloaded here. Nothing is linked, so no Windows or
# macOS SDK is needed.
#
#   tests/cross.sh [TARGET...]
#
# The std source comes from tests/rust-src.sh (Debian's rust-src, verified, under
# target/). Cargo is pointed at it with __CARGO_TESTS_ONLY_SRC_ROOT rather than a
# copy of the toolchain's sysroot with the source added: that leaves the installed
# toolchain untouched and costs no copy of it. The variable is one of cargo's own
# test hooks, so a cargo that stops honouring it makes this script fail loudly
# (build-std then looks for rustup's rust-src component and says it is missing).
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept -Zbuild-std.
#
# When it cannot run (no std source, no dlltool) it says so, records the lints as
# not run (tests/not-run.sh) and exits 0; under CI it fails. A lint finding always
# fails. Each target is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/not-run.sh

cannot_run() {
    not_run "tests/cross.sh (the Windows and macOS lints)" "$*"
    exit 0
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] ||
    targets=(x86_64-pc-windows-msvc x86_64-pc-windows-gnu x86_64-apple-darwin aarch64-apple-darwin)

# std for windows-gnu links its import libraries with dlltool, even to type-check.
for target in "${targets[@]}"; do
    if [ "$target" = x86_64-pc-windows-gnu ] && ! command -v x86_64-w64-mingw32-dlltool >/dev/null 2>&1; then
        cannot_run "x86_64-w64-mingw32-dlltool is missing (apt-get install binutils-mingw-w64-x86-64)"
    fi
done

library=$(tests/rust-src.sh) || cannot_run "the Rust standard library's source could not be fetched"
export RUSTC_BOOTSTRAP=1 __CARGO_TESTS_ONLY_SRC_ROOT=$library

# ring's build script compiles C for the target, which needs that target's C
# toolchain; a type-check needs none of it. Overriding the build script of ring's
# `links` key (ring_core_MAJOR_MINOR_PATCH_) skips it.
ring=$(awk '/^name = "ring"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)

for target in "${targets[@]}"; do
    echo "== cargo clippy --target $target"
    overrides=()
    if [ -n "$ring" ]; then
        overrides=(--config "target.$target.ring_core_${ring//./_}_.rustc-link-lib=[]")
    fi
    timeout 1200 cargo clippy --locked -Zbuild-std --target "$target" "${overrides[@]}" --all-targets -- -D warnings
done
