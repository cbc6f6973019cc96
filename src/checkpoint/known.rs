//! A snapshot of a turn whose only file changes were `write_file` calls: the paths are
//! known, so there is no walk of the work tree and the private index is neither read
//! nor written. The task's previous checkpoint tree is edited at just those paths (each
//! file hashed into the object database with git's filters, the trees above it
//! rewritten), which costs the same in a 10-file and a 100k-file workdir.
//!
//! What it does not capture: files changed meanwhile by someone else (the user, another
//! task in the same folder). They are not recorded as this task's turn; the next walk
//! (a baseline of another task, or a turn that ran a command) captures them as the walk
//! always did. The private index stays a cache of the last walk: the next walk re-hashes
//! the files written here, finds them changed, and builds its tree from the index.
//!
//! A command turn's snapshot from the change watcher (`watch/edit.rs`) edits the tree
//! the same way, at the paths the watcher saw change, and also takes what this one
//! declines (symlinks, folders created or deleted, files that became folders).
//!
//! It declines (`None`, the caller walks) when it cannot be exact: no previous
//! checkpoint, a path that is absolute, climbs out with `..`, passes through `.git` or a
//! symlinked folder, is a symlink or a folder now, or crosses a file the previous tree
//! has where a folder now is.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use git2::{FileMode, ObjectType, Oid, Repository, Tree};

use super::repo::{self, Opened};
use super::snapshot::{self, Admit, Budget, Snapshot};
use super::{Caps, CheckpointError, chain, registry};

/// Why an edit stopped: the walk must do it, or git failed.
pub(super) enum Stop {
    Walk,
    Git(git2::Error),
}

impl From<git2::Error> for Stop {
    fn from(e: git2::Error) -> Self {
        Self::Git(e)
    }
}

/// What a path becomes in the new tree: a blob and its mode, or nothing.
pub(super) type Leaf = Option<(Oid, i32)>;

/// Snapshots canonical `workdir` as checkpoint `task_id.turn` when the turn changed only
/// `paths` (relative to `workdir`); `None` when this cannot be done exactly.
pub fn take(
    root: &Path,
    task_id: &str,
    turn: u32,
    workdir: &Path,
    caps: Caps,
    paths: &[PathBuf],
) -> Result<Option<Snapshot>, CheckpointError> {
    if turn == 0 {
        return Ok(None); // a baseline is the whole workdir
    }
    let opened = repo::open_for(root, workdir)?;
    let git = |e: git2::Error| CheckpointError::git(&opened.git_dir, &e);
    let Some(head) = chain::head(&opened.repo, task_id).map_err(git)? else {
        return Ok(None);
    };
    let Some(entry) = registry::load(root, task_id)? else {
        return Ok(None);
    };
    let base = opened
        .repo
        .find_commit(head)
        .and_then(|c| c.tree())
        .map_err(git)?;
    let mut budget = Budget {
        caps,
        task_before: entry.bytes,
        total_before: None,
        home: root.to_path_buf(),
        baseline: false,
        added: 0,
        left_out: Vec::new(),
    };
    let mut leaves: Vec<(Vec<OsString>, Leaf)> = Vec::with_capacity(paths.len());
    for path in paths {
        let path = if path.is_absolute() {
            match path.strip_prefix(workdir) {
                Ok(p) => p,
                Err(_) => return Ok(None),
            }
        } else {
            path.as_path()
        };
        let Some(rel) = in_repo(&opened, path) else {
            return Ok(None);
        };
        match leaf(&opened, &base, &rel, &mut budget) {
            Ok(Some(l)) => leaves.push((rel.iter().map(ToOwned::to_owned).collect(), l)),
            Ok(None) => {} // ignored and untracked: not captured, as the walk does
            Err(Stop::Walk) => return Ok(None),
            Err(Stop::Git(e)) => return Err(git(e)),
        }
    }
    budget.left_out.sort_by(|a, b| a.path.cmp(&b.path));
    let tree_id = match edit(&opened.repo, Some(&base), &leaves) {
        Ok(Some(id)) => id,
        Ok(None) => opened
            .repo
            .treebuilder(None)
            .and_then(|b| b.write())
            .map_err(git)?,
        Err(Stop::Walk) => return Ok(None),
        Err(Stop::Git(e)) => return Err(git(e)),
    };
    snapshot::finish(root, &opened, task_id, turn, tree_id, entry, budget).map(Some)
}

/// `path` (relative to the workdir) relative to the repository's work tree, if it is a
/// plain path inside the workdir whose folders are real folders (not links elsewhere).
fn in_repo(opened: &Opened, path: &Path) -> Option<PathBuf> {
    let mut rel = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) if n != ".git" => rel.push(n),
            Component::CurDir => {}
            Component::Normal(_)
            | Component::ParentDir
            | Component::RootDir
            | Component::Prefix(_) => return None,
        }
    }
    rel.file_name()?;
    let rel = if opened.prefix.is_empty() {
        rel
    } else {
        Path::new(&opened.prefix).join(rel)
    };
    let parent = opened.root.join(&rel).parent()?.to_path_buf();
    match parent.canonicalize() {
        Ok(p) if p == parent => Some(rel),
        // The folder is gone (so is the file): the tree loses the path.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(rel),
        Ok(_) | Err(_) => None,
    }
}

/// What `rel` becomes: hashed (or dropped when gone or over a cap); `Ok(None)` when it
/// is ignored and was not in the previous tree (the walk would not see it either).
fn leaf(
    opened: &Opened,
    base: &Tree<'_>,
    rel: &Path,
    budget: &mut Budget,
) -> Result<Option<Leaf>, Stop> {
    let full = opened.root.join(rel);
    let meta = match std::fs::symlink_metadata(&full) {
        Ok(m) if m.is_file() => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(None)),
        // A symlink or a folder now, or unreadable: the walk knows what to do.
        Ok(_) | Err(_) => return Err(Stop::Walk),
    };
    let before = base.get_path(rel).ok().map(|e| e.id());
    if before.is_none() && opened.repo.is_path_ignored(rel)? {
        return Ok(None);
    }
    match budget.admit(&opened.root, rel) {
        Admit::Yes => {}
        Admit::No | Admit::Gone => return Ok(Some(None)),
    }
    // `blob_path` applies the same filters (.gitattributes, autocrlf) as the index does.
    let oid = opened.repo.blob_path(&full)?;
    if before == Some(oid) {
        // Rewritten with the same content: nothing new stored, nothing charged.
        budget.added = budget.added.saturating_sub(meta.len());
    }
    // The owner's execute bit, as git and libgit2 read it (a file only others may run
    // is 100644 to them).
    let mode = if meta.permissions().mode() & 0o100 != 0 {
        FileMode::BlobExecutable
    } else {
        FileMode::Blob
    };
    Ok(Some(Some((oid, i32::from(mode)))))
}

/// `base` with `leaves` applied; `None` when the result is empty (git has no empty
/// trees: a folder left empty disappears, as in a walk).
pub(super) fn edit(
    repo: &Repository,
    base: Option<&Tree<'_>>,
    leaves: &[(Vec<OsString>, Leaf)],
) -> Result<Option<Oid>, Stop> {
    let mut here: BTreeMap<&OsString, Leaf> = BTreeMap::new();
    let mut below: BTreeMap<&OsString, Vec<(Vec<OsString>, Leaf)>> = BTreeMap::new();
    for (parts, l) in leaves {
        match parts.as_slice() {
            [] => return Err(Stop::Walk),
            [name] => {
                here.insert(name, *l);
            }
            [name, rest @ ..] => below.entry(name).or_default().push((rest.to_vec(), *l)),
        }
    }
    let mut builder = repo.treebuilder(base)?;
    for (name, l) in here {
        let existing = builder.get(name)?.map(|e| e.kind());
        if existing == Some(Some(ObjectType::Tree)) {
            return Err(Stop::Walk); // a folder in the tree where the turn wrote a file
        }
        match l {
            Some((oid, mode)) => {
                builder.insert(name, oid, mode)?;
            }
            None if existing.is_some() => builder.remove(name)?,
            None => {}
        }
    }
    for (name, sub) in below {
        let existing = builder.get(name)?.map(|e| (e.kind(), e.id()));
        let subtree = match existing {
            Some((Some(ObjectType::Tree), id)) => Some(repo.find_tree(id)?),
            Some(_) => return Err(Stop::Walk), // a file in the tree where a folder now is
            None => None,
        };
        match edit(repo, subtree.as_ref(), &sub)? {
            Some(id) => {
                builder.insert(name, id, i32::from(FileMode::Tree))?;
            }
            None if existing.is_some() => builder.remove(name)?,
            None => {}
        }
    }
    if builder.is_empty() {
        return Ok(None);
    }
    Ok(Some(builder.write()?))
}
