//! Tool calls a model wrote as text instead of through native tool calling, as small
//! local models often do: bare or fenced JSON, Hermes/Qwen `<tool_call>` (and `<tools>`)
//! tags, Mistral `[TOOL_CALLS]`. This module owns recognising them in a reply (tags in
//! `tags.rs`), checking them against the tools' schemas (`schema.rs`), telling a call
//! apart from an example in an explanation, and saying in a sentence what is wrong with
//! a broken one; and [`describe_tools`], the tools as text for models configured with
//! `tool_calls = "text"`.
//!
//! It does not own what the engine does with the result (run, correct, or accept the
//! reply as the answer), nor running tools. Pure functions: no IO, no panics, and time
//! linear in the reply (every scan moves forward; no region is parsed twice).

mod schema;
mod tags;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use crate::llm::{ToolCall, ToolSpec};

/// What a reply's text holds in the way of tool calls.
#[derive(Clone, Debug, PartialEq)]
pub enum TextCalls {
    /// The text holds no attempt at a tool call: it may be a final answer.
    None,
    /// Calls written as text, each valid against its tool's schema, in order.
    Calls {
        calls: Vec<ToolCall>,
        format: Format,
    },
    /// Clearly an attempt at a tool call that cannot be run: what was wrong, in one or
    /// two sentences addressed to the model.
    Broken(String),
}

/// How the calls were written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A JSON object (or array of them) in the reply's prose.
    Json,
    /// The same inside a ``` code fence.
    Fenced,
    /// `<tool_call>…</tool_call>` blocks (Hermes, Qwen), or `<tools>…</tools>`.
    HermesTags,
    /// `[TOOL_CALLS]` followed by a JSON list, or `name[ARGS]{…}`.
    MistralTag,
}

impl Format {
    /// How the engine names the format when it says what happened in the turn.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "JSON in the text",
            Format::Fenced => "JSON in a code fence",
            Format::HermesTags => "<tool_call> tags",
            Format::MistralTag => "[TOOL_CALLS] tag",
        }
    }
}

/// The example heuristic (for bare and fenced JSON only; tags are always calls): the
/// JSON counts as a call only when the prose outside every call-like JSON value — the
/// reply minus those values, minus code-fence marker lines, minus a leading
/// `<think>…</think>`, trimmed — is under this many characters and contains none of
/// [`EXAMPLE_MARKERS`] (case-insensitive). Otherwise the reply is an explanation
/// and parses as [`TextCalls::None`].
pub const PROSE_LIMIT: usize = 200;

/// Phrases that make JSON in a reply an illustration rather than a call.
pub const EXAMPLE_MARKERS: [&str; 13] = [
    "example",
    "e.g.",
    "for instance",
    "such as",
    "like this",
    "like so",
    "would call",
    "would use",
    "would look",
    "could call",
    "could use",
    "you can call",
    "you can use",
];

const NAME_KEYS: [&str; 3] = ["name", "tool", "tool_name"];
const ARG_KEYS: [&str; 3] = ["arguments", "parameters", "args"];
/// Keys a call object may have besides a name; an object with any other key is data,
/// unless its name is one of the tools.
const OTHER_CALL_KEYS: [&str; 5] = ["arguments", "parameters", "args", "id", "type"];
const FORM: &str =
    r#"Write each call as <tool_call>{"name": "TOOL", "arguments": {...}}</tool_call>."#;

/// One call as written: its tool and checked arguments (compact JSON), or what is wrong.
type Attempt = Result<(String, String), String>;

/// The tool calls written in `text`, checked against `tools`.
pub fn parse(text: &str, tools: &[ToolSpec]) -> TextCalls {
    // A reasoning model's thinking may draft calls; only what follows it counts.
    let text = text
        .find("</think>")
        .map_or(text, |i| text.get(i + 8..).unwrap_or(""));
    let (attempts, format) = match tags::tagged(text, tools) {
        Some(found) => found,
        None => match untagged(text, tools) {
            Some(found) => found,
            None => return TextCalls::None,
        },
    };
    let several = attempts.len() > 1;
    let mut calls = Vec::with_capacity(attempts.len());
    for (n, attempt) in attempts.into_iter().enumerate() {
        match attempt {
            Ok((name, arguments)) => calls.push(ToolCall {
                id: format!("text_call_{n}"),
                name,
                arguments,
            }),
            Err(why) if several || n > 0 => {
                return TextCalls::Broken(format!("Tool call {}: {why}", n + 1));
            }
            Err(why) => return TextCalls::Broken(why),
        }
    }
    if calls.is_empty() {
        return TextCalls::Broken(format!(
            "No tool call found in your {}. {FORM}",
            format.as_str()
        ));
    }
    TextCalls::Calls { calls, format }
}

/// Call-like JSON values anywhere in the text (bare or fenced), unless the text is an
/// explanation with examples; `None` if there are none.
fn untagged(text: &str, tools: &[ToolSpec]) -> Option<(Vec<Attempt>, Format)> {
    let bytes = text.as_bytes();
    let mut regions: Vec<(usize, usize)> = Vec::new();
    let mut attempts = Vec::new();
    let mut i = 0;
    while let Some(off) = bytes.get(i..).and_then(|b| memchr::memchr2(b'{', b'[', b)) {
        let p = i + off;
        i = p + 1;
        if !opens_keyed_object(bytes.get(p..).unwrap_or_default()) {
            continue;
        }
        let rest = text.get(p..).unwrap_or("");
        let Some(len) = value_end(rest.as_bytes()) else {
            // Open to the end: a call cut off, or prose we cannot read as JSON.
            if mentions_call(rest, tools) {
                regions.push((p, text.len()));
                attempts.push(Err(cut_off()));
            }
            break;
        };
        let region = rest.get(..len).unwrap_or("");
        i = p + len; // never rescan inside a value
        match serde_json::from_str::<Value>(region) {
            Ok(value) => {
                if let Some(found) = from_value(&value, tools, false) {
                    regions.push((p, i));
                    attempts.extend(found);
                }
            }
            Err(e) if mentions_call(region, tools) => {
                regions.push((p, i));
                attempts.push(Err(invalid_json(&e)));
            }
            Err(_) => {}
        }
    }
    let &(first, _) = regions.first()?;
    if is_example(text, &regions) {
        return None;
    }
    let fences_before = text
        .get(..first)
        .unwrap_or("")
        .lines()
        .filter(|l| is_fence(l))
        .count();
    let format = if fences_before % 2 == 1 {
        Format::Fenced
    } else {
        Format::Json
    };
    Some((attempts, format))
}

/// `{` then a quoted key, or `[` then such an object: where a JSON call may start.
fn opens_keyed_object(bytes: &[u8]) -> bool {
    let mut rest = bytes.iter().copied();
    let first = rest.next();
    let mut solid = || rest.by_ref().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'{') => solid() == Some(b'"'),
        Some(b'[') => solid() == Some(b'{') && solid() == Some(b'"'),
        _ => false,
    }
}

/// Length of the JSON value that opens `bytes` (a `{` or `[`), by bracket matching that
/// skips strings and their escapes; `None` if the text ends first. The end is just past
/// an ASCII bracket, so always a char boundary.
fn value_end(bytes: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// The JSON value opening `text` and its length, or why there is none.
fn json_at(text: &str) -> Result<(Value, usize), String> {
    if !text.starts_with(['{', '[']) {
        return Err(not_a_call());
    }
    let len = value_end(text.as_bytes()).ok_or_else(cut_off)?;
    let value =
        serde_json::from_str(text.get(..len).unwrap_or("")).map_err(|e| invalid_json(&e))?;
    Ok((value, len))
}

/// Whether unparseable JSON was meant as a call: it names a tool or has arguments.
fn mentions_call(region: &str, tools: &[ToolSpec]) -> bool {
    ARG_KEYS
        .iter()
        .any(|k| region.contains(&format!("\"{k}\"")))
        || tools
            .iter()
            .any(|t| region.contains(&format!("\"{}\"", t.name)))
}

/// The calls a JSON value holds. `strict` (inside tags): anything is an attempt, and
/// what is not a call is an error. Otherwise `None` unless the value looks like a call
/// (see [`is_call`]) or a list starting with one, or `{"tool_calls": [...]}`.
fn from_value(value: &Value, tools: &[ToolSpec], strict: bool) -> Option<Vec<Attempt>> {
    let build_any = |v: &Value| {
        v.as_object()
            .map_or_else(|| Err(not_a_call()), |o| build(o, tools))
    };
    match value {
        Value::Array(items) => {
            let looks = items
                .first()
                .and_then(Value::as_object)
                .is_some_and(|o| is_call(o, tools));
            if !(strict || looks) {
                return None;
            }
            if items.is_empty() {
                return Some(vec![Err(not_a_call())]);
            }
            Some(items.iter().map(build_any).collect())
        }
        Value::Object(o) => match o.get("tool_calls") {
            Some(inner @ Value::Array(_)) => from_value(inner, tools, strict),
            _ => (strict || is_call(o, tools)).then(|| vec![build(o, tools)]),
        },
        _ => strict.then(|| vec![Err(not_a_call())]),
    }
}

/// The tool an object names: `name`, `tool`, `tool_name`, or `function` (a string, or
/// an object with a `name`).
fn call_name(o: &Map<String, Value>) -> Option<&str> {
    NAME_KEYS
        .iter()
        .find_map(|k| o.get(*k).and_then(Value::as_str))
        .or_else(|| match o.get("function")? {
            Value::String(s) => Some(s.as_str()),
            Value::Object(f) => f.get("name").and_then(Value::as_str),
            _ => None,
        })
}

/// An object is a call attempt when it names one of the tools, or when it has a name
/// and arguments (or a `function` object) and no keys but those of a call; so
/// `{"name": "Alice", "age": 30}` is data, not a call to an unknown tool.
fn is_call(o: &Map<String, Value>, tools: &[ToolSpec]) -> bool {
    if keyed(o, tools).is_some() {
        return true;
    }
    let Some(name) = call_name(o) else {
        return false;
    };
    if tools.iter().any(|t| t.name == name) {
        return true;
    }
    let function = o.get("function").is_some_and(Value::is_object);
    let has_args = function || ARG_KEYS.iter().any(|k| o.contains_key(*k));
    has_args
        && o.keys().all(|k| {
            k == "function"
                || NAME_KEYS.contains(&k.as_str())
                || OTHER_CALL_KEYS.contains(&k.as_str())
        })
}

/// The form small models write as `{"TOOL": ARGUMENTS}`: one key, a tool's name. A
/// string stands for the tool's one required argument (`{"finish": "391"}`).
fn keyed<'a>(o: &'a Map<String, Value>, tools: &'a [ToolSpec]) -> Option<(&'a str, Value)> {
    let (key, value) = o.iter().next().filter(|_| o.len() == 1)?;
    let spec = tools.iter().find(|t| t.name == *key)?;
    let args = match value {
        Value::String(text) => {
            let required = spec.parameters["required"].as_array()?;
            match required.as_slice() {
                [Value::String(only)] => {
                    let mut m = Map::new();
                    m.insert(only.clone(), Value::String(text.clone()));
                    Value::Object(m)
                }
                _ => return None,
            }
        }
        other => other.clone(),
    };
    Some((spec.name.as_str(), args))
}

fn build(o: &Map<String, Value>, tools: &[ToolSpec]) -> Attempt {
    if let Some((name, args)) = keyed(o, tools) {
        return checked(name, Some(&args), tools);
    }
    let Some(name) = call_name(o) else {
        return Err(not_a_call());
    };
    let inner = o.get("function").and_then(Value::as_object);
    checked(name, inner.and_then(args_of).or_else(|| args_of(o)), tools)
}

fn args_of(o: &Map<String, Value>) -> Option<&Value> {
    ARG_KEYS.iter().find_map(|k| o.get(*k))
}

/// A call to `name` with `raw` arguments (an object, a JSON-encoded object, or nothing),
/// checked against the tool's schema.
fn checked(name: &str, raw: Option<&Value>, tools: &[ToolSpec]) -> Attempt {
    // Models trained on OpenAI's prompt format sometimes write `functions.read_file`.
    let name = name.strip_prefix("functions.").unwrap_or(name);
    let Some(spec) = tools.iter().find(|t| t.name == name) else {
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        return Err(format!(
            "There is no tool {:?}. The tools are: {}.",
            short(name),
            names.join(", ")
        ));
    };
    let args = match raw {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) if s.trim().is_empty() => Map::new(),
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(format!(
                    "Your {name} call's arguments are not a JSON object. {FORM}"
                ));
            }
        },
        Some(_) => {
            return Err(format!(
                "Your {name} call's arguments must be a JSON object. {FORM}"
            ));
        }
    };
    match schema::check(spec, args) {
        Ok(args) => Ok((name.to_owned(), Value::Object(args).to_string())),
        Err(why) => Err(format!(
            "Your {name} call is not valid: {why}. Its arguments are {}.",
            schema::signature(spec)
        )),
    }
}

/// Whether the prose around the call-like regions makes them examples (see
/// [`PROSE_LIMIT`]).
fn is_example(text: &str, regions: &[(usize, usize)]) -> bool {
    let mut prose = String::new();
    let mut from = 0;
    for &(start, end) in regions.iter().chain([(text.len(), text.len())].iter()) {
        for line in text.get(from..start).unwrap_or("").lines() {
            if !is_fence(line) {
                prose.push_str(line);
                prose.push('\n');
            }
        }
        from = end;
        if prose.len() > 4 * PROSE_LIMIT {
            return true; // at most 4 bytes a char: already over the limit
        }
    }
    let prose = prose.trim();
    let lower = prose.to_lowercase();
    if EXAMPLE_MARKERS.iter().any(|m| lower.contains(m)) {
        return true;
    }
    // A model that says it is about to act means the call, however much it explains
    // after it ("I'll use … ```json {…}``` This command does the following: …").
    let before = regions
        .first()
        .and_then(|&(start, _)| text.get(..start))
        .unwrap_or("")
        .to_lowercase();
    if INTENT_MARKERS.iter().any(|m| before.contains(m)) {
        return false;
    }
    prose.chars().count() >= PROSE_LIMIT
}

/// First-person phrases before a call that say the model is about to make it.
const INTENT_MARKERS: [&str; 9] = [
    "i'll ",
    "i will ",
    "let me ",
    "let's ",
    "i am going to",
    "i'm going to",
    "i need to ",
    "now i ",
    "first, i",
];

/// A code fence's opening or closing line.
fn is_fence(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("```") || line.starts_with("~~~")
}

fn not_a_call() -> String {
    format!("Your tool call is not in a form I can read. {FORM}")
}

fn cut_off() -> String {
    format!("Your tool call's JSON is cut off before it closes. Send the whole call again. {FORM}")
}

fn invalid_json(e: &serde_json::Error) -> String {
    format!("Your tool call is not valid JSON ({e}). {FORM}")
}

/// At most 60 characters of a name, for messages.
fn short(name: &str) -> String {
    match name.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", name.get(..i).unwrap_or("")),
        None => name.to_owned(),
    }
}

/// The tools as a compact system-prompt text, for models that are not sent them
/// natively (`tool_calls = "text"`): the form to use, then one line per tool.
pub fn describe_tools(tools: &[ToolSpec]) -> String {
    let mut out = String::from(
        "To call a tool, reply with one block per call:\n\
         <tool_call>{\"name\": \"TOOL\", \"arguments\": {...}}</tool_call>\nTools:\n",
    );
    for tool in tools {
        out.push_str(&schema::signature(tool));
        out.push_str(" — ");
        out.push_str(&tool.description);
        out.push('\n');
    }
    out
}
