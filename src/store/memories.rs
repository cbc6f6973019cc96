//! The `memories` table: lessons kept from past tasks, searched with SQLite FTS5.
//! (A later layer adds embeddings; this is the keyword half.)

use rusqlite::{Connection, params};
use serde::Serialize;

use super::StoreError;
use crate::util::time::now_unix;

/// One lesson.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Memory {
    pub id: String,
    pub task_id: Option<String>,
    pub lesson: String,
    pub category: String,
    pub success: bool,
    pub score: f64,
    pub created_at: f64,
    pub access_count: u64,
}

/// Stores a lesson and returns its id.
pub fn add(
    conn: &Connection,
    task_id: Option<&str>,
    lesson: &str,
    category: &str,
    success: bool,
    score: f64,
) -> Result<String, StoreError> {
    let id = format!("mem-{}", crate::util::ids::TaskId::new());
    conn.prepare_cached(
        "INSERT INTO memories (id, task_id, lesson, category, success, score, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        task_id,
        lesson,
        category,
        success,
        score,
        now_unix()
    ])?;
    Ok(id)
}

/// Turns free text into an FTS5 query that cannot be a syntax error: each word
/// quoted, joined with OR, so any shared word matches and bm25 ranks the rest.
fn fts_query(q: &str) -> Option<String> {
    let words: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .take(32)
        .map(|w| format!("\"{w}\""))
        .collect();
    (!words.is_empty()).then(|| words.join(" OR "))
}

/// The `k` best lessons for `query`, best first; each hit's access count goes up.
pub fn search(conn: &Connection, query: &str, k: usize) -> Result<Vec<Memory>, StoreError> {
    let Some(q) = fts_query(query) else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(
        "SELECT m.id, m.task_id, m.lesson, m.category, m.success, m.score, m.created_at, \
         m.access_count FROM memories_fts f JOIN memories m ON m.rowid = f.rowid \
         WHERE memories_fts MATCH ?1 ORDER BY bm25(memories_fts) LIMIT ?2",
    )?;
    let hits = stmt
        .query_map(params![q, i64::try_from(k).unwrap_or(10)], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    for h in &hits {
        conn.prepare_cached("UPDATE memories SET access_count = access_count + 1 WHERE id = ?1")?
            .execute(params![h.id])?;
    }
    Ok(hits)
}

/// Newest lessons first.
pub fn list(conn: &Connection, limit: usize) -> Result<Vec<Memory>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, task_id, lesson, category, success, score, created_at, access_count \
         FROM memories ORDER BY created_at DESC LIMIT ?1",
    )?;
    let rows = stmt
        .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Deletes a lesson; returns whether it existed.
pub fn delete(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM memories WHERE id = ?1")?
        .execute(params![id])?
        > 0)
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Memory> {
    Ok(Memory {
        id: r.get(0)?,
        task_id: r.get(1)?,
        lesson: r.get(2)?,
        category: r.get(3)?,
        success: r.get(4)?,
        score: r.get(5)?,
        created_at: r.get(6)?,
        access_count: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_ranks_matches_and_survives_fts_syntax() -> Result<(), StoreError> {
        let c = crate::store::open_in_memory()?;
        add(
            &c,
            None,
            "Use csv module for parsing CSV files",
            "best_practice",
            true,
            9.0,
        )?;
        add(
            &c,
            None,
            "git status before committing",
            "workflow",
            true,
            5.0,
        )?;
        let hits = search(&c, "how to parse a CSV?", 5)?;
        assert_eq!(hits.len(), 1);
        assert!(hits[0].lesson.contains("csv"));
        // Quotes, operators and stray syntax must not become an FTS error.
        assert!(search(&c, "\"NEAR( AND OR * ^", 5).is_ok());
        assert!(search(&c, "   ", 5)?.is_empty());
        Ok(())
    }
}
