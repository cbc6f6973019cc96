//! The wire in the diagnostic log (`-vv` summaries, `-vvv` bodies; target
//! `az_os::wire`): what was sent where, what came back, how the stream went. Credentials
//! never appear: headers that carry them are left out and every text is redacted.

use std::time::Duration;

use serde_json::Value;

/// Logged bodies and events are cut to this many bytes.
const BODY_SHOWN: usize = 16 * 1024;

/// Headers that carry credentials or session state, never logged.
fn secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "x-api-key" | "api-key" | "cookie" | "set-cookie"
    ) || n.contains("token")
        || n.contains("secret")
}

fn shown(text: &str) -> String {
    crate::util::text::truncate_middle(&crate::redact::redact(text), BODY_SHOWN)
}

/// A request about to be sent.
pub fn request(url: &str, body: &Value) {
    if !tracing::enabled!(target: "az_os::wire", tracing::Level::DEBUG) {
        return;
    }
    let count = |k: &str| body.get(k).and_then(Value::as_array).map_or(0, Vec::len);
    let field = |k: &str| body.get(k).map_or_else(|| "-".to_owned(), Value::to_string);
    let (model, stream, choice) = (field("model"), field("stream"), field("tool_choice"));
    let (messages, tools) = (count("messages"), count("tools"));
    tracing::debug!(
        target: "az_os::wire",
        "→ POST {url} model={model} stream={stream} messages={messages} tools={tools} tool_choice={choice}"
    );
    if tracing::enabled!(target: "az_os::wire", tracing::Level::TRACE) {
        tracing::trace!(target: "az_os::wire", "→ body {}", shown(&body.to_string()));
    }
}

/// The response's status and headers (credentials left out).
pub fn response(status: u16, headers: &reqwest::header::HeaderMap, after: Duration) {
    if !tracing::enabled!(target: "az_os::wire", tracing::Level::DEBUG) {
        return;
    }
    let kept: Vec<String> = headers
        .iter()
        .filter(|(k, _)| !secret_header(k.as_str()))
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("(binary)")))
        .collect();
    tracing::debug!(
        target: "az_os::wire",
        "← {status} after {} ms; {}",
        after.as_millis(),
        crate::redact::redact(&kept.join("; "))
    );
}

/// A whole (not streamed) body.
pub fn body(text: &str) {
    tracing::trace!(target: "az_os::wire", "← body {}", shown(text));
}

/// One stream event's data.
pub fn event(data: &str) {
    tracing::trace!(target: "az_os::wire", "← event {}", shown(data));
}

/// How a stream ended.
pub fn stream_end(events: usize, bytes: usize, how: &str) {
    tracing::debug!(target: "az_os::wire", "← stream: {events} data events, {bytes} bytes, {how}");
}

/// The reply as the client understood it.
pub fn reply(model: &str, r: &super::ChatResponse, took: Duration) {
    tracing::debug!(
        target: "az_os::wire",
        "reply from {model} in {} ms: finish={} usage={}+{}{} tool_calls={} text={} chars",
        took.as_millis(),
        r.stop_reason.as_deref().unwrap_or("none"),
        r.usage.input_tokens,
        r.usage.output_tokens,
        if r.usage.estimated { " (estimated)" } else { "" },
        r.tool_calls.len(),
        r.text.chars().count(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_never_logged() {
        for h in [
            "Authorization",
            "x-api-key",
            "Set-Cookie",
            "X-Auth-Token",
            "anthropic-secret",
        ] {
            assert!(secret_header(h), "{h}");
        }
        for h in [
            "content-type",
            "x-ratelimit-remaining-requests",
            "x-request-id",
        ] {
            assert!(!secret_header(h), "{h}");
        }
    }
}
