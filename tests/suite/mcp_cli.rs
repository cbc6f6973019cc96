//! `az-os mcp list` and `az-os mcp call` through the built binary, with the fixture
//! server: output, JSON, exit codes, and no process left after Ctrl-C.

use std::time::Duration;

use crate::common::TestEnv;
use crate::common::mcp::{fixture_server, pgrep};

fn env_with(servers: &str) -> TestEnv {
    let env = TestEnv::new();
    std::fs::write(env.home().join("config.toml"), servers).unwrap();
    env
}

#[test]
fn list_shows_states_tools_and_reasons_as_text_and_json() {
    let env = env_with(
        &[
            fixture_server("fx", &["--bad-schema"], "approvals = { fail = \"deny\" }"),
            "[[mcp_servers]]\nname = \"gone\"\ncommand = \"az-os-no-such-mcp-server\"\n".into(),
        ]
        .concat(),
    );
    let out = env.cmd().args(["mcp", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("fx  ready  stdio: "), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("fx__echo") && l.contains("allow") && l.contains("read-only")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("fx__fail") && l.contains("deny")),
        "{text}"
    );
    assert!(text.contains("bad_schema\" skipped"), "{text}");
    assert!(text.contains("gone  failed"), "{text}");
    assert!(
        text.contains("fix mcp_servers[1].command in config.toml"),
        "{text}"
    );

    let out = env.cmd().args(["--json", "mcp", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["name"], "fx");
    assert_eq!(v[0]["state"]["state"], "ready");
    let echo = v[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "echo")
        .unwrap();
    assert_eq!(echo["qualified"], "fx__echo");
    assert_eq!(echo["approval"], "allow");
    assert_eq!(echo["read_only"], true);
    assert_eq!(v[1]["state"]["state"], "failed");
    assert!(
        v[1]["state"]["reason"]
            .as_str()
            .unwrap()
            .contains("not found")
    );
}

#[test]
fn call_prints_the_output_and_exits_by_outcome() {
    let env = env_with(&fixture_server("fx", &[], ""));
    let out = env
        .cmd()
        .args(["mcp", "call", "fx", "echo", r#"{"message": "hello"}"#])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "echo: hello\n");

    let out = env
        .cmd()
        .args(["mcp", "call", "fx", "fail"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a tool error exits 1");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "it failed, as asked\n"
    );

    let out = env
        .cmd()
        .args(["--json", "mcp", "call", "fx", "echo", "{}"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"ok": true, "text": "echo: "}));

    for (args, says) in [
        (vec!["mcp", "call", "fx", "nope"], "offers no tool \"nope\""),
        (
            vec!["mcp", "call", "nobody", "echo"],
            "no MCP server named \"nobody\"",
        ),
        (vec!["mcp", "call", "fx", "echo", "{not json"], "not JSON"),
        (vec!["mcp", "call", "fx", "echo", "[1]"], "JSON object"),
    ] {
        let out = env.cmd().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn ctrl_c_during_a_call_leaves_no_process_behind() {
    let marker = format!("azosmcpsigint{}", std::process::id());
    let env = env_with(&fixture_server(
        "fx",
        &["--sleeper", "--marker", &marker],
        "",
    ));
    let mut child = std::process::Command::new(crate::common::bin())
        .args(["mcp", "call", "fx", "hang"])
        .env("AZ_OS_HOME", env.home())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = false;
    for _ in 0..600 {
        if pgrep(&marker).len() >= 2 {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(seen, "the fixture and its sleeper never ran");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let mut left = pgrep(&marker);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        left = pgrep(&marker);
    }
    assert!(left.is_empty(), "orphans: {left:?}");
}
