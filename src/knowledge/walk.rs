//! Which files of a folder are indexed: READMEs, docs and code, walked as git would
//! (`.gitignore`, `.ignore` and `.git/info/exclude` honoured, hidden files skipped), minus
//! what is not worth indexing — binaries, generated files, vendored and build trees, huge
//! files — each skipped with its reason (`az-os index -v` prints them). Symlinks are not
//! followed (no loops, nothing outside the folder). Unreadable folders are skipped with
//! their error.

use std::path::{Path, PathBuf};

/// Files above this size are skipped as huge.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Extensions of text worth indexing.
const TEXT_EXTENSIONS: [&str; 62] = [
    "rs", "py", "pyi", "js", "mjs", "cjs", "ts", "tsx", "jsx", "go", "java", "kt", "kts", "scala",
    "c", "h", "cc", "cpp", "cxx", "hpp", "hh", "cs", "rb", "php", "swift", "m", "mm", "sh", "bash",
    "zsh", "fish", "ps1", "lua", "pl", "pm", "r", "jl", "ex", "exs", "erl", "hs", "ml", "clj",
    "dart", "zig", "nim", "sql", "proto", "vue", "svelte", "md", "markdown", "rst", "txt", "adoc",
    "org", "toml", "yaml", "yml", "json", "ini", "cfg",
];

/// File names without a useful extension that are worth indexing.
const TEXT_NAMES: [&str; 10] = [
    "README",
    "LICENSE",
    "Makefile",
    "Dockerfile",
    "Justfile",
    "Rakefile",
    "Gemfile",
    "CHANGELOG",
    "CONTRIBUTING",
    "Containerfile",
];

/// Folders of vendored, generated or installed code, skipped even when not ignored.
const SKIPPED_DIRS: [&str; 12] = [
    "node_modules",
    "vendor",
    "third_party",
    "target",
    "dist",
    "build",
    "__pycache__",
    ".venv",
    "venv",
    "site-packages",
    ".tox",
    "bower_components",
];

/// Lock files and minified bundles: generated, never read by a person.
#[allow(clippy::case_sensitive_file_extension_comparisons)] // generators write lowercase
fn generated(name: &str) -> bool {
    matches!(
        name,
        "Cargo.lock"
            | "package-lock.json"
            | "yarn.lock"
            | "pnpm-lock.yaml"
            | "poetry.lock"
            | "Gemfile.lock"
            | "composer.lock"
            | "go.sum"
    ) || name.ends_with(".min.js")
        || name.ends_with(".min.css")
        || name.ends_with(".map")
        || name.ends_with(".pb.go")
        || name.ends_with("_pb2.py")
}

/// A file to index, with what the manifest compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    /// Relative to the walked root, `/`-separated: the key in the index.
    pub rel: String,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
}

/// Something not indexed, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub rel: String,
    pub why: String,
}

/// Walks `root`: the files to index, sorted by path, and what was skipped.
pub fn walk(root: &Path) -> (Vec<Found>, Vec<Skipped>) {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        .git_ignore(true)
        .git_exclude(true)
        .ignore(true)
        .parents(true)
        .follow_links(false)
        .require_git(false)
        .filter_entry(|e| {
            !(e.file_type().is_some_and(|t| t.is_dir())
                && e.file_name()
                    .to_str()
                    .is_some_and(|n| SKIPPED_DIRS.contains(&n)))
        })
        .build();
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                skipped.push(Skipped {
                    rel: String::new(),
                    why: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let rel = relative(root, entry.path());
        let name = entry.file_name().to_string_lossy();
        if generated(&name) {
            skipped.push(Skipped {
                rel,
                why: "generated".into(),
            });
            continue;
        }
        if !wanted(entry.path()) {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                skipped.push(Skipped {
                    rel,
                    why: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        if meta.len() > MAX_FILE_BYTES {
            skipped.push(Skipped {
                rel,
                why: format!("huge ({} bytes, over {MAX_FILE_BYTES})", meta.len()),
            });
            continue;
        }
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
        found.push(Found {
            path: entry.path().to_path_buf(),
            rel,
            size: meta.len(),
            mtime_ns,
        });
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    (found, skipped)
}

/// Whether a file's name says it is text worth indexing.
fn wanted(path: &Path) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => TEXT_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()),
        None => path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| TEXT_NAMES.iter().any(|t| n.eq_ignore_ascii_case(t))),
    }
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_generated_vendored_and_huge_files_are_left_out() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for (p, body) in [
            ("README.md", "# hi"),
            ("src/main.rs", "fn main() {}"),
            ("src/secret.rs", "x"),
            ("Cargo.lock", "x"),
            ("node_modules/x/index.js", "x"),
            ("target/debug/out.rs", "x"),
            ("logo.png", "x"),
            (".hidden/notes.md", "x"),
            ("Makefile", "all:"),
        ] {
            std::fs::create_dir_all(r.join(p).parent().unwrap()).unwrap();
            std::fs::write(r.join(p), body).unwrap();
        }
        std::fs::write(r.join(".gitignore"), "src/secret.rs\n").unwrap();
        std::fs::write(r.join("big.txt"), vec![b'a'; 2 * 1024 * 1024]).unwrap();
        std::os::unix::fs::symlink(r, r.join("src/loop")).unwrap();
        let (found, skipped) = walk(r);
        let rels: Vec<&str> = found.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["Makefile", "README.md", "src/main.rs"]);
        let why = |rel: &str| skipped.iter().find(|s| s.rel == rel).map(|s| s.why.clone());
        assert_eq!(why("Cargo.lock").as_deref(), Some("generated"));
        assert!(why("big.txt").is_some_and(|w| w.starts_with("huge")));
    }
}
