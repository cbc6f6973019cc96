//! The shared queue on PostgreSQL (issue 16), run as users would run it:
//! - 1,000 hello tasks through 3 `az-os worker` processes × 8 jobs (homes of their own,
//!   one per host) submitted by one `--batch run -`, against the instant fake provider:
//!   total wall, each task run exactly once (the fake server saw one request per task,
//!   each task's own), compared with the same 1,000 tasks through one `--batch run -
//!   --jobs 8` on SQLite (target: no worse);
//! - how late an event of a task running on a worker reaches the follower on "host A"
//!   (its `ts`, stamped by the worker's engine, against when the follower printed it;
//!   target: p95 ≤ 100 ms), with 24 tasks (the workers' slots) and with the 1,000;
//! - a claim (`store::queue::claim`) with 3 claimers racing over 1,000 queued tasks
//!   (target: p95 ≤ 10 ms);
//! - provider rate limits held across workers: 3 workers sharing a model's 300
//!   requests a minute, 330 tasks (about 70 s), against a fake provider that answers
//!   429 beyond 300 in any sliding minute: how many 429s came back
//!   (`AZ_OS_BENCH_SKIP_RATE=1` skips it; `AZ_OS_BENCH_PARTS=claims,events,queue,sqlite,rate`
//!   runs only the parts listed).
//!
//! Needs a PostgreSQL server: `AZ_OS_TEST_PG_URL`, or one started here with
//! scripts/pg-server.sh (and stopped at the end). `AZ_OS_BENCH_TASKS=N` changes 1,000.
//! Run with `cargo bench --bench workers`.

#[path = "../tests/common/fake_provider.rs"]
mod fake_provider;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use az_os::store::{self, Location, NewTask, queue};
use az_os::util::ids::TaskId;
use fake_provider::{FakeProvider, Reply};

fn bin() -> String {
    std::env::var("AZ_OS_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_az-os").to_owned())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn report_ms(name: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    println!(
        "{name:<44} p50 {:>7.2} ms   p95 {:>7.2} ms   max {:>7.2} ms   (n={})",
        percentile(&v, 0.5),
        percentile(&v, 0.95),
        v[v.len() - 1],
        v.len()
    );
}

/// A PostgreSQL server: the test one, or one of our own for this run.
struct Server {
    admin: String,
    own: Option<tempfile::TempDir>,
}

impl Server {
    fn start() -> Self {
        if let Ok(url) = std::env::var("AZ_OS_TEST_PG_URL") {
            return Self {
                admin: url,
                own: None,
            };
        }
        let dir = tempfile::Builder::new()
            .prefix("az-os-bench-pg")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("{e}"));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg-server.sh");
        let out = Command::new(script)
            .arg("start")
            .arg(dir.path().join("pg"))
            .output()
            .unwrap_or_else(|e| panic!("{script}: {e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned();
        Self {
            admin: url,
            own: Some(dir),
        }
    }

    /// A new database, and its URL.
    fn database(&self, name: &str) -> String {
        let admin = self.admin.clone();
        let name = name.to_owned();
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&admin, postgres::NoTls)
                .unwrap_or_else(|e| panic!("{e}"));
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .unwrap_or_else(|e| panic!("{e}"));
            c.batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap_or_else(|e| panic!("{e}"));
            let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
            format!("{base}/{name}")
        })
        .join()
        .unwrap_or_else(|_| panic!("create database"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(dir) = &self.own {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg-server.sh");
            let _ = Command::new(script)
                .arg("stop")
                .arg(dir.path().join("pg"))
                .status();
        }
    }
}

fn write_config(home: &Path, fake: &FakeProvider, extra: &str) {
    write_model_config(home, fake, extra, "");
}

/// The config with `model_extra` lines in the model's entry.
fn write_model_config(home: &Path, fake: &FakeProvider, extra: &str, model_extra: &str) {
    std::fs::write(
        home.join("config.toml"),
        format!(
            "{extra}\n[[models]]\nname = \"fake\"\nprovider = \"openai\"\nmodel = \"fake-model\"\n\
             base_url = \"{}\"\napi_key_env = \"AZ_OS_BENCH_KEY\"\n{model_extra}\n",
            fake.base_url()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

fn hello_script(n: usize) -> Vec<Reply> {
    (0..n).map(|i| Reply::Text(format!("hello {i}"))).collect()
}

fn input(n: usize) -> String {
    let mut text = (0..n)
        .map(|i| format!("say hello number {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    text
}

/// Runs `--batch --json run -` with `n` tasks from `home` in `work`, each of which must
/// complete; returns the wall time and, per printed event, how late it was printed (ms
/// after its `ts`).
fn submit(home: &Path, work: &Path, n: usize, jobs: usize) -> (Duration, Vec<f64>) {
    let (wall, late, failed) = submit_counting(home, work, n, jobs);
    assert_eq!(failed, 0, "tasks that failed");
    (wall, late)
}

/// [`submit`], counting the tasks that did not complete instead.
fn submit_counting(home: &Path, work: &Path, n: usize, jobs: usize) -> (Duration, Vec<f64>, usize) {
    let t0 = Instant::now();
    let mut child = Command::new(bin())
        .args([
            "--batch",
            "--json",
            "-q",
            "run",
            "-",
            "--jobs",
            &jobs.to_string(),
        ])
        .env("AZ_OS_HOME", home)
        .env("AZ_OS_BENCH_KEY", "sk-bench")
        .env_remove("AZ_OS_DATABASE_URL")
        .current_dir(work)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let text = input(n);
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("stdin"));
    std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(text.as_bytes());
    });
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
    let mut late = Vec::new();
    let mut finished = 0;
    let mut failed = 0;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if v["type"] == "task_finished" {
            finished += 1;
            if v["status"] != "completed" {
                failed += 1;
            }
        }
        if v["type"] == "task_queued" {
            continue; // printed by the follower itself
        }
        if let Some(ts) = v["ts"].as_str()
            && let Ok(t) =
                time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        {
            let at = t.unix_timestamp_nanos() as f64 / 1e9;
            late.push(((now - at) * 1000.0).max(0.0));
        }
    }
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(failed > 0 || status.success(), "the batch run failed");
    assert_eq!(finished, n, "every task finished");
    (t0.elapsed(), late, failed)
}

/// Each task's description reached the provider exactly once.
fn check_once(fake: &FakeProvider, n: usize) {
    const SAY: &str = "say hello number ";
    let mut seen: HashMap<usize, usize> = HashMap::new();
    for r in fake.requests() {
        let body = r.body.to_string();
        let Some(at) = body.find(SAY) else { continue };
        let digits: String = body[at + SAY.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(i) = digits.parse::<usize>() {
            *seen.entry(i).or_default() += 1;
        }
    }
    let twice = seen.values().filter(|c| **c > 1).count();
    assert_eq!(seen.len(), n, "tasks that reached the provider");
    assert_eq!(twice, 0, "tasks sent more than once");
}

struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

/// A submitter's home and three workers' (jobs each) on a new database, the workers
/// started; the submitter's home first.
fn three_workers(
    server: &Server,
    db: &str,
    fake: &FakeProvider,
    work: &Path,
    jobs: u32,
    model_extra: &str,
) -> (Vec<tempfile::TempDir>, Vec<Worker>) {
    let url = server.database(db);
    let extra = format!("[store]\nurl = \"{url}\"\n");
    let homes: Vec<tempfile::TempDir> = (0..4)
        .map(|_| tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")))
        .collect();
    for h in &homes {
        write_model_config(h.path(), fake, &extra, model_extra);
    }
    let out = Command::new(bin())
        .args(["store", "migrate"])
        .env("AZ_OS_HOME", homes[0].path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success());
    let workers: Vec<Worker> = homes[1..]
        .iter()
        .map(|h| {
            Worker(
                Command::new(bin())
                    .args(["-q", "worker", "--jobs", &jobs.to_string(), "--serves"])
                    .arg(work)
                    .env("AZ_OS_HOME", h.path())
                    .env("AZ_OS_BENCH_KEY", "sk-bench")
                    .current_dir(work)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    (homes, workers)
}

fn queue_through_workers(server: &Server, n: usize) {
    let fake = FakeProvider::start(hello_script(n));
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = format!("az_os_bench_queue_{n}");
    let (homes, _workers) = three_workers(server, &db, &fake, work.path(), 8, "");
    let (wall, late) = submit(homes[0].path(), work.path(), n, 8);
    println!(
        "{:<44} {:>8.2} s   ({n} tasks, {:.1} tasks/s)",
        "3 workers x 8 jobs on PostgreSQL (wall)",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64()
    );
    check_once(&fake, n);
    println!("{:<44} every task sent to the provider exactly once", "");
    report_ms(
        &format!("event lateness, worker -> follower ({n} tasks)"),
        late,
    );
}

/// Provider rate limits across workers: the model allows 300 requests a minute, which
/// the fake provider enforces over any sliding minute, answering 429 (`Retry-After: 1`)
/// beyond. Three workers x 4 jobs send `n` one-request tasks (more than a minute's
/// worth), each worker keeping to its share (300 / 3 live workers). Counts the 429s.
fn rate_limits(server: &Server, n: usize) {
    let fake = FakeProvider::start(hello_script(n));
    fake.limit_rate(300, Duration::from_secs(60));
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (homes, _workers) = three_workers(
        server,
        "az_os_bench_rate",
        &fake,
        work.path(),
        4,
        "requests_per_minute = 300",
    );
    // The shares are recounted at each heartbeat (5 s): let every worker see the others.
    std::thread::sleep(Duration::from_secs(6));
    let (wall, _, failed) = submit_counting(homes[0].path(), work.path(), n, 8);
    println!(
        "{:<44} {:>8} of {} requests, {failed} tasks failed   ({n} tasks in {:.1} s: {:.2} requests/s, 5/s allowed)",
        "429s, 3 workers sharing 300 requests/min",
        fake.rejected(),
        fake.chat_count() + fake.rejected(),
        wall.as_secs_f64(),
        fake.chat_count() as f64 / wall.as_secs_f64()
    );
}

fn one_batch_on_sqlite(n: usize) {
    let fake = FakeProvider::start(hello_script(n));
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_config(home.path(), &fake, "");
    let (wall, _) = submit(home.path(), work.path(), n, 8);
    println!(
        "{:<44} {:>8.2} s   ({n} tasks, {:.1} tasks/s)",
        "one --batch run --jobs 8 on SQLite (wall)",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64()
    );
    check_once(&fake, n);
}

fn claims(server: &Server, n: usize) {
    let url = server.database("az_os_bench_claims");
    let at = Location::parse(&url, None).unwrap_or_else(|e| panic!("{e}"));
    let db = store::open_at(&at).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..n {
        let t = NewTask {
            id: TaskId::new(),
            description: format!("task {i}"),
            workdir: "/srv/work".into(),
            max_turns: 5,
            budget_usd: None,
            requested_model: None,
            critical: false,
        };
        queue::submit(&db, &t).unwrap_or_else(|e| panic!("{e}"));
    }
    let folders = vec!["/srv".to_owned()];
    let threads: Vec<_> = (0..3)
        .map(|w| {
            let (at, folders) = (at.clone(), folders.clone());
            std::thread::spawn(move || {
                let db = store::open_at(&at).unwrap_or_else(|e| panic!("{e}"));
                let mut times = Vec::new();
                loop {
                    let t0 = Instant::now();
                    let got = queue::claim(&db, &format!("bench-{w}"), &folders)
                        .unwrap_or_else(|e| panic!("{e}"));
                    times.push(t0.elapsed().as_secs_f64() * 1000.0);
                    if got.is_none() {
                        return times;
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().unwrap_or_else(|_| panic!("claimer")));
    }
    let claimed: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM tasks WHERE worker IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claimed as usize, n, "every task claimed once");
    report_ms("claim, 3 claimers over 1,000 queued", all);
}

/// Whether part `name` runs: all of them unless `AZ_OS_BENCH_PARTS` lists some
/// (comma-separated: claims, events, queue, sqlite, rate).
fn part(name: &str) -> bool {
    match std::env::var("AZ_OS_BENCH_PARTS") {
        Ok(parts) => parts.split(',').any(|p| p.trim() == name),
        Err(_) => name != "rate" || std::env::var_os("AZ_OS_BENCH_SKIP_RATE").is_none(),
    }
}

fn main() {
    let n: usize = std::env::var("AZ_OS_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let server = Server::start();
    if part("claims") {
        claims(&server, 1000);
    }
    // As many tasks as the workers' slots (3 x 8): how late events are when the queue
    // is busy but the machine is not saturated.
    if part("events") {
        queue_through_workers(&server, 24);
    }
    if part("queue") {
        queue_through_workers(&server, n);
    }
    if part("sqlite") {
        one_batch_on_sqlite(n);
    }
    if part("rate") {
        rate_limits(&server, 330);
    }
}
