//! Anthropic's native Messages API (`POST {base_url}/messages`) with `tool_use`
//! blocks and streaming. Consecutive messages of one role are merged, since the
//! API wants user and assistant turns to alternate.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::error::{ErrorCategory, LlmError};
use super::{ChatRequest, ChatResponse, LlmClient, Message, ToolCall, sse, transport};

const API_VERSION: &str = "2023-06-01";

pub async fn chat(
    client: &LlmClient,
    req: ChatRequest<'_>,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<ChatResponse, LlmError> {
    let spec = client.spec();
    let mut body = json!({
        "model": spec.model,
        "max_tokens": spec.max_output_tokens,
        "system": req.system,
        "messages": messages(req.messages),
        "stream": spec.stream,
    });
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
    }
    let url = format!("{}/messages", spec.base_url);
    super::wire::request(&url, &body);
    let mut rb = client
        .http
        .post(url)
        .header("anthropic-version", API_VERSION)
        .json(&body);
    if let Some(key) = &client.key {
        rb = rb.header("x-api-key", key.as_ref());
    }
    let clock = transport::Clock::start(client.timeouts);
    let (body, headroom) = transport::send(rb, &clock, spec.stream).await?;
    let reply = match body {
        transport::Body::Sse(resp) => read_stream(resp, &clock, on_text).await?,
        transport::Body::Whole(text) => transport::whole(&text, parse_whole, on_text)?,
    };
    Ok(ChatResponse { headroom, ..reply })
}

fn messages(msgs: &[Message]) -> Vec<Value> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in msgs {
        let (role, blocks) = match m {
            Message::User { text } => ("user", vec![json!({"type": "text", "text": text})]),
            Message::Assistant { text, tool_calls } => {
                let mut b = Vec::new();
                if !text.is_empty() {
                    b.push(json!({"type": "text", "text": text}));
                }
                for c in tool_calls {
                    // The API wants an object; a malformed string is sent as an empty one
                    // (the tool result already told the model what was wrong).
                    let input: Value = serde_json::from_str(&c.arguments)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    b.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
                }
                ("assistant", b)
            }
            Message::ToolResult {
                call_id,
                content,
                is_error,
                ..
            } => (
                "user",
                vec![json!({"type": "tool_result", "tool_use_id": call_id,
                            "content": content, "is_error": is_error})],
            ),
        };
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((r, b)) if *r == role => b.extend(blocks),
            _ => out.push((role, blocks)),
        }
    }
    // Text alone goes as a plain string: some servers behind proxies cannot read
    // content given as a list of parts.
    out.into_iter()
        .map(|(role, content)| match content.as_slice() {
            [one] if one["type"] == "text" => json!({"role": role, "content": one["text"]}),
            _ => json!({"role": role, "content": content}),
        })
        .collect()
}

fn parse_whole(text: &str) -> Result<ChatResponse, LlmError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| LlmError::new(ErrorCategory::Malformed, format!("reply is not JSON: {e}")))?;
    let content = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| LlmError::new(ErrorCategory::Malformed, "reply has no content"))?;
    let mut out = ChatResponse::default();
    for block in content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => out
                .text
                .push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => out.tool_calls.push(ToolCall {
                id: block
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                name: block
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                arguments: block
                    .get("input")
                    .map_or_else(|| "{}".to_owned(), Value::to_string),
            }),
            _ => {}
        }
    }
    out.usage.input_tokens = v
        .pointer("/usage/input_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    out.usage.output_tokens = v
        .pointer("/usage/output_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    out.stop_reason = v
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(out)
}

enum Block {
    Text,
    Tool(ToolCall),
}

async fn read_stream(
    resp: reqwest::Response,
    clock: &transport::Clock,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<ChatResponse, LlmError> {
    let mut out = ChatResponse::default();
    let mut blocks: BTreeMap<u64, Block> = BTreeMap::new();
    let complete = sse::read_events(resp, clock, |data| {
        let v: Value = serde_json::from_str(data).map_err(|e| {
            LlmError::new(
                ErrorCategory::Malformed,
                format!("stream event is not JSON: {e}"),
            )
        })?;
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                let u = v.pointer("/message/usage");
                let get = |k: &str| {
                    u.and_then(|u| u.get(k))
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                };
                out.usage.input_tokens = get("input_tokens")
                    + get("cache_read_input_tokens")
                    + get("cache_creation_input_tokens");
                out.usage.output_tokens = get("output_tokens");
            }
            "content_block_start" => {
                let b = v.get("content_block");
                let block = match b.and_then(|b| b.get("type")).and_then(Value::as_str) {
                    Some("tool_use") => Block::Tool(ToolCall {
                        id: b
                            .and_then(|b| b.get("id"))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        name: b
                            .and_then(|b| b.get("name"))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        arguments: String::new(),
                    }),
                    _ => Block::Text,
                };
                blocks.insert(index, block);
            }
            "content_block_delta" => {
                let d = v.get("delta");
                match (
                    d.and_then(|d| d.get("type")).and_then(Value::as_str),
                    blocks.get_mut(&index),
                ) {
                    (Some("text_delta"), _) => {
                        let t = d
                            .and_then(|d| d.get("text"))
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        out.text.push_str(t);
                        on_text(t);
                    }
                    (Some("input_json_delta"), Some(Block::Tool(c))) => {
                        let p = d
                            .and_then(|d| d.get("partial_json"))
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        c.arguments.push_str(p);
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    out.stop_reason = Some(r.to_owned());
                }
                // The last count reported wins: proxies (LiteLLM) say 0 in
                // `message_start` and give the real input count only here.
                if let Some(n) = v.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    out.usage.output_tokens = n;
                }
                if let Some(n) = v
                    .pointer("/usage/input_tokens")
                    .and_then(Value::as_u64)
                    .filter(|n| *n > 0)
                {
                    out.usage.input_tokens = n;
                }
            }
            "message_stop" => return Ok(true),
            "error" => {
                let kind = v
                    .pointer("/error/type")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let msg = v
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                let category = match kind {
                    "rate_limit_error" => ErrorCategory::RateLimit,
                    "overloaded_error" | "api_error" => ErrorCategory::Server,
                    "authentication_error" | "permission_error" => ErrorCategory::Auth,
                    "not_found_error" => ErrorCategory::NotFound,
                    _ => ErrorCategory::Validation,
                };
                return Err(LlmError::new(
                    category,
                    format!("provider error in stream: {msg}"),
                ));
            }
            _ => {}
        }
        Ok(false)
    })
    .await?;
    if !complete {
        return Err(LlmError::new(
            ErrorCategory::Network,
            "the stream ended before the reply was complete",
        ));
    }
    for (_, b) in blocks {
        if let Block::Tool(mut c) = b {
            if c.arguments.trim().is_empty() {
                c.arguments = "{}".into();
            }
            out.tool_calls.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_roles_merge_and_tool_results_are_user_blocks() {
        let msgs = vec![
            Message::User {
                text: "task".into(),
            },
            Message::Assistant {
                text: "thinking".into(),
                tool_calls: vec![ToolCall {
                    id: "t1".into(),
                    name: "read_file".into(),
                    arguments: "{\"path\":\"a\"}".into(),
                }],
            },
            Message::ToolResult {
                call_id: "t1".into(),
                name: "read_file".into(),
                content: "x".into(),
                is_error: false,
            },
            Message::User {
                text: "more".into(),
            },
        ];
        let v = messages(&msgs);
        assert_eq!(v.len(), 3);
        assert_eq!(v[2]["role"], "user");
        assert_eq!(v[2]["content"].as_array().map(Vec::len), Some(2));
        assert_eq!(v[1]["content"][1]["input"]["path"], "a");
    }

    #[test]
    fn whole_reply_parses() {
        let r = parse_whole(r#"{"content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"x","name":"finish","input":{"result":"ok"}}],"usage":{"input_tokens":5,"output_tokens":2},"stop_reason":"tool_use"}"#).unwrap();
        assert_eq!(r.text, "hi");
        assert_eq!(r.tool_calls[0].arguments, r#"{"result":"ok"}"#);
        assert_eq!(r.usage.output_tokens, 2);
    }
}
