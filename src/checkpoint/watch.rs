//! A change watcher over a task's workdir (inotify), so that the snapshot of a turn that
//! ran a command need not walk the work tree: the previous checkpoint's tree is edited at
//! the paths that changed (`watch/edit.rs`), as `known.rs` does for `write_file` turns.
//!
//! One watch per folder the walk would list (`watch/scan.rs`: not ignored, not a
//! repository of its own), set up before the walk of the first snapshot it serves, so
//! every change after that walk began is an event. Events are read only when a snapshot
//! is taken: the kernel queues them during the system call that made the change, so
//! once a command has exited, reading the descriptor until it is empty sees all of its
//! changes. A folder created meanwhile is watched and listed then, everything in it
//! taken as changed. Events accumulate across `write_file` turns (whose snapshots edit
//! the tree at the written paths), so the set always covers every path changed since
//! the last snapshot the watcher served.
//!
//! It never guesses. Whenever it cannot be sure it saw every change — the event queue
//! overflowed, ignore or attribute rules or git's config changed, a watched folder was
//! moved or unmounted, a watch could not be added, a repository appeared inside, the
//! previous snapshot left files out, the index holds entries a walk does not judge —
//! the snapshot walks exactly as it would without a watcher, and first sets the watches
//! up again when they may no longer cover the work tree. Outside its reach, as outside
//! the walk's: a process still writing after the turn. Within the walk's but not its:
//! writes through a shared memory map after the file was closed, and writes through a
//! hard link from outside the workdir.

mod edit;
mod scan;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use git2::Repository;
use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, Inotify, InotifyEvent, WatchDescriptor};

use super::repo::{self, Opened};
use super::snapshot::{self, Snapshot};
use super::{Caps, CheckpointError};

/// Why a snapshot given a watcher walked the work tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// The watches were set up after the task's previous snapshot (the baseline is the
    /// first they serve): there is nothing yet to edit.
    Unsynced,
    /// Not watching: inotify could not be set up, or gave up (the reason names the fix
    /// where there is one).
    Unwatched(String),
    /// The kernel's event queue overflowed (`IN_Q_OVERFLOW`): events were lost.
    Overflow,
    /// Which paths are ignored may have changed: a `.gitignore` or `.gitattributes`,
    /// `info/exclude`, or a git config file changed.
    Rules,
    /// A watched folder was moved or unmounted, or the workdir itself deleted or moved.
    Moved,
    /// A repository was created or removed inside the workdir (a `.git` appeared or
    /// vanished), which the walk records as git does.
    Repository,
    /// The previous snapshot left files out (size caps): the walk weighs them again.
    LeftOut,
    /// The edit could not be exact (why).
    Declined(&'static str),
}

impl Fallback {
    /// Whether the watches may no longer cover the work tree: they are set up again
    /// before the walk.
    fn rewatch(&self) -> bool {
        match self {
            Self::Unwatched(_) | Self::Overflow | Self::Rules | Self::Moved | Self::Repository => {
                true
            }
            Self::Unsynced | Self::LeftOut | Self::Declined(_) => false,
        }
    }
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unsynced => f.write_str("the watches are newer than the previous checkpoint"),
            Self::Unwatched(why) => write!(f, "changes are not watched: {why}"),
            Self::Overflow => f.write_str("the kernel's event queue overflowed"),
            Self::Rules => f.write_str("ignore rules or git's config changed"),
            Self::Moved => f.write_str("a watched folder was moved, deleted or unmounted"),
            Self::Repository => f.write_str("a repository was created or removed inside"),
            Self::LeftOut => f.write_str("the previous checkpoint left files out"),
            Self::Declined(why) => f.write_str(why),
        }
    }
}

/// Which way a snapshot given a watcher was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// The previous checkpoint's tree was edited at the `paths` the watcher saw change.
    Watched { paths: usize },
    /// The work tree was walked, as without a watcher, for this reason.
    Walked(Fallback),
}

/// A change watcher over one workdir, serving one task's snapshots
/// ([`super::Checkpoints::watch`]). Dropping it closes its inotify descriptor.
pub struct Watcher {
    workdir: PathBuf,
    state: State,
}

enum State {
    /// Not watching: why.
    Off(String),
    On(Box<Live>),
}

/// The watches and what they saw.
struct Live {
    fd: Inotify,
    /// The repository's work tree, and the workdir relative to it (`a/b`, or empty).
    root: PathBuf,
    prefix: Vec<u8>,
    /// The workdir's own watch.
    top: Option<WatchDescriptor>,
    /// Watched folders, relative to `root` (`/`-separated, empty for the root).
    dirs: HashMap<WatchDescriptor, Vec<u8>>,
    /// Watches of folders deleted since: the kernel's last word on them (`IN_IGNORED`)
    /// is expected.
    dead: HashSet<WatchDescriptor>,
    /// Folders not watched because they are ignored or a repository of their own: the
    /// edit declines when the previous tree holds files under one (the walk judges
    /// those as tracked).
    skipped: Vec<Vec<u8>>,
    /// File systems (`st_dev`) found local, and whether a folder's link count there is
    /// 2 plus its subfolders (so a folder with 2 has none and need not be listed).
    devices: HashMap<u64, bool>,
    /// At most this many watches (half the user's `fs.inotify.max_user_watches`).
    limit: usize,
    /// The rule files outside the watched folders (`info/exclude`, git's config files,
    /// the global excludes, `.gitignore`s above the workdir) as they were.
    rules: Vec<(PathBuf, Option<scan::Stamp>)>,
    /// Paths (relative to `root`) changed since the last snapshot served.
    dirty: BTreeSet<Vec<u8>>,
    /// Why the next snapshot must walk though the watches still hold (`None`: it need
    /// not).
    behind: Option<Fallback>,
}

impl Watcher {
    /// Starts watching canonical `workdir`, whose repository is `opened`.
    pub(super) fn start(opened: &Opened, workdir: &Path) -> Self {
        let state = match Live::start(opened) {
            Ok(live) => State::On(Box::new(live)),
            Err(why) => State::Off(why),
        };
        Self {
            workdir: workdir.to_path_buf(),
            state,
        }
    }

    /// A watcher that does not watch, for `why`.
    pub(super) fn off_because(workdir: &Path, why: String) -> Self {
        Self {
            workdir: workdir.to_path_buf(),
            state: State::Off(why),
        }
    }

    /// Why it is not watching, when it is not.
    pub fn off(&self) -> Option<&str> {
        match &self.state {
            State::Off(why) => Some(why),
            State::On(_) => None,
        }
    }

    /// How many folders it watches.
    pub fn folders(&self) -> usize {
        match &self.state {
            State::Off(_) => 0,
            State::On(live) => live.dirs.len(),
        }
    }

    /// Reads what happened since the last snapshot: `Ok` when the tree can be edited.
    fn ready(&mut self, opened: &Opened, workdir: &Path) -> Result<&mut Live, Fallback> {
        let live = match &mut self.state {
            State::Off(why) => return Err(Fallback::Unwatched(why.clone())),
            State::On(live) => live,
        };
        if self.workdir != workdir
            || live.root != opened.root
            || live.prefix != opened.prefix.as_bytes()
        {
            return Err(Fallback::Moved);
        }
        live.drain(&opened.repo)?;
        if live.rules.iter().any(|(p, s)| scan::stamp(p) != *s) {
            return Err(Fallback::Rules);
        }
        match &live.behind {
            Some(why) => Err(why.clone()),
            None => Ok(live),
        }
    }
}

/// Snapshots canonical `workdir` as checkpoint `task_id.turn` with `watcher`: the
/// previous tree edited at the paths it saw change, or a walk (`Route` says which).
pub(super) fn take(
    home: &Path,
    task_id: &str,
    turn: u32,
    workdir: &Path,
    caps: Caps,
    watcher: &mut Watcher,
) -> Result<(Snapshot, Route), CheckpointError> {
    let opened = repo::open_for(home, workdir)?;
    let why = match watcher.ready(&opened, workdir) {
        Ok(live) => match edit::take(home, &opened, task_id, turn, caps, live)? {
            Ok(s) => {
                let paths = live.dirty.len();
                live.dirty.clear();
                live.behind = (!s.left_out.is_empty()).then_some(Fallback::LeftOut);
                return Ok((s, Route::Watched { paths }));
            }
            Err(why) => Fallback::Declined(why),
        },
        Err(why) => why,
    };
    // The walk takes everything seen so far; the watches, set up again first if they
    // may not cover the work tree, see what comes after it began.
    if matches!(watcher.state, State::On(_)) && why.rewatch() {
        watcher.state = State::Off(String::new()); // the old descriptor closes first
        *watcher = Watcher::start(&opened, workdir);
    } else if let State::On(live) = &mut watcher.state {
        live.dirty.clear();
        live.behind = Some(Fallback::Unsynced);
    }
    drop(opened);
    let (s, unjudged) = snapshot::walked(home, task_id, turn, workdir, caps)?;
    if unjudged && matches!(watcher.state, State::On(_)) {
        watcher.state = State::Off(
            "the index marks files assume-unchanged or skip-worktree, which only a walk leaves alone"
                .to_owned(),
        );
    } else if let State::On(live) = &mut watcher.state {
        live.behind = (!s.left_out.is_empty()).then_some(Fallback::LeftOut);
    }
    Ok((s, Route::Walked(why)))
}

/// The events a folder's watch asks for: every change to its entries' names, content
/// and metadata (`IN_CLOSE_WRITE` too, for writes through a memory map), and its own
/// deletion or move. Symlinks are not followed; only folders are watched.
fn mask() -> AddWatchFlags {
    AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_ONLYDIR
        | AddWatchFlags::IN_DONT_FOLLOW
}

/// `dir/name`, or `name` at the root.
fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    p.extend_from_slice(dir);
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

impl Live {
    /// Reads every queued event (the descriptor does not block).
    fn drain(&mut self, repo: &Repository) -> Result<(), Fallback> {
        loop {
            let events = match self.fd.read_events() {
                Ok(events) => events,
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    return Err(Fallback::Unwatched(format!(
                        "cannot read the watcher's events: {e}"
                    )));
                }
            };
            for e in events {
                self.event(e, repo)?;
            }
        }
    }

    fn event(&mut self, e: InotifyEvent, repo: &Repository) -> Result<(), Fallback> {
        let m = e.mask;
        if m.contains(AddWatchFlags::IN_Q_OVERFLOW) {
            return Err(Fallback::Overflow);
        }
        let Some(dir) = self.dirs.get(&e.wd).cloned() else {
            // A folder deleted earlier: its watch's removal (`IN_IGNORED`) follows.
            if self.dead.contains(&e.wd) {
                return Ok(());
            }
            return Err(Fallback::Moved);
        };
        if m.intersects(
            AddWatchFlags::IN_MOVE_SELF | AddWatchFlags::IN_UNMOUNT | AddWatchFlags::IN_IGNORED,
        ) {
            return Err(Fallback::Moved);
        }
        if m.contains(AddWatchFlags::IN_DELETE_SELF) {
            if Some(e.wd) == self.top {
                return Err(Fallback::Moved);
            }
            // Its entries' deletions came before; its parent names it too.
            self.dirs.remove(&e.wd);
            self.dead.insert(e.wd);
            self.dirty.insert(dir);
            return Ok(());
        }
        // Without a name: the folder's own metadata, which git does not record.
        let Some(name) = e.name else {
            return Ok(());
        };
        let name = name.as_bytes();
        let names = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO;
        match name {
            // The repository's own git directory (at the root): its metadata is not
            // content; its coming or going is a different repository.
            b".git" if dir.is_empty() && !m.intersects(names) => return Ok(()),
            b".git" => return Err(Fallback::Repository),
            b".gitignore" | b".gitattributes" if m != AddWatchFlags::IN_ATTRIB => {
                return Err(Fallback::Rules);
            }
            _ => {}
        }
        let rel = join(&dir, name);
        self.dirty.insert(rel.clone());
        if m.contains(AddWatchFlags::IN_ISDIR)
            && m.intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO)
            && self.follow(repo, &rel, true)?
        {
            self.watch_tree(repo, rel, true)?;
        }
        Ok(())
    }
}

/// The path of `rel` (relative to a work tree) as a `Path`.
fn path_of(rel: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_with_one_slash_and_none_at_the_root() {
        assert_eq!(join(b"", b"a"), b"a");
        assert_eq!(join(b"a/b", b"c"), b"a/b/c");
        assert_eq!(path_of(b"a/\xff"), Path::new(OsStr::from_bytes(b"a/\xff")));
    }

    fn dirty(live: &Live) -> Vec<&[u8]> {
        live.dirty.iter().map(Vec::as_slice).collect()
    }

    #[test]
    fn events_name_the_changed_paths_and_new_folders_are_watched_and_listed() {
        use std::fs;
        let home = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let w = work.path().canonicalize().unwrap();
        fs::create_dir_all(w.join("src")).unwrap();
        fs::create_dir_all(w.join("build")).unwrap();
        fs::write(w.join("src/a.rs"), "a").unwrap();
        fs::write(w.join(".gitignore"), "build/\n").unwrap();
        let opened = repo::open_for(home.path(), &w).unwrap();
        let mut live = Live::start(&opened).unwrap();
        assert_eq!(
            live.dirs.len(),
            2,
            "the workdir and src/; build/ is ignored"
        );
        assert_eq!(live.skipped, vec![b"build".to_vec()]);

        fs::write(w.join("src/a.rs"), "changed").unwrap();
        fs::create_dir_all(w.join("n/m")).unwrap();
        fs::write(w.join("n/m/f"), "new").unwrap();
        fs::write(w.join("build/x.o"), "in an ignored folder").unwrap();
        live.drain(&opened.repo).unwrap();
        // n/m/f was written before n/ was watched: found by listing it.
        assert_eq!(dirty(&live), vec![&b"n"[..], b"n/m", b"n/m/f", b"src/a.rs"]);
        assert_eq!(live.dirs.len(), 4);

        live.dirty.clear();
        fs::write(w.join("n/m/g"), "seen by n/m's own watch").unwrap();
        fs::remove_dir_all(w.join("n")).unwrap();
        live.drain(&opened.repo).unwrap();
        assert_eq!(dirty(&live), vec![&b"n"[..], b"n/m", b"n/m/f", b"n/m/g"]);
        assert_eq!(live.dirs.len(), 2, "deleted folders' watches are gone");

        fs::write(w.join(".gitignore"), "build/\n*.o\n").unwrap();
        assert_eq!(live.drain(&opened.repo), Err(Fallback::Rules));
        fs::rename(w.join("src"), w.join("source")).unwrap();
        assert_eq!(live.drain(&opened.repo), Err(Fallback::Moved));
    }

    #[test]
    fn only_reasons_that_doubt_the_watches_set_them_up_again() {
        for f in [
            Fallback::Overflow,
            Fallback::Rules,
            Fallback::Moved,
            Fallback::Repository,
            Fallback::Unwatched("x".into()),
        ] {
            assert!(f.rewatch(), "{f}");
        }
        for f in [
            Fallback::Unsynced,
            Fallback::LeftOut,
            Fallback::Declined("x"),
        ] {
            assert!(!f.rewatch(), "{f}");
        }
    }
}
