#!/usr/bin/env bash
# Builds the Debian package with dpkg-deb: the binary, its man page, shell
# completions and copyright, versioned from Cargo.toml.
#
#   packaging/build-deb.sh OUT_DIR [--binary PATH]
#
# Without --binary it runs `cargo build --release --locked` (CARGO_TARGET_DIR
# is honoured). Prints the path of the .deb it wrote.
set -euo pipefail

die() { printf 'build-deb.sh: error: %s\n' "$*" >&2; exit 1; }

out_dir=""
binary=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary)
            [ $# -ge 2 ] || die "--binary needs a path"
            binary=$2
            shift 2
            ;;
        -h | --help)
            sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        -*) die "unknown option: $1" ;;
        *)
            [ -z "$out_dir" ] || die "only one output folder, please"
            out_dir=$1
            shift
            ;;
    esac
done
[ -n "$out_dir" ] || die "usage: packaging/build-deb.sh OUT_DIR [--binary PATH]"
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb is missing: apt-get install dpkg-dev (or dpkg)"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
name=docker-credential-pat
version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$root/Cargo.toml" | head -n 1)
[ -n "$version" ] || die "cannot read the version from Cargo.toml"
arch=$(dpkg --print-architecture)

if [ -z "$binary" ]; then
    (cd "$root" && cargo build --release --locked) || die "cargo build failed"
    target_dir=${CARGO_TARGET_DIR:-$root/target}
    case "$target_dir" in /*) ;; *) target_dir=$root/$target_dir ;; esac
    binary=$target_dir/release/$name
fi
[ -x "$binary" ] || die "no executable at $binary"

mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/${name}_${version}_${arch}

install -D -m 0755 "$binary" "$pkg/usr/bin/$name"
install -d -m 0755 "$pkg/usr/share/man/man1" \
    "$pkg/usr/share/bash-completion/completions" \
    "$pkg/usr/share/zsh/vendor-completions" \
    "$pkg/usr/share/fish/vendor_completions.d" \
    "$pkg/usr/share/doc/$name"
"$binary" man | gzip -n -9 >"$pkg/usr/share/man/man1/$name.1.gz"
"$binary" completions bash >"$pkg/usr/share/bash-completion/completions/$name"
"$binary" completions zsh >"$pkg/usr/share/zsh/vendor-completions/_$name"
"$binary" completions fish >"$pkg/usr/share/fish/vendor_completions.d/$name.fish"
cat >"$pkg/usr/share/doc/$name/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $name
Source: https://github.com/docker-credential-pat/docker-credential-pat

Files: *
Copyright: the docker-credential-pat authors
License: MIT or Apache-2.0
 On Debian systems the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0. The MIT license:
 .
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
 SOFTWARE.
COPYRIGHT
find "$pkg/usr" -type f -exec chmod 0644 {} +
chmod 0755 "$pkg/usr/bin/$name"

installed_size=$(du -sk --apparent-size "$pkg/usr" | cut -f1)
install -d -m 0755 "$pkg/DEBIAN"
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: docker-credential-pat maintainers <maintainers@docker-credential-pat.invalid>
Installed-Size: $installed_size
Depends: libc6
Suggests: gnome-keyring | keepassxc, docker-cli | docker.io | docker-ce-cli
Section: utils
Priority: optional
Homepage: https://github.com/docker-credential-pat/docker-credential-pat
Description: Docker credential helper for personal access tokens
 docker-credential-pat keeps one personal access token per integration and
 registry in the OS keychain (Secret Service) or an encrypted vault file,
 records when and by which client each token was last used, and refuses to
 store passwords for accounts protected by two-factor authentication.
 .
 Point Docker at it with "docker-credential-pat configure-docker"; move
 plaintext logins out of ~/.docker/config.json with "docker-credential-pat
 import"; check the setup with "docker-credential-pat doctor".
CONTROL

deb=$out_dir/${name}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
printf '%s\n' "$deb"
