//! What a command reads on standard input, where the policy can know it: the text that
//! `echo` and `printf` write (escapes and conversions applied), passed on by `cat` and
//! `tee`, here-strings and here-documents. A shell reading its script from there
//! (`echo … | sh`, `bash -s <<< …`) runs that text, so the policy checks it like any
//! script; what it cannot know (a file, a command's output) it asks about. `xargs` fed
//! known text becomes the commands it would run.

use super::shell::{Redirect, Word};
use super::unwrap::base;

/// Most text followed; more is treated as unknown.
const MAX_TEXT: usize = 64 * 1024;

/// Most commands followed for one `xargs`.
const MAX_XARGS: usize = 64;

/// A command's standard input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Nothing fed by the command line: whatever az-os gives it.
    Inherited,
    /// Known text, in each way it may come out (`echo 'a\nb'` differs between shells).
    Text(Vec<String>),
    /// Only known at run time: what it comes from.
    Unknown(String),
}

fn unknown(what: impl Into<String>) -> Input {
    Input::Unknown(what.into())
}

/// The input of a command with `redirects`, `piped` being what the pipe brings.
pub fn input(redirects: &[Redirect], piped: Input) -> Input {
    let mut out = piped;
    for r in redirects {
        out = match r.op.as_str() {
            "<<<" if r.target.dynamic => unknown("a here-string known only at run time"),
            "<<<" => Input::Text(vec![format!("{}\n", r.target.text)]),
            "<<" | "<<-" => match &r.heredoc {
                Some(body) => Input::Text(vec![body.clone()]),
                None => unknown("a here-document"),
            },
            "<" | "<>" if r.target.text == "/dev/null" && !r.target.dynamic => {
                Input::Text(vec![String::new()])
            }
            "<" | "<>" => unknown(format!("the file {}", r.target.text)),
            "<&" => unknown("another file descriptor"),
            _ => continue,
        };
    }
    out
}

/// What a command (`words`, wrappers peeled) writes to standard output, reading `input`.
pub fn output(words: &[Word], input: &Input) -> Input {
    let Some(first) = words.first() else {
        return unknown("an empty command");
    };
    let prog = base(&first.text);
    let args = &words[1..];
    if first.dynamic {
        return unknown("a command only known at run time");
    }
    if args.iter().any(|w| w.dynamic) {
        return unknown(format!("{prog} of text only known at run time"));
    }
    let out = match prog {
        "echo" => Input::Text(echo(args)),
        "printf" => match printf(args) {
            Some(t) => Input::Text(vec![t]),
            None => unknown("printf of too much text"),
        },
        "tee" => input.clone(),
        "cat" if args.iter().all(|w| w.text.starts_with('-')) => input.clone(),
        _ => unknown(format!("the output of {prog}")),
    };
    match out {
        Input::Text(t) if t.iter().any(|s| s.len() > MAX_TEXT) => unknown("too much text"),
        other => other,
    }
}

/// What `echo ARGS` writes: as is, and with escapes interpreted when it has any (bash
/// only interprets them with `-e`, dash always).
fn echo(args: &[Word]) -> Vec<String> {
    let mut newline = true;
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let Some(flags) = w.text.strip_prefix('-') else {
            break;
        };
        if flags.is_empty() || !flags.chars().all(|c| matches!(c, 'n' | 'e' | 'E')) {
            break;
        }
        newline &= !flags.contains('n');
        i += 1;
    }
    let mut text = args[i..]
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if newline {
        text.push('\n');
    }
    if text.contains('\\') {
        let escaped = unescape(&text, false).0;
        vec![text, escaped]
    } else {
        vec![text]
    }
}

/// Interprets backslash escapes as `echo -e` and printf's `%b` do (`format`: as in a
/// printf format, where `\"` and `\'` are quotes); the flag says output stopped at `\c`.
fn unescape(s: &str, format: bool) -> (String, bool) {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else {
            out.push('\\');
            break;
        };
        let mut number = |radix: u32, max: usize| {
            let mut n = 0u32;
            for _ in 0..max {
                match it.peek().and_then(|d| d.to_digit(radix)) {
                    Some(d) => {
                        n = n * radix + d;
                        it.next();
                    }
                    None => break,
                }
            }
            char::from_u32(n).unwrap_or('\u{fffd}')
        };
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'e' | 'E' => out.push('\x1b'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            'c' => return (out, true),
            '0' => out.push(number(8, 3)),
            'x' => out.push(number(16, 2)),
            'u' => out.push(number(16, 4)),
            'U' => out.push(number(16, 8)),
            '"' | '\'' if format => out.push(e),
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    (out, false)
}

/// What `printf FORMAT ARGS` writes (the format reused while arguments remain); `None`
/// past [`MAX_TEXT`].
fn printf(args: &[Word]) -> Option<String> {
    let mut i = 0;
    if args.first().is_some_and(|w| w.text.starts_with("-v")) {
        return Some(String::new()); // it sets a variable
    }
    if args.first().is_some_and(|w| w.text == "--") {
        i = 1;
    }
    let Some(format) = args.get(i) else {
        return Some(String::new());
    };
    let values: Vec<&str> = args[i + 1..].iter().map(|w| w.text.as_str()).collect();
    let mut out = String::new();
    let mut next = 0;
    loop {
        let before = next;
        if render(&format.text, &values, &mut next, &mut out) || out.len() > MAX_TEXT {
            break;
        }
        if next >= values.len() || next == before {
            break;
        }
    }
    (out.len() <= MAX_TEXT).then_some(out)
}

/// One pass of a printf format; returns whether `\c` stopped the output.
fn render(format: &str, values: &[&str], next: &mut usize, out: &mut String) -> bool {
    let mut take = || {
        let v = values.get(*next).copied().unwrap_or("");
        *next += 1;
        v
    };
    let mut it = format.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match c {
            '\\' => {
                // The escape and what it needs: up to 8 more characters.
                let end = format[i..]
                    .char_indices()
                    .nth(10)
                    .map_or(format.len(), |(k, _)| i + k);
                let (text, stop) = unescape_one(&format[i..end]);
                out.push_str(&text.0);
                if stop {
                    return true;
                }
                for _ in 1..text.1 {
                    it.next();
                }
            }
            '%' => {
                let mut precision: Option<usize> = None;
                let mut conv = None;
                while let Some((_, d)) = it.next() {
                    match d {
                        '-'
                        | '+'
                        | ' '
                        | '#'
                        | '0'..='9'
                        | '\''
                        | 'h'
                        | 'l'
                        | 'L'
                        | 'q'
                        | 'j'
                        | 'z'
                        | 't' => {}
                        '*' => {
                            take();
                        }
                        '.' => {
                            let mut n = String::new();
                            while let Some(&(_, d)) = it.peek() {
                                if d == '*' {
                                    take().clone_into(&mut n);
                                    it.next();
                                    break;
                                }
                                if !d.is_ascii_digit() {
                                    break;
                                }
                                n.push(d);
                                it.next();
                            }
                            precision = Some(n.parse().unwrap_or(0));
                        }
                        other => {
                            conv = Some(other);
                            break;
                        }
                    }
                }
                let cut = |s: &str| match precision {
                    Some(p) => s.chars().take(p).collect(),
                    None => s.to_owned(),
                };
                match conv {
                    Some('%') | None => out.push('%'),
                    Some('b') => {
                        let (text, stop) = unescape(take(), false);
                        out.push_str(&cut(&text));
                        if stop {
                            return true;
                        }
                    }
                    Some('c') => out.extend(take().chars().next()),
                    Some('s' | 'q') => out.push_str(&cut(take())),
                    Some(_) => out.push_str(take()),
                }
            }
            other => out.push(other),
        }
    }
    false
}

/// The first escape of `s` (which starts with a backslash) in a printf format: its text
/// and how many characters it used, and whether it is `\c`.
fn unescape_one(s: &str) -> ((String, usize), bool) {
    let mut chars = s.char_indices().skip(1);
    let Some((_, e)) = chars.next() else {
        return (("\\".into(), 1), false);
    };
    let digits = |radix: u32, max: usize, from: usize| {
        s[from..]
            .chars()
            .take(max)
            .take_while(|d| d.is_digit(radix))
            .count()
    };
    let (len, text) = match e {
        '0'..='7' => {
            let n = 1 + digits(8, 2, 1 + e.len_utf8());
            let v = u32::from_str_radix(&s[1..=n], 8).unwrap_or(0);
            (
                1 + n,
                char::from_u32(v).map(String::from).unwrap_or_default(),
            )
        }
        'x' | 'u' | 'U' => {
            let max = match e {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let n = digits(16, max, 2);
            if n == 0 {
                (2, format!("\\{e}"))
            } else {
                let v = u32::from_str_radix(&s[2..2 + n], 16).unwrap_or(0);
                (
                    2 + n,
                    char::from_u32(v).map(String::from).unwrap_or_default(),
                )
            }
        }
        'c' => return ((String::new(), 2), true),
        _ => {
            let (t, _) = unescape(&s[..=e.len_utf8()], true);
            (2, t)
        }
    };
    ((text, len), false)
}

/// The commands `xargs` runs with known input `text`: its command `inner` with each
/// input line put in place of `replace` (`-I`), or with the input's words appended.
/// `None` when there are more than [`MAX_XARGS`] to follow.
pub fn xargs(inner: &[Word], replace: Option<&str>, text: &str) -> Option<Vec<Vec<Word>>> {
    let word = |text: String| Word {
        text,
        ..Word::default()
    };
    let Some(r) = replace.filter(|r| !r.is_empty()) else {
        let mut cmd: Vec<Word> = inner.to_vec();
        cmd.extend(text.split_whitespace().map(|t| word(t.to_owned())));
        return Some(vec![cmd]);
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() > MAX_XARGS {
        return None;
    }
    Some(
        lines
            .into_iter()
            .map(|line| {
                inner
                    .iter()
                    .map(|w| Word {
                        text: w.text.replace(r, line),
                        dynamic: w.dynamic,
                        ..Word::default()
                    })
                    .collect()
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<Word> {
        s.iter()
            .map(|t| Word {
                text: (*t).to_owned(),
                ..Word::default()
            })
            .collect()
    }

    fn out(s: &[&str]) -> Input {
        output(&words(s), &Input::Inherited)
    }

    #[test]
    fn echo_and_printf_write_known_text() {
        let text = |v: &[&str]| Input::Text(v.iter().map(|s| (*s).to_owned()).collect());
        assert_eq!(out(&["echo", "rm", "-rf", "/"]), text(&["rm -rf /\n"]));
        assert_eq!(out(&["echo", "-n", "ls"]), text(&["ls"]));
        assert_eq!(out(&["echo", "-e", "a\\nb"]), text(&["a\\nb\n", "a\nb\n"]));
        assert_eq!(out(&["printf", "rm -rf /\\n"]), text(&["rm -rf /\n"]));
        assert_eq!(out(&["printf", "%s\\n", "a", "b"]), text(&["a\nb\n"]));
        assert_eq!(
            out(&["printf", "rm -r%s %s", "f", "/"]),
            text(&["rm -rf /"])
        );
        assert_eq!(
            out(&["printf", "%.2s|%c|%%|%d", "abc", "xyz", "7"]),
            text(&["ab|x|%|7"])
        );
        assert_eq!(out(&["printf", "\\x72\\155 \\u00e9"]), text(&["rm é"]));
        assert_eq!(out(&["printf", "%b", "a\\nb"]), text(&["a\nb"]));
        assert_eq!(out(&["printf", "a\\cb"]), text(&["a"]));
        assert_eq!(out(&["printf", "-v", "x", "rm -rf /"]), text(&[""]));
        assert!(matches!(out(&["cat", "f.txt"]), Input::Unknown(_)));
        assert!(matches!(out(&["git", "log"]), Input::Unknown(_)));
    }

    #[test]
    fn xargs_builds_its_commands() {
        let cmds = xargs(&words(&["rm", "-rf"]), None, "a b\nc\n").unwrap();
        let texts: Vec<Vec<&str>> = cmds
            .iter()
            .map(|c| c.iter().map(|w| w.text.as_str()).collect())
            .collect();
        assert_eq!(texts, [["rm", "-rf", "a", "b", "c"]]);
        let cmds = xargs(&words(&["sh", "-c", "{}"]), Some("{}"), "ls\n  rm -rf ~\n").unwrap();
        let texts: Vec<&str> = cmds.iter().map(|c| c[2].text.as_str()).collect();
        assert_eq!(texts, ["ls", "rm -rf ~"]);
        assert!(xargs(&words(&["echo", "{}"]), Some("{}"), &"x\n".repeat(100)).is_none());
    }
}
