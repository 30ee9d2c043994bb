# shellcheck shell=bash
# Sourced by scripts/services and scripts/pdf-packages: Debian packages installed only when missing, never a silent
# stall or an opaque death on a held apt/dpkg lock.
#
#   apt_missing PKG...   prints the packages dpkg does not have installed, one a line (no root, no apt-get)
#   apt_ensure PKG...    installs the missing ones (apt-get update only then); returns 1 after a clear report
#                        on stderr when it cannot (not root, lock held past the bound, apt-get failed)
#
# Settings (environment):
#   SPECGOODS_APT_LOCK_WAIT  seconds to wait for a lock another program holds (default 300)
#   SPECGOODS_APT_GET        the apt-get command (default `apt-get` as root; `sudo apt-get` lets a non-root user in)
#   SPECGOODS_APT_LOCKS      the lock files to watch (default: dpkg's and apt's own)

# What WeasyPrint renders certificate PDFs with: CJK fonts, Pango, and HarfBuzz subsetting (without it a Chinese PDF
# takes ~10 s). Used by scripts/pdf-packages and scripts/services.
# shellcheck disable=SC2034  # used by the scripts that source this file
PDF_PACKAGES=(fonts-noto-cjk fontconfig libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0)
APT_LOCKS_DEFAULT="/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock"

apt_missing() {
  local package status
  for package in "$@"; do
    # "install ok installed" or "hold ok installed"; anything else (absent, config-files, half-installed) is missing.
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [[ $status == *" ok installed" ]] || echo "$package"
  done
}

# The process holding FILE's lock as "pid N (command line)", or nothing when it is free. Reads /proc/locks, which
# lists both fcntl locks (dpkg and apt take those) and flock locks, with the holder's pid, for any user, no root.
apt_lock_holder() {
  local file=$1 dev inode key pid args
  [ -e "$file" ] || return 0
  read -r dev inode < <(stat -L -c '%D %i' "$file")
  dev=$((16#$dev))
  # The kernel writes MAJOR:MINOR:INODE with major and minor in hex (Linux's dev_t encoding).
  key=$(printf '%02x:%02x:%s' $(((dev >> 8) & 0xfff)) $(((dev & 0xff) | ((dev >> 12) & 0xfff00))) "$inode")
  # Holders only: a waiting process is listed on a "->" line, and OFD locks show pid -1.
  pid=$(awk -v key="$key" '$2 != "->" && $6 == key { print $5; exit }' /proc/locks 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  args=$(ps -o args= -p "$pid" 2>/dev/null || true)
  echo "pid $pid (${args:-unknown command; see \`lslocks\`})"
}

# Waits while any apt/dpkg lock is held, saying so every 10 s; after SPECGOODS_APT_LOCK_WAIT seconds it reports
# what holds it and what to run, and returns 1.
apt_wait_for_locks() {
  local bound=${SPECGOODS_APT_LOCK_WAIT:-300} start=$SECONDS next_note=0 file holder lock waited pid
  while :; do
    holder=""
    for file in ${SPECGOODS_APT_LOCKS:-$APT_LOCKS_DEFAULT}; do
      holder=$(apt_lock_holder "$file")
      if [ -n "$holder" ]; then lock=$file; break; fi
    done
    [ -n "$holder" ] || return 0
    pid=${holder#pid }
    pid=${pid%% *}
    waited=$((SECONDS - start))
    # The note comes first: on a slow machine finding the holder can take the whole bound, and whoever waits must
    # still be told what for before the report.
    if [ "$waited" -ge "$next_note" ]; then
      echo "waiting for $lock, held by $holder (${waited} s of at most ${bound} s)" >&2
      next_note=$((waited + 10))
    fi
    if [ "$waited" -ge "$bound" ]; then
      {
        echo "the package manager's lock $lock is held by $holder; waited ${waited} s."
        echo "  It is usually a system update that finishes by itself: watch it with \`ps -o pid,etime,args -p $pid\`,"
        echo "  then run this command again, or let it wait longer: SPECGOODS_APT_LOCK_WAIT=900 (seconds) before it."
      } >&2
      return 1
    fi
    sleep 0.5
  done
}

# The apt-get command to run, or a report of why there is none.
apt_command() {
  if [ -n "${SPECGOODS_APT_GET:-}" ]; then
    echo "$SPECGOODS_APT_GET"
  elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo apt-get
  else
    return 1
  fi
}

apt_ensure() {
  local - missing apt start
  set -o pipefail
  mapfile -t missing < <(apt_missing "$@")
  [ "${#missing[@]}" -gt 0 ] || return 0
  if ! apt="$(apt_command)"; then
    echo "missing Debian packages: ${missing[*]}; installing them needs root. Run as root:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    echo "  (or set SPECGOODS_APT_GET='sudo apt-get' and run this command again)" >&2
    return 1
  fi
  apt_wait_for_locks || return 1
  start=$SECONDS
  echo "installing ${missing[*]} with $apt (as root: Debian packages are system-wide)"
  echo "  apt-get update (package lists)…"
  # A lock taken between the wait above and apt-get's own: apt-get waits for it too, up to the same bound.
  local -a run
  read -r -a run <<<"$apt"
  run+=(-o "DPkg::Lock::Timeout=${SPECGOODS_APT_LOCK_WAIT:-300}")
  if ! DEBIAN_FRONTEND=noninteractive "${run[@]}" update -qq; then
    echo "apt-get update failed (see above); fix the package sources or the network and run again" >&2
    return 1
  fi
  # One line per download and per package set up: visible progress, not a silent minute.
  if ! DEBIAN_FRONTEND=noninteractive "${run[@]}" install -y -q "${missing[@]}" |
    awk '/^(Get:|Setting up )/ { print "  " $0; fflush() }'; then
    echo "apt-get install ${missing[*]} failed (see above)" >&2
    return 1
  fi
  echo "  installed in $((SECONDS - start)) s"
}
