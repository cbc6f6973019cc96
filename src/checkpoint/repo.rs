//! Opens the repository that holds a workdir's checkpoints: the user's own when the
//! workdir is in a git work tree (objects only; our commits live on
//! `refs/az-os/checkpoints/{task}`), else a private bare repository under the home,
//! `checkpoints/repos/<hash of workdir>.git`. Either way snapshots are built from a
//! private index file, `checkpoints/index/<hash of workdir>`, never `.git/index`.

use std::fs;
use std::path::{Path, PathBuf};

use git2::{Index, Repository, RepositoryOpenFlags};

use super::CheckpointError;

/// The ref of task `task_id`'s chain.
pub fn ref_name(task_id: &str) -> String {
    format!("refs/az-os/checkpoints/{task_id}")
}

/// A repository opened for a workdir.
pub struct Opened {
    pub repo: Repository,
    /// The work tree's root (the workdir itself for a private repository).
    pub root: PathBuf,
    /// The workdir relative to `root`, `/`-separated; empty when they are the same.
    pub prefix: String,
    pub private: bool,
    /// The git directory (`.git`, or the private bare repository).
    pub git_dir: PathBuf,
}

impl Opened {
    /// The pathspec that limits snapshots to the workdir.
    pub fn pathspec(&self) -> String {
        if self.prefix.is_empty() {
            "*".to_owned()
        } else {
            format!("{}/*", self.prefix)
        }
    }
}

/// The canonical workdir, or `WorkdirGone`.
pub fn canonical(workdir: &Path) -> Result<PathBuf, CheckpointError> {
    match workdir.canonicalize() {
        Ok(p) if p.is_dir() => Ok(p),
        Ok(_) => Err(CheckpointError::WorkdirGone {
            path: workdir.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CheckpointError::WorkdirGone {
            path: workdir.to_path_buf(),
        }),
        Err(e) => Err(CheckpointError::io(workdir, e)),
    }
}

/// A short stable name for a workdir (SHA-256 of its canonical path, 16 hex digits).
/// How many entries the git index file at `path` holds (its header's count), if it is
/// one.
pub fn index_entries(path: &Path) -> Option<u32> {
    use std::io::Read;
    let mut head = [0u8; 12];
    fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    (&head[..4] == b"DIRC").then(|| u32::from_be_bytes([head[8], head[9], head[10], head[11]]))
}

pub fn workdir_hash(workdir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let d = ring::digest::digest(&ring::digest::SHA256, workdir.as_os_str().as_bytes());
    d.as_ref()[..8]
        .iter()
        .fold(String::with_capacity(16), |mut s, b| {
            s.push_str(&format!("{b:02x}"));
            s
        })
}

/// Opens (or creates) the repository for canonical `workdir`.
pub fn open_for(root: &Path, workdir: &Path) -> Result<Opened, CheckpointError> {
    // Only a work tree that contains the workdir counts; a bare repository or one whose
    // work tree is elsewhere (GIT_DIR tricks) does not.
    let found = Repository::open_ext(
        workdir,
        RepositoryOpenFlags::empty(),
        std::iter::empty::<&std::ffi::OsStr>(),
    )
    .ok()
    .filter(|r| !r.is_bare())
    .and_then(|r| {
        let top = r.workdir()?.canonicalize().ok()?;
        let rel = workdir.strip_prefix(&top).ok()?.to_path_buf();
        Some((r, top, rel))
    });
    if let Some((repo, top, rel)) = found {
        let prefix = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let git_dir = repo.path().to_path_buf();
        return Ok(Opened {
            repo,
            root: top,
            prefix,
            private: false,
            git_dir,
        });
    }
    // A whole home (or /) outside git would be gigabytes of other people's business.
    let home = std::env::var_os("HOME").and_then(|h| Path::new(&h).canonicalize().ok());
    if workdir.parent().is_none() || home.as_deref() == Some(workdir) {
        return Err(CheckpointError::TooBroad {
            path: workdir.to_path_buf(),
        });
    }
    let git_dir = root
        .join("repos")
        .join(format!("{}.git", workdir_hash(workdir)));
    let repo = open_private(&git_dir, workdir)?;
    Ok(Opened {
        repo,
        root: workdir.to_path_buf(),
        prefix: String::new(),
        private: true,
        git_dir,
    })
}

/// Opens a repository recorded in the registry (it may be private or the user's).
pub fn open_recorded(
    git_dir: &Path,
    workdir: &Path,
    private: bool,
) -> Result<Opened, CheckpointError> {
    let workdir = canonical(workdir)?;
    if private {
        let repo = open_private(git_dir, &workdir)?;
        return Ok(Opened {
            repo,
            root: workdir,
            prefix: String::new(),
            private,
            git_dir: git_dir.to_path_buf(),
        });
    }
    let repo = Repository::open(git_dir).map_err(|e| CheckpointError::git(git_dir, &e))?;
    let top = repo
        .workdir()
        .and_then(|w| w.canonicalize().ok())
        .ok_or_else(|| CheckpointError::WorkdirGone {
            path: workdir.clone(),
        })?;
    let prefix = workdir
        .strip_prefix(&top)
        .map(|r| {
            r.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default();
    Ok(Opened {
        repo,
        root: top,
        prefix,
        private,
        git_dir: git_dir.to_path_buf(),
    })
}

/// Opens or creates the private bare repository at `git_dir`, attached to `workdir` in
/// memory only (its config is never changed).
fn open_private(git_dir: &Path, workdir: &Path) -> Result<Repository, CheckpointError> {
    let repo = if git_dir.join("HEAD").exists() {
        Repository::open_bare(git_dir).map_err(|e| CheckpointError::Corrupt {
            path: git_dir.to_path_buf(),
            detail: e.message().to_owned(),
        })?
    } else {
        if let Some(parent) = git_dir.parent() {
            fs::create_dir_all(parent).map_err(|e| CheckpointError::io(parent, e))?;
        }
        Repository::init_bare(git_dir).map_err(|e| CheckpointError::git(git_dir, &e))?
    };
    repo.set_workdir(workdir, false)
        .map_err(|e| CheckpointError::git(git_dir, &e))?;
    Ok(repo)
}

/// Holds the private index of canonical `workdir` for one snapshot, across processes
/// (two az-os processes in one folder take turns): released when dropped. A file next
/// to the index, not `<index>.lock`, which libgit2 creates and renames when it writes.
pub fn hold_index(
    root: &Path,
    workdir: &Path,
) -> Result<nix::fcntl::Flock<fs::File>, CheckpointError> {
    let dir = root.join("index");
    fs::create_dir_all(&dir).map_err(|e| CheckpointError::io(&dir, e))?;
    let path = dir.join(workdir_hash(workdir)).with_extension("busy");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CheckpointError::io(&path, e))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| CheckpointError::io(&path, std::io::Error::from(e)))
}

/// The private index of canonical `workdir`, attached to `opened.repo` (so `add_all`
/// can walk the work tree). A new one is seeded from the user's `.git/index` (a copy:
/// theirs is only read) so the first snapshot re-hashes only files whose stat changed.
pub fn private_index(
    root: &Path,
    opened: &Opened,
    workdir: &Path,
) -> Result<(Index, PathBuf), CheckpointError> {
    let dir = root.join("index");
    fs::create_dir_all(&dir).map_err(|e| CheckpointError::io(&dir, e))?;
    let path = dir.join(workdir_hash(workdir));
    if !path.exists() && !opened.private && opened.prefix.is_empty() {
        let theirs = opened.git_dir.join("index");
        if theirs.is_file() {
            // Best effort: without the seed the first snapshot hashes every file.
            let _ = fs::copy(&theirs, &path);
        }
    }
    let mut index = if let Ok(i) = Index::open(&path) {
        i
    } else {
        // A damaged or unsupported (split, sparse) index is only a cache: start over.
        let _ = fs::remove_file(&path);
        Index::open(&path).map_err(|e| CheckpointError::git(&path, &e))?
    };
    opened
        .repo
        .set_index(&mut index)
        .map_err(|e| CheckpointError::git(&opened.git_dir, &e))?;
    Ok((index, path))
}

/// The tree `index_path` was last written as (`remember_tree`), if the index file is
/// still the one written then (its trailing checksum): anything else (an older az-os,
/// a crash between the two writes, a fresh seed) gives `None`.
pub fn remembered_tree(index_path: &Path) -> Option<git2::Oid> {
    let saved = fs::read_to_string(tree_note(index_path)).ok()?;
    let (tree, sum) = saved.trim().split_once(' ')?;
    (index_checksum(index_path)? == sum)
        .then(|| git2::Oid::from_str(tree).ok())
        .flatten()
}

/// Records that `index_path`, as just written, is tree `tree`. Best effort: without the
/// note the next snapshot builds the tree from the whole index.
pub fn remember_tree(index_path: &Path, tree: git2::Oid) {
    let note = tree_note(index_path);
    match index_checksum(index_path) {
        Some(sum) => {
            let _ = fs::write(&note, format!("{tree} {sum}\n"));
        }
        None => {
            let _ = fs::remove_file(&note);
        }
    }
}

/// `checkpoints/index/<hash>.tree`, next to the private index it describes.
pub fn tree_note(index_path: &Path) -> PathBuf {
    index_path.with_extension("tree")
}

/// The hex of an index file's trailing checksum (its last 20 bytes).
fn index_checksum(index_path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = fs::File::open(index_path).ok()?;
    f.seek(SeekFrom::End(-20)).ok()?;
    let mut sum = [0u8; 20];
    f.read_exact(&mut sum).ok()?;
    Some(sum.iter().fold(String::with_capacity(40), |mut s, b| {
        s.push_str(&format!("{b:02x}"));
        s
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_says_how_many_entries_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let mut index = repo.index().unwrap();
        for name in ["a", "b", "c/d"] {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, name).unwrap();
            index.add_path(Path::new(name)).unwrap();
        }
        index.write().unwrap();
        assert_eq!(index_entries(&dir.path().join(".git/index")), Some(3));
        assert_eq!(index_entries(&dir.path().join("a")), None, "not an index");
        assert_eq!(index_entries(&dir.path().join("none")), None);
    }
}
