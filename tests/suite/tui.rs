//! The dashboard, cheapest tests first: [`update`] drives the pure `update`
//! function (messages in, state and effects out), [`view`] snapshots the screen
//! at 80×24 and 120×40 (insta, files under `tests/snapshots/`) and checks colour
//! where colour is the point, and [`event_loop`] runs the real loop on a real
//! engine against the fake provider.
//!
//! Every message is stamped with a fixed clock (`T0` and offsets from it) and
//! tasks have fixed ids, so ages and snapshots never depend on when tests run.
//! This file holds the helpers the three share.

mod approvals;
mod changes;
mod contrast;
mod docs;
mod event_loop;
mod exit;
mod health_pane;
mod input;
mod lessons;
mod mcp;
mod popups;
mod queue;
mod setup;
mod status;
mod task_keys;
mod update;
mod view;
mod wide;

use std::path::PathBuf;

use az_os::engine::{EngineEvent, Event, Route};
use az_os::store::TaskStatus;
use az_os::tui::keymap::{DEFAULT_KEYMAP, Keymap};
use az_os::tui::model::{Model, TaskDefaults};
use az_os::tui::msg::{Effect, Msg};
use az_os::tui::panes::turns::Kind;
use az_os::tui::theme::Theme;
use az_os::tui::update::update;
use az_os::tui::view::view;
use az_os::util::ids::TaskId;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The fixed clock: 2025-06-15T15:06:40Z.
const T0: f64 = 1_750_000_000.0;

// ---------------------------------------------------------------- helpers

fn defaults() -> TaskDefaults {
    TaskDefaults {
        workdir: PathBuf::from("/home/user/project"),
        max_turns: Some(20),
        budget_usd: None,
        model: None,
        config_max_turns: 5,
    }
}

/// A dashboard of `w`×`h` with the shipped keymap and theme, $5/day, $0.50/task.
fn model_sized(w: u16, h: u16) -> Model {
    let keymap = Keymap::parse(DEFAULT_KEYMAP, "keymaps/default.toml").unwrap();
    let theme = Theme::named("default").unwrap();
    let mut m = Model::new(keymap, theme, defaults(), 5.0, 0.5);
    assert!(update(&mut m, Msg::Resize(w, h), T0).is_empty());
    m
}

fn model() -> Model {
    model_sized(80, 24)
}

fn press(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(c: char) -> Msg {
    press(KeyCode::Char(c))
}

fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Applies `msg` at `T0`.
fn send(m: &mut Model, msg: Msg) -> Vec<Effect> {
    update(m, msg, T0)
}

/// Types `text` key by key; returns every effect.
fn type_text(m: &mut Model, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| send(m, ch(c))).collect()
}

fn id(s: &str) -> TaskId {
    TaskId::from(s)
}

/// An engine event about task `task`, applied at `at`.
fn ev(m: &mut Model, task: &str, at: f64, event: Event) -> Vec<Effect> {
    update(m, Msg::Engine(EngineEvent::task(&id(task), event)), at)
}

fn global(m: &mut Model, at: f64, event: Event) -> Vec<Effect> {
    update(m, Msg::Engine(EngineEvent::global(event)), at)
}

fn route() -> Route {
    Route {
        complexity: "medium".into(),
        tier: "medium".into(),
        score: 0.82,
        reason: "medium task: cheapest medium-tier model with headroom".into(),
    }
}

fn started(model: &str) -> Event {
    Event::TaskStarted {
        model: model.into(),
        route: route(),
    }
}

fn llm_call(model: &str, cost_usd: f64) -> Event {
    Event::LlmCall {
        model: model.into(),
        input_tokens: 1200,
        output_tokens: 80,
        cost_usd,
        latency_ms: 900,
        attempt: 1,
        estimated: false,
    }
}

/// The end of a task the user cancelled.
fn cancelled() -> Event {
    finished(
        TaskStatus::Cancelled,
        None,
        Some("cancelled by the user"),
        0.0,
    )
}

fn finished(status: TaskStatus, result: Option<&str>, error: Option<&str>, cost: f64) -> Event {
    Event::TaskFinished {
        status,
        result: result.map(str::to_owned),
        turns: 1,
        cost_usd: cost,
        duration_ms: 4200,
        error: error.map(str::to_owned),
    }
}

/// A task submitted from the input (so the engine's `task_queued` selects it),
/// queued at `at` and started on `model`.
fn submit_task(m: &mut Model, task: &str, description: &str, at: f64, model: &str) {
    m.select_on_queue = Some(id(task));
    run_task(m, task, description, at, model);
    assert_eq!(m.queue.selected_id(), Some(id(task)));
}

/// A task queued at `at` and started on `model`.
fn run_task(m: &mut Model, task: &str, description: &str, at: f64, model: &str) {
    ev(
        m,
        task,
        at,
        Event::TaskQueued {
            description: description.into(),
        },
    );
    ev(m, task, at + 1.0, started(model));
}

/// (turn, kind, text) of each entry of a task's transcript.
fn transcript(m: &Model, task: &str) -> Vec<(Option<u32>, Kind, String)> {
    m.turns.transcripts[&id(task)]
        .entries
        .iter()
        .map(|e| (e.turn, e.kind, e.text.clone()))
        .collect()
}

/// Snapshots of `state` drawn at 80×24 and 120×40 (`tests/snapshots/tui_NAME_WxH.snap`).
fn snapshot(name: &str, state: fn(u16, u16) -> Model) {
    for (w, h) in [(80, 24), (120, 40)] {
        let m = state(w, h);
        let text = screen(&render(&m));
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.set_description(format!("{name} at {w}x{h}"));
        settings.bind(|| insta::assert_snapshot!(format!("tui_{name}_{w}x{h}"), text));
    }
}

fn render(m: &Model) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(m.size.0, m.size.1)).unwrap();
    t.draw(|f| view(m, f)).unwrap();
    t
}

/// The screen as text, one quoted line per row (ratatui's own format, which
/// also reports cells hidden by wide characters).
fn screen(t: &Terminal<TestBackend>) -> String {
    t.backend().to_string()
}
