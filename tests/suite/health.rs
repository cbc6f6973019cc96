//! Health checks against real servers on 127.0.0.1 (up, slow, refusing the key,
//! down) and `az-os health` as a user runs it: exit codes, JSON shape, alerts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use az_os::config::{ModelSpec, Provider, Tier};
use az_os::health::Level;
use az_os::health::checks::{self, ComponentCheck};

use crate::common::TestEnv;
use crate::common::fake_provider::FakeProvider;

/// A server that answers every request with `status` after `delay`.
fn server(delay: Duration, status: u16) -> SocketAddr {
    server_listing(delay, status, r#"{"data":[]}"#)
}

/// A `/models` endpoint answering `body` after `delay`.
fn server_listing(delay: Duration, status: u16, body: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                std::thread::sleep(delay);
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}

fn spec(base_url: String) -> ModelSpec {
    ModelSpec {
        name: "m".into(),
        provider: Provider::Openai,
        model: "fake-model".into(),
        base_url,
        api_key_env: None,
        api_key: None,
        tier: Tier::Simple,
        input_usd_per_mtok: 0.0,
        output_usd_per_mtok: 0.0,
        quality: 0.5,
        max_output_tokens: 100,
        requests_per_minute: None,
        tokens_per_minute: None,
        stream: true,
        tool_calls: az_os::config::ToolCalls::Auto,
        builtin: false,
    }
}

async fn check(base_url: String, timeout_ms: u64, slow_ms: u64) -> ComponentCheck {
    az_os::llm::init_tls();
    let http = reqwest::Client::new();
    let eps = checks::endpoints(&[spec(base_url)]);
    assert_eq!(eps.len(), 1);
    checks::provider(
        &http,
        &eps[0],
        Duration::from_millis(timeout_ms),
        Duration::from_millis(slow_ms),
    )
    .await
}

#[tokio::test]
async fn provider_checks_tell_up_slow_rejected_and_down_apart() {
    let fake = FakeProvider::start(Vec::new());
    let up = check(fake.base_url(), 2000, 1000).await;
    assert_eq!(up.level, Level::Healthy, "{up:?}");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with("/models"))
    );
    assert_eq!(fake.chat_count(), 0, "a health check spends no tokens");

    let slow = server(Duration::from_millis(300), 200);
    let c = check(format!("http://{slow}/v1"), 2000, 100).await;
    assert_eq!(c.level, Level::Degraded, "{c:?}");
    assert!(c.detail.contains("slow"));

    let hung = server(Duration::from_secs(5), 200);
    let c = check(format!("http://{hung}/v1"), 200, 100).await;
    assert_eq!(c.level, Level::Unhealthy, "{c:?}");
    assert!(c.detail.contains("no answer within 200 ms"), "{c:?}");

    // A server failing its own model list is down, not merely degraded.
    let failing = server(Duration::ZERO, 500);
    let c = check(format!("http://{failing}/v1"), 2000, 1000).await;
    assert_eq!(c.level, Level::Unhealthy, "{c:?}");
    assert!(c.detail.contains("HTTP 500"), "{c:?}");
    // The check names the models on the endpoint (the dashboard shows them, not hosts).
    assert_eq!(c.models.len(), 1, "{c:?}");

    let rejected = server(Duration::ZERO, 401);
    let c = check(format!("http://{rejected}/v1"), 2000, 1000).await;
    assert_eq!(c.level, Level::Unhealthy);
    assert!(c.detail.contains("key rejected"));

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = check(format!("http://127.0.0.1:{port}/v1"), 2000, 1000).await;
    assert_eq!(c.level, Level::Unhealthy);
    assert!(c.detail.contains("unreachable"), "{c:?}");
}

#[tokio::test]
async fn a_model_the_server_does_not_list_is_reported() {
    let other = server_listing(
        Duration::ZERO,
        200,
        r#"{"object":"list","data":[{"id":"qwen2.5-coder-1.5b"}]}"#,
    );
    let c = check(format!("http://{other}/v1"), 2000, 1000).await;
    assert_eq!(c.level, Level::Degraded, "{c:?}");
    assert!(
        c.detail.contains("model not served") && c.detail.contains("qwen2.5-coder-1.5b"),
        "{c:?}"
    );
    // A server that lists nothing cannot be judged: it is up.
    let quiet = server(Duration::ZERO, 200);
    assert_eq!(
        check(format!("http://{quiet}/v1"), 2000, 1000).await.level,
        Level::Healthy
    );
}

/// Gauges that can never trip, so exit codes depend only on the components.
const CALM: &str = "[health]\ncpu = { degraded = 100, unhealthy = 100 }\n\
    memory = { degraded = 100, unhealthy = 100 }\ndisk = { degraded = 100, unhealthy = 100 }\n";

#[test]
fn health_command_exit_codes_follow_the_worst_component() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(Vec::new());
    env.config("openai", &fake.base_url(), CALM);
    let out = env.cmd().args(["health", "--json"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "healthy");
    for key in [
        "checked_at",
        "machine",
        "gauges",
        "components",
        "metrics",
        "alerts",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let gauges: Vec<&str> = v["gauges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(gauges, ["cpu", "memory", "disk"]);
    let kinds: Vec<&str> = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["database", "provider"]);
    assert!(v["machine"]["memory_total_bytes"].as_u64().unwrap() > 0);
    assert_eq!(v["metrics"]["budget_usd_per_day"], 5.0);

    let slow = server(Duration::from_millis(300), 200);
    env.config(
        "openai",
        &format!("http://{slow}/v1"),
        &format!("{CALM}provider_slow_ms = 100\n"),
    );
    env.cmd()
        .args(["health", "--fresh"])
        .assert()
        .code(1)
        .stdout(predicates::str::contains("degraded"));

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.config("openai", &format!("http://127.0.0.1:{port}/v1"), CALM);
    env.cmd()
        .args(["health", "--fresh"])
        .assert()
        .code(2)
        .stdout(predicates::str::contains("unreachable"));
}

#[test]
fn unhealthy_checks_alert_once_per_cooldown_and_are_stored() {
    let env = TestEnv::new();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.config("openai", &format!("http://127.0.0.1:{port}/v1"), CALM);
    let out = env.cmd().args(["health", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Only the provider's: a machine loaded by parallel builds may add a slow database.
    let provider = |v: &serde_json::Value| {
        v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a.to_string().contains("127.0.0.1"))
            .count()
    };
    assert_eq!(provider(&v), 1, "{}", v["alerts"]);
    let out = env
        .cmd()
        .args(["health", "--json", "--fresh"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(provider(&v) == 0, "within the cooldown: {}", v["alerts"]);
    let n: i64 = env
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM alerts WHERE message LIKE '%127.0.0.1%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1, "one stored provider alert");
}

#[test]
fn no_usable_model_is_unhealthy_and_says_why() {
    let env = TestEnv::new();
    std::fs::write(env.home().join("config.toml"), CALM).unwrap();
    env.cmd()
        .arg("health")
        .assert()
        .code(2)
        .stdout(predicates::str::contains("no model has an API key"));
}

#[test]
fn bad_health_config_names_the_key() {
    let env = TestEnv::new();
    std::fs::write(
        env.home().join("config.toml"),
        "[health]\ncpu = { degraded = 95, unhealthy = 90 }\n",
    )
    .unwrap();
    env.cmd()
        .arg("health")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("health.cpu"));
}

#[tokio::test]
async fn the_dashboards_component_checks_cover_the_database_and_each_provider() {
    use az_os::config::{Home, Settings};
    use az_os::engine::{self, Approvals, EngineConfig, Event, HealthEvents};
    let env = TestEnv::new();
    let fake = FakeProvider::start(Vec::new());
    // Ollama needs no key, so the test process needs none in its environment.
    std::fs::write(
        env.home().join("config.toml"),
        format!(
            "[[models]]\nname = \"local\"\nprovider = \"ollama\"\nmodel = \"fake-model\"\nbase_url = \"{}\"\n",
            fake.base_url()
        ),
    )
    .unwrap();
    let settings = Settings::load(Home::resolve(Some(env.home()), None).unwrap()).unwrap();
    let store = az_os::store::StoreHandle::open(&settings.home.database()).unwrap();
    let config = EngineConfig {
        settings: std::sync::Arc::new(settings),
        jobs: 1,
        stream_thoughts: false,
        health: HealthEvents {
            sampler: false,
            snapshots: false,
            providers: true,
        },
        approvals: Approvals::Deny,
        front_end: az_os::engine::FrontEnd::Batch,
    };
    let (handle, mut events, join) = engine::start(config, store).unwrap();
    let checks = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let ev = events.recv().await.expect("events end before the checks");
            if let Event::ComponentHealth { checks } = ev.event {
                return checks;
            }
        }
    })
    .await
    .expect("no component_health event");
    let kinds: Vec<(&str, Level)> = checks.iter().map(|c| (c.kind.as_str(), c.level)).collect();
    assert_eq!(
        kinds,
        [("database", Level::Healthy), ("provider", Level::Healthy)],
        "{checks:?}"
    );
    handle
        .send(engine::Command::Shutdown {
            cancel_running: true,
        })
        .unwrap();
    while events.recv().await.is_some() {}
    join.await.unwrap();
}
