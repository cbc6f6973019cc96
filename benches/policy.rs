//! Security benchmarks (criterion):
//! - `policy_check_*`: one policy decision on a command line — parse, unwrap wrappers,
//!   guard, rules — for a plain command, a compound one with wrappers, substitutions and
//!   a pipeline, and a refused one (target 50 µs);
//! - `redact_observation`: masking an 8 KiB observation holding two secret shapes, with
//!   the process's known secrets looked up (it runs on every event);
//! - `sandbox_true` / `unconfined_true`: starting `sh -c true` through the Landlock
//!   sandbox (az-os re-execs itself) and directly; the difference is what the sandbox
//!   adds per command (target 5 ms). Needs the release binary (`cargo build --release`).
//!
//! Run with `cargo bench --bench policy` (see scripts/bench.sh).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};

use az_os::config::{PolicyConfig, PolicyMode, SandboxConfig};
use az_os::engine::policy::{GuardCtx, Policy};
use az_os::sandbox::Sandbox;

fn bench(c: &mut Criterion) {
    let ctx = GuardCtx {
        workdir: PathBuf::from("/home/u/proj"),
        home: Some(PathBuf::from("/home/u")),
    };
    let policy = Policy::new(&PolicyConfig {
        default: PolicyMode::Ask,
        allow: vec![
            "git status".into(),
            "cargo *".into(),
            "ls *".into(),
            "grep *".into(),
        ],
        ask: vec!["git push *".into()],
        deny: vec!["npm publish *".into(), "sudo *".into()],
    });
    for (name, cmd) in [
        ("plain", "cargo test --all"),
        (
            "compound",
            "cd sub && timeout 60 env RUST_LOG=debug cargo build --release 2>&1 | grep -v warning | tail -n 20; ls $(git rev-parse --show-toplevel)",
        ),
        ("refused", "sudo -u root sh -c 'rm -rf \"$HOME\"'"),
    ] {
        c.bench_function(&format!("policy_check_{name}"), |b| {
            b.iter(|| black_box(policy.check(black_box(cmd), &ctx)));
        });
    }

    let mut text = "cargo build output line\n".repeat(330);
    text.push_str("key sk-abcdefghijklmnopqrstuvwx and AKIAIOSFODNN7EXAMPLE\n");
    c.bench_function("redact_observation", |b| {
        b.iter(|| black_box(az_os::redact::redact(black_box(&text))));
    });

    let exe = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/az-os");
    let exe = std::env::var_os("CARGO_TARGET_DIR")
        .map_or(exe, |d| PathBuf::from(d).join("release/az-os"));
    if !exe.is_file() || !az_os::sandbox::support().filesystem {
        eprintln!(
            "sandbox benchmarks skipped: no release binary at {} or no Landlock",
            exe.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap_or_else(|e| panic!("{e}"));
    let sandbox =
        Sandbox::with_protected(&SandboxConfig::default(), vec![(home, "home")]).with_exe(exe);
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for (name, confined) in [("sandbox_true", true), ("unconfined_true", false)] {
        c.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let status = sandbox
                        .command("true", dir.path(), &tmp, confined)
                        .status()
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert!(status.success());
                });
            });
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
