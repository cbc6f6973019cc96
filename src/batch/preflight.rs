//! Before any task runs: make sure a model can answer. User-listed models must
//! have their keys; with no usable model at all, a local Ollama is offered, and
//! failing that the user is told exactly how to add one (exit 2).

use std::time::Duration;

use color_eyre::eyre::{Result, eyre};

use crate::cli::Exit;
use crate::config::{ADD_MODEL_HINT, ModelSpec, Provider, Settings, Tier};

/// Ollama's address: `OLLAMA_HOST` (as Ollama itself reads it), else its default.
fn ollama_addr() -> String {
    let host = std::env::var("OLLAMA_HOST").unwrap_or_default();
    let host = host
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/');
    match host {
        "" => "127.0.0.1:11434".to_owned(),
        h if h.contains(':') => h.to_owned(),
        h => format!("{h}:11434"),
    }
}

pub fn ensure_model(settings: &mut Settings, requested: Option<&str>, quiet: bool) -> Result<()> {
    if let Some(name) = requested {
        let Some((i, spec)) = settings
            .models
            .iter()
            .enumerate()
            .find(|(_, m)| m.name == name)
        else {
            let known: Vec<&str> = settings.models.iter().map(|m| m.name.as_str()).collect();
            return Err(eyre!(Exit::usage(format!(
                "--model {name}: no such model; configured models: {}",
                known.join(", ")
            ))));
        };
        if let Err(e) = spec.api_key() {
            return Err(eyre!(Exit::usage(key_message(settings, i, spec, &e))));
        }
        return Ok(());
    }
    // Models the user listed must be usable: a missing key is a config error.
    for (i, m) in settings
        .models
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.builtin)
    {
        if let Err(e) = m.api_key() {
            return Err(eyre!(Exit::usage(key_message(settings, i, m, &e))));
        }
    }
    if settings.usable_models().next().is_some() {
        return Ok(());
    }
    if let Some(spec) = ollama_specs(Duration::from_millis(300)).into_iter().next() {
        if !quiet {
            eprintln!(
                "az-os: no API key found; using the local Ollama model {}. \
                 To choose, list it under [[models]] in {}",
                spec.model,
                settings.home.config_file().display()
            );
        }
        settings.models.push(spec);
        return Ok(());
    }
    Err(eyre!(Exit::usage(format!(
        "no model is configured; {ADD_MODEL_HINT}"
    ))))
}

fn key_message(
    settings: &Settings,
    i: usize,
    spec: &ModelSpec,
    e: &crate::config::KeyError,
) -> String {
    if spec.builtin {
        format!(
            "model {} needs an API key: {e}; export it, or {ADD_MODEL_HINT}",
            spec.name
        )
    } else {
        settings.missing_key_error(i, spec, e).to_string()
    }
}

/// The models a local Ollama has pulled, as catalogue entries (`ollama:NAME`, free, no
/// key), or nothing if it does not answer within `connect`.
pub fn ollama_specs(connect: Duration) -> Vec<ModelSpec> {
    ollama_models(connect)
        .into_iter()
        .map(|model| ModelSpec {
            name: format!("ollama:{model}"),
            provider: Provider::Ollama,
            model,
            base_url: format!("http://{}/v1", ollama_addr()),
            api_key_env: None,
            api_key: None,
            tier: Tier::Complex,
            input_usd_per_mtok: 0.0,
            output_usd_per_mtok: 0.0,
            quality: 0.5,
            max_output_tokens: 4096,
            requests_per_minute: None,
            tokens_per_minute: None,
            stream: true,
            tool_calls: crate::config::ToolCalls::Auto,
            builtin: true,
        })
        .collect()
}

/// Names of the models a local Ollama has pulled, or nothing if it is not running.
/// Plain HTTP/1.0 over a socket with short timeouts: this runs before any runtime.
fn ollama_models(connect: Duration) -> Vec<String> {
    use std::io::{Read, Write};
    let Ok(addr) = ollama_addr().parse() else {
        return Vec::new();
    };
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, connect) else {
        return Vec::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /api/tags HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return Vec::new();
    }
    let mut buf = Vec::new();
    let _ = s.take(4 * 1024 * 1024).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let Some(body) = text.split("\r\n\r\n").nth(1) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return Vec::new();
    };
    v["models"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
