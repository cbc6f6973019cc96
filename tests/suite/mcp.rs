//! The MCP hub against real processes: our fixture server (examples/mcp_fixture.rs)
//! listed, called, failing, hanging, crashing, changing its tool list, and servers that
//! are not there, exit at once, print garbage or never answer.

use az_os::mcp::{Approval, CallError, Hub, ServerState};
use tokio_util::sync::CancellationToken;

use crate::common::mcp::{eventually, fixture_server, pgrep, ready, settings, wait_for};

fn log_of(dir: &std::path::Path) -> (String, impl Fn() -> String) {
    let path = dir.join("fixture.log");
    let shown = path.display().to_string();
    (shown, move || {
        std::fs::read_to_string(&path).unwrap_or_default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_are_listed_across_pages_filtered_checked_and_called() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(
        dir.path(),
        &fixture_server(
            "fx",
            &["--tools", "7", "--bad-schema"],
            "env = { FIXTURE_GREETING = \"hello\" }\ntools = { deny = [\"filler_6\"] }\n\
             approvals = { big = \"allow\", late = \"deny\" }",
        ),
    );
    let hub = Hub::start(&s);
    let st = ready(&hub, "fx").await;
    let names: Vec<&str> = st.tools.iter().map(|t| t.name.as_str()).collect();
    // 7 own tools + 7 fillers + bad_schema over three pages of five; filler_6 denied,
    // bad_schema skipped with its reason.
    assert_eq!(names.len(), 13, "{names:?}");
    assert!(names.contains(&"filler_5") && !names.contains(&"filler_6"));
    assert!(
        st.skipped
            .iter()
            .any(|n| n.contains("bad_schema") && n.contains("\"object\"")),
        "{:?}",
        st.skipped
    );
    let echo = st.tools.iter().find(|t| t.name == "echo").unwrap();
    assert_eq!(echo.qualified, "fx__echo");
    assert!(echo.read_only);
    assert_eq!(
        echo.approval,
        Approval::Allow,
        "read-only defaults to allow"
    );
    let tool = |n: &str| st.tools.iter().find(|t| t.name == n).unwrap().approval;
    assert_eq!(tool("fail"), Approval::Ask, "others default to ask");
    assert_eq!(tool("big"), Approval::Allow, "per-tool approval");
    assert_eq!(hub.tools().len(), 13);

    let cancel = CancellationToken::new();
    let out = hub
        .call("fx__echo", serde_json::json!({"message": "hi"}), &cancel)
        .await
        .unwrap();
    assert!(out.ok);
    assert_eq!(out.text, "echo: hi");

    let out = hub
        .call("fx__fail", serde_json::json!({}), &cancel)
        .await
        .unwrap();
    assert!(!out.ok, "isError makes the call not ok");
    assert_eq!(out.text, "it failed, as asked");

    let out = hub
        .call("fx__media", serde_json::json!({}), &cancel)
        .await
        .unwrap();
    assert_eq!(
        out.text,
        "here you are\n[image image/png, 12 KB]\n[resource mem://note (text/plain, 11 B)]\n\
         inline note\n[resource link file:///tmp/report.pdf (application/pdf, 3 KB)] report.pdf\n\
         {\"count\":3}"
    );

    // The minimal environment: the configured variable and PATH/HOME, nothing else of ours.
    let env = |name: &'static str| {
        let hub = &hub;
        let cancel = &cancel;
        async move {
            hub.call("fx__env", serde_json::json!({"name": name}), cancel)
                .await
                .unwrap()
                .text
        }
    };
    assert_eq!(env("FIXTURE_GREETING").await, "hello");
    assert_ne!(env("PATH").await, "(unset)");
    assert_eq!(env("CARGO_MANIFEST_DIR").await, "(unset)");

    let err = hub
        .call("fx__nope", serde_json::json!({}), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::UnknownTool(_)), "{err}");
    let err = hub
        .call("fx__echo", serde_json::json!([1]), &cancel)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("JSON object"), "{err}");
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_changed_refreshes_and_deny_is_never_called() {
    let dir = tempfile::tempdir().unwrap();
    let (log, read_log) = log_of(dir.path());
    let s = settings(
        dir.path(),
        &fixture_server("fx", &["--log", &log], "approvals = { late = \"deny\" }"),
    );
    let hub = Hub::start(&s);
    ready(&hub, "fx").await;
    let cancel = CancellationToken::new();
    assert!(hub.tools().iter().all(|t| t.name != "late"));
    let out = hub
        .call("fx__add_tool", serde_json::json!({}), &cancel)
        .await
        .unwrap();
    assert_eq!(out.text, "added late");
    wait_for(&hub, "fx", "refreshed", |s| {
        s.tools.iter().any(|t| t.name == "late")
    })
    .await;
    assert!(hub.tools().iter().any(|t| t.qualified == "fx__late"));
    let err = hub
        .call("fx__late", serde_json::json!({}), &cancel)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("denied"), "{err}");
    hub.shutdown().await;
    assert!(
        !read_log().contains("call late"),
        "a denied tool reached the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_call_times_out_or_is_cancelled_and_the_server_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let (log, read_log) = log_of(dir.path());
    let s = settings(
        dir.path(),
        &fixture_server("fx", &["--log", &log], "tool_timeout_s = 1"),
    );
    let hub = Hub::start(&s);
    ready(&hub, "fx").await;
    let cancel = CancellationToken::new();
    let err = hub
        .call("fx__hang", serde_json::json!({}), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Timeout { secs: 1, .. }), "{err}");
    eventually("the fixture heard the cancel", || {
        read_log().contains("hang cancelled")
    })
    .await;

    let token = CancellationToken::new();
    let call = {
        let hub = hub.clone();
        let token = token.clone();
        tokio::spawn(async move { hub.call("fx__hang", serde_json::json!({}), &token).await })
    };
    eventually("the second hang started", || {
        read_log().matches("call hang").count() == 2
    })
    .await;
    token.cancel();
    let err = call.await.unwrap().unwrap_err();
    assert!(matches!(err, CallError::Cancelled), "{err}");
    eventually("the fixture heard the second cancel", || {
        read_log().matches("hang cancelled").count() == 2
    })
    .await;
    // The server is still usable after both.
    let out = hub
        .call("fx__echo", serde_json::json!({"message": "x"}), &cancel)
        .await;
    assert_eq!(out.unwrap().text, "echo: x");
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_server_is_withdrawn_then_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(
        dir.path(),
        &fixture_server("fx", &["--crash-after", "1"], ""),
    );
    let hub = Hub::start(&s);
    ready(&hub, "fx").await;
    let cancel = CancellationToken::new();
    let mut changes = hub.changed();
    let first = hub.call("fx__echo", serde_json::json!({}), &cancel).await;
    assert!(first.unwrap().ok);
    let err = hub
        .call("fx__echo", serde_json::json!({}), &cancel)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("went away"), "{err}");
    let st = wait_for(&hub, "fx", "restarting", |s| {
        matches!(s.state, ServerState::Restarting { attempt: 1, .. })
    })
    .await;
    assert!(st.tools.is_empty(), "tools are withdrawn while restarting");
    assert!(
        st.state.reason().unwrap().contains("exit status: 7"),
        "{:?}",
        st.state
    );
    assert!(hub.tools().is_empty());
    assert!(changes.has_changed().unwrap());
    let err = hub
        .call("fx__echo", serde_json::json!({}), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::NotReady { .. }), "{err}");
    let st = wait_for(&hub, "fx", "ready again", |s| {
        s.state == ServerState::Ready && s.restarts == 1
    })
    .await;
    assert!(!st.tools.is_empty());
    let out = hub
        .call("fx__echo", serde_json::json!({"message": "back"}), &cancel)
        .await;
    assert_eq!(out.unwrap().text, "echo: back");
    changes.mark_unchanged();
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_servers_fail_with_the_fix_and_the_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let text = [
        fixture_server("good", &[], ""),
        "[[mcp_servers]]\nname = \"missing\"\ncommand = \"az-os-no-such-mcp-server\"\n".into(),
        fixture_server("quits", &["--mode", "exit"], ""),
        fixture_server("garbage", &["--mode", "garbage"], "startup_timeout_s = 2"),
        fixture_server("silent", &["--mode", "silent"], "startup_timeout_s = 1"),
        fixture_server("off", &[], "enabled = false"),
    ]
    .concat();
    let s = settings(dir.path(), &text);
    let hub = Hub::start(&s);
    hub.wait_settled(std::time::Duration::from_secs(30)).await;
    let st = hub.status();
    let reason = |name: &str| {
        let s = st.iter().find(|s| s.name == name).unwrap();
        match &s.state {
            ServerState::Failed { reason } => reason.clone(),
            other => panic!("{name} should have failed, is {other:?}"),
        }
    };
    assert_eq!(st[0].state, ServerState::Ready);
    let r = reason("missing");
    assert!(
        r.contains("`az-os-no-such-mcp-server` not found") && r.contains("mcp_servers[1].command"),
        "{r}"
    );
    let r = reason("quits");
    assert!(
        r.contains("exited at once") && r.contains("exiting at once, as asked"),
        "{r}"
    );
    let r = reason("garbage");
    assert!(
        r.contains("This program is not an MCP server") && r.contains("stderr"),
        "{r}"
    );
    let r = reason("silent");
    assert!(r.contains("did not answer initialize within 1 s"), "{r}");
    assert_eq!(st[5].state, ServerState::Disabled);
    let cancel = CancellationToken::new();
    let err = hub
        .call("off__echo", serde_json::json!({}), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::NotReady { .. }), "{err}");
    let out = hub
        .call(
            "good__echo",
            serde_json::json!({"message": "fine"}),
            &cancel,
        )
        .await;
    assert_eq!(out.unwrap().text, "echo: fine");
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_results_are_cut_and_huge_ones_dropped_without_buffering() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(
        dir.path(),
        &fixture_server("fx", &[], "tool_timeout_s = 120"),
    );
    let hub = Hub::start(&s);
    ready(&hub, "fx").await;
    let cancel = CancellationToken::new();
    let out = hub
        .call(
            "fx__big",
            serde_json::json!({"bytes": 2 * 1024 * 1024}),
            &cancel,
        )
        .await
        .unwrap();
    assert!(out.text.len() < az_os::mcp::MAX_OUTPUT + 200);
    assert!(
        out.text
            .ends_with("the tool returned more than az-os keeps]"),
        "cut notice"
    );
    let err = hub
        .call(
            "fx__big",
            serde_json::json!({"bytes": 50 * 1024 * 1024}),
            &cancel,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("over 8 MiB"), "{err}");
    let out = hub
        .call("fx__echo", serde_json::json!({"message": "ok"}), &cancel)
        .await;
    assert_eq!(out.unwrap().text, "echo: ok", "the connection survives");
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_no_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("azosmcpshutdown{}", std::process::id());
    let s = settings(
        dir.path(),
        &fixture_server("fx", &["--sleeper", "--marker", &marker], ""),
    );
    let hub = Hub::start(&s);
    ready(&hub, "fx").await;
    eventually("fixture and its sleeper run", || pgrep(&marker).len() >= 2).await;
    hub.shutdown().await;
    eventually("no process left", || pgrep(&marker).is_empty()).await;
}

/// The engine holds its servers until its first request is answered: a held server has
/// no process (its log file is never written) until `release`, then starts as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_hub_starts_its_servers_only_when_released() {
    let dir = tempfile::tempdir().unwrap();
    let (log, read_log) = log_of(dir.path());
    let s = settings(dir.path(), &fixture_server("fx", &["--log", &log], ""));
    let hub = Hub::start_held(&s, std::time::Duration::from_secs(600));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(hub.status()[0].state, ServerState::Starting);
    assert!(
        read_log().is_empty(),
        "no process before release: {}",
        read_log()
    );
    hub.release();
    let st = ready(&hub, "fx").await;
    assert!(!st.tools.is_empty());
    hub.shutdown().await;
}
