//! What real third-party servers sent (llama.cpp's server, llama-cpp-python, LiteLLM),
//! replayed byte for byte from `tests/fixtures/real-servers/`: each way they differ from
//! the reference servers, at the client and through the whole binary.

use std::sync::Arc;
use std::time::Duration;

use az_os::config::{ModelSpec, Provider, Tier, ToolCalls};
use az_os::llm::{
    ChatRequest, ChatResponse, ErrorCategory, LlmClient, LlmError, Message, Timeouts,
};
use serde_json::Value;

use crate::common::replay::{Replay, responses};
use crate::common::{TestEnv, json_lines, of_type};

fn client(provider: Provider, base_url: String, stream: bool) -> LlmClient {
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        stream_idle: Duration::from_secs(30),
        request: Duration::from_secs(60),
    };
    let spec = ModelSpec {
        name: "qwen".into(),
        provider,
        model: "qwen".into(),
        base_url,
        api_key_env: None,
        api_key: None,
        tier: Tier::Simple,
        input_usd_per_mtok: 0.0,
        output_usd_per_mtok: 0.0,
        quality: 0.5,
        max_output_tokens: 1024,
        requests_per_minute: None,
        tokens_per_minute: None,
        stream,
        tool_calls: ToolCalls::Auto,
        builtin: false,
    };
    let http = az_os::llm::http_client(timeouts).unwrap_or_else(|e| panic!("{e}"));
    LlmClient::new(http, Arc::new(spec), Some("dummy".into()), timeouts)
}

async fn ask(client: &LlmClient) -> Result<ChatResponse, LlmError> {
    let tools = az_os::engine::tools::specs();
    let messages = [Message::User {
        text: "count the lines of data.csv and write the number to count.txt".into(),
    }];
    let req = ChatRequest {
        system: "You are az-os.",
        messages: &messages,
        tools: &tools,
    };
    client.chat(req, &mut |_| {}).await
}

#[tokio::test]
async fn a_done_without_a_finish_reason_is_a_cut_stream_and_retryable() {
    for (capture, index) in [
        ("llamacpp-jobs2-interrupted.log", 0),
        ("llamacpp-interrupted-by-health-probe.log", 0),
    ] {
        let replay = Replay::start(vec![responses(capture)[index].clone()]);
        let e = ask(&client(Provider::Openai, replay.base_url(), true))
            .await
            .unwrap_err();
        assert_eq!(e.category, ErrorCategory::Network, "{capture}: {e}");
        assert!(e.retryable(), "{capture}");
        assert!(e.to_string().contains("no finish reason"), "{capture}: {e}");
    }
}

#[tokio::test]
async fn a_stream_closed_after_pings_is_a_transport_fault() {
    let replay = Replay::start(responses("llamacpp-cfc-tool_choice-auto-stream.out"));
    let e = ask(&client(Provider::Openai, replay.base_url(), true))
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
}

#[tokio::test]
async fn tools_come_back_without_streaming_and_tool_choice_is_sent() {
    let replay = Replay::start(responses("llamacpp-cfc-tool_choice-auto-nostream.json"));
    let r = ask(&client(Provider::Openai, replay.base_url(), false))
        .await
        .unwrap();
    assert_eq!(r.tool_calls.len(), 1);
    assert_eq!(r.tool_calls[0].name, "execute_command");
    assert_eq!(r.usage.input_tokens, 209);
    let body = &replay.seen()[0].body;
    assert_eq!(body["stream"], false);
    assert_eq!(body["tool_choice"], "auto");
    assert!(body.get("stream_options").is_none(), "{body}");
}

#[tokio::test]
async fn anthropic_usage_is_taken_from_message_delta() {
    let replay = Replay::start(responses("litellm-anthropic-usage-in-message_delta.log"));
    let r = ask(&client(Provider::Anthropic, replay.base_url(), true))
        .await
        .unwrap();
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (608, 37));
    assert!(!r.usage.estimated);
    // Text-only content goes as a plain string, which servers behind proxies can read.
    let body = &replay.seen()[0].body;
    assert!(body["messages"][0]["content"].is_string(), "{body}");
}

#[tokio::test]
async fn an_empty_reply_with_no_tokens_is_a_failure_upstream() {
    let replay = Replay::start(responses("litellm-anthropic-empty-on-upstream-failure.log"));
    let e = ask(&client(Provider::Anthropic, replay.base_url(), true))
        .await
        .unwrap_err();
    assert_eq!(e.category, ErrorCategory::Server, "{e}");
    assert!(e.retryable());
}

#[tokio::test]
async fn a_reply_cut_at_the_token_limit_says_so() {
    let replay = Replay::start(responses("llama-server-finish_reason-length.out"));
    let r = ask(&client(Provider::Openai, replay.base_url(), true))
        .await
        .unwrap();
    assert_eq!(r.stop_reason.as_deref(), Some("length"));
    assert_eq!(r.usage.output_tokens, 1024);
}

/// A batch run against a replay of `script`; its events and exit code.
fn batch(env: &TestEnv, replay: &Replay, extra: &str, task: &str) -> (Vec<Value>, i32) {
    std::fs::write(
        env.home().join("config.toml"),
        format!(
            "{extra}\n[[models]]\nname = \"qwen\"\nprovider = \"openai\"\nmodel = \"qwen\"\n\
             base_url = \"{}\"\napi_key_env = \"AZ_OS_TEST_KEY\"\ntier = \"complex\"\n",
            replay.base_url()
        ),
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", task])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    (json_lines(&out.stdout), out.status.code().unwrap_or(-1))
}

#[test]
fn a_cut_stream_is_retried_and_the_task_goes_on() {
    let env = TestEnv::new();
    let cut = responses("llamacpp-jobs2-interrupted.log")[0].clone();
    let done = crate::common::replay::Captured::json(
        r#"{"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"391"}}],"usage":{"prompt_tokens":500,"completion_tokens":2}}"#,
    );
    let replay = Replay::start(vec![cut, done]);
    let (events, code) = batch(&env, &replay, "", "what is 17*23?");
    assert_eq!(code, 0, "{events:?}");
    let retry = of_type(&events, "retry");
    assert_eq!(retry.len(), 1, "{events:?}");
    assert_eq!(retry[0]["category"], "network");
    assert_eq!(of_type(&events, "task_finished")[0]["result"], "391");
}

#[test]
fn the_wire_shows_with_vv_without_credentials_and_batch_runs_log_to_the_home() {
    let env = TestEnv::new();
    let answer = responses("llamacpp-cfc-tool_choice-auto-nostream.json").remove(0);
    let replay = Replay::start(vec![answer.clone(), answer]);
    std::fs::write(
        env.home().join("config.toml"),
        format!(
            "[[models]]\nname = \"qwen\"\nprovider = \"openai\"\nmodel = \"qwen\"\n\
             base_url = \"{}\"\napi_key_env = \"AZ_OS_TEST_KEY\"\nstream = false\n",
            replay.base_url()
        ),
    )
    .unwrap();
    for (flag, wants, absent) in [
        (
            "-vv",
            &[
                "→ POST",
                "stream=false",
                "tool_choice=\"auto\"",
                "← 200",
                "reply from qwen",
            ][..],
            &["→ body"][..],
        ),
        (
            "-vvv",
            &["→ body", "← body", "\"tool_choice\":\"auto\""][..],
            &[][..],
        ),
    ] {
        let out = env
            .cmd()
            .args(["--batch", flag, "run", "--max-turns", "1", "list the files"])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        for w in wants {
            assert!(err.contains(w), "{flag}: no {w:?} in\n{err}");
        }
        for a in absent {
            assert!(!err.contains(a), "{flag}: {a:?} in\n{err}");
        }
        assert!(!err.contains("sk-test-secret"), "a key in the log:\n{err}");
        assert!(!err.to_ascii_lowercase().contains("authorization"), "{err}");
    }
    let log = std::fs::read_to_string(env.home().join("logs/az-os.log")).unwrap();
    assert!(log.contains("reply from qwen"), "{log}");
    assert!(!log.contains("sk-test-secret"));
}

#[tokio::test]
async fn a_slow_whole_reply_waits_for_the_deadline_not_the_idle_limit() {
    // llama-cpp-python with stream = false answers only when the whole reply is ready.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut conn in listener.incoming().flatten() {
            let mut buf = vec![0u8; 65536];
            let _ = conn.read(&mut buf);
            std::thread::sleep(Duration::from_millis(1500));
            let body = r#"{"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"391"}}],"usage":{"prompt_tokens":9,"completion_tokens":1}}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        stream_idle: Duration::from_millis(500),
        request: Duration::from_secs(30),
    };
    let mut spec = (*client(Provider::Openai, format!("http://{addr}/v1"), false).spec()).clone();
    spec.stream = false;
    let http = az_os::llm::http_client(timeouts).unwrap();
    let c = LlmClient::new(http, Arc::new(spec), None, timeouts);
    let r = ask(&c).await.unwrap();
    assert_eq!(r.text, "391");
}
