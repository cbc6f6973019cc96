//! Health levels and threshold classification.

use serde::{Deserialize, Serialize};

/// How well something is doing; ordered from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Healthy,
    Degraded,
    Unhealthy,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }

    /// Exit code of `az-os health`: 0 healthy, 1 degraded, 2 unhealthy.
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Healthy => 0,
            Self::Degraded => 1,
            Self::Unhealthy => 2,
        }
    }
}

/// A gauge's limits in percent: above `degraded` it is degraded, above
/// `unhealthy` unhealthy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub degraded: f64,
    pub unhealthy: f64,
}

impl Thresholds {
    pub fn classify(self, value: f64) -> Level {
        if value > self.unhealthy {
            Level::Unhealthy
        } else if value > self.degraded {
            Level::Degraded
        } else {
            Level::Healthy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_design_thresholds() {
        let cpu = Thresholds {
            degraded: 70.0,
            unhealthy: 90.0,
        };
        let table = [
            (0.0, Level::Healthy),
            (70.0, Level::Healthy),
            (70.1, Level::Degraded),
            (90.0, Level::Degraded),
            (90.5, Level::Unhealthy),
            (100.0, Level::Unhealthy),
        ];
        for (v, want) in table {
            assert_eq!(cpu.classify(v), want, "{v}");
        }
        assert!(Level::Unhealthy > Level::Degraded);
        assert_eq!(Level::Degraded.exit_code(), 1);
    }
}
