//! Memory benchmarks on a real database file of 10k lessons: recalling the lessons for a
//! task at its start, keyword side (target: 5 ms), and `memory cleanup --dry-run`'s scan.
//! Run with `cargo bench --bench memory`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use az_os::config::MemoryConfig;
use az_os::memory::{cleanup, recall};
use az_os::store::{self, memories};

const WORDS: &[&str] = &[
    "csv", "header", "tests", "cargo", "clippy", "python", "venv", "docker", "git", "branch",
    "rebase", "parser", "config", "toml", "yaml", "retry", "timeout", "budget", "sqlite", "index",
    "lines", "count", "deploy", "staging", "makefile", "lint", "format", "unicode",
];

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let conn = store::open(&dir.path().join("bench.db")).unwrap_or_else(|e| panic!("open: {e}"));
    let tx = conn
        .unchecked_transaction()
        .unwrap_or_else(|e| panic!("{e}"));
    for i in 0..10_000usize {
        let w = |k: usize| WORDS[(i * 7 + k * 13) % WORDS.len()];
        let lesson = format!(
            "When the {} step fails, check the {} and {} first; lesson {i}.",
            w(0),
            w(1),
            w(2)
        );
        let m = memories::Memory {
            id: format!("mem-{i:06}"),
            lesson,
            category: "pitfall".into(),
            created_at: 1.7e9 + i as f64,
            scope: (i % 3 == 0).then(|| "/work/project".to_owned()),
            ..memories::Memory::default()
        };
        memories::insert(&tx, &m).unwrap_or_else(|e| panic!("{e}"));
    }
    tx.commit().unwrap_or_else(|e| panic!("{e}"));

    c.bench_function("recall_10k_keyword", |b| {
        b.iter(|| {
            recall::for_task(
                &conn,
                black_box("the deploy to staging fails with a timeout; check the config"),
                "/work/project",
                200,
                "",
            )
            .unwrap_or_else(|e| panic!("{e}"))
        });
    });
    let cfg = MemoryConfig::default();
    c.bench_function("cleanup_scan_10k", |b| {
        b.iter(|| cleanup::run(&conn, &cfg, 1.8e9, true).unwrap_or_else(|e| panic!("{e}")));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
