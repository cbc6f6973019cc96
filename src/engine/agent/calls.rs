//! Model requests for a task: the budget check before each one, retries with
//! backoff (honouring `Retry-After`) for failures that may pass, cost recording,
//! and `query_llm`, which asks the task's model a side question.

use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::Runner;
use super::recorder::Recorder;
use crate::engine::protocol::Event;
use crate::engine::tools::{ToolOutput, parse_args};
use crate::llm::{ChatRequest, ChatResponse, LlmClient, Message};
use crate::store::costs;
use crate::util::time::{now_unix, start_of_utc_day};

/// Attempts per request, the first included.
const MAX_ATTEMPTS: u32 = 3;
/// Longest wait between attempts.
const MAX_DELAY: Duration = Duration::from_secs(60);

/// Caps in USD.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub per_task: f64,
    pub per_day: f64,
}

/// Why a request did not produce a reply.
pub enum CallError {
    Cancelled,
    Budget(String),
    Llm(String),
    Store(String),
}

pub struct Caller<'a> {
    pub runner: &'a Runner,
    pub rec: &'a Recorder,
    pub client: &'a LlmClient,
    pub cancel: &'a CancellationToken,
    pub budget: Budget,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryArgs {
    prompt: String,
}

impl Caller<'_> {
    /// Sends one request (with retries) and records its cost; returns the reply
    /// and what it cost.
    pub async fn call(
        &self,
        req: ChatRequest<'_>,
        turn: u32,
        spent: f64,
    ) -> Result<(ChatResponse, f64), CallError> {
        self.check_budget(&req, spent).await?;
        let spec = self.client.spec();
        let mut attempt = 1;
        loop {
            let t0 = Instant::now();
            let events = self.runner.stream_thoughts.then_some(self.rec);
            let mut on_text = |t: &str| {
                if let Some(rec) = events {
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
            if let Err(e) = &result {
                let latency_ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
                self.rec
                    .failed_call(&spec.name, e.category.as_str(), latency_ms, attempt);
            }
            match result {
                Ok(resp) => {
                    let latency_ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
                    let cost = spec.cost_usd(resp.usage.input_tokens, resp.usage.output_tokens);
                    self.rec.call(&spec.name, &resp, cost, latency_ms, attempt);
                    return Ok((resp, cost));
                }
                Err(e) if e.retryable() && attempt < MAX_ATTEMPTS => {
                    let delay = e
                        .retry_after
                        .unwrap_or_else(|| backoff(attempt))
                        .min(MAX_DELAY);
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
                        &format!("{} on {}; retrying in {delay_ms} ms", e, spec.name),
                    );
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = self.cancel.cancelled() => return Err(CallError::Cancelled),
                    }
                    attempt += 1;
                }
                Err(e) => {
                    let msg = format!("model {} failed: {e}", spec.name);
                    self.rec.error(&msg, e.category.as_str(), e.retryable());
                    return Err(CallError::Llm(msg));
                }
            }
        }
    }

    /// `query_llm`: the same model, no tools, one question.
    pub async fn query_llm(
        &self,
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

    /// Refuses the request when it could take the task or the day over budget.
    async fn check_budget(&self, req: &ChatRequest<'_>, spent: f64) -> Result<(), CallError> {
        let spec = self.client.spec();
        let next = estimate_input_cost(req, spec.input_usd_per_mtok);
        if next <= 0.0 && spent <= 0.0 {
            return Ok(());
        }
        if spent + next > self.budget.per_task {
            return Err(CallError::Budget(format!(
                "task budget of ${:.2} reached: ${spent:.4} spent and the next request would cost about ${next:.4}; raise --budget or defaults.budget_usd_per_task",
                self.budget.per_task
            )));
        }
        let since = start_of_utc_day(now_unix());
        let today = self
            .runner
            .store
            .call(move |c| costs::spent_since(c, since))
            .await
            .map_err(|e| CallError::Store(e.to_string()))?;
        if today + next > self.budget.per_day {
            return Err(CallError::Budget(format!(
                "daily budget of ${:.2} reached: ${today:.4} spent today; raise defaults.budget_usd_per_day or wait for tomorrow (UTC)",
                self.budget.per_day
            )));
        }
        Ok(())
    }
}

/// 1 s, 2 s, 4 s … with ±20% jitter so parallel tasks do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let base = 1000u64.saturating_mul(1 << (attempt - 1).min(6));
    let mut b = [0u8; 2];
    let jitter = if getrandom::fill(&mut b).is_ok() {
        f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX) * 0.4 - 0.2
    } else {
        0.0
    };
    Duration::from_millis((base as f64 * (1.0 + jitter)) as u64)
}

/// Input cost of a request, from its size (about four characters per token).
fn estimate_input_cost(req: &ChatRequest<'_>, usd_per_mtok: f64) -> f64 {
    if usd_per_mtok <= 0.0 {
        return 0.0;
    }
    let chars: usize = req.system.len()
        + req
            .messages
            .iter()
            .map(|m| serde_json::to_string(m).map_or(0, |s| s.len()))
            .sum::<usize>();
    (chars as f64 / 4.0) * usd_per_mtok / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        for (attempt, base) in [(1, 1000.0), (2, 2000.0), (3, 4000.0)] {
            let d = backoff(attempt).as_millis() as f64;
            assert!(d >= base * 0.79 && d <= base * 1.21, "{attempt}: {d}");
        }
    }
}
