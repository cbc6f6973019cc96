//! Writes what happens to a task twice: as an event for the front end and as rows
//! in the store (`task_logs`, `tool_usage`, `cost_tracking`; the `task_state` row is
//! `resume.rs`'s). Log rows are posted in order without waiting; status changes are awaited.

use std::time::Instant;

use tokio::sync::mpsc;

use crate::engine::protocol::{EngineEvent, Event, Route};
use crate::engine::route::Scored;
use crate::llm::ChatResponse;
use crate::store::{StoreHandle, TaskStatus, costs, logs, tasks, tool_usage};
use crate::util::ids::TaskId;

pub struct Recorder {
    store: StoreHandle,
    events: mpsc::UnboundedSender<EngineEvent>,
    id: TaskId,
}

impl Recorder {
    pub fn new(store: StoreHandle, events: mpsc::UnboundedSender<EngineEvent>, id: TaskId) -> Self {
        Self { store, events, id }
    }

    /// The task's lane of the store: what is written for this task, in order.
    pub fn store(&self) -> &StoreHandle {
        &self.store
    }

    pub fn task_id(&self) -> &TaskId {
        &self.id
    }

    pub fn emit(&self, event: Event) {
        // A closed channel means the front end is gone; the store still records.
        let _ = self.events.send(EngineEvent::task(&self.id, event));
    }

    /// Emits `event` and appends a log line for it.
    pub fn event(
        &self,
        event: Event,
        level: &str,
        kind: &'static str,
        turn: Option<u32>,
        msg: &str,
    ) {
        self.emit(event);
        self.log(level, kind, turn, msg);
    }

    pub fn log(&self, level: &str, kind: &'static str, turn: Option<u32>, msg: &str) {
        let msg = crate::redact::redact(msg).into_owned();
        self.store
            .log(logs::NewLine::now(self.id.clone(), level, kind, turn, msg));
    }

    pub fn error(&self, message: &str, category: &str, retryable: bool) {
        self.event(
            Event::Error {
                message: message.to_owned(),
                category: category.to_owned(),
                retryable,
            },
            "error",
            "error",
            None,
            message,
        );
    }

    /// Marks the task running on `model` and records the router's decision on it: the
    /// route and every candidate's score. `Ok(false)`: it was cancelled meanwhile (by
    /// another process), and is not started.
    pub async fn started(
        &self,
        model: &str,
        route: &Route,
        candidates: &[Scored],
    ) -> Result<bool, String> {
        let decision = serde_json::json!({
            "complexity": route.complexity,
            "tier": route.tier,
            "score": route.score,
            "reason": route.reason,
            "candidates": candidates,
        });
        let (id, m, r) = (self.id.clone(), model.to_owned(), decision.to_string());
        match self
            .store
            .call(move |c| tasks::mark_started(c, &id, &m, &r))
            .await
        {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => {
                let msg = e.to_string();
                self.error(&msg, "database", false);
                return Err(msg);
            }
        }
        self.event(
            Event::TaskStarted {
                model: model.to_owned(),
                route: route.clone(),
            },
            "info",
            "status",
            None,
            &format!("started on {model}: {}", route.reason),
        );
        Ok(true)
    }

    pub fn set_turns(&self, turn: u32) {
        let id = self.id.clone();
        self.store
            .post("turns", move |c| tasks::set_turns(c, &id, turn));
    }

    pub fn observation(&self, turn: u32, tool: &str, ok: bool, output: &str, ms: f64) {
        self.event(
            Event::Observation {
                turn,
                tool: tool.to_owned(),
                ok,
                output: output.to_owned(),
            },
            if ok { "info" } else { "warn" },
            "observation",
            Some(turn),
            output,
        );
        let (id, tool) = (self.id.clone(), tool.to_owned());
        self.store.post("tool usage", move |c| {
            tool_usage::record(c, &id, &tool, ms, ok)
        });
    }

    /// Records one billed call in the ledger and emits `llm_call`.
    pub fn call(
        &self,
        model: &str,
        resp: &ChatResponse,
        cost_usd: f64,
        latency_ms: u64,
        attempt: u32,
    ) {
        let (id, m) = (self.id.clone(), model.to_owned());
        let u = resp.usage;
        let room = resp.headroom;
        self.store.post("cost", move |c| {
            costs::record(
                c,
                &costs::CallCost {
                    task_id: &id,
                    model: &m,
                    input_tokens: u.input_tokens,
                    output_tokens: u.output_tokens,
                    cost_usd,
                    latency_ms,
                    attempt,
                    error: None,
                    requests_remaining: room.requests_remaining,
                    tokens_remaining: room.tokens_remaining,
                },
            )
        });
        let msg = format!(
            "{model}: {} in / {} out tokens, ${cost_usd:.6}, {latency_ms} ms",
            u.input_tokens, u.output_tokens
        );
        self.event(
            Event::LlmCall {
                model: model.to_owned(),
                input_tokens: u.input_tokens,
                output_tokens: u.output_tokens,
                cost_usd,
                latency_ms,
                attempt,
                estimated: u.estimated,
            },
            "info",
            "llm_call",
            None,
            &msg,
        );
    }

    /// Records a failed call (no cost) so error rates and success rates per model
    /// come from the ledger.
    pub fn failed_call(&self, model: &str, category: &'static str, latency_ms: u64, attempt: u32) {
        let (id, m) = (self.id.clone(), model.to_owned());
        self.store.post("failed call", move |c| {
            costs::record(
                c,
                &costs::CallCost {
                    task_id: &id,
                    model: &m,
                    input_tokens: 0,
                    output_tokens: 0,
                    cost_usd: 0.0,
                    latency_ms,
                    attempt,
                    error: Some(category),
                    requests_remaining: None,
                    tokens_remaining: None,
                },
            )
        });
    }

    /// Writes the final status (awaited, so it is on disk before the event) and
    /// emits `task_finished`.
    pub async fn finish(
        &self,
        status: TaskStatus,
        result: Option<String>,
        error: Option<String>,
        turns: u32,
        cost_usd: f64,
        started: Instant,
    ) {
        let result = result.map(crate::redact::redact_owned);
        let error = error.map(crate::redact::redact_owned);
        let (id, r, e) = (self.id.clone(), result.clone(), error.clone());
        // The task's lines first: a finished task's log is whole.
        self.store.logs_written().await;
        if let Err(err) = self
            .store
            .call(move |c| tasks::finish(c, &id, status, r.as_deref(), e.as_deref()))
            .await
        {
            self.error(
                &format!("cannot record the task's end: {err}"),
                "database",
                false,
            );
        }
        let msg = match (&result, &error) {
            (_, Some(e)) => format!("{}: {e}", status.as_str()),
            (Some(r), None) => format!("{}: {r}", status.as_str()),
            (None, None) => status.as_str().to_owned(),
        };
        self.log(
            if status == TaskStatus::Completed {
                "info"
            } else {
                "warn"
            },
            "status",
            None,
            &msg,
        );
        self.emit(Event::TaskFinished {
            status,
            result,
            turns,
            cost_usd,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            error,
        });
    }
}
