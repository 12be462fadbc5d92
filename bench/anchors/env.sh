# shellcheck shell=bash
# shellcheck disable=SC2034  # the settings here are used by the scripts that source this file
# Common settings and helpers for the anchor benchmarks. Source it; don't run it.
# Copied from the team's shared/bench-anchors and adapted for `make bench`:
# own work area, lxctl added to the tools, lxctl's own --root under $ANC.
#
# Everything a run creates is named with the prefix "anc-" (containers) or lives
# under $ANC (files) and the cgroups named in cleanup.sh, so cleanup.sh can remove
# exactly what the benchmarks made and nothing else.

ANCHORS_DIR=${ANCHORS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
ANC=${ANC:-/tmp/lxctl-bench}          # work area: rootfs, bundles, lxc path, results, lxctl root
ROOTFS=${ROOTFS:-$ANC/rootfs}         # busybox rootfs shared by every tool
BB=$ROOTFS/bin/busybox
RUNDIR=$ANC/run                       # per-container OCI bundles (runc/crun)
LXCP=$ANC/lxc                         # lxcpath for lxc-* (-P)
CRUN_NS=$ANC/ns/crun-mnt              # persistent mount ns where the cgroup2 mount is hidden from crun
NETNS=${NETNS:-1}                     # 1: every container gets its own (empty, lo-only) netns; 0: host netns
TOOLS=${TOOLS:-"lxctl runc crun lxc"}   # add conmon-runc conmon-crun nspawn for the full anchor set
LXCTL=${LXCTL:-$ANC/bin/lxctl}       # a private copy of bin/lxctl, so a rebuild mid-run changes nothing
LXROOT=${LXROOT:-$ANC/lxctl-root}    # lxctl --root for every lxctl container the bench makes
# Own cgroup (name=systemd and cgroup2 hierarchies only) for the driver, so that
# systemd-nspawn --keep-unit creates its payload/supervisor children under it.
BENCH_CG=anchors-bench

# Console payload: 80-column text lines (79 chars + '\n'). See README: newline-dense
# output ('yes' = 2-byte lines) is pathologically slow through a pty on this kernel.
CONSOLE_BYTES=${CONSOLE_BYTES:-50000000}
CONSOLE_LINE=$(printf '%079d' 0)

# --- output --------------------------------------------------------------------
# Machine-readable lines:
#   SAMPLE scenario=<s> tool=<t> metric=<m> i=<n> value=<v> unit=<u>
#   RESULT scenario=<s> tool=<t> metric=<m> n=<n> min=<v> median=<v> max=<v> mean=<v> unit=<u>
#   INFO   free text (configuration, verification)
RESULTS_FILE=${RESULTS_FILE:-}
emit() { if [[ -n $RESULTS_FILE ]]; then printf "%s\n" "$*" | tee -a "$RESULTS_FILE"; else printf "%s\n" "$*"; fi; }
sample() { # scenario tool metric i value unit
  emit "SAMPLE scenario=$1 tool=$2 metric=$3 i=$4 value=$5 unit=$6"
}
# summarize scenario tool metric unit < values(one per line)
summarize() {
  local s=$1 t=$2 m=$3 u=$4 line
  line=$(sort -g | awk -v s="$s" -v t="$t" -v m="$m" -v u="$u" '
    { v[NR]=$1; sum+=$1 }
    END {
      if (NR==0) { printf "RESULT scenario=%s tool=%s metric=%s n=0 unit=%s\n", s,t,m,u; exit }
      if (NR%2) med=v[(NR+1)/2]; else med=(v[NR/2]+v[NR/2+1])/2;
      printf "RESULT scenario=%s tool=%s metric=%s n=%d min=%.3f median=%.3f max=%.3f mean=%.3f unit=%s\n", s,t,m,NR,v[1],med,v[NR],sum/NR,u }')
  emit "$line"
}
info() { emit "INFO $*"; }

# --- timing ----------------------------------------------------------------------
# $EPOCHREALTIME is a bash builtin (no fork): microseconds as an integer.
now_us() { local t=$EPOCHREALTIME; echo $(( ${t/./} )); }
us_to_ms() { awk -v a="$1" 'BEGIN{printf "%.3f", a/1000}'; }

# Sleep without forking (read -t on a fifo nobody writes).
_msleep_fd=
msleep() { # seconds (fractional ok)
  if [[ -z $_msleep_fd ]]; then
    local f; f=$(mktemp -u "$ANC/.sleepfifo.XXXXXX"); mkfifo "$f"
    exec {_msleep_fd}<>"$f"; rm -f "$f"
  fi
  read -r -t "$1" -u "$_msleep_fd" || true
}

# --- process helpers ---------------------------------------------------------------
pidns_of() { readlink "/proc/$1/ns/pid" 2>/dev/null | tr -dc 0-9; }
# pids (host view) in pid namespace inode $1
pids_in_pidns() { ps -e -o pid=,pidns= | awk -v ns="$1" '$2==ns {print $1}'; }
# "pid:starttime" so that pid reuse can't fake a survivor
pid_stamps() {
  local p stat rest f
  for p in "$@"; do
    read -r stat < "/proc/$p/stat" 2>/dev/null || continue
    rest=${stat##*) }; read -r -a f <<<"$rest"; echo "$p:${f[19]}"
  done
}
# count survivors among "pid:starttime" stamps; $1 = "alive" (not zombie) or "exists"
count_survivors() {
  local mode=$1; shift
  local n=0 s p st stat rest
  for s in "$@"; do
    p=${s%%:*}; st=${s#*:}
    [[ -e /proc/$p ]] || continue
    read -r stat < "/proc/$p/stat" 2>/dev/null || continue
    rest=${stat##*) }                       # fields after comm
    read -r -a f <<<"$rest"
    [[ ${f[19]} == "$st" ]] || continue     # field 22 = starttime (index 19 after state)
    if [[ $mode == alive && ${f[0]} == Z ]]; then continue; fi
    n=$((n+1))
  done
  echo "$n"
}
# wait (polling 1 ms) until no stamp is alive (mode alive: zombies count as dead;
# mode exists: until reaped); echoes elapsed us, or -1 on timeout
wait_all_gone() { # mode timeout_s stamps...
  local mode=$1 to=$2; shift 2
  local t0 t; t0=$(now_us)
  while :; do
    [[ $(count_survivors "$mode" "$@") == 0 ]] && { t=$(now_us); echo $((t-t0)); return 0; }
    t=$(now_us); (( t-t0 > to*1000000 )) && { echo -1; return 1; }
    msleep 0.001
  done
}
# true while $1 exists and is not a zombie (no fork)
proc_alive() { local stat; read -r stat < "/proc/$1/stat" 2>/dev/null || return 1; stat=${stat##*) }; [[ ${stat:0:1} != Z ]]; }
# Host-side processes that stay resident for a container: the ancestors of its
# init up to (not including) PID 1 and the calling shell. Tools may override
# with t_resident_pids.
resident_pids_default() {
  local p=$1 pp stat
  while :; do
    read -r stat < "/proc/$p/stat" 2>/dev/null || return 0
    stat=${stat##*) }; read -r -a f <<<"$stat"; pp=${f[1]}
    (( pp <= 1 || pp == $$ || pp == BASHPID )) && return 0
    echo "$pp"; p=$pp
  done
}
# cgroup directories a process is in, excluding those the driver itself is in
container_cgroup_dirs() {
  local pid=$1 line id ctl path mnt mine
  while IFS= read -r line; do
    id=${line%%:*}; line=${line#*:}; ctl=${line%%:*}; path=${line#*:}
    case $ctl in "") mnt=unified ;; name=systemd) mnt=systemd ;; *) mnt=${ctl%%,*} ;; esac
    mine=$(grep -E "^[0-9]+:$ctl:" /proc/$$/cgroup | cut -d: -f3-)
    [[ $path == "$mine" ]] && continue
    [[ -d /sys/fs/cgroup/$mnt$path ]] && echo "/sys/fs/cgroup/$mnt$path"
  done < "/proc/$pid/cgroup"
}
vmrss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null; }
pss_kb() { awk '/^Pss:/{print $2}' "/proc/$1/smaps_rollup" 2>/dev/null; }

# Move the calling shell into its own cgroup in the hierarchies that have no
# controllers (name=systemd v1 and the cgroup2 mount), never in memory/pids/etc.
enter_bench_cgroup() {
  local h
  for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
    [[ -d $h ]] || continue
    mkdir -p "$h/$BENCH_CG" && echo $$ > "$h/$BENCH_CG/cgroup.procs"
  done
}

load_tool() { # tool name -> sources tools/<name>.sh, functions prefixed t_
  unset -f t_prepare t_run_cmd t_start t_stop t_init_pid t_resident_pids t_release lxc_write_config lxctl_domain 2>/dev/null
  # shellcheck source=/dev/null
  source "$ANCHORS_DIR/tools/$1.sh"
}
has_fn() { declare -F "$1" >/dev/null; }
