//! Lessons through the built binary: a task that fails teaches a lesson (one request at
//! its end, billed and announced), the next task in that workdir is given it; `az-os
//! memory` lists, shows, searches, adds, removes, exports, imports and cleans up, and bad
//! input is named.

use serde_json::Value;

use crate::common::fake_provider::{FakeProvider, Reply};
use crate::common::{TestEnv, json_lines, of_type};

fn call(name: &str, args: &str) -> Reply {
    Reply::Tools {
        text: String::new(),
        calls: vec![(name.into(), args.into())],
    }
}

fn first_user_message(fake: &FakeProvider, nth_task_request: usize) -> String {
    let reqs = fake.requests();
    let r = &reqs[nth_task_request];
    r.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_failed_task_teaches_the_next_one() {
    let env = TestEnv::new();
    std::fs::write(env.work().join("data.csv"), "name,n\na,1\nb,2\n").unwrap();
    let fake = FakeProvider::start(vec![
        call("execute_command", r#"{"command":"wc -l data.csv"}"#),
        call("finish", r#"{"result":"3 rows"}"#),
    ]);
    fake.push_lessons(Reply::Text(
        "```json\n{\"lessons\": [{\"lesson\": \"data.csv has a header row: count rows as lines minus one.\", \"category\": \"pitfall\", \"scope\": \"workdir\", \"score\": 8}]}\n```"
            .into(),
    ));
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "count the rows of data.csv"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json_lines(&out.stdout);
    // The lessons request is billed like any call and announced in the transcript.
    let asked = fake.lesson_requests();
    assert_eq!(asked.len(), 1);
    let body = asked[0].body.to_string();
    assert!(
        body.contains("count the rows of data.csv") && body.contains("execute_command"),
        "{body}"
    );
    assert!(!body.contains("name,n"), "raw tool output sent: {body}");
    assert_eq!(of_type(&events, "llm_call").len(), 3);
    let learned = of_type(&events, "notice");
    assert!(
        learned
            .iter()
            .any(|n| n["message"].as_str().unwrap().contains("header row")),
        "{learned:?}"
    );
    let (lesson, scope, task): (String, Option<String>, Option<String>) = env
        .conn()
        .query_row("SELECT lesson, scope, task_id FROM memories", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert!(lesson.contains("minus one"));
    assert_eq!(
        scope.as_deref(),
        Some(env.work().canonicalize().unwrap().to_str().unwrap())
    );
    assert!(task.is_some());

    // The next task on the same file is given the lesson, and says so.
    fake.push([call("finish", r#"{"result":"2"}"#)]);
    let out = env
        .cmd()
        .args([
            "--batch",
            "--json",
            "run",
            "how many rows does data.csv have",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let user = first_user_message(&fake, 2);
    assert!(user.contains("minus one"), "{user}");
    let ctx = of_type(&json_lines(&out.stdout), "context")
        .first()
        .map(|c| c["sources"].to_string())
        .unwrap_or_default();
    assert!(ctx.contains("lesson:mem-"), "{ctx}");
    let recalls: i64 = env
        .conn()
        .query_row("SELECT access_count FROM memories", [], |r| r.get(0))
        .unwrap();
    assert_eq!(recalls, 1);
}

#[test]
fn trivial_tasks_and_extract_never_ask_for_nothing() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![Reply::Text("391".into())]);
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "run", "17*23"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        fake.lesson_requests().is_empty(),
        "one turn, no tool: auto skips"
    );

    let fake = FakeProvider::start(vec![
        call("execute_command", r#"{"command":"true"}"#),
        Reply::Text("done".into()),
    ]);
    env.config(
        "openai",
        &fake.base_url(),
        "[memory]\nextract = \"never\"\n",
    );
    let out = env
        .cmd()
        .args(["--batch", "run", "run true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(fake.lesson_requests().is_empty());
}

#[test]
fn a_malformed_lessons_reply_stores_nothing_and_the_task_still_succeeds() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        call("execute_command", r#"{"command":"true"}"#),
        Reply::Text("done".into()),
    ]);
    fake.push_lessons(Reply::Text("Sure! Lessons: be careful.".into()));
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "run true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let notes = of_type(&json_lines(&out.stdout), "notice")
        .iter()
        .map(|n| n["message"].to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        notes.contains("no lessons stored: the reply holds no JSON"),
        "{notes}"
    );
    let n: i64 = env
        .conn()
        .query_row("SELECT COUNT(*) FROM memories", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

fn az(env: &TestEnv, args: &[&str]) -> (i32, String, String) {
    let o = env.cmd().args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn the_memory_command_manages_lessons() {
    let env = TestEnv::new();
    let (code, _, err) = az(&env, &["memory", "list"]);
    assert_eq!(code, 0);
    assert!(err.contains("no lessons yet"), "{err}");

    let (code, out, _) = az(
        &env,
        &[
            "memory",
            "add",
            "Run the tests with make check",
            "--category",
            "workflow",
        ],
    );
    assert_eq!(code, 0);
    let id = out.trim().strip_prefix("added ").unwrap().to_owned();
    az(
        &env,
        &[
            "memory",
            "add",
            "Ünïcode — 日本語 lesson about tables",
            "--here",
        ],
    );
    let (_, out, _) = az(&env, &["memory", "list"]);
    assert!(
        out.contains("make check") && out.contains("日本語"),
        "{out}"
    );
    let (_, out, _) = az(&env, &["memory", "search", "tests make"]);
    assert!(out.contains(&id), "{out}");
    let (_, out, _) = az(&env, &["memory", "show", &id[..8]]);
    assert!(
        out.contains("every workdir") && out.contains("workflow") && out.contains("added by hand"),
        "{out}"
    );

    // Export, wipe, import twice: the same lessons, once.
    let file = env.work().join("memory.json");
    assert_eq!(az(&env, &["memory", "export", file.to_str().unwrap()]).0, 0);
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(exported.as_array().unwrap().len(), 2);
    for field in [
        "id",
        "task_id",
        "lesson",
        "category",
        "success",
        "score",
        "timestamp",
        "access_count",
    ] {
        assert!(exported[0].get(field).is_some(), "{field} in {exported}");
    }
    assert_eq!(az(&env, &["memory", "remove", &id]).0, 0);
    let (code, _, err) = az(&env, &["memory", "import", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        err.contains("imported 1 lessons (1 already stored"),
        "{err}"
    );
    let (_, again, _) = az(&env, &["memory", "export"]);
    assert_eq!(again, std::fs::read_to_string(&file).unwrap(), "round trip");

    // Bad input is named; nothing is half-imported.
    let bad = env.work().join("bad.json");
    std::fs::write(
        &bad,
        r#"[{"id":"x1","lesson":"a","timestamp":1},{"id":"x1","lesson":"b","timestamp":2}]"#,
    )
    .unwrap();
    let (code, _, err) = az(&env, &["memory", "import", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("record 2 (id x1): the same id as record 1"),
        "{err}"
    );
    std::fs::write(
        &bad,
        r#"[{"id":"x2","lesson":"a","timestamp":1,"colour":"red"}"#,
    )
    .unwrap();
    let (code, _, err) = az(&env, &["memory", "import", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("not a JSON array"), "{err}");
    let (_, out, _) = az(&env, &["--json", "memory", "list"]);
    assert_eq!(
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let (code, _, err) = az(&env, &["memory", "add", "x", "--category", "nonsense"]);
    assert_eq!(code, 2);
    assert!(err.contains("use one of best_practice"), "{err}");
    let (code, _, err) = az(&env, &["memory", "show", "mem-nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("az-os memory list"), "{err}");
}

#[test]
fn cleanup_removes_what_the_policy_says_and_dry_run_changes_nothing() {
    let env = TestEnv::new();
    let file = env.work().join("old.json");
    std::fs::write(
        &file,
        r#"[{"id":"old","lesson":"an old unused lesson","timestamp":1000,"score":5},
            {"id":"fresh","lesson":"a fresh lesson","timestamp":4102444800,"score":5}]"#,
    )
    .unwrap();
    assert_eq!(az(&env, &["memory", "import", file.to_str().unwrap()]).0, 0);
    let (code, out, _) = az(&env, &["memory", "cleanup", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("would remove old") && !out.contains("fresh"),
        "{out}"
    );
    let (_, out, _) = az(&env, &["memory", "cleanup"]);
    assert!(out.contains("1 lessons removed"), "{out}");
    let (_, out, _) = az(&env, &["--json", "memory", "list"]);
    assert!(out.contains("fresh") && !out.contains("\"old\""), "{out}");
}

/// With the real embedder (CI fetches it; elsewhere the test says it skipped): two
/// paraphrases merge into the better-scored wording with summed recalls and provenance;
/// a different lesson stays apart. Without the model, consolidate says how to get it.
#[test]
fn consolidate_merges_paraphrases_and_keeps_different_lessons_apart() {
    let env = TestEnv::new();
    let file = env.work().join("m.json");
    std::fs::write(
        &file,
        r#"[{"id":"a","task_id":null,"lesson":"data.csv has a header row, so subtract one when counting rows","score":8,"timestamp":1,"access_count":2},
            {"id":"b","task_id":null,"lesson":"Remember that data.csv starts with a header line: the row count is the line count minus one","score":5,"timestamp":2,"access_count":3},
            {"id":"c","task_id":null,"lesson":"Run the test suite with make check before committing","score":5,"timestamp":3}]"#,
    )
    .unwrap();
    assert_eq!(az(&env, &["memory", "import", file.to_str().unwrap()]).0, 0);
    let model = std::env::var_os("AZ_OS_MODEL_DIR")
        .map(std::path::PathBuf::from)
        .filter(|d| az_os::knowledge::assets::locate(d).is_some());
    let Some(model) = model else {
        let o = env
            .cmd()
            .env("AZ_OS_MODEL_DIR", env.work().join("no-model"))
            .args(["memory", "consolidate"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("--fetch-model"));
        eprintln!(
            "skipped the merge: set AZ_OS_MODEL_DIR to a folder made by `az-os index --fetch-model` (CI does)"
        );
        return;
    };
    let run = |args: &[&str]| {
        let o = env
            .cmd()
            .env("AZ_OS_MODEL_DIR", &model)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let dry = run(&["memory", "consolidate", "--dry-run"]);
    assert!(dry.contains("would merge b into a"), "{dry}");
    assert_eq!(
        az(&env, &["--json", "memory", "list"])
            .1
            .matches("\"id\"")
            .count(),
        3
    );
    run(&["memory", "consolidate"]);
    let kept: Value = serde_json::from_str(&run(&["--json", "memory", "show", "a"])).unwrap();
    assert_eq!(kept["access_count"], 5);
    assert_eq!(kept["provenance"]["lessons"][0], "b");
    let all: Value = serde_json::from_str(&az(&env, &["--json", "memory", "list"]).1).unwrap();
    let mut ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a", "c"], "b merged into a; c kept apart");
}

/// `memory search --mode`: keyword finds by words; without the model, dense and hybrid
/// answer by words and say so (no error); with the real model (CI fetches it) a lesson
/// that shares no content word with the query is found by meaning (the lessons get their
/// vectors on that first search).
#[test]
fn memory_search_by_words_and_meaning() {
    let env = TestEnv::new();
    let file = env.work().join("m.json");
    std::fs::write(
        &file,
        r#"[{"id":"a","lesson":"data.csv has a header row, so subtract one when counting rows","score":8,"timestamp":1},
            {"id":"c","lesson":"Run the test suite with make check before committing","score":5,"timestamp":3},
            {"id":"d","lesson":"The staging deploy fails unless the VPN is connected first","score":5,"timestamp":4}]"#,
    )
    .unwrap();
    assert_eq!(az(&env, &["memory", "import", file.to_str().unwrap()]).0, 0);
    let search = |model: &std::path::Path, args: &[&str]| {
        let o = env
            .cmd()
            .env("AZ_OS_MODEL_DIR", model)
            .args(["--json", "memory", "search"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        let found: Value = serde_json::from_slice(&o.stdout).unwrap();
        let ids: Vec<String> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect();
        (ids, found, String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let none = env.work().join("no-model");
    let (ids, _, _) = search(&none, &["csv header", "--mode", "keyword"]);
    assert_eq!(ids, ["a"]);
    let (ids, _, err) = search(&none, &["csv header", "--mode", "dense"]);
    assert_eq!(ids, ["a"], "words when the model is missing");
    assert!(
        err.contains("keyword only") && err.contains("--fetch-model"),
        "{err}"
    );

    let model = std::env::var_os("AZ_OS_MODEL_DIR")
        .map(std::path::PathBuf::from)
        .filter(|d| az_os::knowledge::assets::locate(d).is_some());
    let Some(model) = model else {
        eprintln!(
            "skipped the search by meaning: set AZ_OS_MODEL_DIR to a folder made by `az-os index --fetch-model` (CI does)"
        );
        return;
    };
    let q = "how many records are in the spreadsheet";
    let (ids, _, _) = search(&model, &[q, "--mode", "keyword"]);
    assert!(ids.is_empty(), "no word in common: {ids:?}");
    let (ids, found, _) = search(&model, &[q, "--mode", "dense"]);
    assert_eq!(
        ids,
        ["a"],
        "by meaning, the others under the floor: {found:#}"
    );
    assert!(found[0]["cosine"].as_f64().unwrap() > 0.35, "{found:#}");
    let (ids, _, _) = search(&model, &[q]);
    assert_eq!(ids, ["a"], "hybrid finds it too");
    let (ids, _, _) = search(&model, &["deploying to staging does not work"]);
    assert_eq!(ids.first().map(String::as_str), Some("d"));
}

/// What extraction adds to a task, measured on the batch benchmark's task ("run echo
/// hello and tell me what it printed": one command, then the answer), which `auto`
/// asks about (two turns): exactly one request, whose body bytes the fake server counts.
/// The numbers in docs/performance.md come from this test's output
/// (`cargo test --test all -- extraction_adds --nocapture`).
#[test]
fn extraction_adds_one_request_and_its_size_is_reported() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        Reply::Tools {
            text: "Running it.".into(),
            calls: vec![(
                "execute_command".into(),
                r#"{"command":"echo hello"}"#.into(),
            )],
        },
        Reply::Text("It printed hello.".into()),
    ]);
    fake.push_lessons(Reply::Text(
        r#"{"lessons": [{"lesson": "echo prints its arguments followed by a newline.", "category": "fact", "scope": "global", "score": 3}]}"#
            .into(),
    ));
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args([
            "--batch",
            "--json",
            "run",
            "run echo hello and tell me what it printed",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let asked = fake.lesson_requests();
    assert_eq!(asked.len(), 1, "one extraction request per task");
    let task_bytes: usize = fake.requests().iter().map(|r| r.body_bytes).sum();
    let lesson_bytes = asked[0].body_bytes;
    let events = json_lines(&out.stdout);
    let calls = of_type(&events, "llm_call");
    assert_eq!(calls.len(), 3, "two task turns and the extraction");
    let x = &calls[2];
    let cost = x["cost_usd"].as_f64().unwrap();
    let task_cost: f64 = calls[..2]
        .iter()
        .map(|c| c["cost_usd"].as_f64().unwrap())
        .sum();
    println!(
        "extraction: 1 request, {lesson_bytes} body bytes ({} input + {} output tokens, ${cost:.8} at $1/$2 per Mtok); the task's own 2 requests: {task_bytes} bytes, ${task_cost:.8}",
        x["input_tokens"], x["output_tokens"]
    );
    // The request carries an outline of the task, not its transcript: smaller than the
    // task's own requests (which carry the system prompt and tool schemas).
    assert!(
        lesson_bytes < task_bytes / 2,
        "{lesson_bytes} vs {task_bytes}"
    );
    assert!(cost > 0.0 && cost < task_cost, "{cost} vs {task_cost}");
}
