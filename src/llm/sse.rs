//! A small Server-Sent Events reader over a reqwest byte stream, with an idle
//! timeout between chunks. Both provider protocols put one JSON object in each
//! event's `data:` lines; this hands those strings to the caller.

use std::time::Duration;

use futures_util::StreamExt;

use super::error::{ErrorCategory, LlmError};

/// Reads SSE events from `resp`, calling `on_data` with each event's data.
/// `on_data` returns `true` when the stream is logically complete.
/// Returns whether completion was seen before the connection closed.
pub async fn read_events(
    resp: reqwest::Response,
    idle: Duration,
    mut on_data: impl FnMut(&str) -> Result<bool, LlmError>,
) -> Result<bool, LlmError> {
    let mut stream = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        let chunk = match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => {
                return Err(LlmError::new(
                    ErrorCategory::Timeout,
                    format!(
                        "the stream was silent for {}",
                        crate::util::time::short_duration(idle)
                    ),
                ));
            }
            Ok(None) => return Ok(false),
            Ok(Some(Err(e))) => {
                let mut err = LlmError::from_reqwest(&e);
                if err.category == ErrorCategory::Malformed {
                    err.category = ErrorCategory::Network;
                }
                err.message = format!("the stream broke: {}", err.message);
                return Err(err);
            }
            Ok(Some(Ok(bytes))) => bytes,
        };
        buf.extend_from_slice(&chunk);
        while let Some((end, sep)) = find_event_end(&buf) {
            let event: Vec<u8> = buf.drain(..end + sep).collect();
            let text = String::from_utf8_lossy(&event[..end]);
            let data = event_data(&text);
            if let Some(data) = data
                && on_data(&data)?
            {
                return Ok(true);
            }
        }
    }
}

/// Position of the blank line ending the first event, and the separator length.
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The joined `data:` lines of one event, or `None` for comments and empty events.
fn event_data(event: &str) -> Option<String> {
    let mut data: Option<String> = None;
    for line in event.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("data:") {
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(rest);
                }
                None => data = Some(rest.to_owned()),
            }
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_and_data_joined() {
        let buf = b"event: x\ndata: {\"a\":1}\n\ndata: b";
        let (end, sep) = find_event_end(buf).unwrap_or((0, 0));
        assert_eq!(end, 22);
        assert_eq!(sep, 2);
        let text = std::str::from_utf8(&buf[..end]).unwrap_or("");
        assert_eq!(event_data(text).as_deref(), Some("{\"a\":1}"));
        assert_eq!(event_data(": keep-alive"), None);
        assert_eq!(event_data("data: a\ndata: b").as_deref(), Some("a\nb"));
        assert_eq!(find_event_end(b"data: x\r\n\r\n"), Some((7, 4)));
    }
}
