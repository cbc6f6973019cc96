//! Samples of the machine: CPU, memory, the home's filesystem, load average and
//! our own memory. sysinfo blocks, so callers run this on a thread of its own.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sysinfo::{
    CpuRefreshKind, MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, System,
};

use super::{Level, Thresholds};
use crate::config::HealthConfig;

/// One sample of the machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MachineSnapshot {
    /// All CPUs, percent busy since the previous sample.
    pub cpu_pct: f64,
    pub cpus: usize,
    pub memory_pct: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    /// The filesystem holding the az-os home.
    pub disk_pct: f64,
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
    /// 1, 5 and 15 minute load averages.
    pub load_avg: [f64; 3],
    /// This process's resident memory.
    pub process_rss_bytes: u64,
}

/// A gauge with its level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gauge {
    pub name: String,
    pub value: f64,
    pub level: Level,
}

/// Keeps sysinfo's state between samples (CPU use is a difference of two reads).
pub struct MachineSampler {
    /// `None` when the system's statistics cannot be read (then gauges read 0).
    sys: Option<System>,
    pid: Option<Pid>,
    disk_path: PathBuf,
}

impl MachineSampler {
    /// A sampler for the filesystem holding `disk_path`. Takes the first CPU
    /// reading, so the next [`sample`](Self::sample) measures from now.
    pub fn new(disk_path: &Path) -> Self {
        let mut sys = System::new()
            .map_err(|e| tracing::warn!("cannot read system stats: {e}"))
            .ok();
        if let Some(sys) = &mut sys {
            sys.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
        }
        Self {
            sys,
            pid: sysinfo::get_current_pid().ok(),
            disk_path: disk_path.to_path_buf(),
        }
    }

    pub fn sample(&mut self) -> MachineSnapshot {
        let (disk_used, disk_total) = disk_usage(&self.disk_path);
        let load = System::load_average().map_or([0.0; 3], |l| [l.one, l.five, l.fifteen]);
        let mut snap = MachineSnapshot {
            cpu_pct: 0.0,
            cpus: 0,
            memory_pct: 0.0,
            memory_used_bytes: 0,
            memory_total_bytes: 0,
            disk_pct: pct(disk_used, disk_total),
            disk_used_bytes: disk_used,
            disk_total_bytes: disk_total,
            load_avg: load,
            process_rss_bytes: 0,
        };
        let Some(sys) = &mut self.sys else {
            return snap;
        };
        sys.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
        sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        if let Some(pid) = self.pid {
            sys.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                false,
                ProcessRefreshKind::nothing().with_memory(),
            );
            snap.process_rss_bytes = sys.process(pid).map_or(0, sysinfo::Process::memory);
        }
        let total = sys.total_memory();
        let used = sys.used_memory();
        snap.cpu_pct = f64::from(sys.global_cpu_usage()).clamp(0.0, 100.0);
        snap.cpus = sys.cpus().len();
        snap.memory_pct = pct(used, total);
        snap.memory_used_bytes = used;
        snap.memory_total_bytes = total;
        snap
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Used and total bytes of the filesystem holding `path` (or its nearest
/// existing parent), as `df` counts them.
fn disk_usage(path: &Path) -> (u64, u64) {
    let mut p = path;
    loop {
        if let Ok(s) = nix::sys::statvfs::statvfs(p) {
            let frag = s.fragment_size();
            let total = s.blocks() * frag;
            let free = s.blocks_free() * frag;
            let avail = s.blocks_available() * frag;
            // Root-reserved blocks count as used, as `df` shows them.
            let used = total.saturating_sub(free);
            return (used, used + avail);
        }
        match p.parent() {
            Some(parent) => p = parent,
            None => return (0, 0),
        }
    }
}

/// The snapshot's gauges classified by the configured thresholds.
pub fn gauges(s: &MachineSnapshot, cfg: &HealthConfig) -> Vec<Gauge> {
    let g = |name: &str, value: f64, t: Thresholds| Gauge {
        name: name.into(),
        value,
        level: t.classify(value),
    };
    vec![
        g("cpu", s.cpu_pct, cfg.cpu),
        g("memory", s.memory_pct, cfg.memory),
        g("disk", s.disk_pct, cfg.disk),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_plausible() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = MachineSampler::new(&dir.path().join("not/yet/created"));
        let snap = s.sample();
        assert!(snap.cpus >= 1);
        assert!(snap.memory_total_bytes > 0 && snap.memory_pct > 0.0 && snap.memory_pct <= 100.0);
        assert!(snap.disk_total_bytes > 0 && snap.disk_pct <= 100.0);
        assert!(snap.process_rss_bytes > 0);
        let g = gauges(&snap, &HealthConfig::default());
        assert_eq!(g.len(), 3);
    }
}
