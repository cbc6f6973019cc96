//! Tests of the parent module.
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
fn extend_catalogue_adds_user_models_and_overrides_by_name() -> Result<(), ConfigError> {
    let s = load(
        "[routing]\nextend_catalogue = true\n\
             [[models]]\nname='local'\nprovider='ollama'\nmodel='llama3.2'\n\
             [[models]]\nname='trinity'\nprovider='openai'\nmodel='other'\ntier='medium'\n",
    )?;
    let names: Vec<&str> = s.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["local", "trinity", "gemini-pro", "mistral", "claude-sonnet"]
    );
    let trinity = s.model("trinity").map(|m| (m.model.as_str(), m.builtin));
    assert_eq!(trinity, Some(("other", false)));
    Ok(())
}

#[test]
fn rate_limits_and_retries_are_checked() {
    let key = |text: &str| load(text).err().map(|e| e.key);
    let model = "[[models]]\nname='a'\nprovider='openai'\nmodel='m'\n";
    assert_eq!(
        key(&format!("{model}requests_per_minute = 0\n")).as_deref(),
        Some("models[0].requests_per_minute")
    );
    // A negative number is not a u32: toml rejects it and points at the line.
    assert!(key(&format!("{model}tokens_per_minute = -5\n")).is_some_and(|k| k.contains("line 5")));
    assert_eq!(
        key("[defaults]\nretry_attempts = 0\n").as_deref(),
        Some("defaults.retry_attempts")
    );
    assert_eq!(
        key("[defaults]\nretry_max_delay_s = 1e9\n").as_deref(),
        Some("defaults.retry_max_delay_s")
    );
    assert_eq!(
        key("[defaults]\nrequest_timeout_s = 0\n").as_deref(),
        Some("defaults.request_timeout_s")
    );
    assert_eq!(
        key("[routing]\nbreaker_failures = 0\n").as_deref(),
        Some("routing.breaker_failures")
    );
    assert!(key("[routing]\nextend = true\n").is_some_and(|k| k.contains("extend")));
}

#[test]
fn endpoint_limits_take_the_tightest_of_models_sharing_a_base_url() -> Result<(), ConfigError> {
    let s = load(
        "[[models]]\nname='a'\nprovider='openai'\nmodel='m'\nrequests_per_minute = 20\n\
             [[models]]\nname='b'\nprovider='openai'\nmodel='n'\nrequests_per_minute = 5\n\
             tokens_per_minute = 1000\n\
             [[models]]\nname='c'\nprovider='anthropic'\nmodel='o'\n",
    )?;
    let limits = |n: &str| s.model(n).map(|m| s.endpoint_limits(m));
    assert_eq!(limits("a"), Some((Some(5), Some(1000))));
    assert_eq!(limits("c"), Some((None, None)));
    Ok(())
}

#[test]
fn costs_use_per_million_prices() {
    let m = &builtin_models()[3];
    assert!((m.cost_usd(1_000_000, 100_000) - 4.5).abs() < 1e-9);
}
