//! `az-os setup`, run as a user would: from a script (the key on stdin) and on a real
//! pseudo-terminal (prompts, hidden input), against the fake provider that accepts one
//! key. The key and the model id are checked before anything is written; the key never
//! shows on the terminal, in config.toml or in any output; a wrong key, a model the server
//! does not serve, a split key, a wrong master password and a vault another process is
//! changing leave everything as it was; the model it adds runs a task at once.

use std::process::Output;

mod dialog;

use crate::common::fake_provider::{FakeProvider, Reply};
use crate::common::{TestEnv, bin};

const KEY: &str = "sk-setup-right-0123456789abcdef";
const PASSWORD: &str = "correct horse battery staple";

/// `az-os setup ARGS` with `stdin` as its input (not a terminal).
fn setup(env: &TestEnv, args: &[&str], stdin: &str) -> Output {
    env.cmd()
        .arg("setup")
        .args(args)
        .env("OLLAMA_HOST", "127.0.0.1:1")
        .env("AZ_OS_MASTER_PASSWORD", PASSWORD)
        .write_stdin(stdin)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn compatible(fake: &FakeProvider) -> Vec<String> {
    vec![
        "--provider".into(),
        "openai-compatible".into(),
        "--base-url".into(),
        fake.base_url(),
        "--model".into(),
        "fake-model".into(),
    ]
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Every file in the home, as text where it is text.
fn home_text(env: &TestEnv) -> String {
    let mut all = String::new();
    for e in crate::common::files_under(env.home()) {
        all.push_str(&String::from_utf8_lossy(
            &std::fs::read(e).unwrap_or_default(),
        ));
    }
    all
}

#[test]
fn a_script_adds_a_server_with_its_key_in_the_vault_and_the_model_runs_a_task() {
    let fake = FakeProvider::start(vec![Reply::Text("hello from setup".into())]);
    fake.require_key(KEY);
    let env = TestEnv::new();
    let a = compatible(&fake);
    let out = setup(
        &env,
        &[args(&a), vec!["--store", "vault"]].concat(),
        &format!("{KEY}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("fake-model is ready"), "{said}");
    assert!(said.contains("vault:openai-compatible"), "{said}");
    assert!(!said.contains(KEY), "the key is never shown: {said}");
    let config = std::fs::read_to_string(env.home().join("config.toml")).unwrap();
    assert!(
        config.contains("api_key = \"vault:openai-compatible\""),
        "{config}"
    );
    assert!(config.contains("extend_catalogue = true"), "{config}");
    assert!(
        !home_text(&env).contains(KEY),
        "no file in the home holds the key in clear"
    );
    // The model it added answers a task.
    let run = env
        .cmd()
        .env("AZ_OS_MASTER_PASSWORD", PASSWORD)
        .args(["--batch", "run", "--model", "fake-model", "say hello"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(text(&run).contains("hello from setup"), "{}", text(&run));
    assert!(
        !home_text(&env).contains(KEY),
        "nor after a task (log, database, audit)"
    );
}

#[test]
fn a_wrong_key_is_refused_with_the_providers_reason_and_nothing_is_written() {
    let fake = FakeProvider::start(vec![]);
    fake.require_key(KEY);
    let env = TestEnv::new();
    let a = compatible(&fake);
    let out = setup(&env, &args(&a), "sk-wrong-key-0000000000\n");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("Incorrect API key provided"),
        "the provider's words: {said}"
    );
    assert!(said.contains("nothing was written"), "{said}");
    assert!(!env.home().join("config.toml").exists());
    assert!(!env.home().join("vault.json").exists());
}

#[test]
fn empty_and_split_keys_are_refused_before_any_request() {
    let fake = FakeProvider::start(vec![]);
    let env = TestEnv::new();
    for (stdin, says) in [
        ("", "empty"),
        ("  \n\n", "empty"),
        ("sk-abc def\n", "space or a line break"),
        ("sk-abc\nsk-def\n", "space or a line break"),
    ] {
        let out = setup(&env, &["--provider", "openrouter"], stdin);
        assert_eq!(out.status.code(), Some(2), "{stdin:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{stdin:?}: {}", text(&out));
    }
    assert_eq!(fake.requests().len(), 0);
    assert!(!env.home().join("config.toml").exists());
    let out = setup(&env, &["--provider", "nope"], KEY);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("openrouter, gemini, mistral, anthropic"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_environment_choice_prints_the_line_without_the_key() {
    let fake = FakeProvider::start(vec![]);
    fake.require_key(KEY);
    let env = TestEnv::new();
    let a = compatible(&fake);
    let out = setup(&env, &[args(&a), vec!["--store", "env"]].concat(), KEY);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("export OPENAI_COMPATIBLE_API_KEY=<your key>"),
        "{said}"
    );
    assert!(!said.contains(KEY), "{said}");
    let config = std::fs::read_to_string(env.home().join("config.toml")).unwrap();
    assert!(
        config.contains("api_key_env = \"OPENAI_COMPATIBLE_API_KEY\""),
        "{config}"
    );
    assert!(!env.home().join("vault.json").exists());
}

#[test]
fn a_wrong_master_password_or_a_busy_vault_leaves_everything_as_it_was() {
    let fake = FakeProvider::start(vec![]);
    fake.require_key(KEY);
    let env = TestEnv::new();
    let a = compatible(&fake);
    let out = setup(&env, &args(&a), KEY);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let config = std::fs::read_to_string(env.home().join("config.toml")).unwrap();
    let vault = std::fs::read(env.home().join("vault.json")).unwrap();
    // A second setup with another password.
    let out = env
        .cmd()
        .arg("setup")
        .args(args(&a))
        .env("OLLAMA_HOST", "127.0.0.1:1")
        .env("AZ_OS_MASTER_PASSWORD", "not the password")
        .write_stdin(KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("wrong master password"),
        "{}",
        text(&out)
    );
    // Another process holds the vault's lock.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(env.home().join("vault.json.lock"))
        .unwrap();
    let held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).unwrap();
    let out = setup(&env, &args(&a), KEY);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("being changed by another az-os"),
        "{}",
        text(&out)
    );
    drop(held);
    assert_eq!(
        std::fs::read_to_string(env.home().join("config.toml")).unwrap(),
        config
    );
    assert_eq!(std::fs::read(env.home().join("vault.json")).unwrap(), vault);
}

#[test]
fn on_a_terminal_it_asks_hides_the_key_and_creates_the_vault() {
    let fake = FakeProvider::start(vec![]);
    fake.require_key(KEY);
    let env = TestEnv::new();
    // The list: the catalogue's four, then the OpenAI-compatible server (no Ollama here).
    let steps = serde_json::json!([
        ["Choose 1-5: ", "5"],
        ["Server URL", fake.base_url()],
        ["Model id on that server: ", "fake-model"],
        [
            "(input hidden; empty if it needs none): ",
            "sk-typo-0000000000"
        ],
        ["(input hidden; empty if it needs none): ", KEY],
        ["[v]ault", "v"],
        ["new master password", PASSWORD],
        ["the same password again: ", PASSWORD],
    ]);
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/pty_drive.py"
        ))
        .arg(steps.to_string())
        .arg(bin())
        .arg("setup")
        .env("AZ_OS_HOME", env.home())
        .env("OLLAMA_HOST", "127.0.0.1:1")
        .env_remove("AZ_OS_MASTER_PASSWORD")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{screen}");
    for shown in [
        "OpenRouter",
        "free tier",
        "paid",
        "Anthropic",
        "did not accept it",
        "Incorrect API key",
        "fake-model is ready",
    ] {
        assert!(
            screen.contains(shown),
            "{shown:?} on the terminal:\n{screen}"
        );
    }
    assert!(!screen.contains(KEY), "the key is never echoed:\n{screen}");
    assert!(!screen.contains("sk-typo"), "nor a wrong one:\n{screen}");
    assert!(!screen.contains(PASSWORD), "nor the password:\n{screen}");
    let config = std::fs::read_to_string(env.home().join("config.toml")).unwrap();
    assert!(config.contains("vault:openai-compatible"), "{config}");
    assert!(env.home().join("vault.json").exists());
}

#[test]
fn a_model_the_server_does_not_serve_is_refused_with_the_servers_list() {
    let fake = FakeProvider::start(vec![]);
    let env = TestEnv::new();
    let out = setup(
        &env,
        &[
            "--provider",
            "openai-compatible",
            "--base-url",
            &fake.base_url(),
            "--model",
            "no-such-model",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("model not served") && said.contains("fake-model"),
        "{said}"
    );
    assert!(!env.home().join("config.toml").exists());
}
