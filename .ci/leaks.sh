#!/usr/bin/env bash
# Lists what lxctl makes on a host: cgroups, mounts, controller processes,
# links carrying lxctl's mark (veths, bridges), loop devices it attached
# (or backed by a test's images) and lxctl's nftables table.
#   leaks.sh --list          print them, one per line
#   leaks.sh BASELINE_FILE   fail if anything not in BASELINE_FILE is there
# Tests clean up after themselves; this is the check. The baseline keeps
# containers someone else runs on the same host out of the verdict.
set -u
list() {
  find /sys/fs/cgroup -maxdepth 4 -type d \( -name '*.lxctl*' -o -name 'lxctl-test-*' \) 2>/dev/null | sed 's/^/cgroup /'
  grep -E 'lxctl' /proc/self/mountinfo | awk '{print "mount " $5}'
  ip -o link show 2>/dev/null | grep -E ' alias lxctl(-net)?/' | awk '{sub(/@.*|:$/, "", $2); print "link " $2}'
  # Loop devices lxctl attached (lo_file_name "lxctl/<root key>/<name>",
  # read with LOOP_GET_STATUS64 through perl, which Debian always has), or
  # whose backing file is under a test's temp root (/tmp/lxt*).
  for d in /sys/block/loop*/loop; do
    [ -d "$d" ] || continue
    dev=${d%/loop}; dev=${dev##*/}
    back=$(cat "$d/backing_file" 2>/dev/null)
    mark=$(perl -e 'open(my $f, "<", $ARGV[0]) or exit; my $b = "\0" x 232; ioctl($f, 0x4C05, $b) or exit; print unpack("Z64", substr($b, 56, 64))' "/dev/$dev" 2>/dev/null)
    case "$mark|$back" in
      lxctl/*|*"|${TMPDIR:-/tmp}"/lxt*) echo "loop $dev $back $mark" ;;
    esac
  done
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
