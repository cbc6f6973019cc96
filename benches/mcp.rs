//! MCP call overhead (criterion): one `tools/call` of the fixture server's `echo` tool
//! (examples/mcp_fixture.rs, which does no work of its own beyond answering) through
//! [`az_os::mcp::Hub::call`] over stdio: JSON-RPC encoding, the pipe both ways, rmcp on
//! both sides, and rendering the result. Target: at most 2 ms per call.
//!
//! Run with `cargo build --release --example mcp_fixture && cargo bench --bench mcp`
//! (scripts/bench.sh does both).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use az_os::config::{Home, Settings};
use az_os::mcp::{Hub, ServerState};

fn bench(c: &mut Criterion) {
    let fixture = Path::new(env!("CARGO_BIN_EXE_az-os"))
        .parent()
        .unwrap_or_else(|| panic!("no target folder"))
        .join("examples/mcp_fixture");
    assert!(
        fixture.exists(),
        "{} is missing: run `cargo build --release --example mcp_fixture` first",
        fixture.display()
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "[[mcp_servers]]\nname = \"fx\"\ncommand = {:?}\n",
            fixture.display().to_string()
        ),
    )
    .unwrap_or_else(|e| panic!("write config: {e}"));
    let home = Home::resolve(Some(dir.path()), None).unwrap_or_else(|e| panic!("{e}"));
    let settings = Settings::load(home).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
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
            let out = rt.block_on(hub.call("fx__echo", args.clone(), &cancel));
            black_box(out.unwrap_or_else(|e| panic!("call: {e}")))
        });
    });
    rt.block_on(hub.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
