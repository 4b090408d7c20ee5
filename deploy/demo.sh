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
# A private registry, on skiff alone: an image built from Debian's
# docker-registry with a Dockerfile runs on h1; an image built on h2 is
# pushed to it and pulled on h3 (the agents treat the demo network's
# registries as plain HTTP, as Docker's insecure-registries CIDR).
reg=$(mktemp -d)
mkdir -p "$reg/lib"
cp /usr/bin/docker-registry "$reg/"
for so in $(ldd /usr/bin/docker-registry | grep -o '/[^ ]*'); do cp -L "$so" "$reg/lib/"; done
printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/docker-registry\nhttp:\n  addr: :5000\n' >"$reg/config.yml"
cat >"$reg/Dockerfile" <<'EOF'
FROM busybox
COPY lib/ /lib/x86_64-linux-gnu/
RUN mkdir -p /lib64 && ln -s /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 /lib64/
COPY docker-registry /usr/bin/docker-registry
COPY config.yml /etc/docker/registry/config.yml
VOLUME /var/lib/docker-registry
EXPOSE 5000
CMD ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]
EOF
say "skiff --node h1 build -t registry:local .   # Debian's docker-registry, by Dockerfile"
$S --node h1 build --progress plain -t registry:local "$reg" 2>&1 | tail -4
say "skiff --node h1 run -d -p 5000:5000 -v registry:/var/lib/docker-registry registry:local"
$S --node h1 run -d --name registry --restart always -p 5000:5000 -v registry:/var/lib/docker-registry registry:local
rm -rf "$reg"
app=$(mktemp -d)
printf 'FROM busybox\nRUN echo "built on h2, $(date -u +%%H:%%M:%%S)" > /msg\nCMD ["cat", "/msg"]\n' >"$app/Dockerfile"
ref="$net.11:5000/hello:v1"
say "skiff --node h2 build -t $ref .; skiff --node h2 push $ref"
$S --node h2 build -q -t "$ref" "$app"
for _ in $(seq 50); do ip netns exec skc-h2 timeout 1 busybox wget -qO- "http://$net.11:5000/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
$S --node h2 push "$ref" | tail -1
rm -rf "$app"
say "skiff --node h3 pull $ref; skiff --node h3 run --rm $ref"
$S --node h3 pull -q "$ref"
$S --node h3 run --rm "$ref"
say "skiff node update --label-add zone=a h1; skiff node drain h2; skiff node ls"
$S node update --label-add zone=a h1 >/dev/null
$S node drain h2 >/dev/null
$S node ls
echo
echo "The cluster keeps running. Use it:  source $SKIFF_CLUSTER_DIR/env; $S node ls"
echo "Remove it:                          deploy/demo.sh down"
