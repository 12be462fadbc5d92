# shellcheck shell=bash
# conmon + crun: as conmon-runc, runtime = $ANC/bin/crun (sh wrapper -> nsenter -> crun, see crun.sh).
# shellcheck disable=SC2034  # read by conmon-runc.sh, sourced below
CONMON_RUNTIME=$ANC/bin/crun
# shellcheck disable=SC2034
CONMON_RT_CLI="nsenter --mount=$CRUN_NS crun"
source "$ANCHORS_DIR/tools/conmon-runc.sh"
