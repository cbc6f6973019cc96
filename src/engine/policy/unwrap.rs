//! Seeing through wrappers: `sudo`, `doas`, `env`, `timeout`, `nice`, `ionice`, `nohup`,
//! `setsid`, `stdbuf`, `time`, `exec`, `command`, `builtin`, `busybox`, `xargs`, and the
//! shells' `-c SCRIPT` (`sh`, `bash`, …, `eval`, `env -S`, `watch`). Each wrapper peeled
//! leaves a suffix of the command's words: a layer. The policy checks every layer, so a
//! rule against `sudo *` and the guard against `rm -rf /` both see `sudo rm -rf /`.
//! Wrappers' options are read as GNU getopt reads them (`options.rs`: `sudo --us root`,
//! `xargs --max-a 1`); what a layer says about the inner command is kept too: the
//! directory it starts in (`env -C`, `sudo -D`), `xargs -I`'s replace string, and
//! whether a shell reads its script from standard input.

use super::options::{self, Spec};
use super::shell::Word;

/// The layers of one command and what its innermost program gets from elsewhere.
#[derive(Debug, Default)]
pub struct Layers {
    /// Start index of each layer in the command's words, outermost (0) first.
    pub starts: Vec<usize>,
    /// Arguments are appended from standard input (`xargs`).
    pub stdin_args: bool,
    /// A script the innermost program runs as a string (`sh -c`, `eval`, `env -S`, `watch`).
    pub script: Option<Script>,
    /// Nothing runs (`command -v`, a bare assignment).
    pub inert: bool,
    /// `xargs -I R`: the string replaced by each input line.
    pub replace: Option<String>,
    /// The innermost program is a shell reading its script from standard input.
    pub reads_stdin: bool,
    /// The directory the innermost program is started in (`env -C DIR`, `sudo -D DIR`).
    pub chdir: Option<Word>,
}

/// A script given as arguments.
#[derive(Debug)]
pub enum Script {
    Text(String),
    /// Built from words only known at run time.
    Dynamic,
}

pub const SHELLS: [&str; 8] = ["sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "fish"];

/// The program's name without its directory.
pub fn base(word: &str) -> &str {
    // `/` is ASCII: the byte after it starts a character.
    match word.bytes().rposition(|b| b == b'/') {
        Some(i) => &word[i + 1..],
        None => word,
    }
}

fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// The index of the wrapped command: the first operand after the options starting at
/// `i`, read by `spec`.
fn skip_opts(words: &[Word], i: usize, spec: &Spec) -> usize {
    i + options::parse(words.get(i..).unwrap_or_default(), spec).end
}

/// Peels the wrappers off `words`.
pub fn layers(words: &[Word]) -> Layers {
    let mut out = Layers::default();
    let mut i = 0;
    for _ in 0..32 {
        while words.get(i).is_some_and(|w| is_assignment(&w.text)) {
            i += 1;
        }
        let Some(first) = words.get(i) else {
            out.inert = out.starts.is_empty();
            if out.starts.is_empty() {
                out.starts.push(i.min(words.len().saturating_sub(1)));
            }
            return out;
        };
        out.starts.push(i);
        if first.dynamic {
            return out;
        }
        let prog = base(&first.text);
        let next = match prog {
            "sudo" => {
                let args = &words[i + 1..];
                let p = options::parse(args, &options::SUDO);
                if let Some(dir) = p.value('D', "chdir") {
                    // Values lose their word; a `$` in one may be an expansion.
                    out.chdir = Some(Word {
                        text: dir.to_owned(),
                        dynamic: dir.contains('$'),
                        ..Word::default()
                    });
                }
                i + 1 + p.end
            }
            "doas" => skip_opts(words, i + 1, &options::DOAS),
            "nice" => {
                // `nice -10 cmd` is an adjustment, not an option cluster.
                let mut j = i + 1;
                if words.get(j).is_some_and(|w| {
                    w.text
                        .strip_prefix('-')
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                }) {
                    j += 1;
                }
                skip_opts(words, j, &options::NICE)
            }
            "ionice" => skip_opts(words, i + 1, &options::IONICE),
            "nohup" | "builtin" | "busybox" => i + 1,
            "setsid" => skip_opts(words, i + 1, &options::SETSID),
            "stdbuf" => skip_opts(words, i + 1, &options::STDBUF),
            "time" => skip_opts(words, i + 1, &options::TIME),
            "exec" => skip_opts(words, i + 1, &options::EXEC),
            "command" => {
                if words.get(i + 1).is_some_and(|w| {
                    w.text.starts_with('-') && (w.text.contains('v') || w.text.contains('V'))
                }) {
                    out.inert = true;
                    return out;
                }
                skip_opts(words, i + 1, &options::COMMAND)
            }
            "timeout" => skip_opts(words, i + 1, &options::TIMEOUT) + 1, // the duration
            "xargs" => {
                out.stdin_args = true;
                let p = options::parse(&words[i + 1..], &options::XARGS);
                out.replace = if p.has_short('I') {
                    p.value('I', "").map(str::to_owned)
                } else if p.has('i', "replace") {
                    let r = p.value('i', "replace").unwrap_or_default();
                    Some(if r.is_empty() { "{}" } else { r }.to_owned())
                } else {
                    None
                };
                let j = i + 1 + p.end;
                if j >= words.len() {
                    return out; // xargs runs echo
                }
                j
            }
            "env" => match env(words, i + 1, &mut out) {
                Some(j) => j,
                None => return out,
            },
            "eval" => {
                out.script = Some(script_from(&words[i + 1..]));
                return out;
            }
            "watch" => {
                let j = skip_opts(words, i + 1, &options::WATCH);
                out.script = Some(script_from(&words[j.min(words.len())..]));
                return out;
            }
            p if SHELLS.contains(&p) => {
                let sh = shell_args(&words[i + 1..]);
                out.script = sh.script;
                out.reads_stdin = sh.reads_stdin;
                return out;
            }
            _ => return out,
        };
        if next >= words.len() || next <= i {
            return out;
        }
        i = next;
    }
    out
}

/// `env`'s options from `j`: returns the command's index, or `None` when env runs none
/// of its own (it prints the environment, or runs the `-S` script recorded in `out`).
fn env(words: &[Word], mut j: usize, out: &mut Layers) -> Option<usize> {
    // The value of an option: the rest of its word, or the next word.
    let value = |j: &mut usize, rest: Option<&str>| -> Option<Word> {
        match rest {
            Some(r) if !r.is_empty() => Some(Word {
                text: r.to_owned(),
                dynamic: words[*j].dynamic,
                ..Word::default()
            }),
            _ => {
                *j += 1;
                words.get(*j).cloned()
            }
        }
    };
    while let Some(w) = words.get(j) {
        let t = w.text.as_str();
        if t == "--" {
            j += 1;
            continue;
        }
        if let Some(long) = t.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let m = options::long_matches(&options::ENV, name);
            let named = |n: &str| m.iter().any(|&(l, _)| l == n);
            if named("split-string") {
                out.script = Some(split_string(words, j, inline));
                return None;
            }
            if named("chdir") || named("unset") {
                let v = value(&mut j, inline.or(Some("")));
                if named("chdir") {
                    out.chdir = v;
                }
            }
            j += 1;
            continue;
        }
        if t.len() > 1 && t.starts_with('-') {
            for (k, c) in t.char_indices().skip(1) {
                let rest = &t[k + c.len_utf8()..];
                match c {
                    'S' => {
                        out.script = Some(split_string(words, j, Some(rest)));
                        return None;
                    }
                    'u' | 'C' => {
                        let v = value(&mut j, Some(rest));
                        if c == 'C' {
                            out.chdir = v;
                        }
                        break;
                    }
                    _ => {}
                }
            }
            j += 1;
            continue;
        }
        if is_assignment(t) {
            j += 1;
            continue;
        }
        return Some(j);
    }
    out.inert = true; // prints the environment
    None
}

/// The script of `env -S STRING ARGS…` (`-S` at `words[j]`, `inline` its attached value).
fn split_string(words: &[Word], j: usize, inline: Option<&str>) -> Script {
    match inline {
        Some(s) if !s.is_empty() => {
            if words[j..].iter().any(|w| w.dynamic) {
                return Script::Dynamic;
            }
            let mut text = s.to_owned();
            for w in &words[j + 1..] {
                text.push(' ');
                text.push_str(&w.text);
            }
            Script::Text(text)
        }
        _ => script_from(&words[j + 1..]),
    }
}

/// What a shell's arguments say about its script.
#[derive(Debug, Default)]
pub struct ShellArgs {
    /// The script given with `-c`.
    pub script: Option<Script>,
    /// It reads its script from standard input: no `-c` and no script file (or `-s`,
    /// `-`, `/dev/stdin`).
    pub reads_stdin: bool,
}

/// The arguments of `sh [-opts] [-c SCRIPT | -s | FILE] …`.
pub fn shell_args(args: &[Word]) -> ShellArgs {
    let (mut has_c, mut has_s) = (false, false);
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        if t == "--" {
            i += 1;
            break;
        }
        if t == "-o" || t == "+o" || t == "-O" || t == "+O" || t == "--rcfile" || t == "--init-file"
        {
            i += 2;
            continue;
        }
        if t.starts_with("--") {
            i += 1;
            continue;
        }
        if (t.starts_with('-') || t.starts_with('+')) && t.len() > 1 {
            has_c |= t.contains('c');
            has_s |= t.starts_with('-') && t.contains('s');
            i += 1;
            continue;
        }
        break;
    }
    if has_c {
        return ShellArgs {
            script: args.get(i).map(|w| {
                if w.dynamic {
                    Script::Dynamic
                } else {
                    Script::Text(w.text.clone())
                }
            }),
            reads_stdin: false,
        };
    }
    let operand = args.get(i);
    ShellArgs {
        script: None,
        reads_stdin: has_s
            || operand.is_none_or(|w| !w.dynamic && matches!(w.text.as_str(), "-" | "/dev/stdin")),
    }
}

fn script_from(words: &[Word]) -> Script {
    if words.iter().any(|w| w.dynamic) {
        return Script::Dynamic;
    }
    Script::Text(
        words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    )
}
