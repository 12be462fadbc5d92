#!/usr/bin/env bash
# Fails if anything lxctl makes is still on the host: cgroups, mounts,
# controller processes. Tests clean up after themselves; this is the check.
set -u
bad=0
cg=$(find /sys/fs/cgroup -maxdepth 4 -type d -name '*.lxctl*' 2>/dev/null)
if [ -n "$cg" ]; then echo "leaked cgroups:"; echo "$cg"; bad=1; fi
mnt=$(grep -E 'lxctl' /proc/self/mountinfo)
if [ -n "$mnt" ]; then echo "leaked mounts:"; echo "$mnt"; bad=1; fi
procs=$(pgrep -a -f '__controller|lxctl-test' | grep -v pgrep)
if [ -n "$procs" ]; then echo "leaked processes:"; echo "$procs"; bad=1; fi
exit $bad
