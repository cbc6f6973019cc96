//! Seeing through wrappers: `sudo`, `doas`, `env`, `timeout`, `nice`, `ionice`, `nohup`,
//! `setsid`, `stdbuf`, `time`, `exec`, `command`, `builtin`, `busybox`, `xargs`, and the
//! shells' `-c SCRIPT` (`sh`, `bash`, …, `eval`, `env -S`, `watch`). Each wrapper peeled
//! leaves a suffix of the command's words: a layer. The policy checks every layer, so a
//! rule against `sudo *` and the guard against `rm -rf /` both see `sudo rm -rf /`.

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
    word.rsplit('/').next().unwrap_or(word)
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

/// Skips options starting at `i`: `with_arg` lists short options that take the next word
/// (or the rest of their cluster); long options `--x=y` take theirs inline, and
/// `long_with_arg` those that take the next word. Returns the first operand's index.
fn skip_opts(words: &[Word], mut i: usize, with_arg: &str, long_with_arg: &[&str]) -> usize {
    while let Some(w) = words.get(i) {
        let t = w.text.as_str();
        if t == "--" {
            return i + 1;
        }
        if let Some(long) = t.strip_prefix("--") {
            i += 1;
            if !long.contains('=') && long_with_arg.contains(&long) {
                i += 1;
            }
            continue;
        }
        if t.len() < 2 || !t.starts_with('-') {
            return i;
        }
        i += 1;
        // `-u root`, `-uroot`, `-nu root`: the first option that takes an argument ends
        // the cluster; it takes the rest of it, or the next word.
        for (k, c) in t[1..].char_indices() {
            if with_arg.contains(c) {
                if k + 1 + c.len_utf8() == t.len() {
                    i += 1;
                }
                break;
            }
        }
    }
    i
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
            "sudo" => skip_opts(
                words,
                i + 1,
                "ughpCDrtUT",
                &["user", "group", "host", "prompt", "chdir"],
            ),
            "doas" => skip_opts(words, i + 1, "uC", &[]),
            "nice" => {
                // `nice -10 cmd` is an adjustment, not an option cluster.
                let mut j = i + 1;
                if words.get(j).is_some_and(|w| {
                    w.text.len() > 1
                        && w.text[1..].bytes().all(|b| b.is_ascii_digit())
                        && w.text.starts_with('-')
                }) {
                    j += 1;
                }
                skip_opts(words, j, "n", &["adjustment"])
            }
            "ionice" => skip_opts(words, i + 1, "cnp", &["class", "classdata", "pid"]),
            "nohup" | "builtin" | "busybox" => i + 1,
            "setsid" => skip_opts(words, i + 1, "", &[]),
            "stdbuf" => skip_opts(words, i + 1, "ioe", &["input", "output", "error"]),
            "time" => skip_opts(words, i + 1, "fo", &["format", "output"]),
            "exec" => skip_opts(words, i + 1, "a", &[]),
            "command" => {
                if words.get(i + 1).is_some_and(|w| {
                    w.text.starts_with('-') && (w.text.contains('v') || w.text.contains('V'))
                }) {
                    out.inert = true;
                    return out;
                }
                skip_opts(words, i + 1, "", &[])
            }
            "timeout" => {
                let j = skip_opts(words, i + 1, "sk", &["signal", "kill-after"]);
                j + 1 // the duration
            }
            "xargs" => {
                out.stdin_args = true;
                let j = skip_opts(
                    words,
                    i + 1,
                    "IiLlnPsdaEe",
                    &[
                        "replace",
                        "max-lines",
                        "max-args",
                        "max-procs",
                        "max-chars",
                        "delimiter",
                        "arg-file",
                        "eof",
                    ],
                );
                if j >= words.len() {
                    return out; // xargs runs echo
                }
                j
            }
            "env" => {
                let mut j = i + 1;
                while let Some(w) = words.get(j) {
                    let t = w.text.as_str();
                    if t == "-S" || t == "--split-string" {
                        out.script = Some(script_from(&words[j + 1..]));
                        return out;
                    }
                    if let Some(rest) = t
                        .strip_prefix("--split-string=")
                        .or_else(|| t.strip_prefix("-S"))
                    {
                        let mut s = rest.to_owned();
                        for w in &words[j + 1..] {
                            s.push(' ');
                            s.push_str(&w.text);
                        }
                        out.script = Some(if w.dynamic {
                            Script::Dynamic
                        } else {
                            Script::Text(s)
                        });
                        return out;
                    }
                    if t == "-u" || t == "-C" || t == "--unset" || t == "--chdir" {
                        j += 2;
                    } else if t.starts_with('-') || is_assignment(t) {
                        j += 1;
                    } else {
                        break;
                    }
                }
                if j >= words.len() {
                    out.inert = true; // prints the environment
                    return out;
                }
                j
            }
            "eval" => {
                out.script = Some(script_from(&words[i + 1..]));
                return out;
            }
            "watch" => {
                let j = skip_opts(words, i + 1, "nqd", &["interval", "differences"]);
                out.script = Some(script_from(&words[j.min(words.len())..]));
                return out;
            }
            p if SHELLS.contains(&p) => {
                out.script = shell_c(&words[i + 1..]);
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

/// The script of `sh [-opts] -c SCRIPT`, if the shell was given one.
fn shell_c(args: &[Word]) -> Option<Script> {
    let mut has_c = false;
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
            if t.contains('c') {
                has_c = true;
            }
            i += 1;
            continue;
        }
        break;
    }
    if !has_c {
        return None;
    }
    let w = args.get(i)?;
    Some(if w.dynamic {
        Script::Dynamic
    } else {
        Script::Text(w.text.clone())
    })
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
