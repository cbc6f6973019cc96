//! Never a false success: what the agent does with replies real local models send —
//! tool calls written as text (replayed from the captures), claims of work never done,
//! replies cut at the token limit, broken calls — through the built binary.

use std::time::Duration;

use serde_json::Value;

use crate::common::replay::{Captured, Replay, responses};
use crate::common::{TestEnv, json_lines, of_type};

/// A whole OpenAI reply with `content` as the text and a `finish_reason`.
fn openai_text(content: &str, finish: &str) -> Captured {
    Captured::json(
        &serde_json::json!({
            "choices": [{"index": 0, "finish_reason": finish,
                "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 600, "completion_tokens": 40}
        })
        .to_string(),
    )
}

fn run(
    env: &TestEnv,
    replay: &Replay,
    provider: &str,
    extra_model: &str,
    task: &str,
) -> (Vec<Value>, i32) {
    std::fs::write(
        env.home().join("config.toml"),
        format!(
            "[[models]]\nname = \"qwen\"\nprovider = \"{provider}\"\nmodel = \"qwen\"\n\
             base_url = \"{}\"\napi_key_env = \"AZ_OS_TEST_KEY\"\ntier = \"complex\"\n{extra_model}\n",
            replay.base_url()
        ),
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["--batch", "--json", "run", "--max-turns", "6", task])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    (json_lines(&out.stdout), out.status.code().unwrap_or(-1))
}

fn reflections(events: &[Value]) -> Vec<String> {
    of_type(events, "reflection")
        .iter()
        .map(|r| r["text"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn a_claim_of_work_never_done_is_not_a_success() {
    let env = TestEnv::new();
    std::fs::write(env.work().join("data.csv"), "a\nb\nc\n").unwrap();
    // llama-cpp-python's answer to az-os: "I have written the number 35 to count.txt."
    let claim = responses("llamacpp-cfc-azos-request-and-stream.log").remove(0);
    let replay = Replay::start(vec![
        claim.clone(),
        // Told, the model calls the tool in text, then answers.
        openai_text(
            "```json\n{\"name\": \"write_file\", \"arguments\": {\"path\": \"count.txt\", \"content\": \"3\"}}\n```",
            "stop",
        ),
        openai_text("count.txt now holds 3.", "stop"),
    ]);
    let (events, code) = run(
        &env,
        &replay,
        "openai",
        "",
        "count the lines of data.csv and write the number to count.txt",
    );
    assert_eq!(code, 0, "{events:?}");
    let refl = reflections(&events);
    assert!(
        refl[0].contains("Not taken as the answer") && refl[0].contains("count.txt"),
        "{refl:?}"
    );
    assert!(refl[1].contains("came from the reply's text"), "{refl:?}");
    assert_eq!(
        std::fs::read_to_string(env.work().join("count.txt")).unwrap(),
        "3"
    );
    // The correction reached the model, and the tool's result went back as text.
    let seen = replay.seen();
    let second = seen[1].body["messages"].to_string();
    assert!(second.contains("no such file"), "{second}");
    let third = seen[2].body["messages"].to_string();
    assert!(third.contains("tool_response"), "{third}");

    // The same claim twice fails the task instead.
    let env = TestEnv::new();
    let replay = Replay::start(vec![claim.clone(), claim]);
    let (events, code) = run(&env, &replay, "openai", "", "count the lines");
    assert_eq!(code, 1);
    let fin = of_type(&events, "task_finished")[0];
    assert_eq!(fin["status"], "failed");
    assert!(
        fin["error"].as_str().unwrap().contains("count.txt"),
        "{fin}"
    );
}

#[test]
fn a_call_in_a_code_fence_from_anthropic_is_run() {
    let env = TestEnv::new();
    // LiteLLM's Anthropic endpoint: a fenced write_file call as text, usage in message_delta.
    let mut script = responses("litellm-anthropic-usage-in-message_delta.log");
    script.push(Captured::json(
        r#"{"type":"message","role":"assistant","stop_reason":"end_turn","content":[{"type":"text","text":"count.txt holds 5."}],"usage":{"input_tokens":700,"output_tokens":6}}"#,
    ));
    let replay = Replay::start(script);
    let (events, code) = run(&env, &replay, "anthropic", "", "write 5 to count.txt");
    assert_eq!(code, 0, "{events:?}");
    assert_eq!(
        std::fs::read_to_string(env.work().join("count.txt")).unwrap(),
        "5"
    );
    let call = &of_type(&events, "llm_call")[0];
    assert_eq!(call["input_tokens"], 608);
    assert_eq!(call["estimated"], false);
}

#[test]
fn a_reply_cut_at_the_token_limit_never_completes() {
    let env = TestEnv::new();
    let cut = openai_text("The answer, explained at length, begins with", "length");
    let replay = Replay::start(vec![cut.clone(), cut.clone(), cut]);
    let (events, code) = run(&env, &replay, "openai", "max_output_tokens = 64", "explain");
    assert_eq!(code, 1, "{events:?}");
    let fin = of_type(&events, "task_finished")[0];
    assert!(
        fin["error"]
            .as_str()
            .unwrap()
            .contains("max_output_tokens = 64"),
        "{fin}"
    );
    assert!(reflections(&events)[0].contains("asked to continue"));

    // Continued to the end, the parts make the answer.
    let env = TestEnv::new();
    let replay = Replay::start(vec![
        openai_text("The answer is forty", "length"),
        openai_text("-two.", "stop"),
    ]);
    let (events, code) = run(&env, &replay, "openai", "", "what is the answer?");
    assert_eq!(code, 0);
    assert_eq!(
        of_type(&events, "task_finished")[0]["result"],
        "The answer is forty-two."
    );
}

#[test]
fn the_length_capture_runs_its_calls_but_not_its_premature_finish() {
    let env = TestEnv::new();
    std::fs::write(env.work().join("data.csv"), "a\nb\n").unwrap();
    let mut script = responses("llama-server-finish_reason-length.out");
    // query_llm's answer, then a real end.
    script.push(openai_text("2", "stop"));
    script.push(openai_text("There are 2 lines.", "stop"));
    let replay = Replay::start(script);
    let (events, code) = run(&env, &replay, "openai", "", "count the lines of data.csv");
    assert_eq!(code, 0, "{events:?}");
    let obs = of_type(&events, "observation");
    let finish = obs.iter().find(|o| o["tool"] == "finish").unwrap();
    assert_eq!(finish["ok"], false);
    assert!(finish["output"].as_str().unwrap().contains("call it alone"));
    assert_eq!(
        of_type(&events, "task_finished")[0]["result"],
        "There are 2 lines."
    );
}

#[test]
fn broken_calls_are_corrected_once() {
    let env = TestEnv::new();
    let replay = Replay::start(vec![
        openai_text(
            "<tool_call>{\"name\": \"delete_all\", \"arguments\": {}}</tool_call>",
            "stop",
        ),
        openai_text(
            "<tool_call>{\"name\": \"write_file\", \"arguments\": {\"path\": 5}}</tool_call>",
            "stop",
        ),
    ]);
    let (events, code) = run(&env, &replay, "openai", "", "do it");
    assert_eq!(code, 1, "{events:?}");
    let refl = reflections(&events);
    assert!(refl[0].contains("delete_all"), "{refl:?}");
    let fin = of_type(&events, "task_finished")[0];
    assert!(
        fin["error"].as_str().unwrap().contains("same mistake"),
        "{fin}"
    );
}

#[test]
fn text_mode_sends_no_tools_and_describes_them_in_the_prompt() {
    let env = TestEnv::new();
    let replay = Replay::start(vec![
        openai_text(
            "<tool_call>{\"name\": \"execute_command\", \"arguments\": {\"command\": \"echo 391\"}}</tool_call>",
            "stop",
        ),
        openai_text("391", "stop"),
    ]);
    let (events, code) = run(
        &env,
        &replay,
        "openai",
        "tool_calls = \"text\"\nstream = false",
        "what is 17*23?",
    );
    assert_eq!(code, 0, "{events:?}");
    let first = &replay.seen()[0].body;
    assert!(first.get("tools").is_none(), "{first}");
    assert!(
        first["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("<tool_call>")
    );
    assert_eq!(
        of_type(&events, "observation")[0]["output"],
        "exit code: 0\n391\n"
    );
    // No tool messages in text mode: the result went back as the user's text.
    let second = &replay.seen()[1].body["messages"];
    assert!(
        second
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["role"] != "tool"),
        "{second}"
    );
}

#[test]
fn a_zero_limit_means_the_whole_file() {
    // Qwen2.5-Coder-1.5B behind llama-cpp-python sent exactly this, and read nothing.
    let env = TestEnv::new();
    std::fs::write(env.work().join("data.csv"), "a\nb\nc\n").unwrap();
    let call = serde_json::json!({"choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "read_file", "arguments": "{\"limit\": 0, \"offset\": 0, \"path\": \"data.csv\"}"}}]}}]});
    let replay = Replay::start(vec![
        Captured::json(&call.to_string()),
        openai_text("3 lines", "stop"),
    ]);
    let (events, code) = run(&env, &replay, "openai", "", "how many lines in data.csv?");
    assert_eq!(code, 0, "{events:?}");
    assert_eq!(of_type(&events, "observation")[0]["output"], "a\nb\nc\n");
}
