//! MCP (Model Context Protocol) client: the servers listed under `[[mcp_servers]]` in
//! config.toml, started in the background, their tools offered to the model next to
//! the built-in ones (namespaced `server__tool`), and calls to them.
//!
//! The engine only sees [`Hub`]: a snapshot of the ready servers' tools, each
//! server's state, and `call`. Starting, restarts and the wire live behind it.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Whether a tool may run: without asking, after the user approves, or never.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    Allow,
    Ask,
    Deny,
}

/// One tool of a ready server, as the model sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct McpTool {
    pub server: String,
    /// The server's own name for the tool.
    pub name: String,
    /// What the model sees: `{server}__{name}`, sanitised to `^[a-zA-Z0-9_-]{1,64}$`.
    pub qualified: String,
    pub description: String,
    pub input_schema: serde_json::Value,
    /// The server says the tool changes nothing (`annotations.readOnlyHint`).
    pub read_only: bool,
    /// The effective policy: the config's, or allow when read-only, ask otherwise.
    pub approval: Approval,
}

/// Where a server is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerState {
    Disabled,
    Starting,
    Ready,
    Failed { reason: String },
    Restarting { attempt: u32, reason: String },
}

/// One server, for `mcp list`, health and the dashboard.
#[derive(Clone, Debug)]
pub struct ServerStatus {
    pub name: String,
    /// `stdio: npx -y …` or the URL.
    pub transport: String,
    pub state: ServerState,
    pub tools: Vec<McpTool>,
    pub restarts: u32,
}

/// A call's result, rendered for the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallOutput {
    pub ok: bool,
    pub text: String,
}

/// Why a call did not produce a result. The message is written for the model.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("unknown MCP tool {0:?}")]
    UnknownTool(String),
    #[error("MCP server {server} is not ready ({state}); its tools are withdrawn until it is")]
    NotReady { server: String, state: String },
    #[error("MCP server {server} did not answer within {secs} s")]
    Timeout { server: String, secs: u64 },
    #[error("the call was cancelled")]
    Cancelled,
    #[error("{0}")]
    Failed(String),
}

/// The MCP servers of one engine.
pub struct Hub {
    changed: tokio::sync::watch::Sender<u64>,
}

impl Hub {
    /// Starts every enabled server in the background; returns at once.
    pub fn start(_settings: &crate::config::Settings) -> Arc<Hub> {
        Arc::new(Hub {
            changed: tokio::sync::watch::channel(0).0,
        })
    }

    /// The tools of the servers that are ready now.
    pub fn tools(&self) -> Arc<Vec<McpTool>> {
        Arc::new(Vec::new())
    }

    pub fn status(&self) -> Vec<ServerStatus> {
        Vec::new()
    }

    /// Bumped on any change of a server's state or tools.
    pub fn changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Waits until no server is starting, or `timeout`.
    pub async fn wait_settled(&self, _timeout: Duration) {}

    pub async fn call(
        &self,
        qualified: &str,
        _args: serde_json::Value,
        _cancel: &CancellationToken,
    ) -> Result<CallOutput, CallError> {
        Err(CallError::UnknownTool(qualified.to_owned()))
    }

    /// Stops every server's process and waits for it.
    pub async fn shutdown(&self) {}
}
