//! The built-in model catalogue: the four models of the design, with their public
//! endpoints, ids, per-million-token prices and the free tiers' published rate limits.
//! Used when `config.toml` lists no `[[models]]`, or extended by them with
//! `routing.extend_catalogue`. Free tiers are priced at zero; the paid model at its list
//! price. The limits are the providers' entry-level ones (OpenRouter free models 20
//! requests a minute, Gemini 2.5 Pro free 5 a minute and 250k tokens, Mistral's free tier
//! one request a second, Anthropic tier 1 50 a minute and 30k input tokens); an account
//! with higher limits lists the model in `[[models]]` with its own.

use super::model::{ModelSpec, Provider, Tier};

/// The catalogue, cheapest tier first.
pub fn builtin_models() -> Vec<ModelSpec> {
    vec![
        ModelSpec {
            name: "trinity".into(),
            provider: Provider::Openai,
            model: "arcee-ai/trinity-mini:free".into(),
            base_url: "https://openrouter.ai/api/v1".into(),
            api_key_env: Some("OPENROUTER_API_KEY".into()),
            api_key: None,
            tier: Tier::Simple,
            input_usd_per_mtok: 0.0,
            output_usd_per_mtok: 0.0,
            quality: 0.6,
            max_output_tokens: 4096,
            requests_per_minute: Some(20),
            tokens_per_minute: None,
            stream: true,
            tool_calls: crate::config::ToolCalls::Auto,
            builtin: true,
        },
        ModelSpec {
            name: "gemini-pro".into(),
            provider: Provider::Gemini,
            model: "gemini-2.5-pro".into(),
            base_url: Provider::Gemini.default_base_url().into(),
            api_key_env: Some("GEMINI_API_KEY".into()),
            api_key: None,
            tier: Tier::Medium,
            input_usd_per_mtok: 0.0,
            output_usd_per_mtok: 0.0,
            quality: 0.8,
            max_output_tokens: 8192,
            requests_per_minute: Some(5),
            tokens_per_minute: Some(250_000),
            stream: true,
            tool_calls: crate::config::ToolCalls::Auto,
            builtin: true,
        },
        ModelSpec {
            name: "mistral".into(),
            provider: Provider::Openai,
            model: "mistral-medium-latest".into(),
            base_url: "https://api.mistral.ai/v1".into(),
            api_key_env: Some("MISTRAL_API_KEY".into()),
            api_key: None,
            tier: Tier::Complex,
            input_usd_per_mtok: 0.0,
            output_usd_per_mtok: 0.0,
            quality: 0.75,
            max_output_tokens: 8192,
            requests_per_minute: Some(60),
            tokens_per_minute: Some(500_000),
            stream: true,
            tool_calls: crate::config::ToolCalls::Auto,
            builtin: true,
        },
        ModelSpec {
            name: "claude-sonnet".into(),
            provider: Provider::Anthropic,
            model: "claude-sonnet-4-5".into(),
            base_url: Provider::Anthropic.default_base_url().into(),
            api_key_env: Some("ANTHROPIC_API_KEY".into()),
            api_key: None,
            tier: Tier::Critical,
            input_usd_per_mtok: 3.0,
            output_usd_per_mtok: 15.0,
            quality: 0.95,
            max_output_tokens: 8192,
            requests_per_minute: Some(50),
            tokens_per_minute: Some(30_000),
            stream: true,
            tool_calls: crate::config::ToolCalls::Auto,
            builtin: true,
        },
    ]
}
