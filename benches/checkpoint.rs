//! Checkpoint benchmarks (plain harness, numbers on stdout): a snapshot after a turn
//! that changed 10 files of a 10k-file workdir, in a git repository and outside one,
//! by a command (the snapshot walks, or, as the engine takes it, edits the previous tree
//! at the paths its inotify watcher saw change), and by `write_file` (paths known);
//! target ≤ 30 ms; what setting the watcher up adds to the baseline;
//! rolling back a task that changed 100 files (target ≤ 200 ms); the two snapshots of
//! the batch bench's hello task in an empty workdir;
//! how much the checkpoint storage grows per checkpoint against the bytes changed; and
//! a task that rewrites a 100 MB file 10 times (must not add 1 GB).
//! Run with `cargo bench --bench checkpoint` (`AZ_OS_BENCH_SKIP_BIG=1` skips the last).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use az_os::checkpoint::{Caps, Checkpoints, Route};

const CAPS: Caps = Caps {
    file_bytes: 20 << 20,
    task_bytes: 200 << 20,
    total_bytes: 2 << 30,
};

fn die(e: impl std::fmt::Display) -> ! {
    panic!("{e}")
}

/// Pseudo-random text so objects do not compress to nothing.
fn text(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut s = String::with_capacity(len + 16);
    while s.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(&format!("{x:016x}"));
        if s.len() % 80 < 16 {
            s.push('\n');
        }
    }
    s.truncate(len);
    s
}

/// 10,000 files of about 1 KB in 100 folders.
fn make_tree(root: &Path) {
    for d in 0..100 {
        let dir = root.join(format!("src/mod{d:03}"));
        fs::create_dir_all(&dir).unwrap_or_else(|e| die(e));
        for f in 0..100 {
            fs::write(dir.join(format!("f{f:03}.rs")), text(d * 100 + f, 1000))
                .unwrap_or_else(|e| die(e));
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    // No background `gc --auto` (10k loose objects would start one) to skew the sizes.
    let ok = Command::new("git")
        .args(["-c", "gc.auto=0"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@example.com")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@example.com")
        .status()
        .unwrap_or_else(|e| die(e))
        .success();
    assert!(ok, "git {args:?}");
}

/// CPU time of this thread, in ms: on a shared, loaded machine the wall time mostly
/// measures the wait for a core; both are reported.
fn cpu_ms() -> f64 {
    usage_ms(nix::sys::resource::UsageWho::RUSAGE_THREAD)
}

/// CPU time of the whole process, in ms: with the walk's second thread counted.
fn process_cpu_ms() -> f64 {
    usage_ms(nix::sys::resource::UsageWho::RUSAGE_SELF)
}

fn usage_ms(who: nix::sys::resource::UsageWho) -> f64 {
    let u = nix::sys::resource::getrusage(who).unwrap_or_else(|e| die(e));
    let ms = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1000.0 + t.tv_usec() as f64 / 1000.0;
    ms(u.user_time()) + ms(u.system_time())
}

fn median(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let p95 = v[(v.len() * 95 / 100).min(v.len() - 1)];
    (v[v.len() / 2], p95)
}

/// How a turn's snapshot is taken.
#[derive(Clone, Copy, PartialEq)]
enum How {
    /// A command ran: the work tree is walked.
    Walk,
    /// A command ran: the watcher started before the baseline says what changed.
    Watched,
    /// Only `write_file` ran: the snapshot is told the paths.
    Known,
}

/// Snapshot after 10 changed files, `runs` times; prints (median, p95) in ms and the
/// storage growth per checkpoint against the bytes changed.
fn turn_of_ten(label: &str, work: &Path, store: &Checkpoints, storage: &Path, runs: u32, how: How) {
    let (task, name, seed) = match how {
        How::Walk => ("b0b0b0b0b0b0", "command turn (walk)", 0),
        How::Watched => ("b2b2b2b2b2b2", "command turn (watched)", 13),
        How::Known => ("b1b1b1b1b1b1", "write_file turn (paths known)", 7),
    };
    let t0 = Instant::now();
    let mut watcher = (how == How::Watched).then(|| store.watch(work));
    let watch_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let t1 = Instant::now();
    match &mut watcher {
        Some(w) => store.snapshot_watched(task, 0, work, CAPS, w).map(|_| ()),
        None => store.snapshot(task, 0, work, CAPS).map(|_| ()),
    }
    .unwrap_or_else(|e| die(e));
    let baseline_ms = t1.elapsed().as_secs_f64() * 1000.0;
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    let mut all_cpu = Vec::new();
    let mut grew = 0u64;
    let mut changed = 0u64;
    for turn in 1..=runs {
        let mut paths = Vec::new();
        for i in 0..10u64 {
            let body = text(u64::from(turn) * 1000 + i + seed, 10_000);
            changed += body.len() as u64;
            let rel = format!("src/mod{:03}/f{i:03}.rs", turn % 100);
            fs::write(work.join(&rel), body).unwrap_or_else(|e| die(e));
            paths.push(std::path::PathBuf::from(rel));
        }
        let before = az_os::util::fs::dir_size(storage);
        let (t, c, a) = (Instant::now(), cpu_ms(), process_cpu_ms());
        match (how, &mut watcher) {
            (How::Known, _) => store.snapshot_known(task, turn, work, CAPS, &paths),
            (How::Watched, Some(w)) => {
                store
                    .snapshot_watched(task, turn, work, CAPS, w)
                    .map(|(s, route)| {
                        assert!(matches!(route, Route::Watched { .. }), "{route:?}");
                        s
                    })
            }
            (How::Walk | How::Watched, _) => store.snapshot(task, turn, work, CAPS),
        }
        .unwrap_or_else(|e| die(e));
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        cpu.push(cpu_ms() - c);
        all_cpu.push(process_cpu_ms() - a);
        grew += az_os::util::fs::dir_size(storage).saturating_sub(before);
    }
    let (p50, p95) = median(times);
    let (c50, c95) = median(cpu);
    let (a50, a95) = median(all_cpu);
    let setup = match &watcher {
        Some(w) => format!(
            " (+ {watch_ms:.1} ms before it to watch {} folders)",
            w.folders()
        ),
        None => String::new(),
    };
    println!(
        "{label}, {name}: baseline {baseline_ms:.1} ms{setup}; turn of 10 changed files in 10k: wall p50 {p50:.2} ms, p95 {p95:.2} ms; CPU p50 {c50:.2} ms, p95 {c95:.2} ms; process CPU (all threads) p50 {a50:.2} ms, p95 {a95:.2} ms (target 30 ms)"
    );
    println!(
        "{label}, {name}: storage growth {:.1} KB per checkpoint for {:.1} KB changed ({:.2}x)",
        grew as f64 / f64::from(runs) / 1024.0,
        changed as f64 / f64::from(runs) / 1024.0,
        grew as f64 / changed as f64
    );
}

/// What starting a watcher costs the baseline of a 10k-file workdir: `runs` watchers
/// set up (and dropped) in turn.
fn watch_setup(label: &str, work: &Path, store: &Checkpoints, runs: u32) {
    let (mut walls, mut cpus) = (Vec::new(), Vec::new());
    let mut folders = 0;
    for _ in 0..runs {
        let (t, c) = (Instant::now(), cpu_ms());
        let w = store.watch(work);
        walls.push(t.elapsed().as_secs_f64() * 1000.0);
        cpus.push(cpu_ms() - c);
        assert_eq!(w.off(), None);
        folders = w.folders();
    }
    let (p50, p95) = median(walls);
    let (c50, c95) = median(cpus);
    println!(
        "{label}, setting up the watcher ({folders} folders, 10k files): wall p50 {p50:.2} ms, p95 {p95:.2} ms; CPU p50 {c50:.2} ms, p95 {c95:.2} ms"
    );
}

fn rollback_hundred(work: &Path, store: &Checkpoints, runs: u32) {
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    for run in 0..runs {
        let task = format!("c0c0c0c0{run:04x}");
        store
            .snapshot(&task, 0, work, CAPS)
            .unwrap_or_else(|e| die(e));
        for i in 0..100u64 {
            let p = work.join(format!("src/mod{:03}/f{:03}.rs", i, u64::from(run) % 100));
            fs::write(p, text(u64::from(run) * 7919 + i, 2000)).unwrap_or_else(|e| die(e));
        }
        store
            .snapshot(&task, 1, work, CAPS)
            .unwrap_or_else(|e| die(e));
        let (t, c) = (Instant::now(), cpu_ms());
        let done = store.rollback(&task, false).unwrap_or_else(|e| die(e));
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        cpu.push(cpu_ms() - c);
        assert_eq!(done.written.len(), 100);
    }
    let (p50, p95) = median(times);
    let (c50, c95) = median(cpu);
    println!(
        "rollback of a task that changed 100 files (10k-file git workdir): wall p50 {p50:.1} ms, p95 {p95:.1} ms; CPU p50 {c50:.1} ms, p95 {c95:.1} ms (target 200 ms)"
    );
}

/// What checkpointing adds to the batch bench's hello task (one `echo`, then an answer)
/// in an empty workdir outside git: the baseline of a new task, then the turn's snapshot,
/// which finds nothing changed. New task ids in one home, as in the batch bench.
fn small_task(runs: u32) {
    let home = tempfile::tempdir().unwrap_or_else(|e| die(e));
    let work = tempfile::tempdir().unwrap_or_else(|e| die(e));
    let store = Checkpoints::new(home.path().join("checkpoints"));
    let (mut walls, mut cpus) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let task = format!("e0e0e0e0{run:04x}");
        let (t, c) = (Instant::now(), cpu_ms());
        let base = store.snapshot(&task, 0, work.path(), CAPS);
        let turn = store.snapshot(&task, 1, work.path(), CAPS);
        walls.push(t.elapsed().as_secs_f64() * 1000.0);
        cpus.push(cpu_ms() - c);
        base.unwrap_or_else(|e| die(e));
        turn.unwrap_or_else(|e| die(e));
    }
    let (p50, p95) = median(walls);
    let (c50, c95) = median(cpus);
    println!(
        "hello task's two snapshots (empty workdir outside git): wall p50 {p50:.2} ms, p95 {p95:.2} ms; CPU p50 {c50:.2} ms, p95 {c95:.2} ms"
    );
}

fn rewrite_big(caps: Caps, label: &str) {
    let home = tempfile::tempdir().unwrap_or_else(|e| die(e));
    let work = tempfile::tempdir().unwrap_or_else(|e| die(e));
    let store = Checkpoints::new(home.path().join("checkpoints"));
    let big = work.path().join("big.bin");
    let task = "d0d0d0d0d0d0";
    fs::write(work.path().join("small.txt"), "x").unwrap_or_else(|e| die(e));
    store
        .snapshot(task, 0, work.path(), caps)
        .unwrap_or_else(|e| die(e));
    let mut left_out = 0;
    for turn in 1..=10u32 {
        // 100 MB that does not compress, different every turn.
        let mut data = Vec::with_capacity(100 << 20);
        let mut x = u64::from(turn).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        while data.len() < 100 << 20 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        fs::write(&big, &data).unwrap_or_else(|e| die(e));
        let s = store
            .snapshot(task, turn, work.path(), caps)
            .unwrap_or_else(|e| die(e));
        left_out += usize::from(!s.left_out.is_empty());
    }
    let size = az_os::util::fs::dir_size(&home.path().join("checkpoints"));
    println!(
        "100 MB file rewritten 10 times ({label}): storage {:.1} MB, {left_out} of 10 turns left it out with a notice",
        size as f64 / (1024.0 * 1024.0)
    );
}

fn main() {
    small_task(40);
    // In a git repository with the 10k files committed (the user's index seeds ours).
    let home = tempfile::tempdir().unwrap_or_else(|e| die(e));
    let work = tempfile::tempdir().unwrap_or_else(|e| die(e));
    let w = work.path().canonicalize().unwrap_or_else(|e| die(e));
    make_tree(&w);
    git(&w, &["init", "-q"]);
    git(&w, &["add", "."]);
    git(&w, &["commit", "-qm", "tree"]);
    let store = Checkpoints::new(home.path().join("checkpoints"));
    let objects = w.join(".git/objects");
    turn_of_ten("git workdir", &w, &store, &objects, 30, How::Walk);
    turn_of_ten("git workdir", &w, &store, &objects, 30, How::Watched);
    turn_of_ten("git workdir", &w, &store, &objects, 30, How::Known);
    watch_setup("git workdir", &w, &store, 20);
    rollback_hundred(&w, &store, 10);

    // Outside git: the private repository.
    let home2 = tempfile::tempdir().unwrap_or_else(|e| die(e));
    let work2 = tempfile::tempdir().unwrap_or_else(|e| die(e));
    let w2 = work2.path().canonicalize().unwrap_or_else(|e| die(e));
    make_tree(&w2);
    let store2 = Checkpoints::new(home2.path().join("checkpoints"));
    let repos = home2.path().join("checkpoints/repos");
    turn_of_ten("plain workdir", &w2, &store2, &repos, 30, How::Walk);
    turn_of_ten("plain workdir", &w2, &store2, &repos, 30, How::Watched);
    turn_of_ten("plain workdir", &w2, &store2, &repos, 30, How::Known);
    watch_setup("plain workdir", &w2, &store2, 20);

    if std::env::var_os("AZ_OS_BENCH_SKIP_BIG").is_none() {
        rewrite_big(CAPS, "default caps: 20 MB per file");
        rewrite_big(
            Caps {
                file_bytes: 200 << 20,
                task_bytes: 200 << 20,
                total_bytes: 2 << 30,
            },
            "max_file_mb = 200, max_task_mb = 200",
        );
    }
}
