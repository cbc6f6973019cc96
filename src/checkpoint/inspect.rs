//! Reading checkpoints back: what a turn (or a whole task) changed, file by file with
//! line counts, and as a unified diff.

use git2::{Delta, Diff, DiffFormat, DiffOptions, Repository, Tree};

use super::CheckpointError;

/// How a file changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Modified,
    Deleted,
    /// A file became a symlink or the other way round, or its mode changed.
    TypeChanged,
}

/// One file a checkpoint changed.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FileChange {
    pub path: String,
    pub change: Change,
    pub added: usize,
    pub removed: usize,
    pub binary: bool,
}

/// The diff from `old` (none: the empty tree) to `new`.
pub fn diff<'r>(
    repo: &'r Repository,
    old: Option<&Tree<'r>>,
    new: &Tree<'r>,
) -> Result<Diff<'r>, CheckpointError> {
    let mut opts = DiffOptions::new();
    opts.context_lines(3);
    repo.diff_tree_to_tree(old, Some(new), Some(&mut opts))
        .map_err(|e| CheckpointError::git(repo.path(), &e))
}

/// The files `diff` changes, with +/- line counts.
pub fn files(diff: &Diff<'_>) -> Vec<FileChange> {
    let mut out = Vec::with_capacity(diff.deltas().len());
    for (i, delta) in diff.deltas().enumerate() {
        let change = match delta.status() {
            Delta::Added | Delta::Copied | Delta::Untracked => Change::Added,
            Delta::Deleted => Change::Deleted,
            Delta::Typechange => Change::TypeChanged,
            Delta::Modified
            | Delta::Renamed
            | Delta::Unmodified
            | Delta::Ignored
            | Delta::Unreadable
            | Delta::Conflicted => Change::Modified,
        };
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (mut added, mut removed, mut binary) = (0, 0, delta.flags().is_binary());
        match git2::Patch::from_diff(diff, i) {
            Ok(Some(lines)) => {
                if let Ok((_, a, r)) = lines.line_stats() {
                    added = a;
                    removed = r;
                }
                binary |= lines.delta().flags().is_binary();
            }
            Ok(None) => binary = true,
            Err(_) => {}
        }
        out.push(FileChange {
            path,
            change,
            added,
            removed,
            binary,
        });
    }
    out
}

/// `diff` as a unified patch (`git diff` format).
pub fn patch(diff: &Diff<'_>) -> Result<String, CheckpointError> {
    let mut out = Vec::new();
    diff.print(DiffFormat::Patch, |_, _, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            out.push(line.origin() as u8);
        }
        out.extend_from_slice(line.content());
        true
    })
    .map_err(|e| CheckpointError::Git(e.message().to_owned()))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The patch of one file of `diff`.
pub fn file_patch(diff: &Diff<'_>, path: &str) -> Result<Option<String>, CheckpointError> {
    for (i, delta) in diff.deltas().enumerate() {
        let p = delta.new_file().path().or_else(|| delta.old_file().path());
        if p.is_some_and(|p| p.to_string_lossy() == path) {
            let Ok(Some(mut one)) = git2::Patch::from_diff(diff, i) else {
                return Ok(Some(format!("Binary file {path} changed\n")));
            };
            let buf = one
                .to_buf()
                .map_err(|e| CheckpointError::Git(e.message().to_owned()))?;
            return Ok(Some(String::from_utf8_lossy(&buf).into_owned()));
        }
    }
    Ok(None)
}
