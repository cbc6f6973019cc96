//! Text shaping for observations and display: head+tail truncation with a note of
//! what was cut, binary detection, and removal of terminal control sequences.

/// Keeps the first and last `max_bytes / 2` bytes of `s` (on char boundaries) and
/// replaces the middle with a note saying how much was cut.
pub fn truncate_middle(s: &str, max_bytes: usize) -> String {
    if s.len() <= max_bytes {
        return s.to_owned();
    }
    let half = max_bytes / 2;
    let mut head_end = half;
    while !s.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = s.len() - half;
    while !s.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    let cut = &s[head_end..tail_start];
    let cut_lines = cut.matches('\n').count();
    format!(
        "{}\n[... {} bytes, {} lines cut ...]\n{}",
        &s[..head_end],
        cut.len(),
        cut_lines,
        &s[tail_start..]
    )
}

/// Cuts `s` to at most `max_chars` characters, adding `…` when it was longer.
pub fn ellipsize(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// True when the bytes look binary: a NUL byte in the first 8 KiB, or invalid UTF-8.
pub fn looks_binary(bytes: &[u8]) -> bool {
    let probe = &bytes[..bytes.len().min(8192)];
    probe.contains(&0) || std::str::from_utf8(probe).is_err() && !truncated_utf8_only(probe)
}

/// A probe cut mid-character is still text.
fn truncated_utf8_only(probe: &[u8]) -> bool {
    match std::str::from_utf8(probe) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// Removes ANSI/VT escape sequences and C0/C1 control characters other than newline
/// and tab, so text from models, files and commands cannot drive the terminal.
pub fn strip_control(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            '\u{9b}' => skip_csi(&mut chars),
            '\n' | '\t' => out.push(c),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        // OSC, DCS, SOS, PM, APC: run until BEL or ST (ESC \).
        Some(']' | 'P' | 'X' | '^' | '_') => {
            while let Some(c) = chars.next() {
                if c == '\u{7}' || c == '\u{9c}' {
                    break;
                }
                if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                    chars.next();
                    break;
                }
            }
        }
        // Two-byte escapes (ESC c, ESC 7, charset selection ESC ( B, ...).
        Some('(' | ')' | '*' | '+' | '#' | '%') => {
            chars.next();
        }
        _ => {}
    }
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_untouched() {
        assert_eq!(truncate_middle("hello", 10), "hello");
    }

    #[test]
    fn long_text_keeps_head_and_tail_and_says_what_was_cut() {
        let s = format!("{}{}{}", "a".repeat(100), "\n".repeat(50), "z".repeat(100));
        let t = truncate_middle(&s, 100);
        assert!(t.starts_with(&"a".repeat(50)));
        assert!(t.ends_with(&"z".repeat(50)));
        assert!(t.contains("[... 150 bytes, 50 lines cut ...]"), "{t}");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let s = "é".repeat(100);
        let t = truncate_middle(&s, 51);
        assert!(t.contains("cut"));
    }

    #[test]
    fn binary_is_detected() {
        assert!(looks_binary(b"abc\0def"));
        assert!(looks_binary(&[0xff, 0xfe, 0x41, 0x42]));
        assert!(!looks_binary("plain text é".as_bytes()));
        // A multi-byte char cut at the probe's end is still text.
        let mut v = vec![b'a'; 8191];
        v.extend_from_slice("é".as_bytes());
        assert!(!looks_binary(&v));
    }

    #[test]
    fn control_sequences_are_stripped() {
        let s = "red \u{1b}[31mtext\u{1b}[0m \u{1b}]52;c;SGVsbG8=\u{7} bell\u{7} ok\r\nnext\rline";
        assert_eq!(strip_control(s), "red text  bell ok\nnext\nline");
        assert_eq!(strip_control("a\u{1b}]0;title\u{1b}\\b"), "ab");
        assert_eq!(strip_control("tab\there"), "tab\there");
    }

    #[test]
    fn ellipsize_counts_chars() {
        assert_eq!(ellipsize("abcdef", 4), "abc…");
        assert_eq!(ellipsize("abc", 4), "abc");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Text of every width: ASCII, accents, CJK, emoji, controls and escapes.
    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                any::<char>().prop_map(String::from),
                "[a-z \n]{0,12}",
                "[é—✓漢字😀\u{0}\u{7}\u{1b}\u{9b}\u{9c}\r\t\\[\\]]{1,4}",
                Just("\u{1b}]52;c;SGk=\u{7}".to_owned()),
                Just("\u{1b}[31m".to_owned()),
            ],
            0..40,
        )
        .prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn truncate_middle_keeps_both_ends_on_char_boundaries(s in text(), max in 0usize..64) {
            let t = truncate_middle(&s, max);
            if s.len() <= max {
                prop_assert_eq!(&t, &s);
            } else {
                let (head, tail) = t.split_once("\n[... ").unwrap();
                prop_assert!(s.starts_with(head));
                let tail = tail.split_once("cut ...]\n").unwrap().1;
                prop_assert!(s.ends_with(tail));
                prop_assert!(head.len() + tail.len() <= max);
            }
        }

        #[test]
        fn ellipsize_never_exceeds_its_length(s in text(), max in 0usize..20) {
            let e = ellipsize(&s, max);
            prop_assert!(e.chars().count() <= max.max(1));
            if s.chars().count() <= max {
                prop_assert_eq!(e, s);
            }
        }

        #[test]
        fn strip_control_leaves_no_control_character(s in text()) {
            let out = strip_control(&s);
            prop_assert!(
                out.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'),
                "{out:?}"
            );
            // Plain text passes through unchanged.
            let plain: String = s.chars().filter(|c| !c.is_control() && *c != '\u{9b}').collect();
            prop_assert_eq!(strip_control(&plain), plain);
        }

        #[test]
        fn looks_binary_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = looks_binary(&bytes);
        }
    }
}
