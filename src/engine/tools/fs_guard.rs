//! Confines paths to the task's workdir. A path is resolved against the workdir,
//! its longest existing ancestor is canonicalized (resolving symlinks), and the
//! rest may not contain `..`. Whatever lands outside the workdir is refused, and so is
//! whatever lands in az-os's own files (its home, when az-os runs in a folder that
//! holds it).

use std::path::{Component, Path, PathBuf};

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path {0:?} is outside the task's workdir; use a path inside it")]
    Outside(String),
    #[error("path is empty")]
    Empty,
    #[error("the workdir {0} cannot be resolved: {1}")]
    Workdir(String, String),
    #[error("path {0:?} is inside az-os's own files, which tasks do not read or write")]
    Protected(String),
}

/// [`confine`], and refused when the path lies in one of `protected` (canonical paths).
pub fn confine_outside<'a>(
    workdir: &Path,
    path: &str,
    mut protected: impl Iterator<Item = &'a Path>,
) -> Result<PathBuf, PathError> {
    let full = confine(workdir, path)?;
    if protected.any(|p| full.starts_with(p)) {
        return Err(PathError::Protected(path.to_owned()));
    }
    Ok(full)
}

/// Resolves `path` (relative to `workdir`, or absolute) to a canonical path inside
/// the canonical `workdir`; the file itself need not exist.
pub fn confine(workdir: &Path, path: &str) -> Result<PathBuf, PathError> {
    if path.trim().is_empty() {
        return Err(PathError::Empty);
    }
    let root = workdir
        .canonicalize()
        .map_err(|e| PathError::Workdir(workdir.display().to_string(), e.to_string()))?;
    let joined = root.join(path);
    // Split into the longest existing prefix and the not-yet-existing rest.
    let mut existing = joined.as_path();
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    let canonical = loop {
        if let Ok(c) = existing.canonicalize() {
            break c;
        }
        let Some(name) = existing.file_name() else {
            return Err(PathError::Outside(path.to_owned()));
        };
        rest.push(name);
        existing = existing
            .parent()
            .ok_or_else(|| PathError::Outside(path.to_owned()))?;
    };
    // `file_name()` skips `..`, so check the unresolved tail for it explicitly.
    let tail = joined.strip_prefix(existing).unwrap_or(Path::new(""));
    if tail.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(PathError::Outside(path.to_owned()));
    }
    let mut full = canonical;
    for part in rest.iter().rev() {
        full.push(part);
    }
    if full.starts_with(&root) {
        Ok(full)
    } else {
        Err(PathError::Outside(path.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_paths_resolve_and_escapes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        assert_eq!(confine(&root, "a.txt").unwrap(), root.join("a.txt"));
        assert_eq!(confine(&root, "sub/../b.txt").unwrap(), root.join("b.txt"));
        assert_eq!(
            confine(&root, "new/dir/c.txt").unwrap(),
            root.join("new/dir/c.txt")
        );
        assert_eq!(
            confine(&root, root.join("d").to_str().unwrap()).unwrap(),
            root.join("d")
        );
        for bad in ["../x", "/etc/passwd", "sub/../../x", "new/../../x", "/"] {
            assert!(
                matches!(confine(&root, bad), Err(PathError::Outside(_))),
                "{bad}"
            );
        }
        assert_eq!(confine(&root, " "), Err(PathError::Empty));
    }

    #[test]
    fn protected_places_inside_the_workdir_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let home = root.join(".az-os");
        std::fs::create_dir(&home).unwrap();
        std::os::unix::fs::symlink(&home, root.join("h")).unwrap();
        let guard = [home.as_path()];
        for bad in [
            ".az-os/vault.json",
            ".az-os",
            "h/config.toml",
            "./.az-os/../.az-os/x",
        ] {
            assert_eq!(
                confine_outside(&root, bad, guard.into_iter()),
                Err(PathError::Protected(bad.to_owned())),
                "{bad}"
            );
        }
        assert!(confine_outside(&root, ".az-os-notes", guard.into_iter()).is_ok());
    }

    #[test]
    fn symlinks_out_of_the_workdir_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        assert!(confine(&root, "link/secret").is_err());
        std::os::unix::fs::symlink("/etc/passwd", root.join("pw")).unwrap();
        assert!(confine(&root, "pw").is_err());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Path pieces: names, `.`, `..`, and symlinks pointing out of the root, at the root
    /// itself, and into a subdirectory.
    const PIECES: [&str; 9] = ["a", "sub", ".", "..", "out", "up", "self", "in", "nested"];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn confine_never_resolves_outside_the_root(
            parts in proptest::collection::vec(0..PIECES.len(), 1..7),
            absolute in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let outside = tempfile::tempdir().unwrap();
            let root = dir.path().join("root");
            std::fs::create_dir_all(root.join("sub/nested")).unwrap();
            std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
            std::os::unix::fs::symlink("..", root.join("up")).unwrap();
            std::os::unix::fs::symlink(".", root.join("self")).unwrap();
            std::os::unix::fs::symlink("sub", root.join("in")).unwrap();
            let root = root.canonicalize().unwrap();
            let rel: Vec<&str> = parts.iter().map(|&i| PIECES[i]).collect();
            let path = if absolute {
                format!("{}/{}", root.display(), rel.join("/"))
            } else {
                rel.join("/")
            };
            if let Ok(p) = confine(&root, &path) {
                prop_assert!(p.starts_with(&root), "{path} -> {}", p.display());
                // Whatever exists of it resolves inside the root too.
                let mut existing = p.as_path();
                while !existing.exists() {
                    existing = existing.parent().unwrap();
                }
                let real = existing.canonicalize().unwrap();
                prop_assert!(real.starts_with(&root), "{path} -> {}", real.display());
            }
        }
    }
}
