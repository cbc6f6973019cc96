//! `az-os cost`: spending from the ledger by model, UTC day or task, with
//! today's total against the daily budget. Failed requests are counted (FAILED) at zero cost.

use color_eyre::eyre::Result;

use super::args::CostBy;
use super::style::{self, color_enabled, paint};
use super::table::Table;
use super::{Ctx, exit, print, print_json};
use crate::store::costs::{self, GroupBy};

pub fn report(ctx: &Ctx, by: CostBy, limit: usize) -> Result<i32> {
    let settings = ctx.settings()?;
    let conn = ctx.open_store()?;
    let group = match by {
        CostBy::Model => GroupBy::Model,
        CostBy::Day => GroupBy::Day,
        CostBy::Task => GroupBy::Task,
    };
    let lines = costs::report(&conn, group, limit)?;
    let (today, total) = costs::totals(&conn)?;
    let daily = settings.defaults.budget_usd_per_day;
    if ctx.global.json {
        print_json(&serde_json::json!({
            "by": format!("{by:?}").to_lowercase(),
            "today_usd": today,
            "total_usd": total,
            "budget_usd_per_day": daily,
            "lines": lines,
        }))?;
        return Ok(exit::OK);
    }
    let color = color_enabled(true);
    let head = match by {
        CostBy::Model => "MODEL",
        CostBy::Day => "DAY",
        CostBy::Task => "TASK",
    };
    let mut t = Table::new(
        vec![head, "CALLS", "FAILED", "IN TOKENS", "OUT TOKENS", "COST"],
        color,
    );
    for l in lines {
        t.row(vec![
            l.key,
            l.calls.to_string(),
            l.failed.to_string(),
            l.input_tokens.to_string(),
            l.output_tokens.to_string(),
            format!("${:.6}", l.cost_usd),
        ]);
    }
    let mut out = String::new();
    if t.is_empty() {
        out.push_str("no model calls recorded yet\n");
    } else {
        out.push_str(&t.render());
    }
    let over = today >= daily && daily > 0.0;
    let today_s = format!("${today:.4} of ${daily:.2}");
    out.push_str(&format!(
        "\ntoday (UTC): {}   all time: ${total:.4}\n",
        paint(
            color,
            if over { style::red() } else { style::green() },
            &today_s
        )
    ));
    print(&out)?;
    Ok(exit::OK)
}
