//! Finding lessons: by keyword (SQLite FTS5 over the query's folded content words, as
//! prefixes), by meaning (cosine of the stored lesson vectors, `vectors.rs`), or both
//! fused by reciprocal rank with the function doc search uses (`knowledge::fuse_by`).
//! Whatever the mode, a lesson is found only above the relevance floor: it holds enough
//! of the query's content words (`knowledge::context::matches`, the floor document
//! excerpts have), or its meaning is close to the query's (cosine ≥ [`MEANING_FLOOR`]).
//!
//! Blocking, on the store's connection; the query's vector is made by the caller (the
//! model never loads here). Recall at task start, `search_memory`, `az-os memory search`
//! and the dashboard all search through [`find`].

use std::collections::HashMap;

use crate::store::Db;

use super::vectors;
use crate::knowledge::context::{matches, terms};
use crate::knowledge::fuse_by;
use crate::store::StoreError;
use crate::store::memories::{self, Memory};

/// Candidates each side brings to the fusion.
const CANDIDATES: usize = 50;
/// Cosine at or above which a lesson is about the query though it shares too few words
/// with it. Measured with MiniLM on short lessons: a question about a lesson's subject in
/// other words scores 0.38–0.67 with it ("how many records are in the spreadsheet" and a
/// lesson on data.csv's header row: 0.41; "commit my changes" and "run make check before
/// committing": 0.38), an unrelated lesson -0.14–0.26.
pub const MEANING_FLOOR: f32 = 0.35;

/// How lessons are searched.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Words: FTS5, bm25-ranked.
    Keyword,
    /// Meaning: cosine of MiniLM embeddings.
    Dense,
    /// Both, fused by reciprocal rank.
    #[default]
    Hybrid,
}

/// A search.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    pub text: &'a str,
    /// The text's unit vector; `None` searches by keyword whatever `mode` says.
    pub vector: Option<&'a [f32]>,
    /// Only this workdir's lessons and the global ones; `None`: every lesson.
    pub workdir: Option<&'a str>,
    pub k: usize,
    pub mode: Mode,
}

/// A lesson found.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Found {
    #[serde(flatten)]
    pub lesson: Memory,
    /// Fused reciprocal-rank score (one list's when one side searched).
    pub score: f32,
    /// Cosine with the query, when the meaning side saw it.
    pub cosine: Option<f32>,
}

/// The `k` best lessons for `q`, best first, above the floor; no access is counted.
pub fn find(conn: &Db, q: &Query<'_>) -> Result<Vec<Found>, StoreError> {
    if q.k == 0 || q.text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let terms = terms(q.text);
    let vector = q.vector.filter(|_| q.mode != Mode::Keyword);
    let keyword = if q.mode == Mode::Dense && vector.is_some() {
        Vec::new()
    } else {
        let telling = telling(conn, &terms)?;
        match memories::stems_query(&telling).or_else(|| memories::words_query(q.text)) {
            Some(fts) => memories::keyword_rowids(conn, &fts, CANDIDATES)?,
            None => Vec::new(),
        }
    };
    let mut cosine: HashMap<i64, f32> = HashMap::new();
    let mut dense = Vec::new();
    if let Some(v) = vector {
        for (id, c) in vectors::cached(conn)?.nearest(v, CANDIDATES) {
            if let Ok(rowid) = i64::try_from(id) {
                cosine.insert(rowid, c);
                dense.push(rowid);
            }
        }
    }
    let by_words: std::collections::HashSet<i64> = keyword.iter().copied().collect();
    let fused = fuse_by(&[keyword, dense], 2 * CANDIDATES, |r| *r);
    let mut out = Vec::new();
    for (score, rowid) in fused {
        let cos = cosine.get(&rowid).copied();
        let close = cos.is_some_and(|c| c >= MEANING_FLOOR);
        // A word match with no content words to weigh (a query of short or common
        // words) stands on the keyword side's own ranking.
        let worded = terms.is_empty() && by_words.contains(&rowid);
        if !close && !worded && terms.is_empty() {
            continue;
        }
        let Some(m) = memories::by_rowid(conn, rowid)? else {
            continue;
        };
        if q.workdir.is_some() && m.scope.as_deref().is_some_and(|s| Some(s) != q.workdir) {
            continue;
        }
        if !(close || worded || matches(&terms, &m.lesson)) {
            continue;
        }
        out.push(Found {
            lesson: m,
            score,
            cosine: cos,
        });
        if out.len() == q.k {
            break;
        }
    }
    Ok(out)
}

/// The terms worth asking FTS5 for: those in at most half the lessons. A word most
/// lessons hold tells none apart, and asking for it makes FTS5 score nearly every lesson
/// (at 10k lessons, leaving two such words out made a recall 3.6x as fast:
/// `benches/memory.rs`, docs/performance.md). The floor still
/// counts every term; when all are that common, the two rarest are asked for.
fn telling(conn: &Db, terms: &[String]) -> Result<Vec<String>, StoreError> {
    /// Below this many lessons scoring them all is cheap and every word counts.
    const SMALL: u64 = 200;
    if terms.len() <= 2 {
        return Ok(terms.to_vec());
    }
    let lessons = memories::count(conn)?;
    if lessons < SMALL {
        return Ok(terms.to_vec());
    }
    let mut docs = Vec::with_capacity(terms.len());
    for t in terms {
        docs.push((memories::stem_docs(conn, t)?, t));
    }
    let kept: Vec<String> = docs
        .iter()
        .filter(|(d, _)| d * 2 <= lessons)
        .map(|(_, t)| (*t).clone())
        .collect();
    if kept.len() >= 2 {
        return Ok(kept);
    }
    docs.sort_by_key(|(d, _)| *d);
    Ok(docs.into_iter().take(2).map(|(_, t)| t.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::embed::DIMS;
    use crate::store::memories::vectors as stored;

    fn axis(i: usize) -> Vec<f32> {
        let mut v = vec![0.0; DIMS];
        v[i] = 1.0;
        v
    }

    #[test]
    fn words_meaning_and_both_above_the_floor() -> Result<(), StoreError> {
        let c = crate::store::open_in_memory()?;
        let add = |text: &str, scope: Option<&str>| -> Result<String, StoreError> {
            let m = Memory {
                id: memories::new_id(),
                lesson: text.into(),
                category: "fact".into(),
                scope: scope.map(str::to_owned),
                ..Memory::default()
            };
            memories::insert(&c, &m)?;
            Ok(m.id)
        };
        let header = add(
            "data.csv has a header row; subtract one when counting lines",
            None,
        )?;
        let paraphrase = add("the first row of the table names the columns", None)?;
        let elsewhere = add(
            "data.csv lines are counted with wc -l in /other",
            Some("/other"),
        )?;
        add("unrelated: the deploy needs a VPN", None)?;
        // Vectors: the paraphrase points where the query will, the rest elsewhere.
        let todo = stored::pending(&c, 10)?;
        let done: Vec<_> = todo
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let v = if p.id == paraphrase {
                    axis(0)
                } else {
                    axis(i + 1)
                };
                (p, v)
            })
            .collect();
        stored::store(&c, &done)?;
        let q = axis(0);
        let ask = |mode, vector: Option<&[f32]>| {
            find(
                &c,
                &Query {
                    text: "count the lines of data.csv",
                    vector,
                    workdir: Some("/w"),
                    k: 5,
                    mode,
                },
            )
            .map(|f| f.into_iter().map(|f| f.lesson.id).collect::<Vec<_>>())
        };
        assert_eq!(ask(Mode::Keyword, Some(&q))?, std::slice::from_ref(&header));
        // By meaning: the paraphrase first; the lesson sharing the words is near enough
        // to pass the floor too (it is among the nearest, and it matches).
        assert_eq!(
            ask(Mode::Dense, Some(&q))?,
            [paraphrase.clone(), header.clone()]
        );
        let both = ask(Mode::Hybrid, Some(&q))?;
        assert!(
            both.contains(&header) && both.contains(&paraphrase),
            "{both:?}"
        );
        assert!(!both.contains(&elsewhere), "another workdir's lesson");
        // No vector: keyword, whatever the mode.
        assert_eq!(ask(Mode::Hybrid, None)?, [header]);
        Ok(())
    }
}
