//! Putting a workdir's files back as they were at a checkpoint. Only the paths the
//! task changed between that checkpoint and its last one are touched: files written
//! back, files the later turns created deleted (and the folders that leaves empty).
//! A path the user changed after the task's last checkpoint is refused unless forced;
//! a directory standing where the checkpoint has a file is always refused.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use git2::{FileMode, Oid, Repository, Tree};

use super::CheckpointError;
use super::repo::Opened;

/// What a restore did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Restored {
    /// Files written back (changed or recreated).
    pub written: Vec<String>,
    /// Files deleted (created after the checkpoint).
    pub deleted: Vec<String>,
}

/// One path to put back: its state at the target and at the task's last checkpoint.
struct Step {
    path: String,
    target: Option<(Oid, i32)>,
    last: Option<(Oid, i32)>,
}

/// The paths that differ between `target` and `last`.
fn steps(
    repo: &Repository,
    target: &Tree<'_>,
    last: &Tree<'_>,
) -> Result<Vec<Step>, CheckpointError> {
    let diff = repo
        .diff_tree_to_tree(Some(target), Some(last), None)
        .map_err(|e| CheckpointError::git(repo.path(), &e))?;
    let side = |f: git2::DiffFile<'_>| f.exists().then(|| (f.id(), f.mode().into()));
    Ok(diff
        .deltas()
        .filter_map(|d| {
            let path = d.new_file().path().or_else(|| d.old_file().path())?;
            Some(Step {
                path: path.to_string_lossy().into_owned(),
                target: side(d.old_file()),
                last: side(d.new_file()),
            })
        })
        .collect())
}

/// The paths the user changed after the task's last checkpoint, among those the task
/// changed since `target`: what a restore would lose.
pub fn edited_since(
    opened: &Opened,
    target: &Tree<'_>,
    last: &Tree<'_>,
) -> Result<Vec<String>, CheckpointError> {
    Ok(edited(&opened.root, &steps(&opened.repo, target, last)?))
}

fn edited(root: &Path, steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .filter(|s| !matches_state(&root.join(&s.path), s.last))
        .map(|s| s.path.clone())
        .collect()
}

/// Whether the file at `full` is what `state` says (absent, or that blob and mode).
fn matches_state(full: &Path, state: Option<(Oid, i32)>) -> bool {
    let meta = fs::symlink_metadata(full).ok();
    match (state, meta) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some((oid, mode)), Some(meta)) => {
            if mode == i32::from(FileMode::Link) {
                return meta.file_type().is_symlink()
                    && fs::read_link(full).ok().is_some_and(|t| {
                        use std::os::unix::ffi::OsStrExt;
                        Oid::hash_object(git2::ObjectType::Blob, t.as_os_str().as_bytes())
                            .is_ok_and(|h| h == oid)
                    });
            }
            meta.is_file() && Oid::hash_file(git2::ObjectType::Blob, full).is_ok_and(|h| h == oid)
        }
    }
}

/// Restores `opened`'s work tree to `target`, given the task's `last` checkpoint.
pub fn apply(
    opened: &Opened,
    target: &Tree<'_>,
    last: &Tree<'_>,
    force: bool,
) -> Result<Restored, CheckpointError> {
    let steps = steps(&opened.repo, target, last)?;
    if !force {
        let edited = edited(&opened.root, &steps);
        if !edited.is_empty() {
            return Err(CheckpointError::EditedSince { files: edited });
        }
    }
    let blocked = blocked(&opened.root, &steps);
    if !blocked.is_empty() {
        return Err(CheckpointError::ReplacedByDirectory { paths: blocked });
    }
    let mut done = Restored::default();
    for s in &steps {
        let full = opened.root.join(&s.path);
        match s.target {
            Some((oid, mode)) => {
                if matches_state(&full, s.target) {
                    continue;
                }
                write(&opened.repo, &full, oid, mode)?;
                done.written.push(s.path.clone());
            }
            None => match fs::remove_file(&full) {
                Ok(()) => {
                    done.deleted.push(s.path.clone());
                    remove_empty_parents(&opened.root, &full);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CheckpointError::io(&full, e)),
            },
        }
    }
    Ok(done)
}

/// Paths where a directory stands for a file of the target (or a file for a folder
/// on the way to one).
fn blocked(root: &Path, steps: &[Step]) -> Vec<String> {
    let mut out = Vec::new();
    for s in steps {
        let full = root.join(&s.path);
        let is_dir = fs::symlink_metadata(&full).is_ok_and(|m| m.is_dir());
        if is_dir {
            out.push(format!("{} (now a directory)", s.path));
            continue;
        }
        if s.target.is_some() {
            let mut dir = full.parent();
            while let Some(d) = dir {
                if d == root {
                    break;
                }
                if fs::symlink_metadata(d).is_ok_and(|m| !m.is_dir()) {
                    let rel = d.strip_prefix(root).unwrap_or(d);
                    out.push(format!(
                        "{} (now a file, the checkpoint has a folder)",
                        rel.display()
                    ));
                    break;
                }
                dir = d.parent();
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

pub(super) fn write(
    repo: &Repository,
    full: &Path,
    oid: Oid,
    mode: i32,
) -> Result<(), CheckpointError> {
    let blob = repo
        .find_blob(oid)
        .map_err(|e| CheckpointError::git(repo.path(), &e))?;
    if let Some(parent) = full.parent() {
        fs::create_dir_all(parent).map_err(|e| CheckpointError::io(parent, e))?;
    }
    if fs::symlink_metadata(full).is_ok_and(|m| m.file_type().is_symlink()) {
        fs::remove_file(full).map_err(|e| CheckpointError::io(full, e))?;
    }
    if mode == i32::from(FileMode::Link) {
        use std::os::unix::ffi::OsStrExt;
        let target = PathBuf::from(std::ffi::OsStr::from_bytes(blob.content()));
        let _ = fs::remove_file(full);
        return std::os::unix::fs::symlink(target, full).map_err(|e| CheckpointError::io(full, e));
    }
    // Through a temp file and a rename, so a failure (disk full) leaves the old file.
    let tmp = full.with_file_name(format!(
        ".{}.az-os-restore",
        full.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    // The file's own permissions are kept; only the execute bits follow the checkpoint.
    let base = fs::metadata(full).map_or(0o644, |m| m.permissions().mode() & 0o7777);
    let exec = mode == i32::from(FileMode::BlobExecutable);
    let perm = if exec { base | 0o111 } else { base & !0o111 };
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(blob.content())?;
        // No fsync per file (git's checkout does none either): a rollback of 100 files
        // would pay 100 disk flushes.
        f.set_permissions(fs::Permissions::from_mode(perm))?;
        fs::rename(&tmp, full)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        CheckpointError::io(full, e)
    })
}

/// Removes the folders a deletion left empty, up to (not including) `root`.
pub(super) fn remove_empty_parents(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}
