//! One model the router may use: its provider, tier, prices, quality prior and rate limits
//! ([`ModelSpec`]), and how a `[[models]]` entry of `config.toml` becomes one, with every
//! value checked. Where the key comes from is recorded; the key itself never is.
//!
//! This module does not choose between models (that is `engine::route`) and does not know
//! the built-in catalogue (`catalogue.rs`).

use serde::{Deserialize, Serialize};

/// Which wire protocol a model speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Any OpenAI-compatible chat-completions API (OpenAI, OpenRouter, Mistral, ...).
    Openai,
    /// Anthropic's native Messages API.
    Anthropic,
    /// Google Gemini through its OpenAI-compatible endpoint (tools and streaming work there).
    Gemini,
    /// A local Ollama server through its OpenAI-compatible `/v1`; needs no key.
    Ollama,
}

impl Provider {
    pub fn default_base_url(self) -> &'static str {
        match self {
            Self::Openai => "https://api.openai.com/v1",
            Self::Anthropic => "https://api.anthropic.com/v1",
            Self::Gemini => "https://generativelanguage.googleapis.com/v1beta/openai",
            Self::Ollama => "http://127.0.0.1:11434/v1",
        }
    }

    pub fn default_key_env(self) -> Option<&'static str> {
        match self {
            Self::Openai => Some("OPENAI_API_KEY"),
            Self::Anthropic => Some("ANTHROPIC_API_KEY"),
            Self::Gemini => Some("GEMINI_API_KEY"),
            Self::Ollama => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Ollama => "ollama",
        }
    }
}

/// How demanding a task is, and so which models may take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Simple,
    Medium,
    Complex,
    Critical,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Medium => "medium",
            Self::Complex => "complex",
            Self::Critical => "critical",
        }
    }

    /// The tier above this one (critical stays critical).
    #[must_use]
    pub fn next(self) -> Self {
        match self {
            Self::Simple => Self::Medium,
            Self::Medium => Self::Complex,
            Self::Complex | Self::Critical => Self::Critical,
        }
    }
}

/// `tool_calls` of a model: how it is offered tools and how its calls are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolCalls {
    /// Native tool calling only (`tools` in the request, `tool_calls` in the reply).
    Native,
    /// Native, and calls written as text in the reply are parsed too (the default:
    /// small local models often write them out).
    #[default]
    Auto,
    /// No `tools` field (for servers that drop it): the tools are described in the
    /// system prompt and calls are parsed from the reply's text.
    Text,
}

/// One model the router may use.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelSpec {
    pub name: String,
    pub provider: Provider,
    pub model: String,
    pub base_url: String,
    pub api_key_env: Option<String>,
    pub api_key: Option<String>,
    pub tier: Tier,
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    pub quality: f64,
    pub max_output_tokens: u32,
    /// Client-side limit of the provider endpoint (`base_url`), shared by all workers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u32>,
    /// Ask for a streamed reply (`stream = false` for servers that cannot stream tool
    /// calls, such as llama-cpp-python's function-calling mode).
    pub stream: bool,
    /// How tools reach the model and its calls come back.
    pub tool_calls: ToolCalls,
    /// From the built-in catalogue rather than the user's file.
    #[serde(skip)]
    pub builtin: bool,
}

/// Why a model's key could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    /// `api_key = "vault:NAME"` could not be resolved; `fix` says what to do.
    #[error("vault entry {name} cannot be read from {}: {reason}", file.display())]
    Vault {
        name: String,
        file: std::path::PathBuf,
        reason: String,
        fix: String,
    },
}

impl ModelSpec {
    /// The API key, or `None` for providers that need none (Ollama).
    pub fn api_key(&self) -> Result<Option<String>, KeyError> {
        if let Some(v) = &self.api_key {
            let name = v.strip_prefix("vault:").unwrap_or(v);
            // Opens the vault once per process; the copy returned here is the caller's.
            return crate::vault::key(name).map(|k| Some(k.as_str().to_owned()));
        }
        // Remembered so a redactor can mask the value (`vault::secrets`).
        if let Some(var) = &self.api_key_env {
            crate::vault::note_key_env(var);
        }
        match &self.api_key_env {
            Some(var) => match crate::vault::env_key(var) {
                Some(k) => Ok(Some(k.as_str().to_owned())),
                None => Err(KeyError::EnvMissing(var.clone())),
            },
            None => Ok(None),
        }
    }

    /// Whether a request could be authenticated right now.
    pub fn has_key(&self) -> bool {
        self.api_key().is_ok()
    }

    /// Cost in USD of a call with these token counts.
    pub fn cost_usd(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_usd_per_mtok
            + output_tokens as f64 * self.output_usd_per_mtok)
            / 1_000_000.0
    }

    /// The price the router compares: input plus output USD per million tokens.
    pub fn blended_price(&self) -> f64 {
        self.input_usd_per_mtok + self.output_usd_per_mtok
    }

    /// Where the key comes from, for messages (`OPENROUTER_API_KEY`, `vault:NAME`).
    pub fn key_source(&self) -> String {
        match (&self.api_key, &self.api_key_env) {
            (Some(v), _) => v.clone(),
            (None, Some(e)) => e.clone(),
            (None, None) => "none needed".into(),
        }
    }
}

/// A `[[models]]` entry as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModel {
    name: String,
    provider: Provider,
    model: String,
    base_url: Option<String>,
    api_key_env: Option<String>,
    api_key: Option<String>,
    tier: Option<Tier>,
    #[serde(default)]
    input_usd_per_mtok: f64,
    #[serde(default)]
    output_usd_per_mtok: f64,
    quality: Option<f64>,
    max_output_tokens: Option<u32>,
    requests_per_minute: Option<u32>,
    tokens_per_minute: Option<u32>,
    stream: Option<bool>,
    tool_calls: Option<ToolCalls>,
}

/// A bad value in entry `models[i]`: (key, problem, fix).
pub(super) type Invalid = (String, String, &'static str);

impl RawModel {
    /// Checks entry `index` and resolves its defaults. `taken` holds the names listed
    /// before it in the same file.
    pub(super) fn resolve(self, index: usize, taken: &[ModelSpec]) -> Result<ModelSpec, Invalid> {
        let at = |k: &str| format!("models[{index}].{k}");
        let m = self;
        if m.name.trim().is_empty() || m.name.contains(char::is_whitespace) {
            return Err((
                at("name"),
                format!("{:?} is not a usable name", m.name),
                "use a short name without spaces, such as \"local-llama\"",
            ));
        }
        if taken.iter().any(|x| x.name == m.name) {
            return Err((
                at("name"),
                format!("\"{}\" is listed twice", m.name),
                "give each [[models]] entry its own name",
            ));
        }
        if m.model.trim().is_empty() {
            return Err((
                at("model"),
                "is empty".into(),
                "set the provider's model id, such as \"gpt-4o-mini\"",
            ));
        }
        let base_url = m
            .base_url
            .unwrap_or_else(|| m.provider.default_base_url().to_owned());
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err((
                at("base_url"),
                format!("{base_url:?} is not an http(s) URL"),
                "use a URL such as \"https://openrouter.ai/api/v1\"",
            ));
        }
        if let Some(k) = &m.api_key
            && !k.starts_with("vault:")
        {
            return Err((
                at("api_key"),
                "holds a key in clear text".into(),
                "never put keys in config.toml: use api_key_env = \"ENV_VAR\" or api_key = \"vault:NAME\"",
            ));
        }
        if let Some(var) = &m.api_key_env
            && !valid_env_name(var)
        {
            return Err((
                at("api_key_env"),
                format!("{var:?} is not an environment variable name"),
                "name the variable that holds the key, e.g. api_key_env = \"OPENROUTER_API_KEY\" (letters, digits and `_`, not starting with a digit), or use api_key = \"vault:NAME\"",
            ));
        }
        if let Some(name) = m.api_key.as_deref().and_then(|k| k.strip_prefix("vault:"))
            && !crate::vault::valid_name(name)
        {
            return Err((
                at("api_key"),
                format!("{name:?} is not a vault entry name"),
                "use \"vault:NAME\" with NAME made of letters, digits, `_`, `.` or `-` (at most 64), as stored by `az-os keys set NAME`",
            ));
        }
        let quality = m.quality.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&quality) {
            return Err((
                at("quality"),
                format!("{quality} is outside 0..1"),
                "use a number from 0.0 to 1.0",
            ));
        }
        for (k, v) in [
            ("input_usd_per_mtok", m.input_usd_per_mtok),
            ("output_usd_per_mtok", m.output_usd_per_mtok),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err((
                    at(k),
                    format!("{v} is not a valid price"),
                    "use 0 or more USD per million tokens",
                ));
            }
        }
        let max_output_tokens = m.max_output_tokens.unwrap_or(4096);
        if !(1..=1_000_000).contains(&max_output_tokens) {
            return Err((
                at("max_output_tokens"),
                format!("{max_output_tokens} is out of range"),
                "use 1 to 1000000 tokens (the budget check counts every one of them)",
            ));
        }
        for (k, v, hi) in [
            ("requests_per_minute", m.requests_per_minute, 1_000_000),
            ("tokens_per_minute", m.tokens_per_minute, 1_000_000_000),
        ] {
            if let Some(v) = v
                && !(1..=hi).contains(&v)
            {
                return Err((
                    at(k),
                    format!("{v} is out of range"),
                    "use a positive per-minute limit, or leave the key out for no limit",
                ));
            }
        }
        let api_key_env = match (&m.api_key, m.api_key_env) {
            (Some(_), _) => None,
            (None, Some(e)) => Some(e),
            (None, None) => m.provider.default_key_env().map(str::to_owned),
        };
        Ok(ModelSpec {
            name: m.name,
            provider: m.provider,
            model: m.model,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key_env,
            api_key: m.api_key,
            tier: m.tier.unwrap_or(Tier::Medium),
            input_usd_per_mtok: m.input_usd_per_mtok,
            output_usd_per_mtok: m.output_usd_per_mtok,
            quality,
            max_output_tokens,
            requests_per_minute: m.requests_per_minute,
            tokens_per_minute: m.tokens_per_minute,
            stream: m.stream.unwrap_or(true),
            tool_calls: m.tool_calls.unwrap_or_default(),
            builtin: false,
        })
    }
}

/// A name `export NAME=…` accepts: letters, digits and `_`, not starting with a digit.
pub fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
}
