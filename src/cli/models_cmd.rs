//! `az-os models list|route`: the catalogue and the router's choice.

use color_eyre::eyre::{Result, eyre};

use super::args::ModelsCmd;
use super::style::{self, color_enabled};
use super::table::Table;
use super::{Ctx, Exit, exit, print, print_json};
use crate::engine::route;

pub fn run(ctx: &Ctx, action: Option<ModelsCmd>) -> Result<i32> {
    let settings = ctx.settings()?;
    match action.unwrap_or(ModelsCmd::List) {
        ModelsCmd::List => {
            if ctx.global.json {
                let v: Vec<_> = settings
                    .models
                    .iter()
                    .map(|m| {
                        serde_json::json!({"name": m.name, "provider": m.provider, "model": m.model,
                        "tier": m.tier, "input_usd_per_mtok": m.input_usd_per_mtok,
                        "output_usd_per_mtok": m.output_usd_per_mtok, "quality": m.quality,
                        "key": m.key_source(), "key_present": m.has_key()})
                    })
                    .collect();
                print_json(&v)?;
                return Ok(exit::OK);
            }
            let color = color_enabled(true);
            let mut t = Table::new(
                vec![
                    "NAME", "PROVIDER", "TIER", "IN $/M", "OUT $/M", "QUALITY", "KEY", "MODEL",
                ],
                color,
            );
            for m in &settings.models {
                let (key, st) = if m.has_key() {
                    (format!("{} ✓", m.key_source()), style::green())
                } else {
                    (format!("{} missing", m.key_source()), style::yellow())
                };
                t.styled_row(vec![
                    (m.name.clone(), style::bold()),
                    (m.provider.as_str().into(), anstyle::Style::new()),
                    (m.tier.as_str().into(), anstyle::Style::new()),
                    (
                        format!("{:.2}", m.input_usd_per_mtok),
                        anstyle::Style::new(),
                    ),
                    (
                        format!("{:.2}", m.output_usd_per_mtok),
                        anstyle::Style::new(),
                    ),
                    (format!("{:.2}", m.quality), anstyle::Style::new()),
                    (key, st),
                    (m.model.clone(), style::dim()),
                ]);
            }
            print(&t.render())?;
        }
        ModelsCmd::Route { task } => {
            let task = task.join(" ");
            let (spec, r) = route::choose(&settings, &task, None).map_err(|e| {
                eyre!(Exit::usage(match e {
                    route::RouteError::NoModel => {
                        format!("{e}; {}", crate::config::ADD_MODEL_HINT)
                    }
                    _ => e.to_string(),
                }))
            })?;
            if ctx.global.json {
                print_json(&serde_json::json!({"model": spec.name, "route": r}))?;
            } else {
                print(&format!(
                    "{}\n  complexity: {}\n  tier: {}\n  score: {:.2}\n  reason: {}\n",
                    spec.name, r.complexity, r.tier, r.score, r.reason
                ))?;
            }
        }
    }
    Ok(exit::OK)
}
