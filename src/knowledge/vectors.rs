//! The dense side's storage: one vector per chunk id in `vectors.bin` in the index folder,
//! searched by brute-force cosine (the vectors are unit length, so a dot product).
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

/// The vectors of one index, in memory.
#[derive(Clone, Debug, Default)]
pub struct Vectors {
    pub epoch: u64,
    ids: Vec<u64>,
    data: Vec<f32>,
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

    /// Vectors held in memory only (lessons keep theirs in SQLite): `pairs` of id and
    /// vector; a vector of another width is left out.
    pub fn in_memory(pairs: impl IntoIterator<Item = (u64, Vec<f32>)>) -> Self {
        let mut v = Self::default();
        for (id, floats) in pairs {
            if floats.len() == DIMS {
                v.insert(id, floats.into_iter());
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
        self.data.extend(floats);
    }

    fn remove(&mut self, id: u64) {
        let Some(i) = self.pos.remove(&id) else {
            return;
        };
        let last = self.ids.len() - 1;
        self.ids.swap_remove(i);
        let (start, end) = (i * DIMS, last * DIMS);
        if i != last {
            self.data.copy_within(end..end + DIMS, start);
            self.pos.insert(self.ids[i], i);
        }
        self.data.truncate(last * DIMS);
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

    /// The `k` ids most similar to `query` (a unit vector), best first, with their cosine.
    pub fn nearest(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        if query.len() != DIMS || k == 0 {
            return Vec::new();
        }
        let mut scored: Vec<(u64, f32)> = self
            .data
            .chunks_exact(DIMS)
            .zip(&self.ids)
            .map(|(v, &id)| (id, dot(v, query)))
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
        scored.truncate(k);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored
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
