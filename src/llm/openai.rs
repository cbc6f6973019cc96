//! OpenAI-compatible chat completions (`POST {base_url}/chat/completions`):
//! OpenAI, OpenRouter, Mistral, Gemini's OpenAI endpoint, Ollama's `/v1` and any
//! server that speaks the same protocol. Native `tools`/`tool_calls`, streaming.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::error::{ErrorCategory, LlmError};
use super::{ChatRequest, ChatResponse, LlmClient, Message, ToolCall, Usage, sse, transport};
use crate::config::Provider;

pub async fn chat(
    client: &LlmClient,
    req: ChatRequest<'_>,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<ChatResponse, LlmError> {
    let spec = client.spec();
    let mut body = json!({
        "model": spec.model,
        "messages": messages(req),
        "max_tokens": spec.max_output_tokens,
        "stream": spec.stream,
    });
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
        // Some servers (llama-cpp-python) ignore `tools` unless asked to choose.
        body["tool_choice"] = json!("auto");
    }
    // Usage in the last chunk; Mistral and Gemini refuse or ignore the option.
    if spec.stream && spec.provider != Provider::Gemini && !spec.base_url.contains("mistral.ai") {
        body["stream_options"] = json!({"include_usage": true});
    }
    let url = format!("{}/chat/completions", spec.base_url);
    super::wire::request(&url, &body);
    let mut rb = client.http.post(url).json(&body);
    if let Some(key) = &client.key {
        rb = rb.bearer_auth(key);
    }
    let clock = transport::Clock::start(client.timeouts);
    let (body, headroom) = transport::send(rb, &clock, spec.stream).await?;
    let reply = match body {
        transport::Body::Sse(resp) => read_stream(resp, &clock, on_text).await?,
        transport::Body::Whole(text) => transport::whole(&text, parse_whole, on_text)?,
    };
    Ok(ChatResponse { headroom, ..reply })
}

fn messages(req: ChatRequest<'_>) -> Vec<Value> {
    let mut out = Vec::with_capacity(req.messages.len() + 1);
    out.push(json!({"role": "system", "content": req.system}));
    for m in req.messages {
        out.push(match m {
            Message::User { text } => json!({"role": "user", "content": text}),
            Message::Assistant { text, tool_calls } => {
                let mut v = json!({"role": "assistant", "content": text});
                if !tool_calls.is_empty() {
                    v["tool_calls"] = tool_calls
                        .iter()
                        .map(|c| {
                            json!({"id": c.id, "type": "function",
                                   "function": {"name": c.name, "arguments": c.arguments}})
                        })
                        .collect();
                }
                v
            }
            Message::ToolResult {
                call_id, content, ..
            } => {
                json!({"role": "tool", "tool_call_id": call_id, "content": content})
            }
        });
    }
    out
}

/// A non-streamed completion.
fn parse_whole(text: &str) -> Result<ChatResponse, LlmError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| LlmError::new(ErrorCategory::Malformed, format!("reply is not JSON: {e}")))?;
    let choice = v
        .pointer("/choices/0")
        .ok_or_else(|| LlmError::new(ErrorCategory::Malformed, "reply has no choices"))?;
    let msg = choice
        .get("message")
        .ok_or_else(|| LlmError::new(ErrorCategory::Malformed, "reply has no message"))?;
    let mut tool_calls = Vec::new();
    if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
        for (i, c) in calls.iter().enumerate() {
            tool_calls.push(ToolCall {
                id: c
                    .get("id")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("call_{i}"), str::to_owned),
                name: c
                    .pointer("/function/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                arguments: arguments_text(c.pointer("/function/arguments")),
            });
        }
    }
    Ok(ChatResponse {
        text: msg
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        tool_calls,
        usage: usage(v.get("usage")),
        stop_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        ..ChatResponse::default()
    })
}

/// Arguments arrive as a JSON string (the standard) or, from some servers, as an object.
fn arguments_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn usage(v: Option<&Value>) -> Usage {
    let get = |k: &str| {
        v.and_then(|u| u.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Usage {
        input_tokens: get("prompt_tokens"),
        output_tokens: get("completion_tokens"),
        estimated: false,
    }
}

#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

async fn read_stream(
    resp: reqwest::Response,
    clock: &transport::Clock,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<ChatResponse, LlmError> {
    let mut out = ChatResponse::default();
    let mut calls: BTreeMap<u64, PartialCall> = BTreeMap::new();
    let mut finished = false;
    let complete = sse::read_events(resp, clock, |data| {
        if data.trim() == "[DONE]" {
            return Ok(true);
        }
        let v: Value = serde_json::from_str(data).map_err(|e| {
            LlmError::new(
                ErrorCategory::Malformed,
                format!("stream chunk is not JSON: {e}"),
            )
        })?;
        if let Some(err) = v.get("error") {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            return Err(LlmError::new(
                ErrorCategory::Server,
                format!("provider error in stream: {msg}"),
            ));
        }
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            out.usage = usage(Some(u));
        }
        let Some(choice) = v.pointer("/choices/0") else {
            return Ok(false);
        };
        if let Some(delta) = choice.get("delta") {
            if let Some(t) = delta.get("content").and_then(Value::as_str)
                && !t.is_empty()
            {
                out.text.push_str(t);
                on_text(t);
            }
            if let Some(tcs) = delta.get("tool_calls").and_then(Value::as_array) {
                for (pos, tc) in tcs.iter().enumerate() {
                    let idx = tc
                        .get("index")
                        .and_then(Value::as_u64)
                        .unwrap_or(pos as u64);
                    let entry = calls.entry(idx).or_default();
                    if let Some(id) = tc.get("id").and_then(Value::as_str) {
                        id.clone_into(&mut entry.id);
                    }
                    if let Some(n) = tc.pointer("/function/name").and_then(Value::as_str) {
                        entry.name.push_str(n);
                    }
                    match tc.pointer("/function/arguments") {
                        Some(Value::String(a)) => entry.arguments.push_str(a),
                        Some(Value::Null) | None => {}
                        Some(other) => entry.arguments.push_str(&other.to_string()),
                    }
                }
            }
        }
        if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
            out.stop_reason = Some(r.to_owned());
            finished = true;
        }
        Ok(false)
    })
    .await?;
    if !finished {
        // `[DONE]` without a finish reason is a cut, not an end: llama-cpp-python ends a
        // running stream that way when another request arrives. Retried like a drop.
        return Err(LlmError::new(
            ErrorCategory::Network,
            if complete {
                "the stream ended with [DONE] but no finish reason: the server cut the reply short"
            } else {
                "the stream ended before the reply was complete"
            },
        ));
    }
    out.tool_calls = calls
        .into_iter()
        .map(|(i, c)| ToolCall {
            id: if c.id.is_empty() {
                format!("call_{i}")
            } else {
                c.id
            },
            name: c.name,
            arguments: c.arguments,
        })
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_reply_with_tool_calls_parses() {
        let text = r#"{"choices":[{"message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"c1","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"a\"}"}}]},
            "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,"completion_tokens":3}}"#;
        let r = parse_whole(text).unwrap();
        assert_eq!(r.tool_calls.len(), 1);
        assert_eq!(r.tool_calls[0].arguments, r#"{"path":"a"}"#);
        assert_eq!(r.usage.input_tokens, 10);
        assert_eq!(r.stop_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn junk_is_malformed() {
        assert_eq!(
            parse_whole("nope").unwrap_err().category,
            ErrorCategory::Malformed
        );
        assert_eq!(
            parse_whole("{}").unwrap_err().category,
            ErrorCategory::Malformed
        );
    }
}
