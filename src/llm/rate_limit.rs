//! Client-side rate limits per provider: a requests bucket and a tokens bucket for each key (a
//! provider, e.g. its base URL), shared by every worker so that workers wait their turn here
//! instead of collecting HTTP 429s from the provider.
//!
//! This module owns only the accounting and the waiting. It does not know the limits (callers
//! pass them from config on every call, so a config change applies at once), does not learn a
//! reply's real token count, and does not retry: `pause_until` is how retry code reports that
//! a provider pushed back anyway.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// A provider's limits. `None` (and `Some(0)`, which would otherwise stall every worker
/// forever) means no limit.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Limits {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
}

/// How many processes share the providers' limits: the live workers on the shared store
/// (`az-os worker` sets it at each heartbeat); 1 everywhere else. Each process keeps
/// to its share of every limit, so together they stay within it.
static SHARE: AtomicU32 = AtomicU32::new(1);

/// Sets how many processes share the limits (at least 1).
pub fn set_share(processes: u32) {
    SHARE.store(processes.max(1), Ordering::Relaxed);
}

/// How many processes share the limits now.
pub fn share() -> u32 {
    SHARE.load(Ordering::Relaxed).max(1)
}

impl Limits {
    /// This process's part of the limits when `processes` share them (rounded up, so a
    /// limit never becomes 0, which would mean none).
    #[must_use]
    pub fn part(self, processes: u32) -> Self {
        let n = processes.max(1);
        let part = |l: Option<u32>| l.map(|v| v.div_ceil(n).max(1));
        Self {
            requests_per_minute: part(self.requests_per_minute)
                .filter(|_| self.requests_per_minute != Some(0)),
            tokens_per_minute: part(self.tokens_per_minute)
                .filter(|_| self.tokens_per_minute != Some(0)),
        }
    }
}

/// Token buckets per key. Clones share the same buckets.
#[derive(Clone, Default)]
pub struct RateLimiter {
    keys: Arc<Mutex<HashMap<String, Buckets>>>,
}

/// What one key has spent. A bucket exists only while its limit does.
#[derive(Default)]
struct Buckets {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    paused_until: Option<Instant>,
}

/// A bucket whose capacity is the per-minute limit and which refills at limit/60 per second.
/// `at` may lie in the future: it is when the last reservation starts, and `level` is what is
/// left then (negative after an oversized request, so later callers pay for it).
struct Bucket {
    level: f64,
    at: Instant,
}

/// Stands in for "never" when a wait would overflow `Instant`.
const FAR_FUTURE: Duration = Duration::from_secs(365 * 24 * 3600);

impl RateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until `key` (a provider, e.g. its base_url) may send one request of about
    /// `tokens` tokens under `limits`, then takes them. Returns how long it waited.
    ///
    /// Dropping the future while it waits keeps the reservation: the budget counts as spent,
    /// which errs on the side of fewer 429s.
    pub async fn acquire(&self, key: &str, limits: Limits, tokens: u64) -> Duration {
        let limits = limits.part(share());
        let asked_at = Instant::now();
        let mut ready = self.reserve_at(key, limits, tokens, asked_at);
        // A pause that arrived while we slept applies to us too: we have not sent yet.
        while ready > Instant::now() {
            tokio::time::sleep_until(ready).await;
            match self.paused_past(key, ready) {
                Some(until) => ready = until,
                None => break,
            }
        }
        ready.saturating_duration_since(asked_at)
    }

    /// A provider said to slow down (429 / Retry-After): nobody sends to `key` before `until`.
    pub fn pause_until(&self, key: &str, until: Instant) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let buckets = keys.entry(key.to_owned()).or_default();
        // A shorter Retry-After arriving later must not cut an earlier, longer one short.
        buckets.paused_until = Some(buckets.paused_until.map_or(until, |p| p.max(until)));
    }

    /// Takes the budget for one request asked for at `now` and returns when it may be sent.
    /// The whole decision happens under the lock, so concurrent callers queue up one after
    /// another instead of all waking when the bucket refills.
    fn reserve_at(&self, key: &str, limits: Limits, tokens: u64, now: Instant) -> Instant {
        let rpm = limits.requests_per_minute.filter(|&n| n > 0);
        let tpm = limits.tokens_per_minute.filter(|&n| n > 0);
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if !keys.contains_key(key) {
            // No entry and no limits: nothing was ever paused or spent, so no allocation.
            if rpm.is_none() && tpm.is_none() {
                return now;
            }
            keys.insert(key.to_owned(), Buckets::default());
        }
        let Some(buckets) = keys.get_mut(key) else {
            return now;
        };

        let mut start = now;
        match buckets.paused_until {
            Some(until) if until > now => start = until,
            Some(_) => buckets.paused_until = None,
            None => {}
        }
        let mut slots = [
            (&mut buckets.requests, rpm, 1.0),
            (&mut buckets.tokens, tpm, tokens as f64),
        ];
        for (slot, limit, cost) in &mut slots {
            match limit {
                None => **slot = None,
                Some(limit) => {
                    let capacity = f64::from(*limit);
                    let bucket = slot.get_or_insert_with(|| Bucket::fresh(*cost, capacity, now));
                    start = start.max(bucket.ready_at(now, capacity, *cost));
                }
            }
        }
        // Both buckets are charged at the same instant, the later of their ready times.
        for (slot, limit, cost) in slots {
            if let (Some(bucket), Some(limit)) = (slot.as_mut(), limit) {
                bucket.take(start, f64::from(limit), cost);
            }
        }
        start
    }

    /// The pause on `key` if it ends after `ready`.
    fn paused_past(&self, key: &str, ready: Instant) -> Option<Instant> {
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.get(key)?.paused_until.filter(|&until| until > ready)
    }
}

impl Bucket {
    /// A key seen for the first time may send this one request at once but gets no burst: we
    /// do not know what it already spent in the provider's window (an earlier run, another
    /// process), and providers may enforce a per-minute limit per second.
    fn fresh(cost: f64, capacity: f64, now: Instant) -> Self {
        Self {
            level: cost.min(capacity),
            at: now,
        }
    }

    /// The level at `t`, refilled since `at` and capped at capacity.
    fn level_at(&self, t: Instant, capacity: f64) -> f64 {
        let refill = capacity / 60.0 * t.saturating_duration_since(self.at).as_secs_f64();
        (self.level + refill).min(capacity)
    }

    /// When a request of `cost` asked for at `now` can go. A request bigger than the whole
    /// bucket waits for a full bucket rather than for a level it can never reach.
    fn ready_at(&self, now: Instant, capacity: f64, cost: f64) -> Instant {
        let base = now.max(self.at);
        let deficit = cost.min(capacity) - self.level_at(base, capacity);
        if deficit <= 0.0 {
            return base;
        }
        let secs = deficit / (capacity / 60.0);
        Duration::try_from_secs_f64(secs)
            .ok()
            .and_then(|wait| base.checked_add(wait))
            .or_else(|| base.checked_add(FAR_FUTURE))
            .unwrap_or(base)
    }

    /// Spends `cost` at `start`, which is never before `at`.
    fn take(&mut self, start: Instant, capacity: f64, cost: f64) {
        self.level = self.level_at(start, capacity) - cost;
        self.at = start;
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn workers_sharing_a_limit_each_keep_to_their_part() {
        let l = Limits {
            requests_per_minute: Some(100),
            tokens_per_minute: Some(0),
        };
        let third = l.part(3);
        assert_eq!(third.requests_per_minute, Some(34));
        assert_eq!(third.tokens_per_minute, None, "0 stays no limit");
        assert_eq!(l.part(1000).requests_per_minute, Some(1), "never 0");
        assert_eq!(l.part(0), l.part(1));
        assert_eq!(Limits::default().part(4), Limits::default());
    }

    use super::*;

    const RPM_60: Limits = Limits {
        requests_per_minute: Some(60),
        tokens_per_minute: None,
    };

    fn tpm(n: u32) -> Limits {
        Limits {
            requests_per_minute: None,
            tokens_per_minute: Some(n),
        }
    }

    /// Virtual seconds since `t0`.
    fn since(t0: Instant) -> f64 {
        t0.elapsed().as_secs_f64()
    }

    /// The timer rounds deadlines up to the next millisecond.
    fn assert_near(got: f64, want: f64) {
        assert!((got - want).abs() < 2e-3, "got {got}s, want {want}s");
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_never_waits() {
        let limiter = RateLimiter::new();
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert_eq!(
                limiter.acquire("p", Limits::default(), 1_000_000).await,
                Duration::ZERO
            );
        }
        let zero = Limits {
            requests_per_minute: Some(0),
            tokens_per_minute: Some(0),
        };
        assert_eq!(limiter.acquire("p", zero, 1).await, Duration::ZERO);
        assert_eq!(Instant::now(), t0);
        // The fast path keeps no state for unlimited keys.
        assert!(limiter.keys.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn sixty_rpm_spaces_five_concurrent_acquires_a_second_apart() {
        let limiter = RateLimiter::new();
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    limiter.acquire("p", RPM_60, 1).await;
                    since(t0)
                })
            })
            .collect();
        let mut done = Vec::new();
        for task in tasks {
            done.push(task.await.unwrap());
        }
        done.sort_by(f64::total_cmp);
        for (i, at) in done.into_iter().enumerate() {
            assert_near(at, i as f64);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_per_minute_spaces_by_size() {
        let limiter = RateLimiter::new();
        let t0 = Instant::now();
        // 100 tokens a second: 200-token requests go every 2 s, a 50-token one half a second on.
        for want in [0.0, 2.0, 4.0] {
            limiter.acquire("p", tpm(6000), 200).await;
            assert_near(since(t0), want);
        }
        let waited = limiter.acquire("p", tpm(6000), 50).await;
        assert_near(waited.as_secs_f64(), 0.5);
        assert_near(since(t0), 4.5);
    }

    #[tokio::test(start_paused = true)]
    async fn request_larger_than_capacity_still_proceeds() {
        let limiter = RateLimiter::new();
        // A fresh bucket lets the first request through, however big.
        assert_eq!(limiter.acquire("p", tpm(1000), 5000).await, Duration::ZERO);
        // The 4000 tokens overdrawn are paid back before the next one: 4100 at 1000 a minute.
        assert_near(
            limiter.acquire("p", tpm(1000), 100).await.as_secs_f64(),
            246.0,
        );
        // Once the bucket is empty, an oversized request waits for a full bucket, no more.
        assert_near(
            limiter.acquire("p", tpm(1000), 5000).await.as_secs_f64(),
            60.0,
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_bucket_refills_to_capacity_and_no_further() {
        let limiter = RateLimiter::new();
        let limits = Limits {
            requests_per_minute: Some(3),
            tokens_per_minute: None,
        };
        limiter.acquire("p", limits, 1).await;
        tokio::time::advance(Duration::from_secs(3600)).await;
        let t1 = Instant::now();
        for _ in 0..3 {
            limiter.acquire("p", limits, 1).await;
        }
        assert_eq!(
            Instant::now(),
            t1,
            "a full bucket allows a burst of its capacity"
        );
        limiter.acquire("p", limits, 1).await;
        assert_near(since(t1), 20.0);
    }

    #[tokio::test(start_paused = true)]
    async fn both_limits_apply_and_the_slower_decides() {
        let limiter = RateLimiter::new();
        let limits = Limits {
            requests_per_minute: Some(60),
            tokens_per_minute: Some(600),
        };
        assert_eq!(limiter.acquire("p", limits, 30).await, Duration::ZERO);
        // Requests allow 1 s; 30 tokens at 10 a second take 3 s.
        assert_near(limiter.acquire("p", limits, 30).await.as_secs_f64(), 3.0);
    }

    #[tokio::test(start_paused = true)]
    async fn pause_until_delays_the_next_acquire_and_is_not_shortened() {
        let limiter = RateLimiter::new();
        let t0 = Instant::now();
        limiter.pause_until("p", t0 + Duration::from_secs(10));
        limiter.pause_until("p", t0 + Duration::from_secs(5));
        // Pauses apply to unlimited keys too.
        limiter.acquire("p", Limits::default(), 1).await;
        assert_near(since(t0), 10.0);
        limiter.acquire("p", RPM_60, 1).await;
        assert_near(since(t0), 10.0);
    }

    #[tokio::test(start_paused = true)]
    async fn pause_arriving_while_waiting_holds_the_waiter() {
        let limiter = RateLimiter::new();
        let t0 = Instant::now();
        limiter.acquire("p", RPM_60, 1).await;
        let sleeper = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire("p", RPM_60, 1).await }
        });
        // Let it reserve its slot at 1 s and go to sleep before the provider pushes back.
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_millis(500)).await;
        limiter.pause_until("p", t0 + Duration::from_secs(10));
        let waited = sleeper.await.unwrap();
        assert_near(since(t0), 10.0);
        assert_near(waited.as_secs_f64(), 10.0);
    }

    #[tokio::test(start_paused = true)]
    async fn separate_keys_do_not_affect_each_other() {
        let limiter = RateLimiter::new();
        let t0 = Instant::now();
        limiter.acquire("a", RPM_60, 1).await;
        limiter.pause_until("a", t0 + Duration::from_secs(30));
        assert_eq!(limiter.acquire("b", RPM_60, 1).await, Duration::ZERO);
        assert_near(limiter.acquire("b", RPM_60, 1).await.as_secs_f64(), 1.0);
        assert_near(since(t0), 1.0);
    }
}
