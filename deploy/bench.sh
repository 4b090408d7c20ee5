#!/usr/bin/env bash
# Benchmark skiff against Docker (Debian's docker.io) on this machine, in
# one run, and print a table with ratios. Not part of CI.
#   sudo deploy/bench.sh [runs=20] [parallel=50]
#   sudo BENCH_ONLY=build|images|logs deploy/bench.sh (only that section;
#     core: everything but those three)
#   sudo BENCH_BIN=DIR deploy/bench.sh (skiff binaries from DIR, no build;
#     only the packages are installed)
# Both engines get their own data root and socket and share one network
# namespace made for the run (skiff0 on 172.30/16, docker0 on 172.31/16),
# so nothing outside this machine is touched: Docker's iptables rules and
# skiff's nftables table live and die with that namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
par=${2:-50}
B=${BENCH_BIN:-$PWD/target/release}
W=/tmp/skiff-bench
export DEBIAN_FRONTEND=noninteractive
if [ -n "${BENCH_BIN:-}" ]; then
  deploy/setup.sh --with-docker-client --packages-only
else
  deploy/setup.sh --with-docker-client
fi
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null
if ! command -v dockerd >/dev/null; then apt-get install -y -qq docker.io >/dev/null; fi
DOCKER=/usr/bin/docker
tar=$(deploy/busybox-image.sh)

median() { sort -n | awk '{a[NR]=$1} END{print (NR%2? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { echo "scale=1; $1 / $2" | bc -l; }

cleanup() {
  set +e
  # Everything this script started names $W on its command line.
  pkill -f "^(dockerd|$B/skiff-agent) .*$W/" 2>/dev/null
  sleep 1
  pkill -9 -f "$W/" 2>/dev/null
  sleep 0.5
  grep -o " $W/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
  for d in /sys/fs/cgroup/*/skiff-bench /sys/fs/cgroup/*/docker-bench; do
    [ -d "$d" ] || continue
    find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null
    sleep 0.2
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  ip netns del skiff-bench 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
cleanup; set -e
mkdir -p "$W"
echo "{}" >"$W/daemon.json"
ip netns add skiff-bench
# A TLS endpoint on the bench namespace's loopback, for the TLS round trip.
ip -n skiff-bench link set lo up
"$B/skiff" certs ca --out "$W/pki/ca" >/dev/null
"$B/skiff" certs server --ca "$W/pki/ca" --out "$W/pki/srv" --san localhost --san 127.0.0.1 >/dev/null
"$B/skiff" certs client --ca "$W/pki/ca" --out "$W/pki/cli" --cn bench >/dev/null
# nsenter execs the daemon, so $! is the daemon's own PID.
nsenter --net=/run/netns/skiff-bench "$B/skiff-agent" --data-root "$W/skiff" --exec-root "$W/skiff-run" -H "unix://$W/skiff.sock" \
  -H tcp://127.0.0.1:2376 --tlsverify --tlscacert "$W/pki/srv/ca.pem" --tlscert "$W/pki/srv/server-cert.pem" \
  --tlskey "$W/pki/srv/server-key.pem" --cgroup-parent skiff-bench --bip 172.30.0.1/16 --config-file /nonexistent \
  >"$W/skiff.log" 2>&1 &
echo $! >"$W/skiff.pid"
nsenter --net=/run/netns/skiff-bench dockerd --data-root "$W/docker" --exec-root "$W/docker-run" -H "unix://$W/docker.sock" --pidfile "$W/docker.pidfile" \
  --bip 172.31.0.1/16 --cgroup-parent docker-bench --config-file "$W/daemon.json" \
  >"$W/docker.log" 2>&1 &
echo $! >"$W/docker.pid"
for s in skiff docker; do for _ in $(seq 200); do [ -S "$W/$s.sock" ] && break; sleep 0.1; done; done
S="$B/skiff -H unix://$W/skiff.sock"
D="$DOCKER -H unix://$W/docker.sock"
$S import "$tar" busybox >/dev/null
$D import "$tar" busybox >/dev/null
for _ in $(seq 30); do $D info >/dev/null 2>&1 && break; sleep 0.2; done
sleep 2 # let both daemons settle before measuring idle memory
if [ "${BENCH_ONLY:-}" = build ]; then # just the build section
  . deploy/bench/build.sh
  bench_build
  exit 0
fi
if [ "${BENCH_ONLY:-}" = logs ]; then # just the json-file log section
  . deploy/bench/logs.sh
  bench_logs
  exit 0
fi
if [ "${BENCH_ONLY:-}" = images ]; then # just the image section
  . deploy/bench/images.sh
  bench_images
  exit 0
fi

rss_kb() { # total RSS of the given pids
  local t=0; for p in "$@"; do v=$(awk '/VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0); t=$((t + ${v:-0})); done; echo $t; }
pss_kb() { # total PSS (shared pages divided among sharers) of the given pids
  local t=0; for p in "$@"; do v=$(awk '/^Pss:/{s+=$2} END{print s+0}' "/proc/$p/smaps" 2>/dev/null || echo 0); t=$((t + ${v:-0})); done; echo $t; }
used_kb() { awk '/MemTotal/{t=$2} /MemAvailable/{a=$2} END{print t-a}' /proc/meminfo; }
docker_pids() { echo "$(cat "$W/docker.pid") $(pgrep -f "containerd --config $W/docker-run" || pgrep -f "containerd.*$W/docker-run" || true)"; }
idle_s=$(rss_kb "$(cat "$W/skiff.pid")")
idle_d=$(rss_kb $(docker_pids))

time_runs() { # prints median seconds of `$@ run --rm busybox true`
  for _ in $(seq "$runs"); do
    s=$(date +%s.%N); "$@" run --rm --network none busybox true >/dev/null; e=$(date +%s.%N)
    echo "$e - $s" | bc -l
  done | median; }
$S run --rm busybox true >/dev/null; $D run --rm --network none busybox true >/dev/null # warm up
run_s=$(time_runs $S)
run_d=$(time_runs $D)

par_run() { # seconds to start $par detached containers in parallel
  local s e; s=$(date +%s.%N)
  seq "$par" | xargs -P "$par" -I{} "$@" run -d --network none busybox sleep 600 >/dev/null
  e=$(date +%s.%N); echo "$e - $s" | bc -l; }
time_cmd() { # median seconds of 3 runs of "$@"
  for _ in 1 2 3; do
    s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc -l
  done | median; }
# System memory per running container: machine-wide use with $par
# running, minus before, over $par (engine, supervisors, kernel objects).
m0=$(used_kb); par_s=$(par_run $S); sleep 2; m1=$(used_kb)
sys_s=$(( (m1 - m0) / par ))
shims_s=$(pgrep -f "skiff-(agent shim|shim --socket)" | tr '\n' ' ')
pss_s=$(( $(pss_kb $shims_s) / par ))
stats_s=$(time_cmd $S stats --no-stream)
$S rm -f $($S ps -q) >/dev/null; sleep 1
m0=$(used_kb); par_d=$(par_run $D); sleep 2; m1=$(used_kb)
sys_d=$(( (m1 - m0) / par ))
shims_d=$(pgrep -f "containerd-shim" | tr '\n' ' ' || true)
pss_d=$(( $(pss_kb $shims_d) / par ))
stats_d=$(time_cmd $D stats --no-stream)

$D rm -f $($D ps -q) >/dev/null
$S run -d busybox sleep 600 >/dev/null; $D run -d --network none busybox sleep 600 >/dev/null; sleep 1
shim_one_s=$(rss_kb $(pgrep -n -f "skiff-shim --socket"))
shim_one_d=$(rss_kb $(pgrep -n -f "containerd-shim-runc"))
$S rm -f $($S ps -q) >/dev/null
$D rm -f $($D ps -q) >/dev/null

# Networking: run --rm on the default bridge; $par containers created and
# attached to one user network in parallel; the embedded DNS under load
# (an alias shared by 3 containers, asked from a 4th, 4 threads, 5 s).
time_bridge() { for _ in $(seq "$runs"); do
    s=$(date +%s.%N); "$@" run --rm busybox true >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc -l
  done | median; }
$S run --rm busybox true >/dev/null; $D run --rm busybox true >/dev/null
bridge_s=$(time_bridge $S)
bridge_d=$(time_bridge $D)
net_run() { # seconds to start $par containers on one user network, in parallel
  local s e; "$@" network create benchnet >/dev/null; s=$(date +%s.%N)
  seq "$par" | xargs -P "$par" -I{} "$@" run -d --network benchnet busybox sleep 600 >/dev/null
  e=$(date +%s.%N); echo "$e - $s" | bc -l; }
net_s=$(net_run $S); $S rm -f $($S ps -q) >/dev/null
net_d=$(net_run $D); $D rm -f $($D ps -q) >/dev/null
dns_bench() { # qps p50_us p99_us lost, through engine "$1"'s embedded DNS
  local e=$1 ns
  $e network create dnsnet >/dev/null
  for _ in 1 2 3; do $e run -d --network dnsnet --network-alias web busybox sleep 600 >/dev/null; done
  $e run -d --name dnsclient --network dnsnet busybox sleep 600 >/dev/null
  ns=/proc/$($e inspect -f '{{.State.Pid}}' dnsclient)/ns/net
  nsenter --net="$ns" "$B/skiff-dnsbench" 127.0.0.11:53 web 5 4
  $e rm -f $($e ps -q) >/dev/null; }
read -r dq_s d50_s d99_s _ < <(dns_bench "$S")
read -r dq_d d50_d d99_d _ < <(dns_bench "$D")

# TLS: handshake + 1000 sequential /_ping on one reused connection, and
# 100 fresh connections (handshake each time).
urls=$(for _ in $(seq 1000); do printf 'https://127.0.0.1:2376/_ping '; done)
tlsargs=(--cacert "$W/pki/cli/ca.pem" --cert "$W/pki/cli/cert.pem" --key "$W/pki/cli/key.pem")
s0=$(date +%s.%N)
nsenter --net=/run/netns/skiff-bench curl -sf "${tlsargs[@]}" $urls >/dev/null
tls_reuse=$(echo "($(date +%s.%N) - $s0) * 1000 / 1000" | bc -l)
s0=$(date +%s.%N)
for _ in $(seq 100); do nsenter --net=/run/netns/skiff-bench curl -sf "${tlsargs[@]}" https://127.0.0.1:2376/_ping >/dev/null; done
tls_fresh=$(echo "($(date +%s.%N) - $s0) * 1000 / 100" | bc -l)

printf '\n%-44s %12s %12s %10s\n' "measure" "skiff" "docker" "docker/skiff"
printf '%-44s %12.3f %12.3f %9sx\n' "run --rm busybox true, median of $runs (s)" "$run_s" "$run_d" "$(ratio "$run_d" "$run_s")"
printf '%-44s %12.2f %12.2f %9sx\n' "$par detached starts in parallel (s)" "$par_s" "$par_d" "$(ratio "$par_d" "$par_s")"
printf '%-44s %12s %12s %9sx\n' "idle daemon RSS (MiB)" "$((idle_s / 1024))" "$((idle_d / 1024))" "$(ratio "$idle_d" "$idle_s")"
printf '%-44s %12s %12s %9sx\n' "system memory per running container (KiB)" "$sys_s" "$sys_d" "$(ratio "$sys_d" "$sys_s")"
printf '%-44s %12s %12s %9sx\n' "supervisor / containerd-shim PSS each (KiB)" "$pss_s" "$pss_d" "$(ratio "$pss_d" "$pss_s")"
printf '%-44s %12s %12s %9sx\n' "one supervisor / containerd-shim RSS (KiB)" "$shim_one_s" "$shim_one_d" "$(ratio "$shim_one_d" "$shim_one_s")"
printf '%-44s %12.3f %12.3f %9sx\n' "stats --no-stream with $par running (s)" "$stats_s" "$stats_d" "$(ratio "$stats_d" "$stats_s")"
printf '%-44s %12.3f %12.3f %9sx\n' "run --rm on the default bridge, median (s)" "$bridge_s" "$bridge_d" "$(ratio "$bridge_d" "$bridge_s")"
printf '%-44s %12.2f %12.2f %9sx\n' "$par starts on one user network, parallel (s)" "$net_s" "$net_d" "$(ratio "$net_d" "$net_s")"
printf '%-44s %12s %12s %9sx\n' "embedded DNS, alias of 3: queries/s" "$dq_s" "$dq_d" "$(ratio "$dq_s" "$dq_d")"
printf '%-44s %12s %12s %9sx\n' "embedded DNS p50 latency (us)" "$d50_s" "$d50_d" "$(ratio "$d50_d" "$d50_s")"
printf '%-44s %12s %12s %9sx\n' "embedded DNS p99 latency (us)" "$d99_s" "$d99_d" "$(ratio "$d99_d" "$d99_s")"
if [ "${BENCH_ONLY:-}" != core ]; then
  # shellcheck source=deploy/bench/build.sh
  . deploy/bench/build.sh
  bench_build
  # shellcheck source=deploy/bench/logs.sh
  . deploy/bench/logs.sh
  bench_logs
  # shellcheck source=deploy/bench/images.sh
  . deploy/bench/images.sh
  bench_images
fi

printf '\nskiff TLS API: 1000 sequential /_ping on one mutual-TLS connection: %.3f ms each (handshake included)\n' "$tls_reuse"
printf 'skiff TLS API: new connection per /_ping (curl process + handshake): %.2f ms each\n' "$tls_fresh"
