//! LLM client tests against the fake provider: both wire protocols (`OpenAI` chat
//! completions and Anthropic messages), streamed and whole replies, the requests we
//! send, usage accounting and the classification of every kind of failure.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use az_os::config::{ModelSpec, Provider, Tier};
use az_os::engine::tools::Registry;
use az_os::llm::{
    ChatRequest, ChatResponse, ErrorCategory, LlmClient, LlmError, Message, Timeouts, ToolCall,
};
use serde_json::{Value, json};

use crate::common::fake_provider::{FakeProvider, Recorded, Reply};

const SYSTEM: &str = "You are az-os, a careful terminal agent. Follow the rules.";
const WIRES: [Provider; 2] = [Provider::Openai, Provider::Anthropic];

fn spec(provider: Provider, base_url: String) -> Arc<ModelSpec> {
    Arc::new(ModelSpec {
        name: "fake".into(),
        provider,
        model: "fake-model".into(),
        base_url,
        api_key_env: None,
        api_key: None,
        tier: Tier::Complex,
        input_usd_per_mtok: 1.0,
        output_usd_per_mtok: 2.0,
        quality: 0.5,
        max_output_tokens: 1024,
        requests_per_minute: None,
        tokens_per_minute: None,
        stream: true,
        tool_calls: az_os::config::ToolCalls::Auto,
        builtin: false,
    })
}

fn client_with(provider: Provider, base_url: String, stream_idle: Duration) -> LlmClient {
    client_limits(provider, base_url, stream_idle, Duration::from_secs(120))
}

fn client_limits(
    provider: Provider,
    base_url: String,
    stream_idle: Duration,
    request: Duration,
) -> LlmClient {
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        stream_idle,
        request,
    };
    let http =
        az_os::llm::http_client(timeouts).unwrap_or_else(|e| panic!("cannot build client: {e}"));
    LlmClient::new(
        http,
        spec(provider, base_url),
        Some("sk-test".into()),
        timeouts,
    )
}

fn client(provider: Provider, fake: &FakeProvider) -> LlmClient {
    client_with(provider, fake.base_url(), Duration::from_secs(30))
}

/// A simple one-message conversation.
fn task() -> Vec<Message> {
    vec![Message::User {
        text: "List the files in the workdir.".into(),
    }]
}

/// A conversation that already went through one tool call.
fn conversation_with_tool_result() -> Vec<Message> {
    vec![
        Message::User {
            text: "List the files in the workdir.".into(),
        },
        Message::Assistant {
            text: "Let me look.".into(),
            tool_calls: vec![ToolCall {
                id: "call_prev".into(),
                name: "execute_command".into(),
                arguments: r#"{"command":"ls"}"#.into(),
            }],
        },
        Message::ToolResult {
            call_id: "call_prev".into(),
            name: "execute_command".into(),
            content: "exit code: 0\na.txt\nb.txt".into(),
            is_error: false,
        },
    ]
}

/// Sends `messages` and returns the outcome and every text delta seen.
async fn chat(
    client: &LlmClient,
    messages: &[Message],
) -> (Result<ChatResponse, LlmError>, Vec<String>) {
    let tools = az_os::engine::tools::specs();
    let mut deltas = Vec::new();
    let req = ChatRequest {
        system: SYSTEM,
        messages,
        tools: &tools,
    };
    let res = client
        .chat(req, &mut |t: &str| deltas.push(t.to_owned()))
        .await;
    (res, deltas)
}

/// The error of a call that must fail.
async fn chat_err(client: &LlmClient) -> LlmError {
    match chat(client, &task()).await.0 {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => e,
    }
}

fn parse(args: &str) -> Value {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("arguments are not JSON ({e}): {args}"))
}

fn header<'a>(r: &'a Recorded, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn only_request(fake: &FakeProvider) -> Recorded {
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1, "expected one request, got {reqs:?}");
    reqs.into_iter()
        .next()
        .unwrap_or_else(|| panic!("no request"))
}

/// Usage the fake reports for a reply: a quarter of the request body's bytes in,
/// a quarter of the reply's text and arguments (plus one) out.
fn fake_usage(request: &Value, text: &str, args: &[&str]) -> (u64, u64) {
    let body_len = serde_json::to_string(request)
        .unwrap_or_else(|e| panic!("{e}"))
        .len();
    let out = text.len() + args.iter().map(|a| a.len()).sum::<usize>();
    ((body_len / 4) as u64, (out / 4 + 1) as u64)
}

const REPLY_TEXT: &str = "I will look at the directory first, then read main.";
const CALL_A: (&str, &str) = ("execute_command", r#"{"command":"ls -la","timeout_s":30}"#);
const CALL_B: (&str, &str) = ("read_file", r#"{"path":"src/main.rs","offset":1}"#);

fn tools_reply() -> Reply {
    Reply::Tools {
        text: REPLY_TEXT.into(),
        calls: [CALL_A, CALL_B]
            .iter()
            .map(|(n, a)| ((*n).to_owned(), (*a).to_owned()))
            .collect(),
    }
}

/// Checks a reply to [`tools_reply`], streamed or not.
fn check_tools_response(provider: Provider, resp: &ChatResponse, req: &Recorded) {
    assert_eq!(resp.text, REPLY_TEXT);
    assert_eq!(resp.tool_calls.len(), 2, "{:?}", resp.tool_calls);
    for (call, (name, args)) in resp.tool_calls.iter().zip([CALL_A, CALL_B]) {
        assert_eq!(call.name, name);
        assert_eq!(parse(&call.arguments), parse(args), "{provider:?}");
        let prefix = if provider == Provider::Openai {
            "call_"
        } else {
            "toolu_"
        };
        assert!(call.id.starts_with(prefix), "{call:?}");
    }
    assert_ne!(resp.tool_calls[0].id, resp.tool_calls[1].id);
    let stop = if provider == Provider::Openai {
        "tool_calls"
    } else {
        "tool_use"
    };
    assert_eq!(resp.stop_reason.as_deref(), Some(stop));
    assert!(!resp.usage.estimated, "{:?}", resp.usage);
    let (input, output) = fake_usage(&req.body, REPLY_TEXT, &[CALL_A.1, CALL_B.1]);
    assert_eq!(resp.usage.input_tokens, input, "{provider:?}");
    assert_eq!(resp.usage.output_tokens, output, "{provider:?}");
}

// ---------------------------------------------------------------- replies

#[tokio::test]
async fn streamed_reply_with_text_and_tool_calls_is_assembled() {
    for provider in WIRES {
        let fake = FakeProvider::start(vec![tools_reply()]);
        let client = client(provider, &fake);
        let (res, deltas) = chat(&client, &task()).await;
        let resp = res.unwrap_or_else(|e| panic!("{provider:?}: {e}"));
        let req = only_request(&fake);
        assert_eq!(req.body["stream"], true, "{provider:?}");
        check_tools_response(provider, &resp, &req);
        assert!(deltas.len() > 1, "{provider:?}: not streamed: {deltas:?}");
        assert_eq!(deltas.concat(), resp.text, "{provider:?}");
    }
}

#[tokio::test]
async fn whole_json_reply_gives_the_same_result() {
    for provider in WIRES {
        let fake = FakeProvider::start_json_only(vec![tools_reply()]);
        let client = client(provider, &fake);
        let (res, deltas) = chat(&client, &task()).await;
        let resp = res.unwrap_or_else(|e| panic!("{provider:?}: {e}"));
        let req = only_request(&fake);
        check_tools_response(provider, &resp, &req);
        assert_eq!(deltas.concat(), REPLY_TEXT, "{provider:?}");
    }
}

#[tokio::test]
async fn plain_text_reply_has_no_tool_calls() {
    for provider in WIRES {
        for fake in [
            FakeProvider::start(vec![Reply::Text("All done: 2 files.".into())]),
            FakeProvider::start_json_only(vec![Reply::Text("All done: 2 files.".into())]),
        ] {
            let (res, deltas) = chat(&client(provider, &fake), &task()).await;
            let resp = res.unwrap_or_else(|e| panic!("{provider:?}: {e}"));
            assert_eq!(resp.text, "All done: 2 files.");
            assert_eq!(deltas.concat(), resp.text);
            assert!(resp.tool_calls.is_empty(), "{:?}", resp.tool_calls);
            let stop = if provider == Provider::Openai {
                "stop"
            } else {
                "end_turn"
            };
            assert_eq!(resp.stop_reason.as_deref(), Some(stop));
            assert!(!resp.usage.estimated);
        }
    }
}

#[tokio::test]
async fn unicode_text_and_arguments_survive_streaming() {
    let text = "Résumé: 日本語 ✓ — مرحبا 👍🏽 e\u{301}";
    let args = r#"{"path":"données/файл.txt","content":"naïve 🚀\n\"quoted\""}"#;
    for provider in WIRES {
        let fake = FakeProvider::start(vec![Reply::Tools {
            text: text.into(),
            calls: vec![("write_file".into(), args.into())],
        }]);
        let (res, deltas) = chat(&client(provider, &fake), &task()).await;
        let resp = res.unwrap_or_else(|e| panic!("{provider:?}: {e}"));
        assert_eq!(resp.text, text, "{provider:?}");
        assert_eq!(deltas.concat(), text, "{provider:?}");
        assert_eq!(parse(&resp.tool_calls[0].arguments), parse(args));
    }
}

// ---------------------------------------------------------------- requests

#[tokio::test]
async fn openai_request_has_auth_model_tools_and_encoded_conversation() {
    let fake = FakeProvider::start(vec![Reply::Text("ok".into())]);
    let client = client(Provider::Openai, &fake);
    chat(&client, &conversation_with_tool_result())
        .await
        .0
        .unwrap();
    let req = only_request(&fake);
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(header(&req, "authorization"), Some("Bearer sk-test"));
    assert_eq!(header(&req, "x-api-key"), None);
    let body = &req.body;
    assert_eq!(body["model"], "fake-model");
    assert_eq!(body["max_tokens"], 1024);
    assert_eq!(body["stream_options"]["include_usage"], true);

    let tools = body["tools"].as_array().unwrap();
    let names: BTreeSet<&str> = tools
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, Registry::builtin().names().into_iter().collect());
    for t in tools {
        assert_eq!(t["type"], "function");
        assert_eq!(t["function"]["parameters"]["type"], "object", "{t}");
    }

    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    assert_eq!(msgs[0], json!({"role": "system", "content": SYSTEM}));
    assert_eq!(
        msgs[1],
        json!({"role": "user", "content": "List the files in the workdir."})
    );
    assert_eq!(msgs[2]["role"], "assistant");
    assert_eq!(msgs[2]["content"], "Let me look.");
    let calls = msgs[2]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["id"], "call_prev");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "execute_command");
    // OpenAI wants the arguments as a JSON string.
    assert_eq!(calls[0]["function"]["arguments"], r#"{"command":"ls"}"#);
    assert_eq!(
        msgs[3],
        json!({"role": "tool", "tool_call_id": "call_prev", "content": "exit code: 0\na.txt\nb.txt"})
    );
    assert!(
        msgs.iter().skip(1).all(|m| m["role"] != "system"),
        "system prompt repeated: {msgs:?}"
    );
}

#[tokio::test]
async fn anthropic_request_has_key_version_system_tools_and_encoded_conversation() {
    let fake = FakeProvider::start(vec![Reply::Text("ok".into())]);
    let client = client(Provider::Anthropic, &fake);
    chat(&client, &conversation_with_tool_result())
        .await
        .0
        .unwrap();
    let req = only_request(&fake);
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(header(&req, "x-api-key"), Some("sk-test"));
    assert_eq!(header(&req, "anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        header(&req, "authorization"),
        None,
        "the key must not also go out as a bearer token"
    );
    let body = &req.body;
    assert_eq!(body["model"], "fake-model");
    assert_eq!(body["max_tokens"], 1024);
    assert_eq!(body["system"], SYSTEM);

    let tools = body["tools"].as_array().unwrap();
    let names: BTreeSet<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, Registry::builtin().names().into_iter().collect());
    for t in tools {
        assert_eq!(t["input_schema"]["type"], "object", "{t}");
        assert!(t["description"].as_str().is_some_and(|d| !d.is_empty()));
    }

    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(
        msgs.iter().all(|m| m["role"] != "system"),
        "system prompt must be top-level only: {msgs:?}"
    );
    assert_eq!(msgs[0]["role"], "user");
    // Text alone goes as a plain string (proxies in front of some servers need it).
    assert_eq!(msgs[0]["content"], "List the files in the workdir.");
    assert_eq!(msgs[1]["role"], "assistant");
    assert_eq!(
        msgs[1]["content"],
        json!([
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "call_prev", "name": "execute_command",
             "input": {"command": "ls"}},
        ])
    );
    assert_eq!(msgs[2]["role"], "user");
    assert_eq!(
        msgs[2]["content"],
        json!([{"type": "tool_result", "tool_use_id": "call_prev",
                "content": "exit code: 0\na.txt\nb.txt", "is_error": false}])
    );
}

#[tokio::test]
async fn tool_call_from_a_reply_round_trips_into_the_next_request() {
    for provider in WIRES {
        let fake = FakeProvider::start(vec![tools_reply(), Reply::Text("done".into())]);
        let client = client(provider, &fake);
        let mut convo = task();
        let first = chat(&client, &convo).await.0.unwrap();
        convo.push(Message::Assistant {
            text: first.text.clone(),
            tool_calls: first.tool_calls.clone(),
        });
        for c in &first.tool_calls {
            convo.push(Message::ToolResult {
                call_id: c.id.clone(),
                name: c.name.clone(),
                content: format!("result of {}", c.name),
                is_error: c.name == "read_file",
            });
        }
        chat(&client, &convo).await.0.unwrap();
        let reqs = fake.requests();
        assert_eq!(reqs.len(), 2);
        let msgs = reqs[1].body["messages"].as_array().unwrap();
        let ids: Vec<&str> = first.tool_calls.iter().map(|c| c.id.as_str()).collect();
        if provider == Provider::Openai {
            let tool_msgs: Vec<&Value> = msgs.iter().filter(|m| m["role"] == "tool").collect();
            let got: Vec<&str> = tool_msgs
                .iter()
                .map(|m| m["tool_call_id"].as_str().unwrap())
                .collect();
            assert_eq!(got, ids);
            let sent_args = &msgs[2]["tool_calls"][0]["function"]["arguments"];
            assert_eq!(parse(sent_args.as_str().unwrap()), parse(CALL_A.1));
        } else {
            // Both results are merged into one user turn, in call order.
            let last = msgs.last().unwrap();
            assert_eq!(last["role"], "user");
            let blocks = last["content"].as_array().unwrap();
            let got: Vec<&str> = blocks
                .iter()
                .map(|b| b["tool_use_id"].as_str().unwrap())
                .collect();
            assert_eq!(got, ids);
            assert_eq!(blocks[0]["is_error"], false);
            assert_eq!(blocks[1]["is_error"], true);
            assert_eq!(msgs[1]["content"][1]["input"], parse(CALL_A.1));
        }
    }
}

// ---------------------------------------------------------------- usage

#[tokio::test]
async fn usage_is_estimated_when_the_provider_reports_none() {
    // Gemini's endpoint is not asked for stream usage, so the fake sends none.
    let fake = FakeProvider::start(vec![Reply::Text("twelve chars".into())]);
    let (res, _) = chat(&client(Provider::Gemini, &fake), &task()).await;
    let resp = res.unwrap();
    assert!(
        fake.requests()[0].body.get("stream_options").is_none(),
        "{}",
        fake.requests()[0].body
    );
    assert_eq!(resp.text, "twelve chars");
    assert!(resp.usage.estimated, "{:?}", resp.usage);
    // Twelve characters of prose, at three a token.
    assert_eq!(resp.usage.output_tokens, 4);
    // The system prompt and the tool schemas alone are well over 100 tokens.
    assert!(resp.usage.input_tokens > 100, "{:?}", resp.usage);

    // Whole replies without a usage object, on both wires.
    let openai = json!({"choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "twelve chars"}}]});
    let anthropic = json!({"type": "message", "role": "assistant", "stop_reason": "end_turn",
        "content": [{"type": "text", "text": "twelve chars"}]});
    for (provider, body) in [(Provider::Openai, openai), (Provider::Anthropic, anthropic)] {
        let fake = FakeProvider::start_json_only(vec![Reply::Raw(body.to_string())]);
        let (res, _) = chat(&client(provider, &fake), &task()).await;
        let resp = res.unwrap_or_else(|e| panic!("{provider:?}: {e}"));
        assert_eq!(resp.text, "twelve chars");
        assert!(resp.usage.estimated, "{provider:?}: {:?}", resp.usage);
        // Twelve characters of prose, at three a token.
        assert_eq!(resp.usage.output_tokens, 4);
        assert!(resp.usage.input_tokens > 100, "{:?}", resp.usage);
    }
}

// ---------------------------------------------------------------- failures

fn status(code: u16, retry_after: Option<u64>) -> Reply {
    Reply::Status {
        code,
        retry_after,
        message: format!("fake failure {code}"),
    }
}

#[tokio::test]
async fn rate_limit_is_retryable_and_carries_retry_after() {
    for provider in WIRES {
        let fake = FakeProvider::start(vec![status(429, Some(2))]);
        let err = chat_err(&client(provider, &fake)).await;
        assert_eq!(
            err.category,
            ErrorCategory::RateLimit,
            "{provider:?}: {err}"
        );
        assert_eq!(err.retry_after, Some(Duration::from_secs(2)));
        assert_eq!(err.status, Some(429));
        assert!(err.retryable());
        assert!(err.message.contains("fake failure 429"), "{err}");
    }
}

#[tokio::test]
async fn http_error_statuses_are_classified() {
    let cases = [
        (500, ErrorCategory::Server, true),
        (503, ErrorCategory::Server, true),
        (529, ErrorCategory::Server, true),
        (401, ErrorCategory::Auth, false),
        (404, ErrorCategory::NotFound, false),
        (400, ErrorCategory::Validation, false),
    ];
    for provider in WIRES {
        for (code, category, retryable) in cases {
            let fake = FakeProvider::start(vec![status(code, None)]);
            let err = chat_err(&client(provider, &fake)).await;
            assert_eq!(err.category, category, "{provider:?} {code}: {err}");
            assert_eq!(err.retryable(), retryable, "{provider:?} {code}");
            assert_eq!(err.status, Some(code));
            assert_eq!(err.retry_after, None);
            assert!(
                err.message.contains(&format!("fake failure {code}")),
                "{err}"
            );
            assert!(!err.message.contains("sk-test"), "key leaked: {err}");
        }
    }
}

#[tokio::test]
async fn dropped_stream_is_a_network_error() {
    for provider in WIRES {
        let fake = FakeProvider::start(vec![Reply::DropStream("partial answer".into())]);
        let err = chat_err(&client(provider, &fake)).await;
        assert_eq!(err.category, ErrorCategory::Network, "{provider:?}: {err}");
        assert!(err.retryable());
    }
}

#[tokio::test]
async fn dropped_whole_body_is_a_network_error() {
    for provider in WIRES {
        let fake = FakeProvider::start_json_only(vec![Reply::DropStream("partial".into())]);
        let err = chat_err(&client(provider, &fake)).await;
        assert_eq!(err.category, ErrorCategory::Network, "{provider:?}: {err}");
    }
}

#[tokio::test]
async fn invalid_json_body_is_malformed() {
    for provider in WIRES {
        let fake = FakeProvider::start_json_only(vec![Reply::Raw("{not json".into())]);
        let err = chat_err(&client(provider, &fake)).await;
        assert_eq!(
            err.category,
            ErrorCategory::Malformed,
            "{provider:?}: {err}"
        );
        assert!(!err.retryable());
    }
}

#[tokio::test]
async fn json_without_a_reply_is_malformed() {
    for provider in WIRES {
        let fake = FakeProvider::start_json_only(vec![Reply::Raw(r#"{"id":"x"}"#.into())]);
        let err = chat_err(&client(provider, &fake)).await;
        assert_eq!(
            err.category,
            ErrorCategory::Malformed,
            "{provider:?}: {err}"
        );
    }
}

#[tokio::test]
async fn invalid_stream_event_is_malformed() {
    for provider in WIRES {
        let fake = FakeProvider::start(vec![Reply::MalformedStream("{broken".into())]);
        let err = chat_err(&client(provider, &fake)).await;
        assert_eq!(
            err.category,
            ErrorCategory::Malformed,
            "{provider:?}: {err}"
        );
    }
}

#[tokio::test]
async fn error_event_inside_a_stream_is_classified() {
    let openai = json!({"error": {"message": "upstream exploded", "type": "server_error"}});
    let anthropic = json!({"type": "error",
        "error": {"type": "overloaded_error", "message": "upstream exploded"}});
    for (provider, event) in [(Provider::Openai, openai), (Provider::Anthropic, anthropic)] {
        let fake = FakeProvider::start(vec![Reply::MalformedStream(event.to_string())]);
        let err = chat_err(&client(provider, &fake)).await;
        assert_eq!(err.category, ErrorCategory::Server, "{provider:?}: {err}");
        assert!(err.message.contains("upstream exploded"), "{err}");
    }
}

#[tokio::test]
async fn slow_answer_times_out() {
    for provider in WIRES {
        let fake = FakeProvider::start(vec![Reply::Delay(
            Duration::from_secs(2),
            Box::new(Reply::Text("late".into())),
        )]);
        let client = client_with(provider, fake.base_url(), Duration::from_millis(300));
        let err = chat_err(&client).await;
        assert_eq!(err.category, ErrorCategory::Timeout, "{provider:?}: {err}");
        assert!(err.retryable());
    }
}

/// A server that sends the head of a streamed reply and one event, then says
/// nothing more until the returned sender is dropped.
fn stalling_server(provider: Provider) -> (String, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (release, wait) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().unwrap_or_else(|e| panic!("{e}")));
        let mut line = String::new();
        // Headers only; the body is never read, the client does not wait for that.
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let event = if provider == Provider::Openai {
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n".to_owned()
        } else {
            let start = json!({"type": "message_start", "message": {"usage": {"input_tokens": 1}}});
            let delta = json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": "Hel"}});
            format!("event: message_start\ndata: {start}\n\ndata: {delta}\n\n")
        };
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                    Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        let _ = write!(stream, "{head}{:x}\r\n{event}\r\n", event.len());
        let _ = stream.flush();
        // Stay silent, connection open, until the test is over.
        let _ = wait.recv();
    });
    (format!("http://{addr}/v1"), release)
}

#[tokio::test]
async fn silence_inside_a_stream_times_out() {
    for provider in WIRES {
        let (base_url, _release) = stalling_server(provider);
        let client = client_with(provider, base_url, Duration::from_millis(300));
        let (res, deltas) = chat(&client, &task()).await;
        let err = res
            .err()
            .unwrap_or_else(|| panic!("{provider:?}: expected a timeout"));
        assert_eq!(err.category, ErrorCategory::Timeout, "{provider:?}: {err}");
        assert!(err.retryable());
        assert_eq!(deltas.concat(), "Hel", "{provider:?}");
    }
}

// ------------------------------------------------- keep-alives, deadline, size caps

/// How long any of the tests below may take before it counts as hung: far above the
/// limits they configure, so a slow machine cannot fail them, while a client that
/// never returns does.
const HUNG: Duration = Duration::from_secs(30);

/// A one-connection HTTP server on 127.0.0.1:0: reads the request (head and body),
/// writes `head` (status line and headers, without the blank line), then runs `body`
/// on the socket until it returns, fails (the client hung up), or the test ends.
/// Returns the base URL.
fn raw_server(
    head: &'static str,
    body: impl FnOnce(&mut TcpStream) -> io::Result<()> + Send + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().unwrap_or_else(|e| panic!("{e}")));
        let mut line = String::new();
        let mut length = 0;
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
            line.clear();
        }
        let mut request = vec![0; length];
        if reader.read_exact(&mut request).is_err() {
            return;
        }
        if write!(stream, "{head}\r\nConnection: close\r\n\r\n").is_ok() {
            let _ = body(&mut stream);
        }
    });
    format!("http://{addr}/v1")
}

const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                        Transfer-Encoding: chunked";
const JSON_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Transfer-Encoding: chunked";

/// Writes `bytes` as one HTTP chunk.
fn chunk(out: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    write!(out, "{:x}\r\n", bytes.len())?;
    out.write_all(bytes)?;
    out.write_all(b"\r\n")?;
    out.flush()
}

/// Raises its flag when dropped, so a server thread that is still writing ends with
/// the test even if the client never hung up.
struct Stop(Arc<AtomicBool>);

impl Stop {
    fn new() -> Self {
        Self(Arc::new(AtomicBool::new(false)))
    }

    fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Sends `: keep-alive` every 100 ms, and `events` (one each `every` keep-alives)
/// in between, then only keep-alives until the client hangs up or `stop` is raised.
fn keep_alive_body(
    events: Vec<String>,
    every: usize,
    stop: Arc<AtomicBool>,
) -> impl FnOnce(&mut TcpStream) -> io::Result<()> + Send + 'static {
    move |out| {
        let mut events = events.into_iter();
        for tick in 1.. {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            chunk(out, b": keep-alive\n\n")?;
            if tick % every == 0
                && let Some(e) = events.next()
            {
                chunk(out, e.as_bytes())?;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

/// The events of a streamed reply of `pieces` of text, for `provider`'s protocol;
/// with `finish`, it ends the reply.
fn reply_events(provider: Provider, pieces: &[&str], finish: bool) -> Vec<String> {
    let ev = |v: Value| format!("data: {v}\n\n");
    let mut out = Vec::new();
    if provider == Provider::Openai {
        for p in pieces {
            out.push(ev(
                json!({"choices": [{"index": 0, "delta": {"content": p}}]}),
            ));
        }
        if finish {
            out.push(ev(
                json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            ));
            out.push("data: [DONE]\n\n".to_owned());
        }
    } else {
        out.push(ev(
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 1}}}),
        ));
        out.push(ev(json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}})));
        for p in pieces {
            out.push(ev(json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": p}})));
        }
        if finish {
            out.push(ev(json!({"type": "message_delta",
                "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}})));
            out.push(ev(json!({"type": "message_stop"})));
        }
    }
    out
}

/// The outcome of one call, or a panic if it does not return within [`HUNG`].
async fn chat_bounded(client: &LlmClient) -> (Result<ChatResponse, LlmError>, Vec<String>) {
    tokio::time::timeout(HUNG, chat(client, &task()))
        .await
        .unwrap_or_else(|_| panic!("the call did not return within {HUNG:?}"))
}

/// Checks that `res` is a retryable timeout naming `defaults.SETTING`; returns it.
fn assert_timeout(
    provider: Provider,
    res: Result<ChatResponse, LlmError>,
    setting: &str,
) -> LlmError {
    let err = res
        .err()
        .unwrap_or_else(|| panic!("{provider:?}: expected a timeout"));
    assert_eq!(err.category, ErrorCategory::Timeout, "{provider:?}: {err}");
    assert!(err.retryable());
    assert!(
        err.message.contains(&format!("(defaults.{setting})")),
        "{provider:?}: {err}"
    );
    err
}

#[tokio::test]
async fn keep_alives_alone_do_not_hold_off_the_idle_timeout() {
    for provider in WIRES {
        let stop = Stop::new();
        let base_url = raw_server(SSE_HEAD, keep_alive_body(Vec::new(), 1, stop.flag()));
        let client = client_limits(
            provider,
            base_url,
            Duration::from_secs(1),
            Duration::from_secs(120),
        );
        let (res, _) = chat_bounded(&client).await;
        assert_timeout(provider, res, "stream_idle_timeout_s");
    }
}

#[tokio::test]
async fn keep_alives_end_at_the_request_deadline() {
    for provider in WIRES {
        let stop = Stop::new();
        let base_url = raw_server(SSE_HEAD, keep_alive_body(Vec::new(), 1, stop.flag()));
        let client = client_limits(
            provider,
            base_url,
            Duration::from_secs(120),
            Duration::from_secs(1),
        );
        let (res, _) = chat_bounded(&client).await;
        let err = assert_timeout(provider, res, "request_timeout_s");
        assert!(
            err.message.contains("the reply took longer than 1s"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn steady_data_still_ends_at_the_request_deadline() {
    for provider in WIRES {
        let stop = Stop::new();
        let pieces = vec!["tick"; 10_000];
        let events = reply_events(provider, &pieces, false);
        let base_url = raw_server(SSE_HEAD, keep_alive_body(events, 1, stop.flag()));
        let client = client_limits(
            provider,
            base_url,
            Duration::from_secs(120),
            Duration::from_secs(1),
        );
        let (res, deltas) = chat_bounded(&client).await;
        assert_timeout(provider, res, "request_timeout_s");
        assert!(deltas.iter().all(|d| d == "tick"), "{deltas:?}");
    }
}

#[tokio::test]
async fn slow_data_between_keep_alives_completes() {
    for provider in WIRES {
        let stop = Stop::new();
        let pieces = ["Hel", "lo, ", "wor", "ld"];
        let events = reply_events(provider, &pieces, true);
        let base_url = raw_server(SSE_HEAD, keep_alive_body(events, 2, stop.flag()));
        let client = client_limits(
            provider,
            base_url,
            Duration::from_secs(20),
            Duration::from_secs(25),
        );
        let (res, deltas) = chat_bounded(&client).await;
        let resp = res.unwrap_or_else(|e| panic!("{provider:?}: {e}"));
        assert_eq!(resp.text, "Hello, world", "{provider:?}");
        assert_eq!(deltas, pieces, "{provider:?}");
    }
}

#[tokio::test]
async fn headers_that_never_come_end_at_the_request_deadline() {
    for provider in WIRES {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        // Accepted by the kernel's backlog, never answered.
        let client = client_limits(
            provider,
            base_url,
            Duration::from_secs(120),
            Duration::from_secs(1),
        );
        let (res, _) = chat_bounded(&client).await;
        assert_timeout(provider, res, "request_timeout_s");
        drop(listener);
    }
}

#[tokio::test]
async fn a_dribbled_whole_body_ends_at_the_request_deadline() {
    for provider in WIRES {
        let stop = Stop::new();
        let flag = stop.flag();
        let base_url = raw_server(JSON_HEAD, move |out| {
            chunk(out, b"{\"choices\": [")?;
            while !flag.load(Ordering::SeqCst) {
                chunk(out, b" ")?;
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        });
        let client = client_limits(
            provider,
            base_url,
            Duration::from_secs(120),
            Duration::from_secs(1),
        );
        let (res, _) = chat_bounded(&client).await;
        assert_timeout(provider, res, "request_timeout_s");
    }
}

/// Sends `lead`, then `total` bytes of `x` in 64 KiB chunks, with no end.
fn flood(
    lead: &'static [u8],
    total: usize,
) -> impl FnOnce(&mut TcpStream) -> io::Result<()> + Send + 'static {
    move |out| {
        chunk(out, lead)?;
        let block = vec![b'x'; 64 << 10];
        for _ in 0..total / block.len() {
            chunk(out, &block)?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_huge_event_without_an_end_is_malformed() {
    for provider in WIRES {
        let base_url = raw_server(SSE_HEAD, flood(b"data: {\"text\": \"", 20 << 20));
        let client = client_limits(
            provider,
            base_url,
            Duration::from_secs(20),
            Duration::from_secs(25),
        );
        let (res, _) = chat_bounded(&client).await;
        let err = res
            .err()
            .unwrap_or_else(|| panic!("{provider:?}: expected an error"));
        assert_eq!(
            err.category,
            ErrorCategory::Malformed,
            "{provider:?}: {err}"
        );
        assert!(!err.retryable());
        assert!(err.message.contains("event over the 8 MiB limit"), "{err}");
    }
}

#[tokio::test]
async fn a_huge_whole_body_is_malformed() {
    for provider in WIRES {
        // Announced up front: refused before reading.
        let base_url = raw_server(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40000000",
            |_| Ok(()),
        );
        // Chunked, so only counting tells.
        let chunked = raw_server(JSON_HEAD, flood(b"{\"x\": \"", 40 << 20));
        for url in [base_url, chunked] {
            let client = client_limits(
                provider,
                url,
                Duration::from_secs(20),
                Duration::from_secs(25),
            );
            let (res, _) = chat_bounded(&client).await;
            let err = res
                .err()
                .unwrap_or_else(|| panic!("{provider:?}: expected an error"));
            assert_eq!(
                err.category,
                ErrorCategory::Malformed,
                "{provider:?}: {err}"
            );
            assert!(err.message.contains("body over the 32 MiB limit"), "{err}");
        }
    }
}

#[tokio::test]
async fn connection_refused_is_a_network_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for provider in WIRES {
        let client = client_with(
            provider,
            format!("http://127.0.0.1:{port}/v1"),
            Duration::from_secs(5),
        );
        let err = chat_err(&client).await;
        assert_eq!(err.category, ErrorCategory::Network, "{provider:?}: {err}");
        assert!(err.retryable());
        assert_eq!(err.status, None);
    }
}

#[tokio::test]
async fn exhausted_script_is_a_server_error_and_every_call_is_one_request() {
    for provider in WIRES {
        let fake = FakeProvider::start(vec![Reply::Text("one".into())]);
        let client = client(provider, &fake);
        assert_eq!(chat(&client, &task()).await.0.unwrap().text, "one");
        let err = chat_err(&client).await;
        assert_eq!(err.category, ErrorCategory::Server, "{provider:?}: {err}");
        // The client does not retry on its own: that is the engine's decision.
        assert_eq!(fake.chat_count(), 2);
    }
}
