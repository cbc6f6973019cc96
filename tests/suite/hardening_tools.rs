//! The audit's other defects, against the built binary (and the engine for the
//! scheduler): write_file through a planted link, read_file on a FIFO, non-ASCII tasks
//! and output, thousands of tool calls in one reply, a worker that panics, and the small
//! config and encoding ones.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::fake_provider::{FakeProvider, Reply};
use crate::common::{TestEnv, json_lines, of_type};

fn call(name: &str, args: &Value) -> (String, String) {
    (name.into(), args.to_string())
}

fn tools(calls: Vec<(String, String)>) -> Reply {
    Reply::Tools {
        text: String::new(),
        calls,
    }
}

fn run(
    env: &TestEnv,
    replies: Vec<Reply>,
    extra: &str,
    task: &str,
) -> (Vec<Value>, i32, FakeProvider) {
    let fake = FakeProvider::start(replies);
    env.config("openai", &fake.base_url(), extra);
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "--max-turns", "3", task])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    (
        json_lines(&out.stdout),
        out.status.code().unwrap_or(-1),
        fake,
    )
}

fn observations(events: &[Value]) -> Vec<(bool, String)> {
    of_type(events, "observation")
        .iter()
        .map(|o| {
            (
                o["ok"] == true,
                o["output"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn write_file_never_follows_a_link_planted_at_its_temp_name() {
    let env = TestEnv::new();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("f");
    std::fs::write(&victim, "precious").unwrap();
    let plant = format!("ln -s {} .x.az-os-tmp", victim.display());
    let (events, code, _fake) = run(
        &env,
        vec![
            tools(vec![call("execute_command", &json!({ "command": plant }))]),
            tools(vec![call(
                "write_file",
                &json!({"path": "x", "content": "pwned"}),
            )]),
            Reply::Text("done".into()),
        ],
        "",
        "write x",
    );
    assert_eq!(code, 0, "{events:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(
        std::fs::read_to_string(env.work().join("x")).unwrap(),
        "pwned"
    );
}

#[test]
fn read_file_on_a_fifo_returns_at_once() {
    let env = TestEnv::new();
    nix::unistd::mkfifo(&env.work().join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let (events, code, _fake) = run(
        &env,
        vec![
            tools(vec![call("read_file", &json!({"path": "pipe"}))]),
            Reply::Text("done".into()),
        ],
        "",
        "read the pipe",
    );
    assert_eq!(code, 0);
    let obs = observations(&events);
    assert!(
        !obs[0].0 && obs[0].1.contains("not a regular file"),
        "{obs:?}"
    );
}

#[test]
fn latin1_files_are_read_as_text() {
    let env = TestEnv::new();
    std::fs::write(env.work().join("notes.txt"), b"caf\xe9 \x96 5\x80\n").unwrap();
    let (events, _, _fake) = run(
        &env,
        vec![
            tools(vec![call("read_file", &json!({"path": "notes.txt"}))]),
            Reply::Text("done".into()),
        ],
        "",
        "read the notes",
    );
    let obs = observations(&events);
    assert!(obs[0].0, "{obs:?}");
    assert!(obs[0].1.starts_with("café – 5€"), "{obs:?}");
    assert!(obs[0].1.contains("Windows-1252"), "{obs:?}");
}

#[test]
fn non_ascii_tasks_and_output_run_to_the_end() {
    let env = TestEnv::new();
    let task = "write plan b — élan to notes";
    let (events, code, _fake) = run(
        &env,
        vec![
            tools(vec![call(
                "execute_command",
                &json!({"command": "printf 'plan b — élan ✓ 漢字 😀\\n' | tee notes"}),
            )]),
            Reply::Text("wrote plan b — élan".into()),
        ],
        "",
        task,
    );
    assert_eq!(code, 0, "{events:?}");
    assert_eq!(of_type(&events, "task_queued")[0]["description"], task);
    assert!(observations(&events)[0].1.contains("— élan ✓ 漢字 😀"));
    let fin = of_type(&events, "task_finished")[0];
    assert_eq!(fin["status"], "completed");
    assert_eq!(fin["result"], "wrote plan b — élan");
}

#[test]
fn tool_calls_are_capped_per_turn_and_the_model_is_told() {
    let env = TestEnv::new();
    let many: Vec<(String, String)> = (0..2000)
        .map(|i| {
            call(
                "execute_command",
                &json!({"command": format!("echo {i} >> out")}),
            )
        })
        .collect();
    let (events, code, fake) = run(
        &env,
        vec![tools(many), Reply::Text("done".into())],
        "[defaults]\nmax_tool_calls_per_turn = 5\n",
        "count",
    );
    assert_eq!(code, 0);
    let out = std::fs::read_to_string(env.work().join("out")).unwrap();
    assert_eq!(out.lines().count(), 5, "only the first five ran");
    assert_eq!(of_type(&events, "action").len(), 5);
    let reflection = of_type(&events, "reflection")[0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reflection.contains("1995 more calls were skipped"),
        "{reflection}"
    );
    // The next request carries five calls and five results, the last with the note.
    let second = &fake.requests()[1].body;
    let messages = second["messages"].as_array().unwrap();
    let assistant = messages.iter().find(|m| m["role"] == "assistant").unwrap();
    assert_eq!(assistant["tool_calls"].as_array().unwrap().len(), 5);
    let results: Vec<&Value> = messages.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(results.len(), 5);
    assert!(
        results[4]["content"]
            .as_str()
            .unwrap()
            .contains("1995 were skipped"),
        "{}",
        results[4]["content"]
    );
}

#[test]
fn config_mistakes_name_the_key_and_the_fix() {
    for (extra, key, fix) in [
        (
            "[sandbox]\nwritable = [\"/\"]\n",
            "sandbox.writable[0]",
            "mode = \"off\"",
        ),
        (
            "[sandbox]\nwritable = [\"rel/dir\"]\n",
            "sandbox.writable[0]",
            "absolute",
        ),
        (
            "[sandbox]\npass_env = [\"NOT VALID\"]\n",
            "sandbox.pass_env[0]",
            "variable names",
        ),
        (
            "[defaults]\nmax_tool_calls_per_turn = 0\n",
            "defaults.max_tool_calls_per_turn",
            "1 to 256",
        ),
    ] {
        let env = TestEnv::new();
        env.config("openai", "http://127.0.0.1:9/v1", extra);
        let out = env.cmd().args(["--batch", "run", "x"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra}: {err}");
        assert!(err.contains(key) && err.contains(fix), "{extra}: {err}");
    }

    let env = TestEnv::new();
    std::fs::write(
        env.home().join("config.toml"),
        "[[models]]\nname = \"m\"\nprovider = \"openai\"\nmodel = \"x\"\n\
         base_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"\"\n",
    )
    .unwrap();
    let out = env.cmd().args(["--batch", "run", "x"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("models[0].api_key_env") && err.contains("not an environment variable name"),
        "{err}"
    );

    let env = TestEnv::new();
    std::fs::write(env.home().join("config.toml"), b"# caf\xe9\n[defaults]\n").unwrap();
    let out = env.cmd().args(["--batch", "run", "x"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not UTF-8") && !err.contains("permission"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_worker_frees_its_slot_and_its_task_is_recorded_failed() {
    use az_os::config::{Home, Settings};
    use az_os::engine::{self, Approvals, Command, EngineConfig, Event, TaskSpec};
    use az_os::util::ids::TaskId;

    let env = TestEnv::new();
    env.config("openai", "http://127.0.0.1:9/v1", "");
    let home = Home::resolve(Some(env.home()), None).unwrap();
    home.ensure().unwrap();
    let settings = Settings::load(home).unwrap();
    let store = az_os::store::StoreHandle::open(&settings.home.database()).unwrap();
    let config = EngineConfig {
        settings: Arc::new(settings),
        jobs: 1,
        stream_thoughts: false,
        health: engine::HealthEvents::default(),
        approvals: Approvals::Deny,
        front_end: az_os::engine::FrontEnd::Batch,
    };
    let (handle, mut events, join) = engine::start_with(config, store, |_, _, _| {
        Box::pin(async { panic!("a bug in a worker") })
    })
    .unwrap();
    let ids = [TaskId::new(), TaskId::new()];
    for id in &ids {
        let spec = TaskSpec {
            description: "anything".into(),
            workdir: env.work().to_path_buf(),
            max_turns: None,
            budget_usd: None,
            model: None,
            critical: false,
        };
        handle
            .send(Command::Submit {
                id: id.clone(),
                spec,
            })
            .unwrap();
    }
    // With one job, the second task only starts if the panic freed the slot.
    let mut finished = Vec::new();
    while finished.len() < 2 {
        let ev = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("a task never finished: the panicked worker kept its slot")
            .unwrap();
        if let Event::TaskFinished { status, error, .. } = ev.event {
            assert_eq!(status, az_os::store::TaskStatus::Failed);
            assert!(error.unwrap().contains("internal error"));
            finished.push(ev.task_id.unwrap());
        }
    }
    assert_eq!(finished, ids);
    handle
        .send(Command::Shutdown {
            cancel_running: true,
        })
        .unwrap();
    while events.recv().await.is_some() {}
    join.await.unwrap();
    let conn = env.conn();
    let failed: i64 = conn
        .query_row(
            "SELECT count(*) FROM tasks WHERE status = 'failed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failed, 2, "both rows say failed, none is left running");
}
