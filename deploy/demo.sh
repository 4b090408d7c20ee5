#!/usr/bin/env bash
# The local multi-host demo: a skiff cluster on this machine (one
# controller, N hosts, default 3, each a skiff-agent in its own network and
# mount namespace, joined with real tokens over mutual TLS; made by
# deploy/local-cluster.sh), driven from one CLI pointed at the controller.
#   deploy/demo.sh [up] [N]   set up, build, start, and show the cluster
#   deploy/demo.sh down       remove everything the demo made
set -euo pipefail
cd "$(dirname "$0")/.."
export SKIFF_CLUSTER_DIR=/tmp/skiff-cluster
cmd=${1:-up}
n=${2:-3}
if [ "$cmd" = down ]; then deploy/local-cluster.sh down; echo "demo: removed"; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "deploy/demo.sh must run as root" >&2; exit 1; fi
deploy/setup.sh
tar=$(deploy/busybox-image.sh)
deploy/local-cluster.sh up "$n"
# shellcheck disable=SC1091
. "$SKIFF_CLUSTER_DIR/env"
S=$PWD/target/release/skiff
net=${SKIFF_CLUSTER_NET:-10.77.0}
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

say skiff node ls
$S node ls
say "skiff import busybox.tar busybox   # through the controller: loaded on every node"
$S import "$tar" busybox
for i in $(seq 1 "$n"); do
  $S --node "h$i" run -d --name web --restart always -p 8080:80 busybox \
    sh -c "mkdir -p /www; echo hello from h$i, container \$(hostname) > /www/index.html; exec httpd -f -p 80 -h /www" >/dev/null
done
say "skiff --node h2 ps   # any command runs on one host through the controller"
$S --node h2 ps
echo
for i in $(seq 1 "$n"); do
  j=$((i % n + 1))
  echo "host h$i fetches http://$net.$((10 + j)):8080/ (h$j's published port): $(ip netns exec "skc-h$i" timeout 3 busybox wget -qO- "http://$net.$((10 + j)):8080/")"
done
$S --node h1 network create --subnet 172.72.0.0/24 app >/dev/null
for k in 1 2 3; do $S --node h1 run -d --name "api$k" --net app --net-alias api busybox sleep 3600 >/dev/null; done
say "skiff --node h1 run --rm --net app busybox nslookup api   # x4: round-robin over three containers"
$S --node h1 run --rm --net app busybox sh -c 'for i in 1 2 3 4; do nslookup api | awk "/^Name:/{f=1} f && /^Address/{print \"  api -> \" \$2; exit}"; done'
say "skiff --node h3 exec web cat /www/index.html"
$S --node h3 exec web cat /www/index.html
say "skiff node update --label-add zone=a h1; skiff node drain h2; skiff node ls"
$S node update --label-add zone=a h1 >/dev/null
$S node drain h2 >/dev/null
$S node ls
echo
echo "The cluster keeps running. Use it:  source $SKIFF_CLUSTER_DIR/env; $S node ls"
echo "Remove it:                          deploy/demo.sh down"
