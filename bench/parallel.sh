#!/bin/bash
# Scenario p (issue 14): P_DOMAINS (50) containers running `sleep 1000`,
# started P_JOBS (8) at a time, then all stopped P_JOBS at a time; the wall
# time of each phase (and of the stop until every init is dead), per tool,
# P_ROUNDS (3) rounds with the tools interleaved. It counts the inits alive
# when the stops return and the cgroup dirs left afterwards.
# Run by bench/run.sh (scenario p); needs its environment (RESULTS_FILE).
set -uo pipefail
source "$(dirname "$0")/anchors/env.sh"; source "$ANCHORS_DIR/scenarios/_hf.sh"
ROUNDS=${P_ROUNDS:-3}; M=${P_DOMAINS:-50}; J=${P_JOBS:-8}
enter_bench_cgroup

# par FN NAME...: FN NAME for every name, at most J at a time; prints how
# many failed. Each job records its own failure: bash's `wait -n` returns
# 127 ("no unwaited-for child") when several jobs end at once, which is
# no failure of the tool (it counted 3-6 per phase for every tool before).
par() {
  local fn=$1 n running=0 log; shift
  log=$(mktemp "$ANC/par.XXXXXX")
  for n in "$@"; do
    if ((running >= J)); then wait -n; running=$((running - 1)); fi
    { "$fn" "$n" || echo "$n" >> "$log"; } &
    running=$((running + 1))
  done
  wait
  wc -l < "$log"; rm -f "$log"
}

for ((r = 1; r <= ROUNDS; r++)); do
  for tool in ${TOOLS_P:-$TOOLS}; do
    load_tool "$tool"; has_fn t_start || continue
    names=(); for ((k = 1; k <= M; k++)); do names+=("anc-p-$tool-$k"); done
    for n in "${names[@]}"; do t_prepare "$n" plain /bin/sleep 1000; done
    t0=$(now_us); fs=$(par t_start "${names[@]}"); t1=$(now_us)
    stamps=(); cgs=(); up=0
    for n in "${names[@]}"; do
      ip=$(t_init_pid "$n")
      [[ -n $ip && $(cat "/proc/$ip/comm" 2>/dev/null) == sleep ]] || continue
      up=$((up + 1))
      # shellcheck disable=SC2207
      stamps+=($(pid_stamps "$ip"))
      # shellcheck disable=SC2207
      cgs+=($(container_cgroup_dirs "$ip"))
    done
    t2=$(now_us); fk=$(par t_stop "${names[@]}"); t3=$(now_us)
    alive=$(count_survivors alive "${stamps[@]}")
    g=$(wait_all_gone alive 10 "${stamps[@]}")
    left=0; for d in "${cgs[@]}"; do [[ -d $d ]] && left=$((left + 1)); done
    [[ $fs == 0 && $up == "$M" ]] || info "scenario=p tool=$tool round=$r start: $fs non-zero exits, running $up/$M"
    [[ $fk == 0 ]] || info "scenario=p tool=$tool round=$r stop: $fk non-zero exits"
    sample p "$tool" start_all_ms "$r" "$(us_to_ms $((t1 - t0)))" ms
    sample p "$tool" stop_all_ms "$r" "$(us_to_ms $((t3 - t2)))" ms
    sample p "$tool" stop_all_to_dead_ms "$r" "$(us_to_ms $((t3 - t2 + g)))" ms
    sample p "$tool" running "$r" "$up" count
    sample p "$tool" alive_at_return "$r" "$alive" count
    sample p "$tool" cgroup_dirs_left "$r" "$left" count
    for n in "${names[@]}"; do t_release "$n"; done
  done
done
for m in start_all_ms stop_all_ms stop_all_to_dead_ms; do summarize_samples p $m ms; done
for m in running alive_at_return cgroup_dirs_left; do summarize_samples p $m count; done
