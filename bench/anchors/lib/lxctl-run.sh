#!/bin/bash
# Foreground run-to-completion for lxctl, which has no such mode (scenario a):
# `lxctl start NAME`, then wait until the domain's controller has exited, which
# it does only after its teardown (cgroups, run dir, status record removed).
# Polls /proc every 0.5 ms with a fork-free sleep (read -t on a fifo nobody
# writes). Usage: lxctl-run.sh LXCTL ROOT NAME FIFO
lxctl=$1 root=$2 name=$3 fifo=$4
"$lxctl" --root "$root" start "$name" >/dev/null || exit 1
s=$(<"$root/run/$name/status.json") 2>/dev/null || exit 0   # already gone
re='"controller_pid": *([0-9]+)'
[[ $s =~ $re ]] || exit 0
pid=${BASH_REMATCH[1]}
exec 3<>"$fifo"
while read -r st < "/proc/$pid/stat" 2>/dev/null; do
  st=${st##*) }; [[ ${st:0:1} == Z ]] && break
  read -r -t 0.0005 -u 3 || true
done
exit 0
