//! The ReAct loop for one task: reason (the model's text), act (its tool calls),
//! observe (the tools' output, fed back), reflect (the engine's note on the turn),
//! until the model finishes, the turn limit or budget is reached, or the task is
//! cancelled. Every step is an event and a `task_logs` row.
//!
//! The task is routed when it starts; its requests go through `calls.rs` (budget, rate
//! limit, retries) and may move it to another model (`fallback.rs`). What every task
//! shares — the store, the circuit breakers, the rate limiter, the daily budget's
//! reservations — lives in [`Runner`].

mod calls;
mod command;
mod context;
mod fallback;
pub mod gate;
mod lessons;
mod recorder;
mod reply;
mod retry;
mod setup;
mod snapshot;
mod turn_calls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::breaker::Breakers;
use super::budget::InFlight;
use super::policy::{self, GuardCtx};
use super::prompt;
use super::protocol::{EngineEvent, Event};
use super::tools::{self, OBSERVATION_MAX_BYTES, ToolCtx, ToolOutput, text_calls};
use crate::config::Settings;
use crate::config::ToolCalls;
use crate::llm::rate_limit::RateLimiter;
use crate::llm::{self, Message};
use crate::store::{StoreHandle, TaskRow, TaskStatus, tasks};
use crate::util::ids::TaskId;
use crate::util::text::truncate_middle;

use calls::{CallError, Caller};
use recorder::Recorder;
use retry::RetryPolicy;
use setup::prepare;
use turn_calls::TurnCalls;

/// What every task run shares.
pub struct Runner {
    pub store: StoreHandle,
    pub settings: Arc<Settings>,
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
    /// The tools the model may call.
    pub tools: tools::Registry,
    /// Approval requests waiting for the front end, by request id.
    pub pending: std::sync::Mutex<std::collections::HashMap<String, gate::Waiting>>,
}

impl Runner {
    /// How commands are confined, as the audit log names it.
    pub fn sandbox_label(&self) -> &'static str {
        self.sandbox.label()
    }

    /// The longest a breaker stays open by itself (`routing.breaker_max_cooldown_s`).
    pub fn max_cooldown(&self) -> Duration {
        Duration::from_secs(self.settings.routing.breaker_max_cooldown_s)
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

#[derive(Deserialize)]
struct FinishArgs {
    result: String,
}

/// Runs task `id` to its end and records the outcome. Never panics; every
/// failure ends the task with an error event.
pub async fn run_task(runner: Arc<Runner>, id: TaskId, cancel: CancellationToken) {
    let started = Instant::now();
    let rec = Recorder::new(runner.store.clone(), runner.events.clone(), id.clone());
    let lookup = id.clone();
    let task = match runner.store.call(move |c| tasks::get(c, &lookup)).await {
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
    let mut state = RunState {
        turns: 0,
        cost_usd: 0.0,
        guard: None,
        approved: gate::Approved::default(),
        acted: false,
        partial: String::new(),
        continuations: 0,
        corrected: Vec::new(),
        actions: Vec::new(),
        outputs: Vec::new(),
    };
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

struct RunState {
    turns: u32,
    cost_usd: f64,
    /// The policy guard's view of the task: workdir and home (set once the workdir is known).
    guard: Option<GuardCtx>,
    /// Rules the user approved "always" for, this task.
    approved: gate::Approved,
    /// Whether any tool has run in this task.
    acted: bool,
    /// Text of replies cut at the token limit, waiting for the rest.
    partial: String,
    /// Continuations asked for so far.
    continuations: u32,
    /// Faults the model was already told about once.
    corrected: Vec<reply::Fault>,
    /// One line per action and how it went (what lessons are drawn from).
    actions: Vec<String>,
    /// The tools' outputs (heads of), which a lesson may not copy.
    outputs: Vec<String>,
}

/// Most actions remembered for the lessons request.
const ACTIONS_KEPT: usize = 40;

async fn run(
    runner: &Runner,
    rec: &Recorder,
    task: &TaskRow,
    cancel: &CancellationToken,
    st: &mut RunState,
) -> Ending {
    let setup = match prepare(runner, rec, task).await {
        Ok(s) => s,
        Err(ending) => return ending,
    };
    if let Err(e) = runner.sandbox.check_workdir(&setup.workdir) {
        let msg = e.to_string();
        rec.error(&msg, "usage", false);
        return Ending::failed(msg);
    }
    st.guard = Some(policy::guard_ctx(setup.workdir.clone()));
    // Unguessable, so nothing can be planted at its name before the first command.
    let tmp = std::env::temp_dir().join(format!(
        "az-os-{}-{}",
        task.id,
        crate::util::ids::random_hex::<8>()
    ));
    let workdir = setup.workdir.clone();
    let index = crate::knowledge::dir_for(runner.settings.home.root(), &workdir);
    let ctx = ToolCtx {
        workdir: &workdir,
        index: &index,
        home: runner.settings.home.root(),
        cancel,
        command_timeout: Duration::from_secs(runner.settings.defaults.command_timeout_s),
        store: &runner.store,
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
    let mut limit = max_turns;
    let mut system = prompt::system_prompt(&setup.workdir, limit);
    let tool_specs = runner.tools.specs();
    let first = context::first_message(runner, rec, ctx, task).await;
    let mut messages = vec![Message::User { text: first }];
    let mut caller = Caller {
        runner,
        rec,
        task,
        cancel,
        caps: setup.caps,
        policy: RetryPolicy::from_defaults(&runner.settings.defaults),
        rates: setup.rates,
        client: setup.client,
        given_up: Vec::new(),
        failures: Vec::new(),
        escalated: false,
        stream_thoughts: runner.stream_thoughts,
    };
    if let Some(wait) = setup.wait
        && let Err(e) = caller.wait_for_cooldown(wait, 0).await
    {
        return call_ending(e);
    }

    let mut snaps = snapshot::Snapshots::new(runner, ctx.workdir);
    let mut turn = 0;
    loop {
        turn += 1;
        if turn > limit {
            match caller.escalate(turn, limit).await {
                Ok(true) => {
                    limit += max_turns;
                    system = prompt::system_prompt(&setup.workdir, limit);
                }
                Ok(false) => break,
                Err(e) => return call_ending(e),
            }
        }
        if cancel.is_cancelled() || cancelled_elsewhere(runner, &task.id).await {
            return cancelled();
        }
        rec.event(
            Event::TurnStarted { turn },
            "info",
            "turn",
            Some(turn),
            &format!("turn {turn}"),
        );
        // A model on `tool_calls = "text"` gets the tools described in the prompt instead.
        let text_mode = caller.client.spec().tool_calls == ToolCalls::Text;
        let system_now = if text_mode {
            format!("{system}\n\n{}", text_calls::describe_tools(&tool_specs))
        } else {
            system.clone()
        };
        let req = llm::ChatRequest {
            system: &system_now,
            messages: &messages,
            tools: if text_mode { &[] } else { &tool_specs },
        };
        let resp = match caller.call(req, turn, st.cost_usd).await {
            Ok((resp, cost)) => {
                st.cost_usd += cost;
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
            &tool_specs,
            ctx.workdir,
            st.acted,
        );
        let (calls, from_text) =
            match reply::settle(reading, &text, caller.client.spec(), &mut messages, st) {
                reply::Step::Act { calls, from_text } => (calls, from_text),
                reply::Step::End(ending) => return ending,
                reply::Step::Again(note) => {
                    reflect(rec, turn, limit, &note);
                    continue;
                }
            };
        let cap = runner.settings.defaults.max_tool_calls_per_turn;
        let turn_calls = TurnCalls::new(calls, from_text, cap);
        turn_calls.record(&text, &mut messages);
        let first_result = messages.len();
        st.acted = true;
        snaps.before(rec, &turn_calls.calls).await;
        let acted = match act(
            &mut caller,
            ctx,
            rec,
            turn,
            &turn_calls.calls,
            &mut messages,
            st,
        )
        .await
        {
            Ok(a) => a,
            Err(ending) => {
                snaps.after(rec, turn).await;
                return ending;
            }
        };
        turn_calls.answer(&mut messages, first_result);
        rec.save_state(turn, &messages);
        snaps.after(rec, turn).await;
        if let Some(result) = acted.finished {
            reflect(
                rec,
                turn,
                limit,
                "The model called finish; the task is complete.",
            );
            return Ending {
                status: TaskStatus::Completed,
                result: Some(result),
                error: None,
                model_failed: false,
            };
        }
        reflect(rec, turn, limit, &turn_calls.summary(&acted.failures));
    }
    let escalation = if runner.settings.routing.escalate_on_max_turns {
        ""
    } else {
        ", or set routing.escalate_on_max_turns"
    };
    Ending::failed(format!(
        "reached the turn limit ({limit}) without finishing on {}; {}{escalation}",
        caller.model_name(),
        runner.front_end.raise_turns()
    ))
}

/// What the tool calls of one turn did.
struct Acted {
    finished: Option<String>,
    failures: Vec<String>,
}

/// Runs a turn's tool calls in order, feeding each observation back.
async fn act(
    caller: &mut Caller<'_>,
    ctx: &ToolCtx<'_>,
    rec: &Recorder,
    turn: u32,
    tool_calls: &[llm::ToolCall],
    messages: &mut Vec<Message>,
    st: &mut RunState,
) -> Result<Acted, Ending> {
    let mut acted = Acted {
        finished: None,
        failures: Vec::new(),
    };
    for call in tool_calls {
        let input = serde_json::from_str(&call.arguments)
            .unwrap_or_else(|_| serde_json::Value::String(call.arguments.clone()));
        let shown = truncate_middle(&input.to_string(), 2048);
        rec.event(
            Event::Action {
                turn,
                tool: call.name.clone(),
                input,
            },
            "info",
            "action",
            Some(turn),
            &format!("{} {shown}", call.name),
        );
        let t0 = Instant::now();
        let mut passage: Option<gate::Passage> = None;
        let tool = caller.runner.tools.get(&call.name);
        let out = match tool.map(|t| (t.run, t.gate)) {
            None => caller.runner.tools.unknown(&call.name),
            // Finishing in the same reply as other calls would end the task before their
            // results were read (and small models write a whole plan, finish included).
            Some((tools::Run::Finish, _)) if tool_calls.len() > 1 => ToolOutput::err(
                "finish was not run: it ends the task, so call it alone, in a reply after you have read the results of your other calls",
            ),
            Some((tools::Run::Finish, _)) => {
                match tools::parse_args::<FinishArgs>(&call.name, &call.arguments) {
                    Ok(a) => {
                        acted.finished = Some(a.result);
                        ToolOutput::ok("finished")
                    }
                    Err(e) => e,
                }
            }
            Some((tools::Run::QueryLlm, _)) => {
                let (out, cost) = caller
                    .query_llm(&call.arguments, turn, st.cost_usd)
                    .await
                    .map_err(call_ending)?;
                st.cost_usd += cost;
                out
            }
            Some((tools::Run::Local(run), tools::Gate::Command)) => {
                let guard = st
                    .guard
                    .get_or_insert_with(|| policy::guard_ctx(ctx.workdir.clone()));
                match gate::check(
                    caller.runner,
                    rec,
                    turn,
                    &call.arguments,
                    guard,
                    &mut st.approved,
                    ctx.cancel,
                )
                .await
                {
                    Err(gate::Cancelled) => return Err(cancelled()),
                    Ok(p) => {
                        let refusal = p.as_ref().and_then(|p| p.refusal.clone());
                        passage = p;
                        match refusal {
                            Some(r) => ToolOutput::err(r),
                            None => command::run(caller.runner, run, call, ctx).await,
                        }
                    }
                }
            }
            Some((tools::Run::Local(run), tools::Gate::None)) => run(&call.arguments, ctx).await,
        };
        let elapsed_ms = t0.elapsed().as_secs_f64() * 1000.0;
        command::audit(
            caller.runner,
            rec,
            turn,
            call,
            passage.as_ref(),
            &out,
            elapsed_ms,
        );
        let output = truncate_middle(&out.output, OBSERVATION_MAX_BYTES);
        if !out.ok {
            // The reflection joins failures with "; ", so no sentence stop of its own.
            let first = output
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .trim_end_matches('.');
            acted
                .failures
                .push(format!("{} failed: {first}", call.name));
        }
        if st.actions.len() < ACTIONS_KEPT {
            let how = if out.ok {
                "ok".to_owned()
            } else {
                format!("failed: {}", output.lines().next().unwrap_or("").trim())
            };
            st.actions.push(format!(
                "{} {} → {how}",
                call.name,
                truncate_middle(&call.arguments, 160)
            ));
            st.outputs.push(truncate_middle(&out.output, 2048));
        }
        rec.observation(turn, &call.name, out.ok, &output, elapsed_ms);
        messages.push(Message::ToolResult {
            call_id: call.id.clone(),
            name: call.name.clone(),
            content: output,
            is_error: !out.ok,
        });
        if ctx.cancel.is_cancelled() {
            return Err(cancelled());
        }
    }
    Ok(acted)
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
/// at the next turn.
async fn cancelled_elsewhere(runner: &Runner, id: &TaskId) -> bool {
    let id = id.clone();
    matches!(
        runner.store.call(move |c| tasks::get(c, &id)).await,
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
