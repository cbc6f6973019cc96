//! Taking a snapshot: one walk of the work tree against the private index (stat data,
//! .gitignore honoured as git does) finds what changed; only those files are hashed
//! into the index, which is written as a tree and committed on the task's ref when it
//! differs from the previous checkpoint. Files over the caps are left out of the tree,
//! and named.

use std::path::{Path, PathBuf};

use git2::{Delta, DiffOptions, Signature};

use super::chain;
use super::id::CheckpointId;
use super::registry::{self, Entry};
use super::repo::{self, ref_name};
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
    let opened = repo::open_for(root, workdir)?;
    let git = |e: git2::Error| CheckpointError::git(&opened.git_dir, &e);
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
    // skipped as git skips them), then only the paths that changed are hashed.
    let mut opts = DiffOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_typechange(true)
        .ignore_submodules(true)
        .skip_binary_check(true)
        .update_index(true);
    if !opened.prefix.is_empty() {
        opts.pathspec(opened.pathspec());
    }
    let changed: Vec<(PathBuf, bool)> = {
        let diff = opened
            .repo
            .diff_index_to_workdir(Some(&index), Some(&mut opts))
            .map_err(git)?;
        diff.deltas()
            .filter_map(|d| {
                let gone = d.status() == Delta::Deleted;
                let side = if gone { d.old_file() } else { d.new_file() };
                side.path().map(|p| (p.to_path_buf(), gone))
            })
            .collect()
    };
    for (path, gone) in &changed {
        let admit = if *gone {
            Admit::Gone
        } else {
            budget.admit(&opened.root, path)
        };
        match admit {
            Admit::Yes => index.add_path(path).map_err(git)?,
            // Left out: no stale entry either, so a restore leaves the file as it is.
            Admit::No | Admit::Gone => match index.remove_path(path) {
                Ok(()) => {}
                Err(e) if e.code() == git2::ErrorCode::NotFound => {}
                Err(e) => return Err(git(e)),
            },
        }
    }
    budget.left_out.sort_by(|a, b| a.path.cmp(&b.path));
    let tree_id = index.write_tree().map_err(git)?;
    index
        .write()
        .map_err(|e| CheckpointError::git(&index_path, &e))?;
    finish(root, &opened, task_id, turn, tree_id, entry, budget)
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
