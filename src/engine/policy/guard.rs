//! The built-in guard: destructive commands refused (or asked about) whatever the rules
//! say. It looks at one command with its wrappers peeled off: recursive deletes of `/`,
//! the home directory, system directories, the workdir or its parents; `git clean -x`,
//! `git reset --hard`, forced pushes; filesystem makers and partitioners; `dd` and
//! redirections onto devices; power-off; permission changes of whole trees; `kill -1`.
//! Downloads piped into a shell and fork bombs need the whole command line, so
//! `policy.rs` checks those.

use std::path::{Component, Path, PathBuf};

use super::shell::Word;
use super::unwrap::base;

/// Where a command runs: what "the workdir" and "home" are.
#[derive(Clone, Debug)]
pub struct GuardCtx {
    pub workdir: PathBuf,
    pub home: Option<PathBuf>,
}

/// A guard finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    Deny(&'static str, String),
    Ask(&'static str, String),
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
    /// Resolves a path argument lexically (no filesystem access): `~` is home, relative
    /// paths are under the workdir.
    fn resolve(&self, text: &str) -> PathBuf {
        let home = self.home.clone().unwrap_or_else(|| PathBuf::from("/root"));
        let p = if text == "~" {
            home
        } else if let Some(rest) = text.strip_prefix("~/") {
            home.join(rest)
        } else if let Some(user) = text.strip_prefix('~') {
            // `~user`: another user's home.
            PathBuf::from("/home").join(user)
        } else if text.starts_with('/') {
            PathBuf::from(text)
        } else {
            self.workdir.join(text)
        };
        lexical(&p)
    }

    /// What a path argument would take with it if deleted, or `None` when it is not one
    /// of the protected places.
    pub fn protected(&self, text: &str) -> Option<&'static str> {
        let glob = |s: &str| s.contains(['*', '?', '[']);
        let (dir, pattern) = match text.rfind('/') {
            _ if !glob(text) => (text.to_owned(), None),
            Some(i) if !glob(&text[..i]) => (
                if i == 0 {
                    "/".into()
                } else {
                    text[..i].to_owned()
                },
                Some(&text[i + 1..]),
            ),
            Some(_) => {
                // A glob in a directory part: judge by the part before it.
                let cut = text.find(['*', '?', '[']).unwrap_or(0);
                let head = &text[..cut];
                let dir = head
                    .rfind('/')
                    .map_or(".", |i| if i == 0 { "/" } else { &head[..i] });
                (dir.to_owned(), Some("*"))
            }
            None => (".".into(), Some(text)),
        };
        let p = self.resolve(&dir);
        let strict = self.strictly_protected(&p);
        match pattern {
            None => strict.or_else(|| self.workdir_or_above(&p)),
            Some(pat) => {
                // Everything in a protected directory, or anything at all in `/` or home.
                let everything = matches!(pat, "*" | ".*" | "**" | "*.*" | ".[!.]*" | "{*,.*}");
                if strict.is_some() {
                    strict
                } else if everything {
                    self.workdir_or_above(&p)
                } else {
                    None
                }
            }
        }
    }

    fn strictly_protected(&self, p: &Path) -> Option<&'static str> {
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
        None
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

fn short_flags(words: &[Word]) -> impl Iterator<Item = &str> {
    words
        .iter()
        .map(|w| w.text.as_str())
        .take_while(|t| *t != "--")
        .filter(|t| t.starts_with('-') && !t.starts_with("--") && t.len() > 1)
}

fn has_short(words: &[Word], c: char) -> bool {
    short_flags(words).any(|t| t[1..].contains(c))
}

fn has_long(words: &[Word], name: &str) -> bool {
    words
        .iter()
        .map(|w| w.text.as_str())
        .take_while(|t| *t != "--")
        .any(|t| t == name || t.strip_prefix(name).is_some_and(|r| r.starts_with('=')))
}

/// Non-option arguments (everything after `--` counts).
fn operands(words: &[Word]) -> Vec<&Word> {
    let mut out = Vec::new();
    let mut rest = false;
    for w in words {
        if rest {
            out.push(w);
        } else if w.text == "--" {
            rest = true;
        } else if !(w.text.starts_with('-') && w.text.len() > 1) {
            out.push(w);
        }
    }
    out
}

/// Checks one unwrapped command (`words[0]` is the program). `stdin_args`: more
/// arguments come from standard input (`xargs`).
pub fn check(words: &[Word], stdin_args: bool, ctx: &GuardCtx) -> Option<Finding> {
    let prog = base(&words.first()?.text);
    let args = &words[1..];
    match prog {
        "rm" => {
            let recursive =
                has_short(args, 'r') || has_short(args, 'R') || has_long(args, "--recursive");
            if has_long(args, "--no-preserve-root") {
                return Some(Finding::Deny(
                    "rm",
                    "rm --no-preserve-root deletes the root directory".into(),
                ));
            }
            if recursive {
                return tree_targets("rm -r", "delete", args, stdin_args, ctx, true);
            }
            None
        }
        "find" => {
            let paths: Vec<&Word> = args
                .iter()
                .take_while(|w| !w.text.starts_with('-') && w.text != "!" && w.text != "(")
                .collect();
            // Tests that narrow what is deleted; without one, everything under the path goes.
            let filtered = args.iter().any(|w| {
                matches!(
                    w.text.as_str(),
                    "-name"
                        | "-iname"
                        | "-path"
                        | "-ipath"
                        | "-regex"
                        | "-iregex"
                        | "-newer"
                        | "-mtime"
                        | "-mmin"
                        | "-size"
                        | "-empty"
                )
            });
            if args.iter().any(|w| w.text == "-delete") {
                for p in &paths {
                    if p.dynamic {
                        return Some(Finding::Ask(
                            "find",
                            format!(
                                "find -delete under a path known only at run time ({})",
                                p.text
                            ),
                        ));
                    }
                    let strict = ctx.strictly_protected(&ctx.resolve(&p.text));
                    if let Some(what) =
                        strict.or_else(|| ctx.protected(&p.text).filter(|_| !filtered))
                    {
                        return Some(Finding::Deny(
                            "find",
                            format!("find {} -delete would delete {what}", p.text),
                        ));
                    }
                }
                if paths.is_empty() && !filtered {
                    return Some(Finding::Deny(
                        "find",
                        "find -delete from the workdir root deletes the whole workdir".into(),
                    ));
                }
            }
            None
        }
        "git" => git(args),
        "dd" => args
            .iter()
            .filter_map(|w| w.text.strip_prefix("of="))
            .find(|p| is_device(p, true))
            .map(|p| Finding::Deny("dd", format!("dd would overwrite the device {p}"))),
        "tee" | "cp" | "mv" | "shred" | "cat" | "install" => {
            args.iter().find(|w| is_device(&w.text, false)).map(|w| {
                Finding::Deny(
                    "device",
                    format!("{prog} would write to the device {}", w.text),
                )
            })
        }
        p if p.starts_with("mkfs") => Some(Finding::Deny(
            "mkfs",
            format!("{p} makes a new filesystem, erasing a disk"),
        )),
        "mke2fs" | "mkswap" | "wipefs" | "fdisk" | "sfdisk" | "cfdisk" | "gdisk" | "sgdisk"
        | "parted" => Some(Finding::Deny(
            "disk",
            format!("{prog} rewrites disks or partition tables"),
        )),
        "shutdown" | "reboot" | "halt" | "poweroff" => {
            Some(Finding::Deny("power", format!("{prog} stops the machine")))
        }
        "init" | "telinit" if args.iter().any(|w| w.text == "0" || w.text == "6") => Some(
            Finding::Deny("power", format!("{prog} 0/6 stops the machine")),
        ),
        "systemctl"
            if args.iter().any(|w| {
                matches!(
                    w.text.as_str(),
                    "poweroff" | "reboot" | "halt" | "kexec" | "emergency" | "rescue"
                )
            }) =>
        {
            Some(Finding::Deny(
                "power",
                "systemctl would stop or restart the machine".into(),
            ))
        }
        "chmod" | "chown" | "chgrp" => {
            let recursive = has_short(args, 'R') || has_long(args, "--recursive");
            let ops = operands(args);
            // The first operand of chmod/chown is the mode or owner.
            for w in ops.iter().skip(1) {
                if let Some(what) = ctx
                    .resolve(&w.text)
                    .to_str()
                    .and_then(|p| ctx.strictly_protected(Path::new(p)))
                    .filter(|_| recursive || w.text == "/")
                {
                    return Some(Finding::Deny(
                        "chmod",
                        format!("{prog} -R on {} would change {what}", w.text),
                    ));
                }
            }
            None
        }
        "kill" | "pkill"
            if prog == "kill" && args.len() >= 2 && args.last().is_some_and(|w| w.text == "-1") =>
        {
            Some(Finding::Deny(
                "kill",
                "kill … -1 signals every process you own".into(),
            ))
        }
        _ => None,
    }
}

/// Recursive operations on a tree: refused on protected places, asked about when the
/// target is only known at run time.
fn tree_targets(
    what: &'static str,
    verb: &str,
    args: &[Word],
    stdin_args: bool,
    ctx: &GuardCtx,
    ask_dynamic: bool,
) -> Option<Finding> {
    for w in operands(args) {
        if w.dynamic {
            if ask_dynamic {
                return Some(Finding::Ask(
                    what,
                    format!("{what} of a path known only at run time ({})", w.text),
                ));
            }
            continue;
        }
        if w.text == "{}" {
            return Some(Finding::Ask(
                what,
                format!("{what} of paths found at run time ({{}})"),
            ));
        }
        if let Some(place) = ctx.protected(&w.text) {
            return Some(Finding::Deny(
                what,
                format!("{what} would {verb} {place} ({})", w.text),
            ));
        }
    }
    if stdin_args {
        return Some(Finding::Ask(
            what,
            format!("{what} of paths read from standard input (xargs)"),
        ));
    }
    None
}

fn git(args: &[Word]) -> Option<Finding> {
    // Global options before the subcommand.
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        if matches!(
            t,
            "-C" | "-c" | "--git-dir" | "--work-tree" | "--namespace" | "--exec-path"
        ) {
            i += 2;
        } else if t.starts_with('-') {
            i += 1;
        } else {
            break;
        }
    }
    let sub = args.get(i)?.text.as_str();
    let rest = &args[i + 1..];
    match sub {
        "clean" => {
            if has_short(rest, 'x') || has_short(rest, 'X') {
                Some(Finding::Deny(
                    "git clean -x",
                    "git clean -x deletes ignored files too (build outputs, .env files, local settings)".into(),
                ))
            } else if (has_short(rest, 'f') || has_long(rest, "--force"))
                && !(has_short(rest, 'n') || has_long(rest, "--dry-run"))
            {
                Some(Finding::Ask(
                    "git clean -f",
                    "git clean -f deletes untracked files for good".into(),
                ))
            } else {
                None
            }
        }
        "reset" if has_long(rest, "--hard") => Some(Finding::Deny(
            "git reset --hard",
            "git reset --hard throws away uncommitted changes for good".into(),
        )),
        "push"
            if has_long(rest, "--force")
                || has_long(rest, "--force-with-lease")
                || has_long(rest, "--mirror")
                || has_short(rest, 'f')
                || operands(rest).iter().any(|w| w.text.starts_with('+')) =>
        {
            Some(Finding::Ask(
                "git push --force",
                "git push --force rewrites the remote's history".into(),
            ))
        }
        _ => None,
    }
}
