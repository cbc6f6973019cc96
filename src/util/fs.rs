//! File-system helpers shared by the index, the checkpoints and their benchmarks.

use std::path::Path;

/// Bytes of the files under `dir` (recursively; links are not followed, unreadable
/// entries count as 0).
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                _ => total += e.metadata().map_or(0, |m| m.len()),
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_nested_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("x"), "123").unwrap();
        std::fs::write(d.path().join("a/b/y"), "45").unwrap();
        assert_eq!(super::dir_size(d.path()), 5);
        assert_eq!(super::dir_size(&d.path().join("missing")), 0);
    }
}
