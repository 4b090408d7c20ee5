#!/usr/bin/env bash
# The test command: install test dependencies, build once, run every test
# (unit and integration, as root, agents in parallel in their own network
# namespaces). Usage: sudo deploy/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then echo "deploy/test.sh must run as root (real namespaces, mounts, cgroups)" >&2; exit 1; fi
deploy/setup.sh --with-docker-client
export SKIFF_TEST_BUSYBOX
SKIFF_TEST_BUSYBOX=$(deploy/busybox-image.sh "$PWD/target/busybox.tar")
deploy/build.sh --tests
cargo test --release --workspace -- --test-threads 4
# Fuzz every target for a bounded time (deploy/fuzz.sh; SKIFF_FUZZ_SECONDS=0
# skips it). The first run builds the instrumented targets (fuzz/target),
# later runs only what changed.
if [ "${SKIFF_FUZZ_SECONDS:-20}" != 0 ]; then
    deploy/fuzz.sh "${SKIFF_FUZZ_SECONDS:-20}"
fi
