use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::*;
use crate::engine::tools::{Registry, specs};

/// The calls found, as (name, arguments) with arguments parsed back, and the format.
fn calls(text: &str) -> (Vec<(String, Value)>, Format) {
    match parse(text, &specs()) {
        TextCalls::Calls { calls, format } => {
            for (n, c) in calls.iter().enumerate() {
                assert_eq!(c.id, format!("text_call_{n}"));
            }
            let found = calls
                .into_iter()
                .map(|c| (c.name, serde_json::from_str(&c.arguments).unwrap()))
                .collect();
            (found, format)
        }
        other => panic!("expected calls in {text:?}, got {other:?}"),
    }
}

fn broken(text: &str) -> String {
    match parse(text, &specs()) {
        TextCalls::Broken(why) => why,
        other => panic!("expected Broken for {text:?}, got {other:?}"),
    }
}

fn none(text: &str) {
    assert_eq!(parse(text, &specs()), TextCalls::None, "{text:?}");
}

/// A label, a reply, the calls it holds and their format.
type Case = (&'static str, &'static str, Vec<(String, Value)>, Format);

fn read_a() -> (String, Value) {
    ("read_file".to_owned(), json!({"path": "a"}))
}

/// Tags: Hermes, Qwen, Mistral.
fn tag_cases() -> Vec<Case> {
    use Format::{HermesTags, MistralTag};
    vec![
        (
            "hermes",
            "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"note.txt\"}}\n</tool_call>",
            vec![("read_file".into(), json!({"path": "note.txt"}))],
            HermesTags,
        ),
        (
            "hermes, several, last unterminated",
            "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"execute_command\", \"arguments\": {\"command\": \"ls\"}}",
            vec![
                read_a(),
                ("execute_command".into(), json!({"command": "ls"})),
            ],
            HermesTags,
        ),
        (
            "hermes, closing tag only",
            "{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}</tool_call>",
            vec![read_a()],
            HermesTags,
        ),
        (
            "hermes with a fence inside",
            "<tool_call>\n```json\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}\n```\n</tool_call>",
            vec![read_a()],
            HermesTags,
        ),
        (
            "qwen <tools>",
            "<tools>{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}</tools>",
            vec![read_a()],
            HermesTags,
        ),
        (
            "mistral list",
            "[TOOL_CALLS] [{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}, {\"name\": \"finish\", \"arguments\": {\"result\": \"done\"}}]",
            vec![read_a(), ("finish".into(), json!({"result": "done"}))],
            MistralTag,
        ),
        (
            "mistral [ARGS], twice, with a call id",
            "[TOOL_CALLS]read_file[ARGS]{\"path\":\"a\"}[TOOL_CALLS]search_memory[CALL_ID]x1y2z3[ARGS]{\"query\":\"csv\",\"k\":3}",
            vec![
                read_a(),
                ("search_memory".into(), json!({"query": "csv", "k": 3})),
            ],
            MistralTag,
        ),
        (
            "mistral, prose after",
            "[TOOL_CALLS]read_file[ARGS]{\"path\":\"a\"} I will read it now.",
            vec![read_a()],
            MistralTag,
        ),
    ]
}

/// JSON, bare or fenced, in its several shapes.
fn json_cases() -> Vec<Case> {
    use Format::{Fenced, Json};
    vec![
        (
            "fenced json",
            "```json\n{\"name\": \"write_file\", \"arguments\": {\"path\": \"count.txt\", \"content\": \"35\"}}\n```",
            vec![(
                "write_file".into(),
                json!({"path": "count.txt", "content": "35"}),
            )],
            Fenced,
        ),
        (
            "bare, prose before and after",
            "I'll count the lines.\n{\"name\": \"execute_command\", \"arguments\": {\"command\": \"wc -l data.csv\"}}\nLet me know if you need more.",
            vec![(
                "execute_command".into(),
                json!({"command": "wc -l data.csv"}),
            )],
            Json,
        ),
        (
            "arguments as a JSON string",
            "{\"name\": \"read_file\", \"arguments\": \"{\\\"path\\\": \\\"a\\\"}\"}",
            vec![read_a()],
            Json,
        ),
        (
            "functions. prefix",
            "{\"name\": \"functions.read_file\", \"arguments\": {\"path\": \"a\"}}",
            vec![read_a()],
            Json,
        ),
        (
            "parameters alias",
            "{\"name\": \"read_file\", \"parameters\": {\"path\": \"a\"}}",
            vec![read_a()],
            Json,
        ),
        (
            "tool/args",
            "{\"tool\": \"read_file\", \"args\": {\"path\": \"a\"}}",
            vec![read_a()],
            Json,
        ),
        (
            "function object, string arguments",
            "{\"type\": \"function\", \"function\": {\"name\": \"read_file\", \"arguments\": \"{\\\"path\\\":\\\"a\\\"}\"}}",
            vec![read_a()],
            Json,
        ),
        (
            "openai tool_calls wrapper",
            "{\"tool_calls\": [{\"function\": {\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}}]}",
            vec![read_a()],
            Json,
        ),
        (
            "json array of calls",
            "[{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}, {\"name\": \"read_file\", \"arguments\": {\"path\": \"b\"}}]",
            vec![read_a(), ("read_file".into(), json!({"path": "b"}))],
            Json,
        ),
        (
            "two bare calls on two lines",
            "{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}\n{\"name\": \"finish\", \"arguments\": {\"result\": \"ok\"}}",
            vec![read_a(), ("finish".into(), json!({"result": "ok"}))],
            Json,
        ),
        (
            "crlf fence",
            "Reading it.\r\n```json\r\n{\r\n  \"name\": \"read_file\",\r\n  \"arguments\": {\"path\": \"a\"}\r\n}\r\n```\r\n",
            vec![read_a()],
            Fenced,
        ),
        (
            "trailing prose after bare json",
            "{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}} Let me know if the file is missing.",
            vec![read_a()],
            Json,
        ),
        (
            "digits coerced to an integer, null dropped",
            "{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\", \"limit\": \"5\", \"offset\": null}}",
            vec![("read_file".into(), json!({"path": "a", "limit": 5}))],
            Json,
        ),
        (
            "unicode and braces inside strings",
            "Écrivons.\n{\"name\": \"write_file\", \"arguments\": {\"path\": \"é.txt\", \"content\": \"}{ \\\"x\\\" ] 日本\"}}",
            vec![(
                "write_file".into(),
                json!({"path": "é.txt", "content": "}{ \"x\" ] 日本"}),
            )],
            Json,
        ),
        (
            "thinking drafts are ignored",
            "<think>maybe {\"name\": \"read_file\", \"arguments\": {\"path\": \"z\"}} for example</think>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}",
            vec![read_a()],
            Json,
        ),
    ]
}

#[test]
fn every_format_is_read() {
    let cases = tag_cases().into_iter().chain(json_cases());
    for (label, text, want, format) in cases {
        let (got, got_format) = calls(text);
        assert_eq!(got, want, "{label}");
        assert_eq!(got_format, format, "{label}");
    }
}

#[test]
fn arguments_are_compact_json() {
    let TextCalls::Calls { calls, .. } = parse(
        "{\"name\": \"finish\", \"arguments\": {\"result\": \"391\"}}",
        &specs(),
    ) else {
        panic!("no call");
    };
    assert_eq!(calls[0].arguments, r#"{"result":"391"}"#);
}

#[test]
fn unknown_tools_are_broken_and_listed() {
    let why = broken("{\"name\": \"delete_file\", \"arguments\": {\"path\": \"a\"}}");
    assert!(why.contains("\"delete_file\""), "{why}");
    for name in Registry::builtin().names() {
        assert!(why.contains(name), "{why}");
    }
    let why = broken("<tool_call>{\"name\": \"rm\", \"arguments\": {}}</tool_call>");
    assert!(why.contains("\"rm\"") && why.contains("read_file"), "{why}");
    let why = broken("[TOOL_CALLS]delete[ARGS]{}");
    assert!(why.contains("\"delete\""), "{why}");
}

#[test]
fn schema_failures_name_the_key() {
    let why = broken("{\"name\": \"write_file\", \"arguments\": {\"path\": \"a\"}}");
    assert!(
        why.contains("\"content\"") && why.contains("required"),
        "{why}"
    );
    let why =
        broken("{\"name\": \"write_file\", \"arguments\": {\"path\": \"a\", \"content\": 35}}");
    assert!(
        why.contains("\"content\"") && why.contains("string"),
        "{why}"
    );
    let why =
        broken("{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\", \"mode\": \"r\"}}");
    assert!(why.contains("\"mode\""), "{why}");
    let why =
        broken("{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\", \"limit\": \"ten\"}}");
    assert!(
        why.contains("\"limit\"") && why.contains("integer"),
        "{why}"
    );
    assert!(why.contains("read_file(path: string"), "{why}");
    // The second of two calls is wrong: say which.
    let why = broken(
        "<tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}</tool_call>\
         <tool_call>{\"name\": \"read_file\", \"arguments\": {}}</tool_call>",
    );
    assert!(
        why.starts_with("Tool call 2:") && why.contains("\"path\""),
        "{why}"
    );
}

#[test]
fn cut_off_and_malformed_calls_are_broken() {
    let why = broken("{\"name\": \"write_file\", \"arguments\": {\"path\": \"a\", \"con");
    assert!(why.contains("cut off"), "{why}");
    let why = broken("```json\n{\"name\": \"write_file\", \"arguments\": {\"path\": \"a\", \"con");
    assert!(why.contains("cut off"), "{why}");
    let why = broken("<tool_call>\n{\"name\": \"read_file\", \"argu");
    assert!(why.contains("cut off"), "{why}");
    let why = broken("{\"name\": \"read_file\", \"arguments\": {'path': 'a'}}");
    assert!(why.contains("not valid JSON"), "{why}");
    let why = broken("<tool_call>read_file(path=\"a\")</tool_call>");
    assert!(why.contains("<tool_call>{\"name\""), "{why}");
    let why = broken("[TOOL_CALLS]write_file[ARGS]{\"path\": \"a\", \"content\": \"x");
    assert!(why.contains("cut off"), "{why}");
    broken("<tool_call></tool_call>");
    broken("[TOOL_CALLS]");
    broken("{\"name\": \"read_file\", \"arguments\": \"not json\"}");
}

#[test]
fn examples_in_explanations_are_not_calls() {
    none(
        "To write a file you would call it like this:\n```json\n{\"name\": \"write_file\", \
         \"arguments\": {\"path\": \"a.txt\", \"content\": \"hi\"}}\n```\nThat creates the file.",
    );
    none("For example: {\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}");
    none("E.g. {\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}");
    let long = "The agent has several tools. ".repeat(8);
    none(&format!(
        "{long}\n\n```json\n{{\"name\": \"read_file\", \"arguments\": {{\"path\": \"a\"}}}}\n```\n\n{long}"
    ));
    // An example with a broken call is still an example.
    none("Such as {\"name\": \"nope\", \"arguments\": {}}");
}

/// Seen from Qwen2.5-Coder-1.5B on llama-cpp-python with its own template: the call,
/// announced, then a long explanation of it. It is a call, not an example.
#[test]
fn an_announced_call_with_a_long_explanation_after_it_is_a_call() {
    let text = "To count the lines of data.csv and write the number to count.txt, I'll use the \
        `read_file` tool to read the file and then count the lines using a simple script.\n\n```json\n\
        {\n  \"name\": \"execute_command\",\n  \"arguments\": {\n    \"command\": \
        \"wc -l data.csv | awk '{print $1}' > count.txt\"\n  }\n}\n```\n\nThis command does the \
        following:\n- `wc -l data.csv` counts the number of lines in `data.csv`.\n- `awk '{print $1}'` \
        extracts the first field, which is the line count.\n- `>` redirects the output to \
        `count.txt`.\n\nAfter running this command, `count.txt` will contain the number of lines.";
    let (found, format) = calls(text);
    assert_eq!(format, Format::Fenced);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "execute_command");
}

/// Also seen from Qwen2.5-Coder-1.5B: the tool's name as the only key.
#[test]
fn a_tool_name_as_the_only_key_is_a_call() {
    let (found, _) = calls("```json\n{\n  \"finish\": \"The number to call is 555-0142.\"\n}\n```");
    assert_eq!(
        found,
        [(
            "finish".to_owned(),
            json!({"result": "The number to call is 555-0142."})
        )]
    );
    let (found, _) = calls("{\"read_file\": {\"path\": \"a\"}}");
    assert_eq!(found, [read_a()]);
    // Data that merely has a key like a tool's is not a call.
    none("{\"finish\": \"x\", \"score\": 3}");
}

#[test]
fn plain_answers_and_mentions_are_none() {
    none("391");
    none("The person to call is Alice at 555-0100.");
    none("I will use read_file next to look at note.txt.");
    none("");
    none("{\"name\": \"Alice\", \"age\": 30}");
    none("```json\n{\"name\": \"Alice\", \"phone\": \"555-0100\"}\n```");
    none("Set {x} to [1, 2] and {\"a\": 1}.");
    none("{\"name\": \"Alice\"");
}

#[test]
fn long_adversarial_replies_stay_fast() {
    let mb = 1 << 20;
    let inputs = [
        "{\"name\": \"".repeat(mb / 10),
        "<tool_call>{".repeat(mb / 12),
        "[TOOL_CALLS]x[ARGS]".repeat(mb / 19),
        "{\"a\":1}".repeat(mb / 7),
        "[{\"".repeat(mb / 3),
        "{".repeat(mb),
        "é{\"".repeat(mb / 4),
    ];
    let start = std::time::Instant::now();
    for text in &inputs {
        let _ = parse(text, &specs());
    }
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn tool_description_is_small_and_complete() {
    let text = describe_tools(&specs());
    assert!(text.len() < 1024, "{} bytes:\n{text}", text.len());
    assert!(text.contains("read_file(path: string, limit?: integer, offset?: integer) — Read"));
    assert!(text.contains("<tool_call>{\"name\""));
    for name in Registry::builtin().names() {
        assert!(text.contains(&format!("{name}(")), "{name}");
    }
    // The form it teaches is one it reads.
    let (got, format) =
        calls("<tool_call>{\"name\": \"finish\", \"arguments\": {\"result\": \"x\"}}</tool_call>");
    assert_eq!((got.len(), format), (1, Format::HermesTags));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    const PIECES: [&str; 16] = [
        "<tool_call>",
        "</tool_call>",
        "[TOOL_CALLS]",
        "[ARGS]",
        "```json\n",
        "```\n",
        "{\"name\": \"read_file\", ",
        "\"arguments\": {\"path\": \"a\"}}",
        "\"arguments\": \"{\\\"path\\\": 1}\"",
        "{",
        "}",
        "[",
        "]",
        "\"",
        "\\",
        "</think>",
    ];

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            (0..PIECES.len()).prop_map(|i| PIECES[i].to_owned()),
            "\\PC{0,6}",
        ]
    }

    /// A valid call and what it should parse to.
    fn valid_call() -> impl Strategy<Value = (String, String, Value)> {
        prop_oneof![
            Just((
                "{\"name\": \"read_file\", \"arguments\": {\"path\": \"n.txt\"}}".to_owned(),
                "read_file".to_owned(),
                json!({"path": "n.txt"}),
            )),
            Just((
                "{\"name\": \"execute_command\", \"arguments\": \"{\\\"command\\\": \\\"ls -l\\\"}\"}"
                    .to_owned(),
                "execute_command".to_owned(),
                json!({"command": "ls -l"}),
            )),
            Just((
                "{\"tool\": \"finish\", \"args\": {\"result\": \"35 日本\"}}".to_owned(),
                "finish".to_owned(),
                json!({"result": "35 日本"}),
            )),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_text_parses_without_panic(text in "\\PC{0,200}") {
            let _ = parse(&text, &specs());
        }

        #[test]
        fn pieces_parse_without_panic(parts in proptest::collection::vec(piece(), 0..24)) {
            let _ = parse(&parts.concat(), &specs());
        }

        #[test]
        fn a_call_in_short_prose_is_found(
            before in "[\\p{L}\\p{N} ,.!?'\n-]{0,90}",
            after in "[\\p{L}\\p{N} ,.!?'\n-]{0,90}",
            (call, name, args) in valid_call(),
            wrap in 0..3usize,
        ) {
            let lower = format!("{before} {after}").to_lowercase();
            prop_assume!(!EXAMPLE_MARKERS.iter().any(|m| lower.contains(m)));
            let text = match wrap {
                0 => format!("{before}{call}{after}"),
                1 => format!("{before}\n```json\n{call}\n```\n{after}"),
                _ => format!("{before}<tool_call>{call}</tool_call>{after}"),
            };
            let TextCalls::Calls { calls, .. } = parse(&text, &specs()) else {
                return Err(TestCaseError::fail(format!("not found in {text:?}")));
            };
            prop_assert_eq!(calls.len(), 1);
            prop_assert_eq!(&calls[0].name, &name);
            let got: Value = serde_json::from_str(&calls[0].arguments).unwrap();
            prop_assert_eq!(got, args);
        }
    }
}

#[test]
fn empty_tags_leave_the_fenced_calls_to_be_read() {
    let text = "<tools></tools>\n\n```json\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"data.csv\"}}\n```";
    let TextCalls::Calls { calls, format } = parse(text, &specs()) else {
        panic!("not read");
    };
    assert_eq!(calls[0].name, "read_file");
    assert_eq!(format, Format::Fenced);
}
