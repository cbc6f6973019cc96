//! `--batch run` on the shared store: the tasks go on the shared queue
//! (`store::queue::submit`) for whichever worker serves their workdir, and this
//! process follows their events (`engine::relay::Follower`) and prints them as if it
//! ran them, exit code included. A task no live worker serves waits, and the follower
//! says so (once) with the command that would serve it. Ctrl-C asks for the
//! tasks to stop (a queued one is cancelled at once, a running one by its worker);
//! twice leaves at once, the tasks going on.

use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};

use super::Printer;
use crate::cli::{Ctx, Exit, exit};
use crate::engine::relay::{self, Follower, Seen};
use crate::engine::{EngineEvent, Event, Overrides};
use crate::store::queue;
use crate::store::{Location, NewTask, StoreHandle, TaskStatus};
use crate::util::ids::TaskId;
use crate::util::signals::{self, StopSignals};

/// Queues `new` and puts `resumed` back on the queue (with `overrides` for the rest of
/// each), then follows them all.
pub fn submit_and_follow(
    ctx: &Ctx,
    at: &Location,
    new: Vec<NewTask>,
    resumed: Vec<TaskId>,
    overrides: Overrides,
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
            let o = overrides.clone();
            match store
                .call(move |c| {
                    queue::requeue_interrupted(c, &lookup, o.model.as_deref(), o.budget_usd)
                })
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
        // One statement for them all: a thousand lines are queued at once.
        let queued: Vec<(TaskId, String)> = new
            .iter()
            .map(|t| (t.id.clone(), t.description.clone()))
            .collect();
        if !new.is_empty() {
            store
                .call(move |c| queue::submit_all(c, &new))
                .await
                .map_err(|e| usage(e.to_string()))?;
        }
        for (id, description) in queued {
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
    let mut follower = Follower::default();
    for id in tasks {
        follower.follow(id);
    }
    let mut worst = exit::OK;
    let mut stopped: Option<i32> = None;
    let mut poll = tokio::time::interval(relay::POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !follower.is_done() {
        tokio::select! {
            _ = poll.tick() => {}
            sig = stop.recv() => {
                if let Some(first) = stopped {
                    return Ok(signals::exit_code(first));
                }
                stopped = Some(sig);
                printer.note("interrupted: asking for the tasks to stop (again to leave them running)");
                let open = follower.open();
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
        for seen in follower.poll(store).await? {
            match seen {
                Seen::Event(ev) => {
                    printer.print(&ev);
                    if let Event::TaskFinished { status, .. } = &ev.event
                        && *status != TaskStatus::Completed
                    {
                        worst = exit::TASK_FAILED;
                    }
                }
                Seen::Unserved(workdir) => printer.note(&relay::unserved_notice(&workdir)),
            }
        }
    }
    Ok(stopped.map_or(worst, signals::exit_code))
}
