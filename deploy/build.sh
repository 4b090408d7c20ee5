#!/usr/bin/env bash
# The release build: every binary of the workspace (and the test binaries
# with --tests), then skiff-shim linked again as a static executable. The
# monitor runs once per container, and static it maps no shared libraries
# (RSS about 1.2 MiB instead of 2); cargo cannot set crt-static for one
# binary, and for the whole build it breaks proc-macros, so this step
# passes it to that binary's final compile alone. A plain `cargo build`
# gives a dynamic skiff-shim, which works the same.
# Usage: deploy/build.sh [--tests]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins "$@" --quiet
cargo rustc --release -p skiff-shim --bin skiff-shim --quiet -- -C target-feature=+crt-static
