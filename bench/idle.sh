#!/bin/bash
# shellcheck disable=SC2086  # lists of pids are split into words on purpose
# Scenario i (issue 6, scenario 4 extras): CPU used by each tool's resident
# host processes (lxctl's controller, [lxc monitor], conmon ...) over IDLE_S
# (10) seconds with the container idle (`sleep 1000`), all tools measured over
# the same window; then lxctl again with `lxctl console` attached (under
# `script`, raw mode, no input), counting the controller and the client.
# CPU = sum over all threads of /proc/<pid>/task/*/schedstat (ns on CPU);
# wakeups = sum of voluntary+involuntary context switches.
set -uo pipefail
ANCHORS_DIR=${ANCHORS_DIR:-$(cd "$(dirname "$0")/anchors" && pwd)}
source "$ANCHORS_DIR/env.sh"; source "$ANCHORS_DIR/scenarios/_hf.sh"
IDLE_S=${IDLE_S:-10}
enter_bench_cgroup
cpu_ns() { local p t s sum=0; for p in "$@"; do for t in /proc/"$p"/task/*; do read -r s _ < "$t/schedstat" 2>/dev/null && sum=$((sum+s)); done; done; echo "$sum"; }
ctxsw() { local p t sum=0 k v; for p in "$@"; do for t in /proc/"$p"/task/*; do
  while read -r k v; do [[ $k == *ctxt_switches: ]] && sum=$((sum+v)); done < "$t/status"; done; done; echo "$sum"; }
declare -A res
started=()
spid=
cleanup_i() {
  [[ -n $spid ]] && kill "$spid" 2>/dev/null
  local t; for t in "${started[@]}"; do load_tool "$t"; t_release "anc-i-$t"; done
}
trap cleanup_i EXIT
for tool in $TOOLS; do
  load_tool "$tool"; has_fn t_start || continue
  t_prepare "anc-i-$tool" plain /bin/sleep 1000
  t_start "anc-i-$tool" || { info "scenario=i tool=$tool START-FAILED"; continue; }
  started+=("$tool")
  ip=$(t_init_pid "anc-i-$tool")
  if has_fn t_resident_pids; then res[$tool]=$(t_resident_pids "anc-i-$tool"); else res[$tool]=$(resident_pids_default "$ip"); fi
done
msleep 1
declare -A c0 w0
for t in "${started[@]}"; do c0[$t]=$(cpu_ns ${res[$t]}); w0[$t]=$(ctxsw ${res[$t]}); done
info "scenario=i idle window ${IDLE_S}s load=$(cut -d' ' -f1-3 /proc/loadavg)"
msleep "$IDLE_S"
for t in "${started[@]}"; do
  [[ -z ${res[$t]} ]] && continue
  c1=$(cpu_ns ${res[$t]}); w1=$(ctxsw ${res[$t]})
  sample i "$t" idle_cpu_ms 1 "$(us_to_ms $(( (c1-c0[$t])/1000 )))" ms
  sample i "$t" idle_wakeups 1 "$((w1-w0[$t]))" count
done
if [[ " ${started[*]} " == *" lxctl "* ]]; then
  load_tool lxctl
  ififo=$(mktemp -u "$ANC/.idlefifo.XXXXXX"); mkfifo "$ififo"; exec {ifd}<>"$ififo"; rm -f "$ififo"
  script -q -c "$LXCTL --root $LXROOT console anc-i-lxctl" /dev/null <&"$ifd" >/dev/null 2>&1 &
  spid=$!
  msleep 1
  cl=$(pgrep -P "$(pgrep -P "$spid" | head -1)" 2>/dev/null | head -1)
  [[ -z $cl ]] && cl=$(pgrep -f "console anc-i-lxctl" | grep -v "^$spid$" | tail -1)
  ctl=${res[lxctl]}
  a0=$(cpu_ns $ctl); b0=$(cpu_ns "$cl"); x0=$(ctxsw $ctl "$cl")
  msleep "$IDLE_S"
  a1=$(cpu_ns $ctl); b1=$(cpu_ns "$cl"); x1=$(ctxsw $ctl "$cl")
  info "scenario=i console client pid=$cl ($(tr '\0' ' ' < "/proc/$cl/cmdline" 2>/dev/null | cut -c1-60))"
  sample i lxctl idle_cpu_ms_console_ctrl 1 "$(us_to_ms $(( (a1-a0)/1000 )))" ms
  sample i lxctl idle_cpu_ms_console_client 1 "$(us_to_ms $(( (b1-b0)/1000 )))" ms
  sample i lxctl idle_wakeups_console 1 "$((x1-x0))" count
  kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; spid=
  exec {ifd}<&-
fi
for m in idle_cpu_ms idle_cpu_ms_console_ctrl idle_cpu_ms_console_client; do summarize_samples i "$m" ms; done
for m in idle_wakeups idle_wakeups_console; do summarize_samples i "$m" count; done
