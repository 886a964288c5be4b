#!/usr/bin/env bash
# At release: writes the SHA-256 of the release tarball (the one the Homebrew
# formula and the PKGBUILD download) into both files.
#
#   packaging/set-checksum.sh docker-credential-pat-X.Y.Z.tar.gz
set -euo pipefail

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
    printf 'usage: packaging/set-checksum.sh RELEASE_TARBALL\n' >&2
    exit 1
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sum=$(sha256sum "$1" | cut -d' ' -f1)
sed -i "s/^  sha256 \"[0-9a-f]*\"/  sha256 \"$sum\"/" "$here/homebrew/docker-credential-pat.rb"
sed -i "s/^sha256sums=('[0-9a-f]*')/sha256sums=('$sum')/" "$here/arch/PKGBUILD"
printf 'sha256 %s written to the Homebrew formula and the PKGBUILD\n' "$sum"
