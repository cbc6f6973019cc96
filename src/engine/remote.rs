//! The engine of a front end on the shared store (PostgreSQL): it runs no task itself.
//! A submit goes on the shared queue for whichever `az-os worker` serves the task's
//! workdir; retry and resume put a task back on it; cancel asks the task's worker to
//! stop it. Every task queued or running anywhere is followed ([`super::relay`]), so
//! the dashboard shows the work of every host and every user of the store as its own.
//! Leaving does not stop tasks: they belong to their workers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::agent::{Runner, resume};
use super::monitor::Monitor;
use super::protocol::{Command, EngineEvent, Event, Overrides, TaskSpec};
use super::relay::{self, Follower, Seen};
use super::scheduler::new_task;
use crate::store::{StoreError, TaskStatus, queue, tasks};
use crate::util::ids::TaskId;

/// How often the queue is read for tasks submitted elsewhere.
const DISCOVER: Duration = Duration::from_secs(1);
/// Most tasks followed that this engine did not submit.
const WATCH_LIMIT: usize = 1_000;

pub struct Remote {
    runner: Arc<Runner>,
    follower: Follower,
    /// The follower's last failure was said (said once until it recovers).
    down_said: bool,
    /// Health sampling; dropped (stopped) when the engine ends.
    monitor: Monitor,
}

impl Remote {
    pub fn new(runner: Arc<Runner>, monitor: Monitor) -> Self {
        Self {
            runner,
            follower: Follower::default(),
            down_said: false,
            monitor,
        }
    }

    /// Runs until a `Shutdown` command (or every handle dropped).
    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut poll = tokio::time::interval(relay::POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_discover: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Shutdown { .. }) => break,
                    Some(cmd) => self.handle(cmd).await,
                },
                _ = poll.tick() => {
                    if last_discover.is_none_or(|t| t.elapsed() >= DISCOVER) {
                        last_discover = Some(Instant::now());
                        self.discover().await;
                    }
                    self.follow().await;
                }
            }
        }
        drop(self.monitor);
        self.runner.close().await;
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Submit { id, spec } => self.submit(id, spec).await,
            Command::Retry { id } => self.retry(id).await,
            Command::Resume { id, overrides } => self.resume(id, overrides).await,
            Command::Cancel { id } => self.cancel(id).await,
            Command::Run { id } => self.runner.error(
                Some(&id),
                "this az-os follows the shared queue and runs no task itself; \
                 `az-os worker` runs them"
                    .into(),
                "usage",
            ),
            Command::Approve { id, .. } => self.runner.error(
                Some(&id),
                "no approval waits here: tasks on the shared queue run on workers, which \
                 approve commands by their --yes (or refuse them)"
                    .into(),
                "usage",
            ),
            Command::ReloadModels => self.runner.reload(),
            Command::Follow { ids } => {
                // Announced already: the front end read them.
                for id in ids {
                    if !self.follower.follows(&id) {
                        self.follower.follow(id);
                    }
                }
            }
            Command::Shutdown { .. } => {} // the loop stops on it
        }
    }

    async fn submit(&mut self, id: TaskId, spec: TaskSpec) {
        let new = match new_task(&self.runner.settings(), &id, &spec) {
            Ok(new) => new,
            Err(msg) => {
                self.runner.error(Some(&id), msg.clone(), "usage");
                self.runner.emit_unrun(&id, TaskStatus::Failed, Some(msg));
                return;
            }
        };
        match self
            .runner
            .store
            .call(move |c| queue::submit(c, &new))
            .await
        {
            Ok(_) => {
                self.runner.emit(
                    &id,
                    Event::TaskQueued {
                        description: spec.description,
                    },
                );
                self.follower.follow(id);
            }
            Err(e) => {
                self.runner
                    .error(Some(&id), format!("cannot queue the task: {e}"), "database");
                self.runner
                    .emit_unrun(&id, TaskStatus::Failed, Some(e.to_string()));
            }
        }
    }

    async fn retry(&mut self, id: TaskId) {
        let lookup = id.clone();
        let checkpoints = self.runner.settings().home.checkpoints_dir();
        let r = self
            .runner
            .store
            .call(move |c| {
                let Some(t) = tasks::get(c, &lookup)? else {
                    return Err(StoreError::NoSuchTask(lookup.to_string()));
                };
                if !t.status.is_final() || t.status == TaskStatus::Interrupted {
                    return Ok(Err(format!(
                        "task {lookup} is {}; only a finished task is retried",
                        t.status.as_str()
                    )));
                }
                // A retry starts over: the saved loop state would make it a resume.
                if let Err(e) = resume::forget(&checkpoints, c, &lookup) {
                    return Ok(Err(format!("cannot retry task {lookup}: {e}")));
                }
                if !queue::requeue_finished(c, &lookup)? {
                    return Ok(Err(format!(
                        "task {lookup} was queued again by another az-os first"
                    )));
                }
                Ok(Ok(t.description))
            })
            .await;
        self.requeued(id, r);
    }

    async fn resume(&mut self, id: TaskId, overrides: Overrides) {
        if let Err(msg) = super::scheduler::check_overrides(&self.runner.settings(), &overrides) {
            self.runner.error(Some(&id), msg, "usage");
            return;
        }
        let lookup = id.clone();
        let r = self
            .runner
            .store
            .call(move |c| {
                let Some(t) = tasks::get(c, &lookup)? else {
                    return Err(StoreError::NoSuchTask(lookup.to_string()));
                };
                let (model, budget) = (overrides.model.as_deref(), overrides.budget_usd);
                if queue::requeue_interrupted(c, &lookup, model, budget)? {
                    Ok(Ok(t.description))
                } else {
                    Ok(Err(format!(
                        "task {lookup} is not interrupted (any more); only interrupted tasks resume"
                    )))
                }
            })
            .await;
        self.requeued(id, r);
    }

    /// A task back on the queue: announced and followed; or why not.
    fn requeued(&mut self, id: TaskId, r: Result<Result<String, String>, StoreError>) {
        match r {
            Ok(Ok(description)) => {
                self.runner.emit(&id, Event::TaskQueued { description });
                self.follower.follow(id);
            }
            Ok(Err(msg)) => self.runner.error(Some(&id), msg, "usage"),
            Err(e) => self.runner.error(Some(&id), e.to_string(), "database"),
        }
    }

    async fn cancel(&mut self, id: TaskId) {
        let lookup = id.clone();
        match self
            .runner
            .store
            .call(move |c| queue::request_cancel(c, &lookup))
            .await
        {
            // Still queued: cancelled now; the follower says so from the row.
            Ok(true) => {}
            Ok(false) => self.runner.emit(
                &id,
                Event::Notice {
                    message: format!("asked task {id}'s worker to stop it"),
                },
            ),
            Err(e) => self.runner.error(Some(&id), e.to_string(), "database"),
        }
    }

    /// Follows what was queued elsewhere: a task first seen here is announced and
    /// its events so far replayed.
    async fn discover(&mut self) {
        let Ok(rows) = self
            .runner
            .store
            .call(|c| queue::open_tasks(c, WATCH_LIMIT))
            .await
        else {
            return; // the follower says why, on its next read
        };
        for row in rows {
            if !self.follower.follows(&row.id) {
                self.runner.emit(
                    &row.id,
                    Event::TaskQueued {
                        description: row.description.clone(),
                    },
                );
                self.follower.follow(row.id);
            }
        }
    }

    async fn follow(&mut self) {
        let seen = match self.follower.poll(&self.runner.store).await {
            Ok(seen) => {
                self.down_said = false;
                seen
            }
            Err(e) => {
                // Said once; the follower goes on trying, and the tasks go on meanwhile.
                if !std::mem::replace(&mut self.down_said, true) {
                    self.runner.error(
                        None,
                        format!("cannot follow the shared queue: {e}; still trying"),
                        "database",
                    );
                }
                return;
            }
        };
        for s in seen {
            match s {
                Seen::Event(ev) => {
                    let _ = self.runner.events.send(ev);
                }
                Seen::Unserved(workdir) => {
                    let _ = self.runner.events.send(EngineEvent::global(Event::Notice {
                        message: relay::unserved_notice(&workdir),
                    }));
                }
            }
        }
    }
}
