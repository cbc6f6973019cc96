//! The real dashboard loop driven as a user would, for tests: typed keys on a 120×40
//! `TestBackend` until the work is done, then the engine shut down.

use std::io;
use std::time::Duration;

use az_os::engine::{Command, Started};
use az_os::tui::app::{LoopOptions, LoopStats, run_loop};
use az_os::tui::keymap::{DEFAULT_KEYMAP, Keymap};
use az_os::tui::model::{Model, TaskDefaults};
use az_os::tui::theme::Theme;
use futures_util::Stream;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::Event as TermEvent;

/// A fresh dashboard model: tasks typed in it run in `workdir`, with the default keymap
/// and theme, a $5 day and a $0.50 task budget.
pub fn model(workdir: &std::path::Path) -> Model {
    let defaults = TaskDefaults {
        workdir: workdir.to_path_buf(),
        max_turns: None,
        budget_usd: None,
        model: None,
        config_max_turns: 5,
    };
    let keymap = Keymap::parse(DEFAULT_KEYMAP, "default").unwrap();
    Model::new(keymap, Theme::named("default").unwrap(), defaults, 5.0, 0.5)
}

/// What the loop left: the model, its counters, and the screen's last frame.
pub struct Driven {
    pub model: Model,
    pub stats: LoopStats,
    pub screen: String,
}

/// Runs the loop of `model` on `engine` with `keys` until it is idle with its input
/// closed (at most `within`), then shuts the engine down (running tasks cancelled).
pub async fn drive<S>(
    engine: Started,
    model: Model,
    keys: S,
    clipboard: &mut dyn FnMut(&str) -> Result<String, String>,
    within: Duration,
) -> Driven
where
    S: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    let (handle, events, join) = engine;
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let run = run_loop(
        &mut terminal,
        keys,
        model,
        handle.clone(),
        events,
        LoopOptions {
            exit_when_idle: true,
            terminal: None,
        },
        clipboard,
    );
    let (model, stats) = tokio::time::timeout(within, run)
        .await
        .unwrap_or_else(|_| panic!("the loop did not finish within {within:?}"))
        .unwrap();
    handle
        .send(Command::Shutdown {
            cancel_running: true,
        })
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), join)
        .await
        .expect("engine shutdown hung")
        .unwrap();
    Driven {
        model,
        stats,
        screen: terminal.backend().to_string(),
    }
}
