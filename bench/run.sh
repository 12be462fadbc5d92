#!/bin/bash
# `make bench`: lxctl side by side with runc, crun and LXC (and, on request,
# conmon and systemd-nspawn) on one busybox rootfs, tools interleaved round by
# round, then one markdown table. Needs root. Everything it starts it stops.
#
# Knobs (environment):
#   TOOLS        tools to compare (default "lxctl runc crun lxc"; the adapters in
#                anchors/tools/ also have conmon-runc conmon-crun nspawn)
#   SCENARIOS    default "f a b c d m p i e g go" (f floor, a run-to-completion,
#                b detached start/stop, c teardown of 501 processes, d resident
#                memory, m resident memory each with 10 running, p 50 started
#                and stopped 8 at a time, i idle CPU,
#                e console, g growth, go Go benchmarks)
#   BENCH_N      rounds for b (default 10); c and d use BENCH_N_CD (default 5)
#   A_ROUNDS/A_RUNS (3/10) for a, E_RUNS (5) for e, F_RUNS (50) for f
#   P_ROUNDS (3), P_DOMAINS (50), P_JOBS (8), TOOLS_P (default TOOLS) for p
#   M_ROUNDS (3), M_DOMAINS (10) for m
#   CONSOLE_BYTES (50000000), PROCS (500), IDLE_S (10), GROWTH_N (10),
#   GROWTH_LEVELS ("1 10 50"), GROWTH_DEFS (1000), GOBENCHTIME (1s)
#   SETUP_APT    1 (default): apt-get install what is missing
#   ANC          work area (default /tmp/lxctl-bench; results in $ANC/results)
set -uo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd); REPO=$(dirname "$BENCH")
export ANCHORS_DIR=$BENCH/anchors
source "$ANCHORS_DIR/env.sh"
export ANC TOOLS LXCTL LXROOT NETNS CONSOLE_BYTES
[[ $(id -u) == 0 ]] || { echo "make bench: run as root (containers, cgroups, namespaces)" >&2; exit 1; }
SCENARIOS=${SCENARIOS:-"f a b c d m p i e g go"}

SETUP_APT=${SETUP_APT:-1} "$ANCHORS_DIR/setup.sh" >&2 || { echo "bench: setup failed" >&2; exit 1; }
mkdir -p "$ANC/bin" "$ANC/results"
install -m 0755 "$REPO/bin/lxctl" "$LXCTL"    # private copy: a rebuild mid-run changes nothing
# the anchors' tools that are not installed are left out (and said so)
have=()
for t in $TOOLS; do
  case $t in
    lxctl) c=$LXCTL ;; runc|conmon-runc) c=runc ;; crun|conmon-crun) c=crun ;; lxc) c=lxc-start ;; nspawn) c=systemd-nspawn ;; *) c=$t ;;
  esac
  if command -v "$c" >/dev/null && [[ -f $ANCHORS_DIR/tools/$t.sh ]]; then have+=("$t"); else echo "bench: $t not available, left out" >&2; fi
done
TOOLS="${have[*]}"

ts=$(date -u +%Y%m%dT%H%M%SZ)
export RESULTS_FILE=$ANC/results/$ts.txt
: > "$RESULTS_FILE"
cleanup() { CLEAN_NS=1 "$ANCHORS_DIR/cleanup.sh" >&2; }
trap cleanup EXIT
trap 'exit 130' INT TERM

ver() { "$@" 2>/dev/null | head -1; }
info "tools=$TOOLS"
info "machine nproc=$(nproc) kernel=$(uname -r) mem=$(awk '/MemTotal/{printf "%.0fGiB", $2/1048576}' /proc/meminfo) date=$(date -u +%FT%TZ)"
info "versions lxctl=$("$LXCTL" version 2>/dev/null | tr '\n' ' ') go=$(go env GOVERSION 2>/dev/null) runc=$(ver runc --version | awk '{print $3}') crun=$(ver crun --version | awk '{print $3}') lxc=$(ver lxc-start --version) hyperfine=$(ver hyperfine --version | awk '{print $2}')"
info "cgroup: $(stat -fc %T /sys/fs/cgroup) root; unified=$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null) controllers=[$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)] netns=$NETNS"
load() { info "load before=$1 loadavg=$(cut -d' ' -f1-3 /proc/loadavg) procs_running=$(awk '/procs_running/{print $2}' /proc/stat)"; }

for s in $SCENARIOS; do
  load "$s"
  echo "bench: scenario $s ($(date +%T))" >&2
  case $s in
    f) RUNS=${F_RUNS:-50} "$ANCHORS_DIR/scenarios/f_floor.sh" >/dev/null ;;
    a) TOOLS_A=$TOOLS ROUNDS=${A_ROUNDS:-3} RUNS=${A_RUNS:-10} "$ANCHORS_DIR/scenarios/a_run.sh" >/dev/null ;;
    b) N=${BENCH_N:-10} "$ANCHORS_DIR/scenarios/b_detached.sh" >/dev/null ;;
    c) N=${BENCH_N_CD:-5} "$ANCHORS_DIR/scenarios/c_teardown.sh" >/dev/null ;;
    d) N=${BENCH_N_CD:-5} "$ANCHORS_DIR/scenarios/d_memory.sh" >/dev/null ;;
    i) "$BENCH/idle.sh" >/dev/null ;;
    e) TOOLS_E=$TOOLS RUNS=${E_RUNS:-5} WARMUP=${E_WARMUP:-1} "$ANCHORS_DIR/scenarios/e_console.sh" >/dev/null ;;
    m) "$BENCH/memory10.sh" >/dev/null ;;
    p) "$BENCH/parallel.sh" >/dev/null ;;
    g) if [[ " $TOOLS " == *" lxctl "* ]]; then "$BENCH/growth.sh" >/dev/null; fi ;;
    go) (cd "$REPO" && go test -run '^$' -bench . -benchmem -benchtime="${GOBENCHTIME:-1s}" ./domainxml ./state) 2>&1 |
          awk '/^Benchmark/ {print "GOBENCH " $0} /^(ok|FAIL|---)/ {print "INFO go test: " $0}' | tee -a "$RESULTS_FILE" >/dev/null ;;
    *) echo "bench: unknown scenario $s" >&2 ;;
  esac
done
load end
"$BENCH/table.sh" "$RESULTS_FILE" "$TOOLS" | tee "$ANC/results/$ts.md"
echo >&2
echo "bench: all samples in $RESULTS_FILE, the table in $ANC/results/$ts.md" >&2
grep '^INFO load' "$RESULTS_FILE" | sed 's/^INFO /bench: /' >&2
