//! After a crash: undoing what an interrupted turn had half done before its task
//! resumes. The work tree is compared with the task's last checkpoint; what changed
//! since that checkpoint is put back as it was. What changed earlier (a file the caps
//! left out) was never the task's and is not touched. A change may also be the user's
//! own edit after the crash, which nothing tells apart from the turn's: so every file
//! that is overwritten or deleted is first copied to a backup folder, and nothing is
//! lost.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use git2::{Commit, DiffOptions};

use super::CheckpointError;
use super::repo::Opened;
use super::restore::{self, Restored};

/// What undoing an interrupted turn did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Undone {
    pub restored: Restored,
    /// Paths left as they are (a directory now stands where the checkpoint has a file).
    pub kept: Vec<String>,
    /// Where the replaced versions were copied, when anything was replaced.
    pub backup: Option<PathBuf>,
}

/// Puts back what changed in `opened`'s work tree since checkpoint `at`, copying each
/// replaced file under `backup` first.
pub fn undo(opened: &Opened, at: &Commit<'_>, backup: &Path) -> Result<Undone, CheckpointError> {
    let git = |e: git2::Error| CheckpointError::git(&opened.git_dir, &e);
    let tree = at.tree().map_err(git)?;
    let since = UNIX_EPOCH + Duration::from_secs(u64::try_from(at.time().seconds()).unwrap_or(0));
    let mut opts = DiffOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .pathspec(opened.pathspec());
    let diff = opened
        .repo
        .diff_tree_to_workdir(Some(&tree), Some(&mut opts))
        .map_err(git)?;
    let mut out = Undone::default();
    for d in diff.deltas() {
        let Some(rel) = d.new_file().path().or_else(|| d.old_file().path()) else {
            continue;
        };
        let full = opened.root.join(rel);
        let shown = rel.to_string_lossy().into_owned();
        let Some(when) = changed_at(&full) else {
            continue;
        };
        if when < since {
            continue;
        }
        if fs::symlink_metadata(&full).is_ok_and(|m| m.is_file() || m.is_symlink()) {
            save_copy(&full, &backup.join(rel))?;
            out.backup = Some(backup.to_path_buf());
        }
        let old = d.old_file();
        if old.exists() {
            if fs::symlink_metadata(&full).is_ok_and(|m| m.is_dir()) {
                out.kept.push(format!("{shown} (now a directory)"));
                continue;
            }
            restore::write(&opened.repo, &full, old.id(), old.mode().into())?;
            out.restored.written.push(shown);
        } else {
            match fs::remove_file(&full) {
                Ok(()) => {
                    restore::remove_empty_parents(&opened.root, &full);
                    out.restored.deleted.push(shown);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CheckpointError::io(&full, e)),
            }
        }
    }
    Ok(out)
}

/// Copies `from` (a file or a link) to `to`, creating its folders.
fn save_copy(from: &Path, to: &Path) -> Result<(), CheckpointError> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| CheckpointError::io(parent, e))?;
    }
    let _ = fs::remove_file(to);
    let meta = fs::symlink_metadata(from).map_err(|e| CheckpointError::io(from, e))?;
    if meta.is_symlink() {
        let target = fs::read_link(from).map_err(|e| CheckpointError::io(from, e))?;
        std::os::unix::fs::symlink(target, to).map_err(|e| CheckpointError::io(to, e))
    } else {
        fs::copy(from, to)
            .map(|_| ())
            .map_err(|e| CheckpointError::io(to, e))
    }
}

/// When the path last changed: its own mtime, or for a deleted file its folder's
/// (the deletion changed the folder).
fn changed_at(full: &Path) -> Option<SystemTime> {
    match fs::symlink_metadata(full) {
        Ok(m) => m.modified().ok(),
        Err(_) => full
            .parent()
            .and_then(|p| fs::metadata(p).ok())
            .and_then(|m| m.modified().ok()),
    }
}
