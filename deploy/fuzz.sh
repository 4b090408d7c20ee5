#!/usr/bin/env bash
# Fuzz skiff's readers of untrusted input with cargo-fuzz (libFuzzer): the
# layer extractor, cp's archive unpacker, image references, the Dockerfile
# front end and the API's JSON bodies (fuzz/fuzz_targets/). Builds every
# target once, runs each for SECONDS_PER_TARGET, and fails if any crashed
# (the input is kept under fuzz/artifacts/TARGET/).
#
# Usage: deploy/fuzz.sh [SECONDS_PER_TARGET]   (20 in CI; deploy/fuzz.sh 3600 for the long run)
# Environment: FUZZ_TARGETS="a b" runs only those; FUZZ_JOBS=N runs N
# processes per target (libFuzzer -fork) in the long run.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-20}
jobs=${FUZZ_JOBS:-1}
# cargo-fuzz passes -Z flags to rustc; the stable toolchain takes them so.
export RUSTC_BOOTSTRAP=1
export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
# No sanitizer: the code under test is safe Rust over syscalls, and an
# ASan build of the agent's dependency tree would cost CI minutes; the
# coverage instrumentation is what guides the fuzzer.
flags=(--sanitizer none --release)
# Short runs (CI's 20 s per target) build at opt-level 1 with line tables
# only: the cold build takes 5m41s instead of 7m43s here, and runs per
# 20 s stayed within 15% (api_json 1.13 M against 1.30 M, reference 16.2 M
# against 17.1 M, tar_extract 5.0 k against 4.1 k). Long runs keep level 3.
if [ "$secs" -lt 300 ]; then
    export CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
fi
cargo fuzz build "${flags[@]}"
targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
mkdir -p work/tmp
# The extractors make their scratch directories here (not in /tmp).
export TMPDIR="$PWD/work/tmp"
failed=()
for t in $targets; do
    case $t in
        tar_extract | archive_unpack) seeds=seeds/tar ;;
        *) seeds=seeds/$t ;;
    esac
    mkdir -p "corpus/$t" "artifacts/$t"
    log="work/$t.log"
    opts=(-max_total_time="$secs" -timeout=60 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="artifacts/$t/")
    [ "$jobs" -gt 1 ] && opts+=(-fork="$jobs")
    if cargo fuzz run "${flags[@]}" "$t" "corpus/$t" "$seeds" -- "${opts[@]}" >"$log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
        echo "fuzz $t: ${runs:-?} runs in ${secs}s, no crash"
    else
        echo "fuzz $t: FAILED (log: fuzz/$log, input under fuzz/artifacts/$t/)" >&2
        tail -30 "$log" >&2
        failed+=("$t")
    fi
    rm -rf work/tmp/*
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz targets that crashed: ${failed[*]}" >&2
    exit 1
fi
