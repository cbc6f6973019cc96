//! The tool calls of one turn: which run (at most `max_tool_calls_per_turn`), how the
//! conversation records them, and the turn's reflection on them.

use super::reply;
use crate::llm::{self, Message};

/// The calls one turn runs: at most `cap` of those asked for (the conversation keeps
/// only those, so every call in it gets its result), and whether they were read from
/// the reply's text (then they stay text in the conversation, and so do their results:
/// the server may not know tool messages).
pub(super) struct TurnCalls {
    pub(super) calls: Vec<llm::ToolCall>,
    asked: usize,
    cap: usize,
    from_text: Option<&'static str>,
}

impl TurnCalls {
    pub(super) fn new(
        mut calls: Vec<llm::ToolCall>,
        from_text: Option<&'static str>,
        cap: usize,
    ) -> Self {
        let asked = calls.len();
        calls.truncate(cap);
        Self {
            calls,
            asked,
            cap,
            from_text,
        }
    }

    fn skipped(&self) -> usize {
        self.asked - self.calls.len()
    }

    /// The model's reply, as the conversation keeps it.
    pub(super) fn record(&self, text: &str, messages: &mut Vec<Message>) {
        messages.push(Message::Assistant {
            text: text.to_owned(),
            tool_calls: if self.from_text.is_some() {
                Vec::new()
            } else {
                self.calls.clone()
            },
        });
    }

    /// After the calls ran (their results from `first_result` on): tells the model what
    /// was skipped, and turns text calls' results into one user message.
    pub(super) fn answer(&self, messages: &mut Vec<Message>, first_result: usize) {
        let (asked, cap, skipped) = (self.asked, self.cap, self.skipped());
        if skipped > 0
            && let Some(Message::ToolResult { content, .. }) = messages.last_mut()
        {
            content.push_str(&format!(
                "\n\nYour reply asked for {asked} tool calls; only the first {cap} ran (at most {cap} per turn, defaults.max_tool_calls_per_turn) and {skipped} were skipped. Send the ones still needed in your next reply."
            ));
        }
        if self.from_text.is_some() {
            let results = messages.split_off(first_result);
            messages.push(Message::User {
                text: reply::results_as_text(&results),
            });
        }
    }

    /// The turn's reflection.
    pub(super) fn summary(&self, failures: &[String]) -> String {
        let n = self.calls.len();
        let mut summary = if failures.is_empty() {
            format!("{n} action{} succeeded.", if n == 1 { "" } else { "s" })
        } else {
            format!(
                "{}; the model sees the error and can adjust.",
                failures.join("; ")
            )
        };
        if let Some(format) = self.from_text {
            summary.push_str(&format!(
                " (the call{} came from the reply's text: {format})",
                if n == 1 { "" } else { "s" }
            ));
        }
        let skipped = self.skipped();
        if skipped > 0 {
            summary.push_str(&format!(
                " {skipped} more call{} skipped (over the limit of {} per turn); the model was told.",
                if skipped == 1 { " was" } else { "s were" },
                self.cap
            ));
        }
        summary
    }
}
