#!/usr/bin/env bash
# Start or stop a one-node Slurm cluster (munged, slurmctld, slurmd) on this machine for the srun/sbatch tests.
# usage: scripts/local-slurm.sh start|stop|status
# start: installs Debian's slurm-wlm + munge if missing, writes /etc/slurm/slurm.conf (only if absent or written by
# this script), starts the daemons and waits (bounded) until `sinfo` shows the node idle. stop: stops what start
# started. Needs root (CI runs as root). The node declares CPUs=4 whatever the core count, so 4 tasks fit on 2 cores.
set -euo pipefail

MARK='# written by syncbn scripts/local-slurm.sh'
CONF=/etc/slurm/slurm.conf
STATE=/run/syncbn-local-slurm
WAIT_S=${SYNCBN_SLURM_WAIT_S:-60}

die() { echo "local-slurm: $*" >&2; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then return; fi
  echo "local-slurm: installing slurm-wlm and munge"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge) >/dev/null \
    || die "apt-get install slurm-wlm munge failed"
}

write_conf() {
  local host
  host=$(hostname -s)
  if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    echo "local-slurm: keeping the existing $CONF (not written by this script)"
    return
  fi
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  # config_overrides: slurmd registers the declared CPUs=4 even on a 2-core machine (else the node is 'inval').
  cat >"$CONF" <<CONF
$MARK
ClusterName=syncbn
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SlurmdParameters=config_overrides
NodeName=$host NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
CONF
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  [ -f /etc/munge/munge.key ] || die "/etc/munge/munge.key is missing (reinstall munge)"
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  runuser -u munge -- munged --pid-file=/run/munge/munged.pid
  cp /run/munge/munged.pid "$STATE/munged.pid"
  for _ in $(seq 1 50); do
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
    sleep 0.1
  done
  die "munged started but 'munge -n | unmunge' still fails"
}

start() {
  [ "$(id -u)" = 0 ] || die "start needs root"
  install_packages
  mkdir -p "$STATE"
  write_conf
  start_munge
  alive "$STATE/slurmctld.pid" || slurmctld || die "slurmctld failed to start (see /var/log/slurm/slurmctld.log)"
  alive "$STATE/slurmd.pid" || slurmd || die "slurmd failed to start (see /var/log/slurm/slurmd.log)"
  local state=''
  for _ in $(seq 1 $((WAIT_S * 2))); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n1 || true)
    if [ "$state" = idle ]; then
      echo "local-slurm: node $(hostname -s) idle"
      return
    fi
    sleep 0.5
  done
  echo "local-slurm: sinfo says: $(sinfo -N 2>&1 | tr '\n' ' ')" >&2
  tail -n 5 /var/log/slurm/slurmd.log /var/log/slurm/slurmctld.log >&2 || true
  stop
  die "the node did not become idle within ${WAIT_S}s (state ${state:-unknown})"
}

stop_one() {
  local name=$1 pidf="$STATE/$1.pid" pid
  [ -f "$pidf" ] || return 0
  pid=$(cat "$pidf")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "local-slurm: $name ($pid) ignored SIGTERM for 10 s; killing it" >&2
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidf"
}

stop() {
  # slurmd first (it reports to slurmctld), then slurmctld, then munged (only if this script started it).
  stop_one slurmd
  stop_one slurmctld
  stop_one munged
}

status() {
  for d in munged slurmctld slurmd; do
    if alive "$STATE/$d.pid"; then echo "$d running ($(cat "$STATE/$d.pid"))"
    else echo "$d not running (from this script)"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 start|stop|status" ;;
esac
