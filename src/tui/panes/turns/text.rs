//! Text layout for the transcript: greedy word wrap with a hanging indent, and
//! tool arguments written the way a person reads them.

/// Greedy word wrap by character count, first line after `prefix`, the rest
/// after `indent`; words longer than a line are cut.
pub(super) fn wrap_lines(prefix: &str, indent: &str, body: &[&str], width: u16) -> Vec<String> {
    struct Cursor {
        out: Vec<String>,
        cur: String,
        len: usize,
        empty: bool,
    }
    let width = usize::from(width.max(8));
    let indent_len = indent.chars().count();
    let mut c = Cursor {
        out: Vec::new(),
        cur: prefix.to_owned(),
        len: prefix.chars().count(),
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
            let wl = word.chars().count();
            if !c.empty && c.len + 1 + wl > width {
                newline(&mut c);
            }
            if !c.empty {
                c.cur.push(' ');
                c.len += 1;
            }
            let mut rest = word;
            while c.len + rest.chars().count() > width {
                let take = width.saturating_sub(c.len).max(1);
                let split = rest.char_indices().nth(take).map_or(rest.len(), |(b, _)| b);
                c.cur.push_str(&rest[..split]);
                newline(&mut c);
                rest = &rest[split..];
            }
            c.cur.push_str(rest);
            c.len += rest.chars().count();
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
        Some(s) if !s.contains('\n') && s.chars().count() <= 80 => s.to_owned(),
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
                prop_assert!(l.chars().count() <= w, "{l:?} wider than {w}");
            }
            let kept: String = out.concat().chars().filter(|c| *c != ' ' && *c != '>').collect();
            let given: String = body.concat().chars().filter(|c| *c != ' ').collect();
            prop_assert_eq!(kept, given);
        }
    }
}
