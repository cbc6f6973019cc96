//! Router and resilience benchmarks (criterion):
//! - `route_decide_catalogue`: one routing decision over the built-in catalogue (four
//!   models, ledger history for two), complexity and keyword scan included (target 50 µs);
//! - `route_decide_fallback`: the same with a model excluded and one cooling down, as a
//!   fallback decides;
//! - `resilience_per_request`: everything the engine adds to one request before it is sent,
//!   without the network: the breaker check, the rate limiter's acquire (limited endpoint,
//!   no wait), the worst-case estimate, the task budget check, and the daily budget's
//!   check-and-reserve on the store thread with its release (target 1 ms).
//!
//! Run with `cargo bench --bench route` (see scripts/bench.sh).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use az_os::config::{Home, Settings, builtin_models};
use az_os::engine::breaker::Breakers;
use az_os::engine::budget::{self, Caps, InFlight};
use az_os::engine::route::{self, Ask, SuccessRates};
use az_os::engine::system_prompt;
use az_os::engine::tools;
use az_os::llm::rate_limit::{Limits, RateLimiter};
use az_os::llm::{ChatRequest, Message};
use az_os::store::costs::ModelRecord;
use az_os::store::{self, StoreHandle};

/// The catalogue with keys that need no environment, and two critical keywords.
fn settings() -> Settings {
    let home = Home::resolve(Some(Path::new("/nonexistent/az-os-bench")), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut s = Settings::load(home).unwrap_or_else(|e| panic!("{e}"));
    s.models = builtin_models()
        .into_iter()
        .map(|mut m| {
            m.api_key_env = None;
            m
        })
        .collect();
    s.routing.critical_keywords = vec!["production".into(), "security".into()];
    s
}

fn rates() -> SuccessRates {
    SuccessRates::new([
        (
            "trinity".to_owned(),
            ModelRecord {
                calls: 120,
                successes: 110,
            },
        ),
        (
            "gemini-pro".to_owned(),
            ModelRecord {
                calls: 40,
                successes: 31,
            },
        ),
    ])
}

const TASK: &str = "read data.csv, count the rows per country and write the totals to \
                    out/summary.txt, one line per country, sorted by count";

fn bench(c: &mut Criterion) {
    let s = settings();
    let r = rates();
    c.bench_function("route_decide_catalogue", |b| {
        let ask = Ask {
            description: TASK,
            ..Ask::default()
        };
        b.iter(|| route::decide(black_box(&s), black_box(&ask), &r, |_| None).ok());
    });
    let excluded = vec!["gemini-pro".to_owned()];
    c.bench_function("route_decide_fallback", |b| {
        let ask = Ask {
            description: TASK,
            exclude: &excluded,
            ..Ask::default()
        };
        let cooling = |m: &str| (m == "trinity").then_some(Duration::from_secs(20));
        b.iter(|| route::decide(black_box(&s), black_box(&ask), &r, cooling).ok());
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let conn = store::open(&dir.path().join("bench.db")).unwrap_or_else(|e| panic!("{e}"));
    let store = StoreHandle::from_connection(conn);
    let breakers = Breakers::default();
    let limiter = RateLimiter::new();
    let in_flight = InFlight::default();
    // A limit the bench never reaches, so acquire takes its limited path without waiting.
    let limits = Limits {
        requests_per_minute: Some(u32::MAX),
        tokens_per_minute: Some(u32::MAX),
    };
    let caps = Caps {
        per_task: 1_000.0,
        per_day: 1_000_000.0,
    };
    // The paid model, so the daily check reaches the store.
    let spec = s
        .model("claude-sonnet")
        .cloned()
        .unwrap_or_else(|| panic!("catalogue lacks claude-sonnet"));
    let system = system_prompt(Path::new("/home/user/project"), 5);
    let tools = tools::specs();
    let messages = vec![
        Message::User { text: TASK.into() },
        Message::Assistant {
            text: "Reading the file first.".into(),
            tool_calls: Vec::new(),
        },
    ];
    c.bench_function("resilience_per_request", |b| {
        b.iter(|| {
            rt.block_on(async {
                let req = ChatRequest {
                    system: &system,
                    messages: &messages,
                    tools: &tools,
                };
                assert!(breakers.open_for(&spec.name).is_none());
                let worst = budget::worst_case(&spec, &req);
                budget::check_task(caps, 0.01, &worst, &spec.name, "raise it")
                    .unwrap_or_else(|e| panic!("{e}"));
                let held = in_flight
                    .reserve_daily(&store, caps, &worst, &spec.name)
                    .await
                    .unwrap_or_else(|_| panic!("refused"));
                limiter
                    .acquire(&spec.base_url, limits, worst.input_tokens)
                    .await;
                drop(black_box(held));
            });
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
