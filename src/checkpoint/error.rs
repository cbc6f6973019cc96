//! What can go wrong with a checkpoint, each with a message that names the fix. The
//! engine turns any of these into a warning on the task, never a task failure; the
//! `checkpoint` commands print them and exit 2 (1 for a refused rollback).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "{path} is on a read-only file system (or not writable): checkpoints need to write there; make it writable, or set checkpoints.enabled = false"
    )]
    ReadOnly { path: PathBuf },
    #[error(
        "no space left on the device holding {path}: free some space (`az-os checkpoint prune` frees the checkpoints' own)"
    )]
    DiskFull { path: PathBuf },
    #[error(
        "the checkpoint repository {path} is damaged ({detail}); delete it (`az-os checkpoint delete TASK` for each task there, or remove the folder) and later tasks start a fresh one"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "no checkpoint {id}: `az-os checkpoint list` shows the ones there are (ids are TASK.TURN)"
    )]
    UnknownId { id: String },
    #[error("`{given}` is not a checkpoint id: use TASK.TURN (e.g. 3f2a9c0d1e4b.2) or a task id")]
    BadId { given: String },
    #[error(
        "the workdir {path} of this task no longer exists: recreate it (or restore it from a backup) before restoring files into it"
    )]
    WorkdirGone { path: PathBuf },
    #[error("{}", edited_message(files))]
    EditedSince { files: Vec<String> },
    #[error("{}", replaced_message(paths))]
    ReplacedByDirectory { paths: Vec<String> },
    #[error(
        "another az-os process is writing checkpoints for {path} right now; try again when it is done"
    )]
    Busy { path: PathBuf },
    #[error(
        "{path} is your home directory or the file system's root, outside any git repository: too much to snapshot; run tasks in a project folder (or a git repository), or set checkpoints.enabled = false"
    )]
    TooBroad { path: PathBuf },
    #[error("checkpoint storage: {0}")]
    Git(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn edited_message(files: &[String]) -> String {
    format!(
        "refusing to overwrite {} file(s) changed after the task's last checkpoint:\n  {}\nsave your edits elsewhere, or pass --force to overwrite them",
        files.len(),
        files.join("\n  ")
    )
}

fn replaced_message(paths: &[String]) -> String {
    format!(
        "{} path(s) the checkpoint holds as files are now directories (or the other way round):\n  {}\nmove them aside and try again; a directory is never deleted to make room",
        paths.len(),
        paths.join("\n  ")
    )
}

impl CheckpointError {
    /// An IO error at `path`, classified (read-only, disk full) where it can be.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        match source.raw_os_error() {
            Some(code)
                if code == nix::libc::EROFS
                    || code == nix::libc::EACCES
                    || code == nix::libc::EPERM =>
            {
                Self::ReadOnly {
                    path: path.to_path_buf(),
                }
            }
            Some(code) if code == nix::libc::ENOSPC || code == nix::libc::EDQUOT => {
                Self::DiskFull {
                    path: path.to_path_buf(),
                }
            }
            _ => Self::Io {
                path: path.to_path_buf(),
                source,
            },
        }
    }

    /// A libgit2 error while working in the repository at `repo`, classified by its
    /// message (libgit2 reports the OS error only as text).
    pub fn git(repo: &Path, e: &git2::Error) -> Self {
        let msg = e.message().to_owned();
        let lower = msg.to_ascii_lowercase();
        if lower.contains("read-only file system") || lower.contains("permission denied") {
            Self::ReadOnly {
                path: repo.to_path_buf(),
            }
        } else if lower.contains("no space left") || lower.contains("quota exceeded") {
            Self::DiskFull {
                path: repo.to_path_buf(),
            }
        } else if e.code() == git2::ErrorCode::Locked {
            Self::Busy {
                path: repo.to_path_buf(),
            }
        } else if matches!(
            e.class(),
            git2::ErrorClass::Odb | git2::ErrorClass::Zlib | git2::ErrorClass::Object
        ) || lower.contains("corrupt")
            || lower.contains("invalid object")
            || lower.contains("failed to parse")
        {
            Self::Corrupt {
                path: repo.to_path_buf(),
                detail: msg,
            }
        } else {
            Self::Git(msg)
        }
    }

    /// Whether the command line should exit 1 (a refusal the user can override) rather
    /// than 2 (usage or setup).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::EditedSince { .. } | Self::ReplacedByDirectory { .. }
        )
    }
}
