//! A fault-injection soak: many batch tasks (`az-os --batch --json run - --jobs N`) against
//! two fake providers whose scripts fail a set share of requests (429 with `Retry-After: 0`,
//! 500 with `Retry-After: 0`, or a stream cut short), then an audit of what came back:
//! every task ended with a clear status, none was lost, and nothing was charged twice.
//!
//! Shared by the integration tests (a small run) and `benches/soak.rs` (100 tasks).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::fake_provider::{FakeProvider, Reply};

/// What one soak run did.
#[derive(Debug, Default)]
pub struct SoakReport {
    pub tasks: usize,
    pub completed: usize,
    pub other_endings: HashMap<String, usize>,
    /// The errors of tasks that did not complete.
    pub errors: Vec<String>,
    pub requests: usize,
    pub faults_injected: usize,
    pub retries: usize,
    pub fallbacks: usize,
    pub wall: Duration,
    pub exit_code: Option<i32>,
}

/// Deterministic pseudo-random numbers (64-bit LCG, top bits) in 0..1.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `len` replies of which about `fault_rate` are faults (flagged in the second vector);
/// the rest mostly answer at once, sometimes after one command.
fn script(seed: u64, len: usize, fault_rate: f64) -> (Vec<Reply>, Vec<bool>) {
    let mut rng = Lcg(seed);
    let mut faults = Vec::with_capacity(len);
    let replies = (0..len)
        .map(|i| {
            let fault = rng.next() < fault_rate;
            faults.push(fault);
            if fault {
                match i % 3 {
                    0 => Reply::Status {
                        code: 429,
                        retry_after: Some(0),
                        message: "injected rate limit".into(),
                    },
                    1 => Reply::Status {
                        code: 500,
                        retry_after: Some(0),
                        message: "injected server error".into(),
                    },
                    _ => Reply::DropStream("cut sho".into()),
                }
            } else if rng.next() < 0.25 {
                Reply::Tools {
                    text: "Checking.".into(),
                    calls: vec![("execute_command".into(), r#"{"command":"echo ok"}"#.into())],
                }
            } else {
                Reply::Text(format!("done {i}"))
            }
        })
        .collect();
    (replies, faults)
}

fn model(name: &str, quality: f64, base_url: &str) -> String {
    format!(
        "[[models]]\nname = \"{name}\"\nprovider = \"openai\"\nmodel = \"fake-model\"\n\
         base_url = \"{base_url}\"\napi_key_env = \"AZ_OS_SOAK_KEY\"\ntier = \"complex\"\n\
         input_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\nmax_output_tokens = 500\n\
         quality = {quality}\n"
    )
}

/// Runs `tasks` tasks with `jobs` workers and audits the outcome; panics with the reason
/// when an invariant breaks.
pub fn run(bin: &Path, tasks: usize, jobs: usize, fault_rate: f64, seed: u64) -> SoakReport {
    let per_server = tasks * 8 + 50;
    let (script_a, faults_a) = script(seed, per_server, fault_rate);
    let (script_b, faults_b) = script(seed ^ 0x9e37_79b9_7f4a_7c15, per_server, fault_rate);
    let a = FakeProvider::start(script_a);
    let b = FakeProvider::start(script_b);
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let config = format!(
        "[defaults]\nretry_attempts = 3\nretry_max_delay_s = 0.05\n\
         [routing]\nbreaker_cooldown_s = 1\nbreaker_max_cooldown_s = 2\n{}{}",
        model("primary", 0.6, &a.base_url()),
        model("secondary", 0.5, &b.base_url())
    );
    std::fs::write(home.path().join("config.toml"), config)
        .unwrap_or_else(|e| panic!("config: {e}"));
    let stdin = (0..tasks)
        .map(|i| format!("soak task {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    let t0 = Instant::now();
    let out = run_batch(bin, home.path(), work.path(), jobs, &stdin);
    let wall = t0.elapsed();
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let conn = rusqlite::Connection::open(home.path().join("az-os.db"))
        .unwrap_or_else(|e| panic!("db: {e}"));
    // The lessons requests at tasks' ends are billed too.
    let requests =
        a.chat_count() + b.chat_count() + a.lesson_requests().len() + b.lesson_requests().len();
    let mut report = audit(&events, &conn, tasks, requests);
    report.faults_injected = count_faults(&a, &faults_a) + count_faults(&b, &faults_b);
    report.wall = wall;
    report.exit_code = out.status.code();
    assert!(
        matches!(report.exit_code, Some(0 | 1)),
        "exit code {:?}: {}",
        report.exit_code,
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

fn run_batch(
    bin: &Path,
    home: &Path,
    work: &Path,
    jobs: usize,
    stdin: &str,
) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(bin)
        .args(["--batch", "--json", "run", "-", "--budget", "1", "--jobs"])
        .arg(jobs.to_string())
        .env("AZ_OS_HOME", home)
        .env("AZ_OS_SOAK_KEY", "sk-soak")
        .env("NO_COLOR", "1")
        .env_remove("AZ_OS_LOG")
        .current_dir(work)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .unwrap_or_else(|e| panic!("stdin: {e}"));
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait: {e}"))
}

/// Faults actually served: the server pops its script in order, so they are the faults
/// among the first `chat_count` replies.
fn count_faults(fake: &FakeProvider, faults: &[bool]) -> usize {
    let served = fake.chat_count().min(faults.len());
    faults[..served].iter().filter(|&&f| f).count()
}

fn audit(
    events: &[Value],
    conn: &rusqlite::Connection,
    tasks: usize,
    requests: usize,
) -> SoakReport {
    let of = |ty: &'static str| events.iter().filter(move |e| e["type"] == ty);
    let finished: Vec<&Value> = of("task_finished").collect();
    let ids: HashSet<&str> = finished
        .iter()
        .filter_map(|e| e["task_id"].as_str())
        .collect();
    assert_eq!(
        finished.len(),
        tasks,
        "every task reports task_finished once"
    );
    assert_eq!(ids.len(), tasks, "no task finishes twice");
    let mut report = SoakReport {
        tasks,
        requests,
        retries: of("retry").count(),
        fallbacks: of("fallback").count(),
        ..SoakReport::default()
    };
    for e in &finished {
        let status = e["status"].as_str().unwrap_or("?");
        if status == "completed" {
            report.completed += 1;
            continue;
        }
        assert!(
            matches!(status, "failed" | "budget_exceeded"),
            "unclear ending: {e}"
        );
        let error = e["error"].as_str().unwrap_or("");
        assert!(
            !error.is_empty(),
            "a task that did not complete says why: {e}"
        );
        *report.other_endings.entry(status.to_owned()).or_default() += 1;
    }
    let q = |sql: &str| -> i64 {
        conn.query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    assert_eq!(
        q("SELECT COUNT(*) FROM tasks"),
        tasks as i64,
        "no task lost"
    );
    assert_eq!(
        q("SELECT COUNT(*) FROM tasks WHERE status IN ('pending', 'running')"),
        0,
        "no task left unfinished"
    );
    assert_eq!(
        q("SELECT COUNT(*) FROM cost_tracking"),
        requests as i64,
        "one ledger row per request the providers received"
    );
    assert_eq!(
        q(
            "SELECT COUNT(*) FROM cost_tracking WHERE error IS NOT NULL \
           AND (cost_usd != 0 OR input_tokens != 0 OR output_tokens != 0)"
        ),
        0,
        "failed requests are never charged"
    );
    assert_eq!(
        q("SELECT COUNT(*) FROM cost_tracking WHERE error IS NULL"),
        of("llm_call").count() as i64,
        "one billed row per llm_call event"
    );
    assert_eq!(
        q(
            "SELECT COUNT(*) FROM tasks t WHERE abs(t.cost_usd - (SELECT COALESCE(SUM(c.cost_usd), 0) \
           FROM cost_tracking c WHERE c.task_id = t.id)) > 1e-12"
        ),
        0,
        "every task's cost is exactly its ledger rows"
    );
    let event_costs: f64 = finished.iter().filter_map(|e| e["cost_usd"].as_f64()).sum();
    let ledger: f64 = conn
        .query_row(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM cost_tracking",
            [],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("sum: {e}"));
    assert!(
        (event_costs - ledger).abs() < 1e-9,
        "task_finished costs {event_costs} != ledger {ledger}"
    );
    report
}
