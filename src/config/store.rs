//! `[store]` in `config.toml`: where the store lives. Absent, the embedded SQLite
//! database in the home; `url = "postgres://…"` (or `AZ_OS_DATABASE_URL`) points every
//! command at a shared PostgreSQL server. The password may be written in the URL, or
//! kept in the vault: `password = "vault:NAME"`, or `vault:NAME` as the URL's password.
//! Only the settings live here; the store is `crate::store`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://USER@HOST:PORT/DB`, or `sqlite:PATH`; absent: the home's `az-os.db`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `vault:NAME`: the PostgreSQL password, from the key vault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl StoreConfig {
    /// The first invalid key and why, for the config error.
    pub(super) fn invalid(&self) -> Option<(String, String, &'static str)> {
        if let Some(url) = &self.url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
        {
            return Some((
                "store.url".into(),
                "is neither a postgres:// nor a sqlite: URL".into(),
                "write url = \"postgres://USER@HOST:5432/DATABASE\", or remove [store] to use the home's SQLite database",
            ));
        }
        if let Some(p) = &self.password
            && !p
                .strip_prefix("vault:")
                .is_some_and(crate::vault::valid_name)
        {
            return Some((
                "store.password".into(),
                "must be a vault reference".into(),
                "write password = \"vault:NAME\" after `az-os keys set NAME`, or put the password in the URL",
            ));
        }
        None
    }

    /// Shown by `config show`: the URL without a password written in it.
    #[must_use]
    pub fn shown(&self) -> Self {
        Self {
            url: self.url.as_deref().map(crate::store::Location::redact_url),
            password: self.password.clone(),
        }
    }
}
