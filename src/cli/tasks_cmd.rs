//! `az-os tasks list|show|logs|cancel`: reading and managing the task store.

use crate::store::db::params;
use color_eyre::eyre::{Result, eyre};

use super::style::{self, color_enabled, paint, status_style};
use super::table::Table;
use super::{Ctx, Exit, exit, print, print_json};
use crate::store::{TaskStatus, logs, state, tasks, tool_usage};
use crate::util::ids::TaskId;
use crate::util::text::strip_control;
use crate::util::time::{age, now_unix, rfc3339};

fn resolve(conn: &crate::store::Db, id: &str) -> Result<TaskId> {
    tasks::resolve(conn, id).map_err(|e| eyre!(Exit::usage(e.to_string())))
}

pub fn list(ctx: &Ctx, status: Option<TaskStatus>, limit: usize) -> Result<i32> {
    let conn = ctx.open_store()?;
    let rows = tasks::list(&conn, status, limit, 0)?;
    if ctx.global.json {
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        match status {
            Some(s) => eprintln!("no {} tasks", s.as_str()),
            None => eprintln!("no tasks yet; run one with: az-os --batch run \"TASK\""),
        }
        return Ok(exit::OK);
    }
    let color = color_enabled(true);
    let now = now_unix();
    let mut t = Table::new(
        vec!["ID", "STATUS", "MODEL", "TURNS", "COST", "AGE", "TASK"],
        color,
    );
    for r in rows {
        t.styled_row(vec![
            (r.id.to_string(), style::dim()),
            (r.status.as_str().to_owned(), status_style(r.status)),
            (r.model.unwrap_or_else(|| "-".into()), anstyle::Style::new()),
            (
                format!("{}/{}", r.turns, r.max_turns),
                anstyle::Style::new(),
            ),
            (format!("${:.4}", r.cost_usd), anstyle::Style::new()),
            (age(now - r.created_at), anstyle::Style::new()),
            (r.description, anstyle::Style::new()),
        ]);
    }
    print(&t.render())?;
    Ok(exit::OK)
}

pub fn show(ctx: &Ctx, id: &str) -> Result<i32> {
    let conn = ctx.open_store()?;
    let id = resolve(&conn, id)?;
    let task =
        tasks::get(&conn, &id)?.ok_or_else(|| eyre!(Exit::usage(format!("no task {id}"))))?;
    let usage = tool_usage::for_task(&conn, &id)?;
    let calls: Vec<(String, i64, i64, f64)> = conn
        .prepare_cached(
            "SELECT COALESCE(model, '?'), COALESCE(SUM(input_tokens), 0), \
             COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cost_usd), 0) \
             FROM cost_tracking WHERE task_id = ?1 GROUP BY 1 ORDER BY 1",
        )?
        .query_map(params![id.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    if ctx.global.json {
        let by_model: Vec<_> = calls
            .iter()
            .map(|(m, i, o, c)| serde_json::json!({"model": m, "input_tokens": i, "output_tokens": o, "cost_usd": c}))
            .collect();
        print_json(&serde_json::json!({"task": task, "tools": usage, "costs": by_model}))?;
        return Ok(exit::OK);
    }
    let color = color_enabled(true);
    let clean = |s: &str| strip_control(s);
    let mut out = String::new();
    let field = |out: &mut String, k: &str, v: &str| {
        out.push_str(&format!("{:<10} {v}\n", paint(color, style::bold(), k)));
    };
    field(&mut out, "id", task.id.as_str());
    field(
        &mut out,
        "status",
        &paint(color, status_style(task.status), task.status.as_str()),
    );
    field(&mut out, "task", &clean(&task.description));
    field(&mut out, "model", task.model.as_deref().unwrap_or("-"));
    field(&mut out, "workdir", task.workdir.as_deref().unwrap_or("-"));
    field(
        &mut out,
        "turns",
        &format!("{}/{}", task.turns, task.max_turns),
    );
    field(&mut out, "cost", &format!("${:.6}", task.cost_usd));
    field(&mut out, "created", &rfc3339(task.created_at));
    if let (Some(s), Some(e)) = (task.started_at, task.completed_at) {
        field(&mut out, "duration", &format!("{:.1}s", (e - s).max(0.0)));
    }
    if let Some(route) = task
        .route_json
        .as_deref()
        .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
    {
        field(
            &mut out,
            "route",
            &clean(route["reason"].as_str().unwrap_or("-")),
        );
    }
    if let Some(e) = &task.error {
        field(&mut out, "error", &paint(color, style::red(), &clean(e)));
    }
    if let Some(cp) = state::checkpoint_id(&conn, &id)? {
        let how = if task.status == TaskStatus::Interrupted {
            format!("{cp} (`az-os tasks resume {id}` continues from it)")
        } else {
            cp
        };
        field(&mut out, "checkpoint", &how);
    }
    if let Some(r) = &task.result {
        out.push_str(&format!(
            "{}\n{}\n",
            paint(color, style::bold(), "result"),
            clean(r)
        ));
    }
    if !usage.is_empty() {
        let mut t = Table::new(vec!["TOOL", "CALLS", "ERRORS", "TIME"], color);
        for u in usage {
            t.row(vec![
                u.tool_name,
                u.invocation_count.to_string(),
                u.error_count.to_string(),
                format!("{:.0} ms", u.total_duration_ms),
            ]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    if !calls.is_empty() {
        let mut t = Table::new(vec!["MODEL", "IN", "OUT", "COST"], color);
        for (m, i, o, c) in calls {
            t.row(vec![m, i.to_string(), o.to_string(), format!("${c:.6}")]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    print(&out)?;
    Ok(exit::OK)
}

pub fn logs(ctx: &Ctx, id: &str) -> Result<i32> {
    let conn = ctx.open_store()?;
    let id = resolve(&conn, id)?;
    let rows = logs::list(&conn, &id, 0, usize::MAX)?;
    if ctx.global.json {
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    let color = color_enabled(true);
    let mut out = String::new();
    for r in rows {
        let kind = r.kind.as_deref().unwrap_or(&r.level);
        let st = match (r.level.as_str(), kind) {
            ("error", _) => style::red(),
            ("warn", _) => style::yellow(),
            (_, "thought") => style::bold(),
            (_, "action") => style::green(),
            _ => anstyle::Style::new(),
        };
        let turn = r.turn.map(|t| format!("t{t} ")).unwrap_or_default();
        let time = rfc3339(r.timestamp).get(11..19).unwrap_or("").to_owned();
        out.push_str(&format!(
            "{} {turn}{} {}\n",
            paint(color, style::dim(), &time),
            paint(color, st, &format!("{kind:<11}")),
            strip_control(&r.message).replace('\n', "\n                 ")
        ));
    }
    if out.is_empty() {
        eprintln!("task {id} has no log lines yet");
    }
    print(&out)?;
    Ok(exit::OK)
}

pub fn cancel(ctx: &Ctx, id: &str) -> Result<i32> {
    let conn = ctx.open_store()?;
    let id = resolve(&conn, id)?;
    let task =
        tasks::get(&conn, &id)?.ok_or_else(|| eyre!(Exit::usage(format!("no task {id}"))))?;
    if task.status.is_final() {
        return Err(eyre!(Exit::usage(format!(
            "task {id} already ended ({}); nothing to cancel",
            task.status.as_str()
        ))));
    }
    if conn.dialect() == crate::store::Dialect::Postgres && task.status == TaskStatus::Running {
        // On the shared store its worker (on any host) cancels it at its next heartbeat.
        crate::store::queue::request_cancel(&conn, &id)?;
        eprintln!("task {id}: cancel requested; its worker stops it within seconds");
        return Ok(exit::OK);
    }
    tasks::finish(
        &conn,
        &id,
        TaskStatus::Cancelled,
        None,
        Some("cancelled with `az-os tasks cancel`"),
    )?;
    let _ = logs::append(
        &conn,
        &id,
        "warn",
        "status",
        None,
        "cancelled with `az-os tasks cancel`",
    );
    eprintln!(
        "task {id} cancelled{}",
        if task.status == TaskStatus::Running {
            "; its runner stops at the next turn"
        } else {
            ""
        }
    );
    Ok(exit::OK)
}
