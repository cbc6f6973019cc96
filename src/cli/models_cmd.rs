//! `az-os models list|route`: the catalogue, and the router's choice for a task with every
//! candidate's score term by term. Routing here reads the ledger's success rates like a
//! real run does; no circuit breaker is open in a fresh process, so none is shown cooling.

use color_eyre::eyre::{Result, eyre};

use super::args::ModelsCmd;
use super::style::{self, color_enabled, paint};
use super::table::Table;
use super::{Ctx, Exit, exit, print, print_json};
use crate::config::{ModelSpec, Settings};
use crate::engine::route::{self, Ask, SuccessRates};
use crate::store::costs;
use crate::util::time::now_unix;

pub fn run(ctx: &Ctx, action: Option<ModelsCmd>) -> Result<i32> {
    let settings = ctx.settings()?;
    match action.unwrap_or(ModelsCmd::List) {
        ModelsCmd::List => list(ctx, &settings)?,
        ModelsCmd::Route { critical, task } => {
            route_task(ctx, &settings, &task.join(" "), critical)?;
        }
    }
    Ok(exit::OK)
}

/// `20 rpm`, `5 rpm · 250000 tpm`, or `-`.
fn limits(settings: &Settings, m: &ModelSpec) -> String {
    match settings.endpoint_limits(m) {
        (None, None) => "-".into(),
        (Some(r), None) => format!("{r} rpm"),
        (None, Some(t)) => format!("{t} tpm"),
        (Some(r), Some(t)) => format!("{r} rpm · {t} tpm"),
    }
}

fn list(ctx: &Ctx, settings: &Settings) -> Result<()> {
    if ctx.global.json {
        let v: Vec<_> = settings
            .models
            .iter()
            .map(|m| {
                let (rpm, tpm) = settings.endpoint_limits(m);
                serde_json::json!({"name": m.name, "provider": m.provider, "model": m.model,
                "tier": m.tier, "input_usd_per_mtok": m.input_usd_per_mtok,
                "output_usd_per_mtok": m.output_usd_per_mtok, "quality": m.quality,
                "max_output_tokens": m.max_output_tokens, "requests_per_minute": rpm,
                "tokens_per_minute": tpm, "builtin": m.builtin,
                "key": m.key_source(), "key_present": m.has_key()})
            })
            .collect();
        return print_json(&v);
    }
    let color = color_enabled(true);
    let mut t = Table::new(
        vec![
            "NAME", "PROVIDER", "TIER", "IN $/M", "OUT $/M", "QUALITY", "LIMITS", "KEY", "MODEL",
        ],
        color,
    );
    let plain = anstyle::Style::new;
    for m in &settings.models {
        let (key, st) = if m.has_key() {
            (format!("{} ✓", m.key_source()), style::green())
        } else {
            (format!("{} missing", m.key_source()), style::yellow())
        };
        t.styled_row(vec![
            (m.name.clone(), style::bold()),
            (m.provider.as_str().into(), plain()),
            (m.tier.as_str().into(), plain()),
            (format!("{:.2}", m.input_usd_per_mtok), plain()),
            (format!("{:.2}", m.output_usd_per_mtok), plain()),
            (format!("{:.2}", m.quality), plain()),
            (limits(settings, m), plain()),
            (key, st),
            (m.model.clone(), style::dim()),
        ]);
    }
    print(&t.render())
}

fn route_task(ctx: &Ctx, settings: &Settings, task: &str, critical: bool) -> Result<()> {
    let conn = ctx.open_store()?;
    let records = costs::model_records(&conn, now_unix() - route::SUCCESS_WINDOW_S)?;
    let rates = SuccessRates::new(records);
    let ask = Ask {
        description: task,
        critical,
        ..Ask::default()
    };
    let d = route::decide(settings, &ask, &rates, |_| None).map_err(|e| {
        eyre!(Exit::usage(match e {
            route::RouteError::NoModel => format!("{e}; {}", crate::config::ADD_MODEL_HINT),
            _ => e.to_string(),
        }))
    })?;
    let no_key: Vec<String> = settings
        .models
        .iter()
        .filter(|m| !m.has_key())
        .map(|m| format!("{} ({} missing)", m.name, m.key_source()))
        .collect();
    if ctx.global.json {
        return print_json(&serde_json::json!({
            "model": d.model.name,
            "route": d.route,
            "candidates": d.ranked,
            "without_key": no_key,
        }));
    }
    let color = color_enabled(true);
    let mut out = format!(
        "{}\n  complexity: {}\n  tier: {}\n  score: {:.3}\n  reason: {}\n\n",
        paint(color, style::bold(), &d.model.name),
        d.route.complexity,
        d.route.tier,
        d.route.score,
        d.route.reason
    );
    let mut t = Table::new(
        vec![
            "", "MODEL", "TIER", "QUALITY", "SUCCESS", "CALLS", "COST", "SCORE",
        ],
        color,
    );
    for s in &d.ranked {
        let picked = s.model == d.model.name;
        let st = if picked {
            style::bold()
        } else {
            anstyle::Style::new()
        };
        t.styled_row(vec![
            ((if picked { "→" } else { "" }).into(), st),
            (s.model.clone(), st),
            (s.tier.as_str().into(), st),
            (format!("{:.2}", s.quality), st),
            (format!("{:.3}", s.success_rate), st),
            (rates.calls(&s.model).to_string(), st),
            (format!("{:.3}", s.cost_score), st),
            (format!("{:.3}", s.score), st),
        ]);
    }
    out.push_str(&t.render());
    out.push_str(&format!(
        "\nscore = quality·{} + success·{} + cost·{} (success: the last 7 days of the ledger, \
         smoothed towards {}; cost: the cheapest candidate = 1)\n",
        route::QUALITY_WEIGHT,
        route::SUCCESS_WEIGHT,
        route::COST_WEIGHT,
        route::SUCCESS_PRIOR
    ));
    if !no_key.is_empty() {
        out.push_str(&format!("not candidates: {}\n", no_key.join(", ")));
    }
    print(&out)
}
