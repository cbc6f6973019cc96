//! The HTTP exchange both protocols share: send with a deadline for the response
//! headers, turn error statuses into classified errors, and hand back either an
//! SSE stream or a whole JSON body (some servers answer a streaming request with
//! one body).

use std::time::Duration;

use super::error::{ErrorCategory, LlmError};
use super::{ChatResponse, Headroom};

/// A successful response, by how it is framed.
pub enum Body {
    Sse(reqwest::Response),
    Whole(String),
}

/// A whole (non-streamed) reply parsed by `parse`; its text is passed to
/// `on_text` at once, as a stream would have passed it in pieces.
pub fn whole(
    text: &str,
    parse: fn(&str) -> Result<ChatResponse, LlmError>,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<ChatResponse, LlmError> {
    let reply = parse(text)?;
    if !reply.text.is_empty() {
        on_text(&reply.text);
    }
    Ok(reply)
}

/// Reads the remaining-requests and remaining-tokens headers of OpenAI-style
/// (`x-ratelimit-remaining-*`, OpenRouter's `x-ratelimit-remaining`) and
/// Anthropic (`anthropic-ratelimit-*-remaining`) responses.
pub fn headroom(headers: &reqwest::header::HeaderMap) -> Headroom {
    let num = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| headers.get(*n)?.to_str().ok()?.trim().parse::<i64>().ok())
    };
    Headroom {
        requests_remaining: num(&[
            "x-ratelimit-remaining-requests",
            "anthropic-ratelimit-requests-remaining",
            "x-ratelimit-remaining",
        ]),
        tokens_remaining: num(&[
            "x-ratelimit-remaining-tokens",
            "anthropic-ratelimit-tokens-remaining",
        ]),
    }
}

/// Sends `rb`; waits at most `idle` for the response headers and for a whole body.
/// Returns the body with the rate-limit headroom the provider reported.
pub async fn send(
    rb: reqwest::RequestBuilder,
    idle: Duration,
) -> Result<(Body, Headroom), LlmError> {
    let resp = match tokio::time::timeout(idle, rb.send()).await {
        Err(_) => {
            return Err(LlmError::new(
                ErrorCategory::Timeout,
                format!(
                    "no response within {}",
                    crate::util::time::short_duration(idle)
                ),
            ));
        }
        Ok(r) => r.map_err(|e| LlmError::from_reqwest(&e))?,
    };
    let status = resp.status();
    if !status.is_success() {
        let headers = resp.headers().clone();
        // The error body is only for the message; a broken one is not the error.
        let text = read_body(resp, idle).await.unwrap_or_default();
        return Err(LlmError::from_status(status.as_u16(), &headers, &text));
    }
    let is_sse = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let room = headroom(resp.headers());
    if is_sse {
        Ok((Body::Sse(resp), room))
    } else {
        Ok((Body::Whole(read_body(resp, idle).await?), room))
    }
}

async fn read_body(resp: reqwest::Response, idle: Duration) -> Result<String, LlmError> {
    match tokio::time::timeout(idle, resp.text()).await {
        Err(_) => Err(LlmError::new(
            ErrorCategory::Timeout,
            format!(
                "the reply body did not arrive within {}",
                crate::util::time::short_duration(idle)
            ),
        )),
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => {
            let mut err = LlmError::from_reqwest(&e);
            if err.category == ErrorCategory::Malformed {
                // A body cut short is a transport failure, not bad content.
                err.category = ErrorCategory::Network;
            }
            err.message = format!("the reply was cut short: {}", err.message);
            Err(err)
        }
    }
}
