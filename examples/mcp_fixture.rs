//! A small MCP server on stdio, built with rmcp's server side, for az-os's MCP tests
//! and benchmark. `cargo test` builds it; tests find it next to the az-os binary
//! (`target/debug/examples/mcp_fixture`).
//!
//! Flags:
//!   --mode normal|garbage|exit|silent   garbage: non-JSON on stdout, then silence;
//!                                       exit: exit 3 at once; silent: never answer
//!   --crash-after N     exit 7 after the Nth call (any tool)
//!   --tools N           also list N filler tools (`filler_0` …), five per page
//!   --bad-schema        also list a tool whose input schema is of type string
//!   --log FILE          append what happens (start, call NAME, cancelled) to FILE
//!   --sleeper           start `sh -c 'sleep 300; true MARKER'` (orphan tests)
//!   --marker WORD       ignored: lets a test find this process with pgrep
//!
//! Tools: echo (read-only), fail (isError), hang (until cancelled), big {bytes},
//! media (image, resources, structured content), add_tool (adds `late`, then
//! notifications/tools/list_changed), env {name}.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelledNotificationParam,
    ContentBlock, ListToolsResult, PaginatedRequestParams, Resource, ResourceContents,
    ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::json;

const PAGE: usize = 5;

struct Fixture {
    crash_after: Option<u32>,
    fillers: usize,
    bad_schema: bool,
    log: Option<String>,
    calls: AtomicU32,
    late: AtomicBool,
}

impl Fixture {
    fn log(&self, line: &str) {
        if let Some(path) = &self.log
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }

    fn tools(&self) -> Vec<Tool> {
        let schema = |props: serde_json::Value| {
            let serde_json::Value::Object(obj) = json!({"type": "object", "properties": props})
            else {
                unreachable!()
            };
            Arc::new(obj)
        };
        let mut tools = vec![
            Tool::new(
                "echo",
                "Echo the message back",
                schema(json!({"message": {"type": "string"}})),
            )
            .with_annotations(ToolAnnotations::new().read_only(true)),
            Tool::new("fail", "Always fails", schema(json!({}))),
            Tool::new("hang", "Never answers until cancelled", schema(json!({}))),
            Tool::new(
                "big",
                "Return this many bytes of text",
                schema(json!({"bytes": {"type": "integer"}})),
            ),
            Tool::new(
                "media",
                "An image, resources and structured content",
                schema(json!({})),
            ),
            Tool::new(
                "add_tool",
                "Add the tool `late` and say so",
                schema(json!({})),
            ),
            Tool::new(
                "env",
                "The value of an environment variable, or (unset)",
                schema(json!({"name": {"type": "string"}})),
            ),
        ];
        if self.late.load(Ordering::SeqCst) {
            tools.push(Tool::new("late", "Added by add_tool", schema(json!({}))));
        }
        if self.bad_schema {
            let serde_json::Value::Object(obj) = json!({"type": "string"}) else {
                unreachable!()
            };
            tools.push(Tool::new(
                "bad_schema",
                "Its schema is not an object",
                Arc::new(obj),
            ));
        }
        for i in 0..self.fillers {
            tools.push(Tool::new(
                format!("filler_{i}"),
                format!("Filler tool number {i}"),
                schema(json!({})),
            ));
        }
        tools
    }
}

fn text(s: impl Into<String>) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(s)]).into()
}

impl ServerHandler for Fixture {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let all = self.tools();
        let start: usize = request
            .and_then(|r| r.cursor)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let end = (start + PAGE).min(all.len());
        let mut page = ListToolsResult::with_all_items(all[start.min(end)..end].to_vec());
        if end < all.len() {
            page.next_cursor = Some(end.to_string());
        }
        Ok(page)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.log(&format!("call {}", request.name));
        if self.crash_after.is_some_and(|limit| n > limit) {
            self.log("crash");
            std::process::exit(7);
        }
        let arg = |k: &str| request.arguments.as_ref().and_then(|a| a.get(k)).cloned();
        Ok(match request.name.as_ref() {
            "echo" => text(format!(
                "echo: {}",
                arg("message")
                    .and_then(|m| m.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )),
            "fail" => CallToolResult::error(vec![ContentBlock::text("it failed, as asked")]).into(),
            "hang" => {
                context.ct.cancelled().await;
                self.log("hang cancelled");
                text("cancelled")
            }
            "big" => {
                let n = arg("bytes").and_then(|b| b.as_u64()).unwrap_or(0);
                text("x".repeat(usize::try_from(n).unwrap_or(0)))
            }
            "media" => {
                let mut link = Resource::new("file:///tmp/report.pdf", "report.pdf");
                link.mime_type = Some("application/pdf".into());
                link.size = Some(3 * 1024);
                let mut r = CallToolResult::success(vec![
                    ContentBlock::text("here you are"),
                    ContentBlock::image("A".repeat(16_384), "image/png"),
                    ContentBlock::resource(ResourceContents::text("inline note", "mem://note")),
                    ContentBlock::resource_link(link),
                ]);
                r.structured_content = Some(json!({"count": 3}));
                r.into()
            }
            "add_tool" => {
                self.late.store(true, Ordering::SeqCst);
                let _ = context.peer.notify_tool_list_changed().await;
                text("added late")
            }
            "env" => {
                let name = arg("name")
                    .and_then(|m| m.as_str().map(str::to_owned))
                    .unwrap_or_default();
                text(std::env::var(&name).unwrap_or_else(|_| "(unset)".into()))
            }
            "late" => text("late tool called"),
            other => return Err(ErrorData::invalid_params(format!("no tool {other}"), None)),
        })
    }

    async fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        _context: NotificationContext<RoleServer>,
    ) {
        self.log(&format!("cancelled {:?}", notification.request_id));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let fixture = Fixture {
        crash_after: value("--crash-after").and_then(|n| n.parse().ok()),
        fillers: value("--tools").and_then(|n| n.parse().ok()).unwrap_or(0),
        bad_schema: has("--bad-schema"),
        log: value("--log"),
        calls: AtomicU32::new(0),
        late: AtomicBool::new(false),
    };
    fixture.log(&format!("start {}", std::process::id()));
    let _sleeper = has("--sleeper").then(|| {
        let marker = value("--marker").unwrap_or_default();
        std::process::Command::new("sh")
            .args(["-c", &format!("sleep 300; true {marker}")])
            .spawn()
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcp_fixture: cannot start tokio: {e}");
            std::process::exit(2);
        }
    };
    match value("--mode").as_deref().unwrap_or("normal") {
        "exit" => {
            eprintln!("mcp_fixture: exiting at once, as asked");
            std::process::exit(3);
        }
        "garbage" => {
            println!("Hello! This program is not an MCP server.");
            println!("Usage: mcp_fixture [options]");
            runtime.block_on(std::future::pending::<()>());
        }
        "silent" => runtime.block_on(std::future::pending::<()>()),
        _ => {}
    }
    runtime.block_on(async {
        eprintln!("mcp_fixture: serving on stdio");
        match fixture.serve(rmcp::transport::stdio()).await {
            Ok(service) => {
                let _ = service.waiting().await;
            }
            Err(e) => eprintln!("mcp_fixture: {e}"),
        }
    });
}
