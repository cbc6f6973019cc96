//! One configured server's life, in its own tokio task: start (stdio child or
//! streamable HTTP), `initialize` and `tools/list` within `startup_timeout_s`, then Ready
//! until the server goes away or the hub stops; a re-list on
//! `notifications/tools/list_changed`; restarts with backoff (1 s, 2 s, 4 s … 60 s)
//! once it has been ready, its tools withdrawn meanwhile. A server that never got
//! ready stays Failed with the reason: retrying a missing command helps nobody.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::{NotificationContext, RoleClient, ServiceExt};
use rmcp::{ClientHandler, Peer};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use super::stdio::{self, MAX_LINE, Process};
use super::{ServerState, Shared, tools};
use crate::config::McpServerConfig;

/// Longest wait between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long a stopping server gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// What calls need of a ready server.
#[derive(Clone)]
pub struct Conn {
    pub peer: Peer<RoleClient>,
    /// Bumped when the server sent a message over [`MAX_LINE`] (stdio only).
    pub oversized: Option<tokio::sync::watch::Receiver<u64>>,
}

/// Hears `notifications/tools/list_changed`.
struct Handler {
    list_changed: Arc<Notify>,
}

impl ClientHandler for Handler {
    fn on_tool_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.list_changed.notify_one();
        std::future::ready(())
    }

    fn get_info(&self) -> ClientConfig {
        // The last revision with `initialize`, which every server we know speaks; rmcp
        // negotiates down to what the server answers.
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("az-os", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }
}

/// How a session ended.
enum Ended {
    Stopped,
    /// Never got ready: the reason names the fix.
    StartFailed(String),
    /// Was ready, then went away.
    Died(String),
}

/// Runs server `index` until `stop`.
pub async fn run(shared: Arc<Shared>, index: usize, stop: CancellationToken) {
    let mut attempt: u32 = 0;
    let mut ever_ready = false;
    loop {
        let ended = session(&shared, index, &stop, &mut ever_ready).await;
        let reason = match ended {
            Ended::Stopped => break,
            Ended::StartFailed(reason) if !ever_ready => {
                tracing::info!(target: "az_os::mcp", server = %shared.slots[index].cfg.name, "failed: {reason}");
                shared.set(index, ServerState::Failed { reason }, None);
                break;
            }
            Ended::StartFailed(reason) => reason,
            Ended::Died(reason) => {
                attempt = 0;
                reason
            }
        };
        attempt += 1;
        tracing::warn!(target: "az_os::mcp", server = %shared.slots[index].cfg.name, attempt, "restarting: {reason}");
        shared.set(index, ServerState::Restarting { attempt, reason }, None);
        let delay = Duration::from_secs(1u64 << (attempt - 1).min(6)).min(MAX_BACKOFF);
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
        shared.bump_restarts(index);
    }
}

type Serving = std::pin::Pin<
    Box<
        dyn Future<
                Output = Result<
                    rmcp::service::RunningService<RoleClient, Handler>,
                    rmcp::service::ClientInitializeError,
                >,
            > + Send,
    >,
>;

/// One start of the server and its ready life.
async fn session(
    shared: &Shared,
    index: usize,
    stop: &CancellationToken,
    ever_ready: &mut bool,
) -> Ended {
    let cfg = &shared.slots[index].cfg;
    let startup = Duration::from_secs(cfg.startup_timeout_s);
    let list_changed = Arc::new(Notify::new());
    let handler = Handler {
        list_changed: list_changed.clone(),
    };
    // Cancelling it ends rmcp's service loop, which closes the child's stdin.
    let ct = CancellationToken::new();
    let _end_service = ct.clone().drop_guard();
    let (mut process, serving): (Option<Process>, Serving) = if let Some(url) = &cfg.url {
        match http_transport(cfg, index, url, startup).await {
            Ok(t) => (None, Box::pin(handler.serve_with_ct(t, ct.clone()))),
            Err(reason) => return Ended::StartFailed(reason),
        }
    } else {
        let env = match resolve(&cfg.env, index, "env").await {
            Ok(env) => env,
            Err(reason) => return Ended::StartFailed(reason),
        };
        let (process, (out, inp)) = match stdio::spawn(cfg, index, &env) {
            Ok(p) => p,
            Err(reason) => return Ended::StartFailed(reason),
        };
        drop(env);
        let transport =
            rmcp::transport::async_rw::AsyncRwTransport::<RoleClient, _, _>::new(out, inp)
                .with_max_line_length(MAX_LINE);
        (
            Some(process),
            Box::pin(handler.serve_with_ct(transport, ct.clone())),
        )
    };
    let outcome = tokio::select! {
        () = stop.cancelled() => None,
        r = tokio::time::timeout(startup, serving) => Some(r),
    };
    let service = match outcome {
        None => {
            if let Some(p) = process {
                p.stop(STOP_GRACE).await;
            }
            return Ended::Stopped;
        }
        Some(Ok(Ok(service))) => service,
        Some(Ok(Err(e))) => {
            return Ended::StartFailed(start_failure(cfg, index, process, Some(&e)).await);
        }
        Some(Err(_elapsed)) => {
            return Ended::StartFailed(start_failure(cfg, index, process, None).await);
        }
    };
    let peer = service.peer().clone();
    let listed = tokio::select! {
        () = stop.cancelled() => None,
        r = tokio::time::timeout(startup, peer.list_all_tools()) => Some(r),
    };
    let listed = match listed {
        None => {
            ct.cancel();
            if let Some(p) = process {
                p.stop(STOP_GRACE).await;
            }
            return Ended::Stopped;
        }
        Some(Ok(Ok(listed))) => listed,
        Some(Ok(Err(e))) => {
            let reason = format!("tools/list failed: {e}");
            return Ended::StartFailed(with_tail(reason, process.take()).await);
        }
        Some(Err(_)) => {
            let reason = format!(
                "no answer to tools/list within {} s; raise mcp_servers[{index}].startup_timeout_s if the server is slow",
                cfg.startup_timeout_s
            );
            return Ended::StartFailed(with_tail(reason, process.take()).await);
        }
    };
    *ever_ready = true;
    let conn = Conn {
        peer: peer.clone(),
        oversized: process.as_ref().map(|p| p.watch.oversized.subscribe()),
    };
    shared.set_ready(index, tools::convert(cfg, listed), conn.clone());
    let mut quit = tokio::spawn(service.waiting());
    loop {
        tokio::select! {
            () = stop.cancelled() => {
                ct.cancel();
                let _ = tokio::time::timeout(STOP_GRACE, &mut quit).await;
                if let Some(p) = process {
                    p.stop(STOP_GRACE).await;
                }
                return Ended::Stopped;
            }
            () = list_changed.notified() => {
                match tokio::time::timeout(startup, peer.list_all_tools()).await {
                    Ok(Ok(listed)) => shared.set_ready(index, tools::convert(cfg, listed), conn.clone()),
                    Ok(Err(e)) => tracing::warn!(target: "az_os::mcp", server = %cfg.name, "tools/list after list_changed failed: {e}"),
                    Err(_) => tracing::warn!(target: "az_os::mcp", server = %cfg.name, "tools/list after list_changed timed out"),
                }
            }
            status = wait_child(process.as_mut()) => {
                ct.cancel();
                let reason = format!("the server exited ({status})");
                return Ended::Died(with_tail(reason, process.take()).await);
            }
            _ = &mut quit => {
                // Usually because it exited: say how, if it did.
                let exited = match process.as_mut() {
                    Some(p) => tokio::time::timeout(Duration::from_millis(300), p.child.wait())
                        .await
                        .ok()
                        .and_then(Result::ok),
                    None => None,
                };
                let reason = match exited {
                    Some(status) => format!("the server exited ({status})"),
                    None => "the server closed the connection".to_owned(),
                };
                return Ended::Died(with_tail(reason, process.take()).await);
            }
        }
    }
}

/// Waits for the child to exit; never returns for HTTP servers.
async fn wait_child(process: Option<&mut Process>) -> String {
    match process {
        Some(p) => match p.child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => format!("cannot wait for it: {e}"),
        },
        None => std::future::pending().await,
    }
}

/// `reason` with the last lines of the server's stderr; stops the process.
async fn with_tail(reason: String, process: Option<Process>) -> String {
    let Some(p) = process else { return reason };
    let tail = p.stderr_tail();
    p.stop(STOP_GRACE).await;
    match tail {
        Some(t) => format!("{reason}; its stderr ends: {t}"),
        None => reason,
    }
}

/// Why a server did not answer `initialize`, with the fix; stops the process.
async fn start_failure(
    cfg: &McpServerConfig,
    index: usize,
    process: Option<Process>,
    err: Option<&rmcp::service::ClientInitializeError>,
) -> String {
    let secs = cfg.startup_timeout_s;
    let Some(mut p) = process else {
        let url = cfg.url.as_deref().unwrap_or_default();
        return match err {
            Some(e) => format!(
                "cannot connect to {url}: {e}; check that the server runs and that mcp_servers[{index}].url is its streamable HTTP endpoint"
            ),
            None => format!(
                "no answer from {url} within {secs} s; check the server, or raise mcp_servers[{index}].startup_timeout_s"
            ),
        };
    };
    let shown = cfg.transport();
    let shown = shown.strip_prefix("stdio: ").unwrap_or(&shown);
    // A server that died while starting has usually exited by now; give it a moment.
    let exited = tokio::time::timeout(Duration::from_millis(300), p.child.wait())
        .await
        .ok()
        .and_then(Result::ok);
    let mut reason = match (exited, err) {
        (Some(status), _) => {
            format!("`{shown}` exited at once ({status}) before answering initialize")
        }
        (None, Some(e)) => format!("`{shown}` failed to initialize: {e}"),
        (None, None) => format!(
            "`{shown}` did not answer initialize within {secs} s; check that it is an MCP server on stdio, or raise mcp_servers[{index}].startup_timeout_s"
        ),
    };
    if let Some(g) = p.garbage() {
        reason.push_str(&format!(
            "; it wrote non-MCP text on stdout ({g:?}): an MCP server may write only JSON-RPC there (logs belong on stderr)"
        ));
    }
    with_tail(reason, Some(p)).await
}

/// The streamable HTTP transport of `url`, with the configured headers resolved.
async fn http_transport(
    cfg: &McpServerConfig,
    index: usize,
    url: &str,
    startup: Duration,
) -> Result<rmcp::transport::StreamableHttpClientTransport<reqwest::Client>, String> {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let resolved = resolve(&cfg.headers, index, "headers").await?;
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &resolved {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| format!("header {k}: {e}"))?;
        let mut value = reqwest::header::HeaderValue::from_str(v.as_str())
            .map_err(|_| format!("header {k}: the value is not a valid HTTP header value"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    crate::llm::init_tls();
    let client = reqwest::Client::builder()
        .connect_timeout(startup)
        .user_agent(concat!("az-os/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let config = StreamableHttpClientTransportConfig::with_uri(url)
        .max_sse_event_size(MAX_LINE)
        .max_json_response_size(MAX_LINE);
    Ok(rmcp::transport::StreamableHttpClientTransport::with_client(
        client, config,
    ))
}

/// `env` or `headers` with `vault:NAME` values read from the vault (off the runtime:
/// opening the vault derives a key).
async fn resolve(
    map: &std::collections::BTreeMap<String, String>,
    index: usize,
    what: &'static str,
) -> Result<Vec<(String, Zeroizing<String>)>, String> {
    if !map.values().any(|v| v.starts_with("vault:")) {
        return Ok(map
            .iter()
            .map(|(k, v)| (k.clone(), Zeroizing::new(v.clone())))
            .collect());
    }
    let map = map.clone();
    tokio::task::spawn_blocking(move || {
        map.into_iter()
            .map(|(k, v)| match v.strip_prefix("vault:") {
                Some(name) => crate::vault::key(name)
                    .map(|secret| (k.clone(), secret))
                    .map_err(|e| match e {
                        crate::config::KeyError::Vault { ref fix, .. } => {
                            format!("mcp_servers[{index}].{what}.{k}: {e}; fix: {fix}")
                        }
                        crate::config::KeyError::EnvMissing(_) => {
                            format!("mcp_servers[{index}].{what}.{k}: {e}")
                        }
                    }),
                None => Ok((k, Zeroizing::new(v))),
            })
            .collect()
    })
    .await
    .map_err(|e| format!("reading the vault failed: {e}"))?
}
