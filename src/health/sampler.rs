//! The live sampler for the dashboard: a thread of its own (sysinfo blocks) that
//! measures the machine every `sample_interval_ms`, sends each snapshot, and
//! raises alerts on threshold crossings. Dropping the handle stops it at once.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::alerts::{Alert, AlertTracker};
use super::machine::{Gauge, MachineSampler, MachineSnapshot, gauges};
use crate::config::HealthConfig;

/// What the sampler reports.
pub enum Sample {
    Snapshot(MachineSnapshot, Vec<Gauge>),
    Alert(Alert),
}

/// Stops and joins the sampler thread when dropped.
pub struct SamplerHandle {
    stop: Option<mpsc::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

impl Drop for SamplerHandle {
    fn drop(&mut self) {
        // Closing the channel wakes the thread from its wait.
        self.stop.take();
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// Starts sampling the machine and the filesystem holding `home`. `send` gets
/// every sample and alert; when it returns false (the receiver is gone) the
/// sampler stops.
pub fn spawn(
    home: PathBuf,
    cfg: HealthConfig,
    send: impl Fn(Sample) -> bool + Send + 'static,
) -> std::io::Result<SamplerHandle> {
    let (stop, stopped) = mpsc::channel::<()>();
    let interval = Duration::from_millis(cfg.sample_interval_ms);
    let join = std::thread::Builder::new()
        .name("az-os-health".into())
        .spawn(move || {
            let mut sampler = MachineSampler::new(&home);
            let mut alerts = AlertTracker::new(Duration::from_secs(cfg.alert_cooldown_s));
            // Sleeps until the next tick or until the handle is dropped.
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                let snap = sampler.sample();
                let gs = gauges(&snap, &cfg);
                let now = tokio::time::Instant::now();
                let raised: Vec<Alert> = gs
                    .iter()
                    .filter_map(|g| {
                        alerts.observe(
                            &g.name,
                            g.level,
                            Some(g.value),
                            || format!("{} at {:.0}% is {}", g.name, g.value, g.level.as_str()),
                            now,
                        )
                    })
                    .collect();
                if !send(Sample::Snapshot(snap, gs)) {
                    return;
                }
                for a in raised {
                    if !send(Sample::Alert(a)) {
                        return;
                    }
                }
            }
        })?;
    Ok(SamplerHandle {
        stop: Some(stop),
        join: Some(join),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_arrive_and_alerts_fire_on_crossings_and_drop_stops_it() {
        let dir = tempfile::tempdir().unwrap();
        // Thresholds of zero: every gauge is unhealthy, so each raises one alert.
        let zero = crate::health::Thresholds {
            degraded: -1.0,
            unhealthy: -1.0,
        };
        let cfg = HealthConfig {
            cpu: zero,
            memory: zero,
            disk: zero,
            sample_interval_ms: 100,
            ..HealthConfig::default()
        };
        let (tx, rx) = mpsc::channel();
        let handle = spawn(dir.path().to_path_buf(), cfg, move |s| tx.send(s).is_ok()).unwrap();
        let mut snapshots = 0;
        let mut alerts = Vec::new();
        while snapshots < 3 {
            match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
                Sample::Snapshot(..) => snapshots += 1,
                Sample::Alert(a) => alerts.push(a.key),
            }
        }
        drop(handle);
        alerts.sort();
        // One alert per gauge, not one per sample.
        assert_eq!(alerts, ["cpu", "disk", "memory"]);
        // The thread has ended: nothing more arrives and the channel is closed.
        while rx.try_recv().is_ok() {}
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    }
}
