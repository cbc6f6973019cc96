//! The command line: parses arguments, resolves home and config, and runs the
//! chosen command. Store-only commands (`tasks`, `cost`, `config`, `models`)
//! run synchronously; commands that run tasks start a tokio runtime and hand
//! over to [`crate::batch`].

pub mod args;
mod checkpoint_cmd;
mod config_cmd;
mod cost_cmd;
mod health_cmd;
mod index_cmd;
mod keys_cmd;
mod mcp_cmd;
mod memory_cmd;
mod models_cmd;
mod setup_cmd;
mod store_cmd;
pub mod style;
pub mod table;
mod tasks_cmd;
mod workers_cmd;

use std::io::Write;

use clap::{CommandFactory, Parser};
use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::config::{Home, Settings};
use args::{Cli, Cmd, McpCmd, TasksCmd};

/// Exit codes of SPEC.md.
pub mod exit {
    pub const OK: i32 = 0;
    pub const TASK_FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const INTERRUPTED: i32 = 130;
}

/// An error that ends the process with a given exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

impl Exit {
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: exit::USAGE,
            message: message.into(),
        }
    }
}

/// Parses the command line and runs it; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    // The dashboard logs to a file (it starts that itself, with the home it resolved);
    // task runs to stderr and the file; everything else to stderr.
    let _log = if opens_dashboard(&cli) {
        None
    } else {
        let runs = matches!(cli.command, Some(Cmd::Run(_)));
        // An MCP server's stdout is the protocol and its stderr the client's to show:
        // it logs to the file only.
        let serves = matches!(
            cli.command,
            Some(Cmd::Mcp {
                action: McpCmd::Serve { .. }
            })
        );
        let dir = (runs || serves)
            .then(|| Home::resolve(cli.global.home.as_deref(), cli.global.config.as_deref()))
            .and_then(Result::ok)
            .filter(|h| h.ensure().is_ok())
            .map(|h| h.logs_dir());
        Some(crate::logging::init(
            cli.global.verbose,
            cli.global.quiet,
            !serves,
            dir.as_deref(),
        ))
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = e.downcast_ref::<Exit>().map_or(exit::USAGE, |x| x.code);
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "az-os: {e}");
            for cause in e.chain().skip(1) {
                let _ = writeln!(err, "  caused by: {cause}");
            }
            code
        }
    }
}

/// Whether this command line opens the full-screen dashboard: no command, or
/// `run TASK` without `--batch` on a terminal.
fn opens_dashboard(cli: &Cli) -> bool {
    use std::io::IsTerminal;
    match &cli.command {
        None => true,
        Some(Cmd::Run(r)) => {
            !cli.global.batch
                && (r.task.len() != 1 || r.task[0] != "-")
                && std::io::stdout().is_terminal()
                && std::io::stdin().is_terminal()
        }
        Some(_) => false,
    }
}

/// Resolved home and settings, shared by the commands.
pub struct Ctx {
    pub global: args::Global,
    pub home: Home,
}

impl Ctx {
    fn new(global: args::Global) -> Result<Self> {
        let home = Home::resolve(global.home.as_deref(), global.config.as_deref())
            .wrap_err("cannot find the home directory")?;
        crate::vault::bind_home(home.root());
        Ok(Self { global, home })
    }

    /// Where the store is (`AZ_OS_DATABASE_URL`, `[store] url`, or the home's SQLite file).
    pub fn store_location(&self) -> Result<crate::store::Location> {
        let from_env = std::env::var(crate::store::location::URL_ENV)
            .ok()
            .filter(|u| !u.trim().is_empty());
        // The environment alone needs no config file (nor a valid one).
        let at = match from_env {
            Some(url) => crate::store::Location::parse(&url, None),
            None => self.settings()?.store_location(),
        };
        at.map_err(|e| eyre!(Exit::usage(e.to_string())))
    }

    /// Reads `config.toml` (an error here is a usage error: exit 2).
    pub fn settings(&self) -> Result<Settings> {
        Settings::load(self.home.clone()).map_err(|e| eyre!(Exit::usage(e.to_string())))
    }

    /// Opens the database, creating the home first, and reconciles it: tasks left
    /// `pending` or `running` by an az-os process that is gone become `interrupted`
    /// (`store::owner`), so every command shows the truth.
    pub fn open_store(&self) -> Result<crate::store::Db> {
        self.home
            .ensure()
            .wrap_err_with(|| format!("cannot create {}", self.home.root().display()))?;
        let at = self.store_location()?;
        let conn = crate::store::open_at(&at).map_err(|e| eyre!(Exit::usage(e.to_string())))?;
        match crate::store::owner::reconcile(&conn) {
            Ok(0) => {}
            Ok(n) if !self.global.quiet => eprintln!(
                "{n} task(s) left by an az-os that stopped are now marked interrupted; \
                 `az-os tasks resume --all` continues them"
            ),
            Ok(_) => {}
            // Reading the history still works; the next command tries again.
            Err(e) => tracing::warn!("cannot reconcile interrupted tasks: {e}"),
        }
        Ok(conn)
    }
}

fn dispatch(cli: Cli) -> Result<i32> {
    let dashboard = opens_dashboard(&cli);
    let ctx = Ctx::new(cli.global)?;
    if dashboard {
        // Ask for the vault's master password now, before the dashboard owns the terminal.
        let settings = ctx.settings().ok();
        // MCP servers read `vault:` values when they start, after the screen is taken.
        let mcp_vault = settings.as_ref().is_some_and(|s| {
            s.mcp_servers.iter().filter(|m| m.enabled).any(|m| {
                m.env
                    .values()
                    .chain(m.headers.values())
                    .any(|v| v.starts_with("vault:"))
            })
        });
        if mcp_vault {
            crate::vault::unlock().map_err(|e| eyre!(Exit::usage(e)))?;
        }
        let models = settings.map(|s| s.models).unwrap_or_default();
        crate::vault::unlock_before_fullscreen(&models).map_err(|e| eyre!(Exit::usage(e)))?;
    }
    let tui_opts = |task: Option<crate::engine::TaskSpec>, workdir| crate::tui::TuiOptions {
        task,
        no_alt_screen: ctx.global.no_alt_screen,
        no_mouse: ctx.global.no_mouse,
        workdir,
    };
    let Some(command) = cli.command else {
        return crate::tui::run(&ctx, tui_opts(None, None));
    };
    match command {
        Cmd::Run(run) if dashboard => {
            let spec = crate::engine::TaskSpec {
                description: run.task.join(" "),
                workdir: run.workdir.clone().unwrap_or_default(),
                max_turns: run.max_turns,
                budget_usd: run.budget,
                model: run.model.clone(),
                critical: run.critical,
            };
            crate::tui::run(&ctx, tui_opts(Some(spec), run.workdir.clone()))
        }
        Cmd::Run(run) => crate::batch::run_command(&ctx, &run),
        Cmd::Tasks { action } => match action.unwrap_or(TasksCmd::List {
            status: None,
            limit: 20,
        }) {
            TasksCmd::List { status, limit } => tasks_cmd::list(&ctx, status, limit),
            TasksCmd::Show { id } => tasks_cmd::show(&ctx, &id),
            TasksCmd::Logs { id } => tasks_cmd::logs(&ctx, &id),
            TasksCmd::Cancel { id } => tasks_cmd::cancel(&ctx, &id),
            TasksCmd::Retry { id } => crate::batch::retry_command(&ctx, &id),
            TasksCmd::Resume {
                id,
                all,
                jobs,
                yes,
                model,
                budget,
            } => crate::batch::resume_command(
                &ctx,
                id.as_deref().filter(|_| !all),
                jobs,
                yes,
                &crate::engine::Overrides {
                    model,
                    budget_usd: budget,
                },
            ),
        },
        Cmd::Cost { by, limit } => cost_cmd::report(&ctx, by, limit),
        Cmd::Models { action } => models_cmd::run(&ctx, action),
        Cmd::Health { deep, fresh } => health_cmd::run(&ctx, deep, fresh),
        Cmd::Keys { action } => keys_cmd::run(&ctx, action),
        Cmd::Memory { action } => memory_cmd::run(&ctx, action),
        Cmd::Checkpoint { action } => checkpoint_cmd::run(&ctx, action),
        Cmd::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "az-os", &mut std::io::stdout());
            Ok(exit::OK)
        }
        Cmd::Config { action } => config_cmd::run(&ctx, action),
        Cmd::Mcp { action } => mcp_cmd::run(&ctx, action),
        Cmd::Store { action } => store_cmd::run(&ctx, action),
        Cmd::Worker {
            jobs,
            name,
            serves,
            yes,
        } => crate::worker::run_command(
            &ctx,
            crate::worker::WorkerArgs {
                jobs,
                name,
                serves,
                yes,
            },
        ),
        Cmd::Workers => workers_cmd::list(&ctx),
        Cmd::Setup {
            provider,
            base_url,
            model,
            store,
        } => setup_cmd::run(
            &ctx,
            &setup_cmd::SetupArgs {
                provider,
                base_url,
                model,
                store: store.map(|s| match s {
                    args::KeyStore::Vault => crate::setup::Storage::Vault,
                    args::KeyStore::Env => crate::setup::Storage::Env,
                }),
            },
        ),
        Cmd::Index {
            paths,
            stats,
            fetch_model,
            from,
            wait,
            embed_only,
        } => {
            if fetch_model {
                index_cmd::fetch_model(&ctx, from.as_deref())
            } else {
                index_cmd::index(
                    &ctx,
                    &paths,
                    index_cmd::Then::from_flags(stats, wait, embed_only),
                )
            }
        }
        Cmd::Search {
            query,
            path,
            k,
            mode,
        } => index_cmd::search(&ctx, &query, k, mode, path.as_deref()),
    }
}

/// Writes `text` to stdout, treating a closed pipe (`| head`) as success.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.wrap_err("cannot write to stdout"),
    }
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    print(&s)
}
