//! The fault-injection soak: 100 batch tasks (`az-os --batch --json run - --jobs 4`)
//! against two fake providers that fail 30% of requests (429 and 500 with
//! `Retry-After: 0`, streams cut short). It fails loudly unless every task ended with a
//! clear status, none was lost, and no call was charged twice (see
//! `tests/common/soak.rs` for the audit), then prints what happened.
//!
//! Run with `cargo bench --bench soak` (see scripts/bench.sh); about ten seconds.

#[path = "../tests/common/fake_provider.rs"]
mod fake_provider;
#[path = "../tests/common/soak.rs"]
mod soak;

use std::path::Path;

fn main() {
    let tasks = 100;
    let report = soak::run(Path::new(env!("CARGO_BIN_EXE_az-os")), tasks, 4, 0.3, 42);
    let others: Vec<String> = report
        .other_endings
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect();
    println!(
        "soak: {tasks} tasks, 4 workers, 30% faults: {} completed{}{} in {:.1}s",
        report.completed,
        if others.is_empty() { "" } else { ", " },
        others.join(", "),
        report.wall.as_secs_f64()
    );
    println!(
        "      {} requests, {} faults injected, {} retries, {} fallbacks; \
         none lost, none charged twice (exit {:?})",
        report.requests, report.faults_injected, report.retries, report.fallbacks, report.exit_code
    );
    for e in &report.errors {
        println!("      not completed: {e}");
    }
}
