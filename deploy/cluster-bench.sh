#!/usr/bin/env bash
# The controller at scale: a skiff-controller on loopback and a simulated
# fleet (target/release/skiff-fleetsim: N agents in one process that join
# with real tokens and hold real mutual-TLS gRPC sessions, 10 containers
# each, 5 s heartbeats), then 10,000 containers scheduled through the
# controller's API. Prints join time, controller CPU and RSS idle and
# loaded, and scheduling throughput.
#   deploy/cluster-bench.sh [N ...]      (default: 100 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
B=$PWD/target/release
[ -x "$B/skiff-fleetsim" ] || deploy/build.sh
ulimit -n 20000
port=17443
for n in "${@:-100 1000}"; do
  for n1 in $n; do
    d=$(mktemp -d /tmp/skiff-cbench.XXXXXX)
    "$B/skiff-controller" init --data "$d/ctl" --listen "127.0.0.1:$port" \
      --heartbeat-period 5s --node-timeout 15s >"$d/ctl.log" 2>&1 &
    pid=$!
    for _ in $(seq 200); do grep -q "controller listening" "$d/ctl.log" && break; sleep 0.05; done
    token=$("$B/skiff" -H "tcp://127.0.0.1:$port" --tlsverify --tlscacert "$d/ctl/admin/ca.pem" \
      --tlscert "$d/ctl/admin/cert.pem" --tlskey "$d/ctl/admin/key.pem" cluster join-token agent -q)
    echo "== $n1 simulated agents"
    "$B/skiff-fleetsim" --controller "127.0.0.1:$port" --token "$token" --certs "$d/ctl/admin" \
      --agents "$n1" --containers 10 --schedule 10000 --concurrency 64 --settle 15 \
      --controller-pid "$pid" --work "$d/sim" || echo "fleetsim failed (see $d/ctl.log)"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$d"
  done
done
