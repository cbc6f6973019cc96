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

/// A price or budget in dollars: two decimals from a cent up, and below a cent as
/// many as it takes (up to six), so a $0.005 budget never reads `$0.00`.
pub fn dollars(usd: f64) -> String {
    if usd == 0.0 || usd.abs() >= 0.01 {
        return format!("${usd:.2}");
    }
    let s = format!("{usd:.6}");
    let s = s.trim_end_matches('0');
    format!("${s}")
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

/// Columns `s` takes on a terminal: a CJK character or an emoji takes two, a
/// combining mark none. Everything laid out in columns measures with this.
pub fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// Cuts `s` to at most `cols` terminal columns, adding `…` when it was wider.
pub fn ellipsize_cols(s: &str, cols: usize) -> String {
    if width(s) <= cols {
        return s.to_owned();
    }
    let room = cols.saturating_sub(1);
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > room {
            break;
        }
        used += w;
        out.push(c);
    }
    if cols > 0 {
        out.push('…');
    }
    out
}

/// `s` in exactly `cols` columns: cut with `…`, or padded with spaces.
pub fn fit(s: &str, cols: usize) -> String {
    let mut out = ellipsize_cols(s, cols);
    let w = width(&out);
    out.extend(std::iter::repeat_n(' ', cols.saturating_sub(w)));
    out
}

/// How a file's bytes were read as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// Not UTF-8 but plain 8-bit text: read as Windows-1252 (Latin-1 with its printable
    /// 0x80–0x9F), the usual encoding of such files.
    Latin1,
}

/// The bytes as text, or `None` when they look binary: a NUL byte in the first 8 KiB,
/// or (not being UTF-8) more than a few control characters there.
pub fn decode_text(bytes: &[u8]) -> Option<(std::borrow::Cow<'_, str>, Encoding)> {
    let probe = &bytes[..bytes.len().min(8192)];
    if probe.contains(&0) {
        return None;
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Some((std::borrow::Cow::Borrowed(s), Encoding::Utf8));
    }
    let controls = probe
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b))
        .count();
    if controls * 100 > probe.len() {
        return None;
    }
    let text = bytes.iter().map(|&b| windows_1252(b)).collect();
    Some((std::borrow::Cow::Owned(text), Encoding::Latin1))
}

/// One Windows-1252 byte as a character (the five undefined bytes as Latin-1's C1 codes).
fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
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
    fn dollars_below_a_cent_are_not_zero() {
        assert_eq!(dollars(0.5), "$0.50");
        assert_eq!(dollars(5.0), "$5.00");
        assert_eq!(dollars(0.0), "$0.00");
        assert_eq!(dollars(0.005), "$0.005");
        assert_eq!(dollars(0.0001), "$0.0001");
        assert_eq!(dollars(0.000_123_4), "$0.000123");
    }

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
    fn binary_is_detected_and_latin1_is_text() {
        assert_eq!(decode_text(b"abc\0def"), None);
        assert_eq!(decode_text(&[0x01, 0x02, 0x03, 0xff, 0xfe, 0x41]), None);
        assert_eq!(
            decode_text("plain text é".as_bytes()),
            Some(("plain text é".into(), Encoding::Utf8))
        );
        // "café – 5€" in Windows-1252.
        assert_eq!(
            decode_text(b"caf\xe9 \x96 5\x80\n"),
            Some(("café – 5€\n".into(), Encoding::Latin1))
        );
        // A multi-byte char cut at the probe's end is still UTF-8 text.
        let mut v = vec![b'a'; 8191];
        v.extend_from_slice("é".as_bytes());
        assert_eq!(decode_text(&v).map(|t| t.1), Some(Encoding::Utf8));
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
        fn decoding_keeps_every_byte_of_text(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some((text, enc)) = decode_text(&bytes) {
                match enc {
                    Encoding::Utf8 => prop_assert_eq!(text.as_bytes(), &bytes[..]),
                    Encoding::Latin1 => prop_assert_eq!(text.chars().count(), bytes.len()),
                }
            }
        }
    }
}
