#!/usr/bin/env bash
# A real one-node Slurm on this machine, for alrun's Slurm tests (`make test-slurm`).
#
#   scripts/slurm_local.sh start    # install when absent, write the configs, start the daemons (idempotent)
#   scripts/slurm_local.sh status   # exit 0 when the node takes jobs, 1 when it does not
#   scripts/slurm_local.sh stop     # cancel this cluster's jobs, stop the daemons this script started
#
# Debian/Ubuntu, as root (or with passwordless sudo). `start` installs slurm-wlm, slurmdbd, munge and
# mariadb-server through apt when they are absent, and writes /etc/slurm/slurm.conf for one node with
# $ALRUN_SLURM_CPUS (2) CPUs and the machine's memory. Accounting (what `sacct` and submitit read) goes
# through slurmdbd into a private MariaDB bound to 127.0.0.1:$ALRUN_SLURM_DB_PORT. It needs neither
# systemd nor cgroups: processes are tracked by parent pid (proctrack/linuxproc), tasks are not confined
# (task/none), so it runs in containers and VMs. Daemon state, pids and logs go to $ALRUN_SLURM_STATE.
# It refuses to touch a slurm.conf it did not write, and stops only the daemons whose pid it recorded.
set -euo pipefail

STATE=${ALRUN_SLURM_STATE:-/var/lib/alrun-slurm}
CPUS=${ALRUN_SLURM_CPUS:-2}
DB_PORT=${ALRUN_SLURM_DB_PORT:-16819}
CLUSTER=alrun
PARTITION=debug
URGENT=urgent
CONF_DIR=/etc/slurm
MARK="# written by alrun scripts/slurm_local.sh"
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)
NEEDED=(slurmctld slurmd slurmdbd munged mariadbd mariadb-install-db sbatch srun sacct sacctmgr)
LOG=$STATE/log
CHANGED=0 # set by write_conf when a config file changes

say() { echo "slurm_local: $*" >&2; }
die() {
    say "$*"
    exit 1
}
alive() {
    local pid
    pid=$(cat "$1" 2>/dev/null) && [[ -n $pid && -d /proc/$pid ]]
}
missing() {
    local cmd
    for cmd in "${NEEDED[@]}"; do
        PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" >/dev/null || return 0
    done
    return 1
}
# wait_for SECONDS WHAT COMMAND...: retry COMMAND every 0.2 s until it succeeds
wait_for() {
    local seconds=$1 what=$2 i
    shift 2
    for ((i = 0; i < seconds * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    die "$what did not come up within ${seconds} s (logs in $LOG)"
}

install_packages() {
    missing || return 0
    command -v apt-get >/dev/null || die "Slurm is not installed and there is no apt-get; install ${PACKAGES[*]}"
    say "installing ${PACKAGES[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >"$STATE/apt.log" 2>&1 || {
        apt-get update -q >>"$STATE/apt.log" 2>&1
        apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >>"$STATE/apt.log" 2>&1
    } || die "apt-get install failed (see $STATE/apt.log)"
}

# write_conf PATH MODE: PATH gets stdin, unless it exists and was not written by this script
write_conf() {
    local path=$1 mode=$2 text
    text="$MARK"$'\n'"$(cat)"
    if [[ -e $path ]] && ! grep -qxF "$MARK" "$path"; then
        die "$path exists and was not written by this script; not touching it"
    fi
    [[ -f $path && $(cat "$path") == "$text" ]] && return 0
    CHANGED=1
    printf '%s\n' "$text" >"$path.tmp"
    chmod "$mode" "$path.tmp"
    mv "$path.tmp" "$path"
}

real_memory_mb() { slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p'; }

write_configs() {
    local host memory
    host=$(hostname -s)
    memory=$(real_memory_mb)
    mkdir -p "$CONF_DIR"
    write_conf "$CONF_DIR/slurm.conf" 644 <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# no systemd, no cgroups: track job processes by parent pid, leave tasks unconfined
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
SlurmdParameters=config_overrides
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobRequeue=1
ReturnToService=2
# SIGTERM, then SIGKILL 2 s later, for a job that is cancelled, requeued or preempted
KillWait=2
# a job in partition $URGENT preempts jobs in $PARTITION, which are requeued (the Slurm tests use it)
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
MinJobAge=300
InactiveLimit=0
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$memory State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=$URGENT Nodes=$host MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
EOF
    write_conf "$CONF_DIR/slurmdbd.conf" 600 <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$STATE/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=alrun
StorageLoc=slurm_acct_db
EOF
}

start_munge() {
    alive "$STATE/munged.pid" && return 0
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        say "munge is already running (not started by this script); using it"
        return 0
    fi
    [[ -s /etc/munge/munge.key ]] || {
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    }
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    runuser -u munge -- munged --force
    wait_for 10 munged test -s /run/munge/munged.pid
    cp /run/munge/munged.pid "$STATE/munged.pid"
    wait_for 10 munged bash -c 'munge -n | unmunge'
}

DB_RUN=$STATE/mysqld # socket, pid and log of MariaDB (its user must write there)
mysql() { mariadb --no-defaults --socket="$DB_RUN/mysqld.sock" -uroot "$@"; }

start_db() {
    alive "$DB_RUN/mysqld.pid" && return 0
    mkdir -p "$DB_RUN"
    chown mysql:mysql "$DB_RUN"
    if [[ ! -d $STATE/mysql/mysql ]]; then
        mkdir -p "$STATE/mysql"
        chown mysql:mysql "$STATE/mysql"
        mariadb-install-db --no-defaults --user=mysql --datadir="$STATE/mysql" \
            --auth-root-authentication-method=socket --skip-test-db >"$LOG/mysql-install.log" 2>&1 ||
            die "mariadb-install-db failed (see $LOG/mysql-install.log)"
    fi
    setsid mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" --socket="$DB_RUN/mysqld.sock" \
        --pid-file="$DB_RUN/mysqld.pid" --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
        --innodb-buffer-pool-size=64M --log-error="$DB_RUN/mysqld.log" </dev/null >/dev/null 2>&1 &
    wait_for 60 MariaDB mysql -e 'SELECT 1'
    mysql -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'alrun';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
}

start_slurm() {
    alive "$STATE/slurmdbd.pid" || slurmdbd
    wait_for 60 slurmdbd sacctmgr -n list cluster
    if [[ -z $(sacctmgr -n -P list cluster "$CLUSTER" format=cluster) ]]; then
        sacctmgr -i -Q add cluster "$CLUSTER" >/dev/null
    fi
    alive "$STATE/slurmctld.pid" || slurmctld
    wait_for 60 slurmctld scontrol ping
    alive "$STATE/slurmd.pid" || slurmd
    wait_for 60 "the node" node_ready
}

node_ready() {
    local state
    state=$(sinfo -h -N -o %T | head -n1)
    case $state in
    idle | mixed | allocated) return 0 ;;
    down* | drain*) scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 ;;
    esac
    return 1
}

ours() { [[ -f $CONF_DIR/slurm.conf ]] && grep -qxF "$MARK" "$CONF_DIR/slurm.conf"; }

status() {
    ours && alive "$STATE/slurmctld.pid" && alive "$STATE/slurmd.pid" && alive "$STATE/slurmdbd.pid" &&
        scontrol ping >/dev/null 2>&1 && node_ready
}

start() {
    mkdir -p "$STATE" "$LOG" "$STATE/slurmctld" "$STATE/slurmd"
    if status; then
        write_configs
        if ((!CHANGED)); then
            say "already running (cluster $CLUSTER, partition $PARTITION)"
            return 0
        fi
        say "configuration changed: restarting"
        stop
    fi
    local t0=$SECONDS
    install_packages
    write_configs
    start_munge
    start_db
    start_slurm
    say "running: cluster $CLUSTER, partition $PARTITION, $CPUS CPUs, $(real_memory_mb) MB ($((SECONDS - t0)) s)"
}

stop_pid() {
    local file=$1 i
    alive "$file" || {
        rm -f "$file"
        return 0
    }
    kill "$(cat "$file")"
    for ((i = 0; i < 100; i++)); do
        alive "$file" || break
        sleep 0.2
    done
    alive "$file" && kill -KILL "$(cat "$file")" 2>/dev/null
    rm -f "$file"
}

stop() {
    if ours && scontrol ping >/dev/null 2>&1; then
        local jobs
        jobs=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ')
        [[ -z ${jobs// /} ]] || scancel $jobs 2>/dev/null || true
        for _ in $(seq 50); do
            [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break
            sleep 0.2
        done
    fi
    local name
    for name in slurmd slurmctld slurmdbd mysqld/mysqld munged; do
        stop_pid "$STATE/$name.pid"
    done
    say "stopped"
}

need_root() {
    ((EUID == 0)) && return 0
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        exec sudo -n -E "$0" "$@"
    fi
    die "needs root (or passwordless sudo) to install and run the Slurm daemons"
}

case ${1:-} in
start)
    need_root "$@"
    start
    ;;
stop)
    need_root "$@"
    stop
    ;;
status)
    if status; then
        echo "running"
    else
        echo "not running"
        exit 1
    fi
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
