//! The engine's health monitor: runs the machine sampler (a thread) and, when
//! asked, periodic checks of the database and providers (a tokio task), turning both
//! into events and stored alerts; lists the shared queue's workers (`workers`, on the
//! PostgreSQL store); and reports the MCP servers' states (`mcp_status`) as they
//! change. Dropping it stops them all.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::protocol::{EngineEvent, Event};
use crate::config::Settings;
use crate::health::Level;
use crate::health::alerts::{Alert, AlertTracker};
use crate::health::checks;
use crate::health::sampler::{self, Sample, SamplerHandle};
use crate::store::{StoreHandle, alerts};

/// Which health events a front end wants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealthEvents {
    /// Sample the machine and raise alerts on threshold crossings.
    pub sampler: bool,
    /// Also send every snapshot (`health` events), not just alerts.
    pub snapshots: bool,
    /// Check the database and the provider endpoints every `health.provider_cache_s`.
    pub providers: bool,
}

pub struct Monitor {
    _sampler: Option<SamplerHandle>,
    providers: Option<JoinHandle<()>>,
    workers: Option<JoinHandle<()>>,
    mcp: Option<JoinHandle<()>>,
    config: Option<JoinHandle<()>>,
}

/// How often the dashboard's engine looks at config.toml for a change.
const CONFIG_POLL: Duration = Duration::from_secs(2);

/// How long a worker that went quiet stays in the list.
const WORKER_SHOWN_S: f64 = 3600.0;

impl Drop for Monitor {
    fn drop(&mut self) {
        for task in [
            self.providers.take(),
            self.workers.take(),
            self.mcp.take(),
            self.config.take(),
        ]
        .into_iter()
        .flatten()
        {
            task.abort();
        }
    }
}

impl Monitor {
    /// Reloads the models when config.toml changes (`az-os setup` or an edit in another
    /// terminal): the dashboard uses a model added meanwhile without a restart. Holds
    /// the runner weakly, so the engine still stops when its front end lets go.
    pub fn watch_config(&mut self, runner: &Arc<super::agent::Runner>) {
        let runner = Arc::downgrade(runner);
        self.config = Some(tokio::spawn(async move {
            let stamp = |path: &std::path::Path| {
                std::fs::metadata(path)
                    .ok()
                    .map(|m| (m.modified().ok(), m.len()))
            };
            let mut seen = match runner.upgrade() {
                Some(r) => stamp(r.settings().home.config_file()),
                None => return,
            };
            loop {
                tokio::time::sleep(CONFIG_POLL).await;
                let Some(r) = runner.upgrade() else { return };
                let now = stamp(r.settings().home.config_file());
                if now != seen {
                    seen = now;
                    r.reload();
                }
            }
        }));
    }

    /// Sends `mcp_status` now and on every change of a server's state or tools, when
    /// servers are configured.
    pub fn watch_mcp(
        &mut self,
        hub: &Arc<crate::mcp::Hub>,
        events: &mpsc::UnboundedSender<EngineEvent>,
    ) {
        if hub.status().is_empty() {
            return;
        }
        let (hub, ev) = (Arc::clone(hub), events.clone());
        let mut changed = hub.changed();
        self.mcp = Some(tokio::spawn(async move {
            loop {
                let servers = crate::health::mcp::checks(&hub.status(), false);
                if ev
                    .send(EngineEvent::global(Event::McpStatus { servers }))
                    .is_err()
                    || changed.changed().await.is_err()
                {
                    return;
                }
            }
        }));
    }
}

fn raise(events: &mpsc::UnboundedSender<EngineEvent>, store: &StoreHandle, a: Alert) -> bool {
    tracing::info!("alert: {}", a.message);
    let (key, level, value, message) = (a.key.clone(), a.level, a.value, a.message.clone());
    store.post("alert", move |c| {
        alerts::insert(c, &key, level.as_str(), value, &message)
    });
    events
        .send(EngineEvent::global(Event::Alert {
            key: a.key,
            level: a.level,
            value: a.value,
            message: a.message,
        }))
        .is_ok()
}

pub fn start(
    want: HealthEvents,
    current: &Arc<arc_swap::ArcSwap<Settings>>,
    reloaded: &Arc<tokio::sync::Notify>,
    http: &reqwest::Client,
    store: &StoreHandle,
    events: &mpsc::UnboundedSender<EngineEvent>,
) -> Monitor {
    let settings = current.load_full();
    let sampler = want.sampler.then(|| {
        let (ev, st) = (events.clone(), store.clone());
        let snapshots = want.snapshots;
        sampler::spawn(
            settings.home.root().to_path_buf(),
            settings.health.clone(),
            move |s| match s {
                Sample::Snapshot(machine, gauges) => {
                    !snapshots
                        || ev
                            .send(EngineEvent::global(Event::Health { machine, gauges }))
                            .is_ok()
                }
                Sample::Alert(a) => raise(&ev, &st, a),
            },
        )
        .map_err(|e| tracing::error!("cannot start the health sampler: {e}"))
        .ok()
    });
    let providers = want.providers.then(|| {
        let (ev, st, http, current, reloaded) = (
            events.clone(),
            store.clone(),
            http.clone(),
            current.clone(),
            reloaded.clone(),
        );
        tokio::spawn(async move {
            let settings = current.load_full();
            let cfg = &settings.health;
            let every = Duration::from_secs(cfg.provider_cache_s.max(15));
            let timeout = Duration::from_millis(cfg.provider_timeout_ms);
            let slow = Duration::from_millis(cfg.provider_slow_ms);
            let mut tracker = AlertTracker::new(Duration::from_secs(cfg.alert_cooldown_s));
            loop {
                // The models as they are now (a reload changes them).
                let endpoints = checks::endpoints(&current.load().models);
                let db_path = settings
                    .store_location()
                    .unwrap_or_else(|_| crate::store::Location::Sqlite(settings.home.database()));
                let database =
                    tokio::task::spawn_blocking(move || checks::database(&db_path, false));
                let providers = futures_util::future::join_all(
                    endpoints
                        .iter()
                        .map(|ep| checks::provider(&http, ep, timeout, slow)),
                );
                let (database, providers) = tokio::join!(database, providers);
                let results: Vec<_> = database.into_iter().chain(providers).collect();
                let now = tokio::time::Instant::now();
                for c in &results {
                    let alert = tracker.observe(
                        &c.name,
                        c.level,
                        None,
                        || format!("{} is {}: {}", c.name, c.level.as_str(), c.detail),
                        now,
                    );
                    if let Some(a) = alert
                        && a.level != Level::Healthy
                    {
                        raise(&ev, &st, a);
                    }
                }
                if ev
                    .send(EngineEvent::global(Event::ComponentHealth {
                        checks: results,
                    }))
                    .is_err()
                {
                    return;
                }
                // The next round, or at once after a reload.
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = reloaded.notified() => {}
                }
            }
        })
    });
    let workers = want.providers.then(|| {
        let (ev, st) = (events.clone(), store.clone());
        tokio::spawn(async move {
            loop {
                match st.call(|c| crate::store::queue::workers(c)).await {
                    // One machine: nothing to show, ever.
                    Err(crate::store::StoreError::NotShared) => return,
                    Err(e) => tracing::warn!("cannot list the workers: {e}"),
                    Ok(all) => {
                        let now = crate::util::time::now_unix();
                        let workers = all
                            .iter()
                            .filter(|w| {
                                w.stopped_at.is_none() && now - w.heartbeat_at < WORKER_SHOWN_S
                            })
                            .map(|w| checks::worker(w, now))
                            .collect();
                        if ev
                            .send(EngineEvent::global(Event::Workers { workers }))
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_secs_f64(crate::store::queue::HEARTBEAT_S)).await;
            }
        })
    });
    Monitor {
        _sampler: sampler.flatten(),
        providers,
        workers,
        mcp: None,
        config: None,
    }
}
