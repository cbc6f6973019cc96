//! Which lessons are stale, by `[memory]`'s policy: old and never recalled lately, or
//! scored low once they had a week to prove themselves. `cleanup --dry-run` prints the
//! same list without removing anything.

use crate::store::Db;

use crate::config::MemoryConfig;
use crate::store::StoreError;
use crate::store::memories::{self, Memory};

const DAY: f64 = 86_400.0;

/// Why a lesson goes, or `None` when it stays.
pub fn verdict(m: &Memory, cfg: &MemoryConfig, now: f64) -> Option<String> {
    let age_days = (now - m.created_at) / DAY;
    let last_use = m.last_access.unwrap_or(m.created_at);
    let idle_days = (now - last_use) / DAY;
    if age_days > f64::from(cfg.max_age_days) && idle_days > f64::from(cfg.unused_days) {
        return Some(format!(
            "{age_days:.0} days old, not recalled for {idle_days:.0} days"
        ));
    }
    if m.score < cfg.min_score && age_days > 7.0 && m.access_count == 0 {
        return Some(format!(
            "scored {:.1} (below {:.1}) and never recalled",
            m.score, cfg.min_score
        ));
    }
    None
}

/// The stale lessons with why; removed unless `dry_run`.
pub fn run(
    conn: &Db,
    cfg: &MemoryConfig,
    now: f64,
    dry_run: bool,
) -> Result<Vec<(Memory, String)>, StoreError> {
    let stale: Vec<(Memory, String)> = memories::all(conn)?
        .into_iter()
        .filter_map(|m| verdict(&m, cfg, now).map(|why| (m, why)))
        .collect();
    if !dry_run {
        for (m, _) in &stale {
            memories::delete(conn, &m.id)?;
        }
    }
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (age days, days since last recall or None, score, recalls) → goes?
    #[test]
    fn the_policy_table() {
        let cfg = MemoryConfig::default(); // 180 days, 60 unused, min score 2
        let now = 1_000.0 * DAY;
        let cases: &[(f64, Option<f64>, f64, u64, bool)] = &[
            (10.0, None, 5.0, 0, false),        // young
            (200.0, None, 5.0, 0, true),        // old, never recalled
            (200.0, Some(30.0), 5.0, 3, false), // old but recalled last month
            (200.0, Some(90.0), 5.0, 3, true),  // old, recalled long ago
            (30.0, None, 1.0, 0, true),         // low score, a month old, never used
            (3.0, None, 1.0, 0, false),         // low score but new: give it a week
            (30.0, Some(1.0), 1.0, 2, false),   // low score but recalled
        ];
        for &(age, since, score, count, goes) in cases {
            let m = Memory {
                created_at: now - age * DAY,
                last_access: since.map(|d| now - d * DAY),
                score,
                access_count: count,
                ..Memory::default()
            };
            assert_eq!(
                verdict(&m, &cfg, now).is_some(),
                goes,
                "age {age}, since {since:?}, score {score}, count {count}"
            );
        }
    }
}
