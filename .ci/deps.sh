#!/usr/bin/env bash
# Installs what lxctl's build, tests and demo need on a fresh Debian machine
# (Go and gcc come with it), only when missing. Runs as root.
set -euo pipefail
need=()
command -v gcc >/dev/null || need+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -e /usr/lib/aarch64-linux-gnu/libc.a ] || need+=(libc6-dev)
# libcontainer's seccomp support (build tag seccomp) links libseccomp.a in
[ -e /usr/lib/x86_64-linux-gnu/libseccomp.a ] || [ -e /usr/lib/aarch64-linux-gnu/libseccomp.a ] || need+=(libseccomp-dev)
command -v pkg-config >/dev/null || need+=(pkgconf)  # libseccomp-golang finds libseccomp through it
[ -x /usr/lib/systemd/systemd ] || need+=(systemd)    # a test boots it in a container under the seccomp filter
command -v nsenter >/dev/null || need+=(util-linux)   # tests read a container's hostname
command -v lxcfs >/dev/null || need+=(lxcfs)          # a test runs its own lxcfs (in a mount namespace of its own) for a container's /proc
command -v pgrep >/dev/null || need+=(procps)          # tests look for leaked processes
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)   # storage tests make their own ext4 images
command -v losetup >/dev/null || need+=(mount)         # storage tests attach loop devices of their own
command -v ip >/dev/null || need+=(iproute2)           # network tests make test bridges and look at links (lxctl itself uses netlink)
{ command -v ssh && command -v ssh-keygen; } >/dev/null || need+=(openssh-client)  # lxc+ssh:// URIs go through ssh; the remote test makes its keys
[ -x /usr/sbin/sshd ] || need+=(openssh-server)       # the remote test runs an sshd of its own on 127.0.0.1
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing ${need[*]}: run as root, or install them" >&2
    exit 1
  fi
  echo "installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # openssh-server's package would start a system sshd on port 22; the
  # tests only need the binary, so services are kept from starting while
  # apt runs (Debian's policy-rc.d, unless the host has one already).
  if [[ " ${need[*]} " == *" openssh-server "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
