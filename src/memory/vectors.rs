//! Lesson vectors: each lesson's text embedded with the knowledge side's MiniLM
//! (`crate::knowledge::embed`), stored with the lesson (`crate::store::memories::vectors`)
//! and held in memory per database for search, reloaded only when the stored set changes.
//!
//! Nothing here loads the model: callers pass an embedding function, and only when they
//! already decided the model is worth it (a hybrid search, `memory consolidate`). A lesson
//! stored while the model was not loaded has no vector until the next [`backfill`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::store::Db;

use crate::knowledge::IndexError;
use crate::knowledge::vectors::Vectors;
use crate::store::StoreError;
use crate::store::memories::vectors::{self as stored, Pending};

/// Lessons embedded per call into the model.
pub const BATCH: usize = 64;

/// Turns texts into unit vectors (the shared embedder's `embed`, or a loaded one's).
pub type EmbedFn<'a> = dyn FnMut(Vec<String>) -> Result<Vec<Vec<f32>>, IndexError> + 'a;

/// Why lessons could not get their vectors.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Model(#[from] IndexError),
}

/// Gives up to `limit` lessons without a vector one, `BATCH` at a time (each batch
/// stored as it is made, so an interruption keeps what was done). Returns how many.
pub fn backfill(conn: &Db, embed: &mut EmbedFn<'_>, limit: usize) -> Result<usize, VectorError> {
    let mut made = 0;
    while made < limit {
        let want = BATCH.min(limit - made);
        let todo = stored::pending(conn, want)?;
        if todo.is_empty() {
            break;
        }
        let n = todo.len();
        let kept = stored::store(conn, &embed_pending(todo, embed)?)?;
        made += kept;
        // Fewer than asked: none left. None kept: they changed meanwhile; next time.
        if n < want || kept == 0 {
            break;
        }
    }
    Ok(made)
}

/// The vectors for `todo` (what `stored::store` takes).
pub fn embed_pending(
    todo: Vec<Pending>,
    embed: &mut EmbedFn<'_>,
) -> Result<Vec<(Pending, Vec<f32>)>, IndexError> {
    let texts = todo.iter().map(|p| p.lesson.clone()).collect();
    let vecs = embed(texts)?;
    Ok(todo.into_iter().zip(vecs).collect())
}

type Cache = HashMap<String, ((u64, i64), Arc<Vectors>)>;

/// The stored lesson vectors by row id, from memory while the stored set is unchanged
/// (an in-memory database is read each time).
pub fn cached(conn: &Db) -> Result<Arc<Vectors>, StoreError> {
    static CACHE: Mutex<Option<Cache>> = Mutex::new(None);
    let stamp = stored::stamp(conn)?;
    let load = || -> Result<Arc<Vectors>, StoreError> {
        let rows = stored::all(conn)?;
        Ok(Arc::new(Vectors::in_memory(
            0,
            rows.into_iter()
                .filter_map(|(rowid, v)| u64::try_from(rowid).ok().map(|id| (id, v))),
        )))
    };
    let Some(path) = conn.cache_key() else {
        return load();
    };
    if let Ok(cache) = CACHE.lock()
        && let Some((s, v)) = cache.as_ref().and_then(|c| c.get(&path))
        && *s == stamp
    {
        return Ok(Arc::clone(v));
    }
    let v = load()?;
    if let Ok(mut cache) = CACHE.lock() {
        cache
            .get_or_insert_with(HashMap::new)
            .insert(path, (stamp, Arc::clone(&v)));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::embed::DIMS;
    use crate::store::memories;

    /// A stand-in model: a vector from the text's length (the real one is tested with
    /// the model in tests/suite/memory.rs).
    fn fake(texts: &[String]) -> Vec<Vec<f32>> {
        texts
            .iter()
            .map(|t| {
                let mut v = vec![0.0; DIMS];
                v[t.len() % DIMS] = 1.0;
                v
            })
            .collect()
    }

    #[test]
    fn backfill_embeds_what_has_no_vector_and_the_cache_follows() -> Result<(), VectorError> {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::store::open(&dir.path().join("m.db"))?;
        for i in 0..70 {
            memories::add(&c, None, &format!("lesson {i:03}"), "fact", true, 5.0)?;
        }
        assert_eq!(backfill(&c, &mut |t| Ok(fake(&t)), 10)?, 10);
        assert_eq!(cached(&c)?.len(), 10);
        assert_eq!(backfill(&c, &mut |t| Ok(fake(&t)), usize::MAX)?, 60);
        assert_eq!(backfill(&c, &mut |t| Ok(fake(&t)), usize::MAX)?, 0);
        let v = cached(&c)?;
        assert_eq!(v.len(), 70);
        assert!(Arc::ptr_eq(&v, &cached(&c)?), "unchanged: the same vectors");
        let first = memories::list(&c, 1)?.remove(0);
        memories::delete(&c, &first.id)?;
        assert_eq!(cached(&c)?.len(), 69);
        let failing = &mut |_: Vec<String>| -> Result<Vec<Vec<f32>>, IndexError> {
            Err(IndexError::Model("gone".into()))
        };
        memories::add(&c, None, "one more", "fact", true, 5.0)?;
        assert!(backfill(&c, failing, 5).is_err());
        assert_eq!(stored::pending_count(&c)?, 1, "nothing lost");
        Ok(())
    }
}
