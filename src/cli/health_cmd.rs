//! `az-os health`: one check of every component, as a table or JSON; the exit
//! code says healthy (0), degraded (1) or unhealthy (2).

use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr};

use super::style::{self, color_enabled, paint};
use super::table::Table;
use super::{Ctx, print, print_json};
use crate::health::Level;
use crate::health::report::{self, HealthReport, Options};

pub fn run(ctx: &Ctx, deep: bool, fresh: bool) -> Result<i32> {
    let settings = ctx.settings()?;
    ctx.home
        .ensure()
        .wrap_err("cannot create the home directory")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        let http = crate::llm::http_client(crate::llm::Timeouts {
            connect: Duration::from_millis(settings.health.provider_timeout_ms),
            stream_idle: Duration::from_millis(settings.health.provider_timeout_ms),
            request: Duration::from_millis(settings.health.provider_timeout_ms),
        })?;
        Ok::<_, crate::llm::LlmError>(report::run(&settings, &http, Options { deep, fresh }).await)
    })?;
    if ctx.global.json {
        print_json(&report)?;
    } else {
        print(&render(&report, color_enabled(true)))?;
    }
    Ok(report.status.exit_code())
}

fn level_style(l: Level) -> anstyle::Style {
    match l {
        Level::Healthy => style::green(),
        Level::Degraded => style::yellow(),
        Level::Unhealthy => style::red(),
    }
}

fn render(r: &HealthReport, color: bool) -> String {
    let lv = |l: Level| (l.as_str().to_owned(), level_style(l));
    let mut out = format!(
        "az-os health: {}   {}\n\n",
        paint(color, level_style(r.status).bold(), r.status.as_str()),
        paint(color, style::dim(), &r.checked_at)
    );
    let mut t = Table::new(vec!["GAUGE", "VALUE", "LEVEL"], color);
    for g in &r.gauges {
        let (l, s) = lv(g.level);
        t.styled_row(vec![
            (g.name.clone(), style::bold()),
            (format!("{:.0}%", g.value), anstyle::Style::new()),
            (l, s),
        ]);
    }
    let mach = &r.machine;
    t.row(vec![
        "load".into(),
        format!(
            "{:.2} {:.2} {:.2}",
            mach.load_avg[0], mach.load_avg[1], mach.load_avg[2]
        ),
        format!("{} cpus", mach.cpus),
    ]);
    out.push_str(&t.render());
    out.push('\n');
    let mut t = Table::new(
        vec!["COMPONENT", "KIND", "LEVEL", "LATENCY", "DETAIL"],
        color,
    );
    for c in &r.components {
        let (l, s) = lv(c.level);
        t.styled_row(vec![
            (c.name.clone(), style::bold()),
            (c.kind.clone(), anstyle::Style::new()),
            (l, s),
            (
                c.latency_ms
                    .map_or_else(|| "-".into(), |ms| format!("{ms:.0} ms")),
                anstyle::Style::new(),
            ),
            (c.detail.clone(), anstyle::Style::new()),
        ]);
    }
    out.push_str(&t.render());
    if let Some(s) = &r.metrics {
        let k = &s.tasks;
        let secs =
            |v: Option<f64>| v.map_or_else(|| "-".into(), |ms| format!("{:.1}s", ms / 1000.0));
        out.push_str(&format!(
            "\ntasks: {} completed, {} failed, {} running, {} queued · duration p50 {} p95 {}\n",
            k.completed,
            k.failed + k.budget_exceeded + k.interrupted,
            k.running,
            k.queued,
            secs(s.duration_p50_ms),
            secs(s.duration_p95_ms)
        ));
        let over = s.budget_usd_per_day > 0.0 && s.cost_today_usd >= s.budget_usd_per_day;
        out.push_str(&format!(
            "cost today: {}\n",
            paint(
                color,
                if over {
                    style::red()
                } else {
                    anstyle::Style::new()
                },
                &format!("${:.4} of ${:.2}", s.cost_today_usd, s.budget_usd_per_day)
            )
        ));
        if !s.models.is_empty() {
            let mut t = Table::new(
                vec!["MODEL (24h)", "CALLS", "ERRORS", "AVG LATENCY", "HEADROOM"],
                color,
            );
            for mm in &s.models {
                let headroom = match (mm.requests_remaining, mm.tokens_remaining) {
                    (None, None) => "-".to_owned(),
                    (r, t) => format!(
                        "{} req, {} tok",
                        r.map_or_else(|| "?".into(), |v| v.to_string()),
                        t.map_or_else(|| "?".into(), |v| v.to_string())
                    ),
                };
                t.row(vec![
                    mm.model.clone(),
                    mm.calls.to_string(),
                    format!("{} ({:.0}%)", mm.errors, mm.error_rate * 100.0),
                    mm.avg_latency_ms
                        .map_or_else(|| "-".into(), |v| format!("{v:.0} ms")),
                    headroom,
                ]);
            }
            out.push('\n');
            out.push_str(&t.render());
        }
    }
    for a in &r.alerts {
        out.push_str(&format!(
            "{} {}\n",
            paint(color, level_style(a.level), "alert:"),
            a.message
        ));
    }
    out
}
