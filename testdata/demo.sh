#!/usr/bin/env bash
# make demo: define and start the demo container (the host-root example of
# libvirt's LXC driver doc, with /bin/sh as init), look at it the way a
# virsh user would, talk to its console, then destroy and undefine it.
# Everything lives under a throwaway --root, so the host's own lxctl state
# is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d /tmp/lxctl-demo.XXXXXX)
lxctl() { echo "+ lxctl $*" >&2; ./bin/lxctl --root "$root" "$@"; }
cleanup() {
  ./bin/lxctl --root "$root" destroy demo >/dev/null 2>&1 || true
  rm -rf "$root"
}
trap cleanup EXIT

lxctl define testdata/demo/demo.xml
lxctl start demo
lxctl list --all
lxctl dominfo demo
echo "+ (what the container printed on its console so far)" >&2
cat "$root/log/demo.console.log"
cmds='echo "inside: hostname=$(hostname) pid1=$(cat /proc/1/comm)"; exit'
echo "+ echo '$cmds' | lxctl console demo" >&2
echo "$cmds" | ./bin/lxctl --root "$root" console demo
lxctl domstate --reason demo
if ./bin/lxctl --root "$root" domstate demo | grep -q running; then lxctl destroy demo; fi
lxctl undefine demo
echo "demo done: nothing is left under $root or in /sys/fs/cgroup" >&2
