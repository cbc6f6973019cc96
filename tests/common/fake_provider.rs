//! A scripted fake LLM provider for integration tests and benchmarks.
//!
//! `FakeProvider` is a tiny blocking HTTP/1.1 server on `127.0.0.1` that speaks the
//! `OpenAI` chat-completions and Anthropic messages wire formats, streaming (SSE over
//! chunked transfer encoding) and non-streaming. Each chat/messages POST pops the next
//! [`Reply`] from a script; replies can also inject faults (HTTP errors, dropped streams,
//! malformed bodies, delays). Every request is recorded for later assertions.
//!
//! What it does not do: TLS, keep-alive (every response says `Connection: close`),
//! chunked request bodies, HTTP/2, or any checking that requests are well formed. It
//! does not look at the conversation: replies come from the script only.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// One scripted answer to a chat/messages POST.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Final answer: text, no tool calls.
    Text(String),
    /// Optional text plus tool calls: (tool name, arguments as a JSON text, sent verbatim
    /// even if invalid JSON).
    Tools {
        text: String,
        calls: Vec<(String, String)>,
    },
    /// An HTTP error status with an optional Retry-After header (seconds) and a JSON error
    /// body `{"error":{"message":..,"type":..}}`.
    Status {
        code: u16,
        retry_after: Option<u64>,
        message: String,
    },
    /// Starts a 200 streaming reply, sends the first text delta of `text`, then closes the
    /// connection abruptly (no terminating chunk, no `[DONE]`/`message_stop`). If the
    /// request is not streaming, closes after sending only the headers.
    DropStream(String),
    /// 200 with this raw body and Content-Type application/json.
    Raw(String),
    /// 200 streaming reply whose event carries this raw data line instead of JSON, then
    /// ends normally. Sent like [`Reply::Raw`] if the request is not streaming.
    MalformedStream(String),
    /// Waits this long before answering with the inner reply.
    Delay(Duration, Box<Reply>),
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Header names are lowercased.
    pub headers: Vec<(String, String)>,
    /// `Value::Null` if there was no body or it was not JSON.
    pub body: Value,
    /// Bytes of the body as received (what the request cost on the wire, headers aside).
    pub body_bytes: usize,
    pub at: Instant,
}

struct Shared {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    /// Replies to the lessons request at a task's end (default `{"lessons": []}`), kept
    /// apart so that scripts and request counts stay about the task's own turns.
    lessons: Mutex<VecDeque<Reply>>,
    lesson_requests: Mutex<Vec<Recorded>>,
    chats: AtomicUsize,
    next_call_id: AtomicUsize,
    json_only: bool,
    /// A provider's own rate limit ([`FakeProvider::limit_rate`]): at most `.0` chat
    /// requests in any `.1`, the times of those accepted in `.2`.
    limit: Mutex<Option<(usize, Duration, VecDeque<Instant>)>>,
    /// Chat requests refused with 429 by that limit.
    rejected: AtomicUsize,
    /// The only key accepted ([`FakeProvider::require_key`]); any other gets 401.
    key: Mutex<Option<String>>,
}

/// The running server; stops accepting connections when dropped.
pub struct FakeProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeProvider {
    /// Binds 127.0.0.1:0 and serves on background threads until dropped.
    pub fn start(script: Vec<Reply>) -> FakeProvider {
        Self::spawn(script, false)
    }

    /// Same, but answers chat/messages with a single JSON body even when the request
    /// asked to stream.
    pub fn start_json_only(script: Vec<Reply>) -> FakeProvider {
        Self::spawn(script, true)
    }

    fn spawn(script: Vec<Reply>, json_only: bool) -> FakeProvider {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("fake provider: cannot bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake provider: {e}"));
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into()),
            requests: Mutex::new(Vec::new()),
            lessons: Mutex::new(VecDeque::new()),
            lesson_requests: Mutex::new(Vec::new()),
            chats: AtomicUsize::new(0),
            next_call_id: AtomicUsize::new(1),
            json_only,
            limit: Mutex::new(None),
            rejected: AtomicUsize::new(0),
            key: Mutex::new(None),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (shared2, stop2) = (Arc::clone(&shared), Arc::clone(&stop));
        let accept_thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                match conn {
                    Ok(stream) => {
                        let shared = Arc::clone(&shared2);
                        thread::spawn(move || serve(stream, &shared));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeProvider {
            addr,
            shared,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Adds replies to the end of the script.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.shared.script).extend(replies);
    }

    /// Queues the reply to the next lessons request (a task's end).
    pub fn push_lessons(&self, reply: Reply) {
        lock(&self.shared.lessons).push_back(reply);
    }

    /// The lessons requests received (not in [`Self::requests`]).
    pub fn lesson_requests(&self) -> Vec<Recorded> {
        lock(&self.shared.lesson_requests).clone()
    }

    /// Everything received so far but lessons requests, in order of arrival.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// Number of chat/messages POSTs answered from the script (429s of
    /// [`Self::limit_rate`] aside).
    pub fn chat_count(&self) -> usize {
        self.shared.chats.load(Ordering::SeqCst)
    }

    /// Enforces a provider's rate limit from now on, as a real one does: a chat request
    /// beyond `requests` in any sliding `window` is answered 429 with `Retry-After: 1`
    /// (the script is not consumed).
    pub fn limit_rate(&self, requests: usize, window: Duration) {
        *lock(&self.shared.limit) = Some((requests, window, VecDeque::new()));
    }

    /// From now on, answers 401 as OpenAI does to any request without `key` (bearer or
    /// `x-api-key`), its message naming the key's first characters as OpenAI's does.
    pub fn require_key(&self, key: &str) {
        *lock(&self.shared.key) = Some(key.to_owned());
    }

    /// Chat requests refused by [`Self::limit_rate`].
    pub fn rejected(&self) -> usize {
        self.shared.rejected.load(Ordering::SeqCst)
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept. Only wait for the thread if the wake-up got through,
        // so a failed connect can never hang the drop.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(handle) = self.accept_thread.take()
            && woke
        {
            let _ = handle.join();
        }
    }
}

// ---------------------------------------------------------------- HTTP plumbing

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads one request. `Ok(None)` if the peer closed before sending a request line.
fn read_request(stream: &TcpStream) -> io::Result<Option<Request>> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        (&mut &*stream).write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let len = header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Error",
    }
}

fn write_head(out: &mut TcpStream, code: u16, headers: &[(&str, String)]) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {code} {}\r\n", reason(code));
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head += "Connection: close\r\n\r\n";
    out.write_all(head.as_bytes())?;
    out.flush()
}

fn send_json(
    out: &mut TcpStream,
    code: u16,
    extra: &[(&str, String)],
    body: &str,
) -> io::Result<()> {
    let mut headers = vec![
        ("Content-Type", "application/json".to_string()),
        ("Content-Length", body.len().to_string()),
    ];
    headers.extend(extra.iter().cloned());
    write_head(out, code, &headers)?;
    out.write_all(body.as_bytes())?;
    out.flush()
}

fn start_sse(out: &mut TcpStream) -> io::Result<()> {
    let headers = [
        ("Content-Type", "text/event-stream".to_string()),
        ("Cache-Control", "no-cache".to_string()),
        ("Transfer-Encoding", "chunked".to_string()),
    ];
    write_head(out, 200, &headers)
}

/// Writes each SSE frame as one chunk, flushing after each.
fn send_frames(out: &mut TcpStream, frames: &[String]) -> io::Result<()> {
    for frame in frames {
        write!(out, "{:x}\r\n{frame}\r\n", frame.len())?;
        out.flush()?;
    }
    Ok(())
}

fn end_chunks(out: &mut TcpStream) -> io::Result<()> {
    out.write_all(b"0\r\n\r\n")?;
    out.flush()
}

fn error_body(message: &str, kind: &str) -> String {
    json!({"error": {"message": message, "type": kind}}).to_string()
}

// ---------------------------------------------------------------- routing

/// Whether a chat request now goes over the limit (else it is counted in the window).
fn over_limit(shared: &Shared) -> bool {
    let mut limit = lock(&shared.limit);
    let Some((requests, window, times)) = limit.as_mut() else {
        return false;
    };
    let now = Instant::now();
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= *window)
    {
        times.pop_front();
    }
    if times.len() >= *requests {
        return true;
    }
    times.push_back(now);
    false
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(Some(req)) = read_request(&stream) else {
        return;
    };
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let system = body["system"]
        .as_str()
        .or_else(|| body["messages"][0]["content"].as_str())
        .unwrap_or_default();
    let lessons = system.starts_with("You distil lessons");
    let given_key = req
        .headers
        .iter()
        .find_map(|(k, v)| match k.as_str() {
            "authorization" => v.strip_prefix("Bearer ").map(str::to_owned),
            "x-api-key" => Some(v.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let recorded = Recorded {
        method: req.method.clone(),
        path: req.path.clone(),
        headers: req.headers,
        body: body.clone(),
        body_bytes: req.body.len(),
        at: Instant::now(),
    };
    if lessons {
        lock(&shared.lesson_requests).push(recorded);
    } else {
        lock(&shared.requests).push(recorded);
    }
    let path = req.path.split('?').next().unwrap_or_default();
    if let Some(want) = lock(&shared.key).clone() {
        let given = &given_key;
        if *given != want {
            let shown: String = given.chars().take(4).collect();
            let body = json!({"error": {
                "message": format!("Incorrect API key provided: {shown}***. You can find your API key at https://example.test/keys."),
                "type": "invalid_request_error",
                "code": "invalid_api_key"
            }});
            let _ = send_json(&mut stream, 401, &[], &body.to_string());
            let _ = stream.shutdown(Shutdown::Write);
            return;
        }
    }
    let api = match (req.method.as_str(), path) {
        ("POST", p) if p.ends_with("/chat/completions") => Some(Api::OpenAi),
        ("POST", p) if p.ends_with("/messages") => Some(Api::Anthropic),
        _ => None,
    };
    let result = match (api, req.method.as_str()) {
        (Some(api), _) => {
            let next = if lessons {
                Some(
                    lock(&shared.lessons)
                        .pop_front()
                        .unwrap_or_else(|| Reply::Text(r#"{"lessons": []}"#.into())),
                )
            } else if over_limit(shared) {
                shared.rejected.fetch_add(1, Ordering::SeqCst);
                Some(Reply::Status {
                    code: 429,
                    retry_after: Some(1),
                    message: "rate limit exceeded: too many requests per minute".into(),
                })
            } else {
                shared.chats.fetch_add(1, Ordering::SeqCst);
                lock(&shared.script).pop_front()
            };
            let ctx = Ctx {
                api,
                shared,
                stream: !shared.json_only && body["stream"] == Value::Bool(true),
                include_usage: body["stream_options"]["include_usage"] == Value::Bool(true),
                model: body["model"].as_str().unwrap_or("fake-model").to_string(),
                prompt_tokens: req.body.len() / 4,
            };
            if let Some(reply) = next {
                answer(&mut stream, &ctx, reply)
            } else {
                let msg = "fake provider: script exhausted";
                send_json(&mut stream, 500, &[], &error_body(msg, "server_error"))
            }
        }
        (None, "GET") if path == "/api/tags" => {
            let tags = json!({"models": [{"name": "llama3.2:latest"}]});
            send_json(&mut stream, 200, &[], &tags.to_string())
        }
        (None, "GET") if path.ends_with("/models") => {
            let list = json!({"object": "list", "data": [{"id": "fake-model", "object": "model"}]});
            send_json(&mut stream, 200, &[], &list.to_string())
        }
        _ => send_json(
            &mut stream,
            404,
            &[],
            &json!({"error": {"message": "not found"}}).to_string(),
        ),
    };
    if result.is_ok() {
        let _ = stream.shutdown(Shutdown::Write);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Api {
    OpenAi,
    Anthropic,
}

struct Ctx<'a> {
    api: Api,
    shared: &'a Shared,
    stream: bool,
    include_usage: bool,
    model: String,
    prompt_tokens: usize,
}

fn stop_reason(api: Api, calls: &[Call]) -> &'static str {
    match (api, calls.is_empty()) {
        (Api::OpenAi, true) => "stop",
        (Api::OpenAi, false) => "tool_calls",
        (Api::Anthropic, true) => "end_turn",
        (Api::Anthropic, false) => "tool_use",
    }
}

/// A tool call with its server-assigned id.
struct Call {
    id: String,
    name: String,
    args: String,
}

fn answer(out: &mut TcpStream, ctx: &Ctx, reply: Reply) -> io::Result<()> {
    match reply {
        Reply::Delay(wait, inner) => {
            thread::sleep(wait);
            answer(out, ctx, *inner)
        }
        Reply::Text(text) => respond(out, ctx, &text, &[]),
        Reply::Tools { text, calls } => {
            let prefix = if ctx.api == Api::OpenAi {
                "call"
            } else {
                "toolu"
            };
            let calls: Vec<Call> = calls
                .into_iter()
                .map(|(name, args)| {
                    let n = ctx.shared.next_call_id.fetch_add(1, Ordering::SeqCst);
                    Call {
                        id: format!("{prefix}_{n}"),
                        name,
                        args,
                    }
                })
                .collect();
            respond(out, ctx, &text, &calls)
        }
        Reply::Status {
            code,
            retry_after,
            message,
        } => {
            let kind = match code {
                400 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                _ => "api_error",
            };
            let extra: Vec<_> = retry_after
                .map(|s| ("Retry-After", s.to_string()))
                .into_iter()
                .collect();
            send_json(out, code, &extra, &error_body(&message, kind))
        }
        Reply::MalformedStream(raw) if ctx.stream => {
            start_sse(out)?;
            let frames = match ctx.api {
                Api::OpenAi => vec![format!("data: {raw}\n\n"), "data: [DONE]\n\n".to_string()],
                Api::Anthropic => vec![
                    format!("event: message_start\ndata: {raw}\n\n"),
                    anthropic_event("message_stop", &json!({"type": "message_stop"})),
                ],
            };
            send_frames(out, &frames)?;
            end_chunks(out)
        }
        Reply::Raw(raw) | Reply::MalformedStream(raw) => send_json(out, 200, &[], &raw),
        Reply::DropStream(text) if ctx.stream => {
            start_sse(out)?;
            let mut frames = stream_frames(ctx, &text, &[]);
            // Keep the preamble (role delta / message_start + ping + block start) and the
            // first text delta, then hang up without the terminating chunk.
            let t = usize::from(!text.is_empty());
            let keep = match ctx.api {
                Api::OpenAi => 1 + t,
                Api::Anthropic => 2 + 2 * t,
            };
            frames.truncate(keep);
            send_frames(out, &frames)?;
            let _ = out.shutdown(Shutdown::Both);
            Err(io::Error::other("dropped on purpose"))
        }
        Reply::DropStream(_) => {
            let headers = [
                ("Content-Type", "application/json".to_string()),
                ("Content-Length", "1024".to_string()),
            ];
            write_head(out, 200, &headers)?;
            let _ = out.shutdown(Shutdown::Both);
            Err(io::Error::other("dropped on purpose"))
        }
    }
}

fn respond(out: &mut TcpStream, ctx: &Ctx, text: &str, calls: &[Call]) -> io::Result<()> {
    if ctx.stream {
        start_sse(out)?;
        send_frames(out, &stream_frames(ctx, text, calls))?;
        end_chunks(out)
    } else {
        let body = match ctx.api {
            Api::OpenAi => openai_json(ctx, text, calls),
            Api::Anthropic => anthropic_json(ctx, text, calls),
        };
        send_json(out, 200, &[], &body.to_string())
    }
}

fn completion_tokens(text: &str, calls: &[Call]) -> usize {
    (text.len() + calls.iter().map(|c| c.args.len()).sum::<usize>()) / 4 + 1
}

/// Splits `s` into at most `n` non-empty pieces on char boundaries (one empty piece if
/// `s` is empty).
fn split(s: &str, n: usize) -> Vec<&str> {
    let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
    let chars = bounds.len() - 1;
    let pieces = n.min(chars).max(1);
    (0..pieces)
        .map(|k| &s[bounds[chars * k / pieces]..bounds[chars * (k + 1) / pieces]])
        .collect()
}

/// Anthropic tool input must be a JSON value; invalid argument text is sent as a string.
fn tool_input(args: &str) -> Value {
    if args.trim().is_empty() {
        return json!({});
    }
    serde_json::from_str(args).unwrap_or_else(|_| Value::String(args.to_string()))
}

fn stream_frames(ctx: &Ctx, text: &str, calls: &[Call]) -> Vec<String> {
    match ctx.api {
        Api::OpenAi => openai_frames(ctx, text, calls),
        Api::Anthropic => anthropic_frames(ctx, text, calls),
    }
}

// ---------------------------------------------------------------- OpenAI

fn openai_usage(ctx: &Ctx, text: &str, calls: &[Call]) -> Value {
    let c = completion_tokens(text, calls);
    let p = ctx.prompt_tokens;
    json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c})
}

fn openai_json(ctx: &Ctx, text: &str, calls: &[Call]) -> Value {
    let content = if text.is_empty() {
        Value::Null
    } else {
        json!(text)
    };
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        let function = |c: &Call| json!({"name": c.name, "arguments": c.args});
        let list = calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": function(c)}));
        message["tool_calls"] = Value::Array(list.collect());
    }
    let finish = stop_reason(ctx.api, calls);
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": ctx.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": openai_usage(ctx, text, calls),
    })
}

fn openai_frames(ctx: &Ctx, text: &str, calls: &[Call]) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let c = json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "model": ctx.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        format!("data: {c}\n\n")
    };
    let mut frames = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    if !text.is_empty() {
        for piece in split(text, 3) {
            frames.push(chunk(json!({"content": piece}), Value::Null));
        }
    }
    for (index, call) in calls.iter().enumerate() {
        let first = json!({"index": index, "id": call.id, "type": "function",
                           "function": {"name": call.name, "arguments": ""}});
        frames.push(chunk(json!({"tool_calls": [first]}), Value::Null));
        for piece in split(&call.args, 2) {
            let more = json!({"index": index, "function": {"arguments": piece}});
            frames.push(chunk(json!({"tool_calls": [more]}), Value::Null));
        }
    }
    let finish = stop_reason(ctx.api, calls);
    frames.push(chunk(json!({}), json!(finish)));
    if ctx.include_usage {
        let usage = json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "model": ctx.model,
            "choices": [], "usage": openai_usage(ctx, text, calls),
        });
        frames.push(format!("data: {usage}\n\n"));
    }
    frames.push("data: [DONE]\n\n".to_string());
    frames
}

// ---------------------------------------------------------------- Anthropic

fn anthropic_event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn anthropic_json(ctx: &Ctx, text: &str, calls: &[Call]) -> Value {
    let mut content = Vec::new();
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    for c in calls {
        let input = tool_input(&c.args);
        content.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
    }
    let stop = stop_reason(ctx.api, calls);
    json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": ctx.model,
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": ctx.prompt_tokens,
                  "output_tokens": completion_tokens(text, calls)},
    })
}

fn anthropic_frames(ctx: &Ctx, text: &str, calls: &[Call]) -> Vec<String> {
    let message = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": ctx.model,
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": ctx.prompt_tokens, "output_tokens": 1},
    });
    let mut frames = vec![
        anthropic_event(
            "message_start",
            &json!({"type": "message_start", "message": message}),
        ),
        anthropic_event("ping", &json!({"type": "ping"})),
    ];
    let mut block = |index: usize, start: Value, deltas: Vec<Value>| {
        let ev = json!({"type": "content_block_start", "index": index, "content_block": start});
        frames.push(anthropic_event("content_block_start", &ev));
        for delta in deltas {
            let ev = json!({"type": "content_block_delta", "index": index, "delta": delta});
            frames.push(anthropic_event("content_block_delta", &ev));
        }
        let ev = json!({"type": "content_block_stop", "index": index});
        frames.push(anthropic_event("content_block_stop", &ev));
    };
    let mut index = 0;
    if !text.is_empty() {
        let deltas = split(text, 2)
            .into_iter()
            .map(|p| json!({"type": "text_delta", "text": p}));
        block(index, json!({"type": "text", "text": ""}), deltas.collect());
        index += 1;
    }
    for c in calls {
        let start = json!({"type": "tool_use", "id": c.id, "name": c.name, "input": {}});
        let deltas = split(&c.args, 2)
            .into_iter()
            .map(|p| json!({"type": "input_json_delta", "partial_json": p}));
        block(index, start, deltas.collect());
        index += 1;
    }
    let stop = stop_reason(ctx.api, calls);
    let delta = json!({
        "type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
        "usage": {"output_tokens": completion_tokens(text, calls)},
    });
    frames.push(anthropic_event("message_delta", &delta));
    frames.push(anthropic_event(
        "message_stop",
        &json!({"type": "message_stop"}),
    ));
    frames
}
