//! What of a workdir's index goes into a task's first request: the chunks that really
//! match the task (a relevance floor on top of BM25's ranking), packed best first into a
//! token budget. Nothing that merely shares a common word gets in: every byte added here
//! is sent again with every turn, so an unrelated workdir adds nothing at all.
//!
//! Blocking (it reads the index): call it from a blocking thread.

use std::collections::HashSet;
use std::path::Path;

use super::{Hit, IndexError};

/// Chunks considered before the floor; the budget keeps far fewer.
const CANDIDATES: usize = 12;
/// A hit scoring below this share of the best one is noise next to it.
const RELATIVE_FLOOR: f32 = 0.35;
/// Below this many tokens left, a cut chunk is more header than content.
const MIN_PIECE_TOKENS: usize = 40;

/// Excerpts chosen for a task.
#[derive(Clone, Debug, PartialEq)]
pub struct Context {
    /// The text added to the first request.
    pub text: String,
    /// `path:start-end` of each excerpt, in the order added.
    pub sources: Vec<String>,
    /// Estimated tokens of `text` (prose: about three characters a token).
    pub tokens: usize,
}

/// The context for `task` from the index in `dir`, within `budget_tokens`; `None` when
/// there is no index yet, the budget is 0, or nothing passes the floor.
pub fn for_task(
    dir: &Path,
    task: &str,
    budget_tokens: usize,
) -> Result<Option<Context>, IndexError> {
    if budget_tokens == 0 {
        return Ok(None);
    }
    let Some(index) = super::cache::bm25(dir)? else {
        return Ok(None);
    };
    let terms = terms(task);
    if terms.is_empty() {
        return Ok(None);
    }
    let hits = index.search(task, CANDIDATES)?;
    Ok(pack(&relevant(&terms, hits), budget_tokens))
}

/// The distinct content words of a query: lower case, at least three characters, not
/// a common English or task word. Order of first appearance.
pub fn terms(query: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    words(query)
        .filter(|w| w.chars().count() >= 3 && !STOP.contains(&w.as_str()))
        .map(|w| stem(&w))
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

/// The hits that match enough of `terms` ([`matches`]) with a score not far below the
/// best hit's.
pub fn relevant(terms: &[String], hits: Vec<Hit>) -> Vec<Hit> {
    let best = hits.first().map_or(0.0, |h| h.score);
    hits.into_iter()
        .filter(|h| h.score >= best * RELATIVE_FLOOR)
        .filter(|h| matches(terms, &format!("{}\n{}", h.text, h.path)))
        .collect()
}

/// The relevance floor that document excerpts and lessons share: `text` holds at least
/// two of the query's distinct `terms` (all of them when it has fewer), and a quarter of
/// a long query's (at most four).
pub fn matches(terms: &[String], text: &str) -> bool {
    let need = match terms.len() {
        0 => return false,
        n @ 1..=2 => n,
        n => n.div_ceil(4).clamp(2, 4),
    };
    let have = stem_words(text);
    terms.iter().filter(|t| have.contains(*t)).count() >= need
}

/// Best first into `budget_tokens`: whole chunks while they fit, then the head of the
/// next one cut at a line; a chunk overlapping one already in is skipped.
pub fn pack(hits: &[Hit], budget_tokens: usize) -> Option<Context> {
    let tokens = |s: &str| s.len().div_ceil(3);
    let intro = "Excerpts from files in the workdir that match the task (from its index; read the files for more):\n";
    let mut left = budget_tokens.checked_sub(tokens(intro))?;
    let mut text = String::from(intro);
    let mut sources = Vec::new();
    let mut taken: Vec<(&str, usize, usize)> = Vec::new();
    for h in hits {
        if taken
            .iter()
            .any(|&(p, s, e)| p == h.path && h.start_line <= e && s <= h.end_line)
        {
            continue;
        }
        let mut end = h.end_line;
        let mut body = h.text.trim_end().to_owned();
        let cost = |end: usize, body: &str| {
            tokens(&format!("[{}:{}-{end}]\n{body}\n", h.path, h.start_line))
        };
        if cost(end, &body) > left {
            if left < MIN_PIECE_TOKENS {
                break;
            }
            // Keep whole lines while they fit; a cut chunk says where it stops.
            let mut kept = String::new();
            let mut n = 0;
            for line in h.text.lines() {
                let next = if kept.is_empty() {
                    line.to_owned()
                } else {
                    format!("{kept}\n{line}")
                };
                if cost(h.start_line + n, &next) > left {
                    break;
                }
                kept = next;
                n += 1;
            }
            if n == 0 {
                break;
            }
            body = kept;
            end = h.start_line + n - 1;
        }
        let entry = format!("[{}:{}-{end}]\n{body}\n", h.path, h.start_line);
        left = left.saturating_sub(tokens(&entry));
        text.push_str(&entry);
        sources.push(format!("{}:{}-{end}", h.path, h.start_line));
        taken.push((&h.path, h.start_line, end));
        if end < h.end_line {
            break;
        }
    }
    if sources.is_empty() {
        return None;
    }
    Some(Context {
        tokens: tokens(&text),
        text,
        sources,
    })
}

/// The folded forms of every word in `s` (what [`terms`] are matched against).
pub fn stem_words(s: &str) -> HashSet<String> {
    words(s).map(|w| stem(&w)).collect()
}

fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// A light plural/verb-form fold, so `lines` meets `line`, `parsed` meets `parse` and
/// `classes` meets `class`: drop one of -ing, -ed, -s (not -ss), then a final -e.
fn stem(w: &str) -> String {
    let long = |b: &str| b.chars().count() >= 3;
    let mut base = w;
    for suffix in ["ing", "ed", "s"] {
        if let Some(b) = base.strip_suffix(suffix)
            && long(b)
            && !(suffix == "s" && b.ends_with('s'))
        {
            base = b;
            break;
        }
    }
    if let Some(b) = base.strip_suffix('e')
        && long(b)
    {
        base = b;
    }
    base.to_owned()
}

/// Words that say nothing about which document helps.
const STOP: &[&str] = &[
    "the", "and", "for", "with", "that", "this", "from", "into", "then", "than", "what", "which",
    "who", "whom", "how", "why", "when", "where", "are", "was", "were", "been", "being", "have",
    "has", "had", "does", "did", "doing", "can", "could", "should", "would", "will", "shall",
    "may", "might", "must", "not", "but", "all", "any", "each", "every", "some", "its", "it's",
    "our", "your", "you", "his", "her", "their", "them", "they", "there", "here", "these", "those",
    "out", "about", "over", "under", "again", "also", "just", "only", "very", "too", "more",
    "most", "such", "own", "same", "other", "use", "using", "used", "make", "made", "please",
    "task", "file", "files", "write", "read", "run", "say", "tell", "give", "get", "put", "show",
    "find", "new", "one", "two", "now", "want", "need", "like", "let", "via",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(path: &str, start: usize, text: &str, score: f32) -> Hit {
        Hit {
            id: start as u64,
            path: path.into(),
            start_line: start,
            end_line: start + text.lines().count() - 1,
            lang: String::new(),
            score,
            text: text.into(),
            snippet: String::new(),
            highlights: Vec::new(),
        }
    }

    #[test]
    fn terms_drop_common_words_and_fold_forms() {
        assert_eq!(
            terms("Please count the lines of data.csv and write them to count.txt"),
            ["count", "lin", "data", "csv", "txt"]
        );
        assert_eq!(stem("classes"), stem("class"));
        assert_eq!(stem("parsed"), stem("parse"));
        assert_eq!(stem("lines"), stem("line"));
        assert!(terms("what is it").is_empty());
    }

    #[test]
    fn one_shared_word_is_not_relevance() {
        let t = terms("configure the retry backoff for uploads");
        let hits = vec![
            hit(
                "docs/retry.md",
                1,
                "Retry backoff doubles after each failed upload.",
                5.0,
            ),
            hit("src/x.rs", 1, "fn configure() {}", 4.0),
        ];
        let kept = relevant(&t, hits);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].path, "docs/retry.md");
    }

    #[test]
    fn packing_stays_within_the_budget_and_cuts_at_a_line() {
        let long = (1..=80).fold(String::new(), |mut s, i| {
            s.push_str(&format!("line number {i} of the guide\n"));
            s
        });
        let hits = vec![
            hit("a.md", 1, "short first chunk", 9.0),
            hit("b.md", 10, &long, 8.0),
        ];
        let c = pack(&hits, 120).unwrap();
        assert!(c.tokens <= 120, "{} tokens", c.tokens);
        assert_eq!(c.sources[0], "a.md:1-1");
        assert!(c.sources[1].starts_with("b.md:10-"), "{:?}", c.sources);
        assert!(c.text.ends_with("guide\n"), "cut at a line: {:?}", c.text);
        assert!(pack(&hits, 10).is_none(), "no room for anything");
    }

    #[test]
    fn overlapping_chunks_go_in_once() {
        let hits = vec![hit("a.md", 1, "x\ny\nz", 2.0), hit("a.md", 2, "y\nz", 1.9)];
        assert_eq!(pack(&hits, 400).unwrap().sources, ["a.md:1-3"]);
    }

    proptest::proptest! {
        #[test]
        fn any_text_packs_within_budget(text in "\\PC{0,400}", budget in 0usize..300) {
            let hits = vec![Hit { end_line: 1 + text.lines().count(), ..hit("p", 1, "x", 1.0) }]
                .into_iter()
                .map(|h| Hit { text: text.clone(), ..h })
                .collect::<Vec<_>>();
            if let Some(c) = pack(&hits, budget) {
                proptest::prop_assert!(c.tokens <= budget);
            }
            let _ = relevant(&terms(&text), hits);
        }
    }
}
