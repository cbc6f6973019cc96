//! Taking a snapshot: one walk of the work tree against the private index (stat data,
//! .gitignore honoured as git does; `walk.rs`) finds what changed; only those files are
//! hashed into the index. The tree is the one the index was last written as, edited at
//! the changed paths, and is committed on the task's ref when it differs from the
//! previous checkpoint. Files over the caps are left out of the tree, and named.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use git2::Signature;

use super::chain;
use super::id::CheckpointId;
use super::known;
use super::registry::{self, Entry};
use super::repo::{self, ref_name};
use super::walk::{self, Candidate};
use super::{Caps, CheckpointError};

/// A file left out of a snapshot, and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LeftOut {
    pub path: String,
    pub bytes: u64,
    pub reason: &'static str,
}

/// What a snapshot did.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// A new checkpoint.
    Created(CheckpointId),
    /// Nothing changed since the task's previous checkpoint: no commit.
    Unchanged,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub outcome: Outcome,
    pub left_out: Vec<LeftOut>,
}

impl Snapshot {
    /// One line for the task's log about what was left out, if anything was.
    pub fn notice(&self) -> Option<String> {
        if self.left_out.is_empty() {
            return None;
        }
        let names: Vec<String> = self
            .left_out
            .iter()
            .take(10)
            .map(|l| {
                format!(
                    "{} ({} MB, {})",
                    l.path,
                    l.bytes.div_ceil(1024 * 1024),
                    l.reason
                )
            })
            .collect();
        let more = self.left_out.len().saturating_sub(10);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        Some(format!(
            "not checkpointed (restore and rollback leave them as they are): {}{tail}; raise the caps under [checkpoints] to include them",
            names.join(", ")
        ))
    }
}

/// Snapshots canonical `workdir` as checkpoint `task_id.turn`.
pub fn take(
    root: &Path,
    task_id: &str,
    turn: u32,
    workdir: &Path,
    caps: Caps,
) -> Result<Snapshot, CheckpointError> {
    walked(root, task_id, turn, workdir, caps).map(|(s, _)| s)
}

/// [`take`], and whether the private index holds entries the walk does not judge
/// (assumed unchanged, outside a sparse checkout), which a change watcher would.
pub(super) fn walked(
    root: &Path,
    task_id: &str,
    turn: u32,
    workdir: &Path,
    caps: Caps,
) -> Result<(Snapshot, bool), CheckpointError> {
    let opened = repo::open_for(root, workdir)?;
    let git = |e: git2::Error| CheckpointError::git(&opened.git_dir, &e);
    let _held = repo::hold_index(root, workdir)?;
    let (mut index, index_path) = repo::private_index(root, &opened, workdir)?;
    let entry = registry::load(root, task_id)?.unwrap_or_else(|| Entry {
        task_id: task_id.to_owned(),
        workdir: workdir.to_path_buf(),
        git_dir: opened.git_dir.clone(),
        private: opened.private,
        bytes: 0,
    });
    let mut budget = Budget {
        caps,
        task_before: entry.bytes,
        total_before: None,
        home: root.to_path_buf(),
        // The baseline is what was there before the task: it counts against the total
        // cap only; later turns are what the task wrote.
        baseline: turn == 0,
        added: 0,
        left_out: Vec::new(),
    };
    // One walk of the work tree (stat data against the private index; ignored files
    // skipped as git skips them), then only the paths whose stat changed are hashed.
    let stamp = std::fs::metadata(&index_path)
        .ok()
        .map(|m| (m.mtime(), m.mtime_nsec()));
    let found =
        walk::changes(&opened.repo, &opened.root, &opened.prefix, &index, stamp).map_err(git)?;
    let mut touched: Vec<PathBuf> = Vec::with_capacity(found.candidates.len());
    for c in found.candidates {
        let admit = match &c {
            Candidate::Gone(_) => Admit::Gone,
            Candidate::Stat { path, id, mode }
                if same_content(&opened.root, path, *id, *mode, caps) =>
            {
                // Touched, racy or its mode changed: no new content, nothing charged.
                index.add_path(path).map_err(git)?;
                touched.push(path.clone());
                continue;
            }
            Candidate::Stat { path, .. } | Candidate::New(path) => budget.admit(&opened.root, path),
        };
        let path = c.path();
        match admit {
            Admit::Yes => index.add_path(path).map_err(git)?,
            // Left out: no stale entry either, so a restore leaves the file as it is.
            Admit::No | Admit::Gone => match index.remove_path(path) {
                Ok(()) => {}
                Err(e) if e.code() == git2::ErrorCode::NotFound => {}
                Err(e) => return Err(git(e)),
            },
        }
        touched.push(path.to_path_buf());
    }
    budget.left_out.sort_by(|a, b| a.path.cmp(&b.path));
    let tree_id = tree_of(&opened, &mut index, &index_path, &touched).map_err(git)?;
    index
        .write()
        .map_err(|e| CheckpointError::git(&index_path, &e))?;
    repo::remember_tree(&index_path, tree_id);
    finish(root, &opened, task_id, turn, tree_id, entry, budget).map(|s| (s, found.unjudged))
}

/// Whether the file at `rel` still holds blob `id` (its index entry's, of `mode`): a
/// change of stat data or mode only.
/// Hashed as stored, without git's filters: in a repository with filters
/// (`.gitattributes`, `core.autocrlf`) a touched file counts as changed, which costs
/// only its bytes against the caps, never a wrong tree.
pub(super) fn same_content(root: &Path, rel: &Path, id: git2::Oid, mode: u32, caps: Caps) -> bool {
    let full = root.join(rel);
    let Ok(meta) = std::fs::symlink_metadata(&full) else {
        return false;
    };
    meta.is_file()
        && meta.len() <= caps.file_bytes
        && mode & 0o170_000 == 0o100_000
        && git2::Oid::hash_file(git2::ObjectType::Blob, &full).is_ok_and(|now| now == id)
}

/// The tree of `index` after the walk changed `touched`: the tree the index was last
/// written as, edited at just those paths (a few trees rewritten, not the index's 10k
/// entries turned into trees and read back); from the whole index when that tree is
/// not known or the edit cannot be exact (a folder became a file).
fn tree_of(
    opened: &repo::Opened,
    index: &mut git2::Index,
    index_path: &Path,
    touched: &[PathBuf],
) -> Result<git2::Oid, git2::Error> {
    let before = repo::remembered_tree(index_path).and_then(|id| opened.repo.find_tree(id).ok());
    if let Some(before) = before {
        let leaves: Vec<(Vec<OsString>, known::Leaf)> = touched
            .iter()
            .map(|p| {
                let leaf = index
                    .get_path(p, 0)
                    .map(|e| (e.id, i32::try_from(e.mode).unwrap_or(0o100_644)));
                (p.iter().map(ToOwned::to_owned).collect(), leaf)
            })
            .collect();
        match known::edit(&opened.repo, Some(&before), &leaves) {
            Ok(Some(id)) => return Ok(id),
            Ok(None) => return opened.repo.treebuilder(None)?.write(),
            Err(known::Stop::Git(e)) => return Err(e),
            Err(known::Stop::Walk) => {}
        }
    }
    index.write_tree()
}

/// Commits `tree_id` on the task's chain unless it is the previous checkpoint's tree,
/// and records what the budget added.
pub(super) fn finish(
    root: &Path,
    opened: &repo::Opened,
    task_id: &str,
    turn: u32,
    tree_id: git2::Oid,
    mut entry: Entry,
    budget: Budget,
) -> Result<Snapshot, CheckpointError> {
    let git = |e: git2::Error| CheckpointError::git(&opened.git_dir, &e);
    let parent = match chain::head(&opened.repo, task_id).map_err(git)? {
        Some(oid) => Some(opened.repo.find_commit(oid).map_err(git)?),
        None => None,
    };
    if let Some(p) = &parent
        && p.tree_id() == tree_id
    {
        return Ok(Snapshot {
            outcome: Outcome::Unchanged,
            left_out: budget.left_out,
        });
    }
    let id = CheckpointId::new(task_id, turn);
    let tree = opened.repo.find_tree(tree_id).map_err(git)?;
    // Our own signature: the user's config (user.name) is neither read nor needed.
    let sig = Signature::now("az-os", "az-os@localhost").map_err(git)?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let commit = opened
        .repo
        .commit(None, &sig, &sig, &chain::message(&id), &tree, &parents)
        .map_err(git)?;
    opened
        .repo
        .reference(&ref_name(task_id), commit, true, "az-os checkpoint")
        .map_err(git)?;
    entry.bytes += budget.added;
    registry::save(root, &entry)?;
    Ok(Snapshot {
        outcome: Outcome::Created(id),
        left_out: budget.left_out,
    })
}

/// The size caps, applied file by file as the index asks to hash them.
pub(super) struct Budget {
    pub(super) caps: Caps,
    pub(super) task_before: u64,
    /// All tasks' bytes before this snapshot: read from the registry (one file per
    /// task ever checkpointed) only when a file is to be admitted, so a turn that
    /// changed nothing does not pay for the whole registry.
    pub(super) total_before: Option<u64>,
    /// The checkpoints root, where the registry is.
    pub(super) home: PathBuf,
    pub(super) baseline: bool,
    pub(super) added: u64,
    pub(super) left_out: Vec<LeftOut>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admit {
    Yes,
    No,
    Gone,
}

impl Budget {
    /// Whether `rel` (changed since the last snapshot) goes into this one.
    pub(super) fn admit(&mut self, root: &Path, rel: &Path) -> Admit {
        let Ok(meta) = std::fs::symlink_metadata(root.join(rel)) else {
            return Admit::Gone;
        };
        if !meta.is_file() {
            return Admit::Yes; // a symlink: its target path is the content
        }
        let len = meta.len();
        let reason = if len > self.caps.file_bytes {
            Some("over checkpoints.max_file_mb")
        } else if !self.baseline && self.task_before + self.added + len > self.caps.task_bytes {
            Some("over checkpoints.max_task_mb")
        } else if *self
            .total_before
            .get_or_insert_with(|| registry::total_bytes(&self.home))
            + self.added
            + len
            > self.caps.total_bytes
        {
            Some("over checkpoints.max_total_mb")
        } else {
            None
        };
        if let Some(reason) = reason {
            self.left_out.push(LeftOut {
                path: rel.to_string_lossy().into_owned(),
                bytes: len,
                reason,
            });
            return Admit::No;
        }
        self.added += len;
        Admit::Yes
    }
}
