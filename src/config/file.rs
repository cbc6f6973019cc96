//! `config.toml`: parsing, validation and the resolved [`Settings`].
//!
//! The file is optional. `[defaults]` tunes limits, budgets and retries; `[health]` the
//! health checks; `[routing]` the router; `[[models]]`, when present, replaces the built-in
//! catalogue (or extends it with `routing.extend_catalogue`). Keys are never stored here in
//! clear: a model names the environment variable (or vault entry) that holds its key.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::catalogue::builtin_models;
use super::health::HealthConfig;
use super::home::Home;
use super::model::{KeyError, ModelSpec, RawModel};
use super::routing::RoutingConfig;
use super::security::{AuditConfig, PolicyConfig, SandboxConfig};

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

/// Limits and budgets from `[defaults]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Defaults {
    /// ReAct turns before a task fails.
    pub max_turns: u32,
    /// Tool calls run from one reply; the rest are skipped and the model is told.
    pub max_tool_calls_per_turn: usize,
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
    /// Longest wait for progress, in seconds: for the response headers, and inside a
    /// streamed reply for the next event with data (keep-alive comments do not count).
    pub stream_idle_timeout_s: u64,
    /// Longest time one model request may take as a whole (headers and the streamed or
    /// whole reply), in seconds.
    pub request_timeout_s: u64,
    /// Attempts per model request, the first included, before the model counts as failing.
    pub retry_attempts: u32,
    /// Longest wait between attempts, in seconds (backoff 1 s, 2 s, 4 s … is capped here).
    /// A `Retry-After` longer than this is not waited out: the task falls back instead.
    pub retry_max_delay_s: f64,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            max_turns: 5,
            max_tool_calls_per_turn: 16,
            jobs: 2,
            budget_usd_per_task: 0.50,
            budget_usd_per_day: 5.00,
            command_timeout_s: 60,
            connect_timeout_s: 10,
            stream_idle_timeout_s: 60,
            request_timeout_s: 600,
            retry_attempts: 3,
            retry_max_delay_s: 60.0,
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
    tui: super::tui::TuiConfig,
    #[serde(default)]
    routing: RoutingConfig,
    #[serde(default)]
    policy: PolicyConfig,
    #[serde(default)]
    sandbox: SandboxConfig,
    #[serde(default)]
    audit: AuditConfig,
    #[serde(default)]
    knowledge: super::knowledge::KnowledgeConfig,
    #[serde(default)]
    memory: super::memory::MemoryConfig,
    #[serde(default)]
    checkpoints: super::checkpoints::CheckpointsConfig,
    #[serde(default)]
    store: super::store::StoreConfig,
    #[serde(default)]
    mcp: super::mcp::McpConfig,
    #[serde(default)]
    mcp_servers: Vec<super::mcp::McpServerConfig>,
    #[serde(default)]
    models: Vec<RawModel>,
}

/// Everything resolved: home, defaults and the models available to the router.
#[derive(Clone, Debug)]
pub struct Settings {
    pub home: Home,
    pub defaults: Defaults,
    pub health: HealthConfig,
    pub routing: RoutingConfig,
    pub tui: super::tui::TuiConfig,
    pub policy: PolicyConfig,
    pub sandbox: SandboxConfig,
    pub audit: AuditConfig,
    pub knowledge: super::knowledge::KnowledgeConfig,
    pub memory: super::memory::MemoryConfig,
    pub checkpoints: super::checkpoints::CheckpointsConfig,
    /// `[store]`: the shared PostgreSQL store, when set.
    pub store: super::store::StoreConfig,
    /// `[mcp]`: knobs for every MCP server.
    pub mcp: super::mcp::McpConfig,
    /// `[[mcp_servers]]`, validated, in file order (disabled ones included).
    pub mcp_servers: Vec<super::mcp::McpServerConfig>,
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
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(ConfigError {
                    file: path,
                    key: "(file)".into(),
                    message: "is not UTF-8 text".into(),
                    fix: "save it as UTF-8 (TOML files must be), e.g. `iconv -f latin1 -t utf-8`"
                        .into(),
                });
            }
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
                routing: RoutingConfig::default(),
                tui: super::tui::TuiConfig::default(),
                policy: PolicyConfig::default(),
                sandbox: SandboxConfig::default(),
                audit: AuditConfig::default(),
                knowledge: super::knowledge::KnowledgeConfig::default(),
                memory: super::memory::MemoryConfig::default(),
                checkpoints: super::checkpoints::CheckpointsConfig::default(),
                store: super::store::StoreConfig::default(),
                mcp: super::mcp::McpConfig::default(),
                mcp_servers: Vec::new(),
                models: builtin_models(),
            },
        };
        // Every configured key is a secret from now on, whichever model runs: redaction
        // masks its value and commands never see its variable (`vault::secret_env_vars`).
        for var in parsed
            .models
            .iter()
            .filter_map(|m| m.api_key_env.as_deref())
        {
            crate::vault::note_key_env(var);
        }
        Ok(Self {
            home,
            defaults: parsed.defaults,
            health: parsed.health,
            routing: parsed.routing,
            tui: parsed.tui,
            policy: parsed.policy,
            sandbox: parsed.sandbox,
            audit: parsed.audit,
            knowledge: parsed.knowledge,
            memory: parsed.memory,
            checkpoints: parsed.checkpoints,
            store: parsed.store,
            mcp: parsed.mcp,
            mcp_servers: parsed.mcp_servers,
            models: parsed.models,
            file_loaded,
        })
    }

    /// Where the store is: `AZ_OS_DATABASE_URL`, `[store] url`, or the home's SQLite
    /// file. A `vault:` password is read from the vault here.
    pub fn store_location(&self) -> Result<crate::store::Location, crate::store::StoreError> {
        crate::store::Location::resolve(&self.home.database(), &self.store)
    }

    /// The model called `name`.
    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Models whose key is available (or who need none).
    pub fn usable_models(&self) -> impl Iterator<Item = &ModelSpec> {
        self.models.iter().filter(|m| m.has_key())
    }

    /// The rate limits of `spec`'s endpoint: limits are per provider endpoint (`base_url`),
    /// so when several models share one, the tightest value any of them gives applies.
    pub fn endpoint_limits(&self, spec: &ModelSpec) -> (Option<u32>, Option<u32>) {
        let tightest = |get: fn(&ModelSpec) -> Option<u32>| {
            self.models
                .iter()
                .filter(|m| m.base_url == spec.base_url)
                .filter_map(get)
                .chain(get(spec))
                .min()
        };
        (
            tightest(|m| m.requests_per_minute),
            tightest(|m| m.tokens_per_minute),
        )
    }

    /// The effective configuration as TOML, keys shown by source only.
    pub fn to_toml(&self) -> String {
        #[derive(Serialize)]
        struct Shown<'a> {
            defaults: &'a Defaults,
            health: &'a HealthConfig,
            routing: &'a RoutingConfig,
            policy: &'a PolicyConfig,
            sandbox: &'a SandboxConfig,
            audit: &'a AuditConfig,
            knowledge: &'a super::knowledge::KnowledgeConfig,
            memory: &'a super::memory::MemoryConfig,
            checkpoints: &'a super::checkpoints::CheckpointsConfig,
            store: super::store::StoreConfig,
            mcp: &'a super::mcp::McpConfig,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            mcp_servers: &'a [super::mcp::McpServerConfig],
            models: &'a [ModelSpec],
        }
        let shown = Shown {
            defaults: &self.defaults,
            health: &self.health,
            routing: &self.routing,
            policy: &self.policy,
            sandbox: &self.sandbox,
            audit: &self.audit,
            knowledge: &self.knowledge,
            memory: &self.memory,
            checkpoints: &self.checkpoints,
            store: self.store.shown(),
            mcp: &self.mcp,
            mcp_servers: &self.mcp_servers,
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
            KeyError::Vault { fix, .. } => (format!("models[{index}].api_key"), fix.clone()),
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
    routing: RoutingConfig,
    tui: super::tui::TuiConfig,
    policy: PolicyConfig,
    sandbox: SandboxConfig,
    audit: AuditConfig,
    knowledge: super::knowledge::KnowledgeConfig,
    memory: super::memory::MemoryConfig,
    checkpoints: super::checkpoints::CheckpointsConfig,
    store: super::store::StoreConfig,
    mcp: super::mcp::McpConfig,
    mcp_servers: Vec<super::mcp::McpServerConfig>,
    models: Vec<ModelSpec>,
}

fn parse(path: &Path, text: &str) -> Result<Parsed, ConfigError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
    let err = |(key, message, fix): (String, String, &str)| ConfigError {
        file: path.to_path_buf(),
        key,
        message,
        fix: fix.to_owned(),
    };
    if let Some(bad) = raw.defaults.invalid() {
        return Err(err(bad));
    }
    if let Some(bad) = raw.health.invalid() {
        return Err(err(bad));
    }
    if let Some(bad) = raw.routing.invalid() {
        return Err(err(bad));
    }
    if let Some(bad) = raw
        .policy
        .invalid()
        .or_else(|| raw.sandbox.invalid())
        .or_else(|| raw.audit.invalid())
        .or_else(|| raw.knowledge.invalid())
        .or_else(|| raw.memory.invalid())
        .or_else(|| raw.checkpoints.invalid())
        .or_else(|| raw.store.invalid())
        .or_else(|| raw.mcp.invalid())
    {
        return Err(err(bad));
    }
    super::mcp::validate_servers(&raw.mcp_servers).map_err(err)?;
    let mut models: Vec<ModelSpec> = Vec::with_capacity(raw.models.len());
    for (i, m) in raw.models.into_iter().enumerate() {
        models.push(m.resolve(i, &models).map_err(err)?);
    }
    if models.is_empty() {
        models = builtin_models();
    } else if raw.routing.extend_catalogue {
        // The user's entries first (they replace built-ins of the same name), then the rest
        // of the catalogue; `models[i]` in messages keeps pointing at the file's entries.
        let extra: Vec<ModelSpec> = builtin_models()
            .into_iter()
            .filter(|b| !models.iter().any(|m| m.name == b.name))
            .collect();
        models.extend(extra);
    }
    Ok(Parsed {
        defaults: raw.defaults,
        health: raw.health,
        routing: raw.routing,
        tui: raw.tui,
        policy: raw.policy,
        sandbox: raw.sandbox,
        audit: raw.audit,
        knowledge: raw.knowledge,
        memory: raw.memory,
        checkpoints: raw.checkpoints,
        store: raw.store,
        mcp: raw.mcp,
        mcp_servers: raw.mcp_servers,
        models,
    })
}

impl Defaults {
    /// The first invalid setting as (key, problem, fix).
    fn invalid(&self) -> Option<(String, String, &'static str)> {
        let d = self;
        if !(1..=100).contains(&d.max_turns) {
            return Some((
                "defaults.max_turns".into(),
                format!("{} is out of range", d.max_turns),
                "use a number from 1 to 100",
            ));
        }
        if !(1..=256).contains(&d.max_tool_calls_per_turn) {
            return Some((
                "defaults.max_tool_calls_per_turn".into(),
                format!("{} is out of range", d.max_tool_calls_per_turn),
                "use a number from 1 to 256",
            ));
        }
        if !(1..=64).contains(&d.jobs) {
            return Some((
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
                return Some((
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
                return Some((
                    key.into(),
                    format!("{v} is out of range"),
                    "use 1 to 3600 seconds",
                ));
            }
        }
        if !(1..=86_400).contains(&d.request_timeout_s) {
            return Some((
                "defaults.request_timeout_s".into(),
                format!("{} is out of range", d.request_timeout_s),
                "use 1 to 86400 seconds (a day)",
            ));
        }
        if !(1..=10).contains(&d.retry_attempts) {
            return Some((
                "defaults.retry_attempts".into(),
                format!("{} is out of range", d.retry_attempts),
                "use 1 (no retries) to 10 attempts",
            ));
        }
        if !(d.retry_max_delay_s.is_finite() && (0.0..=600.0).contains(&d.retry_max_delay_s)) {
            return Some((
                "defaults.retry_max_delay_s".into(),
                format!("{} is out of range", d.retry_max_delay_s),
                "use 0 to 600 seconds",
            ));
        }
        None
    }
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
mod tests;
