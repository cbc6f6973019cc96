//! The ReAct loop's state as a value: everything a task needs to continue from its
//! last completed turn (the conversation, the turn count and limit, the model it is on
//! and the ones given up on, what it has spent, the continuation and correction state,
//! the approvals given, the MCP tools found with `find_tools`, and what each turn
//! changed). The loop reads and writes it
//! instead of locals; after every completed turn it is serialized, redacted, and saved
//! (`store::state_file`, the `task_state` row), and `az-os tasks resume` loads it back.
//!
//! What it does not hold: anything rebuilt on resume from the task's row and the config
//! (the system prompt, the tool list, the budget caps, the HTTP client), and the workdir's
//! files (part of the checkpoint named by `checkpoint_id`, not of this value).

use serde::{Deserialize, Serialize};

use super::gate;
use super::reply;
use crate::engine::policy::GuardCtx;
use crate::llm::Message;

/// The layout of the saved state this build writes and reads. A state with another
/// version (an older or newer az-os) is not guessed at: the task starts over.
pub const STATE_VERSION: u32 = 1;

/// A task's loop state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunState {
    /// [`STATE_VERSION`] when saved.
    pub version: u32,
    /// Turns completed (the last one whose replies and tool results are in `messages`).
    pub turns: u32,
    /// The turn limit now: the task's `max_turns`, raised once by escalation.
    pub limit: u32,
    /// Whether escalation (one tier up after the turn limit) has happened.
    pub escalated: bool,
    /// The model the task is on (a `[[models]]` name); empty until the first request.
    pub model: String,
    /// Models given up on in this task, and the failures that did it.
    pub given_up: Vec<String>,
    pub failures: Vec<String>,
    /// USD spent so far (the task's requests, `query_llm` included).
    pub cost_usd: f64,
    /// Tokens of the task's turn requests so far.
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// The conversation after the last completed turn.
    pub messages: Vec<Message>,
    /// Whether any tool has run in this task.
    pub acted: bool,
    /// Text of replies cut at the token limit, waiting for the rest.
    pub partial: String,
    /// Continuations asked for so far.
    pub continuations: u32,
    /// Faults the model was already told about once.
    pub corrected: Vec<reply::Fault>,
    /// Rules the user approved "always" for, this task.
    pub approved: gate::Approved,
    /// One line per action and how it went (what lessons are drawn from).
    pub actions: Vec<String>,
    /// The tools' outputs (heads of), which a lesson may not copy.
    pub outputs: Vec<String>,
    /// What each turn that acted changed, in order.
    pub changes: Vec<TurnChanges>,
    /// The checkpoint of the last completed turn (`{task_id}.{turn}`).
    pub checkpoint_id: Option<String>,
    /// MCP tools the model found with `find_tools` (qualified names, oldest first):
    /// sent with every later request, so a resumed task still has them.
    #[serde(default)]
    pub found_tools: Vec<String>,
    /// The policy guard's view of the task (rebuilt from the workdir, never saved).
    #[serde(skip)]
    pub guard: Option<GuardCtx>,
}

/// What one turn changed in the workdir, as far as the engine can tell: the files
/// `write_file` wrote and the commands `execute_command` ran (which may have changed
/// anything).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnChanges {
    pub turn: u32,
    pub files_written: Vec<String>,
    pub commands_run: Vec<String>,
}

/// Why a saved state cannot be used; the task starts over and the user is told this.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("it is not a saved task state ({0})")]
    Corrupt(String),
    #[error(
        "it was saved by {} az-os (state version {found}; this one reads {STATE_VERSION})",
        if *found < STATE_VERSION { "an older" } else { "a newer" }
    )]
    Version { found: u32 },
}

impl RunState {
    /// The state of a task that has not run a turn yet.
    pub fn new(limit: u32) -> Self {
        Self {
            version: STATE_VERSION,
            limit,
            ..Self::default()
        }
    }

    /// Notes that `tool` ran in `turn` with `arguments` (JSON text) and succeeded.
    /// `changes_files`: the tool can change the workdir (an MCP tool its server does not
    /// mark read-only); it is recorded like a command, by name and arguments.
    pub fn note_change(&mut self, turn: u32, tool: &str, arguments: &str, changes_files: bool) {
        let what = match tool {
            "write_file" | "execute_command" => {
                let field = if tool == "write_file" {
                    "path"
                } else {
                    "command"
                };
                let Some(what) = serde_json::from_str::<serde_json::Value>(arguments)
                    .ok()
                    .and_then(|v| v.get(field)?.as_str().map(str::to_owned))
                else {
                    return;
                };
                what
            }
            _ if changes_files => format!(
                "{tool} {}",
                crate::util::text::truncate_middle(arguments, 160)
            ),
            _ => return,
        };
        if self.changes.last().is_none_or(|c| c.turn != turn) {
            self.changes.push(TurnChanges {
                turn,
                ..TurnChanges::default()
            });
        }
        if let Some(c) = self.changes.last_mut() {
            if tool == "write_file" {
                if !c.files_written.contains(&what) {
                    c.files_written.push(what);
                }
            } else {
                c.commands_run.push(what);
            }
        }
    }

    /// The state as saved: JSON with every string run through the redaction of secrets
    /// (the conversation holds tool output, which may print a key).
    pub fn encode(&self) -> String {
        let mut json = match serde_json::to_value(self) {
            Ok(v) => v,
            // Every field is plain data; this cannot fail, but never panic in the loop.
            Err(e) => {
                return serde_json::json!({ "version": 0, "error": e.to_string() }).to_string();
            }
        };
        crate::redact::redact_json(&mut json);
        json.to_string()
    }

    /// Reads a saved state, refusing other versions and anything malformed.
    pub fn decode(text: &str) -> Result<Self, StateError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| StateError::Corrupt(e.to_string()))?;
        if !value.is_object() {
            return Err(StateError::Corrupt("not a JSON object".into()));
        }
        // Before states had a version (`{"turn", "messages"}` only) they were version 0.
        let found = value
            .get("version")
            .map_or(Some(0), serde_json::Value::as_u64)
            .ok_or_else(|| StateError::Corrupt("its version is not a number".into()))?;
        let found = u32::try_from(found).unwrap_or(u32::MAX);
        if found != STATE_VERSION {
            return Err(StateError::Version { found });
        }
        let st: Self =
            serde_json::from_value(value).map_err(|e| StateError::Corrupt(e.to_string()))?;
        if st.limit == 0 || st.turns > st.limit + 1 {
            return Err(StateError::Corrupt(format!(
                "turn {} of a limit of {}",
                st.turns, st.limit
            )));
        }
        Ok(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_round_trips_without_its_guard() {
        let mut st = RunState::new(5);
        st.turns = 2;
        st.model = "fake".into();
        st.messages = vec![Message::User {
            text: "count lines".into(),
        }];
        st.corrected.push(reply::Fault::FalseClaim);
        st.note_change(
            1,
            "write_file",
            r#"{"path": "a.txt", "content": "x"}"#,
            true,
        );
        st.note_change(2, "execute_command", r#"{"command": "wc -l a.txt"}"#, true);
        st.note_change(2, "read_file", r#"{"path": "a.txt"}"#, false);
        st.note_change(2, "fs__get_file", r#"{"path": "a.txt"}"#, false);
        st.note_change(
            2,
            "fs__move_file",
            r#"{"from": "a.txt", "to": "b.txt"}"#,
            true,
        );
        assert_eq!(
            st.changes[1].commands_run,
            [
                "wc -l a.txt",
                r#"fs__move_file {"from": "a.txt", "to": "b.txt"}"#
            ]
        );
        st.found_tools = vec!["fs__move_file".into()];
        let back = RunState::decode(&st.encode()).unwrap();
        assert_eq!(
            back.found_tools,
            ["fs__move_file"],
            "a resume keeps found tools"
        );
        assert_eq!(back.turns, 2);
        assert_eq!(back.messages, st.messages);
        assert_eq!(back.corrected, vec![reply::Fault::FalseClaim]);
        assert_eq!(back.changes, st.changes);
    }

    #[test]
    fn secrets_in_the_conversation_are_not_saved() {
        let mut st = RunState::new(5);
        st.messages = vec![Message::ToolResult {
            call_id: "c1".into(),
            name: "execute_command".into(),
            content: "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123456789".into(),
            is_error: false,
        }];
        let saved = st.encode();
        assert!(
            !saved.contains("abcdefghijklmnopqrstuvwxyz0123456789"),
            "{saved}"
        );
    }

    #[test]
    fn other_versions_and_garbage_are_refused_with_a_reason() {
        let old = r#"{"turn": 2, "messages": []}"#;
        let e = RunState::decode(old).unwrap_err();
        assert!(matches!(e, StateError::Version { found: 0 }), "{e}");
        let mut v: serde_json::Value = serde_json::from_str(&RunState::new(5).encode()).unwrap();
        v["version"] = 0.into();
        let e = RunState::decode(&v.to_string()).unwrap_err();
        assert!(e.to_string().contains("an older az-os"), "{e}");
        assert!(RunState::decode("{not json").is_err());
    }
}
