#!/usr/bin/env bash
# Builds docker-credential-pat from this source tree and installs it with its
# man page and shell completions, points Docker at it, and prints `doctor`.
#
#   ./install.sh [--prefix DIR] [--no-configure]
#   ./install.sh --uninstall [--prefix DIR] [--no-configure]
#
# Running it again is harmless. See ./install.sh --help.
set -euo pipefail

NAME=docker-credential-pat

usage() {
    cat <<EOF
Usage: ./install.sh [--prefix DIR] [--no-configure] [--uninstall]

Builds $NAME with cargo and installs:
  PREFIX/bin/$NAME
  PREFIX/share/man/man1/$NAME.1
  PREFIX/share/bash-completion/completions/$NAME
  PREFIX/share/zsh/site-functions/_$NAME
  PREFIX/share/fish/vendor_completions.d/$NAME.fish
then runs \`$NAME configure-docker\` and prints \`$NAME doctor\`.

Options:
  --prefix DIR     install under DIR (default: ~/.local, or /usr/local for root)
  --no-configure   leave Docker's config.json alone
  --uninstall      remove the files listed above; unless --no-configure, also
                   stop Docker from using the helper (config.json is backed up).
                   Stored tokens are kept.
  -h, --help       show this help

Environment: CARGO_TARGET_DIR is honoured; DOCKER_CONFIG chooses the Docker
config folder as it does for Docker.
EOF
}

say() { printf '%s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() {
    printf 'install.sh: error: %s\n' "$1" >&2
    shift
    for line in "$@"; do printf '  %s\n' "$line" >&2; done
    exit 1
}

prefix=""
configure=1
uninstall=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix)
            if [ $# -lt 2 ] || [ -z "$2" ]; then
                die "--prefix needs a folder" "example: ./install.sh --prefix ~/.local"
            fi
            prefix=$2
            shift 2
            ;;
        --prefix=*)
            prefix=${1#--prefix=}
            [ -n "$prefix" ] || die "--prefix needs a folder"
            shift
            ;;
        --no-configure) configure=0; shift ;;
        --uninstall) uninstall=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option: $1" "run ./install.sh --help for the options" ;;
    esac
done

if [ -z "$prefix" ]; then
    if [ "$(id -u)" = 0 ]; then
        prefix=/usr/local
    else
        [ -n "${HOME:-}" ] || die "HOME is not set" "give a folder with --prefix DIR"
        prefix=$HOME/.local
    fi
fi
case "$prefix" in
    /*) ;;
    *) prefix=$PWD/$prefix ;;
esac

bin_dir=$prefix/bin
binary=$bin_dir/$NAME
man_page=$prefix/share/man/man1/$NAME.1
bash_completion=$prefix/share/bash-completion/completions/$NAME
zsh_completion=$prefix/share/zsh/site-functions/_$NAME
fish_completion=$prefix/share/fish/vendor_completions.d/$NAME.fish
installed_files=("$binary" "$man_page" "$bash_completion" "$zsh_completion" "$fish_completion")

if [ "$uninstall" = 1 ]; then
    if [ "$configure" = 1 ] && [ -x "$binary" ]; then
        "$binary" configure-docker --remove ||
            warn "Docker's config.json was left as it is; remove \"credsStore\": \"pat\" from it by hand"
    fi
    removed=0
    for file in "${installed_files[@]}"; do
        if [ -e "$file" ] || [ -L "$file" ]; then
            rm -f -- "$file"
            say "Removed $file"
            removed=$((removed + 1))
        fi
    done
    [ "$removed" -gt 0 ] || say "Nothing of $NAME was installed under $prefix"
    say "Stored tokens were kept in the keychain (or vault). To delete them as well, install again"
    say "and run \`$NAME tokens\`, then \`$NAME delete --all REGISTRY\` for each registry, before uninstalling."
    exit 0
fi

# ---- What the build needs ----
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$source_dir"
[ -f Cargo.toml ] || die "run install.sh from the $NAME source tree (no Cargo.toml in $source_dir)"

if ! command -v cargo >/dev/null 2>&1; then
    die "cargo (the Rust build tool) is not installed or not on PATH" \
        "install Rust with rustup: see https://rustup.rs, then open a new shell" \
        "or, on Debian/Ubuntu: sudo apt-get install cargo   (Fedora: sudo dnf install cargo; macOS: brew install rust)" \
        "if it is installed already, add ~/.cargo/bin to PATH"
fi
# A rustup without a default toolchain leaves rustc and cargo on PATH that only print an error.
if ! rust_says=$(rustc --version 2>&1) || ! cargo_says=$(cargo --version 2>&1); then
    problem=$(printf '%s\n%s\n' "${rust_says:-}" "${cargo_says:-}" | grep -i -m 1 -E 'error|no default|not installed' || true)
    die "Rust is installed but does not work: ${problem:-rustc --version fails}" \
        "with rustup: rustup default stable   (installs and selects the stable toolchain)" \
        "then run ./install.sh again"
fi
need_rust=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n 1)
have_rust=$(printf '%s\n' "$rust_says" | sed -n 's/^rustc \([0-9][0-9.]*\).*/\1/p')
if [ -n "$need_rust" ] && [ -n "$have_rust" ] &&
    [ "$(printf '%s\n%s\n' "$need_rust" "$have_rust" | sort -V | head -n 1)" != "$need_rust" ]; then
    die "Rust $have_rust is too old; $NAME needs Rust $need_rust or newer" \
        "with rustup: rustup update stable" \
        "with distribution packages: install a newer rustc/cargo, or switch to rustup (https://rustup.rs)"
fi
if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1 && ! command -v clang >/dev/null 2>&1; then
    die "no C compiler/linker (cc) found; Rust needs one to link programs" \
        "Debian/Ubuntu: sudo apt-get install build-essential" \
        "Fedora: sudo dnf install gcc      Arch: sudo pacman -S base-devel" \
        "macOS: xcode-select --install"
fi

# ---- Build ----
say "Building $NAME (cargo build --release --locked)…"
if ! cargo build --release --locked; then
    die "the build failed (see the messages above)" \
        "if cargo could not download crates, check your network or proxy settings" \
        "if it says the lock file needs updating, you have local changes: run cargo build --release yourself"
fi
target_dir=${CARGO_TARGET_DIR:-$source_dir/target}
case "$target_dir" in
    /*) ;;
    *) target_dir=$source_dir/$target_dir ;;
esac
built=$target_dir/release/$NAME
[ -x "$built" ] || die "the build finished but $built is missing" "set CARGO_TARGET_DIR to where cargo puts its output"

# ---- Install ----
install_generated() { # FILE COMMAND...: writes the command's output to FILE, mode 0644
    local file=$1 tmp
    shift
    mkdir -p "$(dirname "$file")"
    tmp=$(mktemp "$file.XXXXXX")
    if ! "$@" >"$tmp"; then
        rm -f "$tmp"
        die "could not generate $file"
    fi
    chmod 0644 "$tmp"
    mv -f "$tmp" "$file"
    say "Installed $file"
}

mkdir -p "$bin_dir" || die "cannot create $bin_dir" "choose another place with --prefix DIR, or run as a user who may write there"
tmp_binary=$(mktemp "$binary.XXXXXX")
cp "$built" "$tmp_binary"
chmod 0755 "$tmp_binary"
mv -f "$tmp_binary" "$binary"
say "Installed $binary"
install_generated "$man_page" "$binary" man
install_generated "$bash_completion" "$binary" completions bash
install_generated "$zsh_completion" "$binary" completions zsh
install_generated "$fish_completion" "$binary" completions fish

# Docker runs docker-credential-NAME from PATH, so the installed copy must be the one found.
on_path=$(command -v "$NAME" 2>/dev/null || true)
if [ -z "$on_path" ]; then
    warn "$bin_dir is not on PATH, and Docker looks for $NAME there"
    warn "add it, for example: echo 'export PATH=\"$bin_dir:\$PATH\"' >> ~/.profile (then open a new shell)"
elif [ "$on_path" != "$binary" ] && [ "$(cd "$(dirname "$on_path")" && pwd -P)/$NAME" != "$(cd "$bin_dir" && pwd -P)/$NAME" ]; then
    warn "another $NAME comes first on PATH: $on_path; Docker would run that one"
    warn "remove it, or put $bin_dir before $(dirname "$on_path") on PATH"
fi

if [ "$configure" = 1 ]; then
    "$binary" configure-docker || warn "Docker's config.json was not changed; fix the problem above and run \`$NAME configure-docker\`"
else
    say "Left Docker's config.json alone (--no-configure); run \`$NAME configure-docker\` to use the helper"
fi

say ""
say "$NAME doctor:"
# Findings are advice here; they never make the installation fail.
"$binary" doctor || true
