//! `find` in the guard. It deletes with `-delete`, or by running a deleting program on
//! what it finds (`-exec`, `-execdir`, `-ok`, `-okdir` with `rm`, `unlink`, `shred`,
//! `rmdir -p`, or a shell whose script runs one). Either is refused from the root, the
//! home, a system directory, or — when no test narrows what is found — from the
//! workdir or a directory holding it, and asked about from a place known only at run
//! time. The commands `-exec` runs are also checked as commands (`policy.rs`).

use super::{Finding, Here, Place};
use crate::engine::policy::options;
use crate::engine::policy::shell::{self, Stage, Word};
use crate::engine::policy::unwrap::{self, base};

/// Tests that narrow what is found; without one, everything under the path goes.
const FILTERS: [&str; 11] = [
    "-name", "-iname", "-path", "-ipath", "-regex", "-iregex", "-newer", "-mtime", "-mmin",
    "-size", "-empty",
];

const EXECS: [&str; 4] = ["-exec", "-execdir", "-ok", "-okdir"];

/// The starting paths: after find's own options (`-H`, `-L`, `-P`, `-D LIST`, `-O3`),
/// up to the expression.
fn start_paths(args: &[Word]) -> &[Word] {
    let mut i = 0;
    while let Some(w) = args.get(i) {
        match w.text.as_str() {
            "-H" | "-L" | "-P" => i += 1,
            "-D" => i += 2,
            t if t.starts_with("-O") => i += 1,
            _ => break,
        }
    }
    let rest = args.get(i..).unwrap_or_default();
    let n = rest
        .iter()
        .take_while(|w| {
            !(w.text.starts_with('-') && w.text.len() > 1) && w.text != "!" && w.text != "("
        })
        .count();
    &rest[..n]
}

/// The commands `find` runs: each `-exec`-like action (`-execdir` and `-okdir` run in
/// the found file's directory) with the words after it up to `;` or `+`.
pub fn exec_commands(args: &[Word]) -> Vec<(&str, &[Word])> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let t = args[i].text.as_str();
        if EXECS.contains(&t) {
            let end = args[i + 1..]
                .iter()
                .position(|w| w.text == ";" || w.text == "+")
                .map_or(args.len(), |e| i + 1 + e);
            out.push((t, &args[i + 1..end]));
            i = end;
        }
        i += 1;
    }
    out
}

/// Whether a command deletes what it is given: `rm`, `unlink`, `shred`, `rmdir -p`, or a
/// shell whose script runs one (or a script only known at run time).
pub fn deletes(words: &[Word], depth: usize) -> bool {
    let layers = unwrap::layers(words);
    let Some(inner) = layers.starts.last().and_then(|&i| words.get(i..)) else {
        return false;
    };
    let Some(first) = inner.first() else {
        return false;
    };
    if first.dynamic {
        return true;
    }
    match base(&first.text) {
        "rm" | "unlink" | "shred" => return true,
        "rmdir" => return options::parse(&inner[1..], &options::RMDIR).has('p', "parents"),
        _ => {}
    }
    match layers.script {
        Some(unwrap::Script::Text(t)) => {
            shell::parse_at(&t, depth + 1).map_or(true, |s| script_deletes(&s, depth + 1))
        }
        Some(unwrap::Script::Dynamic) => true,
        None => false,
    }
}

fn script_deletes(script: &shell::Script, depth: usize) -> bool {
    if depth > shell::MAX_DEPTH {
        return true;
    }
    script.pipelines.iter().any(|p| {
        p.stages.iter().any(|st| match st {
            Stage::Simple(s) => deletes(&s.words, depth),
            Stage::Group(g) => script_deletes(&g.body, depth + 1),
        })
    })
}

pub fn check(args: &[Word], here: Here) -> Option<Finding> {
    let how = if args.iter().any(|w| w.text == "-delete") {
        "-delete".to_owned()
    } else {
        // `-exec rm`, `-execdir shred`, …: the action and the program.
        let (action, cmd) = exec_commands(args)
            .into_iter()
            .find(|(_, cmd)| deletes(cmd, 0))?;
        format!("{action} {}", cmd.first().map_or("", |w| base(&w.text)))
    };
    let filtered = args.iter().any(|w| FILTERS.contains(&w.text.as_str()));
    let paths = start_paths(args);
    let dot = [Word {
        text: ".".into(),
        ..Word::default()
    }];
    let paths = if paths.is_empty() { &dot[..] } else { paths };
    let mut ask = None;
    for p in paths {
        if p.dynamic {
            ask = ask.or(Some(Finding::Ask(
                "find",
                format!(
                    "find {how} under a path known only at run time ({})",
                    p.text
                ),
            )));
            continue;
        }
        let place = match here.strict(&p.text) {
            Place::Fine if !filtered => here.protected(&p.text),
            other => other,
        };
        match place {
            Place::Protected(what) => {
                return Some(Finding::Deny(
                    "find",
                    format!("find {} {how} would delete {what}", p.text),
                ));
            }
            Place::Unknown => {
                ask = ask.or(Some(Finding::Ask(
                    "find",
                    format!(
                        "find {} {how} in a directory known only at run time",
                        p.text
                    ),
                )));
            }
            Place::Fine => {}
        }
    }
    ask
}
