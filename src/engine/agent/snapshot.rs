//! Checkpoints from the loop: the workdir is snapshotted before the task's first
//! action that can change files (the baseline, turn 0) and after each turn in which
//! such an action ran (`write_file`, `execute_command`, an MCP tool its server does not
//! mark read-only). A task that changes nothing is never snapshotted, and a turn that
//! changed nothing adds no checkpoint.
//!
//! A turn that ran a command is snapshotted with a change watcher (inotify over the
//! workdir, started with the task's first snapshot and closed when the task ends): the
//! previous checkpoint's tree is edited at the paths that changed, and the work tree is
//! walked only when the watcher cannot be sure it saw every change. Only in a workdir
//! whose index holds `[checkpoints] watch_min_files` or more: closing a watcher makes the
//! kernel wait a grace period (8–16 ms measured), more than walking a small workdir.
//!
//! libgit2 runs on `spawn_blocking`. A failure to checkpoint is a warning in the
//! task's log, never a task failure.

use std::path::PathBuf;

use super::Runner;
use super::recorder::Recorder;
use crate::checkpoint::{Checkpoints, Fallback, Outcome, Route, Watcher};
use crate::llm::ToolCall;

/// One task's snapshots.
pub struct Snapshots {
    store: Option<Checkpoints>,
    caps: crate::checkpoint::Caps,
    workdir: PathBuf,
    /// The baseline was taken (or the task already had checkpoints, when resumed).
    baseline: bool,
    /// This turn ran a tool that can change files.
    pending: bool,
    /// The files this turn's `write_file` calls name (relative to the workdir, or
    /// absolute), or `None` when a call can change files the loop cannot name (a
    /// command, or arguments that do not parse): then the snapshot walks the workdir.
    written: Option<Vec<PathBuf>>,
    /// The change watcher of the snapshots of turns that ran a command: started with the
    /// first of them (the baseline, or the first after a resume), dropped with this.
    /// Out of here while a snapshot uses it on a blocking thread.
    watcher: Option<Watcher>,
    /// `[checkpoints] watch_min_files`.
    watch_min_files: u64,
    /// Whether command turns are watched (decided at the first, from the index's size).
    watching: Option<bool>,
}

impl Snapshots {
    pub fn new(runner: &Runner, workdir: &std::path::Path) -> Self {
        let cfg = &runner.settings().checkpoints;
        Self {
            store: cfg
                .enabled
                .then(|| Checkpoints::new(runner.settings().home.checkpoints_dir())),
            caps: cfg.caps(),
            workdir: workdir.to_path_buf(),
            baseline: false,
            pending: false,
            written: None,
            watcher: None,
            watch_min_files: cfg.watch_min_files,
            watching: None,
        }
    }

    /// Before a turn's calls run: the baseline, once, if one of them can change files
    /// (`changes` says which tools can).
    pub async fn before(
        &mut self,
        rec: &Recorder,
        calls: &[ToolCall],
        changes: impl Fn(&str) -> bool,
    ) {
        if self.store.is_none() || !calls.iter().any(|c| changes(&c.name)) {
            return;
        }
        self.pending = true;
        self.written = known_writes(calls, changes);
        if self.baseline {
            return;
        }
        self.baseline = true;
        let task = rec.task_id().as_str().to_owned();
        if let Some(store) = &self.store
            && store.has_task(&task)
        {
            return; // resumed: its baseline is the first run's
        }
        self.take(rec, 0, None).await;
    }

    /// After a turn: a checkpoint if a tool that can change files ran. Returns its id
    /// (`TASK.TURN`), or `None` when nothing was taken (nothing changed, or a failure,
    /// which is logged as a warning).
    pub async fn after(&mut self, rec: &Recorder, turn: u32) -> Option<String> {
        if !std::mem::take(&mut self.pending) {
            return None;
        }
        let written = self.written.take();
        self.take(rec, turn, written).await
    }

    /// When an interrupted task resumes after `turn`: what its interrupted turn had
    /// half done is put back as it was at the task's last checkpoint. A change may also
    /// be the user's edit after the crash: every replaced file is copied aside first,
    /// and the notice says where.
    pub async fn resume(&mut self, rec: &Recorder, turn: u32) {
        let Some(store) = self.store.clone() else {
            return;
        };
        self.baseline = true;
        let task = rec.task_id().as_str().to_owned();
        let done = tokio::task::spawn_blocking(move || store.undo_interrupted(&task, turn)).await;
        let msg = match done {
            Ok(Ok(None)) => return,
            Ok(Ok(Some((id, u)))) => {
                let r = &u.restored;
                let mut msg = if r.written.is_empty() && r.deleted.is_empty() {
                    format!("the workdir's files are as they were at checkpoint {id}")
                } else {
                    format!(
                        "undid what the interrupted turn had half done: back as at checkpoint {id} ({} written, {} deleted)",
                        r.written.len(),
                        r.deleted.len()
                    )
                };
                if let Some(b) = &u.backup {
                    msg.push_str(&format!(
                        "; the versions it replaced (yours, if you edited them since) are in {}",
                        b.display()
                    ));
                }
                if !u.kept.is_empty() {
                    msg.push_str(&format!("; left as they are: {}", u.kept.join(", ")));
                }
                msg
            }
            Ok(Err(e)) => format!("the workdir's files were not restored: {e}"),
            Err(e) => format!("the workdir's files were not restored: {e}"),
        };
        rec.event(
            crate::engine::protocol::Event::Notice {
                message: msg.clone(),
            },
            "info",
            "status",
            Some(turn),
            &msg,
        );
    }

    /// A snapshot: of just `written` (workdir-relative) when the turn only wrote those,
    /// else of the whole workdir, through the watcher (started first if there is none:
    /// it must be in place before the walk of the first snapshot it serves).
    async fn take(
        &mut self,
        rec: &Recorder,
        turn: u32,
        written: Option<Vec<PathBuf>>,
    ) -> Option<String> {
        let store = self.store.clone()?;
        let (task, workdir, caps) = (
            rec.task_id().as_str().to_owned(),
            self.workdir.clone(),
            self.caps,
        );
        let watcher = self.watcher.take();
        let (min_files, watching) = (self.watch_min_files, self.watching);
        let done = tokio::task::spawn_blocking(move || {
            if let Some(paths) = written {
                let taken = store.snapshot_known(&task, turn, &workdir, caps, &paths);
                return (taken.map(|s| (s, None)), watcher, watching);
            }
            // A small workdir is walked: cheaper than a watcher is to close.
            let watching = watching.unwrap_or_else(|| store.worth_watching(&workdir, min_files));
            if !watching {
                let taken = store.snapshot(&task, turn, &workdir, caps);
                return (taken.map(|s| (s, None)), None, Some(false));
            }
            let mut w = watcher.unwrap_or_else(|| store.watch(&workdir));
            let taken = store.snapshot_watched(&task, turn, &workdir, caps, &mut w);
            (
                taken.map(|(s, route)| (s, Some(route))),
                Some(w),
                Some(true),
            )
        })
        .await;
        let done = match done {
            Ok((taken, watcher, watching)) => {
                self.watcher = watcher;
                self.watching = watching;
                Ok(taken)
            }
            Err(e) => Err(e),
        };
        let (snap, route) = match done {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                rec.log(
                    "warn",
                    "snapshot",
                    Some(turn),
                    &format!("no checkpoint: {e}"),
                );
                return None;
            }
            Err(e) => {
                rec.log(
                    "warn",
                    "snapshot",
                    Some(turn),
                    &format!("no checkpoint: {e}"),
                );
                return None;
            }
        };
        if let Some(notice) = snap.notice() {
            rec.log("warn", "snapshot", Some(turn), &notice);
        }
        match snap.outcome {
            Outcome::Created(id) => {
                let id = id.to_string();
                // The first snapshot a watcher serves always walks: nothing to say.
                let how = match route {
                    None | Some(Route::Walked(Fallback::Unsynced)) => String::new(),
                    Some(Route::Watched { paths }) => format!(" ({paths} changed paths watched)"),
                    Some(Route::Walked(why)) => format!(" (walked: {why})"),
                };
                rec.log(
                    "info",
                    "snapshot",
                    Some(turn),
                    &format!("checkpoint {id}{how}"),
                );
                Some(id)
            }
            Outcome::Unchanged => None,
        }
    }
}

/// The paths `calls` write, when every call that can change files is a `write_file`
/// whose path can be read (an absolute path is made relative to the workdir by the
/// checkpoint store, or makes it walk). A command or an MCP tool that can change files
/// can change any: walk.
fn known_writes(calls: &[ToolCall], changes: impl Fn(&str) -> bool) -> Option<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for c in calls {
        if c.name == "write_file" {
            let path = serde_json::from_str::<serde_json::Value>(&c.arguments)
                .ok()?
                .get("path")?
                .as_str()?
                .to_owned();
            paths.push(PathBuf::from(path));
        } else if changes(&c.name) {
            return None;
        }
    }
    Some(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: "c".into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn only_write_file_turns_name_their_paths() {
        let reads_and_writes = [
            call("read_file", r#"{"path":"x"}"#),
            call("write_file", r#"{"path":"src/a.rs","content":""}"#),
            call("write_file", r#"{"path":"/abs/b.rs","content":""}"#),
        ];
        let changes = |n: &str| matches!(n, "write_file" | "execute_command" | "fs__move");
        assert_eq!(
            known_writes(&reads_and_writes, changes),
            Some(vec![PathBuf::from("src/a.rs"), PathBuf::from("/abs/b.rs")])
        );
        let with_command = [
            call("write_file", r#"{"path":"a","content":""}"#),
            call("execute_command", r#"{"command":"make"}"#),
        ];
        assert_eq!(
            known_writes(&with_command, changes),
            None,
            "a command: walk"
        );
        let unreadable = [call("write_file", "{not json")];
        assert_eq!(
            known_writes(&unreadable, changes),
            None,
            "unknown path: walk"
        );
        let with_mcp = [
            call("write_file", r#"{"path":"a","content":""}"#),
            call("fs__move", r#"{"from":"a","to":"b"}"#),
        ];
        assert_eq!(known_writes(&with_mcp, changes), None, "an MCP write: walk");
        let with_mcp_read = [call("fs__stat", r#"{"path":"a"}"#)];
        assert_eq!(known_writes(&with_mcp_read, changes), Some(vec![]));
    }
}
