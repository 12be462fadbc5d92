# shellcheck shell=bash
# lxctl adapter. Every container is a persistent domain under lxctl's own
# --root ($LXROOT), defined untimed in t_prepare from a domain XML written here:
#   - root: <filesystem type='mount'> of the shared busybox $ROOTFS at / (read-write)
#   - <init> = ARGV[0], <initarg> = the rest; in tty mode (scenario e) init is
#     `sh -c 'read -r _; exec ARGV'` so that nothing is written before the console
#     client is attached (lxctl drains an unattached console into its log)
#   - namespaces: lxctl always gives mnt, pid, uts, ipc; <features><privnet/> adds a
#     net namespace with lo only, as the anchors' NETNS=1 (runc spec default,
#     lxc.net.0.type=empty). No user namespace. lxctl's defaults as a user gets
#     them: a cgroup namespace (LXC and nspawn add one, runc/crun do not), its
#     default seccomp filter (the anchors run without one), libvirt's capability
#     policy, which keeps more capabilities than the anchors' three.
#   - cgroups: lxctl's /machine/<name>.lxctl-<root key> in every hierarchy, init
#     in its payload/ child; the controller in <name>.lxctl-<key>.ctl; pids limit 16384.
# Detached start = `lxctl start NAME` (returns once init runs). Stop = `lxctl
# destroy NAME` (freeze, SIGKILL all, thaw, until empty; cgroups removed).
# Resident process = the controller (status.json controller_pid = `lxctl domid`).
# Foreground (a): lxctl has no foreground run mode; lib/lxctl-run.sh does `lxctl
# start NAME` and then waits, polling every 0.5 ms, until the controller process
# has exited (it exits only after its teardown: cgroups and run dir removed).
# Console (e): lib/lxctl-console.sh does `lxctl start NAME` and then attaches
# `lxctl console NAME` with a newline piped in (the container's `read` waits for it).
LX=("$LXCTL" --root "$LXROOT")
lxctl_domain() { # name mode argv...
  local name=$1 mode=$2; shift 2
  local init args="" a
  if [[ $mode == tty ]]; then
    init=/bin/sh; args="<initarg>-c</initarg><initarg>read -r _; exec $*</initarg>"
  else
    init=$1; shift
    for a in "$@"; do args+="<initarg>$a</initarg>"; done
  fi
  local feat="<features><privnet/></features>"; [[ $NETNS == 0 ]] && feat=
  cat <<XML
<domain type='lxc'>
  <name>$name</name>
  <memory unit='MiB'>2048</memory>
  $feat
  <os><type>exe</type><init>$init</init>$args</os>
  <devices>
    <filesystem type='mount'><source dir='$ROOTFS'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>
XML
}
t_prepare() {
  local name=$1
  mkdir -p "$ANC/lxctl"
  [[ -p $ANC/lxctl/sleep.fifo ]] || mkfifo "$ANC/lxctl/sleep.fifo"
  lxctl_domain "$@" > "$ANC/lxctl/$name.xml"
  "${LX[@]}" define "$ANC/lxctl/$name.xml" >/dev/null
}
t_run_cmd() {
  local mode=run; [[ $(<"$ANC/lxctl/$1.xml") == *"read -r _"* ]] && mode=console
  if [[ $mode == run ]]; then echo "$ANCHORS_DIR/lib/lxctl-run.sh $LXCTL $LXROOT $1 $ANC/lxctl/sleep.fifo"
  else echo "$ANCHORS_DIR/lib/lxctl-console.sh $LXCTL $LXROOT $1"; fi
}
t_start() { "${LX[@]}" start "$1" </dev/null >/dev/null 2>&1; }
_lxctl_status_field() { # name field -> the number in "field": N of status.json (no fork)
  local s re="\"$2\": *([0-9]+)"
  s=$(<"$LXROOT/run/$1/status.json") 2>/dev/null || return 1
  [[ $s =~ $re ]] && echo "${BASH_REMATCH[1]}"
}
t_init_pid() { _lxctl_status_field "$1" init_pid; }
t_resident_pids() { _lxctl_status_field "$1" controller_pid; }
t_stop() { "${LX[@]}" destroy "$1" >/dev/null 2>&1; }
t_release() {
  "${LX[@]}" destroy "$1" >/dev/null 2>&1
  "${LX[@]}" undefine "$1" >/dev/null 2>&1
  rm -f "$ANC/lxctl/$1.xml"
}
