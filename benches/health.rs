//! The live health sampler's cost: runs the real sampler thread at 10 Hz for a
//! few seconds and reads this process's CPU time (the main thread only sleeps),
//! then scales to the 1 Hz the dashboard uses. Target: ≤ 0.5% of one core.
//!
//! Run with `cargo bench --bench health`.

use std::time::Duration;

use az_os::config::HealthConfig;
use az_os::health::sampler::{self, Sample};

fn cpu_time() -> Duration {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .unwrap_or_else(|e| panic!("getrusage: {e}"));
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
    };
    tv(u.user_time()) + tv(u.system_time())
}

fn main() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = HealthConfig {
        sample_interval_ms: 100,
        ..HealthConfig::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let before = cpu_time();
    let handle = sampler::spawn(dir.path().to_path_buf(), cfg, move |s| tx.send(s).is_ok())
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let mut samples = 0u32;
    while samples < 50 {
        if let Ok(Sample::Snapshot(..)) = rx.recv_timeout(Duration::from_secs(5)) {
            samples += 1;
        }
    }
    drop(handle);
    let used = cpu_time().saturating_sub(before);
    let per_sample = used / samples;
    let pct_at_1hz = per_sample.as_secs_f64() * 100.0;
    println!(
        "health sampler: {samples} samples, {:.3} ms CPU per sample -> {pct_at_1hz:.3}% of one core at 1 Hz",
        per_sample.as_secs_f64() * 1000.0
    );
}
