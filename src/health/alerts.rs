//! Alerts: a gauge or component that crosses into a worse level raises one,
//! unless the same key alerted within the cooldown, so a flapping gauge does not
//! flood the log.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::Level;

/// One alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// What it is about: `cpu`, `memory`, `disk`, `database`, a provider host.
    pub key: String,
    pub level: Level,
    /// The gauge's value, when it has one (percent).
    pub value: Option<f64>,
    pub message: String,
}

struct Track {
    level: Level,
    last_alert: Option<Instant>,
}

/// Remembers each key's level and last alert.
pub struct AlertTracker {
    cooldown: Duration,
    keys: HashMap<String, Track>,
}

impl AlertTracker {
    pub fn new(cooldown: Duration) -> Self {
        Self {
            cooldown,
            keys: HashMap::new(),
        }
    }

    /// Records `key` at `level`; returns an alert if that is a crossing into a
    /// worse, non-healthy level and the key has not alerted within the cooldown.
    pub fn observe(
        &mut self,
        key: &str,
        level: Level,
        value: Option<f64>,
        message: impl FnOnce() -> String,
        now: Instant,
    ) -> Option<Alert> {
        let track = self.keys.entry(key.to_owned()).or_insert(Track {
            level: Level::Healthy,
            last_alert: None,
        });
        let crossed = level > track.level && level != Level::Healthy;
        track.level = level;
        if !crossed {
            return None;
        }
        if track
            .last_alert
            .is_some_and(|t| now.duration_since(t) < self.cooldown)
        {
            return None;
        }
        track.last_alert = Some(now);
        Some(Alert {
            key: key.to_owned(),
            level,
            value,
            message: message(),
        })
    }

    /// Keys currently not healthy.
    pub fn active(&self) -> Vec<(String, Level)> {
        let mut v: Vec<_> = self
            .keys
            .iter()
            .filter(|(_, t)| t.level != Level::Healthy)
            .map(|(k, t)| (k.clone(), t.level))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> String {
        "m".into()
    }

    #[tokio::test(start_paused = true)]
    async fn crossings_alert_once_per_cooldown() {
        let mut t = AlertTracker::new(Duration::from_secs(300));
        let now = Instant::now;
        assert!(
            t.observe("cpu", Level::Healthy, Some(10.0), msg, now())
                .is_none()
        );
        let a = t
            .observe("cpu", Level::Degraded, Some(75.0), msg, now())
            .unwrap();
        assert_eq!((a.key.as_str(), a.level), ("cpu", Level::Degraded));
        // Staying degraded is not a new crossing.
        assert!(
            t.observe("cpu", Level::Degraded, Some(76.0), msg, now())
                .is_none()
        );
        // Worse again, but within the cooldown: suppressed.
        assert!(
            t.observe("cpu", Level::Unhealthy, Some(95.0), msg, now())
                .is_none()
        );
        // Flapping within the cooldown: suppressed.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(
            t.observe("cpu", Level::Healthy, Some(5.0), msg, now())
                .is_none()
        );
        assert!(
            t.observe("cpu", Level::Unhealthy, Some(95.0), msg, now())
                .is_none()
        );
        assert_eq!(t.active(), vec![("cpu".to_owned(), Level::Unhealthy)]);
        // After the cooldown a new crossing alerts again.
        tokio::time::advance(Duration::from_secs(300)).await;
        t.observe("cpu", Level::Healthy, Some(5.0), msg, now());
        assert!(
            t.observe("cpu", Level::Unhealthy, Some(99.0), msg, now())
                .is_some()
        );
        // Keys are independent.
        assert!(
            t.observe("disk", Level::Degraded, Some(88.0), msg, now())
                .is_some()
        );
    }
}
