//! Keys and results of the changes popup (what a task changed) and of rollback: `v`
//! opens the list, Enter a file's diff, `u` asks before rolling back, and a refused
//! rollback lists the files the user changed since and asks again before forcing.

use super::{Model, Tone, short};
use crate::checkpoint::{FileChange, Restored};
use crate::tui::msg::{Effect, RollbackRefused};
use crate::tui::panes::changes::{ChangesState, FileDiff};
use crate::tui::panes::popups::{Confirm, Popup};
use crate::util::ids::TaskId;

/// Most edited files named in the confirm dialog (the rest are counted).
const LISTED: usize = 8;

/// `task.changes` on the selected task.
pub fn open(m: &mut Model, fx: &mut Vec<Effect>) {
    let Some(id) = m.queue.selected_id() else {
        return;
    };
    m.popup = Some(Popup::Changes(ChangesState::loading(id.clone())));
    fx.push(Effect::LoadChanges(id));
}

/// `changes.open`: the selected file's diff.
pub fn open_file(m: &mut Model, fx: &mut Vec<Effect>) {
    let Some(Popup::Changes(c)) = &mut m.popup else {
        return;
    };
    if c.diff.is_some() {
        return;
    }
    let Some(path) = c.selected_path().map(str::to_owned) else {
        return;
    };
    c.diff = Some(FileDiff {
        path: path.clone(),
        text: None,
        scroll: 0,
    });
    fx.push(Effect::LoadFileDiff(c.task.clone(), path));
}

/// `popup.close` in the changes popup: from a diff back to the files, else closed.
/// Returns whether it handled the key.
pub fn back(m: &mut Model) -> bool {
    match &mut m.popup {
        Some(Popup::Changes(c)) if c.diff.is_some() => {
            c.diff = None;
            true
        }
        _ => false,
    }
}

/// Moves in the list (a diff scrolls as other popups do). Returns whether it did.
pub fn move_in_list(m: &mut Model, delta: isize) -> bool {
    match &mut m.popup {
        Some(Popup::Changes(c)) if c.diff.is_none() => {
            c.move_by(delta);
            true
        }
        _ => false,
    }
}

/// `task.rollback`: asks first. The task is the popup's, else the selected one.
pub fn ask_rollback(m: &mut Model) {
    let id = match &m.popup {
        Some(Popup::Changes(c)) => Some(c.task.clone()),
        _ => m.queue.selected_id(),
    };
    let Some(id) = id else { return };
    if m.queue.get(&id).is_some_and(|t| !t.status.is_final()) {
        m.status.set(
            Tone::Warn,
            "The task is still running: cancel it before rolling back",
        );
        return;
    }
    let question = format!(
        "Roll back task {}? Files it changed go back to how they were before it ran.",
        short(&id)
    );
    m.popup = Some(Popup::Confirm {
        what: Confirm::Rollback(id),
        question,
    });
}

pub fn changes_loaded(m: &mut Model, task: &TaskId, files: Result<Vec<FileChange>, String>) {
    if let Some(Popup::Changes(c)) = &mut m.popup
        && &c.task == task
    {
        match files {
            Ok(f) => c.files = Some(f),
            Err(e) => c.error = Some(e),
        }
    }
}

pub fn diff_loaded(m: &mut Model, task: &TaskId, path: &str, diff: Result<String, String>) {
    if let Some(Popup::Changes(c)) = &mut m.popup
        && &c.task == task
        && let Some(d) = &mut c.diff
        && d.path == path
    {
        d.text = Some(diff.unwrap_or_else(|e| format!("(no diff: {e})")));
    }
}

pub fn rolled_back(m: &mut Model, task: &TaskId, result: Result<Restored, RollbackRefused>) {
    match result {
        Ok(done) => {
            if matches!(&m.popup, Some(Popup::Changes(c)) if &c.task == task) {
                m.popup = None;
            }
            m.status.set(
                Tone::Info,
                format!(
                    "Rolled back task {}: {} file(s) restored, {} deleted",
                    short(task),
                    done.written.len(),
                    done.deleted.len()
                ),
            );
        }
        Err(RollbackRefused::Edited(files)) => {
            let mut list: Vec<String> = files
                .iter()
                .take(LISTED)
                .map(|f| format!("  {f}"))
                .collect();
            if files.len() > LISTED {
                list.push(format!("  … and {} more", files.len() - LISTED));
            }
            let question = format!(
                "You changed {} file(s) after task {} ran:\n{}\nOverwrite them too?",
                files.len(),
                short(task),
                list.join("\n")
            );
            m.popup = Some(Popup::Confirm {
                what: Confirm::RollbackForce(task.clone()),
                question,
            });
        }
        Err(RollbackRefused::Failed(e)) => m.status.set(Tone::Error, format!("Rollback: {e}")),
    }
}
