//! The `provider_checks` table: the last check of each provider endpoint, reused
//! for `health.provider_cache_s` so health checks do not hammer providers.

use crate::store::db::{Db, OptionalExtension, params};

use super::StoreError;
use crate::util::time::now_unix;

/// A cached check: level, latency, detail and when it was made.
pub type Cached = (String, Option<f64>, String, f64);

pub fn save(
    conn: &Db,
    provider: &str,
    level: &str,
    latency_ms: Option<f64>,
    detail: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO provider_checks (provider, level, latency_ms, detail, checked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(provider) DO UPDATE SET level = excluded.level, \
         latency_ms = excluded.latency_ms, detail = excluded.detail, checked_at = excluded.checked_at",
    )?
    .execute(params![provider, level, latency_ms, detail, now_unix()])?;
    Ok(())
}

/// The last check of `provider` if it is younger than `max_age_s`.
pub fn fresh(conn: &Db, provider: &str, max_age_s: f64) -> Result<Option<Cached>, StoreError> {
    conn.prepare_cached(
        "SELECT level, latency_ms, detail, checked_at FROM provider_checks \
             WHERE provider = ?1 AND checked_at >= ?2",
    )?
    .query_row(params![provider, now_unix() - max_age_s], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .optional()
}
