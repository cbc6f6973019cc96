//! Which paths a confined command may read and write, as lists of Landlock rule roots.
//!
//! Landlock only grants (a rule on a directory covers everything beneath it), so a place
//! that must stay out of reach — az-os's home, `/dev` — is carved out by granting its
//! siblings instead: every entry of `/` but the branch that leads to the place, then every
//! entry of that branch's directory but the next step, and so on down. Listing directories
//! stays allowed everywhere (names are not secrets), so `ls /` and `ls ~` still work;
//! what is carved out cannot be opened. The same carving keeps a writable root that holds
//! the home (az-os run in `~`) from covering the home.
//!
//! Pure path work plus directory listings; applying the rules is `confine.rs`.

use std::path::{Path, PathBuf};

/// Devices every command may read and write (no ioctl): the bit buckets and randomness.
pub const DEVICES: [&str; 5] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// Device directories a command may use as scratch space.
pub const DEVICE_DIRS: [&str; 1] = ["/dev/shm"];

/// The roots to grant for a tree that must not include any of `carved`: `root` itself
/// when it holds none of them, else its entries (recursively along the branches that
/// lead to a carved place), leaving the carved places and symlinks out. Symlinks are not
/// followed: whatever they point to is reached, and judged, by its own path.
pub fn carve(root: &Path, carved: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    carve_into(root, carved, &mut out, 0);
    out
}

/// How deep a carved place may lie below the root walked.
const MAX_DEPTH: usize = 64;

fn carve_into(dir: &Path, carved: &[PathBuf], out: &mut Vec<PathBuf>, depth: usize) {
    if carved.iter().any(|c| c == dir) {
        return;
    }
    if !carved.iter().any(|c| c.starts_with(dir)) {
        out.push(dir.to_path_buf());
        return;
    }
    if depth > MAX_DEPTH {
        return;
    }
    // An unreadable directory on the way grants nothing below it: the command could not
    // have listed it either.
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            continue;
        }
        let path = entry.path();
        if kind.is_dir() {
            carve_into(&path, carved, out, depth + 1);
        } else if !carved.contains(&path) {
            out.push(path);
        }
    }
}

/// Why a layout cannot be confined safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the workdir {} is inside az-os's own {what} {}; a command there could rewrite az-os's configuration, keys or records. Run the task from a project directory (--workdir DIR), or move az-os's home elsewhere with AZ_OS_HOME",
    workdir.display(),
    protected.display()
)]
pub struct LayoutError {
    pub workdir: PathBuf,
    pub protected: PathBuf,
    pub what: &'static str,
}

/// Refuses a writable root that lies inside a protected place (its writes would land in
/// az-os's own files whatever the rules say).
pub fn check_writable(
    root: &Path,
    protected: &[(PathBuf, &'static str)],
) -> Result<(), LayoutError> {
    match protected.iter().find(|(p, _)| root.starts_with(p)) {
        Some((p, what)) => Err(LayoutError {
            workdir: root.to_path_buf(),
            protected: p.clone(),
            what,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for d in ["home/.az-os/logs", "home/proj/src", "etc", "var/lib"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in ["home/.bashrc", "home/.az-os/vault.json", "etc/passwd"] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        std::os::unix::fs::symlink(root.join("home/.az-os"), root.join("home/link")).unwrap();
        (dir, root)
    }

    #[test]
    fn carving_grants_every_sibling_but_the_carved_branch() {
        let (_d, root) = tree();
        let home = root.join("home/.az-os");
        let mut got = carve(&root, std::slice::from_ref(&home));
        got.sort();
        let want: Vec<PathBuf> = ["etc", "home/.bashrc", "home/proj", "var"]
            .iter()
            .map(|p| root.join(p))
            .collect();
        assert_eq!(
            got, want,
            "the symlink to the home and the home are left out"
        );
    }

    #[test]
    fn a_root_without_carved_places_is_granted_whole() {
        let (_d, root) = tree();
        let proj = root.join("home/proj");
        assert_eq!(carve(&proj, &[root.join("home/.az-os")]), vec![proj]);
        assert!(carve(&root, std::slice::from_ref(&root)).is_empty());
    }

    #[test]
    fn a_writable_root_inside_the_home_is_refused() {
        let home = PathBuf::from("/h/.az-os");
        let protected = [(home.clone(), "home")];
        assert!(check_writable(Path::new("/h/proj"), &protected).is_ok());
        assert!(check_writable(Path::new("/h"), &protected).is_ok());
        let e = check_writable(Path::new("/h/.az-os/x"), &protected).unwrap_err();
        assert!(e.to_string().contains("AZ_OS_HOME"), "{e}");
        assert!(check_writable(&home, &protected).is_err());
    }
}
