//! The router: which model takes a task, and which one it falls back to.
//!
//! Complexity comes from the task's size (the design's thresholds: under 100 tokens
//! simple, up to 500 medium, above that complex); `--critical` or a configured keyword
//! makes it critical. Candidates are models with a key, not excluded by the caller (models
//! that already failed this task), whose tier fits: critical tasks take only critical-tier
//! models, other tasks models rated at least their complexity but below critical (the paid
//! critical tier is kept for critical work). When nothing fits, the pool widens and the
//! reason says so. Each candidate is scored with the design's formula
//!
//! ```text
//! score = quality·0.5 + success_rate·0.3 + cost_score·0.2
//! ```
//!
//! where `success_rate` is the model's share of successful requests in the ledger over the
//! last week, smoothed towards 0.9 with the weight of ten requests (a new model starts at
//! 0.9 instead of being starved), and `cost_score = (cheapest + 0.01) / (price + 0.01)` over
//! the candidates' input+output prices per million tokens: the cheapest gets 1, a model ten
//! times dearer about 0.1, and free models do not divide by zero. The best candidate whose
//! circuit breaker is closed wins; when every candidate is cooling down, the one that
//! reopens first is chosen with the wait.
//!
//! This module only decides: it reads no database (the caller passes [`SuccessRates`]) and
//! sends nothing. `--model` skips it.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use super::protocol::Route;
use crate::config::{ModelSpec, Settings, Tier};
use crate::store::costs::ModelRecord;

/// Weights of the design's formula.
pub const QUALITY_WEIGHT: f64 = 0.5;
pub const SUCCESS_WEIGHT: f64 = 0.3;
pub const COST_WEIGHT: f64 = 0.2;
/// Success rate assumed for a model with no history, and how many requests it weighs.
pub const SUCCESS_PRIOR: f64 = 0.9;
pub const SUCCESS_PRIOR_WEIGHT: f64 = 10.0;
/// How far back the ledger is read for success rates.
pub const SUCCESS_WINDOW_S: f64 = 7.0 * 86_400.0;
/// USD per million tokens added to every price in the cost score.
const PRICE_FLOOR: f64 = 0.01;

/// Why no model could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no model named {name:?}; configured models: {known}")]
    UnknownModel { name: String, known: String },
    #[error("model {name:?} has no API key: {why}")]
    NoKey { name: String, why: String },
    #[error("no model is usable: none has an API key")]
    NoModel,
    #[error("no other usable model is left (tried {})", tried.join(", "))]
    Exhausted { tried: Vec<String> },
}

/// Per-model success counts from the ledger.
#[derive(Clone, Debug, Default)]
pub struct SuccessRates {
    by_model: HashMap<String, ModelRecord>,
}

impl SuccessRates {
    pub fn new(records: impl IntoIterator<Item = (String, ModelRecord)>) -> Self {
        Self {
            by_model: records.into_iter().collect(),
        }
    }

    /// The smoothed success rate of `model`, 0..1.
    pub fn rate(&self, model: &str) -> f64 {
        let r = self.by_model.get(model).cloned().unwrap_or_default();
        (r.successes as f64 + SUCCESS_PRIOR * SUCCESS_PRIOR_WEIGHT)
            / (r.calls as f64 + SUCCESS_PRIOR_WEIGHT)
    }

    /// Requests of `model` in the window.
    pub fn calls(&self, model: &str) -> u64 {
        self.by_model.get(model).map_or(0, |r| r.calls)
    }
}

/// What is being routed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ask<'a> {
    pub description: &'a str,
    /// `--critical`.
    pub critical: bool,
    /// `--model NAME`: no routing.
    pub requested: Option<&'a str>,
    /// Models that already failed this task.
    pub exclude: &'a [String],
    /// Route as if the task were at least this complex (escalation).
    pub at_least: Option<Tier>,
}

/// One candidate and its score, term by term.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scored {
    pub model: String,
    pub tier: Tier,
    pub quality: f64,
    pub success_rate: f64,
    pub cost_score: f64,
    pub score: f64,
    /// Set while its circuit breaker is open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooling_down_ms: Option<u64>,
}

/// The router's answer.
#[derive(Clone, Debug)]
pub struct Decision {
    pub model: ModelSpec,
    pub route: Route,
    /// Every candidate, best first (the pick is among them).
    pub ranked: Vec<Scored>,
    /// When every candidate is cooling down: how long until the pick reopens.
    pub wait: Option<Duration>,
}

/// The complexity tier of a task description and its size in tokens (four characters each).
pub fn complexity(description: &str) -> (Tier, u64) {
    let tokens = (description.len() as u64).div_ceil(4);
    let tier = match tokens {
        0..100 => Tier::Simple,
        100..=500 => Tier::Medium,
        _ => Tier::Complex,
    };
    (tier, tokens)
}

/// Chooses a model for `ask`. `cooling(name)` is the remaining cooldown of a model's open
/// circuit breaker.
pub fn decide(
    settings: &Settings,
    ask: &Ask<'_>,
    rates: &SuccessRates,
    cooling: impl Fn(&str) -> Option<Duration>,
) -> Result<Decision, RouteError> {
    let (size_tier, tokens) = complexity(ask.description);
    let keyword = settings.routing.critical_keyword(ask.description);
    let critical = ask.critical || keyword.is_some() || ask.at_least == Some(Tier::Critical);
    let tier = if critical {
        Tier::Critical
    } else {
        size_tier.max(ask.at_least.unwrap_or(Tier::Simple))
    };
    let why = match (ask.critical, keyword, ask.at_least) {
        (true, _, _) => "critical task (--critical)".to_owned(),
        (false, Some(k), _) => format!("critical task (keyword \"{k}\")"),
        (false, None, Some(t)) if t > size_tier => format!("escalated to {}", t.as_str()),
        _ => format!("{} task (~{tokens} tokens)", tier.as_str()),
    };
    if let Some(name) = ask.requested {
        return requested(settings, name, tier, rates);
    }
    let usable: Vec<&ModelSpec> = settings
        .usable_models()
        .filter(|m| !ask.exclude.contains(&m.name))
        .collect();
    if usable.is_empty() {
        return Err(if ask.exclude.is_empty() {
            RouteError::NoModel
        } else {
            RouteError::Exhausted {
                tried: ask.exclude.to_vec(),
            }
        });
    }
    let (pool, note) = pool(&usable, tier);
    let ranked = rank(&pool, rates, &cooling);
    let pick = ranked
        .iter()
        .position(|s| s.cooling_down_ms.is_none())
        .or_else(|| {
            let soonest = ranked.iter().filter_map(|s| s.cooling_down_ms).min();
            ranked.iter().position(|s| s.cooling_down_ms == soonest)
        })
        .unwrap_or(0);
    let chosen = &ranked[pick];
    let model = pool
        .iter()
        .find(|m| m.name == chosen.model)
        .map_or_else(|| usable[0].clone(), |m| (*m).clone());
    let wait = chosen.cooling_down_ms.map(Duration::from_millis);
    let mut reason = format!(
        "{why}: {note}{} scores {:.3} (quality {:.2}, success {:.2}, cost {:.2})",
        chosen.model, chosen.score, chosen.quality, chosen.success_rate, chosen.cost_score
    );
    if let Some(w) = wait {
        reason.push_str(&format!(
            "; every candidate is cooling down, {} reopens first in {:.1}s",
            chosen.model,
            w.as_secs_f64()
        ));
    }
    if let Some(next) = ranked.iter().find(|s| s.model != chosen.model) {
        reason.push_str(&format!("; next {} {:.3}", next.model, next.score));
    }
    let route = Route {
        complexity: tier.as_str().into(),
        tier: model.tier.as_str().into(),
        score: round3(chosen.score),
        reason,
    };
    Ok(Decision {
        model,
        route,
        ranked,
        wait,
    })
}

/// Candidates whose tier fits `tier`, widened when none does, with a note saying so.
fn pool<'a>(usable: &[&'a ModelSpec], tier: Tier) -> (Vec<&'a ModelSpec>, String) {
    let fits = |f: &dyn Fn(Tier) -> bool| -> Vec<&'a ModelSpec> {
        usable.iter().copied().filter(|m| f(m.tier)).collect()
    };
    if tier == Tier::Critical {
        let pool = fits(&|t| t == Tier::Critical);
        if pool.is_empty() {
            return (
                usable.to_vec(),
                "no usable critical-tier model, so the best available: ".into(),
            );
        }
        return (pool, String::new());
    }
    let pool = fits(&|t| t >= tier && t < Tier::Critical);
    if !pool.is_empty() {
        return (pool, String::new());
    }
    let pool = fits(&|t| t >= tier);
    if !pool.is_empty() {
        return (
            pool,
            format!(
                "only critical-tier models are rated {} or above; ",
                tier.as_str()
            ),
        );
    }
    (
        usable.to_vec(),
        format!("no usable model is rated {} or above; ", tier.as_str()),
    )
}

/// Scores every model of `pool`, best first (ties by name, so the order is stable).
fn rank(
    pool: &[&ModelSpec],
    rates: &SuccessRates,
    cooling: &impl Fn(&str) -> Option<Duration>,
) -> Vec<Scored> {
    let cheapest = pool
        .iter()
        .map(|m| m.blended_price())
        .fold(f64::INFINITY, f64::min);
    let mut ranked: Vec<Scored> = pool
        .iter()
        .map(|m| {
            let success_rate = rates.rate(&m.name);
            let cost_score = (cheapest + PRICE_FLOOR) / (m.blended_price() + PRICE_FLOOR);
            let score = m.quality * QUALITY_WEIGHT
                + success_rate * SUCCESS_WEIGHT
                + cost_score * COST_WEIGHT;
            Scored {
                model: m.name.clone(),
                tier: m.tier,
                quality: m.quality,
                success_rate: round3(success_rate),
                cost_score: round3(cost_score),
                score: round3(score),
                cooling_down_ms: cooling(&m.name)
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            }
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.model.cmp(&b.model)));
    ranked
}

fn requested(
    settings: &Settings,
    name: &str,
    tier: Tier,
    rates: &SuccessRates,
) -> Result<Decision, RouteError> {
    let spec = settings
        .model(name)
        .ok_or_else(|| RouteError::UnknownModel {
            name: name.to_owned(),
            known: settings
                .models
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    spec.api_key().map_err(|e| RouteError::NoKey {
        name: name.to_owned(),
        why: e.to_string(),
    })?;
    let ranked = rank(&[spec], rates, &|_| None);
    let route = Route {
        complexity: tier.as_str().into(),
        tier: spec.tier.as_str().into(),
        score: ranked.first().map_or(spec.quality, |s| s.score),
        reason: format!("model {name} was requested with --model"),
    };
    Ok(Decision {
        model: spec.clone(),
        route,
        ranked,
        wait: None,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests;
