//! The walk of a command turn against the real `git`: after every turn, the checkpoint's
//! tree is the tree `git add -A && git write-tree` builds from a fresh index over the
//! same files (ignore rules, executable bits, symlinks, files that became folders and
//! folders that became files), in a git repository and outside one; and a file rewritten
//! with the same size right after a snapshot (git's racy case) is still seen.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use super::{CAPS, Env, git};

const TASK: &str = "a1b2c3d4e5f6";

/// The git directory that holds the checkpoints of `env`'s workdir.
fn git_dir(env: &Env) -> std::path::PathBuf {
    if env.work().join(".git").exists() {
        return env.work().join(".git");
    }
    let repos = env.home.path().join("checkpoints/repos");
    fs::read_dir(&repos)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

/// The tree real git builds for the work tree, from a fresh index (objects go to the
/// same repository; the user's index is not used).
fn git_tree(env: &Env, scratch: &Path) -> String {
    let index = scratch.join("oracle-index");
    let _ = fs::remove_file(&index);
    let run = |args: &[&str]| {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(git_dir(env))
            .arg("--work-tree")
            .arg(env.work())
            .args(args)
            .current_dir(env.work())
            .env("GIT_INDEX_FILE", &index)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["add", "-A", "."]);
    run(&["write-tree"]).trim().to_owned()
}

fn checkpoint_tree(env: &Env) -> String {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir(env))
        .args([
            "rev-parse",
            &format!("refs/az-os/checkpoints/{TASK}^{{tree}}"),
        ])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn chmod(env: &Env, rel: &str, mode: u32) {
    fs::set_permissions(env.work().join(rel), fs::Permissions::from_mode(mode)).unwrap();
}

/// Turn after turn of changes a command could make; each is checked against git.
/// One turn's changes to the work tree.
type Turn = Box<dyn Fn(&Env)>;

fn turns() -> Vec<Turn> {
    vec![
        Box::new(|e: &Env| {
            e.write(".gitignore", "*.log\nbuild/\n");
            e.write("a.txt", "one\n");
            e.write("b.txt", "two\n");
            e.write("src/lib.rs", "pub fn f() {}\n");
            e.write("src/deep/er/x.rs", "x\n");
            e.write("docs/readme.md", "docs\n");
            e.write("trace.log", "ignored\n");
            e.write("build/out.o", "ignored folder\n");
        }),
        Box::new(|e: &Env| {
            e.write("a.txt", "one, changed\n");
            e.write("new/deep/c.rs", "fn main() {}\n");
            fs::remove_file(e.work().join("b.txt")).unwrap();
            fs::remove_dir_all(e.work().join("docs")).unwrap();
            e.write("run.sh", "#!/bin/sh\n");
            chmod(e, "run.sh", 0o755);
            std::os::unix::fs::symlink("a.txt", e.work().join("link")).unwrap();
            e.write("src/deep/more.log", "ignored\n");
            fs::create_dir_all(e.work().join("empty/folder")).unwrap();
        }),
        Box::new(|e: &Env| {
            // Only modes and stat data change: the tree is edited, not rebuilt.
            chmod(e, "run.sh", 0o644); // 100755 to 100644 in git's terms
            e.write("src/lib.rs", "pub fn f() {}\n");
        }),
        Box::new(|e: &Env| {
            // A file becomes a folder, a folder becomes a file, a link becomes a file.
            fs::remove_file(e.work().join("a.txt")).unwrap();
            e.write("a.txt/inner.txt", "now a folder\n");
            fs::remove_dir_all(e.work().join("new")).unwrap();
            e.write("new", "now a file\n");
            fs::remove_file(e.work().join("link")).unwrap();
            e.write("link", "a file now\n");
            chmod(e, "run.sh", 0o755);
            e.write("build/more.o", "still ignored\n");
        }),
        Box::new(|e: &Env| {
            // Everything in a folder deleted but an ignored file: the folder goes.
            fs::remove_file(e.work().join("src/lib.rs")).unwrap();
            fs::remove_dir_all(e.work().join("src/deep/er")).unwrap();
            e.write("z/last.txt", "last\n");
        }),
    ]
}

#[test]
fn every_turns_tree_is_the_tree_git_builds() {
    for in_git in [true, false] {
        let env = Env::new();
        let scratch = tempfile::tempdir().unwrap();
        if in_git {
            git(&env.work(), &["init", "-q", "-b", "main"]);
        }
        for (turn, change) in (0u32..).zip(turns()) {
            change(&env);
            env.store.snapshot(TASK, turn, &env.work(), CAPS).unwrap();
            assert_eq!(
                checkpoint_tree(&env),
                git_tree(&env, scratch.path()),
                "turn {turn}, in git: {in_git}"
            );
        }
    }
}

#[test]
fn a_same_size_rewrite_right_after_a_snapshot_is_seen() {
    let env = Env::new();
    env.write("f.txt", "version 00\n");
    for i in 0..200 {
        env.write(&format!("pad/{i:03}.txt"), "padding\n");
    }
    env.store.snapshot(TASK, 0, &env.work(), CAPS).unwrap();
    for turn in 1..=20u32 {
        // Same size, right after the index was written: only the content tells.
        let text = format!("version {turn:02}\n");
        env.write("f.txt", &text);
        env.store.snapshot(TASK, turn, &env.work(), CAPS).unwrap();
        let shown = Command::new("git")
            .arg("--git-dir")
            .arg(git_dir(&env))
            .args(["show", &format!("refs/az-os/checkpoints/{TASK}:f.txt")])
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&shown.stdout), text, "turn {turn}");
    }
}
