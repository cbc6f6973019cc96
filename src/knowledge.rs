//! The document index of a workdir: its READMEs, docs and code cut into chunks
//! (`chunk.rs`) from the files worth reading (`walk.rs`), searched by BM25 (`bm25.rs`,
//! tantivy) and by meaning (`dense`, MiniLM embeddings), the two fused by reciprocal rank
//! (`fuse`). One index per workdir under the home's `index/`. `az-os index` and
//! `az-os search` drive it; tasks use it for their first request's context and for
//! `search_memory` with `"in": "docs"`.
//!
//! Blocking: callers run it on a blocking thread or a thread of their own.

pub mod assets;
pub mod bm25;
pub mod cache;
pub mod chunk;
pub mod context;
pub mod dense;
pub mod embed;
pub mod search;
pub mod vectors;
pub mod walk;

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

pub use bm25::{Bm25, Progress, Stats, Update};
pub use search::search;

/// How to search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Words: BM25 over the chunks' text and paths.
    Bm25,
    /// Meaning: cosine of MiniLM embeddings.
    Dense,
    /// Both, fused by reciprocal rank.
    #[default]
    Hybrid,
}

/// One chunk found.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Hit {
    /// Chunk id inside the index.
    #[serde(skip)]
    pub id: u64,
    /// Relative to the indexed folder, `/`-separated.
    pub path: String,
    pub start_line: usize,
    pub end_line: usize,
    #[serde(skip)]
    pub lang: String,
    pub score: f32,
    /// The whole chunk.
    #[serde(skip)]
    pub text: String,
    /// A passage around the matched words.
    pub snippet: String,
    /// Byte ranges of the matched words in `snippet`.
    #[serde(skip)]
    pub highlights: Vec<Range<usize>>,
}

/// Why the index could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("the index is damaged or unreadable ({0}); run `az-os index` to rebuild it")]
    Tantivy(String),
    #[error("another az-os is updating this index right now; try again when it is done")]
    Busy,
    #[error("{} is not a folder", .0.display())]
    NotADir(PathBuf),
    #[error(
        "{} is not indexed yet (or its first indexing is still running); run `az-os index` in it first",
        .0.display()
    )]
    NotIndexed(PathBuf),
    #[error(
        "the embedding model cannot be used: {0}; run `az-os index --fetch-model` to fetch it again"
    )]
    Model(String),
}

impl IndexError {
    pub(crate) fn io(path: &Path, e: &std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

/// The index directory of `root` inside `home`: `index/` + a name derived from the
/// folder's canonical path (and a readable tail of it).
pub fn dir_for(home: &Path, root: &Path) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    canonical.hash(&mut h);
    let tail: String = canonical
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                .take(24)
                .collect()
        })
        .unwrap_or_default();
    home.join("index")
        .join(format!("{tail}-{:016x}", h.finish()))
}

/// Reciprocal-rank fusion of ranked lists of chunk ids (with their scores, which it
/// ignores): each id scores `Σ 1 / (K + rank)` over the lists it appears in (rank from
/// 1), best first, at most `k`; ties keep the order in which ids were first seen.
pub fn fuse(lists: &[&[(u64, f32)]], k: usize) -> Vec<(u64, f32)> {
    fuse_by(lists, k, |h| h.0)
        .into_iter()
        .map(|(score, (id, _))| (id, score))
        .collect()
}

/// [`fuse`] for any items told apart by `key` (lessons fuse by row id): the fused score
/// and the first list's copy of each item, best first, at most `k`.
pub fn fuse_by<T: Clone, K: std::hash::Hash + Eq>(
    lists: &[impl AsRef<[T]>],
    k: usize,
    key: impl Fn(&T) -> K,
) -> Vec<(f32, T)> {
    /// The usual constant: damps the head of each list so neither dominates.
    const K: f32 = 60.0;
    let mut scored: Vec<(f32, T)> = Vec::new();
    let mut at: HashMap<K, usize> = HashMap::new();
    for list in lists {
        for (rank, item) in list.as_ref().iter().enumerate() {
            let add = 1.0 / (K + rank as f32 + 1.0);
            match at.entry(key(item)) {
                std::collections::hash_map::Entry::Occupied(o) => scored[*o.get()].0 += add,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(scored.len());
                    scored.push((add, item.clone()));
                }
            }
        }
    }
    // Stable: ties keep the order in which items were first seen.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.truncate(k);
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_rewards_agreement() {
        let bm25 = [(1, 9.0), (2, 8.0), (3, 7.0)];
        let dense = [(3, 0.9), (4, 0.8), (2, 0.7)];
        let ids: Vec<u64> = fuse(&[&bm25, &dense], 10).iter().map(|h| h.0).collect();
        // 2 and 3 are in both lists; 3 is first in one of them.
        assert_eq!(ids[0], 3);
        assert_eq!(ids[1], 2);
        assert_eq!(ids.len(), 4);
        assert!(fuse(&[], 5).is_empty());
    }

    #[test]
    fn index_dirs_are_per_folder() {
        let h = Path::new("/h");
        let a = dir_for(h, Path::new("/nonexistent/proj-a"));
        let b = dir_for(h, Path::new("/nonexistent/proj-b"));
        assert_ne!(a, b);
        assert!(a.starts_with("/h/index"));
        assert!(
            a.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("proj-a-")
        );
    }
}
