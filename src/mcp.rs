//! MCP (Model Context Protocol) client: the servers listed under `[[mcp_servers]]` in
//! config.toml, started in the background, their tools offered to the model next to
//! the built-in ones (namespaced `server__tool`), and calls to them.
//!
//! The engine only sees [`Hub`]: a snapshot of the ready servers' tools, each
//! server's state, and `call`. Starting, restarts and the wire live behind it.

mod render;
mod server;
mod stdio;
mod tools;

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::McpServerConfig;
pub use render::MAX_OUTPUT;
pub use stdio::{MAX_LINE, PASS_ENV};
pub use tools::qualify;

/// Whether a tool may run: without asking, after the user approves, or never.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    Allow,
    Ask,
    Deny,
}

/// One tool of a ready server, as the model sees it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum ServerState {
    Disabled,
    Starting,
    Ready,
    Failed { reason: String },
    Restarting { attempt: u32, reason: String },
}

/// One server, for `mcp list`, health and the dashboard.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ServerStatus {
    pub name: String,
    /// `stdio: npx -y …` or the URL.
    pub transport: String,
    pub state: ServerState,
    pub tools: Vec<McpTool>,
    pub restarts: u32,
    /// Tools the server lists that are not offered, each with why (invalid schema,
    /// a name that clashes once qualified).
    pub skipped: Vec<String>,
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

impl ServerState {
    /// One word: disabled, starting, ready, failed, restarting.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::Failed { .. } => "failed",
            Self::Restarting { .. } => "restarting",
        }
    }

    /// Why the server is not ready, when it says.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Failed { reason } | Self::Restarting { reason, .. } => Some(reason),
            Self::Disabled | Self::Starting | Self::Ready => None,
        }
    }
}

impl std::fmt::Display for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Restarting { attempt, reason } => {
                write!(f, "restarting (attempt {attempt}): {reason}")
            }
            Self::Failed { reason } => write!(f, "failed: {reason}"),
            Self::Disabled | Self::Starting | Self::Ready => f.write_str(self.label()),
        }
    }
}

/// Longest a command that starts the servers only to read them (`mcp list`, `mcp call`,
/// `health`) waits for them to settle: twice the slowest server's startup timeout
/// (`initialize`, then `tools/list`) and half a second.
pub fn settle_time(settings: &crate::config::Settings) -> Duration {
    let secs = settings
        .mcp_servers
        .iter()
        .filter(|s| s.enabled)
        .map(|s| s.startup_timeout_s)
        .max()
        .unwrap_or(0);
    Duration::from_secs(secs.saturating_mul(2)) + Duration::from_millis(500)
}

/// The MCP servers of one engine.
pub struct Hub {
    shared: Arc<Shared>,
    stop: CancellationToken,
    /// Cancelled when the servers may start (see [`Hub::start_held`]).
    go: CancellationToken,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// What the hub and its server tasks share.
pub(crate) struct Shared {
    slots: Vec<Slot>,
    /// The tools of ready servers, rebuilt on every change.
    tools: RwLock<Arc<Vec<McpTool>>>,
    changed: tokio::sync::watch::Sender<u64>,
}

struct Slot {
    cfg: McpServerConfig,
    inner: Mutex<SlotState>,
}

struct SlotState {
    state: ServerState,
    tools: Vec<McpTool>,
    skipped: Vec<String>,
    /// Tools left out because another server's tool has the same qualified name.
    clashes: Vec<String>,
    restarts: u32,
    conn: Option<server::Conn>,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Shared {
    fn set(&self, index: usize, state: ServerState, conn: Option<server::Conn>) {
        {
            let mut s = self.slots[index].lock();
            s.state = state;
            s.conn = conn;
            s.tools.clear();
            s.skipped.clear();
        }
        self.publish();
    }

    fn set_ready(&self, index: usize, listed: tools::Listed, conn: server::Conn) {
        {
            let mut s = self.slots[index].lock();
            s.state = ServerState::Ready;
            s.conn = Some(conn);
            s.tools = listed.tools;
            s.skipped = listed.skipped;
        }
        self.publish();
    }

    fn bump_restarts(&self, index: usize) {
        self.slots[index].lock().restarts += 1;
        self.publish();
    }

    /// Rebuilds the tool snapshot (first server in config order wins a name) and tells
    /// the watchers.
    fn publish(&self) {
        let mut all: Vec<McpTool> = Vec::new();
        let mut seen = std::collections::BTreeMap::<String, String>::new();
        for slot in &self.slots {
            let mut s = slot.lock();
            let mut clashes = Vec::new();
            if s.state == ServerState::Ready {
                for t in &s.tools {
                    if let Some(other) = seen.get(&t.qualified) {
                        clashes.push(format!(
                            "tool {:?} skipped: its name {:?} is taken by server {other}",
                            t.name, t.qualified
                        ));
                    } else {
                        seen.insert(t.qualified.clone(), t.server.clone());
                        all.push(t.clone());
                    }
                }
            }
            s.clashes = clashes;
        }
        *self.tools.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(all);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Hub {
    /// Starts every enabled server in the background; returns at once. Outside a tokio
    /// runtime the servers are Failed (nothing can run them).
    pub fn start(settings: &crate::config::Settings) -> Arc<Hub> {
        let hub = Self::start_held(settings, Duration::ZERO);
        hub.release();
        hub
    }

    /// [`Hub::start`], but the servers' processes start only on [`Hub::release`] or after
    /// `hold`, whichever comes first. The engine releases them once its first model
    /// request has been answered: starting a few servers costs CPU (process start-up,
    /// `initialize`) that would otherwise compete with the first request on a small
    /// machine. A call to a tool of a held server waits for it like one still starting.
    pub fn start_held(settings: &crate::config::Settings, hold: Duration) -> Arc<Hub> {
        let runtime = tokio::runtime::Handle::try_current().ok();
        let slots = settings
            .mcp_servers
            .iter()
            .map(|cfg| {
                let state = match (cfg.enabled, &runtime) {
                    (false, _) => ServerState::Disabled,
                    (true, Some(_)) => ServerState::Starting,
                    (true, None) => ServerState::Failed {
                        reason: "az-os started MCP servers outside its async runtime (a bug)"
                            .into(),
                    },
                };
                Slot {
                    cfg: cfg.clone(),
                    inner: Mutex::new(SlotState {
                        state,
                        tools: Vec::new(),
                        skipped: Vec::new(),
                        clashes: Vec::new(),
                        restarts: 0,
                        conn: None,
                    }),
                }
            })
            .collect();
        let shared = Arc::new(Shared {
            slots,
            tools: RwLock::new(Arc::new(Vec::new())),
            changed: tokio::sync::watch::channel(0).0,
        });
        let stop = CancellationToken::new();
        let go = CancellationToken::new();
        let mut tasks = Vec::new();
        if let Some(rt) = runtime {
            for (index, slot) in shared.slots.iter().enumerate() {
                if slot.lock().state == ServerState::Starting {
                    let (shared, stop, go) = (shared.clone(), stop.clone(), go.clone());
                    tasks.push(rt.spawn(async move {
                        tokio::select! {
                            () = go.cancelled() => {}
                            () = tokio::time::sleep(hold) => {}
                            () = stop.cancelled() => return,
                        }
                        server::run(shared, index, stop).await;
                    }));
                }
            }
        }
        Arc::new(Hub {
            shared,
            stop,
            go,
            tasks: Mutex::new(tasks),
        })
    }

    /// Lets held servers start now (idempotent, cheap).
    pub fn release(&self) {
        self.go.cancel();
    }

    /// The tools of the servers that are ready now.
    pub fn tools(&self) -> Arc<Vec<McpTool>> {
        self.shared
            .tools
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every configured server, in config order; a server's `tools` are those offered
    /// (a tool whose name another server took first is under `skipped`).
    pub fn status(&self) -> Vec<ServerStatus> {
        let offered = self.tools();
        self.shared
            .slots
            .iter()
            .map(|slot| {
                let s = slot.lock();
                ServerStatus {
                    name: slot.cfg.name.clone(),
                    transport: slot.cfg.transport(),
                    state: s.state.clone(),
                    tools: s
                        .tools
                        .iter()
                        .filter(|t| {
                            offered
                                .iter()
                                .any(|o| o.qualified == t.qualified && o.server == t.server)
                        })
                        .cloned()
                        .collect(),
                    restarts: s.restarts,
                    skipped: s.skipped.iter().chain(&s.clashes).cloned().collect(),
                }
            })
            .collect()
    }

    /// Bumped on any change of a server's state or tools.
    pub fn changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    /// Waits until no server is starting, or `timeout`.
    pub async fn wait_settled(&self, timeout: Duration) {
        let mut rx = self.changed();
        let settled = async {
            loop {
                let starting = self
                    .shared
                    .slots
                    .iter()
                    .any(|s| s.lock().state == ServerState::Starting);
                if !starting || rx.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(timeout, settled).await;
    }

    /// Calls a tool by its qualified name, within the server's `tool_timeout_s`;
    /// `cancel` abandons it (the server is sent `notifications/cancelled`).
    pub async fn call(
        &self,
        qualified: &str,
        args: serde_json::Value,
        cancel: &CancellationToken,
    ) -> Result<CallOutput, CallError> {
        let found = self
            .tools()
            .iter()
            .find(|t| t.qualified == qualified)
            .cloned()
            .and_then(|t| {
                let slot = self.shared.slots.iter().find(|s| s.cfg.name == t.server)?;
                let conn = slot.lock().conn.clone();
                Some((slot, t, conn))
            });
        let Some((slot, tool, Some(conn))) = found else {
            let prefix = |slot: &&Slot| qualified.starts_with(&format!("{}__", slot.cfg.name));
            if let Some(slot) = self.shared.slots.iter().find(prefix) {
                let state = slot.lock().state.clone();
                if state != ServerState::Ready {
                    return Err(CallError::NotReady {
                        server: slot.cfg.name.clone(),
                        state: state.to_string(),
                    });
                }
            }
            return Err(CallError::UnknownTool(qualified.to_owned()));
        };
        if tool.approval == Approval::Deny {
            return Err(CallError::Failed(format!(
                "{qualified} is denied by config.toml (mcp_servers approvals); it is never called"
            )));
        }
        let arguments = match args {
            serde_json::Value::Object(map) => map,
            serde_json::Value::Null => serde_json::Map::new(),
            other => {
                return Err(CallError::Failed(format!(
                    "the arguments of {qualified} must be a JSON object, not {other}"
                )));
            }
        };
        let server = slot.cfg.name.clone();
        let secs = slot.cfg.tool_timeout_s;
        let params =
            rmcp::model::CallToolRequestParams::new(tool.name.clone()).with_arguments(arguments);
        let mut oversized = conn.oversized.clone();
        if let Some(rx) = oversized.as_mut() {
            rx.borrow_and_update();
        }
        let too_big = async {
            let fired = match oversized.as_mut() {
                Some(rx) => rx.changed().await.is_ok(),
                None => false,
            };
            if !fired {
                std::future::pending::<()>().await;
            }
        };
        // Dropping the call's future (timeout, cancel) makes rmcp send
        // notifications/cancelled for it.
        tokio::select! {
            r = conn.peer.call_tool_once(params) => match r {
                Ok(rmcp::model::CallToolResponse::Complete(result)) => Ok(render::render(&result)),
                Ok(_) => Err(CallError::Failed(format!(
                    "MCP server {server} answered {qualified} with a task or a request for input, which az-os does not support"
                ))),
                Err(rmcp::service::ServiceError::TransportClosed) => Err(CallError::Failed(format!(
                    "MCP server {server} went away during the call; it is being restarted and its tools are withdrawn until it is back"
                ))),
                Err(rmcp::service::ServiceError::McpError(e)) => Err(CallError::Failed(format!(
                    "MCP server {server} refused the call: {} (code {})",
                    e.message, e.code.0
                ))),
                Err(e) => Err(CallError::Failed(format!("MCP server {server}: {e}"))),
            },
            () = tokio::time::sleep(Duration::from_secs(secs)) => Err(CallError::Timeout { server, secs }),
            () = cancel.cancelled() => Err(CallError::Cancelled),
            () = too_big => Err(CallError::Failed(format!(
                "MCP server {server} sent a reply over {} MiB, which was dropped unread; ask the tool for less",
                MAX_LINE / (1024 * 1024)
            ))),
        }
    }

    /// Stops every server's process and waits for it.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for t in tasks {
            let _ = t.await;
        }
    }
}

impl Drop for Hub {
    /// Without `shutdown`, the server tasks still stop (their processes are killed when
    /// dropped, or when the tasks see the cancel).
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(server: &str, name: &str) -> McpTool {
        McpTool {
            server: server.into(),
            name: name.into(),
            qualified: qualify(server, name),
            description: String::new(),
            input_schema: serde_json::json!({"type": "object"}),
            read_only: false,
            approval: Approval::Ask,
        }
    }

    #[test]
    fn a_name_clash_across_servers_keeps_the_first_and_says_so() {
        let cfg = |name: &str| -> McpServerConfig {
            toml::from_str(&format!("name = \"{name}\"\ncommand = \"x\"")).unwrap()
        };
        let slot = |name: &str, tools: Vec<McpTool>| Slot {
            cfg: cfg(name),
            inner: Mutex::new(SlotState {
                state: ServerState::Ready,
                tools,
                skipped: Vec::new(),
                clashes: Vec::new(),
                restarts: 0,
                conn: None,
            }),
        };
        let shared = Arc::new(Shared {
            slots: vec![
                slot("p", vec![tool("p", "q__r"), tool("p", "own")]),
                slot("p__q", vec![tool("p__q", "r")]),
            ],
            tools: RwLock::new(Arc::new(Vec::new())),
            changed: tokio::sync::watch::channel(0).0,
        });
        shared.publish();
        let hub = Hub {
            shared,
            stop: CancellationToken::new(),
            go: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
        };
        let names: Vec<(String, String)> = hub
            .tools()
            .iter()
            .map(|t| (t.server.clone(), t.qualified.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("p".to_owned(), "p__q__r".to_owned()),
                ("p".to_owned(), "p__own".to_owned())
            ]
        );
        let status = hub.status();
        assert!(
            status[1].tools.is_empty(),
            "the clashing tool is not offered"
        );
        assert!(
            status[1].skipped[0].contains("\"p__q__r\" is taken by server p"),
            "{:?}",
            status[1].skipped
        );
        assert_eq!(*hub.changed().borrow(), 1);
    }
}
