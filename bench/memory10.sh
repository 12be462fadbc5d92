#!/bin/bash
# Scenario m (issue 14): resident memory per container with M_DOMAINS (10)
# running at once, for the tools that keep a process on the host per
# container (lxctl's controller, LXC's monitor): PSS and private memory
# (Private_Clean + Private_Dirty of smaps_rollup) of each resident process,
# the median over the containers, M_ROUNDS (3) rounds. With several running,
# the pages of the binary are shared and PSS divides them; private memory is
# what each one costs on its own.
# Run by bench/run.sh (scenario m); needs its environment (RESULTS_FILE).
set -uo pipefail
source "$(dirname "$0")/anchors/env.sh"; source "$ANCHORS_DIR/scenarios/_hf.sh"
ROUNDS=${M_ROUNDS:-3}; M=${M_DOMAINS:-10}; SETTLE=${SETTLE:-1}
enter_bench_cgroup
priv_kb() { awk '/^Private_(Clean|Dirty):/{s+=$2} END {print s+0}' "/proc/$1/smaps_rollup" 2>/dev/null; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print 0}'; }
for ((r = 1; r <= ROUNDS; r++)); do
  for tool in $TOOLS; do
    load_tool "$tool"; has_fn t_start || continue
    names=(); for ((k = 1; k <= M; k++)); do names+=("anc-m-$tool-$k"); done
    ok=1
    for n in "${names[@]}"; do
      t_prepare "$n" plain /bin/sleep 1000
      t_start "$n" || { info "scenario=m tool=$tool round=$r START-FAILED $n"; ok=0; }
    done
    msleep "$SETTLE"
    pss=(); priv=(); thr=()
    for n in "${names[@]}"; do
      ip=$(t_init_pid "$n") || continue
      if has_fn t_resident_pids; then res=$(t_resident_pids "$n"); else res=$(resident_pids_default "$ip"); fi
      for p in $res; do
        pss+=("$(pss_kb "$p")"); priv+=("$(priv_kb "$p")")
        thr+=("$(awk '/^Threads:/{print $2}' "/proc/$p/status")")
      done
    done
    if ((${#pss[@]} > 0 && ok)); then
      sample m "$tool" resident_pss_kb "$r" "$(printf '%s\n' "${pss[@]}" | median)" kB
      sample m "$tool" resident_private_kb "$r" "$(printf '%s\n' "${priv[@]}" | median)" kB
      sample m "$tool" resident_threads "$r" "$(printf '%s\n' "${thr[@]}" | median)" count
    fi
    for n in "${names[@]}"; do t_stop "$n"; t_release "$n"; done
  done
done
for m in resident_pss_kb resident_private_kb; do summarize_samples m $m kB; done
summarize_samples m resident_threads count
