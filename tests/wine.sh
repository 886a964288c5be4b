#!/usr/bin/env bash
# The Windows tests, run here under Wine: builds the real Windows executable
# (x86_64-pc-windows-gnu, std built from source and linked by mingw), prepares a
# fresh Wine prefix with a persistent wineserver, runs tests/wine.rs against
# Wine's Credential Manager, then stops Wine and checks that none of the test
# secrets is anywhere in the prefix in clear.
#
#   tests/wine.sh
#
# When this machine cannot run them (no Wine, no mingw, no std source, no Wine
# prefix) it says so, records them as not run (tests/not-run.sh) and exits 0; under
# CI it fails. A Windows build that does not start under Wine always fails. Every
# step is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/not-run.sh

cannot_run() {
    not_run "tests/wine.sh (the Windows build under Wine)" "$*"
    exit 0
}

for tool in wine wineserver x86_64-w64-mingw32-gcc x86_64-w64-mingw32-dlltool timeout; do
    command -v "$tool" >/dev/null 2>&1 ||
        cannot_run "$tool is missing (Debian: apt-get install wine wine64 gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64)"
done
library=$(tests/rust-src.sh) || cannot_run "the Rust standard library's source could not be fetched"

target=x86_64-pc-windows-gnu
target_dir=${CARGO_TARGET_DIR:-target}
work=$(cd "$target_dir" && pwd)/wine
# The release build, as shipped. A debug build would also stop at Wine's
# CredEnumerateW, which packs its CREDENTIALW records without aligning them: the
# debug-mode alignment check in windows-native-keyring-store's plain read panics.
echo "== cargo build --release --target $target"
RUSTC_BOOTSTRAP=1 __CARGO_TESTS_ONLY_SRC_ROOT=$library \
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
    timeout 1800 cargo build --locked --release -Zbuild-std=std,panic_abort --target "$target"

# Wine 8.0 has no bcryptprimitives.dll, from which std takes ProcessPrng; a
# stand-in beside the executable forwards to RtlGenRandom.
rm -rf "$work"
mkdir -p "$work/bin"
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bin/bcryptprimitives.dll" \
    tests/wine/bcryptprimitives.c tests/wine/bcryptprimitives.def -ladvapi32
cp "$target_dir/$target/release/docker-credential-pat.exe" "$work/bin/"

export WINEPREFIX=$work/prefix WINEDEBUG=-all
stop_wine() { timeout 60 wineserver -k 2>/dev/null || true; }
trap stop_wine EXIT
echo "== wineboot (a fresh prefix)"
mkdir -p "$WINEPREFIX"
# One wineserver for every call, up before the first: a helper run then takes about 0.1 s.
# Its output goes nowhere: a server that outlives this script must not hold a pipe open.
wineserver -p >/dev/null 2>&1 </dev/null || cannot_run "wineserver does not start"
timeout 300 wine wineboot -i >/dev/null 2>&1 || cannot_run "Wine could not create a prefix (wineboot failed or took over 5 minutes)"
# A crash ends the process at once instead of starting winedbg, which waits forever.
timeout 60 wine reg delete 'HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug' /v Debugger /f >/dev/null 2>&1 || true
# Wine is up, so a build that does not start is the build's fault: always a failure.
if ! started=$(timeout 60 wine "$work/bin/docker-credential-pat.exe" version 2>&1); then
    printf 'wine.sh: the Windows build does not start under Wine:\n%s\n' "$started" >&2
    exit 1
fi

# One test at a time: Wine's CredEnumerateW sizes its buffer in one pass over the
# registry and fills it in a second, so a credential written by another process
# in between overruns the buffer (Windows answers from one service and has no
# such race). The helper's own calls never overlap like that within one test.
echo "== cargo test wine:: (the Windows build under Wine)"
DOCKER_PAT_WINDOWS_EXE=$work/bin/docker-credential-pat.exe \
    timeout 900 cargo test --locked --test integration -- wine:: --test-threads=1

# The search's positive control: two markers planted in the registry the way the
# Credential Manager keeps its values, one as text and one as a binary value,
# must be found by the same search as the secrets below.
control_text=pat-control-text-Jq5Vw8
control_binary=pat-control-binary-Nz2Rc6
control_key='HKCU\Software\docker-credential-pat-test-control'
timeout 60 wine reg add "$control_key" /v Text /t REG_SZ /d "$control_text" /f >/dev/null
timeout 60 wine reg add "$control_key" /v Binary /t REG_BINARY /f >/dev/null \
    /d "$(python3 -c 'import sys; print(sys.argv[1].encode("utf-16-le").hex())' "$control_binary")"

# Stopping the wineserver writes its registry (the Credential Manager) to disk.
stop_wine
wineserver -w 2>/dev/null || true
echo "== the prefix holds no test secret in clear"
grep -q 'docker-credential-pat:' "$WINEPREFIX/user.reg" ||
    { echo "wine.sh: user.reg holds none of the helper's credentials; the check below would prove nothing" >&2; exit 1; }
python3 - "$WINEPREFIX" "$control_text" "$control_binary" <<'EOF'
import os, re, sys
prefix, controls = sys.argv[1], sys.argv[2:]
# The secrets tests/wine.rs stores and leaves behind.
secrets = ["dckr_pat_abcdefghijklmnopqrstuvwxyz0", "second-secret", "orphan-secret", "laptop-secret", "t" * 2560]

def forms(s):
    """s as UTF-8 and UTF-16 bytes, and as the hex lists a .reg file shows of each."""
    raw = [s.encode(), s.encode("utf-16-le")]
    return raw + [",".join(f"{b:02x}" for b in r).encode() for r in raw]

files = []
for root, _, names in os.walk(prefix):
    for name in names:
        path = os.path.join(root, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        data = open(path, "rb").read()
        if name.endswith(".reg"):
            data = re.sub(rb"\\\r?\n\s*", b"", data)
        files.append((path, data))

def found(s):
    return [f"{path}: {f[:24]!r}" for path, data in files for f in forms(s) if f in data]

unseen = [c for c in controls if not found(c)]
if unseen:
    sys.exit(f"the search does not find the markers planted in the registry ({unseen}); it cannot vouch for the secrets")
hits = [hit for s in secrets for hit in found(s)]
if hits:
    sys.exit("secrets in clear in the Wine prefix:\n" + "\n".join(hits))
print(f"none of the test secrets is in the prefix in clear (the search found both markers planted in it, among {len(files)} files)")
EOF
