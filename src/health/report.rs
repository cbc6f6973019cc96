//! One health check of everything, as `az-os health` prints it: the machine's
//! gauges, the database, every provider with a key, the vault, the MCP servers,
//! service metrics, and alerts for what crossed a threshold. Checks run concurrently.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Level;
use super::alerts::Alert;
use super::checks::{self, ComponentCheck};
use super::machine::{Gauge, MachineSampler, MachineSnapshot, gauges};
use super::metrics::{self, ServiceMetrics};
use crate::config::Settings;
use crate::store::{alerts, provider_checks};
use crate::util::time::{now_unix, rfc3339};

/// CPU use is measured over this window while the other checks run.
const CPU_WINDOW: Duration = Duration::from_millis(30);

/// The whole report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HealthReport {
    /// The worst level of all gauges and components.
    pub status: Level,
    pub checked_at: String,
    pub machine: MachineSnapshot,
    pub gauges: Vec<Gauge>,
    pub components: Vec<ComponentCheck>,
    pub metrics: Option<ServiceMetrics>,
    /// Alerts raised by this check (others are within their cooldown).
    pub alerts: Vec<Alert>,
}

/// Options of one check.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Run SQLite's `quick_check` as well.
    pub deep: bool,
    /// Ask providers even when a recent result is cached.
    pub fresh: bool,
}

/// Runs every check concurrently and builds the report.
pub async fn run(settings: &Settings, http: &reqwest::Client, opts: Options) -> HealthReport {
    let home = settings.home.root().to_path_buf();
    let db_path = settings
        .store_location()
        .unwrap_or_else(|_| crate::store::Location::Sqlite(settings.home.database()));
    let cfg = settings.health.clone();

    let machine = tokio::task::spawn_blocking({
        let home = home.clone();
        move || {
            let mut s = MachineSampler::new(&home);
            std::thread::sleep(CPU_WINDOW);
            s.sample()
        }
    });
    let database = tokio::task::spawn_blocking({
        let db_path = db_path.clone();
        let budget = settings.defaults.budget_usd_per_day;
        move || {
            let check = checks::database(&db_path, opts.deep);
            let metrics = crate::store::open_at(&db_path).ok().and_then(|c| {
                // Tasks by status tell the truth: what a gone process left is interrupted.
                if let Err(e) = crate::store::owner::reconcile(&c) {
                    tracing::warn!("cannot reconcile interrupted tasks: {e}");
                }
                metrics::collect(&c, budget).ok()
            });
            (check, metrics)
        }
    });
    let endpoints = checks::endpoints(&settings.models);
    let timeout = Duration::from_millis(cfg.provider_timeout_ms);
    let slow = Duration::from_millis(cfg.provider_slow_ms);
    let cache_s = if opts.fresh {
        0.0
    } else {
        cfg.provider_cache_s as f64
    };
    let providers = futures_util::future::join_all(endpoints.iter().map(|ep| {
        let db_path = db_path.clone();
        async move {
            let cached = if cache_s > 0.0 {
                let name = ep.name.clone();
                tokio::task::spawn_blocking(move || {
                    crate::store::open_at(&db_path)
                        .ok()
                        .and_then(|c| provider_checks::fresh(&c, &name, cache_s).ok().flatten())
                })
                .await
                .ok()
                .flatten()
            } else {
                None
            };
            if let Some((level, latency, detail, at)) = cached {
                let level = match level.as_str() {
                    "healthy" => Level::Healthy,
                    "degraded" => Level::Degraded,
                    _ => Level::Unhealthy,
                };
                let age = (now_unix() - at).max(0.0);
                return ComponentCheck {
                    name: ep.name.clone(),
                    kind: "provider".into(),
                    level,
                    latency_ms: latency,
                    detail: format!("{detail} [cached {age:.0}s ago]"),
                    models: ep.models.iter().map(|(name, _)| name.clone()).collect(),
                };
            }
            checks::provider(http, ep, timeout, slow).await
        }
    }));
    let mcp = super::mcp::probe(settings);
    let (machine, database, providers, mcp) = tokio::join!(machine, database, providers, mcp);

    let machine = machine.unwrap_or_else(|_| MachineSampler::new(&home).sample());
    let (db_check, metrics) = database.unwrap_or_else(|e| {
        (
            ComponentCheck {
                name: "database".into(),
                kind: "database".into(),
                level: Level::Unhealthy,
                latency_ms: None,
                detail: format!("check failed: {e}"),
                models: Vec::new(),
            },
            None,
        )
    });
    let gauges = gauges(&machine, &cfg);
    let mut components = vec![db_check];
    if providers.is_empty() {
        components.push(ComponentCheck {
            name: "providers".into(),
            kind: "provider".into(),
            level: Level::Unhealthy,
            latency_ms: None,
            detail: "no model has an API key: tasks cannot run (see `az-os models list`)".into(),
            models: Vec::new(),
        });
    }
    components.extend(providers);
    if let Some(v) = checks::vault(&home) {
        components.push(v);
    }
    components.extend(mcp);
    let status = gauges
        .iter()
        .map(|g| g.level)
        .chain(components.iter().map(|c| c.level))
        .max()
        .unwrap_or(Level::Healthy);
    let alerts = record(&db_path, &gauges, &components, cfg.alert_cooldown_s as f64).await;
    HealthReport {
        status,
        checked_at: rfc3339(now_unix()),
        machine,
        gauges,
        components,
        metrics,
        alerts,
    }
}

/// Stores provider results in the cache and raises alerts for what is not
/// healthy, unless the same key alerted within the cooldown (kept in the store,
/// so it holds across runs).
async fn record(
    db_path: &crate::store::Location,
    gauges: &[Gauge],
    components: &[ComponentCheck],
    cooldown_s: f64,
) -> Vec<Alert> {
    let mut candidates: Vec<Alert> = gauges
        .iter()
        .filter(|g| g.level != Level::Healthy)
        .map(|g| Alert {
            key: g.name.clone(),
            level: g.level,
            value: Some(g.value),
            message: format!("{} at {:.0}% is {}", g.name, g.value, g.level.as_str()),
        })
        .collect();
    candidates.extend(
        components
            .iter()
            .filter(|c| c.level != Level::Healthy)
            .map(|c| Alert {
                key: c.name.clone(),
                level: c.level,
                value: None,
                message: format!("{} is {}: {}", c.name, c.level.as_str(), c.detail),
            }),
    );
    let fresh_providers: Vec<ComponentCheck> = components
        .iter()
        .filter(|c| c.kind == "provider" && c.name != "providers" && !c.detail.contains("[cached"))
        .cloned()
        .collect();
    let db_path = db_path.clone();
    tokio::task::spawn_blocking(move || {
        let Ok(conn) = crate::store::open_at(&db_path) else {
            return Vec::new();
        };
        for p in &fresh_providers {
            let _ =
                provider_checks::save(&conn, &p.name, p.level.as_str(), p.latency_ms, &p.detail);
        }
        let now = now_unix();
        candidates
            .into_iter()
            .filter(|a| {
                let recent = alerts::last_at(&conn, &a.key)
                    .ok()
                    .flatten()
                    .is_some_and(|t| now - t < cooldown_s);
                !recent
                    && alerts::insert(&conn, &a.key, a.level.as_str(), a.value, &a.message).is_ok()
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}
