//! MCP servers nobody here wrote, from the npm registry: the reference filesystem and
//! "everything" servers over stdio, and "everything" over streamable HTTP. `.ci/run`
//! installs them (pinned) and sets AZ_OS_MCP_NPM_DIR; without it these tests say
//! "skipped" and pass.

use std::path::PathBuf;

use az_os::mcp::Hub;
use tokio_util::sync::CancellationToken;

use crate::common::TestEnv;
use crate::common::mcp::{ready, settings};

/// The npm prefix holding the servers, or `None` (and a line saying so).
fn npm_bin(test: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("AZ_OS_MCP_NPM_DIR") else {
        eprintln!(
            "skipped: {test}: AZ_OS_MCP_NPM_DIR is not set (.ci/run installs the npm MCP servers)"
        );
        return None;
    };
    let bin = PathBuf::from(dir).join("node_modules/.bin");
    for server in ["mcp-server-filesystem", "mcp-server-everything"] {
        if !bin.join(server).exists() {
            eprintln!("skipped: {test}: {} is missing", bin.join(server).display());
            return None;
        }
    }
    Some(bin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filesystem_server_reads_and_refuses_outside_its_root() {
    let Some(bin) = npm_bin("filesystem server") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("notes.txt"), "line one\nline two\n").unwrap();
    let s = settings(
        dir.path(),
        &format!(
            "[[mcp_servers]]\nname = \"fs\"\ncommand = {:?}\nargs = [{:?}]\nstartup_timeout_s = 30\n",
            bin.join("mcp-server-filesystem").display().to_string(),
            root.path().display().to_string()
        ),
    );
    let hub = Hub::start(&s);
    let st = ready(&hub, "fs").await;
    let read = st
        .tools
        .iter()
        .find(|t| t.name == "read_text_file")
        .unwrap();
    assert!(read.read_only);
    let write = st.tools.iter().find(|t| t.name == "write_file").unwrap();
    assert!(!write.read_only);
    assert_eq!(write.approval, az_os::mcp::Approval::Ask);
    let cancel = CancellationToken::new();
    let path = root.path().join("notes.txt").display().to_string();
    let out = hub
        .call(
            "fs__read_text_file",
            serde_json::json!({"path": path}),
            &cancel,
        )
        .await
        .unwrap();
    assert!(out.ok && out.text.contains("line two"), "{out:?}");
    let out = hub
        .call(
            "fs__read_text_file",
            serde_json::json!({"path": "/etc/hostname"}),
            &cancel,
        )
        .await
        .unwrap();
    assert!(!out.ok, "outside its root is an error: {out:?}");
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_everything_server_over_stdio_renders_images_and_structured_content() {
    let Some(bin) = npm_bin("everything server, stdio") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = settings(
        dir.path(),
        &format!(
            "[[mcp_servers]]\nname = \"every\"\ncommand = {:?}\nargs = [\"stdio\"]\nstartup_timeout_s = 30\n",
            bin.join("mcp-server-everything").display().to_string()
        ),
    );
    let hub = Hub::start(&s);
    let st = ready(&hub, "every").await;
    assert!(
        st.tools
            .iter()
            .any(|t| t.qualified == "every__get-tiny-image")
    );
    let cancel = CancellationToken::new();
    let call = |tool: &'static str, args: serde_json::Value| {
        let (hub, cancel) = (&hub, &cancel);
        async move { hub.call(tool, args, cancel).await.unwrap() }
    };
    let out = call("every__echo", serde_json::json!({"message": "hi"})).await;
    assert!(out.ok && out.text.contains("hi"), "{out:?}");
    let out = call("every__get-tiny-image", serde_json::json!({})).await;
    assert!(out.text.contains("[image image/png, "), "{}", out.text);
    assert!(out.text.len() < 2000, "the image is described, not dumped");
    let out = call(
        "every__get-structured-content",
        serde_json::json!({"location": "New York"}),
    )
    .await;
    assert!(out.text.contains("temperature"), "{}", out.text);
    hub.shutdown().await;
}

#[test]
fn the_everything_server_never_sees_our_provider_keys() {
    let Some(bin) = npm_bin("everything server, environment") else {
        return;
    };
    let env = TestEnv::new();
    std::fs::write(
        env.home().join("config.toml"),
        format!(
            "[[mcp_servers]]\nname = \"every\"\ncommand = {:?}\nargs = [\"stdio\"]\nstartup_timeout_s = 30\nenv = {{ GIVEN = \"to-the-server\" }}\n",
            bin.join("mcp-server-everything").display().to_string()
        ),
    )
    .unwrap();
    let out = env
        .cmd()
        .env("OPENROUTER_API_KEY", "sk-or-must-not-leak-7781")
        .args(["mcp", "call", "every", "get-env"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("to-the-server"), "{text}");
    assert!(!text.contains("sk-or-must-not-leak"), "{text}");
    assert!(!text.contains("AZ_OS_TEST_KEY"), "{text}");
}

/// Kills the HTTP server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_everything_server_over_streamable_http() {
    let Some(bin) = npm_bin("everything server, streamable HTTP") else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Server(
        std::process::Command::new(bin.join("mcp-server-everything"))
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    crate::common::mcp::eventually("the HTTP server listens", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(
        dir.path(),
        &format!(
            "[[mcp_servers]]\nname = \"web\"\nurl = \"http://127.0.0.1:{port}/mcp\"\nheaders = {{ X-Test = \"yes\" }}\nstartup_timeout_s = 30\n"
        ),
    );
    let hub = Hub::start(&s);
    let st = ready(&hub, "web").await;
    assert_eq!(st.transport, format!("http://127.0.0.1:{port}/mcp"));
    assert!(st.tools.iter().any(|t| t.qualified == "web__get-sum"));
    let cancel = CancellationToken::new();
    let out = hub
        .call(
            "web__get-sum",
            serde_json::json!({"a": 2, "b": 40}),
            &cancel,
        )
        .await
        .unwrap();
    assert!(out.ok && out.text.contains("42"), "{out:?}");
    hub.shutdown().await;
}
