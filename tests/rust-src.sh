#!/usr/bin/env bash
# Prints the path of the Rust standard library's source matching `rustc --version`,
# fetching it first if needed. `cargo -Zbuild-std` needs that source to build std for
# Windows and macOS, and rustup's rust-src component cannot be downloaded everywhere.
#
# The source comes from Debian's rust-src package, checked end to end: the suite's
# InRelease against the Debian archive keyring (gpgv), the Packages index against
# InRelease, the .deb against the Packages index. It is unpacked under
# target/rust-src/VERSION and never installed over the system.
#
#   tests/rust-src.sh            # prints …/target/rust-src/1.95.0/library
#
# DEBIAN_MIRROR overrides the mirror (default http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'rust-src.sh: %s\n' "$*" >&2; exit 1; }

for tool in curl gpgv xz dpkg-deb sha256sum; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "$tool is missing (Debian: apt-get install curl gpgv xz-utils dpkg coreutils)"
done
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || die "$keyring is missing (apt-get install debian-archive-keyring)"

version=$(rustc --version | sed -n 's/^rustc \([0-9][0-9.]*\).*/\1/p')
[ -n "$version" ] || die "cannot tell the Rust version from \`rustc --version\`"
target_dir=${CARGO_TARGET_DIR:-target}
cache=$target_dir/rust-src/$version
if [ -f "$cache/library/std/Cargo.toml" ]; then
    printf '%s\n' "$(cd "$cache/library" && pwd)"
    exit 0
fi

mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch() { curl -fsSL --retry 3 --connect-timeout 20 --max-time 600 -o "$2" "$1"; }
check_sum() { # FILE SHA256
    [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ] || die "$1 does not match its SHA-256 ($2)"
}

# Versions checked once by hand against a signed index, for mirrors whose index is
# in mid-update (InRelease and Packages.xz from different runs): VERSION FILE SHA256.
known="
1.95.0 pool/main/r/rustc/rust-src_1.95.0+dfsg1-2~bpo13+1_all.deb 7b76db5b880a77f9e52975d2baa6209d2f76d2c9c2789515c3088cb960e2c83b
"
deb=""
pinned=$(awk -v want="$version" '$1 == want { print $2, $3 }' <<<"$known")
if [ -n "$pinned" ]; then
    deb=${pinned% *}
    deb_sum=${pinned#* }
fi

# Otherwise the signed indexes: backports carry the stable toolchain's version, unstable the newest.
for suite in trixie-backports unstable experimental; do
    [ -z "$deb" ] || break
    fetch "$mirror/dists/$suite/InRelease" "$work/InRelease" || continue
    status=$(gpgv --keyring "$keyring" --status-fd 1 --output "$work/Release" "$work/InRelease" 2>/dev/null || true)
    grep -q '^\[GNUPG:\] VALIDSIG' <<<"$status" && ! grep -q '^\[GNUPG:\] BADSIG' <<<"$status" ||
        die "the signature on $suite's InRelease does not verify against $keyring"
    index_sum=$(awk '/^SHA256:/ { on = 1; next } /^[^ ]/ { on = 0 }
        on && $3 == "main/binary-all/Packages.xz" { print $1 }' "$work/Release")
    [ -n "$index_sum" ] || continue
    # By hash, as apt fetches it, so a mirror in mid-update cannot hand over another index.
    fetch "$mirror/dists/$suite/main/binary-all/by-hash/SHA256/$index_sum" "$work/Packages.xz" 2>/dev/null ||
        fetch "$mirror/dists/$suite/main/binary-all/Packages.xz" "$work/Packages.xz"
    if [ "$(sha256sum "$work/Packages.xz" | cut -d' ' -f1)" != "$index_sum" ]; then
        printf 'rust-src.sh: %s: the mirror'"'"'s Packages.xz does not match its signed InRelease; skipped\n' "$suite" >&2
        continue
    fi
    # The stanza of rust-src whose upstream version is ours: VERSION+dfsg…
    found=$(xz -dc "$work/Packages.xz" | awk -v want="$version" '
        /^$/ { if (pkg == "rust-src" && index(ver, want "+") == 1) { print file, sum; exit }
               pkg = ver = file = sum = "" }
        /^Package: / { pkg = $2 } /^Version: / { ver = $2 }
        /^Filename: / { file = $2 } /^SHA256: / { sum = $2 }')
    if [ -n "$found" ]; then
        deb=${found% *}
        deb_sum=${found#* }
        break
    fi
done
[ -n "$deb" ] || die "no Debian suite offers rust-src $version; install a toolchain Debian ships the source of, or rustup's rust-src component"

printf 'rust-src.sh: fetching %s\n' "$mirror/$deb" >&2
fetch "$mirror/$deb" "$work/rust-src.deb"
check_sum "$work/rust-src.deb" "$deb_sum"
dpkg-deb -x "$work/rust-src.deb" "$work/root"
library=$(find "$work/root/usr/src" -mindepth 2 -maxdepth 2 -name library -type d | head -n 1)
[ -f "$library/std/Cargo.toml" ] || die "the rust-src package holds no library/std"
mkdir -p "$cache"
rm -rf "$cache/library"
mv "$library" "$cache/library"
printf '%s\n' "$(cd "$cache/library" && pwd)"
