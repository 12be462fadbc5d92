# shellcheck shell=bash
# hyperfine helper: run_hf <scenario> <json> -- name1 cmd1 name2 cmd2 ...
# Runs one hyperfine invocation (-N: no shell, commands split shell-words style),
# then emits one SAMPLE line per run and returns. Summaries are made by the caller.
run_hf() {
  local scen=$1 json=$2; shift 3
  local args=() names=()
  while (($#)); do args+=(-n "$1" "$2"); names+=("$1"); shift 2; done
  hyperfine -N --style none --warmup "${WARMUP:-3}" --runs "${RUNS:-10}" \
            --export-json "$json" "${args[@]}" >/dev/null 2>"$json.err" || { cat "$json.err" >&2; return 1; }
  jq -r '.results[] | .command as $c | .times | to_entries[] | "\($c) \(.key) \(.value*1000)"' "$json" |
  while read -r name k v; do sample "$scen" "$name" wall_ms "${HF_ROUND:-1}.$k" "$v" ms; done
}
# summarize_samples <scenario> <metric> <unit> from $RESULTS_FILE, per tool
summarize_samples() {
  local s=$1 m=$2 u=$3 t
  grep "^SAMPLE scenario=$s " "$RESULTS_FILE" | grep " metric=$m " | sed 's/.* tool=\([^ ]*\) .*/\1/' | awk '!seen[$0]++' |
  while read -r t; do
    grep "^SAMPLE scenario=$s tool=$t metric=$m " "$RESULTS_FILE" | sed 's/.* value=\([^ ]*\) .*/\1/' | summarize "$s" "$t" "$m" "$u"
  done
}
