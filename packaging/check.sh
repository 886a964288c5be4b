#!/usr/bin/env bash
# Checks the packaging as far as this machine allows: the syntax of every
# recipe, that every version equals Cargo.toml's, and that the Debian package
# builds, installs with dpkg -i, runs, ships its man page and completions, and
# is removed again by dpkg -r.
#
#   packaging/check.sh [--binary PATH]
#
# --binary packages an already built binary instead of running
# `cargo build --release --locked`. As root it installs missing tools
# (rpm, ruby, shellcheck) with apt-get. Ends with "N passed, M failed".
# A check this machine cannot run is recorded as not run (tests/not-run.sh),
# which fails under CI.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. tests/not-run.sh
name=docker-credential-pat
binary=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=${2:?--binary needs a path}; shift 2 ;;
        -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) printf 'check.sh: unknown option: %s\n' "$1" >&2; exit 2 ;;
    esac
done

passed=0
failed=0
pass() { printf 'ok    %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAIL  %s\n' "$*"; failed=$((failed + 1)); }
skip() { # CHECK WHY: a check this machine cannot run
    printf 'NOT RUN  %s: %s\n' "$1" "$2"
    not_run "packaging/check.sh: $1" "$2"
}
check() { # DESCRIPTION COMMAND...: passes when the command succeeds
    local what=$1 log
    shift
    log=$(mktemp)
    if "$@" >"$log" 2>&1; then pass "$what"; else fail "$what"; sed 's/^/      /' "$log"; fi
    rm -f "$log"
}
same() { # DESCRIPTION FOUND WANTED
    if [ "$2" = "$3" ]; then pass "$1 ($2)"; else fail "$1: found '$2', Cargo.toml says '$3'"; fi
}

# ---- Tools ----
missing=()
command -v rpmspec >/dev/null 2>&1 || missing+=(rpm)
command -v ruby >/dev/null 2>&1 || missing+=(ruby)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    printf 'Installing %s with apt-get…\n' "${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1 || true
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
            printf 'check.sh: could not install %s; those checks cannot run\n' "${missing[*]}"
    fi
fi

version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || { printf 'check.sh: cannot read the version from Cargo.toml\n' >&2; exit 1; }
printf 'Cargo.toml version: %s\n' "$version"

# ---- Versions ----
lock_version=$(awk -v n="$name" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
same "Cargo.lock version" "$lock_version" "$version"
pkgver=$(bash -c 'source packaging/arch/PKGBUILD >/dev/null 2>&1; printf %s "$pkgver"')
same "PKGBUILD pkgver" "$pkgver" "$version"
formula_version=$(sed -n 's|^  url ".*/v\([0-9][^/]*\)\.tar\.gz"$|\1|p' packaging/homebrew/$name.rb)
same "Homebrew formula version" "$formula_version" "$version"
spec_version=$(sed -n 's/^Version: *//p' packaging/$name.spec)
same "RPM spec Version" "$spec_version" "$version"

# ---- Syntax ----
for script in install.sh packaging/*.sh packaging/arch/PKGBUILD; do
    check "bash -n $script" bash -n "$script"
done
if command -v shellcheck >/dev/null 2>&1; then
    # -x: check.sh sources tests/not-run.sh, which is checked with it.
    check "shellcheck install.sh packaging/*.sh" shellcheck -x install.sh packaging/*.sh
    # Variables a PKGBUILD sets are read by makepkg, and makepkg sets pkgdir/srcdir.
    check "shellcheck PKGBUILD" shellcheck -s bash -e SC2034,SC2154,SC2164 packaging/arch/PKGBUILD
else
    skip "shellcheck" "shellcheck is not installed (apt-get install shellcheck)"
fi
check "PKGBUILD defines prepare, build, check and package" \
    bash -c 'source packaging/arch/PKGBUILD && declare -F prepare build check package >/dev/null'
if command -v ruby >/dev/null 2>&1; then
    check "ruby -c Homebrew formula" ruby -c packaging/homebrew/$name.rb
else
    skip "ruby -c" "ruby is not installed (apt-get install ruby)"
fi
check "Homebrew sha256 is 64 hex digits" grep -Eq '^  sha256 "[0-9a-f]{64}"$' packaging/homebrew/$name.rb
check "PKGBUILD sha256sums is 64 hex digits" grep -Eq "^sha256sums=\('[0-9a-f]{64}'\)$" packaging/arch/PKGBUILD
if command -v rpmspec >/dev/null 2>&1; then
    check "rpmspec -P parses the spec" rpmspec -P packaging/$name.spec
    same "rpmspec query Version" "$(rpmspec -q --srpm --qf '%{VERSION}' packaging/$name.spec 2>/dev/null)" "$version"
else
    skip "rpmspec" "rpmspec is not installed (apt-get install rpm)"
fi

# ---- Debian package ----
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
args=("$work/out")
[ -z "$binary" ] || args+=(--binary "$binary")
if deb=$(packaging/build-deb.sh "${args[@]}"); then
    pass "build-deb.sh built $(basename "$deb")"
else
    fail "build-deb.sh"
    printf '%s passed, %s failed\n' "$passed" "$failed"
    exit 1
fi
same "deb Version" "$(dpkg-deb -f "$deb" Version)" "$version"
contents=$(dpkg-deb -c "$deb")
for path in "usr/bin/$name" "usr/share/man/man1/$name.1.gz" \
    "usr/share/bash-completion/completions/$name" \
    "usr/share/zsh/vendor-completions/_$name" \
    "usr/share/fish/vendor_completions.d/$name.fish" \
    "usr/share/doc/$name/copyright"; do
    if grep -q " \./$path\$" <<<"$contents"; then pass "deb contains /$path"; else fail "deb lacks /$path"; fi
done

run_installed() { # BIN: runs version and --help
    local bin=$1
    check "$name version prints v$version" bash -c "'$bin' version | grep -qF 'v$version'"
    check "$name --help lists doctor and the exit status" bash -c "'$bin' --help | grep -q doctor && '$bin' --help | grep -q 'Exit status'"
}

if [ "$(id -u)" = 0 ] && ! dpkg -s "$name" >/dev/null 2>&1; then
    check "dpkg -i" dpkg -i "$deb"
    run_installed "/usr/bin/$name"
    check "man page in place" test -s "/usr/share/man/man1/$name.1.gz"
    check "man page is valid roff with the exit status" bash -c "zcat /usr/share/man/man1/$name.1.gz | grep -q '^\.TH' && zcat /usr/share/man/man1/$name.1.gz | grep -q 'EXIT STATUS'"
    check "bash completion in place" test -s "/usr/share/bash-completion/completions/$name"
    check "bash completion loads" bash -c "source /usr/share/bash-completion/completions/$name && complete -p $name"
    check "zsh completion in place" test -s "/usr/share/zsh/vendor-completions/_$name"
    check "fish completion in place" test -s "/usr/share/fish/vendor_completions.d/$name.fish"
    check "dpkg -r" dpkg -r "$name"
    check "dpkg -r removed the binary" test ! -e "/usr/bin/$name"
    check "dpkg -r removed the man page" test ! -e "/usr/share/man/man1/$name.1.gz"
else
    if [ "$(id -u)" = 0 ]; then
        skip "dpkg -i" "a $name package is installed already (remove it to run this part); the unpacked package runs instead"
    else
        skip "dpkg -i" "it needs root; the unpacked package runs instead"
    fi
    dpkg-deb -x "$deb" "$work/unpacked"
    run_installed "$work/unpacked/usr/bin/$name"
fi

printf 'packaging: %s passed, %s failed\n' "$passed" "$failed"
[ "$failed" = 0 ]
