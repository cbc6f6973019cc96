//! The full-screen dashboard. `run` takes the terminal, starts the engine with
//! thought streaming and health sampling, and drives the Elm-style loop in
//! [`app`]: messages → [`update`] → effects, and [`view`] on demand.
//!
//! Nothing under `engine/` knows this module exists; it talks to the engine only
//! through commands and events.

pub mod action;
pub mod app;
pub mod effects;
pub mod keymap;
pub mod layout;
pub mod model;
pub mod msg;
pub mod panes;
pub mod terminal;
pub mod theme;
pub mod update;
pub mod view;

use std::sync::Arc;

use color_eyre::eyre::{Result, WrapErr, eyre};
use ratatui::crossterm::event::EventStream;

use crate::cli::{Ctx, Exit, exit};
use crate::engine::{self, Command, EngineConfig, HealthEvents, TaskSpec};
use crate::store::StoreHandle;
use crate::util::ids::TaskId;
use keymap::Keymap;
use model::{Model, TaskDefaults};
use theme::Theme;

/// What the command line asked of the dashboard.
#[derive(Clone, Debug, Default)]
pub struct TuiOptions {
    /// A task to queue and select at start (`az-os run TASK` on a terminal).
    pub task: Option<TaskSpec>,
    pub no_alt_screen: bool,
    pub no_mouse: bool,
    pub workdir: Option<std::path::PathBuf>,
}

/// Opens the dashboard; returns the process exit code.
pub fn run(ctx: &Ctx, opts: TuiOptions) -> Result<i32> {
    let settings = ctx.settings()?;
    // Bad keymap or theme files are setup errors: say so before taking the screen.
    let keymap =
        Keymap::load(ctx.home.root(), &settings.tui.keymap).map_err(|e| eyre!(Exit::usage(e)))?;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    // An unknown theme name is a mistake in config.toml: say where to fix it.
    if Theme::named(&settings.tui.theme).is_err() {
        let shipped: Vec<&str> = crate::tui::theme::THEMES.iter().map(|(n, _)| *n).collect();
        return Err(eyre!(Exit::usage(format!(
            "{}: `tui.theme`: no theme named {:?}\n  fix: use one of {} (your own colours go in {})",
            ctx.home.config_file().display(),
            settings.tui.theme,
            shipped.join(", "),
            ctx.home.root().join("theme.toml").display()
        ))));
    }
    let theme = Theme::load(ctx.home.root(), &settings.tui.theme, no_color)
        .map_err(|e| eyre!(Exit::usage(e)))?;
    let conn = ctx.open_store()?;
    // On the shared store the tasks run on `az-os worker`s; the dashboard queues and
    // follows them.
    let shared = conn.dialect() == crate::store::Dialect::Postgres;
    let store = StoreHandle::from_connection(conn);
    let _log = crate::logging::init(
        ctx.global.verbose,
        ctx.global.quiet,
        false,
        Some(&ctx.home.logs_dir()),
    );

    let workdir = match opts.workdir.clone() {
        Some(w) => w,
        None => std::env::current_dir().wrap_err("cannot read the current directory")?,
    };
    let defaults = TaskDefaults {
        workdir: workdir.canonicalize().unwrap_or(workdir),
        max_turns: None,
        budget_usd: None,
        model: None,
        config_max_turns: settings.defaults.max_turns,
    };
    let mut model = Model::new(
        keymap,
        theme,
        defaults,
        settings.defaults.budget_usd_per_day,
        settings.defaults.budget_usd_per_task,
    );
    model.memory.index_home = Some(ctx.home.root().to_path_buf());
    model.queue.shared = shared;
    if settings.usable_models().next().is_none() {
        let key = model
            .keymap
            .key_for(keymap::Context::Global, action::Action::SetupOpen)
            .map(|k| k.to_string());
        model.setup_hint = Some(setup_hint(ctx.home.config_file(), key.as_deref()));
    }
    let term_opts = terminal::TermOptions {
        alt_screen: !opts.no_alt_screen,
        mouse: settings.tui.mouse && !opts.no_mouse,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("cannot start the async runtime")?;
    let code = runtime.block_on(async move {
        let mut stop =
            crate::util::signals::StopSignals::new().wrap_err("cannot listen for signals")?;
        let config = EngineConfig {
            jobs: settings.defaults.jobs,
            settings: Arc::new(settings),
            stream_thoughts: true,
            health: HealthEvents {
                sampler: true,
                snapshots: true,
                providers: true,
            },
            approvals: engine::Approvals::Interactive,
            front_end: engine::FrontEnd::Dashboard,
        };
        let started = if shared {
            engine::start_on_queue(config, store)
        } else {
            engine::start(config, store)
        };
        let (handle, events, join) = started.map_err(|e| eyre!(Exit::usage(e.to_string())))?;
        if let Some(mut spec) = opts.task {
            if spec.workdir.as_os_str().is_empty() {
                spec.workdir.clone_from(&model.defaults.workdir);
            }
            let id = TaskId::new();
            model.select_on_queue = Some(id.clone());
            handle
                .send(Command::Submit { id, spec })
                .map_err(|e| eyre!(e))?;
        }
        let mut term = terminal::setup(term_opts).wrap_err("cannot take the terminal")?;
        let mut copy = |text: &str| {
            use std::io::Write;
            let mut out = std::io::stdout();
            out.write_all(effects::osc52(text).as_bytes())
                .and_then(|()| out.flush())
                .map(|()| "to the clipboard (OSC 52; the terminal must allow it)".to_owned())
                .map_err(|e| format!("cannot write to the terminal: {e}"))
        };
        // SIGTERM or SIGHUP (a closed SSH session) quit like Ctrl-C twice: the loop is
        // left where it is, and everything below runs as on any other way out.
        let (result, signal) = tokio::select! {
            r = app::run_loop(
                &mut term,
                EventStream::new(),
                model,
                handle.clone(),
                events,
                app::LoopOptions {
                    exit_when_idle: false,
                    terminal: Some(term_opts),
                },
                &mut copy,
            ) => (r.map(drop), None),
            sig = stop.recv() => (Ok(()), Some(sig)),
        };
        // Every way out of the loop (q, Ctrl-C twice, an error, SIGTERM, SIGHUP) comes
        // here; a panic restores from its hook.
        terminal::park_cursor(&mut term, term_opts);
        terminal::restore(term_opts);
        // Running tasks are cancelled (and recorded so) before we leave.
        let _ = handle.send(Command::Shutdown {
            cancel_running: true,
        });
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), join).await;
        result.wrap_err("the dashboard stopped")?;
        Ok(signal.map_or(exit::OK, crate::util::signals::exit_code))
    });
    // Never wait on a blocking call that will not return.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

/// What to do when no model is usable, laid out for a pane; `key` opens the setup
/// dialog (which opens by itself too).
pub fn setup_hint(config: &std::path::Path, key: Option<&str>) -> String {
    let here = match key {
        Some(k) => format!(
            "• press {k}: pick a provider, paste its key (checked with the provider, kept encrypted); used at once\n"
        ),
        None => String::new(),
    };
    format!(
        "No model is usable yet. Add one:\n\n\
         {here}\
         • or run `az-os setup` in a terminal (the same, on a plain terminal, for SSH and scripts)\n\
         • or export a provider key, then restart az-os: OPENROUTER_API_KEY (free models), GEMINI_API_KEY, MISTRAL_API_KEY or ANTHROPIC_API_KEY\n\
         • or list a model under [[models]] in {} (`az-os config init` writes an example)\n\
         • or start Ollama on 127.0.0.1:11434 with a pulled model\n\n\
         A model added to config.toml (by the dialog, by `az-os setup` or by hand) is used without a restart. \
         `az-os models list` shows which keys are present.",
        config.display()
    )
}
