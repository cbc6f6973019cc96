//! The index as tasks use it, through the built binary against the fake provider: the
//! first request carries the chunks that match the task (and says so in a `context`
//! event), an unrelated or empty workdir adds not one byte, and `search_memory` finds
//! docs, lessons or both.

use serde_json::Value;

use crate::common::fake_provider::{FakeProvider, Reply};
use crate::common::{TestEnv, json_lines, of_type};

fn finish(result: &str) -> Reply {
    Reply::Tools {
        text: String::new(),
        calls: vec![(
            "finish".into(),
            serde_json::json!({ "result": result }).to_string(),
        )],
    }
}

/// Runs `task` in batch JSON mode; the events and the first request's user message.
fn run(env: &TestEnv, fake: &FakeProvider, task: &str, extra: &str) -> (Vec<Value>, String) {
    env.config("openai", &fake.base_url(), extra);
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", task])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/chat/completions"))
        .expect("a chat request");
    let user = first.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .unwrap();
    (json_lines(&out.stdout), user)
}

fn write(env: &TestEnv, rel: &str, body: &str) {
    let p = env.work().join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

/// Waits the index out: a test must not depend on how fast this machine indexes.
const WAIT: &str = "[knowledge]\nindex_wait_ms = 60000\n";

#[test]
fn matching_chunks_go_into_the_first_request_and_are_announced() {
    let env = TestEnv::new();
    write(
        &env,
        "docs/deploy.md",
        "# Deploying\n\nThe staging cluster is deployed with `make ship-staging`.\nRollbacks use `make unship`.\n",
    );
    write(
        &env,
        "src/lib.rs",
        "pub fn add(a: i32, b: i32) -> i32 { a + b }\n",
    );
    let fake = FakeProvider::start(vec![finish("done")]);
    let task = "deploy the staging cluster";
    let (events, user) = run(&env, &fake, task, WAIT);
    assert!(user.starts_with(task), "{user}");
    assert!(user.contains("make ship-staging"), "{user}");
    assert!(user.contains("[docs/deploy.md:1-4]"), "{user}");
    assert!(!user.contains("pub fn add"), "unrelated chunk sent: {user}");
    let ctx = of_type(&events, "context");
    assert_eq!(ctx.len(), 1, "{events:?}");
    assert_eq!(ctx[0]["sources"][0], "docs/deploy.md:1-4");
    assert!(ctx[0]["tokens"].as_u64().unwrap() <= 400);
}

#[test]
fn an_unrelated_or_empty_workdir_adds_nothing() {
    for files in [
        &[][..],
        &[("notes.txt", "Groceries: eggs, milk, bread.\n")][..],
    ] {
        let env = TestEnv::new();
        for (p, b) in files {
            write(&env, p, b);
        }
        let fake = FakeProvider::start(vec![finish("391")]);
        let task = "what is 17 times 23";
        let (events, user) = run(&env, &fake, task, WAIT);
        assert_eq!(user, task, "not one byte added");
        assert!(of_type(&events, "context").is_empty());
    }
}

#[test]
fn context_tokens_zero_turns_it_off_and_the_budget_holds() {
    let env = TestEnv::new();
    let body = (1..=200).fold(String::new(), |mut s, i| {
        s.push_str(&format!(
            "The staging deploy step {i} pushes images to the registry.\n"
        ));
        s
    });
    write(&env, "docs/deploy.md", &body);
    let fake = FakeProvider::start(vec![finish("done")]);
    let task = "deploy staging images to the registry";
    let (_, user) = run(
        &env,
        &fake,
        task,
        "[knowledge]\nindex_wait_ms = 60000\ncontext_tokens = 100\n",
    );
    let added = user.len() - task.len();
    assert!(added > 0 && added <= 100 * 3, "added {added} bytes");

    let fake = FakeProvider::start(vec![finish("done")]);
    let (_, user) = run(
        &env,
        &fake,
        task,
        "[knowledge]\nindex_wait_ms = 60000\ncontext_tokens = 0\n",
    );
    assert_eq!(user, task);
}

#[test]
fn search_memory_finds_docs_lessons_or_both() {
    let env = TestEnv::new();
    write(
        &env,
        "README.md",
        "# Widget\n\nThe frobnicator runs nightly at 02:00 UTC.\n",
    );
    // Any command creates the database.
    assert!(
        env.cmd()
            .args(["tasks", "list"])
            .output()
            .unwrap()
            .status
            .success()
    );
    env.conn()
        .execute(
            "INSERT INTO memories (id, lesson, category, created_at) \
             VALUES ('m1', 'frobnicator jobs need the VPN', 'fact', 0)",
            [],
        )
        .unwrap_or_else(|e| panic!("insert a lesson: {e}"));
    let call = |within: &str| Reply::Tools {
        text: String::new(),
        calls: vec![(
            "search_memory".into(),
            format!(r#"{{"query":"frobnicator","in":"{within}"}}"#),
        )],
    };
    let fake = FakeProvider::start(vec![
        call("docs"),
        call("lessons"),
        call("all"),
        finish("done"),
    ]);
    let (events, _) = run(&env, &fake, "when does the frobnicator run", WAIT);
    let obs: Vec<String> = of_type(&events, "observation")
        .iter()
        .map(|o| o["output"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(obs.len(), 4, "three searches and the finish: {obs:?}");
    assert!(
        obs[0].contains("README.md:1-3") && !obs[0].contains("lessons"),
        "{}",
        obs[0]
    );
    assert!(
        obs[1].contains("need the VPN") && !obs[1].contains("docs"),
        "{}",
        obs[1]
    );
    assert!(
        obs[2].contains("README.md") && obs[2].contains("need the VPN"),
        "{}",
        obs[2]
    );
}
