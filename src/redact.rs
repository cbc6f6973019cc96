//! Masks secrets in text before it is written or shown: the values this process knows
//! are secret (vault entries loaded, the environment variables models read keys from,
//! the master password from the environment — `vault::secrets`), and well-known shapes
//! of credentials (`sk-…`, `AKIA…`, `Bearer …`, private-key blocks, `ghp_…`, `xoxb-…`,
//! `AIza…`).
//!
//! Applied where things leave the engine: every `EngineEvent` as it is built, `task_logs`
//! rows, saved conversations, task results, the audit log and diagnostic logs. A hand
//! matcher, no regex engine: nothing to compile at start-up, one pass over the text.

use std::borrow::Cow;

use crate::engine::Event;

/// What a secret is replaced with.
pub const MASK: &str = "[REDACTED]";

/// `text` with every secret masked (borrowed when there was none).
pub fn redact(text: &str) -> Cow<'_, str> {
    let known = crate::vault::secrets();
    redact_with(text, known.iter().map(|s| s.as_str()))
}

/// [`redact`] with the known secrets given (tests, benchmarks).
pub fn redact_with<'a, 't>(
    text: &'t str,
    known: impl IntoIterator<Item = &'a str>,
) -> Cow<'t, str> {
    let mut out: Cow<'t, str> = Cow::Borrowed(text);
    // Longest first (as `vault::secrets` gives them), so a value containing another is
    // masked whole.
    for secret in known {
        if secret.len() >= crate::vault::MIN_SECRET_LEN && out.contains(secret) {
            out = Cow::Owned(out.replace(secret, MASK));
        }
    }
    match shapes(&out) {
        Some(masked) => Cow::Owned(masked),
        None => out,
    }
}

/// A writer for diagnostic logs that masks secrets on the way through, so a
/// provider's error body or a command line quoted in a log cannot leak a key.
/// `tracing` hands it one formatted event per write.
pub struct RedactingWriter<W: std::io::Write>(pub W);

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Redacts an owned string, reusing it when nothing changes.
pub fn redact_owned(text: String) -> String {
    match redact(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(s) => s,
    }
}

/// Every string inside a JSON value, redacted in place.
pub fn redact_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let Cow::Owned(r) = redact(s) {
                *s = r;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact_json),
        serde_json::Value::Object(o) => o.values_mut().for_each(redact_json),
        _ => {}
    }
}

/// An event with its text fields redacted. The match names every variant, so a new
/// event that carries text cannot skip redaction unnoticed: it fails to compile here.
pub fn event(ev: Event) -> Event {
    let r = redact_owned;
    match ev {
        Event::TaskQueued { description } => Event::TaskQueued {
            description: r(description),
        },
        Event::TaskStarted { model, mut route } => {
            route.reason = r(route.reason);
            Event::TaskStarted { model, route }
        }
        Event::ThoughtDelta { turn, text } => Event::ThoughtDelta {
            turn,
            text: r(text),
        },
        Event::Thought { turn, text } => Event::Thought {
            turn,
            text: r(text),
        },
        Event::Action {
            turn,
            tool,
            mut input,
        } => {
            redact_json(&mut input);
            Event::Action { turn, tool, input }
        }
        Event::Observation {
            turn,
            tool,
            ok,
            output,
        } => Event::Observation {
            turn,
            tool,
            ok,
            output: r(output),
        },
        Event::ApprovalRequested {
            request_id,
            turn,
            tool,
            command,
            reason,
        } => Event::ApprovalRequested {
            request_id,
            turn,
            tool,
            command: r(command),
            reason: r(reason),
        },
        Event::ApprovalAnswered {
            request_id,
            turn,
            command,
            decision,
        } => Event::ApprovalAnswered {
            request_id,
            turn,
            command: r(command),
            decision,
        },
        Event::RequestFailed {
            model,
            attempt,
            category,
            message,
        } => Event::RequestFailed {
            model,
            attempt,
            category,
            message: r(message),
        },
        Event::Reflection { turn, text } => Event::Reflection {
            turn,
            text: r(text),
        },
        Event::Context { sources, tokens } => Event::Context {
            sources: sources.into_iter().map(r).collect(),
            tokens,
        },
        Event::Fallback {
            from_model,
            to_model,
            reason,
        } => Event::Fallback {
            from_model,
            to_model,
            reason: r(reason),
        },
        Event::TaskFinished {
            status,
            result,
            turns,
            cost_usd,
            duration_ms,
            error,
        } => Event::TaskFinished {
            status,
            result: result.map(r),
            turns,
            cost_usd,
            duration_ms,
            error: error.map(r),
        },
        Event::Checkpoint {
            turn,
            checkpoint_id,
        } => Event::Checkpoint {
            turn,
            checkpoint_id,
        },
        Event::Error {
            message,
            category,
            retryable,
        } => Event::Error {
            message: r(message),
            category,
            retryable,
        },
        Event::ComponentHealth { mut checks } => {
            for c in &mut checks {
                c.detail = r(std::mem::take(&mut c.detail));
            }
            Event::ComponentHealth { checks }
        }
        Event::McpStatus { mut servers } => {
            for c in &mut servers {
                c.detail = r(std::mem::take(&mut c.detail));
            }
            Event::McpStatus { servers }
        }
        Event::Workers { mut workers } => {
            for c in &mut workers {
                c.detail = r(std::mem::take(&mut c.detail));
            }
            Event::Workers { workers }
        }
        Event::Alert {
            key,
            level,
            value,
            message,
        } => Event::Alert {
            key,
            level,
            value,
            message: r(message),
        },
        Event::Notice { message } => Event::Notice {
            message: r(message),
        },
        // Numbers, model names from config.toml and fixed words only.
        ev @ (Event::ModelsReloaded { .. }
        | Event::TurnStarted { .. }
        | Event::LlmCall { .. }
        | Event::Retry { .. }
        | Event::Health { .. }) => ev,
    }
}

/// Token characters of API keys.
fn key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Length of the run of bytes from `i` satisfying `f`.
fn run(bytes: &[u8], i: usize, f: impl Fn(u8) -> bool) -> usize {
    bytes[i..].iter().take_while(|&&b| f(b)).count()
}

/// Where a credential shape starts at `i`: the number of bytes to mask, if any. `keep`
/// bytes at the start stay (the `Bearer ` word).
fn shape_at(text: &str, i: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    // `i` is at an ASCII byte (the caller only stops at those), so a char boundary; every
    // comparison below works on bytes, so no slice can land inside a character.
    let rest = &bytes[i..];
    let boundary = i == 0 || !key_char(bytes[i - 1]);
    match bytes[i] {
        b's' if boundary && rest.starts_with(b"sk-") => {
            let n = 3 + run(bytes, i + 3, key_char);
            (n >= 3 + 16).then_some((0, n))
        }
        b'A' if boundary && rest.starts_with(b"AKIA") => {
            let n = run(bytes, i + 4, |b| {
                b.is_ascii_uppercase() || b.is_ascii_digit()
            });
            (n >= 16).then_some((0, 4 + n))
        }
        b'A' if boundary && rest.starts_with(b"AIza") => {
            let n = 4 + run(bytes, i + 4, key_char);
            (n >= 4 + 30).then_some((0, n))
        }
        b'B' | b'b' if boundary && rest.len() > 7 && rest[..7].eq_ignore_ascii_case(b"bearer ") => {
            let start = 7 + run(bytes, i + 7, |b| b == b' ');
            let n = run(bytes, i + start, |b| {
                key_char(b) || matches!(b, b'.' | b'~' | b'+' | b'/' | b'=')
            });
            (n >= 8).then_some((start, start + n))
        }
        b'g' if boundary
            && ([b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"]
                .iter()
                .any(|p| rest.starts_with(*p))
                || rest.starts_with(b"github_pat_")) =>
        {
            let p = if rest.starts_with(b"github_pat_") {
                11
            } else {
                4
            };
            let n = p + run(bytes, i + p, key_char);
            (n >= p + 20).then_some((0, n))
        }
        b'x' if boundary
            && rest.len() > 5
            && rest.starts_with(b"xox")
            && matches!(bytes[i + 3], b'b' | b'p' | b'a' | b'r' | b's')
            && bytes[i + 4] == b'-' =>
        {
            let n = 5 + run(bytes, i + 5, key_char);
            (n >= 5 + 10).then_some((0, n))
        }
        b'-' if rest.starts_with(b"-----BEGIN ") => {
            let head_end = find(&rest[11..], b"-----")? + 11;
            if !rest[11..head_end].ends_with(b"PRIVATE KEY") {
                return None;
            }
            // The block ends after its END line, or at the end of the text if cut.
            let end = find(rest, b"-----END ")
                .and_then(|e| find(&rest[e + 9..], b"-----").map(|k| e + 9 + k + 5))
                .unwrap_or(rest.len());
            Some((0, end))
        }
        _ => None,
    }
}

/// Position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The text with credential shapes masked, or `None` when it has none.
fn shapes(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if matches!(bytes[i], b's' | b'A' | b'B' | b'b' | b'g' | b'x' | b'-')
            && let Some((keep, end)) = shape_at(text, i)
        {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..i + keep]);
            o.push_str(MASK);
            i += end;
            copied = i;
            continue;
        }
        i += 1;
    }
    out.map(|mut o| {
        o.push_str(&text[copied..]);
        o
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> String {
        redact_with(text, ["plain-secret-value-42"]).into_owned()
    }

    #[test]
    fn the_log_writer_masks_secret_shapes() {
        use std::io::Write;
        let mut w = RedactingWriter(Vec::new());
        let line = b"provider said: bad key sk-abcdefghijklmnop1234 (401)\n";
        assert_eq!(w.write(line).unwrap(), line.len());
        let out = String::from_utf8(w.0).unwrap();
        assert_eq!(out, "provider said: bad key [REDACTED] (401)\n");
    }

    #[test]
    fn known_values_and_shapes_are_masked() {
        let cases = [
            ("key is plain-secret-value-42.", "key is [REDACTED]."),
            ("OPENAI=sk-abcdefghijklmnop1234 ok", "OPENAI=[REDACTED] ok"),
            ("sk-ant-api03-AAAAAAAAAAAAAAAAAAAA-bb", "[REDACTED]"),
            ("id AKIAIOSFODNN7EXAMPLE x", "id [REDACTED] x"),
            (
                "Authorization: Bearer eyJhbGciOi.J9.x-y_z",
                "Authorization: Bearer [REDACTED]",
            ),
            ("ghp_0123456789abcdefghijABCD", "[REDACTED]"),
            ("github_pat_11ABCDEFG0123456789_abcdefgh", "[REDACTED]"),
            ("token xoxb-123456789012-abc", "token [REDACTED]"),
            ("k=AIzaSyA-0123456789abcdefghijklmnopqrstu", "k=[REDACTED]"),
            (
                "a\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\nz",
                "a\n[REDACTED]\nz",
            ),
            (
                "cut -----BEGIN RSA PRIVATE KEY-----\nMIIE",
                "cut [REDACTED]",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(r(input), want, "{input}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for text in [
            "",
            "disk-usage-report-2024-01-01-final.csv",
            "task-abcdefghijklmnopqrstuvwxyz",
            "sk-short",
            "the bearer of news",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "ghp_short",
            "AKIA too short",
            "naïve café ✓ sk-",
        ] {
            assert!(
                matches!(
                    redact_with(text, ["plain-secret-value-42"]),
                    Cow::Borrowed(_)
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn short_known_values_are_not_masked() {
        // A short "secret" would mask ordinary words everywhere.
        assert_eq!(redact_with("a b c", ["b"]), "a b c");
    }

    #[test]
    fn events_and_json_are_redacted() {
        let mut v = serde_json::json!({"command": "echo sk-abcdefghijklmnop1234", "n": [1, "AKIAIOSFODNN7EXAMPLE"]});
        redact_json(&mut v);
        assert_eq!(v["command"], "echo [REDACTED]");
        assert_eq!(v["n"][1], "[REDACTED]");
        let ev = event(Event::Observation {
            turn: 1,
            tool: "t".into(),
            ok: true,
            output: "sk-abcdefghijklmnop1234".into(),
        });
        assert!(matches!(ev, Event::Observation { output, .. } if output == "[REDACTED]"));
    }

    #[test]
    fn non_ascii_text_never_panics_and_is_kept() {
        for text in [
            "write plan b — élan to notes",
            "b — é",
            "Bearer — é",
            "bearer\u{e9}\u{e9}\u{e9}\u{e9}",
            "sk-— ghp_é xox-é AKIAé AIzaé -----BEGIN é",
            "-----BEGIN é PRIVATE KEY-----\né",
        ] {
            let _ = r(text);
        }
        assert_eq!(
            r("write plan b — élan to notes"),
            "write plan b — élan to notes"
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Pieces that start credential shapes, and characters of every width.
    const PIECES: [&str; 14] = [
        "b",
        "B",
        "bearer ",
        "Bearer  ",
        "sk-",
        "ghp_",
        "github_pat_",
        "xoxb-",
        "AKIA",
        "AIza",
        "-----BEGIN ",
        "PRIVATE KEY-----",
        "-----END ",
        "-----",
    ];

    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                proptest::sample::select(PIECES.to_vec()).prop_map(str::to_owned),
                any::<char>().prop_map(String::from),
                "[a-zA-Z0-9_-]{0,24}",
                "[é—✓😀\u{0}\u{1b}\u{9b}]{1,3}",
            ],
            0..24,
        )
        .prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Any Unicode text goes through without a panic, and what is not masked is kept:
        /// masking only ever replaces whole runs with the mask.
        #[test]
        fn redaction_is_total_on_unicode(t in text(), secret in "[a-zA-Zé—0-9]{8,12}") {
            prop_assume!(!MASK.contains(secret.as_str()));
            let out = redact_with(&t, [secret.as_str()]);
            if !out.contains(MASK) {
                prop_assert_eq!(out.as_ref(), t.as_str());
            }
            let with = format!("{t}{secret}{t}");
            let masked = redact_with(&with, [secret.as_str()]);
            prop_assert!(!masked.contains(secret.as_str()));
        }
    }
}
