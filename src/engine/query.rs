//! What a front end reads and edits besides running tasks: the task list, a task's log,
//! lessons, today's spend, the service metrics, deleting a task. Each is a call on the
//! [`EngineHandle`] answered from the engine's store (SQLite or the shared PostgreSQL
//! one alike), so a front end holds the engine handle and nothing else.
//!
//! These are reads and small edits; they do not pass through the scheduler's queue of
//! commands, so a long task list never waits behind a burst of submits.

use super::handle::EngineHandle;
use crate::health::metrics::{self, ServiceMetrics};
use crate::memory::edit::{self, Change};
use crate::memory::hybrid;
use crate::memory::search::Mode;
use crate::store::logs::LogRow;
use crate::store::memories::{self, Memory};
use crate::store::{StoreError, TaskRow, TaskStatus, costs, logs, state_file, tasks};
use crate::util::ids::TaskId;
use crate::util::time::{now_unix, start_of_utc_day};

/// Why a query or an edit failed, said for the user.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The edit was refused (a lesson that does not exist, a task still running, …).
    #[error("{0}")]
    Refused(String),
}

/// Today's spend (UTC day), in total and by model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spend {
    pub today_usd: f64,
    pub by_model: Vec<(String, f64)>,
}

/// Lessons found by a search, and what the search could not do (no embedding model:
/// words alone), if anything.
#[derive(Clone, Debug, Default)]
pub struct Lessons {
    pub found: Vec<Memory>,
    pub notice: Option<String>,
}

impl EngineHandle {
    /// The newest `limit` tasks, newest first. Those still queued or running are
    /// followed until they end (`Command::Follow`), wherever they run.
    pub async fn tasks(&self, limit: usize) -> Result<Vec<TaskRow>, QueryError> {
        let rows = self
            .store
            .call(move |c| tasks::list(c, None, limit, 0))
            .await?;
        let open: Vec<TaskId> = rows
            .iter()
            .filter(|r| !r.status.is_final())
            .map(|r| r.id.clone())
            .collect();
        if self.remote && !open.is_empty() {
            // A stopped engine follows nothing: the rows are still the answer.
            let _ = self.send(super::protocol::Command::Follow { ids: open });
        }
        Ok(rows)
    }

    /// One task's row as stored now, if it exists.
    pub async fn task(&self, id: &TaskId) -> Result<Option<TaskRow>, QueryError> {
        let id = id.clone();
        Ok(self.store.call(move |c| tasks::get(c, &id)).await?)
    }

    /// A task's first `limit` log lines, in order.
    pub async fn logs(&self, id: &TaskId, limit: usize) -> Result<Vec<LogRow>, QueryError> {
        let id = id.clone();
        Ok(self
            .store
            .call(move |c| logs::list(c, &id, 0, limit))
            .await?)
    }

    /// The `limit` most recently useful lessons.
    pub async fn lessons(&self, limit: usize) -> Result<Vec<Memory>, QueryError> {
        Ok(self.store.call(move |c| memories::list(c, limit)).await?)
    }

    /// Lessons matching `query` in every workdir (`mode`: words, meaning, or both).
    /// Searching from a front end does not count as a recall.
    pub async fn search_lessons(
        &self,
        query: &str,
        limit: usize,
        mode: Mode,
    ) -> Result<Lessons, QueryError> {
        let home = self.settings.home.root().to_path_buf();
        let a = hybrid::search(&self.store, &home, query, None, limit, mode, false).await?;
        Ok(Lessons {
            found: a.found.into_iter().map(|f| f.lesson).collect(),
            notice: a.notice,
        })
    }

    /// Adds, edits or deletes a lesson; returns the lesson as it now is (as it was, for
    /// a delete).
    pub async fn change_lesson(&self, change: Change) -> Result<Memory, QueryError> {
        self.store
            .call(move |c| Ok(edit::apply(c, &change)))
            .await?
            .map_err(|e| QueryError::Refused(e.to_string()))
    }

    /// What was spent today (UTC), in total and by model.
    pub async fn spend_today(&self) -> Result<Spend, QueryError> {
        let since = start_of_utc_day(now_unix());
        let (today_usd, by_model) = self
            .store
            .call(move |c| {
                Ok((
                    costs::spent_since(c, since)?,
                    costs::by_model_since(c, since)?,
                ))
            })
            .await?;
        Ok(Spend {
            today_usd,
            by_model,
        })
    }

    /// The service's metrics (tasks, success rate, latency, spend against the daily
    /// budget).
    pub async fn metrics(&self) -> Result<ServiceMetrics, QueryError> {
        let budget = self.settings.defaults.budget_usd_per_day;
        Ok(self
            .store
            .call(move |c| metrics::collect(c, budget))
            .await?)
    }

    /// Deletes a finished task: its row, log, saved state and tool usage (its spend
    /// stays in the ledger, no longer tied to it). A queued or running task is refused:
    /// cancel it first.
    pub async fn delete_task(&self, id: &TaskId) -> Result<(), QueryError> {
        let lookup = id.clone();
        let status = self.store.call(move |c| tasks::get(c, &lookup)).await?;
        match status.map(|t| t.status) {
            None => return Err(QueryError::Refused(format!("no task {id}"))),
            Some(TaskStatus::Pending | TaskStatus::Running) => {
                return Err(QueryError::Refused(format!(
                    "task {id} is still queued or running; cancel it first"
                )));
            }
            Some(_) => {}
        }
        let del = id.clone();
        self.store.call(move |c| tasks::delete(c, &del)).await?;
        // Best effort: a leftover state file is never read without its task.
        let dir = self.settings.home.checkpoints_dir();
        let file = id.clone();
        let _ = tokio::task::spawn_blocking(move || state_file::remove(&dir, &file)).await;
        Ok(())
    }
}
