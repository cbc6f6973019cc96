//! Replays real servers' answers captured in `tests/fixtures/real-servers/`: a local HTTP
//! server on 127.0.0.1:0 that answers the Nth request with the Nth response, byte for
//! byte as captured (body, content type), then closes the connection as the real server
//! did. Requests are recorded. GET requests (health probes) get an empty model list
//! unless scripted.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// One captured answer.
#[derive(Clone, Debug)]
pub struct Captured {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Captured {
    pub fn json(body: &str) -> Self {
        Self {
            status: 200,
            content_type: "application/json".into(),
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn sse(body: &str) -> Self {
        Self {
            status: 200,
            content_type: "text/event-stream; charset=utf-8".into(),
            body: body.as_bytes().to_vec(),
        }
    }
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real-servers")
        .join(name)
}

/// The text of a capture.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The responses in a capture, in order. `.log` files hold `=> request` / `<= status`
/// sections; `.out` files a raw response (with or without its head); `.json` a body.
pub fn responses(name: &str) -> Vec<Captured> {
    let text = fixture(name);
    let ext = std::path::Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("");
    if ext == "json" {
        return vec![Captured::json(&text)];
    }
    if ext == "out" {
        return vec![match text.strip_prefix("HTTP/1.1 ") {
            Some(rest) => {
                let (head, body) = rest.split_once("\n\n").unwrap_or((rest, ""));
                head_and_body(head, body)
            }
            None => Captured::sse(&text),
        }];
    }
    let mut out = Vec::new();
    for section in text.split("\n<= ").skip(1) {
        let Some((head, rest)) = section.split_once("\n\n") else {
            continue;
        };
        if !head.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        // The body runs to the next request or the end marker.
        let body = rest.split("\n=> ").next().unwrap_or("");
        out.push(head_and_body(head, body));
    }
    out
}

fn head_and_body(head: &str, body: &str) -> Captured {
    let status = head
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| "application/json".into());
    Captured {
        status,
        content_type,
        body: body.as_bytes().to_vec(),
    }
}

/// A request the replay server got: method, path and JSON body.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: serde_json::Value,
}

pub struct Replay {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Replay {
    /// Answers the POSTs in order with `script`; a POST past its end gets a 500.
    pub fn start(script: Vec<Captured>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.into_iter()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (script, log) = (script.clone(), log.clone());
                std::thread::spawn(move || serve(&stream, &script, &log));
            }
        });
        Self { addr, seen }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

type Script = Mutex<std::vec::IntoIter<Captured>>;

fn serve(stream: &TcpStream, script: &Script, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Seen {
            method: method.clone(),
            path: path.clone(),
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        });
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let system = json["system"]
        .as_str()
        .or_else(|| json["messages"][0]["content"].as_str())
        .unwrap_or_default();
    let answer = if system.starts_with("You distil lessons") {
        // A task's lessons request: not part of any capture; nothing to learn.
        Some(if path.ends_with("/messages") {
            Captured::json(
                r#"{"type":"message","role":"assistant","content":[{"type":"text","text":"{\"lessons\": []}"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#,
            )
        } else {
            Captured::json(
                r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"{\"lessons\": []}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#,
            )
        })
    } else if method == "POST" {
        script.lock().unwrap_or_else(PoisonError::into_inner).next()
    } else {
        Some(Captured::json(r#"{"object":"list","data":[]}"#))
    }
    .unwrap_or(Captured {
        status: 500,
        content_type: "application/json".into(),
        body: br#"{"error":{"message":"the replay script has ended"}}"#.to_vec(),
    });
    let mut out = stream;
    let head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nConnection: close\r\n\r\n",
        answer.status, answer.content_type
    );
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&answer.body);
    let _ = out.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}
