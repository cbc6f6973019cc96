//! Snapshots, restore and rollback in each kind of workdir, through the library.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use az_os::checkpoint::{Caps, Change, CheckpointError, CheckpointId, Outcome, Target};

use super::{CAPS, Env, git, user_view};

const TASK: &str = "a1b2c3d4e5f6";

/// A repository with two commits on `main`, a branch, a stash, staged and unstaged
/// changes, an untracked and an ignored file.
fn dirty_repo(env: &Env) {
    let w = env.work();
    git(&w, &["init", "-q", "-b", "main"]);
    env.write(".gitignore", "*.log\nbuild/\n");
    env.write("a.txt", "one\ntwo\nthree\n");
    env.write("gone.txt", "to be deleted\n");
    git(&w, &["add", "."]);
    git(&w, &["commit", "-qm", "first"]);
    env.write("a.txt", "one\ntwo\nthree\nfour\n");
    git(&w, &["commit", "-qam", "second"]);
    git(&w, &["branch", "feature"]);
    env.write("a.txt", "stashed\n");
    git(&w, &["stash", "-q"]);
    env.write("staged.txt", "staged\n");
    git(&w, &["add", "staged.txt"]);
    env.write("a.txt", "one\ntwo\nthree\nfour\nunstaged\n");
    env.write("untracked.txt", "mine\n");
    env.write("debug.log", "ignored\n");
    env.write("build/out.bin", "ignored too\n");
}

/// What a task does: modifies, creates (in a new folder), deletes.
fn task_changes(env: &Env) {
    env.write("a.txt", "rewritten by the task\n");
    env.write("new/deep/file.rs", "fn main() {}\n");
    fs::remove_file(env.work().join("gone.txt")).unwrap();
    env.write("debug.log", "the task logs too\n");
}

fn created(o: &Outcome) -> CheckpointId {
    match o {
        Outcome::Created(id) => id.clone(),
        Outcome::Unchanged => panic!("expected a new checkpoint"),
    }
}

/// Baseline, the task's turn, rollback: the files come back exactly, and nothing the
/// user sees of git changed at any point.
fn round_trip(env: &Env) {
    let w = env.work();
    let before_files = (
        env.read("a.txt"),
        env.read("untracked.txt"),
        env.read("gone.txt"),
    );
    let in_git = w.join(".git").exists();
    let view = in_git.then(|| user_view(&w));
    let s0 = env.store.snapshot(TASK, 0, &w, CAPS).unwrap();
    assert_eq!(created(&s0.outcome).to_string(), format!("{TASK}.0"));
    task_changes(env);
    let s1 = env.store.snapshot(TASK, 1, &w, CAPS).unwrap();
    assert_eq!(created(&s1.outcome), CheckpointId::new(TASK, 1));
    // Nothing more changed: no new commit.
    let s2 = env.store.snapshot(TASK, 2, &w, CAPS).unwrap();
    assert_eq!(s2.outcome, Outcome::Unchanged);

    let files = env.store.changes(&Target::Task(TASK.into())).unwrap();
    let names: Vec<(&str, Change)> = files.iter().map(|f| (f.path.as_str(), f.change)).collect();
    assert_eq!(
        names,
        vec![
            ("a.txt", Change::Modified),
            ("gone.txt", Change::Deleted),
            ("new/deep/file.rs", Change::Added),
        ],
        "ignored files are not captured"
    );
    let a = &files[0];
    assert_eq!((a.added, a.removed), (1, 5));
    let diff = env
        .store
        .diff(&Target::One(CheckpointId::new(TASK, 1)))
        .unwrap();
    assert!(diff.contains("+rewritten by the task"), "{diff}");
    assert!(
        diff.contains("diff --git a/new/deep/file.rs b/new/deep/file.rs"),
        "{diff}"
    );
    let list = env.store.list(Some(TASK)).unwrap();
    assert_eq!(list.iter().map(|c| c.turn).collect::<Vec<_>>(), vec![0, 1]);

    let done = env.store.rollback(TASK, false).unwrap();
    assert_eq!(done.written, vec!["a.txt", "gone.txt"]);
    assert_eq!(done.deleted, vec!["new/deep/file.rs"]);
    assert_eq!(
        (
            env.read("a.txt"),
            env.read("untracked.txt"),
            env.read("gone.txt")
        ),
        before_files
    );
    assert!(!w.join("new").exists(), "folders the task created go too");
    assert_eq!(
        env.read("debug.log").as_deref(),
        Some("the task logs too\n"),
        "ignored: untouched"
    );
    if let Some(view) = view {
        assert_eq!(user_view(&w), view, "the user's git state is untouched");
        let refs = git(&w, &["for-each-ref", "--format=%(refname)", "refs/az-os"]);
        assert_eq!(refs.trim(), format!("refs/az-os/checkpoints/{TASK}"));
    }
}

#[test]
fn dirty_worktree_on_a_branch() {
    let env = Env::new();
    dirty_repo(&env);
    round_trip(&env);
}

#[test]
fn detached_head() {
    let env = Env::new();
    dirty_repo(&env);
    git(&env.work(), &["checkout", "-q", "--detach", "HEAD"]);
    assert_eq!(
        git(&env.work(), &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "HEAD"
    );
    round_trip(&env);
}

#[test]
fn repository_with_no_commits() {
    let env = Env::new();
    git(&env.work(), &["init", "-q"]);
    env.write(".gitignore", "*.log\n");
    env.write("a.txt", "one\ntwo\nthree\nfour\nunstaged\n");
    env.write("gone.txt", "to be deleted\n");
    env.write("untracked.txt", "mine\n");
    env.write("debug.log", "ignored\n");
    git(&env.work(), &["add", "a.txt"]);
    round_trip(&env);
}

#[test]
fn workdir_outside_git_uses_a_private_repository() {
    let env = Env::new();
    env.write(".gitignore", "*.log\n");
    env.write("a.txt", "one\ntwo\nthree\nfour\nunstaged\n");
    env.write("gone.txt", "to be deleted\n");
    env.write("untracked.txt", "mine\n");
    env.write("debug.log", "ignored\n");
    round_trip(&env);
    assert!(
        !env.work().join(".git").exists(),
        "no repository appears in the workdir"
    );
    let repos = fs::read_dir(env.home.path().join("checkpoints/repos"))
        .unwrap()
        .count();
    assert_eq!(repos, 1);
}

#[test]
fn user_edits_after_the_task_are_refused_unless_forced() {
    let env = Env::new();
    dirty_repo(&env);
    let w = env.work();
    env.store.snapshot(TASK, 0, &w, CAPS).unwrap();
    task_changes(&env);
    env.store.snapshot(TASK, 1, &w, CAPS).unwrap();
    // The user edits a file the task changed, and recreates one it deleted.
    env.write("a.txt", "the user's own edit\n");
    env.write("gone.txt", "back, by hand\n");
    // A file the task never touched is the user's business, never listed.
    env.write("untracked.txt", "edited too\n");
    assert_eq!(
        env.store.edited_since_task(TASK).unwrap(),
        vec!["a.txt", "gone.txt"]
    );
    match env.store.rollback(TASK, false) {
        Err(CheckpointError::EditedSince { files }) => assert_eq!(files, vec!["a.txt", "gone.txt"]),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        env.read("a.txt").as_deref(),
        Some("the user's own edit\n"),
        "nothing written"
    );
    assert!(
        env.work().join("new/deep/file.rs").exists(),
        "nothing deleted"
    );
    env.store.rollback(TASK, true).unwrap();
    assert_eq!(
        env.read("a.txt").as_deref(),
        Some("one\ntwo\nthree\nfour\nunstaged\n")
    );
    assert_eq!(env.read("gone.txt").as_deref(), Some("to be deleted\n"));
    assert_eq!(env.read("untracked.txt").as_deref(), Some("edited too\n"));
}

#[test]
fn restore_to_a_middle_turn() {
    let env = Env::new();
    let w = env.work();
    env.write("f.txt", "v0\n");
    env.store.snapshot(TASK, 0, &w, CAPS).unwrap();
    env.write("f.txt", "v1\n");
    env.write("one.txt", "1\n");
    env.store.snapshot(TASK, 1, &w, CAPS).unwrap();
    env.write("f.txt", "v2\n");
    env.write("two.txt", "2\n");
    env.store.snapshot(TASK, 2, &w, CAPS).unwrap();
    let done = env
        .store
        .restore(&CheckpointId::new(TASK, 1), false)
        .unwrap();
    assert_eq!(done.written, vec!["f.txt"]);
    assert_eq!(done.deleted, vec!["two.txt"]);
    assert_eq!(env.read("f.txt").as_deref(), Some("v1\n"));
    assert_eq!(env.read("one.txt").as_deref(), Some("1\n"));
    // Dropping the middle checkpoint keeps the chain: turn 2 now follows turn 0.
    env.store
        .delete(&Target::One(CheckpointId::new(TASK, 1)))
        .unwrap();
    let turns: Vec<u32> = env
        .store
        .list(Some(TASK))
        .unwrap()
        .iter()
        .map(|c| c.turn)
        .collect();
    assert_eq!(turns, vec![0, 2]);
    let files = env
        .store
        .changes(&Target::One(CheckpointId::new(TASK, 2)))
        .unwrap();
    assert_eq!(files.len(), 3, "{files:?}");
}

#[test]
fn a_file_replaced_by_a_directory_is_refused_with_its_name() {
    let env = Env::new();
    let w = env.work();
    env.write("x", "a file\n");
    env.store.snapshot(TASK, 0, &w, CAPS).unwrap();
    fs::remove_file(w.join("x")).unwrap();
    env.store.snapshot(TASK, 1, &w, CAPS).unwrap();
    env.write("x/inside", "now a folder\n");
    let err = env.store.rollback(TASK, true).unwrap_err();
    assert!(
        matches!(err, CheckpointError::ReplacedByDirectory { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("x (now a directory)"), "{err}");
    assert_eq!(env.read("x/inside").as_deref(), Some("now a folder\n"));
}

#[test]
fn files_over_the_caps_are_left_out_and_named() {
    let env = Env::new();
    let w = env.work();
    let caps = Caps {
        file_bytes: 1 << 20,
        task_bytes: 3 << 20,
        total_bytes: 1 << 30,
    };
    env.write("small.txt", "s\n");
    fs::write(w.join("huge.bin"), vec![7u8; 2 << 20]).unwrap();
    let s0 = env.store.snapshot(TASK, 0, &w, caps).unwrap();
    assert_eq!(s0.left_out.len(), 1);
    assert!(
        s0.notice().unwrap().contains("huge.bin"),
        "{:?}",
        s0.notice()
    );
    // Rewriting a file under the file cap: the task cap stops it after 3 MB.
    let mut left = Vec::new();
    for turn in 1..=6u8 {
        fs::write(w.join("mid.bin"), vec![turn; 900 << 10]).unwrap();
        let s = env.store.snapshot(TASK, u32::from(turn), &w, caps).unwrap();
        left.push(s.left_out.iter().any(|l| l.path == "mid.bin"));
    }
    assert_eq!(left, vec![false, false, false, true, true, true]);
    // Rollback leaves what was never captured as it is, and undoes the rest.
    env.store.rollback(TASK, true).unwrap();
    assert!(w.join("huge.bin").exists());
    assert!(!w.join("mid.bin").exists() || fs::read(w.join("mid.bin")).unwrap()[0] == 6);
}

#[test]
fn unknown_and_bad_ids_say_what_to_do() {
    let env = Env::new();
    let err = env
        .store
        .show(&CheckpointId::new("abcdef123456", 1))
        .unwrap_err();
    assert!(matches!(err, CheckpointError::UnknownId { .. }));
    assert!(err.to_string().contains("az-os checkpoint list"), "{err}");
    let w = env.work();
    env.write("f", "1\n");
    env.store.snapshot(TASK, 0, &w, CAPS).unwrap();
    let err = env
        .store
        .restore(&CheckpointId::new(TASK, 9), false)
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!("no checkpoint {TASK}.9")),
        "{err}"
    );
    assert!(matches!(
        Target::parse("../x"),
        Err(CheckpointError::BadId { .. })
    ));
}

#[test]
fn a_deleted_workdir_is_named_and_listing_still_works() {
    let env = Env::new();
    let w = env.work();
    env.write("f", "1\n");
    env.store.snapshot(TASK, 0, &w, CAPS).unwrap();
    env.write("f", "2\n");
    env.store.snapshot(TASK, 1, &w, CAPS).unwrap();
    fs::remove_dir_all(&w).unwrap();
    let err = env.store.rollback(TASK, false).unwrap_err();
    assert!(
        matches!(err, CheckpointError::WorkdirGone { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("no longer exists"), "{err}");
    assert_eq!(env.store.list(Some(TASK)).unwrap().len(), 2);
    assert!(
        env.store
            .diff(&Target::Task(TASK.into()))
            .unwrap()
            .contains("+2")
    );
}

#[test]
fn read_only_places_give_a_clear_error() {
    // Classified from the OS error, whichever call met it.
    let e = CheckpointError::io(
        std::path::Path::new("/ro"),
        std::io::Error::from_raw_os_error(nix::libc::EROFS),
    );
    assert!(matches!(e, CheckpointError::ReadOnly { .. }));
    assert!(e.to_string().contains("read-only"), "{e}");
    let e = CheckpointError::io(
        std::path::Path::new("/full"),
        std::io::Error::from_raw_os_error(nix::libc::ENOSPC),
    );
    assert!(e.to_string().contains("no space left"), "{e}");
    // And for real where permissions bind (not as root).
    let probe = tempfile::NamedTempFile::new().unwrap();
    if std::os::unix::fs::MetadataExt::uid(&probe.as_file().metadata().unwrap()) == 0 {
        return; // root writes through permissions
    }
    let env = Env::new();
    let w = env.work();
    env.write("f", "1\n");
    env.store.snapshot(TASK, 0, &w, CAPS).unwrap();
    env.write("f", "2\n");
    env.store.snapshot(TASK, 1, &w, CAPS).unwrap();
    fs::set_permissions(&w, fs::Permissions::from_mode(0o555)).unwrap();
    fs::set_permissions(w.join("f"), fs::Permissions::from_mode(0o444)).unwrap();
    let err = env.store.rollback(TASK, false).unwrap_err();
    fs::set_permissions(&w, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(matches!(err, CheckpointError::ReadOnly { .. }), "{err:?}");
    assert_eq!(env.read("f").as_deref(), Some("2\n"));
}

#[test]
fn delete_and_prune_free_the_private_repository() {
    let env = Env::new();
    let w = env.work();
    env.write("f", "1\n");
    env.store.snapshot(TASK, 0, &w, CAPS).unwrap();
    env.write("f", "2\n");
    env.store.snapshot(TASK, 1, &w, CAPS).unwrap();
    let other = "0123456789ab";
    env.write("g", "x\n");
    env.store.snapshot(other, 0, &w, CAPS).unwrap();
    env.store.delete(&Target::Task(TASK.into())).unwrap();
    assert!(env.store.list(Some(TASK)).is_err());
    assert_eq!(env.store.list(None).unwrap().len(), 1);
    // The other task's chain survives a gc of the shared private repository.
    let pruned = env.store.prune(None, None, 0).unwrap();
    assert!(pruned.tasks.is_empty());
    assert!(env.store.diff(&Target::Task(other.into())).is_ok());
    // By age: everything is older than "now + 2 days".
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 2 * 86_400;
    // What a resume of that task set aside goes with its chain.
    let aside = env
        .home
        .path()
        .join(format!("checkpoints/interrupted/{other}-abc123"));
    std::fs::create_dir_all(&aside).unwrap();
    std::fs::write(aside.join("g"), "mine\n").unwrap();
    let pruned = env.store.prune(Some(1), None, later).unwrap();
    assert_eq!(pruned.tasks, vec![other.to_owned()]);
    assert_eq!(pruned.set_aside_removed, 1);
    assert!(!aside.exists());
    assert!(pruned.bytes_freed > 0);
    assert!(env.store.list(None).unwrap().is_empty());
    assert!(
        !env.home
            .path()
            .join("checkpoints/repos")
            .read_dir()
            .unwrap()
            .any(|_| true)
    );
}

#[test]
fn prune_in_the_users_repository_drops_only_refs() {
    let env = Env::new();
    dirty_repo(&env);
    let w = env.work();
    let view = user_view(&w);
    env.store.snapshot(TASK, 0, &w, CAPS).unwrap();
    env.write("a.txt", "changed\n");
    env.store.snapshot(TASK, 1, &w, CAPS).unwrap();
    env.write("a.txt", "one\ntwo\nthree\nfour\nunstaged\n");
    env.store.prune(None, Some(0), 0).unwrap();
    assert!(git(&w, &["for-each-ref", "refs/az-os"]).is_empty());
    assert_eq!(user_view(&w), view);
}

#[test]
fn the_root_outside_git_is_refused_with_a_reason() {
    let env = Env::new();
    let err = env
        .store
        .snapshot(TASK, 0, std::path::Path::new("/"), CAPS)
        .unwrap_err();
    assert!(matches!(err, CheckpointError::TooBroad { .. }), "{err:?}");
    assert!(err.to_string().contains("project folder"), "{err}");
}

#[test]
fn a_workdir_inside_a_repository_is_snapshotted_alone() {
    let env = Env::new();
    let w = env.work();
    git(&w, &["init", "-q"]);
    env.write("outside.txt", "not the task's\n");
    env.write("sub/in.txt", "before\n");
    git(&w, &["add", "."]);
    git(&w, &["commit", "-qm", "init"]);
    let view = user_view(&w);
    let sub = w.join("sub");
    env.store.snapshot(TASK, 0, &sub, CAPS).unwrap();
    env.write("sub/in.txt", "after\n");
    env.write("sub/new.txt", "new\n");
    env.write("outside.txt", "the user's edit elsewhere\n");
    env.store.snapshot(TASK, 1, &sub, CAPS).unwrap();
    let files: Vec<String> = env
        .store
        .changes(&Target::Task(TASK.into()))
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(files, vec!["sub/in.txt", "sub/new.txt"]);
    env.store.rollback(TASK, false).unwrap();
    assert_eq!(env.read("sub/in.txt").as_deref(), Some("before\n"));
    assert!(!w.join("sub/new.txt").exists());
    assert_eq!(
        env.read("outside.txt").as_deref(),
        Some("the user's edit elsewhere\n")
    );
    env.write("outside.txt", "not the task's\n");
    assert_eq!(user_view(&w), view);
}

#[test]
fn a_damaged_private_repository_is_named_never_a_panic() {
    let env = Env::new();
    let w = env.work();
    env.write("f", "1\n");
    env.store.snapshot(TASK, 0, &w, CAPS).unwrap();
    env.write("f", "2\n");
    env.store.snapshot(TASK, 1, &w, CAPS).unwrap();
    let repos = env.home.path().join("checkpoints/repos");
    let repo = fs::read_dir(&repos)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // Every object truncated to garbage.
    for d in fs::read_dir(repo.join("objects")).unwrap().flatten() {
        if d.file_name().len() == 2 {
            for o in fs::read_dir(d.path()).unwrap().flatten() {
                let mut perm = fs::metadata(o.path()).unwrap().permissions();
                perm.set_mode(0o644);
                fs::set_permissions(o.path(), perm).unwrap();
                fs::write(o.path(), b"garbage").unwrap();
            }
        }
    }
    let err = env.store.diff(&Target::Task(TASK.into())).unwrap_err();
    assert!(
        err.to_string().contains(&*repo.to_string_lossy())
            || matches!(
                err,
                CheckpointError::Corrupt { .. } | CheckpointError::Git(_)
            ),
        "{err}"
    );
    assert!(env.store.rollback(TASK, false).is_err());
    assert_eq!(
        env.read("f").as_deref(),
        Some("2\n"),
        "the files are untouched"
    );
    // A broken HEAD: the repository cannot even be opened.
    fs::write(repo.join("HEAD"), "nonsense").unwrap();
    let err = env.store.snapshot(TASK, 2, &w, CAPS).unwrap_err();
    assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("damaged"), "{err}");
}
