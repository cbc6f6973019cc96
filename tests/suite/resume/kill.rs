//! The kill test behind `scripts/kill-test.sh`: rounds of a batch killed with SIGKILL at a
//! random moment, then `tasks list` and `tasks resume --all`, with the totals printed.

use super::*;

/// What one kill round saw.
#[derive(Default, Debug)]
struct Round {
    tasks: usize,
    completed_before: usize,
    interrupted: usize,
    /// Interrupted tasks with a saved state (stopped mid-task, not still queued).
    from_checkpoint: usize,
    resumed_ok: usize,
}

fn kill_round(seed: u64) -> Round {
    let env = TestEnv::new();
    let mut script = Vec::new();
    // Three turns a task at 300 ms a reply: the batch takes about 2.5 s with 4 workers.
    for _ in 0..30 {
        script.push(slow(
            300,
            tools(&[("write_file", r#"{"path":"out.txt","content":"x"}"#)]),
        ));
        script.push(slow(
            300,
            tools(&[("execute_command", r#"{"command":"cat out.txt"}"#)]),
        ));
        script.push(slow(300, finish("done")));
    }
    let fake = FakeProvider::start(script);
    env.config("openai", &fake.base_url(), "");
    // Enough turns that no order of the shared script's replies runs a task out of them.
    let args = [
        "--batch",
        "--json",
        "run",
        "-",
        "--jobs",
        "4",
        "--max-turns",
        "40",
    ];
    let mut run = spawn(&env, &args);
    {
        use std::io::Write;
        let mut stdin = run.child.stdin.take().unwrap();
        for i in 0..10 {
            writeln!(stdin, "task number {i}").unwrap();
        }
    }
    // A random moment between 0.2 s and 2.5 s (xorshift on the round's seed).
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::thread::sleep(Duration::from_millis(200 + x % 2300));
    let printed = run.kill9();
    let completed: HashSet<String> = of_type(&printed, "task_finished")
        .iter()
        .filter(|e| e["status"] == "completed")
        .map(|e| e["task_id"].as_str().unwrap().to_owned())
        .collect();

    let rows = statuses(&env);
    integrity_ok(&env);
    let mut r = Round {
        tasks: rows.len(),
        completed_before: completed.len(),
        ..Round::default()
    };
    for (id, status) in &rows {
        assert!(
            status != "running" && status != "pending",
            "round {seed}: {id} left {status}"
        );
        if completed.contains(id) {
            assert_eq!(
                status, "completed",
                "round {seed}: completed task {id} lost"
            );
        }
        if status == "interrupted" {
            r.interrupted += 1;
            if env.home().join(format!("checkpoints/{id}.json")).is_file() {
                r.from_checkpoint += 1;
            }
        }
    }
    let out = env
        .cmd()
        .args([
            "--batch", "--json", "tasks", "resume", "--all", "--jobs", "4",
        ])
        .output()
        .unwrap();
    let events = json_lines(&out.stdout);
    r.resumed_ok = of_type(&events, "task_finished")
        .iter()
        .filter(|e| e["status"] == "completed")
        .count();
    for (id, status) in statuses(&env) {
        assert_eq!(
            status, "completed",
            "round {seed}: {id} not resumed to completion"
        );
    }
    integrity_ok(&env);
    assert_eq!(out.status.code(), Some(0), "round {seed}: {out:?}");
    r
}

/// `scripts/kill-test.sh`: 20 rounds of a 10-task batch with 4 workers against a slow
/// provider, killed with SIGKILL at a random moment, then `tasks list` and
/// `tasks resume --all`. Prints the totals.
#[test]
#[ignore = "slow (about a minute); run by scripts/kill-test.sh"]
fn kill_test_twenty_rounds() {
    let rounds: u64 = std::env::var("AZ_OS_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut total = Round::default();
    for seed in 1..=rounds {
        let r = kill_round(seed);
        println!("round {seed:>2}: {r:?}");
        total.tasks += r.tasks;
        total.completed_before += r.completed_before;
        total.interrupted += r.interrupted;
        total.from_checkpoint += r.from_checkpoint;
        total.resumed_ok += r.resumed_ok;
    }
    println!(
        "kill-test: {rounds} rounds, {} tasks stored, {} completed before the kill, {} interrupted ({} after a completed turn, continued from their checkpoint; {} queued or in their first turn, started over), {} resumed to completion, 0 left running or pending, integrity_check ok every time",
        total.tasks,
        total.completed_before,
        total.interrupted,
        total.from_checkpoint,
        total.interrupted - total.from_checkpoint,
        total.resumed_ok
    );
    assert_eq!(total.interrupted, total.resumed_ok);
}
