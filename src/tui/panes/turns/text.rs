//! Text layout for the transcript: greedy word wrap with a hanging indent, and
//! tool arguments written the way a person reads them.

use crate::util::text::width as width_of;

/// Greedy word wrap by display width (a CJK character or an emoji is two
/// columns), first line after `prefix`, the rest after `indent`; words longer than
/// a line are cut.
pub(super) fn wrap_lines(prefix: &str, indent: &str, body: &[&str], width: u16) -> Vec<String> {
    struct Cursor {
        out: Vec<String>,
        cur: String,
        len: usize,
        empty: bool,
    }
    let width = usize::from(width.max(8));
    let indent_len = width_of(indent);
    let mut c = Cursor {
        out: Vec::new(),
        cur: prefix.to_owned(),
        len: width_of(prefix),
        empty: true,
    };
    let newline = |c: &mut Cursor| {
        c.out.push(std::mem::replace(&mut c.cur, indent.to_owned()));
        c.len = indent_len;
        c.empty = true;
    };
    for (i, line) in body.iter().enumerate() {
        if i > 0 {
            newline(&mut c);
        }
        for word in line.split(' ') {
            let wl = width_of(word);
            if !c.empty && c.len + 1 + wl > width {
                newline(&mut c);
            }
            if !c.empty {
                c.cur.push(' ');
                c.len += 1;
            }
            let mut rest = word;
            while c.len + width_of(rest) > width {
                // As many characters as fit in what is left of the row (one at least,
                // so a row always moves on).
                let room = width.saturating_sub(c.len);
                let mut used = 0;
                let mut split = 0;
                for (b, ch) in rest.char_indices() {
                    let w = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
                    if used + w > room && b > 0 {
                        break;
                    }
                    used += w;
                    split = b + ch.len_utf8();
                }
                if used > room && !c.empty {
                    // Not even one character fits after the text already there.
                    newline(&mut c);
                    continue;
                }
                c.cur.push_str(&rest[..split]);
                newline(&mut c);
                rest = &rest[split..];
            }
            c.cur.push_str(rest);
            c.len += width_of(rest);
            c.empty = false;
        }
    }
    c.out.push(c.cur);
    c.out
}

/// Tool arguments as a person reads them: a lone argument as its value, several
/// as `key=value` with the path or command first; long values are cut.
pub fn describe_input(input: &serde_json::Value) -> String {
    let show = |v: &serde_json::Value| match v.as_str() {
        Some(s) if !s.contains('\n') && width_of(s) <= 80 => s.to_owned(),
        Some(s) => crate::util::text::ellipsize(&format!("{s:?}"), 80),
        None => crate::util::text::ellipsize(&v.to_string(), 80),
    };
    match input {
        serde_json::Value::Object(m) if m.len() == 1 => {
            m.values().next().map(show).unwrap_or_default()
        }
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by_key(|k| {
                (
                    !matches!(k.as_str(), "path" | "command" | "query" | "prompt"),
                    k.as_str(),
                )
            });
            keys.iter()
                .map(|k| format!("{k}={}", show(&m[k.as_str()])))
                .collect::<Vec<_>>()
                .join(" ")
        }
        other => show(other),
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Any text wraps without a panic, every line fits, and no character is lost.
        #[test]
        fn wrapping_fits_and_keeps_every_character(
            body in proptest::collection::vec("[a-zé—漢😀 ]{0,40}", 0..4),
            width in 0u16..30,
        ) {
            let lines: Vec<&str> = body.iter().map(String::as_str).collect();
            let out = wrap_lines("> ", "  ", &lines, width);
            let w = usize::from(width.max(8));
            for l in &out {
                prop_assert!(width_of(l) <= w, "{l:?} wider than {w}");
            }
            let kept: String = out.concat().chars().filter(|c| *c != ' ' && *c != '>').collect();
            let given: String = body.concat().chars().filter(|c| *c != ' ').collect();
            prop_assert_eq!(kept, given);
        }
    }
}
