#!/usr/bin/env bash
# The controller at scale: skiff-controllers on loopback (three by
# default: raft between them, any of them answers) and a simulated fleet
# (target/release/skiff-fleetsim: N agents in one process that join with
# real tokens and hold real mutual-TLS gRPC sessions, 10 containers each,
# 5 s heartbeats stretched with the fleet's size). Then 10,000 containers
# scheduled through the controllers' API, one service of 10,000 replicas,
# and a SIGKILL of the leader. Prints join time, the leader's CPU and RSS
# idle and loaded, heartbeats/s, placements/s, and failover times.
#   deploy/cluster-bench.sh [--controllers 1|3|5] [N ...]   (default: 3, 100 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
B=$PWD/target/release
[ -x "$B/skiff-fleetsim" ] || deploy/build.sh
ulimit -n 20000
controllers=3
if [ "${1:-}" = --controllers ]; then controllers=$2; shift 2; fi
port=17443
for n in "${@:-100 1000}"; do
  for n1 in $n; do
    d=$(mktemp -d /tmp/skiff-cbench.XXXXXX)
    pids=() addrs=()
    start() { # start I [init|join args…]
      local i=$1
      shift
      "$B/skiff-controller" "$@" --data "$d/ctl$i" --listen "127.0.0.1:$((port + i - 1))" \
        --heartbeat-period 5s --node-timeout 15s >"$d/ctl$i.log" 2>&1 &
      pids+=($!)
      addrs+=("127.0.0.1:$((port + i - 1))")
      for _ in $(seq 200); do grep -q "controller listening" "$d/ctl$i.log" && return 0; sleep 0.05; done
      echo "controller $i did not start" >&2
      tail -5 "$d/ctl$i.log" >&2
      return 1
    }
    cli() {
      "$B/skiff" -H "tcp://$(IFS=,; echo "${addrs[*]}")" --tlsverify --tlscacert "$d/ctl1/admin/ca.pem" \
        --tlscert "$d/ctl1/admin/cert.pem" --tlskey "$d/ctl1/admin/key.pem" "$@"
    }
    start 1 init
    for i in $(seq 2 "$controllers"); do
      start "$i" join --token "$(cli cluster join-token controller -q)" --peer "127.0.0.1:$port"
    done
    # Every controller a voter whose log matches the leader's.
    for _ in $(seq 600); do
      [ "$(cli cluster controllers --format '{{.Membership}} {{.Lag}}' 2>/dev/null | grep -c '^voter 0$')" = "$controllers" ] && break
      sleep 0.1
    done
    token=$(cli cluster join-token agent -q)
    echo "== $n1 simulated agents, $controllers controller(s)"
    failover=()
    [ "$controllers" -gt 1 ] && failover=(--failover)
    "$B/skiff-fleetsim" --controller "$(IFS=,; echo "${addrs[*]}")" --token "$token" --certs "$d/ctl1/admin" \
      --agents "$n1" --containers 10 --schedule 10000 --replicas 10000 --concurrency 64 --settle 25 \
      --controller-pid "$(IFS=,; echo "${pids[*]}")" --work "$d/sim" "${failover[@]}" ||
      echo "fleetsim failed (see $d/ctl*.log)"
    if [ "$controllers" -gt 1 ]; then
      # One more controller joins the loaded cluster (its state is several
      # MiB: the snapshot travels in chunks) and catches up.
      live=0
      for i in $(seq "$controllers"); do kill -0 "${pids[$((i - 1))]}" 2>/dev/null && live=$i && break; done
      t0=$(date +%s.%N)
      start $((controllers + 1)) join --token "$(cli cluster join-token controller -q)" --peer "127.0.0.1:$((port + live - 1))"
      for _ in $(seq 600); do
        [ "$(cli cluster controllers --format '{{.RaftID}} {{.Membership}} {{.Lag}}' 2>/dev/null |
          grep -c "^$((controllers + 1)) voter 0$")" = 1 ] && break
        sleep 0.1
      done
      echo "join_loaded_cluster_seconds $(echo "$(date +%s.%N) - $t0" | bc)"
      sed 's/\x1b\[[0-9;]*m//g' "$d"/ctl*.log | grep -o 'raft snapshot delivered.*' | tail -1
    fi
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    if [ -n "${SKIFF_BENCH_KEEP:-}" ]; then echo "kept $d"; else rm -rf "$d"; fi
  done
done
