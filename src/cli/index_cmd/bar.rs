//! Progress for `az-os index`: a one-line bar on a terminal (stderr), JSON Lines on stdout
//! with `--json`, nothing otherwise. One bar serves files indexed, chunks embedded and
//! bytes downloaded; each caller says what its numbers count.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// A progress display.
pub struct Bar {
    json: bool,
    tty: bool,
    started: Instant,
    last: Option<Instant>,
}

impl Bar {
    pub fn new(json: bool, quiet: bool) -> Self {
        Self {
            json,
            tty: !quiet && !json && std::io::stderr().is_terminal(),
            started: Instant::now(),
            last: None,
        }
    }

    /// At most ten updates a second, and always the last one.
    fn due(&mut self, done: u64, total: u64) -> bool {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now - l < Duration::from_millis(100))
            && done < total
        {
            return false;
        }
        self.last = Some(now);
        true
    }

    /// `done` of `total` units (`unit` like "files"), with `extra` after the counts;
    /// `event` is the JSON line printed instead with `--json`.
    pub fn show(
        &mut self,
        done: u64,
        total: u64,
        unit: &str,
        extra: &str,
        event: &serde_json::Value,
    ) {
        if !self.due(done, total) {
            return;
        }
        if self.json {
            println!("{event}");
        } else if self.tty {
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            let rate = done as f64 / secs;
            let left = total.saturating_sub(done) as f64 / rate.max(0.001);
            let frac = if total == 0 {
                1.0
            } else {
                done as f64 / total as f64
            };
            let filled = ((frac * 24.0) as usize).min(24);
            eprint!(
                "\r[{}{}] {}/{} {unit}{extra}, {:.0} {unit}/s, ETA {:.0}s   ",
                "█".repeat(filled),
                "░".repeat(24 - filled),
                done,
                total,
                rate,
                left
            );
        }
    }

    /// Clears the bar's line.
    pub fn done(&self) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
    }
}
