//! The `task_state` table: the latest resumable state of each task (the loop state
//! after its last completed turn, redacted) and that turn's checkpoint id, replaced
//! after every turn.

use crate::store::db::{Db, OptionalExtension, params};

use super::StoreError;
use crate::util::ids::TaskId;
use crate::util::time::now_unix;

/// Saves the task's state, replacing the previous one.
pub fn save(
    conn: &Db,
    task_id: &TaskId,
    state_json: &str,
    checkpoint_id: Option<&str>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO task_state (task_id, state_json, checkpoint_id, updated_at) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT(task_id) DO UPDATE SET \
         state_json = excluded.state_json, \
         checkpoint_id = COALESCE(excluded.checkpoint_id, task_state.checkpoint_id), \
         updated_at = excluded.updated_at",
    )?
    .execute(params![
        task_id.as_str(),
        state_json,
        checkpoint_id,
        now_unix()
    ])?;
    Ok(())
}

/// The checkpoint id of a task's saved state (`{task_id}.{turn}`), if any.
pub fn checkpoint_id(conn: &Db, task_id: &TaskId) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT checkpoint_id FROM task_state WHERE task_id = ?1")?
        .query_row(params![task_id.as_str()], |r| r.get(0))
        .optional()?
        .flatten())
}

/// The saved state of a task, if any.
pub fn load(conn: &Db, task_id: &TaskId) -> Result<Option<String>, StoreError> {
    conn.prepare_cached("SELECT state_json FROM task_state WHERE task_id = ?1")?
        .query_row(params![task_id.as_str()], |r| r.get(0))
        .optional()
}

/// Forgets a task's saved state (a retry starts over).
pub fn delete(conn: &Db, task_id: &TaskId) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM task_state WHERE task_id = ?1")?
        .execute(params![task_id.as_str()])?;
    Ok(())
}
