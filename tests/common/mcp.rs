//! Support for the MCP tests: where the fixture server is, a settings file listing MCP
//! servers, and waiting on the hub without sleeping blindly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use az_os::config::{Home, Settings};
use az_os::mcp::{Hub, ServerState, ServerStatus};

/// The stdio MCP server of `examples/mcp_fixture.rs`, built by `cargo test` next to the
/// az-os binary.
pub fn fixture() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_az-os"))
        .parent()
        .unwrap_or_else(|| panic!("the binary has no folder"))
        .join("examples/mcp_fixture");
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds it; alone, run `cargo build --example mcp_fixture`",
        path.display()
    );
    path
}

/// A TOML `[[mcp_servers]]` entry running the fixture with `args`, plus `extra` lines.
pub fn fixture_server(name: &str, args: &[&str], extra: &str) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[[mcp_servers]]\nname = \"{name}\"\ncommand = {:?}\nargs = [{}]\n{extra}\n",
        fixture().display().to_string(),
        args.join(", ")
    )
}

/// Settings of a fresh home whose config.toml is `toml_text`.
pub fn settings(dir: &Path, toml_text: &str) -> Settings {
    std::fs::write(dir.join("config.toml"), toml_text).unwrap_or_else(|e| panic!("write: {e}"));
    let home = Home::resolve(Some(dir), None).unwrap_or_else(|e| panic!("{e}"));
    Settings::load(home).unwrap_or_else(|e| panic!("{e}"))
}

/// Waits (at most a minute, so a bug fails rather than hangs) until `pred` holds for the
/// status of server `name`; returns that status.
pub async fn wait_for(
    hub: &Hub,
    name: &str,
    what: &str,
    pred: impl Fn(&ServerStatus) -> bool,
) -> ServerStatus {
    let mut rx = hub.changed();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(s) = hub.status().into_iter().find(|s| s.name == name)
                && pred(&s)
            {
                return s;
            }
            assert!(rx.changed().await.is_ok(), "the hub went away");
        }
    })
    .await;
    found.unwrap_or_else(|_| {
        panic!(
            "{name} never became {what}: {:?}",
            hub.status().into_iter().find(|s| s.name == name)
        )
    })
}

pub async fn ready(hub: &Hub, name: &str) -> ServerStatus {
    wait_for(hub, name, "ready", |s| s.state == ServerState::Ready).await
}

/// Polls `cond` every 50 ms for at most 30 s (for facts outside the hub: a log file, a
/// process list).
pub async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..600 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

/// PIDs of processes whose command line holds `marker`.
pub fn pgrep(marker: &str) -> Vec<String> {
    let out = std::process::Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .unwrap_or_else(|e| panic!("pgrep: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
