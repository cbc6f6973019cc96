//! `[checkpoints]` in `config.toml`: whether turns that change files are snapshotted,
//! and the size caps that keep snapshots from filling the disk. Only the settings live
//! here; the snapshots are `crate::checkpoint`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointsConfig {
    /// Snapshot the workdir before a task's first change and after each turn that
    /// changed files.
    pub enabled: bool,
    /// Files larger than this (MB) are left out of snapshots, with a notice naming them.
    pub max_file_mb: u64,
    /// Most new content (MB) one task's snapshots may add; later changes are left out.
    pub max_task_mb: u64,
    /// Most content (MB) all tasks' snapshots may hold together; `az-os checkpoint
    /// prune` frees space.
    pub max_total_mb: u64,
    /// A command turn's snapshot edits the previous one at the paths an inotify watcher
    /// saw change, instead of walking the workdir, when the workdir's index holds at
    /// least this many files. Fewer are cheaper to walk than a watcher is to close
    /// (the kernel waits a grace period, 8–16 ms here). 0 always watches.
    pub watch_min_files: u64,
}

impl Default for CheckpointsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_file_mb: 20,
            max_task_mb: 200,
            max_total_mb: 2048,
            watch_min_files: 2500,
        }
    }
}

impl CheckpointsConfig {
    /// The caps in bytes.
    pub fn caps(&self) -> crate::checkpoint::Caps {
        const MB: u64 = 1024 * 1024;
        crate::checkpoint::Caps {
            file_bytes: self.max_file_mb.saturating_mul(MB),
            task_bytes: self.max_task_mb.saturating_mul(MB),
            total_bytes: self.max_total_mb.saturating_mul(MB),
        }
    }

    /// The first invalid setting as (key, problem, fix).
    pub fn invalid(&self) -> Option<(String, String, &'static str)> {
        if self.max_file_mb == 0 {
            return Some((
                "checkpoints.max_file_mb".into(),
                "0 would leave every file out".into(),
                "use at least 1 MB, or set checkpoints.enabled = false",
            ));
        }
        if self.max_task_mb < self.max_file_mb {
            return Some((
                "checkpoints.max_task_mb".into(),
                format!(
                    "{} is below checkpoints.max_file_mb ({})",
                    self.max_task_mb, self.max_file_mb
                ),
                "make the per-task cap at least the per-file cap",
            ));
        }
        if self.max_total_mb < self.max_task_mb {
            return Some((
                "checkpoints.max_total_mb".into(),
                format!(
                    "{} is below checkpoints.max_task_mb ({})",
                    self.max_total_mb, self.max_task_mb
                ),
                "make the total cap at least the per-task cap",
            ));
        }
        None
    }
}
