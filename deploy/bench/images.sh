# Sourced by deploy/bench.sh: image transfers, skiff against Docker in the
# same run, on an image of about 110 MB in 7 layers (busybox, five layers
# of 20 MB random data, one of 5,000 small files) made by Docker's classic
# builder and pushed to a registry (Debian's docker-registry) on the bench
# namespace's loopback: cold pull, push to an empty registry, save, load,
# and run+commit of a one-file change; median of 3 each.
# Needs $W, $S (skiff CLI), $D (docker CLI), median and ratio from bench.sh.

IMG_SRC=127.0.0.1:5000/bench/img
IMG_DST=127.0.0.1:5001/bench/img

# Start a registry on 127.0.0.1:$1 in the bench namespace, storing under
# $W/registry-$1 (emptied first); its PID goes to $W/registry-$1.pid.
registry_up() {
  local port=$1 dir=$W/registry-$1
  registry_down "$port"
  mkdir -p "$dir/storage"
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$dir/storage" "$port" >"$dir/config.yml"
  nsenter --net=/run/netns/skiff-bench docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  echo $! >"$dir.pid"
  for _ in $(seq 100); do
    nsenter --net=/run/netns/skiff-bench curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && return 0
    sleep 0.1
  done
  echo "registry on $port did not start" >&2; return 1
}
registry_down() {
  local pidf=$W/registry-$1.pid
  if [ -f "$pidf" ]; then kill "$(cat "$pidf")" 2>/dev/null || true; sleep 0.3; rm -f "$pidf"; fi
  rm -rf "$W/registry-$1"
}

images_ctx() {
  local c=$W/image-ctx
  rm -rf "$c"; mkdir -p "$c/small"
  for i in 1 2 3 4 5; do head -c 20971520 /dev/urandom >"$c/blob$i"; done
  (cd "$c/small" && seq 5000 | xargs -n 500 sh -c 'for i; do echo "$i" > "f$i"; done' _)
  cat >"$c/Dockerfile" <<'EOF2'
FROM busybox
COPY blob1 /data/blob1
COPY blob2 /data/blob2
COPY blob3 /data/blob3
COPY blob4 /data/blob4
COPY blob5 /data/blob5
COPY small/ /data/small/
EOF2
}

# Seconds of "$@" (one command line); a failure is reported on stderr
# and counts as 0, so a broken step shows instead of passing as fast.
secs() {
  local s e; s=$(date +%s.%N)
  if ! "$@" >"$W/secs.out" 2>&1; then echo "bench: failed: $*: $(tail -3 "$W/secs.out")" >&2; echo 0; return; fi
  e=$(date +%s.%N); echo "$e - $s" | bc -l
}

# pull push save load commit seconds (medians of 3) for engine CLI "$@".
image_times() {
  local e=("$@") pull push save load commit
  pull=$(for _ in 1 2 3; do
    "${e[@]}" rmi -f "$IMG_SRC" >/dev/null 2>&1 || true
    secs "${e[@]}" pull "$IMG_SRC"
  done | median)
  "${e[@]}" tag "$IMG_SRC" "$IMG_DST"
  push=$(for _ in 1 2 3; do registry_up 5001 >/dev/null; secs "${e[@]}" push "$IMG_DST"; done | median)
  registry_down 5001
  "${e[@]}" rmi "$IMG_DST" >/dev/null
  save=$(for _ in 1 2 3; do rm -f "$W/image.tar"; secs "${e[@]}" save -o "$W/image.tar" "$IMG_SRC"; done | median)
  load=$(for _ in 1 2 3; do
    "${e[@]}" rmi -f "$IMG_SRC" >/dev/null 2>&1 || true
    secs "${e[@]}" load -i "$W/image.tar"
  done | median)
  rm -f "$W/image.tar"
  commit=$(for i in 1 2 3; do
    secs sh -c "$* run --name commit$i $IMG_SRC sh -c 'echo changed > /data/one' && $* commit commit$i bench/committed:$i"
  done | median)
  for i in 1 2 3; do "${e[@]}" rm -f "commit$i" >/dev/null 2>&1 || true; "${e[@]}" rmi "bench/committed:$i" >/dev/null 2>&1 || true; done
  "${e[@]}" rmi -f "$IMG_SRC" >/dev/null 2>&1 || true
  echo "$pull $push $save $load $commit"
}

bench_images() {
  images_ctx
  registry_up 5000
  DOCKER_BUILDKIT=0 $D build -q -t "$IMG_SRC" "$W/image-ctx" >/dev/null
  $D push "$IMG_SRC" >/dev/null
  $D rmi -f "$IMG_SRC" >/dev/null
  rm -rf "$W/image-ctx"
  # shellcheck disable=SC2086
  read -r is_pull is_push is_save is_load is_commit < <(image_times $S)
  # shellcheck disable=SC2086
  read -r id_pull id_push id_save id_load id_commit < <(image_times $D)
  registry_down 5000
  printf '\n%-44s %12s %12s %10s\n' "images (110 MB, 7 layers), median of 3" "skiff" "docker" "docker/skiff"
  for row in "pull from a local registry, cold:$is_pull:$id_pull" "push to an empty registry:$is_push:$id_push" \
    "save -o:$is_save:$id_save" "load -i (its own save):$is_load:$id_load" \
    "run + commit of a one-file change:$is_commit:$id_commit"; do
    IFS=: read -r name s d <<<"$row"
    printf '%-44s %12.2f %12.2f %9sx\n' "$name (s)" "$s" "$d" "$(ratio "$d" "$s")"
  done
}
