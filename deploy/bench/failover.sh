#!/usr/bin/env bash
# Controller failover on the local cluster (deploy/local-cluster.sh up 2
# --controllers 3: each controller in a network namespace of its own):
# each round SIGKILLs the leader, then measures
#   elect  – kill → a controller reports a new leader (`cluster controllers`)
#   write  – kill → the CLI (given every address) has a change acknowledged
# and restarts the killed controller and waits until it has caught up.
# Also prints each controller's RSS and CPU time.
#   deploy/bench/failover.sh [rounds]      (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
export SKIFF_CLUSTER_DIR=/tmp/skiff-failover SKIFF_CLUSTER_NAME=skf SKIFF_CLUSTER_NET=10.79.0
B=${SKIFF_BIN_DIR:-$PWD/target/release}
export SKIFF_BIN_DIR=$B
LC=deploy/local-cluster.sh
trap '$LC down >/dev/null 2>&1 || true' EXIT
$LC up 2 --controllers 3 >/dev/null
# shellcheck disable=SC1091
. "$SKIFF_CLUSTER_DIR/env"
S=$B/skiff
leader() { "$S" cluster controllers --format '{{.RaftID}} {{.ManagerStatus}}' 2>/dev/null | awk '$2 == "Leader" {print $1}'; }
caught_up() { [ "$("$S" cluster controllers --format '{{.ManagerStatus}} {{.Lag}}' 2>/dev/null | grep -Ec '^(Leader|Reachable) 0$')" = 3 ]; }
ms() { echo "($2 - $1) * 1000 / 1" | bc; }
rss() {
  local i f
  for i in 1 2 3; do
    f=$SKIFF_CLUSTER_DIR/controller$([ "$i" = 1 ] || echo "$i").pid
    [ -f "$f" ] || continue
    awk -v i="$i" '/VmRSS/ {printf "controller %s: RSS %d KiB", i, $2}' "/proc/$(cat "$f")/status"
    awk '{printf ", CPU %.2f s\n", ($14 + $15) / 100}' "/proc/$(cat "$f")/stat"
  done
}
echo "== idle, 3 controllers, 2 agents"
rss
printf '%-6s %-8s %-10s %-10s\n' round killed "elect ms" "write ms"
for r in $(seq "$ROUNDS"); do
  old=$(leader)
  t0=$(date +%s.%N)
  $LC kill-controller "$old"
  new=""
  while [ -z "$new" ] || [ "$new" = "$old" ]; do new=$(leader); done
  t1=$(date +%s.%N)
  "$S" node update --label-add "round=$r" h1 >/dev/null
  t2=$(date +%s.%N)
  printf '%-6s %-8s %-10s %-10s\n' "$r" "$old" "$(ms "$t0" "$t1")" "$(ms "$t0" "$t2")"
  $LC start-controller "$old"
  until caught_up; do sleep 0.1; done
done
echo "== after $ROUNDS failovers"
rss
