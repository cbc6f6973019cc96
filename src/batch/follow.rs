//! `--batch run` on the shared store: the tasks go on the shared queue
//! (`store::queue::submit`) for whichever worker serves their workdir, and this
//! process follows their events from `task_events` (a cursor per task) and prints them
//! as if it ran them, exit code included. A task no live worker serves waits, and the
//! follower says so (once) with the command that would serve it. Ctrl-C asks for the
//! tasks to stop (a queued one is cancelled at once, a running one by its worker);
//! twice leaves at once, the tasks going on.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, eyre};

use super::Printer;
use crate::cli::{Ctx, Exit, exit};
use crate::engine::{EngineEvent, Event};
use crate::store::queue;
use crate::store::{Location, NewTask, StoreHandle, TaskRow, TaskStatus};
use crate::util::ids::TaskId;
use crate::util::signals::{self, StopSignals};

/// How often the follower reads new events (and how late one can be shown, at most,
/// after a worker wrote it).
const POLL: Duration = Duration::from_millis(20);
/// How often rows are read for what ends without an event (cancelled while queued, a
/// worker's lease ran out) and for tasks no live worker serves.
const CHECK: Duration = Duration::from_secs(1);
/// Store failures in a row (each after the store's own reconnection attempts, up to
/// 30 s) before the follower gives up.
const MAX_FAILURES: u32 = 10;

/// Queues `new` and puts `resumed` back on the queue, then follows them all.
pub fn submit_and_follow(
    ctx: &Ctx,
    at: &Location,
    new: Vec<NewTask>,
    resumed: Vec<TaskId>,
) -> Result<i32> {
    let usage = |m: String| eyre!(Exit::usage(m));
    let store = StoreHandle::open_at(at).map_err(|e| usage(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("cannot start the async runtime")?;
    let (json, quiet, verbose) = (ctx.global.json, ctx.global.quiet, ctx.global.verbose);
    let code = runtime.block_on(async move {
        let mut printer = Printer::new(json, quiet, verbose);
        let mut waiting: Vec<TaskId> = Vec::new();
        let mut worst = exit::OK;
        for id in resumed {
            let lookup = id.clone();
            match store
                .call(move |c| queue::requeue_interrupted(c, &lookup))
                .await
            {
                Ok(true) => waiting.push(id),
                Ok(false) => {
                    printer.note(&format!(
                        "task {id} is not interrupted (any more); not resumed"
                    ));
                    worst = exit::TASK_FAILED;
                }
                Err(e) => return Err(usage(e.to_string())),
            }
        }
        for t in new {
            let description = t.description.clone();
            let id = t.id.clone();
            store
                .call(move |c| queue::submit(c, &t))
                .await
                .map_err(|e| usage(e.to_string()))?;
            printer.print(&EngineEvent::task(&id, Event::TaskQueued { description }));
            waiting.push(id);
        }
        let code = follow(&store, waiting, &mut printer).await?;
        Ok(code.max(worst))
    });
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
}

/// Prints the tasks' events until each has ended; returns the exit code.
async fn follow(store: &StoreHandle, tasks: Vec<TaskId>, printer: &mut Printer) -> Result<i32> {
    let mut stop = StopSignals::new().wrap_err("cannot listen for signals")?;
    let mut cursors: HashMap<TaskId, i64> = tasks.iter().map(|t| (t.clone(), 0)).collect();
    let mut ended: HashSet<TaskId> = HashSet::new();
    let mut unserved_said: HashSet<String> = HashSet::new();
    let mut worst = exit::OK;
    let mut stopped: Option<i32> = None;
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_check = Instant::now();
    // Rows seen final without their `task_finished`, and when (the event may lag).
    let mut final_since: HashMap<TaskId, Instant> = HashMap::new();
    let mut failures = 0u32;
    while ended.len() < tasks.len() {
        tokio::select! {
            _ = poll.tick() => {}
            sig = stop.recv() => {
                if let Some(first) = stopped {
                    return Ok(signals::exit_code(first));
                }
                stopped = Some(sig);
                printer.note("interrupted: asking for the tasks to stop (again to leave them running)");
                let open: Vec<TaskId> = tasks.iter().filter(|t| !ended.contains(*t)).cloned().collect();
                store
                    .call(move |c| {
                        for id in &open {
                            queue::request_cancel(c, id)?;
                        }
                        Ok(())
                    })
                    .await?;
                continue;
            }
        }
        let open: Vec<(TaskId, i64)> = cursors
            .iter()
            .filter(|(t, _)| !ended.contains(*t))
            .map(|(t, c)| (t.clone(), *c))
            .collect();
        let events = match store
            .call(move |c| queue::events_after(c, &open, 5_000))
            .await
        {
            Ok(e) => {
                failures = 0;
                e
            }
            // The server restarting, the network cut: the store reconnects with backoff;
            // the tasks go on meanwhile. Only a store gone for good ends the follow.
            Err(e) if failures < MAX_FAILURES => {
                failures += 1;
                tracing::warn!("following the tasks: {e}; trying again");
                continue;
            }
            Err(e) => return Err(eyre!(e)),
        };
        for (id, task, text) in events {
            cursors.insert(task.clone(), id);
            let Ok(ev) = serde_json::from_str::<EngineEvent>(&text) else {
                tracing::warn!("an event of task {task} cannot be read: {text:.200}");
                continue;
            };
            printer.print(&ev);
            if let Event::TaskFinished { status, .. } = &ev.event {
                if *status != TaskStatus::Completed {
                    worst = exit::TASK_FAILED;
                }
                ended.insert(task);
            }
        }
        if last_check.elapsed() >= CHECK {
            last_check = Instant::now();
            let open: Vec<TaskId> = tasks
                .iter()
                .filter(|t| !ended.contains(*t))
                .cloned()
                .collect();
            let Ok((rows, workers)) = store
                .call(move |c| Ok((queue::tasks_of(c, &open)?, queue::workers(c)?)))
                .await
            else {
                continue; // said by the events' read, which fails the same way
            };
            let now = crate::util::time::now_unix();
            for row in rows {
                if row.status.is_final() {
                    let since = *final_since
                        .entry(row.id.clone())
                        .or_insert_with(Instant::now);
                    // Its worker writes `task_finished` right after the row; a row final
                    // for two checks without one ended elsewhere (cancelled while queued,
                    // a lease that ran out): said from the row.
                    if since.elapsed() >= 2 * CHECK {
                        if row.status != TaskStatus::Completed {
                            worst = exit::TASK_FAILED;
                        }
                        printer.print(&finished_from_row(&row));
                        ended.insert(row.id.clone());
                    }
                    continue;
                }
                let workdir = row.workdir.clone().unwrap_or_default();
                if row.status == TaskStatus::Pending
                    && !workers.iter().any(|w| w.alive(now) && w.serves(&workdir))
                    && unserved_said.insert(workdir.clone())
                {
                    printer.note(&format!(
                        "no worker serves {workdir}; its tasks wait on the queue: start one with `az-os worker --serves {workdir}`"
                    ));
                }
            }
        }
    }
    Ok(stopped.map_or(worst, signals::exit_code))
}

/// A `task_finished` for a task that ended without one (said from its row).
fn finished_from_row(row: &TaskRow) -> EngineEvent {
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
