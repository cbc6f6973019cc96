//! What a model's reply means for the task, so that nothing but a real answer ends it
//! as completed:
//!
//! - native tool calls, or tool calls written in the text (`tool_calls = "auto"` or
//!   `"text"`; `tools::text_calls` reads them) → act on them;
//! - a reply cut at the output token limit → never a final answer: ask the model to go
//!   on (twice at most), then fail naming `max_output_tokens`;
//! - an attempt at a tool call that cannot be run, or a claim of work that was not done
//!   ("I have written 35 to count.txt" with no such file and no tool run) → one
//!   corrective turn that says what was wrong; the same again fails the task;
//! - anything else with text → the final answer.

use std::path::Path;

use super::{Ending, RunState};
use crate::config::{ModelSpec, ToolCalls};
use crate::engine::tools::text_calls::{self, TextCalls};
use crate::llm::{ChatResponse, Message, ToolCall, ToolSpec};
use crate::store::TaskStatus;

/// Continuations asked for after replies cut at the token limit, per task.
pub(super) const MAX_CONTINUATIONS: u32 = 2;

/// How a reply reads.
#[derive(Debug, PartialEq)]
pub(super) enum Reading {
    /// Run these calls; `from_text` names the format when they were written as text.
    Act {
        calls: Vec<ToolCall>,
        from_text: Option<&'static str>,
    },
    /// The final answer.
    Final(String),
    /// Cut at the output token limit without a tool call: ask for the rest.
    Cut,
    /// Not an answer: tell the model this (`kind` tells repeats apart).
    Correct { kind: Fault, message: String },
    /// Nothing at all (no text, no call).
    Empty,
}

/// What was wrong with a reply that got a corrective turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Fault {
    /// A tool call that could not be run.
    BrokenCall,
    /// It claims work no tool did.
    FalseClaim,
}

/// Whether the reply was cut at the output token limit (OpenAI `length`, Anthropic
/// `max_tokens`).
pub(super) fn cut_short(resp: &ChatResponse) -> bool {
    matches!(resp.stop_reason.as_deref(), Some("length" | "max_tokens"))
}

/// Reads a reply. `acted` says whether any tool has run in this task.
pub(super) fn read(
    resp: &ChatResponse,
    mode: ToolCalls,
    tools: &[ToolSpec],
    workdir: &Path,
    acted: bool,
) -> Reading {
    if !resp.tool_calls.is_empty() {
        return Reading::Act {
            calls: resp.tool_calls.clone(),
            from_text: None,
        };
    }
    let text = resp.text.trim();
    if mode != ToolCalls::Native {
        match text_calls::parse(text, tools) {
            TextCalls::Calls { calls, format } => {
                return Reading::Act {
                    calls,
                    from_text: Some(format.as_str()),
                };
            }
            TextCalls::Broken(why) => {
                return Reading::Correct {
                    kind: Fault::BrokenCall,
                    message: format!(
                        "Your reply looks like a tool call, but it was not run: {why} Call the tool again with valid JSON arguments, or answer in plain text if you are done."
                    ),
                };
            }
            TextCalls::None => {}
        }
    }
    if cut_short(resp) {
        return Reading::Cut;
    }
    if text.is_empty() {
        return Reading::Empty;
    }
    if let Some(claim) = false_claim(text, workdir, acted) {
        return Reading::Correct {
            kind: Fault::FalseClaim,
            message: format!(
                "{claim} Nothing has been done yet: no tool has run in this task. To change files or run commands, call the tools; if the task needs no tool, give the answer itself."
            ),
        };
    }
    Reading::Final(text.to_owned())
}

/// The results of calls a model wrote as text, as the user message that answers them
/// (the Hermes form, which such models are trained on).
pub(super) fn results_as_text(results: &[Message]) -> String {
    let mut out = String::new();
    for m in results {
        if let Message::ToolResult {
            name,
            content,
            is_error,
            ..
        } = m
        {
            out.push_str(&format!(
                "<tool_response name=\"{name}\"{}>\n{content}\n</tool_response>\n",
                if *is_error { " error=\"true\"" } else { "" }
            ));
        }
    }
    out
}

/// What the turn does next.
pub(super) enum Step {
    /// Run these calls.
    Act {
        calls: Vec<ToolCall>,
        from_text: Option<&'static str>,
    },
    /// The task ends.
    End(Ending),
    /// Another turn, after this note (the turn's reflection).
    Again(String),
}

/// Acts on a reading: the final answer (with any parts cut before it), a request to go
/// on after a cut, a corrective message, or the calls to run. Updates the conversation.
pub(super) fn settle(
    reading: Reading,
    text: &str,
    spec: &ModelSpec,
    messages: &mut Vec<Message>,
    st: &mut RunState,
) -> Step {
    let tell = |messages: &mut Vec<Message>, note: String| {
        messages.push(Message::Assistant {
            text: text.to_owned(),
            tool_calls: Vec::new(),
        });
        messages.push(Message::User { text: note });
    };
    match reading {
        Reading::Act { calls, from_text } => Step::Act { calls, from_text },
        Reading::Final(answer) => Step::End(Ending {
            status: TaskStatus::Completed,
            result: Some(std::mem::take(&mut st.partial) + &answer),
            error: None,
            model_failed: false,
        }),
        Reading::Cut => {
            st.continuations += 1;
            if st.continuations > MAX_CONTINUATIONS {
                return Step::End(Ending::failed(format!(
                    "{}'s replies were cut at its output token limit (max_output_tokens = {}) {} times in a row; raise max_output_tokens for this model in config.toml, or ask for a shorter answer",
                    spec.name, spec.max_output_tokens, st.continuations
                )));
            }
            st.partial.push_str(text);
            tell(
                messages,
                "Your reply was cut off at the output token limit. Continue exactly where it stopped, without repeating anything.".into(),
            );
            Step::Again(format!(
                "The reply was cut at the output token limit (max_output_tokens = {}); the model was asked to continue.",
                spec.max_output_tokens
            ))
        }
        Reading::Correct { kind, message } => {
            if st.corrected.contains(&kind) {
                return Step::End(Ending::failed(format!(
                    "the model was told once and made the same mistake again: {message}"
                )));
            }
            st.corrected.push(kind);
            tell(messages, message.clone());
            Step::Again(format!(
                "Not taken as the answer; the model was told: {message}"
            ))
        }
        Reading::Empty => {
            messages.push(Message::User {
                text: "Your reply was empty. Call a tool, or call finish with the result.".into(),
            });
            Step::Again("The model sent an empty reply; it was asked to act.".into())
        }
    }
}

/// Verbs that claim a file was made or changed.
const WROTE: [&str; 8] = [
    "written", "wrote", "saved", "created", "stored", "updated", "appended", "added",
];

/// Words before such a verb that make it a claim about work done (`I have written`,
/// `count.txt was created`, `Done: saved`), not advice (`you should save it to …`).
const CLAIMING: [&str; 10] = [
    "i", "i've", "ive", "have", "has", "had", "was", "were", "been", "done",
];

/// Phrases that claim a command ran.
const RAN: [&str; 6] = [
    "i ran ",
    "i have run ",
    "i've run ",
    "i executed",
    "i have executed",
    "i've executed",
];

/// A claim of work that did not happen, said as the model should hear it: a file said
/// to be written that does not exist, or a command said to have run, when no tool has
/// run in the task.
fn false_claim(text: &str, workdir: &Path, acted: bool) -> Option<String> {
    if acted {
        return None;
    }
    let lower = text.to_lowercase();
    if let Some(p) = RAN.iter().find(|p| lower.contains(*p)) {
        return Some(format!(
            "Your answer says \"{}…\", but no command was run.",
            p.trim()
        ));
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let verb = w
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        let claimed = words[i.saturating_sub(2)..i].iter().any(|b| {
            let b = b
                .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                .to_lowercase();
            CLAIMING.contains(&b.replace('’', "'").as_str())
        });
        if !WROTE.contains(&verb.as_str()) || !claimed {
            continue;
        }
        // A file name within the next few words: `written 35 to count.txt`.
        for cand in words.iter().skip(i + 1).take(6) {
            let name = cand.trim_matches(|c: char| {
                matches!(c, '`' | '"' | '\'' | ',' | ':' | ';' | '(' | ')' | '*')
                    || (c == '.' && !cand.ends_with(".."))
            });
            if looks_like_file(name) && !workdir.join(name).exists() {
                return Some(format!(
                    "Your answer says {verb} {name}, but there is no such file in the workdir."
                ));
            }
        }
    }
    None
}

/// A relative file name with an extension (`count.txt`, `src/main.rs`).
fn looks_like_file(s: &str) -> bool {
    let Some((stem, ext)) = s.rsplit_once('.') else {
        return false;
    };
    !stem.is_empty()
        && !s.starts_with('/')
        && !s.contains("..")
        && !s.contains("://")
        && (1..=5).contains(&ext.len())
        && ext.chars().all(|c| c.is_ascii_alphanumeric())
        && ext.chars().any(|c| c.is_ascii_alphabetic())
        && stem
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Usage;

    fn resp(text: &str, stop: Option<&str>) -> ChatResponse {
        ChatResponse {
            text: text.into(),
            stop_reason: stop.map(str::to_owned),
            usage: Usage::default(),
            ..ChatResponse::default()
        }
    }

    fn reading(text: &str, stop: Option<&str>, acted: bool) -> Reading {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("exists.txt"), "x").unwrap();
        read(
            &resp(text, stop),
            ToolCalls::Auto,
            &crate::engine::tools::specs(),
            dir.path(),
            acted,
        )
    }

    #[test]
    fn plain_answers_are_final() {
        for t in [
            "391",
            "The person to call is Alice at 555-0100.",
            "Call Bob about the invoice.",
            "You should save it to config.toml and restart.",
            "I have written the summary below:\n- a\n- b",
            "The file exists.txt was saved earlier.",
        ] {
            assert_eq!(
                reading(t, Some("stop"), false),
                Reading::Final(t.into()),
                "{t}"
            );
        }
    }

    #[test]
    fn claims_of_work_not_done_are_corrected() {
        for t in [
            "I have written the number 35 to count.txt.",
            "Done: saved the script as `hello.py` and ran it.",
            "I ran the command and it printed hello world.",
            "I've created src/report.md with the results.",
        ] {
            assert!(
                matches!(
                    reading(t, Some("stop"), false),
                    Reading::Correct {
                        kind: Fault::FalseClaim,
                        ..
                    }
                ),
                "{t}"
            );
            // After a tool ran, the model's account is its own business.
            assert!(
                matches!(reading(t, Some("stop"), true), Reading::Final(_)),
                "{t}"
            );
        }
    }

    #[test]
    fn a_reply_cut_at_the_limit_is_never_final() {
        assert_eq!(
            reading("The answer is a long", Some("length"), false),
            Reading::Cut
        );
        assert_eq!(reading("partial", Some("max_tokens"), true), Reading::Cut);
        assert_eq!(reading("", Some("stop"), false), Reading::Empty);
    }

    #[test]
    fn calls_written_as_text_are_acted_on() {
        let t = "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.txt\"}}\n</tool_call>";
        let Reading::Act { calls, from_text } = reading(t, Some("stop"), false) else {
            panic!("not read as a call");
        };
        assert_eq!(calls[0].name, "read_file");
        assert!(from_text.is_some());
        let broken = "```json\n{\"name\": \"delete_everything\", \"arguments\": {}}\n```";
        assert!(matches!(
            reading(broken, Some("stop"), false),
            Reading::Correct {
                kind: Fault::BrokenCall,
                ..
            }
        ));
    }
}
