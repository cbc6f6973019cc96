//! Freeing space: dropping a task's chain or one checkpoint of it, and pruning chains
//! by age or by total size. A private repository is garbage-collected (repacked with
//! only what its refs reach, or removed when none are left). In the user's repository
//! only our refs are dropped: the objects become unreachable and the user's own
//! `git gc` reclaims them; we never run gc there.

use std::fs;
use std::path::Path;

use git2::{Repository, Signature};

use super::CheckpointError;
use super::chain;
use super::id::CheckpointId;
use super::registry::{self, Entry};
use super::repo::ref_name;

/// Drops task `task_id`'s whole chain.
pub fn delete_task(root: &Path, entry: &Entry) -> Result<(), CheckpointError> {
    if let Ok(repo) =
        Repository::open_bare(&entry.git_dir).or_else(|_| Repository::open(&entry.git_dir))
    {
        match repo.find_reference(&ref_name(&entry.task_id)) {
            Ok(mut r) => r
                .delete()
                .map_err(|e| CheckpointError::git(&entry.git_dir, &e))?,
            Err(e) if e.code() == git2::ErrorCode::NotFound => {}
            Err(e) => return Err(CheckpointError::git(&entry.git_dir, &e)),
        }
    }
    registry::remove(root, &entry.task_id)
}

/// Drops one checkpoint: the later ones are re-linked to its parent (same trees, same
/// ids), so the chain stays a chain.
pub fn delete_one(repo: &Repository, id: &CheckpointId) -> Result<(), CheckpointError> {
    let git = |e: git2::Error| CheckpointError::git(repo.path(), &e);
    let commits = chain::commits(repo, &id.task_id)?;
    let Some(pos) = commits.iter().position(|(t, _)| *t == id.turn) else {
        return Err(CheckpointError::UnknownId { id: id.to_string() });
    };
    let mut parent = pos.checked_sub(1).map(|p| commits[p].1.clone());
    let sig = Signature::now("az-os", "az-os@localhost").map_err(git)?;
    for (_, c) in &commits[pos + 1..] {
        let tree = c.tree().map_err(git)?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let msg = c.message().unwrap_or_default();
        let oid = repo
            .commit(None, &c.author(), &sig, msg, &tree, &parents)
            .map_err(git)?;
        parent = Some(repo.find_commit(oid).map_err(git)?);
    }
    let name = ref_name(&id.task_id);
    match parent {
        Some(p) => {
            repo.reference(&name, p.id(), true, "az-os checkpoint delete")
                .map_err(git)?;
        }
        None => {
            repo.find_reference(&name)
                .and_then(|mut r| r.delete())
                .map_err(git)?;
        }
    }
    Ok(())
}

/// Garbage-collects the private repository at `git_dir`: removed when no chain is
/// left in it, else repacked with only what its refs reach. Returns bytes freed.
pub fn gc_private(root: &Path, git_dir: &Path) -> Result<u64, CheckpointError> {
    let before = crate::util::fs::dir_size(git_dir);
    let repo = Repository::open_bare(git_dir).map_err(|e| CheckpointError::Corrupt {
        path: git_dir.to_path_buf(),
        detail: e.message().to_owned(),
    })?;
    let git = |e: git2::Error| CheckpointError::git(git_dir, &e);
    let refs: Vec<git2::Oid> = repo
        .references_glob("refs/az-os/*")
        .map_err(git)?
        .filter_map(|r| r.ok().and_then(|r| r.target()))
        .collect();
    if refs.is_empty() {
        drop(repo);
        fs::remove_dir_all(git_dir).map_err(|e| CheckpointError::io(git_dir, e))?;
        // Its private index goes too (named like the repository).
        if let Some(stem) = git_dir.file_stem() {
            let index = root.join("index").join(stem);
            let _ = fs::remove_file(super::repo::tree_note(&index));
            let _ = fs::remove_file(index.with_extension("busy"));
            let _ = fs::remove_file(index);
        }
        return Ok(before);
    }
    let objects = git_dir.join("objects");
    let pack_dir = objects.join("pack");
    let old: Vec<_> = fs::read_dir(&pack_dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    write_pack(&repo, &refs).map_err(git)?;
    drop(repo);
    let fresh: Vec<_> = fs::read_dir(&pack_dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    // A pack named like an old one holds the same objects (names are content
    // hashes); otherwise the new pack holds all that is reachable and the old go.
    if fresh.iter().any(|p| !old.contains(p)) {
        for p in &old {
            let _ = fs::remove_file(p);
        }
    }
    if let Ok(rd) = fs::read_dir(&objects) {
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(before.saturating_sub(crate::util::fs::dir_size(git_dir)))
}

/// Writes (and indexes) one pack of everything `refs` reach.
fn write_pack(repo: &Repository, refs: &[git2::Oid]) -> Result<(), git2::Error> {
    let mut walk = repo.revwalk()?;
    for oid in refs {
        walk.push(*oid)?;
    }
    let mut pb = repo.packbuilder()?;
    pb.insert_walk(&mut walk)?;
    let mut buf = git2::Buf::new();
    pb.write_buf(&mut buf)?;
    let odb = repo.odb()?;
    let mut w = odb.packwriter()?;
    std::io::Write::write_all(&mut w, &buf)
        .map_err(|e| git2::Error::from_str(&format!("cannot write the pack: {e}")))?;
    w.commit()?;
    Ok(())
}
