//! The loop. One task owns the model and the terminal; its sources are input,
//! engine events and effect results (`select!`, biased so keys come first).
//! Everything already queued is drained, passed through `update`, and the screen
//! is redrawn on demand, coalesced to at most 60 frames a second. An idle screen
//! draws nothing.

use std::io;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::Event as TermEvent;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::effects::Effects;
use super::model::Model;
use super::msg::{Effect, Msg};
use super::update::update;
use super::view::view;
use crate::engine::{EngineEvent, EngineHandle};

/// Shortest time between two frames (60 FPS).
const FRAME: Duration = Duration::from_micros(16_667);
/// How often the spinner moves while a task runs (ten frames a second).
const TICK: Duration = Duration::from_millis(100);
/// Most messages handled before a frame is allowed, so a flood of events
/// cannot starve the screen.
const DRAIN_LIMIT: usize = 4096;
/// Tasks loaded into the queue at start.
const QUEUE_LIMIT: usize = 10_000;

/// How the loop ends.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoopOptions {
    /// End once input has closed and no task is queued or running (tests, demos).
    pub exit_when_idle: bool,
    /// The real terminal, which Ctrl-Z gives back while the process is stopped
    /// (`None` in tests: there is no terminal to give back, and Ctrl-Z does nothing).
    pub terminal: Option<super::terminal::TermOptions>,
}

/// Counters for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    pub frames: u64,
    pub messages: u64,
    /// Clock ticks sent for the spinner (only while a task runs).
    pub ticks: u64,
}

fn to_msg(e: TermEvent) -> Option<Msg> {
    match e {
        TermEvent::Key(k) => Some(Msg::Key(k)),
        TermEvent::Mouse(m) => Some(Msg::Mouse(m)),
        TermEvent::Paste(p) => Some(Msg::Paste(p)),
        TermEvent::Resize(w, h) => Some(Msg::Resize(w, h)),
        _ => None,
    }
}

/// Runs the dashboard until the user quits (or, with `exit_when_idle`, until
/// input ends and the work is done). `clipboard` receives copied text and says
/// how it went (`Ok`: where the text went).
#[allow(clippy::too_many_arguments)]
pub async fn run_loop<B, S>(
    terminal: &mut Terminal<B>,
    mut input: S,
    mut model: Model,
    engine: EngineHandle,
    mut events: mpsc::UnboundedReceiver<EngineEvent>,
    opts: LoopOptions,
    clipboard: &mut dyn FnMut(&str) -> Result<String, String>,
) -> io::Result<(Model, LoopStats)>
where
    B: Backend,
    B::Error: std::error::Error + Send + Sync + 'static,
    S: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    let (tx, mut results) = mpsc::unbounded_channel::<Msg>();
    let effects = Effects {
        engine: engine.clone(),
        tx: tx.clone(),
        // The home the dashboard runs in (unset in tests that drive the loop alone).
        checkpoints: model
            .memory
            .index_home
            .as_ref()
            .map(|h| crate::checkpoint::Checkpoints::new(h.join("checkpoints"))),
    };
    let mut stats = LoopStats::default();
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            if let Ok(rows) = engine.tasks(QUEUE_LIMIT).await {
                let _ = tx.send(Msg::TasksLoaded(rows));
            }
        });
    }
    for fx in [
        Effect::LoadCost,
        Effect::LoadMemories {
            query: None,
            home: None,
        },
        Effect::LoadMetrics,
    ] {
        effects.run(fx);
    }
    // The frame's area: the whole screen, or the inline viewport.
    let size = terminal.get_frame().area();
    let mut pending: Vec<Msg> = vec![Msg::Resize(size.width, size.height), Msg::Started];
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut last_tick = Instant::now();
    let mut input_open = true;
    let mut events_open = true;
    loop {
        if !pending.is_empty() {
            let now = crate::util::time::now_unix();
            let mut visible = false;
            for msg in pending.drain(..) {
                stats.messages += 1;
                let fxs = update(&mut model, msg, now);
                visible |= !model.unchanged;
                for fx in fxs {
                    match fx {
                        Effect::Quit => model.quit = true,
                        Effect::Copy(text) => {
                            let how = clipboard(&text);
                            let _ = tx.send(Msg::copied(&text, how));
                        }
                        Effect::Suspend => {
                            if let Some(term) = opts.terminal {
                                super::terminal::suspend(term)?;
                                // The shell drew over the screen: draw all of it again.
                                terminal.clear().map_err(io::Error::other)?;
                                dirty = true;
                            }
                        }
                        other => effects.run(other),
                    }
                }
            }
            dirty |= visible;
        }
        if model.quit {
            break;
        }
        if opts.exit_when_idle
            && !input_open
            && model.queue.active() == 0
            && model.select_on_queue.is_none()
        {
            break;
        }
        let deadline = last_draw + FRAME;
        // A status message that ends while nothing else happens still leaves the
        // screen: one wake-up (and one frame) at its end.
        let wake = model.status.expires_at().map(|at| {
            let secs = (at - crate::util::time::now_unix()).max(0.0);
            Instant::now() + Duration::from_secs_f64(secs)
        });
        tokio::select! {
            biased;
            ev = input.next(), if input_open => match ev {
                Some(Ok(e)) => pending.extend(to_msg(e)),
                Some(Err(e)) => return Err(e),
                None => input_open = false,
            },
            ev = events.recv(), if events_open => match ev {
                Some(e) => pending.push(Msg::Engine(e)),
                None => events_open = false,
            },
            Some(msg) = results.recv() => pending.push(msg),
            () = tokio::time::sleep_until(wake.unwrap_or(deadline)), if wake.is_some() => {
                pending.push(Msg::Tick);
            }
            () = tokio::time::sleep_until(deadline), if dirty => {
                let mut area = ratatui::layout::Rect::default();
                terminal
                    .draw(|f| {
                        area = f.area();
                        view(&model, f);
                    })
                    .map_err(io::Error::other)?;
                stats.frames += 1;
                dirty = false;
                // An inline viewport may differ from the size a resize event gave.
                if (area.width, area.height) != model.size {
                    pending.push(Msg::Resize(area.width, area.height));
                }
                last_draw = Instant::now();
                continue;
            }
            // Only while a task runs: an idle dashboard sleeps until something happens.
            () = tokio::time::sleep_until(last_tick + TICK), if model.animating() && !dirty => {
                pending.push(Msg::Tick);
                last_tick = Instant::now();
                stats.ticks += 1;
            }
        }
        // Take whatever else is already waiting before the next frame.
        while pending.len() < DRAIN_LIMIT {
            match events.try_recv() {
                Ok(e) => pending.push(Msg::Engine(e)),
                Err(_) => break,
            }
        }
        while pending.len() < DRAIN_LIMIT {
            match results.try_recv() {
                Ok(m) => pending.push(m),
                Err(_) => break,
            }
        }
    }
    terminal
        .draw(|f| view(&model, f))
        .map_err(io::Error::other)?;
    stats.frames += 1;
    Ok((model, stats))
}
