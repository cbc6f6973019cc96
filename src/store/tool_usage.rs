//! The `tool_usage` table: per task and tool, how often it ran, for how long and
//! how often it failed.

use crate::store::db::{Db, params};
use serde::Serialize;

use super::StoreError;
use crate::util::ids::TaskId;

/// Usage of one tool by one task.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolUsageRow {
    pub tool_name: String,
    pub invocation_count: u64,
    pub total_duration_ms: f64,
    pub error_count: u64,
}

/// Adds one invocation of `tool` to the task's totals.
pub fn record(
    conn: &Db,
    task_id: &TaskId,
    tool: &str,
    duration_ms: f64,
    ok: bool,
) -> Result<(), StoreError> {
    let err = i64::from(!ok);
    let updated = conn
        .prepare_cached(
            "UPDATE tool_usage SET invocation_count = COALESCE(invocation_count, 0) + 1, \
             total_duration_ms = COALESCE(total_duration_ms, 0) + ?3, \
             error_count = COALESCE(error_count, 0) + ?4 \
             WHERE task_id = ?1 AND tool_name = ?2",
        )?
        .execute(params![task_id.as_str(), tool, duration_ms, err])?;
    if updated == 0 {
        conn.prepare_cached(
            "INSERT INTO tool_usage (task_id, tool_name, invocation_count, total_duration_ms, \
             error_count) VALUES (?1, ?2, 1, ?3, ?4)",
        )?
        .execute(params![task_id.as_str(), tool, duration_ms, err])?;
    }
    Ok(())
}

/// A task's tool totals, most used first.
pub fn for_task(conn: &Db, task_id: &TaskId) -> Result<Vec<ToolUsageRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT tool_name, COALESCE(SUM(invocation_count), 0), \
         COALESCE(SUM(total_duration_ms), 0), COALESCE(SUM(error_count), 0) \
         FROM tool_usage WHERE task_id = ?1 GROUP BY tool_name ORDER BY 2 DESC, 1",
    )?;
    let rows = stmt
        .query_map(params![task_id.as_str()], |r| {
            Ok(ToolUsageRow {
                tool_name: r.get::<Option<String>>(0)?.unwrap_or_default(),
                invocation_count: u64::try_from(r.get::<i64>(1)?).unwrap_or(0),
                total_duration_ms: r.get::<Option<f64>>(2)?.unwrap_or(0.0),
                error_count: u64::try_from(r.get::<i64>(3)?).unwrap_or(0),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
