//! The real dashboard loop driven as a user would, for tests: typed keys on a 120×40
//! `TestBackend` until the work is done, then the engine shut down. A script
//! ([`Step`]s) can wait for text on the screen before it types on, as a person reads
//! before answering, so a test never guesses how long an answer takes.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use az_os::engine::{Command, Started};
use az_os::tui::app::{LoopOptions, LoopStats, run_loop};
use az_os::tui::keymap::{DEFAULT_KEYMAP, Keymap};
use az_os::tui::model::{Model, TaskDefaults};
use az_os::tui::theme::Theme;
use futures_util::Stream;
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Position, Size};

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

/// The engine config of a dashboard on `settings`: one job, thoughts streamed, the
/// providers checked (no machine sampling), approvals asked.
pub fn engine_config(settings: az_os::config::Settings) -> az_os::engine::EngineConfig {
    use az_os::engine::{Approvals, EngineConfig, FrontEnd, HealthEvents};
    EngineConfig {
        settings: std::sync::Arc::new(settings),
        jobs: 1,
        stream_thoughts: true,
        health: HealthEvents {
            sampler: false,
            snapshots: false,
            providers: true,
        },
        approvals: Approvals::Interactive,
        front_end: FrontEnd::Dashboard,
    }
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
    drive_on(engine, model, keys, clipboard, within, Screen::default()).await
}

async fn drive_on<S>(
    engine: Started,
    model: Model,
    keys: S,
    clipboard: &mut dyn FnMut(&str) -> Result<String, String>,
    within: Duration,
    screen: Screen,
) -> Driven
where
    S: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    let (handle, events, join) = engine;
    let mut terminal = Terminal::new(Watched::new(120, 40, screen)).unwrap();
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
        screen: terminal.backend().inner.to_string(),
    }
}

/// The last frame the loop drew, as text (one quoted line per row), and every frame
/// drawn so far (to check what was ever on screen).
#[derive(Clone, Default)]
pub struct Screen {
    last: Arc<Mutex<String>>,
    all: Arc<Mutex<String>>,
}

impl Screen {
    pub fn text(&self) -> String {
        self.last.lock().unwrap().clone()
    }

    pub fn history(&self) -> String {
        self.all.lock().unwrap().clone()
    }
}

/// A `TestBackend` that publishes each frame it is given to a [`Screen`].
struct Watched {
    inner: TestBackend,
    screen: Screen,
}

impl Watched {
    fn new(width: u16, height: u16, screen: Screen) -> Self {
        Self {
            inner: TestBackend::new(width, height),
            screen,
        }
    }
}

impl Backend for Watched {
    type Error = std::convert::Infallible;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(position)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> Result<Size, Self::Error> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        let frame = self.inner.to_string();
        self.screen.all.lock().unwrap().push_str(&frame);
        *self.screen.last.lock().unwrap() = frame;
        Ok(())
    }
}

/// One step of a person at the dashboard.
pub enum Step {
    /// Typed, a character at a time.
    Type(String),
    /// One key.
    Key(KeyCode),
    /// Text pasted (bracketed paste).
    Paste(String),
    /// Wait until the screen shows this (on one row), at most 30 s.
    WaitFor(String),
    /// Something done outside the dashboard meanwhile (another terminal).
    Do(Box<dyn FnOnce() + Send>),
}

/// `steps` as the loop's input: keys as they come, waits on what the loop drew.
pub fn script(
    screen: Screen,
    steps: Vec<Step>,
) -> impl futures_util::Stream<Item = io::Result<TermEvent>> + Unpin {
    let key = |code| TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE));
    Box::pin(futures_util::stream::unfold(
        (screen, steps.into_iter(), Vec::<TermEvent>::new()),
        move |(screen, mut steps, mut queued)| async move {
            loop {
                if !queued.is_empty() {
                    let next = queued.remove(0);
                    return Some((Ok(next), (screen, steps, queued)));
                }
                match steps.next()? {
                    Step::Type(text) => {
                        queued = text.chars().map(|c| key(KeyCode::Char(c))).collect();
                    }
                    Step::Key(code) => queued = vec![key(code)],
                    Step::Paste(text) => queued = vec![TermEvent::Paste(text)],
                    Step::Do(work) => tokio::task::block_in_place(work),
                    Step::WaitFor(text) => {
                        let deadline = Instant::now() + Duration::from_secs(30);
                        while !screen.text().contains(&text) {
                            assert!(
                                Instant::now() < deadline,
                                "the screen never showed {text:?}:\n{}",
                                screen.text()
                            );
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }
        },
    ))
}

/// [`drive`] with the input a [`script`] on the loop's own screen; the screen too.
pub async fn drive_script(
    engine: Started,
    model: Model,
    steps: Vec<Step>,
    within: Duration,
) -> (Driven, Screen) {
    let screen = Screen::default();
    let keys = script(screen.clone(), steps);
    let mut clipboard = |_: &str| Ok(String::new());
    let d = drive_on(engine, model, keys, &mut clipboard, within, screen.clone()).await;
    (d, screen)
}
