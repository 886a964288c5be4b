# shellcheck shell=bash
# Sourced by the bench scripts.

# What a script runs, each tool beside the Debian package that provides it:
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

# A private D-Bus session with its own unlocked GNOME Keyring, in $WORK; HOME and
# XDG_RUNTIME_DIR move there too. The daemons' pids are added to PIDS, for the
# caller's clean-up to stop.
private_keyring() {
  mkdir -p "$WORK/home" "$WORK/run"
  chmod 700 "$WORK/home" "$WORK/run"
  export HOME="$WORK/home" XDG_RUNTIME_DIR="$WORK/run"
  cat >"$WORK/session.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path=$WORK/bus</listen><policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>
EOF
  dbus-daemon --config-file="$WORK/session.conf" --nofork >/dev/null 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 100); do [ -S "$WORK/bus" ] && break; sleep 0.05; done
  export DBUS_SESSION_BUS_ADDRESS="unix:path=$WORK/bus"
  printf 'bench-keyring-password\n' | gnome-keyring-daemon --unlock --components=secrets --foreground >/dev/null 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 200); do
    if timeout 2 dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
      return 0
    fi
    sleep 0.05
  done
  echo "$(basename "$0"): the private GNOME Keyring did not start" >&2
  exit 1
}
