//! The `tasks` table: one row per task, from queued to finished.

use crate::store::db::{Db, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::owner::Owner;
use crate::util::ids::TaskId;
use crate::util::time::now_unix;

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
    BudgetExceeded,
    Interrupted,
}

impl TaskStatus {
    pub const ALL: [Self; 7] = [
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::BudgetExceeded,
        Self::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::BudgetExceeded => "budget_exceeded",
            Self::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the task will not change any more.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }
}

/// What is needed to queue a task.
#[derive(Clone, Debug)]
pub struct NewTask {
    pub id: TaskId,
    pub description: String,
    pub workdir: String,
    pub max_turns: u32,
    pub budget_usd: Option<f64>,
    pub requested_model: Option<String>,
    /// Marked critical by the user (`--critical`): only critical-tier models take it.
    pub critical: bool,
}

/// One task as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskRow {
    pub id: TaskId,
    pub description: String,
    pub model: Option<String>,
    pub status: TaskStatus,
    pub created_at: f64,
    pub started_at: Option<f64>,
    pub completed_at: Option<f64>,
    pub result: Option<String>,
    pub error: Option<String>,
    pub cost_usd: f64,
    pub workdir: Option<String>,
    pub turns: u32,
    pub max_turns: u32,
    pub budget_usd: Option<f64>,
    pub requested_model: Option<String>,
    pub route_json: Option<String>,
    pub critical: bool,
}

pub(super) const COLUMNS: &str = "id, description, model, status, created_at, started_at, completed_at, \
     result, error, cost_usd, workdir, turns, max_turns, budget_usd, requested_model, route_json, critical";

pub(super) fn from_row(r: &Row<'_>) -> Result<TaskRow, StoreError> {
    let status: Option<String> = r.get(3)?;
    Ok(TaskRow {
        id: TaskId(r.get(0)?),
        description: r.get::<Option<String>>(1)?.unwrap_or_default(),
        model: r.get(2)?,
        // Rows written by other tools may hold statuses we do not know.
        status: status
            .as_deref()
            .and_then(TaskStatus::parse)
            .unwrap_or(TaskStatus::Failed),
        created_at: r.get::<Option<f64>>(4)?.unwrap_or(0.0),
        started_at: r.get(5)?,
        completed_at: r.get(6)?,
        result: r.get(7)?,
        error: r.get(8)?,
        cost_usd: r.get::<Option<f64>>(9)?.unwrap_or(0.0),
        workdir: r.get(10)?,
        turns: r.get(11)?,
        max_turns: r.get(12)?,
        budget_usd: r.get(13)?,
        requested_model: r.get(14)?,
        route_json: r.get(15)?,
        critical: r.get(16)?,
    })
}

/// Inserts a new `pending` task, owned by this process, and returns its creation time.
pub fn insert(conn: &Db, t: &NewTask) -> Result<f64, StoreError> {
    let now = now_unix();
    let me = Owner::me();
    conn.prepare_cached(
        "INSERT INTO tasks (id, description, status, created_at, cost_usd, workdir, turns, \
         max_turns, budget_usd, requested_model, critical, runner_pid, owner_started, owner_host) \
         VALUES (?1, ?2, 'pending', ?3, 0, ?4, 0, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        t.id.as_str(),
        t.description,
        now,
        t.workdir,
        t.max_turns,
        t.budget_usd,
        t.requested_model,
        t.critical,
        me.pid,
        me.started,
        me.host
    ])?;
    Ok(now)
}

/// Marks a task `running` on `model`, owned by this process; `false` (and nothing
/// changed) when it was cancelled meanwhile (`tasks cancel` from another process).
pub fn mark_started(
    conn: &Db,
    id: &TaskId,
    model: &str,
    route_json: &str,
) -> Result<bool, StoreError> {
    conn.prepare_cached(
        "UPDATE tasks SET status = 'running', model = ?2, route_json = ?3, started_at = ?4, \
         runner_pid = ?5, owner_started = ?6, owner_host = ?7, error = NULL, result = NULL \
         WHERE id = ?1 AND status <> 'cancelled'",
    )?
    .execute(params![
        id.as_str(),
        model,
        route_json,
        now_unix(),
        Owner::me().pid,
        Owner::me().started,
        Owner::me().host
    ])
    .map(|n| n == 1)
}

/// The model a running task continues on after a fallback.
pub fn set_model(conn: &Db, id: &TaskId, model: &str) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE tasks SET model = ?2 WHERE id = ?1")?
        .execute(params![id.as_str(), model])?;
    Ok(())
}

/// Records how many turns have run.
pub fn set_turns(conn: &Db, id: &TaskId, turns: u32) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE tasks SET turns = ?2 WHERE id = ?1")?
        .execute(params![id.as_str(), turns])?;
    Ok(())
}

/// Ends a task with its final status, result and error.
pub fn finish(
    conn: &Db,
    id: &TaskId,
    status: TaskStatus,
    result: Option<&str>,
    error: Option<&str>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE tasks SET status = ?2, result = ?3, error = ?4, completed_at = ?5, \
         runner_pid = NULL, owner_started = NULL, owner_host = NULL WHERE id = ?1",
    )?
    .execute(params![
        id.as_str(),
        status.as_str(),
        result,
        error,
        now_unix()
    ])?;
    Ok(())
}

/// Puts a finished task back to `pending` for a retry, keeping its history, owned by
/// this process.
pub fn requeue(conn: &Db, id: &TaskId) -> Result<(), StoreError> {
    let me = Owner::me();
    conn.prepare_cached(
        "UPDATE tasks SET status = 'pending', completed_at = NULL, error = NULL, result = NULL, \
         turns = 0, runner_pid = ?2, owner_started = ?3, owner_host = ?4 WHERE id = ?1",
    )?
    .execute(params![id.as_str(), me.pid, me.started, me.host])?;
    Ok(())
}

/// Claims an `interrupted` task for a resume: `pending` again, owned by this process,
/// its turns and cost kept. Returns false (and changes nothing) if the task is not
/// interrupted (any more: another process may have claimed it first).
pub fn claim_interrupted(conn: &Db, id: &TaskId) -> Result<bool, StoreError> {
    let me = Owner::me();
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'pending', completed_at = NULL, error = NULL, \
             result = NULL, runner_pid = ?2, owner_started = ?3, owner_host = ?4 \
             WHERE id = ?1 AND status = 'interrupted'",
        )?
        .execute(params![id.as_str(), me.pid, me.started, me.host])?;
    Ok(n == 1)
}

/// What `tasks resume --model/--budget` changed, for the rest of the task: the model
/// it asks for (which the router then takes) and its budget. `None` keeps a value.
pub fn set_overrides(
    conn: &Db,
    id: &TaskId,
    model: Option<&str>,
    budget_usd: Option<f64>,
) -> Result<(), StoreError> {
    if model.is_none() && budget_usd.is_none() {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE tasks SET requested_model = COALESCE(?2, requested_model), \
         budget_usd = COALESCE(?3, budget_usd) WHERE id = ?1",
    )?
    .execute(params![id.as_str(), model, budget_usd])?;
    Ok(())
}

/// Ids of every `interrupted` task, oldest first.
pub fn interrupted(conn: &Db) -> Result<Vec<TaskId>, StoreError> {
    let ids = conn
        .prepare_cached(
            "SELECT id FROM tasks WHERE status = 'interrupted' ORDER BY created_at, id",
        )?
        .query_map([], |r| Ok(TaskId(r.get(0)?)))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// One task by exact id.
pub fn get(conn: &Db, id: &TaskId) -> Result<Option<TaskRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row(params![id.as_str()], from_row)
        .optional()
}

/// Resolves a full id or a unique prefix of one.
pub fn resolve(conn: &Db, prefix: &str) -> Result<TaskId, StoreError> {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return Err(StoreError::NoSuchTask(prefix.to_owned()));
    }
    // Range scan on the primary key: ids in [prefix, prefix + U+FFFF).
    let upper = format!("{prefix}\u{ffff}");
    let mut stmt =
        conn.prepare_cached("SELECT id FROM tasks WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 2")?;
    let ids: Vec<String> = stmt
        .query_map(params![prefix, upper], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    match ids.as_slice() {
        [one] => Ok(TaskId(one.clone())),
        [] => Err(StoreError::NoSuchTask(prefix.to_owned())),
        _ if ids.iter().any(|i| i == prefix) => Ok(TaskId(prefix.to_owned())),
        _ => Err(StoreError::Ambiguous(prefix.to_owned())),
    }
}

/// Newest tasks first, optionally of one status.
pub fn list(
    conn: &Db,
    status: Option<TaskStatus>,
    limit: usize,
    offset: usize,
) -> Result<Vec<TaskRow>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(offset).unwrap_or(0);
    let rows = if let Some(s) = status {
        let sql = format!(
            "SELECT {COLUMNS} FROM tasks WHERE status = ?1 ORDER BY created_at DESC LIMIT ?2 OFFSET ?3"
        );
        conn.prepare_cached(&sql)?
            .query_map(params![s.as_str(), limit, offset], from_row)?
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let sql =
            format!("SELECT {COLUMNS} FROM tasks ORDER BY created_at DESC LIMIT ?1 OFFSET ?2");
        conn.prepare_cached(&sql)?
            .query_map(params![limit, offset], from_row)?
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok(rows)
}

/// Tasks left `pending` or `running` by a process that no longer exists become
/// `interrupted` (see [`super::owner`]). Tasks owned by a live process are left alone.
pub fn recover_interrupted(conn: &Db) -> Result<usize, StoreError> {
    super::owner::reconcile(conn)
}

/// Deletes a finished task with its transcript, state and tool totals. Its model
/// calls stay in the ledger (detached from the task) so spend history is kept.
pub fn delete(conn: &Db, id: &TaskId) -> Result<(), StoreError> {
    let tx = conn.unchecked_transaction()?;
    let status: Option<String> = tx
        .prepare_cached("SELECT status FROM tasks WHERE id = ?1")?
        .query_row(params![id.as_str()], |r| r.get(0))
        .optional()?;
    match status.as_deref().map(TaskStatus::parse) {
        None => return Err(StoreError::NoSuchTask(id.to_string())),
        Some(Some(TaskStatus::Pending | TaskStatus::Running)) => {
            return Err(StoreError::NoSuchTask(format!(
                "{id} (still queued or running)"
            )));
        }
        _ => {}
    }
    for sql in [
        "DELETE FROM task_logs WHERE task_id = ?1",
        "DELETE FROM task_state WHERE task_id = ?1",
        "DELETE FROM tool_usage WHERE task_id = ?1",
        "UPDATE cost_tracking SET task_id = NULL WHERE task_id = ?1",
        "DELETE FROM tasks WHERE id = ?1",
    ] {
        tx.prepare_cached(sql)?.execute(params![id.as_str()])?;
    }
    tx.commit()?;
    Ok(())
}

/// Counts of tasks per status.
pub fn count_by_status(conn: &Db) -> Result<Vec<(TaskStatus, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT status, COUNT(*) FROM tasks GROUP BY status")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<Option<String>>(0)?, r.get::<i64>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(s, n)| {
            Some((
                TaskStatus::parse(s.as_deref()?)?,
                u64::try_from(n).unwrap_or(0),
            ))
        })
        .collect())
}
