//! Model providers over HTTP: a provider-neutral conversation, the two wire
//! protocols that cover every supported provider (OpenAI-compatible chat
//! completions and Anthropic Messages), streaming and failure classification.
//!
//! This module knows nothing of tasks or tools' behaviour; it moves messages.

mod anthropic;
mod error;
mod openai;
pub mod rate_limit;
pub mod sse;
mod transport;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::{ErrorCategory, LlmError};

use crate::config::{ModelSpec, Provider};

/// One message of a conversation, in provider-neutral form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    /// Text from the user (the task, or a follow-up).
    User { text: String },
    /// A model reply: its text and the tools it asked to run.
    Assistant {
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// The outcome of one tool call, answering the call with the same id.
    ToolResult {
        call_id: String,
        name: String,
        content: String,
        is_error: bool,
    },
}

/// A tool call requested by the model. `arguments` is the raw JSON text as sent,
/// so a malformed argument string reaches the tool layer and becomes an observation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// What to send.
#[derive(Clone, Copy, Debug)]
pub struct ChatRequest<'a> {
    pub system: &'a str,
    pub messages: &'a [Message],
    pub tools: &'a [ToolSpec],
}

/// Token counts of one call; `estimated` when the provider did not report them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub estimated: bool,
}

/// A complete model reply.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatResponse {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub stop_reason: Option<String>,
    pub headroom: Headroom,
}

/// What the provider said is left of its rate limits after this call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Headroom {
    pub requests_remaining: Option<i64>,
    pub tokens_remaining: Option<i64>,
}

/// Network limits for provider calls.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Time allowed to connect.
    pub connect: Duration,
    /// Longest wait for progress: the response headers, a whole body, or the next
    /// stream event that carries data (keep-alive comments do not count).
    pub stream_idle: Duration,
    /// Deadline of a whole request: headers, then the streamed or whole body.
    pub request: Duration,
}

/// A client for one configured model.
#[derive(Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    spec: Arc<ModelSpec>,
    key: Option<Arc<str>>,
    timeouts: Timeouts,
}

/// Installs the ring crypto provider for rustls. Call once before building a
/// client; later calls do nothing.
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the shared HTTP client.
pub fn http_client(timeouts: Timeouts) -> Result<reqwest::Client, LlmError> {
    init_tls();
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .user_agent(concat!("az-os/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            LlmError::new(
                ErrorCategory::Network,
                format!("cannot build HTTP client: {e}"),
            )
        })
}

impl LlmClient {
    pub fn new(
        http: reqwest::Client,
        spec: Arc<ModelSpec>,
        key: Option<String>,
        timeouts: Timeouts,
    ) -> Self {
        Self {
            http,
            spec,
            key: key.map(Arc::from),
            timeouts,
        }
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Sends the conversation and returns the whole reply; `on_text` sees text as it
    /// streams in.
    pub async fn chat(
        &self,
        req: ChatRequest<'_>,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ChatResponse, LlmError> {
        let started = std::time::Instant::now();
        let mut resp = match self.spec.provider {
            Provider::Anthropic => anthropic::chat(self, req, on_text).await?,
            Provider::Openai | Provider::Gemini | Provider::Ollama => {
                openai::chat(self, req, on_text).await?
            }
        };
        let empty = resp.text.trim().is_empty() && resp.tool_calls.is_empty();
        if empty && resp.usage.output_tokens == 0 {
            // Nothing, and nothing generated: a failure upstream dressed as a reply (LiteLLM
            // answers an upstream error with an empty `end_turn` and usage 0/0).
            return Err(LlmError::new(
                ErrorCategory::Server,
                "the provider sent an empty reply with no tokens generated (a failure behind it)",
            ));
        }
        if resp.usage.input_tokens == 0 && resp.usage.output_tokens == 0 {
            resp.usage = estimate_usage(&req, &resp);
        }
        wire::reply(&self.spec.name, &resp, started.elapsed());
        Ok(resp)
    }
}

/// Tokens of a request or reply when the provider reports none, marked as an estimate.
/// Budgets and rate limits count these, so an undercount is a hole: the ratios lean
/// high. Calibrated on what llama.cpp (Qwen2.5's tokenizer) reported for az-os's own
/// captured request (`fixtures/real-servers`): 608 tokens real, 638 estimated here, where
/// four characters a token gave 336. Prose runs about 3 characters a token, JSON (tool
/// schemas and arguments) about 2.5; each message costs a few tokens of framing, and
/// offering tools adds the template's instructions around them.
fn estimate_usage(req: &ChatRequest<'_>, resp: &ChatResponse) -> Usage {
    /// Framing tokens per message (role markers, separators).
    const PER_MESSAGE: usize = 5;
    /// The chat template's text around the tool schemas.
    const TOOLS_PREAMBLE: usize = 110;
    let prose = |n: usize| n.div_ceil(3);
    let json = |n: usize| (n * 2).div_ceil(5);
    let calls =
        |calls: &[ToolCall]| json(calls.iter().map(|c| c.name.len() + c.arguments.len()).sum());
    let mut input = prose(req.system.len()) + PER_MESSAGE * (req.messages.len() + 1);
    for m in req.messages {
        input += match m {
            Message::User { text } => prose(text.len()),
            Message::Assistant { text, tool_calls } => prose(text.len()) + calls(tool_calls),
            Message::ToolResult { content, .. } => prose(content.len()),
        };
    }
    if !req.tools.is_empty() {
        input += TOOLS_PREAMBLE
            + json(
                req.tools
                    .iter()
                    .map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len())
                    .sum(),
            );
    }
    let output = prose(resp.text.len()) + calls(&resp.tool_calls);
    Usage {
        input_tokens: input as u64,
        output_tokens: output as u64,
        estimated: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request az-os sent in the llama.cpp capture, for which the server counted
    /// 608 input tokens.
    #[test]
    fn the_estimate_is_calibrated_on_a_real_count_and_leans_high() {
        let capture = include_str!(
            "../tests/fixtures/real-servers/litellm-anthropic-usage-in-message_delta.log"
        );
        let body = capture
            .split("\n\n")
            .nth(1)
            .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
            .unwrap_or_default();
        let system = body["system"].as_str().unwrap_or_default();
        let messages = [Message::User {
            text: body["messages"][0]["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }];
        let tools = crate::engine::tools::specs();
        let req = ChatRequest {
            system,
            messages: &messages,
            tools: &tools,
        };
        let est = estimate_usage(&req, &ChatResponse::default()).input_tokens;
        let real = 608.0;
        let ratio = est as f64 / real;
        assert!(
            (1.0..1.15).contains(&ratio),
            "estimated {est} for {real} real tokens"
        );
    }
}
