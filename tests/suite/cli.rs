//! The command line as a user meets it: exit codes, setup errors that say what to
//! do, and the store commands (`tasks`, `cost`, `config`, `models`, `completions`).

use predicates::prelude::*;

use crate::common::fake_provider::{FakeProvider, Reply};
use crate::common::{TestEnv, json_lines, of_type};

fn finish(result: &str) -> Reply {
    Reply::Tools {
        text: String::new(),
        calls: vec![("finish".into(), format!(r#"{{"result":"{result}"}}"#))],
    }
}

/// Runs one task and returns its id.
fn run_one(env: &TestEnv, reply: Reply) -> String {
    let fake = FakeProvider::start(vec![reply]);
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "a task"])
        .output()
        .unwrap();
    let events = json_lines(&out.stdout);
    events[0]["task_id"].as_str().unwrap().to_owned()
}

#[test]
fn no_model_says_how_to_add_one_and_exits_2() {
    let env = TestEnv::new();
    env.cmd()
        .args(["--batch", "run", "hello"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains("OPENROUTER_API_KEY")
                .and(predicate::str::contains("config.toml"))
                .and(predicate::str::contains("az-os setup"))
                .and(predicate::str::contains("Ollama")),
        );
}

#[test]
fn a_bad_theme_name_names_the_config_file_and_the_key() {
    let env = TestEnv::new();
    std::fs::write(
        env.home().join("config.toml"),
        "[tui]\ntheme = \"solarised\"\n",
    )
    .unwrap();
    // The dashboard stops before it takes the terminal.
    env.cmd().assert().code(2).stderr(
        predicate::str::contains("config.toml")
            .and(predicate::str::contains("`tui.theme`"))
            .and(predicate::str::contains("\"solarised\""))
            .and(predicate::str::contains(
                "fix: use one of default, dark, light, high-contrast",
            )),
    );
}

#[test]
fn config_errors_name_the_file_the_key_and_the_fix() {
    let env = TestEnv::new();
    std::fs::write(env.home().join("config.toml"), "[defaults]\njobs = 0\n").unwrap();
    env.cmd()
        .args(["--batch", "run", "x"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("config.toml")
                .and(predicate::str::contains("defaults.jobs"))
                .and(predicate::str::contains("fix:")),
        );
    std::fs::write(env.home().join("config.toml"), "[defaults\n").unwrap();
    env.cmd()
        .args(["config", "show"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("line 1"));
}

#[test]
fn a_listed_model_without_its_key_is_a_config_error() {
    let env = TestEnv::new();
    env.config("openai", "http://127.0.0.1:9/v1", "");
    env.cmd()
        .env_remove("AZ_OS_TEST_KEY")
        .args(["--batch", "run", "x"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("models[0].api_key_env")
                .and(predicate::str::contains("export AZ_OS_TEST_KEY")),
        );
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::new();
    env.config("openai", "http://127.0.0.1:9/v1", "");
    env.cmd()
        .args(["--batch", "run", "--model", "nope", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("configured models: fake"));
    env.cmd()
        .args(["--batch", "run", "--workdir", "/no/such/dir", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--workdir"));
    env.cmd()
        .args(["--batch", "run", "-"])
        .write_stdin("\n\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no tasks on stdin"));
    env.cmd()
        .args(["--batch", "run", "--max-turns", "0", "x"])
        .assert()
        .code(2);
    env.cmd().args(["--frobnicate"]).assert().code(2);
    env.cmd()
        .args(["tasks", "show", "zzzz"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tasks list"));
}

#[test]
fn home_is_created_private_with_the_database() {
    let env = TestEnv::new();
    let home = env.home().join("fresh");
    env.cmd()
        .args(["--home", home.to_str().unwrap(), "tasks", "list"])
        .assert()
        .success();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&home).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
    assert!(home.join("az-os.db").exists());
}

#[test]
fn tasks_list_show_logs_and_cost_report_a_run() {
    let env = TestEnv::new();
    let id = run_one(&env, finish("forty-two"));
    let prefix = &id[..5];
    env.cmd().args(["tasks", "list"]).assert().success().stdout(
        predicate::str::contains(id.as_str())
            .and(predicate::str::contains("completed"))
            .and(predicate::str::contains("a task")),
    );
    env.cmd()
        .args(["tasks", "list", "--status", "failed"])
        .assert()
        .success()
        .stdout("");
    env.cmd()
        .args(["tasks", "show", prefix])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("forty-two")
                .and(predicate::str::contains("fake"))
                .and(predicate::str::contains("finish")),
        );
    env.cmd()
        .args(["tasks", "logs", prefix])
        .assert()
        .success()
        .stdout(predicate::str::contains("action").and(predicate::str::contains("finish")));
    let out = env
        .cmd()
        .args(["--json", "tasks", "list"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["id"], id.as_str());
    env.cmd()
        .args(["cost", "--by", "model"])
        .assert()
        .success()
        .stdout(predicate::str::contains("fake"));
    let out = env
        .cmd()
        .args(["--json", "cost", "--by", "task"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["lines"][0]["key"], id.as_str());
    assert!(v["total_usd"].as_f64().unwrap() > 0.0);
}

#[test]
fn retry_runs_a_finished_task_again() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![Reply::Status {
        code: 401,
        retry_after: None,
        message: "bad key".into(),
    }]);
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "flaky"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let id = json_lines(&out.stdout)[0]["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    fake.push([finish("second time lucky")]);
    let out = env
        .cmd()
        .args(["--json", "tasks", "retry", &id])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json_lines(&out.stdout);
    let fin = of_type(&events, "task_finished")[0];
    assert_eq!(fin["task_id"], id.as_str());
    assert_eq!(fin["result"], "second time lucky");
}

#[test]
fn cancel_marks_a_pending_task_and_refuses_a_finished_one() {
    let env = TestEnv::new();
    let id = run_one(&env, finish("done"));
    env.cmd()
        .args(["tasks", "cancel", &id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already ended"));
    let conn = env.conn();
    // Queued by another az-os that is still running (this test process stands in).
    conn.execute(
        "INSERT INTO tasks (id, description, status, created_at, cost_usd, runner_pid) VALUES ('aaaa00000000', 'later', 'pending', 1, 0, ?1)",
        [std::process::id()],
    )
    .unwrap();
    env.cmd()
        .args(["tasks", "cancel", "aaaa"])
        .assert()
        .success();
    let s: String = conn
        .query_row(
            "SELECT status FROM tasks WHERE id = 'aaaa00000000'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(s, "cancelled");
}

#[test]
fn config_init_path_and_show() {
    let env = TestEnv::new();
    env.cmd()
        .args(["config", "path"])
        .assert()
        .success()
        .stdout(format!("{}\n", env.home().join("config.toml").display()));
    env.cmd().args(["config", "init"]).assert().success();
    env.cmd()
        .args(["config", "init"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force"));
    env.cmd()
        .args(["config", "init", "--force"])
        .assert()
        .success();
    env.cmd()
        .args(["config", "show"])
        .assert()
        .success()
        .stdout(predicate::str::contains("max_turns = 5").and(predicate::str::contains("trinity")));
    env.cmd()
        .env("OPENROUTER_API_KEY", "sk-or-secret-value")
        .args(["--json", "config", "show"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("\"key_present\": true")
                .and(predicate::str::contains("sk-or-secret-value").not()),
        );
}

#[test]
fn models_list_and_route() {
    let env = TestEnv::new();
    env.cmd()
        .args(["models", "list"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("claude-sonnet")
                .and(predicate::str::contains("ANTHROPIC_API_KEY missing")),
        );
    env.cmd()
        .env("OPENROUTER_API_KEY", "k")
        .env("ANTHROPIC_API_KEY", "k")
        .args(["models", "route", "count", "lines"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("trinity").and(predicate::str::contains("simple")));
    env.cmd().args(["models", "route", "x"]).assert().code(2);
}

#[test]
fn completions_and_help() {
    let env = TestEnv::new();
    for shell in ["bash", "zsh", "fish"] {
        env.cmd()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains("az-os"));
    }
    for cmd in [
        &["run", "--help"][..],
        &["tasks", "--help"],
        &["cost", "--help"],
        &["config", "--help"],
        &["models", "--help"],
        &["completions", "--help"],
    ] {
        env.cmd()
            .args(cmd)
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples:"));
    }
    env.cmd()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("az-os "));
}

#[test]
fn a_local_ollama_is_used_when_no_key_is_set() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![Reply::Text("hello from llama".into())]);
    env.cmd()
        .env("OLLAMA_HOST", fake.addr().to_string())
        .args(["--batch", "run", "say hello"])
        .assert()
        .success()
        .stdout("hello from llama\n")
        .stderr(predicate::str::contains(
            "local Ollama model llama3.2:latest",
        ));
    let chat = fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/chat/completions"))
        .unwrap();
    assert_eq!(chat.body["model"], "llama3.2:latest");
    assert!(
        chat.headers.iter().all(|(k, _)| k != "authorization"),
        "no key is sent to Ollama"
    );
}
