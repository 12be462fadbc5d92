#!/usr/bin/env bash
# Removes what an interrupted test run may have left: controller processes,
# their containers' cgroups, the throwaway "session" cgroups of the
# controller-outlives-session test. Only touches things named for lxctl tests.
set -u
pkill -9 -f '__controller' 2>/dev/null
find /sys/fs/cgroup -depth -type d \( -name '*.lxctl*' -o -name 'lxctl-test-*' \) 2>/dev/null | while read -r d; do
  while read -r p; do kill -9 "$p" 2>/dev/null; done 2>/dev/null < "$d/cgroup.procs"
done
sleep 0.2
find /sys/fs/cgroup -depth -type d \( -name '*.lxctl*' -o -name 'lxctl-test-*' \) -exec rmdir {} \; 2>/dev/null
exit 0
