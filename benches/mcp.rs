//! MCP call overhead (criterion): one `tools/call` of the fixture server's `echo` tool
//! (examples/mcp_fixture.rs, which does no work of its own beyond answering) through
//! [`az_os::mcp::Hub::call`] over stdio: JSON-RPC encoding, the pipe both ways, rmcp on
//! both sides, and rendering the result. Target: at most 2 ms per call.
//!
//! Also `mcp_hub_start_3_servers`: what `Hub::start` costs the engine's start with three
//! stdio servers configured (it spawns their tasks and returns; the processes start in
//! the background). Printed as the median of 30 starts, each shut down untimed.
//!
//! Run with `cargo build --release --example mcp_fixture && cargo bench --bench mcp`
//! (scripts/bench.sh does both).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use az_os::config::{Home, Settings};
use az_os::mcp::{Hub, ServerState};

fn fixture() -> std::path::PathBuf {
    let fixture = Path::new(env!("CARGO_BIN_EXE_az-os"))
        .parent()
        .unwrap_or_else(|| panic!("no target folder"))
        .join("examples/mcp_fixture");
    assert!(
        fixture.exists(),
        "{} is missing: run `cargo build --release --example mcp_fixture` first",
        fixture.display()
    );
    fixture
}

/// Settings listing `servers` copies of the fixture (fx0, fx1 …).
fn settings(dir: &Path, servers: usize) -> Settings {
    let command = format!("{:?}", fixture().display().to_string());
    let mut text = String::new();
    for i in 0..servers {
        text.push_str(&format!(
            "[[mcp_servers]]\nname = \"fx{i}\"\ncommand = {command}\n"
        ));
    }
    std::fs::write(dir.join("config.toml"), text).unwrap_or_else(|e| panic!("write: {e}"));
    let home = Home::resolve(Some(dir), None).unwrap_or_else(|e| panic!("{e}"));
    Settings::load(home).unwrap_or_else(|e| panic!("{e}"))
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let three = settings(dir.path(), 3);
    let mut starts: Vec<Duration> = (0..30)
        .map(|_| {
            rt.block_on(async {
                let t = std::time::Instant::now();
                let hub = Hub::start(&three);
                let took = t.elapsed();
                hub.wait_settled(Duration::from_secs(30)).await;
                hub.shutdown().await;
                took
            })
        })
        .collect();
    starts.sort();
    println!(
        "mcp_hub_start_3_servers: median {:?}, max {:?} (30 starts)",
        starts[starts.len() / 2],
        starts[starts.len() - 1]
    );
    let settings = settings(dir.path(), 1);
    let hub = rt.block_on(async {
        let hub = Hub::start(&settings);
        hub.wait_settled(Duration::from_secs(30)).await;
        let state = hub.status()[0].state.clone();
        assert_eq!(state, ServerState::Ready, "the fixture did not start");
        hub
    });
    let cancel = tokio_util::sync::CancellationToken::new();
    let args = serde_json::json!({"message": "ping"});
    c.bench_function("mcp_stdio_call_echo", |b| {
        b.iter(|| {
            let out = rt.block_on(hub.call("fx0__echo", args.clone(), &cancel));
            black_box(out.unwrap_or_else(|e| panic!("call: {e}")))
        });
    });
    rt.block_on(hub.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
