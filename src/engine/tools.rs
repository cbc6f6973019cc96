//! The tools a model may call: their schemas (kept lean, since they are sent with
//! every request) and dispatch from a model's tool call to the implementation.
//! Every failure becomes an observation the model can read, never a panic.

mod execute_command;
mod fs_guard;
mod read_file;
mod search_memory;
pub mod text_calls;
mod write_file;

use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub use fs_guard::{PathError, confine, confine_outside};

use crate::llm::ToolSpec;
use crate::store::StoreHandle;

/// Names of every tool, in the order they are offered.
pub const TOOL_NAMES: [&str; 6] = [
    "read_file",
    "write_file",
    "execute_command",
    "query_llm",
    "search_memory",
    "finish",
];

/// Largest observation kept in the conversation and in events.
pub const OBSERVATION_MAX_BYTES: usize = 8 * 1024;

/// The tool schemas sent to the model.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "read_file",
            description: "Read a text file. offset/limit select lines (1-based).",
            parameters: json!({"type": "object", "properties": {
                "path": {"type": "string"}, "offset": {"type": "integer"}, "limit": {"type": "integer"}},
                "required": ["path"]}),
        },
        ToolSpec {
            name: "write_file",
            description: "Create or overwrite a file with content.",
            parameters: json!({"type": "object", "properties": {
                "path": {"type": "string"}, "content": {"type": "string"}},
                "required": ["path", "content"]}),
        },
        ToolSpec {
            name: "execute_command",
            description: "Run a shell command (sh -c) in the workdir; returns exit code and output.",
            parameters: json!({"type": "object", "properties": {
                "command": {"type": "string"}, "timeout_s": {"type": "integer"}},
                "required": ["command"]}),
        },
        ToolSpec {
            name: "query_llm",
            description: "Ask a language model a self-contained question.",
            parameters: json!({"type": "object", "properties": {"prompt": {"type": "string"}},
                "required": ["prompt"]}),
        },
        ToolSpec {
            name: "search_memory",
            description: "Search lessons from past tasks.",
            parameters: json!({"type": "object", "properties": {
                "query": {"type": "string"}, "k": {"type": "integer"}}, "required": ["query"]}),
        },
        ToolSpec {
            name: "finish",
            description: "End the task with the final result.",
            parameters: json!({"type": "object", "properties": {"result": {"type": "string"}},
                "required": ["result"]}),
        },
    ]
}

/// What a tool needs from the running task.
#[derive(Clone, Copy)]
pub struct ToolCtx<'a> {
    pub workdir: &'a PathBuf,
    pub cancel: &'a CancellationToken,
    pub command_timeout: Duration,
    pub store: &'a StoreHandle,
    /// How `execute_command` starts its process.
    pub sandbox: &'a crate::sandbox::Sandbox,
    /// The task's private temp dir (`TMPDIR`, writable in the sandbox).
    pub tmp: &'a std::path::Path,
    /// Run confined (the sandbox is available and on).
    pub confined: bool,
}

impl ToolCtx<'_> {
    /// `path` inside the workdir and outside az-os's own files, or why not.
    pub fn confine(&self, path: &str) -> Result<PathBuf, ToolOutput> {
        confine_outside(self.workdir, path, self.sandbox.protected())
            .map_err(|e| ToolOutput::err(e.to_string()))
    }
}

/// A tool's answer: whether it succeeded and what the model should read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolOutput {
    pub ok: bool,
    pub output: String,
}

impl ToolOutput {
    pub fn ok(output: impl Into<String>) -> Self {
        Self {
            ok: true,
            output: output.into(),
        }
    }

    pub fn err(output: impl Into<String>) -> Self {
        Self {
            ok: false,
            output: output.into(),
        }
    }
}

/// Parses a tool's JSON arguments, or explains to the model what was wrong.
pub fn parse_args<T: DeserializeOwned>(tool: &str, raw: &str) -> Result<T, ToolOutput> {
    let raw = if raw.trim().is_empty() { "{}" } else { raw };
    serde_json::from_str(raw).map_err(|e| {
        ToolOutput::err(format!(
            "invalid arguments for {tool}: {e}. Send a JSON object matching the tool's schema."
        ))
    })
}

/// Runs one of the file, command and memory tools. (`query_llm` and `finish`
/// need the conversation, so the agent handles them.)
pub async fn run_local(name: &str, args: &str, ctx: &ToolCtx<'_>) -> ToolOutput {
    match name {
        "read_file" => read_file::run(args, ctx).await,
        "write_file" => write_file::run(args, ctx).await,
        "execute_command" => execute_command::run(args, ctx).await,
        "search_memory" => search_memory::run(args, ctx).await,
        other => ToolOutput::err(format!(
            "unknown tool {other:?}; available tools: {}",
            TOOL_NAMES.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_match_names_and_are_objects() {
        let s = specs();
        let names: Vec<_> = s.iter().map(|t| t.name).collect();
        assert_eq!(names, TOOL_NAMES);
        assert!(s.iter().all(|t| t.parameters["type"] == "object"));
    }

    #[test]
    fn bad_arguments_explain_themselves() {
        #[derive(serde::Deserialize, Debug)]
        struct A {
            #[allow(dead_code)]
            path: String,
        }
        let e = parse_args::<A>("read_file", "{\"path\": 3}").unwrap_err();
        assert!(!e.ok);
        assert!(
            e.output.contains("invalid arguments for read_file"),
            "{}",
            e.output
        );
        assert!(parse_args::<A>("read_file", "not json").is_err());
    }
}
