//! GNU-style options, for the guard and the wrapper peeler: short clusters (`-rf`,
//! `-uroot`), options among the operands (GNU getopt permutes them: `rm / -rf`), `--`
//! ending the options, `--name=value`, and long options abbreviated to a prefix
//! (`rm --recur`, `git reset --har`).
//!
//! How an abbreviation is matched: an exact name wins; otherwise the word means every
//! long option of the program that it is a prefix of. GNU getopt (and git's
//! parse-options) refuse a prefix that fits several options as ambiguous, so the command
//! runs nothing; taking it as all of them loses nothing, and stays right where another
//! version or implementation (uutils, busybox, an older coreutils) has fewer options and
//! would take it as the one that does harm. So `--f` is `--force` for `rm`, and
//! `git push --forc` is `--force` (and `--force-with-lease`). The tables
//! (`options/specs.rs`) list each program's long options; they also say which options
//! take the next word as their value, which decides what the operands are.

mod specs;

pub use specs::*;

use super::shell::Word;

/// Whether a long option takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    No,
    /// `--name VALUE` or `--name=VALUE`.
    Required,
    /// Only `--name=VALUE`.
    Optional,
}

/// A program's options.
pub struct Spec {
    /// Short options that take a value: the rest of their cluster, or the next word.
    pub short_arg: &'static str,
    /// Short options that take a value only in the rest of their cluster (`xargs -i{}`).
    pub short_optional: &'static str,
    pub long: &'static [(&'static str, Arg)],
    /// Options may follow operands (GNU); otherwise the first operand ends them (a
    /// wrapper's command, POSIX).
    pub permute: bool,
}

/// A command's arguments sorted into options and operands.
#[derive(Debug, Default)]
pub struct Parsed<'a> {
    /// Short options with their values.
    pub short: Vec<(char, Option<&'a str>)>,
    /// Long options with their values: every option a word could name.
    pub long: Vec<(&'static str, Option<&'a str>)>,
    /// Non-option arguments, everything after `--` included (when options permute).
    pub operands: Vec<&'a Word>,
    /// Index (in the words given) of the first word after the options when they do not
    /// permute: the wrapped command.
    pub end: usize,
}

impl Parsed<'_> {
    pub fn has_short(&self, c: char) -> bool {
        self.short.iter().any(|&(s, _)| s == c)
    }

    pub fn has_long(&self, name: &str) -> bool {
        self.long.iter().any(|&(l, _)| l == name)
    }

    /// `-c` or `--name`.
    pub fn has(&self, c: char, name: &str) -> bool {
        self.has_short(c) || self.has_long(name)
    }

    /// The value of the last `-c V` or `--name=V` (`Some("")` when given without one).
    pub fn value(&self, c: char, name: &str) -> Option<&str> {
        let s = self.short.iter().rev().find(|&&(s, _)| s == c);
        let l = self.long.iter().rev().find(|&&(l, _)| l == name);
        s.map(|&(_, v)| v)
            .or(l.map(|&(_, v)| v))
            .map(|v| v.unwrap_or(""))
    }
}

/// The long options a word `--name` (without the dashes and any `=value`) could mean.
pub fn long_matches(spec: &Spec, name: &str) -> Vec<(&'static str, Arg)> {
    if let Some(&exact) = spec.long.iter().find(|(l, _)| *l == name) {
        return vec![exact];
    }
    if name.is_empty() {
        return Vec::new();
    }
    spec.long
        .iter()
        .filter(|(l, _)| l.starts_with(name))
        .copied()
        .collect()
}

/// Sorts `words` (the arguments, without the program) by `spec`.
pub fn parse<'a>(words: &'a [Word], spec: &Spec) -> Parsed<'a> {
    let mut out = Parsed {
        end: words.len(),
        ..Parsed::default()
    };
    let mut i = 0;
    while let Some(w) = words.get(i) {
        let t = w.text.as_str();
        i += 1;
        if t == "--" {
            out.end = i;
            if spec.permute {
                out.operands.extend(&words[i..]);
            }
            return out;
        }
        if let Some(long) = t.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let matches = long_matches(spec, name);
            let takes_next = inline.is_none()
                && !matches.is_empty()
                && matches.iter().all(|&(_, a)| a == Arg::Required);
            let value = if takes_next {
                i += 1;
                words.get(i - 1).map(|w| w.text.as_str())
            } else {
                inline
            };
            out.long.extend(matches.iter().map(|&(l, _)| (l, value)));
            continue;
        }
        if t.len() < 2 || !t.starts_with('-') {
            if !spec.permute {
                out.end = i - 1;
                return out;
            }
            out.operands.push(w);
            continue;
        }
        // A cluster: the first option that takes a value takes the rest of it, or the
        // next word.
        for (k, c) in t.char_indices().skip(1) {
            if spec.short_optional.contains(c) {
                let rest = &t[k + c.len_utf8()..];
                out.short.push((c, (!rest.is_empty()).then_some(rest)));
                break;
            }
            if spec.short_arg.contains(c) {
                let rest = &t[k + c.len_utf8()..];
                let value = if rest.is_empty() {
                    i += 1;
                    words.get(i - 1).map(|w| w.text.as_str())
                } else {
                    Some(rest)
                };
                out.short.push((c, value));
                break;
            }
            out.short.push((c, None));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Word> {
        s.split_whitespace()
            .map(|t| Word {
                text: t.to_owned(),
                ..Word::default()
            })
            .collect()
    }

    #[test]
    fn abbreviations_clusters_and_permutation() {
        let w = words("/ --recur -fv --no-pres x -- -r");
        let p = parse(&w, &RM);
        assert!(p.has('r', "recursive") && p.has('f', "force") && p.has_short('v'));
        assert!(p.has_long("no-preserve-root"));
        let ops: Vec<&str> = p.operands.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(ops, ["/", "x", "-r"]);
        // Ambiguous: every option it could abbreviate.
        let w = words("--forc origin");
        let p = parse(&w, &GIT_PUSH);
        assert!(p.has_long("force") && p.has_long("force-with-lease"));
        // An exact name wins over longer ones it starts.
        let w = words("--force");
        assert!(!parse(&w, &GIT_PUSH).has_long("force-with-lease"));
        // Values: `--name VALUE` for required ones, `--name=VALUE`, short clusters.
        let w = words("--ref /etc/passwd -R .");
        let p = parse(&w, &CHMOD);
        assert_eq!(p.value('\0', "reference"), Some("/etc/passwd"));
        assert_eq!(p.operands.len(), 1);
    }

    #[test]
    fn wrappers_stop_at_their_command() {
        let w = words("-u root --pre -E rm -rf /");
        assert_eq!(parse(&w, &SUDO).end, 4);
        let w = words("--us=root -- rm");
        assert_eq!(parse(&w, &SUDO).end, 2);
        let w = words("-i{} -n1 echo {}");
        let p = parse(&w, &XARGS);
        assert_eq!((p.value('i', "replace"), p.end), (Some("{}"), 2));
        let w = words("-i echo {}");
        assert_eq!(parse(&w, &XARGS).value('i', "replace"), Some(""));
    }
}
