//! The `cost_tracking` ledger: one row per model request, billed or failed (a failed request
//! has an `error` category and costs nothing), and what is read back from it: spending
//! reports, the day's total for the budget check, and per-model success counts for the
//! router.

use crate::store::db::{Db, Dialect, params};
use serde::Serialize;

use super::StoreError;
use crate::util::ids::TaskId;
use crate::util::time::now_unix;

/// One model call as billed.
#[derive(Clone, Debug)]
pub struct CallCost<'a> {
    pub task_id: &'a TaskId,
    pub model: &'a str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub latency_ms: u64,
    pub attempt: u32,
    /// The error category of a failed call (which costs nothing).
    pub error: Option<&'a str>,
    pub requests_remaining: Option<i64>,
    pub tokens_remaining: Option<i64>,
}

/// Records a call in the ledger and adds its cost to the task, atomically.
pub fn record(conn: &Db, c: &CallCost<'_>) -> Result<(), StoreError> {
    const COLUMNS: &str = "task_id, model, input_tokens, output_tokens, cost_usd, \
         timestamp, latency_ms, attempt, error, ratelimit_requests_remaining, \
         ratelimit_tokens_remaining";
    const VALUES: &str = "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11";
    let row = params![
        c.task_id.as_str(),
        c.model,
        i64::try_from(c.input_tokens).unwrap_or(i64::MAX),
        i64::try_from(c.output_tokens).unwrap_or(i64::MAX),
        c.cost_usd,
        now_unix(),
        i64::try_from(c.latency_ms).unwrap_or(i64::MAX),
        c.attempt,
        c.error,
        c.requests_remaining,
        c.tokens_remaining
    ];
    match conn.dialect() {
        // One statement, so one round trip, and atomic by itself.
        Dialect::Postgres => {
            conn.prepare_cached(&format!(
                "WITH ledger AS (INSERT INTO cost_tracking ({COLUMNS}) VALUES ({VALUES})) \
                 UPDATE tasks SET cost_usd = COALESCE(cost_usd, 0) + ?5 WHERE id = ?1"
            ))?
            .execute(row)?;
        }
        Dialect::Sqlite => {
            let tx = conn.unchecked_transaction()?;
            tx.prepare_cached(&format!(
                "INSERT INTO cost_tracking ({COLUMNS}) VALUES ({VALUES})"
            ))?
            .execute(row)?;
            tx.prepare_cached(
                "UPDATE tasks SET cost_usd = COALESCE(cost_usd, 0) + ?2 WHERE id = ?1",
            )?
            .execute(params![c.task_id.as_str(), c.cost_usd])?;
            tx.commit()?;
        }
    }
    Ok(())
}

/// Total spent since `since` (Unix seconds), across all tasks.
pub fn spent_since(conn: &Db, since: f64) -> Result<f64, StoreError> {
    conn.prepare_cached(
        "SELECT COALESCE(SUM(cost_usd), 0) FROM cost_tracking WHERE timestamp >= ?1",
    )?
    .query_row(params![since], |r| r.get(0))
}

/// Requests and successes of one model in the ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModelRecord {
    pub calls: u64,
    pub successes: u64,
}

/// Requests and successes per model since `since` (Unix seconds).
pub fn model_records(conn: &Db, since: f64) -> Result<Vec<(String, ModelRecord)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT model, COUNT(*), COALESCE(SUM(CASE WHEN error IS NULL THEN 1 ELSE 0 END), 0) FROM cost_tracking \
         WHERE timestamp >= ?1 AND model IS NOT NULL GROUP BY model",
    )?;
    let rows = stmt
        .query_map(params![since], |r| {
            Ok((
                r.get::<String>(0)?,
                ModelRecord {
                    calls: u64::try_from(r.get::<i64>(1)?).unwrap_or(0),
                    successes: u64::try_from(r.get::<i64>(2)?).unwrap_or(0),
                },
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// How a report groups the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Model,
    Day,
    Task,
}

/// One line of a spending report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostLine {
    pub key: String,
    pub calls: u64,
    /// Requests that failed (rate limited, server error…): counted, never charged.
    pub failed: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

/// Spending grouped by model, UTC day or task, biggest (or newest day) first.
pub fn report(conn: &Db, by: GroupBy, limit: usize) -> Result<Vec<CostLine>, StoreError> {
    let (key, order) = match by {
        GroupBy::Model => ("COALESCE(model, '?')", "5 DESC, 1"),
        GroupBy::Day => match conn.dialect() {
            Dialect::Sqlite => ("date(timestamp, 'unixepoch')", "1 DESC"),
            Dialect::Postgres => (
                "to_char(to_timestamp(timestamp) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
                "1 DESC",
            ),
        },
        GroupBy::Task => ("COALESCE(task_id, '?')", "5 DESC, 1"),
    };
    let sql = format!(
        "SELECT {key}, COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), \
         COALESCE(SUM(cost_usd), 0), COALESCE(SUM(CASE WHEN error IS NOT NULL THEN 1 ELSE 0 END), 0) FROM cost_tracking \
         GROUP BY 1 ORDER BY {order} LIMIT ?1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok(CostLine {
                key: r.get::<Option<String>>(0)?.unwrap_or_default(),
                calls: u64::try_from(r.get::<i64>(1)?).unwrap_or(0),
                input_tokens: u64::try_from(r.get::<i64>(2)?).unwrap_or(0),
                output_tokens: u64::try_from(r.get::<i64>(3)?).unwrap_or(0),
                cost_usd: r.get(4)?,
                failed: u64::try_from(r.get::<i64>(5)?).unwrap_or(0),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Spend since `since` by model, biggest first.
pub fn by_model_since(conn: &Db, since: f64) -> Result<Vec<(String, f64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT COALESCE(model, '?'), COALESCE(SUM(cost_usd), 0) FROM cost_tracking \
         WHERE timestamp >= ?1 GROUP BY 1 ORDER BY 2 DESC",
    )?;
    let rows = stmt
        .query_map(params![since], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Spent today (UTC) and in total.
pub fn totals(conn: &Db) -> Result<(f64, f64), StoreError> {
    let today = spent_since(conn, crate::util::time::start_of_utc_day(now_unix()))?;
    let all = spent_since(conn, f64::MIN)?;
    Ok((today, all))
}
