//! The BM25 side of a workdir's index: a tantivy index of its chunks (one directory per
//! workdir under the home's `index/`), kept up to date incrementally against a manifest
//! of the files it holds (size and modification time, then a content hash).
//!
//! Crash safety: tantivy commits atomically, and the manifest is written (temp file +
//! rename) only after a commit; a file whose update was committed but not recorded is
//! simply indexed again (every update deletes the file's old chunks first). An index or
//! manifest that cannot be read is rebuilt from scratch. Two processes: `index.lock` lets
//! one open the index to write (or rebuild); the other gets [`IndexError::Busy`] and
//! waits, or opens it read-only ([`Bm25::open_existing`]), which never changes it.
//!
//! Blocking throughout: call it from a blocking thread, never the async runtime.

use std::collections::{BTreeMap, HashSet};
use std::hash::Hasher;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{Query, QueryParser, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TEXT, TantivyDocument, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{IndexReader, IndexWriter, ReloadPolicy, Term, doc};

use super::chunk::{self, language};
use super::walk::{self, Skipped};
use super::{Hit, IndexError};

mod lookup;
pub use lookup::Lookup;

/// Memory the writer may use before it flushes a segment.
const WRITER_BYTES: usize = 64 * 1024 * 1024;
/// Bumped when the schema or chunking changes: an older index is rebuilt.
/// 2: the chunk id is a fast field (hybrid search ranks by id without reading texts).
const FORMAT: u32 = 2;
pub(super) const MANIFEST: &str = "manifest.json";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct FileEntry {
    size: u64,
    mtime_ns: i128,
    hash: u64,
    chunks: Vec<u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    /// Drawn when the manifest starts afresh: chunk ids are unique within one epoch, so
    /// the vectors made for them (`vectors.rs`) know when they belong to a dead index.
    #[serde(default)]
    epoch: u64,
    root: PathBuf,
    next_id: u64,
    files: BTreeMap<String, FileEntry>,
}

impl Manifest {
    fn chunk_count(&self) -> usize {
        self.files.values().map(|f| f.chunks.len()).sum()
    }
}

#[derive(Clone, Copy)]
struct Fields {
    path: Field,
    path_text: Field,
    text: Field,
    start: Field,
    end: Field,
    lang: Field,
    id: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        path: b.add_text_field("path", STRING | STORED),
        path_text: b.add_text_field("path_text", TEXT),
        text: b.add_text_field("text", TEXT | STORED),
        start: b.add_u64_field("start", STORED),
        end: b.add_u64_field("end", STORED),
        lang: b.add_text_field("lang", STRING | STORED),
        id: b.add_u64_field("id", INDEXED | STORED | FAST),
    };
    (b.build(), fields)
}

/// What an update did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Update {
    pub files: usize,
    pub changed: usize,
    pub deleted: usize,
    pub chunks_added: usize,
    pub skipped: Vec<Skipped>,
    /// Chunks added (id, path, text) and removed: the dense side follows these.
    pub added: Vec<(u64, String, String)>,
    pub removed: Vec<u64>,
    /// The index was unreadable and was rebuilt.
    pub rebuilt: bool,
}

/// Progress of an update: files looked at so far of the total, chunks added so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub files_done: usize,
    pub files_total: usize,
    pub chunks: usize,
}

/// A workdir's BM25 index.
pub struct Bm25 {
    dir: PathBuf,
    index: tantivy::Index,
    fields: Fields,
    reader: IndexReader,
    rebuilt: bool,
    /// From the manifest, as of opening or the last update.
    epoch: std::sync::atomic::AtomicU64,
    next_id: std::sync::atomic::AtomicU64,
    chunk_count: std::sync::atomic::AtomicUsize,
    /// Held while this handle may write (and rebuild): `index.lock`, exclusive.
    _lock: Option<std::fs::File>,
}

const LOCK: &str = "index.lock";

impl Bm25 {
    /// Opens the index in `dir` to update it: creates it, or rebuilds it when it cannot
    /// be read. Only one process at a time: another gets [`IndexError::Busy`].
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir).map_err(|e| IndexError::io(dir, &e))?;
        let lock_path = dir.join(LOCK);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| IndexError::io(&lock_path, &e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(IndexError::Busy),
            Err(std::fs::TryLockError::Error(e)) => return Err(IndexError::io(&lock_path, &e)),
        }
        let (schema, _) = schema();
        let tantivy_dir = dir.join("bm25");
        let (index, manifest, rebuilt) = if let Some((i, m)) = open_readable(dir) {
            (i, Some(m), false)
        } else {
            let had_any = tantivy_dir.exists();
            let _ = std::fs::remove_dir_all(&tantivy_dir);
            let _ = std::fs::remove_file(dir.join(MANIFEST));
            std::fs::create_dir_all(&tantivy_dir).map_err(|e| IndexError::io(dir, &e))?;
            let i = tantivy::Index::create_in_dir(&tantivy_dir, schema)
                .map_err(|e| IndexError::Tantivy(e.to_string()))?;
            (i, None, had_any)
        };
        Self::with(dir, index, manifest.as_ref(), rebuilt, Some(lock))
    }

    /// Opens an index that is complete and readable, to search it; `None` when there is
    /// none yet (or another process is building it for the first time). Never writes.
    pub fn open_existing(dir: &Path) -> Result<Option<Self>, IndexError> {
        match open_readable(dir) {
            Some((index, manifest)) => {
                Self::with(dir, index, Some(&manifest), false, None).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Names the set of chunks the index holds: ids only grow within an epoch, so the
    /// epoch, the next id and the count change whenever a chunk comes or goes.
    pub fn generation(&self) -> String {
        let (epoch, chunks) = self.epoch_and_chunks();
        let next = self.next_id.load(std::sync::atomic::Ordering::Relaxed);
        format!("{epoch:x}:{next}:{chunks}")
    }

    /// The epoch and chunk count of the manifest as of opening (or the last update):
    /// what a search needs without reading the manifest again.
    pub fn epoch_and_chunks(&self) -> (u64, usize) {
        (
            self.epoch.load(std::sync::atomic::Ordering::Relaxed),
            self.chunk_count.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// A handle on an opened index; `manifest` is the one read to open it (read once:
    /// a large index's manifest costs milliseconds to parse).
    fn with(
        dir: &Path,
        index: tantivy::Index,
        manifest: Option<&Manifest>,
        rebuilt: bool,
        lock: Option<std::fs::File>,
    ) -> Result<Self, IndexError> {
        let (_, fields) = schema();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e: tantivy::TantivyError| IndexError::Tantivy(e.to_string()))?;
        let (epoch, next_id, chunks) =
            manifest.map_or((0, 0, 0), |m| (m.epoch, m.next_id, m.chunk_count()));
        Ok(Self {
            dir: dir.to_path_buf(),
            index,
            fields,
            reader,
            rebuilt,
            epoch: epoch.into(),
            next_id: next_id.into(),
            chunk_count: chunks.into(),
            _lock: lock,
        })
    }

    fn writer(&self) -> Result<IndexWriter, IndexError> {
        self.index
            .writer_with_num_threads(1, WRITER_BYTES)
            .map_err(|e| match e {
                tantivy::TantivyError::LockFailure(..) => IndexError::Busy,
                other => IndexError::Tantivy(other.to_string()),
            })
    }

    /// Brings the index up to date with `root`'s files.
    pub fn update(
        &self,
        root: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Update, IndexError> {
        let mut writer = self.writer()?;
        let mut manifest = read_manifest(&self.dir)
            .filter(|m| m.format == FORMAT && m.root == root)
            .unwrap_or_else(|| Manifest {
                format: FORMAT,
                epoch: new_epoch(),
                root: root.to_path_buf(),
                ..Manifest::default()
            });
        if manifest.files.is_empty() {
            // Whatever a half-finished first run left behind goes.
            writer
                .delete_all_documents()
                .map_err(|e| IndexError::Tantivy(e.to_string()))?;
        }
        if !root.is_dir() {
            return Err(IndexError::NotADir(root.to_path_buf()));
        }
        let (found, skipped) = walk::walk(root);
        let mut up = Update {
            files: found.len(),
            skipped,
            rebuilt: self.rebuilt,
            ..Update::default()
        };
        let f = self.fields;
        let total = found.len();
        let mut seen: HashSet<&str> = HashSet::with_capacity(total);
        for (n, file) in found.iter().enumerate() {
            seen.insert(&file.rel);
            if n % 64 == 0 {
                progress(Progress {
                    files_done: n,
                    files_total: total,
                    chunks: up.chunks_added,
                });
            }
            let old = manifest.files.get(&file.rel);
            if old.is_some_and(|o| o.size == file.size && o.mtime_ns == file.mtime_ns) {
                continue;
            }
            let bytes = match std::fs::read(&file.path) {
                Ok(b) => b,
                Err(e) => {
                    up.skipped.push(Skipped {
                        rel: file.rel.clone(),
                        why: format!("cannot read: {e}"),
                    });
                    continue;
                }
            };
            let hash = content_hash(&bytes);
            if let Some(o) = manifest.files.get_mut(&file.rel)
                && o.hash == hash
            {
                o.size = file.size;
                o.mtime_ns = file.mtime_ns;
                continue;
            }
            if let Some(o) = manifest.files.remove(&file.rel) {
                writer.delete_term(Term::from_field_text(f.path, &file.rel));
                up.removed.extend(o.chunks);
            }
            let Some((text, _)) = crate::util::text::decode_text(&bytes) else {
                up.skipped.push(Skipped {
                    rel: file.rel.clone(),
                    why: "binary".into(),
                });
                continue;
            };
            let lang = language(&file.rel);
            let mut ids = Vec::new();
            for c in chunk::chunks(&text) {
                let id = manifest.next_id;
                manifest.next_id += 1;
                writer
                    .add_document(doc!(
                        f.path => file.rel.as_str(),
                        f.path_text => file.rel.replace(['/', '.', '_', '-'], " "),
                        f.text => c.text.as_str(),
                        f.start => c.start_line as u64,
                        f.end => c.end_line as u64,
                        f.lang => lang,
                        f.id => id,
                    ))
                    .map_err(|e| IndexError::Tantivy(e.to_string()))?;
                ids.push(id);
                up.added.push((id, file.rel.clone(), c.text));
            }
            up.chunks_added += ids.len();
            up.changed += 1;
            manifest.files.insert(
                file.rel.clone(),
                FileEntry {
                    size: file.size,
                    mtime_ns: file.mtime_ns,
                    hash,
                    chunks: ids,
                },
            );
        }
        let gone: Vec<String> = manifest
            .files
            .keys()
            .filter(|k| !seen.contains(String::as_str(k)))
            .cloned()
            .collect();
        for rel in gone {
            writer.delete_term(Term::from_field_text(f.path, &rel));
            if let Some(o) = manifest.files.remove(&rel) {
                up.removed.extend(o.chunks);
            }
            up.deleted += 1;
        }
        progress(Progress {
            files_done: total,
            files_total: total,
            chunks: up.chunks_added,
        });
        if up.changed > 0 || up.deleted > 0 || self.rebuilt {
            writer
                .commit()
                .map_err(|e| IndexError::Tantivy(e.to_string()))?;
        }
        drop(writer);
        write_manifest(&self.dir, &manifest)?;
        self.epoch
            .store(manifest.epoch, std::sync::atomic::Ordering::Relaxed);
        self.chunk_count
            .store(manifest.chunk_count(), std::sync::atomic::Ordering::Relaxed);
        self.next_id
            .store(manifest.next_id, std::sync::atomic::Ordering::Relaxed);
        self.reader
            .reload()
            .map_err(|e| IndexError::Tantivy(e.to_string()))?;
        Ok(up)
    }

    /// `query` as BM25 reads it: the text and, at half weight, the path's words.
    fn parse(&self, query: &str) -> Box<dyn Query> {
        let f = self.fields;
        let mut parser = QueryParser::for_index(&self.index, vec![f.text, f.path_text]);
        parser.set_field_boost(f.path_text, 0.5);
        parser.parse_query_lenient(&sanitize(query)).0
    }

    /// A search for `query` that ranks chunks by id first and reads the texts of only
    /// those it keeps ([`Lookup`]): what hybrid search does with 50 candidates a side.
    pub fn lookup(&self, query: &str) -> Lookup<'_> {
        Lookup {
            idx: self,
            searcher: self.reader.searcher(),
            query: self.parse(query),
        }
    }

    /// The `k` best chunks for `query` by BM25 (the text and the path's words).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>, IndexError> {
        let fields = self.fields;
        let searcher = self.reader.searcher();
        let parsed = self.parse(query);
        let top = searcher
            .search(&parsed, &TopDocs::with_limit(limit.max(1)).order_by_score())
            .map_err(|e| IndexError::Tantivy(e.to_string()))?;
        let snippets = SnippetGenerator::create(&searcher, &*parsed, fields.text).ok();
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher
                .doc(addr)
                .map_err(|e| IndexError::Tantivy(e.to_string()))?;
            let mut hit = self.hit(&d, score);
            if let Some(g) = &snippets {
                let s = g.snippet_from_doc(&d);
                s.fragment().clone_into(&mut hit.snippet);
                hit.highlights = s.highlighted().to_vec();
            }
            if hit.snippet.is_empty() {
                hit.snippet = first_lines(&hit.text, 3);
            }
            out.push(hit);
        }
        Ok(out)
    }

    /// The stored chunks with these ids (dense hits are looked up here), scored `score`
    /// each, in the order given; ids no longer in the index are left out.
    pub fn chunks(&self, ids: &[(u64, f32)]) -> Result<Vec<Hit>, IndexError> {
        let f = self.fields;
        let searcher = self.reader.searcher();
        let mut out = Vec::with_capacity(ids.len());
        for &(id, score) in ids {
            let q = TermQuery::new(Term::from_field_u64(f.id, id), IndexRecordOption::Basic);
            let top = searcher
                .search(&q, &TopDocs::with_limit(1).order_by_score())
                .map_err(|e| IndexError::Tantivy(e.to_string()))?;
            if let Some((_, addr)) = top.first() {
                let d: TantivyDocument = searcher
                    .doc(*addr)
                    .map_err(|e| IndexError::Tantivy(e.to_string()))?;
                let mut hit = self.hit(&d, score);
                hit.snippet = first_lines(&hit.text, 3);
                out.push(hit);
            }
        }
        Ok(out)
    }

    fn hit(&self, d: &TantivyDocument, score: f32) -> Hit {
        let f = self.fields;
        let text = |field| {
            d.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let num = |field| d.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0);
        Hit {
            id: num(f.id),
            path: text(f.path),
            start_line: num(f.start) as usize,
            end_line: num(f.end) as usize,
            lang: text(f.lang),
            score,
            text: text(f.text),
            snippet: String::new(),
            highlights: Vec::new(),
        }
    }

    /// The index's epoch and the ids of every chunk it holds, by path, in path order
    /// (from the manifest of the last finished update).
    pub fn live_chunks(&self) -> (u64, Vec<u64>) {
        let manifest = read_manifest(&self.dir).unwrap_or_default();
        let ids = manifest
            .files
            .values()
            .flat_map(|f| f.chunks.iter().copied())
            .collect();
        (manifest.epoch, ids)
    }

    /// Files and chunks held, and bytes on disk.
    pub fn stats(&self) -> Stats {
        let manifest = read_manifest(&self.dir).unwrap_or_default();
        Stats {
            files: manifest.files.len(),
            chunks: manifest.files.values().map(|f| f.chunks.len()).sum(),
            bytes: crate::util::fs::dir_size(&self.dir),
        }
    }
}

/// What an index holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub files: usize,
    pub chunks: usize,
    pub bytes: u64,
}

/// Query syntax characters a user does not mean (`a:b`, `(`, `"` unbalanced) become spaces.
fn sanitize(q: &str) -> String {
    q.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c.is_whitespace() {
                c
            } else {
                ' '
            }
        })
        .collect()
}

fn first_lines(text: &str, n: usize) -> String {
    text.lines().take(n).collect::<Vec<_>>().join("\n")
}

/// The tantivy index of `dir` when its manifest is current and it opens with our schema.
fn open_readable(dir: &Path) -> Option<(tantivy::Index, Manifest)> {
    let (schema, _) = schema();
    let manifest = read_manifest(dir).filter(|m| m.format == FORMAT)?;
    tantivy::Index::open_in_dir(dir.join("bm25"))
        .ok()
        .filter(|i| i.schema() == schema)
        .map(|i| (i, manifest))
}

fn new_epoch() -> u64 {
    u64::from_str_radix(&crate::util::ids::random_hex::<8>(), 16).unwrap_or(1)
}

fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

fn read_manifest(dir: &Path) -> Option<Manifest> {
    let text = std::fs::read(dir.join(MANIFEST)).ok()?;
    serde_json::from_slice(&text).ok()
}

fn write_manifest(dir: &Path, m: &Manifest) -> Result<(), IndexError> {
    let path = dir.join(MANIFEST);
    let tmp = dir.join(format!(
        "{MANIFEST}.{}.tmp",
        crate::util::ids::random_hex::<6>()
    ));
    let bytes = serde_json::to_vec(m).map_err(|e| IndexError::Tantivy(e.to_string()))?;
    std::fs::write(&tmp, bytes).map_err(|e| IndexError::io(&tmp, &e))?;
    std::fs::rename(&tmp, &path).map_err(|e| IndexError::io(&path, &e))
}
