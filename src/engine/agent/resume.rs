//! Saving the loop state after each completed turn and loading it back when an
//! interrupted task is resumed.
//!
//! After a turn: the state (redacted) goes to `checkpoints/{task_id}.json` (atomically,
//! off the async runtime) and to the `task_state` row with its checkpoint id
//! `{task_id}.{turn}`, and a `checkpoint` event names that id. Before a task's first
//! turn: if it has a saved state, the loop continues from it. A state that cannot be
//! read (damaged, or written by another az-os version) is reported and the task starts
//! over. What it does not do: snapshot or restore the workdir's files (the checkpoint
//! store's job, at [`restore`]).

use super::Runner;
use super::calls::Caller;
use super::recorder::Recorder;
use super::state::RunState;
use crate::engine::protocol::Event;
use crate::store::{TaskRow, state, state_file};
use crate::util::ids::TaskId;

/// The checkpoint id of `turn` of task `id` (shared with the workdir snapshots).
pub fn checkpoint_id(id: &TaskId, turn: u32) -> String {
    format!("{id}.{turn}")
}

/// Saves the state after completed turn `turn` and emits `checkpoint`. A failure to
/// save is reported but does not stop the task: a resume would start from the last
/// state that was saved.
pub(super) async fn save(
    runner: &Runner,
    rec: &Recorder,
    caller: &Caller<'_>,
    turn: u32,
    st: &mut RunState,
) {
    let id = rec.task_id().clone();
    let checkpoint = checkpoint_id(&id, turn);
    st.turns = turn;
    st.model = caller.model_name().to_owned();
    st.given_up.clone_from(&caller.given_up);
    st.failures.clone_from(&caller.failures);
    st.escalated = caller.escalated;
    st.checkpoint_id = Some(checkpoint.clone());
    let json = st.encode();
    let dir = runner.settings().home.checkpoints_dir();
    let (file_id, file_json) = (id.clone(), json.clone());
    let cp = checkpoint.clone();
    // The file (two fsyncs) and the row are independent copies: written at once, so
    // the turn waits for the slower of the two, not for both in a row.
    let (written, row) = tokio::join!(
        tokio::task::spawn_blocking(move || state_file::write(&dir, &file_id, &file_json)),
        rec.store()
            .call(move |c| state::save(c, &id, &json, Some(&cp)))
    );
    let file_error = match written {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    if let Some(e) = file_error.or(row.err().map(|e| e.to_string())) {
        rec.error(
            &format!(
                "cannot save the state of turn {turn} ({e}); a resume would start from an earlier turn"
            ),
            "filesystem",
            false,
        );
        return;
    }
    rec.event(
        Event::Checkpoint {
            turn,
            checkpoint_id: checkpoint.clone(),
        },
        "info",
        "checkpoint",
        Some(turn),
        &format!("checkpoint {checkpoint}"),
    );
}

/// The task's saved state, if it has one that can be used: of the file and the
/// `task_state` row, the usable one with the later turn (they differ only when one of the
/// two writes of a turn failed or was cut by a crash). A state that exists but cannot be
/// used is reported; with neither usable the task starts over.
pub(super) async fn load(runner: &Runner, rec: &Recorder, task: &TaskRow) -> Option<RunState> {
    let dir = runner.settings().home.checkpoints_dir();
    let path = state_file::path(&dir, &task.id);
    let id = task.id.clone();
    let file = tokio::task::spawn_blocking(move || state_file::read(&dir, &id))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    let id = task.id.clone();
    let row = rec.store().call(move |c| state::load(c, &id)).await;
    let mut problems = Vec::new();
    let mut usable = Vec::new();
    let file = file.map_err(|e| e.to_string());
    let row = row.map_err(|e| e.to_string());
    for (source, text) in [
        (path.display().to_string(), file),
        ("its task_state row".into(), row),
    ] {
        match text.map(|t| t.map(|t| RunState::decode(&t))) {
            Ok(Some(Ok(st))) => usable.push(st),
            Ok(Some(Err(e))) => problems.push(format!("{source}: {e}")),
            Ok(None) => {}
            Err(e) => problems.push(format!("{source}: {e}")),
        }
    }
    if let Some(st) = usable.into_iter().max_by_key(|st| st.turns) {
        return Some(st);
    }
    if !problems.is_empty() {
        let msg = format!(
            "cannot continue task {} from its saved state ({}); starting it over from the first turn",
            task.id,
            problems.join("; ")
        );
        rec.event(
            Event::Notice {
                message: msg.clone(),
            },
            "warn",
            "status",
            None,
            &msg,
        );
    }
    None
}

/// Where a resumed task takes up again: after turn `st.turns`, at checkpoint
/// `st.checkpoint_id`. This is the one place where the workdir's files are put back as
/// they were at that checkpoint, before the first resumed turn runs.
pub(super) fn restore(rec: &Recorder, st: &RunState) {
    let at = st
        .checkpoint_id
        .as_deref()
        .map(|c| format!(" (checkpoint {c})"))
        .unwrap_or_default();
    let msg = format!(
        "resuming after turn {} of {}{at} with its conversation ({} messages, ${:.6} spent so far)",
        st.turns,
        st.limit,
        st.messages.len(),
        st.cost_usd
    );
    rec.event(
        Event::Notice {
            message: msg.clone(),
        },
        "info",
        "status",
        Some(st.turns),
        &msg,
    );
}

/// Whether task `id` has a saved state to resume from (the file or the row).
pub fn has_state(checkpoints: &std::path::Path, conn: &crate::store::Db, id: &TaskId) -> bool {
    state_file::path(checkpoints, id).is_file() || matches!(state::load(conn, id), Ok(Some(_)))
}

/// Forgets task `id`'s saved state: a retry starts over.
pub fn forget(
    home_checkpoints: &std::path::Path,
    conn: &crate::store::Db,
    id: &TaskId,
) -> Result<(), String> {
    // The file first: it is what a run reads first.
    state_file::remove(home_checkpoints, id).map_err(|e| {
        format!(
            "cannot remove {}: {e}",
            state_file::path(home_checkpoints, id).display()
        )
    })?;
    state::delete(conn, id).map_err(|e| e.to_string())
}
