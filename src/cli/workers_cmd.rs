//! `az-os workers`: the workers on the shared queue, live ones first.

use color_eyre::eyre::{Result, eyre};

use super::style::color_enabled;
use super::table::Table;
use super::{Ctx, Exit, exit, print, print_json};
use crate::store::queue;
use crate::util::time::{age, now_unix};

pub fn list(ctx: &Ctx) -> Result<i32> {
    let conn = ctx.open_store()?;
    let workers = queue::workers(&conn).map_err(|e| eyre!(Exit::usage(e.to_string())))?;
    let now = now_unix();
    if ctx.global.json {
        let rows: Vec<serde_json::Value> = workers
            .iter()
            .map(|w| {
                let mut v = serde_json::to_value(w).unwrap_or_default();
                v["alive"] = serde_json::Value::Bool(w.alive(now));
                v
            })
            .collect();
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    if workers.is_empty() {
        print("no worker has run in the last day; start one with `az-os worker --serves DIR`\n")?;
        return Ok(exit::OK);
    }
    let mut t = Table::new(
        vec![
            "NAME",
            "HOST",
            "STATE",
            "JOBS",
            "RUNNING",
            "HEARTBEAT",
            "SERVES",
        ],
        color_enabled(true),
    );
    for w in &workers {
        t.row(vec![
            w.name.clone(),
            w.host.clone(),
            w.state(now).to_owned(),
            w.jobs.to_string(),
            w.running.to_string(),
            age(now - w.heartbeat_at),
            w.serves.join(" "),
        ]);
    }
    print(&t.render())?;
    Ok(exit::OK)
}
