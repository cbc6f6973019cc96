//! Whole-binary benchmarks, run as a user would run az-os:
//! - `az-os --version`: wall time and peak RSS (targets: 5 ms, 10 MB);
//! - a batch task that runs one command and then answers, against an instant local
//!   fake provider: wall time, time from process start to the first model request,
//!   and peak RSS (targets: 100 ms, 30 ms, 30 MB);
//! - the same task in a workdir of 300 source files: the first run indexes them before
//!   its first request (within `[knowledge] index_wait_ms`), later runs re-check them;
//! - bytes of system prompt and tool schemas per request (target: 3 KiB);
//! - the same task with `[checkpoints] enabled = false` (what snapshots add to it);
//! - `az-os health` with a provider on loopback (target: 50 ms).
//!
//! Run with `cargo bench --bench batch` (see scripts/bench.sh); `AZ_OS_BENCH_BIN=PATH`
//! measures another az-os binary with the same harness.

#[path = "../tests/common/fake_provider.rs"]
mod fake_provider;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_provider::{FakeProvider, Reply};

const RUNS: usize = 40;

/// The binary measured: this build's, or `AZ_OS_BENCH_BIN` (to compare another build
/// under the same harness, e.g. the previous release).
fn bin() -> String {
    std::env::var("AZ_OS_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_az-os").to_owned())
}

/// Peak RSS in MB of the largest child waited for so far.
fn children_peak_rss_mb() -> f64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map_or(0.0, |u| u.max_rss() as f64 / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{name:<34} p50 {:>7.2} ms   p95 {:>7.2} ms   min {:>7.2} ms   (n={})",
        percentile(&v, 0.5),
        percentile(&v, 0.95),
        v[0].as_secs_f64() * 1000.0,
        v.len()
    );
}

fn version() {
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let status = Command::new(bin())
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("spawn: {e}"));
        times.push(t0.elapsed());
        assert!(status.success());
    }
    report("az-os --version (wall)", times);
    println!(
        "{:<34} {:.1} MB",
        "az-os --version (peak RSS)",
        children_peak_rss_mb()
    );
}

/// A config in `home` with one model served by `fake`, after `extra` (TOML tables).
fn write_config(home: &Path, fake: &FakeProvider, extra: &str) {
    std::fs::write(
        home.join("config.toml"),
        format!(
            "{extra}[[models]]\nname = \"fake\"\nprovider = \"openai\"\nmodel = \"fake-model\"\n\
             base_url = \"{}\"\napi_key_env = \"AZ_OS_BENCH_KEY\"\n",
            fake.base_url()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

fn batch_task(home: &Path, work: &Path, fake: &FakeProvider) -> (Duration, Duration) {
    fake.push([
        Reply::Tools {
            text: "Running it.".into(),
            calls: vec![(
                "execute_command".into(),
                r#"{"command":"echo hello"}"#.into(),
            )],
        },
        Reply::Text("It printed hello.".into()),
    ]);
    let before = fake.requests().len();
    let t0 = Instant::now();
    let out = Command::new(bin())
        .args([
            "--batch",
            "-q",
            "run",
            "run echo hello and tell me what it printed",
        ])
        .env("AZ_OS_HOME", home)
        .env("AZ_OS_BENCH_KEY", "sk-bench")
        .current_dir(work)
        .output()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let wall = t0.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = fake
        .requests()
        .get(before)
        .map(|r| r.at.duration_since(t0))
        .unwrap_or_default();
    (wall, first)
}

fn batch() {
    let fake = FakeProvider::start(Vec::new());
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_config(home.path(), &fake, "");
    // The first run creates the database; report it apart from the warm runs.
    let (cold, cold_first) = batch_task(home.path(), work.path(), &fake);
    println!(
        "{:<34} {:>7.2} ms (first request at {:.2} ms)",
        "batch task, new home (wall)",
        cold.as_secs_f64() * 1000.0,
        cold_first.as_secs_f64() * 1000.0
    );
    let mut walls = Vec::new();
    let mut firsts = Vec::new();
    for _ in 0..RUNS {
        let (w, f) = batch_task(home.path(), work.path(), &fake);
        walls.push(w);
        firsts.push(f);
    }
    report("batch task: command + answer (wall)", walls);
    report("batch task: first request sent", firsts);
    println!(
        "{:<34} {:.1} MB",
        "batch task (peak RSS)",
        children_peak_rss_mb()
    );
}

/// The same task with the knowledge and memory layers off (no index, no context, no
/// recall, no lessons request): what those layers cost the hello task.
fn batch_layers_off() {
    let fake = FakeProvider::start(Vec::new());
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_config(
        home.path(),
        &fake,
        "[knowledge]\nauto_index = false\ncontext_tokens = 0\n[memory]\nextract = \"never\"\ncontext_tokens = 0\n",
    );
    let _ = batch_task(home.path(), work.path(), &fake);
    let mut walls = Vec::new();
    let mut firsts = Vec::new();
    for _ in 0..RUNS {
        let (w, f) = batch_task(home.path(), work.path(), &fake);
        walls.push(w);
        firsts.push(f);
    }
    report("layers off: command + answer", walls);
    report("layers off: first request sent", firsts);
}

/// The same task with `[checkpoints] enabled = false`: no snapshot of the workdir (the
/// baseline before the command and the one after its turn); the loop state is still
/// saved after the non-final turn. The difference to `batch` is what git checkpoints
/// add to the hello task.
fn batch_checkpoints_off() {
    let fake = FakeProvider::start(Vec::new());
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_config(home.path(), &fake, "[checkpoints]\nenabled = false\n");
    let _ = batch_task(home.path(), work.path(), &fake);
    let mut walls = Vec::new();
    for _ in 0..RUNS {
        walls.push(batch_task(home.path(), work.path(), &fake).0);
    }
    report("checkpoints off: command + answer", walls);
}

fn health() {
    let fake = FakeProvider::start(Vec::new());
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_config(home.path(), &fake, "");
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let t0 = Instant::now();
        // --fresh: ask the provider every time rather than reuse the cached result.
        let status = Command::new(bin())
            .args(["health", "--fresh"])
            .env("AZ_OS_HOME", home.path())
            .env("AZ_OS_BENCH_KEY", "sk-bench")
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("spawn: {e}"));
        times.push(t0.elapsed());
        // 0, 1 or 2 depending on this machine's load; any answer counts here.
        assert!(status.code().is_some());
    }
    report("az-os health --fresh (wall)", times);
}

/// The hello task in a workdir of 300 small source files that have nothing to do with it:
/// what indexing adds to the first request, cold (a new index) and warm (no change).
fn batch_in_project() {
    let fake = FakeProvider::start(Vec::new());
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for i in 0..300 {
        let dir = work.path().join(format!("src/m{}", i / 30));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.join(format!("f{i}.rs")),
            format!(
                "//! Module {i}: parses records of kind {i}.\n\npub fn parse_{i}(line: &str) -> Option<u32> {{\n    line.split(',').nth({}).and_then(|f| f.trim().parse().ok())\n}}\n",
                i % 7
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    write_config(home.path(), &fake, "");
    let (cold, cold_first) = batch_task(home.path(), work.path(), &fake);
    println!(
        "{:<34} {:>7.2} ms (first request at {:.2} ms)",
        "300-file workdir, new index (wall)",
        cold.as_secs_f64() * 1000.0,
        cold_first.as_secs_f64() * 1000.0
    );
    let mut walls = Vec::new();
    let mut firsts = Vec::new();
    for _ in 0..RUNS {
        let (w, f) = batch_task(home.path(), work.path(), &fake);
        walls.push(w);
        firsts.push(f);
    }
    report("300-file workdir (wall)", walls);
    report("300-file workdir: first request", firsts);
}

fn prompt_bytes() {
    let n = az_os::engine::request_overhead_bytes(Path::new("/home/user/projects/app"), 5);
    println!("{:<34} {n} bytes", "system prompt + tool schemas");
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to filter here.
    version();
    batch();
    batch_layers_off();
    batch_checkpoints_off();
    batch_in_project();
    health();
    prompt_bytes();
}
