//! Circuit breakers per model: when a model keeps failing (rate limited, server errors,
//! timeouts, overloaded) after its own retries, the router skips it for a cooldown instead of
//! sending every task into the same wall.
//!
//! This module owns only the bookkeeping: failure counts, cooldowns and when they end. It does
//! not decide which errors count (callers record only the transient categories, never a bad
//! request or a missing key), does not retry, and does not pick the fallback model; the router
//! asks [`Breakers::open_for`] and moves on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// How quickly breakers open and how long they stay open.
#[derive(Clone, Debug)]
pub struct BreakerConfig {
    /// Consecutive failures that open a closed breaker (0 is read as 1).
    pub failure_threshold: u32,
    /// The cooldown of a first opening.
    pub base_cooldown: Duration,
    /// The most that doubling may reach. A provider's longer Retry-After still wins: it knows
    /// better than we do when its quota comes back.
    pub max_cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            base_cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(300),
        }
    }
}

/// The breakers of every model, shared by all workers. Clones share state.
#[derive(Clone, Default)]
pub struct Breakers {
    states: Arc<Mutex<HashMap<String, State>>>,
    config: BreakerConfig,
}

/// One model's breaker. A model with no entry is closed with a clean record; success removes
/// the entry, so the map holds only models that failed lately.
///
/// Closed while `open_until` is `None`, open while it lies ahead, half-open once it has passed.
#[derive(Clone, Copy, Debug)]
struct State {
    failures: u32,
    /// The breaker's own cooldown for its next opening, before any Retry-After.
    cooldown: Duration,
    open_until: Option<Instant>,
}

impl Breakers {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            states: Arc::default(),
            config,
        }
    }

    /// One failed request of `model`. `retry_after` from the provider, if it said.
    pub fn record_failure(&self, model: &str, retry_after: Option<Duration>) {
        self.fail(model, retry_after, false);
    }

    /// The model's retries are exhausted for a task: open now, whatever the count.
    pub fn trip(&self, model: &str, retry_after: Option<Duration>) {
        self.fail(model, retry_after, true);
    }

    /// A request of `model` succeeded: close its breaker and forget its failures.
    pub fn record_success(&self, model: &str) {
        self.lock().remove(model);
    }

    /// None when usable; Some(remaining) while open. After the cooldown the breaker is
    /// half-open: the model is usable again, one more failure re-opens it with a doubled
    /// cooldown (capped at max_cooldown), a success closes it and resets the cooldown.
    pub fn open_for(&self, model: &str) -> Option<Duration> {
        let now = Instant::now();
        self.lock()
            .get(model)
            .and_then(|state| state.remaining(now))
    }

    /// Snapshot for display: (model, remaining cooldown) of every open breaker, by name.
    pub fn open_models(&self) -> Vec<(String, Duration)> {
        let now = Instant::now();
        let mut open: Vec<(String, Duration)> = self
            .lock()
            .iter()
            .filter_map(|(model, state)| Some((model.clone(), state.remaining(now)?)))
            .collect();
        open.sort();
        open
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        // Every update below leaves a consistent state, so a panic elsewhere while the lock
        // was held poisons nothing we care about.
        self.states.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail(&self, model: &str, retry_after: Option<Duration>, trip: bool) {
        let now = Instant::now();
        let config = &self.config;
        let mut states = self.lock();
        let state = states.entry(model.to_owned()).or_insert_with(|| State {
            failures: 0,
            cooldown: config.base_cooldown.min(config.max_cooldown),
            open_until: None,
        });
        match state.open_until {
            // Already open: this is a request sent before it opened. It teaches us nothing new
            // about the model, except perhaps a longer Retry-After.
            Some(until) if until > now => {
                if let Some(wait) = retry_after {
                    state.open_until = Some(until.max(later(now, wait)));
                }
            }
            // Half-open: the model was given another chance and failed it.
            Some(_) => {
                state.cooldown = state.cooldown.saturating_mul(2).min(config.max_cooldown);
                state.open(now, retry_after);
            }
            None => {
                state.failures = state.failures.saturating_add(1);
                if trip || state.failures >= config.failure_threshold.max(1) {
                    state.open(now, retry_after);
                }
            }
        }
    }
}

impl State {
    fn open(&mut self, now: Instant, retry_after: Option<Duration>) {
        let cooldown = self.cooldown.max(retry_after.unwrap_or_default());
        self.open_until = Some(later(now, cooldown));
    }

    fn remaining(&self, now: Instant) -> Option<Duration> {
        self.open_until
            .filter(|&until| until > now)
            .map(|until| until - now)
    }
}

/// `now + wait`, with an absurd Retry-After read as "a year" rather than an overflow panic.
fn later(now: Instant, wait: Duration) -> Instant {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    now.checked_add(wait.min(YEAR)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use tokio::time::advance;

    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test(start_paused = true)]
    async fn threshold_of_failures_opens_it() {
        let b = Breakers::default();
        b.record_failure("m", None);
        b.record_failure("m", None);
        assert_eq!(b.open_for("m"), None);
        b.record_failure("m", None);
        assert_eq!(b.open_for("m"), Some(secs(30)));
        advance(secs(10)).await;
        assert_eq!(b.open_for("m"), Some(secs(20)));
        advance(secs(20)).await;
        assert_eq!(b.open_for("m"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_the_count() {
        let b = Breakers::default();
        b.record_failure("m", None);
        b.record_failure("m", None);
        b.record_success("m");
        b.record_failure("m", None);
        b.record_failure("m", None);
        assert_eq!(b.open_for("m"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_longer_than_base_is_honoured() {
        let b = Breakers::default();
        b.trip("long", Some(secs(120)));
        assert_eq!(b.open_for("long"), Some(secs(120)));
        // A Retry-After shorter than the cooldown does not shorten it.
        b.trip("short", Some(secs(5)));
        assert_eq!(b.open_for("short"), Some(secs(30)));
        // Even past max_cooldown: the provider knows when its quota comes back.
        b.trip("quota", Some(secs(900)));
        assert_eq!(b.open_for("quota"), Some(secs(900)));
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_failure_reopens_with_doubled_cooldown_and_success_resets() {
        let b = Breakers::default();
        b.trip("m", None);
        advance(secs(30)).await;
        assert_eq!(b.open_for("m"), None, "half-open is usable");
        b.record_failure("m", None);
        assert_eq!(b.open_for("m"), Some(secs(60)));
        advance(secs(60)).await;
        b.record_failure("m", None);
        assert_eq!(b.open_for("m"), Some(secs(120)));
        advance(secs(120)).await;
        b.record_success("m");
        b.trip("m", None);
        assert_eq!(b.open_for("m"), Some(secs(30)));
    }

    #[tokio::test(start_paused = true)]
    async fn doubling_is_capped_at_max_cooldown() {
        let b = Breakers::default();
        b.trip("m", None);
        for _ in 0..10 {
            advance(b.open_for("m").unwrap_or_default()).await;
            b.record_failure("m", None);
        }
        assert_eq!(b.open_for("m"), Some(secs(300)));
    }

    #[tokio::test(start_paused = true)]
    async fn trip_opens_immediately_and_late_failures_do_not_double() {
        let b = Breakers::default();
        b.trip("m", None);
        assert_eq!(b.open_for("m"), Some(secs(30)));
        // Requests sent before it opened fail while it is open: no doubling, no extension...
        advance(secs(1)).await;
        b.record_failure("m", None);
        b.trip("m", None);
        assert_eq!(b.open_for("m"), Some(secs(29)));
        // ...unless the provider asks for longer.
        b.record_failure("m", Some(secs(100)));
        assert_eq!(b.open_for("m"), Some(secs(100)));
    }

    #[tokio::test(start_paused = true)]
    async fn models_are_independent_and_listed_by_name() {
        let b = Breakers::new(BreakerConfig {
            failure_threshold: 2,
            ..BreakerConfig::default()
        });
        b.trip("zeta", None);
        b.trip("alpha", Some(secs(60)));
        b.record_failure("mid", None);
        assert_eq!(b.open_for("mid"), None);
        assert_eq!(b.open_for("other"), None);
        advance(secs(10)).await;
        let want = vec![
            ("alpha".to_owned(), secs(50)),
            ("zeta".to_owned(), secs(20)),
        ];
        assert_eq!(b.open_models(), want);
        advance(secs(50)).await;
        assert_eq!(b.open_models(), vec![]);
    }
}
