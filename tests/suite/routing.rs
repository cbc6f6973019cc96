//! The router, fallback cascade, retries, rate limits and budgets, end to end: the built
//! binary against fake providers on 127.0.0.1, checked through its JSON Lines, the
//! requests the fakes received and the database. No wall-clock upper bounds: delays are
//! read from `retry` events and spacing from the fakes' recorded arrival times, as lower
//! bounds the code guarantees.

use std::time::Duration;

use serde_json::Value;

use crate::common::fake_provider::{FakeProvider, Reply};
use crate::common::{TestEnv, json_lines, of_type};

/// One `[[models]]` entry on `base_url`, free unless `extra` sets prices.
fn model(name: &str, tier: &str, quality: f64, base_url: &str, extra: &str) -> String {
    format!(
        "[[models]]\nname = \"{name}\"\nprovider = \"openai\"\nmodel = \"fake-model\"\n\
         base_url = \"{base_url}\"\napi_key_env = \"AZ_OS_TEST_KEY\"\ntier = \"{tier}\"\n\
         quality = {quality}\n{extra}\n"
    )
}

fn write_config(env: &TestEnv, text: &str) {
    std::fs::write(env.home().join("config.toml"), text).unwrap();
}

fn run_json(env: &TestEnv, args: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let out = env
        .cmd()
        .args(["--batch", "--json", "run"])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), json_lines(&out.stdout), stderr)
}

fn status(code: u16, retry_after: Option<u64>) -> Reply {
    Reply::Status {
        code,
        retry_after,
        message: format!("injected {code}"),
    }
}

fn text(t: &str) -> Reply {
    Reply::Text(t.into())
}

fn count(env: &TestEnv, sql: &str) -> i64 {
    env.conn().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// A port nothing listens on.
fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/v1")
}

#[test]
fn critical_flag_and_keywords_pick_the_critical_model() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![text("a"), text("b"), text("c")]);
    let url = fake.base_url();
    write_config(
        &env,
        &format!(
            "[routing]\ncritical_keywords = [\"prod\"]\n{}{}",
            model("cheap", "complex", 0.5, &url, ""),
            model(
                "premium",
                "critical",
                0.9,
                &url,
                "input_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0"
            )
        ),
    );
    let started = |events: &[Value]| of_type(events, "task_started")[0].clone();
    let (code, ev, err) = run_json(&env, &["--critical", "fix the login bug"]);
    assert_eq!(code, Some(0), "{err}");
    let s = started(&ev);
    assert_eq!(s["model"], "premium");
    assert_eq!(s["route"]["complexity"], "critical");
    assert!(
        s["route"]["reason"]
            .as_str()
            .unwrap()
            .contains("--critical")
    );

    let (_, ev, _) = run_json(&env, &["fix the login bug"]);
    assert_eq!(
        started(&ev)["model"],
        "cheap",
        "the paid tier waits for critical work"
    );

    let (_, ev, _) = run_json(&env, &["restart the prod web server"]);
    let s = started(&ev);
    assert_eq!(s["model"], "premium");
    assert!(
        s["route"]["reason"]
            .as_str()
            .unwrap()
            .contains("keyword \"prod\"")
    );

    // The decision, with every candidate's score, is recorded on the task.
    let route: String = env
        .conn()
        .query_row(
            "SELECT route_json FROM tasks WHERE description LIKE 'restart%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let route: Value = serde_json::from_str(&route).unwrap();
    assert_eq!(route["candidates"][0]["model"], "premium");
    // --critical is stored, so `tasks retry` routes the task the same way.
    assert_eq!(
        count(&env, "SELECT COUNT(*) FROM tasks WHERE critical = 1"),
        1
    );
    assert!(route["candidates"][0]["success_rate"].as_f64().is_some());

    env.cmd()
        .args(["models", "route", "--critical", "fix", "it"])
        .assert()
        .success()
        .stdout(predicates::str::starts_with("premium"));
    env.cmd()
        .args(["--batch", "run", "--critical", "--model", "cheap", "x"])
        .assert()
        .code(2);
}

#[test]
fn models_route_shows_the_score_breakdown_and_runners_up() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .env("OPENROUTER_API_KEY", "k")
        .env("GEMINI_API_KEY", "k")
        .args(["models", "route", "count", "the", "lines"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // Both free: Gemini Pro's higher quality wins (.4 + .27 + .2 against .3 + .27 + .2).
    assert!(stdout.starts_with("gemini-pro"), "{stdout}");
    for part in [
        "SCORE",
        "0.870",
        "trinity",
        "0.770",
        "not candidates",
        "MISTRAL_API_KEY",
    ] {
        assert!(stdout.contains(part), "{part}: {stdout}");
    }
    let out = env
        .cmd()
        .env("OPENROUTER_API_KEY", "k")
        .args(["--json", "models", "route", "count", "the", "lines"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"], "trinity");
    let c = &v["candidates"][0];
    for f in ["quality", "success_rate", "cost_score", "score"] {
        assert!(c[f].as_f64().is_some(), "{f}: {v}");
    }
}

#[test]
fn retry_after_is_honoured_and_failed_calls_cost_nothing() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![status(429, Some(1)), text("finally")]);
    env.config("openai", &fake.base_url(), "");
    let (code, ev, err) = run_json(&env, &["x"]);
    assert_eq!(code, Some(0), "{err}");
    let retry = of_type(&ev, "retry")[0];
    assert_eq!(retry["category"], "rate_limit");
    assert_eq!(retry["delay_ms"], 1000, "Retry-After: 1, not the backoff");
    let reqs = fake.requests();
    let gap = reqs[1].at.duration_since(reqs[0].at);
    assert!(gap >= Duration::from_secs(1), "sent again after {gap:?}");
    // The 429 is in the ledger, at no cost, and `az-os cost` counts it.
    assert_eq!(
        count(
            &env,
            "SELECT COUNT(*) FROM cost_tracking WHERE error = 'rate_limit' AND cost_usd = 0"
        ),
        1
    );
    let out = env
        .cmd()
        .args(["--json", "cost", "--by", "model"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let line = &v["lines"][0];
    assert_eq!(
        (line["calls"].as_u64(), line["failed"].as_u64()),
        (Some(2), Some(1))
    );
    let billed = of_type(&ev, "llm_call")[0]["cost_usd"].as_f64().unwrap();
    assert!((line["cost_usd"].as_f64().unwrap() - billed).abs() < 1e-12);
}

#[test]
fn retry_after_pauses_the_provider_for_every_worker() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![status(429, Some(2)), text("one"), text("two")]);
    // One request a second: the second worker's request waits for its slot at 1 s, and
    // by then the first one's 429 has paused the endpoint until 2 s.
    write_config(
        &env,
        &model(
            "m",
            "complex",
            0.5,
            &fake.base_url(),
            "requests_per_minute = 60",
        ),
    );
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "-", "--jobs", "2"])
        .write_stdin("first\nsecond\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3);
    for r in &reqs[1..] {
        let after = r.at.duration_since(reqs[0].at);
        // 2 s of Retry-After; 1.9 s leaves room for the 429's own trip back.
        assert!(
            after >= Duration::from_millis(1900),
            "sent {after:?} after the 429"
        );
    }
}

#[test]
fn server_error_then_success_backs_off_within_the_configured_cap() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![status(500, None), text("recovered")]);
    env.config(
        "openai",
        &fake.base_url(),
        "[defaults]\nretry_max_delay_s = 0.2",
    );
    let (code, ev, err) = run_json(&env, &["x"]);
    assert_eq!(code, Some(0), "{err}");
    let retry = of_type(&ev, "retry")[0];
    assert_eq!(retry["category"], "server");
    // The first backoff is 1 s ± 20%, capped at 0.2 s.
    assert_eq!(retry["delay_ms"], 200);
    assert_eq!(of_type(&ev, "llm_call")[0]["attempt"], 2);
    assert_eq!(of_type(&ev, "task_finished")[0]["result"], "recovered");
}

/// Two models: `a` (preferred, on `a_url`) and `b` (on `b_url`).
fn two_models(env: &TestEnv, a_url: &str, b_url: &str, extra: &str) {
    write_config(
        env,
        &format!(
            "{extra}\n{}{}",
            model("a", "complex", 0.9, a_url, ""),
            model("b", "complex", 0.5, b_url, "")
        ),
    );
}

#[test]
fn dead_model_falls_back_to_the_next_one() {
    let env = TestEnv::new();
    let a = FakeProvider::start(vec![status(500, Some(0)), status(500, Some(0))]);
    let b = FakeProvider::start(vec![text("done on b")]);
    two_models(
        &env,
        &a.base_url(),
        &b.base_url(),
        "[defaults]\nretry_attempts = 2",
    );
    let (code, ev, err) = run_json(&env, &["do it"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(of_type(&ev, "task_started")[0]["model"], "a");
    let fb = of_type(&ev, "fallback");
    assert_eq!(fb.len(), 1);
    assert_eq!(
        (fb[0]["from_model"].as_str(), fb[0]["to_model"].as_str()),
        (Some("a"), Some("b"))
    );
    let reason = fb[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("server") && reason.contains("after 2 attempts"),
        "{reason}"
    );
    let calls = of_type(&ev, "llm_call");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["model"], "b");
    let fin = of_type(&ev, "task_finished")[0];
    assert_eq!(
        (fin["status"].as_str(), fin["result"].as_str()),
        (Some("completed"), Some("done on b"))
    );
    // Fallback comes before the answer it led to.
    let pos = |ty: &str| ev.iter().position(|e| e["type"] == ty).unwrap();
    assert!(pos("fallback") < pos("llm_call"));
    assert_eq!((a.chat_count(), b.chat_count()), (2, 1));
    assert_eq!(
        count(&env, "SELECT COUNT(*) FROM tasks WHERE model = 'b'"),
        1
    );
    assert_eq!(
        count(
            &env,
            "SELECT COUNT(*) FROM task_logs WHERE kind = 'fallback'"
        ),
        1
    );
}

#[test]
fn unreachable_model_falls_back_with_a_single_attempt() {
    let env = TestEnv::new();
    let b = FakeProvider::start(vec![text("fine")]);
    two_models(
        &env,
        &closed_port_url(),
        &b.base_url(),
        "[defaults]\nretry_attempts = 1",
    );
    let (code, ev, err) = run_json(&env, &["x"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        of_type(&ev, "retry").is_empty(),
        "one attempt means no retry"
    );
    let fb = of_type(&ev, "fallback")[0];
    assert!(fb["reason"].as_str().unwrap().contains("network"), "{fb}");
    assert_eq!(
        count(
            &env,
            "SELECT COUNT(*) FROM cost_tracking WHERE model = 'a' AND error = 'network'"
        ),
        1
    );
}

#[test]
fn refused_key_and_long_retry_after_fall_back_at_once() {
    for (reply, words) in [
        (status(401, None), "auth"),
        (status(429, Some(120)), "Retry-After of 120s"),
    ] {
        let env = TestEnv::new();
        let a = FakeProvider::start(vec![reply]);
        let b = FakeProvider::start(vec![text("ok")]);
        two_models(&env, &a.base_url(), &b.base_url(), "");
        let (code, ev, err) = run_json(&env, &["x"]);
        assert_eq!(code, Some(0), "{err}");
        assert!(of_type(&ev, "retry").is_empty(), "{words}: not retried");
        let reason = of_type(&ev, "fallback")[0]["reason"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(reason.contains(words), "{reason}");
        assert_eq!(a.chat_count(), 1, "{words}");
    }
}

#[test]
fn no_model_left_fails_with_every_reason() {
    let env = TestEnv::new();
    let a = FakeProvider::start(vec![status(503, Some(0))]);
    let b = FakeProvider::start(vec![status(404, None)]);
    two_models(
        &env,
        &a.base_url(),
        &b.base_url(),
        "[defaults]\nretry_attempts = 1",
    );
    let (code, ev, _) = run_json(&env, &["x"]);
    assert_eq!(code, Some(1));
    let fin = of_type(&ev, "task_finished")[0];
    assert_eq!(fin["status"], "failed");
    let error = fin["error"].as_str().unwrap();
    for part in ["no model left to fall back to", "a: server", "b: not_found"] {
        assert!(error.contains(part), "{part}: {error}");
    }
}

#[test]
fn escalation_continues_one_tier_up_after_the_turn_limit() {
    let env = TestEnv::new();
    let small = FakeProvider::start(vec![Reply::Tools {
        text: "Trying.".into(),
        calls: vec![("execute_command".into(), r#"{"command":"true"}"#.into())],
    }]);
    let big = FakeProvider::start(vec![text("solved")]);
    write_config(
        &env,
        &format!(
            "[routing]\nescalate_on_max_turns = true\n{}{}",
            model("small", "simple", 0.6, &small.base_url(), ""),
            model("big", "medium", 0.5, &big.base_url(), "")
        ),
    );
    let (code, ev, err) = run_json(&env, &["--max-turns", "1", "x"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(of_type(&ev, "task_started")[0]["model"], "small");
    let fb = of_type(&ev, "fallback")[0];
    assert_eq!(fb["to_model"], "big");
    assert!(
        fb["reason"]
            .as_str()
            .unwrap()
            .contains("escalating one tier up to medium")
    );
    let fin = of_type(&ev, "task_finished")[0];
    assert_eq!(
        (fin["result"].as_str(), fin["turns"].as_u64()),
        (Some("solved"), Some(2))
    );
}

/// Input free, output at $2 per million, 1000 output tokens allowed: every request's
/// worst case is exactly $0.002, and a cap of $0.00201 leaves room for one request only
/// once the first has cost anything.
fn priced(env: &TestEnv, base_url: &str, extra: &str) {
    write_config(
        env,
        &format!(
            "{extra}\n{}",
            model(
                "m",
                "complex",
                0.5,
                base_url,
                "input_usd_per_mtok = 0.0\noutput_usd_per_mtok = 2.0\nmax_output_tokens = 1000"
            )
        ),
    );
}

fn act() -> Reply {
    Reply::Tools {
        text: "Let me act.".into(),
        calls: vec![("execute_command".into(), r#"{"command":"true"}"#.into())],
    }
}

#[test]
fn budgets_stop_the_task_before_the_request_that_could_cross_them() {
    for (flag, extra, fix) in [
        (Some("0.00201"), "", "--budget"),
        (
            None,
            "[defaults]\nbudget_usd_per_day = 0.00201",
            "budget_usd_per_day",
        ),
    ] {
        let env = TestEnv::new();
        let fake = FakeProvider::start(vec![act(), act(), text("never")]);
        priced(&env, &fake.base_url(), extra);
        let mut args = vec![];
        if let Some(b) = flag {
            args.extend(["--budget", b]);
        }
        args.push("x");
        let (code, ev, _) = run_json(&env, &args);
        assert_eq!(code, Some(1), "{fix}");
        assert_eq!(fake.chat_count(), 1, "{fix}: no request past the cap");
        let fin = of_type(&ev, "task_finished")[0];
        assert_eq!(fin["status"], "budget_exceeded");
        assert!(fin["cost_usd"].as_f64().unwrap() > 0.0);
        let error = fin["error"].as_str().unwrap();
        for part in [
            "would be passed",
            "spent",
            "up to $0.0020",
            "1000 output tokens",
            fix,
        ] {
            assert!(error.contains(part), "{part}: {error}");
        }
    }
}

#[test]
fn free_models_are_never_stopped_by_a_zero_budget() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![act(), text("free")]);
    write_config(&env, &model("m", "complex", 0.5, &fake.base_url(), ""));
    let (code, ev, err) = run_json(&env, &["--budget", "0", "x"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(of_type(&ev, "task_finished")[0]["result"], "free");
}

#[test]
fn rate_limit_spaces_the_requests_of_concurrent_workers() {
    let env = TestEnv::new();
    let fake = FakeProvider::start((0..4).map(|i| text(&format!("t{i}"))).collect());
    // 120 a minute: one every 0.5 s, whichever worker sends it.
    write_config(
        &env,
        &model(
            "m",
            "complex",
            0.5,
            &fake.base_url(),
            "requests_per_minute = 120",
        ),
    );
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "-", "--jobs", "4"])
        .write_stdin("one\ntwo\nthree\nfour\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut at: Vec<_> = fake.requests().iter().map(|r| r.at).collect();
    assert_eq!(at.len(), 4);
    at.sort();
    for pair in at.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        // 0.5 s by the limiter; 0.4 s leaves room for network jitter on arrival.
        assert!(gap >= Duration::from_millis(400), "requests {gap:?} apart");
    }
}

#[test]
fn injected_faults_lose_and_double_charge_nothing() {
    let report = crate::common::soak::run(&crate::common::bin(), 24, 4, 0.3, 7);
    assert!(report.faults_injected > 0, "{report:?}");
    assert!(report.retries > 0, "{report:?}");
    assert!(report.completed > 0, "{report:?}");
}
