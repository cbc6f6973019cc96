//! Component checks: the database answers a query, each provider's models
//! endpoint answers (no tokens spent), the key vault file is sound.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Level;
use crate::config::{ModelSpec, Provider};

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentCheck {
    /// What was checked: `database`, `vault`, or a provider's host.
    pub name: String,
    /// `database`, `provider` or `vault`.
    pub kind: String,
    pub level: Level,
    pub latency_ms: Option<f64>,
    /// What was found, in a few words.
    pub detail: String,
    /// For a provider endpoint: the configured models on it (`[[models]]` names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}

/// A query is slower than this: the database is degraded.
const DB_SLOW_MS: f64 = 250.0;

/// Opens the store and runs a query; with `deep`, SQLite's `quick_check` too.
pub fn database(at: &crate::store::Location, deep: bool) -> ComponentCheck {
    let t0 = Instant::now();
    let result = (|| -> Result<String, String> {
        let conn = crate::store::open_at(at).map_err(|e| e.to_string())?;
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM tasks", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        if let crate::store::Db::Postgres(pg) = &conn {
            return Ok(format!("{n} tasks, PostgreSQL at {}", pg.borrow().server()));
        }
        if deep {
            let verdict: String = conn
                .query_row("PRAGMA quick_check", [], |r| r.get(0))
                .map_err(|e| e.to_string())?;
            if verdict != "ok" {
                return Err(format!("quick_check: {verdict}"));
            }
            return Ok(format!("{n} tasks, quick_check ok"));
        }
        Ok(format!("{n} tasks"))
    })();
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let (level, detail) = match result {
        Ok(d) if ms > DB_SLOW_MS => (Level::Degraded, format!("{d}; slow ({ms:.0} ms)")),
        Ok(d) => (Level::Healthy, d),
        Err(e) => (Level::Unhealthy, e),
    };
    ComponentCheck {
        name: "database".into(),
        kind: "database".into(),
        level,
        latency_ms: Some(ms),
        detail,
        models: Vec::new(),
    }
}

/// A worker on the shared queue that has not said it stopped, as a component of kind
/// `worker` named `worker:NAME`: healthy while it heartbeats, unhealthy once it has
/// gone quiet (its tasks become `interrupted` when their leases run out).
pub fn worker(w: &crate::store::queue::Worker, now: f64) -> ComponentCheck {
    let alive = w.alive(now);
    ComponentCheck {
        name: format!("worker:{}", w.name),
        kind: "worker".into(),
        level: if alive {
            Level::Healthy
        } else {
            Level::Unhealthy
        },
        latency_ms: None,
        detail: format!(
            "{} · {}/{} running · {} since its heartbeat",
            w.host,
            w.running,
            w.jobs,
            crate::util::time::age(now - w.heartbeat_at)
        ),
        models: Vec::new(),
    }
}

/// The vault file, when there is one: readable JSON, private to the user.
pub fn vault(home: &Path) -> Option<ComponentCheck> {
    let path = home.join("vault.json");
    let meta = std::fs::metadata(&path).ok()?;
    let mode = meta.permissions().mode() & 0o777;
    let (level, detail) = match std::fs::read_to_string(&path) {
        Err(e) => (Level::Unhealthy, format!("cannot read: {e}")),
        Ok(t) if serde_json::from_str::<serde_json::Value>(&t).is_err() => (
            Level::Unhealthy,
            "not valid JSON: restore it from a backup".to_owned(),
        ),
        Ok(_) if mode & 0o077 != 0 => (
            Level::Degraded,
            format!(
                "mode {mode:o} lets others read it; run chmod 600 {}",
                path.display()
            ),
        ),
        Ok(_) => (Level::Healthy, "present, mode 600".to_owned()),
    };
    Some(ComponentCheck {
        name: "vault".into(),
        kind: "vault".into(),
        level,
        latency_ms: None,
        detail,
        models: Vec::new(),
    })
}

/// A provider endpoint shared by one or more models.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub name: String,
    pub provider: Provider,
    pub base_url: String,
    pub key: Option<String>,
    /// The configured models on this endpoint: (name, the provider's model id).
    pub models: Vec<(String, String)>,
}

/// The distinct endpoints of the models that have a key (others cannot be used,
/// so they are not checked).
pub fn endpoints(models: &[ModelSpec]) -> Vec<Endpoint> {
    let mut by_url: BTreeMap<String, Endpoint> = BTreeMap::new();
    for m in models {
        let Ok(key) = m.api_key() else { continue };
        let e = by_url
            .entry(m.base_url.clone())
            .or_insert_with(|| Endpoint {
                name: host(&m.base_url),
                provider: m.provider,
                base_url: m.base_url.clone(),
                key,
                models: Vec::new(),
            });
        e.models.push((m.name.clone(), m.model.clone()));
    }
    by_url.into_values().collect()
}

fn host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// The model ids a `GET /models` answer lists (OpenAI, Anthropic and Ollama all give
/// `{"data": [{"id": …}]}`); empty when it lists none or is not that shape.
fn served(body: &str) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("data")?.as_array().map(|a| {
                a.iter()
                    .filter_map(|m| m.get("id")?.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// What a check asks for: the model list (which needs the key on OpenAI, Anthropic,
/// Gemini and Mistral), but OpenRouter's `GET /key` (its model list is public, so it would
/// say nothing of the key).
pub fn probe_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if host(base) == "openrouter.ai" {
        format!("{base}/key")
    } else {
        format!("{base}/models")
    }
}

/// The provider's own words from an error answer (`{"error": {"message": …}}`,
/// `{"error": "…"}`, `{"message": …}`, or a short plain body), redacted, one line.
pub fn reason(body: &str) -> String {
    let v = serde_json::from_str::<serde_json::Value>(body).ok();
    let said = v.as_ref().and_then(|v| {
        let e = v.get("error");
        e.and_then(|e| e.get("message"))
            .or(e)
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    });
    let text = match said {
        Some(t) => t,
        None if v.is_none() && !body.trim_start().starts_with('<') => body.to_owned(),
        None => String::new(),
    };
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::util::text::ellipsize(&crate::redact::redact(&one_line), 160)
}

/// Asks the endpoint for its model list: reachable, key accepted, how fast, and whether
/// it serves the models configured on it (when it publishes a list).
pub async fn provider(
    http: &reqwest::Client,
    ep: &Endpoint,
    timeout: Duration,
    slow: Duration,
) -> ComponentCheck {
    let mut rb = http.get(probe_url(&ep.base_url)).timeout(timeout);
    if let Some(key) = &ep.key {
        rb = match ep.provider {
            Provider::Anthropic => rb
                .header("x-api-key", key)
                .header("anthropic-version", "2023-06-01"),
            _ => rb.bearer_auth(key),
        };
    }
    let t0 = Instant::now();
    let result = rb.send().await;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let for_models = ep
        .models
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let (level, detail) = match result {
        Ok(r) if r.status().is_success() => {
            let listed = r.text().await.map(|t| served(&t)).unwrap_or_default();
            let missing: Vec<&(String, String)> = ep
                .models
                .iter()
                .filter(|(_, id)| !listed.is_empty() && !listed.iter().any(|l| l == id))
                .collect();
            if let Some((name, id)) = missing.first() {
                (
                    Level::Degraded,
                    format!(
                        "model not served: {name} asks for {id:?}, the server lists {}; set model = one of them in config.toml",
                        crate::util::text::ellipsize(&listed.join(", "), 120)
                    ),
                )
            } else if ms > slow.as_secs_f64() * 1000.0 {
                (Level::Degraded, format!("slow: {ms:.0} ms ({for_models})"))
            } else {
                (Level::Healthy, format!("up ({for_models})"))
            }
        }
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => {
            let status = r.status().as_u16();
            let why = r.text().await.map(|t| reason(&t)).unwrap_or_default();
            (
                Level::Unhealthy,
                if why.is_empty() {
                    format!("key rejected (HTTP {status}) for {for_models}")
                } else {
                    format!("key rejected (HTTP {status}: {why}) for {for_models}")
                },
            )
        }
        // A server failing its own model list fails requests too.
        Ok(r) if r.status().is_server_error() => (
            Level::Unhealthy,
            format!("answers HTTP {} ({for_models})", r.status().as_u16()),
        ),
        Ok(r) => (
            Level::Degraded,
            format!("answers HTTP {} ({for_models})", r.status().as_u16()),
        ),
        Err(e) if e.is_timeout() => (
            Level::Unhealthy,
            format!("no answer within {} ms ({for_models})", timeout.as_millis()),
        ),
        Err(e) => {
            let why = crate::llm::LlmError::from_reqwest(&e).message;
            (
                Level::Unhealthy,
                format!(
                    "unreachable: {} ({for_models})",
                    crate::util::text::ellipsize(&why, 120)
                ),
            )
        }
    };
    ComponentCheck {
        name: ep.name.clone(),
        kind: "provider".into(),
        level,
        latency_ms: Some(ms),
        detail,
        models: ep.models.iter().map(|(name, _)| name.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::{probe_url, reason};

    #[test]
    fn openrouter_is_asked_about_the_key_and_others_for_their_models() {
        assert_eq!(
            probe_url("https://openrouter.ai/api/v1"),
            "https://openrouter.ai/api/v1/key"
        );
        assert_eq!(
            probe_url("https://api.mistral.ai/v1/"),
            "https://api.mistral.ai/v1/models"
        );
        assert_eq!(
            probe_url("http://127.0.0.1:8080/v1"),
            "http://127.0.0.1:8080/v1/models"
        );
    }

    #[test]
    fn a_providers_reason_is_one_short_line_from_any_shape() {
        let openai =
            r#"{"error": {"message": "Incorrect API key provided: sk-ab***", "type": "x"}}"#;
        assert_eq!(reason(openai), "Incorrect API key provided: sk-ab***");
        assert_eq!(
            reason(r#"{"error": "invalid key\nplease"}"#),
            "invalid key please"
        );
        assert_eq!(reason(r#"{"message": "Unauthorized"}"#), "Unauthorized");
        assert_eq!(reason("<html><body>401</body></html>"), "");
        assert_eq!(reason("no such key"), "no such key");
        assert!(reason(&"é".repeat(500)).chars().count() <= 160);
    }
}
