//! Model requests for a task, and the resilience around each one. Per attempt, in order:
//! skip the model if its circuit breaker is open (`fallback.rs`), check the task budget and
//! reserve the daily one with the request's worst case (`engine::budget`), wait for the
//! endpoint's rate limiter, send (cancellable), and record the outcome in the ledger, the
//! breaker and the events. A failure is retried after backoff or `Retry-After` (`retry.rs`)
//! or, once the model is given up on, the task falls back to the next-best model with the
//! same conversation. `query_llm` asks the current model a side question the same way.

use std::time::Instant;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::Runner;
use super::recorder::Recorder;
use super::retry::{self, GiveUp, Next, RetryPolicy};
use crate::engine::budget::{self, Caps, Refusal};
use crate::engine::protocol::Event;
use crate::engine::route::SuccessRates;
use crate::engine::tools::{ToolOutput, parse_args};
use crate::llm::rate_limit::Limits;
use crate::llm::{ChatRequest, ChatResponse, ErrorCategory, LlmClient, LlmError, Message};
use crate::store::TaskRow;

/// Why a request did not produce a reply.
pub enum CallError {
    Cancelled,
    Budget(String),
    Llm(String),
    Store(String),
}

/// Sends a task's requests, and owns which model the task is on.
pub struct Caller<'a> {
    pub(super) runner: &'a Runner,
    pub(super) rec: &'a Recorder,
    pub(super) task: &'a TaskRow,
    pub(super) cancel: &'a CancellationToken,
    pub(super) caps: Caps,
    pub(super) policy: RetryPolicy,
    /// Ledger success rates read when the task started, for re-routing.
    pub(super) rates: SuccessRates,
    /// The model the task is on now.
    pub(super) client: LlmClient,
    /// Models given up on in this task, and the failure that did it.
    pub(super) given_up: Vec<String>,
    pub(super) failures: Vec<String>,
    /// Escalation (one tier up after the turn limit) happens at most once.
    pub(super) escalated: bool,
    /// Send the reply's text as `thought_delta` events while it streams (the task's own
    /// turns; not the lessons request, whose reply is not the model's reasoning).
    pub(super) stream_thoughts: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryArgs {
    prompt: String,
}

impl Caller<'_> {
    /// The model the task is on now.
    pub fn model_name(&self) -> &str {
        &self.client.spec().name
    }

    /// Sends one request, retrying and falling back as needed; returns the reply and
    /// what it cost.
    pub async fn call(
        &mut self,
        req: ChatRequest<'_>,
        turn: u32,
        spent: f64,
    ) -> Result<(ChatResponse, f64), CallError> {
        let mut attempt = 1;
        loop {
            if self.leave_open_breaker(turn).await? {
                attempt = 1;
            }
            let result = self.attempt(req, turn, spent, attempt).await?;
            let e = match result {
                Ok(done) => return Ok(done),
                Err(e) => e,
            };
            let spec = self.client.spec();
            self.rec.emit(Event::RequestFailed {
                model: spec.name.clone(),
                attempt,
                category: e.category.as_str().into(),
                message: e.to_string(),
            });
            match self.policy.next(&e, attempt, retry::jitter()) {
                Next::Retry(delay) => {
                    let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                    self.rec.event(
                        Event::Retry {
                            model: spec.name.clone(),
                            attempt: attempt + 1,
                            delay_ms,
                            category: e.category.as_str().into(),
                        },
                        "warn",
                        "retry",
                        Some(turn),
                        &format!("{e} on {}; retrying in {delay_ms} ms", spec.name),
                    );
                    self.sleep(delay).await?;
                    attempt += 1;
                }
                Next::GiveUp(why) => {
                    self.give_up(&e, why, attempt, turn).await?;
                    attempt = 1;
                }
            }
        }
    }

    /// One attempt on the current model: budget, rate limit, send, record.
    /// `Ok(Err(e))` is a failed request worth deciding about; `Err` ends the task.
    async fn attempt(
        &self,
        req: ChatRequest<'_>,
        turn: u32,
        spent: f64,
        attempt: u32,
    ) -> Result<Result<(ChatResponse, f64), LlmError>, CallError> {
        let runner = self.runner;
        let spec = self.client.spec();
        let worst = budget::worst_case(spec, &req);
        let raise = runner.front_end.raise_task_budget();
        budget::check_task(self.caps, spent, &worst, &spec.name, raise)
            .map_err(CallError::Budget)?;
        let held = runner
            .in_flight
            .reserve_daily(self.rec.store(), self.caps, &worst, &spec.name)
            .await
            .map_err(|r| match r {
                Refusal::Budget(msg) => CallError::Budget(msg),
                Refusal::Store(e) => CallError::Store(e.to_string()),
            })?;
        let (requests_per_minute, tokens_per_minute) = runner.settings().endpoint_limits(spec);
        let limits = Limits {
            requests_per_minute,
            tokens_per_minute,
        };
        tokio::select! {
            _ = runner.limiter.acquire(&spec.base_url, limits, worst.input_tokens) => {}
            () = self.cancel.cancelled() => return Err(CallError::Cancelled),
        }

        let t0 = Instant::now();
        let rec = self.rec;
        let stream = self.stream_thoughts;
        let mut on_text = |t: &str| {
            if stream {
                rec.emit(Event::ThoughtDelta {
                    turn,
                    text: t.to_owned(),
                });
            }
        };
        let result = tokio::select! {
            r = self.client.chat(req, &mut on_text) => r,
            () = self.cancel.cancelled() => return Err(CallError::Cancelled),
        };
        let latency_ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
        // The first request is out and answered: held MCP servers may start.
        runner.mcp.release();
        let outcome = match result {
            Ok(resp) => {
                let cost = spec.cost_usd(resp.usage.input_tokens, resp.usage.output_tokens);
                rec.call(&spec.name, &resp, cost, latency_ms, attempt);
                runner.breakers.record_success(&spec.name);
                Ok((resp, cost))
            }
            Err(e) => {
                rec.failed_call(&spec.name, e.category.as_str(), latency_ms, attempt);
                if e.retryable() {
                    runner.breakers.record_failure(&spec.name, e.retry_after);
                }
                if let Some(wait) = e.retry_after.filter(|w| !w.is_zero()) {
                    // Everyone waits for this provider, not just this task.
                    runner
                        .limiter
                        .pause_until(&spec.base_url, tokio::time::Instant::now() + wait);
                }
                Err(e)
            }
        };
        // Released behind the ledger row just posted, so the daily total never misses it.
        drop(held);
        Ok(outcome)
    }

    /// Stops using the current model for this task and moves to the next-best one, or ends
    /// the task when none is left (or the user pinned the model with `--model`).
    async fn give_up(
        &mut self,
        e: &LlmError,
        why: GiveUp,
        attempts: u32,
        turn: u32,
    ) -> Result<(), CallError> {
        let spec = self.client.spec();
        let name = spec.name.clone();
        let breakers = &self.runner.breakers;
        let detail = match why {
            GiveUp::Exhausted => {
                breakers.trip(&name, e.retry_after);
                format!(
                    "{e} after {attempts} attempt{}",
                    if attempts == 1 { "" } else { "s" }
                )
            }
            GiveUp::WaitTooLong(wait) => {
                breakers.trip(&name, Some(wait));
                format!(
                    "{e}; its Retry-After of {}s is longer than defaults.retry_max_delay_s",
                    wait.as_secs()
                )
            }
            GiveUp::NotRetryable => {
                // A refused key or an unknown model will not mend during this run.
                if matches!(e.category, ErrorCategory::Auth | ErrorCategory::NotFound) {
                    breakers.trip(&name, Some(self.runner.max_cooldown()));
                }
                e.to_string()
            }
        };
        self.given_up.push(name.clone());
        self.failures.push(format!("{name}: {detail}"));
        if self.task.requested_model.is_some() {
            let msg = format!(
                "model {name} failed: {detail}; run without --model to let the router fall back"
            );
            self.rec.error(&msg, e.category.as_str(), e.retryable());
            return Err(CallError::Llm(msg));
        }
        let Some(decision) = self.reroute(None) else {
            let msg = format!(
                "no model left to fall back to: {}",
                self.failures.join("; ")
            );
            self.rec.error(&msg, e.category.as_str(), e.retryable());
            return Err(CallError::Llm(msg));
        };
        let reason = format!("{name} failed: {detail}");
        self.switch(decision, &reason, turn).await
    }

    /// `query_llm`: the task's current model, no tools, one question.
    pub async fn query_llm(
        &mut self,
        raw: &str,
        turn: u32,
        spent: f64,
    ) -> Result<(ToolOutput, f64), CallError> {
        let args: QueryArgs = match parse_args("query_llm", raw) {
            Ok(a) => a,
            Err(e) => return Ok((e, 0.0)),
        };
        if args.prompt.trim().is_empty() {
            return Ok((ToolOutput::err("prompt is empty"), 0.0));
        }
        let messages = [Message::User { text: args.prompt }];
        let req = ChatRequest {
            system: "Answer concisely and accurately.",
            messages: &messages,
            tools: &[],
        };
        let (resp, cost) = self.call(req, turn, spent).await?;
        Ok((ToolOutput::ok(resp.text), cost))
    }

    /// Waits `delay` unless the task is cancelled first.
    pub(super) async fn sleep(&self, delay: std::time::Duration) -> Result<(), CallError> {
        tokio::select! {
            () = tokio::time::sleep(delay) => Ok(()),
            () = self.cancel.cancelled() => Err(CallError::Cancelled),
        }
    }
}
