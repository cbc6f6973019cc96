//! The built-in guard: destructive commands refused (or asked about) whatever the rules
//! say. It looks at one command with its wrappers peeled off and its braces expanded, in
//! each directory it may run in: recursive deletes of `/`, the home directory, system
//! directories and what is under them, the workdir or its parents; `find` deleting
//! (`-delete`, `-exec rm`); `git clean -x`, `git reset --hard`, forced pushes; filesystem
//! makers and partitioners; `dd` and redirections onto devices; power-off; permission
//! changes of whole trees; `kill -1`. Options are read as GNU programs read them
//! (`policy/options.rs`: abbreviations, clusters, options after operands). Downloads piped
//! into a shell, text fed to shells and fork bombs need the whole command line, so
//! `policy.rs` checks those.

mod find;
mod paths;

pub use find::exec_commands;
pub use paths::{GuardCtx, Here, Place, is_device};

use super::cwd::Cwd;
use super::options::{self, Parsed};
use super::shell::Word;
use super::unwrap::base;

/// A guard finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    Deny(&'static str, String),
    Ask(&'static str, String),
}

impl Finding {
    fn deny(&self) -> bool {
        matches!(self, Self::Deny(..))
    }
}

/// Checks one unwrapped command (`words[0]` is the program) in each place it may run.
/// `stdin_args`: more arguments come from standard input (`xargs`).
pub fn check(words: &[Word], stdin_args: bool, ctx: &GuardCtx, cwd: &Cwd) -> Option<Finding> {
    let mut worst: Option<Finding> = None;
    for dir in cwd.dirs() {
        let f = check_in(words, stdin_args, Here { ctx, dir });
        if f.as_ref().is_some_and(Finding::deny) {
            return f;
        }
        worst = worst.or(f);
    }
    worst
}

fn check_in(words: &[Word], stdin_args: bool, here: Here) -> Option<Finding> {
    let prog = base(&words.first()?.text);
    let args = &words[1..];
    match prog {
        "rm" => {
            let p = options::parse(args, &options::RM);
            if p.has_long("no-preserve-root") {
                return Some(Finding::Deny(
                    "rm",
                    "rm --no-preserve-root deletes the root directory".into(),
                ));
            }
            if p.has('r', "recursive") || p.has_short('R') {
                return tree_targets("rm -r", &p.operands, stdin_args, here);
            }
            None
        }
        "find" => find::check(args, here),
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
        "chmod" | "chown" | "chgrp" => permissions(prog, args, here),
        "kill" if args.len() >= 2 && args.last().is_some_and(|w| w.text == "-1") => Some(
            Finding::Deny("kill", "kill … -1 signals every process you own".into()),
        ),
        _ => None,
    }
}

/// `chmod`/`chown`/`chgrp` of a protected tree (or of `/` itself).
fn permissions(prog: &str, args: &[Word], here: Here) -> Option<Finding> {
    let spec = if prog == "chmod" {
        &options::CHMOD
    } else {
        &options::CHOWN
    };
    let p = options::parse(args, spec);
    let recursive = p.has('R', "recursive");
    // The first operand is the mode or owner, unless `--reference` gives it or (chmod)
    // the mode was written as an option (`chmod -R -w /`).
    let mode_option = prog == "chmod" && p.short.iter().any(|&(c, _)| "rwxXstugo".contains(c));
    let skip = usize::from(!(p.has_long("reference") || mode_option));
    let mut ask = None;
    for w in p.operands.iter().skip(skip).filter(|w| !w.dynamic) {
        match here.strict(&w.text) {
            Place::Protected(what) if recursive || w.text == "/" => {
                return Some(Finding::Deny(
                    "chmod",
                    format!("{prog} -R on {} would change {what}", w.text),
                ));
            }
            Place::Unknown if recursive => {
                ask = ask.or(Some(Finding::Ask(
                    "chmod",
                    format!(
                        "{prog} -R on {} in a directory known only at run time",
                        w.text
                    ),
                )));
            }
            _ => {}
        }
    }
    ask
}

/// Recursive deletes: refused on protected places, asked about when the target is only
/// known at run time.
fn tree_targets(
    what: &'static str,
    operands: &[&Word],
    stdin_args: bool,
    here: Here,
) -> Option<Finding> {
    let mut ask = None;
    for w in operands {
        let why = if w.dynamic {
            format!("{what} of a path known only at run time ({})", w.text)
        } else if w.text == "{}" {
            format!("{what} of paths found at run time ({{}})")
        } else {
            match here.protected(&w.text) {
                Place::Protected(place) => {
                    return Some(Finding::Deny(
                        what,
                        format!("{what} would delete {place} ({})", w.text),
                    ));
                }
                Place::Unknown => {
                    format!("{what} of {} in a directory known only at run time", w.text)
                }
                Place::Fine => continue,
            }
        };
        ask = ask.or(Some(Finding::Ask(what, why)));
    }
    if stdin_args {
        ask = ask.or(Some(Finding::Ask(
            what,
            format!("{what} of paths read from standard input (xargs)"),
        )));
    }
    ask
}

fn git(args: &[Word]) -> Option<Finding> {
    // Global options before the subcommand (git reads these itself, unabbreviated).
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
    let opts = |spec| -> Parsed<'_> { options::parse(rest, spec) };
    match sub {
        "clean" => {
            let p = opts(&options::GIT_CLEAN);
            if p.has_short('x') || p.has_short('X') {
                Some(Finding::Deny(
                    "git clean -x",
                    "git clean -x deletes ignored files too (build outputs, .env files, local settings)".into(),
                ))
            } else if p.has('f', "force") && !p.has('n', "dry-run") {
                Some(Finding::Ask(
                    "git clean -f",
                    "git clean -f deletes untracked files for good".into(),
                ))
            } else {
                None
            }
        }
        "reset" if opts(&options::GIT_RESET).has_long("hard") => Some(Finding::Deny(
            "git reset --hard",
            "git reset --hard throws away uncommitted changes for good".into(),
        )),
        "push" => {
            let p = opts(&options::GIT_PUSH);
            let forced = p.has('f', "force")
                || p.has_long("force-with-lease")
                || p.has_long("force-if-includes")
                || p.has_long("mirror")
                || p.operands.iter().any(|w| w.text.starts_with('+'));
            forced.then(|| {
                Finding::Ask(
                    "git push --force",
                    "git push --force rewrites the remote's history".into(),
                )
            })
        }
        _ => None,
    }
}
