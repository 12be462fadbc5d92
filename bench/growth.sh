#!/bin/bash
# Scenario g (issue 6, scenario 6): growth. With 1, 10 and 50 lxctl containers
# already running (busybox `sleep 1000`, started untimed), time `lxctl start` of
# one more (then destroy it, untimed) and `lxctl list`; then `lxctl list --all`
# (and --json, which parses every definition) over 1000 defined domains.
# The 1000 definitions are one `lxctl define`d document cloned with a new name
# and uuid into the private --root's domains dir (1000 defines would take ~30 s).
# start is timed from $EPOCHREALTIME in place ($(now_us) would fork a subshell,
# 2-3 ms here, inside the interval); the read-only list commands under
# hyperfine -N, which also keeps this script's fork+exec out of the time.
# Knobs: GROWTH_LEVELS ("1 10 50"), GROWTH_N (10 per level), GROWTH_DEFS (1000).
set -uo pipefail
ANCHORS_DIR=${ANCHORS_DIR:-$(cd "$(dirname "$0")/anchors" && pwd)}
source "$ANCHORS_DIR/env.sh"; source "$ANCHORS_DIR/scenarios/_hf.sh"
LEVELS=${GROWTH_LEVELS:-"1 10 50"}; GN=${GROWTH_N:-10}; DEFS=${GROWTH_DEFS:-1000}
enter_bench_cgroup
load_tool lxctl
# hf_sample METRIC CMD: GN runs of a read-only command under hyperfine -N (no
# shell, no fork of this script inside the timing), one SAMPLE line per run.
hf_sample() {
  local json=$ANC/results/g-hf.json
  hyperfine -N --style none --warmup 2 --runs "$GN" --export-json "$json" "$2" >/dev/null 2>&1 ||
    { info "scenario=g hyperfine $2 FAILED"; return; }
  jq -r '.results[0].times | to_entries[] | "\(.key) \(.value*1000)"' "$json" |
  while read -r k v; do sample g lxctl "$1" "$((k+1))" "$v" ms; done
}
bg=()
cleanup_g() {
  local n
  for n in "${bg[@]}" anc-g-probe; do t_release "$n"; done
  rm -f "$LXROOT"/domains/anc-g-def-*.xml
}
trap cleanup_g EXIT
t_prepare anc-g-probe plain /bin/sleep 1000
for L in $LEVELS; do
  while ((${#bg[@]} < L)); do
    n=anc-g-bg-$((${#bg[@]}+1)); t_prepare "$n" plain /bin/sleep 1000
    t_start "$n" || { info "scenario=g bg start of $n FAILED"; break; }
    bg+=("$n")
  done
  run=0; for d in "$LXROOT"/run/anc-g-bg-*; do [[ -d $d ]] && run=$((run+1)); done
  info "scenario=g running=$run load=$(cut -d' ' -f1-3 /proc/loadavg)"
  for ((i=1; i<=GN; i++)); do
    t0=${EPOCHREALTIME/./}; t_start anc-g-probe; rc=$?; t1=${EPOCHREALTIME/./}
    [[ $rc == 0 ]] && sample g lxctl "start_ms@$L" "$i" "$(us_to_ms $((t1-t0)))" ms
    t_stop anc-g-probe
  done
  hf_sample "list_ms@$L" "${LX[*]} list"
done
for n in "${bg[@]}"; do t_stop "$n"; done
# 1000 definitions
"${LX[@]}" define /dev/stdin >/dev/null <<XML
$(lxctl_domain anc-g-def-0000 plain /bin/sleep 1000)
XML
src=$LXROOT/domains/anc-g-def-0000.xml
if [[ -f $src ]]; then
  tmpl=$(<"$src"); uuid0=$(sed -n 's:.*<uuid>\(.*\)</uuid>.*:\1:p' "$src")
  for ((k=1; k<DEFS; k++)); do
    nm=$(printf 'anc-g-def-%04d' "$k"); u=$(</proc/sys/kernel/random/uuid)
    d=${tmpl//anc-g-def-0000/$nm}; printf '%s\n' "${d//$uuid0/$u}" > "$LXROOT/domains/$nm.xml"
  done
  chmod 600 "$LXROOT"/domains/anc-g-def-*.xml
  cnt=$("${LX[@]}" list --all --name | grep -c '^anc-g-def-')
  info "scenario=g defined=$cnt"
  hf_sample "list_all_ms@$DEFS" "${LX[*]} list --all"
  hf_sample "list_all_json_ms@$DEFS" "${LX[*]} list --all --json"
else
  info "scenario=g define of the template FAILED"
fi
# an empty root: the cost of any lxctl command (Go process start + cobra)
hf_sample "list_ms@0" "$LXCTL --root $ANC/empty-root list"
rm -rf "$ANC/empty-root"
grep '^SAMPLE scenario=g ' "$RESULTS_FILE" | sed 's/.* metric=\([^ ]*\) .*/\1/' | awk '!s[$0]++' |
while read -r m; do summarize_samples g "$m" ms; done
