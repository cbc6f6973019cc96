//! `config.toml`: parsing, validation and the resolved [`Settings`].
//!
//! The file is optional. `[defaults]` tunes limits and budgets; `[[models]]`, when
//! present, replaces the built-in catalogue. Keys are never stored here in clear:
//! a model names the environment variable (or vault entry) that holds its key.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::catalogue::builtin_models;
use super::health::HealthConfig;
use super::home::Home;

/// The commented default written by `az-os config init`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../assets/config.toml");

/// A configuration mistake: which file, which key, what is wrong and how to fix it.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: String,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: `{}`: {}\n  fix: {}",
            self.file.display(),
            self.key,
            self.message,
            self.fix
        )
    }
}

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
}

/// Limits and budgets from `[defaults]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Defaults {
    /// ReAct turns before a task fails.
    pub max_turns: u32,
    /// Tasks run at once.
    pub jobs: usize,
    /// Hard cap per task, checked before every model request.
    pub budget_usd_per_task: f64,
    /// Hard cap per UTC day across all tasks.
    pub budget_usd_per_day: f64,
    /// Default timeout of `execute_command`, in seconds.
    pub command_timeout_s: u64,
    /// Time allowed to connect to a provider, in seconds.
    pub connect_timeout_s: u64,
    /// Longest silence allowed inside a streamed reply, in seconds.
    pub stream_idle_timeout_s: u64,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            max_turns: 5,
            jobs: 2,
            budget_usd_per_task: 0.50,
            budget_usd_per_day: 5.00,
            command_timeout_s: 60,
            connect_timeout_s: 10,
            stream_idle_timeout_s: 60,
        }
    }
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
    /// From the built-in catalogue rather than the user's file.
    #[serde(skip)]
    pub builtin: bool,
}

/// Why a model's key could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("vault entry {0} cannot be read: the key vault is not available in this build")]
    VaultUnavailable(String),
}

impl ModelSpec {
    /// The API key, or `None` for providers that need none (Ollama).
    pub fn api_key(&self) -> Result<Option<String>, KeyError> {
        if let Some(v) = &self.api_key {
            let name = v.strip_prefix("vault:").unwrap_or(v);
            return Err(KeyError::VaultUnavailable(name.to_owned()));
        }
        match &self.api_key_env {
            Some(var) => match std::env::var(var) {
                Ok(k) if !k.trim().is_empty() => Ok(Some(k.trim().to_owned())),
                _ => Err(KeyError::EnvMissing(var.clone())),
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

    /// Where the key comes from, for messages (`OPENROUTER_API_KEY`, `vault:NAME`).
    pub fn key_source(&self) -> String {
        match (&self.api_key, &self.api_key_env) {
            (Some(v), _) => v.clone(),
            (None, Some(e)) => e.clone(),
            (None, None) => "none needed".into(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    health: HealthConfig,
    #[serde(default)]
    models: Vec<RawModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
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
}

/// Everything resolved: home, defaults and the models available to the router.
#[derive(Clone, Debug)]
pub struct Settings {
    pub home: Home,
    pub defaults: Defaults,
    pub health: HealthConfig,
    pub models: Vec<ModelSpec>,
    /// Whether `config.toml` existed and was read.
    pub file_loaded: bool,
}

impl Settings {
    /// Reads and validates the config file of `home` (absent means built-in defaults).
    pub fn load(home: Home) -> Result<Self, ConfigError> {
        let path = home.config_file().to_path_buf();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(ConfigError {
                    file: path,
                    key: "(file)".into(),
                    message: format!("cannot be read: {e}"),
                    fix: "check the file's permissions, or pass --config with another file".into(),
                });
            }
        };
        let file_loaded = text.is_some();
        let parsed = match text {
            Some(t) => parse(&path, &t)?,
            None => Parsed {
                defaults: Defaults::default(),
                health: HealthConfig::default(),
                models: builtin_models(),
            },
        };
        Ok(Self {
            home,
            defaults: parsed.defaults,
            health: parsed.health,
            models: parsed.models,
            file_loaded,
        })
    }

    /// The model called `name`.
    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Models whose key is available (or who need none).
    pub fn usable_models(&self) -> impl Iterator<Item = &ModelSpec> {
        self.models.iter().filter(|m| m.has_key())
    }

    /// The effective configuration as TOML, keys shown by source only.
    pub fn to_toml(&self) -> String {
        #[derive(Serialize)]
        struct Shown<'a> {
            defaults: &'a Defaults,
            health: &'a HealthConfig,
            models: &'a [ModelSpec],
        }
        let shown = Shown {
            defaults: &self.defaults,
            health: &self.health,
            models: &self.models,
        };
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }

    /// The error for a user-listed model whose key is missing.
    pub fn missing_key_error(&self, index: usize, spec: &ModelSpec, err: &KeyError) -> ConfigError {
        let (key, fix) = match err {
            KeyError::EnvMissing(var) => (
                format!("models[{index}].api_key_env"),
                format!(
                    "export {var}=<your key> before running, or remove model \"{}\" from the file",
                    spec.name
                ),
            ),
            KeyError::VaultUnavailable(_) => (
                format!("models[{index}].api_key"),
                "use api_key_env = \"NAME_OF_ENV_VAR\" until the key vault is available".into(),
            ),
        };
        ConfigError {
            file: self.home.config_file().to_path_buf(),
            key,
            message: format!("model \"{}\": {err}", spec.name),
            fix,
        }
    }
}

/// What a config file says.
struct Parsed {
    defaults: Defaults,
    health: HealthConfig,
    models: Vec<ModelSpec>,
}

fn parse(path: &Path, text: &str) -> Result<Parsed, ConfigError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
    let err = |key: String, message: String, fix: &str| ConfigError {
        file: path.to_path_buf(),
        key,
        message,
        fix: fix.to_owned(),
    };
    let d = &raw.defaults;
    if !(1..=100).contains(&d.max_turns) {
        return Err(err(
            "defaults.max_turns".into(),
            format!("{} is out of range", d.max_turns),
            "use a number from 1 to 100",
        ));
    }
    if !(1..=64).contains(&d.jobs) {
        return Err(err(
            "defaults.jobs".into(),
            format!("{} is out of range", d.jobs),
            "use a number from 1 to 64",
        ));
    }
    for (key, v) in [
        ("defaults.budget_usd_per_task", d.budget_usd_per_task),
        ("defaults.budget_usd_per_day", d.budget_usd_per_day),
    ] {
        if !v.is_finite() || v < 0.0 {
            return Err(err(
                key.into(),
                format!("{v} is not a valid amount"),
                "use 0 or more USD",
            ));
        }
    }
    for (key, v) in [
        ("defaults.command_timeout_s", d.command_timeout_s),
        ("defaults.connect_timeout_s", d.connect_timeout_s),
        ("defaults.stream_idle_timeout_s", d.stream_idle_timeout_s),
    ] {
        if !(1..=3600).contains(&v) {
            return Err(err(
                key.into(),
                format!("{v} is out of range"),
                "use 1 to 3600 seconds",
            ));
        }
    }
    if let Some((key, message, fix)) = raw.health.invalid() {
        return Err(err(key, message, fix));
    }
    if raw.models.is_empty() {
        return Ok(Parsed {
            defaults: raw.defaults,
            health: raw.health,
            models: builtin_models(),
        });
    }
    let mut models = Vec::with_capacity(raw.models.len());
    for (i, m) in raw.models.into_iter().enumerate() {
        let at = |k: &str| format!("models[{i}].{k}");
        if m.name.trim().is_empty() || m.name.contains(char::is_whitespace) {
            return Err(err(
                at("name"),
                format!("{:?} is not a usable name", m.name),
                "use a short name without spaces, such as \"local-llama\"",
            ));
        }
        if models.iter().any(|x: &ModelSpec| x.name == m.name) {
            return Err(err(
                at("name"),
                format!("\"{}\" is listed twice", m.name),
                "give each [[models]] entry its own name",
            ));
        }
        if m.model.trim().is_empty() {
            return Err(err(
                at("model"),
                "is empty".into(),
                "set the provider's model id, such as \"gpt-4o-mini\"",
            ));
        }
        let base_url = m
            .base_url
            .unwrap_or_else(|| m.provider.default_base_url().to_owned());
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(err(
                at("base_url"),
                format!("{base_url:?} is not an http(s) URL"),
                "use a URL such as \"https://openrouter.ai/api/v1\"",
            ));
        }
        if let Some(k) = &m.api_key
            && !k.starts_with("vault:")
        {
            return Err(err(
                at("api_key"),
                "holds a key in clear text".into(),
                "never put keys in config.toml: use api_key_env = \"ENV_VAR\" or api_key = \"vault:NAME\"",
            ));
        }
        let quality = m.quality.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&quality) {
            return Err(err(
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
                return Err(err(
                    at(k),
                    format!("{v} is not a valid price"),
                    "use 0 or more USD per million tokens",
                ));
            }
        }
        let api_key_env = match (&m.api_key, m.api_key_env) {
            (Some(_), _) => None,
            (None, Some(e)) => Some(e),
            (None, None) => m.provider.default_key_env().map(str::to_owned),
        };
        models.push(ModelSpec {
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
            max_output_tokens: m.max_output_tokens.unwrap_or(4096),
            builtin: false,
        });
    }
    Ok(Parsed {
        defaults: raw.defaults,
        health: raw.health,
        models,
    })
}

fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let (line, key) = match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let key = text
                .get(span.clone())
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .to_owned();
            (Some(line), key)
        }
        None => (None, String::new()),
    };
    let message = e.message().trim().to_owned();
    let fix = if message.starts_with("unknown field") {
        "remove or rename the key; `az-os config init --force` writes a commented example"
    } else {
        "correct the value; `az-os config init --force` writes a commented example"
    };
    ConfigError {
        file: path.to_path_buf(),
        key: match line {
            Some(l) if key.is_empty() => format!("line {l}"),
            Some(l) => format!("{key} (line {l})"),
            None => "(file)".into(),
        },
        message,
        fix: fix.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().map_err(|e| ConfigError {
            file: PathBuf::new(),
            key: String::new(),
            message: e.to_string(),
            fix: String::new(),
        })?;
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).ok();
        let home = Home::resolve(Some(dir.path()), None).map_err(|e| ConfigError {
            file: path.clone(),
            key: String::new(),
            message: e.to_string(),
            fix: String::new(),
        })?;
        Settings::load(home)
    }

    #[test]
    fn shipped_default_parses_and_uses_the_catalogue() -> Result<(), ConfigError> {
        let s = load(DEFAULT_CONFIG_TOML)?;
        assert_eq!(s.defaults, Defaults::default());
        assert_eq!(s.models.len(), 4);
        Ok(())
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = load("[defaults]\nmax_turns = 3\nmax_turnz = 4\n").err();
        let e = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("max_turnz"), "{e}");
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("fix:"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let e = load("[defaults]\nmax_turns = 0\n").err().map(|e| e.key);
        assert_eq!(e.as_deref(), Some("defaults.max_turns"));
        let e = load("[[models]]\nname='a'\nprovider='openai'\nmodel='m'\nquality=2.0\n")
            .err()
            .map(|e| e.key);
        assert_eq!(e.as_deref(), Some("models[0].quality"));
    }

    #[test]
    fn user_models_replace_the_catalogue_with_provider_defaults() -> Result<(), ConfigError> {
        let s = load("[[models]]\nname='local'\nprovider='ollama'\nmodel='llama3.2'\n")?;
        assert_eq!(s.models.len(), 1);
        let m = &s.models[0];
        assert_eq!(m.base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(m.api_key_env, None);
        assert!(m.has_key());
        Ok(())
    }

    #[test]
    fn clear_text_keys_are_refused() {
        let e = load("[[models]]\nname='a'\nprovider='openai'\nmodel='m'\napi_key='sk-123'\n")
            .err()
            .map(|e| e.key);
        assert_eq!(e.as_deref(), Some("models[0].api_key"));
    }

    #[test]
    fn costs_use_per_million_prices() {
        let m = &builtin_models()[3];
        assert!((m.cost_usd(1_000_000, 100_000) - 4.5).abs() < 1e-9);
    }
}
