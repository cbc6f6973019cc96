//! The tools a model may call, as one registry ([`Registry`]): each tool is defined once
//! — name, description, JSON schema (kept lean: they are sent with every request), whether
//! the command policy gates it, and how it runs. The loop, the prompt, the gate, the audit
//! log and the tests all read the registry; names are owned strings, so tools can be
//! registered at run time. Every failure becomes an observation the model can read,
//! never a panic.

mod execute_command;
mod fs_guard;
pub mod rank;
mod read_file;
mod search_memory;
pub mod text_calls;
mod write_file;

use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub use fs_guard::{PathError, confine, confine_outside};

use crate::llm::ToolSpec;
use crate::store::StoreHandle;

/// Largest observation kept in the conversation and in events.
pub const OBSERVATION_MAX_BYTES: usize = 8 * 1024;

/// A local tool's implementation.
pub type LocalFn = for<'a> fn(&'a str, &'a ToolCtx<'a>) -> BoxFuture<'a, ToolOutput>;

/// How a call to a tool is carried out.
#[derive(Clone, Copy)]
pub enum Run {
    /// In this process, with the task's context.
    Local(LocalFn),
    /// Ends the task with its `result` (the agent's loop).
    Finish,
    /// A side question to the task's model (the agent: it owns the model).
    QueryLlm,
    /// A tool of an MCP server: through its approval, then `mcp::Hub::call` (the agent).
    Mcp,
    /// `find_tools`: MCP tools matching a query, offered from the next turn on (the
    /// agent: it owns the loop state that keeps them).
    FindTools,
}

/// What stands between a call and its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Nothing beyond the tool's own checks (paths confined, sizes capped).
    None,
    /// A shell command: the policy decides (allow / ask / deny), then the sandbox.
    Command,
}

/// One tool: what the model sees, and how it runs.
#[derive(Clone)]
pub struct Tool {
    pub spec: ToolSpec,
    pub gate: Gate,
    pub run: Run,
}

impl Tool {
    fn new(
        name: &str,
        description: &str,
        parameters: serde_json::Value,
        gate: Gate,
        run: Run,
    ) -> Self {
        Self {
            spec: ToolSpec {
                name: name.to_owned(),
                description: description.to_owned(),
                parameters,
            },
            gate,
            run,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// An MCP server's tool, under its qualified name (`server__tool`).
    pub fn mcp(tool: &crate::mcp::McpTool) -> Self {
        Self {
            spec: ToolSpec {
                name: tool.qualified.clone(),
                description: tool.description.clone(),
                parameters: tool.input_schema.clone(),
            },
            gate: Gate::None,
            run: Run::Mcp,
        }
    }

    /// `find_tools`: offered only when the MCP servers have more tools than are sent
    /// with every request (`[mcp] tool_threshold`).
    pub fn find_tools() -> Self {
        Self::new(
            FIND_TOOLS,
            "Find more tools (from MCP servers) by what they do; the ones found can be called from your next turn.",
            json!({"type": "object", "properties": {"query": {"type": "string"}},
                "required": ["query"]}),
            Gate::None,
            Run::FindTools,
        )
    }
}

/// The meta tool's name.
pub const FIND_TOOLS: &str = "find_tools";

/// The tools of an engine, in the order they are offered.
#[derive(Clone)]
pub struct Registry {
    tools: Vec<Tool>,
}

impl Registry {
    /// The six built-in tools.
    pub fn builtin() -> Self {
        let local = |f: LocalFn| Run::Local(f);
        Self {
            tools: vec![
                Tool::new(
                    "read_file",
                    "Read a text file. offset/limit select lines (1-based).",
                    json!({"type": "object", "properties": {
                        "path": {"type": "string"}, "offset": {"type": "integer"}, "limit": {"type": "integer"}},
                        "required": ["path"]}),
                    Gate::None,
                    local(|a, c| Box::pin(read_file::run(a, c))),
                ),
                Tool::new(
                    "write_file",
                    "Create or overwrite a file with content.",
                    json!({"type": "object", "properties": {
                        "path": {"type": "string"}, "content": {"type": "string"}},
                        "required": ["path", "content"]}),
                    Gate::None,
                    local(|a, c| Box::pin(write_file::run(a, c))),
                ),
                Tool::new(
                    "execute_command",
                    "Run a shell command (sh -c) in the workdir; returns exit code and output.",
                    json!({"type": "object", "properties": {
                        "command": {"type": "string"}, "timeout_s": {"type": "integer"}},
                        "required": ["command"]}),
                    Gate::Command,
                    local(|a, c| Box::pin(execute_command::run(a, c))),
                ),
                Tool::new(
                    "query_llm",
                    "Ask a language model a self-contained question.",
                    json!({"type": "object", "properties": {"prompt": {"type": "string"}},
                        "required": ["prompt"]}),
                    Gate::None,
                    Run::QueryLlm,
                ),
                Tool::new(
                    "search_memory",
                    "Search lessons from past tasks and the workdir's indexed documents.",
                    json!({"type": "object", "properties": {
                        "query": {"type": "string"}, "k": {"type": "integer"},
                        "in": {"enum": ["lessons", "docs", "all"]}}, "required": ["query"]}),
                    Gate::None,
                    local(|a, c| Box::pin(search_memory::run(a, c))),
                ),
                Tool::new(
                    "finish",
                    "End the task with the final result.",
                    json!({"type": "object", "properties": {"result": {"type": "string"}},
                        "required": ["result"]}),
                    Gate::None,
                    Run::Finish,
                ),
            ],
        }
    }

    /// Adds a tool (run-time tools: MCP servers). A name already taken is refused.
    pub fn register(&mut self, tool: Tool) -> Result<(), String> {
        if self.get(tool.name()).is_some() {
            return Err(format!(
                "a tool named {} is already registered",
                tool.name()
            ));
        }
        self.tools.push(tool);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name() == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(Tool::name).collect()
    }

    /// The schemas sent to the model.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|t| t.spec.clone()).collect()
    }

    /// What the model reads when it calls a tool that does not exist.
    pub fn unknown(&self, name: &str) -> ToolOutput {
        ToolOutput::err(format!(
            "unknown tool {name:?}; available tools: {}",
            self.names().join(", ")
        ))
    }
}

/// The built-in tools' schemas (the prompt's size, tests).
pub fn specs() -> Vec<ToolSpec> {
    Registry::builtin().specs()
}

/// What a tool needs from the running task.
#[derive(Clone, Copy)]
pub struct ToolCtx<'a> {
    pub workdir: &'a PathBuf,
    /// The workdir's document index (`search_memory` with `"in": "docs"`).
    pub index: &'a std::path::Path,
    /// az-os's home (the index and the embedding model live there).
    pub home: &'a std::path::Path,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_defines_each_tool_once() {
        let r = Registry::builtin();
        assert_eq!(
            r.names(),
            [
                "read_file",
                "write_file",
                "execute_command",
                "query_llm",
                "search_memory",
                "finish"
            ]
        );
        assert!(r.specs().iter().all(|t| t.parameters["type"] == "object"));
        assert_eq!(
            r.get("execute_command").map(|t| t.gate),
            Some(Gate::Command)
        );
        let mut r = r;
        let dup = r.get("finish").cloned().unwrap();
        assert!(r.register(dup).is_err(), "names are unique");
        assert!(r.unknown("nope").output.contains("read_file, write_file"));
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
