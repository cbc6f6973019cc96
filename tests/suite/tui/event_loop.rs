//! The real loop (`tui::app::run_loop`) with a `TestBackend`, scripted keys and
//! a real engine whose model is the fake provider: a typed task runs to the end.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use az_os::config::{Home, Settings};
use az_os::engine::{self, EngineConfig, HealthEvents};
use az_os::store::{StoreHandle, TaskStatus};
use az_os::tui::panes::turns::Kind;
use pretty_assertions::assert_eq;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};

use super::transcript;
use crate::common::TestEnv;
use crate::common::fake_provider::{FakeProvider, Reply};

fn key_event(code: KeyCode) -> TermEvent {
    TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_runs_a_typed_task_on_a_real_engine_until_idle() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        Reply::Tools {
            text: "I will run echo.".into(),
            calls: vec![("execute_command".into(), r#"{"command":"echo hi"}"#.into())],
        },
        Reply::Text("The command printed hi".into()),
    ]);
    // Ollama needs no key, so nothing has to be put in this process's environment.
    std::fs::write(
        env.home().join("config.toml"),
        format!(
            "[[models]]\nname = \"fake\"\nprovider = \"ollama\"\nmodel = \"fake-model\"\n\
             base_url = \"{}\"\ntier = \"complex\"\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\n",
            fake.base_url()
        ),
    )
    .unwrap();
    let home = Home::resolve(Some(env.home()), None).unwrap();
    home.ensure().unwrap();
    let settings = Settings::load(home).unwrap();
    assert_eq!(settings.usable_models().count(), 1);
    let store = StoreHandle::open(&settings.home.database()).unwrap();
    let config = EngineConfig {
        settings: Arc::new(settings),
        jobs: 1,
        stream_thoughts: true,
        health: HealthEvents::default(),
        approvals: az_os::engine::Approvals::Deny,
        front_end: az_os::engine::FrontEnd::Dashboard,
    };
    let started = engine::start(config, store.clone()).unwrap();

    let task = "say hi with echo";
    let mut keys: Vec<TermEvent> = task.chars().map(|c| key_event(KeyCode::Char(c))).collect();
    keys.push(key_event(KeyCode::Enter));
    let typed = keys.len() as u64;
    let model = crate::common::dashboard::model(env.work());
    let mut copied: Vec<String> = Vec::new();
    let mut clipboard = |text: &str| {
        copied.push(text.to_owned());
        Ok("to the test clipboard".to_owned())
    };

    let stored = store.clone();
    let d = crate::common::dashboard::drive(
        started,
        model,
        futures_util::stream::iter(keys.into_iter().map(io::Result::Ok)),
        &mut clipboard,
        Duration::from_secs(30),
    )
    .await;
    let (m, stats, shown) = (d.model, d.stats, d.screen);

    assert_eq!(m.queue.total(), 1);
    let row = m.queue.selected_task().unwrap().clone();
    assert_eq!(row.description, task);
    assert_eq!(row.status, TaskStatus::Completed, "{row:?}");
    assert_eq!(row.result.as_deref(), Some("The command printed hi"));
    assert_eq!(row.model.as_deref(), Some("fake"));
    assert!(row.cost_usd > 0.0);
    assert_eq!(m.input.text(), "");
    assert_eq!(fake.chat_count(), 2);

    let entries = transcript(&m, row.id.as_str());
    let of = |k: Kind| {
        entries
            .iter()
            .filter(|e| e.1 == k)
            .map(|e| e.2.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(of(Kind::Action), vec!["execute_command echo hi".to_owned()]);
    let obs = of(Kind::Observation);
    assert_eq!(obs.len(), 1, "{entries:#?}");
    assert!(
        obs[0].contains("exit code: 0") && obs[0].contains("hi"),
        "{obs:?}"
    );
    // The answer is the final thought; the end line does not print it again.
    assert_eq!(
        of(Kind::Thought).last().map(String::as_str),
        Some("The command printed hi")
    );
    assert_eq!(entries.last().map(|e| e.2.as_str()), Some("completed"));
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.2.contains("The command printed hi"))
            .count(),
        1,
        "{entries:#?}"
    );

    // After a restart the transcript is read from the store: the same, line for line.
    let task_id = row.id.clone();
    let rows = stored
        .call(move |c| az_os::store::logs::list(c, &task_id, 0, 10_000))
        .await
        .unwrap();
    let reloaded = az_os::tui::panes::turns::Transcript::from_logs(&rows, 118, Some(task));
    let reloaded: Vec<_> = reloaded
        .entries
        .iter()
        .map(|e| (e.turn, e.kind, e.text.clone()))
        .collect();
    assert_eq!(reloaded, entries);
    assert!((m.cost.session_usd - row.cost_usd).abs() < 1e-12);

    assert!(shown.contains("• completed"), "{shown}");
    assert!(
        shown.contains(&format!("Task {} completed", &row.id.as_str()[..6])),
        "{shown}"
    );
    assert!(copied.is_empty());

    // Coalescing: the typed keys alone outnumber the frames drawn. Spinner ticks
    // (ten a second while the task ran) each ask for a frame of their own.
    let (frames, messages) = (stats.frames - stats.ticks, stats.messages - stats.ticks);
    assert!(messages > typed, "{stats:?}");
    assert!(frames < typed, "{stats:?}");
    assert!(frames * 2 <= messages, "{stats:?}");
}
