//! `az-os store copy --from sqlite:PATH`: a single machine's history moved into the
//! configured store (usually the shared PostgreSQL one), in one transaction.
//!
//! Tasks keep their ids; a task already in the target is left as it is there, with its
//! logs, ledger lines, state and tool totals, so a second copy adds nothing twice.
//! Rows with numbered ids of their own (logs, ledger lines, alerts) get new numbers in
//! the target, which may already hold other hosts' rows. Ledger lines of deleted tasks
//! and alerts are matched on their content instead. Lessons keep their ids.

use std::collections::HashSet;

use serde::Serialize;

use super::StoreError;
use super::db::{Db, Value, params};

/// What a copy added, table by table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Copied {
    pub tasks: usize,
    pub tasks_already_there: usize,
    pub task_logs: usize,
    pub cost_tracking: usize,
    pub task_state: usize,
    pub tool_usage: usize,
    pub memories: usize,
    pub alerts: usize,
    pub provider_checks: usize,
}

const TASK_COLUMNS: &str = "id, description, model, status, created_at, completed_at, result, \
     cost_usd, workdir, started_at, turns, max_turns, error, route_json, budget_usd, \
     requested_model, runner_pid, critical, owner_started, owner_host";

/// Copies everything in `src` into `dst`.
pub fn copy(src: &Db, dst: &Db) -> Result<Copied, StoreError> {
    let mut out = Copied::default();
    let tx = dst.unchecked_transaction()?;
    let mut new_tasks = HashSet::new();
    for row in rows(src, &format!("SELECT {TASK_COLUMNS} FROM tasks"), 20)? {
        let n = tx.execute(
            &format!(
                "INSERT INTO tasks ({TASK_COLUMNS}) VALUES ({}) ON CONFLICT (id) DO NOTHING",
                placeholders(20)
            ),
            row.as_slice(),
        )?;
        if n == 1 {
            if let Value::Text(id) = &row[0] {
                new_tasks.insert(id.clone());
            }
            out.tasks += 1;
        } else {
            out.tasks_already_there += 1;
        }
    }
    let of_new = |row: &[Value]| matches!(&row[0], Value::Text(t) if new_tasks.contains(t));

    let children: [(&str, &str, usize, &mut usize); 4] = [
        (
            "task_logs",
            "task_id, timestamp, level, message, turn, kind",
            6,
            &mut out.task_logs,
        ),
        (
            "task_state",
            "task_id, state_json, checkpoint_id, updated_at",
            4,
            &mut out.task_state,
        ),
        (
            "tool_usage",
            "task_id, tool_name, invocation_count, total_duration_ms, error_count",
            5,
            &mut out.tool_usage,
        ),
        (
            "cost_tracking",
            "task_id, model, input_tokens, output_tokens, cost_usd, timestamp, latency_ms, \
             attempt, error, ratelimit_requests_remaining, ratelimit_tokens_remaining",
            11,
            &mut out.cost_tracking,
        ),
    ];
    for (table, cols, n, count) in children {
        let order = if table == "task_state" {
            ""
        } else {
            " ORDER BY id"
        };
        for row in rows(src, &format!("SELECT {cols} FROM {table}{order}"), n)? {
            let detached = matches!(row[0], Value::Null);
            let detached_cost = detached && table == "cost_tracking";
            if !(of_new(&row) || detached_cost) {
                continue;
            }
            // A ledger line of a deleted task: added unless the same line is there.
            if detached
                && tx.query_row(
                    "SELECT COUNT(*) FROM cost_tracking WHERE task_id IS NULL \
                     AND model IS NOT DISTINCT FROM ?1 AND timestamp IS NOT DISTINCT FROM ?2 \
                     AND cost_usd IS NOT DISTINCT FROM ?3",
                    [&row[1], &row[5], &row[4]],
                    |r| r.get::<i64>(0),
                )? > 0
            {
                continue;
            }
            let sql = format!("INSERT INTO {table} ({cols}) VALUES ({})", placeholders(n));
            *count += tx.execute(&sql, row.as_slice())?;
        }
    }

    let lessons = "id, task_id, lesson, category, success, score, created_at, access_count, \
                   scope, provenance, last_access, embedding, embedded_seq";
    for row in rows(src, &format!("SELECT {lessons} FROM memories"), 13)? {
        out.memories += tx.execute(
            &format!(
                "INSERT INTO memories ({lessons}) VALUES ({}) ON CONFLICT (id) DO NOTHING",
                placeholders(13)
            ),
            row.as_slice(),
        )?;
    }
    // The vector counter never goes back: the target's is at least the source's.
    let seq: i64 = src.query_row(
        "SELECT COALESCE(MAX(n), 0) FROM memory_vector_seq",
        [],
        |r| r.get(0),
    )?;
    tx.execute(
        "UPDATE memory_vector_seq SET n = ?1 WHERE n < ?1",
        params![seq],
    )?;

    for row in rows(
        src,
        "SELECT key, level, value, message, created_at FROM alerts ORDER BY id",
        5,
    )? {
        let there: i64 = tx.query_row(
            "SELECT COUNT(*) FROM alerts WHERE key = ?1 AND created_at = ?2",
            [&row[0], &row[4]],
            |r| r.get(0),
        )?;
        if there == 0 {
            out.alerts += tx.execute(
                "INSERT INTO alerts (key, level, value, message, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                row.as_slice(),
            )?;
        }
    }
    for row in rows(
        src,
        "SELECT provider, level, latency_ms, detail, checked_at FROM provider_checks",
        5,
    )? {
        out.provider_checks += tx.execute(
            "INSERT INTO provider_checks (provider, level, latency_ms, detail, checked_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (provider) DO NOTHING",
            row.as_slice(),
        )?;
    }
    tx.commit()?;
    Ok(out)
}

/// Every row of `sql` (`n` columns) as values.
fn rows(db: &Db, sql: &str, n: usize) -> Result<Vec<Vec<Value>>, StoreError> {
    db.prepare_cached(sql)?
        .query_map([], |r| (0..n).map(|i| r.get::<Value>(i)).collect())?
        .collect()
}

fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
