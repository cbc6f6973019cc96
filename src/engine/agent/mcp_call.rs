//! One call of an MCP tool from the loop: its arguments checked (a JSON object), its
//! approval passed (`gate::check_mcp`: allow, ask as for commands, or deny), then the
//! hub's `call`, cancellable. Every failure — bad arguments, a refusal, a server that is
//! not ready, a timeout, the tool's own error — is an output the model reads; the act
//! step audits, caps and reports it like any tool's.

use tokio_util::sync::CancellationToken;

use super::Runner;
use super::gate;
use super::recorder::Recorder;
use crate::engine::tools::ToolOutput;
use crate::mcp::{CallError, McpTool, ServerState};

/// Runs `tool` with `raw` arguments. `Err` only when the task was cancelled while the
/// user was being asked.
pub(super) async fn run(
    runner: &Runner,
    rec: &Recorder,
    turn: u32,
    tool: &McpTool,
    raw: &str,
    approved: &mut gate::Approved,
    cancel: &CancellationToken,
) -> Result<(ToolOutput, Option<gate::Passage>), gate::Cancelled> {
    let args = match arguments(&tool.qualified, raw) {
        Ok(a) => a,
        Err(e) => return Ok((e, None)),
    };
    let passage = gate::check_mcp(runner, rec, turn, tool, raw, approved, cancel).await?;
    if let Some(r) = &passage.refusal {
        return Ok((ToolOutput::err(r.clone()), Some(passage)));
    }
    let out = match runner.mcp.call(&tool.qualified, args, cancel).await {
        Ok(o) => ToolOutput {
            ok: o.ok,
            output: o.text,
        },
        Err(e) => ToolOutput::err(e.to_string()),
    };
    Ok((out, Some(passage)))
}

/// The arguments as the server wants them: a JSON object (nothing sent counts as `{}`).
fn arguments(tool: &str, raw: &str) -> Result<serde_json::Value, ToolOutput> {
    let raw = if raw.trim().is_empty() { "{}" } else { raw };
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err(ToolOutput::err(format!(
            "invalid arguments for {tool}: not a JSON object. Send an object matching the tool's schema."
        ))),
        Err(e) => Err(ToolOutput::err(format!(
            "invalid arguments for {tool}: {e}. Send a JSON object matching the tool's schema."
        ))),
    }
}

/// Longest a call waits for the server it names to finish starting (the hub ends a
/// start after the server's own `startup_timeout_s`; this bounds the wait whatever
/// that is).
const START_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(120);

/// A tool that no ready server offered when the turn began, but whose server was
/// starting: waits until that server is done starting (or the task is cancelled) and
/// returns the tool if it is ready now. Nothing is offered before a server is ready, so
/// this is a model that knows a tool's name (from an earlier task, or a resume).
pub(super) async fn once_started(
    runner: &Runner,
    name: &str,
    cancel: &CancellationToken,
) -> Option<McpTool> {
    let (server, _) = name.split_once("__")?;
    let mut changed = runner.mcp.changed();
    let starting = || {
        runner
            .mcp
            .status()
            .iter()
            .any(|s| s.name == server && s.state == ServerState::Starting)
    };
    let wait = async {
        while starting() {
            if changed.changed().await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = tokio::time::timeout(START_WAIT_MAX, wait) => {}
        () = cancel.cancelled() => return None,
    }
    runner
        .mcp
        .tools()
        .iter()
        .find(|t| t.qualified == name)
        .cloned()
}

/// What the model reads when it calls `name`, which no ready server offers: when the
/// name is a configured server's, that server's state (its tools are withdrawn while it
/// is not ready).
pub(super) fn not_ready(runner: &Runner, name: &str) -> Option<ToolOutput> {
    let (server, _) = name.split_once("__")?;
    let status = runner.mcp.status();
    let s = status.iter().find(|s| s.name == server)?;
    let state = match &s.state {
        ServerState::Ready => return None,
        ServerState::Disabled => "disabled in config.toml".to_owned(),
        ServerState::Starting => "starting".to_owned(),
        ServerState::Failed { reason } => format!("failed: {reason}"),
        ServerState::Restarting { attempt, reason } => {
            format!("restarting (attempt {attempt}) after: {reason}")
        }
    };
    Some(ToolOutput::err(
        CallError::NotReady {
            server: server.to_owned(),
            state,
        }
        .to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_an_object() {
        assert_eq!(arguments("fs__x", "").ok(), Some(serde_json::json!({})));
        assert!(arguments("fs__x", r#"{"a": 1}"#).is_ok());
        let e = arguments("fs__x", "[1]").unwrap_err();
        assert!(e.output.contains("not a JSON object"), "{}", e.output);
        let e = arguments("fs__x", "{oops").unwrap_err();
        assert!(
            e.output.contains("invalid arguments for fs__x"),
            "{}",
            e.output
        );
    }
}
