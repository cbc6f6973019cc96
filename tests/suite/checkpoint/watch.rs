//! The change watcher of command turns (`Checkpoints::watch`, `snapshot_watched`): after
//! each turn of changes a command could make, the watched checkpoint's tree is the tree
//! a walk gives (another task's walk of the same workdir) and the tree real git builds,
//! and no walk ran; where the watcher cannot be sure (the event queue overflowed, a
//! `.gitignore` or `.git/info/exclude` changed, a watched folder moved, files tracked in
//! an ignored folder, files left out by the caps, a hard-linked change, a repository
//! made inside, no watcher) the snapshot walks, says why, and the tree is still right;
//! the turn after watches again.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use az_os::checkpoint::{Caps, Fallback, Outcome, Route, Watcher};

use super::{CAPS, Env, git};

/// The task snapshotted through the watcher, and one walked over the same workdir.
const TASK: &str = "aaaa1111bbbb";
const WALKED: &str = "cccc2222dddd";

/// The git directory that holds the checkpoints of `env`'s workdir (which may be a
/// folder of the work tree).
fn git_dir(env: &Env) -> PathBuf {
    if env.work().join(".git").exists() {
        return env.work().join(".git");
    }
    fs::read_dir(env.home.path().join("checkpoints/repos"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn tree_of(env: &Env, task: &str) -> String {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir(env))
        .args([
            "rev-parse",
            &format!("refs/az-os/checkpoints/{task}^{{tree}}"),
        ])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The tree real git builds for the whole work tree from a fresh index.
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

/// One task snapshotted through a watcher started before its baseline, and the same
/// workdir walked for another task after every turn.
struct Watched {
    env: Env,
    workdir: PathBuf,
    watcher: Watcher,
    turn: u32,
}

impl Watched {
    fn new(env: Env, workdir: PathBuf) -> Self {
        let mut watcher = env.store.watch(&workdir);
        assert_eq!(watcher.off(), None, "watching {}", workdir.display());
        assert!(watcher.folders() >= 1);
        let (_, route) = env
            .store
            .snapshot_watched(TASK, 0, &workdir, CAPS, &mut watcher)
            .unwrap();
        assert_eq!(
            route,
            Route::Walked(Fallback::Unsynced),
            "the baseline walks"
        );
        env.store.snapshot(WALKED, 0, &workdir, CAPS).unwrap();
        Self {
            env,
            workdir,
            watcher,
            turn: 0,
        }
    }

    /// The next turn's snapshot with `caps`; checks its tree against the walk's.
    fn turn_with(&mut self, caps: Caps) -> (Outcome, Route) {
        self.turn += 1;
        let (s, route) = self
            .env
            .store
            .snapshot_watched(TASK, self.turn, &self.workdir, caps, &mut self.watcher)
            .unwrap();
        self.env
            .store
            .snapshot(WALKED, self.turn, &self.workdir, caps)
            .unwrap();
        assert_eq!(
            tree_of(&self.env, TASK),
            tree_of(&self.env, WALKED),
            "turn {} ({route:?}): the watched tree is the walked tree",
            self.turn
        );
        (s.outcome, route)
    }

    fn turn(&mut self) -> (Outcome, Route) {
        self.turn_with(CAPS)
    }
}

fn chmod(env: &Env, rel: &str, mode: u32) {
    fs::set_permissions(env.work().join(rel), fs::Permissions::from_mode(mode)).unwrap();
}

fn start_files(env: &Env) {
    env.write(".gitignore", "*.log\nbuild/\n");
    env.write("a.txt", "one\n");
    env.write("b.txt", "two\n");
    env.write("src/lib.rs", "pub fn f() {}\n");
    env.write("src/deep/er/x.rs", "x\n");
    env.write("docs/readme.md", "docs\n");
    env.write("build/out.o", "ignored folder\n");
    env.write("run.sh", "#!/bin/sh\n");
}

/// One turn's changes, as a command would make them.
type Turn = Box<dyn Fn(&Env)>;

fn command_turns() -> Vec<(&'static str, Turn)> {
    vec![
        (
            "create, modify, delete, chmod, ignored files",
            Box::new(|e: &Env| {
                e.write("a.txt", "one, changed\n");
                e.write("c.txt", "new\n");
                fs::remove_file(e.work().join("b.txt")).unwrap();
                chmod(e, "run.sh", 0o755);
                e.write("trace.log", "ignored\n");
                e.write("src/more.log", "ignored in a watched folder\n");
                e.write("build/more.o", "in an ignored folder\n");
            }),
        ),
        (
            "renames within and across folders",
            Box::new(|e: &Env| {
                let w = e.work();
                fs::rename(w.join("src/lib.rs"), w.join("docs/lib.rs")).unwrap();
                fs::rename(w.join("c.txt"), w.join("c2.txt")).unwrap();
                fs::rename(w.join("trace.log"), w.join("trace.txt")).unwrap();
            }),
        ),
        (
            "a new folder with files and folders in it",
            Box::new(|e: &Env| {
                e.write("new/deep/c.rs", "fn main() {}\n");
                e.write("new/top.txt", "top\n");
                e.write("new/deep/skip.log", "ignored\n");
                e.write("new/build/x.o", "ignored folder in a new folder\n");
                // In a folder that had no subfolders when it was watched (not listed).
                e.write("docs/sub/inner.txt", "below a leaf folder\n");
                fs::create_dir_all(e.work().join("empty/folder")).unwrap();
            }),
        ),
        (
            "a file becomes a folder, a folder a file",
            Box::new(|e: &Env| {
                let w = e.work();
                fs::remove_file(w.join("a.txt")).unwrap();
                e.write("a.txt/inner.txt", "now a folder\n");
                fs::remove_dir_all(w.join("new")).unwrap();
                e.write("new", "now a file\n");
            }),
        ),
        (
            "symlinks: new, retargeted, replaced by a file",
            Box::new(|e: &Env| {
                let w = e.work();
                std::os::unix::fs::symlink("c2.txt", w.join("link")).unwrap();
                std::os::unix::fs::symlink("docs", w.join("dirlink")).unwrap();
                e.write("docs/after-link.txt", "seen through its real folder\n");
            }),
        ),
        (
            "more symlinks",
            Box::new(|e: &Env| {
                let w = e.work();
                fs::remove_file(w.join("link")).unwrap();
                std::os::unix::fs::symlink("run.sh", w.join("link")).unwrap();
                fs::remove_file(w.join("dirlink")).unwrap();
                e.write("dirlink", "a file now\n");
            }),
        ),
        (
            "modes only, and a file rewritten as it was",
            Box::new(|e: &Env| {
                chmod(e, "run.sh", 0o644);
                chmod(e, "docs/readme.md", 0o711);
                chmod(e, "c2.txt", 0o611); // only others may run it: 100644 to git
                e.write("docs/lib.rs", "pub fn f() {}\n");
            }),
        ),
        (
            "names that are not UTF-8, a fifo, a folder emptied",
            Box::new(|e: &Env| {
                let w = e.work();
                fs::write(w.join(OsStr::from_bytes(b"caf\xe9.txt")), "latin-1\n").unwrap();
                fs::create_dir(w.join(OsStr::from_bytes(b"d\xff"))).unwrap();
                fs::write(w.join(OsStr::from_bytes(b"d\xff/in.txt")), "x\n").unwrap();
                nix::unistd::mkfifo(&w.join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
                fs::remove_file(w.join("src/deep/er/x.rs")).unwrap();
            }),
        ),
        (
            "a whole tracked folder deleted, another renamed file",
            Box::new(|e: &Env| {
                let w = e.work();
                fs::remove_dir_all(w.join("src")).unwrap();
                fs::rename(w.join("docs/readme.md"), w.join("readme.md")).unwrap();
            }),
        ),
    ]
}

#[test]
fn command_turns_are_snapshotted_from_the_watcher_as_the_walk_would() {
    for in_git in [true, false] {
        let env = Env::new();
        let scratch = tempfile::tempdir().unwrap();
        start_files(&env);
        if in_git {
            git(&env.work(), &["init", "-q", "-b", "main"]);
        }
        let w = env.work();
        let mut t = Watched::new(env, w);
        for (what, change) in command_turns() {
            change(&t.env);
            let (outcome, route) = t.turn();
            assert!(
                matches!(route, Route::Watched { .. }),
                "{what} (in git: {in_git}): {route:?}"
            );
            assert!(
                matches!(outcome, Outcome::Created(_)),
                "{what} (in git: {in_git}): {outcome:?}"
            );
            assert_eq!(
                tree_of(&t.env, TASK),
                git_tree(&t.env, scratch.path()),
                "{what} (in git: {in_git}): the tree git builds"
            );
        }
        // A turn that changed nothing: watched, no checkpoint.
        let (outcome, route) = t.turn();
        assert_eq!(route, Route::Watched { paths: 0 });
        assert_eq!(outcome, Outcome::Unchanged);
    }
}

#[test]
fn what_changed_across_write_file_turns_is_in_the_next_command_turn() {
    let env = Env::new();
    start_files(&env);
    let w = env.work();
    let mut t = Watched::new(env, w.clone());
    // A write_file turn (paths known, no walk, the watcher not asked), while the user
    // edits another file and makes a folder: the next command turn takes both.
    t.env.write("a.txt", "written by the task\n");
    t.env.write("b.txt", "the user's edit\n");
    t.env.write("mine/notes.txt", "the user's folder\n");
    t.turn += 1;
    t.env
        .store
        .snapshot_known(TASK, t.turn, &w, CAPS, &[PathBuf::from("a.txt")])
        .unwrap();
    t.env.write("c.txt", "by a command\n");
    let (_, route) = t.turn();
    assert!(matches!(route, Route::Watched { .. }), "{route:?}");
    let shown = t
        .env
        .store
        .show(&az_os::checkpoint::CheckpointId::new(TASK, t.turn))
        .unwrap();
    let names: Vec<&str> = shown.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(names, vec!["b.txt", "c.txt", "mine/notes.txt"]);
}

#[test]
fn a_workdir_inside_a_repository_is_watched_alone() {
    let env = Env::new();
    env.write("outside.txt", "not the task's\n");
    env.write("sub/.gitignore", "*.tmp\n");
    env.write("sub/a.txt", "one\n");
    env.write("sub/inner/b.txt", "two\n");
    let root = env.work();
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "."]);
    git(&root, &["commit", "-qm", "first"]);
    let mut t = Watched::new(env, root.join("sub"));
    t.env.write("sub/a.txt", "changed\n");
    t.env.write("sub/inner/deeper/c.txt", "new\n");
    t.env.write("sub/x.tmp", "ignored\n");
    t.env.write("outside.txt", "changed, not in the workdir\n");
    let (outcome, route) = t.turn();
    assert!(matches!(route, Route::Watched { .. }), "{route:?}");
    assert!(matches!(outcome, Outcome::Created(_)));
}

#[test]
fn a_gitignore_edit_walks_and_the_next_turn_watches_again() {
    let env = Env::new();
    start_files(&env);
    git(&env.work(), &["init", "-q", "-b", "main"]);
    let w = env.work();
    let mut t = Watched::new(env, w);
    // build/ is no longer ignored: its files are new to the walk, unseen by the watches.
    t.env.write(".gitignore", "*.log\n");
    let (_, route) = t.turn();
    assert_eq!(route, Route::Walked(Fallback::Rules));
    // The watches were set up again with the new rules: build/ is watched now.
    t.env.write("build/out.o", "changed\n");
    let (outcome, route) = t.turn();
    assert!(matches!(route, Route::Watched { .. }), "{route:?}");
    assert!(matches!(outcome, Outcome::Created(_)));
    // The repository's own exclude file is outside the watched folders: stamped.
    fs::write(t.env.work().join(".git/info/exclude"), "*.txt\n").unwrap();
    t.env.write("a.txt", "ignored now, but tracked\n");
    let (_, route) = t.turn();
    assert_eq!(route, Route::Walked(Fallback::Rules));
}

#[test]
fn an_event_queue_overflow_walks() {
    let env = Env::new();
    start_files(&env);
    let w = env.work();
    let mut t = Watched::new(env, w.clone());
    // More events than the kernel queues (fs.inotify.max_queued_events, 16384 by
    // default): two open files appended to in turn, so no event merges with the one
    // before it.
    let max: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16_384);
    let open = |name: &str| {
        fs::OpenOptions::new()
            .append(true)
            .open(w.join(name))
            .unwrap()
    };
    let mut files = [open("a.txt"), open("b.txt")];
    for i in 0..=max {
        files[i % 2].write_all(b"x").unwrap();
    }
    drop(files);
    let (_, route) = t.turn();
    assert_eq!(route, Route::Walked(Fallback::Overflow));
    t.env.write("c.txt", "after\n");
    let (_, route) = t.turn();
    assert!(matches!(route, Route::Watched { .. }), "{route:?}");
}

#[test]
fn a_watched_folder_moved_walks() {
    let env = Env::new();
    start_files(&env);
    let w = env.work();
    let mut t = Watched::new(env, w.clone());
    fs::rename(w.join("src"), w.join("source")).unwrap();
    let (_, route) = t.turn();
    assert_eq!(route, Route::Walked(Fallback::Moved));
    t.env
        .write("source/deep/er/x.rs", "changed where it went\n");
    let (_, route) = t.turn();
    assert!(matches!(route, Route::Watched { .. }), "{route:?}");
}

#[test]
fn files_tracked_in_an_ignored_folder_make_it_walk() {
    let env = Env::new();
    start_files(&env);
    let w = env.work();
    git(&w, &["init", "-q", "-b", "main"]);
    git(&w, &["add", "."]);
    git(&w, &["add", "-f", "build/out.o"]);
    git(&w, &["commit", "-qm", "first"]);
    let mut t = Watched::new(env, w);
    t.env
        .write("build/out.o", "tracked, so the walk takes it\n");
    let (_, route) = t.turn();
    assert!(
        matches!(route, Route::Walked(Fallback::Declined(_))),
        "{route:?}"
    );
}

#[test]
fn files_left_out_by_the_caps_make_the_next_turn_walk() {
    let env = Env::new();
    start_files(&env);
    let w = env.work();
    let mut t = Watched::new(env, w);
    let small = Caps {
        file_bytes: 1024,
        ..CAPS
    };
    t.env.write("big.bin", &"x".repeat(4096));
    let (_, route) = t.turn_with(small);
    assert!(matches!(route, Route::Watched { .. }), "{route:?}");
    t.env.write("a.txt", "changed\n");
    let (_, route) = t.turn_with(small);
    assert_eq!(route, Route::Walked(Fallback::LeftOut));
}

#[test]
fn a_watcher_that_cannot_watch_says_why_and_its_snapshots_walk() {
    let env = Env::new();
    let later = env.work().join("later");
    let mut w = env.store.watch(&later);
    assert!(
        w.off().is_some_and(|why| why.contains("later")),
        "{:?}",
        w.off()
    );
    assert_eq!(w.folders(), 0);
    env.write("later/a.txt", "one\n");
    for turn in 0..2 {
        let (_, route) = env
            .store
            .snapshot_watched(TASK, turn, &later, CAPS, &mut w)
            .unwrap();
        assert!(
            matches!(route, Route::Walked(Fallback::Unwatched(_))),
            "{route:?}"
        );
    }
}

#[test]
fn a_hard_linked_change_or_a_new_repository_inside_walks() {
    let env = Env::new();
    start_files(&env);
    let w = env.work();
    git(&w, &["init", "-q", "-b", "main"]);
    let mut t = Watched::new(env, w.clone());
    // Written through one name, the other saw no event: only a walk compares both.
    fs::hard_link(w.join("a.txt"), w.join("also-a.txt")).unwrap();
    fs::write(w.join("also-a.txt"), "changed through the other name\n").unwrap();
    let (_, route) = t.turn();
    assert_eq!(
        route,
        Route::Walked(Fallback::Declined("a changed file has other hard links"))
    );
    // A repository made inside: the walk records it as git does (a gitlink).
    fs::create_dir(w.join("inner")).unwrap();
    git(&w.join("inner"), &["init", "-q", "-b", "main"]);
    git(
        &w.join("inner"),
        &["commit", "-q", "--allow-empty", "-m", "inner"],
    );
    let (_, route) = t.turn();
    assert_eq!(route, Route::Walked(Fallback::Repository));
}
