#!/usr/bin/env bash
# A local skiff cluster on one machine: one skiff-controller (or 3 or 5)
# and N agents (default 3), each agent a "host" of its own (network
# namespace, mount namespace, data root, socket, cgroup parent), all on one
# "LAN" bridge, joined with real tokens. One controller runs on the
# machine itself at $NET.1:7443; with --controllers C each controller I
# has a network namespace of its own at $NET.(1+I):7443 (the first makes
# the cluster, the others join it with the controller token).
#
#   deploy/local-cluster.sh up [N] [--controllers C]   start it; writes $DIR/env
#   deploy/local-cluster.sh down     remove everything it made
#   deploy/local-cluster.sh add-host I [TOKEN]   one more host hI, joined with TOKEN
#                                                (default: the agent token)
#   deploy/local-cluster.sh stop-agent|start-agent I   stop or start host hI's agent
#   deploy/local-cluster.sh kill-host|boot-host I      host hI loses power / powers on
#   deploy/local-cluster.sh stop-controller|start-controller|kill-controller [I]
#                                   SIGTERM, start again, SIGKILL controller I (default 1)
#   deploy/local-cluster.sh cut-controller|heal-controller I
#                                   controller I drops off the LAN / comes back
#
# Settings (environment), so that several clusters can run side by side:
#   SKIFF_CLUSTER_DIR   state directory      (default /tmp/skiff-cluster)
#   SKIFF_CLUSTER_NAME  name prefix, <= 6 chars (default skc)
#   SKIFF_CLUSTER_NET   the LAN's /24, 3 octets (default 10.77.0)
#   SKIFF_BIN_DIR       where the binaries are (default target/release)
#   SKIFF_CLUSTER_HEARTBEAT, SKIFF_CLUSTER_TIMEOUT  controller settings (1s, 3s)
#   SKIFF_CLUSTER_CERT_EXPIRY  how long node certificates last (2160h: 90 days)
#   SKIFF_CLUSTER_AGENT_TLS=1  each agent also listens on $NET.(10+I):2376 with
#                       mutual TLS, its server certificate from the cluster CA,
#                       so cluster client certificates reach it directly
#
# `source $DIR/env` points the CLI at the controllers (every address; the
# CLI moves to another when one stops answering) with an admin
# certificate: SKIFF_HOST, SKIFF_TLS_VERIFY, SKIFF_CERT_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${SKIFF_CLUSTER_DIR:-/tmp/skiff-cluster}
NAME=${SKIFF_CLUSTER_NAME:-skc}
NET=${SKIFF_CLUSTER_NET:-10.77.0}
B=${SKIFF_BIN_DIR:-$PWD/target/release}
HEARTBEAT=${SKIFF_CLUSTER_HEARTBEAT:-1s}
TIMEOUT=${SKIFF_CLUSTER_TIMEOUT:-3s}
CERT_EXPIRY=${SKIFF_CLUSTER_CERT_EXPIRY:-2160h}
LAN=$NAME-lan

# How many controllers the cluster has, their addresses, data and files.
ncontrollers() { cat "$DIR/controllers" 2>/dev/null || echo 1; }
ctl_addr() { if [ "$(ncontrollers)" -gt 1 ]; then echo "$NET.$((1 + $1)):7443"; else echo "$NET.1:7443"; fi; }
ctl_dir() { if [ "$1" = 1 ]; then echo "$DIR/ctl"; else echo "$DIR/ctl$1"; fi; }
ctl_sfx() { if [ "$1" = 1 ]; then echo ""; else echo "$1"; fi; }
all_ctl() {
  local i out=""
  for i in $(seq 1 "$(ncontrollers)"); do out="$out${out:+,}$(ctl_addr "$i")"; done
  echo "$out"
}

agent_ns() { echo "$NAME-h$1"; }

# Each agent's mount namespace is held open by a small process, so a
# restarted agent finds its mounts (and its live containers) again.
start_agent() {
  local i=$1 h=h$1 ns
  ns=$(agent_ns "$1")
  local holder
  holder=$(cat "$DIR/$h/holder.pid")
  local join=() tls=()
  [ -f "$DIR/$h/data/cluster/cert.pem" ] || join=(--join "${2:-$(cat "$DIR/agent-token")}")
  if [ "${SKIFF_CLUSTER_AGENT_TLS:-}" = 1 ]; then
    [ -f "$DIR/$h/tls/server-cert.pem" ] ||
      "$B/skiff" certs server --ca "$DIR/ctl/ca" --out "$DIR/$h/tls" --san "$NET.$((10 + i))" >/dev/null
    tls=(-H "tcp://$NET.$((10 + i)):2376" --tlsverify --tlscacert "$DIR/ctl/ca/ca.pem"
      --tlscert "$DIR/$h/tls/server-cert.pem" --tlskey "$DIR/$h/tls/server-key.pem")
  fi
  nsenter -t "$holder" --mount --net="/run/netns/$ns" "$B/skiff-agent" \
    --data-root "$DIR/$h/data" --exec-root "$DIR/$h/run" -H "unix://$DIR/$h/agent.sock" \
    --cgroup-parent "$NAME-$h" --config-file /nonexistent --node-name "$h" \
    --label "host=$h" --controller "$(all_ctl)" --insecure-registry "$NET.0/24" "${join[@]}" "${tls[@]}" \
    >>"$DIR/$h/agent.log" 2>&1 </dev/null &
  echo $! >"$DIR/$h/agent.pid"
  for _ in $(seq 200); do
    [ -S "$DIR/$h/agent.sock" ] && return 0
    kill -0 "$(cat "$DIR/$h/agent.pid")" 2>/dev/null || break
    sleep 0.05
  done
  echo "agent $h did not start:" >&2
  tail -5 "$DIR/$h/agent.log" >&2
  return 1
}

stop_agent() {
  local pidf=$DIR/h$1/agent.pid
  [ -f "$pidf" ] || return 0
  kill "$(cat "$pidf")" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$(cat "$pidf")" 2>/dev/null || break; sleep 0.05; done
  rm -f "$pidf"
}

listening() {
  local n
  n=$(grep -c "controller listening" "$DIR/controller$(ctl_sfx "$1").log" 2>/dev/null) || true
  echo "${n:-0}"
}

start_controller() {
  local i=${1:-1} first=() before netns=() s addr
  s=$(ctl_sfx "$i")
  addr=$(ctl_addr "$i")
  before=$(listening "$i")
  [ "$(ncontrollers)" -gt 1 ] && netns=(ip netns exec "$NAME-c$i")
  if [ ! -f "$(ctl_dir "$i")/controller.json" ]; then
    if [ "$i" = 1 ]; then
      first=(init --advertise-addr "${addr%:*}")
    else
      first=(join --token "$(cat "$DIR/controller-token")" --peer "$(ctl_addr 1)")
    fi
  fi
  "${netns[@]}" "$B/skiff-controller" "${first[@]}" --data "$(ctl_dir "$i")" --listen "$addr" \
    --heartbeat-period "$HEARTBEAT" --node-timeout "$TIMEOUT" --cert-expiry "$CERT_EXPIRY" \
    >>"$DIR/controller$s.log" 2>&1 </dev/null &
  echo $! >"$DIR/controller$s.pid"
  for _ in $(seq 400); do
    [ "$(listening "$i")" -gt "$before" ] && return 0
    kill -0 "$(cat "$DIR/controller$s.pid")" 2>/dev/null || break
    sleep 0.05
  done
  echo "controller $i did not start:" >&2
  tail -5 "$DIR/controller$s.log" >&2
  return 1
}

# SIGTERM (or the signal given) to controller I, and wait for it to end.
stop_controller() {
  local s pidf pid
  s=$(ctl_sfx "${1:-1}")
  pidf=$DIR/controller$s.pid
  [ -f "$pidf" ] || return 0
  pid=$(cat "$pidf")
  kill "${2:--TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  # One that does not stop in 5 s is killed, so nothing outlives `down`.
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
  rm -f "$pidf"
}

# A network namespace NS on the LAN at address IP, through veth VETH.
lan_ns() {
  local ns=$1 veth=$2 ip=$3
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add "$veth" netns "$LAN" type veth peer name eth0 netns "$ns"
  ip -n "$LAN" link set "$veth" master lan0 up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
}

# Controller I's own namespace on the LAN at $NET.(1+I).
add_controller_ns() {
  lan_ns "$NAME-c$1" "$NAME-k$1" "$NET.$((1 + $1))"
}

# A host: network namespace on the LAN at $NET.(10+I), a mount namespace
# held open by a sleeping process, and its agent.
add_host() {
  local i=$1 h=h$1
  mkdir -p "$DIR/$h"
  lan_ns "$(agent_ns "$i")" "$NAME-l$i" "$NET.$((10 + i))"
  hold_mounts "$i"
  start_agent "$i" "${2:-}"
}

# The host's mount namespace, held open by a sleeping process.
hold_mounts() {
  local h=h$1 ns
  ns=$(agent_ns "$1")
  nsenter --net="/run/netns/$ns" unshare --mount --propagation slave sleep infinity </dev/null >/dev/null 2>&1 &
  local holder=$!
  echo "$holder" >"$DIR/$h/holder.pid"
  # unshare runs `sleep` in the new namespace once it is set up.
  for _ in $(seq 100); do
    [ "$(readlink "/proc/$holder/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] && break
    sleep 0.02
  done
}

# Host hI loses power: every process on it dies at once (agent,
# supervisors, containers, the mount namespace with its mounts), its
# runtime state is gone and it drops off the LAN.
kill_host() {
  local i=$1 h=h$1 ns
  ns=$(agent_ns "$1")
  [ -f "$DIR/$h/agent.pid" ] && kill -9 "$(cat "$DIR/$h/agent.pid")" 2>/dev/null || true
  rm -f "$DIR/$h/agent.pid"
  pkill -9 -f "skiff-(agent shim|shim --socket) $DIR/$h/" 2>/dev/null || true
  for procs in /sys/fs/cgroup/*/"$NAME-$h"/*/cgroup.procs /sys/fs/cgroup/"$NAME-$h"/*/cgroup.procs; do
    [ -f "$procs" ] || continue
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$procs"
  done
  [ -f "$DIR/$h/holder.pid" ] && kill -9 "$(cat "$DIR/$h/holder.pid")" 2>/dev/null || true
  ip -n "$ns" link set eth0 down
  sleep 0.2
  rm -rf "$DIR/$h/run" "$DIR/$h/agent.sock"
}

# Host hI powers on again: back on the LAN, a fresh mount namespace, and
# its agent, which reconciles what the power loss left.
boot_host() {
  ip -n "$(agent_ns "$1")" link set eth0 up
  hold_mounts "$1"
  start_agent "$1"
}

down() {
  # Controllers first: a controller's orchestrator would replace the
  # containers removed below with new ones, which then outlive their hosts.
  for i in $(seq 1 "$(ncontrollers)"); do stop_controller "$i"; done
  # A create the controller sent just before it stopped may still land:
  # a few rounds, until an agent lists nothing.
  for sock in "$DIR"/h*/agent.sock; do
    [ -S "$sock" ] || continue
    for _ in 1 2 3; do
      local ids
      ids=$("$B/skiff" -H "unix://$sock" ps -aq 2>/dev/null) || break
      [ -n "$ids" ] || break
      for id in $ids; do
        "$B/skiff" -H "unix://$sock" rm -f "$id" >/dev/null 2>&1 || true
      done
    done
  done
  for d in "$DIR"/h*; do
    [ -d "$d" ] || continue
    stop_agent "${d##*/h}"
    # Supervisors of containers that could not be removed.
    pkill -9 -f "skiff-(agent shim|shim --socket) $d/" 2>/dev/null || true
    [ -f "$d/holder.pid" ] && kill "$(cat "$d/holder.pid")" 2>/dev/null || true
  done
  sleep 0.2
  for ns in $(ip netns list | awk -v p="^$NAME-" '$1 ~ p {print $1}'); do ip netns del "$ns"; done
  ip link del "$NAME-host" 2>/dev/null || true
  # Containers whose supervisor went before them: kill what is left in the
  # hosts' cgroups (they may still be leaving them).
  for procs in /sys/fs/cgroup/*/"$NAME"-h*/*/cgroup.procs /sys/fs/cgroup/"$NAME"-h*/*/cgroup.procs; do
    [ -f "$procs" ] || continue
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$procs"
  done
  for _ in $(seq 50); do
    local left=0
    for d in /sys/fs/cgroup/*/"$NAME"-h* /sys/fs/cgroup/"$NAME"-h*; do
      [ -d "$d" ] || continue
      rmdir "$d"/* "$d" 2>/dev/null || left=1
    done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  { grep -o " $DIR/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf "$DIR"
}

up() {
  local n=3 c=1
  while [ $# -gt 0 ]; do
    case $1 in
      --controllers) c=$2; shift 2 ;;
      --controllers=*) c=${1#*=}; shift ;;
      *) n=$1; shift ;;
    esac
  done
  if [ "$(id -u)" -ne 0 ]; then echo "deploy/local-cluster.sh must run as root" >&2; exit 1; fi
  down >/dev/null 2>&1 || true
  mkdir -p "$DIR"
  echo "$c" >"$DIR/controllers"
  # The LAN: a bridge in its own namespace; the host (the CLI, and a lone
  # controller) is on it at $NET.1 through a veth.
  ip netns add "$LAN"
  ip -n "$LAN" link set lo up
  ip -n "$LAN" link add lan0 type bridge
  ip -n "$LAN" link set lan0 up
  ip link add "$NAME-host" type veth peer name host netns "$LAN"
  ip -n "$LAN" link set host master lan0 up
  ip addr add "$NET.1/24" dev "$NAME-host"
  ip link set "$NAME-host" up
  if [ "$c" -gt 1 ]; then
    for i in $(seq 1 "$c"); do add_controller_ns "$i"; done
  fi
  start_controller 1
  local cli=("$B/skiff" -H "tcp://$(ctl_addr 1)" --tlsverify --tlscacert "$DIR/ctl/admin/ca.pem"
    --tlscert "$DIR/ctl/admin/cert.pem" --tlskey "$DIR/ctl/admin/key.pem")
  "${cli[@]}" cluster join-token agent -q >"$DIR/agent-token"
  "${cli[@]}" cluster join-token controller -q >"$DIR/controller-token"
  for i in $(seq 2 "$c"); do start_controller "$i"; done
  printf 'export SKIFF_HOST=tcp://%s\nexport SKIFF_TLS_VERIFY=1\nexport SKIFF_CERT_PATH=%s\n' \
    "$(all_ctl)" "$DIR/ctl/admin" >"$DIR/env"
  # shellcheck disable=SC1091
  . "$DIR/env"
  # Wait until every controller votes.
  for _ in $(seq 400); do
    [ "$("$B/skiff" cluster controllers --format '{{.Membership}}' 2>/dev/null | grep -c '^voter$')" -ge "$c" ] && break
    sleep 0.05
  done
  for i in $(seq 1 "$n"); do add_host "$i"; done
  # Wait until every agent holds its session.
  for _ in $(seq 200); do
    [ "$("$B/skiff" node ls --format '{{.Status.State}}' 2>/dev/null | grep -c '^ready$')" -ge "$n" ] && break
    sleep 0.05
  done
  echo "cluster up: $c controller(s) at $(all_ctl), $n agents; use it with: source $DIR/env"
}

case "${1:-up}" in
  up) shift; up "$@" ;;
  down) down ;;
  add-host) add_host "$2" "${3:-}" ;;
  stop-agent) stop_agent "$2" ;;
  start-agent) start_agent "$2" ;;
  kill-host) kill_host "$2" ;;
  boot-host) boot_host "$2" ;;
  stop-controller) stop_controller "${2:-1}" ;;
  kill-controller) stop_controller "${2:-1}" -KILL ;;
  start-controller) start_controller "${2:-1}" ;;
  cut-controller) ip -n "$NAME-c$2" link set eth0 down ;;
  heal-controller) ip -n "$NAME-c$2" link set eth0 up ;;
  *) echo "usage: $0 up [N] [--controllers C] | down | add-host I [TOKEN] | stop-agent I | start-agent I | kill-host I | boot-host I | stop-controller|start-controller|kill-controller [I] | cut-controller|heal-controller I" >&2; exit 2 ;;
esac
