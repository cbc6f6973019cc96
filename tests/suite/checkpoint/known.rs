//! The snapshot of a turn that only ran `write_file` (the paths are known, no walk):
//! it holds exactly the tree a walk would have built when nobody else touched the
//! workdir, it does not take a file the user changed meanwhile as the task's, and it
//! falls back to the walk when it cannot be exact.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use az_os::checkpoint::{Caps, Change, CheckpointId, Outcome, Target};

use super::{CAPS, Env, git};

const TASK: &str = "f1e2d3c4b5a6";

fn paths(list: &[&str]) -> Vec<PathBuf> {
    list.iter().map(PathBuf::from).collect()
}

/// The tree of the task's last checkpoint, as git names it.
fn tree_of(env: &Env, task: &str) -> String {
    let dir = if env.work().join(".git").exists() {
        env.work()
    } else {
        // Outside git: the one private repository under the home.
        let repos = env.home.path().join("checkpoints/repos");
        fs::read_dir(&repos)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
    };
    git(
        &dir,
        &[
            "rev-parse",
            &format!("refs/az-os/checkpoints/{task}^{{tree}}"),
        ],
    )
    .trim()
    .to_owned()
}

fn repo_with_files(env: &Env, in_git: bool) {
    env.write(".gitignore", "*.log\n");
    env.write("a.txt", "one\n");
    env.write("b.txt", "two\n");
    env.write("gone.txt", "bye\n");
    env.write("src/lib.rs", "pub fn f() {}\n");
    if in_git {
        let w = env.work();
        git(&w, &["init", "-q", "-b", "main"]);
        git(&w, &["add", "."]);
        git(&w, &["commit", "-qm", "first"]);
    }
}

/// What the turn writes: a change, a new file in new folders, an executable, a file
/// deleted since (the written path is gone), an ignored file, one rewritten as it was,
/// and one only others may run.
fn turn_writes(env: &Env) -> Vec<PathBuf> {
    env.write("a.txt", "one, rewritten\n");
    env.write("new/deep/c.rs", "fn main() {}\n");
    env.write("run.sh", "#!/bin/sh\n");
    let sh = env.work().join("run.sh");
    fs::set_permissions(&sh, fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_file(env.work().join("gone.txt")).unwrap();
    env.write("trace.log", "ignored\n");
    env.write("src/lib.rs", "pub fn f() {}\n");
    // Only others may run it: 100644 to git, which reads the owner's bit.
    env.write("others.sh", "#!/bin/sh\n");
    let others = env.work().join("others.sh");
    fs::set_permissions(&others, fs::Permissions::from_mode(0o611)).unwrap();
    paths(&[
        "a.txt",
        "./new/deep/c.rs",
        "run.sh",
        "others.sh",
        "gone.txt",
        "trace.log",
        "src/lib.rs",
    ])
}

#[test]
fn the_known_paths_give_the_tree_a_walk_gives() {
    for in_git in [true, false] {
        let (walked, known) = (Env::new(), Env::new());
        for env in [&walked, &known] {
            repo_with_files(env, in_git);
            env.store.snapshot(TASK, 0, &env.work(), CAPS).unwrap();
        }
        turn_writes(&walked);
        walked
            .store
            .snapshot(TASK, 1, &walked.work(), CAPS)
            .unwrap();
        let written = turn_writes(&known);
        let s = known
            .store
            .snapshot_known(TASK, 1, &known.work(), CAPS, &written)
            .unwrap();
        assert!(matches!(s.outcome, Outcome::Created(_)), "in git: {in_git}");
        assert_eq!(
            tree_of(&known, TASK),
            tree_of(&walked, TASK),
            "in git: {in_git}"
        );
        // Written again with the same content: no new checkpoint.
        let again = known
            .store
            .snapshot_known(TASK, 2, &known.work(), CAPS, &paths(&["a.txt"]))
            .unwrap();
        assert_eq!(again.outcome, Outcome::Unchanged);
        // Rollback undoes the turn exactly.
        known.store.rollback(TASK, false).unwrap();
        assert_eq!(known.read("a.txt").as_deref(), Some("one\n"));
        assert_eq!(known.read("gone.txt").as_deref(), Some("bye\n"));
        assert!(!known.work().join("new").exists());
        assert!(!known.work().join("run.sh").exists());
    }
}

#[test]
fn a_file_the_user_changed_meanwhile_is_not_taken_as_the_tasks() {
    let env = Env::new();
    repo_with_files(&env, true);
    let w = env.work();
    env.store.snapshot(TASK, 0, &w, CAPS).unwrap();
    env.write("a.txt", "the task's\n");
    env.write("b.txt", "the user's edit\n");
    env.store
        .snapshot_known(TASK, 1, &w, CAPS, &paths(&["a.txt"]))
        .unwrap();
    let files = env.store.changes(&Target::Task(TASK.into())).unwrap();
    let names: Vec<(&str, Change)> = files.iter().map(|f| (f.path.as_str(), f.change)).collect();
    assert_eq!(names, vec![("a.txt", Change::Modified)]);
    // Rollback puts back what the task wrote and leaves the user's edit alone.
    let done = env.store.rollback(TASK, false).unwrap();
    assert_eq!(done.written, vec!["a.txt"]);
    assert_eq!(env.read("a.txt").as_deref(), Some("one\n"));
    assert_eq!(env.read("b.txt").as_deref(), Some("the user's edit\n"));
}

#[test]
fn paths_it_cannot_be_exact_about_fall_back_to_the_walk() {
    let env = Env::new();
    repo_with_files(&env, false);
    let w = env.work();
    env.store.snapshot(TASK, 0, &w, CAPS).unwrap();
    // `..` and a folder where the written file was: the walk takes the whole workdir,
    // so the user's b.txt is in this checkpoint as it always was.
    env.write("b.txt", "changed\n");
    env.write("a.txt", "changed too\n");
    for (turn, odd) in [(1, "sub/../a.txt"), (2, "src")] {
        env.write("b.txt", &format!("changed in turn {turn}\n"));
        env.store
            .snapshot_known(TASK, turn, &w, CAPS, &paths(&[odd]))
            .unwrap();
        let shown = env.store.show(&CheckpointId::new(TASK, turn)).unwrap();
        let names: Vec<&str> = shown.files.iter().map(|f| f.path.as_str()).collect();
        assert!(names.contains(&"b.txt"), "turn {turn}: {names:?}");
    }
    // An absolute path inside the workdir is the same as the relative one.
    env.write("a.txt", "absolute\n");
    env.write("b.txt", "not the task's\n");
    let s = env
        .store
        .snapshot_known(TASK, 3, &w, CAPS, &[w.join("a.txt")])
        .unwrap();
    assert!(matches!(s.outcome, Outcome::Created(_)));
    let shown = env.store.show(&CheckpointId::new(TASK, 3)).unwrap();
    let names: Vec<&str> = shown.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(names, vec!["a.txt"]);
}

#[test]
fn a_written_file_over_the_cap_is_left_out_and_named() {
    let env = Env::new();
    repo_with_files(&env, false);
    let w = env.work();
    env.store.snapshot(TASK, 0, &w, CAPS).unwrap();
    env.write("big.bin", &"x".repeat(2048));
    let caps = Caps {
        file_bytes: 1024,
        ..CAPS
    };
    let s = env
        .store
        .snapshot_known(TASK, 1, &w, caps, &paths(&["big.bin", "a.txt"]))
        .unwrap();
    assert_eq!(s.left_out.len(), 1);
    assert_eq!(s.left_out[0].path, "big.bin");
    assert!(s.notice().unwrap().contains("max_file_mb"));
}
