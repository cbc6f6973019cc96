//! The HTTP exchange both protocols share: send under the request's time limits
//! ([`Clock`]: a deadline for the whole exchange, and the longest wait for progress),
//! turn error statuses into classified errors, and hand back either an SSE stream or
//! a whole JSON body (some servers answer a streaming request with one body), read
//! up to [`MAX_BODY_BYTES`].

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::Instant;

use super::error::{ErrorCategory, LlmError};
use super::{ChatResponse, Headroom, Timeouts};

/// The most a whole (non-streamed) reply body may take.
pub const MAX_BODY_BYTES: usize = 32 << 20;

/// The time limits of one request, started when it is sent: every wait ends at the
/// request's deadline (`Timeouts::request` after the start) or `Timeouts::stream_idle`
/// after the last progress, whichever comes first.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    deadline: Instant,
    total: Duration,
    idle: Duration,
}

/// What a wait is for, to say what did not come.
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    /// The response headers.
    Headers,
    /// The next event with data in a stream.
    Stream,
    /// A whole reply body.
    Body,
    /// The answer to a request that asked for no stream: the server generates the whole
    /// reply before it sends anything (a slow local model may take minutes), so only the
    /// request's deadline applies.
    Reply,
}

impl Clock {
    pub fn start(t: Timeouts) -> Self {
        Self {
            deadline: Instant::now() + t.request,
            total: t.request,
            idle: t.stream_idle,
        }
    }

    /// Awaits `fut` until `stream_idle` after `since` or the deadline, whichever comes
    /// first; past it the error is a timeout naming the setting that gives the limit.
    pub async fn wait<T>(
        &self,
        since: Instant,
        what: Wait,
        fut: impl Future<Output = T>,
    ) -> Result<T, LlmError> {
        let end = match what {
            Wait::Reply => self.deadline,
            _ => (since + self.idle).min(self.deadline),
        };
        match tokio::time::timeout_at(end, fut).await {
            Ok(v) => Ok(v),
            Err(_) if end == self.deadline => Err(LlmError::new(
                ErrorCategory::Timeout,
                format!(
                    "the reply took longer than {} (defaults.request_timeout_s)",
                    crate::util::time::short_duration(self.total)
                ),
            )),
            Err(_) => {
                let idle = crate::util::time::short_duration(self.idle);
                let what = match what {
                    Wait::Headers | Wait::Reply => format!("no response within {idle}"),
                    Wait::Stream => format!("the stream sent no data for {idle}"),
                    Wait::Body => format!("the reply body did not arrive within {idle}"),
                };
                Err(LlmError::new(
                    ErrorCategory::Timeout,
                    format!("{what} (defaults.stream_idle_timeout_s)"),
                ))
            }
        }
    }
}

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

/// Sends `rb` under `clock`: the response headers and a whole body must each come
/// within the idle limit, and everything before the deadline; a request that asked for
/// no stream (`streamed` false) waits for its headers until the deadline alone, since
/// the server generates the whole reply first. Returns the body with the rate-limit
/// headroom the provider reported.
pub async fn send(
    rb: reqwest::RequestBuilder,
    clock: &Clock,
    streamed: bool,
) -> Result<(Body, Headroom), LlmError> {
    let sent = Instant::now();
    let resp = clock
        .wait(
            sent,
            if streamed { Wait::Headers } else { Wait::Reply },
            rb.send(),
        )
        .await?
        .map_err(|e| LlmError::from_reqwest(&e))?;
    let status = resp.status();
    super::wire::response(status.as_u16(), resp.headers(), sent.elapsed());
    if !status.is_success() {
        let headers = resp.headers().clone();
        // The error body is only for the message; a broken one is not the error.
        let text = read_body(resp, clock).await.unwrap_or_default();
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
        let text = read_body(resp, clock).await?;
        super::wire::body(&text);
        Ok((Body::Whole(text), room))
    }
}

/// The whole body as text (invalid UTF-8 replaced), at most [`MAX_BODY_BYTES`].
async fn read_body(resp: reqwest::Response, clock: &Clock) -> Result<String, LlmError> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(body_too_big());
    }
    let mut stream = resp.bytes_stream();
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                let mut err = LlmError::from_reqwest(&e);
                if err.category == ErrorCategory::Malformed {
                    // A body cut short is a transport failure, not bad content.
                    err.category = ErrorCategory::Network;
                }
                err.message = format!("the reply was cut short: {}", err.message);
                err
            })?;
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(body_too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    let body = clock.wait(Instant::now(), Wait::Body, read).await??;
    Ok(String::from_utf8(body)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn body_too_big() -> LlmError {
    LlmError::new(
        ErrorCategory::Malformed,
        format!(
            "the provider sent a reply body over the {} MiB limit",
            MAX_BODY_BYTES >> 20
        ),
    )
}
