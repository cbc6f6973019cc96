//! The checkpoint effects: what a task changed, one file's diff, rollback. libgit2 runs
//! on `spawn_blocking`; each answer comes back as a message.

use tokio::sync::mpsc;

use crate::checkpoint::{CheckpointError, Checkpoints, Target};
use crate::tui::msg::{Msg, RollbackRefused};
use crate::util::ids::TaskId;

/// Why checkpoints cannot be read (the loop was started without a home).
const NO_HOME: &str = "checkpoints: this dashboard has no home directory";

type Tx = mpsc::UnboundedSender<Msg>;

/// Runs `f` on the checkpoints off the runtime; `None` when there is no home (said).
async fn blocking<T: Send + 'static>(
    cp: Option<Checkpoints>,
    tx: &Tx,
    f: impl FnOnce(Checkpoints) -> T + Send + 'static,
) -> Option<Result<T, String>> {
    let Some(cp) = cp else {
        let _ = tx.send(Msg::Done(Err(NO_HOME.into())));
        return None;
    };
    Some(
        tokio::task::spawn_blocking(move || f(cp))
            .await
            .map_err(|e| format!("checkpoints: {e}")),
    )
}

/// The files `task` changed (baseline against its last checkpoint).
pub fn load_changes(cp: Option<Checkpoints>, tx: Tx, task: TaskId) {
    tokio::spawn(async move {
        let t = task.as_str().to_owned();
        let Some(r) = blocking(cp, &tx, move |cp| cp.changes(&Target::Task(t))).await else {
            return;
        };
        let files = r.and_then(|r| r.map_err(|e| e.to_string()));
        let _ = tx.send(Msg::ChangesLoaded { task, files });
    });
}

/// One file's diff within what `task` changed.
pub fn load_file_diff(cp: Option<Checkpoints>, tx: Tx, task: TaskId, path: String) {
    tokio::spawn(async move {
        let (t, p) = (task.as_str().to_owned(), path.clone());
        let Some(r) = blocking(cp, &tx, move |cp| cp.file_diff(&Target::Task(t), &p)).await else {
            return;
        };
        let diff = match r {
            Ok(Ok(Some(d))) => Ok(d),
            Ok(Ok(None)) => Err(format!("the task did not change {path}")),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e),
        };
        let _ = tx.send(Msg::FileDiffLoaded { task, path, diff });
    });
}

/// Undoes `task`'s file changes; `force` overwrites files the user changed since.
pub fn rollback(cp: Option<Checkpoints>, tx: Tx, task: TaskId, force: bool) {
    tokio::spawn(async move {
        let t = task.as_str().to_owned();
        let Some(r) = blocking(cp, &tx, move |cp| cp.rollback(&t, force)).await else {
            return;
        };
        let result = match r {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(CheckpointError::EditedSince { files })) => Err(RollbackRefused::Edited(files)),
            Ok(Err(e)) => Err(RollbackRefused::Failed(e.to_string())),
            Err(e) => Err(RollbackRefused::Failed(e)),
        };
        let _ = tx.send(Msg::RolledBack { task, result });
    });
}
