//! The one search over a folder's index that `az-os search`, a task's context and the
//! `search_memory` tool share: BM25, dense, or both fused by reciprocal rank.
//!
//! Blocking (tantivy, the vector file, the embedder thread): call it from a blocking
//! thread. The index and its vectors stay open for the process's next search while
//! their files are unchanged (`cache.rs`). Dense search loads the embedding model the first time it runs in a process
//! (~260 MB, about a second); BM25 never does.

use std::path::Path;

use super::{Hit, IndexError, Mode, assets, cache, dense, fuse};

/// How many candidates each side brings to the fusion: enough that a chunk both sides
/// rank fairly high is seen by both.
const CANDIDATES: usize = 50;

/// The `k` best chunks for `query` in the index of the folder `root` (one of `home`'s
/// indexes, made by `az-os index`), best first, and a one-line notice when the answer is
/// not what `mode` asked for:
///
/// - `Bm25`: words, never loads the model.
/// - `Dense`: meaning (cosine of MiniLM embeddings); the chunk's first lines as snippet.
/// - `Hybrid`: both, fused by reciprocal rank; BM25's highlighted snippet when it has one.
///
/// Without the model files (`az-os index --fetch-model`), or before any chunk has a
/// vector, dense and hybrid answer with BM25 and say so in the notice; while vectors are
/// still being made they answer from those there are, and say how many.
///
/// Errors: [`IndexError::NotIndexed`] when the folder has no index yet; a damaged index
/// or model file is an error whose message names the fix.
pub fn search(
    home: &Path,
    root: &Path,
    query: &str,
    k: usize,
    mode: Mode,
) -> Result<(Vec<Hit>, Option<String>), IndexError> {
    let dir = super::dir_for(home, root);
    let idx = cache::bm25(&dir)?.ok_or_else(|| IndexError::NotIndexed(root.into()))?;
    if mode == Mode::Bm25 {
        return Ok((idx.search(query, k)?, None));
    }
    let Some(files) = assets::locate(&assets::model_dir(home)) else {
        return Ok((
            idx.search(query, k)?,
            Some(
                "dense search needs the embedding model, which is not set up here; these are BM25 results (run `az-os index --fetch-model` to add it)"
                    .into(),
            ),
        ));
    };
    let dense::Nearest {
        ids: near,
        have,
        total,
    } = dense::nearest(&dir, &idx, &files, query, k.max(CANDIDATES))?;
    if have == 0 {
        return Ok((
            idx.search(query, k)?,
            (total > 0).then(|| {
                "no chunk has a vector yet; these are BM25 results (`az-os index --wait` makes them now)"
                    .to_owned()
            }),
        ));
    }
    let notice = (have < total).then(|| {
        format!(
            "{have} of {total} chunks have a vector so far; dense results cover those (`az-os index --wait` finishes them)"
        )
    });
    let hits = match mode {
        Mode::Dense => idx.chunks(&near)?.into_iter().take(k).collect(),
        Mode::Hybrid => {
            // Ranked by id on both sides; only the texts of the chunks kept are read.
            let words = idx.lookup(query);
            let ranked = words.ranked(k.max(CANDIDATES))?;
            words.hits(&fuse(&[&ranked, &near], usize::MAX), k)?
        }
        Mode::Bm25 => idx.search(query, k)?,
    };
    Ok((hits, notice))
}
