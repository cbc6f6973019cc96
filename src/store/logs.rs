//! The `task_logs` table: the ReAct transcript of each task, one row per event.

use crate::store::db::{Db, params};
use serde::Serialize;

use super::StoreError;
use crate::util::ids::TaskId;
use crate::util::time::now_unix;

/// One stored log line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogRow {
    pub id: i64,
    pub task_id: TaskId,
    pub timestamp: f64,
    pub level: String,
    pub kind: Option<String>,
    pub turn: Option<u32>,
    pub message: String,
}

/// Appends a line to a task's log.
pub fn append(
    conn: &Db,
    task_id: &TaskId,
    level: &str,
    kind: &str,
    turn: Option<u32>,
    message: &str,
) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO task_logs (task_id, timestamp, level, message, turn, kind) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    )?
    .query_row(
        params![task_id.as_str(), now_unix(), level, message, turn, kind],
        |r| r.get(0),
    )
}

/// A task's log lines in order, starting after row `after_id`.
pub fn list(
    conn: &Db,
    task_id: &TaskId,
    after_id: i64,
    limit: usize,
) -> Result<Vec<LogRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, task_id, timestamp, level, kind, turn, message FROM task_logs \
         WHERE task_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(
            params![
                task_id.as_str(),
                after_id,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok(LogRow {
                    id: r.get(0)?,
                    task_id: TaskId(r.get(1)?),
                    timestamp: r.get::<Option<f64>>(2)?.unwrap_or(0.0),
                    level: r.get::<Option<String>>(3)?.unwrap_or_default(),
                    kind: r.get(4)?,
                    turn: r.get(5)?,
                    message: r.get::<Option<String>>(6)?.unwrap_or_default(),
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
