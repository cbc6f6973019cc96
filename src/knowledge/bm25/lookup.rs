//! One query against one state of the BM25 index: ranked chunk ids without reading
//! texts, then texts and highlighted snippets for the few hits kept.

use tantivy::collector::TopDocs;
use tantivy::query::{Query, TermQuery};
use tantivy::schema::{IndexRecordOption, TantivyDocument};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Searcher, Term};

use super::{Bm25, first_lines};
use crate::knowledge::{Hit, IndexError};

/// One query against one state of an index ([`Bm25::lookup`]).
pub struct Lookup<'a> {
    pub(super) idx: &'a Bm25,
    pub(super) searcher: Searcher,
    pub(super) query: Box<dyn Query>,
}

impl Lookup<'_> {
    /// Chunk ids and BM25 scores, best first, at most `limit`: no chunk text is read.
    pub fn ranked(&self, limit: usize) -> Result<Vec<(u64, f32)>, IndexError> {
        let tantivy = |e: tantivy::TantivyError| IndexError::Tantivy(e.to_string());
        let top = self
            .searcher
            .search(
                &*self.query,
                &TopDocs::with_limit(limit.max(1)).order_by_score(),
            )
            .map_err(tantivy)?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let ids = self
                .searcher
                .segment_reader(addr.segment_ord)
                .fast_fields()
                .u64("id")
                .map_err(tantivy)?;
            if let Some(id) = ids.first(addr.doc_id) {
                out.push((id, score));
            }
        }
        Ok(out)
    }

    /// The first `limit` chunks of these ids that are in the index (a vector can outlive
    /// its chunk until the next embedding pass), scored as given, in that order, each
    /// with a snippet around the query's words (its first lines when it has none).
    pub fn hits(&self, ids: &[(u64, f32)], limit: usize) -> Result<Vec<Hit>, IndexError> {
        let tantivy = |e: tantivy::TantivyError| IndexError::Tantivy(e.to_string());
        let f = self.idx.fields;
        let snippets = SnippetGenerator::create(&self.searcher, &*self.query, f.text).ok();
        let mut out = Vec::with_capacity(limit.min(ids.len()));
        for &(id, score) in ids {
            if out.len() >= limit {
                break;
            }
            let q = TermQuery::new(Term::from_field_u64(f.id, id), IndexRecordOption::Basic);
            let top = self
                .searcher
                .search(&q, &TopDocs::with_limit(1).order_by_score())
                .map_err(tantivy)?;
            let Some((_, addr)) = top.first() else {
                continue;
            };
            let d: TantivyDocument = self.searcher.doc(*addr).map_err(tantivy)?;
            let mut hit = self.idx.hit(&d, score);
            if let Some(g) = &snippets {
                let s = g.snippet_from_doc(&d);
                s.fragment().clone_into(&mut hit.snippet);
                hit.highlights = s.highlighted().to_vec();
            }
            if hit.snippet.is_empty() {
                hit.snippet = first_lines(&hit.text, 3);
                hit.highlights.clear();
            }
            out.push(hit);
        }
        Ok(out)
    }
}
