//! The `alerts` table: every alert raised, and the last one per key (for the
//! cooldown across processes).

use crate::store::db::{Db, OptionalExtension, params};
use serde::Serialize;

use super::StoreError;
use crate::util::time::now_unix;

/// One stored alert.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertRow {
    pub key: String,
    pub level: String,
    pub value: Option<f64>,
    pub message: String,
    pub created_at: f64,
}

pub fn insert(
    conn: &Db,
    key: &str,
    level: &str,
    value: Option<f64>,
    message: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO alerts (key, level, value, message, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![key, level, value, message, now_unix()])?;
    Ok(())
}

/// When `key` last alerted.
pub fn last_at(conn: &Db, key: &str) -> Result<Option<f64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT MAX(created_at) FROM alerts WHERE key = ?1")?
        .query_row(params![key], |r| r.get::<Option<f64>>(0))
        .optional()?
        .flatten())
}

/// Newest alerts first.
pub fn recent(conn: &Db, limit: usize) -> Result<Vec<AlertRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, level, value, message, created_at FROM alerts ORDER BY created_at DESC LIMIT ?1",
    )?;
    let rows = stmt
        .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok(AlertRow {
                key: r.get(0)?,
                level: r.get(1)?,
                value: r.get(2)?,
                message: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
