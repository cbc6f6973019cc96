//! Brace expansion, as bash does it before anything else: `/{etc,usr}` is `/etc /usr`,
//! `-r{f,}` is `-rf -r`, `{a..c}` is `a b c`, nested and repeated braces multiply. The
//! policy expands the words of every command so that the guard and the rules judge each
//! word the shell would pass. Only words with an unquoted `{` are expanded (the lexer
//! marks them); a brace without a top-level comma or a valid sequence stays literal.

use std::borrow::Cow;

use super::shell::Word;

/// Most words one command may expand to; beyond it the command is asked about.
pub const MAX_WORDS: usize = 1024;

/// Most brace groups followed in one word (they nest and multiply).
const MAX_GROUPS: usize = 64;

/// The words of a command after brace expansion, or `None` when they would be more than
/// [`MAX_WORDS`] (or too deeply braced to follow).
pub fn expand_words(words: &[Word]) -> Option<Cow<'_, [Word]>> {
    if !words.iter().any(|w| w.brace) {
        return Some(Cow::Borrowed(words));
    }
    let mut out = Vec::with_capacity(words.len() + 4);
    for w in words {
        if !w.brace {
            out.push(w.clone());
            continue;
        }
        let texts = expand(&w.text, MAX_WORDS)?;
        let mut first = true;
        for text in texts {
            // Empty words made by braces (`{,}`) are dropped, as bash does.
            if text.is_empty() && !w.text.is_empty() {
                continue;
            }
            out.push(Word {
                text,
                dynamic: w.dynamic,
                // The scripts inside run once, and are checked once.
                subs: if first { w.subs.clone() } else { Vec::new() },
                brace: false,
            });
            first = false;
        }
        if out.len() > MAX_WORDS {
            return None;
        }
    }
    Some(Cow::Owned(out))
}

/// The expansions of `text`, or `None` when there are more than `limit`.
pub fn expand(text: &str, limit: usize) -> Option<Vec<String>> {
    let mut out = Vec::new();
    expand_into(text, &mut out, limit, 0)?;
    Some(out)
}

fn expand_into(text: &str, out: &mut Vec<String>, limit: usize, depth: usize) -> Option<()> {
    if depth > MAX_GROUPS {
        return None;
    }
    let Some(group) = first_group(text, limit) else {
        out.push(text.to_owned());
        return Some(());
    };
    let pre = &text[..group.open];
    let post = &text[group.close + 1..];
    for alt in group.alternatives {
        let s = format!("{pre}{alt}{post}");
        expand_into(&s, out, limit, depth + 1)?;
        if out.len() > limit {
            return None;
        }
    }
    Some(())
}

/// A brace group: where it opens and closes, and what it stands for.
struct Group {
    open: usize,
    close: usize,
    alternatives: Vec<String>,
}

/// The first `{…}` that expands: with a comma at its top level, or a sequence.
fn first_group(text: &str, limit: usize) -> Option<Group> {
    let opens = text
        .char_indices()
        .filter(|&(_, c)| c == '{')
        .map(|(i, _)| i);
    for open in opens {
        let mut depth = 0usize;
        let mut commas = Vec::new();
        let mut close = None;
        for (j, c) in text[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(open + j);
                        break;
                    }
                }
                ',' if depth == 1 => commas.push(open + j),
                _ => {}
            }
        }
        let Some(close) = close else { continue };
        if !commas.is_empty() {
            let mut alternatives = Vec::with_capacity(commas.len() + 1);
            let mut start = open + 1;
            for &c in &commas {
                alternatives.push(text[start..c].to_owned());
                start = c + 1;
            }
            alternatives.push(text[start..close].to_owned());
            return Some(Group {
                open,
                close,
                alternatives,
            });
        }
        if let Some(alternatives) = sequence(&text[open + 1..close], limit) {
            return Some(Group {
                open,
                close,
                alternatives,
            });
        }
    }
    None
}

/// `a..e`, `1..10`, `10..1..3`, `01..10` (zero-padded), `z..a`; at most `limit + 1`
/// items (one more tells the caller it is too many).
fn sequence(inner: &str, limit: usize) -> Option<Vec<String>> {
    let parts: Vec<&str> = inner.split("..").collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let step = match parts.get(2) {
        Some(s) => s.parse::<i64>().ok()?.unsigned_abs().max(1),
        None => 1,
    };
    let max = limit.saturating_add(1);
    if let (Ok(a), Ok(b)) = (parts[0].parse::<i64>(), parts[1].parse::<i64>()) {
        let padded = |s: &str| {
            let digits = s.trim_start_matches('-');
            digits.len() > 1 && digits.starts_with('0')
        };
        let width = if padded(parts[0]) || padded(parts[1]) {
            parts[0].len().max(parts[1].len())
        } else {
            0
        };
        let step = i64::try_from(step).ok()?;
        let mut out = Vec::new();
        let mut n = a;
        while out.len() < max && (if a <= b { n <= b } else { n >= b }) {
            out.push(format!("{n:0width$}"));
            n = if a <= b {
                n.checked_add(step)?
            } else {
                n.checked_sub(step)?
            };
        }
        return Some(out);
    }
    let single = |s: &str| {
        let mut cs = s.chars();
        match (cs.next(), cs.next()) {
            (Some(c), None) if c.is_ascii() && !c.is_ascii_digit() => u8::try_from(c).ok(),
            _ => None,
        }
    };
    let (a, b) = (single(parts[0])?, single(parts[1])?);
    let step = usize::try_from(step).ok()?;
    let range: Vec<u8> = if a <= b {
        (a..=b).step_by(step).take(max).collect()
    } else {
        (b..=a).rev().step_by(step).take(max).collect()
    };
    Some(
        range
            .into_iter()
            .map(|c| char::from(c).to_string())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(s: &str) -> Vec<String> {
        expand(s, MAX_WORDS).unwrap()
    }

    #[test]
    fn lists_sequences_nesting_and_products() {
        assert_eq!(ex("/{etc,usr}"), ["/etc", "/usr"]);
        assert_eq!(ex("-r{f,}"), ["-rf", "-r"]);
        assert_eq!(ex("~/{a,..}"), ["~/a", "~/.."]);
        assert_eq!(ex("{a,{b,c}}x"), ["ax", "bx", "cx"]);
        assert_eq!(ex("{a,b}{1,2}"), ["a1", "a2", "b1", "b2"]);
        assert_eq!(ex("{a..c}"), ["a", "b", "c"]);
        assert_eq!(ex("{c..a}"), ["c", "b", "a"]);
        assert_eq!(ex("{1..3}"), ["1", "2", "3"]);
        assert_eq!(ex("{3..1}"), ["3", "2", "1"]);
        assert_eq!(ex("{1..10..4}"), ["1", "5", "9"]);
        assert_eq!(ex("{08..10}"), ["08", "09", "10"]);
        assert_eq!(ex("{-1..1}"), ["-1", "0", "1"]);
        assert_eq!(ex("x{é,ü}y"), ["xéy", "xüy"]);
    }

    #[test]
    fn what_does_not_expand_stays() {
        for s in [
            "{}",
            "{a}",
            "{a,b",
            "a}b,{",
            "{1..b}",
            "{é..ü}",
            "{a..c..x}",
        ] {
            assert_eq!(ex(s), [s], "{s}");
        }
        assert_eq!(ex("{a{b,c}"), ["{ab", "{ac"]);
    }

    #[test]
    fn too_many_is_none() {
        assert!(expand("{1..100000}", MAX_WORDS).is_none());
        assert!(expand("{a..z}{a..z}{a..z}", MAX_WORDS).is_none());
        assert!(expand(&"{a,b}".repeat(200), MAX_WORDS).is_none());
        assert_eq!(
            expand("{a..z}{a..z}", MAX_WORDS).map(|v| v.len()),
            Some(676)
        );
    }
}
