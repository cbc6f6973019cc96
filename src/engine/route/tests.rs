//! The routing score, case by case: which model each situation picks, with what score.

use std::path::Path;

use super::*;
use crate::config::{Home, Provider, RoutingConfig};

fn model(name: &str, tier: Tier, price: (f64, f64), quality: f64) -> ModelSpec {
    ModelSpec {
        name: name.into(),
        provider: Provider::Ollama,
        model: name.into(),
        base_url: format!("http://127.0.0.1:1/{name}"),
        api_key_env: None,
        api_key: None,
        tier,
        input_usd_per_mtok: price.0,
        output_usd_per_mtok: price.1,
        quality,
        max_output_tokens: 1000,
        requests_per_minute: None,
        tokens_per_minute: None,
        stream: true,
        tool_calls: crate::config::ToolCalls::Auto,
        builtin: false,
    }
}

fn settings(models: Vec<ModelSpec>) -> Settings {
    // No config file there: the defaults, whose models and routing we replace.
    let home = Home::resolve(Some(Path::new("/nonexistent/az-os-route-test")), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut s = Settings::load(home).unwrap_or_else(|e| panic!("{e}"));
    s.models = models;
    s.routing = RoutingConfig {
        critical_keywords: vec!["production".into()],
        ..RoutingConfig::default()
    };
    s
}

/// The design's four tiers, free below critical, plus a model without its key.
fn catalogue() -> Settings {
    let mut no_key = model("no-key", Tier::Medium, (0.0, 0.0), 1.0);
    no_key.api_key_env = Some("AZ_OS_ROUTE_TEST_UNSET_VARIABLE".into());
    settings(vec![
        model("simple", Tier::Simple, (0.0, 0.0), 0.6),
        model("medium", Tier::Medium, (0.0, 0.0), 0.8),
        model("complex", Tier::Complex, (0.0, 0.0), 0.75),
        model("critical", Tier::Critical, (3.0, 15.0), 0.95),
        no_key,
    ])
}

const SHORT: &str = "count the lines in data.csv";

fn rates(rows: &[(&str, u64, u64)]) -> SuccessRates {
    SuccessRates::new(rows.iter().map(|(m, calls, successes)| {
        (
            (*m).to_owned(),
            ModelRecord {
                calls: *calls,
                successes: *successes,
            },
        )
    }))
}

struct Case {
    name: &'static str,
    description: String,
    critical: bool,
    exclude: &'static [&'static str],
    history: &'static [(&'static str, u64, u64)],
    cooling: &'static [(&'static str, u64)],
    want: (&'static str, f64),
    wait_s: Option<u64>,
    reason_has: &'static str,
}

fn case(name: &'static str, description: &str, want: (&'static str, f64)) -> Case {
    Case {
        name,
        description: description.to_owned(),
        critical: false,
        exclude: &[],
        history: &[],
        cooling: &[],
        want,
        wait_s: None,
        reason_has: "",
    }
}

#[test]
fn score_table() {
    let s = catalogue();
    let medium_text = "x".repeat(400);
    let complex_text = "x".repeat(2400);
    let cases = [
        // No history: every success rate is the 0.9 prior, free models all cost 1.
        // simple .3+.27+.2 = .77, medium .4+.27+.2 = .87, complex .375+.27+.2 = .845.
        Case {
            reason_has: "simple task (~7 tokens): medium scores 0.870",
            ..case(
                "short task, quality decides among free",
                SHORT,
                ("medium", 0.87),
            )
        },
        // 0 of 10 succeeded: (0 + 9) / 20 = .45, so .4 + .135 + .2 = .735 < .845.
        Case {
            history: &[("medium", 10, 0)],
            ..case("a failing model loses its lead", SHORT, ("complex", 0.845))
        },
        // 100 of 100: (100 + 9) / 110 = .991, so .3 + .297 + .2 = .797; medium still leads.
        Case {
            history: &[("simple", 100, 100)],
            ..case("history moves a score", SHORT, ("medium", 0.87))
        },
        case(
            "medium task skips the simple tier",
            &medium_text,
            ("medium", 0.87),
        ),
        case("complex task", &complex_text, ("complex", 0.845)),
        // Alone in the critical pool: cost score 1, so .475 + .27 + .2.
        Case {
            critical: true,
            reason_has: "critical task (--critical)",
            ..case(
                "--critical takes the critical tier",
                SHORT,
                ("critical", 0.945),
            )
        },
        Case {
            reason_has: "keyword \"production\"",
            ..case(
                "a keyword marks it critical",
                "restart the Production web server",
                ("critical", 0.945),
            )
        },
        Case {
            critical: true,
            exclude: &["critical"],
            reason_has: "no usable critical-tier model",
            ..case("critical without a critical model", SHORT, ("medium", 0.87))
        },
        Case {
            exclude: &["complex"],
            reason_has: "only critical-tier models are rated complex",
            ..case(
                "complex task widens to critical",
                &complex_text,
                ("critical", 0.945),
            )
        },
        Case {
            cooling: &[("medium", 5)],
            ..case("an open breaker skips the model", SHORT, ("complex", 0.845))
        },
        Case {
            cooling: &[("simple", 10), ("medium", 3), ("complex", 7)],
            wait_s: Some(3),
            reason_has: "medium reopens first in 3.0s",
            ..case("all cooling: the first to reopen", SHORT, ("medium", 0.87))
        },
    ];
    for c in &cases {
        let exclude: Vec<String> = c.exclude.iter().map(|m| (*m).to_owned()).collect();
        let ask = Ask {
            description: &c.description,
            critical: c.critical,
            exclude: &exclude,
            ..Ask::default()
        };
        let cooling = |m: &str| {
            c.cooling
                .iter()
                .find(|(n, _)| *n == m)
                .map(|(_, s)| Duration::from_secs(*s))
        };
        let d = decide(&s, &ask, &rates(c.history), cooling)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(
            (d.model.name.as_str(), d.route.score),
            c.want,
            "{}: {:#?}",
            c.name,
            d.ranked
        );
        assert_eq!(d.wait, c.wait_s.map(Duration::from_secs), "{}", c.name);
        assert!(
            d.route.reason.contains(c.reason_has),
            "{}: {}",
            c.name,
            d.route.reason
        );
        assert!(
            d.ranked.iter().all(|r| r.model != "no-key"),
            "{}: a model without a key is never a candidate",
            c.name
        );
    }
}

#[test]
fn cost_is_normalised_to_the_cheapest_candidate() {
    let s = settings(vec![
        model("free", Tier::Medium, (0.0, 0.0), 0.5),
        model("cheap", Tier::Medium, (0.5, 0.5), 0.5),
        model("dear", Tier::Medium, (1.0, 1.0), 0.5),
    ]);
    let d = decide(&s, &Ask::default(), &SuccessRates::default(), |_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let cost: Vec<(&str, f64)> = d
        .ranked
        .iter()
        .map(|r| (r.model.as_str(), r.cost_score))
        .collect();
    // (0 + .01) / (1 + .01) and (0 + .01) / (2 + .01).
    assert_eq!(cost, [("free", 1.0), ("cheap", 0.01), ("dear", 0.005)]);
    // Without the free model, prices are compared among paid ones.
    let d = decide(
        &s,
        &Ask {
            exclude: &["free".to_owned()],
            ..Ask::default()
        },
        &SuccessRates::default(),
        |_| None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dear = d.ranked[1].cost_score;
    assert!(
        (dear - 0.502).abs() < 1e-9,
        "(1 + .01) / (2 + .01), got {dear}"
    );
}

#[test]
fn requested_and_exhausted() {
    let s = catalogue();
    let rates = SuccessRates::default();
    let ask = |requested| Ask {
        description: SHORT,
        requested: Some(requested),
        ..Ask::default()
    };
    let d = decide(&s, &ask("critical"), &rates, |_| None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((d.model.name.as_str(), d.route.score), ("critical", 0.945));
    assert!(d.route.reason.contains("--model"));
    assert!(matches!(
        decide(&s, &ask("no-key"), &rates, |_| None),
        Err(RouteError::NoKey { .. })
    ));
    assert!(matches!(
        decide(&s, &ask("nope"), &rates, |_| None),
        Err(RouteError::UnknownModel { .. })
    ));
    let all: Vec<String> = ["simple", "medium", "complex", "critical"]
        .map(str::to_owned)
        .to_vec();
    let ask = Ask {
        exclude: &all,
        ..Ask::default()
    };
    let e = decide(&s, &ask, &rates, |_| None).err();
    assert_eq!(e, Some(RouteError::Exhausted { tried: all.clone() }));
}

#[test]
fn escalation_routes_one_tier_up() {
    let s = catalogue();
    let ask = Ask {
        description: SHORT,
        at_least: Some(Tier::Complex),
        ..Ask::default()
    };
    let d = decide(&s, &ask, &SuccessRates::default(), |_| None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.model.name, "complex");
    assert!(
        d.route.reason.starts_with("escalated to complex"),
        "{}",
        d.route.reason
    );
}

#[test]
fn success_rate_is_smoothed() {
    let r = rates(&[("a", 10, 10), ("b", 1, 0)]);
    assert!((r.rate("new") - 0.9).abs() < 1e-12);
    assert!((r.rate("a") - 19.0 / 20.0).abs() < 1e-12);
    assert!(
        (r.rate("b") - 9.0 / 11.0).abs() < 1e-12,
        "one failure does not sink a model"
    );
    assert_eq!(r.calls("a"), 10);
}

#[test]
fn complexity_follows_the_design_thresholds() {
    assert_eq!(complexity("count lines").0, Tier::Simple);
    assert_eq!(complexity(&"x".repeat(1000)).0, Tier::Medium);
    assert_eq!(complexity(&"x".repeat(4000)).0, Tier::Complex);
}
