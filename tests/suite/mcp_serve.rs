//! `az-os mcp serve` driven by a real MCP client: the Python `mcp` package runs
//! tests/fixtures/mcp_client.py against the built binary, whose config sends its model to
//! the fake provider. The client is found through `AZ_OS_MCP_PYTHON` (the venv `.ci/run`
//! makes); without it each test says it is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use predicates::prelude::*;
use serde_json::Value;

use crate::common::fake_provider::{FakeProvider, Reply};
use crate::common::{TestEnv, bin};

/// The Python with the `mcp` package, or `None` (and a "skipped" line) when absent.
fn python() -> Option<PathBuf> {
    match std::env::var_os("AZ_OS_MCP_PYTHON").map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        Some(p) => {
            eprintln!(
                "skipped: AZ_OS_MCP_PYTHON={} does not exist; `bash .ci/run` makes the venv",
                p.display()
            );
            None
        }
        None => {
            eprintln!(
                "skipped: set AZ_OS_MCP_PYTHON to a python with the `mcp` package \
                 (`bash .ci/run` makes $HOME/.cache/az-os/venv-mcp)"
            );
            None
        }
    }
}

/// Runs one scenario of the client script and returns what it saw.
fn client(python: &Path, env: &TestEnv, scenario: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp_client.py");
    // The environment `TestEnv::cmd` gives the binary: this home, the test key, and no
    // key or home of the developer's shell.
    let mut cmd = Command::new(python);
    for k in [
        "OPENROUTER_API_KEY",
        "GEMINI_API_KEY",
        "MISTRAL_API_KEY",
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "OLLAMA_HOST",
        "AZ_OS_LOG",
    ] {
        cmd.env_remove(k);
    }
    let out = cmd
        .env("AZ_OS_HOME", env.home())
        .env("AZ_OS_TEST_KEY", "sk-test-secret-0123456789")
        .env("NO_COLOR", "1")
        .arg(&script)
        .arg(bin())
        .arg(scenario)
        .arg(env.work())
        .current_dir(env.work())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client {scenario} failed: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server_log(env)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "client printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn server_log(env: &TestEnv) -> String {
    std::fs::read_to_string(env.home().join("logs/az-os.log")).unwrap_or_default()
}

fn tools(calls: &[(&str, &str)]) -> Reply {
    Reply::Tools {
        text: "Let me act.".into(),
        calls: calls
            .iter()
            .map(|(n, a)| ((*n).to_owned(), (*a).to_owned()))
            .collect(),
    }
}

fn status_in_db(env: &TestEnv, id: &str) -> String {
    env.conn()
        .query_row("SELECT status FROM tasks WHERE id = ?1", [id], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_client_lists_tools_runs_a_task_and_reads_its_result_and_events() {
    let Some(py) = python() else { return };
    let env = TestEnv::new();
    std::fs::write(env.work().join("data.csv"), "a,b\n1,2\n3,4\n").unwrap();
    let fake = FakeProvider::start(vec![
        tools(&[("execute_command", r#"{"command":"wc -l < data.csv"}"#)]),
        tools(&[("finish", r#"{"result":"data.csv has 3 lines"}"#)]),
    ]);
    env.config("openai", &fake.base_url(), "");
    let seen = client(&py, &env, "run");

    assert_eq!(seen["server"], "az-os");
    let t = &seen["tools"];
    let names: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "cancel_task",
            "list_tasks",
            "submit_task",
            "task_events",
            "task_status",
            "wait_task"
        ]
    );
    for ro in ["task_status", "task_events", "wait_task", "list_tasks"] {
        assert_eq!(t[ro]["read_only"], true, "{ro}");
    }
    assert_eq!(t["submit_task"]["read_only"], false);
    assert_eq!(t["cancel_task"]["read_only"], false);
    assert_eq!(
        t["submit_task"]["properties"],
        serde_json::json!([
            "budget_usd",
            "critical",
            "description",
            "max_turns",
            "model",
            "workdir"
        ])
    );
    assert_eq!(
        t["submit_task"]["required"],
        serde_json::json!(["description"])
    );
    assert_eq!(
        t["task_events"]["properties"],
        serde_json::json!(["after", "task_id"])
    );
    let bytes = seen["tools_list_bytes"].as_u64().unwrap();
    eprintln!("tools/list: {bytes} bytes for 6 tools");

    // Submitted, queued, finished with the model's answer.
    let sub = &seen["submit"];
    assert_eq!(sub["is_error"], false, "{sub}");
    let id = sub["data"]["task_id"].as_str().unwrap();
    assert_eq!(sub["data"]["status"], "pending");
    let wait = &seen["wait"]["data"];
    assert_eq!(wait["status"], "completed", "{wait}");
    assert_eq!(wait["finished"], true);
    assert_eq!(wait["result"], "data.csv has 3 lines");
    assert_eq!(wait["turns"], 2);
    assert_eq!(wait["model"], "fake");
    assert!(wait["cost_usd"].as_f64().unwrap() > 0.0);
    // A prefix of the id finds the task.
    assert_eq!(seen["status"]["data"]["task_id"], id);
    assert_eq!(seen["status"]["data"]["result"], "data.csv has 3 lines");
    assert_eq!(status_in_db(&env, id), "completed");

    // The events, as --batch --json prints them, in order and complete.
    let events = seen["events"].as_array().unwrap();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"task_queued"));
    assert_eq!(types.last(), Some(&"task_finished"));
    assert!(
        events
            .iter()
            .all(|e| e["task_id"] == id && e["ts"].is_string())
    );
    let obs: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "observation")
        .collect();
    assert!(
        obs[0]["output"]
            .as_str()
            .unwrap()
            .contains("exit code: 0\n3"),
        "{}",
        obs[0]
    );
    assert_eq!(seen["events_next"].as_u64().unwrap(), events.len() as u64);
    let after_end = &seen["events_after_end"];
    assert_eq!(after_end["events"], serde_json::json!([]));
    assert_eq!(after_end["finished"], true);
    assert_eq!(after_end["more"], false);

    let list = seen["list"]["data"]["tasks"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["task_id"], id);

    // Arguments of the wrong shape and plausible but wrong calls are tool errors (as the
    // MCP spec has input errors, so the calling model can correct itself) that say what
    // to send; an unknown tool is a protocol error.
    let tool_error = |k: &str, needle: &str| {
        let v = &seen[k];
        assert_eq!(v["is_error"], true, "{k}: {v}");
        assert!(v["text"].as_str().unwrap().contains(needle), "{k}: {v}");
    };
    tool_error("bad_shape", "missing field `description`");
    tool_error("unknown_field", "unknown field `budget`");
    tool_error("bad_workdir", "no/such/dir does not exist");
    tool_error("bad_model", "no model named \"gpt-nope\"");
    tool_error("unknown_task", "list_tasks shows the ids");
    tool_error("bad_timeout", "timeout_s must be 1 to 600");
    assert!(
        seen["unknown_tool"]["protocol_error"].is_i64(),
        "{}",
        seen["unknown_tool"]
    );
    assert!(
        seen["cancel_finished"]["data"]["note"]
            .as_str()
            .unwrap()
            .contains("already ended")
    );
    // Nothing but the one task reached the engine.
    assert_eq!(fake.chat_count(), 2);
    let rows: i64 = env
        .conn()
        .query_row("SELECT COUNT(*) FROM tasks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn a_client_cancels_a_running_task() {
    let Some(py) = python() else { return };
    let env = TestEnv::new();
    // The model never answers in time: the task runs until cancelled.
    let fake = FakeProvider::start(vec![Reply::Delay(
        Duration::from_secs(120),
        Box::new(Reply::Text("too late".into())),
    )]);
    env.config("openai", &fake.base_url(), "");
    let seen = client(&py, &env, "cancel");
    assert_eq!(seen["started"], true);
    let cancel = &seen["cancel"]["data"];
    assert_eq!(cancel["status"], "cancelled", "{cancel}");
    assert_eq!(seen["wait"]["data"]["status"], "cancelled");
    let id = cancel["task_id"].as_str().unwrap();
    assert_eq!(status_in_db(&env, id), "cancelled");
}

#[test]
fn malformed_requests_get_errors_and_end_of_input_cancels_running_tasks() {
    let Some(py) = python() else { return };
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![Reply::Delay(
        Duration::from_secs(120),
        Box::new(Reply::Text("too late".into())),
    )]);
    env.config("openai", &fake.base_url(), "");
    let seen = client(&py, &env, "raw");
    assert_eq!(seen["initialize"], "az-os");
    // A request that is not a request, an unknown method and an unknown tool are
    // protocol errors; arguments of the wrong type are a tool error saying which.
    assert_eq!(
        seen["not_a_request"]["code"], -32600,
        "{}",
        seen["not_a_request"]
    );
    assert_eq!(
        seen["unknown_method"]["code"], -32601,
        "{}",
        seen["unknown_method"]
    );
    assert_eq!(
        seen["unknown_tool"]["code"], -32602,
        "{}",
        seen["unknown_tool"]
    );
    let wrong = &seen["wrong_type"];
    assert_eq!(wrong["isError"], true, "{wrong}");
    assert!(
        wrong["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("expected a string"),
        "{wrong}"
    );
    // The server survived the garbage and the bad requests.
    assert_eq!(seen["tools_after_garbage"].as_array().unwrap().len(), 6);
    assert_eq!(seen["status_before_eof"], "running");
    // stdin closed: running tasks cancelled and recorded, exit 0, stdout only protocol.
    assert_eq!(seen["exit_code"], 0, "stderr: {}", seen["stderr"]);
    assert_eq!(seen["stdout_not_json"], serde_json::json!([]));
    let id = seen["task_id"].as_str().unwrap();
    assert_eq!(status_in_db(&env, id), "cancelled");
    assert!(
        server_log(&env).contains("mcp serve"),
        "the log file has the server's lines"
    );
}

#[test]
fn serve_has_help_and_refuses_to_start_without_a_client_or_a_model() {
    let env = TestEnv::new();
    env.cmd()
        .args(["mcp", "serve", "--help"])
        .assert()
        .success()
        .stdout(
            predicates::str::contains("submit_task").and(predicates::str::contains("Examples:")),
        );
    // No model at all (and no Ollama): the preflight's advice, exit 2, nothing on stdout.
    env.cmd()
        .env("OLLAMA_HOST", "127.0.0.1:9")
        .args(["mcp", "serve"])
        .write_stdin("")
        .assert()
        .code(2)
        .stdout("");
    // A model, but the client leaves before the handshake: said on stderr, exit 2, stdout
    // untouched.
    let fake = FakeProvider::start(vec![]);
    env.config("openai", &fake.base_url(), "");
    env.cmd()
        .args(["mcp", "serve"])
        .write_stdin("")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::contains(
            "the MCP client did not initialize",
        ));
}

/// The protocol by hand from Rust (no client needed): one line out, the answer with `id`.
fn rpc(
    stdin: &mut std::process::ChildStdin,
    out: &mut impl std::io::BufRead,
    id: u64,
    method: &str,
    params: &Value,
) -> Value {
    use std::io::Write;
    let msg = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    writeln!(stdin, "{msg}").unwrap();
    stdin.flush().unwrap();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the server closed stdout"
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["id"] == id {
            return v;
        }
    }
}

#[test]
fn a_killed_servers_tasks_become_interrupted() {
    use std::io::{BufReader, Write};
    use std::process::Stdio;
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![Reply::Delay(
        Duration::from_secs(120),
        Box::new(Reply::Text("too late".into())),
    )]);
    env.config("openai", &fake.base_url(), "");
    let mut child = std::process::Command::new(bin())
        .args(["mcp", "serve"])
        .env("AZ_OS_HOME", env.home())
        .env("AZ_OS_TEST_KEY", "sk-test-secret-0123456789")
        .current_dir(env.work())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let init = serde_json::json!({
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "rust-test", "version": "0"}
    });
    assert_eq!(
        rpc(&mut stdin, &mut out, 1, "initialize", &init)["result"]["serverInfo"]["name"],
        "az-os"
    );
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    let submit = serde_json::json!({"name": "submit_task", "arguments": {"description": "wait"}});
    let sub = rpc(&mut stdin, &mut out, 2, "tools/call", &submit);
    let id = sub["result"]["structuredContent"]["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Until the task runs (its model request is out), then SIGKILL: no chance to clean up.
    let mut n = 2;
    loop {
        n += 1;
        let args = serde_json::json!({"name": "task_status", "arguments": {"task_id": id}});
        let st = rpc(&mut stdin, &mut out, n, "tools/call", &args);
        if st["result"]["structuredContent"]["status"] == "running" && fake.chat_count() == 1 {
            break;
        }
        assert!(n < 2000, "the task never ran: {st}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Any later az-os command sees the owner gone.
    let listed = env
        .cmd()
        .args(["--json", "tasks", "list"])
        .output()
        .unwrap();
    let tasks: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let row = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!(row["status"], "interrupted", "{row}");
}
