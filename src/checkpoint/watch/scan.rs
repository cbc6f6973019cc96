//! Setting the watches up: one per folder the walk would list (below the workdir, not
//! ignored, not a repository of its own, on a local file system), a folder created since
//! the last snapshot watched and listed the same way, and the rule files outside the
//! watched folders stamped so a change to them is noticed.
//!
//! Listing is most of the cost (the kernel's, about 0.5 µs an entry here), and only
//! subfolders are needed: on file systems where a folder's link count is 2 plus its
//! subfolders (ext2/3/4, XFS, tmpfs), a folder whose count is 2 is not listed, as `find`
//! does. The count is read after the folder's watch is added, so a subfolder made after
//! it is an event and one made before it is counted.
//!
//! What it does not do: read events (`watch.rs`) or edit trees (`edit.rs`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use git2::Repository;
use nix::errno::Errno;
use nix::sys::inotify::{InitFlags, Inotify};

use super::{Fallback, Live, join, mask, path_of};
use crate::checkpoint::repo::Opened;

/// File systems whose every change passes through this kernel, so inotify sees it:
/// ext2/3/4, XFS, Btrfs, tmpfs, overlayfs, F2FS, ZFS, bcachefs, ReiserFS, JFS, ramfs.
/// Network and FUSE file systems (NFS, SMB, sshfs, 9p) can change underneath.
const LOCAL: [u32; 11] = [
    0xEF53,
    0x5846_5342,
    0x9123_683E,
    0x0102_1994,
    0x794C_7630,
    0xF2F5_2010,
    0x2FC1_2FC1,
    0xCA45_1A4E,
    0x5265_4973,
    0x3153_464A,
    0x8584_58F6,
];

/// Of those, the ones whose folders' link counts count their subfolders: ext2/3/4, XFS,
/// tmpfs. (Btrfs and merged overlayfs folders report 1; the others are not relied on.)
const COUNTS_SUBFOLDERS: [u32; 3] = [0xEF53, 0x5846_5342, 0x0102_1994];

/// When the user's limit cannot be read: the kernel's old default, 8192, halved.
const LIMIT_UNKNOWN: usize = 4096;

/// What a rule file was (device, inode, size, mtime and ctime in ns); `None`: absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stamp(u64, u64, u64, i64, i64);

pub(super) fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
    Some(Stamp(
        m.dev(),
        m.ino(),
        m.size(),
        ns(m.mtime(), m.mtime_nsec()),
        ns(m.ctime(), m.ctime_nsec()),
    ))
}

impl Live {
    /// Watches the workdir of `opened`: `Err` says why it cannot.
    pub(super) fn start(opened: &Opened) -> Result<Live, String> {
        let workdir = if opened.prefix.is_empty() {
            opened.root.clone()
        } else {
            opened.root.join(&opened.prefix)
        };
        let fd = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map_err(|e| {
            format!(
                "cannot start inotify: {e} (at fs.inotify.max_user_instances? raise it with sysctl)"
            )
        })?;
        let mut live = Live {
            fd,
            root: opened.root.clone(),
            prefix: opened.prefix.as_bytes().to_vec(),
            top: None,
            dirs: HashMap::new(),
            dead: HashSet::new(),
            skipped: Vec::new(),
            devices: HashMap::new(),
            limit: limit(),
            rules: rule_files(opened, &workdir)
                .into_iter()
                .map(|p| {
                    let s = stamp(&p);
                    (p, s)
                })
                .collect(),
            dirty: BTreeSet::new(),
            behind: Some(Fallback::Unsynced),
        };
        live.watch_tree(&opened.repo, live.prefix.clone(), false)
            .map_err(|f| f.to_string())?;
        live.top = live
            .dirs
            .iter()
            .find(|(_, d)| **d == live.prefix)
            .map(|(wd, _)| *wd);
        Ok(live)
    }

    /// Watches folder `rel` and, below it, every folder the walk would list. With
    /// `fresh` (a folder created since the last snapshot) every path found is taken as
    /// changed.
    pub(super) fn watch_tree(
        &mut self,
        repo: &Repository,
        rel: Vec<u8>,
        fresh: bool,
    ) -> Result<(), Fallback> {
        let mut stack = vec![rel];
        while let Some(dir) = stack.pop() {
            let full = self.root.join(path_of(&dir));
            let wd = match self.fd.add_watch(&full, mask()) {
                Ok(wd) => wd,
                // Gone, or no longer a folder, since it was named: its parent's event
                // says so (the workdir itself must be there).
                Err(Errno::ENOENT | Errno::ENOTDIR) if dir != self.prefix => continue,
                Err(Errno::ENOSPC) => {
                    return Err(Fallback::Unwatched(
                        "the inotify watch limit is reached; raise fs.inotify.max_user_watches with sysctl"
                            .to_owned(),
                    ));
                }
                Err(e) => {
                    return Err(Fallback::Unwatched(format!(
                        "cannot watch {}: {e}",
                        full.display()
                    )));
                }
            };
            match self.dirs.get(&wd) {
                // Watched already under this name (created twice in one turn).
                Some(known) if *known == dir => {}
                // The same folder under another name: moved, or mounted twice.
                Some(_) => return Err(Fallback::Moved),
                None => {
                    self.dead.remove(&wd);
                    self.dirs.insert(wd, dir.clone());
                }
            }
            if self.dirs.len() > self.limit {
                return Err(Fallback::Unwatched(format!(
                    "more than {} folders to watch (half of fs.inotify.max_user_watches; raise it with sysctl)",
                    self.limit
                )));
            }
            let meta = match std::fs::symlink_metadata(&full) {
                Ok(m) if m.is_dir() => m,
                // Gone or replaced since it was watched: its own and its parent's events
                // say so.
                Ok(_) | Err(_) if dir != self.prefix => continue,
                Ok(_) => {
                    return Err(Fallback::Unwatched(format!(
                        "{} is not a folder",
                        full.display()
                    )));
                }
                Err(e) => {
                    return Err(Fallback::Unwatched(format!(
                        "cannot read {}: {e}",
                        full.display()
                    )));
                }
            };
            let counts = self.local(&full, meta.dev())?;
            if counts && !fresh && meta.nlink() == 2 {
                continue; // no subfolders, and its files need no names
            }
            let listing = match std::fs::read_dir(&full) {
                Ok(l) => l,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(nix::libc::ENOENT | nix::libc::ENOTDIR)
                    ) =>
                {
                    continue;
                }
                Err(e) => {
                    return Err(Fallback::Unwatched(format!(
                        "cannot list {}: {e}",
                        full.display()
                    )));
                }
            };
            for item in listing {
                let Ok(item) = item else {
                    return Err(Fallback::Unwatched(format!(
                        "cannot list {}",
                        full.display()
                    )));
                };
                // Most entries are files, which only a fresh folder needs named.
                let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
                if !is_dir && !fresh {
                    continue;
                }
                let name = item.file_name();
                if name == ".git" {
                    continue; // the repository's own, or this folder would be skipped
                }
                let child = join(&dir, name.as_bytes());
                if fresh {
                    self.dirty.insert(child.clone());
                }
                if is_dir && self.follow(repo, &child, fresh)? {
                    stack.push(child);
                }
            }
        }
        Ok(())
    }

    /// Whether folder `rel` is one the walk would list (else it is noted as skipped):
    /// not ignored, not a repository of its own (which in a `fresh` folder the walk
    /// records as git does: `Repository`).
    pub(super) fn follow(
        &mut self,
        repo: &Repository,
        rel: &[u8],
        fresh: bool,
    ) -> Result<bool, Fallback> {
        let ignored = repo.is_path_ignored(path_of(rel)).map_err(|e| {
            Fallback::Unwatched(format!("cannot read the ignore rules: {}", e.message()))
        })?;
        if ignored {
            self.skipped.push(rel.to_vec());
            return Ok(false);
        }
        if self.root.join(path_of(rel)).join(".git").exists() {
            if fresh {
                return Err(Fallback::Repository);
            }
            self.skipped.push(rel.to_vec());
            return Ok(false);
        }
        Ok(true)
    }

    /// `Ok` when `path`, on device `dev`, is on a local file system; with whether its
    /// folders' link counts count their subfolders.
    fn local(&mut self, path: &Path, dev: u64) -> Result<bool, Fallback> {
        if let Some(counts) = self.devices.get(&dev) {
            return Ok(*counts);
        }
        let fs = nix::sys::statfs::statfs(path).map_err(|e| {
            Fallback::Unwatched(format!(
                "cannot tell which file system {} is on: {e}",
                path.display()
            ))
        })?;
        let kind = fs.filesystem_type().0;
        if !u32::try_from(kind).is_ok_and(|k| LOCAL.contains(&k)) {
            return Err(Fallback::Unwatched(format!(
                "{} is on a file system (type {kind:#x}) that may change without this kernel seeing it (network, FUSE)",
                path.display()
            )));
        }
        let counts = u32::try_from(kind).is_ok_and(|k| COUNTS_SUBFOLDERS.contains(&k));
        self.devices.insert(dev, counts);
        Ok(counts)
    }
}

/// Half the user's inotify watch limit, leaving the rest to their editor and tools.
fn limit() -> usize {
    std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .map_or(LIMIT_UNKNOWN, |n| n / 2)
}

/// The files outside the watched folders whose change changes what is ignored or how
/// files are read: the repository's `info/exclude`, `info/attributes` and config, git's
/// global and system config, the global excludes and attributes files, and the
/// `.gitignore` and `.gitattributes` of the folders above the workdir.
fn rule_files(opened: &Opened, workdir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in [opened.repo.path(), opened.repo.commondir()] {
        out.push(dir.join("config"));
        out.push(dir.join("config.worktree"));
        out.push(dir.join("info/exclude"));
        out.push(dir.join("info/attributes"));
    }
    out.extend(
        [
            git2::Config::find_global(),
            git2::Config::find_xdg(),
            git2::Config::find_system(),
        ]
        .into_iter()
        .flatten(),
    );
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|x| !x.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")));
    if let Some(x) = xdg {
        out.push(x.join("git/ignore"));
        out.push(x.join("git/attributes"));
    }
    if let Ok(cfg) = opened.repo.config() {
        for key in ["core.excludesFile", "core.attributesFile"] {
            if let Ok(p) = cfg.get_path(key) {
                out.push(p);
            }
        }
    }
    let mut above = workdir.parent();
    while let Some(dir) = above.filter(|d| d.starts_with(&opened.root)) {
        out.push(dir.join(".gitignore"));
        out.push(dir.join(".gitattributes"));
        above = dir.parent();
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_changes_with_the_file_and_is_none_when_it_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".gitignore");
        assert_eq!(stamp(&p), None);
        std::fs::write(&p, "a\n").unwrap();
        let first = stamp(&p);
        assert!(first.is_some());
        std::fs::write(&p, "ab\n").unwrap();
        assert_ne!(stamp(&p), first, "the size changed");
    }

    #[test]
    fn the_limit_leaves_half_the_watches_to_others() {
        let l = limit();
        assert!(l >= 1, "{l}");
        if let Some(max) = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
        {
            assert_eq!(l, max / 2);
        }
    }
}
