//! The ReAct loop for one task: reason (the model's text), act (its tool calls),
//! observe (the tools' output, fed back), reflect (the engine's note on the turn),
//! until the model finishes, the turn limit or budget is reached, or the task is
//! cancelled. Every step is an event and a `task_logs` row.
//!
//! The task is routed when it starts; its requests go through `calls.rs` (budget, rate
//! limit, retries) and may move it to another model (`fallback.rs`). What every task
//! shares — the store, the circuit breakers, the rate limiter, the daily budget's
//! reservations — lives in [`Runner`].

mod act;
mod calls;
mod command;
mod context;
mod fallback;
pub mod gate;
mod lessons;
mod mcp_call;
mod offer;
mod recorder;
mod reply;
pub(crate) mod resume;
mod retry;
mod setup;
mod snapshot;
mod state;
mod turn_calls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::breaker::Breakers;
use super::budget::InFlight;
use super::policy;
use super::prompt;
use super::protocol::{EngineEvent, Event};
use super::tools::{self, ToolCtx, text_calls};
use crate::config::Settings;
use crate::config::ToolCalls;
use crate::llm::rate_limit::RateLimiter;
use crate::llm::{self, Message};
use crate::store::{StoreHandle, TaskRow, TaskStatus, tasks};
use crate::util::ids::TaskId;

use calls::{CallError, Caller};
use recorder::Recorder;
use retry::RetryPolicy;
pub use setup::RatesCache;
use setup::prepare;
use state::RunState;
use turn_calls::TurnCalls;

/// What every task run shares.
pub struct Runner {
    pub store: StoreHandle,
    /// The settings, replaced whole by a reload of the catalogue: read them with
    /// [`Runner::settings`] (a task reads them as it starts and keeps what it read).
    pub settings: Arc<arc_swap::ArcSwap<Settings>>,
    /// Woken by a reload: the health checks run at once on the new models.
    pub reloaded: Arc<tokio::sync::Notify>,
    pub http: reqwest::Client,
    pub timeouts: llm::Timeouts,
    pub events: mpsc::UnboundedSender<EngineEvent>,
    /// Send `thought_delta` events while replies stream.
    pub stream_thoughts: bool,
    /// Circuit breakers per model, shared by every worker.
    pub breakers: Breakers,
    /// Token buckets per provider endpoint, shared by every worker.
    pub limiter: RateLimiter,
    /// Worst cases of requests in flight, held against the daily budget.
    pub in_flight: InFlight,
    /// `[policy]`: which commands run, ask or are refused.
    pub policy: super::policy::Policy,
    /// Who answers when policy asks.
    pub approvals: super::handle::Approvals,
    /// Who drives the engine (advice in errors names what can be changed there).
    pub front_end: super::handle::FrontEnd,
    /// How `execute_command` is confined.
    pub sandbox: crate::sandbox::Sandbox,
    /// `audit.log`: one line per action.
    pub audit: crate::audit::AuditLog,
    /// The built-in tools the model may call.
    pub tools: tools::Registry,
    /// The MCP servers (`[[mcp_servers]]`), whose ready tools are offered next to the
    /// built-in ones.
    pub mcp: Arc<crate::mcp::Hub>,
    /// The ledger's success rates per model, as last read (routing reads them for each
    /// task; a few seconds old is as good over a seven-day window, and a thousand tasks
    /// starting at once read them once).
    pub rates: RatesCache,
    /// Approval requests waiting for the front end, by request id.
    pub pending: std::sync::Mutex<std::collections::HashMap<String, gate::Waiting>>,
}

impl Runner {
    /// The settings as they are now.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// Reads config.toml again and uses its models from now on (everything else stays
    /// as the engine started: policy, sandbox, budgets). The names of the usable models
    /// and, for each model the file lists whose key cannot be read, `NAME: why`; or why
    /// the file cannot be used (then nothing changes).
    pub fn reload_models(&self) -> Result<(Vec<String>, Vec<String>), String> {
        let now = self.settings();
        let fresh = Settings::load(now.home.clone()).map_err(|e| e.to_string())?;
        let mut next = (*now).clone();
        next.models = fresh.models;
        let mut usable = Vec::new();
        let mut unusable = Vec::new();
        for m in &next.models {
            match m.api_key() {
                Ok(_) => usable.push(m.name.clone()),
                // The catalogue's models without a key are not news; the user's are.
                Err(_) if m.builtin => {}
                Err(crate::config::KeyError::Vault { reason, fix, .. }) => {
                    unusable.push(format!(
                        "{}: its vault key cannot be read ({reason}); {fix}",
                        m.name
                    ));
                }
                Err(e @ crate::config::KeyError::EnvMissing(_)) => unusable.push(format!(
                    "{}: {e}; export it and restart az-os, or add the key with the setup dialog",
                    m.name
                )),
            }
        }
        self.settings.store(Arc::new(next));
        self.reloaded.notify_one();
        Ok((usable, unusable))
    }

    /// `Command::ReloadModels`: reloads and says what came of it.
    pub fn reload(&self) {
        match self.reload_models() {
            Ok((usable, unusable)) => {
                let _ = self.events.send(EngineEvent::global(Event::ModelsReloaded {
                    usable,
                    unusable,
                }));
            }
            Err(msg) => self.error(None, msg, "config"),
        }
    }

    /// How commands are confined, as the audit log names it.
    pub fn sandbox_label(&self) -> &'static str {
        self.sandbox.label()
    }

    /// The longest a breaker stays open by itself (`routing.breaker_max_cooldown_s`).
    pub fn max_cooldown(&self) -> Duration {
        Duration::from_secs(self.settings().routing.breaker_max_cooldown_s)
    }

    /// Sends `event` of task `id` to the front end (a closed channel: it has gone).
    pub fn emit(&self, id: &TaskId, event: Event) {
        let _ = self.events.send(EngineEvent::task(id, event));
    }

    /// Sends a failure of task `id` (or of the engine, `None`) that trying again will
    /// not mend; `category` is its class (`usage`, `database`, …).
    pub fn error(&self, id: Option<&TaskId>, message: String, category: &str) {
        let event = Event::Error {
            message,
            category: category.into(),
            retryable: false,
        };
        let _ = self.events.send(match id {
            Some(id) => EngineEvent::task(id, event),
            None => EngineEvent::global(event),
        });
    }

    /// The `task_finished` of a task that ended without running (refused, cancelled
    /// while queued, its worker gone).
    pub fn emit_unrun(&self, id: &TaskId, status: TaskStatus, error: Option<String>) {
        self.emit(
            id,
            Event::TaskFinished {
                status,
                result: None,
                turns: 0,
                cost_usd: 0.0,
                duration_ms: 0,
                error,
            },
        );
    }

    /// The engine's last steps: every MCP server's process stopped and waited for (none
    /// outlives the engine), everything posted to the store written, the audit log
    /// flushed.
    pub async fn close(&self) {
        self.mcp.shutdown().await;
        self.store.settled().await;
        self.audit.flush().await;
    }
}

/// How a run ended, before it is written down.
struct Ending {
    status: TaskStatus,
    result: Option<String>,
    error: Option<String>,
    /// The model could not be reached or used (no lesson in that, and no model to ask).
    model_failed: bool,
}

impl Ending {
    fn failed(error: impl Into<String>) -> Self {
        Self {
            status: TaskStatus::Failed,
            result: None,
            error: Some(error.into()),
            model_failed: false,
        }
    }
}

/// Runs task `id` to its end and records the outcome. Never panics; every
/// failure ends the task with an error event.
pub async fn run_task(runner: Arc<Runner>, id: TaskId, cancel: CancellationToken) {
    let started = Instant::now();
    // The task's writes go down one lane of the store (one of several on PostgreSQL).
    let rec = Recorder::new(
        runner.store.lane(id.as_str()),
        runner.events.clone(),
        id.clone(),
    );
    let lookup = id.clone();
    let task = match rec.store().call(move |c| tasks::get(c, &lookup)).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            rec.error(
                &format!("task {id} is not in the database"),
                "database",
                false,
            );
            return;
        }
        Err(e) => {
            rec.error(&e.to_string(), "database", false);
            return;
        }
    };
    let mut state = RunState::default();
    let ending = if cancel.is_cancelled() {
        Ending {
            status: TaskStatus::Cancelled,
            result: None,
            error: None,
            model_failed: false,
        }
    } else {
        run(&runner, &rec, &task, &cancel, &mut state).await
    };
    rec.finish(
        ending.status,
        ending.result,
        ending.error,
        state.turns,
        state.cost_usd,
        started,
    )
    .await;
}

/// Most actions remembered for the lessons request.
pub(super) const ACTIONS_KEPT: usize = 40;

async fn run(
    runner: &Runner,
    rec: &Recorder,
    task: &TaskRow,
    cancel: &CancellationToken,
    st: &mut RunState,
) -> Ending {
    // A task with a saved state (an interrupted one, resumed) continues from it.
    if let Some(saved) = resume::load(runner, rec, task).await {
        *st = saved;
    }
    let resuming = (!st.messages.is_empty()).then(|| st.model.clone());
    let setup = match prepare(runner, rec, task, resuming.as_deref()).await {
        Ok(s) => s,
        Err(ending) => return ending,
    };
    if let Err(e) = runner.sandbox.check_workdir(&setup.workdir) {
        let msg = e.to_string();
        rec.error(&msg, "usage", false);
        return Ending::failed(msg);
    }
    st.guard = Some(policy::guard_ctx(setup.workdir.clone()));
    if !st.messages.is_empty() {
        resume::restore(rec, st);
    }
    // Unguessable, so nothing can be planted at its name before the first command.
    let tmp = std::env::temp_dir().join(format!(
        "az-os-{}-{}",
        task.id,
        crate::util::ids::random_hex::<8>()
    ));
    let workdir = setup.workdir.clone();
    let settings = runner.settings();
    let index = crate::knowledge::dir_for(settings.home.root(), &workdir);
    let ctx = ToolCtx {
        workdir: &workdir,
        index: &index,
        home: settings.home.root(),
        cancel,
        command_timeout: Duration::from_secs(settings.defaults.command_timeout_s),
        store: rec.store(),
        sandbox: &runner.sandbox,
        tmp: &tmp,
        confined: true,
    };
    let caps = setup.caps;
    let ending = turns(runner, rec, task, &ctx, setup, st).await;
    // The temp dir goes with the task (it exists once a command ran).
    let _ = std::fs::remove_dir_all(&tmp);
    let scope = workdir.display().to_string();
    st.cost_usd += lessons::learn(runner, rec, task, &scope, cancel, caps, &ending, st).await;
    ending
}

/// The turns of a task, from the first request to its end.
async fn turns(
    runner: &Runner,
    rec: &Recorder,
    task: &TaskRow,
    ctx: &ToolCtx<'_>,
    setup: setup::Setup,
    st: &mut RunState,
) -> Ending {
    let cancel = ctx.cancel;
    let max_turns = setup.max_turns;
    if st.messages.is_empty() {
        *st = RunState {
            guard: st.guard.take(),
            ..RunState::new(max_turns)
        };
        let first = context::first_message(runner, rec, ctx, task).await;
        st.messages.push(Message::User { text: first });
    }
    let mut system = prompt::system_prompt(&setup.workdir, st.limit);
    // Above this many ready MCP tools, requests carry only the relevant ones.
    let threshold = runner.settings().mcp.tool_threshold;
    let mut caller = Caller {
        runner,
        rec,
        task,
        cancel,
        caps: setup.caps,
        policy: RetryPolicy::from_defaults(&runner.settings().defaults),
        rates: setup.rates,
        client: setup.client,
        given_up: st.given_up.clone(),
        failures: st.failures.clone(),
        escalated: st.escalated,
        stream_thoughts: runner.stream_thoughts,
    };
    if let Some(wait) = setup.wait
        && let Err(e) = caller.wait_for_cooldown(wait, 0).await
    {
        return call_ending(e);
    }

    let mut snaps = snapshot::Snapshots::new(runner, ctx.workdir);
    let mut turn = st.turns;
    // The row was read as the task started (a cancel from elsewhere stops the start).
    let mut row_checked = true;
    if turn > 0 {
        // Resumed after a completed turn.
        snaps.resume(rec, turn).await;
    }
    loop {
        turn += 1;
        if turn > st.limit {
            match caller.escalate(turn, st.limit).await {
                Ok(true) => {
                    st.limit += max_turns;
                    system = prompt::system_prompt(&setup.workdir, st.limit);
                }
                Ok(false) => break,
                Err(e) => return call_ending(e),
            }
        }
        if cancel.is_cancelled()
            || cancelled_elsewhere(rec.store(), &task.id, &mut row_checked).await
        {
            return cancelled();
        }
        rec.event(
            Event::TurnStarted { turn },
            "info",
            "turn",
            Some(turn),
            &format!("turn {turn}"),
        );
        let text_mode = caller.client.spec().tool_calls == ToolCalls::Text;
        let (offer, system_now) = offer_tools(runner, task, st, threshold, text_mode, &system);
        let req = llm::ChatRequest {
            system: &system_now,
            messages: &st.messages,
            tools: if text_mode { &[] } else { &offer.specs },
        };
        let resp = match caller.call(req, turn, st.cost_usd).await {
            Ok((resp, cost)) => {
                st.cost_usd += cost;
                st.input_tokens += resp.usage.input_tokens;
                st.output_tokens += resp.usage.output_tokens;
                resp
            }
            Err(e) => return call_ending(e),
        };
        st.turns = turn;
        rec.set_turns(turn);
        let text = resp.text.trim().to_owned();
        if !text.is_empty() {
            rec.event(
                Event::Thought {
                    turn,
                    text: text.clone(),
                },
                "info",
                "thought",
                Some(turn),
                &text,
            );
        }
        let reading = reply::read(
            &resp,
            caller.client.spec().tool_calls,
            &offer.specs,
            ctx.workdir,
            st.acted,
        );
        let mut messages = std::mem::take(&mut st.messages);
        let step = reply::settle(reading, &text, caller.client.spec(), &mut messages, st);
        st.messages = messages;
        let (calls, from_text) = match step {
            reply::Step::Act { calls, from_text } => (calls, from_text),
            reply::Step::End(ending) => return ending,
            reply::Step::Again(note) => {
                reflect(rec, turn, st.limit, &note);
                resume::save(runner, rec, &caller, turn, st).await;
                continue;
            }
        };
        let cap = runner.settings().defaults.max_tool_calls_per_turn;
        let turn_calls = TurnCalls::new(calls, from_text, cap);
        turn_calls.record(&text, &mut st.messages);
        let first_result = st.messages.len();
        st.acted = true;
        snaps
            .before(rec, &turn_calls.calls, |name| offer.changes_files(name))
            .await;
        let calls = &turn_calls.calls;
        let acted = match act::act(&mut caller, ctx, rec, turn, calls, &offer, st).await {
            Ok(a) => a,
            Err(ending) => {
                snaps.after(rec, turn).await;
                return ending;
            }
        };
        turn_calls.answer(&mut st.messages, first_result);
        let note = if acted.finished.is_some() {
            "The model called finish; the task is complete.".to_owned()
        } else {
            turn_calls.summary(&acted.failures)
        };
        reflect(rec, turn, st.limit, &note);
        snaps.after(rec, turn).await;
        if acted.finished.is_none() {
            // The turn is complete: its state is the checkpoint a resume continues from
            // (a finished task has nothing to resume, so its last turn saves none).
            resume::save(runner, rec, &caller, turn, st).await;
        }
        if let Some(result) = acted.finished {
            return Ending {
                status: TaskStatus::Completed,
                result: Some(result),
                error: None,
                model_failed: false,
            };
        }
    }
    let escalation = if runner.settings().routing.escalate_on_max_turns {
        ""
    } else {
        ", or set routing.escalate_on_max_turns"
    };
    Ending::failed(format!(
        "reached the turn limit ({}) without finishing on {}; {}{escalation}",
        st.limit,
        caller.model_name(),
        runner.front_end.raise_turns()
    ))
}

/// The turn's tools — the MCP tools ready now, above the threshold only those relevant
/// to the task — and the system prompt, which describes them to a model on
/// `tool_calls = "text"` (the request then carries none).
fn offer_tools(
    runner: &Runner,
    task: &TaskRow,
    st: &RunState,
    threshold: usize,
    text_mode: bool,
    system: &str,
) -> (offer::Offer, String) {
    let offer = offer::Offer::new(
        &runner.tools,
        runner.mcp.tools(),
        threshold,
        &task.description,
        &st.messages,
        &st.found_tools,
    );
    let system = if text_mode {
        format!("{system}\n\n{}", text_calls::describe_tools(&offer.specs))
    } else {
        system.to_owned()
    };
    (offer, system)
}

fn reflect(rec: &Recorder, turn: u32, max_turns: u32, summary: &str) {
    let left = max_turns - turn;
    let text = if left == 0 {
        format!("{summary} No turns left.")
    } else {
        format!("{summary} {left} of {max_turns} turns left.")
    };
    rec.event(
        Event::Reflection {
            turn,
            text: text.clone(),
        },
        "info",
        "reflection",
        Some(turn),
        &text,
    );
}

/// `az-os tasks cancel` from another process marks the row; the runner sees it
/// at the next turn. Not read when `row_checked` (the start just did; cleared here).
async fn cancelled_elsewhere(store: &StoreHandle, id: &TaskId, row_checked: &mut bool) -> bool {
    if std::mem::take(row_checked) {
        return false;
    }
    let id = id.clone();
    matches!(
        store.call(move |c| tasks::get(c, &id)).await,
        Ok(Some(t)) if t.status == TaskStatus::Cancelled
    )
}

fn cancelled() -> Ending {
    Ending {
        status: TaskStatus::Cancelled,
        result: None,
        error: Some("cancelled by the user".into()),
        model_failed: false,
    }
}

fn call_ending(e: CallError) -> Ending {
    match e {
        CallError::Cancelled => cancelled(),
        CallError::Budget(msg) => Ending {
            status: TaskStatus::BudgetExceeded,
            result: None,
            error: Some(msg),
            model_failed: false,
        },
        CallError::Llm(msg) | CallError::Store(msg) => Ending {
            model_failed: true,
            ..Ending::failed(msg)
        },
    }
}
