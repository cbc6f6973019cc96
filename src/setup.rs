//! Adding a model on first run (`az-os setup`; the dashboard's dialog is to use it too):
//! what can be added ([`catalogue_offers`], [`compatible_offer`] for an OpenAI-compatible
//! server, [`ollama_offers`] for the models a local Ollama has pulled), a pasted key made
//! clean or refused ([`clean_key`]), the key checked with the provider before anything is
//! written ([`check`]), and the choice saved ([`save`]): the key in the encrypted vault
//! and the model in `config.toml`, or the key left to the environment (the line for a
//! shell profile, and for this process only, held in memory: `vault::remember_env_key`).
//!
//! Nothing is written until the key passed the check. The vault is written atomically
//! under its lock, then config.toml is replaced atomically: each file is whole, old or
//! new, whatever stops setup. Stopped between the two, the vault holds an entry no model
//! names yet, and setup run again replaces it.

mod config_edit;

use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::config::{ModelSpec, Provider, Settings, Tier, builtin_models};
use crate::vault::{self, MasterPassword, Vault, VaultError};

pub use config_edit::add_model;

/// Something the user can add.
#[derive(Clone, Debug, PartialEq)]
pub struct Offer {
    /// What `--provider` takes: `openrouter`, `gemini`, `mistral`, `anthropic`,
    /// `openai-compatible`, `ollama:MODEL`.
    pub id: String,
    /// For lists: `OpenRouter`.
    pub label: String,
    /// What it costs and needs, one line.
    pub note: String,
    pub free: bool,
    /// The model it adds.
    pub spec: ModelSpec,
    /// Where to get a key; `None` when none is needed.
    pub key_url: Option<&'static str>,
}

impl Offer {
    pub fn needs_key(&self) -> bool {
        self.key_url.is_some()
    }

    /// The environment variable the key may live in (`OPENROUTER_API_KEY`).
    pub fn key_env(&self) -> String {
        self.spec
            .api_key_env
            .clone()
            .unwrap_or_else(|| format!("{}_API_KEY", self.id.to_uppercase().replace('-', "_")))
    }

    /// The vault entry's name for its key (`openrouter`).
    pub fn vault_name(&self) -> String {
        self.id.replace(':', "-")
    }
}

/// The catalogue's providers, in the catalogue's order (the free ones first).
pub fn catalogue_offers() -> Vec<Offer> {
    builtin_models()
        .into_iter()
        .filter_map(|spec| {
            let (id, label, key_url) = match spec.name.as_str() {
                "trinity" => ("openrouter", "OpenRouter", "https://openrouter.ai/keys"),
                "gemini-pro" => (
                    "gemini",
                    "Google Gemini",
                    "https://aistudio.google.com/apikey",
                ),
                "mistral" => ("mistral", "Mistral", "https://console.mistral.ai/api-keys"),
                "claude-sonnet" => (
                    "anthropic",
                    "Anthropic",
                    "https://console.anthropic.com/settings/keys",
                ),
                _ => return None,
            };
            let free = spec.blended_price() == 0.0;
            let note = format!(
                "{}: {} ({}); key from {key_url}",
                if free { "free tier" } else { "paid" },
                spec.name,
                spec.model
            );
            Some(Offer {
                id: id.to_owned(),
                label: label.to_owned(),
                note,
                free,
                spec,
                key_url: Some(key_url),
            })
        })
        .collect()
}

/// An OpenAI-compatible server (LiteLLM, llama.cpp, vLLM, a company gateway) at
/// `base_url` serving `model`; `key` says whether it wants one.
pub fn compatible_offer(base_url: &str, model: &str, key: bool) -> Offer {
    let name = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect::<String>();
    let name = if name.is_empty() {
        "server".to_owned()
    } else {
        name
    };
    Offer {
        id: "openai-compatible".into(),
        label: "OpenAI-compatible server".into(),
        note: format!("{model} at {base_url}"),
        free: true,
        spec: ModelSpec {
            name,
            provider: Provider::Openai,
            model: model.to_owned(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key_env: key.then(|| "OPENAI_COMPATIBLE_API_KEY".to_owned()),
            api_key: None,
            tier: Tier::Complex,
            input_usd_per_mtok: 0.0,
            output_usd_per_mtok: 0.0,
            quality: 0.6,
            max_output_tokens: 4096,
            requests_per_minute: None,
            tokens_per_minute: None,
            stream: true,
            tool_calls: crate::config::ToolCalls::Auto,
            builtin: false,
        },
        key_url: key.then_some("the server's administrator"),
    }
}

/// What is wrong with a server's URL or model id as typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerProblem {
    #[error("give the server's http:// or https:// URL (most end in /v1)")]
    Url,
    #[error("the model id is empty: give the id the server lists")]
    Model,
}

/// [`compatible_offer`] for what a person typed (a key assumed possible), or which of
/// the two is wrong.
pub fn server_offer(base_url: &str, model: &str) -> Result<Offer, ServerProblem> {
    let url = server_url(base_url)?;
    if model.trim().is_empty() {
        return Err(ServerProblem::Model);
    }
    Ok(compatible_offer(url, model.trim(), true))
}

/// A server's URL as typed, trimmed, if it is an http:// or https:// one.
pub fn server_url(base_url: &str) -> Result<&str, ServerProblem> {
    let url = base_url.trim();
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url)
    } else {
        Err(ServerProblem::Url)
    }
}

/// The models a local Ollama has pulled, each an offer (no key; free). Empty when
/// Ollama does not answer within a second.
pub fn ollama_offers() -> Vec<Offer> {
    crate::batch::preflight::ollama_specs(Duration::from_secs(1))
        .into_iter()
        .map(|spec| Offer {
            id: format!("ollama:{}", spec.model),
            label: format!("Ollama: {}", spec.model),
            note: format!("local, free: {} at {}", spec.model, spec.base_url),
            free: true,
            // Chosen, it is the user's: written to config.toml.
            spec: ModelSpec {
                builtin: false,
                ..spec
            },
            key_url: None,
        })
        .collect()
}

/// What was wrong with a pasted key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    #[error("the key is empty: paste it again")]
    Empty,
    #[error("the key has a space or a line break inside ({0} parts): paste it again as one piece")]
    Split(usize),
    #[error("the key has a control character: paste it again")]
    Control,
}

/// The key as pasted, its ends trimmed (a paste often brings a newline), or why it
/// cannot be one.
pub fn clean_key(raw: &str) -> Result<Zeroizing<String>, KeyProblem> {
    let k = raw.trim();
    if k.is_empty() {
        return Err(KeyProblem::Empty);
    }
    let parts = k.split_whitespace().count();
    if parts > 1 {
        return Err(KeyProblem::Split(parts));
    }
    if k.chars().any(char::is_control) {
        return Err(KeyProblem::Control);
    }
    Ok(Zeroizing::new(k.to_owned()))
}

/// Asks the provider for its model list with `key`: `Ok(detail)` when it accepts it,
/// else the reason in the provider's own words (a 401's message, no answer, …).
pub async fn check(
    http: &reqwest::Client,
    offer: &Offer,
    key: Option<&str>,
) -> Result<String, String> {
    use crate::health::Level;
    let ep = crate::health::checks::Endpoint {
        name: offer.label.clone(),
        provider: offer.spec.provider,
        base_url: offer.spec.base_url.clone(),
        key: key.map(str::to_owned),
        models: vec![(offer.spec.name.clone(), offer.spec.model.clone())],
    };
    let c = crate::health::checks::provider(
        http,
        &ep,
        Duration::from_secs(15),
        Duration::from_secs(15),
    )
    .await;
    match c.level {
        Level::Healthy => Ok(c.detail),
        // Slow but answering, the key accepted: usable, and said.
        Level::Degraded if c.detail.starts_with("slow") => Ok(c.detail),
        // The key refused, no answer, or the model not on the server's list (its list
        // is in the detail, with the fix).
        Level::Degraded | Level::Unhealthy => Err(c.detail),
    }
}

/// Where a key goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// The encrypted vault (created on first use), the model in config.toml.
    Vault,
    /// The environment: nothing written but config.toml for a model the catalogue does
    /// not have; the user adds the `export` line to a shell profile.
    Env,
}

/// What [`save`] did, for the user.
#[derive(Clone, Debug, PartialEq)]
pub struct Saved {
    /// The model's name, as `--model` and the router know it.
    pub model: String,
    /// Whether config.toml changed (and where it is).
    pub config: Option<PathBuf>,
    /// `vault:NAME` when the key went to the vault.
    pub vault_entry: Option<String>,
    /// The line for a shell profile (never the key: `export NAME=<your key>`).
    pub export_line: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("{0}")]
    Config(String),
}

/// Saves `offer` with `key` (already checked) as `storage` says, in the home of
/// `settings`. `password` opens (or creates) the vault. For [`Storage::Env`] the key is
/// also kept in this process's memory, so the model is usable at once.
pub fn save(
    settings: &Settings,
    offer: &Offer,
    key: Option<&Zeroizing<String>>,
    storage: Storage,
    password: Option<&MasterPassword>,
) -> Result<Saved, SaveError> {
    let home = settings.home.root();
    let config_file = settings.home.config_file();
    let mut spec = offer.spec.clone();
    let mut saved = Saved {
        model: spec.name.clone(),
        config: None,
        vault_entry: None,
        export_line: None,
    };
    match (key, storage) {
        (Some(key), Storage::Vault) => {
            let password = password
                .ok_or_else(|| SaveError::Config("the vault needs its master password".into()))?;
            let name = offer.vault_name();
            put_in_vault(home, &name, key, password)?;
            spec.api_key = Some(format!("vault:{name}"));
            spec.api_key_env = None;
            saved.vault_entry = Some(format!("vault:{name}"));
        }
        (Some(key), Storage::Env) => {
            let var = offer.key_env();
            spec.api_key_env = Some(var.clone());
            spec.api_key = None;
            vault::remember_env_key(&var, key.clone());
            saved.export_line = Some(format!("export {var}=<your key>"));
        }
        (None, _) => {
            spec.api_key = None;
            spec.api_key_env = None;
            // In config.toml `openai` with no key variable means OPENAI_API_KEY; the same
            // wire with no key at all is what `ollama` means.
            if spec.provider == Provider::Openai {
                spec.provider = Provider::Ollama;
            }
        }
    }
    // A catalogue model whose key is in the environment needs no entry of its own.
    let listed = settings
        .models
        .iter()
        .any(|m| m.name == spec.name && !m.builtin);
    if !(spec.builtin && storage == Storage::Env && !listed) {
        let had_models = settings.models.iter().any(|m| !m.builtin);
        add_model(config_file, &spec, !had_models).map_err(SaveError::Config)?;
        saved.config = Some(config_file.to_path_buf());
        // Never say ready for what is not: the file as az-os will read it must give a
        // model that has its key.
        let read = Settings::load(settings.home.clone()).map_err(|e| {
            SaveError::Config(format!("config.toml was written but does not load: {e}"))
        })?;
        match read.model(&spec.name) {
            Some(m) if m.has_key() => {}
            Some(m) => {
                return Err(SaveError::Config(format!(
                    "{} is in config.toml but its key ({}) cannot be read yet",
                    m.name,
                    m.key_source()
                )));
            }
            None => {
                return Err(SaveError::Config(format!(
                    "{} was written to config.toml but az-os does not see it there",
                    spec.name
                )));
            }
        }
    }
    Ok(saved)
}

/// Stores `key` as vault entry `name` (creating the vault), under the vault's lock.
fn put_in_vault(
    home: &Path,
    name: &str,
    key: &Zeroizing<String>,
    password: &MasterPassword,
) -> Result<(), VaultError> {
    let path = vault::path_in(home);
    let _lock = Vault::try_lock(&path)?;
    let mut v = if path.exists() {
        Vault::open(&path, password)?
    } else {
        Vault::new(&path)
    };
    v.set(name, key.clone())?;
    v.save(password)?;
    vault::remember(&path, v.into_entries());
    Ok(())
}

#[cfg(test)]
mod tests;
