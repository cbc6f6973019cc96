//! Picks the model for a task. This first router estimates complexity from the
//! task's size (the design's thresholds: under 100 tokens simple, up to 500
//! medium, above complex) and takes the cheapest model with a key whose tier is
//! at least that complex; `--model` skips it.

use crate::config::{ModelSpec, Settings, Tier};

use super::protocol::Route;

/// Why no model could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no model named {name:?}; configured models: {known}")]
    UnknownModel { name: String, known: String },
    #[error("model {name:?} has no API key: {why}")]
    NoKey { name: String, why: String },
    #[error("no model is usable: none has an API key")]
    NoModel,
}

/// The complexity tier of a task description.
pub fn complexity(description: &str) -> (Tier, u64) {
    let tokens = (description.len() as u64).div_ceil(4);
    let tier = match tokens {
        0..100 => Tier::Simple,
        100..=500 => Tier::Medium,
        _ => Tier::Complex,
    };
    (tier, tokens)
}

/// Chooses a model for `description`, or the one the user named.
pub fn choose(
    settings: &Settings,
    description: &str,
    requested: Option<&str>,
) -> Result<(ModelSpec, Route), RouteError> {
    let (tier, tokens) = complexity(description);
    if let Some(name) = requested {
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
        let route = Route {
            complexity: tier.as_str().into(),
            tier: spec.tier.as_str().into(),
            score: spec.quality,
            reason: format!("model {name} was requested with --model"),
        };
        return Ok((spec.clone(), route));
    }
    let usable: Vec<&ModelSpec> = settings.usable_models().collect();
    if usable.is_empty() {
        return Err(RouteError::NoModel);
    }
    let price = |m: &ModelSpec| m.input_usd_per_mtok + m.output_usd_per_mtok;
    let fits: Vec<&ModelSpec> = usable.iter().copied().filter(|m| m.tier >= tier).collect();
    let (pool, note) = if fits.is_empty() {
        (
            usable,
            format!("no usable model is rated {} or above; ", tier.as_str()),
        )
    } else {
        (fits, String::new())
    };
    let best = pool
        .into_iter()
        .min_by(|a, b| {
            price(a)
                .total_cmp(&price(b))
                .then(a.tier.cmp(&b.tier))
                .then(b.quality.total_cmp(&a.quality))
        })
        .ok_or(RouteError::NoModel)?;
    let route = Route {
        complexity: tier.as_str().into(),
        tier: best.tier.as_str().into(),
        score: best.quality,
        reason: format!(
            "{note}{} task (~{tokens} tokens): {} is the cheapest usable model rated {}",
            tier.as_str(),
            best.name,
            best.tier.as_str()
        ),
    };
    Ok((best.clone(), route))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complexity_follows_the_design_thresholds() {
        assert_eq!(complexity("count lines").0, Tier::Simple);
        assert_eq!(complexity(&"x".repeat(1000)).0, Tier::Medium);
        assert_eq!(complexity(&"x".repeat(4000)).0, Tier::Complex);
    }
}
