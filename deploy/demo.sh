#!/usr/bin/env bash
# A local multi-host skiff demo: N hosts (default 3), each a skiff-agent in
# its own network namespace with its own data root and socket, each
# running containers from the busybox image.
#   deploy/demo.sh [up] [N]   set up, start, and show the hosts
#   deploy/demo.sh down       remove everything the demo made
# (The controller that joins these hosts into one cluster is issue 5.)
set -euo pipefail
cd "$(dirname "$0")/.."
B=$PWD/target/release
state=/run/skiff-demo
cmd=${1:-up}
n=${2:-3}

down() {
  for sock in "$state"/h*.sock; do
    [ -S "$sock" ] || continue
    for id in $("$B/skiff" -H "unix://$sock" ps -aq 2>/dev/null); do "$B/skiff" -H "unix://$sock" rm -f "$id" >/dev/null 2>&1 || true; done
  done
  for pidf in "$state"/h*.pid; do [ -f "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null || true; done
  sleep 0.3
  for ns in $(ip netns list | awk '/^skiff-demo-/{print $1}'); do ip netns del "$ns"; done
  for d in /sys/fs/cgroup/*/skiff-demo-h* /sys/fs/cgroup/skiff-demo-h*; do [ -d "$d" ] && rmdir "$d" 2>/dev/null || true; done
  grep -o " /var/lib/skiff-demo/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf "$state" /var/lib/skiff-demo
  echo "demo: removed"
}

if [ "$cmd" = down ]; then down; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "deploy/demo.sh must run as root" >&2; exit 1; fi
deploy/setup.sh
tar=$(deploy/busybox-image.sh)
down >/dev/null 2>&1 || true
mkdir -p "$state"
for i in $(seq 1 "$n"); do
  h=h$i
  ip netns add "skiff-demo-$h"
  nsenter --net="/run/netns/skiff-demo-$h" "$B/skiff-agent" \
    --data-root "/var/lib/skiff-demo/$h" --exec-root "$state/$h" \
    -H "unix://$state/$h.sock" --cgroup-parent "skiff-demo-$h" --config-file /nonexistent \
    >"$state/$h.log" 2>&1 </dev/null &
  echo $! >"$state/$h.pid"
done
for i in $(seq 1 "$n"); do
  sock=$state/h$i.sock
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
  S="$B/skiff -H unix://$sock"
  $S import "$tar" busybox >/dev/null
  $S run -d --name "web-h$i" --restart always busybox sh -c "while true; do echo h$i says hello; sleep 1; done" >/dev/null
  $S run --rm busybox sh -c "echo \"host h$i: container \$(hostname) sees \$(ip -o link | wc -l) network link(s)\""
done
echo
for i in $(seq 1 "$n"); do
  echo "== host h$i: skiff -H unix://$state/h$i.sock ps"
  "$B/skiff" -H "unix://$state/h$i.sock" ps
done
echo
echo "Try:  $B/skiff -H unix://$state/h1.sock logs -f web-h1"
echo "      DOCKER_HOST=unix://$state/h2.sock docker ps"
echo "Stop: deploy/demo.sh down"
