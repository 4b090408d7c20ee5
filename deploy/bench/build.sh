# Sourced by deploy/bench.sh: Dockerfile builds, skiff against Docker's
# classic builder and BuildKit in the same run. A 10-step Dockerfile that
# copies 100 MB of random data and 5,000 small files: cold (--no-cache),
# fully cached, and after touching one small file (same content).
# Needs $W, $S (skiff CLI), $D (docker CLI) and time_cmd from bench.sh.

build_ctx() {
  local c=$W/build-ctx
  rm -rf "$c"; mkdir -p "$c/big" "$c/small"
  for i in $(seq 10); do head -c 10485760 /dev/urandom >"$c/big/blob$i"; done
  (cd "$c/small" && seq 5000 | xargs -n 500 sh -c 'for i; do echo "$i" > "f$i"; done' _)
  echo one >"$c/one.txt"
  cat >"$c/Dockerfile" <<'EOF'
FROM busybox
ENV A=1
WORKDIR /app
COPY big/ /app/big/
COPY small/ /app/small/
RUN cat /app/big/* | wc -c > /app/size
RUN find /app/small -type f | wc -l > /app/count
LABEL bench=1
COPY one.txt /app/one.txt
CMD ["cat", "/app/size"]
EOF
}

# Seconds of one build of the bench context by "$@" (a CLI and its
# flags), with $BUILD_FLAGS.
build_once() {
  local s e; s=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$@" build -q $BUILD_FLAGS -t bench "$W/build-ctx" >/dev/null
  e=$(date +%s.%N); echo "$e - $s" | bc -l
}

# cold, cached and touched times for one builder: prints three numbers.
build_times() {
  local cold cached touched
  cold=$(BUILD_FLAGS=--no-cache build_once "$@")
  cached=$(for _ in 1 2 3; do BUILD_FLAGS= build_once "$@"; done | median)
  touched=$(for _ in 1 2 3; do touch "$W/build-ctx/small/f77"; BUILD_FLAGS= build_once "$@"; done | median)
  echo "$cold $cached $touched"
}

bench_build() {
  build_ctx
  # shellcheck disable=SC2086
  read -r bs_cold bs_cached bs_touched < <(build_times $S)
  # shellcheck disable=SC2086
  read -r bc_cold bc_cached bc_touched < <(DOCKER_BUILDKIT=0 build_times $D)
  # shellcheck disable=SC2086
  read -r bk_cold bk_cached bk_touched < <(DOCKER_BUILDKIT=1 build_times $D)
  printf '\n%-36s %9s %9s %9s %9s %9s\n' "build (10 steps, 100 MB + 5,000 files)" "skiff" "classic" "buildkit" "cl/skiff" "bk/skiff"
  for row in "cold (--no-cache):$bs_cold:$bc_cold:$bk_cold" "fully cached:$bs_cached:$bc_cached:$bk_cached" \
    "one small file touched:$bs_touched:$bc_touched:$bk_touched"; do
    IFS=: read -r name s c k <<<"$row"
    printf '%-36s %9.2f %9.2f %9.2f %8sx %8sx\n' "$name (s)" "$s" "$c" "$k" "$(ratio "$c" "$s")" "$(ratio "$k" "$s")"
  done
  rm -rf "$W/build-ctx"
}
