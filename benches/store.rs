//! Store benchmarks: task creation on a real database file, and the first page
//! of `tasks list` on a database of 100k tasks. Targets: both under 1 ms.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use az_os::store::{self, NewTask, tasks};
use az_os::util::ids::TaskId;

fn new_task(i: usize) -> NewTask {
    NewTask {
        id: TaskId::new(),
        description: format!("benchmark task number {i}: count the lines in data.csv"),
        workdir: "/tmp/work".into(),
        max_turns: 5,
        budget_usd: None,
        requested_model: None,
        critical: false,
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let conn = store::open(&dir.path().join("bench.db")).unwrap_or_else(|e| panic!("open: {e}"));

    let mut i = 0;
    c.bench_function("task_create", |b| {
        b.iter(|| {
            i += 1;
            tasks::insert(&conn, black_box(&new_task(i))).unwrap_or_else(|e| panic!("{e}"))
        });
    });

    // Fill to 100k tasks in one transaction, with a spread of statuses.
    let have: usize = conn
        .query_row("SELECT COUNT(*) FROM tasks", [], |r| r.get::<i64>(0))
        .map_or(0, |n| usize::try_from(n).unwrap_or(0));
    let tx = conn
        .unchecked_transaction()
        .unwrap_or_else(|e| panic!("{e}"));
    for j in have..100_000 {
        tasks::insert(&tx, &new_task(j)).unwrap_or_else(|e| panic!("{e}"));
    }
    tx.execute(
        "UPDATE tasks SET status = 'completed' WHERE rowid % 3 = 0",
        [],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    tx.commit().unwrap_or_else(|e| panic!("{e}"));

    c.bench_function("tasks_list_first_page_100k", |b| {
        b.iter(|| tasks::list(&conn, None, black_box(20), 0).unwrap_or_else(|e| panic!("{e}")));
    });
    c.bench_function("tasks_list_by_status_100k", |b| {
        b.iter(|| {
            tasks::list(&conn, Some(store::TaskStatus::Completed), black_box(20), 0)
                .unwrap_or_else(|e| panic!("{e}"))
        });
    });
    let some_id: String = conn
        .query_row("SELECT id FROM tasks LIMIT 1 OFFSET 5000", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("task_resolve_prefix_100k", |b| {
        b.iter(|| tasks::resolve(&conn, black_box(&some_id[..6])).ok());
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
