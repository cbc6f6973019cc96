//! `az-os mcp list` and `az-os mcp call`: the MCP servers of config.toml seen from the
//! command line, for setting them up and debugging them. Both start the servers as the
//! engine would (`crate::mcp::Hub`), wait for them to settle, and stop every child
//! before returning, Ctrl-C included (exit 130). `mcp serve` is only passed on to `mcp_serve`.

use color_eyre::eyre::{Result, WrapErr, eyre};

use super::args::McpCmd;
use super::style::{self, color_enabled, paint};
use super::{Ctx, Exit, exit, print, print_json};
use crate::config::Settings;
use crate::mcp::{Approval, CallError, Hub, ServerState, ServerStatus};

pub fn run(ctx: &Ctx, action: McpCmd) -> Result<i32> {
    let settings = ctx.settings()?;
    match action {
        McpCmd::List => list(ctx, &settings),
        McpCmd::Call {
            server,
            tool,
            arguments,
        } => call(ctx, &settings, &server, &tool, &arguments),
        McpCmd::Serve { yes, jobs } => crate::mcp_serve::serve_command(ctx, yes, jobs),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("cannot start the async runtime")
}

/// Runs `work` with the hub started; Ctrl-C stops it. Every server is stopped after.
fn with_hub<T>(settings: &Settings, work: impl AsyncFnOnce(&Hub) -> T) -> Result<Option<T>> {
    runtime()?.block_on(async {
        // Listening before any server starts, so no Ctrl-C can kill us with children left.
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .wrap_err("cannot listen for Ctrl-C")?;
        let hub = Hub::start(settings);
        let out = tokio::select! {
            out = work(&hub) => Some(out),
            _ = interrupt.recv() => None,
        };
        hub.shutdown().await;
        Ok(out)
    })
}

fn list(ctx: &Ctx, settings: &Settings) -> Result<i32> {
    if settings.mcp_servers.is_empty() {
        if ctx.global.json {
            print_json(&Vec::<ServerStatus>::new())?;
        } else {
            print(&format!(
                "No MCP servers: add [[mcp_servers]] to {} (README: \"MCP servers\").\n",
                ctx.home.config_file().display()
            ))?;
        }
        return Ok(exit::OK);
    }
    let wait = crate::mcp::settle_time(settings);
    let Some(status) = with_hub(settings, async |hub: &Hub| {
        hub.wait_settled(wait).await;
        hub.status()
    })?
    else {
        return Ok(exit::INTERRUPTED);
    };
    if ctx.global.json {
        print_json(&status)?;
    } else {
        print(&render(&status, color_enabled(true)))?;
    }
    Ok(exit::OK)
}

fn state_style(s: &ServerState) -> anstyle::Style {
    match s {
        ServerState::Ready => style::green(),
        ServerState::Failed { .. } => style::red(),
        ServerState::Restarting { .. } | ServerState::Starting => style::yellow(),
        ServerState::Disabled => style::dim(),
    }
}

fn approval_word(a: Approval) -> &'static str {
    match a {
        Approval::Allow => "allow",
        Approval::Ask => "ask",
        Approval::Deny => "deny",
    }
}

fn render(status: &[ServerStatus], color: bool) -> String {
    let mut out = String::new();
    for s in status {
        out.push_str(&format!(
            "{}  {}  {}",
            paint(color, style::bold(), &s.name),
            paint(color, state_style(&s.state), s.state.label()),
            s.transport
        ));
        if s.restarts > 0 {
            out.push_str(&format!("  ({} restarts)", s.restarts));
        }
        out.push('\n');
        if let Some(reason) = s.state.reason() {
            out.push_str(&format!("    {reason}\n"));
        }
        let width = s.tools.iter().map(|t| t.qualified.len()).max().unwrap_or(0);
        for t in &s.tools {
            let first_line = t.description.lines().next().unwrap_or("");
            out.push_str(&format!(
                "    {:width$}  {:5}  {:9}  {}\n",
                t.qualified,
                approval_word(t.approval),
                if t.read_only { "read-only" } else { "writes" },
                crate::util::text::ellipsize(first_line, 70),
            ));
        }
        for note in &s.skipped {
            out.push_str(&format!("    {}\n", paint(color, style::yellow(), note)));
        }
    }
    out
}

fn call(ctx: &Ctx, settings: &Settings, server: &str, tool: &str, json: &str) -> Result<i32> {
    let Some(cfg) = settings.mcp_servers.iter().find(|s| s.name == server) else {
        let known: Vec<&str> = settings
            .mcp_servers
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        return Err(eyre!(Exit::usage(format!(
            "no MCP server named {server:?} in {}; known: {}",
            ctx.home.config_file().display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ))));
    };
    if !cfg.enabled {
        return Err(eyre!(Exit::usage(format!(
            "MCP server {server:?} is disabled (enabled = false in config.toml)"
        ))));
    }
    let args: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| eyre!(Exit::usage(format!("the arguments are not JSON: {e}"))))?;
    if !args.is_object() {
        return Err(eyre!(Exit::usage(
            "the arguments must be a JSON object, e.g. '{\"path\": \"/tmp\"}'"
        )));
    }
    let qualified = crate::mcp::qualify(server, tool);
    let wait = crate::mcp::settle_time(settings);
    let cancel = tokio_util::sync::CancellationToken::new();
    let outcome = with_hub(settings, async |hub: &Hub| {
        hub.wait_settled(wait).await;
        let status = hub.status();
        let me = status.iter().find(|s| s.name == server);
        if let Some(s) = me
            && s.state == ServerState::Ready
            && !s.tools.iter().any(|t| t.name == tool)
        {
            let names: Vec<&str> = s.tools.iter().map(|t| t.name.as_str()).collect();
            return Err(format!(
                "MCP server {server} offers no tool {tool:?}; it offers: {}",
                names.join(", ")
            ));
        }
        Ok(hub.call(&qualified, args, &cancel).await)
    })?;
    let result = match outcome {
        None => return Ok(exit::INTERRUPTED),
        Some(Err(usage)) => return Err(eyre!(Exit::usage(usage))),
        Some(Ok(r)) => r,
    };
    match result {
        Ok(out) => {
            if ctx.global.json {
                print_json(&serde_json::json!({"ok": out.ok, "text": out.text}))?;
            } else {
                let mut text = out.text;
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                print(&text)?;
            }
            Ok(if out.ok { exit::OK } else { exit::TASK_FAILED })
        }
        Err(e @ (CallError::UnknownTool(_) | CallError::NotReady { .. })) => {
            Err(eyre!(Exit::usage(e.to_string())))
        }
        Err(CallError::Cancelled) => Ok(exit::INTERRUPTED),
        Err(e @ (CallError::Timeout { .. } | CallError::Failed(_))) => Err(eyre!(Exit {
            code: exit::TASK_FAILED,
            message: e.to_string(),
        })),
    }
}
