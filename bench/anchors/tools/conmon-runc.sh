# shellcheck shell=bash
# conmon + runc, driven the way podman drives it: conmon daemonizes, runs
# `runc create` (reporting through _OCI_SYNCPIPE), then we call `runc start`.
# conmon stays resident per container (holds stdio pipes, writes a k8s-file log,
# waits for the exit and writes the exit code file).
source "$ANCHORS_DIR/tools/_oci.sh"
CONMON_RUNTIME=${CONMON_RUNTIME:-/usr/sbin/runc}
CONMON_RT_CLI=${CONMON_RT_CLI:-runc}
t_prepare() { oci_prepare "$@"; }
t_start() {
  local name=$1 d=$ANC/conmon/$1 f sp line
  mkdir -p "$d/exits" "$d/sock"
  f=$(mktemp -u "$ANC/.syncpipe.XXXXXX"); mkfifo "$f"; exec {sp}<>"$f"; rm -f "$f"
  _OCI_SYNCPIPE=$sp conmon --api-version 1 -c "$name" -u "$name" -n "$name" \
    -r "$CONMON_RUNTIME" -b "$RUNDIR/$name" -p "$d/pid" -l "k8s-file:$d/log" \
    --exit-dir "$d/exits" --socket-dir-path "$d/sock" --conmon-pidfile "$d/conmon.pid" \
    </dev/null >/dev/null 2>&1
  read -r -t 10 -u "$sp" line; exec {sp}<&-
  [[ $line == *'"data": '[1-9]* ]] || return 1
  $CONMON_RT_CLI start "$name" >/dev/null 2>&1
}
t_init_pid() { $CONMON_RT_CLI state "$1" 2>/dev/null | jq -r .pid; }
t_stop() { $CONMON_RT_CLI kill --all "$1" 9 2>/dev/null; $CONMON_RT_CLI delete --force "$1" 2>/dev/null; }
t_resident_pids() { cat "$ANC/conmon/$1/conmon.pid" 2>/dev/null; }
t_release() {
  local cp; cp=$(cat "$ANC/conmon/$1/conmon.pid" 2>/dev/null)
  $CONMON_RT_CLI delete --force "$1" >/dev/null 2>&1
  # conmon exits by itself once the container is gone; wait up to 5 s
  local _; for _ in $(seq 500); do if [[ -z $cp ]] || ! proc_alive "$cp"; then break; fi; msleep 0.01; done
  rm -rf "${ANC:?}/conmon/$1"; oci_release "$1"
}
