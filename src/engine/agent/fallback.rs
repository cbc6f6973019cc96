//! Moving a running task to another model: after the current one is given up on
//! (`calls.rs`), when its circuit breaker was opened by other workers' failures before our
//! request was due, and — when `routing.escalate_on_max_turns` is on — once, one tier up,
//! after the task used its turns. Each move is a `fallback` event and a `task_logs` row,
//! updates `tasks.model`, and keeps the conversation.
//!
//! The choice itself is the router's (`engine::route`), with the models this task gave up
//! on excluded and the breakers' cooldowns passed in.

use std::sync::Arc;
use std::time::Duration;

use super::calls::{CallError, Caller};
use crate::config::Tier;
use crate::engine::protocol::Event;
use crate::engine::route::{self, Ask, Decision};
use crate::llm::LlmClient;
use crate::store::tasks;

impl Caller<'_> {
    /// The router's pick for this task without the models it gave up on; `at_least` raises
    /// the complexity (escalation). `None` when no model is left.
    pub(super) fn reroute(&self, at_least: Option<Tier>) -> Option<Decision> {
        let ask = Ask {
            description: &self.task.description,
            critical: self.task.critical,
            requested: None,
            exclude: &self.given_up,
            at_least,
        };
        let breakers = &self.runner.breakers;
        route::decide(&self.runner.settings(), &ask, &self.rates, |m| {
            breakers.open_for(m)
        })
        .ok()
    }

    /// Continues the task on `decision`'s model, waiting first if it is cooling down.
    pub(super) async fn switch(
        &mut self,
        decision: Decision,
        reason: &str,
        turn: u32,
    ) -> Result<(), CallError> {
        let from = self.client.spec().name.clone();
        let to = decision.model;
        if to.name != from {
            let key = to.api_key().map_err(|e| CallError::Llm(e.to_string()))?;
            self.rec.event(
                Event::Fallback {
                    from_model: from.clone(),
                    to_model: to.name.clone(),
                    reason: reason.to_owned(),
                },
                "warn",
                "fallback",
                Some(turn),
                &format!("fallback {from} → {}: {reason}", to.name),
            );
            let (id, name) = (self.task.id.clone(), to.name.clone());
            self.rec
                .store()
                .post("task model", move |c| tasks::set_model(c, &id, &name));
            self.client = LlmClient::new(
                self.runner.http.clone(),
                Arc::new(to),
                key,
                self.runner.timeouts,
            );
        }
        if let Some(wait) = decision.wait {
            self.wait_for_cooldown(wait, turn).await?;
        }
        Ok(())
    }

    /// Before a request: if another worker's failures opened the current model's breaker,
    /// move to the best closed candidate, or wait for the first to reopen. Returns whether
    /// the model changed.
    pub(super) async fn leave_open_breaker(&mut self, turn: u32) -> Result<bool, CallError> {
        let name = self.client.spec().name.clone();
        let Some(left) = self.runner.breakers.open_for(&name) else {
            return Ok(false);
        };
        if self.task.requested_model.is_some() {
            self.wait_for_cooldown(left, turn).await?;
            return Ok(false);
        }
        let Some(decision) = self.reroute(None) else {
            self.wait_for_cooldown(left, turn).await?;
            return Ok(false);
        };
        let moved = decision.model.name != name;
        let reason = format!(
            "{name} is cooling down for {:.1}s after repeated failures",
            left.as_secs_f64()
        );
        self.switch(decision, &reason, turn).await?;
        Ok(moved)
    }

    /// After the turn limit: one tier up, once, if configured and a model there is usable.
    /// Returns whether the task goes on.
    pub async fn escalate(&mut self, turn: u32, turns_used: u32) -> Result<bool, CallError> {
        let settings = &self.runner.settings();
        if !settings.routing.escalate_on_max_turns
            || self.escalated
            || self.task.requested_model.is_some()
        {
            return Ok(false);
        }
        self.escalated = true;
        let current = self.client.spec().tier;
        if current == Tier::Critical {
            return Ok(false);
        }
        let up = current.next();
        let Some(decision) = self.reroute(Some(up)) else {
            return Ok(false);
        };
        if decision.model.tier <= current {
            return Ok(false);
        }
        let reason = format!(
            "used all {turns_used} turns on {} ({}); escalating one tier up to {}",
            self.client.spec().name,
            current.as_str(),
            decision.model.tier.as_str()
        );
        self.switch(decision, &reason, turn).await?;
        Ok(true)
    }

    pub(super) async fn wait_for_cooldown(
        &self,
        wait: Duration,
        turn: u32,
    ) -> Result<(), CallError> {
        let name = &self.client.spec().name;
        let msg = format!(
            "every candidate model is cooling down after failures; waiting {:.1}s for {name}",
            wait.as_secs_f64()
        );
        self.rec.event(
            Event::Notice {
                message: msg.clone(),
            },
            "warn",
            "notice",
            Some(turn),
            &msg,
        );
        self.sleep(wait).await
    }
}
