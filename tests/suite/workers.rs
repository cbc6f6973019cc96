//! Many machines on one PostgreSQL store: worker processes with homes of their own
//! (one per host) claim tasks a submitter queued, each task runs exactly once, a killed
//! worker's task is interrupted and resumed by another, a lease from a host that went
//! quiet runs out, and `store migrate|copy` and bad store URLs say what to do.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

mod dashboard;
mod relay;
mod tls;

use az_os::store::{self, Db, Location, TaskStatus, db::params, tasks};
use az_os::util::ids::TaskId;

use crate::common::fake_provider::{FakeProvider, Reply};
use crate::common::pg::{PgDb, fresh_db};
use crate::common::{TestEnv, json_lines, of_type};

/// A host: a home of its own pointed at the shared store and the fake provider.
fn host(fake: &FakeProvider, pg: &PgDb) -> TestEnv {
    let env = TestEnv::new();
    env.config(
        "openai",
        &fake.base_url(),
        &format!("[store]\nurl = \"{}\"\n", pg.url),
    );
    env
}

/// A running `az-os worker`, killed when dropped.
struct WorkerProc(Child);

impl Drop for WorkerProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn worker(env: &TestEnv, serves: &Path, jobs: u32) -> WorkerProc {
    let child = std::process::Command::new(crate::common::bin())
        .env("AZ_OS_HOME", env.home())
        .env("AZ_OS_TEST_KEY", "sk-test-secret-0123456789")
        .env("NO_COLOR", "1")
        .env_remove("AZ_OS_DATABASE_URL")
        .args(["--json", "worker", "--jobs", &jobs.to_string(), "--serves"])
        .arg(serves)
        .current_dir(serves)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn worker: {e}"));
    WorkerProc(child)
}

fn open(pg: &PgDb) -> Db {
    store::open_at(&Location::parse(&pg.url, None).unwrap()).unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until `n` workers heartbeat.
fn wait_for_workers(pg: &PgDb, n: usize) {
    let db = open(pg);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let alive = store::queue::workers(&db)
            .unwrap()
            .iter()
            .filter(|w| w.alive(az_os::util::time::now_unix()))
            .count();
        if alive >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{alive} of {n} workers started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn finish(text: &str) -> Reply {
    Reply::Tools {
        text: String::new(),
        calls: vec![("finish".into(), format!(r#"{{"result":"{text}"}}"#))],
    }
}

#[test]
fn three_workers_run_every_queued_task_exactly_once() {
    const TASKS: usize = 12;
    let pg = fresh_db();
    // Each answer takes a moment, so one worker (2 jobs) cannot take every task.
    let fake = FakeProvider::start(
        (0..TASKS)
            .map(|i| {
                Reply::Delay(
                    Duration::from_millis(150),
                    Box::new(finish(&format!("done {i}"))),
                )
            })
            .collect(),
    );
    let shared = tempfile::tempdir().unwrap();
    let hosts: Vec<TestEnv> = (0..3).map(|_| host(&fake, &pg)).collect();
    let _workers: Vec<WorkerProc> = hosts.iter().map(|h| worker(h, shared.path(), 2)).collect();
    wait_for_workers(&pg, 3);

    let submitter = host(&fake, &pg);
    let input = (0..TASKS)
        .map(|i| format!("say hello {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    let out = submitter
        .cmd()
        .args(["--batch", "--json", "run", "-", "--workdir"])
        .arg(shared.path())
        .write_stdin(input)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json_lines(&out.stdout);
    let finished = of_type(&events, "task_finished");
    assert_eq!(finished.len(), TASKS, "{events:?}");
    assert!(finished.iter().all(|e| e["status"] == "completed"));
    let mut started: Vec<&str> = of_type(&events, "task_started")
        .iter()
        .filter_map(|e| e["task_id"].as_str())
        .collect();
    started.sort_unstable();
    started.dedup();
    assert_eq!(started.len(), TASKS, "each task started once");
    assert_eq!(fake.chat_count(), TASKS, "one model request per task");

    let db = open(&pg);
    let spread: i64 = db
        .query_row(
            "SELECT COUNT(DISTINCT worker) FROM tasks WHERE status = 'completed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(spread >= 2, "the tasks ran on {spread} worker(s)");
    let rows = tasks::list(&db, None, 100, 0).unwrap();
    assert_eq!(rows.len(), TASKS);
    assert!(rows.iter().all(|t| t.status == TaskStatus::Completed));

    // `az-os workers` lists them, alive, from any host.
    let out = submitter
        .cmd()
        .args(["--json", "workers"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let alive = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["alive"] == true)
        .count();
    assert_eq!(alive, 3, "{list}");
}

#[test]
fn a_killed_workers_task_is_interrupted_and_resumed_by_another() {
    let pg = fresh_db();
    let fake = FakeProvider::start(vec![
        Reply::Tools {
            text: String::new(),
            calls: vec![(
                "write_file".into(),
                r#"{"path":"step1.txt","content":"one\n"}"#.into(),
            )],
        },
        // The second turn's answer never comes: the worker is killed while it waits.
        Reply::Delay(Duration::from_secs(120), Box::new(finish("too late"))),
        finish("resumed and done"),
    ]);
    let shared = tempfile::tempdir().unwrap();
    let a = host(&fake, &pg);
    let mut first = worker(&a, shared.path(), 1);
    wait_for_workers(&pg, 1);

    let submitter = host(&fake, &pg);
    let follower = std::process::Command::new(crate::common::bin())
        .env("AZ_OS_HOME", submitter.home())
        .env("NO_COLOR", "1")
        .env_remove("AZ_OS_DATABASE_URL")
        .args([
            "--batch",
            "--json",
            "run",
            "write step one then finish",
            "--workdir",
        ])
        .arg(shared.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Kill the worker once the first turn is saved and the second request is out.
    let db = open(&pg);
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        let saved: Option<String> = db
            .query_row("SELECT task_id FROM task_state LIMIT 1", [], |r| r.get(0))
            .ok();
        if let Some(id) = saved
            && fake.chat_count() >= 2
        {
            break TaskId(id);
        }
        assert!(Instant::now() < deadline, "the first turn never completed");
        std::thread::sleep(Duration::from_millis(50));
    };
    first.0.kill().unwrap();
    first.0.wait().unwrap();

    // Any command on any host tells the truth: the worker is gone, the task interrupted.
    let out = submitter.cmd().args(["tasks", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let t = tasks::get(&db, &id).unwrap().unwrap();
    assert_eq!(t.status, TaskStatus::Interrupted, "{t:?}");
    let out = follower.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the follower reports the interrupted task"
    );
    let events = json_lines(&out.stdout);
    let fin = of_type(&events, "task_finished");
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0]["status"], "interrupted");

    // Another worker serving the workdir continues it from its saved turn.
    let b = host(&fake, &pg);
    let _second = worker(&b, shared.path(), 1);
    wait_for_workers(&pg, 1);
    let out = submitter
        .cmd()
        .args([
            "--batch",
            "--json",
            "tasks",
            "resume",
            id.as_str(),
            "--budget",
            "0.75",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json_lines(&out.stdout);
    let fin = of_type(&events, "task_finished");
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0]["status"], "completed");
    assert_eq!(fin[0]["result"], "resumed and done");
    // The new budget holds for the rest of the task, on whichever worker took it.
    let t = tasks::get(&db, &id).unwrap().unwrap();
    assert_eq!(t.budget_usd, Some(0.75), "{t:?}");
    assert_eq!(
        std::fs::read_to_string(shared.path().join("step1.txt")).unwrap(),
        "one\n"
    );
    assert_eq!(fake.chat_count(), 3, "turn 1 was not run again");
}

#[test]
fn a_lease_from_a_host_that_went_quiet_runs_out() {
    let pg = fresh_db();
    let db = open(&pg);
    let id = TaskId::new();
    db.execute(
        "INSERT INTO tasks (id, description, status, created_at, cost_usd, workdir, turns, \
         max_turns, runner_pid, owner_started, owner_host, worker, lease_until) \
         VALUES (?1, 'x', 'running', 1, 0, '/w', 1, 5, 4242, 1, 'another-host', 'w-9', ?2)",
        params![id.as_str(), az_os::util::time::now_unix() - 1.0],
    )
    .unwrap();
    let live = TaskId::new();
    db.execute(
        "INSERT INTO tasks (id, description, status, created_at, cost_usd, workdir, turns, \
         max_turns, runner_pid, owner_started, owner_host, worker, lease_until) \
         VALUES (?1, 'y', 'running', 1, 0, '/w', 1, 5, 4242, 1, 'another-host', 'w-8', ?2)",
        params![live.as_str(), az_os::util::time::now_unix() + 60.0],
    )
    .unwrap();
    assert_eq!(store::owner::reconcile(&db).unwrap(), 1);
    let t = tasks::get(&db, &id).unwrap().unwrap();
    assert_eq!(t.status, TaskStatus::Interrupted);
    assert!(
        t.error
            .as_deref()
            .is_some_and(|e| e.contains("lease") && e.contains("tasks resume")),
        "{t:?}"
    );
    assert_eq!(
        tasks::get(&db, &live).unwrap().unwrap().status,
        TaskStatus::Running,
        "a lease still held is left alone"
    );
}

#[test]
fn store_migrate_and_copy_move_a_single_machine_history() {
    let pg = fresh_db();
    let fake = FakeProvider::start(vec![finish("local one"), finish("local two")]);
    // A single machine's history first, in its own SQLite home.
    let local = TestEnv::new();
    local.config("openai", &fake.base_url(), "");
    for task in ["first", "second"] {
        let out = local
            .cmd()
            .args(["--batch", "--json", "run", task])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
    }

    let shared = TestEnv::new();
    shared.config(
        "openai",
        &fake.base_url(),
        &format!("[store]\nurl = \"{}\"\n", pg.url),
    );
    let out = shared.cmd().args(["store", "migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("created") || said.contains("up to date"),
        "{said}"
    );

    let from = format!("sqlite:{}", local.db().display());
    for round in 0..2 {
        let out = shared
            .cmd()
            .args(["--json", "store", "copy", "--from", &from])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let (copied, there) = (&v["copied"]["tasks"], &v["copied"]["tasks_already_there"]);
        if round == 0 {
            assert_eq!(
                (copied, there),
                (&serde_json::json!(2), &serde_json::json!(0)),
                "{v}"
            );
            assert!(v["copied"]["task_logs"].as_u64().unwrap() > 0, "{v}");
        } else {
            assert_eq!(
                (copied, there),
                (&serde_json::json!(0), &serde_json::json!(2)),
                "{v}"
            );
            assert_eq!(v["copied"]["task_logs"], 0, "nothing twice: {v}");
        }
    }
    let out = shared
        .cmd()
        .args(["--json", "tasks", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("first") && text.contains("second"), "{text}");
    let out = shared.cmd().args(["--json", "cost"]).output().unwrap();
    let cost: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        cost["lines"][0]["calls"].as_u64().unwrap_or(0) >= 2,
        "{cost}"
    );
}

#[test]
fn bad_store_urls_say_what_to_do() {
    let env = TestEnv::new();
    let cases = [
        ("postgres://az@127.0.0.1:1/nope", "cannot reach PostgreSQL"),
        ("mysql://az@127.0.0.1/db", "neither"),
    ];
    for (url, says) in cases {
        let out = env
            .cmd()
            .env("AZ_OS_DATABASE_URL", url)
            .args(["tasks", "list"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{url}: {err}");
    }
    // A database that does not exist, and wrong credentials.
    let pg = fresh_db();
    let missing = format!("{}_missing", pg.url);
    let out = env
        .cmd()
        .env("AZ_OS_DATABASE_URL", &missing)
        .args(["tasks", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A schema newer than this binary is refused, untouched.
    let db = open(&pg);
    db.execute("UPDATE az_os_schema SET version = 99", [])
        .unwrap();
    let out = env
        .cmd()
        .env("AZ_OS_DATABASE_URL", &pg.url)
        .args(["tasks", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("upgrade az-os"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `az-os worker` on the home's SQLite store says it needs the shared one.
    let out = env.cmd().args(["worker"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[store] url"));
}

#[test]
fn two_workers_cannot_both_spend_the_last_of_the_daily_budget() {
    let pg = fresh_db();
    // One request may cost up to $1.00 (1,000 output tokens at $1,000 per million);
    // the day allows $1.50: one request in flight leaves no room for a second.
    let fake = FakeProvider::start(vec![
        Reply::Delay(Duration::from_secs(2), Box::new(finish("first"))),
        Reply::Delay(Duration::from_secs(2), Box::new(finish("second"))),
    ]);
    let config = format!(
        "[store]\nurl = \"{}\"\n[defaults]\nbudget_usd_per_day = 1.5\nbudget_usd_per_task = 5.0\n\
         [[models]]\nname = \"fake\"\nprovider = \"openai\"\nmodel = \"fake-model\"\n\
         base_url = \"{}\"\napi_key_env = \"AZ_OS_TEST_KEY\"\ntier = \"complex\"\n\
         input_usd_per_mtok = 0.0\noutput_usd_per_mtok = 1000.0\nmax_output_tokens = 1000\n",
        pg.url,
        fake.base_url()
    );
    let hosts: Vec<TestEnv> = (0..3).map(|_| TestEnv::new()).collect();
    for h in &hosts {
        std::fs::write(h.home().join("config.toml"), &config).unwrap();
    }
    let shared = tempfile::tempdir().unwrap();
    let _w1 = worker(&hosts[0], shared.path(), 1);
    let _w2 = worker(&hosts[1], shared.path(), 1);
    wait_for_workers(&pg, 2);
    let out = hosts[2]
        .cmd()
        .args(["--batch", "--json", "run", "-", "--workdir"])
        .arg(shared.path())
        .write_stdin("spend one\nspend two\n")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "one task hit the budget");
    let events = json_lines(&out.stdout);
    let mut statuses: Vec<String> = of_type(&events, "task_finished")
        .iter()
        .map(|e| e["status"].as_str().unwrap_or("").to_owned())
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["budget_exceeded", "completed"], "{events:?}");
    assert_eq!(fake.chat_count(), 1, "only one request was sent");
    let db = open(&pg);
    let held: i64 = db
        .query_row("SELECT COUNT(*) FROM budget_holds", [], |r| r.get(0))
        .unwrap();
    assert_eq!(held, 0, "every hold was let go");
}

#[test]
fn postgresql_restarted_mid_run_loses_no_task() {
    const TASKS: usize = 6;
    let server = crate::common::pg::with_own_server();
    let url = server.url().to_owned();
    let fake = FakeProvider::start(
        (0..TASKS)
            .map(|i| {
                Reply::Delay(
                    Duration::from_millis(1500),
                    Box::new(finish(&format!("done {i}"))),
                )
            })
            .collect(),
    );
    let config = |env: &TestEnv| {
        env.config(
            "openai",
            &fake.base_url(),
            &format!("[store]\nurl = \"{url}\"\n"),
        );
    };
    let (a, b) = (TestEnv::new(), TestEnv::new());
    config(&a);
    config(&b);
    let shared = tempfile::tempdir().unwrap();
    let _w = worker(&a, shared.path(), TASKS as u32);
    let deadline = Instant::now() + Duration::from_secs(60);
    let db = store::open_at(&Location::parse(&url, None).unwrap()).unwrap();
    while store::queue::workers(&db).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the worker never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(db);
    let mut follower = std::process::Command::new(crate::common::bin())
        .env("AZ_OS_HOME", b.home())
        .env("NO_COLOR", "1")
        .env_remove("AZ_OS_DATABASE_URL")
        .args(["--batch", "--json", "run", "-", "--workdir"])
        .arg(shared.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = follower.stdin.take().unwrap();
        for i in 0..TASKS {
            writeln!(stdin, "task {i}").unwrap();
        }
    }
    // Every task is waiting on its model's answer: the server goes down and comes back.
    while fake.chat_count() < TASKS {
        assert!(Instant::now() < deadline, "{} requests", fake.chat_count());
        std::thread::sleep(Duration::from_millis(20));
    }
    server.crash();
    std::thread::sleep(Duration::from_secs(1));
    server.start();
    let out = follower.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json_lines(&out.stdout);
    let fin = of_type(&events, "task_finished");
    assert_eq!(fin.len(), TASKS);
    assert!(fin.iter().all(|e| e["status"] == "completed"), "{fin:?}");
    assert_eq!(fake.chat_count(), TASKS, "no task ran twice");
}
