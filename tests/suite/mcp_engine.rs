//! MCP tools in tasks (issue 15, the engine's side), against the fixture server of
//! `examples/mcp_fixture.rs` and the fake provider: a task calls a tool and reads its
//! observation; `deny` is never called, `ask` is refused in batch mode without `--yes`
//! and runs with it, and is answered through `approval_requested` in the dashboard;
//! above `[mcp] tool_threshold` requests carry only relevant tools and `find_tools`;
//! a server that never starts does not hold a task up.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use az_os::engine::{self, Approval, Approvals, Command, EngineConfig, Event, TaskSpec};
use az_os::store::StoreHandle;
use az_os::util::ids::TaskId;
use serde_json::Value;

use crate::common::fake_provider::{FakeProvider, Reply};
use crate::common::mcp::fixture_server;
use crate::common::{TestEnv, json_lines, of_type};

fn call(text: &str, name: &str, args: &str) -> Reply {
    Reply::Tools {
        text: text.into(),
        calls: vec![(name.into(), args.into())],
    }
}

/// The calls the fixture logged (`call NAME` lines).
fn calls_logged(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("call ").map(str::to_owned))
        .collect()
}

/// Runs `task` in batch JSON mode (with `flags` after `run`); returns the events.
fn run_batch(env: &TestEnv, flags: &[&str], task: &str) -> Vec<Value> {
    let mut args = vec!["--batch", "--json", "run"];
    args.extend_from_slice(flags);
    args.push(task);
    let out = env
        .cmd()
        .args(&args)
        // A task held up by a server would be killed here and fail the test.
        .timeout(Duration::from_secs(90))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&out.stdout)
}

/// The observations of tool `tool`: (ok, output).
fn observations(events: &[Value], tool: &str) -> Vec<(bool, String)> {
    of_type(events, "observation")
        .into_iter()
        .filter(|e| e["tool"] == tool)
        .map(|e| {
            (
                e["ok"].as_bool().unwrap_or(false),
                e["output"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The tool names a recorded request offered.
fn offered(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_task_calls_an_mcp_tool_and_reads_its_observation() {
    let env = TestEnv::new();
    let log = env.home().join("fixture.log");
    let fake = FakeProvider::start(vec![
        call("Echoing.", "fx__echo", r#"{"message": "hi from the task"}"#),
        Reply::Text("It said hi.".into()),
    ]);
    let log_arg = log.display().to_string();
    env.config(
        "openai",
        &fake.base_url(),
        &fixture_server("fx", &["--log", &log_arg], ""),
    );
    let events = run_batch(&env, &[], "relay a greeting");
    assert_eq!(
        observations(&events, "fx__echo"),
        [(true, "echo: hi from the task".to_owned())]
    );
    let actions = of_type(&events, "action");
    assert_eq!(actions[0]["tool"], "fx__echo");
    assert_eq!(calls_logged(&log), ["echo"]);
    // The observation went back to the model as the call's result.
    let second = &fake.requests()[1].body;
    assert!(
        second.to_string().contains("echo: hi from the task"),
        "{second}"
    );
    // And the audit log has the call under its qualified name.
    let audit = std::fs::read_to_string(env.home().join("audit.log")).unwrap();
    assert!(audit.contains("\"tool\":\"fx__echo\""), "{audit}");
}

#[test]
fn a_denied_tool_is_never_called_and_the_model_reads_why() {
    let env = TestEnv::new();
    let log = env.home().join("fixture.log");
    let fake = FakeProvider::start(vec![
        call("Trying.", "fx__big", r#"{"bytes": 10}"#),
        call("Echoing.", "fx__echo", r#"{"message": "still here"}"#),
        Reply::Text("Done.".into()),
    ]);
    let log_arg = log.display().to_string();
    env.config(
        "openai",
        &fake.base_url(),
        &fixture_server("fx", &["--log", &log_arg], "approvals = { big = \"deny\" }"),
    );
    let events = run_batch(&env, &["--yes"], "relay a greeting");
    let big = observations(&events, "fx__big");
    assert_eq!(big.len(), 1);
    assert!(!big[0].0);
    assert!(big[0].1.contains("was not called"), "{}", big[0].1);
    assert!(
        big[0].1.contains("approvals = { big = \"ask\" }"),
        "{}",
        big[0].1
    );
    // Even --yes does not run a denied tool; the allowed one after it runs.
    assert_eq!(calls_logged(&log), ["echo"]);
}

#[test]
fn an_ask_tool_is_refused_in_batch_without_yes_and_runs_with_it() {
    let env = TestEnv::new();
    let log = env.home().join("fixture.log");
    let log_arg = log.display().to_string();
    let fake = FakeProvider::start(Vec::new());
    // `big` is not marked read-only: it asks by default.
    env.config(
        "openai",
        &fake.base_url(),
        &fixture_server("fx", &["--log", &log_arg], ""),
    );
    fake.push([
        call("Trying.", "fx__big", r#"{"bytes": 12}"#),
        Reply::Text("Done.".into()),
    ]);
    let events = run_batch(&env, &[], "produce some bytes");
    let big = observations(&events, "fx__big");
    assert!(!big[0].0);
    assert!(big[0].1.contains("--yes"), "{}", big[0].1);
    assert!(calls_logged(&log).is_empty(), "{:?}", calls_logged(&log));

    fake.push([
        call("Trying.", "fx__big", r#"{"bytes": 12}"#),
        Reply::Text("Done.".into()),
    ]);
    let events = run_batch(&env, &["--yes"], "produce some bytes");
    assert_eq!(observations(&events, "fx__big"), [(true, "x".repeat(12))]);
    assert_eq!(calls_logged(&log), ["big"]);
}

#[test]
fn above_the_threshold_requests_carry_only_relevant_tools_and_find_tools_adds_one() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        // The first call waits for the server to be ready, so the next request has it.
        call("Starting.", "fx__filler_3", "{}"),
        call(
            "Looking.",
            "find_tools",
            r#"{"query": "echo a message back"}"#,
        ),
        call("Found.", "fx__echo", r#"{"message": "ok"}"#),
        Reply::Text("Done.".into()),
    ]);
    env.config(
        "openai",
        &fake.base_url(),
        &fixture_server("fx", &["--tools", "60"], ""),
    );
    let events = run_batch(&env, &["--yes"], "greet the world");
    let reqs = fake.requests();
    let second = offered(&reqs[1].body);
    assert!(second.contains(&"find_tools".to_owned()), "{second:?}");
    let mcp: Vec<&String> = second.iter().filter(|n| n.starts_with("fx__")).collect();
    assert!(
        mcp.is_empty(),
        "nothing in the task matches a fixture tool: {mcp:?}"
    );
    let found = observations(&events, "find_tools");
    assert!(found[0].0 && found[0].1.contains("fx__echo"), "{found:?}");
    let third = offered(&reqs[2].body);
    assert!(third.contains(&"fx__echo".to_owned()), "{third:?}");
    assert!(third.len() < 6 + 1 + 6, "lean: {third:?}");
    assert_eq!(
        observations(&events, "fx__echo"),
        [(true, "echo: ok".to_owned())]
    );
}

#[test]
fn at_or_below_the_threshold_every_tool_is_sent_and_find_tools_is_not() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        call("Echoing.", "fx__echo", r#"{"message": "x"}"#),
        Reply::Text("Done.".into()),
    ]);
    env.config(
        "openai",
        &fake.base_url(),
        &format!(
            "[mcp]\ntool_threshold = 100\n{}",
            fixture_server("fx", &["--tools", "20"], "")
        ),
    );
    run_batch(&env, &[], "greet the world");
    let second = offered(&fake.requests()[1].body);
    assert!(!second.contains(&"find_tools".to_owned()), "{second:?}");
    assert!(second.contains(&"fx__filler_19".to_owned()), "{second:?}");
}

#[test]
fn a_server_that_never_starts_does_not_hold_the_task_up() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![Reply::Text("Hello.".into())]);
    env.config(
        "openai",
        &fake.base_url(),
        &fixture_server("mute", &["--mode", "silent"], "startup_timeout_s = 600"),
    );
    // Were the task waiting for the server, the 90 s limit in `run_batch` would end it.
    let events = run_batch(&env, &[], "say hello");
    let fin = of_type(&events, "task_finished");
    assert_eq!(fin[0]["status"], "completed");
    let first = offered(&fake.requests()[0].body);
    assert!(!first.iter().any(|n| n.starts_with("mute__")), "{first:?}");
}

async fn next_of(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<engine::EngineEvent>,
    want: impl Fn(&Event) -> bool,
) -> Event {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(60), events.recv())
            .await
            .expect("an event in time")
            .expect("the engine is running");
        if want(&ev.event) {
            return ev.event;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_tool_is_approved_through_the_dashboards_flow() {
    let env = TestEnv::new();
    let log = env.home().join("fixture.log");
    let log_arg = log.display().to_string();
    let fake = FakeProvider::start(vec![
        call(
            "Trying.",
            "fx__big",
            r#"{"bytes": 5, "token": "sk-proj-abcdefghijklmnop0123456789"}"#,
        ),
        Reply::Text("Done.".into()),
    ]);
    env.config(
        "openai",
        &fake.base_url(),
        &fixture_server("fx", &["--log", &log_arg], ""),
    );
    let home = az_os::config::Home::resolve(Some(env.home()), None).unwrap();
    home.ensure().unwrap();
    let mut settings = az_os::config::Settings::load(home).unwrap();
    for m in &mut settings.models {
        m.api_key_env = None;
    }
    let store = StoreHandle::open(&settings.home.database()).unwrap();
    let config = EngineConfig {
        settings: Arc::new(settings),
        jobs: 1,
        stream_thoughts: false,
        health: engine::HealthEvents::default(),
        approvals: Approvals::Interactive,
        front_end: engine::FrontEnd::Dashboard,
    };
    let (handle, mut events, join) = engine::start(config, store).unwrap();
    let id = TaskId::new();
    handle
        .send(Command::Submit {
            id: id.clone(),
            spec: TaskSpec {
                description: "produce some bytes".into(),
                workdir: env.work().to_path_buf(),
                max_turns: Some(5),
                budget_usd: None,
                model: None,
                critical: false,
            },
        })
        .unwrap();
    let Event::ApprovalRequested {
        request_id,
        tool,
        command,
        reason,
        ..
    } = next_of(&mut events, |e| {
        matches!(e, Event::ApprovalRequested { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(tool, "fx__big");
    assert!(
        command.starts_with("server: fx\ntool: big\narguments: {"),
        "{command}"
    );
    assert!(command.contains("\"bytes\": 5"), "{command}");
    assert!(
        !command.contains("abcdefghijklmnop0123456789"),
        "masked: {command}"
    );
    assert!(reason.contains("mcp_servers[fx].approvals.big"), "{reason}");
    assert!(
        calls_logged(&log).is_empty(),
        "nothing runs before the answer"
    );
    handle
        .send(Command::Approve {
            id: id.clone(),
            request_id,
            decision: Approval::Once,
        })
        .unwrap();
    let obs = next_of(&mut events, |e| matches!(e, Event::Observation { .. })).await;
    assert_eq!(
        obs,
        Event::Observation {
            turn: 1,
            tool: "fx__big".into(),
            ok: true,
            output: "xxxxx".into(),
        }
    );
    next_of(&mut events, |e| matches!(e, Event::TaskFinished { .. })).await;
    handle
        .send(Command::Shutdown {
            cancel_running: true,
        })
        .unwrap();
    join.await.unwrap();
    assert_eq!(calls_logged(&log), ["big"]);
}

/// Gauges that never trip, so only components decide the level.
const CALM: &str = "[health]\ncpu = { degraded = 100, unhealthy = 100 }\n\
    memory = { degraded = 100, unhealthy = 100 }\ndisk = { degraded = 100, unhealthy = 100 }\n";

#[test]
fn health_shows_each_server_and_one_that_fails_degrades_it() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(Vec::new());
    env.config(
        "openai",
        &fake.base_url(),
        &format!("{CALM}{}", fixture_server("fx", &[], "")),
    );
    let out = env.cmd().args(["health", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    let mcp: Vec<&Value> = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "mcp")
        .collect();
    assert_eq!(mcp.len(), 1, "{v}");
    assert_eq!(mcp[0]["name"], "mcp:fx");
    assert_eq!(mcp[0]["level"], "healthy");
    assert!(
        mcp[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("ready with "),
        "{}",
        mcp[0]["detail"]
    );

    let missing =
        "[[mcp_servers]]\nname = \"gone\"\ncommand = \"/nonexistent/az-os-no-such-mcp-server\"\n";
    env.config(
        "openai",
        &fake.base_url(),
        &format!("{CALM}{}{missing}", fixture_server("fx", &[], "")),
    );
    let out = env.cmd().args(["health"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "degraded, not unhealthy: {text}"
    );
    assert!(text.contains("mcp:gone"), "{text}");
    assert!(
        text.contains("failed") || text.contains("restarting"),
        "{text}"
    );
}
