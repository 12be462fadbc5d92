#!/bin/bash
# Console run for lxctl (scenario e): start the domain detached, then attach
# `lxctl console NAME` and send one newline; the container's init waits for it
# (`read`) before writing its payload, so every byte goes to the attached
# client. stdin is a pipe, so the client runs in its piped mode (no raw mode,
# no escape key) and returns when the container stops; its stdout is the pty
# that `script` gives it, as for an interactive user.
# Usage: lxctl-console.sh LXCTL ROOT NAME
lxctl=$1 root=$2 name=$3
"$lxctl" --root "$root" start "$name" >/dev/null || exit 1
printf '\n' | exec "$lxctl" --root "$root" console "$name"
