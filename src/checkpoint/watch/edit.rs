//! The snapshot of a watched turn: the task's previous checkpoint tree edited at the
//! paths the watcher saw change, each looked at on disk as the walk would judge it — gone
//! (dropped, with a whole folder), a file or symlink (hashed with git's filters, the
//! caps applied, an ignored path not already in the tree skipped), a folder (its
//! changed paths below applied to the old subtree, or to nothing when it is new or was a
//! file), a socket or fifo (not content, as in git). The trees above are rewritten with
//! tree builders; the private index is neither read nor written (it stays the cache of
//! the last walk, as after a `write_file` turn).
//!
//! It declines (the caller walks) when it cannot be exact: no previous checkpoint, files
//! tracked under a folder the watcher skipped (ignored, or a repository of its own),
//! `core.filemode` or `core.trustctime` off, a new folder that holds a repository, a
//! tracked file that became a socket, fifo or device, a changed file with other hard
//! links (written through another name, this one saw no event), or a changed path it
//! cannot read.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use git2::{FileMode, ObjectType, Oid, Tree};

use super::{Live, join, path_of};
use crate::checkpoint::repo::Opened;
use crate::checkpoint::snapshot::{self, Admit, Budget, Snapshot};
use crate::checkpoint::{Caps, CheckpointError, chain, registry};

/// Why an edit stopped: it would not be exact (the caller walks), or git failed.
enum Stop {
    Decline(&'static str),
    Git(git2::Error),
}

impl From<git2::Error> for Stop {
    fn from(e: git2::Error) -> Self {
        Self::Git(e)
    }
}

/// The changed paths as a tree of names: a node per folder on the way to one.
#[derive(Default)]
struct Node<'a> {
    kids: BTreeMap<&'a [u8], Node<'a>>,
}

impl<'a> Node<'a> {
    fn of(paths: impl IntoIterator<Item = &'a Vec<u8>>) -> Self {
        let mut root = Node::default();
        for p in paths {
            let mut node = &mut root;
            for part in p.split(|b| *b == b'/').filter(|s| !s.is_empty()) {
                node = node.kids.entry(part).or_default();
            }
        }
        root
    }
}

/// Snapshots the workdir of `opened` as checkpoint `task_id.turn` from what `live` saw;
/// `Ok(Err(why))` when it declines.
pub(super) fn take(
    home: &Path,
    opened: &Opened,
    task_id: &str,
    turn: u32,
    caps: Caps,
    live: &Live,
) -> Result<Result<Snapshot, &'static str>, CheckpointError> {
    let git = |e: git2::Error| CheckpointError::git(&opened.git_dir, &e);
    if turn == 0 {
        return Ok(Err("a baseline is the whole workdir"));
    }
    let Some(head) = chain::head(&opened.repo, task_id).map_err(git)? else {
        return Ok(Err("the task has no previous checkpoint"));
    };
    let Some(entry) = registry::load(home, task_id)? else {
        return Ok(Err("the task has no previous checkpoint"));
    };
    let base = opened
        .repo
        .find_commit(head)
        .and_then(|c| c.tree())
        .map_err(git)?;
    // The walk compares modes and ctimes only when these are on (git's defaults on
    // Linux); its results are not worth copying otherwise.
    let cfg = opened.repo.config().map_err(git)?;
    if !cfg.get_bool("core.filemode").unwrap_or(true)
        || !cfg.get_bool("core.trustctime").unwrap_or(true)
    {
        return Ok(Err("core.filemode or core.trustctime is off"));
    }
    for s in &live.skipped {
        if base
            .get_path(path_of(s))
            .is_ok_and(|e| e.kind() == Some(ObjectType::Tree))
        {
            return Ok(Err(
                "files are tracked in a folder the watcher skips (ignored, or a repository)",
            ));
        }
    }
    let mut edit = Edit {
        opened,
        caps,
        budget: Budget {
            caps,
            task_before: entry.bytes,
            total_before: None,
            home: home.to_path_buf(),
            baseline: false,
            added: 0,
            left_out: Vec::new(),
        },
    };
    let tree_id = match edit.apply(Some(&base), b"", &Node::of(&live.dirty)) {
        Ok(Some(id)) => id,
        Ok(None) => opened
            .repo
            .treebuilder(None)
            .and_then(|b| b.write())
            .map_err(git)?,
        Err(Stop::Decline(why)) => return Ok(Err(why)),
        Err(Stop::Git(e)) => return Err(git(e)),
    };
    let mut budget = edit.budget;
    budget.left_out.sort_by(|a, b| a.path.cmp(&b.path));
    snapshot::finish(home, opened, task_id, turn, tree_id, entry, budget).map(Ok)
}

struct Edit<'a> {
    opened: &'a Opened,
    caps: Caps,
    budget: Budget,
}

/// What a name becomes in its folder's new tree: an object and its mode, or nothing.
type Entry = Option<(Oid, i32)>;

impl Edit<'_> {
    /// Folder `rel` (relative to the work tree's root) as `base` (its old tree, if it was
    /// one) with `node`'s names looked at again; `None` when it is left empty (git has
    /// no empty trees).
    fn apply(
        &mut self,
        base: Option<&Tree<'_>>,
        rel: &[u8],
        node: &Node<'_>,
    ) -> Result<Option<Oid>, Stop> {
        let repo = &self.opened.repo;
        let mut builder = repo.treebuilder(base)?;
        for (name, kid) in &node.kids {
            if *name == b".git" {
                continue; // never content, as in the walk
            }
            let path = join(rel, name);
            let old = builder
                .get(*name)?
                .map(|e| (e.kind(), e.id(), e.filemode()));
            let new = self.entry(&path, old, kid)?;
            match new {
                Some((id, mode)) => {
                    builder.insert(*name, id, mode)?;
                }
                None if old.is_some() => builder.remove(*name)?,
                None => {}
            }
        }
        if builder.is_empty() {
            return Ok(None);
        }
        Ok(Some(builder.write()?))
    }

    /// What `path` is now, given what it was (`old`: kind, id, mode) and the changed
    /// names below it (`node`).
    fn entry(
        &mut self,
        path: &[u8],
        old: Option<(Option<ObjectType>, Oid, i32)>,
        node: &Node<'_>,
    ) -> Result<Entry, Stop> {
        let full = self.opened.root.join(path_of(path));
        let meta = match std::fs::symlink_metadata(&full) {
            Ok(m) => m,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(nix::libc::ENOTDIR) =>
            {
                return Ok(None);
            }
            Err(_) => return Err(Stop::Decline("a changed path cannot be read")),
        };
        let repo = &self.opened.repo;
        let kind = meta.file_type();
        match old {
            // A submodule: the walk never judges it while something stands there.
            Some((_, id, mode)) if mode == i32::from(FileMode::Commit) => {
                return Ok(Some((id, mode)));
            }
            _ => {}
        }
        let tracked = old.filter(|(k, _, _)| *k == Some(ObjectType::Blob));
        if kind.is_dir() {
            let sub = match old {
                Some((Some(ObjectType::Tree), id, _)) => Some(repo.find_tree(id)?),
                _ => None,
            };
            if sub.is_none() {
                if repo.is_path_ignored(path_of(path))? {
                    return Ok(None);
                }
                if full.join(".git").exists() {
                    return Err(Stop::Decline("a new folder holds a repository"));
                }
            }
            let tree = self.apply(sub.as_ref(), path, node)?;
            return Ok(tree.map(|id| (id, i32::from(FileMode::Tree))));
        }
        if !kind.is_file() && !kind.is_symlink() {
            if tracked.is_some() {
                return Err(Stop::Decline(
                    "a tracked file became a socket, fifo or device",
                ));
            }
            return Ok(None); // not content: git skips it too
        }
        if tracked.is_none() && repo.is_path_ignored(path_of(path))? {
            return Ok(None);
        }
        if kind.is_file() && meta.nlink() > 1 {
            // Written through another of its names, this one saw no event: only a walk
            // compares every name's stat data.
            return Err(Stop::Decline("a changed file has other hard links"));
        }
        if kind.is_symlink() {
            // The link's target is its content (what the index stores for a link).
            let target = std::fs::read_link(&full)
                .map_err(|_| Stop::Decline("a changed path cannot be read"))?;
            let id = repo.blob(std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str()))?;
            return Ok(Some((id, i32::from(FileMode::Link))));
        }
        // The owner's execute bit, as git reads it.
        let mode = if meta.mode() & 0o100 != 0 {
            i32::from(FileMode::BlobExecutable)
        } else {
            i32::from(FileMode::Blob)
        };
        if let Some((_, id, old_mode)) = tracked
            && snapshot::same_content(
                &self.opened.root,
                path_of(path),
                id,
                u32::try_from(old_mode).unwrap_or(0),
                self.caps,
            )
        {
            // Touched, or only its mode changed: nothing new stored, nothing charged.
            return Ok(Some((id, mode)));
        }
        match self.budget.admit(&self.opened.root, path_of(path)) {
            Admit::Yes => Ok(Some((repo.blob_path(&full)?, mode))),
            Admit::No | Admit::Gone => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(n: &'a Node<'a>) -> Vec<&'a [u8]> {
        n.kids.keys().copied().collect()
    }

    #[test]
    fn changed_paths_become_one_node_per_folder_on_the_way() {
        let paths: Vec<Vec<u8>> = vec![
            b"a/b/c".to_vec(),
            b"a/b".to_vec(),
            b"a/x".to_vec(),
            b"top".to_vec(),
            b"odd/\xff".to_vec(),
        ];
        let root = Node::of(&paths);
        assert_eq!(names(&root), vec![&b"a"[..], b"odd", b"top"]);
        let a = &root.kids[&b"a"[..]];
        assert_eq!(names(a), vec![&b"b"[..], b"x"]);
        assert_eq!(names(&a.kids[&b"b"[..]]), vec![&b"c"[..]]);
        assert_eq!(names(&root.kids[&b"odd"[..]]), vec![&b"\xff"[..]]);
    }
}
