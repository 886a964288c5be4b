# shellcheck shell=bash
# Sourced by the bench scripts: what they run, each tool beside the Debian
# package that provides it.
#
#   needs TOOL:PACKAGE...
#
# Installs the packages of missing tools with apt-get when run as root; otherwise
# stops with the apt-get line that installs them.
needs() {
  local pair missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    hash -r
  else
    echo "$(basename "$0") needs: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
}
