#!/usr/bin/env bash
# Removes what an interrupted test run may have left: controller processes,
# their containers' cgroups. Only touches things named for lxctl tests.
set -u
pkill -9 -f '__controller' 2>/dev/null
for d in $(find /sys/fs/cgroup -depth -type d -name '*.lxctl*' 2>/dev/null); do
  for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
done
sleep 0.2
find /sys/fs/cgroup -depth -type d -name '*.lxctl*' -exec rmdir {} \; 2>/dev/null
exit 0
