//! The MCP servers' part of health: each configured server as a component — ready with
//! its tools, starting, failed and why, restarting — for `az-os health` (which starts
//! the servers, waits for them to settle, and stops them) and for the dashboard's pane
//! (the engine's hub, on every change). A server that is not ready makes health
//! degraded, never unhealthy: tasks run without its tools.

use std::time::Duration;

use super::Level;
use super::checks::ComponentCheck;
use crate::config::Settings;
use crate::mcp::{Hub, ServerState, ServerStatus};

/// Longest `az-os health` waits for servers still starting (each has its own
/// `startup_timeout_s`, which the hub enforces; this bounds the check as a whole).
const SETTLE_MAX: Duration = Duration::from_secs(15);

/// Each server as a component. `settled`: the servers have had their time to start, so
/// one still starting is degraded (in the live pane, starting is normal).
pub fn checks(status: &[ServerStatus], settled: bool) -> Vec<ComponentCheck> {
    status
        .iter()
        .map(|s| {
            let (level, detail) = match &s.state {
                ServerState::Ready => {
                    let n = s.tools.len();
                    let plural = if n == 1 { "" } else { "s" };
                    (Level::Healthy, format!("ready with {n} tool{plural}"))
                }
                ServerState::Disabled => (Level::Healthy, "disabled".to_owned()),
                ServerState::Starting if settled => (
                    Level::Degraded,
                    "still starting: raise startup_timeout_s, or see `az-os mcp list`".to_owned(),
                ),
                ServerState::Starting => (Level::Healthy, "starting".to_owned()),
                ServerState::Failed { reason } => (Level::Degraded, format!("failed: {reason}")),
                ServerState::Restarting { attempt, reason } => (
                    Level::Degraded,
                    format!("restarting (attempt {attempt}): {reason}"),
                ),
            };
            ComponentCheck {
                name: format!("mcp:{}", s.name),
                kind: "mcp".into(),
                level,
                latency_ms: None,
                detail: format!("{detail} · {}", s.transport),
                models: Vec::new(),
            }
        })
        .collect()
}

/// Starts the configured servers, waits until none is starting (or [`SETTLE_MAX`]),
/// reads their states and stops them. No servers: nothing, at once.
pub async fn probe(settings: &Settings) -> Vec<ComponentCheck> {
    let hub = Hub::start(settings);
    if hub.status().is_empty() {
        hub.shutdown().await;
        return Vec::new();
    }
    hub.wait_settled(crate::mcp::settle_time(settings).min(SETTLE_MAX))
        .await;
    let found = checks(&hub.status(), true);
    hub.shutdown().await;
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str, state: ServerState) -> ServerStatus {
        ServerStatus {
            name: name.into(),
            transport: "stdio: fixture".into(),
            state,
            tools: Vec::new(),
            restarts: 0,
            skipped: Vec::new(),
        }
    }

    #[test]
    fn a_server_that_is_not_ready_degrades_health_and_says_why() {
        let status = [
            server("ok", ServerState::Ready),
            server(
                "gone",
                ServerState::Failed {
                    reason: "command not found: nosuch".into(),
                },
            ),
            server(
                "flaky",
                ServerState::Restarting {
                    attempt: 2,
                    reason: "exited with code 1".into(),
                },
            ),
            server("slow", ServerState::Starting),
        ];
        let live = checks(&status, false);
        let levels: Vec<Level> = live.iter().map(|c| c.level).collect();
        assert_eq!(
            levels,
            [
                Level::Healthy,
                Level::Degraded,
                Level::Degraded,
                Level::Healthy
            ]
        );
        assert_eq!(live[0].detail, "ready with 0 tools · stdio: fixture");
        assert!(live[1].detail.contains("command not found: nosuch"));
        assert!(live[2].detail.contains("attempt 2"));
        assert_eq!(live[1].name, "mcp:gone");
        assert!(live.iter().all(|c| c.kind == "mcp"));
        assert_eq!(checks(&status, true)[3].level, Level::Degraded);
    }
}
