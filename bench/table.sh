#!/bin/bash
# Render the RESULT lines of a bench results file as markdown tables:
# scenario x tool -> min / median / max, and lxctl's ratio (of medians) to
# each anchor in the same run. Usage: table.sh RESULTS_FILE [TOOLS]
set -uo pipefail
f=$1
tools=${2:-$(grep '^INFO tools=' "$f" | head -1 | sed 's/^INFO tools=//')}
[[ -n $tools ]] || tools="lxctl runc crun lxc"
grep -E '^(RESULT|GOBENCH|INFO)' "$f" | awk -v tools="$tools" '
function fmt(x) { if (x !~ /^-?[0-9.]+$/) return x; if (x == int(x)) return sprintf("%d", x); return (x < 10 && x > -10) ? sprintf("%.2f", x) : sprintf("%.1f", x) }
function cell(k) { if (!(k in med)) return "–"; if (!(k in mn)) return "**" fmt(med[k]) "**"; return fmt(mn[k]) " / **" fmt(med[k]) "** / " fmt(mx[k]) }
function ratio(a, b) { if (a == "" || b == "" || b+0 == 0) return "–"; return sprintf("%.2f×", a/b) }
function isort(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t } return n }
function num(x) { return (x ~ /^-?[0-9.]+$/) ? x+0 : "" }
# best(scenario, metric, "min"|"max"): the key of the median of the best peer
function best(s, m, how,   k, q, b, bk) { bk = ""
  for (k in med) { split(k, q, "|"); if (q[1] != s || q[3] != m || q[2] == "lxctl" || q[2] ~ /^(raw|floor)/ || q[2] ~ /-0$/) continue
    if (bk == "" || (how == "min" ? med[k] + 0 < b : med[k] + 0 > b)) { b = med[k] + 0; bk = k } }
  return bk }
function peer(k,   q) { split(k, q, "|"); return q[2] }
# verdict(label, lxctl key, reference key, "le"|"ge"|"", bound): ratio of medians against a bound (1.0)
function verdict(label, a, b, how, bound,   r, v) {
  if (!(a in med) || !(b in med) || med[b] + 0 == 0) return
  if (bound == "") bound = 1.0
  r = med[a] / med[b]
  v = (how == "le") ? (r <= bound ? "met" : "**missed**") : (how == "ge") ? (r >= bound ? "met" : "**missed**") : "–"
  printf "| %s | %s | %s %s | %.2f× | %s |\n", label, fmt(med[a]), peer(b), fmt(med[b]), r, v }
# limit(label, key, bound): a median against an absolute bound
function limit(label, a, bound) {
  if (!(a in med)) return
  printf "| %s | %s | %s | – | %s |\n", label, fmt(med[a]), bound, (med[a] + 0 <= bound ? "met" : "**missed**") }
/^RESULT/ {
  delete kv
  for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
  k = kv["scenario"] "|" kv["tool"] "|" kv["metric"]
  med[k] = kv["median"]; if ("min" in kv) { mn[k] = kv["min"]; mx[k] = kv["max"] }
  if ("n" in kv) nn[k] = kv["n"]
  next
}
/^GOBENCH/ { gob[++ng] = $0; next }
END {
  nt = split(tools, T, " "); na = 0
  for (i = 1; i <= nt; i++) if (T[i] != "lxctl") A[++na] = T[i]
  # rows: scenario|metric|label|floor tool|suffix for the tool name
  R[++nr] = "a|wall_ms|**a** run to completion of /bin/true, ms|floor-unshare|"
  R[++nr] = "b|start_ms|**b** detached start (`sleep 1000`), ms||"
  R[++nr] = "b|stop_ms|b stop command returns, ms||"
  R[++nr] = "b|stop_to_dead_ms|b stop until init dead, ms||"
  R[++nr] = "b|cgroup_dirs_left|b cgroup dirs left (max)||"
  R[++nr] = "c|stop_ms|**c** stop of 501 processes returns, ms||"
  R[++nr] = "c|stop_to_dead_ms|c stop until all 501 dead, ms||"
  R[++nr] = "c|alive_at_return|c processes alive at return||"
  R[++nr] = "c|survivors_after|c survivors afterwards||"
  R[++nr] = "c|cgroup_dirs_left|c cgroup dirs left||"
  R[++nr] = "d|resident_rss_kb|**d** resident host process VmRSS, kB||"
  R[++nr] = "d|resident_pss_kb|d resident host process PSS, kB||"
  R[++nr] = "d|payload_rss_kb|d payload (sleep) VmRSS, kB||"
  R[++nr] = "m|resident_pss_kb|**m** resident process PSS each, 10 running, kB||"
  R[++nr] = "m|resident_private_kb|m its private memory each, 10 running, kB||"
  R[++nr] = "m|resident_threads|m its threads||"
  R[++nr] = "p|start_all_ms|**p** 50 started, 8 at a time, wall ms||"
  R[++nr] = "p|stop_all_ms|p 50 stopped, 8 at a time, wall ms||"
  R[++nr] = "p|stop_all_to_dead_ms|p 50 stopped until every init dead, ms||"
  R[++nr] = "p|running|p running after the starts||"
  R[++nr] = "p|alive_at_return|p inits alive when the stops return||"
  R[++nr] = "p|cgroup_dirs_left|p cgroup dirs left||"
  R[++nr] = "i|idle_cpu_ms|**4** resident process CPU over the idle window, ms||"
  R[++nr] = "i|idle_wakeups|4 its context switches over the window||"
  R[++nr] = "e|wall_ms|**e** 50 MB of console text, wall ms|raw|"
  R[++nr] = "e|wall_ms|e same with a 0-byte payload, ms|raw|-0"
  R[++nr] = "e|net_MBps|e net console throughput, MB/s|raw|"
  hdr = "| scenario | lxctl"; sep = "|---|---"
  for (j = 1; j <= na; j++) { hdr = hdr " | " A[j]; sep = sep "|---" }
  hdr = hdr " | floor / bare pty"; sep = sep "|---"
  for (j = 1; j <= na; j++) { hdr = hdr " | lxctl ÷ " A[j]; sep = sep "|---" }
  hdr = hdr " | lxctl ÷ floor |"; sep = sep "|---|"
  print hdr; print sep
  for (r = 1; r <= nr; r++) {
    split(R[r], q, "|"); s = q[1]; m = q[2]; fl = q[4]; sf = q[5]
    kl = s "|lxctl" sf "|" m
    any = (kl in med); for (j = 1; j <= na; j++) if ((s "|" A[j] sf "|" m) in med) any = 1
    if (!any) continue
    line = "| " q[3] " | " cell(kl)
    for (j = 1; j <= na; j++) line = line " | " cell(s "|" A[j] sf "|" m)
    kf = s "|" fl sf "|" m
    line = line " | " (fl != "" ? cell(kf) : "")
    for (j = 1; j <= na; j++) line = line " | " ratio(num(med[kl]), num(med[s "|" A[j] sf "|" m]))
    line = line " | " (fl != "" ? ratio(num(med[kl]), num(med[kf])) : "") " |"
    print line
  }
  # the targets of issue 14, from the medians above
  print "\n| target (issue 14) | lxctl | against | ratio | verdict |"; print "|---|---|---|---|---|"
  verdict("detached start ≤ 1.0× crun", "b|lxctl|start_ms", "b|crun|start_ms", "le")
  verdict("detached start ≤ 1.0× LXC (the goal after that)", "b|lxctl|start_ms", "b|lxc|start_ms", "le")
  verdict("stop until dead, 1 process, ≤ 1.0× the fastest peer", "b|lxctl|stop_to_dead_ms", best("b", "stop_to_dead_ms", "min"), "le")
  verdict("stop until dead, 501 processes, ≤ 1.0× crun", "c|lxctl|stop_to_dead_ms", "c|crun|stop_to_dead_ms", "le")
  verdict("console throughput ≥ 1.0× the fastest peer", "e|lxctl|net_MBps", best("e", "net_MBps", "max"), "ge")
  limit("controller PSS ≤ 1.5 MB each, 10 running (kB)", "m|lxctl|resident_pss_kb", 1500)
  limit("controller private ≤ 1.2 MB each, 10 running (kB)", "m|lxctl|resident_private_kb", 1200)
  verdict("50 started 8 at a time (no target; against crun)", "p|lxctl|start_all_ms", "p|crun|start_all_ms", "")
  verdict("50 started 8 at a time (no target; against LXC)", "p|lxctl|start_all_ms", "p|lxc|start_all_ms", "")
  verdict("50 stopped 8 at a time until dead (no target; against crun)", "p|lxctl|stop_all_to_dead_ms", "p|crun|stop_all_to_dead_ms", "")
  verdict("no regression: start with 50 running ÷ with 1 ≤ 1.1×", "g|lxctl|start_ms@50", "g|lxctl|start_ms@1", "le", 1.1)
  limit("no regression: idle controller CPU over the window (ms)", "i|lxctl|idle_cpu_ms", 0)
  # round two (2026-11-30 03:34): list with 50 running 5.47 ms, list --all of 1000 10.2 ms; 1.25× for noise
  limit("no regression: `lxctl list` with 50 running (ms; round two 5.47)", "g|lxctl|list_ms@50", 6.8)
  limit("no regression: `lxctl list --all` of 1000 (ms; round two 10.2)", "g|lxctl|list_all_ms@1000", 12.8)
  left = ""; nl = 0
  for (k in med) if (k ~ /^[bcp]\|lxctl\|(cgroup_dirs_left|alive_at_return|survivors_after)$/) { nl++; if (mx[k] + 0 > 0) left = left " " k "=" mx[k] }
  if (nl) printf "| no regression: destroy leaves nothing (b, c, p: alive at return, survivors, cgroup dirs; max) | %s | 0 | – | %s |\n", (left == "" ? "0" : left), (left == "" ? "met" : "**missed**")
  # idle with a console client attached (lxctl only)
  if (("i|lxctl|idle_cpu_ms_console_ctrl") in med) {
    printf "\nIdle with `lxctl console` attached (same window): controller %s ms CPU, client %s ms CPU, %s context switches (both).\n", \
      med["i|lxctl|idle_cpu_ms_console_ctrl"], med["i|lxctl|idle_cpu_ms_console_client"], med["i|lxctl|idle_wakeups_console"]
  }
  # growth
  ng2 = 0
  for (k in med) if (k ~ /^g\|lxctl\|/) { split(k, q, "|"); G[++ng2] = q[3] }
  if (ng2) {
    n = isort(G, ng2)
    print "\n| growth (lxctl) | min / **median** / max, ms | n |"; print "|---|---|---|"
    for (i = 1; i <= n; i++) { k = "g|lxctl|" G[i]; m = G[i]; sub(/@/, " with ", m)
      sub(/^start_ms with /, "`lxctl start`, already running: ", m); sub(/^list_ms with /, "`lxctl list`, running: ", m)
      sub(/^list_all_ms with /, "`lxctl list --all`, definitions: ", m); sub(/^list_all_json_ms with /, "`lxctl list --all --json`, definitions: ", m)
      print "| " m " | " cell(k) " | " nn[k] " |" }
  }
  # floor
  nf = 0
  for (k in med) if (k ~ /^f\|/) { split(k, q, "|"); F[++nf] = q[2] }
  if (nf) {
    n = isort(F, nf)
    print "\n| floor (f) | min / **median** / max, ms |"; print "|---|---|"
    for (i = 1; i <= n; i++) print "| " F[i] " | " cell("f|" F[i] "|wall_ms") " |"
  }
  if (ng) {
    print "\n| Go benchmark | ns/op | B/op | allocs/op |"; print "|---|---|---|---|"
    for (i = 1; i <= ng; i++) { $0 = gob[i]; ns = b = al = "–"
      for (j = 3; j <= NF; j++) { if ($j == "ns/op") ns = $(j-1); if ($j == "B/op") b = $(j-1); if ($j == "allocs/op") al = $(j-1) }
      print "| " $2 " | " ns " | " b " | " al " |" }
  }
}'
