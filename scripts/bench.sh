#!/usr/bin/env bash
# Runs the repository's benchmarks in release mode and prints their numbers:
#   batch: `az-os --version`, an end-to-end batch task against a local fake provider,
#          prompt + schema bytes;
#   store: task creation and `tasks list` on 100k tasks (criterion).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/az-os/target}"
cargo bench --bench batch
cargo bench --bench health
cargo bench --bench store -- --noplot "$@"
