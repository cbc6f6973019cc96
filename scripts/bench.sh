#!/usr/bin/env bash
# Runs the repository's benchmarks in release mode and prints their numbers:
#   batch: `az-os --version`, an end-to-end batch task against a local fake provider,
#          prompt + schema bytes;
#   health: the sampler's CPU cost;
#   route: a routing decision and the resilience layer per request (criterion);
#   soak:  100 batch tasks under 30% injected faults, audited (fails if any is lost or
#          charged twice);
#   store: task creation and `tasks list` on 100k tasks (criterion);
#   vault: unlocking the key vault at 600k PBKDF2 iterations (the KDF's cost);
#   policy: a policy check, redaction, and the sandbox's cost per command (criterion);
#   memory: over 10k lessons: keyword recall at task start, consolidate from stored
#          vectors, the cleanup scan, and with AZ_OS_MODEL_DIR hybrid lesson search with
#          the embedder warm (criterion);
#   sse:   parsing provider streams: a 20 MB event refused at the cap, 100k small events
#          (criterion);
#   checkpoint: a snapshot after 10 changed files of a 10k-file workdir, a rollback of
#          100 files, storage growth per checkpoint, a 100 MB file rewritten 10 times;
#   knowledge: BM25 index of 10k real source files, re-index, query p95, brute-force
#          cosine at 100k, and with AZ_OS_MODEL_DIR hybrid p95 and embedding chunks/s
#          (then scripts/embed-throughput.py compares onnxruntime's Python binding);
#   mcp:   one MCP tool call over stdio to the fixture server, round trip (criterion).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/az-os/target}"
cargo bench --bench batch
cargo bench --bench health
cargo bench --bench vault
cargo build --release
cargo bench --bench policy -- --noplot
cargo bench --bench route -- --noplot
cargo bench --bench sse -- --noplot
cargo bench --bench soak
cargo bench --bench knowledge -- --noplot
cargo bench --bench memory -- --noplot
cargo bench --bench checkpoint
cargo build --release --example mcp_fixture
cargo bench --bench mcp -- --noplot
cargo bench --bench store -- --noplot "$@"
