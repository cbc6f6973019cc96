//! The engine's protocol: [`Command`]s in, [`EngineEvent`]s out. Both serialize
//! with a `type` tag; `--batch --json` prints events exactly as defined here, so
//! the batch contract (docs/batch.md) and the TUI see the same facts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::health::Level;
use crate::health::checks::ComponentCheck;
use crate::health::machine::{Gauge, MachineSnapshot};
use crate::store::TaskStatus;
use crate::util::ids::TaskId;
use crate::util::time::{now_unix, rfc3339};

/// Longest task description the engine accepts (a longer one fails at submit).
pub const MAX_TASK_BYTES: usize = 64 * 1024;

/// What a task needs to run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub description: String,
    /// Directory the task's tools are confined to.
    pub workdir: PathBuf,
    /// Overrides `defaults.max_turns`.
    pub max_turns: Option<u32>,
    /// Hard cap for this task in USD; overrides `defaults.budget_usd_per_task`.
    pub budget_usd: Option<f64>,
    /// Skips routing: run on this model (a `[[models]]` name). No fallback either: the
    /// task fails if this model does.
    pub model: Option<String>,
    /// Critical work (`--critical`): only critical-tier models take it. Configured
    /// keywords (`routing.critical_keywords`) mark a task critical too.
    #[serde(default)]
    pub critical: bool,
}

/// Requests to the engine. Each is answered by events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// From a front end: store the task as `pending` and queue it. Answered by
    /// `task_queued`, later `task_started` … `task_finished`.
    Submit { id: TaskId, spec: TaskSpec },
    /// From a front end: queue a finished task again with its stored spec.
    /// Answered like `submit`, or by `error` if the task is unknown or still running.
    Retry { id: TaskId },
    /// From a front end: continue an `interrupted` task from its last completed turn,
    /// with its saved conversation (a task with no saved state starts over, with a
    /// `notice` saying so). Answered like `retry`, or by `error` if the task is unknown,
    /// not interrupted, or claimed by another process first. `overrides` (from
    /// `tasks resume --model/--budget`) replace the task's model and budget for the rest
    /// of the task; the `route` of its `task_started` says so.
    Resume {
        id: TaskId,
        #[serde(default, skip_serializing_if = "Overrides::is_empty")]
        overrides: Overrides,
    },
    /// From a shared-queue worker (`az-os worker`): run a stored `pending` task it has
    /// claimed (`store::queue::claim`), from its saved state if it has one (a task
    /// interrupted on another host and put back on the queue). Answered like `retry`,
    /// or by `error` if the task is unknown or not pending.
    Run { id: TaskId },
    /// From a front end: stop a queued or running task. Answered by
    /// `task_finished` with status `cancelled` (nothing if it already finished).
    Cancel { id: TaskId },
    /// From a front end: the user's answer to `approval_requested` `request_id` of task
    /// `id`. The waiting command runs (`once`, `always`: also later commands of this task
    /// that the same rule asks about) or is refused (`deny`, the model is told it was the
    /// user). Answered by `approval_answered` and then the command's `observation`, or by
    /// `error` if no such request is waiting.
    Approve {
        id: TaskId,
        request_id: String,
        decision: Approval,
    },
    /// From a front end: read config.toml again and route to its models from now on
    /// (a task already running keeps its own; policy, budgets and the rest stay as the
    /// engine started). Answered by `models_reloaded` (and the providers' health checked
    /// at once), or by `error` when the file cannot be used (nothing changes).
    ReloadModels,
    /// Tasks a front end has read as queued or running: send their events (from the
    /// first, replayed) until they end. On the shared store the engine follows tasks
    /// that run on other hosts; one that ended between the front end's read and the
    /// engine's own look at the queue would otherwise never be said to end. An engine
    /// that runs its tasks itself sends their events anyway and ignores it.
    Follow { ids: Vec<crate::util::ids::TaskId> },
    /// From a front end: cancel everything (when `cancel_running`) or wait for
    /// running tasks, then stop. The event stream closes when the engine is done.
    Shutdown { cancel_running: bool },
}

/// What `tasks resume` may change about a task: its model and its budget.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Overrides {
    /// A configured model's name: the task goes on on it instead of routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The task's new hard cap in USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        self.model.is_none() && self.budget_usd.is_none()
    }
}

/// The user's answer to an approval request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// Run this command.
    Once,
    /// Run it, and every later command of this task that the same rule asks about.
    Always,
    /// Refuse it; the model reads why.
    Deny,
}

impl Approval {
    /// How the transcript says it, live and stored alike: `denied by the user`, …
    pub fn said(self) -> &'static str {
        match self {
            Self::Once => "approved once by the user",
            Self::Always => "approved by the user for the rest of this task",
            Self::Deny => "denied by the user",
        }
    }
}

/// How the router chose a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// `simple`, `medium`, `complex` or `critical`.
    pub complexity: String,
    /// Tier of the chosen model.
    pub tier: String,
    /// The router's score for the chosen model (higher is better).
    pub score: f64,
    /// One sentence on why.
    pub reason: String,
}

/// One thing that happened, stamped with time and (for task events) the task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineEvent {
    #[serde(flatten)]
    pub event: Event,
    /// The task this is about; `null` for engine-wide events.
    pub task_id: Option<TaskId>,
    /// RFC 3339, UTC.
    pub ts: String,
}

/// Every event is built here, and its text redacted (`crate::redact`) on the way: no
/// front end, log or printer sees a secret the engine knows of.
impl EngineEvent {
    pub fn task(task_id: &TaskId, event: Event) -> Self {
        Self {
            event: crate::redact::event(event),
            task_id: Some(task_id.clone()),
            ts: rfc3339(now_unix()),
        }
    }

    pub fn global(event: Event) -> Self {
        Self {
            event: crate::redact::event(event),
            task_id: None,
            ts: rfc3339(now_unix()),
        }
    }
}

/// Event payloads. Every variant is sent by the engine; front ends only read them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The task was stored as `pending` and waits for a worker.
    TaskQueued { description: String },
    /// A worker took the task and the router picked `model`.
    TaskStarted { model: String, route: Route },
    /// A ReAct turn (one model request) begins.
    TurnStarted { turn: u32 },
    /// Part of the model's reasoning as it streams in (only when the front end
    /// asked for deltas: the TUI does, batch mode does not).
    ThoughtDelta { turn: u32, text: String },
    /// The model's reasoning for this turn, complete.
    Thought { turn: u32, text: String },
    /// The model asked to run `tool` with `input` (its JSON arguments; a string
    /// when the model sent arguments that are not valid JSON).
    Action {
        turn: u32,
        tool: String,
        input: serde_json::Value,
    },
    /// What the tool returned (truncated head and tail when long).
    Observation {
        turn: u32,
        tool: String,
        ok: bool,
        output: String,
    },
    /// Policy asks before `tool` runs `command` (only when the front end answers
    /// approvals: the dashboard does; batch mode refuses or, with `--yes`, approves
    /// without asking). The task waits for `Command::Approve` with this `request_id`,
    /// or for its cancel. `reason` says which rule asks and why.
    ApprovalRequested {
        request_id: String,
        turn: u32,
        tool: String,
        command: String,
        reason: String,
    },
    /// The user answered `approval_requested` `request_id` (`Command::Approve`): the
    /// command runs (`once`, `always`) or is refused as the user's own deny. Recorded in
    /// the task's transcript; the command's `observation` follows.
    ApprovalAnswered {
        request_id: String,
        turn: u32,
        command: String,
        decision: Approval,
    },
    /// The engine's note on the turn: what changed and how many turns remain.
    Reflection { turn: u32, text: String },
    /// Excerpts of the workdir's documents and lessons of earlier tasks that matched the
    /// task went into its first request: where they come from (`path:start-end`, or
    /// `lesson:ID`) and what they cost (estimated tokens, paid again on every turn).
    /// Absent when nothing matched.
    Context { sources: Vec<String>, tokens: u64 },
    /// One billed model request.
    LlmCall {
        model: String,
        input_tokens: u64,
        output_tokens: u64,
        cost_usd: f64,
        latency_ms: u64,
        attempt: u32,
        /// Token counts were estimated because the provider reported none.
        #[serde(default)]
        estimated: bool,
    },
    /// A model request failed (every failed attempt, whatever happens next: `retry`,
    /// `fallback` or the task's end). The dashboard's health pane marks `model`
    /// unhealthy at once; its next `llm_call` marks it healthy again.
    RequestFailed {
        model: String,
        attempt: u32,
        category: String,
        message: String,
    },
    /// A model request failed and will be tried again after `delay_ms`.
    Retry {
        model: String,
        attempt: u32,
        delay_ms: u64,
        category: String,
    },
    /// The task switched models and goes on, same conversation, on `to_model`: the
    /// previous one kept failing after its retries (its circuit breaker is now open), was
    /// unusable (key refused, model unknown, request rejected), was cooling down when the
    /// request was due, or the task used its turns and escalates one tier up. `reason`
    /// says which. Followed by the next request's `llm_call` (or `retry`).
    Fallback {
        from_model: String,
        to_model: String,
        reason: String,
    },
    /// Turn `turn` completed and the task's state after it is saved
    /// (`checkpoints/{task_id}.json` and the `task_state` row) under `checkpoint_id`
    /// (`{task_id}.{turn}`): `az-os tasks resume` would continue from here.
    Checkpoint { turn: u32, checkpoint_id: String },
    /// The task ended.
    TaskFinished {
        status: TaskStatus,
        result: Option<String>,
        turns: u32,
        cost_usd: f64,
        duration_ms: u64,
        error: Option<String>,
    },
    /// Something failed. `category` is the error class (`rate_limit`, `malformed`,
    /// `database`, …); `retryable` says whether trying again may help.
    Error {
        message: String,
        category: String,
        retryable: bool,
    },
    /// A sample of the machine with its classified gauges (only when the front
    /// end asked for health snapshots: the dashboard does).
    Health {
        machine: MachineSnapshot,
        gauges: Vec<Gauge>,
    },
    /// Fresh checks of the database and the provider endpoints (dashboard only).
    ComponentHealth { checks: Vec<ComponentCheck> },
    /// The MCP servers (`[[mcp_servers]]`), each as a component of kind `mcp` named
    /// `mcp:NAME`: ready with its tools, starting, failed and why, or restarting. Sent
    /// when the engine starts with servers configured and whenever one's state or tools
    /// change; never without servers.
    McpStatus { servers: Vec<ComponentCheck> },
    /// The shared queue's workers (`az-os worker`, on the PostgreSQL store only), each
    /// as a component of kind `worker` named `worker:NAME`: healthy while it
    /// heartbeats, unhealthy once gone quiet (for an hour after, then dropped); one that
    /// stopped cleanly is left out. Sent every few seconds to the dashboard.
    Workers { workers: Vec<ComponentCheck> },
    /// A gauge or component crossed into a worse level. `key` is what it is
    /// about (`cpu`, `memory`, `disk`, a provider host); `value` its percent.
    Alert {
        key: String,
        level: Level,
        value: Option<f64>,
        message: String,
    },
    /// Something the user should know that is not an error (for example tasks
    /// recovered as `interrupted` at start-up).
    Notice { message: String },
    /// The catalogue was read again (`reload_models`): the models a task can use now,
    /// and each model config.toml lists whose key cannot be read, with why
    /// (`NAME: why`).
    ModelsReloaded {
        usable: Vec<String>,
        unusable: Vec<String>,
    },
}

/// How a `context` event reads in a transcript (live, stored and printed alike).
pub fn context_line(sources: &[String], tokens: u64) -> String {
    let n = sources.len();
    let s = if n == 1 { "" } else { "s" };
    format!(
        "context: {n} excerpt{s} of the workdir's documents and lessons ({tokens} tokens): {}",
        sources.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_flat_with_type_task_id_and_ts() {
        let e = EngineEvent::task(&TaskId::from("abc"), Event::TurnStarted { turn: 2 });
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "turn_started");
        assert_eq!(v["task_id"], "abc");
        assert_eq!(v["turn"], 2);
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
        let back: EngineEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn fallback_carries_both_models_and_the_reason() {
        let e = EngineEvent::task(
            &TaskId::from("t"),
            Event::Fallback {
                from_model: "a".into(),
                to_model: "b".into(),
                reason: "server errors".into(),
            },
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "fallback");
        assert_eq!(v["from_model"], "a");
        assert_eq!(v["to_model"], "b");
        assert_eq!(v["reason"], "server errors");
    }

    #[test]
    fn finished_status_is_snake_case() {
        let e = Event::TaskFinished {
            status: TaskStatus::BudgetExceeded,
            result: None,
            turns: 1,
            cost_usd: 0.0,
            duration_ms: 5,
            error: Some("cap".into()),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["status"], "budget_exceeded");
    }
}
