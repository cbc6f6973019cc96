//! Security end to end: the command policy in batch mode (ask → refused without `--yes`,
//! approved with it; the guard refuses whatever the flags), the approval round trip at
//! the engine level, the sandbox, redaction of secrets everywhere, and the audit log.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use az_os::config::{Home, Settings};
use az_os::engine::{self, Approval, Approvals, Command, EngineConfig, Event, TaskSpec};
use az_os::store::StoreHandle;
use az_os::util::ids::TaskId;
use serde_json::Value;

use crate::common::fake_provider::{FakeProvider, Reply};
use crate::common::{TestEnv, json_lines, of_type};

fn command(cmd: &str) -> Reply {
    Reply::Tools {
        text: String::new(),
        calls: vec![(
            "execute_command".into(),
            serde_json::json!({ "command": cmd }).to_string(),
        )],
    }
}

fn observations(events: &[Value]) -> Vec<(bool, String)> {
    of_type(events, "observation")
        .iter()
        .map(|o| {
            (
                o["ok"].as_bool().unwrap_or(false),
                o["output"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Runs one batch task whose model sends `replies`; returns the events and the exit code.
fn batch(
    env: &TestEnv,
    replies: Vec<Reply>,
    extra_config: &str,
    flags: &[&str],
) -> (Vec<Value>, i32) {
    let fake = FakeProvider::start(replies);
    env.config("openai", &fake.base_url(), extra_config);
    let mut args = vec!["--batch", "--json", "run"];
    args.extend_from_slice(flags);
    args.push("do the thing");
    let out = env.cmd().args(&args).output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "exit {code}; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (json_lines(&out.stdout), code)
}

#[test]
fn batch_refuses_what_policy_asks_about_unless_yes() {
    let policy = "[policy]\ndefault = \"ask\"\nallow = [\"echo *\"]\n";
    let env = TestEnv::new();
    let (events, code) = batch(
        &env,
        vec![
            command("touch made.txt"),
            command("echo allowed > echoed.txt"),
            Reply::Text("done".into()),
        ],
        policy,
        &[],
    );
    assert_eq!(code, 0);
    let obs = observations(&events);
    assert!(!obs[0].0, "{obs:?}");
    assert!(
        obs[0].1.contains("--yes") && obs[0].1.contains("policy.allow"),
        "{obs:?}"
    );
    assert!(!env.work().join("made.txt").exists());
    assert!(obs[1].0, "{obs:?}");
    assert!(env.work().join("echoed.txt").exists());
    assert!(of_type(&events, "approval_requested").is_empty());

    let env = TestEnv::new();
    let (events, _) = batch(
        &env,
        vec![command("touch made.txt"), Reply::Text("done".into())],
        policy,
        &["--yes"],
    );
    let obs = observations(&events);
    assert!(obs[0].0, "{obs:?}");
    assert!(env.work().join("made.txt").exists());
}

#[test]
fn the_guard_refuses_destructive_commands_even_with_yes() {
    let env = TestEnv::new();
    std::fs::write(env.work().join("keep.txt"), "precious").unwrap();
    let (events, code) = batch(
        &env,
        vec![
            command("sudo rm -rf ."),
            command("env X=1 rm -rf *"),
            command("sh -c 'rm -rf \"$PWD\"'"),
            Reply::Text("gave up".into()),
        ],
        "",
        &["--yes"],
    );
    assert_eq!(code, 0, "the task goes on after refusals");
    let obs = observations(&events);
    assert_eq!(obs.len(), 3);
    for (ok, text) in &obs {
        assert!(!ok);
        assert!(text.contains("guard"), "{text}");
        assert!(text.contains("workdir"), "{text}");
    }
    assert_eq!(
        std::fs::read_to_string(env.work().join("keep.txt")).unwrap(),
        "precious"
    );
}

/// Starts an engine on a fake provider in `env`, with `approvals`.
fn engine_env(
    env: &TestEnv,
    replies: Vec<Reply>,
    extra: &str,
    approvals: Approvals,
) -> (
    FakeProvider,
    engine::EngineHandle,
    tokio::sync::mpsc::UnboundedReceiver<engine::EngineEvent>,
    tokio::task::JoinHandle<()>,
) {
    let fake = FakeProvider::start(replies);
    env.config("openai", &fake.base_url(), extra);
    let home = Home::resolve(Some(env.home()), None).unwrap();
    home.ensure().unwrap();
    let mut settings = Settings::load(home).unwrap();
    for m in &mut settings.models {
        m.api_key_env = None;
    }
    let store = StoreHandle::open(&settings.home.database()).unwrap();
    let config = EngineConfig {
        settings: Arc::new(settings),
        jobs: 1,
        stream_thoughts: false,
        health: engine::HealthEvents::default(),
        approvals,
        front_end: engine::FrontEnd::Dashboard,
    };
    let (handle, events, join) = engine::start(config, store).unwrap();
    (fake, handle, events, join)
}

async fn next_of(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<engine::EngineEvent>,
    want: impl Fn(&Event) -> bool,
) -> engine::EngineEvent {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("an event in time")
            .expect("the engine is running");
        if want(&ev.event) {
            return ev;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one story, in order: error, always, deny, cancel
async fn approval_round_trip_once_always_deny_and_cancel() {
    let env = TestEnv::new();
    let policy = "[policy]\ndefault = \"ask\"\n";
    let (fake, handle, mut events, join) = engine_env(
        &env,
        vec![
            command("touch one.txt"),
            command("touch two.txt"),
            command("touch three.txt"),
            Reply::Text("done".into()),
        ],
        policy,
        Approvals::Interactive,
    );
    let spec = TaskSpec {
        description: "make files".into(),
        workdir: env.work().to_path_buf(),
        max_turns: Some(5),
        budget_usd: None,
        model: None,
        critical: false,
    };
    // The engine caps the task's length itself, whatever the front end checked.
    let long = TaskId::new();
    handle
        .send(Command::Submit {
            id: long.clone(),
            spec: TaskSpec {
                description: "x".repeat(engine::MAX_TASK_BYTES + 1),
                ..spec.clone()
            },
        })
        .unwrap();
    let fin = next_of(&mut events, |e| matches!(e, Event::TaskFinished { .. })).await;
    assert_eq!(fin.task_id.as_ref(), Some(&long));
    assert!(
        matches!(&fin.event, Event::TaskFinished { error: Some(e), .. } if e.contains("limit")),
        "{fin:?}"
    );
    let id = TaskId::new();
    handle
        .send(Command::Submit {
            id: id.clone(),
            spec: spec.clone(),
        })
        .unwrap();
    let is_request = |e: &Event| matches!(e, Event::ApprovalRequested { .. });
    let ev = next_of(&mut events, is_request).await;
    let Event::ApprovalRequested {
        request_id,
        turn,
        tool,
        command: asked,
        reason,
    } = ev.event
    else {
        unreachable!()
    };
    assert_eq!(ev.task_id.as_ref(), Some(&id));
    assert_eq!(
        (turn, tool.as_str(), asked.as_str()),
        (1, "execute_command", "touch one.txt")
    );
    assert!(reason.contains("policy.default"), "{reason}");
    // A wrong request id is an error, and the task keeps waiting.
    handle
        .send(Command::Approve {
            id: id.clone(),
            request_id: "nope".into(),
            decision: Approval::Once,
        })
        .unwrap();
    next_of(&mut events, |e| matches!(e, Event::Error { .. })).await;
    assert!(!env.work().join("one.txt").exists());
    handle
        .send(Command::Approve {
            id: id.clone(),
            request_id: request_id.clone(),
            decision: Approval::Always,
        })
        .unwrap();
    // The answer is an event of its own (the transcript records it), before the command's
    // observation.
    let answered = next_of(&mut events, |e| {
        matches!(
            e,
            Event::ApprovalAnswered { .. } | Event::Observation { .. }
        )
    })
    .await;
    assert_eq!(
        answered.event,
        Event::ApprovalAnswered {
            request_id,
            turn: 1,
            command: "touch one.txt".into(),
            decision: Approval::Always,
        }
    );
    let obs = next_of(&mut events, |e| matches!(e, Event::Observation { .. })).await;
    assert!(
        matches!(obs.event, Event::Observation { ok: true, .. }),
        "{obs:?}"
    );
    // "always" covers the same rule for the rest of the task: no second request.
    let obs = next_of(&mut events, |e| {
        matches!(
            e,
            Event::Observation { .. } | Event::ApprovalRequested { .. }
        )
    })
    .await;
    assert!(
        matches!(obs.event, Event::Observation { ok: true, .. }),
        "{obs:?}"
    );
    next_of(&mut events, |e| matches!(e, Event::TaskFinished { .. })).await;
    assert!(env.work().join("one.txt").exists() && env.work().join("two.txt").exists());

    // Deny (of a command the built-in guard asks about: the refusal is the user's, not
    // the guard's), then a cancel while waiting.
    let id2 = TaskId::new();
    fake.push([
        command("git push --force origin main"),
        command("touch five.txt"),
    ]);
    handle
        .send(Command::Submit {
            id: id2.clone(),
            spec: spec.clone(),
        })
        .unwrap();
    let Event::ApprovalRequested { request_id, .. } = next_of(&mut events, is_request).await.event
    else {
        unreachable!()
    };
    handle
        .send(Command::Approve {
            id: id2.clone(),
            request_id,
            decision: Approval::Deny,
        })
        .unwrap();
    let answered = next_of(&mut events, |e| {
        matches!(
            e,
            Event::ApprovalAnswered { .. } | Event::Observation { .. }
        )
    })
    .await;
    assert!(
        matches!(
            answered.event,
            Event::ApprovalAnswered {
                decision: Approval::Deny,
                ..
            }
        ),
        "{answered:?}"
    );
    let obs = next_of(&mut events, |e| matches!(e, Event::Observation { .. })).await;
    let Event::Observation { ok, output, .. } = obs.event else {
        unreachable!()
    };
    assert!(!ok && output.contains("the user denied it"), "{output}");
    assert!(!output.contains("guard cannot"), "{output}");
    next_of(&mut events, is_request).await;
    handle.send(Command::Cancel { id: id2.clone() }).unwrap();
    let fin = next_of(&mut events, |e| matches!(e, Event::TaskFinished { .. })).await;
    assert!(
        matches!(
            fin.event,
            Event::TaskFinished {
                status: az_os::store::TaskStatus::Cancelled,
                ..
            }
        ),
        "{fin:?}"
    );
    assert!(!env.work().join("four.txt").exists() && !env.work().join("five.txt").exists());
    handle
        .send(Command::Shutdown {
            cancel_running: true,
        })
        .unwrap();
    while events.recv().await.is_some() {}
    join.await.unwrap();
    // Both answers are in the stored transcripts, in the user's name.
    let said = stored_approvals(env.home(), &[&id, &id2]);
    assert!(
        said.contains(&"approved by the user for the rest of this task: `touch one.txt`".into()),
        "{said:?}"
    );
    assert!(
        said.contains(&"denied by the user: `git push --force origin main`".into()),
        "{said:?}"
    );
    // The audit log says the user denied it (not that a rule refused it).
    let audit = std::fs::read_to_string(env.home().join("audit.log")).unwrap_or_default();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("git push --force") && l.contains(r#""decision":"denied""#)),
        "{audit}"
    );
}

/// The stored `approval` rows of `tasks`' transcripts.
fn stored_approvals(home: &std::path::Path, tasks: &[&TaskId]) -> Vec<String> {
    let conn = az_os::store::open(&home.join("az-os.db")).unwrap();
    tasks
        .iter()
        .flat_map(|t| az_os::store::logs::list(&conn, t, 0, 1000).unwrap())
        .filter(|r| r.kind.as_deref() == Some("approval"))
        .map(|r| r.message)
        .collect()
}

#[test]
fn sandboxed_commands_write_only_inside_the_workdir() {
    if !az_os::sandbox::support().filesystem {
        eprintln!("skipped: Landlock is not available on this kernel");
        return;
    }
    let env = TestEnv::new();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("escaped.txt");
    let (events, code) = batch(
        &env,
        vec![
            command(&format!("echo out > {}", target.display())),
            command("echo in > inside.txt && echo tmp > \"$TMPDIR/t\" && cat \"$TMPDIR/t\""),
            command(&format!("touch {}/x", env.home().display())),
            Reply::Text("done".into()),
        ],
        "",
        &[],
    );
    assert_eq!(code, 0);
    let obs = observations(&events);
    assert!(!obs[0].0, "{obs:?}");
    assert!(obs[0].1.contains("Permission denied"), "{obs:?}");
    assert!(!target.exists(), "a write outside the workdir got through");
    assert!(obs[1].0, "{obs:?}");
    assert!(obs[1].1.contains("tmp"), "{obs:?}");
    assert_eq!(
        std::fs::read_to_string(env.work().join("inside.txt")).unwrap(),
        "in\n"
    );
    assert!(!obs[2].0, "the home is outside too: {obs:?}");
    assert!(!env.home().join("x").exists());

    // read-only: not even the workdir.
    let env = TestEnv::new();
    let (events, _) = batch(
        &env,
        vec![command("echo in > inside.txt"), Reply::Text("done".into())],
        "[sandbox]\nmode = \"read-only\"\n",
        &[],
    );
    assert!(!observations(&events)[0].0);
    assert!(!env.work().join("inside.txt").exists());

    // off: unconfined.
    let env = TestEnv::new();
    let target = outside.path().join("off.txt");
    let (events, _) = batch(
        &env,
        vec![
            command(&format!("echo out > {}", target.display())),
            Reply::Text("done".into()),
        ],
        "[sandbox]\nmode = \"off\"\n",
        &[],
    );
    assert!(observations(&events)[0].0);
    assert!(target.exists());
}

/// Every file under `dir`, read as bytes.
fn files_under(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            files_under(&p, out);
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
}

#[test]
fn a_secret_from_the_environment_leaks_nowhere() {
    // A value of no well-known shape: only the known-secret masking can catch it.
    let secret = "zq9PlainSecretValue7781";
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        command(&format!(
            "echo the key is {secret}; echo env: $AZ_OS_TEST_KEY"
        )),
        Reply::Tools {
            text: format!("I found {secret} in the output."),
            calls: vec![(
                "write_file".into(),
                serde_json::json!({"path": "notes.txt", "content": "nothing secret"}).to_string(),
            )],
        },
        Reply::Text(format!(
            "Done; the key was {secret} and sk-ant-api03-ABCDEFGHIJKLMNOPQRST."
        )),
    ]);
    env.config("openai", &fake.base_url(), "");
    for json in [true, false] {
        let mut args = vec!["--batch"];
        if json {
            args.push("--json");
        }
        args.extend(["-v", "run", "show me the key"]);
        let out = env
            .cmd()
            .env("AZ_OS_TEST_KEY", secret)
            .args(&args)
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!stdout.contains(secret), "stdout: {stdout}");
        assert!(!stderr.contains(secret), "stderr: {stderr}");
        assert!(!stdout.contains("sk-ant-api03"), "stdout: {stdout}");
        assert!(stdout.contains("[REDACTED]"), "stdout: {stdout}");
        if json {
            // The command ran without the key in its environment.
            let events = json_lines(&out.stdout);
            let obs = observations(&events);
            assert!(obs[0].1.trim_end().ends_with("env:"), "{obs:?}");
            fake.push([
                command(&format!(
                    "echo the key is {secret}; echo env: $AZ_OS_TEST_KEY"
                )),
                Reply::Tools {
                    text: format!("I found {secret} in the output."),
                    calls: vec![(
                        "write_file".into(),
                        serde_json::json!({"path": "notes.txt", "content": "x"}).to_string(),
                    )],
                },
                Reply::Text(format!("Done; the key was {secret}.")),
            ]);
        }
    }
    let mut files = Vec::new();
    files_under(env.home(), &mut files);
    assert!(files.iter().any(|(p, _)| p.ends_with("audit.log")));
    assert!(files.iter().any(|(p, _)| p.ends_with("az-os.db")));
    for (path, bytes) in &files {
        let hay = String::from_utf8_lossy(bytes);
        assert!(!hay.contains(secret), "{} holds the secret", path.display());
    }
    // The audit log: JSON lines, private, one per action, secrets masked.
    let audit = env.home().join("audit.log");
    assert_eq!(
        std::fs::metadata(&audit).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&audit).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0]["tool"], "execute_command");
    assert_eq!(lines[0]["policy"]["decision"], "allow");
    assert_eq!(lines[0]["policy"]["rule"], "policy.default");
    assert_eq!(lines[0]["exit_code"], 0);
    assert!(lines[0]["sandbox"].is_string());
    assert!(
        lines[0]["arguments"]["command"]
            .as_str()
            .unwrap()
            .contains("[REDACTED]")
    );
    assert_eq!(lines[1]["tool"], "write_file");
    assert!(lines[1]["policy"].is_null());
}
