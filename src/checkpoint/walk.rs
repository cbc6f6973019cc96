//! The work-tree walk of a command turn's snapshot: which paths may differ from the
//! private index. It replaces libgit2's index-to-workdir diff with the same rules and
//! less work: folders are listed (the kernel's entry types, no `lstat`) to find new and
//! vanished paths, and only the index's own entries are `lstat`ed, relative to their
//! folder and split over two threads, against the stat data the index holds (mode,
//! size, mtime, ctime, inode, owner; git's racy rule: a file modified no earlier than
//! the index was written is always re-read).
//!
//! What it does not decide: whether a stat change is a content change. The caller
//! hashes those candidates (`Candidate::Stat`) and keeps only real changes. Ignore rules
//! are libgit2's own (`is_path_ignored`), asked only about paths the index does not
//! hold, so a tracked file stays tracked as in git.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use git2::{Index, IndexEntry, Oid, Repository};
use nix::fcntl::AtFlags;
use nix::sys::stat::{FileStat, fstatat};

/// Index flag: "assume unchanged" (`git update-index --assume-unchanged`).
const ASSUME_VALID: u16 = 0x8000;
/// Extended index flag: outside a sparse checkout.
const SKIP_WORKTREE: u16 = 0x4000;
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const GITLINK: u32 = 0o160_000;
/// Below this many entries to `lstat`, a second thread costs more than it saves.
const PARALLEL_FROM: usize = 2_000;

/// A path (relative to the repository's root) that may have changed.
pub(super) enum Candidate {
    /// In the index, and its stat data differs (or is racy): maybe new content.
    /// `id` and `mode` are the entry's.
    Stat { path: PathBuf, id: Oid, mode: u32 },
    /// Not in the index, not ignored: new.
    New(PathBuf),
    /// In the index, no longer a file or link in the work tree.
    Gone(PathBuf),
}

impl Candidate {
    pub(super) fn path(&self) -> &Path {
        match self {
            Self::Stat { path, .. } | Self::New(path) | Self::Gone(path) => path,
        }
    }
}

/// How the repository's config asks stat data to be compared.
#[derive(Clone, Copy)]
struct Rules {
    /// `core.filemode`: the executable bit is trusted.
    filemode: bool,
    /// `core.trustctime`.
    ctime: bool,
    /// The index file's mtime when it was read (seconds, nanoseconds): racy entries.
    stamp: Option<(i64, i64)>,
}

/// One folder's index entries to `lstat`: their names and positions in `entries`.
struct Folder {
    rel: Vec<u8>,
    names: Vec<(Vec<u8>, usize)>,
}

/// What a walk found.
pub(super) struct Found {
    /// Sorted by path.
    pub(super) candidates: Vec<Candidate>,
    /// The index holds entries the walk does not judge (assumed unchanged, or outside a
    /// sparse checkout): a change watcher cannot stand in for this walk.
    pub(super) unjudged: bool,
}

/// What changed under `root/prefix` (`prefix` empty or `a/b`) against `index`, whose
/// file had mtime `stamp` when it was read.
pub(super) fn changes(
    repo: &Repository,
    root: &Path,
    prefix: &str,
    index: &Index,
    stamp: Option<(i64, i64)>,
) -> Result<Found, git2::Error> {
    let cfg = repo.config()?;
    let rules = Rules {
        filemode: cfg.get_bool("core.filemode").unwrap_or(true),
        ctime: cfg.get_bool("core.trustctime").unwrap_or(true),
        stamp,
    };
    let under = |p: &[u8]| {
        prefix.is_empty()
            || (p.len() > prefix.len()
                && p.starts_with(prefix.as_bytes())
                && p[prefix.len()] == b'/')
    };
    let entries: Vec<IndexEntry> = index.iter().filter(|e| under(&e.path)).collect();
    let mut walk = Walk::new(repo, root, &entries);
    let unjudged = walk.seen.iter().any(|s| *s);
    let mut stack: Vec<(Vec<u8>, bool)> = vec![(prefix.as_bytes().to_vec(), false)];
    while let Some((dir, untracked)) = stack.pop() {
        walk.list(dir, untracked, &mut stack)?;
    }
    let Walk {
        at,
        seen,
        mut out,
        to_stat,
        ..
    } = walk;
    for (i, e) in entries.iter().enumerate() {
        // A conflict's other stages share the path of the first, which was seen.
        let first = at.get(e.path.as_slice()).copied().unwrap_or(i);
        if !seen[i] && !seen[first] {
            out.push(Candidate::Gone(PathBuf::from(OsStr::from_bytes(&e.path))));
        }
    }
    for i in stat_all(root, &to_stat, &entries, rules)? {
        let e = &entries[i];
        out.push(Candidate::Stat {
            path: PathBuf::from(OsStr::from_bytes(&e.path)),
            id: e.id,
            mode: e.mode,
        });
    }
    out.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(Found {
        candidates: out,
        unjudged,
    })
}

/// The listing pass: what the index holds, what was found, what is new.
struct Walk<'a> {
    repo: &'a Repository,
    root: &'a Path,
    entries: &'a [IndexEntry],
    /// Index entries by path (the first, for a conflict's stages).
    at: HashMap<&'a [u8], usize>,
    /// Every folder that holds an index entry.
    folders: HashSet<&'a [u8]>,
    /// Entries found in the work tree (or not to be judged).
    seen: Vec<bool>,
    out: Vec<Candidate>,
    to_stat: Vec<Folder>,
}

impl<'a> Walk<'a> {
    fn new(repo: &'a Repository, root: &'a Path, entries: &'a [IndexEntry]) -> Self {
        let mut at = HashMap::with_capacity(entries.len());
        let mut folders = HashSet::new();
        for (i, e) in entries.iter().enumerate() {
            at.entry(e.path.as_slice()).or_insert(i);
            let mut p = e.path.as_slice();
            while let Some(cut) = p.iter().rposition(|b| *b == b'/') {
                p = &p[..cut];
                if !folders.insert(p) {
                    break;
                }
            }
        }
        // Entries the walk must not judge: assumed unchanged, or outside a sparse
        // checkout.
        let seen = entries
            .iter()
            .map(|e| e.flags & ASSUME_VALID != 0 || e.flags_extended & SKIP_WORKTREE != 0)
            .collect();
        Self {
            repo,
            root,
            entries,
            at,
            folders,
            seen,
            out: Vec::new(),
            to_stat: Vec::new(),
        }
    }

    /// Lists folder `dir` (`untracked`: nothing under it is in the index), queueing the
    /// folders below it on `stack`.
    fn list(
        &mut self,
        dir: Vec<u8>,
        untracked: bool,
        stack: &mut Vec<(Vec<u8>, bool)>,
    ) -> Result<(), git2::Error> {
        let full = self.root.join(OsStr::from_bytes(&dir));
        let listing = match std::fs::read_dir(&full) {
            Ok(l) => l,
            // Gone or not a folder any more since its parent was listed.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(nix::libc::ENOENT | nix::libc::ENOTDIR)
                ) =>
            {
                return Ok(());
            }
            Err(e) => return Err(io_error(&full, &e)),
        };
        let mut names = Vec::new();
        for item in listing {
            let item = item.map_err(|e| io_error(&full, &e))?;
            let name = item.file_name();
            if name == ".git" {
                continue;
            }
            let mut rel = dir.clone();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(name.as_bytes());
            let Ok(kind) = item.file_type() else {
                continue; // vanished while listed
            };
            if let Some(&i) = self.at.get(rel.as_slice()) {
                if self.entries[i].mode & S_IFMT == GITLINK {
                    self.seen[i] = true; // submodules are not snapshotted
                    continue;
                }
                if !kind.is_dir() {
                    self.seen[i] = true;
                    names.push((name.as_bytes().to_vec(), i));
                    continue;
                }
                // A file in the index is a folder now: the entry is gone (left unseen)
                // and the folder is new.
            }
            let path = PathBuf::from(OsStr::from_bytes(&rel));
            if kind.is_dir() {
                if !untracked && self.folders.contains(rel.as_slice()) {
                    stack.push((rel, false));
                } else if !self.repo.is_path_ignored(&path)? {
                    if self.root.join(&path).join(".git").exists() {
                        // A repository inside: added whole, as git adds it (a gitlink).
                        self.out.push(Candidate::New(path));
                    } else {
                        stack.push((rel, true));
                    }
                }
            } else if (kind.is_file() || kind.is_symlink()) && !self.repo.is_path_ignored(&path)? {
                self.out.push(Candidate::New(path));
            }
            // Sockets, fifos and devices are not content: git skips them too.
        }
        if !names.is_empty() {
            self.to_stat.push(Folder { rel: dir, names });
        }
        Ok(())
    }
}

/// The positions of the entries whose stat data differs, `lstat`ing on two threads
/// when there are many.
fn stat_all(
    root: &Path,
    folders: &[Folder],
    entries: &[IndexEntry],
    rules: Rules,
) -> Result<Vec<usize>, git2::Error> {
    let total: usize = folders.iter().map(|f| f.names.len()).sum();
    if total < PARALLEL_FROM {
        return Ok(stat_folders(root, folders, entries, rules));
    }
    // Two halves by entry count, cut at a folder boundary.
    let mut count = 0;
    let cut = folders
        .iter()
        .position(|f| {
            count += f.names.len();
            count * 2 >= total
        })
        .map_or(folders.len(), |i| i + 1);
    let (a, b) = folders.split_at(cut);
    std::thread::scope(|s| {
        let other = s.spawn(|| stat_folders(root, b, entries, rules));
        let mut mine = stat_folders(root, a, entries, rules);
        match other.join() {
            Ok(theirs) => mine.extend(theirs),
            Err(_) => {
                return Err(git2::Error::from_str(
                    "the checkpoint's stat thread stopped unexpectedly",
                ));
            }
        }
        Ok(mine)
    })
}

fn stat_folders(
    root: &Path,
    folders: &[Folder],
    entries: &[IndexEntry],
    rules: Rules,
) -> Vec<usize> {
    let mut changed = Vec::new();
    for f in folders {
        let full = root.join(OsStr::from_bytes(&f.rel));
        let Ok(dir) = File::open(&full) else {
            // Gone since it was listed: every entry is re-checked by the caller.
            changed.extend(f.names.iter().map(|(_, i)| *i));
            continue;
        };
        for (name, i) in &f.names {
            match fstatat(&dir, OsStr::from_bytes(name), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) if same(&entries[*i], &st, rules) => {}
                Ok(_) | Err(_) => changed.push(*i),
            }
        }
    }
    changed
}

/// Whether `st` matches index entry `e` as libgit2's diff decides it without hashing.
fn same(e: &IndexEntry, st: &FileStat, rules: Rules) -> bool {
    let raw = st.st_mode;
    let mut mode = match raw & S_IFMT {
        S_IFREG if raw & 0o100 != 0 => S_IFREG | 0o755,
        S_IFREG => S_IFREG | 0o644,
        S_IFLNK => S_IFLNK,
        _ => return false,
    };
    if !rules.filemode && mode & S_IFMT == S_IFREG && e.mode & S_IFMT == S_IFREG {
        mode = e.mode;
    }
    let stage = (e.flags >> 12) & 3;
    // The index keeps the low 32 bits of sizes, inodes and seconds, as git does.
    let (size, ino, mtime, ctime) = (
        st.st_size as u32,
        st.st_ino as u32,
        (st.st_mtime as i32, st.st_mtime_nsec as u32),
        (st.st_ctime as i32, st.st_ctime_nsec as u32),
    );
    let racy = rules
        .stamp
        .is_some_and(|(s, ns)| (i64::from(mtime.0), i64::from(mtime.1)) >= (s, ns));
    stage == 0
        && mode == e.mode
        && size == e.file_size
        && mtime == (e.mtime.seconds(), e.mtime.nanoseconds())
        && (!rules.ctime || ctime == (e.ctime.seconds(), e.ctime.nanoseconds()))
        && ino == e.ino
        && st.st_uid == e.uid
        && st.st_gid == e.gid
        && !racy
}

fn io_error(path: &Path, e: &std::io::Error) -> git2::Error {
    git2::Error::from_str(&format!("cannot read {}: {e}", path.display()))
}
