//! `az-os checkpoint list|show|diff|restore|rollback|delete|prune`: what tasks changed
//! in their workdirs, and undoing it. The work is `crate::checkpoint`'s; this file
//! prints. Exit 0 done, 1 refused (files edited since the task: `--force`), 2 a bad
//! or unknown id, or a setup problem.

use color_eyre::eyre::{Result, eyre};

use super::args::CheckpointCmd;
use super::style::{self, color_enabled, paint};
use super::table::Table;
use super::{Ctx, Exit, exit, print, print_json};
use crate::checkpoint::{Change, CheckpointError, Checkpoints, FileChange, Restored, Target};
use crate::util::time::{age, now_unix, rfc3339};

pub fn run(ctx: &Ctx, action: Option<CheckpointCmd>) -> Result<i32> {
    let store = Checkpoints::new(ctx.home.checkpoints_dir());
    match action.unwrap_or(CheckpointCmd::List { task: None }) {
        CheckpointCmd::List { task } => list(ctx, &store, task.as_deref()),
        CheckpointCmd::Show { id } => show(ctx, &store, &id),
        CheckpointCmd::Diff { id } => {
            let target = store.resolve(&id).map_err(fail)?;
            print(&store.diff(&target).map_err(fail)?)?;
            Ok(exit::OK)
        }
        CheckpointCmd::Restore { id, force } => {
            let Target::One(id) = store.resolve(&id).map_err(fail)? else {
                return Err(eyre!(Exit::usage(format!(
                    "`{id}` names a task: restore takes TASK.TURN (`az-os checkpoint list {id}` shows them); `rollback {id}` undoes the whole task"
                ))));
            };
            let done = store.restore(&id, force).map_err(fail)?;
            report(
                ctx,
                &format!("restored the files of checkpoint {id}"),
                &done,
            )
        }
        CheckpointCmd::Rollback { task, force } => {
            let task = store.resolve_task(&task).map_err(fail)?;
            let done = store.rollback(&task, force).map_err(fail)?;
            report(ctx, &format!("rolled back task {task}"), &done)
        }
        CheckpointCmd::Delete { id } => {
            let target = store.resolve(&id).map_err(fail)?;
            store.delete(&target).map_err(fail)?;
            match target {
                Target::Task(t) => eprintln!("deleted the checkpoints of task {t}"),
                Target::One(id) => eprintln!("deleted checkpoint {id}"),
            }
            Ok(exit::OK)
        }
        CheckpointCmd::Prune {
            older_than,
            max_size,
        } => {
            let settings = ctx.settings()?;
            let max = max_size
                .unwrap_or(settings.checkpoints.max_total_mb)
                .saturating_mul(1024 * 1024);
            let pruned = store
                .prune(older_than, Some(max), now_unix() as i64)
                .map_err(fail)?;
            if ctx.global.json {
                print_json(&pruned)?;
            } else {
                eprintln!(
                    "pruned {} task(s); {:.1} MB freed in private repositories (in your own repositories `git gc` reclaims the rest); {} folder(s) of files set aside by resumes removed",
                    pruned.tasks.len(),
                    pruned.bytes_freed as f64 / (1024.0 * 1024.0),
                    pruned.set_aside_removed
                );
            }
            Ok(exit::OK)
        }
    }
}

/// A checkpoint error as the process's exit: 1 for a refusal `--force` overrides, 2
/// for the rest.
#[allow(clippy::needless_pass_by_value)] // called as `.map_err(fail)`
fn fail(e: CheckpointError) -> color_eyre::Report {
    let code = if e.is_refusal() {
        exit::TASK_FAILED
    } else {
        exit::USAGE
    };
    eyre!(Exit {
        code,
        message: e.to_string(),
    })
}

fn list(ctx: &Ctx, store: &Checkpoints, task: Option<&str>) -> Result<i32> {
    let task = task
        .map(|t| store.resolve_task(t))
        .transpose()
        .map_err(fail)?;
    let rows = store.list(task.as_deref()).map_err(fail)?;
    if ctx.global.json {
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        eprintln!("no checkpoints yet: tasks that change files get them");
        return Ok(exit::OK);
    }
    let color = color_enabled(true);
    let now = now_unix();
    let mut t = Table::new(vec!["ID", "TASK", "TURN", "AGE", "CREATED"], color);
    for c in rows {
        t.styled_row(vec![
            (c.id.clone(), anstyle::Style::new()),
            (c.task_id.clone(), style::dim()),
            (c.turn.to_string(), anstyle::Style::new()),
            (age(now - c.created_at as f64), anstyle::Style::new()),
            (rfc3339(c.created_at as f64), style::dim()),
        ]);
    }
    print(&t.render())?;
    Ok(exit::OK)
}

fn show(ctx: &Ctx, store: &Checkpoints, id: &str) -> Result<i32> {
    let Target::One(id) = store.resolve(id).map_err(fail)? else {
        return Err(eyre!(Exit::usage(format!(
            "`{id}` names a task: show takes TASK.TURN (`az-os checkpoint list {id}` shows them)"
        ))));
    };
    let shown = store.show(&id).map_err(fail)?;
    if ctx.global.json {
        print_json(&shown)?;
        return Ok(exit::OK);
    }
    let color = color_enabled(true);
    let c = &shown.checkpoint;
    let mut out = String::new();
    let field = |out: &mut String, k: &str, v: &str| {
        out.push_str(&format!("{:<10} {v}\n", paint(color, style::bold(), k)));
    };
    field(&mut out, "id", &c.id);
    field(&mut out, "task", &c.task_id);
    field(&mut out, "turn", &c.turn.to_string());
    field(&mut out, "time", &rfc3339(c.created_at as f64));
    field(&mut out, "workdir", &shown.workdir.display().to_string());
    field(&mut out, "commit", &c.commit);
    if c.turn == 0 {
        out.push_str("\nthe baseline: the files as they were before the task's first change\n");
    } else if shown.files.is_empty() {
        out.push_str("\nno files changed\n");
    } else {
        out.push_str(&format!("\n{} file(s) changed\n", shown.files.len()));
        out.push_str(&files_table(&shown.files, color));
    }
    print(&out)?;
    Ok(exit::OK)
}

/// Files with their change and +/- counts.
pub fn files_table(files: &[FileChange], color: bool) -> String {
    let mut t = Table::new(vec!["CHANGE", "+", "-", "FILE"], color);
    for f in files {
        let (word, st) = match f.change {
            Change::Added => ("added", style::green()),
            Change::Modified => ("modified", style::yellow()),
            Change::Deleted => ("deleted", style::red()),
            Change::TypeChanged => ("type", style::yellow()),
        };
        let (plus, minus) = if f.binary {
            ("bin".to_owned(), "bin".to_owned())
        } else {
            (f.added.to_string(), f.removed.to_string())
        };
        t.styled_row(vec![
            (word.to_owned(), st),
            (plus, style::green()),
            (minus, style::red()),
            (f.path.clone(), anstyle::Style::new()),
        ]);
    }
    t.render()
}

fn report(ctx: &Ctx, what: &str, done: &Restored) -> Result<i32> {
    if ctx.global.json {
        print_json(done)?;
        return Ok(exit::OK);
    }
    eprintln!(
        "{what}: {} file(s) written, {} deleted",
        done.written.len(),
        done.deleted.len()
    );
    for f in &done.written {
        eprintln!("  wrote   {f}");
    }
    for f in &done.deleted {
        eprintln!("  deleted {f}");
    }
    Ok(exit::OK)
}
