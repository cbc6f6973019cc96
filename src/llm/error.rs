//! Provider failures, classified so callers can decide to retry, fall back or stop.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What kind of failure it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCategory {
    /// The key was refused (401/403).
    Auth,
    /// The model or endpoint does not exist (404).
    NotFound,
    /// Too many requests (429); `retry_after` says when to come back.
    RateLimit,
    /// The provider failed (5xx, overloaded).
    Server,
    /// Connection refused, reset, or a stream cut short.
    Network,
    /// No answer or no data inside a stream for too long, or a reply past the
    /// request's deadline.
    Timeout,
    /// The reply could not be understood.
    Malformed,
    /// The provider rejected the request itself (other 4xx).
    Validation,
}

impl ErrorCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::NotFound => "not_found",
            Self::RateLimit => "rate_limit",
            Self::Server => "server",
            Self::Network => "network",
            Self::Timeout => "timeout",
            Self::Malformed => "malformed",
            Self::Validation => "validation",
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimit | Self::Server | Self::Network | Self::Timeout
        )
    }
}

/// A failed provider call.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{category_name}: {message}", category_name = .category.as_str())]
pub struct LlmError {
    pub category: ErrorCategory,
    pub message: String,
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
}

impl LlmError {
    pub fn new(category: ErrorCategory, message: impl Into<String>) -> Self {
        Self {
            category,
            message: message.into(),
            status: None,
            retry_after: None,
        }
    }

    pub fn retryable(&self) -> bool {
        self.category.is_retryable()
    }

    /// Classifies an HTTP error status with the body the provider sent.
    pub fn from_status(status: u16, headers: &reqwest::header::HeaderMap, body: &str) -> Self {
        let category = match status {
            401 | 403 => ErrorCategory::Auth,
            404 => ErrorCategory::NotFound,
            408 => ErrorCategory::Timeout,
            429 => ErrorCategory::RateLimit,
            500..=599 => ErrorCategory::Server,
            _ => ErrorCategory::Validation,
        };
        let detail = provider_message(body);
        let hint = match category {
            ErrorCategory::Auth => " (check the model's API key)",
            ErrorCategory::NotFound => " (check the model id and base_url in config.toml)",
            _ => "",
        };
        Self {
            category,
            message: format!("HTTP {status}: {detail}{hint}"),
            status: Some(status),
            retry_after: retry_after(headers),
        }
    }

    /// Classifies a transport error.
    pub fn from_reqwest(e: &reqwest::Error) -> Self {
        let category = if e.is_timeout() {
            ErrorCategory::Timeout
        } else if e.is_decode() {
            ErrorCategory::Malformed
        } else {
            ErrorCategory::Network
        };
        // reqwest's Display includes the URL but never headers, so no key leaks.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        Self::new(category, msg)
    }
}

/// The provider's own error text (`{"error": {"message": ...}}` in both
/// protocols), else the start of the body.
fn provider_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let msg = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error"))
            .and_then(|m| m.as_str().map(str::to_owned))
    });
    let text = msg.unwrap_or_else(|| body.trim().to_owned());
    let text = if text.is_empty() {
        "no details".to_owned()
    } else {
        text
    };
    crate::util::text::ellipsize(&crate::util::text::strip_control(&text), 300)
}

/// `Retry-After` in seconds (or `retry-after-ms`), capped at ten minutes.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    let d = if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        Duration::from_secs_f64(ms.max(0.0) / 1000.0)
    } else {
        Duration::from_secs_f64(get("retry-after")?.parse::<f64>().ok()?.max(0.0))
    };
    Some(d.min(Duration::from_secs(600)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn statuses_are_classified() {
        let h = HeaderMap::new();
        let cases = [
            (401, ErrorCategory::Auth),
            (404, ErrorCategory::NotFound),
            (429, ErrorCategory::RateLimit),
            (503, ErrorCategory::Server),
            (529, ErrorCategory::Server),
            (400, ErrorCategory::Validation),
        ];
        for (status, cat) in cases {
            assert_eq!(
                LlmError::from_status(status, &h, "").category,
                cat,
                "{status}"
            );
        }
    }

    #[test]
    fn retry_after_and_provider_message_are_read() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        let e = LlmError::from_status(429, &h, r#"{"error":{"message":"slow down"}}"#);
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        assert!(e.message.contains("slow down"));
        assert!(e.retryable());
    }
}
