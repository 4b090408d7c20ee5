# Sourced by deploy/bench.sh: json-file log throughput, skiff against
# Docker in the same run. A container writes $LOG_LINES lines of 64 bytes
# as fast as it can (busybox `yes` into `head`, so the writer is never the
# limit) to the default json-file driver; nobody attaches, so what is
# measured is the engine's log path (its pipe reader, the JSON encoding,
# the file writes) holding the container up. Median of 3 of `run -d`
# until `wait` returns; each log is checked for the last line.
# Needs $W, $S (skiff CLI), $D (docker CLI) and median from bench.sh.

LOG_LINES=${LOG_LINES:-500000}

# Seconds for one container of "$@" (a CLI and its flags) to write
# $LOG_LINES lines.
log_once() {
  local id s e
  s=$(date +%s.%N)
  id=$("$@" run -d --network none busybox sh -c \
    "yes 'skiff log throughput line, sixty-four bytes with newline.....' | head -n $LOG_LINES")
  "$@" wait "$id" >/dev/null
  e=$(date +%s.%N)
  "$@" logs --tail 1 "$id" 2>/dev/null | grep -q 'skiff log throughput' || echo "log bench: $* lost the last line" >&2
  "$@" rm -f "$id" >/dev/null
  echo "$e - $s" | bc -l
}

# Lines per second, median of 3.
log_rate() {
  local secs
  secs=$(for _ in 1 2 3; do log_once "$@"; done | median)
  echo "$LOG_LINES / $secs" | bc -l
}

bench_logs() {
  local ls ld
  # shellcheck disable=SC2086
  ls=$(log_rate $S)
  # shellcheck disable=SC2086
  ld=$(log_rate $D)
  printf '\n%-44s %12s %12s %10s\n' "json-file logs ($LOG_LINES lines of 64 B)" "skiff" "docker" "skiff/docker"
  printf '%-44s %12.0f %12.0f %9sx\n' "lines/s a container writes, median of 3" "$ls" "$ld" "$(ratio "$ls" "$ld")"
}
