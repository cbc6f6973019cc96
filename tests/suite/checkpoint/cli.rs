//! `az-os checkpoint …` through the built binary, on checkpoints a real task took:
//! a shell command's changes (snapshotted from the change watcher) rolled back, JSON
//! listings, exit codes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::fake_provider::{FakeProvider, Reply};
use crate::common::{TestEnv, json_lines};

use super::{git, user_view};

fn tools(name: &str, args: &Value) -> Reply {
    Reply::Tools {
        text: String::new(),
        calls: vec![(name.into(), args.to_string())],
    }
}

/// What the task's log says of the snapshot of `turn`.
fn snapshot_log(env: &TestEnv, turn: u32) -> String {
    env.conn()
        .query_row(
            "SELECT message FROM task_logs WHERE kind = 'snapshot' AND turn = ?1",
            az_os::store::db::params![turn],
            |r| r.get(0),
        )
        .unwrap()
}

/// Runs one task whose turns are `replies`, its command turns watched whatever the
/// workdir's size; returns its id.
fn run_task(env: &TestEnv, replies: Vec<Reply>) -> String {
    run_task_with(env, replies, "[checkpoints]\nwatch_min_files = 0\n")
}

/// [`run_task`] with `config` at the head of config.toml.
fn run_task_with(env: &TestEnv, replies: Vec<Reply>, config: &str) -> String {
    let fake = FakeProvider::start(replies);
    env.config("openai", &fake.base_url(), config);
    let out = env
        .cmd()
        .args([
            "--batch",
            "--json",
            "run",
            "--yes",
            "--max-turns",
            "4",
            "change things",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let events = json_lines(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{events:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    events[0]["task_id"].as_str().unwrap().to_owned()
}

/// A workdir smaller than `[checkpoints] watch_min_files` (2,500 by default) is walked
/// after a command: closing a change watcher costs more than walking it. The checkpoint
/// is the same.
#[test]
fn a_small_workdir_is_walked_not_watched_by_default() {
    let env = TestEnv::new();
    let w = env.work().canonicalize().unwrap();
    git(&w, &["init", "-q", "-b", "main"]);
    std::fs::write(w.join("keep.txt"), "original\n").unwrap();
    git(&w, &["add", "."]);
    git(&w, &["commit", "-qm", "init"]);
    let id = run_task_with(
        &env,
        vec![
            tools(
                "execute_command",
                &json!({"command": "printf 'by the shell\\n' > keep.txt"}),
            ),
            Reply::Text("done".into()),
        ],
        "",
    );
    let logged = snapshot_log(&env, 1);
    assert_eq!(
        logged,
        format!("checkpoint {id}.1"),
        "walked, nothing to say"
    );
    let out = env
        .cmd()
        .args(["checkpoint", "diff", &format!("{id}.1")])
        .output()
        .unwrap();
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.contains("+by the shell"), "{diff}");
}

#[test]
fn a_shell_commands_changes_are_rolled_back_and_git_is_untouched() {
    let env = TestEnv::new();
    let w = env.work().canonicalize().unwrap();
    git(&w, &["init", "-q", "-b", "main"]);
    std::fs::write(w.join("keep.txt"), "original\n").unwrap();
    git(&w, &["add", "."]);
    git(&w, &["commit", "-qm", "init"]);
    std::fs::write(w.join("mine.txt"), "untracked, the user's\n").unwrap();
    let view = user_view(&w);
    let id = run_task(
        &env,
        vec![
            tools(
                "execute_command",
                &json!({"command": "printf 'by the shell\\n' > keep.txt && mkdir -p out && echo made > out/new.txt && rm mine.txt"}),
            ),
            tools(
                "write_file",
                &json!({"path": "written.txt", "content": "hello\n"}),
            ),
            tools("read_file", &json!({"path": "keep.txt"})),
            Reply::Text("done".into()),
        ],
    );
    let out = env
        .cmd()
        .args(["--json", "checkpoint", "list", &id])
        .output()
        .unwrap();
    assert!(out.status.success());
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let turns: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["turn"].as_u64().unwrap())
        .collect();
    assert_eq!(
        turns,
        vec![0, 1, 2],
        "baseline, the command's turn, the write's; no read-only turn"
    );
    // The command's turn was snapshotted from the watcher started with the baseline.
    let logged = snapshot_log(&env, 1);
    assert_eq!(
        logged,
        format!("checkpoint {id}.1 (4 changed paths watched)"),
        "keep.txt, out, out/new.txt, mine.txt"
    );
    let out = env
        .cmd()
        .args(["checkpoint", "show", &format!("{id}.1")])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("keep.txt") && shown.contains("out/new.txt"),
        "{shown}"
    );
    let out = env
        .cmd()
        .args(["checkpoint", "diff", &id])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("+by the shell"));

    env.cmd()
        .args(["checkpoint", "rollback", &id])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(w.join("keep.txt")).unwrap(),
        "original\n"
    );
    assert_eq!(
        std::fs::read_to_string(w.join("mine.txt")).unwrap(),
        "untracked, the user's\n"
    );
    assert!(!w.join("out").exists() && !w.join("written.txt").exists());
    assert_eq!(user_view(&w), view);
}

#[test]
fn rollback_refuses_over_user_edits_with_exit_1_and_force_overrides() {
    let env = TestEnv::new();
    let w = env.work().canonicalize().unwrap();
    std::fs::write(w.join("f.txt"), "before\n").unwrap();
    let id = run_task(
        &env,
        vec![
            tools("write_file", &json!({"path": "f.txt", "content": "task\n"})),
            Reply::Text("done".into()),
        ],
    );
    std::fs::write(w.join("f.txt"), "user\n").unwrap();
    let out = env
        .cmd()
        .args(["checkpoint", "rollback", &id])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("f.txt") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(w.join("f.txt")).unwrap(), "user\n");
    env.cmd()
        .args(["checkpoint", "rollback", "--force", &id[..6]])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(w.join("f.txt")).unwrap(),
        "before\n"
    );
}

#[test]
fn a_task_that_changes_nothing_has_no_checkpoints() {
    let env = TestEnv::new();
    std::fs::write(env.work().join("f.txt"), "x\n").unwrap();
    run_task(
        &env,
        vec![
            tools("read_file", &json!({"path": "f.txt"})),
            Reply::Text("done".into()),
        ],
    );
    let out = env
        .cmd()
        .args(["--json", "checkpoint", "list"])
        .output()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!([])
    );
}

#[test]
fn unknown_and_bad_ids_exit_2_with_the_fix() {
    let env = TestEnv::new();
    for args in [
        vec!["checkpoint", "show", "abcdef123456.3"],
        vec!["checkpoint", "rollback", "abcdef123456"],
        vec!["checkpoint", "diff", "not-an-id"],
    ] {
        let out = env.cmd().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("checkpoint") && (err.contains("list") || err.contains("TASK.TURN")),
            "{err}"
        );
    }
}
