//! End-to-end tests of `az-os --batch run`: the built binary against the fake
//! provider, checking stdout, the JSON Lines contract, exit codes and the database.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use predicates::prelude::*;
use serde_json::Value;

use crate::common::fake_provider::{FakeProvider, Reply};
use crate::common::{TestEnv, json_lines, of_type};

fn tools(calls: &[(&str, &str)]) -> Reply {
    Reply::Tools {
        text: "Let me act.".into(),
        calls: calls
            .iter()
            .map(|(n, a)| ((*n).to_owned(), (*a).to_owned()))
            .collect(),
    }
}

fn count(conn: &az_os::store::Db, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn multi_turn_task_runs_a_command_writes_a_file_and_finishes() {
    let env = TestEnv::new();
    std::fs::write(env.work().join("data.csv"), "a,b\n1,2\n3,4\n").unwrap();
    let fake = FakeProvider::start(vec![
        tools(&[("execute_command", r#"{"command":"wc -l < data.csv"}"#)]),
        tools(&[("write_file", r#"{"path":"out/count.txt","content":"3\n"}"#)]),
        tools(&[("finish", r#"{"result":"data.csv has 3 lines"}"#)]),
    ]);
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "count the lines in data.csv"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json_lines(&out.stdout);

    let obs = of_type(&events, "observation");
    assert_eq!(obs.len(), 3);
    assert_eq!(obs[0]["tool"], "execute_command");
    assert_eq!(obs[0]["ok"], true);
    assert!(
        obs[0]["output"]
            .as_str()
            .unwrap()
            .contains("exit code: 0\n3"),
        "{}",
        obs[0]
    );
    assert_eq!(
        std::fs::read_to_string(env.work().join("out/count.txt")).unwrap(),
        "3\n"
    );
    let fin = of_type(&events, "task_finished");
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0]["status"], "completed");
    assert_eq!(fin[0]["result"], "data.csv has 3 lines");
    assert_eq!(fin[0]["turns"], 3);
    for ty in ["thought", "action", "reflection", "turn_started"] {
        assert_eq!(of_type(&events, ty).len(), 3, "{ty}");
    }
    // Three turns, and the lessons request at the end.
    assert_eq!(of_type(&events, "llm_call").len(), 4);
    assert_eq!(fake.lesson_requests().len(), 1);

    // The observation went back to the model as a tool result.
    let reqs = fake.requests();
    let second = &reqs[1].body["messages"];
    let tool_msg = second
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap();
    assert!(
        tool_msg["content"]
            .as_str()
            .unwrap()
            .contains("exit code: 0")
    );

    let conn = env.conn();
    let (status, result, turns): (String, String, i64) = conn
        .query_row("SELECT status, result, turns FROM tasks", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(
        (status.as_str(), result.as_str(), turns),
        ("completed", "data.csv has 3 lines", 3)
    );
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM cost_tracking"),
        4,
        "three turns and the lessons request"
    );
    assert!(
        count(
            &conn,
            "SELECT COUNT(*) FROM task_logs WHERE kind = 'observation'"
        ) == 3
    );
    assert_eq!(
        count(
            &conn,
            "SELECT invocation_count FROM tool_usage WHERE tool_name = 'execute_command'"
        ),
        1
    );
    let cost: f64 = conn
        .query_row("SELECT cost_usd FROM tasks", [], |r| r.get(0))
        .unwrap();
    let ledger: f64 = conn
        .query_row("SELECT SUM(cost_usd) FROM cost_tracking", [], |r| r.get(0))
        .unwrap();
    assert!(cost > 0.0 && (cost - ledger).abs() < 1e-12);
    assert!(count(&conn, "SELECT COUNT(*) FROM task_state") == 1);
}

#[test]
fn human_mode_prints_only_the_result_on_stdout() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        tools(&[("execute_command", r#"{"command":"echo hi"}"#)]),
        Reply::Text("All done: hi".into()),
    ]);
    env.config("openai", &fake.base_url(), "");
    env.cmd()
        .args(["--batch", "run", "say", "hi"])
        .assert()
        .success()
        .stdout("All done: hi\n")
        .stderr(
            predicate::str::contains("execute_command").and(predicate::str::contains("completed")),
        );
}

#[test]
fn anthropic_wire_runs_a_task_end_to_end() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        tools(&[("write_file", r#"{"path":"a.txt","content":"x"}"#)]),
        tools(&[("finish", r#"{"result":"wrote a.txt"}"#)]),
    ]);
    env.config("anthropic", &fake.base_url(), "");
    env.cmd()
        .args(["--batch", "run", "write a.txt"])
        .assert()
        .success()
        .stdout("wrote a.txt\n");
    assert_eq!(
        std::fs::read_to_string(env.work().join("a.txt")).unwrap(),
        "x"
    );
    let reqs = fake.requests();
    assert!(reqs[0].path.ends_with("/messages"));
    // The tool result went back as a user tool_result block.
    let msgs = reqs[1].body["messages"].as_array().unwrap();
    let last = msgs.last().unwrap();
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"][0]["type"], "tool_result");
}

#[test]
fn non_streaming_server_works_too() {
    let env = TestEnv::new();
    let fake = FakeProvider::start_json_only(vec![
        tools(&[("read_file", r#"{"path":"note.txt"}"#)]),
        Reply::Text("the note says hello".into()),
    ]);
    std::fs::write(env.work().join("note.txt"), "hello").unwrap();
    env.config("openai", &fake.base_url(), "");
    env.cmd()
        .args(["--batch", "run", "read note.txt"])
        .assert()
        .success()
        .stdout("the note says hello\n");
}

#[test]
fn max_turns_ends_the_task_failed_with_the_reason() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        tools(&[("execute_command", r#"{"command":"true"}"#)]),
        tools(&[("execute_command", r#"{"command":"true"}"#)]),
    ]);
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "--max-turns", "2", "loop"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let events = json_lines(&out.stdout);
    let fin = of_type(&events, "task_finished")[0];
    assert_eq!(fin["status"], "failed");
    assert_eq!(fin["turns"], 2);
    assert!(
        fin["error"].as_str().unwrap().contains("turn limit (2)"),
        "{fin}"
    );
    assert_eq!(fake.chat_count(), 2);
    let status: String = env
        .conn()
        .query_row("SELECT status FROM tasks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "failed");
}

#[test]
fn path_escapes_are_refused_with_a_clear_observation() {
    let env = TestEnv::new();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("pwned.txt");
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(outside.path(), env.work().join("link")).unwrap();
    let write_abs = format!(r#"{{"path":"{}","content":"x"}}"#, target.display());
    let fake = FakeProvider::start(vec![
        tools(&[
            ("read_file", r#"{"path":"../secret.txt"}"#),
            ("write_file", &write_abs),
            ("read_file", r#"{"path":"link/secret.txt"}"#),
        ]),
        Reply::Text("refused".into()),
    ]);
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "escape"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let events = json_lines(&out.stdout);
    let obs = of_type(&events, "observation");
    assert_eq!(obs.len(), 3);
    for o in obs {
        assert_eq!(o["ok"], false, "{o}");
        assert!(
            o["output"]
                .as_str()
                .unwrap()
                .contains("outside the task's workdir"),
            "{o}"
        );
    }
    assert!(!target.exists());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\"secret\""));
}

#[test]
fn bad_tool_calls_become_observations() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        tools(&[
            ("delete_everything", "{}"),
            ("write_file", r#"{"path": 7}"#),
            ("execute_command", "{not json"),
        ]),
        Reply::Text("ok".into()),
    ]);
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "misbehave"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let events = json_lines(&out.stdout);
    let obs = of_type(&events, "observation");
    assert!(obs[0]["output"].as_str().unwrap().contains("unknown tool"));
    assert!(
        obs[1]["output"]
            .as_str()
            .unwrap()
            .contains("invalid arguments for write_file")
    );
    assert!(
        obs[2]["output"]
            .as_str()
            .unwrap()
            .contains("invalid arguments for execute_command")
    );
    // Arguments that are not JSON are shown as a string.
    assert_eq!(of_type(&events, "action")[2]["input"], "{not json");
}

#[test]
fn malformed_model_reply_is_an_error_event_not_a_panic() {
    let env = TestEnv::new();
    let fake = FakeProvider::start_json_only(vec![Reply::Raw("{not json".into())]);
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "anything"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let events = json_lines(&out.stdout);
    let err = of_type(&events, "error")[0];
    assert_eq!(err["category"], "malformed");
    assert_eq!(err["retryable"], false);
    let fin = of_type(&events, "task_finished")[0];
    assert_eq!(fin["status"], "failed");
    assert!(fin["error"].as_str().unwrap().contains("not JSON"));
}

#[test]
fn rate_limit_is_retried_after_the_servers_delay() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        Reply::Status {
            code: 429,
            retry_after: Some(1),
            message: "slow down".into(),
        },
        Reply::Text("finally".into()),
    ]);
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let events = json_lines(&out.stdout);
    let retry = of_type(&events, "retry")[0];
    assert_eq!(retry["category"], "rate_limit");
    // The failed attempt itself is an event too (the dashboard's health pane reads it).
    let failed = of_type(&events, "request_failed")[0];
    assert_eq!(
        (&failed["category"], &failed["attempt"]),
        (&serde_json::json!("rate_limit"), &serde_json::json!(1))
    );
    assert_eq!(retry["delay_ms"], 1000);
    assert_eq!(retry["attempt"], 2);
    assert_eq!(of_type(&events, "llm_call")[0]["attempt"], 2);
}

#[test]
fn dropped_stream_is_retried() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        Reply::DropStream("partial".into()),
        Reply::Text("whole".into()),
    ]);
    env.config("anthropic", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "x"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json_lines(&out.stdout);
    assert_eq!(of_type(&events, "retry")[0]["category"], "network");
    assert_eq!(of_type(&events, "task_finished")[0]["result"], "whole");
}

#[test]
fn two_workers_run_tasks_from_stdin_side_by_side() {
    let env = TestEnv::new();
    let slow = |t: &str| {
        Reply::Delay(
            std::time::Duration::from_millis(400),
            Box::new(Reply::Text(t.into())),
        )
    };
    let fake = FakeProvider::start(vec![slow("one done"), slow("two done")]);
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "-", "--jobs", "2"])
        .write_stdin("task one\n\n# a comment\ntask two\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let events = json_lines(&out.stdout);
    let started: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["type"] == "task_started")
        .map(|(i, _)| i)
        .collect();
    let finished: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["type"] == "task_finished")
        .map(|(i, _)| i)
        .collect();
    assert_eq!((started.len(), finished.len()), (2, 2));
    // Both started before either finished: they ran at the same time.
    assert!(started[1] < finished[0], "{events:#?}");
    let mut results: Vec<&str> = finished
        .iter()
        .map(|&i| events[i]["result"].as_str().unwrap())
        .collect();
    results.sort_unstable();
    assert_eq!(results, ["one done", "two done"]);
    assert_eq!(
        count(
            &env.conn(),
            "SELECT COUNT(*) FROM tasks WHERE status = 'completed'"
        ),
        2
    );
}

/// Fields each event type must carry (SPEC.md).
fn required(ty: &str) -> &'static [&'static str] {
    match ty {
        "task_queued" => &["description"],
        "task_started" => &["model", "route"],
        "turn_started" => &["turn"],
        "thought" | "reflection" => &["turn", "text"],
        "action" => &["turn", "tool", "input"],
        "observation" => &["turn", "tool", "ok", "output"],
        "llm_call" => &[
            "model",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "latency_ms",
            "attempt",
        ],
        "retry" => &["model", "attempt", "delay_ms", "category"],
        "request_failed" => &["model", "attempt", "category", "message"],
        "task_finished" => &[
            "status",
            "result",
            "turns",
            "cost_usd",
            "duration_ms",
            "error",
        ],
        "error" => &["message", "category", "retryable"],
        "notice" => &["message"],
        "checkpoint" => &["turn", "checkpoint_id"],
        other => panic!("unexpected event type {other}"),
    }
}

#[test]
fn json_lines_follow_the_contract() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        Reply::Status {
            code: 500,
            retry_after: Some(0),
            message: "boom".into(),
        },
        tools(&[("execute_command", r#"{"command":"echo 1"}"#)]),
        tools(&[("finish", r#"{"result":"1"}"#)]),
    ]);
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "echo one"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let events = json_lines(&out.stdout);
    assert!(events.len() >= 10);
    let id = events[0]["task_id"].as_str().unwrap().to_owned();
    for e in &events {
        let ty = e["type"].as_str().unwrap();
        assert_eq!(e["task_id"], id.as_str(), "{e}");
        let ts = e["ts"].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).is_ok(),
            "{ts}"
        );
        for f in required(ty) {
            assert!(e.get(*f).is_some(), "{ty} lacks {f}: {e}");
        }
    }
    let route = &of_type(&events, "task_started")[0]["route"];
    for f in ["complexity", "tier", "score", "reason"] {
        assert!(route.get(f).is_some(), "route lacks {f}");
    }
    assert_eq!(events[0]["type"], "task_queued");
    assert_eq!(events.last().unwrap()["type"], "task_finished");
    let call = of_type(&events, "llm_call")[0];
    assert!(call["input_tokens"].as_u64().unwrap() > 0);
    assert!(call["cost_usd"].as_f64().unwrap() > 0.0);
    // Every completed turn but the finishing one is checkpointed as `{task_id}.{turn}`,
    // its state on disk.
    let ids: Vec<&str> = of_type(&events, "checkpoint")
        .iter()
        .map(|e| e["checkpoint_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![format!("{id}.1")]);
    let saved = std::fs::read_to_string(env.home().join(format!("checkpoints/{id}.json"))).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved["turns"], 1);
    assert_eq!(saved["checkpoint_id"], format!("{id}.1"));
    assert_eq!(saved["changes"][0]["commands_run"][0], "echo 1", "{saved}");
}

#[test]
fn task_budget_stops_before_the_request_that_would_pass_it() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![tools(&[("execute_command", r#"{"command":"true"}"#)])]);
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "--budget", "0.0000001", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let events = json_lines(&out.stdout);
    let fin = of_type(&events, "task_finished")[0];
    assert_eq!(fin["status"], "budget_exceeded");
    assert!(fin["error"].as_str().unwrap().contains("--budget"));
    assert_eq!(fake.chat_count(), 0, "no request may be sent past the cap");
}

#[test]
fn ctrl_c_cancels_the_running_task_and_kills_its_command() {
    let env = TestEnv::new();
    let marker = "az_os_ctrl_c_marker";
    let cmd_json = format!(r#"{{"command":"sleep 30 # {marker}"}}"#);
    let fake = FakeProvider::start(vec![tools(&[("execute_command", &cmd_json)])]);
    env.config("openai", &fake.base_url(), "");
    let mut child = std::process::Command::new(crate::common::bin())
        .args(["--batch", "--json", "run", "wait"])
        .env("AZ_OS_HOME", env.home())
        .env("AZ_OS_TEST_KEY", "sk-test")
        .current_dir(env.work())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait for the action event: the command is about to run.
    for line in lines.by_ref() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if v["type"] == "action" {
            break;
        }
    }
    // Wait until the shell is really running (bounded).
    let mut seen = false;
    for _ in 0..200 {
        let ps = std::process::Command::new("pgrep")
            .args(["-f", marker])
            .output()
            .unwrap();
        if ps.status.success() {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(seen, "the command never started");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let rest: Vec<Value> = lines
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let fin = rest.iter().find(|e| e["type"] == "task_finished").unwrap();
    assert_eq!(fin["status"], "cancelled");
    let db: String = env
        .conn()
        .query_row("SELECT status FROM tasks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(db, "cancelled");
    let ps = std::process::Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .unwrap();
    assert!(!ps.status.success(), "the command's process group survived");
}
