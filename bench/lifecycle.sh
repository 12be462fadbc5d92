#!/usr/bin/env bash
# Start and destroy latency of lxctl (median of N, default 20) and the
# controller's memory, for the closing notes of the lifecycle work. Uses a
# private busybox-free root: the static test guest as init, sleeping.
#   sudo bench/lifecycle.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
make -s build
root=$(mktemp -d /tmp/lxb.XXXXXX)
cleanup() {
  local d
  for d in $(./bin/lxctl --root "$root" list --name 2>/dev/null); do ./bin/lxctl --root "$root" destroy "$d" >/dev/null 2>&1; done
  rm -rf "$root"
}
trap cleanup EXIT
mkdir -p "$root/rootfs"/{proc,sys,dev,tmp}
CGO_ENABLED=0 go build -o "$root/rootfs/guest" ./testdata/guest
lx() { ./bin/lxctl --root "$root" "$@"; }
domain() { # name, memory MiB, init args...
  local name=$1 mem=$2; shift 2; local args=""
  for a in "$@"; do args+="<initarg>$a</initarg>"; done
  cat <<XML
<domain type='lxc'><name>$name</name><memory unit='MiB'>$mem</memory>
<os><type>exe</type><init>/guest</init>$args</os>
<devices><filesystem type='mount'><source dir='$root/rootfs'/><target dir='/'/></filesystem>
<console type='pty'/></devices></domain>
XML
}
now() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b-a)/1e6}'; }
stats() { sort -n | awk '{a[NR]=$1} END{printf "min %.1f  median %.1f  max %.1f ms (n=%d)\n", a[1], (NR%2?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2), a[NR], NR}'; }

domain b1 256 sleep | lx define - >/dev/null
# 500 small Go processes need more than 256 MiB.
domain b500 4096 fork 400 forkterm 100 print ready sleep | lx define - >/dev/null
starts=(); destroys=(); d500=()
for ((i=0; i<N+2; i++)); do
  t0=$(now); lx start b1 >/dev/null; t1=$(now); lx destroy b1 >/dev/null; t2=$(now)
  if ((i >= 2)); then starts+=("$(ms "$t0" "$t1")"); destroys+=("$(ms "$t1" "$t2")"); fi
done
for ((i=0; i<5; i++)); do
  lx start b500 >/dev/null
  for ((w=0; w<600; w++)); do grep -q ready "$root/log/b500.console.log" 2>/dev/null && break; sleep 0.05; done
  : > "$root/log/b500.console.log"
  t0=$(now); lx destroy b500 >/dev/null; t1=$(now); d500+=("$(ms "$t0" "$t1")")
done
lx start b1 >/dev/null
sleep 1
pid=$(lx domid b1 | head -1)
rss=$(awk '/VmRSS/{print $2}' /proc/"$pid"/status)
pss=$(awk '/^Pss:/{s+=$2} END{print s}' /proc/"$pid"/smaps_rollup)
anon=$(awk '/RssAnon/{print $2}' /proc/"$pid"/status)
thr=$(awk '/Threads/{print $2}' /proc/"$pid"/status)
lx destroy b1 >/dev/null
echo "machine: $(nproc) cores, $(uname -r), $(date -u +%F)"
echo "start (lxctl start returns with init running):  $(printf '%s\n' "${starts[@]}" | stats)"
echo "destroy (idle container):                      $(printf '%s\n' "${destroys[@]}" | stats)"
echo "destroy (500 processes, 100 ignoring SIGTERM):  $(printf '%s\n' "${d500[@]}" | stats)"
echo "controller: VmRSS ${rss} kB, PSS ${pss} kB, RssAnon ${anon} kB, ${thr} threads"
echo "libvirt 9.0 on this kind of machine: start 54-60 ms, destroy 223 ms (500 procs: 231 ms), controller 20 MB RSS (2.3 MB private)"
