//! Crash recovery end to end: the real binary killed with SIGKILL mid-task against the
//! fake provider, then `az-os tasks list` (reconciliation: `interrupted`, never left
//! `running`/`pending`, a live process's tasks untouched), `az-os tasks resume` (the
//! model gets the earlier conversation), damaged states, `--resume` in batch mode, pid
//! reuse in the owner check, and the 20-kill run behind `scripts/kill-test.sh`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::fake_provider::{FakeProvider, Reply};
use crate::common::{TestEnv, bin, json_lines, of_type};

mod kill;
mod owners;

fn tools(calls: &[(&str, &str)]) -> Reply {
    Reply::Tools {
        text: "Working on it.".into(),
        calls: calls
            .iter()
            .map(|(n, a)| ((*n).to_owned(), (*a).to_owned()))
            .collect(),
    }
}

fn finish(result: &str) -> Reply {
    tools(&[("finish", &format!(r#"{{"result":"{result}"}}"#))])
}

fn slow(ms: u64, reply: Reply) -> Reply {
    Reply::Delay(Duration::from_millis(ms), Box::new(reply))
}

/// Waits for `f`, failing after 60 s (a deadline, not a timing assertion).
fn eventually(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(60), "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The binary with this home, started in the background; its stdout lines are
/// collected as they come.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

fn spawn(env: &TestEnv, args: &[&str]) -> Running {
    let mut child = std::process::Command::new(bin())
        .args(args)
        .env_remove("OPENROUTER_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("AZ_OS_LOG")
        .env("AZ_OS_HOME", env.home())
        .env("AZ_OS_TEST_KEY", "sk-test-secret-0123456789")
        .env("NO_COLOR", "1")
        .current_dir(env.work())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let out = child.stdout.take().unwrap();
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    Running { child, lines }
}

impl Running {
    fn kill9(mut self) -> Vec<Value> {
        self.child.kill().unwrap(); // SIGKILL: no handler runs
        let _ = self.child.wait();
        // Whole lines only: the last one may have been cut by the kill.
        let lines = self.lines.lock().unwrap().clone();
        lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

fn statuses(env: &TestEnv) -> Vec<(String, String)> {
    let out = env
        .cmd()
        .args(["--json", "tasks", "list", "--limit", "1000"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn integrity_ok(env: &TestEnv) {
    let ok: String = env
        .conn()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

/// The request's messages, as sent (OpenAI wire format).
fn messages(req: &crate::common::fake_provider::Recorded) -> Vec<Value> {
    req.body["messages"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_killed_task_is_interrupted_and_resumes_with_its_conversation() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        tools(&[(
            "write_file",
            r#"{"path":"notes.txt","content":"first turn"}"#,
        )]),
        // The second turn's reply never comes in time: the process is killed waiting.
        slow(120_000, finish("too late")),
    ]);
    env.config("openai", &fake.base_url(), "");
    let run = spawn(
        &env,
        &["--batch", "--json", "run", "write notes then finish"],
    );
    eventually("the second request never came", || fake.chat_count() >= 2);

    // Another process's `tasks list` leaves a live owner's task alone.
    let live = statuses(&env);
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].1, "running", "a live process's task was touched");
    let id = live[0].0.clone();

    let before = run.kill9();
    assert!(
        of_type(&before, "checkpoint")
            .iter()
            .any(|e| e["checkpoint_id"] == format!("{id}.1")),
        "{before:?}"
    );
    let after = env.cmd().args(["tasks", "list"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&after.stderr);
    assert!(stderr.contains("tasks resume --all"), "{stderr}");
    assert_eq!(statuses(&env), vec![(id.clone(), "interrupted".to_owned())]);
    integrity_ok(&env);
    let show = env.cmd().args(["tasks", "show", &id]).output().unwrap();
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(
        show.contains(&format!("{id}.1 (`az-os tasks resume {id}`")),
        "{show}"
    );

    fake.push([finish("notes written")]);
    let prefix: String = id.chars().take(6).collect();
    let out = env
        .cmd()
        .args(["--batch", "--json", "tasks", "resume", &prefix])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let events = json_lines(&out.stdout);
    let fin = of_type(&events, "task_finished")[0];
    assert_eq!(fin["status"], "completed");
    assert_eq!(fin["result"], "notes written");
    assert_eq!(fin["turns"], 2);
    // The first turn is not run again: the resumed run starts at turn 2.
    let turns: Vec<&Value> = of_type(&events, "turn_started")
        .iter()
        .map(|e| &e["turn"])
        .collect();
    assert_eq!(turns, vec![&Value::from(2)]);
    assert_eq!(fake.chat_count(), 3);
    // The model sees the earlier conversation: the task, turn 1's call and its result.
    let last = fake.requests().last().cloned().unwrap();
    let msgs = messages(&last);
    let text = serde_json::to_string(&msgs).unwrap();
    assert!(text.contains("write notes then finish"), "{text}");
    assert!(msgs.iter().any(|m| m["role"] == "tool"), "{text}");
    assert!(text.contains("notes.txt"), "{text}");
    assert_eq!(
        std::fs::read_to_string(env.work().join("notes.txt")).unwrap(),
        "first turn"
    );
    assert_eq!(statuses(&env), vec![(id, "completed".to_owned())]);
    integrity_ok(&env);
}

/// A resume puts the workdir back as it was after the last completed turn, and keeps
/// what it replaced aside.
#[test]
fn a_resumed_task_first_undoes_what_its_interrupted_turn_half_did() {
    let env = TestEnv::new();
    std::fs::write(env.work().join("keep.txt"), "the user's").unwrap();
    let fake = FakeProvider::start(vec![
        tools(&[(
            "write_file",
            r#"{"path":"notes.txt","content":"first turn"}"#,
        )]),
        // The second turn changes two files, then hangs until it is killed.
        tools(&[(
            "execute_command",
            r#"{"command":"printf half > notes.txt && printf new > extra.txt && sleep 120"}"#,
        )]),
    ]);
    env.config("openai", &fake.base_url(), "");
    let run = spawn(&env, &["--batch", "--json", "run", "write notes"]);
    let extra = env.work().join("extra.txt");
    eventually("the second turn's command never ran", || extra.exists());
    run.kill9();
    let id = statuses(&env)[0].0.clone();
    assert_eq!(statuses(&env)[0].1, "interrupted");

    fake.push([finish("notes written")]);
    let out = env
        .cmd()
        .args(["--batch", "--json", "tasks", "resume", &id])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let events = json_lines(&out.stdout);
    // The files are as they were after turn 1, the last completed one.
    assert_eq!(
        std::fs::read_to_string(env.work().join("notes.txt")).unwrap(),
        "first turn"
    );
    assert!(
        !extra.exists(),
        "a file the interrupted turn created is gone"
    );
    assert_eq!(
        std::fs::read_to_string(env.work().join("keep.txt")).unwrap(),
        "the user's"
    );
    let notice = of_type(&events, "notice")
        .iter()
        .filter_map(|e| e["message"].as_str())
        .find(|m| m.contains("half done"))
        .unwrap_or_else(|| panic!("{events:?}"))
        .to_owned();
    assert!(notice.contains(&format!("checkpoint {id}.1")), "{notice}");
    assert!(notice.contains("1 written, 1 deleted"), "{notice}");
    // What it replaced is kept aside, so an edit of the user's is never lost.
    let backups: Vec<_> = std::fs::read_dir(env.home().join("checkpoints/interrupted"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert!(
        notice.contains(&backups[0].display().to_string()),
        "{notice}"
    );
    assert_eq!(
        std::fs::read_to_string(backups[0].join("notes.txt")).unwrap(),
        "half"
    );
    assert_eq!(
        std::fs::read_to_string(backups[0].join("extra.txt")).unwrap(),
        "new"
    );
    assert_eq!(statuses(&env), vec![(id, "completed".to_owned())]);
    integrity_ok(&env);
}

/// Starts a task whose first request never returns in time, kills the process, and
/// returns the interrupted task's id.
fn interrupted_before_any_turn(env: &TestEnv, fake: &FakeProvider, task: &str) -> String {
    let run = spawn(env, &["--batch", "--json", "run", task]);
    let n = fake.chat_count();
    eventually("the request never came", || fake.chat_count() > n);
    run.kill9();
    let rows = statuses(env);
    let (id, status) = rows
        .iter()
        .find(|(id, _)| {
            env.conn()
                .query_row("SELECT description FROM tasks WHERE id = ?1", [id], |r| {
                    r.get::<String>(0)
                })
                .unwrap()
                == task
        })
        .unwrap()
        .clone();
    assert_eq!(status, "interrupted");
    id
}

#[test]
fn a_task_with_no_saved_state_starts_over_saying_so_and_batch_resume_runs_it() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![slow(120_000, finish("never"))]);
    env.config("openai", &fake.base_url(), "");
    let old = interrupted_before_any_turn(&env, &fake, "the old task");

    fake.push([finish("old done"), finish("new done")]);
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "--resume", "the new task"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let events = json_lines(&out.stdout);
    let notes: Vec<&str> = of_type(&events, "notice")
        .iter()
        .filter(|e| e["task_id"] == old.as_str())
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("no saved state") && n.contains("starts over")),
        "{notes:?}"
    );
    let finished: Vec<(&str, &str)> = of_type(&events, "task_finished")
        .iter()
        .map(|e| {
            (
                e["task_id"].as_str().unwrap(),
                e["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(finished.len(), 2, "{finished:?}");
    assert!(
        finished.iter().all(|(_, s)| *s == "completed"),
        "{finished:?}"
    );
    assert!(finished.iter().any(|(id, _)| *id == old));
    // Resumed tasks are queued before the new ones.
    let queued: Vec<&str> = of_type(&events, "task_queued")
        .iter()
        .map(|e| e["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(queued[0], old);
}

#[test]
fn a_damaged_state_is_reported_and_the_task_starts_over() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        tools(&[("execute_command", r#"{"command":"echo one"}"#)]),
        slow(120_000, finish("never")),
    ]);
    env.config("openai", &fake.base_url(), "");
    let run = spawn(&env, &["--batch", "--json", "run", "echo then finish"]);
    eventually("the second request never came", || fake.chat_count() >= 2);
    run.kill9();
    let id = statuses(&env)[0].0.clone();
    let file = env.home().join(format!("checkpoints/{id}.json"));
    assert!(file.is_file());
    std::fs::write(&file, "{\"version\": 1, \"turns\": tru").unwrap();
    // The row too, as an older az-os wrote it: no version.
    env.conn()
        .execute(
            "UPDATE task_state SET state_json = '{\"turn\": 1, \"messages\": []}' WHERE task_id = ?1",
            [&id],
        )
        .unwrap();

    fake.push([finish("done anew")]);
    let out = env
        .cmd()
        .args(["--batch", "--json", "tasks", "resume", &id])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let events = json_lines(&out.stdout);
    let notice = of_type(&events, "notice")
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .find(|m| m.contains("cannot continue"))
        .unwrap_or_else(|| panic!("no notice: {events:?}"));
    assert!(notice.contains("starting it over"), "{notice}");
    assert!(notice.contains(&format!("{id}.json")), "{notice}");
    assert!(notice.contains("older az-os"), "{notice}");
    assert_eq!(of_type(&events, "turn_started")[0]["turn"], 1);
    assert_eq!(of_type(&events, "task_finished")[0]["status"], "completed");
    // Started over: the request holds the task alone, not the damaged conversation.
    let last = fake.requests().last().cloned().unwrap();
    assert!(!messages(&last).iter().any(|m| m["role"] == "tool"));
}

#[test]
fn a_damaged_file_falls_back_to_the_task_state_row() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        tools(&[("execute_command", r#"{"command":"echo one"}"#)]),
        slow(120_000, finish("never")),
    ]);
    env.config("openai", &fake.base_url(), "");
    let run = spawn(&env, &["--batch", "--json", "run", "echo then finish"]);
    eventually("the second request never came", || fake.chat_count() >= 2);
    run.kill9();
    let id = statuses(&env)[0].0.clone();
    // As a crash between the two writes of a turn could leave it: the file cut short.
    std::fs::write(env.home().join(format!("checkpoints/{id}.json")), "{\"vers").unwrap();
    fake.push([finish("done from the row")]);
    let out = env
        .cmd()
        .args(["--batch", "--json", "tasks", "resume", &id])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let events = json_lines(&out.stdout);
    assert_eq!(of_type(&events, "turn_started")[0]["turn"], 2, "{events:?}");
    let fin = of_type(&events, "task_finished")[0];
    assert_eq!(fin["result"], "done from the row");
    assert_eq!(fin["turns"], 2);
}

#[test]
fn resume_refuses_a_task_that_is_not_interrupted() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![finish("done")]);
    env.config("openai", &fake.base_url(), "");
    env.cmd()
        .args(["--batch", "run", "quick"])
        .assert()
        .success();
    let id = statuses(&env)[0].0.clone();
    let out = env.cmd().args(["tasks", "resume", &id]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only interrupted tasks resume"), "{err}");
    assert!(err.contains("tasks retry"), "{err}");
    let none = env
        .cmd()
        .args(["tasks", "resume", "--all"])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no interrupted tasks"));
}

/// `tasks resume --model/--budget`: bad values are refused before anything is claimed;
/// good ones replace the task's model and budget for the rest of it, and the route says so.
#[test]
fn resume_takes_a_model_and_a_budget_for_the_rest_of_the_task() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        tools(&[(
            "write_file",
            r#"{"path":"notes.txt","content":"first turn"}"#,
        )]),
        slow(120_000, finish("too late")),
    ]);
    // A second model on the same fake server, told apart by its wire name.
    let other = format!(
        "[[models]]\nname = \"other\"\nprovider = \"openai\"\nmodel = \"other-model\"\n\
         base_url = \"{}\"\napi_key_env = \"AZ_OS_TEST_KEY\"\ntier = \"complex\"\n\
         input_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\n",
        fake.base_url()
    );
    env.config("openai", &fake.base_url(), &other);
    let run = spawn(
        &env,
        &[
            "--batch",
            "--json",
            "run",
            "--model",
            "fake",
            "write notes then finish",
        ],
    );
    eventually("the second request never came", || fake.chat_count() >= 2);
    run.kill9();
    let rows = statuses(&env);
    assert_eq!(rows.len(), 1);
    let id = rows[0].0.clone();
    assert_eq!(rows[0].1, "interrupted");

    let bad_model = env
        .cmd()
        .args(["tasks", "resume", &id, "--model", "nope"])
        .output()
        .unwrap();
    assert_eq!(bad_model.status.code(), Some(2), "{bad_model:?}");
    let err = String::from_utf8_lossy(&bad_model.stderr);
    assert!(err.contains("--model nope: no such model"), "{err}");
    assert!(err.contains("other"), "{err}");
    let bad_budget = env
        .cmd()
        .args(["tasks", "resume", &id, "--budget=-1"])
        .output()
        .unwrap();
    assert_eq!(bad_budget.status.code(), Some(2), "{bad_budget:?}");
    assert!(String::from_utf8_lossy(&bad_budget.stderr).contains("--budget must be 0 or more"));
    assert_eq!(statuses(&env), vec![(id.clone(), "interrupted".to_owned())]);

    fake.push([finish("done on the other model")]);
    let out = env
        .cmd()
        .args([
            "--batch", "--json", "tasks", "resume", &id, "--model", "other", "--budget", "0.5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let events = json_lines(&out.stdout);
    let started = of_type(&events, "task_started")[0];
    assert_eq!(started["model"], "other", "{started}");
    let reason = started["route"]["reason"].as_str().unwrap();
    assert!(reason.contains("tasks resume --model"), "{reason}");
    assert!(reason.contains("it was on fake"), "{reason}");
    assert_eq!(of_type(&events, "task_finished")[0]["status"], "completed");
    // The request went to the other model, with the earlier conversation.
    let last = fake.requests().last().cloned().unwrap();
    assert_eq!(last.body["model"], "other-model");
    assert!(
        serde_json::to_string(&messages(&last))
            .unwrap()
            .contains("notes.txt")
    );
    let (model, budget): (String, f64) = env
        .conn()
        .query_row(
            "SELECT requested_model, budget_usd FROM tasks WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((model.as_str(), budget), ("other", 0.5));
}
