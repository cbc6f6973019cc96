//! `[routing]` in `config.toml`: whether `[[models]]` replace or extend the built-in
//! catalogue, which words mark a task critical, escalation after the turn limit, and how
//! quickly a failing model's circuit breaker opens and for how long.
//!
//! The router itself lives in `engine::route`; this is only its settings, checked.

use serde::{Deserialize, Serialize};

/// Settings of the router and its circuit breakers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// With `[[models]]` in the file: `false` (the default) uses only them, `true` adds them
    /// to the built-in catalogue (an entry with a built-in's name replaces that one).
    pub extend_catalogue: bool,
    /// A task whose description contains one of these words (any case, whole words) is
    /// critical: only critical-tier models take it.
    pub critical_keywords: Vec<String>,
    /// A task that used all its turns gets the same number again, once, on a model one
    /// tier up.
    pub escalate_on_max_turns: bool,
    /// Consecutive failed requests that open a model's circuit breaker.
    pub breaker_failures: u32,
    /// How long an opened breaker keeps the model out of routing, in seconds (doubles
    /// while it keeps failing, up to `breaker_max_cooldown_s`; a longer `Retry-After` wins).
    pub breaker_cooldown_s: u64,
    pub breaker_max_cooldown_s: u64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            extend_catalogue: false,
            critical_keywords: Vec::new(),
            escalate_on_max_turns: false,
            breaker_failures: 3,
            breaker_cooldown_s: 30,
            breaker_max_cooldown_s: 300,
        }
    }
}

impl RoutingConfig {
    /// The first invalid setting as (key, problem, fix).
    pub fn invalid(&self) -> Option<(String, String, &'static str)> {
        if let Some((i, k)) = self
            .critical_keywords
            .iter()
            .enumerate()
            .find(|(_, k)| k.trim().is_empty())
        {
            return Some((
                format!("routing.critical_keywords[{i}]"),
                format!("{k:?} is empty"),
                "list words such as \"production\" or \"security\", or remove the empty entry",
            ));
        }
        if !(1..=100).contains(&self.breaker_failures) {
            return Some((
                "routing.breaker_failures".into(),
                format!("{} is out of range", self.breaker_failures),
                "use 1 to 100 failed requests",
            ));
        }
        for (key, v) in [
            ("routing.breaker_cooldown_s", self.breaker_cooldown_s),
            (
                "routing.breaker_max_cooldown_s",
                self.breaker_max_cooldown_s,
            ),
        ] {
            if !(1..=86_400).contains(&v) {
                return Some((
                    key.into(),
                    format!("{v} is out of range"),
                    "use 1 to 86400 seconds",
                ));
            }
        }
        if self.breaker_max_cooldown_s < self.breaker_cooldown_s {
            return Some((
                "routing.breaker_max_cooldown_s".into(),
                format!(
                    "{} is shorter than breaker_cooldown_s ({})",
                    self.breaker_max_cooldown_s, self.breaker_cooldown_s
                ),
                "make breaker_max_cooldown_s at least breaker_cooldown_s",
            ));
        }
        None
    }

    /// The first critical keyword found in `description` as a whole word, any case.
    pub fn critical_keyword(&self, description: &str) -> Option<&str> {
        if self.critical_keywords.is_empty() {
            return None;
        }
        let text = description.to_lowercase();
        self.critical_keywords
            .iter()
            .find(|k| contains_word(&text, &k.trim().to_lowercase()))
            .map(String::as_str)
    }
}

/// Whether `needle` occurs in `text` with no letter or digit right before or after it.
fn contains_word(text: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_match_whole_words_in_any_case() {
        let r = RoutingConfig {
            critical_keywords: vec!["Production".into(), "db migration".into()],
            ..RoutingConfig::default()
        };
        assert_eq!(
            r.critical_keyword("fix the PRODUCTION outage"),
            Some("Production")
        );
        assert_eq!(
            r.critical_keyword("run the db migration now"),
            Some("db migration")
        );
        assert_eq!(r.critical_keyword("productions of plays"), None);
        assert_eq!(r.critical_keyword("preproduction"), None);
        assert_eq!(
            RoutingConfig::default().critical_keyword("production"),
            None
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = |r: RoutingConfig| r.invalid().map(|(k, _, _)| k);
        let d = RoutingConfig::default;
        assert_eq!(bad(d()), None);
        let r = RoutingConfig {
            critical_keywords: vec!["ok".into(), " ".into()],
            ..d()
        };
        assert_eq!(bad(r).as_deref(), Some("routing.critical_keywords[1]"));
        let r = RoutingConfig {
            breaker_failures: 0,
            ..d()
        };
        assert_eq!(bad(r).as_deref(), Some("routing.breaker_failures"));
        let r = RoutingConfig {
            breaker_cooldown_s: 60,
            breaker_max_cooldown_s: 10,
            ..d()
        };
        assert_eq!(bad(r).as_deref(), Some("routing.breaker_max_cooldown_s"));
    }
}
