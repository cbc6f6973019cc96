//! Following tasks that run on other hosts (the shared queue on PostgreSQL): their
//! workers write every event to `task_events`, and a [`Follower`] reads them back with
//! a cursor per task (one worker writes a task's events in order, so a task's cursor
//! never skips one; a single cursor over all tasks could, as ids commit out of order).
//!
//! `--batch run` and the dashboard on the shared store both follow through it. What
//! ends without an event (a task cancelled while queued, a lease that ran out) is said
//! from the task's row; a queued task that no live worker serves is said once per
//! workdir, with the command that would serve it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::protocol::{EngineEvent, Event};
use crate::store::queue;
use crate::store::{StoreError, StoreHandle, TaskRow};
use crate::util::ids::TaskId;

/// How often a follower reads new events (and how late one can be shown, at most,
/// after a worker wrote it).
pub const POLL: Duration = Duration::from_millis(20);
/// How often rows are read for what ends without an event and for tasks no live
/// worker serves.
const CHECK: Duration = Duration::from_secs(1);
/// Store failures in a row (each after the store's own reconnection attempts, up to
/// 30 s) before the follower gives up.
const MAX_FAILURES: u32 = 10;
/// Most events read in one round.
const BATCH: usize = 5_000;

/// What a round of following saw.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    /// An event of a followed task, as its worker's engine sent it (or, for a task
    /// that ended without one, its `task_finished` said from its row).
    Event(EngineEvent),
    /// Tasks in this workdir wait on the queue: no live worker serves it.
    Unserved(String),
}

/// The cursors of the tasks being followed.
#[derive(Debug)]
pub struct Follower {
    /// Open tasks and the id of the last event read of each.
    cursors: HashMap<TaskId, i64>,
    /// Rows seen final without their `task_finished`, and since when (the event may lag).
    final_since: HashMap<TaskId, Instant>,
    unserved_said: HashSet<String>,
    last_check: Instant,
    failures: u32,
}

impl Default for Follower {
    fn default() -> Self {
        Self {
            cursors: HashMap::new(),
            final_since: HashMap::new(),
            unserved_said: HashSet::new(),
            // The first round checks the rows at once.
            last_check: Instant::now()
                .checked_sub(CHECK)
                .unwrap_or_else(Instant::now),
            failures: 0,
        }
    }
}

impl Follower {
    /// Starts following `id` from its first event (again, if it was followed before).
    pub fn follow(&mut self, id: TaskId) {
        self.final_since.remove(&id);
        self.cursors.insert(id, 0);
    }

    /// Whether `id` is being followed (it has not ended).
    pub fn follows(&self, id: &TaskId) -> bool {
        self.cursors.contains_key(id)
    }

    /// The tasks being followed.
    pub fn open(&self) -> Vec<TaskId> {
        self.cursors.keys().cloned().collect()
    }

    /// Whether every followed task has ended.
    pub fn is_done(&self) -> bool {
        self.cursors.is_empty()
    }

    /// Stops following `id` (it ended, as far as the caller knows).
    fn ended(&mut self, id: &TaskId) {
        self.cursors.remove(id);
        self.final_since.remove(id);
    }

    /// One round: the new events of the open tasks, and each second what the rows say.
    /// A store failure is ridden out (the store reconnects with backoff; the tasks go on
    /// on their workers) until it has failed [`MAX_FAILURES`] times in a row.
    pub async fn poll(&mut self, store: &StoreHandle) -> Result<Vec<Seen>, StoreError> {
        let mut seen = Vec::new();
        if self.cursors.is_empty() {
            return Ok(seen);
        }
        let open: Vec<(TaskId, i64)> = self.cursors.iter().map(|(t, c)| (t.clone(), *c)).collect();
        let events = match store
            .call(move |c| queue::events_after(c, &open, BATCH))
            .await
        {
            Ok(e) => {
                self.failures = 0;
                e
            }
            Err(e) => return self.failed(e).map(|()| seen),
        };
        for (id, task, text) in events {
            if !self.follows(&task) {
                continue; // ended earlier in this batch
            }
            self.cursors.insert(task.clone(), id);
            let Ok(ev) = serde_json::from_str::<EngineEvent>(&text) else {
                tracing::warn!("an event of task {task} cannot be read: {text:.200}");
                continue;
            };
            match ev.event {
                // Whoever follows a task announced its queueing when it queued or found
                // it; the worker's own `task_queued` (as it took the task) would say it
                // twice.
                Event::TaskQueued { .. } => continue,
                Event::TaskFinished { .. } => self.ended(&task),
                _ => {}
            }
            seen.push(Seen::Event(ev));
        }
        if self.last_check.elapsed() >= CHECK {
            self.last_check = Instant::now();
            self.check(store, &mut seen).await;
        }
        Ok(seen)
    }

    /// Counts a failure; an error once there have been too many in a row.
    fn failed(&mut self, e: StoreError) -> Result<(), StoreError> {
        self.failures += 1;
        if self.failures > MAX_FAILURES {
            return Err(e);
        }
        tracing::warn!("following tasks on the shared queue: {e}; trying again");
        Ok(())
    }

    /// What the rows say: tasks that ended without an event, queues nobody serves.
    async fn check(&mut self, store: &StoreHandle, seen: &mut Vec<Seen>) {
        let open = self.open();
        let Ok((rows, workers)) = store
            .call(move |c| Ok((queue::tasks_of(c, &open)?, queue::workers(c)?)))
            .await
        else {
            return; // said by the events' read, which fails the same way
        };
        let now = crate::util::time::now_unix();
        for row in rows {
            if row.status.is_final() {
                let since = *self
                    .final_since
                    .entry(row.id.clone())
                    .or_insert_with(Instant::now);
                // Its worker writes `task_finished` right after the row; a row final for
                // two checks without one ended elsewhere (cancelled while queued, a
                // lease that ran out): said from the row.
                if since.elapsed() >= 2 * CHECK {
                    self.ended(&row.id);
                    seen.push(Seen::Event(finished_from_row(&row)));
                }
                continue;
            }
            let workdir = row.workdir.clone().unwrap_or_default();
            if row.status == crate::store::TaskStatus::Pending
                && !workers.iter().any(|w| w.alive(now) && w.serves(&workdir))
                && self.unserved_said.insert(workdir.clone())
            {
                seen.push(Seen::Unserved(workdir));
            }
        }
    }
}

/// What to tell a user whose tasks wait in `workdir` for a worker.
pub fn unserved_notice(workdir: &str) -> String {
    format!(
        "no worker serves {workdir}; its tasks wait on the queue: start one with \
         `az-os worker --serves {workdir}`"
    )
}

/// A `task_finished` for a task that ended without one (said from its row).
pub fn finished_from_row(row: &TaskRow) -> EngineEvent {
    let ms = match (row.started_at, row.completed_at) {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a duration"
        )]
        (Some(s), Some(e)) if e >= s => ((e - s) * 1000.0) as u64,
        _ => 0,
    };
    EngineEvent::task(
        &row.id,
        Event::TaskFinished {
            status: row.status,
            result: row.result.clone(),
            turns: row.turns,
            cost_usd: row.cost_usd,
            duration_ms: ms,
            error: row.error.clone(),
        },
    )
}
