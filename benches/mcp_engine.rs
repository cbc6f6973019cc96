//! What MCP servers cost a task, run as a user would run az-os (batch mode, the hello
//! task of `benches/batch.rs`: one command, then the answer, against an instant local
//! fake provider), with the test server of `examples/mcp_fixture.rs`:
//! - request bytes of the task's second request (the first after a tool ran) with no MCP
//!   server, with one listing 60 more tools (67) under the default `[mcp] tool_threshold`
//!   (only relevant tools and `find_tools` are sent), and the same with every tool sent
//!   (target: with 60 tools ≤ 2× the bytes without);
//! - time from process start to the first model request with 3 stdio servers configured
//!   and with none (target: ≤ 5 ms added: servers start in the background).
//!
//! Run with `cargo build --release --example mcp_fixture && cargo bench --bench mcp_engine`.

#[path = "../tests/common/fake_provider.rs"]
mod fake_provider;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fake_provider::{FakeProvider, Reply};

const RUNS: usize = 30;

fn bin() -> String {
    std::env::var("AZ_OS_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_az-os").to_owned())
}

/// The fixture server, built next to the binary measured (or a debug build of it).
fn fixture() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_az-os"))
        .parent()
        .unwrap_or_else(|| panic!("the binary has no folder"))
        .to_path_buf();
    let candidates = [
        dir.join("examples/mcp_fixture"),
        dir.join("../debug/examples/mcp_fixture"),
    ];
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .unwrap_or_else(|| {
            panic!("the MCP fixture is missing: run `cargo build --release --example mcp_fixture`")
        })
}

fn server(name: &str, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[[mcp_servers]]\nname = \"{name}\"\ncommand = {:?}\nargs = [{}]\n",
        fixture().display().to_string(),
        args.join(", ")
    )
}

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

/// One hello task; returns the time to its first request and its requests' (bytes,
/// offered tool names).
fn hello(home: &Path, work: &Path, fake: &FakeProvider) -> (Duration, Vec<(usize, Vec<String>)>) {
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reqs: Vec<_> = fake.requests().into_iter().skip(before).collect();
    let first = reqs
        .first()
        .map(|r| r.at.duration_since(t0))
        .unwrap_or_default();
    let sent = reqs
        .iter()
        .map(|r| {
            let names = r.body["tools"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            (r.body_bytes, names)
        })
        .collect();
    (first, sent)
}

/// Bytes of the hello task's second request with `extra` in the config; `ready` says
/// whether the servers' tools were in it (a server still starting is retried).
fn second_request_bytes(extra: &str, ready: impl Fn(&[String]) -> bool) -> (usize, usize) {
    let fake = FakeProvider::start(Vec::new());
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_config(home.path(), &fake, extra);
    for _ in 0..10 {
        let (_, sent) = hello(home.path(), work.path(), &fake);
        if let Some((bytes, names)) = sent.get(1)
            && ready(names)
        {
            return (*bytes, names.len());
        }
    }
    panic!("the MCP server was never ready by the second request")
}

fn request_bytes() {
    let (none, n0) = second_request_bytes("", |_| true);
    let sixty = server("fx", &["--tools", "60"]);
    let (lean, n1) = second_request_bytes(&sixty, |n| n.iter().any(|t| t == "find_tools"));
    let all = format!("[mcp]\ntool_threshold = 1000\n{sixty}");
    let (full, n2) = second_request_bytes(&all, |n| n.iter().any(|t| t == "fx__filler_59"));
    println!(
        "{:<44} {none:>7} bytes ({n0} tools)",
        "request, no MCP server"
    );
    println!(
        "{:<44} {lean:>7} bytes ({n1} tools) = {:.2}x",
        "request, 67 MCP tools, lean (default)",
        lean as f64 / none as f64
    );
    println!(
        "{:<44} {full:>7} bytes ({n2} tools) = {:.2}x",
        "request, 67 MCP tools, all sent",
        full as f64 / none as f64
    );
}

fn p50(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn first_request(extra: &str) -> f64 {
    let fake = FakeProvider::start(Vec::new());
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_config(home.path(), &fake, extra);
    let _ = hello(home.path(), work.path(), &fake); // creates the database
    p50((0..RUNS)
        .map(|_| hello(home.path(), work.path(), &fake).0)
        .collect())
}

fn startup() {
    let three = ["a", "b", "c"]
        .iter()
        .map(|n| server(n, &[]))
        .collect::<String>();
    // Interleaved, so a noisy moment of the machine hits both alike.
    let (mut none, mut with) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        none.push(first_request(""));
        with.push(first_request(&three));
    }
    let (none, with) = (median(none), median(with));
    println!("{:<44} p50 {none:>7.2} ms", "first request, no MCP server");
    println!(
        "{:<44} p50 {with:>7.2} ms (+{:.2} ms)",
        "first request, 3 stdio MCP servers",
        with - none
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    request_bytes();
    startup();
}
