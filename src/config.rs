//! Configuration: where the home directory is, what `config.toml` says, and the
//! built-in model catalogue that applies when the file lists no models (or that the
//! file's models extend).
//!
//! Parsing is strict (unknown keys are errors) and every error names the file,
//! the key and the fix, because a config mistake should cost the user seconds.

mod catalogue;
mod checkpoints;
mod file;
mod health;
mod home;
mod knowledge;
mod mcp;
mod memory;
mod model;
mod routing;
mod security;
mod store;
mod tui;

pub use catalogue::builtin_models;
pub use checkpoints::CheckpointsConfig;
pub use file::{ConfigError, DEFAULT_CONFIG_TOML, Defaults, Settings};
pub use health::HealthConfig;
pub use home::Home;
pub use knowledge::KnowledgeConfig;
pub use mcp::{McpConfig, McpServerConfig, ToolFilter, glob_match, valid_server_name};
pub use memory::{Extract, MemoryConfig};
pub use model::{KeyError, ModelSpec, Provider, Tier, ToolCalls};
pub use routing::RoutingConfig;
pub use security::{
    AuditConfig, DEFAULT_ASK, PolicyConfig, PolicyMode, SandboxConfig, SandboxMode, Unavailable,
};
pub use store::StoreConfig;
pub use tui::TuiConfig;

/// How to make a model available, for messages when none is.
pub const ADD_MODEL_HINT: &str = "add a model in one of these ways:
  1. run `az-os setup`: pick a provider, paste its key (checked with the provider, kept
     in the encrypted vault or your environment);
  2. export a provider key, e.g. OPENROUTER_API_KEY (free models), GEMINI_API_KEY,
     MISTRAL_API_KEY or ANTHROPIC_API_KEY;
  3. list a model under [[models]] in config.toml (`az-os config init` writes an example);
  4. start Ollama (ollama serve) on 127.0.0.1:11434 with a pulled model";
