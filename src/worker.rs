//! `az-os worker`: a headless front end on the shared queue (PostgreSQL store). It
//! claims queued tasks whose workdir it serves (`store::queue::claim`, `FOR UPDATE SKIP
//! LOCKED`), hands each to its engine as `Command::Run`, renews its claims with a
//! heartbeat, cancels what another host asked to stop, and writes every event to
//! `task_events` for followers on other hosts, and keeps to its share of the providers'
//! rate limits (the limits divided by the live workers, updated at each heartbeat). It
//! prints events as `--batch run` does.
//!
//! The engine's store connections (a lane per job, up to eight: tasks, logs, ledger)
//! and this loop's own two (claims and heartbeats; the events it publishes), so a claim
//! never waits behind the engine's writes or the events.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::batch::{Printer, preflight};
use crate::cli::{Ctx, Exit, exit};
use crate::engine::{self, Command, EngineConfig, EngineEvent, Event};
use crate::store::queue::{self, Worker};
use crate::store::{StoreError, StoreHandle};
use crate::util::ids::TaskId;
use crate::util::signals::{self, StopSignals};
use crate::util::time::now_unix;

/// Most connections of a worker's engine (one per job up to this).
const MAX_LANES: usize = 8;

/// How often an idle worker looks for queued tasks.
const POLL: Duration = Duration::from_millis(25);

/// What `az-os worker` was asked to do.
pub struct WorkerArgs {
    pub jobs: Option<u16>,
    pub name: Option<String>,
    pub serves: Vec<PathBuf>,
    pub yes: bool,
}

pub fn run_command(ctx: &Ctx, args: WorkerArgs) -> Result<i32> {
    let usage = |m: String| eyre!(Exit::usage(m));
    let mut settings = ctx.settings()?;
    let at = ctx.store_location()?;
    if !at.is_shared() {
        return Err(usage(StoreError::NotShared.to_string()));
    }
    let serves = served(args.serves)?;
    let conn = ctx.open_store()?;
    preflight::ensure_model(&mut settings, None, ctx.global.quiet)?;
    let jobs = args.jobs.map_or(settings.defaults.jobs, usize::from).max(1);
    // A lane (a connection) per job, up to MAX_LANES: a task's writes are round trips
    // to the server, and one connection would queue each task's behind the others'.
    let mut conns = vec![conn];
    for _ in 1..jobs.min(MAX_LANES) {
        conns.push(crate::store::open_at(&at).map_err(|e| usage(e.to_string()))?);
    }
    let control = StoreHandle::open_at(&at).map_err(|e| usage(e.to_string()))?;
    // Events for followers on a connection of their own: a claim never waits behind them.
    let published = StoreHandle::open_at(&at).map_err(|e| usage(e.to_string()))?;
    let me = crate::store::owner::Owner::me();
    let host = me.host.clone().unwrap_or_else(|| "localhost".into());
    let worker = Worker {
        id: format!("{host}-{}-{}", me.pid, &TaskId::new().as_str()[..6]),
        name: args.name.unwrap_or_else(|| host.clone()),
        host,
        pid: me.pid,
        jobs: u32::from(args.jobs.unwrap_or(0)),
        serves,
        started_at: now_unix(),
        heartbeat_at: now_unix(),
        stopped_at: None,
        running: 0,
    };
    let worker = Worker {
        jobs: u32::try_from(jobs).unwrap_or(u32::MAX),
        ..worker
    };
    let approvals = if args.yes {
        engine::Approvals::AutoApprove
    } else {
        engine::Approvals::Deny
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("cannot start the async runtime")?;
    let (json, quiet, verbose) = (ctx.global.json, ctx.global.quiet, ctx.global.verbose);
    let code = runtime.block_on(async move {
        let config = EngineConfig {
            settings: Arc::new(settings),
            jobs,
            stream_thoughts: false,
            health: engine::HealthEvents {
                sampler: true,
                snapshots: false,
                providers: false,
            },
            approvals,
            front_end: engine::FrontEnd::Batch,
        };
        let (handle, events, join) = engine::start(config, StoreHandle::from_connections(conns))
            .map_err(|e| eyre!(Exit::usage(e.to_string())))?;
        let w = worker.clone();
        control.call(move |c| queue::register(c, &w)).await?;
        let mut printer = Printer::new(json, quiet, verbose);
        printer.note(&format!(
            "worker {} ({}) on {}: {} jobs, serving {}",
            worker.name,
            worker.id,
            at.describe(),
            jobs,
            worker.serves.join(", ")
        ));
        let stores = Stores {
            control: &control,
            published: &published,
        };
        let code = serve(&worker, &stores, &handle, events, &mut printer, jobs).await;
        let _ = handle.send(Command::Shutdown {
            cancel_running: false,
        });
        let _ = join.await;
        // The last events reach the followers before the worker says it stopped.
        published.settled().await;
        let id = worker.id.clone();
        if let Err(e) = control.call(move |c| queue::stopped(c, &id)).await {
            tracing::warn!("cannot record that the worker stopped: {e}");
        }
        code
    });
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
}

/// The folders served, canonical; the current directory when none is given.
fn served(dirs: Vec<PathBuf>) -> Result<Vec<String>> {
    let dirs = if dirs.is_empty() {
        vec![std::env::current_dir().wrap_err("cannot read the current directory")?]
    } else {
        dirs
    };
    dirs.into_iter()
        .map(|d| {
            if !d.is_dir() {
                return Err(eyre!(Exit::usage(format!(
                    "--serves {}: no such directory on this host",
                    d.display()
                ))));
            }
            Ok(d.canonicalize().unwrap_or(d).display().to_string())
        })
        .collect()
}

/// Claims as many queued tasks as slots are free (one statement), and hands each to
/// the engine.
async fn fill(
    worker: &Worker,
    control: &StoreHandle,
    handle: &engine::EngineHandle,
    running: &mut HashSet<TaskId>,
    jobs: usize,
) -> Result<()> {
    if running.len() >= jobs {
        return Ok(());
    }
    let (id, serves, free) = (
        worker.id.clone(),
        worker.serves.clone(),
        jobs - running.len(),
    );
    match control
        .call(move |c| queue::claim_many(c, &id, &serves, free))
        .await
    {
        Ok(tasks) => {
            for task in tasks {
                running.insert(task.clone());
                handle
                    .send(Command::Run { id: task })
                    .map_err(|e| eyre!(e))?;
            }
        }
        Err(e) => tracing::warn!("worker: cannot claim a task: {e}"),
    }
    Ok(())
}

/// A worker's own connections: claims and heartbeats, and the events it publishes.
struct Stores<'a> {
    control: &'a StoreHandle,
    published: &'a StoreHandle,
}

/// The worker's loop until it is stopped: returns the exit code.
async fn serve(
    worker: &Worker,
    stores: &Stores<'_>,
    handle: &engine::EngineHandle,
    mut events: tokio::sync::mpsc::UnboundedReceiver<EngineEvent>,
    printer: &mut Printer,
    jobs: usize,
) -> Result<i32> {
    let mut stop = StopSignals::new().wrap_err("cannot listen for signals")?;
    let mut running: HashSet<TaskId> = HashSet::new();
    let mut draining: Option<i32> = None;
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beat = tokio::time::interval(Duration::from_secs_f64(queue::HEARTBEAT_S));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { return Ok(exit::OK) };
                let mut batch = vec![ev];
                while let Ok(more) = events.try_recv() {
                    batch.push(more);
                }
                let mut rows = Vec::with_capacity(batch.len());
                for ev in &batch {
                    printer.print(ev);
                    if let (Event::TaskFinished { .. }, Some(id)) = (&ev.event, &ev.task_id) {
                        running.remove(id);
                    }
                    rows.push((
                        ev.task_id.as_ref().map(|t| t.as_str().to_owned()),
                        serde_json::to_string(ev).unwrap_or_default(),
                    ));
                }
                stores
                    .published
                    .post("task events", move |c| queue::append_events(c, &rows));
                if let Some(code) = draining {
                    if running.is_empty() {
                        return Ok(code);
                    }
                } else if running.len() < jobs {
                    // A slot freed: take the next task now rather than at the next poll.
                    fill(worker, stores.control, handle, &mut running, jobs).await?;
                }
            }
            _ = poll.tick(), if draining.is_none() => {
                fill(worker, stores.control, handle, &mut running, jobs).await?;
            }
            _ = beat.tick() => {
                let id = worker.id.clone();
                let beat = stores
                    .control
                    .call(move |c| {
                        queue::heartbeat(c, &id)?;
                        crate::store::owner::reconcile(c)?;
                        let now = now_unix();
                        let alive = queue::workers(c)?.iter().filter(|w| w.alive(now)).count();
                        Ok((queue::cancels_for(c, &id)?, alive))
                    })
                    .await;
                match beat {
                    Ok((cancels, alive)) => {
                        // Provider rate limits: each live worker keeps to its share.
                        crate::llm::rate_limit::set_share(u32::try_from(alive).unwrap_or(u32::MAX));
                        for id in cancels {
                            let _ = handle.send(Command::Cancel { id });
                        }
                    }
                    Err(e) => tracing::warn!("worker: heartbeat failed: {e}"),
                }
            }
            sig = stop.recv() => {
                if draining.is_some() {
                    return Ok(signals::exit_code(sig));
                }
                let code = signals::exit_code(sig);
                printer.note(&format!(
                    "stopping: no new tasks; {} running finish first (again to stop now)",
                    running.len()
                ));
                if running.is_empty() {
                    return Ok(code);
                }
                draining = Some(code);
            }
        }
    }
}
