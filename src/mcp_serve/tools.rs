//! The MCP tools az-os serves: submit a task, read its status and events, wait for it,
//! cancel it, list recent tasks. Each answers with one JSON object (structured content,
//! and the same text for clients that read text). What went wrong with a plausible call
//! (an unknown task, a workdir that does not exist) is a tool error the calling model
//! reads; a call of the wrong shape is the SDK's `invalid params`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
use serde_json::{Value, json};

use super::book::{Admission, Book, PAGE_BYTES, PAGE_EVENTS};
use super::params::{self, ListTasks, SubmitTask, TaskEvents, TaskRef, WaitTask};
use super::status;
use crate::config::Settings;
use crate::engine::{Command, EngineHandle};
use crate::store::{StoreError, StoreHandle, TaskRow, tasks};
use crate::util::ids::TaskId;

/// How long `submit_task` waits for the engine to queue the task.
const QUEUE_WAIT: Duration = Duration::from_secs(30);
/// How long `cancel_task` waits for the task to stop before answering.
const CANCEL_WAIT: Duration = Duration::from_secs(10);
/// How often `wait_task` looks at the store for a task another process runs.
const FOREIGN_POLL: Duration = Duration::from_millis(500);

type ToolResult = Result<CallToolResult, ErrorData>;

/// What the server's instructions tell a client.
const INSTRUCTIONS: &str = "az-os runs tasks with language models, routing each to the \
cheapest capable model, with its own policy, budgets and audit log. submit_task returns a \
task id at once; wait_task (or task_status) gives the result; task_events streams what the \
task did. Commands that az-os's policy asks about are refused unless the server runs with --yes.";

/// The server: the engine's handle, the book of events, and the store.
#[derive(Clone)]
pub struct AzOsServer {
    engine: EngineHandle,
    book: Arc<Book>,
    store: StoreHandle,
    settings: Arc<Settings>,
    /// The server's working directory: the default workdir.
    cwd: PathBuf,
    tool_router: ToolRouter<Self>,
}

#[allow(clippy::unnecessary_wraps)] // shaped as a tool's return: `return ok(..)`
fn ok(value: Value) -> ToolResult {
    Ok(CallToolResult::structured(value))
}

/// A tool error the calling model reads.
#[allow(clippy::unnecessary_wraps)] // shaped as a tool's return: `return refuse(..)`
fn refuse(message: impl Into<String>) -> ToolResult {
    Ok(CallToolResult::error(vec![ContentBlock::text(
        message.into(),
    )]))
}

fn store_failed(e: &StoreError) -> ErrorData {
    ErrorData::internal_error(format!("the az-os database failed: {e}"), None)
}

#[tool_router]
impl AzOsServer {
    pub fn new(
        engine: EngineHandle,
        book: Arc<Book>,
        store: StoreHandle,
        settings: Arc<Settings>,
        cwd: PathBuf,
    ) -> Self {
        Self {
            engine,
            book,
            store,
            settings,
            cwd,
            tool_router: Self::tool_router(),
        }
    }

    /// The stored task `given` names (an id or a unique prefix), or why there is none.
    async fn find(&self, given: &str) -> Result<Result<TaskRow, String>, ErrorData> {
        let given = given.trim().to_owned();
        let found = self
            .store
            .call(move |c| {
                let id = match tasks::resolve(c, &given) {
                    Ok(id) => id,
                    Err(StoreError::NoSuchTask(p)) => {
                        return Ok(Err(format!(
                            "no task matches id {p:?}; list_tasks shows the ids"
                        )));
                    }
                    Err(StoreError::Ambiguous(p)) => {
                        return Ok(Err(format!(
                            "id prefix {p:?} matches several tasks; give more of the id"
                        )));
                    }
                    Err(e) => return Err(e),
                };
                Ok(tasks::get(c, &id)?.ok_or_else(|| format!("no task {id}")))
            })
            .await;
        found.map_err(|e| store_failed(&e))
    }

    async fn row(&self, id: &TaskId) -> Result<Option<TaskRow>, ErrorData> {
        let id = id.clone();
        self.store
            .call(move |c| tasks::get(c, &id))
            .await
            .map_err(|e| store_failed(&e))
    }

    /// The status of `row` now, with this server's record of its end when it has one.
    fn status_of(&self, row: &TaskRow) -> Value {
        status::status(row, self.book.ending(&row.id).as_ref())
    }

    #[tool(
        description = "Queue a task for az-os: it routes the task to a model and runs it with \
its own tools, policy and budget. Returns the task id at once; then wait_task or task_status.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = true
        )
    )]
    async fn submit_task(&self, Parameters(req): Parameters<SubmitTask>) -> ToolResult {
        let spec = match params::check_submit(req, &self.settings, &self.cwd) {
            Ok(spec) => spec,
            Err(e) => return refuse(e),
        };
        let id = TaskId::new();
        let (model, critical, workdir) = (spec.model.clone(), spec.critical, spec.workdir.clone());
        self.book.expect(&id);
        if self
            .engine
            .send(Command::Submit {
                id: id.clone(),
                spec,
            })
            .is_err()
        {
            return refuse("az-os is shutting down; start the server again");
        }
        let answer = self
            .book
            .wait_for(QUEUE_WAIT, |look| {
                look.admission(&id).filter(|a| *a != Admission::Waiting)
            })
            .await;
        match answer {
            Some(Admission::Queued) => ok(json!({
                "task_id": id,
                "status": "pending",
                "workdir": workdir,
                "model": model,
                "critical": critical,
            })),
            Some(Admission::Refused(why)) => refuse(format!("the task was not queued: {why}")),
            Some(Admission::Waiting) | None => refuse(format!(
                "task {id} was sent but the engine did not queue it within {}s; \
                 task_status {id} tells whether it arrived",
                QUEUE_WAIT.as_secs()
            )),
        }
    }

    #[tool(
        description = "A task's state, model, turns, cost, and its result or error once finished.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn task_status(&self, Parameters(req): Parameters<TaskRef>) -> ToolResult {
        match self.find(&req.task_id).await? {
            Ok(row) => ok(self.status_of(&row)),
            Err(e) => refuse(e),
        }
    }

    #[tool(
        description = "A task's events (as `az-os --batch --json` prints them) after a cursor, \
at most 100 per call: pass the returned `next` as `after` to read on.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn task_events(&self, Parameters(req): Parameters<TaskEvents>) -> ToolResult {
        let row = match self.find(&req.task_id).await? {
            Ok(row) => row,
            Err(e) => return refuse(e),
        };
        let after = req.after.unwrap_or(0);
        let Some(page) = self.book.page(&row.id, after, PAGE_EVENTS, PAGE_BYTES) else {
            return refuse(format!(
                "task {} did not run in this server, which keeps the events of its own tasks \
                 only; task_status gives its result, and `az-os tasks logs {}` its transcript",
                row.id, row.id
            ));
        };
        let finished = self.book.ending(&row.id).is_some();
        ok(json!({
            "task_id": row.id,
            "events": page.events,
            "next": page.next,
            "more": page.more,
            "skipped": page.skipped,
            "finished": finished,
        }))
    }

    #[tool(
        description = "Wait until a task finishes (or timeout_s passes) and return its status \
and result; if it is still running, call again.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn wait_task(&self, Parameters(req): Parameters<WaitTask>) -> ToolResult {
        let secs = match params::wait_seconds(req.timeout_s) {
            Ok(s) => s,
            Err(e) => return refuse(e),
        };
        let row = match self.find(&req.task_id).await? {
            Ok(row) => row,
            Err(e) => return refuse(e),
        };
        let timeout = Duration::from_secs(u64::from(secs));
        let id = row.id.clone();
        if self.book.knows(&id) {
            self.book.wait_for(timeout, |look| look.ending(&id)).await;
        } else if !row.status.is_final() {
            // Another az-os runs it: its end shows in the store.
            let deadline = tokio::time::Instant::now() + timeout;
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(FOREIGN_POLL).await;
                if self.row(&id).await?.is_some_and(|r| r.status.is_final()) {
                    break;
                }
            }
        }
        let row = self.row(&id).await?.unwrap_or(row);
        let mut v = self.status_of(&row);
        if v["finished"] == false {
            v["note"] = json!(format!(
                "still {} after {secs}s; call wait_task again",
                v["status"].as_str().unwrap_or("running")
            ));
        }
        ok(v)
    }

    #[tool(
        description = "Stop a queued or running task (its commands are killed; files it \
changed stay, `az-os checkpoint rollback` undoes them).",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn cancel_task(&self, Parameters(req): Parameters<TaskRef>) -> ToolResult {
        let row = match self.find(&req.task_id).await? {
            Ok(row) => row,
            Err(e) => return refuse(e),
        };
        let id = row.id.clone();
        if row.status.is_final() || self.book.ending(&id).is_some() {
            let mut v = self.status_of(&row);
            v["note"] = json!("the task had already ended; nothing to cancel");
            return ok(v);
        }
        if !self.book.knows(&id) {
            return refuse(format!(
                "task {id} runs in another az-os process; cancel it there, or with \
                 `az-os tasks cancel {id}`"
            ));
        }
        if self
            .engine
            .send(Command::Cancel { id: id.clone() })
            .is_err()
        {
            return refuse("az-os is shutting down; its running tasks are being cancelled");
        }
        self.book
            .wait_for(CANCEL_WAIT, |look| look.ending(&id))
            .await;
        let row = self.row(&id).await?.unwrap_or(row);
        ok(self.status_of(&row))
    }

    #[tool(
        description = "Recent tasks of this az-os home, newest first: id, status, description, \
model, turns, cost.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_tasks(&self, Parameters(req): Parameters<ListTasks>) -> ToolResult {
        let limit = match params::list_limit(req.limit) {
            Ok(n) => n,
            Err(e) => return refuse(e),
        };
        let rows = self
            .store
            .call(move |c| tasks::list(c, None, limit, 0))
            .await
            .map_err(|e| store_failed(&e))?;
        let lines: Vec<Value> = rows.iter().map(status::line).collect();
        ok(json!({ "tasks": lines }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for AzOsServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("az-os", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}
