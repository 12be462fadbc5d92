#!/usr/bin/env bash
# What one veth costs at start: lxctl start with and without one
# <interface type='network'> (median of N, default 20, interleaved), then
# CYCLES (default 100) start/destroy cycles of a two-interface domain with
# a check that no veth, bridge port or lease is left. Everything is private:
# an lxctl network on a bridge of its own (lxb<random>) with a 10.213.x.0/24
# that only that bridge carries, under a throwaway --root.
#   sudo bench/network.sh [N] [CYCLES]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
CYCLES=${2:-100}
make -s build
root=$(mktemp -d /tmp/lxb.XXXXXX)
br=lxb$(head -c2 /dev/urandom | od -An -tx1 | tr -d ' \n')
for o in $(seq 200 250); do ip -o addr | grep -q "10\.213\.$o\." || break; done
lx() { ./bin/lxctl --root "$root" "$@"; }
cleanup() {
  for d in $(lx list --name 2>/dev/null); do lx destroy "$d" >/dev/null 2>&1 || true; done
  lx net-destroy bench >/dev/null 2>&1 || true
  rm -rf "$root"
}
trap cleanup EXIT
mkdir -p "$root/rootfs"/{proc,sys,dev,tmp}
CGO_ENABLED=0 go build -o "$root/rootfs/guest" ./testdata/guest
cat > "$root/net.xml" <<XML
<network><name>bench</name><bridge name='$br'/>
<ip address='10.213.$o.1' netmask='255.255.255.0'><dhcp><range start='10.213.$o.10' end='10.213.$o.250'/></dhcp></ip></network>
XML
lx net-define "$root/net.xml" >/dev/null
lx net-start bench >/dev/null
domain() { # name, devices, features
  cat <<XML
<domain type='lxc'><name>$1</name><memory unit='MiB'>256</memory>${3:-}
<os><type>exe</type><init>/guest</init><initarg>sleep</initarg></os>
<devices><filesystem type='mount'><source dir='$root/rootfs'/><target dir='/'/></filesystem>
$2<console type='pty'/></devices></domain>
XML
}
iface="<interface type='network'><source network='bench'/></interface>"
domain nonet "" "<features><privnet/></features>" | lx define - >/dev/null
domain onenet "$iface" | lx define - >/dev/null
domain twonet "$iface$iface" | lx define - >/dev/null
now() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b-a)/1e6}'; }
median() { sort -n | awk '{a[NR]=$1} END{print (NR%2?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2)}'; }
stats() { sort -n | awk '{a[NR]=$1} END{printf "min %.1f  median %.1f  max %.1f ms (n=%d)", a[1], (NR%2?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2), a[NR], NR}'; }
s0=(); s1=()
for ((i=0; i<N+2; i++)); do
  t0=$(now); lx start nonet >/dev/null; t1=$(now); lx destroy nonet >/dev/null
  t2=$(now); lx start onenet >/dev/null; t3=$(now); lx destroy onenet >/dev/null
  if ((i >= 2)); then s0+=("$(ms "$t0" "$t1")"); s1+=("$(ms "$t2" "$t3")"); fi
done
m0=$(printf '%s\n' "${s0[@]}" | median); m1=$(printf '%s\n' "${s1[@]}" | median)
leak() {
  local l=""
  # Only this root's domain's veths (their alias ends in /<root id>/twonet).
  ip -o -d link show type veth | grep -q 'alias lxctl/[^ ]*/twonet' && l+=" veth"
  [ -n "$(ip -o link show master "$br")" ] && l+=" bridge-port"
  ls "$root/run/.networks/"*.leases >/dev/null 2>&1 && l+=" lease"
  echo "$l"
}
t0=$(now)
for ((i=0; i<CYCLES; i++)); do
  lx start twonet >/dev/null; lx destroy twonet >/dev/null
  l=$(leak); if [ -n "$l" ]; then echo "cycle $i left:$l" >&2; exit 1; fi
done
t1=$(now)
echo "machine: $(nproc) cores, $(uname -r), $(date -u +%F)"
echo "start, privnet, no interface:          $(printf '%s\n' "${s0[@]}" | stats)"
echo "start, one veth on an lxctl network:   $(printf '%s\n' "${s1[@]}" | stats)"
n0=$(printf '%s\n' "${s0[@]}" | sort -n | head -1); n1=$(printf '%s\n' "${s1[@]}" | sort -n | head -1)
echo "veth setup cost: $(awk -v a="$m0" -v b="$m1" 'BEGIN{printf "%.1f", b-a}') ms (medians), $(awk -v a="$n0" -v b="$n1" 'BEGIN{printf "%.1f", b-a}') ms (minimums; trust these on a busy machine)"
echo "$CYCLES start/destroy cycles with two veths: $(ms "$t0" "$t1") ms in all, nothing left (veth, bridge port, lease)"
echo "libvirt 9.0 on this kind of machine: start 54-60 ms without network, 82 ms with one veth on virbr0 (+22-28 ms)"
