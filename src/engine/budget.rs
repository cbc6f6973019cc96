//! Hard spending caps, checked before every model request with the request's worst case:
//! its input at three characters a token (most tokenizers average about four, so this errs
//! high) plus every output token the request allows (`max_output_tokens`, which is sent as
//! the request's `max_tokens`), at the model's prices.
//!
//! The task cap compares with what the task has spent. The daily cap compares with the
//! ledger's total for the UTC day plus the worst case of requests other workers have in
//! flight: the check and the reservation happen on the store thread, and a reservation is
//! released there only after the request's ledger row is written, so parallel workers can
//! never pass the cap together. On the shared PostgreSQL store the reservations live in
//! the database (`store::queue::hold_budget`, under an advisory lock), so the same holds
//! for workers on different hosts: two of them cannot both spend the last dollar.
//!
//! This module does not send requests or choose models; a refusal ends the task
//! `budget_exceeded` with the message built here.

use std::sync::{Arc, Mutex, PoisonError};

use crate::config::ModelSpec;
use crate::llm::{ChatRequest, Message};
use crate::store::{StoreError, StoreHandle, costs};
use crate::util::time::{now_unix, start_of_utc_day};

/// Caps in USD.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Caps {
    pub per_task: f64,
    pub per_day: f64,
}

/// The most the next request can cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorstCase {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub usd: f64,
}

/// Worst-case cost of sending `req` to `spec`.
pub fn worst_case(spec: &ModelSpec, req: &ChatRequest<'_>) -> WorstCase {
    let input_tokens = (request_chars(req) as u64).div_ceil(3);
    let output_tokens = u64::from(spec.max_output_tokens);
    WorstCase {
        input_tokens,
        output_tokens,
        usd: spec.cost_usd(input_tokens, output_tokens),
    }
}

/// Characters of everything a request sends: system prompt, messages, tool schemas.
pub fn request_chars(req: &ChatRequest<'_>) -> usize {
    let messages: usize = req
        .messages
        .iter()
        .map(|m| match m {
            Message::User { text } => text.len(),
            Message::Assistant { text, tool_calls } => {
                text.len()
                    + tool_calls
                        .iter()
                        .map(|c| c.id.len() + c.name.len() + c.arguments.len())
                        .sum::<usize>()
            }
            Message::ToolResult {
                call_id,
                name,
                content,
                ..
            } => call_id.len() + name.len() + content.len(),
        })
        .sum();
    let tools: usize = req
        .tools
        .iter()
        .map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len())
        .sum();
    req.system.len() + messages + tools
}

/// Refuses a request that could take the task past its cap.
/// `raise` says how the user raises the task's cap where they are
/// ([`FrontEnd::raise_task_budget`](super::handle::FrontEnd::raise_task_budget)).
pub fn check_task(
    caps: Caps,
    spent: f64,
    next: &WorstCase,
    model: &str,
    raise: &str,
) -> Result<(), String> {
    // A request that costs nothing cannot pass any cap.
    if next.usd <= 0.0 || spent + next.usd <= caps.per_task {
        return Ok(());
    }
    Err(format!(
        "task budget of {} would be passed: ${spent:.4} spent, and the next request to \
         {model} may cost up to ${:.4} ({} input + {} output tokens); {raise}, or lower the \
         model's max_output_tokens",
        crate::util::text::dollars(caps.per_task),
        next.usd,
        next.input_tokens,
        next.output_tokens
    ))
}

/// Worst cases of requests in flight across all workers, in USD. Clones share the total.
#[derive(Clone, Default)]
pub struct InFlight {
    reserved: Arc<Mutex<f64>>,
}

/// Money held for one request until its ledger row is written. Dropping it posts the
/// release to the store thread, behind that row.
pub struct Reservation {
    in_flight: InFlight,
    store: StoreHandle,
    usd: f64,
    /// The shared store's hold (its row id), instead of this process's count.
    hold: Option<i64>,
}

/// A hold on the shared store lapses after this long if its holder dies (longer than
/// any request may take).
const HOLD_S: f64 = 3_600.0;

impl InFlight {
    /// What is held now.
    pub fn reserved(&self) -> f64 {
        *self.lock()
    }

    /// Checks the daily cap and holds `next` for the request, on the store thread. A free
    /// request needs neither and does not touch the store.
    pub async fn reserve_daily(
        &self,
        store: &StoreHandle,
        caps: Caps,
        next: &WorstCase,
        model: &str,
    ) -> Result<Option<Reservation>, Refusal> {
        if next.usd <= 0.0 {
            return Ok(None);
        }
        let (held, usd, cap) = (self.clone(), next.usd, caps.per_day);
        let since = start_of_utc_day(now_unix());
        let outcome = store
            .call(move |c| {
                if c.dialect() == crate::store::Dialect::Postgres {
                    return crate::store::queue::hold_budget(c, since, usd, cap, HOLD_S)
                        .map(|r| r.map(Some));
                }
                let today = costs::spent_since(c, since)?;
                let mut reserved = held.lock();
                if today + *reserved + usd > cap {
                    return Ok(Err((today, *reserved)));
                }
                *reserved += usd;
                Ok(Ok(None))
            })
            .await
            .map_err(Refusal::Store)?;
        match outcome {
            Ok(shared_hold) => Ok(Some(Reservation {
                in_flight: self.clone(),
                store: store.clone(),
                usd,
                hold: shared_hold,
            })),
            Err((today, reserved)) => Err(Refusal::Budget(format!(
                "daily budget of {} would be passed: ${today:.4} spent today (UTC){}, \
                 and the next request to {model} may cost up to ${usd:.4} ({} input + {} \
                 output tokens); raise defaults.budget_usd_per_day or wait for 00:00 UTC",
                crate::util::text::dollars(cap),
                if reserved > 0.0 {
                    format!(" and ${reserved:.4} held by requests in flight (on any host)")
                } else {
                    String::new()
                },
                next.input_tokens,
                next.output_tokens
            ))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, f64> {
        // Every update is a single add or subtract: a poisoned value is still right.
        self.reserved.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let (held, usd, shared_hold) = (self.in_flight.clone(), self.usd, self.hold);
        self.store.post("budget release", move |c| {
            if let Some(id) = shared_hold {
                return crate::store::queue::release_budget(c, id);
            }
            let mut reserved = held.lock();
            *reserved = (*reserved - usd).max(0.0);
            Ok(())
        });
    }
}

/// Why the daily check refused.
#[derive(Debug)]
pub enum Refusal {
    Budget(String),
    Store(StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Provider, Tier};
    use crate::engine::handle::FrontEnd;

    fn spec(input: f64, output: f64) -> ModelSpec {
        ModelSpec {
            name: "m".into(),
            provider: Provider::Openai,
            model: "m".into(),
            base_url: "http://127.0.0.1:1".into(),
            api_key_env: None,
            api_key: None,
            tier: Tier::Medium,
            input_usd_per_mtok: input,
            output_usd_per_mtok: output,
            quality: 0.5,
            max_output_tokens: 1000,
            requests_per_minute: None,
            tokens_per_minute: None,
            stream: true,
            tool_calls: crate::config::ToolCalls::Auto,
            builtin: false,
        }
    }

    fn req(messages: &[Message]) -> ChatRequest<'_> {
        ChatRequest {
            system: "sys",
            messages,
            tools: &[],
        }
    }

    #[test]
    fn worst_case_counts_all_output_tokens_and_errs_high_on_input() {
        let messages = [Message::User {
            text: "x".repeat(297),
        }];
        let w = worst_case(&spec(1.0, 2.0), &req(&messages));
        assert_eq!((w.input_tokens, w.output_tokens), (100, 1000));
        assert!((w.usd - (100.0 + 2000.0) / 1e6).abs() < 1e-15);
        assert!(worst_case(&spec(0.0, 0.0), &req(&messages)).usd <= 0.0);
    }

    #[test]
    fn task_cap_refuses_only_the_request_that_could_pass_it() {
        let caps = Caps {
            per_task: 0.01,
            per_day: 1.0,
        };
        let next = WorstCase {
            input_tokens: 10,
            output_tokens: 20,
            usd: 0.004,
        };
        let raise = FrontEnd::Batch.raise_task_budget();
        assert!(
            check_task(caps, 0.006, &next, "m", raise).is_ok(),
            "exactly at the cap"
        );
        let e = check_task(caps, 0.0061, &next, "m", raise)
            .err()
            .unwrap_or_default();
        for part in ["$0.01", "$0.0061 spent", "up to $0.0040", "--budget"] {
            assert!(e.contains(part), "{part}: {e}");
        }
        // The dashboard has no flags: it names the config key; under a cent is not $0.00.
        let caps = Caps {
            per_task: 0.005,
            ..caps
        };
        let e = check_task(
            caps,
            0.004,
            &next,
            "m",
            FrontEnd::Dashboard.raise_task_budget(),
        )
        .err()
        .unwrap_or_default();
        assert!(
            e.starts_with("task budget of $0.005 would be passed"),
            "{e}"
        );
        assert!(!e.contains("--budget"), "{e}");
        assert!(
            e.contains("defaults.budget_usd_per_task in config.toml"),
            "{e}"
        );
        let free = WorstCase { usd: 0.0, ..next };
        assert!(check_task(caps, 5.0, &free, "m", raise).is_ok());
    }

    #[tokio::test]
    async fn daily_reservations_add_up_until_released() -> Result<(), StoreError> {
        let store = StoreHandle::from_connection(crate::store::open_in_memory()?);
        let caps = Caps {
            per_task: 1.0,
            per_day: 0.01,
        };
        let next = WorstCase {
            input_tokens: 1,
            output_tokens: 1,
            usd: 0.004,
        };
        let held = InFlight::default();
        let a = held.reserve_daily(&store, caps, &next, "m").await;
        let b = held.reserve_daily(&store, caps, &next, "m").await;
        assert!(matches!((&a, &b), (Ok(Some(_)), Ok(Some(_)))));
        let c = held.reserve_daily(&store, caps, &next, "m").await;
        let Err(Refusal::Budget(msg)) = c else {
            panic!("a third request would pass the cap");
        };
        assert!(msg.contains("$0.0080 held by requests in flight"), "{msg}");
        assert!(msg.contains("budget_usd_per_day"), "{msg}");
        drop(a);
        store.call(|_| Ok(())).await?;
        assert!((held.reserved() - 0.004).abs() < 1e-12);
        assert!(matches!(
            held.reserve_daily(&store, caps, &next, "m").await,
            Ok(Some(_))
        ));
        Ok(())
    }
}
