#!/bin/bash
# Prepare everything the anchor benchmarks need (idempotent):
#   - packages (SETUP_APT=1), only those missing: runc crun lxc systemd-container conmon
#     busybox-static hyperfine jq strace shellcheck (--no-install-recommends)
#   - a busybox rootfs at $ROOTFS with /bench/busy.sh and /bench/yes.sh
#   - the base OCI config ($ANC/base-config.json) derived from `runc spec`
#   - a persistent mount namespace for crun with /sys/fs/cgroup/unified hidden
#     (crun 1.8 refuses hybrid cgroups when cgroup2 has any controller; here it has hugetlb)
set -euo pipefail
source "$(dirname "$0")/env.sh"

if [[ ${SETUP_APT:-0} == 1 ]]; then
  # command -> Debian package; only what is missing is installed
  missing=()
  for cp in runc:runc crun:crun lxc-start:lxc systemd-nspawn:systemd-container conmon:conmon \
            hyperfine:hyperfine jq:jq script:bsdutils unshare:util-linux strace:strace \
            shellcheck:shellcheck python3:python3; do
    command -v "${cp%%:*}" >/dev/null || missing+=("${cp#*:}")
  done
  # a static busybox (ldd exits 1 on it, hence no pipe under pipefail)
  [[ -x /bin/busybox ]] && grep -qE 'not a dynamic|statically linked' < <(ldd /bin/busybox 2>&1) || missing+=(busybox-static)
  if ((${#missing[@]})); then
    echo "setup: apt-get install ${missing[*]}" >&2
    apt-get update -qq
    for p in "${missing[@]}"; do
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || echo "WARN: apt-get install $p failed" >&2
    done
  fi
fi

mkdir -p "$ANC" "$RUNDIR" "$LXCP" "$ANC/ns" "$ANC/results" "$ANC/conmon"

# --- rootfs ----------------------------------------------------------------------
if [[ ! -x $ROOTFS/bin/busybox ]]; then
  mkdir -p "$ROOTFS"/{bin,sbin,proc,sys,dev,tmp,etc,root,run,usr/lib,bench}
  cp /bin/busybox "$ROOTFS/bin/busybox"            # busybox-static
  chroot "$ROOTFS" /bin/busybox --install -s /bin
fi
mkdir -p "$ROOTFS"/{usr/lib,bench,run,root}         # /usr: systemd-nspawn refuses a tree without it
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOTFS/etc/passwd"
echo 'root:x:0:' > "$ROOTFS/etc/group"
touch "$ROOTFS/etc/hostname" "$ROOTFS/etc/hosts" "$ROOTFS/etc/resolv.conf"
printf 'NAME="anchors-busybox"\nID=busybox\n' > "$ROOTFS/etc/os-release"   # nspawn wants os-release
cat > "$ROOTFS/bench/busy.sh" <<'EOF'
#!/bin/sh
# N background sleeps under one shell: N+1 processes in the container
for i in $(seq ${1:-500}); do sleep 1000 & done
wait
EOF
cat > "$ROOTFS/bench/yes.sh" <<EOF
#!/bin/sh
# write \${1} bytes of 80-column text lines to stdout (the console)
yes $CONSOLE_LINE | head -c \${1:-$CONSOLE_BYTES}
EOF
chmod +x "$ROOTFS/bench/busy.sh" "$ROOTFS/bench/yes.sh"

# --- base OCI config -------------------------------------------------------------------
tmp=$(mktemp -d)
(cd "$tmp" && runc spec)
jq --arg root "$ROOTFS" --argjson netns "$NETNS" '
    .process.terminal = false
  | .process.args = ["/bin/true"]
  | .root.path = $root
  | .root.readonly = false
  | if $netns == 0 then .linux.namespaces |= map(select(.type != "network")) else . end
' "$tmp/config.json" > "$ANC/base-config.json"
rm -rf "$tmp"

# --- crun mount namespace ---------------------------------------------------------------
if ! nsenter --mount="$CRUN_NS" true 2>/dev/null; then
  if ! mountpoint -q "$ANC/ns"; then
    mount --bind "$ANC/ns" "$ANC/ns"
    mount --make-private "$ANC/ns"
  fi
  touch "$CRUN_NS"
  if [[ $(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
    unshare --mount="$CRUN_NS" --propagation private umount /sys/fs/cgroup/unified
  else
    unshare --mount="$CRUN_NS" --propagation private true
  fi
fi
mkdir -p "$ANC/bin"
cat > "$ANC/bin/crun" <<EOF
#!/bin/sh
# crun inside the mount ns where cgroup2 (hybrid) is hidden: crun then runs in cgroup v1 mode
exec nsenter --mount=$CRUN_NS /usr/bin/crun "\$@"
EOF
chmod +x "$ANC/bin/crun"

echo "setup done: rootfs=$ROOTFS netns=$NETNS"
