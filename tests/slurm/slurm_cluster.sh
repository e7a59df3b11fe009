#!/usr/bin/env bash
# A one-node Slurm cluster on localhost for tests: munged, slurmctld and slurmd started directly
# (no systemd), all state, sockets, logs and the configuration under one folder.
#
#   bash tests/slurm/slurm_cluster.sh start DIR   # prints "export SLURM_CONF=DIR/slurm.conf" on success
#   bash tests/slurm/slurm_cluster.sh stop DIR    # stops the daemons it started (by their pid files)
#
# Needs the Debian 12 packages slurm-wlm and munge (framework/scripts/install-deps.sh installs them
# with QRUN_WITH_SLURM=1) and root (slurmd runs jobs as their submitting user). The node gets this
# machine's CPU count; proctrack/linuxproc and task/none need no cgroups. `start` waits at most
# QRUN_SLURM_START_TIMEOUT seconds (default 60) for the node to be idle; on any failure it prints
# what failed with the daemon's log tail, stops what it started and exits 1.
set -euo pipefail
cmd=${1:-}; dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then echo "usage: $0 start|stop DIR" >&2; exit 2; fi
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
conf=$dir/slurm.conf

stop() {
  for d in slurmd slurmctld munged; do
    if [ -f "$dir/$d.pid" ]; then
      pid=$(cat "$dir/$d.pid")
      if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
      fi
      rm -f "$dir/$d.pid"
    fi
  done
}

fail() {
  echo "slurm_cluster: $1" >&2
  for log in munged.log slurmctld.log slurmd.log; do
    if [ -f "$dir/$log" ]; then echo "--- last lines of $dir/$log" >&2; tail -n 15 "$dir/$log" >&2; fi
  done
  stop
  exit 1
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

for exe in munged mungekey slurmctld slurmd sbatch sinfo scontrol; do
  command -v "$exe" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
  command -v "$exe" >/dev/null 2>&1 ||
    fail "$exe not found; fix: install Debian's slurm-wlm and munge (QRUN_WITH_SLURM=1 bash framework/scripts/install-deps.sh)"
done
[ "$(id -u)" -eq 0 ] || fail "must run as root (slurmd starts jobs as their user); fix: run the Slurm test as root, as CI does"
stop  # leftovers of an earlier run in the same folder
rm -rf "$dir/state" "$dir/spool"
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"
timeout=${QRUN_SLURM_START_TIMEOUT:-60}

# munge: its own key, socket and files; --force because it runs as root in a test folder.
[ -f "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 ||
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
socket=$dir/munge/munge.socket
munged --force --key-file="$dir/munge/munge.key" --socket="$socket" --pid-file="$dir/munged.pid" \
  --log-file="$dir/munged.log" --seed-file="$dir/munge/munge.seed" >/dev/null 2>&1 || fail "munged did not start"
for _ in $(seq 1 50); do [ -S "$socket" ] && break; sleep 0.1; done
[ -S "$socket" ] || fail "munged made no socket $socket"

host=$(hostname -s)
cpus=$(nproc)
port=$(( 17000 + RANDOM % 2000 ))
cat > "$conf" <<CONF
ClusterName=qrun-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$(( port + 1 ))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$conf

slurmctld -f "$conf" -i >"$dir/slurmctld.out" 2>&1 || fail "slurmctld did not start (see $dir/slurmctld.out: $(tail -n 3 "$dir/slurmctld.out"))"
slurmd -f "$conf" -N "$host" >"$dir/slurmd.out" 2>&1 || fail "slurmd did not start (see $dir/slurmd.out: $(tail -n 3 "$dir/slurmd.out"))"

deadline=$(( $(date +%s) + timeout ))
state=
while [ "$(date +%s)" -lt "$deadline" ]; do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -n 1 || true)
  case "$state" in idle*|mixed*|allocated*) break ;; esac
  sleep 0.5
done
case "$state" in
  idle*|mixed*|allocated*) ;;
  *) fail "node $host not idle after ${timeout} s (state '${state:-none}'); fix: read the logs above" ;;
esac
echo "export SLURM_CONF=$conf"
