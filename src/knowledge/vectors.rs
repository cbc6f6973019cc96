//! The dense side's storage: one vector per chunk id in `vectors.bin` in the index folder,
//! searched by brute-force cosine (the vectors are unit length, so a dot product).
//!
//! In memory, each vector is kept twice: as it was stored (f32, for exact scores and for
//! rewriting the file) and as 8-bit codes with one scale per vector, a quarter the bytes,
//! which a search scans (the scan reads memory faster than it multiplies, so bytes are
//! its cost); the best few times `k` are then scored exactly.
//!
//! Format: a 20-byte header (`AZVEC1\0\0`, dims as u32, the BM25 index's epoch as u64),
//! then records appended in order: `1, id: u64, dims × f32` adds a vector, `2, id: u64`
//! drops one (all little-endian). Crash safety: records are only appended and synced; a
//! record cut short by a crash is ignored on reading (and cut off before the next
//! append). The epoch ties the file to one life of the BM25 index, whose chunk ids it
//! refers to: when that index is rebuilt, ids start again and the old file is discarded.
//! When dropped records outnumber live ones the file is rewritten (temp + rename).
//!
//! Not here: what a chunk's vector is made of (`embed.rs`), when vectors are made
//! (`dense.rs`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::IndexError;
use super::embed::DIMS;

const MAGIC: &[u8; 8] = b"AZVEC1\0\0";
const HEADER: usize = 20;
const FILE: &str = "vectors.bin";
const ADD: u8 = 1;
const DROP: u8 = 2;

/// Candidates per wanted result that the 8-bit scan passes to exact scoring (its error,
/// about 0.005 in cosine, cannot move a chunk further than that).
const RESCORE: usize = 4;

/// The vectors of one index, in memory.
#[derive(Clone, Debug, Default)]
pub struct Vectors {
    pub epoch: u64,
    ids: Vec<u64>,
    data: Vec<f32>,
    /// `data` in 8 bits per number: `data[i] ≈ codes[i] * scales[i / DIMS]`.
    codes: Vec<i8>,
    scales: Vec<f32>,
    pos: HashMap<u64, usize>,
    /// Records in the file that no longer count (dropped, or replaced).
    dead: usize,
    /// Length of the file's valid part.
    valid_len: u64,
}

fn io(path: &Path, e: &std::io::Error) -> IndexError {
    IndexError::io(path, e)
}

impl Vectors {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(FILE)
    }

    /// Reads the vectors of the index in `dir`; empty when there are none yet, or when
    /// they belong to another epoch or are unreadable (they will be made again).
    pub fn load(dir: &Path, epoch: u64) -> Self {
        let empty = Self {
            epoch,
            ..Self::default()
        };
        let Ok(bytes) = std::fs::read(Self::path(dir)) else {
            return empty;
        };
        if bytes.len() < HEADER
            || &bytes[..8] != MAGIC
            || u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default()) as usize != DIMS
            || u64::from_le_bytes(bytes[12..20].try_into().unwrap_or_default()) != epoch
        {
            return empty;
        }
        let mut v = empty;
        let mut at = HEADER;
        let add_len = 1 + 8 + DIMS * 4;
        while at + 9 <= bytes.len() {
            let tag = bytes[at];
            let id = u64::from_le_bytes(bytes[at + 1..at + 9].try_into().unwrap_or_default());
            match tag {
                ADD if at + add_len <= bytes.len() => {
                    let floats = bytes[at + 9..at + add_len]
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                    v.insert(id, floats);
                    at += add_len;
                }
                DROP => {
                    v.remove(id);
                    v.dead += 1;
                    at += 9;
                }
                // A cut record or garbage after a crash: the rest is not trusted.
                _ => break,
            }
        }
        v.valid_len = at as u64;
        v
    }

    /// Vectors held in memory only, as [`Vectors::load`] would hold them read from a
    /// file: lessons (which keep theirs in SQLite), and made-up vectors for measuring
    /// and testing the search. Rows whose length is not [`DIMS`] are left out.
    pub fn in_memory(epoch: u64, rows: impl IntoIterator<Item = (u64, Vec<f32>)>) -> Self {
        let mut v = Self {
            epoch,
            ..Self::default()
        };
        for (id, row) in rows {
            if row.len() == DIMS {
                v.insert(id, row.into_iter());
            }
        }
        v
    }

    fn insert(&mut self, id: u64, floats: impl Iterator<Item = f32>) {
        if self.pos.contains_key(&id) {
            self.remove(id);
            self.dead += 1;
        }
        self.pos.insert(id, self.ids.len());
        self.ids.push(id);
        let start = self.data.len();
        self.data.extend(floats);
        let scale = quantize(&self.data[start..], &mut self.codes);
        self.scales.push(scale);
    }

    fn remove(&mut self, id: u64) {
        let Some(i) = self.pos.remove(&id) else {
            return;
        };
        let last = self.ids.len() - 1;
        self.ids.swap_remove(i);
        self.scales.swap_remove(i);
        let (start, end) = (i * DIMS, last * DIMS);
        if i != last {
            self.data.copy_within(end..end + DIMS, start);
            self.codes.copy_within(end..end + DIMS, start);
            self.pos.insert(self.ids[i], i);
        }
        self.data.truncate(last * DIMS);
        self.codes.truncate(last * DIMS);
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.pos.contains_key(&id)
    }

    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// The `k` ids most similar to `query` (a unit vector), best first, with their cosine:
    /// the 8-bit codes of every vector are scanned for the best `RESCORE × k`, which
    /// are then scored exactly. Allocates one score per vector, not a copy of them.
    pub fn nearest(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        if query.len() != DIMS || k == 0 || self.is_empty() {
            return Vec::new();
        }
        let mut q = Vec::with_capacity(DIMS);
        // The query's scale multiplies every approximate score alike: ranks ignore it.
        let _ = quantize(query, &mut q);
        // Two passes: the scan alone stays a tight loop the compiler vectorises (with the
        // selection inside it, the same scan took five times as long).
        let approx: Vec<f32> = self
            .codes
            .chunks_exact(DIMS)
            .zip(&self.scales)
            // Exact in f32: |sum| <= 384 * 127 * 127 < 2^23.
            .map(|(row, scale)| dot_i8(row, &q) as f32 * scale)
            .collect();
        let mut best = TopK::new((k * RESCORE).max(64));
        for (i, &score) in approx.iter().enumerate() {
            best.offer(score, i);
        }
        let mut exact: Vec<(u64, f32)> = best
            .into_indices()
            .into_iter()
            .map(|i| {
                (
                    self.ids[i],
                    dot(&self.data[i * DIMS..(i + 1) * DIMS], query),
                )
            })
            .collect();
        exact.sort_by(|a, b| b.1.total_cmp(&a.1));
        exact.truncate(k);
        exact
    }

    /// Adds vectors and drops ids, in memory and in the file (appended and synced; the
    /// file is rewritten when it holds more dead records than live ones).
    pub fn write(
        &mut self,
        dir: &Path,
        added: &[(u64, Vec<f32>)],
        dropped: &[u64],
    ) -> Result<(), IndexError> {
        let mut buf = Vec::with_capacity(added.len() * (9 + DIMS * 4) + dropped.len() * 9);
        for &id in dropped {
            if self.contains(id) {
                self.remove(id);
                self.dead += 1;
                buf.push(DROP);
                buf.extend_from_slice(&id.to_le_bytes());
            }
        }
        for (id, v) in added {
            if v.len() != DIMS {
                continue;
            }
            self.insert(*id, v.iter().copied());
            buf.push(ADD);
            buf.extend_from_slice(&id.to_le_bytes());
            for x in v {
                buf.extend_from_slice(&x.to_le_bytes());
            }
        }
        let path = Self::path(dir);
        if self.valid_len < HEADER as u64 || self.dead > self.len().max(64) {
            return self.rewrite(dir);
        }
        if buf.is_empty() {
            return Ok(());
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| io(&path, &e))?;
        // Whatever a crash left after the valid part goes first.
        f.set_len(self.valid_len).map_err(|e| io(&path, &e))?;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(self.valid_len))
            .map_err(|e| io(&path, &e))?;
        f.write_all(&buf).map_err(|e| io(&path, &e))?;
        f.sync_data().map_err(|e| io(&path, &e))?;
        self.valid_len += buf.len() as u64;
        Ok(())
    }

    /// Writes the live vectors to a new file and renames it over the old one.
    fn rewrite(&mut self, dir: &Path) -> Result<(), IndexError> {
        let path = Self::path(dir);
        let tmp = dir.join(format!(
            "{FILE}.{}.tmp",
            crate::util::ids::random_hex::<6>()
        ));
        let mut buf = Vec::with_capacity(HEADER + self.len() * (9 + DIMS * 4));
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&(DIMS as u32).to_le_bytes());
        buf.extend_from_slice(&self.epoch.to_le_bytes());
        for (id, v) in self.ids.iter().zip(self.data.chunks_exact(DIMS)) {
            buf.push(ADD);
            buf.extend_from_slice(&id.to_le_bytes());
            for x in v {
                buf.extend_from_slice(&x.to_le_bytes());
            }
        }
        let result = (|| {
            let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, &e))?;
            f.write_all(&buf).map_err(|e| io(&tmp, &e))?;
            f.sync_all().map_err(|e| io(&tmp, &e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io(&path, &e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result?;
        self.dead = 0;
        self.valid_len = buf.len() as u64;
        Ok(())
    }
}

/// The `n` largest scores offered, by index: a bounded min-heap, so a scan of 100k
/// scores keeps `n` of them.
struct TopK {
    n: usize,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(Score, usize)>>,
    /// The worst score kept once `n` are kept: nothing at or below it gets in.
    floor: f32,
}

/// A score ordered by `total_cmp`.
#[derive(Clone, Copy, PartialEq)]
struct Score(f32);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl TopK {
    fn new(n: usize) -> Self {
        Self {
            n,
            heap: std::collections::BinaryHeap::with_capacity(n + 1),
            floor: f32::NEG_INFINITY,
        }
    }

    fn offer(&mut self, score: f32, index: usize) {
        if score <= self.floor {
            return;
        }
        if self.heap.len() < self.n {
            self.heap.push(std::cmp::Reverse((Score(score), index)));
        } else if let Some(mut worst) = self.heap.peek_mut() {
            *worst = std::cmp::Reverse((Score(score), index));
        }
        if self.heap.len() == self.n {
            self.floor = self.heap.peek().map_or(self.floor, |w| w.0.0.0);
        }
    }

    fn into_indices(self) -> Vec<usize> {
        self.heap.into_iter().map(|r| r.0.1).collect()
    }
}

/// Appends `v` as 8-bit codes to `codes` and returns their scale: `v[i] ≈ code[i] ×
/// scale`, the largest magnitude mapped to ±127.
fn quantize(v: &[f32], codes: &mut Vec<i8>) -> f32 {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        codes.extend(std::iter::repeat_n(0, v.len()));
        return 0.0;
    }
    let scale = max / 127.0;
    // Rounded and within ±127 by construction.
    codes.extend(
        v.iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8),
    );
    scale
}

/// An 8-bit dot product the compiler vectorises (sixteen independent sums, each product
/// of two i8 fits an i16 and their sum an i32).
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    acc.iter().sum::<i32>() + tail
}

/// A dot product the compiler vectorises: eight independent sums (a single running sum
/// must be added in order, which keeps it scalar and made a search over 100k vectors
/// take 80 ms instead of about 15). Cosine for unit vectors; lessons use it too.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(i: usize) -> Vec<f32> {
        let mut v = vec![0.0; DIMS];
        v[i] = 1.0;
        v
    }

    #[test]
    fn add_drop_reload_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let d = &dir;
        let mut v = Vectors::load(d.path(), 7);
        v.write(d.path(), &[(1, unit(0)), (2, unit(1)), (3, unit(2))], &[])
            .unwrap();
        v.write(d.path(), &[(4, unit(3))], &[2]).unwrap();
        let reread = Vectors::load(d.path(), 7);
        assert_eq!(reread.len(), 3);
        assert!(!reread.contains(2));
        assert_eq!(reread.nearest(&unit(3), 1), vec![(4, 1.0)]);
        assert_eq!(reread.nearest(&unit(0), 2)[0].0, 1);
        // Another epoch: the vectors belong to an index that is gone.
        assert!(Vectors::load(d.path(), 8).is_empty());
        // A crash mid-append: the cut record is ignored, and the next append replaces it.
        let path = Vectors::path(d.path());
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&[ADD, 9, 0, 0]).unwrap();
        drop(file);
        let mut r = Vectors::load(d.path(), 7);
        assert_eq!(r.len(), 3);
        r.write(d.path(), &[(5, unit(4))], &[]).unwrap();
        let r = Vectors::load(d.path(), 7);
        assert_eq!(r.len(), 4);
        assert!(r.contains(5));
        // Garbage instead of a file: empty, and the next write starts a new one.
        std::fs::write(&path, b"junk").unwrap();
        let mut r = Vectors::load(d.path(), 7);
        assert!(r.is_empty());
        r.write(d.path(), &[(6, unit(5))], &[]).unwrap();
        assert_eq!(Vectors::load(d.path(), 7).len(), 1);
    }

    #[test]
    fn the_eight_bit_scan_finds_the_exact_nearest() {
        // Random unit vectors (xorshift): the result must be the exact f32 ranking.
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let mut row = || {
            let mut x: Vec<f32> = (0..DIMS).map(|_| next()).collect();
            let n = x.iter().map(|a| a * a).sum::<f32>().sqrt();
            for a in &mut x {
                *a /= n;
            }
            x
        };
        let rows: Vec<(u64, Vec<f32>)> = (0..3000).map(|i| (i, row())).collect();
        let v = Vectors::in_memory(1, rows.clone());
        for _ in 0..5 {
            let q = row();
            let mut exact: Vec<(u64, f32)> = rows.iter().map(|(id, r)| (*id, dot(r, &q))).collect();
            exact.sort_by(|a, b| b.1.total_cmp(&a.1));
            exact.truncate(20);
            assert_eq!(v.nearest(&q, 20), exact);
        }
        assert!(v.nearest(&unit(0), 0).is_empty());
        assert!(Vectors::default().nearest(&unit(0), 3).is_empty());
    }

    #[test]
    fn many_drops_compact_the_file() {
        let d = tempfile::tempdir().unwrap();
        let mut v = Vectors::load(d.path(), 1);
        let adds: Vec<(u64, Vec<f32>)> = (0..200).map(|i| (i, unit(i as usize % DIMS))).collect();
        v.write(d.path(), &adds, &[]).unwrap();
        let before = std::fs::metadata(Vectors::path(d.path())).unwrap().len();
        let drops: Vec<u64> = (0..150).collect();
        v.write(d.path(), &[], &drops).unwrap();
        let after = std::fs::metadata(Vectors::path(d.path())).unwrap().len();
        assert!(after < before / 2, "{after} vs {before}");
        assert_eq!(Vectors::load(d.path(), 1).len(), 50);
    }
}
