//! `az-os store migrate|copy`: the store's schema, and a single machine's history moved
//! into the configured (shared) store.

use color_eyre::eyre::{Result, eyre};

use super::args::StoreCmd;
use super::{Ctx, exit, print, print_json};
use crate::store::{self, Location};

pub fn run(ctx: &Ctx, action: StoreCmd) -> Result<i32> {
    match action {
        StoreCmd::Migrate => migrate(ctx),
        StoreCmd::Copy { from } => copy(ctx, &from),
    }
}

fn migrate(ctx: &Ctx) -> Result<i32> {
    ctx.home.ensure()?;
    let at = ctx.store_location()?;
    let (from, to) =
        store::migrate_at(&at).map_err(|e| eyre!(super::Exit::usage(e.to_string())))?;
    if ctx.global.json {
        print_json(&serde_json::json!({
            "store": at.describe(),
            "from_version": from,
            "to_version": to,
        }))?;
    } else if from == to {
        print(&format!("{}: schema {to}, up to date\n", at.describe()))?;
    } else if from == 0 {
        print(&format!("{}: schema {to} created\n", at.describe()))?;
    } else {
        print(&format!(
            "{}: schema upgraded from {from} to {to}\n",
            at.describe()
        ))?;
    }
    Ok(exit::OK)
}

fn copy(ctx: &Ctx, from: &str) -> Result<i32> {
    let usage = |m: String| eyre!(super::Exit::usage(m));
    let source = Location::parse(from, None).map_err(|e| usage(e.to_string()))?;
    let Location::Sqlite(path) = &source else {
        return Err(usage(
            "--from takes a SQLite database: --from sqlite:PATH (e.g. sqlite:$HOME/.az-os/az-os.db)"
                .into(),
        ));
    };
    if !path.is_file() {
        return Err(usage(format!(
            "{} does not exist; give the path of an az-os.db",
            path.display()
        )));
    }
    let target = ctx.store_location()?;
    if let Location::Sqlite(t) = &target
        && t.canonicalize().ok() == path.canonicalize().ok()
    {
        return Err(usage(format!(
            "{} is the configured store itself; set [store] url (or AZ_OS_DATABASE_URL) to the store to copy into",
            path.display()
        )));
    }
    ctx.home.ensure()?;
    let src = store::open(path).map_err(|e| usage(e.to_string()))?;
    let dst = store::open_at(&target).map_err(|e| usage(e.to_string()))?;
    let copied = store::copy::copy(&src, &dst)?;
    if ctx.global.json {
        print_json(&serde_json::json!({
            "from": source.describe(),
            "to": target.describe(),
            "copied": copied,
        }))?;
    } else {
        print(&format!(
            "copied {} → {}: {} tasks ({} already there), {} log lines, {} ledger lines, \
             {} saved states, {} tool totals, {} lessons, {} alerts, {} provider checks\n",
            source.describe(),
            target.describe(),
            copied.tasks,
            copied.tasks_already_there,
            copied.task_logs,
            copied.cost_tracking,
            copied.task_state,
            copied.tool_usage,
            copied.memories,
            copied.alerts,
            copied.provider_checks
        ))?;
    }
    Ok(exit::OK)
}
