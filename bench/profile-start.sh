#!/bin/bash
# Where `lxctl start` spends its time: runs `lxctl --debug start` N times
# (default 7) on the bench's busybox rootfs and splits each start by the
# microsecond timestamps the controller and libcontainer write to the domain
# log (<root>/log/NAME.log), then prints the last start line by line (the
# controller's "step:" marks at debug level, libcontainer's and nsexec's
# lines). GAP=SECONDS between starts lets the kernel go quiet (cold starts).
# Needs `make bench` to have run setup once (rootfs).
#   sudo [GAP=1] bench/profile-start.sh [N]
set -uo pipefail
ANCHORS_DIR=$(cd "$(dirname "$0")/anchors" && pwd)
source "$ANCHORS_DIR/env.sh"
[[ -x $ROOTFS/bin/busybox ]] || "$ANCHORS_DIR/setup.sh" >&2
mkdir -p "$ANC/bin"; install -m 0755 "$(dirname "$ANCHORS_DIR")/../bin/lxctl" "$LXCTL"
load_tool lxctl
name=anc-p-$$
trap 't_release "$name"' EXIT
t_prepare "$name" plain /bin/sleep 1000
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i=0; i<${1:-7}; i++)); do
  : > "$LXROOT/log/$name.log"
  t0=$(date -u +%T.%6N); "${LX[@]}" --debug start "$name" >/dev/null; t1=$(date -u +%T.%6N)
  awk -v t0="$t0" -v t1="$t1" '
    function s(x,  p) { split(x, p, ":"); return p[1]*3600 + p[2]*60 + p[3] }
    { match($0, /T[0-9:.]+Z/); ts = s(substr($0, RSTART+1, RLENGTH-2)) }
    /F_GET_SEALS/ && !A { A = ts } /nsexec container setup/ && !B { B = ts }
    /booting up go runtime/ { C = ts } /read sync type:procHooks/ { D = ts }
    /sync pipe closed/ { E = ts } /started: init pid/ { F = ts }
    END { T0 = s(t0); T1 = s(t1)
      printf "CLI+controller until libcontainer %5.1f | exe clone %4.1f | nsexec %4.1f | init Go boot+rootfs %5.1f | hooks..procRun %5.1f | ->started %5.1f | ->CLI exit %5.1f | total %6.1f ms\n",
        (A-T0)*1e3, (B-A)*1e3, (C-B)*1e3, (D-C)*1e3, (E-D)*1e3, (F-E)*1e3, (T1-F)*1e3, (T1-T0)*1e3 }' "$LXROOT/log/$name.log"
  cp "$LXROOT/log/$name.log" "$ANC/profile-last.log"; last_t0=$t0; last_t1=$t1
  t_stop "$name"
  sleep "${GAP:-0}"
done
# The last start, line by line: what the controller (step: ...), libcontainer
# and nsexec logged, and the milliseconds since the line before.
echo; echo "last start, step by step (ms since the previous line):"
awk -v t0="$last_t0" -v t1="$last_t1" '
  function s(x,  p) { split(x, p, ":"); return p[1]*3600 + p[2]*60 + p[3] }
  BEGIN { prev = s(t0); print "  CLI exec" }
  { if (!match($0, /T[0-9:.]+Z/)) next; ts = s(substr($0, RSTART+1, RLENGTH-2))
    m = $0; sub(/^.*msg="/, "", m); sub(/".*$/, "", m); if (length(m) > 64) m = substr(m, 1, 64)
    printf "  %-66s %+7.2f\n", m, (ts - prev) * 1e3; prev = ts }
  END { printf "  %-66s %+7.2f   total %.1f ms\n", "CLI exit", (s(t1) - prev) * 1e3, (s(t1) - s(t0)) * 1e3 }' "$ANC/profile-last.log"
