//! Starting the engine and talking to it: [`start`] spawns the scheduler and
//! returns an [`EngineHandle`] for commands plus the receiver of events.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::agent::Runner;
use super::breaker::{BreakerConfig, Breakers};
use super::budget::InFlight;
use super::protocol::{Command, EngineEvent};
use super::scheduler::Scheduler;
use crate::config::Settings;
use crate::llm;
use crate::llm::rate_limit::RateLimiter;
use crate::store::StoreHandle;

/// Longest the MCP servers wait for the engine's first model request to be answered
/// before they start anyway.
const MCP_HOLD: Duration = Duration::from_millis(250);

/// How a front end wants the engine to run.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub settings: Arc<Settings>,
    /// Workers: tasks run at once.
    pub jobs: usize,
    /// Send `thought_delta` events while replies stream (the TUI wants them).
    pub stream_thoughts: bool,
    /// Health sampling, snapshots and provider checks.
    pub health: super::monitor::HealthEvents,
    /// What happens when policy asks about a command.
    pub approvals: Approvals,
    /// Who drives the engine, so advice names what the user can change there.
    pub front_end: FrontEnd,
}

/// The front end driving the engine. Advice in errors names what its user can
/// change: flags in batch mode, `config.toml` in the dashboard (which has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontEnd {
    Batch,
    Dashboard,
    /// `az-os mcp serve`: another agent submits tasks through MCP tool calls.
    Mcp,
}

impl FrontEnd {
    /// How to give a task more turns.
    pub fn raise_turns(self) -> &'static str {
        match self {
            Self::Batch => "raise --max-turns or split the task",
            Self::Mcp => "submit it again with a larger max_turns, or split the task",
            Self::Dashboard => {
                "raise defaults.max_turns in config.toml and restart az-os, then retry the \
                 task; or split it"
            }
        }
    }

    /// How to give a task more budget.
    pub fn raise_task_budget(self) -> &'static str {
        match self {
            Self::Batch => "raise --budget or defaults.budget_usd_per_task",
            Self::Mcp => {
                "submit it again with a larger budget_usd, or raise defaults.budget_usd_per_task"
            }
            Self::Dashboard => {
                "raise defaults.budget_usd_per_task in config.toml and restart az-os, then \
                 retry the task"
            }
        }
    }
}

/// Who answers when policy says "ask" about a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approvals {
    /// The front end: the engine sends `approval_requested` and waits for `Approve`.
    Interactive,
    /// Nobody: the command is refused and the model told which flag or key changes that
    /// (batch mode without `--yes`).
    Deny,
    /// Approved without asking (`run --yes`).
    AutoApprove,
}

/// Sends commands to a running engine, and answers a front end's reads and edits
/// (`engine::query`) from the engine's store.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::UnboundedSender<Command>,
    pub(super) store: StoreHandle,
    pub(super) settings: Arc<Settings>,
    /// The engine follows tasks that run elsewhere (`start_on_queue`).
    pub(super) remote: bool,
}

/// The engine could not take a command because it has stopped.
#[derive(Debug, thiserror::Error)]
#[error("the engine has stopped")]
pub struct EngineStopped;

impl EngineHandle {
    pub fn send(&self, cmd: Command) -> Result<(), EngineStopped> {
        self.tx.send(cmd).map_err(|_| EngineStopped)
    }

    /// The home the engine runs in (its config.toml, vault and checkpoints).
    pub fn home(&self) -> &crate::config::Home {
        &self.settings.home
    }
}

/// What a worker runs for a task: the ReAct loop ([`super::agent::run_task`]), or in
/// tests of the scheduler itself, something that misbehaves.
pub type Work = fn(
    Arc<super::agent::Runner>,
    crate::util::ids::TaskId,
    tokio_util::sync::CancellationToken,
) -> futures_util::future::BoxFuture<'static, ()>;

/// A started engine: the handle for commands and queries, the receiver of its events,
/// and its task (done once it has shut down).
pub type Started = (
    EngineHandle,
    mpsc::UnboundedReceiver<EngineEvent>,
    JoinHandle<()>,
);

/// Starts the engine on the current tokio runtime. Events arrive on the returned
/// receiver until the engine has shut down and every worker is done; the join
/// handle completes at the same time.
pub fn start(config: EngineConfig, store: StoreHandle) -> Result<Started, llm::LlmError> {
    start_with(config, store, |runner, id, cancel| {
        Box::pin(super::agent::run_task(runner, id, cancel))
    })
}

/// Starts the engine of a front end on the shared store (PostgreSQL): it runs no task
/// itself but puts them on the shared queue for `az-os worker`s and follows every task
/// queued or running there (`engine::remote`). Same handle and events as [`start`].
pub fn start_on_queue(config: EngineConfig, store: StoreHandle) -> Result<Started, llm::LlmError> {
    let (runner, monitor, cmd_rx, ev_rx, mut handle) = parts(config, store)?;
    handle.remote = true;
    let remote = super::remote::Remote::new(runner, monitor);
    let join = tokio::spawn(remote.run(cmd_rx));
    Ok((handle, ev_rx, join))
}

/// [`start`] with the workers running `work` (tests of the scheduler).
#[doc(hidden)]
pub fn start_with(
    config: EngineConfig,
    store: StoreHandle,
    work: Work,
) -> Result<Started, llm::LlmError> {
    let jobs = config.jobs.max(1);
    let (runner, monitor, cmd_rx, ev_rx, handle) = parts(config, store)?;
    let scheduler = Scheduler::new(runner, jobs, monitor, work);
    let join = tokio::spawn(scheduler.run(cmd_rx));
    Ok((handle, ev_rx, join))
}

/// What every engine is made of: the runner (store, settings, HTTP client, breakers,
/// limits, policy, sandbox, audit, tools, MCP servers), its health monitor, the
/// command and event channels, and the front end's handle.
type Parts = (
    Arc<Runner>,
    super::monitor::Monitor,
    mpsc::UnboundedReceiver<Command>,
    mpsc::UnboundedReceiver<EngineEvent>,
    EngineHandle,
);

#[allow(clippy::needless_pass_by_value)] // the config is kept by the engine's parts
fn parts(config: EngineConfig, store: StoreHandle) -> Result<Parts, llm::LlmError> {
    let d = &config.settings.defaults;
    let timeouts = llm::Timeouts {
        connect: Duration::from_secs(d.connect_timeout_s),
        stream_idle: Duration::from_secs(d.stream_idle_timeout_s),
        request: Duration::from_secs(d.request_timeout_s),
    };
    let http = llm::http_client(timeouts)?;
    let r = &config.settings.routing;
    let breakers = Breakers::new(BreakerConfig {
        failure_threshold: r.breaker_failures,
        base_cooldown: Duration::from_secs(r.breaker_cooldown_s),
        max_cooldown: Duration::from_secs(r.breaker_max_cooldown_s),
    });
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let runner = Arc::new(Runner {
        store,
        settings: Arc::new(arc_swap::ArcSwap::new(config.settings.clone())),
        reloaded: Arc::new(tokio::sync::Notify::new()),
        http,
        timeouts,
        events: ev_tx,
        stream_thoughts: config.stream_thoughts,
        breakers,
        limiter: RateLimiter::new(),
        in_flight: InFlight::default(),
        policy: super::policy::Policy::new(&config.settings.policy),
        approvals: config.approvals,
        front_end: config.front_end,
        sandbox: crate::sandbox::Sandbox::new(&config.settings),
        audit: crate::audit::AuditLog::start(config.settings.home.root(), &config.settings.audit),
        tools: super::tools::Registry::builtin(),
        // In the background: neither the first frame nor the first request waits for it.
        // Held until the first model request is answered (or a moment has passed), so
        // starting the servers does not compete with it for the CPU.
        mcp: crate::mcp::Hub::start_held(&config.settings, MCP_HOLD),
        rates: super::agent::RatesCache::default(),
        pending: std::sync::Mutex::default(),
    });
    let mut monitor = super::monitor::start(
        config.health,
        &runner.settings,
        &runner.reloaded,
        &runner.http,
        &runner.store,
        &runner.events,
    );
    monitor.watch_mcp(&runner.mcp, &runner.events);
    if runner.front_end == FrontEnd::Dashboard {
        monitor.watch_config(&runner);
    }
    let handle = EngineHandle {
        tx: cmd_tx,
        store: runner.store.clone(),
        settings: runner.settings(),
        remote: false,
    };
    Ok((runner, monitor, cmd_rx, ev_rx, handle))
}

#[cfg(test)]
mod tests {
    use super::FrontEnd;

    #[test]
    fn the_dashboards_advice_names_config_not_flags() {
        for advice in [
            FrontEnd::Dashboard.raise_turns(),
            FrontEnd::Dashboard.raise_task_budget(),
        ] {
            assert!(!advice.contains("--"), "{advice}");
            assert!(advice.contains("config.toml"), "{advice}");
        }
        assert!(FrontEnd::Batch.raise_turns().contains("--max-turns"));
        assert!(FrontEnd::Batch.raise_task_budget().contains("--budget"));
        // An MCP client passes tool arguments, not flags.
        assert!(!FrontEnd::Mcp.raise_turns().contains("--"));
        assert!(FrontEnd::Mcp.raise_turns().contains("max_turns"));
        assert!(FrontEnd::Mcp.raise_task_budget().contains("budget_usd"));
    }
}
