#!/usr/bin/env bash
# A real single-node Slurm cluster on localhost, for tests:
#   tests/workflow/slurm/cluster.sh start   # installs slurm-wlm + munge if missing, starts the daemons
#   tests/workflow/slurm/cluster.sh stop    # stops them by pid and removes their pid files
#   tests/workflow/slurm/cluster.sh status
# The cluster's files live in $SLURM_TEST_DIR (default /tmp/synthpedia-slurm). Clients find its
# slurm.conf at the default path, /etc/slurm/slurm.conf, a link made by `start` and removed by
# `stop` (the Snakemake jobstep plugin drops SLURM_* variables, SLURM_CONF included, before its
# srun inside a job); `start` refuses to replace a slurm.conf it did not write. No systemd: each daemon is
# started by hand and forks. No accounting (slurmdbd): status comes from squeue, which keeps
# finished jobs for MinJobAge seconds, and every finished job is logged to jobcomp.txt.
# Needs root (apt-get, munged as user munge, slurmd).
set -euo pipefail

DIR=${SLURM_TEST_DIR:-/tmp/synthpedia-slurm}
CONF=$DIR/slurm.conf
SYSTEM_CONF=/etc/slurm/slurm.conf
MARK="# Written by tests/workflow/slurm/cluster.sh"
export SLURM_CONF=$CONF
HOST=$(hostname -s)

log() { echo "cluster.sh: $*" >&2; }

install_if_missing() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    log "installing slurm-wlm and munge"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_conf() {
    local cpus mem
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))  # MB, a bit under total
    mkdir -p "$DIR/state" "$DIR/spool"
    cat >"$CONF" <<EOF
$MARK: one node on localhost, no cgroups, no accounting.
ClusterName=synthpedia-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MailProg=/bin/true
# A job larger than the node fails at submission instead of pending forever.
EnforcePartLimits=ALL
# squeue reports finished jobs this long: >= 3x the plugin's first status check.
MinJobAge=600
ReturnToService=2
SlurmdTimeout=300
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        return  # already running (ours or the machine's)
    fi
    rm -f /run/munge/munged.pid
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    [[ -f /etc/munge/munge.key ]] || { mungekey --create --keyfile /etc/munge/munge.key; }
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged
    touch "$DIR/munged.ours"
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return
        sleep 0.1
    done
    log "munged did not start"; exit 1
}

start() {
    install_if_missing
    mkdir -p "$DIR"
    if alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid"; then
        log "already running"
    else
        stop_daemons
        if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
            log "another slurmctld/slurmd runs on this machine (not from $DIR): stop it first"; exit 1
        fi
        write_conf
        if [[ -e $SYSTEM_CONF || -L $SYSTEM_CONF ]] && ! grep -qF "$MARK" "$SYSTEM_CONF" 2>/dev/null; then
            log "$SYSTEM_CONF exists and was not written by this script: not replacing it"; exit 1
        fi
        mkdir -p "$(dirname "$SYSTEM_CONF")"
        ln -sfn "$CONF" "$SYSTEM_CONF"
        start_munge
        /usr/sbin/slurmctld -c -f "$CONF"
        /usr/sbin/slurmd -f "$CONF"
    fi
    for _ in $(seq 300); do
        if [[ $(sinfo -h -N -o %T 2>/dev/null) == idle ]]; then
            log "node $HOST idle"
            echo "export SLURM_CONF=$CONF"
            return
        fi
        sleep 0.1
    done
    log "node did not become idle; logs: $DIR/slurmctld.log $DIR/slurmd.log"
    sinfo -N >&2 || true
    exit 1
}

stop_pidfile() {
    local pidfile=$1
    if alive "$pidfile"; then
        local pid
        pid=$(cat "$pidfile")
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pidfile"  # a stale pid file breaks the next start
}

stop_daemons() {
    stop_pidfile "$DIR/slurmd.pid"
    stop_pidfile "$DIR/slurmctld.pid"
}

stop() {
    stop_daemons
    if [[ -L $SYSTEM_CONF && $(readlink "$SYSTEM_CONF") == "$CONF" ]]; then
        rm -f "$SYSTEM_CONF"
    fi
    if [[ -f $DIR/munged.ours ]]; then
        stop_pidfile /run/munge/munged.pid
        rm -f "$DIR/munged.ours"
    fi
    log "stopped"
}

status() {
    alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid" && sinfo -N && exit 0
    log "not running"; exit 1
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 {start|stop|status}" >&2; exit 2 ;;
esac
