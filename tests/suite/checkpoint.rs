//! Checkpoints against real git repositories in temp dirs (driven through the library
//! and compared with the real `git` binary): a dirty worktree with untracked and ignored
//! files, a branch, a detached HEAD, a repository with no commits, a workdir outside git;
//! the user's status, log and stash byte-identical before and after; edits after the
//! task refused; size caps; bad ids; deleted and read-only workdirs.

mod cli;
mod known;
mod repos;
mod walk;
mod watch;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use az_os::checkpoint::{Caps, Checkpoints};

/// Runs `git` in `dir` with a fixed identity and no user config; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What the user sees of their repository: none of it may change.
pub fn user_view(dir: &Path) -> Vec<String> {
    let dot_git = dir.join(".git");
    vec![
        git(
            dir,
            &[
                "status",
                "--porcelain",
                "--untracked-files=all",
                "--ignored",
            ],
        ),
        git(
            dir,
            &[
                "log",
                "--exclude=refs/az-os/checkpoints/*",
                "--all",
                "--oneline",
                "--decorate",
            ],
        ),
        git(dir, &["stash", "list"]),
        fs::read_to_string(dot_git.join("HEAD")).unwrap(),
        // What the index holds (its stat cache may be refreshed by `git status` itself).
        git(dir, &["ls-files", "--stage"]),
        fs::read_to_string(dot_git.join("config")).unwrap(),
    ]
}

pub struct Env {
    pub home: tempfile::TempDir,
    pub work: tempfile::TempDir,
    pub store: Checkpoints,
}

impl Env {
    pub fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let store = Checkpoints::new(home.path().join("checkpoints"));
        Self { home, work, store }
    }

    pub fn work(&self) -> PathBuf {
        self.work.path().canonicalize().unwrap()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.work().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> Option<String> {
        fs::read_to_string(self.work().join(rel)).ok()
    }
}

pub const CAPS: Caps = Caps {
    file_bytes: 20 << 20,
    task_bytes: 200 << 20,
    total_bytes: 2 << 30,
};
