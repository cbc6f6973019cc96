//! Checkpoints of a task's files: snapshots of its workdir taken by the engine before
//! the task's first change (turn 0, the baseline) and after each turn that changed
//! files, so a user can see what a task changed and undo it exactly.
//!
//! In a git work tree the snapshots are commits in the user's own object database on
//! `refs/az-os/checkpoints/{task}`, built from a private index under the home; the
//! user's HEAD, branches, index, stash, config and files are never written. Outside
//! git they go to a private bare repository, `checkpoints/repos/<hash>.git`. Task state
//! for resume (`checkpoints/{task}.json`) is not this module's.
//!
//! Everything here is blocking (libgit2): the engine calls it on `spawn_blocking`,
//! the command line directly. Nothing here panics; every failure is a
//! [`CheckpointError`] whose message names the fix.

mod chain;
mod error;
mod id;
mod inspect;
mod interrupted;
mod known;
mod prune;
mod registry;
mod repo;
mod restore;
mod snapshot;
mod walk;
mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use chain::Checkpoint;
pub use error::CheckpointError;
pub use id::{CheckpointId, Target};
pub use inspect::{Change, FileChange};
pub use interrupted::Undone;
pub use restore::Restored;
pub use snapshot::{LeftOut, Outcome, Snapshot};
pub use watch::{Fallback, Route, Watcher};

/// Size caps in bytes (`[checkpoints]` in config.toml, in MB there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Files larger than this are left out.
    pub file_bytes: u64,
    /// New content one task's snapshots may add after its baseline.
    pub task_bytes: u64,
    /// Content all tasks' snapshots may hold together.
    pub total_bytes: u64,
}

/// One checkpoint in detail.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Shown {
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    pub workdir: PathBuf,
    /// What this turn changed since the previous checkpoint (for turn 0, nothing: it
    /// is the state before the task).
    pub files: Vec<FileChange>,
}

/// What `prune` freed.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Pruned {
    pub tasks: Vec<String>,
    /// Bytes removed from private repositories (objects in the user's repositories are
    /// only made unreachable: their `git gc` reclaims them).
    pub bytes_freed: u64,
    /// Folders of files a resume had set aside (`interrupted/`), removed.
    pub set_aside_removed: usize,
}

/// The checkpoints kept under one home (`HOME/checkpoints`).
#[derive(Clone, Debug)]
pub struct Checkpoints {
    root: PathBuf,
}

/// One lock per workdir: snapshots and restores of the same workdir take turns
/// (its private index is one file).
fn workdir_lock(workdir: &Path) -> Arc<Mutex<()>> {
    static LOCKS: std::sync::LazyLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> =
        std::sync::LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut map = LOCKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.entry(workdir.to_path_buf()).or_default().clone()
}

impl Checkpoints {
    /// The checkpoints under `home_checkpoints` (`Home::checkpoints_dir`).
    pub fn new(home_checkpoints: impl Into<PathBuf>) -> Self {
        Self {
            root: home_checkpoints.into(),
        }
    }

    /// The folder they live in (`HOME/checkpoints`), which also holds the tasks' saved
    /// loop states.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Snapshots `workdir` as checkpoint `task_id.turn`; `Unchanged` (no commit) when
    /// nothing changed since the task's previous checkpoint.
    pub fn snapshot(
        &self,
        task_id: &str,
        turn: u32,
        workdir: &Path,
        caps: Caps,
    ) -> Result<Snapshot, CheckpointError> {
        let workdir = repo::canonical(workdir)?;
        let lock = workdir_lock(&workdir);
        let _held = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        snapshot::take(&self.root, task_id, turn, &workdir, caps)
    }

    /// Like [`Self::snapshot`] for a turn whose only changes to files were writes of
    /// `paths` (relative to `workdir`): the previous checkpoint's tree is edited at those
    /// paths, without walking the work tree. Falls back to the walk when that cannot be
    /// exact (see `known.rs`). Changes made meanwhile to other files are not captured.
    pub fn snapshot_known(
        &self,
        task_id: &str,
        turn: u32,
        workdir: &Path,
        caps: Caps,
        paths: &[PathBuf],
    ) -> Result<Snapshot, CheckpointError> {
        let workdir = repo::canonical(workdir)?;
        let lock = workdir_lock(&workdir);
        let _held = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match known::take(&self.root, task_id, turn, &workdir, caps, paths)? {
            Some(s) => Ok(s),
            None => snapshot::take(&self.root, task_id, turn, &workdir, caps),
        }
    }

    /// Whether a change watcher is worth starting for `workdir`: its index (the
    /// private one a snapshot of it left, else the user's `.git/index`) holds at least
    /// `min_files` entries. An unknown count (no snapshot yet outside git) is not.
    pub fn worth_watching(&self, workdir: &Path, min_files: u64) -> bool {
        if min_files == 0 {
            return true;
        }
        let Ok(workdir) = repo::canonical(workdir) else {
            return false;
        };
        let private = self.root.join("index").join(repo::workdir_hash(&workdir));
        let count = repo::index_entries(&private).or_else(|| {
            workdir
                .ancestors()
                .map(|d| d.join(".git"))
                .find(|g| g.exists())
                .and_then(|g| repo::index_entries(&g.join("index")))
        });
        count.is_some_and(|n| u64::from(n) >= min_files)
    }

    /// Starts a change watcher over `workdir` (inotify: one watch per folder a walk
    /// would list) for [`Self::snapshot_watched`]; call it before the first snapshot it
    /// is to serve (the baseline). It cannot fail: a watcher that could not be set up
    /// says why ([`Watcher::off`]), and the snapshots given it walk.
    pub fn watch(&self, workdir: &Path) -> Watcher {
        let workdir = match repo::canonical(workdir) {
            Ok(w) => w,
            Err(e) => return Watcher::off_because(workdir, e.to_string()),
        };
        let lock = workdir_lock(&workdir);
        let _held = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match repo::open_for(&self.root, &workdir) {
            Ok(opened) => Watcher::start(&opened, &workdir),
            Err(e) => Watcher::off_because(&workdir, e.to_string()),
        }
    }

    /// Like [`Self::snapshot`] for a turn that may have changed any file (it ran a
    /// command): when `watcher` served the task's previous snapshot and is sure it saw
    /// every change since, that checkpoint's tree is edited at the paths it saw change
    /// (no walk); else the work tree is walked as by [`Self::snapshot`]. The tree is the
    /// same either way; the [`Route`] says which was taken and why.
    pub fn snapshot_watched(
        &self,
        task_id: &str,
        turn: u32,
        workdir: &Path,
        caps: Caps,
        watcher: &mut Watcher,
    ) -> Result<(Snapshot, Route), CheckpointError> {
        let workdir = repo::canonical(workdir)?;
        let lock = workdir_lock(&workdir);
        let _held = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        watch::take(&self.root, task_id, turn, &workdir, caps, watcher)
    }

    /// Every task's checkpoints, or one task's, oldest first within a task. Listing all
    /// skips chains whose repository is gone or damaged (`list TASK` says why).
    pub fn list(&self, task_id: Option<&str>) -> Result<Vec<Checkpoint>, CheckpointError> {
        if let Some(t) = task_id {
            let e = self.entry(t)?;
            let opened = Self::open(&e, false)?;
            return chain::listed(&opened.repo, &e.task_id);
        }
        let mut out = Vec::new();
        for e in registry::all(&self.root)? {
            if let Ok(listed) =
                Self::open(&e, false).and_then(|o| chain::listed(&o.repo, &e.task_id))
            {
                out.extend(listed);
            }
        }
        Ok(out)
    }

    /// One checkpoint and what its turn changed.
    pub fn show(&self, id: &CheckpointId) -> Result<Shown, CheckpointError> {
        let e = self.entry(&id.task_id)?;
        let opened = Self::open(&e, false)?;
        let listed = chain::listed(&opened.repo, &id.task_id)?;
        let checkpoint = listed
            .into_iter()
            .find(|c| c.turn == id.turn)
            .ok_or_else(|| CheckpointError::UnknownId { id: id.to_string() })?;
        let files = self.changes(&Target::One(id.clone()))?;
        Ok(Shown {
            checkpoint,
            workdir: e.workdir,
            files,
        })
    }

    /// What a turn changed (vs the previous checkpoint), or a whole task (baseline vs
    /// last), file by file.
    pub fn changes(&self, target: &Target) -> Result<Vec<FileChange>, CheckpointError> {
        self.with_diff(target, |d| Ok(inspect::files(d)))
    }

    /// The same as a unified diff.
    pub fn diff(&self, target: &Target) -> Result<String, CheckpointError> {
        self.with_diff(target, inspect::patch)
    }

    /// One file's part of the diff (`None` when the target did not change it).
    pub fn file_diff(
        &self,
        target: &Target,
        path: &str,
    ) -> Result<Option<String>, CheckpointError> {
        self.with_diff(target, |d| inspect::file_patch(d, path))
    }

    /// Puts the workdir's files back as they were at checkpoint `id`. Refuses when the
    /// user changed, after the task's last checkpoint, a file this would overwrite,
    /// unless `force`.
    pub fn restore(&self, id: &CheckpointId, force: bool) -> Result<Restored, CheckpointError> {
        let e = self.entry(&id.task_id)?;
        let opened = Self::open(&e, true)?;
        let lock = workdir_lock(&e.workdir);
        let _held = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let commits = chain::commits(&opened.repo, &id.task_id)?;
        let git = |err: git2::Error| CheckpointError::git(&opened.git_dir, &err);
        let target = commits
            .iter()
            .find(|(t, _)| *t == id.turn)
            .ok_or_else(|| CheckpointError::UnknownId { id: id.to_string() })?
            .1
            .tree()
            .map_err(git)?;
        let last = commits
            .last()
            .ok_or_else(|| CheckpointError::UnknownId { id: id.to_string() })?
            .1
            .tree()
            .map_err(git)?;
        restore::apply(&opened, &target, &last, force)
    }

    /// Before interrupted task `task_id` resumes after `turn`: what changed since its
    /// last checkpoint at or before `turn` (what its interrupted turn had half done) is
    /// put back, each replaced file copied first to `interrupted/{task_id}/` here.
    /// `None` when the task has no checkpoint to go back to.
    pub fn undo_interrupted(
        &self,
        task_id: &str,
        turn: u32,
    ) -> Result<Option<(CheckpointId, Undone)>, CheckpointError> {
        if !self.has_task(task_id) {
            return Ok(None);
        }
        let e = self.entry(task_id)?;
        let opened = Self::open(&e, true)?;
        let lock = workdir_lock(&e.workdir);
        let _held = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let commits = chain::commits(&opened.repo, task_id)?;
        let Some((at_turn, at)) = commits.iter().rev().find(|(t, _)| *t <= turn) else {
            return Ok(None);
        };
        let backup = self
            .root
            .join("interrupted")
            .join(format!("{task_id}-{}", crate::util::ids::random_hex::<3>()));
        let undone = interrupted::undo(&opened, at, &backup)?;
        Ok(Some((CheckpointId::new(task_id, *at_turn), undone)))
    }

    /// Undoes all of task `task_id`'s changes: back to its baseline (its first
    /// checkpoint, turn 0).
    pub fn rollback(&self, task_id: &str, force: bool) -> Result<Restored, CheckpointError> {
        let first = self.first_turn(task_id)?;
        self.restore(&CheckpointId::new(task_id, first), force)
    }

    /// The files the user changed after the task's last checkpoint among those a
    /// rollback would put back (empty: rollback goes ahead without `--force`).
    pub fn edited_since_task(&self, task_id: &str) -> Result<Vec<String>, CheckpointError> {
        let e = self.entry(task_id)?;
        let opened = Self::open(&e, true)?;
        let commits = chain::commits(&opened.repo, task_id)?;
        let git = |err: git2::Error| CheckpointError::git(&opened.git_dir, &err);
        let (Some((_, first)), Some((_, last))) = (commits.first(), commits.last()) else {
            return Err(CheckpointError::UnknownId {
                id: task_id.to_owned(),
            });
        };
        restore::edited_since(
            &opened,
            &first.tree().map_err(git)?,
            &last.tree().map_err(git)?,
        )
    }

    /// Drops a task's whole chain, or one checkpoint of it.
    pub fn delete(&self, target: &Target) -> Result<(), CheckpointError> {
        let e = self.entry(target.task_id())?;
        match target {
            Target::Task(_) => {
                prune::delete_task(&self.root, &e)?;
                if e.private {
                    prune::gc_private(&self.root, &e.git_dir)?;
                }
                Ok(())
            }
            Target::One(id) => {
                let opened = Self::open(&e, false)?;
                prune::delete_one(&opened.repo, id)?;
                if chain::head(&opened.repo, &id.task_id)
                    .map_err(|err| CheckpointError::git(&opened.git_dir, &err))?
                    .is_none()
                {
                    registry::remove(&self.root, &id.task_id)?;
                }
                Ok(())
            }
        }
    }

    /// Drops chains whose newest checkpoint is older than `older_than_days`, then the
    /// oldest chains until all together hold at most `max_bytes`; then garbage-collects
    /// the private repositories.
    pub fn prune(
        &self,
        older_than_days: Option<u32>,
        max_bytes: Option<u64>,
        now_unix: i64,
    ) -> Result<Pruned, CheckpointError> {
        let mut out = Pruned::default();
        // (newest checkpoint time, entry), oldest first.
        let mut chains: Vec<(i64, registry::Entry)> = Vec::new();
        for e in registry::all(&self.root)? {
            let newest = Self::open(&e, false)
                .ok()
                .and_then(|o| chain::listed(&o.repo, &e.task_id).ok())
                .and_then(|l| l.last().map(|c| c.created_at))
                .unwrap_or(0);
            chains.push((newest, e));
        }
        chains.sort_by_key(|(t, e)| (*t, e.task_id.clone()));
        let mut total: u64 = chains.iter().map(|(_, e)| e.bytes).sum();
        let cutoff = older_than_days.map(|d| now_unix - i64::from(d) * 86_400);
        let mut touched = std::collections::BTreeSet::new();
        for (newest, e) in &chains {
            let too_old = cutoff.is_some_and(|c| *newest < c);
            let too_big = max_bytes.is_some_and(|m| total > m);
            if !too_old && !too_big {
                continue;
            }
            prune::delete_task(&self.root, e)?;
            total = total.saturating_sub(e.bytes);
            if e.private {
                touched.insert(e.git_dir.clone());
            }
            out.tasks.push(e.task_id.clone());
        }
        // What resumes set aside (`interrupted/{task}-…`): with the task's chain, or by age.
        if let Ok(rd) = std::fs::read_dir(self.root.join("interrupted")) {
            for d in rd.flatten() {
                let name = d.file_name().to_string_lossy().into_owned();
                let task = name.split('-').next().unwrap_or_default();
                let old = cutoff.is_some_and(|c| {
                    d.metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .is_some_and(|t| i64::try_from(t.as_secs()).unwrap_or(i64::MAX) < c)
                });
                if (old || out.tasks.iter().any(|t| t == task))
                    && std::fs::remove_dir_all(d.path()).is_ok()
                {
                    out.set_aside_removed += 1;
                }
            }
        }
        // Every private repository, not only those just touched: earlier deletes may
        // have left unreachable objects.
        let repos = self.root.join("repos");
        if let Ok(rd) = std::fs::read_dir(&repos) {
            for d in rd.flatten() {
                touched.insert(d.path());
            }
        }
        for git_dir in touched {
            if git_dir.exists() {
                out.bytes_freed += prune::gc_private(&self.root, &git_dir)?;
            }
        }
        Ok(out)
    }

    /// The task a command line names: its id, or a unique prefix of one.
    pub fn resolve_task(&self, given: &str) -> Result<String, CheckpointError> {
        let given = given.trim();
        if !id::is_task_id(given) {
            return Err(CheckpointError::BadId {
                given: given.to_owned(),
            });
        }
        if self.has_task(given) {
            return Ok(given.to_owned());
        }
        let matches: Vec<String> = registry::all(&self.root)?
            .into_iter()
            .map(|e| e.task_id)
            .filter(|t| t.starts_with(given))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(CheckpointError::UnknownId {
                id: given.to_owned(),
            }),
            _ => Err(CheckpointError::BadId {
                given: format!(
                    "{given} (the prefix of {} tasks; give more digits)",
                    matches.len()
                ),
            }),
        }
    }

    /// A command line's TASK or TASK.TURN with the task's prefix resolved.
    pub fn resolve(&self, given: &str) -> Result<Target, CheckpointError> {
        Ok(match Target::parse(given)? {
            Target::Task(t) => Target::Task(self.resolve_task(&t)?),
            Target::One(id) => {
                Target::One(CheckpointId::new(&self.resolve_task(&id.task_id)?, id.turn))
            }
        })
    }

    /// Whether task `task_id` has any checkpoint.
    pub fn has_task(&self, task_id: &str) -> bool {
        matches!(registry::load(&self.root, task_id), Ok(Some(_)))
    }

    fn first_turn(&self, task_id: &str) -> Result<u32, CheckpointError> {
        let e = self.entry(task_id)?;
        let opened = Self::open(&e, false)?;
        chain::commits(&opened.repo, task_id)?
            .first()
            .map(|(t, _)| *t)
            .ok_or_else(|| CheckpointError::UnknownId {
                id: task_id.to_owned(),
            })
    }

    fn entry(&self, task_id: &str) -> Result<registry::Entry, CheckpointError> {
        if !id::is_task_id(task_id) {
            return Err(CheckpointError::BadId {
                given: task_id.to_owned(),
            });
        }
        registry::load(&self.root, task_id)?.ok_or_else(|| CheckpointError::UnknownId {
            id: task_id.to_owned(),
        })
    }

    /// Opens an entry's repository; with `need_workdir`, the workdir must exist.
    fn open(e: &registry::Entry, need_workdir: bool) -> Result<repo::Opened, CheckpointError> {
        match repo::open_recorded(&e.git_dir, &e.workdir, e.private) {
            Ok(o) => Ok(o),
            Err(CheckpointError::WorkdirGone { .. }) if !need_workdir && e.private => {
                let repo = git2::Repository::open_bare(&e.git_dir).map_err(|err| {
                    CheckpointError::Corrupt {
                        path: e.git_dir.clone(),
                        detail: err.message().to_owned(),
                    }
                })?;
                Ok(repo::Opened {
                    repo,
                    root: e.workdir.clone(),
                    prefix: String::new(),
                    private: true,
                    git_dir: e.git_dir.clone(),
                })
            }
            Err(err) => Err(err),
        }
    }

    /// Runs `f` on the diff `target` names.
    fn with_diff<T>(
        &self,
        target: &Target,
        f: impl FnOnce(&git2::Diff<'_>) -> Result<T, CheckpointError>,
    ) -> Result<T, CheckpointError> {
        let e = self.entry(target.task_id())?;
        let opened = Self::open(&e, false)?;
        let commits = chain::commits(&opened.repo, target.task_id())?;
        let git = |err: git2::Error| CheckpointError::git(&opened.git_dir, &err);
        let unknown = || CheckpointError::UnknownId {
            id: match target {
                Target::Task(t) => t.clone(),
                Target::One(id) => id.to_string(),
            },
        };
        let (old, new) = match target {
            Target::Task(_) => {
                let first = commits.first().ok_or_else(unknown)?;
                let last = commits.last().ok_or_else(unknown)?;
                (first.1.tree().map_err(git)?, last.1.tree().map_err(git)?)
            }
            Target::One(id) => {
                let pos = commits
                    .iter()
                    .position(|(t, _)| *t == id.turn)
                    .ok_or_else(unknown)?;
                let new = commits[pos].1.tree().map_err(git)?;
                // The baseline has no turn before it: it changed nothing.
                let old = match pos.checked_sub(1) {
                    Some(p) => commits[p].1.tree().map_err(git)?,
                    None => new.clone(),
                };
                (old, new)
            }
        };
        let d = inspect::diff(&opened.repo, Some(&old), &new)?;
        f(&d)
    }
}
