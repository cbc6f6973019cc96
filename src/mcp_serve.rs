//! `az-os mcp serve`: az-os as an MCP server on stdio, so another agent (Claude Code,
//! Codex, an IDE) can hand tasks to az-os's router. It starts the same engine as batch
//! mode (same policy, budgets, store and audit log), serves the tools of [`tools`] with the
//! official Rust SDK (`rmcp`), and keeps each task's events in a [`book::Book`] fed from
//! the engine's event stream.
//!
//! stdout carries only the protocol; logs go to `HOME/logs/az-os.log` (the CLI sets that
//! up). End of input or a stop signal cancels the running tasks, which end `cancelled`
//! and are recorded as such; a killed server's tasks become `interrupted` through the
//! store's ownership, as any az-os process's do. This module does not speak MCP as a
//! client (that is `az-os mcp list|call`).

mod book;
mod params;
mod status;
mod tools;

use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};
use rmcp::ServiceExt;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::cli::{Ctx, Exit, exit};
use crate::engine::{self, Command, EngineConfig, EngineEvent, Event};
use crate::store::StoreHandle;
use crate::util::signals::{self, StopSignals};
use book::Book;

/// How long the engine gets to cancel its tasks and record them once the client left.
const DRAIN: Duration = Duration::from_secs(30);

/// `az-os mcp serve [--yes] [--jobs N]`.
pub fn serve_command(ctx: &Ctx, yes: bool, jobs: Option<u16>) -> Result<i32> {
    // stdin is the protocol: the vault must never prompt on it.
    crate::vault::set_prompt_allowed(false);
    let mut settings = ctx.settings()?;
    let conn = ctx.open_store()?;
    crate::batch::preflight::ensure_model(&mut settings, None, ctx.global.quiet)?;
    let store = StoreHandle::from_connection(conn);
    let jobs = jobs.map_or(settings.defaults.jobs, usize::from);
    let cwd = std::env::current_dir().wrap_err("cannot read the current directory")?;
    let cwd = cwd.canonicalize().unwrap_or(cwd);
    let approvals = if yes {
        engine::Approvals::AutoApprove
    } else {
        engine::Approvals::Deny
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("cannot start the async runtime")?;
    let code = runtime.block_on(async move {
        let mut stop = StopSignals::new().wrap_err("cannot listen for signals")?;
        let settings = Arc::new(settings);
        let config = EngineConfig {
            settings: settings.clone(),
            jobs,
            stream_thoughts: false,
            // Alerts reach the log; nobody here draws snapshots or polls providers.
            health: engine::HealthEvents {
                sampler: true,
                snapshots: false,
                providers: false,
            },
            approvals,
            front_end: engine::FrontEnd::Mcp,
        };
        let (handle, events, join) =
            engine::start(config, store.clone()).map_err(|e| eyre!(Exit::usage(e.to_string())))?;
        let book = Arc::new(Book::default());
        let pump = tokio::spawn(pump(events, book.clone()));
        let server = tools::AzOsServer::new(handle.clone(), book.clone(), store, settings, cwd);
        tracing::info!(jobs, yes, "mcp serve: waiting for a client on stdio");
        let code = tokio::select! {
            ended = serve(server) => ended,
            sig = stop.recv() => Ok(signals::exit_code(sig)),
        };
        let running = book.unfinished().len();
        tracing::info!(running, "mcp serve: the client is gone; cancelling running tasks");
        let _ = handle.send(Command::Shutdown {
            cancel_running: true,
        });
        drop(handle);
        tokio::select! {
            done = tokio::time::timeout(DRAIN, async {
                let _ = pump.await;
                let _ = join.await;
            }) => {
                if done.is_err() {
                    tracing::warn!("mcp serve: the engine did not stop within {}s", DRAIN.as_secs());
                }
            }
            sig = stop.recv() => return Ok(signals::exit_code(sig)),
        }
        code
    });
    // A blocked read of stdin must not hold the process (a signal came before EOF).
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
}

/// Serves one client on stdio until it leaves (end of input): exit 0. A client that
/// never completes the handshake is a usage error.
async fn serve(server: tools::AzOsServer) -> Result<i32> {
    let running = server.serve(rmcp::transport::stdio()).await.map_err(|e| {
        eyre!(Exit::usage(format!(
            "the MCP client did not initialize: {e}"
        )))
    })?;
    match running.waiting().await {
        Ok(reason) => tracing::info!("mcp serve: session ended: {reason:?}"),
        Err(e) => tracing::warn!("mcp serve: session ended with an error: {e}"),
    }
    Ok(exit::OK)
}

/// Feeds the book from the engine's events until the engine stops; what concerns no
/// task goes to the log.
async fn pump(mut events: UnboundedReceiver<EngineEvent>, book: Arc<Book>) {
    while let Some(ev) = events.recv().await {
        if ev.task_id.is_some() {
            book.record(&ev);
            continue;
        }
        match &ev.event {
            Event::Error {
                message, category, ..
            } => {
                tracing::warn!("mcp serve: engine error ({category}): {message}");
            }
            Event::Alert { message, .. } => tracing::warn!("mcp serve: alert: {message}"),
            Event::Notice { message } => tracing::info!("mcp serve: {message}"),
            Event::TaskQueued { .. }
            | Event::TaskStarted { .. }
            | Event::TurnStarted { .. }
            | Event::ThoughtDelta { .. }
            | Event::Thought { .. }
            | Event::Action { .. }
            | Event::Observation { .. }
            | Event::ApprovalRequested { .. }
            | Event::ApprovalAnswered { .. }
            | Event::Reflection { .. }
            | Event::Context { .. }
            | Event::LlmCall { .. }
            | Event::RequestFailed { .. }
            | Event::Retry { .. }
            | Event::Fallback { .. }
            | Event::Checkpoint { .. }
            | Event::TaskFinished { .. }
            | Event::Health { .. }
            | Event::ComponentHealth { .. }
            | Event::McpStatus { .. }
            | Event::Workers { .. }
            | Event::ModelsReloaded { .. } => {}
        }
    }
    book.close();
}
