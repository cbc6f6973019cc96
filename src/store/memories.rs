//! The `memories` table: lessons kept from past tasks, searched with SQLite FTS5 (the
//! keyword half; `crate::memory` adds meaning and the policies). Each lesson applies to
//! one workdir (`scope`) or everywhere (`None`), and remembers what it was merged from.

pub mod vectors;

use crate::store::db::{Db, Dialect, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::util::time::now_unix;

/// One lesson.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Memory {
    pub id: String,
    pub task_id: Option<String>,
    pub lesson: String,
    pub category: String,
    pub success: bool,
    pub score: f64,
    pub created_at: f64,
    pub access_count: u64,
    /// The workdir it applies to; `None`: everywhere.
    pub scope: Option<String>,
    /// What was merged into it.
    pub provenance: Provenance,
    /// When a task last recalled it.
    pub last_access: Option<f64>,
}

impl Memory {
    /// Where the lesson came from, in words: a task's outcome, or no task at all.
    pub fn outcome(&self) -> &'static str {
        match (&self.task_id, self.success) {
            (None, _) => "added by hand",
            (Some(_), true) => "from a task that succeeded",
            (Some(_), false) => "from a task that failed",
        }
    }
}

/// The lessons and tasks a lesson was merged from (empty for one never merged).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Provenance {
    pub lessons: Vec<String>,
    pub tasks: Vec<String>,
}

impl Provenance {
    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

const COLUMNS: &str = "id, task_id, lesson, category, success, score, created_at, access_count, \
                       scope, provenance, last_access";

/// Stores a lesson and returns its id.
pub fn add(
    conn: &Db,
    task_id: Option<&str>,
    lesson: &str,
    category: &str,
    success: bool,
    score: f64,
) -> Result<String, StoreError> {
    let m = Memory {
        id: new_id(),
        task_id: task_id.map(str::to_owned),
        lesson: lesson.to_owned(),
        category: category.to_owned(),
        success,
        score,
        created_at: now_unix(),
        ..Memory::default()
    };
    insert(conn, &m)?;
    Ok(m.id)
}

/// A fresh lesson id.
pub fn new_id() -> String {
    format!("mem-{}", crate::util::ids::TaskId::new())
}

/// Stores `m` as it is (its id included); `false` when that id is already taken.
pub fn insert(conn: &Db, m: &Memory) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "INSERT INTO memories (id, task_id, lesson, category, success, score, \
             created_at, access_count, scope, provenance, last_access) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            m.id,
            m.task_id,
            m.lesson,
            m.category,
            m.success,
            m.score,
            m.created_at,
            i64::try_from(m.access_count).unwrap_or(i64::MAX),
            m.scope,
            m.provenance.to_json(),
            m.last_access,
        ])?;
    Ok(n > 0)
}

/// Replaces the text, category, counts and provenance of lesson `m.id`.
pub fn update(conn: &Db, m: &Memory) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE memories SET lesson = ?2, category = ?3, success = ?4, score = ?5, \
             access_count = ?6, scope = ?7, provenance = ?8, last_access = ?9 WHERE id = ?1",
        )?
        .execute(params![
            m.id,
            m.lesson,
            m.category,
            m.success,
            m.score,
            i64::try_from(m.access_count).unwrap_or(i64::MAX),
            m.scope,
            m.provenance.to_json(),
            m.last_access,
        ])?
        > 0)
}

/// One lesson by id, or by a unique id prefix.
pub fn get(conn: &Db, id: &str) -> Result<Option<Memory>, StoreError> {
    let exact = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM memories WHERE id = ?1"))?
        .query_row(params![id], from_row)
        .optional()?;
    if exact.is_some() {
        return Ok(exact);
    }
    let like = format!("{}%", id.replace(['%', '_', '\\'], ""));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM memories WHERE id LIKE ?1 OR id LIKE 'mem-' || ?1 LIMIT 2"
    ))?;
    let rows = stmt
        .query_map(params![like], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match rows.len() {
        1 => rows.into_iter().next(),
        _ => None,
    })
}

/// Every lesson, oldest first (export, consolidate, cleanup).
pub fn all(conn: &Db) -> Result<Vec<Memory>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM memories ORDER BY created_at, id"
    ))?;
    let rows = stmt
        .query_map([], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Counts a recall: access count up, last access now (one transaction).
pub fn touch(conn: &Db, ids: &[String]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let now = now_unix();
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "UPDATE memories SET access_count = access_count + 1, last_access = ?2 WHERE id = ?1",
        )?;
        for id in ids {
            stmt.execute(params![id, now])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// An FTS5 query for lessons holding a word that starts with one of `stems` (folded
/// content words, `crate::knowledge::context::terms`); `None` when none is left.
pub fn stems_query(stems: &[String]) -> Option<String> {
    let parts: Vec<String> = stems
        .iter()
        .take(32)
        .map(|t| {
            t.chars()
                .filter(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|t| !t.is_empty())
        .map(|t| format!("\"{t}\"*"))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" OR "))
}

/// How many lessons hold a word starting with `stem` (at most: a lesson with two such
/// words counts twice), from the FTS5 vocabulary.
pub fn stem_docs(conn: &Db, stem: &str) -> Result<u64, StoreError> {
    let mut end = stem.to_owned();
    end.push(char::MAX);
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT coalesce(sum(doc), 0) FROM memories_vocab WHERE term >= ?1 AND term < ?2"
        }
        // No kept vocabulary: PostgreSQL counts the words of every lesson each time.
        Dialect::Postgres => {
            "SELECT coalesce(sum(ndoc), 0) FROM ts_stat('SELECT to_tsvector(''simple'', \
             lesson || '' '' || category) FROM memories') WHERE word >= ?1 AND word < ?2"
        }
    };
    let docs: i64 = conn
        .prepare_cached(sql)?
        .query_row(params![stem.to_lowercase(), end.to_lowercase()], |r| {
            r.get(0)
        })?;
    Ok(u64::try_from(docs).unwrap_or(0))
}

/// How many lessons there are.
pub fn count(conn: &Db) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM memories")?
        .query_row([], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Turns free text into an FTS5 query that cannot be a syntax error: each word
/// quoted, joined with OR, so any shared word matches and bm25 ranks the rest.
pub fn words_query(q: &str) -> Option<String> {
    let words: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .take(32)
        .map(|w| format!("\"{w}\""))
        .collect();
    (!words.is_empty()).then(|| words.join(" OR "))
}

/// The `k` best lessons for `query` by keyword, best first; each hit's access count goes
/// up (a recall by the agent).
pub fn search(conn: &Db, query: &str, k: usize) -> Result<Vec<Memory>, StoreError> {
    let Some(q) = words_query(query) else {
        return Ok(Vec::new());
    };
    let mut hits = Vec::new();
    for rowid in keyword_rowids(conn, &q, k)? {
        hits.extend(by_rowid(conn, rowid)?);
    }
    touch(conn, &hits.iter().map(|h| h.id.clone()).collect::<Vec<_>>())?;
    Ok(hits)
}

/// The row ids of the `k` lessons best matching the FTS5 query `fts` (bm25), best first.
/// Only the index is read: FTS5 keeps the `k` best while it scores and no lesson row is
/// read for the thousands it passes over (joined to the rows, the query read every match
/// and sorted them all: 1.5x as long at 10k lessons, `parts/fts_joined_rows_20_before`
/// vs `parts/fts_rowids_50` in `benches/memory.rs`).
pub fn keyword_rowids(conn: &Db, fts: &str, k: usize) -> Result<Vec<i64>, StoreError> {
    let k = i64::try_from(k).unwrap_or(10);
    let ids = match conn.dialect() {
        Dialect::Sqlite => conn
            .prepare_cached(
                "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ?1 ORDER BY rank LIMIT ?2",
            )?
            .query_map(params![fts, k], |r| r.get(0))?
            .collect::<Result<Vec<i64>, _>>()?,
        Dialect::Postgres => {
            let Some(q) = tsquery(fts) else {
                return Ok(Vec::new());
            };
            conn.prepare_cached(
                "SELECT rowid FROM memories, to_tsquery('simple', ?1) q \
                 WHERE to_tsvector('simple', lesson || ' ' || category) @@ q \
                 ORDER BY ts_rank(to_tsvector('simple', lesson || ' ' || category), q) DESC, rowid \
                 LIMIT ?2",
            )?
            .query_map(params![q, k], |r| r.get(0))?
            .collect::<Result<Vec<i64>, _>>()?
        }
    };
    Ok(ids)
}

/// An FTS5 query of ours (`"word" OR "stem"*`) as a PostgreSQL `tsquery`
/// (`word | stem:*`); words are letters and digits only, so nothing else can reach it.
fn tsquery(fts: &str) -> Option<String> {
    let mut parts = Vec::new();
    for term in fts.split(" OR ") {
        let prefix = term.ends_with('*');
        for w in term
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let w = w.to_lowercase();
            parts.push(if prefix { format!("{w}:*") } else { w });
        }
    }
    (!parts.is_empty()).then(|| parts.join(" | "))
}

/// One lesson by its row id (what the keyword and vector searches return).
pub fn by_rowid(conn: &Db, rowid: i64) -> Result<Option<Memory>, StoreError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM memories WHERE rowid = ?1"))?
        .query_row(params![rowid], from_row)
        .optional()
}

/// Newest lessons first.
pub fn list(conn: &Db, limit: usize) -> Result<Vec<Memory>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM memories ORDER BY created_at DESC LIMIT ?1"
    ))?;
    let rows = stmt
        .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Deletes a lesson; returns whether it existed.
pub fn delete(conn: &Db, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM memories WHERE id = ?1")?
        .execute(params![id])?
        > 0)
}

fn from_row(r: &crate::store::db::Row<'_>) -> Result<Memory, StoreError> {
    Ok(Memory {
        id: r.get(0)?,
        task_id: r.get(1)?,
        lesson: r.get(2)?,
        category: r.get(3)?,
        success: r.get(4)?,
        score: r.get(5)?,
        created_at: r.get(6)?,
        access_count: u64::try_from(r.get::<i64>(7)?).unwrap_or(0),
        scope: r.get(8)?,
        provenance: r
            .get::<Option<String>>(9)?
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or_default(),
        last_access: r.get(10)?,
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
