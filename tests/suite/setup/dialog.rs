//! The dashboard's setup dialog, used as a person would: the real loop and engine with no
//! usable model, keys typed once the screen shows what they answer, the fake provider
//! that takes one key. A model added through the dialog (its key in the environment, or
//! in a vault created on the way) runs a task straight after, without a restart; a wrong
//! key is refused with the provider's reason first; the key is never on screen or in a
//! file but the vault. And a model added by `az-os setup` in another terminal is picked
//! up by itself.

use std::sync::Arc;
use std::time::Duration;

use az_os::config::{Home, Settings};
use az_os::engine;
use az_os::store::{StoreHandle, TaskStatus};
use az_os::tui::model::Model;
use ratatui::crossterm::event::KeyCode;

use super::{KEY, PASSWORD, home_text, setup, text};
use crate::common::TestEnv;
use crate::common::dashboard::{Screen, Step, drive_script};
use crate::common::fake_provider::{FakeProvider, Reply};

const TASK: &str = "say hello after the dialog";

/// The dashboard of `env` with no usable model, run through `steps`: the model and what
/// was ever on its screen.
fn dashboard(env: &TestEnv, steps: Vec<Step>) -> (Model, Screen) {
    let home = Home::resolve(Some(env.home()), None).unwrap();
    home.ensure().unwrap();
    let config_file = home.config_file().to_path_buf();
    let settings = Settings::load(home).unwrap();
    assert_eq!(
        settings.usable_models().count(),
        0,
        "no model to begin with"
    );
    let store = StoreHandle::open(&env.db()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut model = crate::common::dashboard::model(env.work());
    model.setup_hint = Some(az_os::tui::setup_hint(&config_file, Some("<F3>")));
    runtime.block_on(async move {
        let started =
            engine::start(crate::common::dashboard::engine_config(settings), store).unwrap();
        let (d, screen) = drive_script(started, model, steps, Duration::from_secs(90)).await;
        (d.model, screen)
    })
}

/// From the dialog's first step to its question of where the key lives: the server
/// row, its URL and model, a wrong key (refused with the provider's reason), the key.
fn to_storage(fake: &FakeProvider) -> Vec<Step> {
    vec![
        Step::WaitFor("What should az-os use?".into()),
        // From the top, up is the last row: the server.
        Step::Key(KeyCode::Up),
        Step::Key(KeyCode::Enter),
        Step::WaitFor("Server URL".into()),
        Step::Type(fake.base_url()),
        Step::Key(KeyCode::Tab),
        Step::Type("fake-model".into()),
        Step::Key(KeyCode::Enter),
        Step::WaitFor("Paste the key".into()),
        Step::Paste("sk-wrong-0123456789".into()),
        Step::Key(KeyCode::Enter),
        Step::WaitFor("did not take the key".into()),
        Step::Paste(format!("{KEY}\n")),
        Step::Key(KeyCode::Enter),
        Step::WaitFor("Where should the key live?".into()),
    ]
}

/// After the save: the last step closed, the engine's reload seen, the provider checked,
/// a task typed.
fn then_a_task() -> Vec<Step> {
    vec![
        Step::WaitFor("fake-model is ready.".into()),
        Step::Key(KeyCode::Enter),
        Step::WaitFor("models ready: fake-model".into()),
        // The health pane checked the provider at once (the row comes with the check).
        Step::WaitFor("● fake-model".into()),
        Step::Type(TASK.into()),
        Step::Key(KeyCode::Enter),
    ]
}

/// The task typed after the dialog ran on the model it added.
fn assert_ran(m: &Model, fake: &FakeProvider, screen: &Screen) {
    let shown = screen.text();
    assert!(m.setup_hint.is_none(), "the hint is gone:\n{shown}");
    assert_eq!(m.popup, None, "{shown}");
    let task = m.queue.selected_task().expect("the typed task").clone();
    assert_eq!(task.description, TASK);
    assert_eq!(task.status, TaskStatus::Completed, "{task:?}\n{shown}");
    assert_eq!(task.model.as_deref(), Some("fake-model"));
    assert_eq!(fake.chat_count(), 1);
    let history = screen.history();
    assert!(!history.contains(KEY), "the key was on screen");
    assert!(!history.contains("sk-wrong"), "the wrong key was on screen");
    let refused: Vec<&str> = history
        .lines()
        .filter(|l| l.contains("did not take the key"))
        .collect();
    assert!(
        refused.iter().any(|l| l.contains("HTTP 401: Incorrect")),
        "the provider's reason was shown: {refused:#?}"
    );
}

#[test]
fn a_model_added_in_the_dialog_with_its_key_in_the_environment_runs_a_task_at_once() {
    let fake = FakeProvider::start(vec![Reply::Text("hello after the dialog".into())]);
    fake.require_key(KEY);
    let env = TestEnv::new();
    let mut steps = to_storage(&fake);
    steps.push(Step::Type("e".into()));
    steps.push(Step::WaitFor(
        "export OPENAI_COMPATIBLE_API_KEY=<your key>".into(),
    ));
    steps.extend(then_a_task());
    let (m, screen) = dashboard(&env, steps);
    assert_ran(&m, &fake, &screen);
    let config = std::fs::read_to_string(env.home().join("config.toml")).unwrap();
    assert!(
        config.contains("api_key_env = \"OPENAI_COMPATIBLE_API_KEY\""),
        "{config}"
    );
    assert!(!env.home().join("vault.json").exists());
    assert!(!home_text(&env).contains(KEY), "the key is in no file");
}

/// The key in the vault: one created on the way (its password twice), then one that
/// exists, where a wrong master password is refused and the right one typed next. One
/// test, the two in turn: the process's vault is bound to one home at a time.
#[test]
fn a_model_added_in_the_dialog_with_its_key_in_the_vault_runs_a_task_at_once() {
    // A new vault.
    let fake = FakeProvider::start(vec![Reply::Text("hello after the dialog".into())]);
    fake.require_key(KEY);
    let env = TestEnv::new();
    // The process's vault is this home's, as `az-os` binds it at start.
    az_os::vault::bind_home(env.home());
    let steps = in_vault(
        &fake,
        [
            Step::WaitFor("Create the vault at".into()),
            Step::Type(PASSWORD.into()),
            Step::Key(KeyCode::Enter),
            Step::Type(PASSWORD.into()),
            Step::Key(KeyCode::Enter),
        ],
    );
    let (m, screen) = dashboard(&env, steps);
    assert_vault_used(&env, &m, &fake, &screen);

    // A vault that exists (another key in it), a wrong password first.
    let fake = FakeProvider::start(vec![Reply::Text("hello after the dialog".into())]);
    fake.require_key(KEY);
    let env = TestEnv::new();
    let out = env
        .cmd()
        .env("AZ_OS_MASTER_PASSWORD", PASSWORD)
        .args(["keys", "set", "other"])
        .write_stdin("sk-other-0123456789abcdef\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    az_os::vault::bind_home(env.home());
    let steps = in_vault(
        &fake,
        [
            Step::WaitFor("The master password of the vault".into()),
            Step::Type("not the password".into()),
            Step::Key(KeyCode::Enter),
            Step::WaitFor("wrong master password".into()),
            Step::Type(PASSWORD.into()),
            Step::Key(KeyCode::Enter),
        ],
    );
    let (m, screen) = dashboard(&env, steps);
    assert_vault_used(&env, &m, &fake, &screen);
    assert!(!screen.history().contains("not the password"));
    let out = env
        .cmd()
        .env("AZ_OS_MASTER_PASSWORD", PASSWORD)
        .args(["keys", "list"])
        .output()
        .unwrap();
    let listed = text(&out);
    assert!(
        listed.contains("other") && listed.contains("openai-compatible"),
        "the vault keeps its other key: {listed}"
    );
}

/// To the vault choice, `password` (its steps), the save, and a task.
fn in_vault(fake: &FakeProvider, password: impl IntoIterator<Item = Step>) -> Vec<Step> {
    let mut steps = to_storage(fake);
    steps.push(Step::Type("v".into()));
    steps.extend(password);
    steps.push(Step::WaitFor(
        "in the vault as vault:openai-compatible".into(),
    ));
    steps.extend(then_a_task());
    steps
}

/// The task ran on the model whose key the dialog put in the vault of `env`.
fn assert_vault_used(env: &TestEnv, m: &Model, fake: &FakeProvider, screen: &Screen) {
    assert_ran(m, fake, screen);
    assert!(
        !screen.history().contains(PASSWORD),
        "the password was on screen"
    );
    let config = std::fs::read_to_string(env.home().join("config.toml")).unwrap();
    assert!(
        config.contains("api_key = \"vault:openai-compatible\""),
        "{config}"
    );
    let vault = std::fs::read(env.home().join("vault.json")).unwrap();
    assert!(!String::from_utf8_lossy(&vault).contains(KEY), "encrypted");
    assert!(
        !home_text(env).contains(KEY),
        "the key is in no file in clear"
    );
}

/// The dashboard with no usable model; `az-os setup` adds one from another terminal; the
/// dashboard's engine reads config.toml again by itself (no restart) and a task typed
/// afterwards runs on the new model.
#[test]
fn a_model_added_while_the_dashboard_runs_is_used_without_a_restart() {
    let fake = FakeProvider::start(vec![Reply::Text("hello after the dialog".into())]);
    let env = Arc::new(TestEnv::new());
    let base_url = fake.base_url();
    let other = Arc::clone(&env);
    let steps = vec![
        // The dialog opened by itself; this user adds the model elsewhere.
        Step::WaitFor("What should az-os use?".into()),
        Step::Key(KeyCode::Esc),
        Step::Do(Box::new(move || {
            let out = setup(
                &other,
                &[
                    "--provider",
                    "openai-compatible",
                    "--base-url",
                    &base_url,
                    "--model",
                    "fake-model",
                ],
                "",
            );
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        })),
        // The engine looks at config.toml every 2 s.
        Step::WaitFor("models ready: fake-model".into()),
        Step::Type(TASK.into()),
        Step::Key(KeyCode::Enter),
    ];
    let (m, screen) = dashboard(&env, steps);
    let shown = screen.text();
    assert!(m.setup_hint.is_none(), "{shown}");
    let task = m.queue.selected_task().expect("the typed task").clone();
    assert_eq!(task.status, TaskStatus::Completed, "{task:?}\n{shown}");
    assert_eq!(task.model.as_deref(), Some("fake-model"));
    assert_eq!(fake.chat_count(), 1);
}

/// A model written to config.toml whose key cannot be read is named, with why, when the
/// running dashboard reads the file again (it said only "still no usable model"): in
/// the Turns pane under the hint, where the whole of it fits.
#[test]
fn a_listed_model_whose_key_cannot_be_read_is_named_with_why() {
    let env = Arc::new(TestEnv::new());
    let other = Arc::clone(&env);
    let steps = vec![
        Step::WaitFor("What should az-os use?".into()),
        Step::Key(KeyCode::Esc),
        Step::Do(Box::new(move || {
            std::fs::write(
                other.home().join("config.toml"),
                "[[models]]\nname = \"mine\"\nprovider = \"openai\"\nmodel = \"m\"\n\
                 base_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"AZ_OS_TEST_UNSET_KEY\"\n\
                 tier = \"complex\"\n",
            )
            .unwrap();
        })),
        Step::WaitFor("still no usable model".into()),
    ];
    let (_, screen) = dashboard(&env, steps);
    let said: Vec<String> = screen
        .history()
        .lines()
        .filter(|l| l.contains("• mine:"))
        .map(str::to_owned)
        .collect();
    assert!(
        said.iter()
            .any(|l| l.contains("• mine: environment variable AZ_OS_TEST_UNSET_KEY is not")),
        "the Turns pane names it and says why: {said:#?}\n{}",
        screen.text()
    );
}
