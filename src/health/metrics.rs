//! Service metrics from the store: task counts, spend today against the daily
//! budget, task durations, and per-model latency, error rate and the rate-limit
//! headroom providers last reported.

use crate::store::db::{Db, params};
use serde::{Deserialize, Serialize};

use crate::store::{StoreError, TaskStatus, costs, tasks};
use crate::util::time::{now_unix, start_of_utc_day};

/// Tasks by status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskCounts {
    pub queued: u64,
    pub running: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub budget_exceeded: u64,
    pub interrupted: u64,
}

/// One model over the last 24 hours.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMetrics {
    pub model: String,
    pub calls: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub avg_latency_ms: Option<f64>,
    /// Requests and tokens the provider said were left in its window, last seen.
    pub requests_remaining: Option<i64>,
    pub tokens_remaining: Option<i64>,
}

/// Everything the store says about how the service is doing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceMetrics {
    pub tasks: TaskCounts,
    pub cost_today_usd: f64,
    pub budget_usd_per_day: f64,
    /// Over the last 500 completed tasks.
    pub duration_p50_ms: Option<f64>,
    pub duration_p95_ms: Option<f64>,
    pub models: Vec<ModelMetrics>,
}

/// Reads the metrics; `daily_budget` is the configured cap.
pub fn collect(conn: &Db, daily_budget: f64) -> Result<ServiceMetrics, StoreError> {
    let mut counts = TaskCounts::default();
    for (status, n) in tasks::count_by_status(conn)? {
        let slot = match status {
            TaskStatus::Pending => &mut counts.queued,
            TaskStatus::Running => &mut counts.running,
            TaskStatus::Completed => &mut counts.completed,
            TaskStatus::Failed => &mut counts.failed,
            TaskStatus::Cancelled => &mut counts.cancelled,
            TaskStatus::BudgetExceeded => &mut counts.budget_exceeded,
            TaskStatus::Interrupted => &mut counts.interrupted,
        };
        *slot += n;
    }
    let mut durations: Vec<f64> = conn
        .prepare_cached(
            "SELECT (completed_at - started_at) * 1000.0 FROM tasks \
             WHERE status = 'completed' AND started_at IS NOT NULL AND completed_at IS NOT NULL \
             ORDER BY created_at DESC LIMIT 500",
        )?
        .query_map([], |r| r.get::<f64>(0))?
        .collect::<Result<_, _>>()?;
    durations.sort_by(f64::total_cmp);
    let since = now_unix() - 86_400.0;
    let mut models: Vec<ModelMetrics> = conn
        .prepare_cached(
            "SELECT COALESCE(model, '?'), COUNT(*), COALESCE(SUM(CASE WHEN error IS NOT NULL THEN 1 ELSE 0 END), 0), \
             AVG(CASE WHEN error IS NULL THEN latency_ms END) \
             FROM cost_tracking WHERE timestamp >= ?1 GROUP BY 1 ORDER BY 1",
        )?
        .query_map(params![since], |r| {
            let calls = u64::try_from(r.get::<i64>(1)?).unwrap_or(0);
            let errors = u64::try_from(r.get::<i64>(2)?).unwrap_or(0);
            Ok(ModelMetrics {
                model: r.get(0)?,
                calls,
                errors,
                error_rate: if calls == 0 {
                    0.0
                } else {
                    errors as f64 / calls as f64
                },
                avg_latency_ms: r.get(3)?,
                requests_remaining: None,
                tokens_remaining: None,
            })
        })?
        .collect::<Result<_, _>>()?;
    for m in &mut models {
        let row: Option<(Option<i64>, Option<i64>)> = conn
            .prepare_cached(
                "SELECT ratelimit_requests_remaining, ratelimit_tokens_remaining FROM cost_tracking \
                 WHERE model = ?1 AND (ratelimit_requests_remaining IS NOT NULL \
                 OR ratelimit_tokens_remaining IS NOT NULL) ORDER BY timestamp DESC LIMIT 1",
            )?
            .query_map(params![m.model], |r| Ok((r.get(0)?, r.get(1)?)))?
            .next()
            .transpose()?;
        if let Some((req, tok)) = row {
            m.requests_remaining = req;
            m.tokens_remaining = tok;
        }
    }
    Ok(ServiceMetrics {
        tasks: counts,
        cost_today_usd: costs::spent_since(conn, start_of_utc_day(now_unix()))?,
        budget_usd_per_day: daily_budget,
        duration_p50_ms: percentile(&durations, 0.50),
        duration_p95_ms: percentile(&durations, 0.95),
        models,
    })
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.95), Some(95.0));
        assert_eq!(percentile(&[7.0], 0.95), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
