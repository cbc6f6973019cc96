//! Making and reading the vectors of an index: the embedding pass that follows a BM25
//! update ([`embed_pending`]: vectors for chunks that have none, dropped for chunks that
//! are gone), and the nearest chunks to a query ([`nearest`]).
//!
//! One pass at a time per index (`vectors.lock`); the BM25 side never waits for it.
//! `az-os index` starts the pass in a background process at low priority (one thread,
//! `nice`) and returns; `--wait` runs it in the foreground with every core.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use super::assets::ModelFiles;
use super::embed::{self, Embedder};
use super::vectors::Vectors;
use super::{Bm25, IndexError};

const LOCK: &str = "vectors.lock";
/// The index generation (`Bm25::generation`) every chunk of which had a vector when the
/// last pass ended: `az-os index` compares it instead of reading every vector.
const DONE: &str = "vectors.done";

/// Whether some chunk of the index lacks a vector, or a vector outlived its chunk, as far
/// as the last finished pass knows.
pub fn needs_pass(dir: &Path, idx: &Bm25) -> bool {
    std::fs::read_to_string(dir.join(DONE)).map_or(true, |g| g.trim() != idx.generation())
}
/// Chunks embedded between two appends to the file: a crash loses at most these.
const STEP: usize = 64;

/// Progress of an embedding pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbedProgress {
    /// Chunks with a vector.
    pub done: usize,
    /// Chunks in the index.
    pub total: usize,
}

/// What a pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pass {
    pub embedded: usize,
    pub dropped: usize,
    /// Chunks with a vector at the end.
    pub vectors: usize,
    pub seconds: f64,
}

/// Takes the index's embedding lock, or says another pass holds it.
pub fn lock(dir: &Path) -> Result<std::fs::File, IndexError> {
    let path = dir.join(LOCK);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| IndexError::io(&path, &e))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(IndexError::Busy),
        Err(std::fs::TryLockError::Error(e)) => Err(IndexError::io(&path, &e)),
    }
}

/// Gives every chunk of the index in `dir` a vector and drops the vectors of chunks that
/// are gone; loops until none is missing (an update may land meanwhile). The model is
/// loaded only when something needs embedding. [`IndexError::Busy`] when another pass
/// runs.
pub fn embed_pending(
    dir: &Path,
    files: &ModelFiles,
    threads: usize,
    progress: &mut dyn FnMut(EmbedProgress),
) -> Result<Pass, IndexError> {
    let _lock = lock(dir)?;
    let t0 = Instant::now();
    let mut pass = Pass::default();
    let mut model: Option<Embedder> = None;
    let mut vecs: Option<Vectors> = None;
    loop {
        let idx = Bm25::open_existing(dir)?.ok_or_else(|| IndexError::NotIndexed(dir.into()))?;
        let (epoch, live) = idx.live_chunks();
        let v = match vecs.take() {
            Some(v) if v.epoch == epoch => v,
            _ => Vectors::load(dir, epoch),
        };
        let v = vecs.insert(v);
        let live_set: HashSet<u64> = live.iter().copied().collect();
        let stale: Vec<u64> = v
            .ids()
            .iter()
            .copied()
            .filter(|id| !live_set.contains(id))
            .collect();
        if !stale.is_empty() {
            v.write(dir, &[], &stale)?;
            pass.dropped += stale.len();
        }
        let pending: Vec<u64> = live.iter().copied().filter(|&id| !v.contains(id)).collect();
        let total = live.len();
        progress(EmbedProgress {
            done: v.len(),
            total,
        });
        if pending.is_empty() {
            let done = dir.join(DONE);
            std::fs::write(&done, idx.generation()).map_err(|e| IndexError::io(&done, &e))?;
            break;
        }
        let mut made = 0;
        for step in pending.chunks(STEP) {
            let asked: Vec<(u64, f32)> = step.iter().map(|&id| (id, 0.0)).collect();
            let hits = idx.chunks(&asked)?;
            if hits.is_empty() {
                continue;
            }
            let texts: Vec<String> = hits
                .iter()
                .map(|h| embed::chunk_text(&h.path, &h.text))
                .collect();
            let m = match model.as_mut() {
                Some(m) => m,
                None => model.insert(Embedder::load(files, threads)?),
            };
            let out = m.embed(&texts)?;
            let added: Vec<(u64, Vec<f32>)> = hits.iter().map(|h| h.id).zip(out).collect();
            v.write(dir, &added, &[])?;
            made += added.len();
            progress(EmbedProgress {
                done: v.len(),
                total,
            });
        }
        pass.embedded += made;
        if made == 0 {
            // The chunks asked for vanished under us; the next pass sees the new state.
            break;
        }
    }
    pass.vectors = vecs.as_ref().map_or(0, Vectors::len);
    pass.seconds = t0.elapsed().as_secs_f64();
    Ok(pass)
}

/// The chunks nearest to a query, and how far the index's vectors have come.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Nearest {
    /// Chunk ids with their cosine, best first.
    pub ids: Vec<(u64, f32)>,
    /// Chunks with a vector so far.
    pub have: usize,
    /// Chunks in the index.
    pub total: usize,
}

/// The `k` chunk ids nearest to `query` in meaning (loads the model on first use).
pub fn nearest(
    dir: &Path,
    idx: &Bm25,
    files: &ModelFiles,
    query: &str,
    k: usize,
) -> Result<Nearest, IndexError> {
    let (epoch, total) = idx.epoch_and_chunks();
    let vecs = super::cache::vectors(dir, epoch);
    let mut out = Nearest {
        ids: Vec::new(),
        have: vecs.len().min(total),
        total,
    };
    if vecs.is_empty() {
        return Ok(out);
    }
    let q = embed::shared(files)?.embed(vec![query.to_owned()])?;
    if let Some(q) = q.first() {
        out.ids = vecs.nearest(q, k);
    }
    Ok(out)
}
