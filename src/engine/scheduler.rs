//! The scheduler: a FIFO queue of tasks and a pool of at most `jobs` running at
//! once. It owns the cancel token of every running task, so cancel and shutdown
//! reach them, and it writes the queue's changes (submit, retry, cancel of a
//! queued task) to the store.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::agent::{Runner, resume};
use super::handle::Work;
use super::monitor::Monitor;
use super::protocol::{Command, EngineEvent, Event, Overrides, TaskSpec};
use crate::store::{NewTask, TaskStatus, tasks};
use crate::util::ids::TaskId;

pub struct Scheduler {
    runner: Arc<Runner>,
    jobs: usize,
    queue: VecDeque<TaskId>,
    running: HashMap<TaskId, CancellationToken>,
    workers: JoinSet<TaskId>,
    /// Which task each worker runs, so a worker that panics still frees its slot and
    /// its task is recorded as failed.
    worker_tasks: HashMap<tokio::task::Id, TaskId>,
    stopping: bool,
    /// Health sampling; dropped (stopped) when the scheduler ends.
    monitor: Monitor,
    /// What a worker runs for a task.
    work: Work,
}

/// The row a submitted task is stored as, or why it cannot be (too long).
pub(super) fn new_task(
    settings: &crate::config::Settings,
    id: &TaskId,
    spec: &TaskSpec,
) -> Result<NewTask, String> {
    if spec.description.len() > super::protocol::MAX_TASK_BYTES {
        return Err(format!(
            "the task is {} bytes, over the {}-byte limit; put the details in a file and refer to it",
            spec.description.len(),
            super::protocol::MAX_TASK_BYTES
        ));
    }
    Ok(NewTask {
        id: id.clone(),
        description: crate::redact::redact(&spec.description).into_owned(),
        workdir: spec.workdir.display().to_string(),
        max_turns: spec.max_turns.unwrap_or(settings.defaults.max_turns),
        budget_usd: spec.budget_usd,
        requested_model: spec.model.clone(),
        critical: spec.critical,
    })
}

/// Whether a resume's new model exists and its new budget makes sense.
pub(super) fn check_overrides(
    settings: &crate::config::Settings,
    overrides: &Overrides,
) -> Result<(), String> {
    if let Some(m) = &overrides.model
        && settings.model(m).is_none()
    {
        return Err(format!(
            "--model {m}: no such model; `az-os models list` shows the names"
        ));
    }
    if let Some(b) = overrides.budget_usd
        && (!b.is_finite() || b < 0.0)
    {
        return Err("--budget must be 0 or more USD".to_owned());
    }
    Ok(())
}

impl Scheduler {
    pub fn new(runner: Arc<Runner>, jobs: usize, monitor: Monitor, work: Work) -> Self {
        Self {
            runner,
            jobs,
            queue: VecDeque::new(),
            running: HashMap::new(),
            workers: JoinSet::new(),
            worker_tasks: HashMap::new(),
            stopping: false,
            monitor,
            work,
        }
    }

    /// Runs until a `Shutdown` command (or every handle dropped) and then until
    /// the last worker is done.
    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        self.recover().await;
        let mut commands_open = true;
        loop {
            if self.stopping && self.running.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                cmd = commands.recv(), if commands_open => {
                    if let Some(cmd) = cmd {
                        self.handle(cmd).await;
                    } else {
                        commands_open = false;
                        self.stop(false).await;
                    }
                }
                Some(done) = self.workers.join_next_with_id() => {
                    match done {
                        Ok((worker, id)) => {
                            self.worker_tasks.remove(&worker);
                            self.running.remove(&id);
                        }
                        Err(e) => {
                            if let Some(id) = self.worker_tasks.remove(&e.id()) {
                                self.running.remove(&id);
                                self.worker_failed(&id, &e).await;
                            }
                        }
                    }
                    self.fill();
                }
                else => break,
            }
        }
        drop(self.monitor);
        self.runner.close().await;
    }

    async fn recover(&self) {
        match self
            .runner
            .store
            .call(|c| tasks::recover_interrupted(c))
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                let _ = self.runner.events.send(EngineEvent::global(Event::Notice {
                    message: format!(
                        "{n} task(s) left by an az-os that stopped are now marked interrupted; \
                         `az-os tasks resume --all` continues them"
                    ),
                }));
            }
            Err(e) => self.runner.error(None, e.to_string(), "database"),
        }
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Submit { id, spec } => self.submit(id, spec).await,
            Command::Retry { id } => self.retry(id).await,
            Command::Resume { id, overrides } => self.resume(id, overrides).await,
            Command::Run { id } => self.run_claimed(id).await,
            Command::Cancel { id } => self.cancel(&id).await,
            Command::Approve {
                id,
                request_id,
                decision,
            } => {
                if let Err(msg) = self.runner.answer(&id, &request_id, decision) {
                    self.runner.error(Some(&id), msg, "usage");
                }
            }
            Command::ReloadModels => self.runner.reload(),
            // Every task this engine runs sends its events already.
            Command::Follow { .. } => {}
            Command::Shutdown { cancel_running } => self.stop(cancel_running).await,
        }
    }

    async fn submit(&mut self, id: TaskId, spec: TaskSpec) {
        if self.stopping {
            self.runner.error(
                Some(&id),
                "the engine is shutting down; task not queued".into(),
                "engine",
            );
            return;
        }
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
            .call(move |c| tasks::insert(c, &new))
            .await
        {
            Ok(_) => {
                self.runner.emit(
                    &id,
                    Event::TaskQueued {
                        description: spec.description,
                    },
                );
                self.queue.push_back(id);
                self.fill();
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
        if self.busy(&id) {
            return;
        }
        let lookup = id.clone();
        let checkpoints = self.runner.settings().home.checkpoints_dir();
        let result = self
            .runner
            .store
            .call(move |c| {
                let Some(t) = tasks::get(c, &lookup)? else {
                    return Err(crate::store::StoreError::NoSuchTask(lookup.to_string()));
                };
                // A retry starts over: the saved loop state would make it a resume.
                if let Err(e) = resume::forget(&checkpoints, c, &lookup) {
                    return Ok(Err(format!("cannot retry task {lookup}: {e}")));
                }
                tasks::requeue(c, &lookup)?;
                Ok(Ok(t))
            })
            .await;
        match result {
            Ok(Err(msg)) => self.runner.error(Some(&id), msg, "filesystem"),
            Ok(Ok(t)) => self.requeued(id, t.description, None),
            Err(e) => self.runner.error(Some(&id), e.to_string(), "usage"),
        }
    }

    /// Whether `id` is still queued or running here (said as an error when it is).
    fn busy(&self, id: &TaskId) -> bool {
        let busy = self.running.contains_key(id) || self.queue.contains(id);
        if busy {
            self.runner.error(
                Some(id),
                format!("task {id} is still queued or running"),
                "usage",
            );
        }
        busy
    }

    /// A stored task queued again (retry, resume): announced, with `notice` if any.
    fn requeued(&mut self, id: TaskId, description: String, notice: Option<String>) {
        self.runner.emit(&id, Event::TaskQueued { description });
        if let Some(message) = notice {
            self.runner.emit(&id, Event::Notice { message });
        }
        self.queue.push_back(id);
        self.fill();
    }

    /// Claims an interrupted task (`pending` again, owned by this process) and queues
    /// it; its worker continues from the saved state (`agent::resume`).
    async fn resume(&mut self, id: TaskId, overrides: Overrides) {
        if self.busy(&id) {
            return;
        }
        if let Err(msg) = check_overrides(&self.runner.settings(), &overrides) {
            self.runner.error(Some(&id), msg, "usage");
            return;
        }
        let lookup = id.clone();
        let checkpoints = self.runner.settings().home.checkpoints_dir();
        let result = self
            .runner
            .store
            .call(move |c| {
                let Some(t) = tasks::get(c, &lookup)? else {
                    return Err(crate::store::StoreError::NoSuchTask(lookup.to_string()));
                };
                if t.status != TaskStatus::Interrupted {
                    return Ok(Err(format!(
                        "task {lookup} is {}; only interrupted tasks resume (`az-os tasks retry {lookup}` starts a task over)",
                        t.status.as_str()
                    )));
                }
                let saved = resume::has_state(&checkpoints, c, &lookup);
                if !tasks::claim_interrupted(c, &lookup)? {
                    return Ok(Err(format!(
                        "task {lookup} was resumed by another az-os first"
                    )));
                }
                tasks::set_overrides(
                    c,
                    &lookup,
                    overrides.model.as_deref(),
                    overrides.budget_usd,
                )?;
                Ok(Ok((t, saved)))
            })
            .await;
        match result {
            Ok(Ok((t, saved))) => {
                let notice = (!saved).then(|| {
                    format!(
                        "task {id} has no saved state (it stopped before its first turn completed); it starts over"
                    )
                });
                self.requeued(id, t.description, notice);
            }
            Ok(Err(msg)) => self.runner.error(Some(&id), msg, "usage"),
            Err(e) => self.runner.error(Some(&id), e.to_string(), "usage"),
        }
    }

    /// A task this process claimed from the shared queue: queued here like a retry.
    async fn run_claimed(&mut self, id: TaskId) {
        if self.busy(&id) {
            return;
        }
        let lookup = id.clone();
        // On the task's lane: the default one is busy with every task's start.
        match self
            .runner
            .store
            .lane(id.as_str())
            .call(move |c| tasks::get(c, &lookup))
            .await
        {
            Ok(Some(t)) if t.status == TaskStatus::Pending => {
                self.requeued(id, t.description, None);
            }
            Ok(Some(t)) => self.runner.error(
                Some(&id),
                format!("task {id} is {}, not waiting to run", t.status.as_str()),
                "usage",
            ),
            Ok(None) => self
                .runner
                .error(Some(&id), format!("no task {id}"), "usage"),
            Err(e) => self.runner.error(Some(&id), e.to_string(), "database"),
        }
    }

    async fn cancel(&mut self, id: &TaskId) {
        if let Some(token) = self.running.get(id) {
            token.cancel();
            return;
        }
        if let Some(pos) = self.queue.iter().position(|q| q == id) {
            self.queue.remove(pos);
            self.finish_queued(id).await;
        }
    }

    async fn stop(&mut self, cancel_running: bool) {
        self.stopping = true;
        let queued: Vec<TaskId> = self.queue.drain(..).collect();
        for id in &queued {
            self.finish_queued(id).await;
        }
        if cancel_running {
            for token in self.running.values() {
                token.cancel();
            }
        }
    }

    /// A queued task that never ran ends `cancelled`.
    async fn finish_queued(&self, id: &TaskId) {
        let tid = id.clone();
        let r = self
            .runner
            .store
            .call(move |c| {
                tasks::finish(
                    c,
                    &tid,
                    TaskStatus::Cancelled,
                    None,
                    Some("cancelled before it started"),
                )
            })
            .await;
        if let Err(e) = r {
            self.runner.error(Some(id), e.to_string(), "database");
        }
        self.runner.emit_unrun(
            id,
            TaskStatus::Cancelled,
            Some("cancelled before it started".into()),
        );
    }

    /// A worker that panicked (or was aborted) never recorded its task's end: record it
    /// failed, so the row is not left running and front ends see the task finish.
    async fn worker_failed(&self, id: &TaskId, e: &tokio::task::JoinError) {
        let why = if e.is_panic() {
            "an internal error stopped the task (the worker panicked; see logs/az-os.log)"
        } else {
            "the task's worker was stopped"
        };
        tracing::error!(task = %id, "worker ended abnormally: {e}");
        let tid = id.clone();
        let r = self
            .runner
            .store
            .call(move |c| tasks::finish(c, &tid, TaskStatus::Failed, None, Some(why)))
            .await;
        if let Err(e) = r {
            self.runner.error(Some(id), e.to_string(), "database");
        }
        self.runner.error(Some(id), why.to_owned(), "internal");
        self.runner
            .emit_unrun(id, TaskStatus::Failed, Some(why.to_owned()));
    }

    /// Starts queued tasks while workers are free.
    fn fill(&mut self) {
        while self.running.len() < self.jobs && !self.stopping {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            let token = CancellationToken::new();
            self.running.insert(id.clone(), token.clone());
            let runner = self.runner.clone();
            let started = Instant::now();
            let task = id.clone();
            let work = self.work;
            let worker = self.workers.spawn(async move {
                work(runner, id.clone(), token).await;
                tracing::debug!(task = %id, ms = started.elapsed().as_millis(), "worker done");
                id
            });
            self.worker_tasks.insert(worker.id(), task);
        }
    }
}
