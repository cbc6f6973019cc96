//! Merging near-duplicate lessons: two lessons of the same scope whose embeddings' cosine
//! is at least `[memory] consolidate_threshold` are one lesson. The best-scored wording
//! stays (then the most recalled), access counts add up, and its provenance lists every
//! lesson and task merged into it. Planning is pure; applying is one transaction.

use crate::store::Db;

use crate::knowledge::vectors::dot;
use crate::store::StoreError;
use crate::store::memories::{self, Memory};

/// One merge: `keep` (as it will be stored) absorbs `absorbed`.
#[derive(Clone, Debug, PartialEq)]
pub struct Merge {
    pub keep: Memory,
    pub absorbed: Vec<Memory>,
}

/// The merges for `lessons`, whose unit-length embeddings are `vectors` (same order).
pub fn plan(lessons: &[Memory], vectors: &[Vec<f32>], threshold: f32) -> Vec<Merge> {
    let mut order: Vec<usize> = (0..lessons.len().min(vectors.len())).collect();
    // Best wording first: it is the one kept.
    order.sort_by(|&a, &b| {
        let (x, y) = (&lessons[a], &lessons[b]);
        y.score
            .total_cmp(&x.score)
            .then(y.access_count.cmp(&x.access_count))
            .then(x.created_at.total_cmp(&y.created_at))
    });
    // Only lessons of one scope merge: compare within each scope, best wording first.
    let mut groups: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
    for &i in &order {
        let scope = lessons[i].scope.as_deref();
        match groups.iter_mut().find(|(s, _)| *s == scope) {
            Some((_, g)) => g.push(i),
            None => groups.push((scope, vec![i])),
        }
    }
    let mut taken = vec![false; lessons.len()];
    let mut merges = Vec::new();
    for (_, group) in &groups {
        let near = near_pairs(group, vectors, threshold);
        for (pos, &i) in group.iter().enumerate() {
            if taken[i] {
                continue;
            }
            let mut absorbed = Vec::new();
            for &j in &near[pos] {
                if !taken[j] {
                    taken[j] = true;
                    absorbed.push(lessons[j].clone());
                }
            }
            if absorbed.is_empty() {
                continue;
            }
            taken[i] = true;
            let mut keep = lessons[i].clone();
            for a in &absorbed {
                keep.access_count += a.access_count;
                keep.last_access = match (keep.last_access, a.last_access) {
                    (Some(x), Some(y)) => Some(x.max(y)),
                    (x, y) => x.or(y),
                };
                keep.provenance.lessons.push(a.id.clone());
                keep.provenance
                    .lessons
                    .extend(a.provenance.lessons.iter().cloned());
                keep.provenance.tasks.extend(a.task_id.iter().cloned());
                keep.provenance
                    .tasks
                    .extend(a.provenance.tasks.iter().cloned());
            }
            if let Some(t) = &lessons[i].task_id
                && !keep.provenance.tasks.contains(t)
            {
                keep.provenance.tasks.insert(0, t.clone());
            }
            keep.provenance.lessons.dedup();
            keep.provenance.tasks.sort();
            keep.provenance.tasks.dedup();
            merges.push(Merge { keep, absorbed });
        }
    }
    merges
}

/// Every lesson that has a vector, and the vectors (same order): what [`plan`] takes.
/// Read from the store, never embedded again (`vectors::backfill` makes missing ones).
pub fn with_vectors(conn: &Db) -> Result<(Vec<Memory>, Vec<Vec<f32>>), StoreError> {
    let mut by_id: std::collections::HashMap<String, Vec<f32>> =
        memories::vectors::by_id(conn)?.into_iter().collect();
    let mut lessons = Vec::new();
    let mut vectors = Vec::new();
    for m in memories::all(conn)? {
        if let Some(v) = by_id.remove(&m.id) {
            lessons.push(m);
            vectors.push(v);
        }
    }
    Ok((lessons, vectors))
}

/// A vector's first [`HEAD`] dimensions and the rest.
fn split(v: &[f32]) -> (&[f32], &[f32]) {
    v.split_at(HEAD.min(v.len()))
}

/// Dimensions compared first: a pair whose first [`HEAD`] dimensions cannot reach the
/// threshold even if the rest point exactly the same way is dropped without them.
const HEAD: usize = 128;

/// For each lesson of `group` (best first), the later ones whose cosine with it is at
/// least `threshold`. The dot products are nearly all of a plan's work (n²/2 per scope),
/// so they are cut short and spread over the cores:
///
/// - For unit vectors the rest of a dot product is at most the product of the two rests'
///   lengths (Cauchy–Schwarz), so after the first [`HEAD`] dimensions a pair that cannot
///   reach the threshold is dropped; near-duplicates are rare, so most pairs cost a third.
/// - Each core takes every t-th row (rows shrink as they go).
fn near_pairs(group: &[usize], vectors: &[Vec<f32>], threshold: f32) -> Vec<Vec<usize>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(group.len().div_ceil(256).max(1));
    let rest: Vec<f32> = group
        .iter()
        .map(|&i| {
            let (_, tail) = split(&vectors[i]);
            tail.iter().map(|x| x * x).sum::<f32>().sqrt()
        })
        .collect();
    let row = |p: usize| -> Vec<usize> {
        let (head, tail) = split(&vectors[group[p]]);
        (p + 1..group.len())
            .filter(|&q| {
                let (h, t) = split(&vectors[group[q]]);
                let first = dot(head, h);
                // A little slack for rounding: never drop a pair that could reach it.
                first + rest[p] * rest[q] + 1e-4 >= threshold && first + dot(tail, t) >= threshold
            })
            .map(|q| group[q])
            .collect()
    };
    if threads <= 1 {
        return (0..group.len()).map(row).collect();
    }
    let mut near = vec![Vec::new(); group.len()];
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..group.len())
                        .step_by(threads)
                        .map(|p| (p, row(p)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for w in workers {
            match w.join() {
                Ok(rows) => {
                    for (p, r) in rows {
                        near[p] = r;
                    }
                }
                // Rows left out would be merges silently missed: fail as the worker did.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    near
}

/// Stores the merges: the kept lessons updated, the absorbed ones removed.
pub fn apply(conn: &Db, merges: &[Merge]) -> Result<(), StoreError> {
    let tx = conn.unchecked_transaction()?;
    for m in merges {
        memories::update(&tx, &m.keep)?;
        for a in &m.absorbed {
            memories::delete(&tx, &a.id)?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson(id: &str, score: f64, count: u64, applies: Option<&str>) -> Memory {
        Memory {
            id: id.into(),
            task_id: Some(format!("t-{id}")),
            lesson: id.into(),
            score,
            access_count: count,
            scope: applies.map(str::to_owned),
            ..Memory::default()
        }
    }

    #[test]
    fn near_duplicates_of_one_scope_merge_into_the_best_wording() {
        let l = [
            lesson("a", 5.0, 2, None),
            lesson("b", 8.0, 1, None),
            lesson("c", 9.0, 0, Some("/w")),
            lesson("d", 1.0, 4, None),
        ];
        // a, b and c point the same way; d elsewhere.
        let v = vec![
            vec![1.0, 0.0],
            vec![0.99, 0.141],
            vec![1.0, 0.0],
            vec![0.0, 1.0],
        ];
        let m = plan(&l, &v, 0.9);
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0].keep.id, "b", "the best score's wording");
        assert_eq!(
            m[0].absorbed
                .iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(m[0].keep.access_count, 3);
        assert_eq!(m[0].keep.provenance.lessons, ["a"]);
        assert_eq!(m[0].keep.provenance.tasks, ["t-a", "t-b"]);
        assert!(plan(&l, &v, 0.999).is_empty());
    }

    #[test]
    fn many_lessons_are_compared_on_every_core_with_the_same_result() {
        // 600 lessons of one scope: lesson i and i + 300 point the same way.
        let l: Vec<Memory> = (0..600)
            .map(|i| lesson(&format!("l{i:03}"), f64::from(600 - i), 0, None))
            .collect();
        let v: Vec<Vec<f32>> = (0..600)
            .map(|i| {
                let mut v = vec![0.0; 384];
                v[i % 300] = 1.0;
                v
            })
            .collect();
        let m = plan(&l, &v, 0.9);
        assert_eq!(m.len(), 300);
        for merge in &m {
            let k: usize = merge.keep.id[1..].parse().unwrap();
            assert!(k < 300, "the better-scored twin is kept: {}", merge.keep.id);
            assert_eq!(merge.absorbed.len(), 1);
            assert_eq!(merge.absorbed[0].id, format!("l{:03}", k + 300));
        }
    }
}
