//! The indexes a process has opened for searching, kept open: the dashboard, a task's
//! context and `search_memory` search the same workdir many times, and opening it costs
//! more than a search (the manifest of every chunk id is parsed, tantivy opens each
//! segment, and the vectors file of a 100k-chunk index is 150 MB to read).
//!
//! Never stale: an entry is used only while the files it was read from are the same
//! files, unchanged — each is named by device, inode, length, modification and change
//! time, taken *before* reading. An update replaces `manifest.json` and tantivy's
//! `meta.json` by rename (a new inode), and appends to or replaces `vectors.bin`, so the
//! next search after any update opens the index afresh.
//!
//! Not here: writing (`Bm25::open` holds the index lock and is never cached).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::vectors::Vectors;
use super::{Bm25, IndexError};

/// Indexes kept open per process; the least recently used goes first.
const ENTRIES: usize = 8;

/// What names one version of a file; `None` when it does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(path: &Path) -> Option<Self> {
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// The files an opened BM25 index was read from.
fn bm25_stamp(dir: &Path) -> Bm25Stamp {
    [
        Stamp::of(&dir.join(super::bm25::MANIFEST)),
        Stamp::of(&dir.join("bm25").join("meta.json")),
    ]
}

/// Opened things by index folder, each with the stamp it was read under; at most
/// [`ENTRIES`], the least recently used dropped first.
struct Lru<K, V> {
    entries: HashMap<PathBuf, (K, V, u64)>,
    clock: u64,
}

impl<K: PartialEq, V: Clone> Lru<K, V> {
    fn new() -> Self {
        Self {
            entries: HashMap::new(),
            clock: 0,
        }
    }

    /// The value read under `stamp`; one read under another stamp is dropped.
    fn get(&mut self, dir: &Path, stamp: &K) -> Option<V> {
        self.clock += 1;
        let clock = self.clock;
        let (k, v, used) = self.entries.get_mut(dir)?;
        if k != stamp {
            self.entries.remove(dir);
            return None;
        }
        *used = clock;
        Some(v.clone())
    }

    fn put(&mut self, dir: &Path, stamp: K, value: V) {
        if self.entries.len() >= ENTRIES && !self.entries.contains_key(dir) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, _, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
        self.clock += 1;
        self.entries
            .insert(dir.to_path_buf(), (stamp, value, self.clock));
    }
}

type Bm25Stamp = [Option<Stamp>; 2];
type VectorsStamp = (Option<Stamp>, u64);
static BM25: Mutex<Option<Lru<Bm25Stamp, Arc<Bm25>>>> = Mutex::new(None);
static VECTORS: Mutex<Option<Lru<VectorsStamp, Arc<Vectors>>>> = Mutex::new(None);

/// The index in `dir` opened for searching (read-only), as [`Bm25::open_existing`]
/// opens it, from the cache while its files are unchanged; `None` when there is none.
pub fn bm25(dir: &Path) -> Result<Option<Arc<Bm25>>, IndexError> {
    let stamp = bm25_stamp(dir);
    if let Ok(mut cache) = BM25.lock()
        && let Some(hit) = cache.get_or_insert_with(Lru::new).get(dir, &stamp)
    {
        return Ok(Some(hit));
    }
    // Opened outside the lock: another thread's search of another index need not wait.
    let Some(opened) = Bm25::open_existing(dir)?.map(Arc::new) else {
        return Ok(None);
    };
    if let Ok(mut cache) = BM25.lock() {
        cache
            .get_or_insert_with(Lru::new)
            .put(dir, stamp, Arc::clone(&opened));
    }
    Ok(Some(opened))
}

/// The vectors of the index in `dir` for its `epoch`, from the cache while the file is
/// unchanged (an embedding pass appending to it makes the next search read it again).
pub fn vectors(dir: &Path, epoch: u64) -> Arc<Vectors> {
    let stamp = (Stamp::of(&Vectors::path(dir)), epoch);
    if let Ok(mut cache) = VECTORS.lock()
        && let Some(hit) = cache.get_or_insert_with(Lru::new).get(dir, &stamp)
    {
        return hit;
    }
    let loaded = Arc::new(Vectors::load(dir, epoch));
    if let Ok(mut cache) = VECTORS.lock() {
        cache
            .get_or_insert_with(Lru::new)
            .put(dir, stamp, Arc::clone(&loaded));
    }
    loaded
}
