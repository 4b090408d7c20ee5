#!/usr/bin/env bash
# A local multi-host skiff demo: N hosts (default 3), each a skiff-agent in
# its own network namespace with its own data root and socket, joined by a
# "LAN" (a bridge in namespace skiff-demo-lan, 10.88.0.0/24), each running
# a web server published on port 8080 that the other hosts reach, plus a
# user network with round-robin DNS on h1.
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
  # The LAN's veth ends live in the namespaces just removed.
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
ip netns add skiff-demo-lan
ip -n skiff-demo-lan link add lan0 type bridge
ip -n skiff-demo-lan link set lan0 up
for i in $(seq 1 "$n"); do
  h=h$i
  ip netns add "skiff-demo-$h"
  ip -n "skiff-demo-$h" link set lo up
  ip link add "lan-$h" netns skiff-demo-lan type veth peer name eth0 netns "skiff-demo-$h"
  ip -n skiff-demo-lan link set "lan-$h" master lan0 up
  ip -n "skiff-demo-$h" addr add "10.88.0.$i/24" dev eth0
  ip -n "skiff-demo-$h" link set eth0 up
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
  $S run -d --name "web-h$i" --restart always -p 8080:80 busybox \
    sh -c "mkdir -p /www; echo hello from h$i, container \$(hostname) > /www/index.html; exec httpd -f -p 80 -h /www" >/dev/null
  $S run --rm busybox sh -c "echo \"host h$i: container \$(hostname) has \$(ip -o -4 addr show eth0 | awk '{print \$4}') on the default bridge\""
done
sleep 0.3
echo
for i in $(seq 1 "$n"); do
  j=$((i % n + 1))
  echo "host h$i fetches http://10.88.0.$j:8080/ (h$j's published port): $(ip netns exec "skiff-demo-h$i" timeout 3 busybox wget -qO- "http://10.88.0.$j:8080/")"
done
S1="$B/skiff -H unix://$state/h1.sock"
$S1 network create --subnet 172.72.0.0/24 app >/dev/null
for k in 1 2 3; do $S1 run -d --name "api$k" --net app --net-alias api busybox sleep 3600 >/dev/null; done
echo
echo "h1: three containers share the alias 'api' on network 'app'; each lookup starts with the next one:"
$S1 run --rm --net app busybox sh -c 'for i in 1 2 3 4; do nslookup api | awk "/^Name:/{f=1} f && /^Address/{print \"  api -> \" \$2; exit}"; done' 
echo
for i in $(seq 1 "$n"); do
  echo "== host h$i: skiff -H unix://$state/h$i.sock ps"
  "$B/skiff" -H "unix://$state/h$i.sock" ps
done
echo
echo "Try:  $B/skiff -H unix://$state/h1.sock network inspect app"
echo "      $B/skiff -H unix://$state/h1.sock logs -f web-h1"
echo "      DOCKER_HOST=unix://$state/h2.sock docker ps"
echo "Stop: deploy/demo.sh down"
