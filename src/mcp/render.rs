//! A `tools/call` result rendered for the model: text blocks joined, structured content
//! as JSON (unless a text block already says the same), images, audio and binary
//! resources described in one line rather than dumped, text resources inline, and the
//! whole cut at [`MAX_OUTPUT`] with a notice. `isError` makes the output not ok.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

use super::CallOutput;

/// Most bytes of rendered output kept; the caller trims further for the model.
pub const MAX_OUTPUT: usize = 1024 * 1024;

pub fn render(result: &CallToolResult) -> CallOutput {
    let mut parts: Vec<String> = Vec::with_capacity(result.content.len() + 1);
    for block in &result.content {
        parts.push(match block {
            ContentBlock::Text(t) => t.text.clone(),
            ContentBlock::Image(i) => {
                format!("[image {}, {}]", i.mime_type, size(base64_len(&i.data)))
            }
            ContentBlock::Audio(a) => {
                format!("[audio {}, {}]", a.mime_type, size(base64_len(&a.data)))
            }
            ContentBlock::Resource(r) => match &r.resource {
                ResourceContents::TextResourceContents {
                    uri,
                    mime_type,
                    text,
                    ..
                } => format!(
                    "[resource {uri} ({}, {})]\n{text}",
                    mime_type.as_deref().unwrap_or("text"),
                    size(text.len())
                ),
                ResourceContents::BlobResourceContents {
                    uri,
                    mime_type,
                    blob,
                    ..
                } => format!(
                    "[resource {uri} ({}, {})]",
                    mime_type.as_deref().unwrap_or("binary"),
                    size(base64_len(blob))
                ),
                // rmcp's enum is non-exhaustive: a later kind of resource is named, not dumped.
                other => format!(
                    "[resource of a kind az-os does not know: {}]",
                    kind_of(other)
                ),
            },
            ContentBlock::ResourceLink(l) => {
                let mut s = format!("[resource link {}", l.uri);
                let mime = l.mime_type.as_deref().unwrap_or("unknown type");
                match l.size {
                    Some(n) => s.push_str(&format!(" ({mime}, {})", size(n as usize))),
                    None => s.push_str(&format!(" ({mime})")),
                }
                s.push_str(&format!("] {}", l.name));
                if let Some(d) = &l.description {
                    s.push_str(&format!(": {d}"));
                }
                s
            }
            // rmcp's enum is non-exhaustive: a later kind of content is named, not dumped.
            other => format!(
                "[content of a kind az-os does not know: {}]",
                kind_of(other)
            ),
        });
    }
    if let Some(structured) = &result.structured_content {
        let texts: Vec<&str> = result
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text(t) => Some(t.text.as_str()),
                _ => None,
            })
            .collect();
        let said_already = texts.iter().any(|t| {
            serde_json::from_str::<serde_json::Value>(t).ok().as_ref() == Some(structured)
        }) || said_in(structured, &texts);
        if !said_already {
            parts.push(serde_json::to_string(structured).unwrap_or_default());
        }
    }
    CallOutput {
        ok: !result.is_error.unwrap_or(false),
        text: cap(parts.join("\n"), MAX_OUTPUT),
    }
}

/// Whether the text blocks already carry every string in `structured` (a server that
/// returns `{"content": "…"}` next to the same text, as the filesystem server does), so
/// sending both would only double the observation.
fn said_in(structured: &serde_json::Value, texts: &[&str]) -> bool {
    fn strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::String(s) => out.push(s),
            serde_json::Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
            serde_json::Value::Object(map) => map.values().for_each(|i| strings(i, out)),
            serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {
            }
        }
    }
    let mut found = Vec::new();
    strings(structured, &mut found);
    let found: Vec<&str> = found.into_iter().filter(|s| !s.trim().is_empty()).collect();
    !texts.is_empty()
        && !found.is_empty()
        && found.iter().all(|s| texts.iter().any(|t| t.contains(s)))
}

/// The `type` a value serialises with, for content az-os cannot render.
fn kind_of(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// `text` cut to at most `max` bytes (at a character boundary) with a notice.
pub fn cap(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let total = text.len();
    let mut out = text;
    out.truncate(end);
    out.push_str(&format!(
        "\n[output cut at {} of {}: the tool returned more than az-os keeps]",
        size(end),
        size(total)
    ));
    out
}

/// Bytes that base64 text of this length decodes to.
fn base64_len(data: &str) -> usize {
    let padding = data.bytes().rev().take_while(|&b| b == b'=').count();
    (data.len() / 4 * 3).saturating_sub(padding)
}

fn size(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{} KB", bytes.div_ceil(1024))
    } else {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{Resource, ResourceContents};

    #[test]
    fn every_kind_of_content_is_rendered() {
        let mut link = Resource::new("file:///tmp/a.txt", "a.txt");
        link.mime_type = Some("text/plain".into());
        link.size = Some(2048);
        let png = "A".repeat(16_384); // 12 KB decoded
        let mut r = CallToolResult::success(vec![
            ContentBlock::text("hello"),
            ContentBlock::image(png, "image/png"),
            ContentBlock::resource(ResourceContents::text("inline body", "mem://x")),
            ContentBlock::resource_link(link),
        ]);
        r.structured_content = Some(serde_json::json!({"n": 1}));
        let out = render(&r);
        assert!(out.ok);
        assert_eq!(
            out.text,
            "hello\n[image image/png, 12 KB]\n[resource mem://x (text/plain, 11 B)]\ninline body\n\
             [resource link file:///tmp/a.txt (text/plain, 2 KB)] a.txt\n{\"n\":1}"
        );
    }

    #[test]
    fn structured_content_said_in_text_is_not_repeated_and_errors_are_not_ok() {
        let mut r = CallToolResult::error(vec![ContentBlock::text("{\"n\": 1}")]);
        r.structured_content = Some(serde_json::json!({"n": 1}));
        let out = render(&r);
        assert!(!out.ok);
        assert_eq!(out.text, "{\"n\": 1}");
        // The same strings in prose: said already. A string the text lacks: sent.
        let mut r = CallToolResult::success(vec![ContentBlock::text("hello\n")]);
        r.structured_content = Some(serde_json::json!({"content": "hello\n"}));
        assert_eq!(render(&r).text, "hello\n");
        r.structured_content = Some(serde_json::json!({"content": "hello\n", "path": "a.txt"}));
        assert_eq!(
            render(&r).text,
            "hello\n\n{\"content\":\"hello\\n\",\"path\":\"a.txt\"}"
        );
    }

    #[test]
    fn big_output_is_cut_at_a_char_boundary_with_a_notice() {
        let text = "é".repeat(10);
        let out = cap(text, 5);
        assert!(out.starts_with("éé\n[output cut at 4 B of 20 B"), "{out}");
    }
}
