//! Tool calls in tags: Hermes/Qwen `<tool_call>…</tool_call>` (or `<tools>…</tools>`)
//! blocks and Mistral `[TOOL_CALLS]`. Whatever the tags hold is an attempt at a call;
//! what is not a readable call is an error, an empty `<tool_call>` too. Empty `<tools>`
//! tags (Qwen writes `<tools></tools>` before fenced calls) hold nothing and leave the
//! text to the other readers.

use super::{Attempt, Format, checked, from_value, json_at, not_a_call};
use crate::llm::ToolSpec;

const MISTRAL: &str = "[TOOL_CALLS]";
const ARGS: &str = "[ARGS]";
const CALL_ID: &str = "[CALL_ID]";
const HERMES_TAGS: [(&str, &str); 2] = [("<tool_call>", "</tool_call>"), ("<tools>", "</tools>")];

/// Calls in Hermes or Mistral tags, whichever comes first; `None` without tags.
pub(super) fn tagged(text: &str, tools: &[ToolSpec]) -> Option<(Vec<Attempt>, Format)> {
    let mistral = text.find(MISTRAL);
    let hermes = HERMES_TAGS.into_iter().find_map(|(open, close)| {
        let at = text.find(open).or_else(|| text.find(close))?;
        Some((at, open, close))
    });
    match (hermes, mistral) {
        (Some((h, open, close)), m) if m.is_none_or(|m| h < m) => {
            let blocks = hermes_blocks(text, open, close, tools);
            // Only empty tags (`<tools></tools>` before fenced calls): not the calls.
            (!blocks.is_empty()).then_some((blocks, Format::HermesTags))
        }
        (_, Some(_)) => Some((mistral_calls(text, tools), Format::MistralTag)),
        _ => None,
    }
}

/// Each block runs from an opening tag to its closing tag, the next opening tag or
/// the end (the last may be cut off). A closing tag with no opening one closes a block
/// that starts the reply.
fn hermes_blocks(text: &str, open: &str, close: &str, tools: &[ToolSpec]) -> Vec<Attempt> {
    let opens: Vec<usize> = text.match_indices(open).map(|(i, _)| i).collect();
    let closes: Vec<usize> = text.match_indices(close).map(|(i, _)| i).collect();
    let starts = if opens.is_empty() {
        vec![0]
    } else {
        opens.iter().map(|i| i + open.len()).collect()
    };
    let mut attempts = Vec::new();
    let mut c = 0;
    for (k, &start) in starts.iter().enumerate() {
        let next_open = opens.get(k + 1).copied().unwrap_or(text.len());
        while closes.get(c).is_some_and(|&e| e < start) {
            c += 1;
        }
        let end = closes
            .get(c)
            .copied()
            .filter(|&e| e < next_open)
            .unwrap_or(next_open);
        let block = text.get(start..end).unwrap_or("");
        if block.trim().is_empty() && open == "<tools>" {
            continue;
        }
        let Some(p) = memchr::memchr2(b'{', b'[', block.as_bytes()) else {
            attempts.push(Err(not_a_call()));
            break;
        };
        match json_at(block.get(p..).unwrap_or("")) {
            Ok((value, _)) => attempts.extend(from_value(&value, tools, true).unwrap_or_default()),
            Err(why) => attempts.push(Err(why)),
        }
        if attempts.last().is_some_and(Result::is_err) {
            break;
        }
    }
    attempts
}

/// `[TOOL_CALLS]` followed by a JSON call or list of calls, or by `name[ARGS]{…}`
/// (newer templates; `name[CALL_ID]id[ARGS]{…}` too), once or repeatedly.
fn mistral_calls(text: &str, tools: &[ToolSpec]) -> Vec<Attempt> {
    let marks: Vec<usize> = text.match_indices(MISTRAL).map(|(i, _)| i).collect();
    let mut out = Vec::new();
    for (k, &at) in marks.iter().enumerate() {
        let end = marks.get(k + 1).copied().unwrap_or(text.len());
        let mut rest = text.get(at + MISTRAL.len()..end).unwrap_or("");
        let mut found = false;
        loop {
            rest = rest.trim_start();
            if rest.starts_with(['{', '[']) {
                match json_at(rest) {
                    Ok((value, len)) => {
                        out.extend(from_value(&value, tools, true).unwrap_or_default());
                        rest = rest.get(len..).unwrap_or("");
                    }
                    Err(why) => out.push(Err(why)),
                }
            } else if let Some(a) = rest.find(ARGS) {
                let name = rest.get(..a).unwrap_or("");
                let name = name.split(CALL_ID).next().unwrap_or("").trim();
                let args = rest.get(a + ARGS.len()..).unwrap_or("").trim_start();
                match json_at(args) {
                    Ok((value, len)) => {
                        out.push(checked(name, Some(&value), tools));
                        rest = args.get(len..).unwrap_or("");
                    }
                    Err(why) => out.push(Err(why)),
                }
            } else if found {
                break; // prose after the calls
            } else {
                out.push(Err(not_a_call()));
            }
            found = true;
            if out.last().is_some_and(Result::is_err) {
                return out;
            }
        }
    }
    out
}
