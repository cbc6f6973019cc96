//! Memory benchmarks on a real database file of 10k lessons:
//!
//! - recall at a task's start, keyword side (target ≤ 5 ms) — what a task gets when the
//!   embedding model is not loaded in its process;
//! - with the model (`AZ_OS_MODEL_DIR`), hybrid lesson search with the embedder warm
//!   (target ≤ 20 ms): the query's vector, FTS5 and cosine over 10k stored vectors,
//!   fused — what recall does when the model is loaded, and what `search_memory` does;
//! - `memory consolidate` over 10k lessons from their stored vectors (target ≤ 10 s):
//!   reading them, planning the merges (`--dry-run`), and applying them once;
//! - `memory cleanup --dry-run`'s scan.
//!
//! Lesson vectors here are made up (deterministic unit vectors, every tenth lesson a
//! near-copy of the one before, so consolidate has 1000 merges to find): embedding 10k
//! lessons for real takes minutes on 2 cores, and the search and merge costs do not
//! depend on what the vectors say. The query's vector is made by the real model.
//! Run with `cargo bench --bench memory` (`scripts/bench.sh` sets `AZ_OS_MODEL_DIR`).

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};

use az_os::config::MemoryConfig;
use az_os::knowledge::assets;
use az_os::knowledge::embed::{self, DIMS};
use az_os::memory::search::{self, Mode, Query};
use az_os::memory::{cleanup, consolidate, recall};
use az_os::store::memories::vectors as stored;
use az_os::store::{self, memories};

const WORDS: &[&str] = &[
    "csv", "header", "tests", "cargo", "clippy", "python", "venv", "docker", "git", "branch",
    "rebase", "parser", "config", "toml", "yaml", "retry", "timeout", "budget", "sqlite", "index",
    "lines", "count", "deploy", "staging", "makefile", "lint", "format", "unicode",
];
const LESSONS: usize = 10_000;
const TASK: &str = "the deploy to staging fails with a timeout; check the config";

/// A deterministic unit vector for lesson `i`; lesson 10n+1 is a near-copy of 10n.
fn vector(i: usize) -> Vec<f32> {
    let base = if i % 10 == 1 { i - 1 } else { i };
    let mut x = (base as u64).wrapping_mul(6_364_136_223_846_793_005) | 1;
    let mut v: Vec<f32> = (0..DIMS)
        .map(|d| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5;
            if base != i && d == 0 { r + 0.05 } else { r }
        })
        .collect();
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    for a in &mut v {
        *a /= n;
    }
    v
}

fn fill(path: &std::path::Path) -> az_os::store::Db {
    let conn = store::open(path).unwrap_or_else(|e| panic!("open: {e}"));
    let tx = conn
        .unchecked_transaction()
        .unwrap_or_else(|e| panic!("{e}"));
    for i in 0..LESSONS {
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
            // In tens, so a lesson and its near-copy share a scope.
            scope: ((i / 10) % 3 == 0).then(|| "/work/project".to_owned()),
            score: (i % 10) as f64,
            ..memories::Memory::default()
        };
        memories::insert(&tx, &m).unwrap_or_else(|e| panic!("{e}"));
    }
    tx.commit().unwrap_or_else(|e| panic!("{e}"));
    let pending = stored::pending(&conn, LESSONS).unwrap_or_else(|e| panic!("{e}"));
    let done: Vec<_> = pending
        .into_iter()
        .map(|p| {
            let i: usize = p.id[4..].parse().unwrap_or_else(|e| panic!("{e}"));
            (p, vector(i))
        })
        .collect();
    stored::store(&conn, &done).unwrap_or_else(|e| panic!("{e}"));
    conn
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let conn = fill(&dir.path().join("bench.db"));

    c.bench_function("recall_10k_keyword", |b| {
        b.iter(|| {
            recall::for_task(&conn, black_box(TASK), None, "/work/project", 200, "")
                .unwrap_or_else(|e| panic!("{e}"))
        });
    });
    parts(c, &conn);

    let model = std::env::var_os("AZ_OS_MODEL_DIR")
        .map(std::path::PathBuf::from)
        .and_then(|d| assets::locate(&d));
    match model {
        None => eprintln!(
            "no model (set AZ_OS_MODEL_DIR to a folder made by `az-os index --fetch-model`): hybrid lesson search skipped"
        ),
        Some(files) => {
            let e = embed::shared(&files).unwrap_or_else(|e| panic!("{e}"));
            // Warm: the load is not what is measured.
            e.embed(vec!["warm up".into()])
                .unwrap_or_else(|e| panic!("{e}"));
            c.bench_function("parts/embed_query", |b| {
                b.iter(|| {
                    e.embed(vec![black_box(TASK).to_owned()])
                        .unwrap_or_else(|e| panic!("{e}"))
                });
            });
            c.bench_function("hybrid_lesson_search_10k_warm", |b| {
                b.iter(|| {
                    let v = e
                        .embed(vec![TASK.to_owned()])
                        .unwrap_or_else(|e| panic!("{e}"));
                    search::find(
                        &conn,
                        &Query {
                            text: black_box(TASK),
                            vector: v.first().map(Vec::as_slice),
                            workdir: Some("/work/project"),
                            k: 10,
                            mode: Mode::Hybrid,
                        },
                    )
                    .unwrap_or_else(|e| panic!("{e}"))
                });
            });
            c.bench_function("recall_10k_hybrid_warm", |b| {
                b.iter(|| {
                    let v = e
                        .embed(vec![TASK.to_owned()])
                        .unwrap_or_else(|e| panic!("{e}"));
                    recall::for_task(
                        &conn,
                        black_box(TASK),
                        v.first().map(Vec::as_slice),
                        "/work/project",
                        200,
                        "",
                    )
                    .unwrap_or_else(|e| panic!("{e}"))
                });
            });
        }
    }

    let cfg = MemoryConfig::default();
    c.bench_function("cleanup_scan_10k", |b| {
        b.iter(|| cleanup::run(&conn, &cfg, 1.8e9, true).unwrap_or_else(|e| panic!("{e}")));
    });

    let mut g = c.benchmark_group("consolidate");
    g.sample_size(10);
    g.bench_function("consolidate_10k_plan", |b| {
        b.iter(|| {
            let (lessons, vectors) =
                consolidate::with_vectors(&conn).unwrap_or_else(|e| panic!("{e}"));
            let merges = consolidate::plan(&lessons, &vectors, cfg.consolidate_threshold);
            assert_eq!(merges.len(), LESSONS / 10, "the planted near-copies");
            merges
        });
    });
    g.finish();
    // Applying changes the lessons, so it runs once, on its own copy.
    let other = fill(&dir.path().join("apply.db"));
    let t0 = Instant::now();
    let (lessons, vectors) = consolidate::with_vectors(&other).unwrap_or_else(|e| panic!("{e}"));
    let merges = consolidate::plan(&lessons, &vectors, cfg.consolidate_threshold);
    consolidate::apply(&other, &merges).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "consolidate_10k (read vectors, plan, apply {} merges): {:.2} s",
        merges.len(),
        t0.elapsed().as_secs_f64()
    );
}

/// Where a recall's time goes: the FTS5 query alone (as it is, and joined to the rows
/// the way it was first written), counting the recall, and the meaning side's parts.
fn parts(c: &mut Criterion, conn: &az_os::store::Db) {
    let terms = az_os::knowledge::context::terms(TASK);
    let fts = memories::stems_query(&terms).unwrap_or_default();
    let mut g = c.benchmark_group("parts");
    g.bench_function("fts_rowids_50", |b| {
        b.iter(|| {
            memories::keyword_rowids(conn, black_box(&fts), 50).unwrap_or_else(|e| panic!("{e}"))
        });
    });
    g.bench_function("fts_joined_rows_20_before", |b| {
        let mut stmt = conn
            .prepare(
                "SELECT m.id, m.lesson FROM memories_fts f JOIN memories m ON m.rowid = f.rowid \
                 WHERE memories_fts MATCH ?1 ORDER BY bm25(memories_fts) LIMIT 20",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        b.iter(|| {
            stmt.query_map([black_box(&fts)], |r| r.get::<String>(0))
                .unwrap_or_else(|e| panic!("{e}"))
                .count()
        });
    });
    g.bench_function("find_keyword_k20", |b| {
        b.iter(|| {
            search::find(
                conn,
                &Query {
                    text: black_box(TASK),
                    vector: None,
                    workdir: Some("/work/project"),
                    k: 20,
                    mode: Mode::Hybrid,
                },
            )
            .unwrap_or_else(|e| panic!("{e}"))
        });
    });
    let ids: Vec<String> = (0..20).map(|i| format!("mem-{i:06}")).collect();
    g.bench_function("touch_20", |b| {
        b.iter(|| memories::touch(conn, black_box(&ids)).unwrap_or_else(|e| panic!("{e}")));
    });
    let q = vector(7);
    g.bench_function("cosine_10k_cached", |b| {
        b.iter(|| {
            az_os::memory::vectors::cached(conn)
                .unwrap_or_else(|e| panic!("{e}"))
                .nearest(black_box(&q), 50)
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
