//! Which repository holds each task's checkpoints: one small JSON file per task under
//! `checkpoints/git/`, written when the task's first checkpoint is, so `list`, `restore`
//! and `prune` find a task's chain without the task database, and the bytes its
//! snapshots added (for the size caps).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CheckpointError;

/// Where one task's chain lives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub task_id: String,
    /// The task's workdir, canonical.
    pub workdir: PathBuf,
    /// The repository's git directory (the user's `.git`, or our private bare repo).
    pub git_dir: PathBuf,
    /// Whether `git_dir` is a private repository under the home (gc'd by `prune`).
    pub private: bool,
    /// Content the task's snapshots added, in bytes (as files were read).
    pub bytes: u64,
}

pub fn dir(root: &Path) -> PathBuf {
    root.join("git")
}

fn path(root: &Path, task_id: &str) -> PathBuf {
    dir(root).join(format!("{task_id}.json"))
}

pub fn load(root: &Path, task_id: &str) -> Result<Option<Entry>, CheckpointError> {
    let p = path(root, task_id);
    match fs::read(&p) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| CheckpointError::Corrupt {
                    path: p,
                    detail: e.to_string(),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CheckpointError::io(&p, e)),
    }
}

/// Every task's entry; unreadable files are skipped (they name no usable chain).
pub fn all(root: &Path) -> Result<Vec<Entry>, CheckpointError> {
    let d = dir(root);
    let rd = match fs::read_dir(&d) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CheckpointError::io(&d, e)),
    };
    let mut out = Vec::new();
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(task) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        if let Ok(Some(e)) = load(root, task) {
            out.push(e);
        }
    }
    out.sort_by(|a, b| a.task_id.cmp(&b.task_id));
    Ok(out)
}

/// Writes `entry` atomically (temp file, rename). No fsync: it is bookkeeping (a crash
/// loses at most the latest byte count), and a flush per turn would cost more than the
/// snapshot itself.
pub fn save(root: &Path, entry: &Entry) -> Result<(), CheckpointError> {
    let d = dir(root);
    fs::create_dir_all(&d).map_err(|e| CheckpointError::io(&d, e))?;
    let p = path(root, &entry.task_id);
    let tmp = p.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(entry).map_err(|e| CheckpointError::Git(e.to_string()))?;
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&text)?;
        fs::rename(&tmp, &p)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        CheckpointError::io(&p, e)
    })
}

pub fn remove(root: &Path, task_id: &str) -> Result<(), CheckpointError> {
    let p = path(root, task_id);
    match fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CheckpointError::io(&p, e)),
    }
}

/// Bytes all tasks' snapshots hold, by the entries' accounting.
pub fn total_bytes(root: &Path) -> u64 {
    all(root).map_or(0, |v| v.iter().map(|e| e.bytes).sum())
}
