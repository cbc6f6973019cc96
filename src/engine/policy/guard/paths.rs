//! Paths for the guard: where a path argument points, resolved lexically against the
//! directory the command runs in (no filesystem access), and what would be lost with it:
//! the root, the home or a directory holding it, the system directories and everything
//! under them (except where ordinary work lives: the home, the workdir, `/var/tmp/…`),
//! the workdir or a directory holding it. Also which paths are devices.

use std::path::{Component, Path, PathBuf};

use crate::engine::policy::cwd::Dir;

/// Where a command runs: what "the workdir" and "home" are.
#[derive(Clone, Debug)]
pub struct GuardCtx {
    pub workdir: PathBuf,
    pub home: Option<PathBuf>,
}

/// What a path argument of a destructive command is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Nothing the guard protects.
    Fine,
    /// What it would take with it.
    Protected(&'static str),
    /// A relative path in a directory only known at run time.
    Unknown,
}

/// One command's view: the task's context and the directory the command runs in.
#[derive(Clone, Copy, Debug)]
pub struct Here<'a> {
    pub ctx: &'a GuardCtx,
    pub dir: &'a Dir,
}

const SYSTEM_DIRS: [&str; 19] = [
    "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media", "/mnt", "/opt",
    "/proc", "/root", "/sbin", "/snap", "/srv", "/sys", "/usr", "/var",
];

const DEVICE_PREFIXES: [&str; 11] = [
    "/dev/sd",
    "/dev/hd",
    "/dev/vd",
    "/dev/xvd",
    "/dev/nvme",
    "/dev/mmcblk",
    "/dev/disk",
    "/dev/mapper",
    "/dev/md",
    "/dev/dm-",
    "/dev/loop",
];

/// Writing here is harmless.
fn harmless_device(p: &str) -> bool {
    matches!(
        p,
        "/dev/null" | "/dev/zero" | "/dev/stdout" | "/dev/stderr" | "/dev/tty" | "/dev/full"
    ) || p.starts_with("/dev/fd/")
        || p.starts_with("/dev/pts/")
}

/// A block device (or any device but the harmless ones, when `any_dev`).
pub fn is_device(p: &str, any_dev: bool) -> bool {
    DEVICE_PREFIXES.iter().any(|d| p.starts_with(d))
        || (any_dev && p.starts_with("/dev/") && !harmless_device(p))
}

fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push("/");
    }
    out
}

impl GuardCtx {
    /// Resolves a path argument lexically: `~` is home, `~user` another user's home,
    /// relative paths are under `dir` — `None` when that is only known at run time.
    pub fn resolve(&self, text: &str, dir: &Dir) -> Option<PathBuf> {
        let home = || self.home.clone().unwrap_or_else(|| PathBuf::from("/root"));
        let p = if text == "~" {
            home()
        } else if let Some(rest) = text.strip_prefix("~/") {
            home().join(rest)
        } else if let Some(user) = text.strip_prefix('~') {
            PathBuf::from("/home").join(user)
        } else if text.starts_with('/') {
            PathBuf::from(text)
        } else {
            match dir {
                Dir::Workdir => self.workdir.join(text),
                Dir::Known(d) => d.join(text),
                Dir::Unknown => return None,
            }
        };
        Some(lexical(&p))
    }

    /// The root, the home or what holds it, and the system: what no command may take
    /// down whole.
    pub fn strictly_protected(&self, p: &Path) -> Option<&'static str> {
        if p == Path::new("/") {
            return Some("the root directory");
        }
        if let Some(h) = &self.home {
            if p == h {
                return Some("your home directory");
            }
            if h.starts_with(p) {
                return Some("a directory holding your home");
            }
        }
        if SYSTEM_DIRS.iter().any(|d| p == Path::new(d)) {
            return Some("a system directory");
        }
        if SYSTEM_DIRS.iter().any(|d| p.starts_with(d)) && !self.ordinary(p) {
            return Some("part of a system directory");
        }
        None
    }

    /// Places under the system directories where ordinary work lives: the user's home
    /// (below it), the workdir and what it holds, `/var/tmp/…`.
    fn ordinary(&self, p: &Path) -> bool {
        self.home.as_ref().is_some_and(|h| p.starts_with(h))
            || p.starts_with(&self.workdir)
            || (p.starts_with("/var/tmp") && p != Path::new("/var/tmp"))
    }

    fn workdir_or_above(&self, p: &Path) -> Option<&'static str> {
        if p == self.workdir {
            Some("the whole workdir")
        } else if self.workdir.starts_with(p) {
            Some("a directory holding the workdir")
        } else {
            None
        }
    }
}

impl Here<'_> {
    pub fn resolve(&self, text: &str) -> Option<PathBuf> {
        self.ctx.resolve(text, self.dir)
    }

    /// What deleting a path argument (a glob allowed in its last part) would take with
    /// it: anything strictly protected, the workdir or a directory holding it, or
    /// everything in one of those (`*`, `.*`).
    pub fn protected(&self, text: &str) -> Place {
        let glob = |s: &str| s.contains(['*', '?', '[']);
        let (dir, pattern) = match text.rfind('/') {
            _ if !glob(text) => (text, None),
            Some(i) if !glob(&text[..i]) => {
                (if i == 0 { "/" } else { &text[..i] }, Some(&text[i + 1..]))
            }
            Some(_) => {
                // A glob in a directory part: judge by the part before it.
                let cut = text.find(['*', '?', '[']).unwrap_or(0);
                let head = &text[..cut];
                let dir = head
                    .rfind('/')
                    .map_or(".", |i| if i == 0 { "/" } else { &head[..i] });
                (dir, Some("*"))
            }
            None => (".", Some(text)),
        };
        let Some(p) = self.resolve(dir) else {
            return Place::Unknown;
        };
        let strict = self.ctx.strictly_protected(&p);
        let found = match pattern {
            None => strict.or_else(|| self.ctx.workdir_or_above(&p)),
            Some(pat) => {
                // Everything in a protected directory, or anything at all in `/` or home.
                let everything = matches!(pat, "*" | ".*" | "**" | "*.*" | ".[!.]*" | "{*,.*}");
                if strict.is_some() {
                    strict
                } else if everything {
                    self.ctx.workdir_or_above(&p)
                } else {
                    None
                }
            }
        };
        found.map_or(Place::Fine, Place::Protected)
    }

    /// Whether a path is strictly protected (see [`GuardCtx::strictly_protected`]).
    pub fn strict(&self, text: &str) -> Place {
        match self.resolve(text) {
            None => Place::Unknown,
            Some(p) => self
                .ctx
                .strictly_protected(&p)
                .map_or(Place::Fine, Place::Protected),
        }
    }
}
