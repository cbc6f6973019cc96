//! Headless mode: runs tasks with the same engine as the dashboard and prints
//! events as JSON Lines (`--json`) or as human progress on stderr with results
//! alone on stdout. Exit codes follow SPEC.md.

mod follow;
pub(crate) mod preflight;
mod printer;

pub(crate) use printer::Printer;

pub(crate) use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::cli::args::RunArgs;
use crate::cli::{Ctx, Exit, exit};
use crate::engine::{self, Command, EngineConfig, Event, TaskSpec};
use crate::store::{NewTask, StoreHandle, TaskStatus, tasks};
use crate::util::ids::TaskId;
use crate::util::signals::{self, StopSignals};

use crate::engine::MAX_TASK_BYTES;

/// `az-os [--batch] run TASK…` and `run -`.
pub fn run_command(ctx: &Ctx, args: &RunArgs) -> Result<i32> {
    let descriptions = if args.task.len() == 1 && args.task[0] == "-" {
        read_stdin_tasks()?
    } else {
        vec![args.task.join(" ")]
    };
    for d in &descriptions {
        if d.trim().is_empty() {
            return Err(eyre!(Exit::usage(
                "the task is empty; say what to do, e.g. az-os --batch run \"count the lines in data.csv\""
            )));
        }
        if d.len() > MAX_TASK_BYTES {
            return Err(eyre!(Exit::usage(format!(
                "a task is {} bytes, over the {MAX_TASK_BYTES}-byte limit; put the details in a file and refer to it",
                d.len()
            ))));
        }
    }
    if let Some(b) = args.budget
        && (!b.is_finite() || b < 0.0)
    {
        return Err(eyre!(Exit::usage("--budget must be 0 or more USD")));
    }
    let workdir = resolve_workdir(args.workdir.clone())?;
    let mut settings = ctx.settings()?;
    let conn = ctx.open_store()?;
    // `--resume`: the interrupted tasks of this home first, then the new ones.
    let resumed = if args.resume {
        tasks::interrupted(&conn)?
    } else {
        Vec::new()
    };
    if conn.dialect() == crate::store::Dialect::Postgres {
        // The shared store: the tasks go on its queue for the workers.
        let at = ctx.store_location()?;
        drop(conn);
        let new = descriptions
            .into_iter()
            .map(|d| NewTask {
                id: TaskId::new(),
                description: crate::redact::redact(&d).into_owned(),
                workdir: workdir.display().to_string(),
                max_turns: args.max_turns.unwrap_or(settings.defaults.max_turns),
                budget_usd: args.budget,
                requested_model: args.model.clone(),
                critical: args.critical,
            })
            .collect();
        return follow::submit_and_follow(ctx, &at, new, resumed, engine::Overrides::default());
    }
    let store = StoreHandle::from_connection(conn);
    preflight::ensure_model(&mut settings, args.model.as_deref(), ctx.global.quiet)?;
    let jobs = args.jobs.map_or(settings.defaults.jobs, usize::from);
    let specs = descriptions
        .into_iter()
        .map(|description| {
            (
                TaskId::new(),
                TaskSpec {
                    description,
                    workdir: workdir.clone(),
                    max_turns: args.max_turns,
                    budget_usd: args.budget,
                    model: args.model.clone(),
                    critical: args.critical,
                },
            )
        })
        .collect::<Vec<_>>();
    let commands = resumed
        .into_iter()
        .map(|id| Command::Resume {
            id,
            overrides: engine::Overrides::default(),
        })
        .chain(
            specs
                .into_iter()
                .map(|(id, spec)| Command::Submit { id, spec }),
        )
        .collect();
    let approvals = if args.yes {
        engine::Approvals::AutoApprove
    } else {
        engine::Approvals::Deny
    };
    drive(ctx, settings, store, jobs, approvals, commands)
}

/// `az-os tasks retry ID`: the stored task again, headless.
pub fn retry_command(ctx: &Ctx, id: &str) -> Result<i32> {
    let mut settings = ctx.settings()?;
    let conn = ctx.open_store()?;
    let id = tasks::resolve(&conn, id).map_err(|e| eyre!(Exit::usage(e.to_string())))?;
    let task =
        tasks::get(&conn, &id)?.ok_or_else(|| eyre!(Exit::usage(format!("no task {id}"))))?;
    if !task.status.is_final() {
        return Err(eyre!(Exit::usage(format!(
            "task {id} is {}; cancel it first with `az-os tasks cancel {id}`",
            task.status.as_str()
        ))));
    }
    preflight::ensure_model(
        &mut settings,
        task.requested_model.as_deref(),
        ctx.global.quiet,
    )?;
    let store = StoreHandle::from_connection(conn);
    let jobs = 1;
    drive(
        ctx,
        settings,
        store,
        jobs,
        engine::Approvals::Deny,
        vec![Command::Retry { id }],
    )
}

/// `az-os tasks resume ID|--all`: interrupted tasks continue from their last completed
/// turn, headless, with the same output options as `run`.
pub fn resume_command(
    ctx: &Ctx,
    id: Option<&str>,
    jobs: Option<u16>,
    yes: bool,
    overrides: &engine::Overrides,
) -> Result<i32> {
    if let Some(b) = overrides.budget_usd
        && (!b.is_finite() || b < 0.0)
    {
        return Err(eyre!(Exit::usage("--budget must be 0 or more USD")));
    }
    let mut settings = ctx.settings()?;
    // Opening the store reconciles it: what a gone process left is interrupted now.
    let conn = ctx.open_store()?;
    if conn.dialect() == crate::store::Dialect::Postgres {
        // The shared store: back on its queue, for a worker that serves the workdir.
        // The model runs on a worker, which must have it too; a name unknown here is
        // a typo.
        if let Some(m) = &overrides.model
            && settings.model(m).is_none()
        {
            return Err(eyre!(Exit::usage(format!(
                "--model {m}: no such model; `az-os models list` shows the names"
            ))));
        }
        let ids = match id {
            Some(id) => {
                vec![tasks::resolve(&conn, id).map_err(|e| eyre!(Exit::usage(e.to_string())))?]
            }
            None => tasks::interrupted(&conn)?,
        };
        let at = ctx.store_location()?;
        drop(conn);
        return follow::submit_and_follow(ctx, &at, Vec::new(), ids, overrides.clone());
    }
    let ids = if let Some(id) = id {
        let id = tasks::resolve(&conn, id).map_err(|e| eyre!(Exit::usage(e.to_string())))?;
        let task =
            tasks::get(&conn, &id)?.ok_or_else(|| eyre!(Exit::usage(format!("no task {id}"))))?;
        if task.status != TaskStatus::Interrupted {
            return Err(eyre!(Exit::usage(format!(
                "task {id} is {}; only interrupted tasks resume (`az-os tasks retry {id}` starts a task over)",
                task.status.as_str()
            ))));
        }
        preflight::ensure_model(
            &mut settings,
            overrides
                .model
                .as_deref()
                .or(task.requested_model.as_deref()),
            ctx.global.quiet,
        )?;
        vec![id]
    } else {
        let ids = tasks::interrupted(&conn)?;
        if ids.is_empty() {
            if !ctx.global.quiet {
                eprintln!("no interrupted tasks to resume");
            }
            return Ok(exit::OK);
        }
        preflight::ensure_model(&mut settings, overrides.model.as_deref(), ctx.global.quiet)?;
        ids
    };
    let jobs = jobs.map_or(settings.defaults.jobs, usize::from);
    let approvals = if yes {
        engine::Approvals::AutoApprove
    } else {
        engine::Approvals::Deny
    };
    let commands = ids
        .into_iter()
        .map(|id| Command::Resume {
            id,
            overrides: overrides.clone(),
        })
        .collect();
    drive(
        ctx,
        settings,
        StoreHandle::from_connection(conn),
        jobs,
        approvals,
        commands,
    )
}

fn read_stdin_tasks() -> Result<Vec<String>> {
    let stdin = std::io::stdin();
    let mut tasks = Vec::new();
    for line in stdin.lock().lines() {
        let line = line.wrap_err("cannot read tasks from stdin")?;
        let t = line.trim();
        if !t.is_empty() && !t.starts_with('#') {
            tasks.push(t.to_owned());
        }
    }
    if tasks.is_empty() {
        return Err(eyre!(Exit::usage(
            "no tasks on stdin; give one task per line, e.g. printf 'task one\\ntask two\\n' | az-os --batch run -"
        )));
    }
    Ok(tasks)
}

fn resolve_workdir(flag: Option<PathBuf>) -> Result<PathBuf> {
    let dir = match flag {
        Some(d) => d,
        None => std::env::current_dir().wrap_err("cannot read the current directory")?,
    };
    if !dir.is_dir() {
        return Err(eyre!(Exit::usage(format!(
            "the workdir {} does not exist or is not a directory; create it or pass --workdir DIR",
            dir.display()
        ))));
    }
    Ok(dir.canonicalize().unwrap_or(dir))
}

/// Starts the engine, sends `commands`, prints events until every task ended,
/// and returns the exit code.
fn drive(
    ctx: &Ctx,
    settings: crate::config::Settings,
    store: StoreHandle,
    jobs: usize,
    approvals: engine::Approvals,
    commands: Vec<Command>,
) -> Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("cannot start the async runtime")?;
    let json = ctx.global.json;
    let quiet = ctx.global.quiet;
    let verbose = ctx.global.verbose;
    let code = runtime.block_on(async move {
        let mut stop = StopSignals::new().wrap_err("cannot listen for signals")?;
        // Alerts (not every snapshot) reach the batch output; providers are not polled.
        let health = engine::HealthEvents { sampler: true, snapshots: false, providers: false };
        let config = EngineConfig {
            settings: Arc::new(settings),
            jobs,
            stream_thoughts: false,
            health,
            approvals,
            front_end: crate::engine::FrontEnd::Batch,
        };
        let (handle, mut events, join) =
            engine::start(config, store).map_err(|e| eyre!(Exit::usage(e.to_string())))?;
        // The tasks still to finish. One refused before it was queued (an `error` and
        // no `task_queued`, e.g. a resume of a task another process claimed) is done.
        let mut waiting: HashSet<TaskId> = commands.iter().filter_map(command_task).collect();
        let mut queued: HashSet<TaskId> = HashSet::new();
        for cmd in commands {
            handle.send(cmd).map_err(|e| eyre!(e))?;
        }
        let mut printer = Printer::new(json, quiet, verbose);
        let mut worst = exit::OK;
        let mut stopped: Option<i32> = None;
        loop {
            tokio::select! {
                ev = events.recv() => {
                    let Some(ev) = ev else { break };
                    printer.print(&ev);
                    let done = match (&ev.event, &ev.task_id) {
                        (Event::TaskQueued { .. }, Some(id)) => {
                            queued.insert(id.clone());
                            false
                        }
                        (Event::TaskFinished { status, .. }, Some(id)) => {
                            if *status != TaskStatus::Completed {
                                worst = exit::TASK_FAILED;
                            }
                            waiting.remove(id)
                        }
                        (Event::Error { .. }, Some(id)) if !queued.contains(id) => {
                            let refused = waiting.remove(id);
                            if refused {
                                worst = exit::TASK_FAILED;
                            }
                            refused
                        }
                        (Event::Error { .. }, None) => {
                            worst = exit::TASK_FAILED;
                            false
                        }
                        _ => false,
                    };
                    if done && waiting.is_empty() {
                        let _ = handle.send(Command::Shutdown { cancel_running: false });
                    }
                }
                sig = stop.recv() => {
                    if let Some(first) = stopped {
                        // Asked twice: leave now. Dropping the runtime below stops the
                        // commands still running (their supervisors kill them).
                        return Ok(signals::exit_code(first));
                    }
                    stopped = Some(sig);
                    printer.note(&format!(
                        "{}: cancelling running tasks (again to quit now)",
                        if sig == nix::libc::SIGINT { "interrupted" } else { "stopping on a signal" }
                    ));
                    let _ = handle.send(Command::Shutdown { cancel_running: true });
                }
            }
        }
        let _ = join.await;
        Ok(stopped.map_or(worst, signals::exit_code))
    });
    // Never wait on a blocking call that will not return (a second Ctrl-C must exit).
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

/// The task a command is about, when it starts or continues one.
fn command_task(cmd: &Command) -> Option<TaskId> {
    match cmd {
        Command::Submit { id, .. }
        | Command::Retry { id }
        | Command::Resume { id, .. }
        | Command::Run { id } => Some(id.clone()),
        Command::Cancel { .. }
        | Command::Approve { .. }
        | Command::ReloadModels
        | Command::Follow { .. }
        | Command::Shutdown { .. } => None,
    }
}
