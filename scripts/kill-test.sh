#!/usr/bin/env bash
# Crash-recovery run (issue 14): 20 times, a batch of 10 tasks with `--jobs 4` against a
# slow local fake provider (300 ms per reply, three turns per task: about 2.5 s for the
# batch) is killed with SIGKILL at a random moment between 0.2 s and 2.5 s; then
# `az-os tasks list` must show no task `running` or `pending`, `PRAGMA integrity_check`
# must be ok, no task the killed process reported completed may be lost, and
# `az-os tasks resume --all --jobs 4` must bring every interrupted task to completion. Prints one line per round and the totals.
#
# The rounds run in the integration test `kill_test_twenty_rounds` (tests/suite/resume/kill.rs),
# which drives the real binary. AZ_OS_KILL_ROUNDS=N changes the number of rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/az-os/target}"
cargo test --locked --test all -- --ignored --exact suite::resume::kill::kill_test_twenty_rounds \
    --nocapture 2>&1 | grep -E '^(round|kill-test)|panicked|test result'
