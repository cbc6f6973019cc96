//! `[knowledge]` in `config.toml`: whether tasks index their workdir and how much of what
//! matches goes into the first request. Only the settings live here; the index is
//! `crate::knowledge`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// Index the workdir (incrementally) when a task starts.
    pub auto_index: bool,
    /// Most tokens of matching chunks added to a task's first request; 0 adds none.
    /// Every byte is paid again on every turn, so this stays small.
    pub context_tokens: usize,
    /// How long the first request may wait for the workdir's index update, in ms;
    /// past it the task goes on with what the index already holds.
    pub index_wait_ms: u64,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            auto_index: true,
            context_tokens: 400,
            index_wait_ms: 300,
        }
    }
}

impl KnowledgeConfig {
    /// The first invalid setting as (key, problem, fix).
    pub fn invalid(&self) -> Option<(String, String, &'static str)> {
        if self.context_tokens > 8000 {
            return Some((
                "knowledge.context_tokens".into(),
                format!("{} is out of range", self.context_tokens),
                "use 0 (none) to 8000 tokens; every one is sent with every turn",
            ));
        }
        if self.index_wait_ms > 60_000 {
            return Some((
                "knowledge.index_wait_ms".into(),
                format!("{} is out of range", self.index_wait_ms),
                "use 0 to 60000 ms",
            ));
        }
        None
    }
}
