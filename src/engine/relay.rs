//! Following tasks that run on other hosts (the shared queue on PostgreSQL): their
//! workers write every event to `task_events`, and a [`Follower`] reads them back.
//!
//! One read a round serves every followed task: the events above the highest id read so
//! far. Ids are handed out before their rows commit, so two workers' inserts can commit
//! out of id order: an id skipped over is remembered as missing and asked for again
//! each round, until its row appears or [`GAP_WAIT`] passes (its insert rolled back).
//! One worker writes a task's events, one insert after the other, so a task's events
//! are never out of order. A task followed after the stream began has its earlier events
//! read once on their own; at the start, the last [`LOOKBACK`] ids are read to learn
//! which of them are still missing.
//!
//! `--batch run` and the dashboard on the shared store both follow through it. What
//! ends without an event (a task cancelled while queued, a lease that ran out) is said
//! from the task's row; a queued task that no live worker serves is said once per
//! workdir, with the command that would serve it.

use std::collections::{BTreeMap, HashMap, HashSet};
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
/// How long a skipped id is asked for before it counts as an insert that rolled back.
/// An event's insert is one statement: its id and its commit are milliseconds apart.
pub const GAP_WAIT: Duration = Duration::from_secs(10);
/// Ids below the newest, at the start, whose rows may not be committed yet.
const LOOKBACK: i64 = 1_000;
/// Most earlier events read for tasks followed in one round.
const EARLIER_LIMIT: usize = 1_000_000;
/// Most missing ids remembered (the oldest are given up first).
const MAX_MISSING: usize = 10_000;

/// What a round of following saw.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    /// An event of a followed task, as its worker's engine sent it (or, for a task
    /// that ended without one, its `task_finished` said from its row).
    Event(EngineEvent),
    /// Tasks in this workdir wait on the queue: no live worker serves it.
    Unserved(String),
}

/// The tasks being followed and where the stream of events is.
#[derive(Debug)]
pub struct Follower {
    /// Open tasks and the id of the last event delivered of each (0: none yet).
    cursors: HashMap<TaskId, i64>,
    /// Tasks followed since the last round: their earlier events are read on their own.
    fresh: Vec<TaskId>,
    /// The last event delivered of every task followed so far, ended ones too: a task
    /// followed again (retried on another host) goes on from there, not from its
    /// earlier run's events.
    said: HashMap<TaskId, i64>,
    /// The highest id read from the stream (`None` until the first round).
    high: Option<i64>,
    /// Ids below `high` not read yet, and since when.
    missing: BTreeMap<i64, Instant>,
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
            fresh: Vec::new(),
            said: HashMap::new(),
            high: None,
            missing: BTreeMap::new(),
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
    /// Starts following `id`: from its first event, or if it was followed before, from
    /// the first event not said then.
    pub fn follow(&mut self, id: TaskId) {
        self.final_since.remove(&id);
        let from = self.said.get(&id).copied().unwrap_or(0);
        self.cursors.insert(id.clone(), from);
        self.fresh.push(id);
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
        match self.read(store, &mut seen).await {
            Ok(()) => self.failures = 0,
            Err(e) => return self.failed(e).map(|()| seen),
        }
        if !self.cursors.is_empty() && self.last_check.elapsed() >= CHECK {
            self.last_check = Instant::now();
            self.check(store, &mut seen).await;
        }
        Ok(seen)
    }

    /// Reads the stream (and, the first time, where it stands), then the earlier events
    /// of tasks followed since the last round.
    async fn read(&mut self, store: &StoreHandle, seen: &mut Vec<Seen>) -> Result<(), StoreError> {
        let now = Instant::now();
        let high = if let Some(h) = self.high {
            h
        } else {
            let last = store.call(|c| queue::last_event_id(c)).await?;
            // Ids in the lookback not read below count as missing from now.
            let start = (last - LOOKBACK).max(0);
            self.missing.extend((start + 1..=last).map(|id| (id, now)));
            self.high = Some(last);
            start
        };
        if self.cursors.is_empty() && self.fresh.is_empty() {
            // Nothing to follow: the stream starts afresh when something is (a task
            // followed later has its earlier events read on their own).
            self.high = None;
            self.missing.clear();
            return Ok(());
        }
        let asked: Vec<i64> = self.missing.keys().copied().collect();
        let rows = store
            .call(move |c| queue::events_since(c, high, &asked, BATCH))
            .await?;
        let fresh = std::mem::take(&mut self.fresh);
        let earlier = if fresh.is_empty() {
            Vec::new()
        } else {
            let cursors: Vec<(TaskId, i64)> = fresh
                .iter()
                .filter_map(|t| Some((t.clone(), *self.cursors.get(t)?)))
                .collect();
            store
                .call(move |c| queue::events_after(c, &cursors, EARLIER_LIMIT))
                .await
                .inspect_err(|_| self.fresh = fresh)?
        };
        // A fresh task's earlier events first: then the stream's, newer, are not taken
        // for ones already said.
        for (id, task, text) in earlier {
            self.deliver(id, &task, &text, seen);
        }
        let mut top = self.high.unwrap_or(0);
        for (id, task, text) in rows {
            self.missing.remove(&id);
            if id > top {
                // What lies between the last row read and this one is not committed yet.
                self.missing.extend((top + 1..id).map(|gap| (gap, now)));
                top = id;
            }
            if let Some(task) = task {
                self.deliver(id, &task, &text, seen);
            }
        }
        self.high = Some(top);
        // Given up: inserts that rolled back (or so slow they are lost), and the oldest
        // beyond the cap.
        self.missing
            .retain(|_, since| now.duration_since(*since) < GAP_WAIT);
        while self.missing.len() > MAX_MISSING {
            self.missing.pop_first();
        }
        Ok(())
    }

    /// An event read, if it is of a followed task and newer than what was delivered of it.
    fn deliver(&mut self, id: i64, task: &TaskId, text: &str, seen: &mut Vec<Seen>) {
        let Some(last) = self.cursors.get_mut(task) else {
            return; // not followed, or ended
        };
        if id <= *last {
            return; // read on its own already (a task followed this round)
        }
        *last = id;
        self.said.insert(task.clone(), id);
        let Ok(ev) = serde_json::from_str::<EngineEvent>(text) else {
            tracing::warn!("an event of task {task} cannot be read: {text:.200}");
            return;
        };
        match ev.event {
            // Whoever follows a task announced its queueing when it queued or found it;
            // the worker's own `task_queued` (as it took the task) would say it twice.
            Event::TaskQueued { .. } => return,
            Event::TaskFinished { .. } => self.ended(task),
            _ => {}
        }
        seen.push(Seen::Event(ev));
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
