//! The per-process cache of opened indexes and vectors (`knowledge::cache`): a search
//! after a re-index in the same process — or by another process — sees the new state,
//! and an index that was damaged or removed is never answered from what was cached.

use std::path::Path;
use std::sync::Arc;

use az_os::knowledge::embed::DIMS;
use az_os::knowledge::vectors::Vectors;
use az_os::knowledge::{self, Bm25, Mode, cache};

use super::{az, text};
use crate::common::TestEnv;

fn put(root: &Path, rel: &str, body: &str) {
    std::fs::write(root.join(rel), body).unwrap();
}

/// Indexes `root` in this process, as `az-os index` does.
fn reindex(dir: &Path, root: &Path) {
    Bm25::open(dir).unwrap().update(root, &mut |_| {}).unwrap();
}

/// Paths of the BM25 hits for `query`, through the one search `az-os search` uses.
fn paths(env: &TestEnv, query: &str) -> Vec<String> {
    let root = env.work().canonicalize().unwrap();
    knowledge::search(env.home(), &root, query, 5, Mode::Bm25)
        .unwrap()
        .0
        .into_iter()
        .map(|h| h.path)
        .collect()
}

#[test]
fn a_reindex_is_seen_by_the_next_search_in_the_same_process() {
    let env = TestEnv::new();
    let root = env.work().canonicalize().unwrap();
    let dir = knowledge::dir_for(env.home(), &root);
    put(&root, "alpha.rs", "pub fn alphaquery_marker() {}\n");
    reindex(&dir, &root);
    assert_eq!(paths(&env, "alphaquery_marker"), ["alpha.rs"]);
    // Unchanged files: the same opened index answers again.
    let first = cache::bm25(&dir).unwrap().unwrap();
    assert!(Arc::ptr_eq(&first, &cache::bm25(&dir).unwrap().unwrap()));

    // A file changed, one added, in this process: the next search sees both.
    put(&root, "alpha.rs", "pub fn renamed_marker() {}\n");
    put(&root, "beta.rs", "pub fn betaquery_marker() {}\n");
    reindex(&dir, &root);
    assert!(!Arc::ptr_eq(&first, &cache::bm25(&dir).unwrap().unwrap()));
    assert_eq!(paths(&env, "betaquery_marker"), ["beta.rs"]);
    assert!(paths(&env, "alphaquery_marker").is_empty());
    assert_eq!(paths(&env, "renamed_marker"), ["alpha.rs"]);

    // Another process updates the index: seen as well.
    std::fs::remove_file(root.join("beta.rs")).unwrap();
    let o = az(&env, &["index"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(paths(&env, "betaquery_marker").is_empty());

    // The index removed or damaged: never answered from the cache.
    std::fs::write(dir.join("manifest.json"), b"{ not json").unwrap();
    let root2 = root.clone();
    let err = knowledge::search(env.home(), &root2, "renamed_marker", 5, Mode::Bm25).unwrap_err();
    assert!(
        err.to_string().contains("az-os index"),
        "a damaged index must say how to rebuild it: {err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(cache::bm25(&dir).unwrap().is_none());
    reindex(&dir, &root);
    assert_eq!(paths(&env, "renamed_marker"), ["alpha.rs"]);
}

fn unit(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIMS];
    v[i % DIMS] = 1.0;
    v
}

#[test]
fn cached_vectors_follow_appends_rewrites_and_epochs() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    assert!(cache::vectors(dir, 3).is_empty());
    let mut v = Vectors::load(dir, 3);
    v.write(dir, &[(1, unit(1)), (2, unit(2))], &[]).unwrap();
    let first = cache::vectors(dir, 3);
    assert_eq!(first.len(), 2);
    assert!(Arc::ptr_eq(&first, &cache::vectors(dir, 3)));
    // An append (an embedding pass at work): the next search reads it.
    v.write(dir, &[(3, unit(3))], &[]).unwrap();
    let now = cache::vectors(dir, 3);
    assert_eq!(now.len(), 3);
    assert_eq!(now.nearest(&unit(3), 1), vec![(3, 1.0)]);
    // Enough drops that the file is rewritten (a new file of another length).
    let adds: Vec<(u64, Vec<f32>)> = (10..200).map(|i| (i, unit(i as usize))).collect();
    v.write(dir, &adds, &[]).unwrap();
    let drops: Vec<u64> = (10..200).collect();
    v.write(dir, &[], &drops).unwrap();
    assert_eq!(cache::vectors(dir, 3).len(), 3);
    // Another epoch (the BM25 index was rebuilt): these vectors are not its vectors.
    assert!(cache::vectors(dir, 4).is_empty());
    std::fs::remove_file(Vectors::path(dir)).unwrap();
    assert!(cache::vectors(dir, 3).is_empty());
}
