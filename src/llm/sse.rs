//! Server-Sent Events: an incremental parser ([`Parser`]) and a reader over a reqwest
//! byte stream ([`read_events`]). Both provider protocols put one JSON object in each
//! event's `data:` lines; this hands those strings to the caller.
//!
//! Parsing follows the WHATWG event-stream format: lines end with CRLF, LF or CR, a
//! blank line ends an event, lines starting with `:` are comments, and a leading BOM
//! is dropped. It is linear in the bytes received: the search for a line end resumes
//! where it stopped, consumed lines only advance an offset, and the buffer is compacted
//! when new bytes arrive. One event may hold at most [`MAX_EVENT_BYTES`]. Data is
//! decoded as UTF-8 per complete event, so a character split across chunks survives.
//!
//! The reader's idle timeout counts only progress: an event that carries data.
//! Comments (keep-alive pings), blank events and bytes that do not complete an event
//! do not reset it. The request's overall deadline ([`Clock`]) bounds it too.

use futures_util::StreamExt;
use tokio::time::Instant;

use super::error::{ErrorCategory, LlmError};
use super::transport::{Clock, Wait};

/// The most one event (all its lines, comments included) may take.
pub const MAX_EVENT_BYTES: usize = 8 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An incremental SSE parser: [`push`](Parser::push) bytes as they arrive, then take
/// events with [`next_event`](Parser::next_event) until it returns `None`.
#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
    /// Start of the first line not yet handled.
    pos: usize,
    /// Where the search for that line's end resumes: `pos..scan` holds no CR or LF.
    scan: usize,
    /// The last line ended with CR, so an LF right after it belongs to it.
    skip_lf: bool,
    /// A line has been handled (a BOM can only open the first one).
    started: bool,
    /// The current event's data lines, joined with LF.
    data: Vec<u8>,
    /// The current event has a data line (possibly empty).
    has_data: bool,
    /// Bytes of the current event in lines already handled.
    event_bytes: usize,
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes. Handled lines are dropped from the buffer first, so what
    /// is copied is at most the unfinished line.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.scan -= self.pos;
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The data of the next complete event that has any, or `None` until more bytes
    /// arrive. Events without a data line (comments, blank events) are skipped.
    /// Fails when the current event grows past [`MAX_EVENT_BYTES`].
    pub fn next_event(&mut self) -> Result<Option<String>, LlmError> {
        loop {
            if self.skip_lf && self.pos < self.buf.len() {
                if self.buf[self.pos] == b'\n' {
                    self.pos += 1;
                    self.scan = self.scan.max(self.pos);
                }
                self.skip_lf = false;
            }
            let Some(off) = memchr::memchr2(b'\n', b'\r', &self.buf[self.scan..]) else {
                self.scan = self.buf.len();
                if self.event_bytes + (self.buf.len() - self.pos) > MAX_EVENT_BYTES {
                    return Err(too_big());
                }
                return Ok(None);
            };
            let end = self.scan + off;
            let start = self.pos;
            self.skip_lf = self.buf[end] == b'\r';
            self.pos = end + 1;
            self.scan = self.pos;
            self.event_bytes += self.pos - start;
            if self.event_bytes > MAX_EVENT_BYTES {
                return Err(too_big());
            }
            if let Some(data) = self.line(start, end) {
                return Ok(Some(data));
            }
        }
    }

    /// Handles the line `buf[start..end]`; returns the event's data when the line is
    /// blank and the event has a data line.
    fn line(&mut self, start: usize, end: usize) -> Option<String> {
        let mut line = &self.buf[start..end];
        if !self.started {
            self.started = true;
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.is_empty() {
            self.event_bytes = 0;
            if !std::mem::take(&mut self.has_data) {
                return None;
            }
            let data = std::mem::take(&mut self.data);
            return Some(
                String::from_utf8(data)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            );
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(0) => return None, // a comment
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &line[line.len()..]),
        };
        // `event`, `id` and `retry` mean nothing to either provider protocol.
        if name == b"data" {
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(value);
            self.has_data = true;
        }
        None
    }
}

fn too_big() -> LlmError {
    LlmError::new(
        ErrorCategory::Malformed,
        format!(
            "the provider sent a stream event over the {} MiB limit",
            MAX_EVENT_BYTES >> 20
        ),
    )
}

/// Reads SSE events from `resp`, calling `on_data` with each event's data.
/// `on_data` returns `true` when the stream is logically complete.
/// Returns whether completion was seen before the connection closed.
pub(super) async fn read_events(
    resp: reqwest::Response,
    clock: &Clock,
    mut on_data: impl FnMut(&str) -> Result<bool, LlmError>,
) -> Result<bool, LlmError> {
    let mut stream = resp.bytes_stream();
    let mut parser = Parser::new();
    let mut progress = Instant::now();
    let (mut events, mut total) = (0usize, 0usize);
    loop {
        let bytes = match clock.wait(progress, Wait::Stream, stream.next()).await? {
            None => {
                super::wire::stream_end(events, total, "closed by the server");
                return Ok(false);
            }
            Some(Err(e)) => {
                let mut err = LlmError::from_reqwest(&e);
                if err.category == ErrorCategory::Malformed {
                    err.category = ErrorCategory::Network;
                }
                err.message = format!("the stream broke: {}", err.message);
                return Err(err);
            }
            Some(Ok(bytes)) => bytes,
        };
        total += bytes.len();
        parser.push(&bytes);
        while let Some(data) = parser.next_event()? {
            progress = Instant::now();
            events += 1;
            super::wire::event(&data);
            if on_data(&data)? {
                super::wire::stream_end(events, total, "complete");
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every event's data, feeding `input` in the given pieces.
    fn parse(pieces: &[&[u8]]) -> Result<Vec<String>, LlmError> {
        let mut p = Parser::new();
        let mut out = Vec::new();
        for piece in pieces {
            p.push(piece);
            while let Some(d) = p.next_event()? {
                out.push(d);
            }
        }
        Ok(out)
    }

    fn whole(input: &[u8]) -> Vec<String> {
        parse(&[input]).unwrap()
    }

    /// The same format parsed the obvious way, all at once (no BOM handling).
    fn reference(input: &str) -> Vec<String> {
        let lines = input.replace("\r\n", "\n").replace('\r', "\n");
        let mut lines: Vec<&str> = lines.split('\n').collect();
        lines.pop(); // after the last line end: unfinished
        let mut out = Vec::new();
        let mut data: Option<String> = None;
        for line in lines {
            if line.is_empty() {
                out.extend(data.take());
            } else if !line.starts_with(':') {
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                if name == "data" {
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match &mut data {
                        Some(d) => {
                            d.push('\n');
                            d.push_str(value);
                        }
                        None => data = Some(value.to_owned()),
                    }
                }
            }
        }
        out
    }

    /// A stream with every feature the parser handles: all three line endings, a
    /// BOM, comments, other fields, multi-line and empty data, a value without the
    /// optional space, a field without a colon, multi-byte characters and an
    /// unfinished event at the end.
    const MIXED: &[u8] = "\u{feff}: hello\r\nevent: x\r\ndata: {\"a\":1}\r\n\r\n\
        data: é🦀 one\ndata:two\n\n: ping\n\n\rdata\rdata: ü\r\r\
        id: 7\nretry: 10\n\ndata: m1\r\ndata: m2\r\n\r\ndata: last\r\n\ndata: unfinished\n"
        .as_bytes();

    fn mixed_events() -> Vec<String> {
        vec![
            "{\"a\":1}".to_owned(),
            "é🦀 one\ntwo".to_owned(),
            "\nü".to_owned(),
            "m1\nm2".to_owned(),
            "last".to_owned(),
        ]
    }

    #[test]
    fn a_mixed_stream_parses_in_one_piece() {
        assert_eq!(whole(MIXED), mixed_events());
    }

    #[test]
    fn every_split_in_two_gives_the_same_events() {
        for i in 0..=MIXED.len() {
            let (a, b) = MIXED.split_at(i);
            assert_eq!(parse(&[a, b]).unwrap(), mixed_events(), "split at {i}");
        }
    }

    #[test]
    fn byte_by_byte_gives_the_same_events() {
        let pieces: Vec<&[u8]> = MIXED.chunks(1).collect();
        assert_eq!(parse(&pieces).unwrap(), mixed_events());
    }

    #[test]
    fn line_endings_crlf_cr_and_lf_are_all_event_ends() {
        for sep in ["\r\n", "\r", "\n"] {
            let input = format!("data: a{sep}data: b{sep}{sep}data: c{sep}{sep}");
            assert_eq!(whole(input.as_bytes()), ["a\nb", "c"], "{sep:?}");
        }
        // CR then LF is one line end, not a blank line: no early event.
        assert_eq!(
            parse(&[b"data: a\r", b"\ndata: b\r\n\r\n"]).unwrap(),
            ["a\nb"]
        );
    }

    #[test]
    fn comments_and_blank_events_are_skipped() {
        let input = b": keep-alive\n\n: ping\r\n\r\n\n\n\nevent: ping\n\ndata: x\n\n";
        assert_eq!(whole(input), ["x"]);
        assert!(whole(b": keep-alive\n\n").is_empty());
    }

    #[test]
    fn data_lines_are_joined_with_newlines() {
        assert_eq!(whole(b"data: a\ndata: b\ndata:c\n\n"), ["a\nb\nc"]);
        // Only one leading space is dropped.
        assert_eq!(whole(b"data:  x\n\n"), [" x"]);
        // A data line with nothing in it still makes an event.
        assert_eq!(whole(b"data:\n\n"), [""]);
    }

    #[test]
    fn a_character_split_across_chunks_is_decoded_whole() {
        let input = "data: 日本🦀\n\n".as_bytes();
        // Split inside the crab (4 bytes, starting after "data: " and 6 bytes of CJK).
        let cut = 6 + 6 + 2;
        let (a, b) = input.split_at(cut);
        assert!(std::str::from_utf8(a).is_err());
        assert_eq!(parse(&[a, b]).unwrap(), ["日本🦀"]);
        // Invalid bytes become replacement characters instead of failing the stream.
        assert_eq!(whole(b"data: \xff!\n\n"), ["\u{fffd}!"]);
    }

    #[test]
    fn an_event_over_the_cap_is_malformed() {
        let mut p = Parser::new();
        p.push(b"data: ");
        let chunk = vec![b'x'; 1 << 20];
        let mut err = None;
        for _ in 0..=(MAX_EVENT_BYTES >> 20) {
            p.push(&chunk);
            if let Err(e) = p.next_event() {
                err = Some(e);
                break;
            }
        }
        let err = err.unwrap();
        assert_eq!(err.category, ErrorCategory::Malformed);
        assert!(err.message.contains("8 MiB limit"), "{err}");
        // The cap counts one event: many events adding up to more are fine.
        let small = format!("data: {}\n\n", "y".repeat(1000));
        let many = small.repeat(MAX_EVENT_BYTES / 1000 + 10);
        assert_eq!(whole(many.as_bytes()).len(), MAX_EVENT_BYTES / 1000 + 10);
        // A terminated event over the cap fails too.
        let big = format!("data: {}\n\n", "z".repeat(MAX_EVENT_BYTES));
        assert!(parse(&[big.as_bytes()]).is_err());
    }

    #[test]
    fn handled_lines_leave_the_buffer() {
        let mut p = Parser::new();
        for _ in 0..1000 {
            p.push(b"data: 0123456789\n\ndata: unfinished");
            while p.next_event().unwrap().is_some() {}
            p.push(b"\n\n");
            assert_eq!(p.next_event().unwrap().as_deref(), Some("unfinished"));
        }
        assert!(p.buf.len() < 64, "{}", p.buf.len());
    }

    /// Splits `input` at the given cut points (sorted, deduplicated, in range).
    fn pieces(input: &[u8], mut cuts: Vec<usize>) -> Vec<&[u8]> {
        for c in &mut cuts {
            *c %= input.len() + 1;
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut out = Vec::new();
        let mut last = 0;
        for c in cuts.into_iter().chain([input.len()]) {
            out.push(&input[last..c]);
            last = c;
        }
        out
    }

    /// One line of a generated stream.
    fn arb_line() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zé🦀 {}:\"]{0,12}".prop_map(|v| format!("data: {v}")),
            "[a-z]{0,6}".prop_map(|v| format!("data:{v}")),
            Just("data".to_owned()),
            "[a-z ]{0,8}".prop_map(|v| format!(": {v}")),
            "[a-z]{1,6}".prop_map(|v| format!("event: {v}")),
            Just(String::new()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_chunking_gives_the_same_events(
            lines in proptest::collection::vec((arb_line(), 0..3usize), 0..24),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let mut input = String::new();
            for (line, end) in &lines {
                input.push_str(line);
                input.push_str(["\n", "\r\n", "\r"][*end]);
            }
            let expected = reference(&input);
            let input = input.as_bytes();
            prop_assert_eq!(whole(input), expected.clone());
            prop_assert_eq!(parse(&pieces(input, cuts)).unwrap(), expected.clone());
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            prop_assert_eq!(parse(&bytes).unwrap(), expected);
        }
    }
}
