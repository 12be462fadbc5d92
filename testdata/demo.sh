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
  ./bin/lxctl --root "$root" destroy vm1 >/dev/null 2>&1 || true
  ./bin/lxctl --root "$root" net-destroy default >/dev/null 2>&1 || true
  rm -rf "$root"
}
trap cleanup EXIT
# After "exit" on the console the shell that is init ends and the domain
# stops on its own; its controller may still be tearing down for a moment.
# Wait for that (up to 5 s) and destroy only what still runs.
stop_or_destroy() {
  for _ in $(seq 50); do
    ./bin/lxctl --root "$root" domstate "$1" | grep -q running || return 0
    sleep 0.1
  done
  lxctl destroy "$1"
}

lxctl define testdata/demo/demo.xml
lxctl start demo
lxctl list --all
lxctl dominfo demo
echo "+ (what the container printed on its console so far)" >&2
cat "$root/log/demo.console.log"
cmds='echo "inside: hostname=$(hostname) pid1=$(cat /proc/1/comm)"; exit'
echo "+ echo '$cmds' | lxctl console demo" >&2
echo "$cmds" | ./bin/lxctl --root "$root" console demo
stop_or_destroy demo
lxctl domstate --reason demo
lxctl undefine demo

# The doc's first example, exactly as written, on a network named 'default'.
# Not the shipped testdata/networks/default.xml (NAT, 192.168.124.0/24): the
# demo's own isolated copy, on a bridge and a 10.213.x.0/24 of its own, so it
# never clashes with the host's setup nor routes anything off the host.
br=lxdemo$(head -c2 /dev/urandom | od -An -tx1 | tr -d ' \n')
for o in $(seq 230 250); do ip -o addr | grep -q "10\.213\.$o\." || break; done
sed "s/lxctlbr0/$br/; s/192\.168\.124\./10.213.$o./g; /<forward/d" testdata/networks/default.xml > "$root/default.xml"
lxctl net-define "$root/default.xml"
lxctl net-start default
lxctl net-list
lxctl define testdata/domains/vm1.xml
lxctl start vm1
echo "+ lxctl dumpxml vm1 | grep -A5 '<interface'" >&2
./bin/lxctl --root "$root" dumpxml vm1 | grep -A5 '<interface'
cmds='ip -4 -o addr show eth0; ip route; exit'
echo "+ echo '$cmds' | lxctl console vm1" >&2
echo "$cmds" | ./bin/lxctl --root "$root" console vm1 || true
stop_or_destroy vm1
lxctl domstate --reason vm1
lxctl undefine vm1
lxctl net-destroy default
echo "demo done: nothing is left under $root or in /sys/fs/cgroup" >&2
