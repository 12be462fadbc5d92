#!/bin/bash
# Scenario c: forceful teardown of a busy container (PROCS background sleeps under one
# shell). Measures the stop command's wall time, time until every one of its
# processes is dead, how many were still alive when the stop command returned, and
# whether any of its cgroup directories is left behind.
set -uo pipefail
source "$(dirname "$0")/../env.sh"; source "$ANCHORS_DIR/scenarios/_hf.sh"
N=${N:-5}; PROCS=${PROCS:-500}
enter_bench_cgroup
for ((i=1; i<=N; i++)); do
  for tool in $TOOLS; do
    load_tool "$tool"; has_fn t_start || continue
    name=anc-c-$tool-$i
    t_prepare "$name" plain /bench/busy.sh "$PROCS"
    if ! t_start "$name"; then info "scenario=c tool=$tool i=$i START-FAILED"; t_release "$name"; continue; fi
    ip=$(t_init_pid "$name"); ns=$(pidns_of "$ip")
    ts=$(now_us); cnt=0
    while :; do
      cnt=$(pids_in_pidns "$ns" | wc -l)
      (( cnt >= PROCS+1 )) && break
      (( $(now_us)-ts > 60000000 )) && break
      msleep 0.05
    done
    if (( cnt < PROCS+1 )); then info "scenario=c tool=$tool i=$i SPAWN-INCOMPLETE count=$cnt"; fi
    mapfile -t pids < <(pids_in_pidns "$ns")
    mapfile -t stamps < <(pid_stamps "${pids[@]}")
    cgs=$(container_cgroup_dirs "$ip")
    t0=$(now_us); t_stop "$name"; t1=$(now_us)
    alive=$(count_survivors alive "${stamps[@]}")
    g=$(wait_all_gone alive 30 "${stamps[@]}")
    left=0; procs_left=0
    for d in $cgs; do [[ -d $d ]] && { left=$((left+1)); procs_left=$((procs_left+$(wc -l < "$d/cgroup.procs"))); }; done
    info "scenario=c tool=$tool i=$i procs=${#stamps[@]} cgroups=$(wc -w <<<"$cgs")"
    sample c "$tool" stop_ms "$i" "$(us_to_ms $((t1-t0)))" ms
    if ((g < 0)); then dead=30000; else dead=$(us_to_ms $((t1-t0+g))); fi
    sample c "$tool" stop_to_dead_ms "$i" "$dead" ms
    sample c "$tool" alive_at_return "$i" "$alive" count
    sample c "$tool" survivors_after "$i" "$(count_survivors alive "${stamps[@]}")" count
    sample c "$tool" cgroup_dirs_left "$i" "$left" count
    sample c "$tool" cgroup_procs_left "$i" "$procs_left" count
    t_release "$name"
  done
done
for m in stop_ms stop_to_dead_ms; do summarize_samples c $m ms; done
for m in alive_at_return survivors_after cgroup_dirs_left cgroup_procs_left; do summarize_samples c $m count; done
