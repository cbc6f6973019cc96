//! The vectors of lessons, in the `memories` table beside their text (`embedding`: 384
//! little-endian f32; `embedded_seq`: the order they were stored in). Only storage: what
//! is embedded and when is `crate::memory::vectors`.

use crate::store::db::{Db, params};

use crate::store::StoreError;

/// A lesson that has no vector yet.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub id: String,
    pub lesson: String,
}

/// What the stored vectors are now: how many, and the newest's sequence number. A cache
/// of them is stale when this changes (a vector stored, or a lesson with one deleted or
/// edited).
pub fn stamp(conn: &Db) -> Result<(u64, i64), StoreError> {
    conn.prepare_cached("SELECT count(embedded_seq), coalesce(max(embedded_seq), 0) FROM memories")?
        .query_row([], |r| {
            Ok((u64::try_from(r.get::<i64>(0)?).unwrap_or(0), r.get(1)?))
        })
}

/// Lessons without a vector, oldest first, at most `limit`.
pub fn pending(conn: &Db, limit: usize) -> Result<Vec<Pending>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, lesson FROM memories WHERE embedded_seq IS NULL ORDER BY created_at, id \
         LIMIT ?1",
    )?;
    let rows = stmt
        .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok(Pending {
                id: r.get(0)?,
                lesson: r.get(1)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// How many lessons have no vector.
pub fn pending_count(conn: &Db) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM memories WHERE embedded_seq IS NULL")?
        .query_row([], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Stores the vectors made for `done` (one per pending lesson, same order), in one
/// transaction; a lesson whose text changed since it was read keeps no vector (the
/// vector describes the old text). Returns how many were stored.
pub fn store(conn: &Db, done: &[(Pending, Vec<f32>)]) -> Result<usize, StoreError> {
    if done.is_empty() {
        return Ok(0);
    }
    let tx = conn.unchecked_transaction()?;
    let mut stored = 0;
    {
        // A number never given before, even to a vector since deleted.
        let next: i64 = tx.query_row("SELECT n + 1 FROM memory_vector_seq", [], |r| r.get(0))?;
        tx.execute(
            "UPDATE memory_vector_seq SET n = n + ?1",
            params![i64::try_from(done.len()).unwrap_or(i64::MAX)],
        )?;
        let mut stmt = tx.prepare_cached(
            "UPDATE memories SET embedding = ?3, embedded_seq = ?4 WHERE id = ?1 AND lesson = ?2",
        )?;
        for (seq, (p, v)) in (next..).zip(done) {
            stored += stmt.execute(params![p.id, p.lesson, encode(v), seq])?;
        }
    }
    tx.commit()?;
    Ok(stored)
}

/// Every stored vector with its lesson's row id.
pub fn all(conn: &Db) -> Result<Vec<(i64, Vec<f32>)>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT rowid, embedding FROM memories WHERE embedded_seq IS NOT NULL")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<i64>(0)?, decode(&r.get::<Vec<u8>>(1)?)))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Every stored vector with its lesson's id (consolidate).
pub fn by_id(conn: &Db) -> Result<Vec<(String, Vec<f32>)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT id, embedding FROM memories WHERE embedded_seq IS NOT NULL")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<String>(0)?, decode(&r.get::<Vec<u8>>(1)?)))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn encode(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn decode(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memories;

    #[test]
    fn vectors_are_stored_dropped_on_edit_and_change_the_stamp() -> Result<(), StoreError> {
        let c = crate::store::open_in_memory()?;
        let id = memories::add(&c, None, "run make check", "workflow", true, 5.0)?;
        let p = pending(&c, 10)?;
        assert_eq!(p.len(), 1);
        assert_eq!(stamp(&c)?, (0, 0));
        assert_eq!(store(&c, &[(p[0].clone(), vec![0.5; 4])])?, 1);
        assert_eq!(stamp(&c)?, (1, 1));
        assert_eq!(all(&c)?[0].1, vec![0.5; 4]);
        assert!(pending(&c, 10)?.is_empty());
        // Same text: the vector stays. New text: it goes.
        let mut m = memories::get(&c, &id)?.unwrap();
        m.access_count = 3;
        memories::update(&c, &m)?;
        assert_eq!(pending_count(&c)?, 0);
        m.lesson = "run make test".into();
        memories::update(&c, &m)?;
        assert_eq!(pending_count(&c)?, 1);
        assert_eq!(stamp(&c)?, (0, 0));
        // A vector made from the old text is not stored for the new one.
        assert_eq!(store(&c, &[(p[0].clone(), vec![0.5; 4])])?, 0);
        let now = pending(&c, 10)?;
        store(&c, &[(now[0].clone(), vec![0.25; 4])])?;
        assert_eq!(stamp(&c)?, (1, 3), "a new number, not the dropped vector's");
        Ok(())
    }
}
