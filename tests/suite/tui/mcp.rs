//! MCP in the dashboard (issue 15): an MCP tool that asks is answered in the approval
//! dialog commands use, which shows the server, the tool and its arguments; the health
//! pane shows each MCP server's state as the engine reports it.

use az_os::engine::{Approval, Command, Event};
use az_os::health::Level;
use az_os::health::checks::ComponentCheck;
use az_os::tui::msg::Effect;
use pretty_assertions::assert_eq;
use ratatui::crossterm::event::KeyCode;

use super::{T0, ch, ev, global, model_sized, press, render, run_task, screen, update};

#[test]
fn an_mcp_tool_is_approved_in_the_dialog_commands_use() {
    let mut m = model_sized(120, 40);
    run_task(&mut m, "mcp001", "save the notes", T0, "fast-model");
    ev(
        &mut m,
        "mcp001",
        T0 + 1.0,
        Event::ApprovalRequested {
            request_id: "r1".into(),
            turn: 1,
            tool: "fs__write_file".into(),
            command: "server: fs\ntool: write_file\narguments: {\n  \"path\": \"notes.md\"\n}"
                .into(),
            reason: "tool write_file of MCP server fs is set to ask \
                     (mcp_servers[fs].approvals.write_file)"
                .into(),
        },
    );
    let text = screen(&render(&m));
    assert!(text.contains("Approve tool call?"), "{text}");
    assert!(!text.contains("Approve command?"), "{text}");
    assert!(text.contains("wants to run (fs__write_file)"), "{text}");
    assert!(text.contains("server: fs"), "{text}");
    assert!(text.contains("\"path\": \"notes.md\""), "{text}");
    update(&mut m, press(KeyCode::F(2)), T0 + 2.0);
    let fx = update(&mut m, ch('y'), T0 + 3.0);
    assert_eq!(
        fx.iter()
            .filter_map(|e| match e {
                Effect::Engine(Command::Approve {
                    request_id,
                    decision,
                    ..
                }) => Some((request_id.as_str(), *decision)),
                _ => None,
            })
            .collect::<Vec<_>>(),
        [("r1", Approval::Once)]
    );
}

fn server(name: &str, level: Level, detail: &str) -> ComponentCheck {
    ComponentCheck {
        name: format!("mcp:{name}"),
        kind: "mcp".into(),
        level,
        latency_ms: None,
        detail: format!("{detail} · stdio: fixture"),
        models: Vec::new(),
    }
}

#[test]
fn the_health_pane_shows_each_mcp_server_and_a_failed_one_degrades_it() {
    let mut m = model_sized(120, 40);
    global(
        &mut m,
        T0,
        Event::McpStatus {
            servers: vec![server("fs", Level::Healthy, "ready with 3 tools")],
        },
    );
    let text = screen(&render(&m));
    assert!(text.contains("● mcp:fs ready with 3 tools"), "{text}");
    global(
        &mut m,
        T0 + 5.0,
        Event::McpStatus {
            servers: vec![
                server("fs", Level::Healthy, "ready with 3 tools"),
                server("gh", Level::Degraded, "failed: command not found: gh-mcp"),
            ],
        },
    );
    let text = screen(&render(&m));
    assert!(
        text.contains("◐ mcp:gh failed: command not found"),
        "{text}"
    );
    assert!(!text.contains("stdio: fixture"), "{text}");
    assert_eq!(m.health.overall(), Level::Degraded);
}
