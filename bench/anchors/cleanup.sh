#!/bin/bash
# Remove every container, process, cgroup, mount and file the anchor benchmarks
# created (names anc-*, $ANC, cgroups anchors-bench/*, lxc.payload.anc-*,
# lxc.monitor.anc-*, and runc/crun cgroups named anc-*). Ends processes by PID only.
# CLEAN_ALL=1 also removes $ANC (rootfs, results) and lxc's lxc.pivot cgroups;
# CLEAN_NS=1 (make bench) only unmounts the crun mount namespace (setup.sh makes it again).
# lxctl: every domain under the bench's own --root ($LXROOT) is destroyed and the root removed.
set -u
source "$(dirname "$0")/env.sh"
crun_() { nsenter --mount="$CRUN_NS" crun "$@"; }
if [[ -x $LXCTL && -d $LXROOT ]]; then
  for d in $("$LXCTL" --root "$LXROOT" list --all --name 2>/dev/null); do
    "$LXCTL" --root "$LXROOT" destroy "$d" >/dev/null 2>&1
  done
  for d in "$LXROOT"/run/*/; do [[ -d $d ]] && "$LXCTL" --root "$LXROOT" destroy "$(basename "$d")" >/dev/null 2>&1; done
  left=$(find "$LXROOT/run" -mindepth 1 -maxdepth 1 -type d -not -name '.*' 2>/dev/null)
  if [[ -z $left ]]; then rm -rf "${LXROOT:?}"; else echo "cleanup: lxctl domains still running: $left" >&2; fi
fi
for id in $(runc list -q 2>/dev/null | grep '^anc-'); do runc delete --force "$id"; done
if [[ -e $CRUN_NS ]]; then for id in $(crun_ list -q 2>/dev/null | grep '^anc-'); do crun_ delete --force "$id"; done; fi
for d in "$LXCP"/anc-*; do [[ -d $d ]] && lxc-stop -k -n "$(basename "$d")" -P "$LXCP" >/dev/null 2>&1; done
for f in "$ANC"/nspawn/*.pid; do
  [[ -f $f ]] || continue; p=$(cat "$f")
  if [[ -e /proc/$p ]] && grep -q systemd-nspawn "/proc/$p/cmdline" 2>/dev/null; then
    for c in $(ps -o pid= --ppid "$p"); do kill -KILL "$c"; done
  fi
done
for f in "$ANC"/conmon/*/conmon.pid; do
  [[ -f $f ]] || continue; p=$(cat "$f")
  if [[ -e /proc/$p ]] && grep -q conmon "/proc/$p/cmdline" 2>/dev/null; then kill -TERM "$p"; fi
done
sleep 0.5
# cgroups: deepest first; only empty ones can be removed anyway
rmcg() { find "$1" -depth -type d -exec rmdir {} \; 2>/dev/null; }
for h in /sys/fs/cgroup/*/; do
  while read -r d; do rmcg "$d"; done < <(find "$h" -maxdepth 4 -type d \( -name 'anc-*' -o -name 'lxc.payload.anc-*' -o -name 'lxc.monitor.anc-*' -o -name "$BENCH_CG" \) 2>/dev/null)
done
if [[ ${CLEAN_ALL:-0} == 1 ]]; then
  for h in /sys/fs/cgroup/*/; do [[ -d $h/lxc.pivot ]] && rmcg "$h/lxc.pivot"; done
  if [[ -e $CRUN_NS ]]; then umount "$CRUN_NS" 2>/dev/null; fi
  mountpoint -q "$ANC/ns" && umount "$ANC/ns"
  rm -rf "${ANC:?}"
else
  if [[ ${CLEAN_NS:-0} == 1 ]]; then
    if [[ -e $CRUN_NS ]]; then umount "$CRUN_NS" 2>/dev/null; rm -f "$CRUN_NS"; fi
    mountpoint -q "$ANC/ns" && umount "$ANC/ns"
  fi
  rm -rf "${RUNDIR:?}"/anc-* "${LXCP:?}"/anc-* "$ANC"/nspawn "$ANC"/conmon/anc-*
fi
left=$(find /sys/fs/cgroup -maxdepth 5 -type d \( -name 'anc-*' -o -name '*anc-*' -o -name "$BENCH_CG" \) 2>/dev/null)
procs=$(pgrep -a -f 'anc-[abcdegi]-|lxctl-bench/bin' | grep -v "^$$ " || true)
mnts=$(grep -E "$ANC|anc-" /proc/self/mountinfo | awk '{print $5}' || true)
echo "cleanup done; leftover cgroups: ${left:-none}; processes: ${procs:-none}; mounts: ${mnts:-none}"
