//! When to try a failed request again, and after how long: 1 s, 2 s, 4 s … with ±20%
//! jitter (so parallel tasks do not retry in step), capped at `defaults.retry_max_delay_s`,
//! for `defaults.retry_attempts` attempts; a provider's `Retry-After` replaces the backoff.
//!
//! This is only the policy. It does not sleep, record, or choose another model: the caller
//! does, on the answer given here.

use std::time::Duration;

use crate::config::Defaults;
use crate::llm::LlmError;

/// Attempts and the longest wait.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per model request, the first included.
    pub attempts: u32,
    pub max_delay: Duration,
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Next {
    /// Try the same model again after this long.
    Retry(Duration),
    /// Stop using this model for the task.
    GiveUp(GiveUp),
}

/// Why a model is given up on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GiveUp {
    /// A transient failure persisted through every attempt.
    Exhausted,
    /// Retrying cannot help (key refused, model unknown, request rejected, reply unreadable).
    NotRetryable,
    /// The provider asked for a pause longer than we wait (`retry_max_delay_s`).
    WaitTooLong(Duration),
}

impl RetryPolicy {
    pub fn from_defaults(d: &Defaults) -> Self {
        Self {
            attempts: d.retry_attempts.max(1),
            max_delay: Duration::try_from_secs_f64(d.retry_max_delay_s).unwrap_or(Duration::ZERO),
        }
    }

    /// The answer to `err` on attempt `attempt` (counting from 1). `jitter` is in -1..1 and
    /// scales the backoff by ±20% of its value.
    pub fn next(&self, err: &LlmError, attempt: u32, jitter: f64) -> Next {
        if !err.retryable() {
            return Next::GiveUp(GiveUp::NotRetryable);
        }
        if let Some(wait) = err.retry_after
            && wait > self.max_delay
        {
            return Next::GiveUp(GiveUp::WaitTooLong(wait));
        }
        if attempt >= self.attempts {
            return Next::GiveUp(GiveUp::Exhausted);
        }
        let delay = err
            .retry_after
            .unwrap_or_else(|| backoff(attempt, jitter).min(self.max_delay));
        Next::Retry(delay)
    }
}

/// 1 s · 2^(attempt-1), scaled by 1 ± 0.2·jitter.
fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = 1000u64.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    Duration::from_millis((base as f64 * (1.0 + 0.2 * jitter.clamp(-1.0, 1.0))) as u64)
}

/// A random jitter in -1..1 (0 if the system has no randomness to give).
pub fn jitter() -> f64 {
    let mut b = [0u8; 2];
    if getrandom::fill(&mut b).is_ok() {
        f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX) * 2.0 - 1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ErrorCategory;

    fn policy(attempts: u32, max_s: u64) -> RetryPolicy {
        RetryPolicy {
            attempts,
            max_delay: Duration::from_secs(max_s),
        }
    }

    fn err(category: ErrorCategory, retry_after: Option<u64>) -> LlmError {
        LlmError {
            retry_after: retry_after.map(Duration::from_secs),
            ..LlmError::new(category, "x")
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let p = policy(10, 60);
        let server = err(ErrorCategory::Server, None);
        let delays: Vec<Next> = (1..=8).map(|a| p.next(&server, a, 0.0)).collect();
        let want: Vec<Next> = [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]
            .map(|d| Next::Retry(ms(d)))
            .to_vec();
        assert_eq!(delays, want);
        assert_eq!(p.next(&server, 1, 1.0), Next::Retry(ms(1200)));
        assert_eq!(p.next(&server, 2, -1.0), Next::Retry(ms(1600)));
        for _ in 0..100 {
            let j = jitter();
            assert!((-1.0..=1.0).contains(&j), "{j}");
        }
    }

    #[test]
    fn attempts_end_with_exhausted() {
        let p = policy(3, 60);
        let e = err(ErrorCategory::Timeout, None);
        assert!(matches!(p.next(&e, 2, 0.0), Next::Retry(_)));
        assert_eq!(p.next(&e, 3, 0.0), Next::GiveUp(GiveUp::Exhausted));
        assert_eq!(
            policy(1, 60).next(&e, 1, 0.0),
            Next::GiveUp(GiveUp::Exhausted),
            "one attempt means no retries"
        );
    }

    #[test]
    fn retry_after_replaces_the_backoff_unless_too_long() {
        let p = policy(3, 60);
        let limited = err(ErrorCategory::RateLimit, Some(7));
        assert_eq!(p.next(&limited, 1, 1.0), Next::Retry(ms(7000)), "no jitter");
        let zero = err(ErrorCategory::RateLimit, Some(0));
        assert_eq!(p.next(&zero, 1, 0.0), Next::Retry(Duration::ZERO));
        let long = err(ErrorCategory::RateLimit, Some(120));
        assert_eq!(
            p.next(&long, 1, 0.0),
            Next::GiveUp(GiveUp::WaitTooLong(Duration::from_secs(120)))
        );
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        let p = policy(3, 60);
        for c in [
            ErrorCategory::Auth,
            ErrorCategory::NotFound,
            ErrorCategory::Validation,
            ErrorCategory::Malformed,
        ] {
            assert_eq!(
                p.next(&err(c, Some(1)), 1, 0.0),
                Next::GiveUp(GiveUp::NotRetryable),
                "{c:?}"
            );
        }
    }

    #[test]
    fn policy_comes_from_the_defaults() {
        let d = Defaults {
            retry_attempts: 5,
            retry_max_delay_s: 0.25,
            ..Defaults::default()
        };
        assert_eq!(
            RetryPolicy::from_defaults(&d),
            RetryPolicy {
                attempts: 5,
                max_delay: ms(250)
            }
        );
    }
}
