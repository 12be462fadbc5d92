#!/usr/bin/env bash
# Lists what lxctl makes on a host: cgroups, mounts, controller processes,
# links carrying lxctl's mark (veths, bridges) and lxctl's nftables table.
#   leaks.sh --list          print them, one per line
#   leaks.sh BASELINE_FILE   fail if anything not in BASELINE_FILE is there
# Tests clean up after themselves; this is the check. The baseline keeps
# containers someone else runs on the same host out of the verdict.
set -u
list() {
  find /sys/fs/cgroup -maxdepth 4 -type d -name '*.lxctl*' 2>/dev/null | sed 's/^/cgroup /'
  grep -E 'lxctl' /proc/self/mountinfo | awk '{print "mount " $5}'
  ip -o link show 2>/dev/null | grep -E ' alias lxctl(-net)?/' | awk '{sub(/@.*|:$/, "", $2); print "link " $2}'
  pgrep -f '__controller' | while read -r p; do
    [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = Z ] || echo "process $p $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)"
  done
}
if [ "${1:-}" = --list ]; then list; exit 0; fi
base=${1:-/dev/null}
new=$(list | grep -vxF -f "$base")
if [ -n "$new" ]; then
  echo "left behind by the tests:"
  echo "$new"
  exit 1
fi
