#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for tests/test_slurm.py: munged,
# slurmctld and slurmd from Debian's packages (slurm-wlm, munge), started by hand
# because there is no systemd. Needs root.
#
#   tests/slurm/cluster.sh start [STATE_DIR]   start what is not running, wait for the node
#   tests/slurm/cluster.sh stop  [STATE_DIR]   cancel every job, stop what start started
#   tests/slurm/cluster.sh status [STATE_DIR]  exit 0 when the node takes jobs
#
# STATE_DIR (default /tmp/rnn-landscape-slurm) holds slurm.conf, logs and spool.
# Slurm's commands read /etc/slurm/slurm.conf, which `start` links to STATE_DIR's
# and `stop` removes: SLURM_CONF alone is not enough, because the executor plugin's
# job step drops every SLURM_* variable but a few before it calls srun
# (snakemake-executor-plugin-slurm-jobstep 0.6), and srun then finds no cluster.
set -euo pipefail

COMMAND=${1:-}
STATE=${2:-/tmp/rnn-landscape-slurm}
CONF=$STATE/slurm.conf
SITE_CONF=/etc/slurm/slurm.conf
MUNGE_PID=/run/munge/munged.pid
# Daemons live in sbin, which a non-login root shell may not have on its PATH.
export PATH=$PATH:/usr/sbin:/sbin

fail() {
    echo "cluster.sh: $*" >&2
    exit 1
}

# A PID runs `name` when its process exists and is not a zombie: a killed daemon
# whose parent never reaps it (PID 1 here is no init) keeps its PID as a zombie.
is_running() {
    local pid_file=$1 name=$2 pid state
    [[ -s $pid_file ]] || return 1
    pid=$(<"$pid_file")
    [[ -r /proc/$pid/stat ]] || return 1
    [[ $(</proc/"$pid"/comm) == "$name"* ]] || return 1
    state=$(awk '{print $3}' /proc/"$pid"/stat)
    [[ $state != Z ]]
}

# Sends SIGTERM, then SIGKILL after 10 s, to the daemon of a PID file.
stop_daemon() {
    local pid_file=$1 name=$2 pid
    is_running "$pid_file" "$name" || return 0
    pid=$(<"$pid_file")
    kill -TERM "$pid"
    for _ in $(seq 50); do
        is_running "$pid_file" "$name" || return 0
        sleep 0.2
    done
    echo "cluster.sh: $name ($pid) ignored SIGTERM for 10 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}

munge_answers() {
    munge --no-input 2>/dev/null | unmunge >/dev/null 2>&1
}

start_munge() {
    # A munged already answering (the site's own, or ours) is used as it is.
    if munge_answers; then
        return 0
    fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile=/etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    runuser -u munge -- munged
    touch "$STATE/munged.ours"
    for _ in $(seq 25); do
        munge_answers && return 0
        sleep 0.2
    done
    fail "munged did not answer within 5 s; see /var/log/munge/munged.log"
}

write_conf() {
    local host node
    host=$(hostname -s)
    # slurmd's own view of the hardware, so that the node registers as declared.
    node=$(slurmd -C | head -n 1)
    if [[ $node != "NodeName=$host "* ]]; then
        fail "slurmd -C printed '$node'; expected it to start with NodeName=$host"
    fi
    mkdir -p "$STATE/log" "$STATE/ctld" "$STATE/spool"
    cat >"$CONF" <<EOF
# Written by tests/slurm/cluster.sh: one node, no accounting database.
ClusterName=rnnlandscape
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# Without cgroups: plain process tracking, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
# Cores and memory are what jobs ask for (--cpus-per-task, --mem).
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
# squeue reports a finished job for 5 minutes: the executor's status command.
MinJobAge=300
ReturnToService=2
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
# A second name for the same node: a job lands here only when asked to.
PartitionName=batch Nodes=$host Default=NO MaxTime=INFINITE State=UP
EOF
}

node_state() {
    sinfo --noheader --format=%t 2>/dev/null | head -n 1
}

start() {
    [[ $(id -u) == 0 ]] || fail "needs root (it starts munged, slurmctld and slurmd)"
    for binary in munged slurmctld slurmd sinfo sbatch squeue; do
        command -v "$binary" >/dev/null ||
            fail "$binary not found; install Debian's slurm-wlm and munge"
    done

    if [[ -e $SITE_CONF && $(readlink "$SITE_CONF") != "$CONF" ]]; then
        fail "$SITE_CONF exists and is not a link to $CONF: is this a real Slurm node?"
    fi
    mkdir -p "$STATE"
    start_munge
    if ! is_running "$STATE/slurmctld.pid" slurmctld; then
        write_conf
        # -c: a clean state, so a previous crash leaves no ghost jobs behind.
        slurmctld -c -f "$CONF"
    fi
    ln -sfn "$CONF" "$SITE_CONF"
    if ! is_running "$STATE/slurmd.pid" slurmd; then
        slurmd -f "$CONF"
    fi

    for _ in $(seq 60); do
        case $(node_state) in
        idle | mix | alloc) break ;;
        down* | drain* | fail*)
            scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true ;;
        esac
        sleep 0.5
    done
    case $(node_state) in
    idle | mix | alloc) ;;
    *) fail "node state '$(node_state)' after 30 s; see $STATE/log/" ;;
    esac
}

stop() {
    # Jobs first: slurmstepd outlives slurmd, so a running job would be orphaned.
    if is_running "$STATE/slurmctld.pid" slurmctld; then
        scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
        for _ in $(seq 50); do
            [[ -z $(squeue --noheader --states=RUNNING,COMPLETING 2>/dev/null) ]] && break
            sleep 0.2
        done
    fi
    stop_daemon "$STATE/slurmd.pid" slurmd
    stop_daemon "$STATE/slurmctld.pid" slurmctld
    if [[ -e $STATE/munged.ours ]]; then
        stop_daemon "$MUNGE_PID" munged
        rm -f "$STATE/munged.ours"
    fi
    if [[ $(readlink "$SITE_CONF") == "$CONF" ]]; then
        rm -f "$SITE_CONF"
    fi
}

status() {
    is_running "$STATE/slurmctld.pid" slurmctld &&
        is_running "$STATE/slurmd.pid" slurmd &&
        [[ $(node_state) =~ ^(idle|mix|alloc)$ ]]
}

case $COMMAND in
start) start ;;
stop) stop ;;
status) status ;;
*) fail "usage: $0 start|stop|status [STATE_DIR]" ;;
esac
