#!/usr/bin/env bash
# A long schemathesis run of the agent against api/openapi.yaml: the
# integration test tests/tests/openapi.rs with many examples per operation
# (default 200, about 10 minutes here; first argument) and a new seed
# each time (SKIFF_OPENAPI_SEED to repeat one). Needs root, a release build
# (deploy/build.sh --tests) and schemathesis (deploy/setup.sh
# --with-docker-client). Usage: sudo deploy/api-fuzz.sh [EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
export SKIFF_OPENAPI_EXAMPLES="${1:-200}"
export SKIFF_OPENAPI_SEED="${SKIFF_OPENAPI_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
echo "api-fuzz: $SKIFF_OPENAPI_EXAMPLES examples per operation, seed $SKIFF_OPENAPI_SEED" >&2
export SKIFF_TEST_BUSYBOX
SKIFF_TEST_BUSYBOX=${SKIFF_TEST_BUSYBOX:-$(deploy/busybox-image.sh "$PWD/target/busybox.tar")}
exec cargo test --release -p skiff-tests --test openapi -- --nocapture
