//! The health pane tells the truth about providers (issue 11, item 5): real
//! request outcomes count as well as the periodic probes, and providers are
//! named by model, not `host:port`.

use az_os::engine::Event;
use az_os::health::Level;
use az_os::health::checks::ComponentCheck;
use az_os::tui::model::Model;
use pretty_assertions::assert_eq;

use super::{T0, ev, global, model_sized, render, run_task, screen};

fn probe(level: Level, detail: &str) -> Event {
    Event::ComponentHealth {
        checks: vec![ComponentCheck {
            name: "127.0.0.1:8080".into(),
            kind: "provider".into(),
            level,
            latency_ms: Some(12.0),
            detail: detail.into(),
            models: vec!["qwen-local".into()],
        }],
    }
}

fn failed(model: &str) -> Event {
    Event::RequestFailed {
        model: model.into(),
        attempt: 1,
        category: "server".into(),
        message: "HTTP 500: internal error".into(),
    }
}

fn ok(model: &str) -> Event {
    Event::LlmCall {
        model: model.into(),
        input_tokens: 100,
        output_tokens: 10,
        cost_usd: 0.0,
        latency_ms: 340,
        attempt: 1,
        estimated: false,
    }
}

fn level(m: &Model, model: &str) -> Level {
    m.health
        .providers()
        .into_iter()
        .find(|p| p.model == model)
        .map_or_else(
            || panic!("no row for {model}: {:?}", m.health.providers()),
            |p| p.level,
        )
}

#[test]
fn a_failing_provider_turns_unhealthy_at_once_and_recovers_on_success() {
    let mut m = model_sized(120, 40);
    global(&mut m, T0, probe(Level::Healthy, "up (qwen-local)"));
    assert_eq!(level(&m, "qwen-local"), Level::Healthy);
    run_task(&mut m, "task01", "x", T0 + 1.0, "qwen-local");
    // The provider died: the first failed request says so, no probe needed.
    ev(&mut m, "task01", T0 + 2.0, failed("qwen-local"));
    assert_eq!(level(&m, "qwen-local"), Level::Unhealthy);
    let text = screen(&render(&m));
    assert!(text.contains("Health · unhealthy"), "{text}");
    assert!(text.contains("○ qwen-local"), "{text}");
    // It is back: the next request that succeeds says so.
    ev(&mut m, "task01", T0 + 9.0, ok("qwen-local"));
    assert_eq!(level(&m, "qwen-local"), Level::Healthy);
    assert!(screen(&render(&m)).contains("● qwen-local 340ms"));
    // A probe that finds it dead later wins over the older success.
    global(&mut m, T0 + 60.0, probe(Level::Unhealthy, "unreachable"));
    assert_eq!(level(&m, "qwen-local"), Level::Unhealthy);
}

#[test]
fn a_server_answering_500_to_every_request_is_not_healthy() {
    let mut m = model_sized(120, 40);
    run_task(&mut m, "task01", "x", T0, "qwen-local");
    ev(&mut m, "task01", T0 + 1.0, failed("qwen-local"));
    // Its model list still answers: that does not make the requests work.
    global(&mut m, T0 + 60.0, probe(Level::Healthy, "up (qwen-local)"));
    assert_eq!(level(&m, "qwen-local"), Level::Degraded);
    let text = screen(&render(&m));
    assert!(text.contains("last request failed"), "{text}");
    assert!(!text.contains("Health · healthy"), "{text}");
}

#[test]
fn providers_are_named_by_model_not_host_and_port() {
    let mut m = model_sized(120, 40);
    global(&mut m, T0, probe(Level::Healthy, "up (qwen-local)"));
    let text = screen(&render(&m));
    assert!(text.contains("● qwen-local 12ms"), "{text}");
    assert!(!text.contains("127.0.0.1:8080"), "{text}");
}
