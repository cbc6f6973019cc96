//! `[health]` in `config.toml`: gauge thresholds, sampling and check intervals,
//! and the alert cooldown.

use serde::{Deserialize, Serialize};

use crate::health::Thresholds;

/// Settings of the health sampler, checks and alerts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// CPU percent: `{ degraded = 70, unhealthy = 90 }`.
    pub cpu: Thresholds,
    /// Memory percent.
    pub memory: Thresholds,
    /// Percent used of the filesystem holding the home.
    pub disk: Thresholds,
    /// How often the dashboard's sampler measures the machine.
    pub sample_interval_ms: u64,
    /// Longest wait for a provider's models endpoint.
    pub provider_timeout_ms: u64,
    /// A provider answering slower than this is degraded.
    pub provider_slow_ms: u64,
    /// How long a provider check result is reused.
    pub provider_cache_s: u64,
    /// Least time between two alerts about the same thing.
    pub alert_cooldown_s: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            cpu: Thresholds {
                degraded: 70.0,
                unhealthy: 90.0,
            },
            memory: Thresholds {
                degraded: 75.0,
                unhealthy: 90.0,
            },
            disk: Thresholds {
                degraded: 85.0,
                unhealthy: 95.0,
            },
            sample_interval_ms: 1000,
            provider_timeout_ms: 2000,
            provider_slow_ms: 1000,
            provider_cache_s: 60,
            alert_cooldown_s: 300,
        }
    }
}

impl HealthConfig {
    /// The first invalid setting as (key, problem, fix).
    pub fn invalid(&self) -> Option<(String, String, &'static str)> {
        for (name, t) in [
            ("cpu", self.cpu),
            ("memory", self.memory),
            ("disk", self.disk),
        ] {
            let ok = (0.0..=100.0).contains(&t.degraded)
                && (0.0..=100.0).contains(&t.unhealthy)
                && t.degraded <= t.unhealthy;
            if !ok {
                return Some((
                    format!("health.{name}"),
                    format!(
                        "degraded = {}, unhealthy = {} is not a valid pair",
                        t.degraded, t.unhealthy
                    ),
                    "use percentages from 0 to 100 with degraded <= unhealthy",
                ));
            }
        }
        for (key, v, lo, hi) in [
            (
                "health.sample_interval_ms",
                self.sample_interval_ms,
                100,
                60_000,
            ),
            (
                "health.provider_timeout_ms",
                self.provider_timeout_ms,
                50,
                60_000,
            ),
            ("health.provider_slow_ms", self.provider_slow_ms, 1, 60_000),
            ("health.provider_cache_s", self.provider_cache_s, 0, 86_400),
            ("health.alert_cooldown_s", self.alert_cooldown_s, 0, 86_400),
        ] {
            if !(lo..=hi).contains(&v) {
                return Some((
                    key.into(),
                    format!("{v} is out of range"),
                    "see `az-os config init` for sensible values",
                ));
            }
        }
        None
    }
}
